//! A StatefulSet pod's identity (pure, upstream's `stateful_set_utils.go`): its name
//! `<set>-<ordinal>`, the labels naming it and its index, hostname and subdomain, and
//! the claims `<template>-<set>-<ordinal>` it mounts; building a pod and its claims for an
//! ordinal, and checking an existing pod against them.

use std::collections::BTreeMap;

use api::model::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, StatefulSet, Volume,
};

use crate::controllers::controller_ref_of;

/// The pod label holding the pod's own name (a Service can select one member).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The pod label holding the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The pod label naming the ControllerRevision the pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The parent name and ordinal in a pod name `<parent>-<digits>` (ordinal fits an i32).
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()?))
}

/// The ordinal of a pod of `set` (None: not a member: other parent, or no ordinal).
pub fn ordinal_of(set: &StatefulSet, pod: &Pod) -> Option<i32> {
    parent_and_ordinal(&pod.metadata.name).filter(|(p, _)| *p == set.metadata.name).map(|(_, o)| o)
}

/// `spec.ordinals.start` (0 without it).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.ordinals.as_ref().map(|o| o.start).unwrap_or(0)
}

pub fn replicas_of(set: &StatefulSet) -> i32 {
    set.spec.replicas.unwrap_or(1).max(0)
}

/// Whether `ordinal` is one the set keeps: `start <= ordinal < start + replicas`.
pub fn in_range(set: &StatefulSet, ordinal: i32) -> bool {
    let start = start_ordinal(set);
    ordinal >= start && ordinal < start + replicas_of(set)
}

pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set.metadata.name)
}

pub fn claim_name(set: &StatefulSet, template: &PersistentVolumeClaim, ordinal: i32) -> String {
    format!("{}-{}-{ordinal}", template.metadata.name, set.metadata.name)
}

/// The claims of the pod with `ordinal`, by template name (upstream's
/// `getPersistentVolumeClaims`): each template renamed, in the set's namespace, with the
/// selector's matchLabels added to its labels.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<(String, PersistentVolumeClaim)> {
    let match_labels = set.spec.selector.as_ref().map(|s| s.match_labels.clone()).unwrap_or_default();
    set.spec
        .volume_claim_templates
        .iter()
        .map(|t| {
            let mut c = t.clone();
            c.api_version.clear();
            c.kind.clear();
            c.status = None;
            c.metadata.name = claim_name(set, t, ordinal);
            c.metadata.namespace = set.metadata.namespace.clone();
            c.metadata.labels.extend(match_labels.clone());
            (t.metadata.name.clone(), c)
        })
        .collect()
}

/// The pod's name labels: `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`.
fn set_identity_labels(labels: &mut BTreeMap<String, String>, name: &str, ordinal: i32) {
    labels.insert(POD_NAME_LABEL.into(), name.to_string());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
}

/// Whether an existing pod carries the identity of its ordinal (upstream's `identityMatches`,
/// with the pod-index label that the PodIndexLabel feature adds).
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ord) = ordinal_of(set, pod) else { return false };
    pod.metadata.name == pod_name(set, ord)
        && pod.metadata.namespace == set.metadata.namespace
        && pod.metadata.labels.get(POD_NAME_LABEL) == Some(&pod.metadata.name)
        && pod.metadata.labels.get(POD_INDEX_LABEL) == Some(&ord.to_string())
}

/// Whether the pod mounts each claim of its ordinal under the template's name (`storageMatches`).
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ord) = ordinal_of(set, pod) else { return false };
    set.spec.volume_claim_templates.iter().all(|t| {
        let want = claim_name(set, t, ord);
        pod.spec
            .volumes
            .iter()
            .find(|v| v.name == t.metadata.name)
            .and_then(|v| v.persistent_volume_claim.as_ref())
            .is_some_and(|c| c.claim_name == want)
    })
}

/// Sets the identity labels of an existing pod (`updateIdentity`); true when something changed.
pub fn update_identity(set: &StatefulSet, pod: &mut Pod) -> bool {
    let Some(ord) = ordinal_of(set, pod) else { return false };
    let before = pod.metadata.labels.clone();
    set_identity_labels(&mut pod.metadata.labels, &pod_name(set, ord), ord);
    before != pod.metadata.labels
}

/// The pod's volumes with one claim volume per template first, then its other volumes
/// (`updateStorage`: a template's name replaces a volume of the same name).
fn with_claim_volumes(set: &StatefulSet, ordinal: i32, volumes: &[Volume]) -> Vec<Volume> {
    let claims = claims_for(set, ordinal);
    let mut out: Vec<Volume> = claims
        .iter()
        .map(|(template, claim)| Volume {
            name: template.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone(),
                read_only: None,
            }),
            ..Default::default()
        })
        .collect();
    out.extend(volumes.iter().filter(|v| !claims.iter().any(|(t, _)| *t == v.name)).cloned());
    out
}

