//! A StatefulSet's revision history (pure, upstream's `newRevision` and
//! `truncateHistory`): each revision's `data` is the template patch of
//! [`history::revision`](crate::controllers::history::revision); its name is
//! `<set>-<hash>`, the hash being FNV-1 (32 bit) of the patch and the collision count,
//! written in the "safe" alphabet, as upstream computes it.

use std::collections::HashSet;
use std::sync::Arc;

use api::model::{ControllerRevision, ObjectMeta, StatefulSet};

use crate::controllers::controller_ref_of;
use crate::controllers::history::revision::{equal, next_revision, patch_of, revision_name};

/// The label holding a revision's hash (upstream's `ControllerRevisionHashLabel`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// Letters without vowels and digits without look-alikes (`rand.SafeEncodeString`).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1, 32 bits (Go's `fnv.New32`).
fn fnv1_32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h = h.wrapping_mul(0x0100_0193);
        h ^= u32::from(*b);
    }
    h
}

/// Upstream's `HashControllerRevision(revision, &collisionCount)`: FNV-1 over the data and
/// the collision count in decimal, the sum's decimal digits mapped into the safe alphabet.
pub fn hash(data: &str, collision_count: i32) -> String {
    let mut bytes = data.as_bytes().to_vec();
    bytes.extend_from_slice(collision_count.to_string().as_bytes());
    fnv1_32(&bytes).to_string().bytes().map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char).collect()
}

/// The revision of the set's current template (upstream's `newRevision`): owned by the
/// set, the template's labels plus the hash label, the set's annotations.
pub fn new_revision(set: &StatefulSet, revision: i64, collision_count: i32) -> ControllerRevision {
    let data = patch_of(&set.spec.template);
    let h = hash(&data, collision_count);
    let mut labels = set.spec.template.metadata.labels.clone();
    labels.insert(HASH_LABEL.into(), h.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: revision_name(&set.metadata.name, &h),
            namespace: set.metadata.namespace.clone(),
            labels,
            annotations: set.metadata.annotations.clone(),
            owner_references: vec![controller_ref_of(set)],
            ..Default::default()
        },
        data,
        revision,
        ..Default::default()
    }
}

/// What to do to have the set's update revision (the first half of upstream's
/// `getStatefulSetRevisions`).
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateRevision {
    /// The newest revision already holds the template.
    Latest(Arc<ControllerRevision>),
    /// An older revision holds it (a rollback): give it the next revision number.
    Reuse(Arc<ControllerRevision>, i64),
    /// No revision holds it: create this one.
    Create(ControllerRevision),
}

pub fn update_revision(set: &StatefulSet, sorted: &[Arc<ControllerRevision>], collision_count: i32) -> UpdateRevision {
    let candidate = new_revision(set, next_revision(sorted), collision_count);
    match sorted.iter().rev().find(|r| equal(r, &candidate)) {
        Some(r) if sorted.last().is_some_and(|last| equal(last, r)) => UpdateRevision::Latest(r.clone()),
        Some(r) => UpdateRevision::Reuse(r.clone(), candidate.revision),
        None => UpdateRevision::Create(candidate),
    }
}

