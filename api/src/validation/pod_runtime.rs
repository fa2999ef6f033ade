//! Validation of the pod-level fields of the full schema: DNS config, host aliases,
//! readiness gates, the OS, pod-level resources, and ephemeral containers (which only
//! the `ephemeralcontainers` subresource may set).

use super::meta::*;
use super::names::*;
use super::{FieldError, FieldErrorKind};
use crate::model::PodSpec;

const MAX_DNS_NAMESERVERS: usize = 3;
const MAX_DNS_SEARCH_PATHS: usize = 32;

pub fn validate_pod_runtime(spec: &PodSpec, path: &str, errs: &mut Vec<FieldError>) {
    let dns = spec.dns_config.as_deref();
    if spec.dns_policy.as_deref() == Some("None") && dns.is_none_or(|d| d.nameservers.is_empty()) {
        errs.push(FieldError::required(
            format!("{path}.dnsConfig.nameservers"),
            "must provide at least one DNS nameserver when `dnsPolicy` is None",
        ));
    }
    if let Some(d) = dns {
        let p = format!("{path}.dnsConfig");
        if d.nameservers.len() > MAX_DNS_NAMESERVERS {
            errs.push(FieldError::invalid(
                format!("{p}.nameservers"),
                d.nameservers.join(","),
                format!("must not have more than {MAX_DNS_NAMESERVERS} nameservers"),
            ));
        }
        for (i, ns) in d.nameservers.iter().enumerate() {
            errs.extend(invalid_each(&format!("{p}.nameservers[{i}]"), ns, is_valid_ip(ns)));
        }
        if d.searches.len() > MAX_DNS_SEARCH_PATHS {
            errs.push(FieldError::invalid(
                format!("{p}.searches"),
                d.searches.join(","),
                format!("must not have more than {MAX_DNS_SEARCH_PATHS} search paths"),
            ));
        }
        for (i, s) in d.searches.iter().enumerate() {
            let s = s.strip_suffix('.').unwrap_or(s);
            errs.extend(invalid_each(&format!("{p}.searches[{i}]"), s, is_dns1123_subdomain(s)));
        }
        for (i, o) in d.options.iter().enumerate() {
            if o.name.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(format!("{p}.options[{i}].name"), "Option.Name must not be empty"));
            }
        }
    }
    for (i, h) in spec.host_aliases.iter().enumerate() {
        let p = format!("{path}.hostAliases[{i}]");
        errs.extend(invalid_each(&format!("{p}.ip"), &h.ip, is_valid_ip(&h.ip)));
        for (j, name) in h.hostnames.iter().enumerate() {
            errs.extend(invalid_each(&format!("{p}.hostnames[{j}]"), name, is_dns1123_subdomain(name)));
        }
    }
    for (i, g) in spec.readiness_gates.iter().enumerate() {
        let f = format!("{path}.readinessGates[{i}].conditionType");
        errs.extend(invalid_each(&f, &g.condition_type, is_qualified_name(&g.condition_type)));
    }
    if let Some(os) = &spec.os {
        let f = format!("{path}.os.name");
        match os.name.as_str() {
            "" => errs.push(FieldError::required(f, "")),
            "linux" | "windows" => {}
            other => errs.push(FieldError::not_supported(f, other, &["linux", "windows"])),
        }
    }
    if let Some(r) = spec.resources.as_deref() {
        let rp = format!("{path}.resources");
        for (name, map) in [("limits", &r.limits), ("requests", &r.requests)] {
            errs.extend(validate_resource_map(map, &format!("{rp}.{name}")));
            for k in map.keys().filter(|k| !matches!(k.as_str(), "cpu" | "memory" | "hugepages-2Mi" | "hugepages-1Gi")) {
                errs.push(FieldError::not_supported(format!("{rp}.{name}"), k, &["cpu", "memory"]));
            }
        }
        for (name, req) in &r.requests {
            let (Some(limit), Ok(rq)) = (r.limits.get(name), req.parsed()) else { continue };
            if limit.parsed().is_ok_and(|lq| rq > lq) {
                errs.push(FieldError::invalid(
                    format!("{rp}.requests[{name}]"),
                    req,
                    format!("must be less than or equal to {name} limit of {limit}"),
                ));
            }
        }
    }
    opt_supported(errs, spec.preemption_policy.as_deref(), &format!("{path}.preemptionPolicy"), &["Never", "PreemptLowerPriority"]);
}

/// Ephemeral containers are added through the subresource only: a pod created or
/// updated with them is refused, as upstream refuses it.
pub fn forbid_ephemeral_containers(spec: &PodSpec, path: &str, errs: &mut Vec<FieldError>) {
    if !spec.ephemeral_containers.is_empty() {
        errs.push(FieldError::new(
            FieldErrorKind::Forbidden,
            format!("{path}.ephemeralContainers"),
            "",
            "cannot be set on create",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs_of(spec: serde_json::Value) -> Vec<String> {
        let spec: PodSpec = serde_json::from_value(spec).unwrap();
        let mut errs = Vec::new();
        validate_pod_runtime(&spec, "spec", &mut errs);
        forbid_ephemeral_containers(&spec, "spec", &mut errs);
        errs.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn pod_runtime_fields() {
        use serde_json::json;
        for (spec, want) in [
            (json!({"dnsPolicy": "None"}), vec!["spec.dnsConfig.nameservers"]),
            (json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["a.example."]}}), vec![]),
            (json!({"dnsConfig": {"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]}}), vec!["spec.dnsConfig.nameservers"]),
            (json!({"dnsConfig": {"options": [{"value": "2"}]}}), vec!["spec.dnsConfig.options[0].name"]),
            (json!({"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["foo.local"]}]}), vec![]),
            (json!({"hostAliases": [{"ip": "nope", "hostnames": ["foo.local"]}]}), vec!["spec.hostAliases[0].ip"]),
            (json!({"readinessGates": [{"conditionType": "example.com/feature-1"}]}), vec![]),
            (json!({"readinessGates": [{"conditionType": "bad type!"}]}), vec!["spec.readinessGates[0].conditionType"]),
            (json!({"os": {"name": "plan9"}}), vec!["spec.os.name"]),
            (json!({"os": {"name": "linux"}}), vec![]),
            (json!({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}), vec!["spec.resources.requests[cpu]"]),
            (json!({"resources": {"limits": {"nvidia.com/gpu": "1"}}}), vec!["spec.resources.limits"]),
            (json!({"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}), vec!["spec.ephemeralContainers"]),
        ] {
            assert_eq!(errs_of(spec.clone()), want, "{spec}");
        }
    }
}
