//! Which volume a claim binds to (upstream's `findMatchingVolume`), as pure functions
//! over the objects: a volume pre-bound to the claim wins if it fits; otherwise the
//! smallest Available volume whose class, mode, access modes, labels, capacity and (for a
//! claim waiting for its first consumer) node affinity all fit.

use api::model::{Node, ParsedQuantity, PersistentVolume, PersistentVolumeClaim, Quantity};

use crate::scheduler::fit::node_selector_matches;

/// `storageClassName` as binding compares it: unset and `""` are the same (no class).
pub fn claim_class(pvc: &PersistentVolumeClaim) -> &str {
    pvc.spec.storage_class_name.as_deref().unwrap_or("")
}

pub fn volume_class(pv: &PersistentVolume) -> &str {
    pv.spec.storage_class_name.as_deref().unwrap_or("")
}

fn mode(m: &Option<String>) -> &str {
    m.as_deref().filter(|m| !m.is_empty()).unwrap_or("Filesystem")
}

fn parsed(q: Option<&Quantity>) -> Option<ParsedQuantity> {
    q.and_then(|q| q.parsed().ok())
}

/// The claim's `resources.requests.storage` (validation makes it present and positive).
pub fn requested(pvc: &PersistentVolumeClaim) -> Option<ParsedQuantity> {
    parsed(pvc.spec.resources.as_ref().and_then(|r| r.requests.get("storage")))
}

pub fn capacity(pv: &PersistentVolume) -> Option<ParsedQuantity> {
    parsed(pv.spec.capacity.get("storage"))
}

/// Whether the volume's claimRef names this claim (by namespace and name, and by uid
/// when the ref carries one).
pub fn is_bound_to(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    let Some(r) = &pv.spec.claim_ref else { return false };
    r.name.as_deref() == Some(pvc.metadata.name.as_str())
        && r.namespace.as_deref() == pvc.metadata.namespace.as_deref()
        && r.uid.as_deref().is_none_or(|u| u.is_empty() || u == pvc.metadata.uid)
}

/// Every access mode the claim asks for is one the volume offers.
fn access_modes_fit(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    pvc.spec.access_modes.iter().all(|m| pv.spec.access_modes.contains(m))
}

/// The volume can be reached from `node` (no node affinity: from anywhere).
pub fn reachable_from(pv: &PersistentVolume, node: &Node) -> bool {
    match pv.spec.node_affinity.as_ref().and_then(|a| a.required.as_ref()) {
        None => true,
        Some(sel) => node_selector_matches(sel, node),
    }
}

/// The checks every candidate must pass, pre-bound or not: size, mode, access modes, and
/// reachability from the selected node when there is one.
fn fits(pv: &PersistentVolume, pvc: &PersistentVolumeClaim, node: Option<&Node>) -> bool {
    let (Some(cap), Some(req)) = (capacity(pv), requested(pvc)) else { return false };
    cap.nanos >= req.nanos
        && mode(&pv.spec.volume_mode) == mode(&pvc.spec.volume_mode)
        && access_modes_fit(pv, pvc)
        && !pv.metadata.is_deleting()
        && node.is_none_or(|n| reachable_from(pv, n))
}

/// Why a volume the claim names in `spec.volumeName` cannot satisfy it (upstream's
/// `checkVolumeSatisfyClaim` wording), or None when it can.
pub fn unsatisfied(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> Option<&'static str> {
    let (Some(cap), Some(req)) = (capacity(pv), requested(pvc)) else { return Some("requested PV is too small") };
    if cap.nanos < req.nanos {
        return Some("requested PV is too small");
    }
    if volume_class(pv) != claim_class(pvc) {
        return Some("storageClassName does not match");
    }
    if mode(&pv.spec.volume_mode) != mode(&pvc.spec.volume_mode) {
        return Some("incompatible volumeMode");
    }
    if !access_modes_fit(pv, pvc) {
        return Some("incompatible accessMode");
    }
    None
}

