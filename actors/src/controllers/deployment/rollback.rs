//! Revisions: which ReplicaSet is the latest rollout, and rolling back by reusing an old one.
//!
//! `shoal rollout undo` (like kubectl) copies an old ReplicaSet's template into the
//! Deployment; the controller then finds that ReplicaSet as the "new" one and gives it
//! the next revision, so history reads as a rollout.

use std::collections::BTreeMap;

use api::model::{ObjectMeta, ReplicaSet};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// The revision annotation of an object (0 when absent or malformed).
pub fn revision_of(meta: &ObjectMeta) -> i64 {
    meta.annotations.get(REVISION).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn max_revision<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    sets.into_iter().map(|rs| revision_of(&rs.metadata)).max().unwrap_or(0)
}

fn set(annotations: &mut BTreeMap<String, String>, key: &str, value: String) -> bool {
    if annotations.get(key) == Some(&value) {
        return false;
    }
    annotations.insert(key.to_string(), value);
    true
}

/// Records the deployment size a ReplicaSet was scaled for; true when something changed.
pub fn set_replicas_annotations(meta: &mut ObjectMeta, desired: i32, max: i32) -> bool {
    let a = set(&mut meta.annotations, DESIRED_REPLICAS, desired.to_string());
    let b = set(&mut meta.annotations, MAX_REPLICAS, max.to_string());
    a || b
}

/// Gives the new ReplicaSet `revision` unless it already has a newer one (revisions
/// only grow); true when something changed.
pub fn set_new_rs_revision(meta: &mut ObjectMeta, revision: i64) -> bool {
    if revision_of(meta) >= revision {
        return false;
    }
    set(&mut meta.annotations, REVISION, revision.to_string())
}

/// The annotation a Deployment should carry for its new ReplicaSet's revision.
pub fn deployment_revision_needs_update(d: &ObjectMeta, new_rs: &ObjectMeta) -> Option<String> {
    let want = new_rs.annotations.get(REVISION)?;
    (d.annotations.get(REVISION) != Some(want)).then(|| want.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(rev: Option<&str>) -> ReplicaSet {
        let mut r = ReplicaSet::default();
        if let Some(v) = rev {
            r.metadata.annotations.insert(REVISION.into(), v.into());
        }
        r
    }

    #[test]
    fn revisions_only_grow_and_a_reused_old_set_gets_the_next_one() {
        let sets = [rs(Some("1")), rs(Some("3")), rs(None), rs(Some("x"))];
        assert_eq!(max_revision(&sets), 3);
        // Rolling back to revision 1: it becomes revision 4.
        let mut old = rs(Some("1")).metadata;
        assert!(set_new_rs_revision(&mut old, max_revision(&sets) + 1));
        assert_eq!(revision_of(&old), 4);
        assert!(!set_new_rs_revision(&mut old, 4), "no change when already there");
        assert!(!set_new_rs_revision(&mut old, 2), "never goes back");
    }

    #[test]
    fn replicas_annotations_report_changes() {
        let mut m = ObjectMeta::default();
        assert!(set_replicas_annotations(&mut m, 3, 4));
        assert!(!set_replicas_annotations(&mut m, 3, 4));
        assert_eq!(m.annotations.get(MAX_REPLICAS).map(String::as_str), Some("4"));
    }

    #[test]
    fn deployment_follows_the_new_sets_revision() {
        let d = ObjectMeta::default();
        assert_eq!(deployment_revision_needs_update(&d, &rs(Some("2")).metadata), Some("2".into()));
        assert_eq!(deployment_revision_needs_update(&rs(Some("2")).metadata, &rs(Some("2")).metadata), None);
    }
}
