//! The downward API's values (upstream's `pkg/api/v1/resource` and `fieldpath`): a pod
//! field by its `fieldPath`, and a container's resource limit or request by its
//! `resource` and `divisor`, a missing limit read as the node's allocatable.

use std::collections::BTreeMap;

use api::model::{Container, ObjectFieldSelector, Pod, Quantity, ResourceFieldSelector};

use super::NodeFacts;

/// Go's `%q` of a string (what `FormatMap` writes for label and annotation values).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `key="value"` lines in key order, no trailing newline (upstream's `FormatMap`).
pub fn format_map(m: &BTreeMap<String, String>) -> String {
    m.iter().map(|(k, v)| format!("{k}={}", go_quote(v))).collect::<Vec<_>>().join("\n")
}

/// `metadata.labels['key']` → (`labels`, `key`).
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (head, rest) = path.split_once("['")?;
    let key = rest.strip_suffix("']")?;
    Some((head, key))
}

/// A pod field's value for env (`fieldRef`) and downwardAPI volume files.
pub fn field_value(sel: &ObjectFieldSelector, pod: &Pod, facts: &NodeFacts) -> Result<String, String> {
    let path = sel.field_path.as_str();
    if let Some((head, key)) = subscript(path) {
        return match head {
            "metadata.labels" => Ok(pod.metadata.labels.get(key).cloned().unwrap_or_default()),
            "metadata.annotations" => Ok(pod.metadata.annotations.get(key).cloned().unwrap_or_default()),
            _ => Err(format!("unsupported fieldPath: {path}")),
        };
    }
    Ok(match path {
        "metadata.name" => pod.metadata.name.clone(),
        "metadata.namespace" => pod.metadata.namespace.clone().unwrap_or_default(),
        "metadata.uid" => pod.metadata.uid.clone(),
        "metadata.labels" => format_map(&pod.metadata.labels),
        "metadata.annotations" => format_map(&pod.metadata.annotations),
        "spec.nodeName" => pod.spec.node_name.clone().unwrap_or_else(|| facts.node_name.clone()),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone().unwrap_or_default(),
        "status.hostIP" => facts.host_ip.clone(),
        "status.hostIPs" => if facts.host_ips.is_empty() { facts.host_ip.clone() } else { facts.host_ips.join(",") },
        "status.podIP" => facts.pod_ip.clone(),
        "status.podIPs" => if facts.pod_ips.is_empty() { facts.pod_ip.clone() } else { facts.pod_ips.join(",") },
        _ => return Err(format!("unsupported fieldPath: {path}")),
    })
}

fn parse(q: &Quantity) -> Result<api::model::ParsedQuantity, String> {
    q.parsed()
}

/// A container's resource value (`limits.cpu`, `requests.memory`, …) divided by the
/// divisor and rounded up, as upstream's `ExtractContainerResourceValue`.
pub fn resource_value(sel: &ResourceFieldSelector, container: &Container, facts: &NodeFacts) -> Result<String, String> {
    let divisor = match &sel.divisor {
        Some(d) if !d.as_str().is_empty() => parse(d)?,
        _ => Quantity::parse("1")?,
    };
    if divisor.nanos <= 0 {
        return Err(format!("invalid divisor {:?}", sel.divisor.as_ref().map(|d| d.as_str())));
    }
    let (kind, name) = sel.resource.split_once('.').ok_or_else(|| format!("unsupported container resource : {}", sel.resource))?;
    let res = container.resources.clone().unwrap_or_default();
    let map = match kind {
        "limits" => &res.limits,
        "requests" => &res.requests,
        _ => return Err(format!("unsupported container resource : {}", sel.resource)),
    };
    if !(matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")) {
        return Err(format!("unsupported container resource : {}", sel.resource));
    }
    // A limit that is not set reads as the node's allocatable (`defaultPodLimitsForDownwardAPI`).
    let value = match map.get(name) {
        Some(q) => parse(q)?,
        None if kind == "limits" => match facts.allocatable.get(name) {
            Some(q) => parse(q)?,
            None => Quantity::parse("0")?,
        },
        None => Quantity::parse("0")?,
    };
    let out = if name == "cpu" {
        let (v, d) = (value.milli_value(), divisor.milli_value().max(1));
        (v + d - 1).div_euclid(d)
    } else {
        let (v, d) = (value.value(), divisor.value().max(1));
        (v + d - 1).div_euclid(d)
    };
    Ok(out.to_string())
}

