//! Node validation: taints, pod CIDRs, reported capacity.

use std::collections::BTreeSet;

use super::meta::*;
use super::names::*;
use super::pod::TAINT_EFFECTS;
use super::FieldError;
use crate::model::Node;

pub fn validate_node(node: &Node) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&node.metadata, false, NameFormat::Dns1123Subdomain);
    let s = &node.spec;
    let mut seen = BTreeSet::new();
    for (i, t) in s.taints.iter().enumerate() {
        let p = format!("spec.taints[{i}]");
        if t.key.is_empty() {
            errs.push(FieldError::required(format!("{p}.key"), ""));
        } else {
            errs.extend(invalid_each(&format!("{p}.key"), &t.key, is_qualified_name(&t.key)));
        }
        if let Some(v) = t.value.as_deref() {
            errs.extend(invalid_each(&format!("{p}.value"), v, is_label_value(v)));
        }
        if t.effect.is_empty() {
            errs.push(FieldError::required(format!("{p}.effect"), ""));
        } else if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
            errs.push(FieldError::not_supported(format!("{p}.effect"), &t.effect, TAINT_EFFECTS));
        }
        if !seen.insert((t.key.clone(), t.effect.clone())) {
            errs.push(FieldError::duplicate(&p, format!("{}:{}", t.key, t.effect)));
        }
    }
    if let Some(c) = s.pod_cidr.as_deref().filter(|c| !c.is_empty()) {
        errs.extend(invalid_each("spec.podCIDR", c, is_valid_cidr(c)));
    }
    for (i, c) in s.pod_cidrs.iter().enumerate() {
        errs.extend(invalid_each(&format!("spec.podCIDRs[{i}]"), c, is_valid_cidr(c)));
    }
    if let (Some(a), Some(b)) = (s.pod_cidr.as_deref().filter(|c| !c.is_empty()), s.pod_cidrs.first()) {
        if a != b {
            errs.push(FieldError::invalid("spec.podCIDRs[0]", b, "must match `podCIDR`"));
        }
    }
    if let Some(st) = &node.status {
        errs.extend(validate_resource_map(&st.capacity, "status.capacity"));
        errs.extend(validate_resource_map(&st.allocatable, "status.allocatable"));
        for (i, a) in st.addresses.iter().enumerate() {
            if a.type_.is_empty() {
                errs.push(FieldError::required(format!("status.addresses[{i}].type"), ""));
            }
        }
    }
    errs
}

/// Update rules (upstream's `ValidateNodeUpdate`): once a node has pod CIDRs they stay;
/// only a node without any may get them (the control plane's node IPAM does).
pub fn validate_node_update(new: &Node, old: &Node) -> Vec<FieldError> {
    let mut errs = validate_node(new);
    if !old.spec.pod_cidrs.is_empty() && new.spec.pod_cidrs != old.spec.pod_cidrs {
        errs.push(FieldError::new(
            super::FieldErrorKind::Forbidden,
            "spec.podCIDRs",
            "",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Quantity;
    use crate::validation::FieldErrorKind;

    fn node() -> Node {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
            "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"],
                     "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "allocatable": {"cpu": "3800m", "memory": "7Gi", "pods": "110"},
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}]}
        }))
        .unwrap()
    }

    fn only(errs: Vec<FieldError>, field: &str, kind: FieldErrorKind) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].field.as_str(), errs[0].kind), (field, kind));
    }

    #[test]
    fn accepts_good_node() {
        assert_eq!(validate_node(&node()), vec![]);
    }

    #[test]
    fn taint_rules() {
        let mut n = node();
        n.spec.taints[0].effect = "NoRun".into();
        only(validate_node(&n), "spec.taints[0].effect", FieldErrorKind::NotSupported);
        let mut n = node();
        n.spec.taints[0].effect.clear();
        only(validate_node(&n), "spec.taints[0].effect", FieldErrorKind::Required);
        let mut n = node();
        n.spec.taints.push(n.spec.taints[0].clone());
        only(validate_node(&n), "spec.taints[1]", FieldErrorKind::Duplicate);
        let mut n = node();
        n.spec.taints[0].key = "bad key".into();
        only(validate_node(&n), "spec.taints[0].key", FieldErrorKind::Invalid);
    }

    #[test]
    fn cidrs_and_capacity() {
        let mut n = node();
        n.spec.pod_cidr = Some("10.244.1.0".into());
        let errs = validate_node(&n);
        assert!(errs.iter().any(|e| e.field == "spec.podCIDR"), "{errs:?}");
        let mut n = node();
        n.status.as_mut().unwrap().capacity.insert("cpu".into(), Quantity::from("four"));
        only(validate_node(&n), "status.capacity[cpu]", FieldErrorKind::Invalid);
    }

    #[test]
    fn nodes_are_cluster_scoped() {
        let mut n = node();
        n.metadata.namespace = Some("default".into());
        only(validate_node(&n), "metadata.namespace", FieldErrorKind::Forbidden);
    }

    #[test]
    fn pod_cidrs_are_set_once() {
        let old = node();
        assert!(validate_node_update(&old.clone(), &old).is_empty());
        let mut unset = old.clone();
        unset.spec.pod_cidrs.clear();
        unset.spec.pod_cidr = None;
        let mut moved = old.clone();
        moved.spec.pod_cidr = Some("10.244.2.0/24".into());
        moved.spec.pod_cidrs = vec!["10.244.2.0/24".into()];
        for (what, new) in [("cleared", unset.clone()), ("changed", moved)] {
            let errs = validate_node_update(&new, &old);
            assert!(errs.iter().any(|e| e.field == "spec.podCIDRs" && e.kind == FieldErrorKind::Forbidden), "{what}: {errs:?}");
        }
        assert!(validate_node_update(&old, &unset).is_empty(), "from none to one is allowed");
    }
}
