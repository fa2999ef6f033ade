//! `persistentVolumeClaimRetentionPolicy` through owner references (pure, upstream's
//! `isClaimOwnerUpToDate` and `updateClaimOwnerRefForSetAndPod`): a claim is kept
//! unless an owner whose deletion should remove it owns it, and the garbage collector
//! does the rest.
//!
//! | whenScaled | whenDeleted | owners of a claim |
//! |---|---|---|
//! | Retain | Retain | none |
//! | Retain | Delete | the set |
//! | Delete | Retain | the pod, once it is scaled down |
//! | Delete | Delete | the set; the pod instead once it is scaled down |

use api::model::{OwnerReference, PersistentVolumeClaim, Pod, Resource, StatefulSet};

use crate::controllers::controller_ref_of;

/// One half of the retention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Retain,
    Delete,
}

/// `(whenScaled, whenDeleted)`; an unknown or missing value is Retain, as upstream treats it.
pub fn retention_of(set: &StatefulSet) -> (Keep, Keep) {
    let p = set.spec.persistent_volume_claim_retention_policy.as_ref();
    let of = |v: Option<&String>| if v.map(String::as_str) == Some("Delete") { Keep::Delete } else { Keep::Retain };
    (of(p.and_then(|p| p.when_scaled.as_ref())), of(p.and_then(|p| p.when_deleted.as_ref())))
}

fn matches_ref<T: Resource>(r: &OwnerReference, obj: &T) -> bool {
    r.api_version == T::INFO.api_version() && r.kind == T::INFO.kind && r.name == obj.meta().name
}

fn has_owner(claim: &PersistentVolumeClaim, uid: &str) -> bool {
    !uid.is_empty() && claim.metadata.owner_references.iter().any(|r| r.uid == uid)
}

/// A reference to `obj`'s name and kind with another uid: left by an earlier object of that name.
pub fn has_stale_ref<T: Resource>(claim: &PersistentVolumeClaim, obj: &T) -> bool {
    claim.metadata.owner_references.iter().find(|r| matches_ref(*r, obj)).is_some_and(|r| r.uid != obj.meta().uid)
}

fn has_unexpected_controller(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    if retention_of(set) == (Keep::Retain, Keep::Retain) {
        return false;
    }
    claim.metadata.owner_references.iter().any(|r| {
        if matches_ref(r, set) {
            r.uid != set.metadata.uid
        } else if matches_ref(r, pod) {
            r.uid != pod.metadata.uid
        } else {
            r.controller == Some(true)
        }
    })
}

fn has_non_controller_owner(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod) -> bool {
    claim.metadata.owner_references.iter().any(|r| {
        (r.uid == set.metadata.uid || (!pod.metadata.uid.is_empty() && r.uid == pod.metadata.uid)) && r.controller != Some(true)
    })
}

/// Whether the claim's owners agree with the policy (or must be left alone: stale
/// references, another controller).
pub fn up_to_date(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod, scaled_down: bool) -> bool {
    if has_stale_ref(claim, set) || has_stale_ref(claim, pod) {
        return true;
    }
    let (set_ref, pod_ref) = (has_owner(claim, &set.metadata.uid), has_owner(claim, &pod.metadata.uid));
    if has_unexpected_controller(claim, set, pod) {
        return !(set_ref || pod_ref);
    }
    if has_non_controller_owner(claim, set, pod) {
        return false;
    }
    match retention_of(set) {
        (Keep::Retain, Keep::Retain) => !set_ref && !pod_ref,
        (Keep::Retain, Keep::Delete) => set_ref && !pod_ref,
        (Keep::Delete, Keep::Retain) => !set_ref && scaled_down == pod_ref,
        (Keep::Delete, Keep::Delete) => scaled_down != set_ref && scaled_down == pod_ref,
    }
}