/// The container a resourceFieldRef names (in a volume: `containerName`; in env: the
/// container itself unless named).
pub fn named_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    pod.spec.all_containers().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = "web".into();
        p.metadata.namespace = Some("ns".into());
        p.metadata.uid = "u-1".into();
        p.metadata.labels.insert("app".into(), "web".into());
        p.metadata.labels.insert("tier".into(), "a \"b\"\n".into());
        p.spec.node_name = Some("n1".into());
        p.spec.service_account_name = Some("sa".into());
        p
    }

    fn facts() -> NodeFacts {
        let mut f = NodeFacts { node_name: "n1".into(), host_ip: "10.0.0.1".into(), pod_ip: "10.1.0.5".into(), ..Default::default() };
        f.pod_ips = vec!["10.1.0.5".into(), "fd00::5".into()];
        f.allocatable.insert("cpu".into(), Quantity::new("2"));
        f.allocatable.insert("memory".into(), Quantity::new("4Gi"));
        f
    }

    #[test]
    fn field_paths() {
        let cases = [
            ("metadata.name", Ok("web")),
            ("metadata.namespace", Ok("ns")),
            ("metadata.uid", Ok("u-1")),
            ("metadata.labels", Ok("app=\"web\"\ntier=\"a \\\"b\\\"\\n\"")),
            ("metadata.labels['app']", Ok("web")),
            ("metadata.annotations['none']", Ok("")),
            ("spec.nodeName", Ok("n1")),
            ("spec.serviceAccountName", Ok("sa")),
            ("status.hostIP", Ok("10.0.0.1")),
            ("status.podIP", Ok("10.1.0.5")),
            ("status.podIPs", Ok("10.1.0.5,fd00::5")),
            ("spec.bogus", Err("unsupported fieldPath: spec.bogus")),
        ];
        for (path, want) in cases {
            let sel = ObjectFieldSelector { field_path: path.into(), api_version: None };
            assert_eq!(field_value(&sel, &pod(), &facts()).as_deref(), want.map_err(str::to_string).as_deref(), "{path}");
        }
    }

    #[test]
    fn resources_round_up_and_default_limits_to_allocatable() {
        let mut c = Container { name: "c".into(), ..Default::default() };
        let mut r = api::model::ResourceRequirements::default();
        r.limits.insert("memory".into(), Quantity::new("128Mi"));
        r.requests.insert("cpu".into(), Quantity::new("250m"));
        c.resources = Some(r);
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("limits.memory", None, "134217728"),
            ("limits.memory", Some("1Mi"), "128"),
            ("limits.memory", Some("1G"), "1"),
            ("requests.cpu", None, "1"),
            ("requests.cpu", Some("1m"), "250"),
            ("limits.cpu", None, "2"),
            ("limits.cpu", Some("1m"), "2000"),
            ("requests.memory", None, "0"),
        ];
        for (res, div, want) in cases {
            let sel = ResourceFieldSelector { container_name: None, resource: res.to_string(), divisor: div.map(Quantity::new) };
            assert_eq!(resource_value(&sel, &c, &facts()).unwrap(), *want, "{res} / {div:?}");
        }
        let bad = ResourceFieldSelector { container_name: None, resource: "limits.gpu".into(), divisor: None };
        assert!(resource_value(&bad, &c, &facts()).is_err());
    }
}