/// The revisions to delete to keep at most `limit` revisions that neither a pod nor the
/// status uses, oldest first (upstream's `truncateHistory`).
pub fn history_to_delete<'a>(
    sorted: &'a [Arc<ControllerRevision>],
    live: &HashSet<&str>,
    limit: i32,
) -> Vec<&'a Arc<ControllerRevision>> {
    let history: Vec<&Arc<ControllerRevision>> = sorted.iter().filter(|r| !live.contains(r.metadata.name.as_str())).collect();
    let keep = usize::try_from(limit.max(0)).unwrap_or(0);
    let excess = history.len().saturating_sub(keep);
    history.into_iter().take(excess).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::history::revision::{sort, template_of};
    use api::model::Container;

    fn set(image: &str) -> StatefulSet {
        let mut s = StatefulSet::default();
        s.metadata.name = "web".into();
        s.metadata.namespace = Some("default".into());
        s.metadata.uid = "u".into();
        s.metadata.annotations.insert("note".into(), "kept".into());
        s.spec.template.metadata.labels.insert("app".into(), "nginx".into());
        s.spec.template.spec.containers.push(Container { name: "c".into(), image: Some(image.into()), ..Default::default() });
        s
    }

    #[test]
    fn the_hash_is_upstreams_fnv1_in_the_safe_alphabet() {
        // FNV-1 32 of "0" (empty data, collision count 0) is 0x050c5d2f = 84696367: its
        // digits through the alphabet ('8'→'d', '4'→'8', '6'→'b', '9'→'f', '3'→'7', '7'→'c').
        assert_eq!(fnv1_32(b"0"), 0x050c_5d2f);
        assert_eq!(hash("", 0), "d8bfb7bc");
        let h = hash(&patch_of(&set("nginx:1").spec.template), 0);
        assert!(h.bytes().all(|b| b"456789bcdf".contains(&b)), "{h}");
        assert_eq!(h, hash(&patch_of(&set("nginx:1").spec.template), 0), "stable");
        assert_ne!(h, hash(&patch_of(&set("nginx:2").spec.template), 0));
        assert_ne!(h, hash(&patch_of(&set("nginx:1").spec.template), 1), "the collision count changes the name");
    }

    #[test]
    fn a_revision_restores_its_template() {
        let s = set("nginx:1");
        let cr = new_revision(&s, 3, 0);
        assert_eq!(cr.revision, 3);
        assert!(cr.metadata.name.starts_with("web-"));
        assert_eq!(cr.metadata.labels["app"], "nginx");
        assert_eq!(cr.metadata.labels[HASH_LABEL], cr.metadata.name.trim_start_matches("web-"));
        assert_eq!(cr.metadata.annotations["note"], "kept");
        assert_eq!(cr.metadata.controller_ref().map(|r| r.kind.as_str()), Some("StatefulSet"));
        assert_eq!(template_of(&cr), Some(s.spec.template.clone()));
    }

    #[test]
    fn the_update_revision_is_the_latest_a_reused_one_or_a_new_one() {
        let mut v1 = new_revision(&set("nginx:1"), 1, 0);
        v1.metadata.name = "web-a".into();
        let mut v2 = new_revision(&set("nginx:2"), 2, 0);
        v2.metadata.name = "web-b".into();
        let mut revs = vec![Arc::new(v2.clone()), Arc::new(v1.clone())];
        sort(&mut revs);
        assert_eq!(next_revision(&revs), 3);
        assert_eq!(update_revision(&set("nginx:2"), &revs, 0), UpdateRevision::Latest(revs[1].clone()));
        // Back to nginx:1: the old revision becomes revision 3.
        assert_eq!(update_revision(&set("nginx:1"), &revs, 0), UpdateRevision::Reuse(revs[0].clone(), 3));
        match update_revision(&set("nginx:3"), &revs, 0) {
            UpdateRevision::Create(cr) => assert_eq!(cr.revision, 3),
            other => panic!("{other:?}"),
        }
        assert!(matches!(update_revision(&set("nginx:1"), &[], 0), UpdateRevision::Create(cr) if cr.revision == 1));
    }

    #[test]
    fn history_keeps_the_limit_of_unused_revisions() {
        let revs: Vec<Arc<ControllerRevision>> = (1..=5)
            .map(|i| {
                let mut r = ControllerRevision { revision: i, ..Default::default() };
                r.metadata.name = format!("r{i}");
                Arc::new(r)
            })
            .collect();
        let live: HashSet<&str> = ["r1", "r5"].into();
        let names = |v: Vec<&Arc<ControllerRevision>>| v.iter().map(|r| r.metadata.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(history_to_delete(&revs, &live, 1)), ["r2", "r3"]);
        assert_eq!(names(history_to_delete(&revs, &live, 0)), ["r2", "r3", "r4"]);
        assert!(history_to_delete(&revs, &live, 10).is_empty());
    }
}