/// The claim's owner references as the policy wants them: ours scrubbed, then the set or
/// the pod added as controller (not on top of another controller).
pub fn wanted_refs(claim: &PersistentVolumeClaim, set: &StatefulSet, pod: &Pod, scaled_down: bool) -> Vec<OwnerReference> {
    let unexpected = has_unexpected_controller(claim, set, pod);
    let mut refs: Vec<OwnerReference> =
        claim.metadata.owner_references.iter().filter(|r| !matches_ref(*r, set) && !matches_ref(*r, pod)).cloned().collect();
    if unexpected {
        return refs;
    }
    let (scaled, deleted) = retention_of(set);
    let by_pod = scaled == Keep::Delete && scaled_down;
    let by_set = deleted == Keep::Delete && !(scaled == Keep::Delete && scaled_down);
    if by_set && !refs.iter().any(|r| r.uid == set.metadata.uid) {
        refs.push(controller_ref_of(set));
    }
    if by_pod && !pod.metadata.uid.is_empty() && !refs.iter().any(|r| r.uid == pod.metadata.uid) {
        refs.push(controller_ref_of(pod));
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::StatefulSetPersistentVolumeClaimRetentionPolicy as Policy;

    fn set(scaled: &str, deleted: &str) -> StatefulSet {
        let mut s = StatefulSet::default();
        s.metadata.name = "web".into();
        s.metadata.uid = "set-uid".into();
        s.spec.persistent_volume_claim_retention_policy =
            Some(Policy { when_scaled: Some(scaled.into()), when_deleted: Some(deleted.into()) });
        s
    }

    fn pod() -> Pod {
        let mut p = Pod::default();
        p.metadata.name = "web-0".into();
        p.metadata.uid = "pod-uid".into();
        p
    }

    fn owners(refs: &[OwnerReference]) -> Vec<(&str, bool)> {
        refs.iter().map(|r| (r.kind.as_str(), r.controller == Some(true))).collect()
    }

    #[test]
    fn each_policy_gives_its_owners() {
        let claim = PersistentVolumeClaim::default();
        let cases = [
            ("Retain", "Retain", false, vec![]),
            ("Retain", "Delete", false, vec![("StatefulSet", true)]),
            ("Retain", "Delete", true, vec![("StatefulSet", true)]),
            ("Delete", "Retain", false, vec![]),
            ("Delete", "Retain", true, vec![("Pod", true)]),
            ("Delete", "Delete", false, vec![("StatefulSet", true)]),
            ("Delete", "Delete", true, vec![("Pod", true)]),
        ];
        for (scaled, deleted, down, want) in cases {
            let s = set(scaled, deleted);
            let refs = wanted_refs(&claim, &s, &pod(), down);
            assert_eq!(owners(&refs), want, "{scaled}/{deleted} scaled down: {down}");
            let mut fixed = claim.clone();
            fixed.metadata.owner_references = refs;
            assert!(up_to_date(&fixed, &s, &pod(), down), "{scaled}/{deleted} {down}");
            assert_eq!(up_to_date(&claim, &s, &pod(), down), want.is_empty(), "{scaled}/{deleted} {down}");
        }
    }

    #[test]
    fn stale_references_and_other_controllers_are_left_alone() {
        let s = set("Delete", "Delete");
        let mut claim = PersistentVolumeClaim::default();
        let mut old_pod = pod();
        old_pod.metadata.uid = "old".into();
        claim.metadata.owner_references.push(controller_ref_of(&old_pod));
        assert!(has_stale_ref(&claim, &pod()));
        assert!(up_to_date(&claim, &s, &pod(), false), "a stale claim is not touched");
        let mut other = PersistentVolumeClaim::default();
        other.metadata.owner_references.push(OwnerReference { kind: "Other".into(), uid: "x".into(), controller: Some(true), ..Default::default() });
        assert!(up_to_date(&other, &s, &pod(), false));
        assert_eq!(owners(&wanted_refs(&other, &s, &pod(), false)), [("Other", true)]);
    }
}