/// The volume the claim should bind to, if any. `node` is the node selected for a claim
/// whose class waits for the first consumer (None: any node will do).
pub fn find_matching_volume<'a>(
    pvc: &PersistentVolumeClaim,
    volumes: &'a [&'a PersistentVolume],
    node: Option<&Node>,
) -> Option<&'a PersistentVolume> {
    if let Some(pre) = volumes.iter().copied().find(|pv| is_bound_to(pv, pvc) && fits(pv, pvc, node)) {
        return Some(pre);
    }
    let selector = pvc.spec.selector.as_ref();
    volumes
        .iter()
        .copied()
        .filter(|pv| pv.spec.claim_ref.is_none())
        .filter(|pv| matches!(pv.phase(), "Available" | "Pending" | ""))
        .filter(|pv| volume_class(pv) == claim_class(pvc))
        .filter(|pv| selector.is_none_or(|s| s.matches(&pv.metadata.labels)))
        .filter(|pv| fits(pv, pvc, node))
        .min_by_key(|pv| (capacity(pv).map(|c| c.nanos), pv.metadata.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn pv(name: &str, size: &str, extra: Value) -> PersistentVolume {
        let mut v = json!({"metadata": {"name": name, "labels": {"tier": "gold"}},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
                     "hostPath": {"path": "/d"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Available"}});
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn pvc(extra: Value) -> PersistentVolumeClaim {
        let mut v = json!({"metadata": {"name": "data", "namespace": "default", "uid": "u1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}});
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn node(name: &str, zone: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"zone": zone}}})).unwrap()
    }

    fn pick(claim: &PersistentVolumeClaim, vols: &[PersistentVolume], node: Option<&Node>) -> Option<String> {
        let refs: Vec<&PersistentVolume> = vols.iter().collect();
        find_matching_volume(claim, &refs, node).map(|v| v.metadata.name.clone())
    }

    #[test]
    fn a_named_volume_says_why_it_does_not_fit() {
        let claim = pvc(json!({}));
        assert_eq!(unsatisfied(&pv("a", "10Gi", json!({})), &claim), None);
        assert_eq!(unsatisfied(&pv("a", "1Gi", json!({})), &claim), Some("requested PV is too small"));
        assert_eq!(unsatisfied(&pv("a", "10Gi", json!({"spec": {"storageClassName": "x"}})), &claim), Some("storageClassName does not match"));
        assert_eq!(unsatisfied(&pv("a", "10Gi", json!({"spec": {"accessModes": ["ReadOnlyMany"]}})), &claim), Some("incompatible accessMode"));
    }

    #[test]
    fn table_of_cases() {
        let zone_a = json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}});
        let cases: Vec<(&str, Value, Vec<PersistentVolume>, Option<Node>, Option<&str>)> = vec![
            ("smallest that fits", json!({}),
                vec![pv("big", "100Gi", json!({})), pv("small", "5Gi", json!({})), pv("tiny", "1Gi", json!({}))], None, Some("small")),
            ("too small", json!({}), vec![pv("tiny", "1Gi", json!({}))], None, None),
            ("access modes must be offered", json!({"spec": {"accessModes": ["ReadWriteMany"]}}),
                vec![pv("a", "10Gi", json!({}))], None, None),
            ("class must be equal", json!({"spec": {"storageClassName": "fast"}}),
                vec![pv("slow", "10Gi", json!({"spec": {"storageClassName": "slow"}})), pv("none", "10Gi", json!({}))], None, None),
            ("class equal", json!({"spec": {"storageClassName": "fast"}}),
                vec![pv("fast", "10Gi", json!({"spec": {"storageClassName": "fast"}}))], None, Some("fast")),
            ("empty class is no class", json!({"spec": {"storageClassName": ""}}),
                vec![pv("none", "10Gi", json!({}))], None, Some("none")),
            ("selector", json!({"spec": {"selector": {"matchLabels": {"tier": "silver"}}}}),
                vec![pv("gold", "10Gi", json!({}))], None, None),
            ("volume mode", json!({"spec": {"volumeMode": "Block"}}), vec![pv("fs", "10Gi", json!({}))], None, None),
            ("bound elsewhere", json!({}),
                vec![pv("taken", "10Gi", json!({"spec": {"claimRef": {"namespace": "default", "name": "other"}}}))], None, None),
            ("pre-bound wins over smaller", json!({}),
                vec![pv("small", "5Gi", json!({})),
                     pv("mine", "50Gi", json!({"spec": {"storageClassName": "x", "claimRef": {"namespace": "default", "name": "data"}}}))],
                None, Some("mine")),
            ("pre-bound to another uid", json!({}),
                vec![pv("old", "5Gi", json!({"spec": {"claimRef": {"namespace": "default", "name": "data", "uid": "u0"}}}))], None, None),
            ("released is not available", json!({}), vec![pv("r", "5Gi", json!({"status": {"phase": "Released"}}))], None, None),
            ("node affinity allows", json!({}), vec![pv("za", "5Gi", zone_a.clone())], Some(node("n1", "a")), Some("za")),
            ("node affinity refuses", json!({}), vec![pv("za", "5Gi", zone_a.clone())], Some(node("n2", "b")), None),
            ("no affinity anywhere", json!({}), vec![pv("any", "5Gi", json!({}))], Some(node("n2", "b")), Some("any")),
        ];
        for (name, claim, vols, node, want) in cases {
            assert_eq!(pick(&pvc(claim), &vols, node.as_ref()).as_deref(), want, "{name}");
        }
    }
}