/// The pod of `ordinal` made from `template` at revision `revision` (`newStatefulSetPod`
/// + `setPodRevision`): owned by the set, named and labelled for its ordinal, hostname =
/// its name, subdomain = `spec.serviceName`, its claims mounted.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let name = pod_name(set, ordinal);
    let mut pod = Pod::default();
    pod.metadata.name = name.clone();
    pod.metadata.namespace = set.metadata.namespace.clone();
    pod.metadata.labels = template.metadata.labels.clone();
    pod.metadata.annotations = template.metadata.annotations.clone();
    pod.metadata.finalizers = template.metadata.finalizers.clone();
    pod.metadata.owner_references = vec![controller_ref_of(set)];
    set_identity_labels(&mut pod.metadata.labels, &name, ordinal);
    pod.metadata.labels.insert(REVISION_LABEL.into(), revision.to_string());
    pod.spec = template.spec.clone();
    pod.spec.hostname = Some(name);
    pod.spec.subdomain = set.spec.service_name.clone().filter(|s| !s.is_empty());
    pod.spec.volumes = with_claim_volumes(set, ordinal, &template.spec.volumes);
    pod
}

/// The revision a pod was made from (its `controller-revision-hash` label; "" without one).
pub fn pod_revision(pod: &Pod) -> &str {
    pod.metadata.labels.get(REVISION_LABEL).map(String::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> StatefulSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"replicas": 3, "serviceName": "nginx", "selector": {"matchLabels": {"app": "nginx"}},
                     "ordinals": {"start": 2},
                     "template": {"metadata": {"labels": {"app": "nginx"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}],
                                           "volumes": [{"name": "www", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "www", "labels": {"tier": "data"}},
                                               "spec": {"accessModes": ["ReadWriteOnce"]}}]}
        }))
        .unwrap()
    }

    #[test]
    fn names_and_ordinals() {
        assert_eq!(parent_and_ordinal("web-12"), Some(("web", 12)));
        assert_eq!(parent_and_ordinal("my-web-0"), Some(("my-web", 0)));
        assert_eq!(parent_and_ordinal("web-"), None);
        assert_eq!(parent_and_ordinal("web-x1"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        assert_eq!(parent_and_ordinal("web-99999999999"), None, "an ordinal must fit 32 bits");
        let s = set();
        assert!(!in_range(&s, 1) && in_range(&s, 2) && in_range(&s, 4) && !in_range(&s, 5));
    }

    #[test]
    fn a_new_pod_has_its_identity_its_revision_and_its_claims() {
        let s = set();
        let p = new_pod(&s, &s.spec.template, 3, "web-abc");
        assert_eq!(p.metadata.name, "web-3");
        assert_eq!(p.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(p.metadata.labels[POD_NAME_LABEL], "web-3");
        assert_eq!(p.metadata.labels[POD_INDEX_LABEL], "3");
        assert_eq!(p.metadata.labels[REVISION_LABEL], "web-abc");
        assert_eq!(p.metadata.labels["app"], "nginx");
        assert_eq!((p.spec.hostname.as_deref(), p.spec.subdomain.as_deref()), (Some("web-3"), Some("nginx")));
        let r = p.metadata.controller_ref().unwrap();
        assert_eq!((r.kind.as_str(), r.uid.as_str()), ("StatefulSet", "u1"));
        // The claim volume replaces the template's volume of the same name; others stay.
        let vols: Vec<(&str, Option<&str>)> =
            p.spec.volumes.iter().map(|v| (v.name.as_str(), v.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()))).collect();
        assert_eq!(vols, [("www", Some("www-web-3")), ("cache", None)]);
        assert!(identity_matches(&s, &p) && storage_matches(&s, &p));
        let claims = claims_for(&s, 3);
        assert_eq!(claims[0].1.metadata.name, "www-web-3");
        assert_eq!(claims[0].1.metadata.labels.get("tier").map(String::as_str), Some("data"));
        assert_eq!(claims[0].1.metadata.labels.get("app").map(String::as_str), Some("nginx"));
    }

    #[test]
    fn a_pod_without_its_labels_or_claims_does_not_conform() {
        let s = set();
        let mut p = new_pod(&s, &s.spec.template, 2, "r");
        p.metadata.labels.remove(POD_INDEX_LABEL);
        assert!(!identity_matches(&s, &p));
        assert!(update_identity(&s, &mut p));
        assert!(identity_matches(&s, &p));
        assert!(!update_identity(&s, &mut p), "no change the second time");
        p.spec.volumes.retain(|v| v.name != "www");
        assert!(!storage_matches(&s, &p));
        let mut other = p.clone();
        other.metadata.name = "db-2".into();
        assert!(!identity_matches(&s, &other));
    }
}
