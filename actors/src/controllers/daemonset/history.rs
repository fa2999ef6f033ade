//! The DaemonSet's revision history in ControllerRevisions (upstream's `constructHistory`,
//! `dedupCurHistories`, `snapshot` and `cleanupHistory` in `pkg/controller/daemon/update.go`).
//! A revision is named `<set>-<hash>`, the hash being the template's (with the collision
//! count) and carried in the `controller-revision-hash` label, which the pods of that
//! revision carry too; its data is the template patch of
//! [`history::revision`](crate::controllers::history::revision). The decisions are pure
//! ([`construct`], [`to_clean_up`]); the writes follow.

use std::collections::HashSet;
use std::sync::Arc;

use api::model::{ControllerRevision, DaemonSet, ObjectMeta, Pod};

use super::plan::REVISION_LABEL;
use crate::controller::{Cx, ReconcileError};
use crate::controllers::deployment::hash::template_hash;
use crate::controllers::history::{self, revision};
use crate::controllers::controller_ref_of;
use crate::registry::{RegistryError, UpdateScope};

/// The hash a revision names: its `controller-revision-hash` label, else its name (as
/// upstream labels revisions written before the label existed).
pub fn hash_of(cr: &ControllerRevision) -> &str {
    cr.metadata.labels.get(REVISION_LABEL).map_or(cr.metadata.name.as_str(), String::as_str)
}

/// The revision of the DaemonSet's current template, numbered `revision` (upstream's
/// `snapshot`): owned by the DaemonSet, the template's labels plus the hash label, the
/// DaemonSet's annotations (so `kubernetes.io/change-cause` shows in the history).
pub fn snapshot(ds: &DaemonSet, revision: i64) -> ControllerRevision {
    let hash = template_hash(&ds.spec.template, ds.status.as_ref().and_then(|s| s.collision_count));
    let mut labels = ds.spec.template.metadata.labels.clone();
    labels.insert(REVISION_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: revision::revision_name(&ds.metadata.name, &hash),
            namespace: ds.metadata.namespace.clone(),
            labels,
            annotations: ds.metadata.annotations.clone(),
            owner_references: vec![controller_ref_of(ds)],
            ..Default::default()
        },
        data: revision::patch_of(&ds.spec.template),
        revision,
        ..Default::default()
    }
}

/// What the current revision takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// No revision holds the template: create this one.
    Create(ControllerRevision),
    /// Revisions hold it: keep the newest (renumbered when older ones now follow it, as
    /// after a rollback); the other duplicates go, their pods relabelled first.
    Keep { keep: Arc<ControllerRevision>, renumber: Option<i64>, duplicates: Vec<Arc<ControllerRevision>> },
}

/// The current revision and the old ones, sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Construct {
    pub current: Current,
    pub old: Vec<Arc<ControllerRevision>>,
}

/// Splits the DaemonSet's revisions (`sorted` as [`revision::sort`] leaves them) into
/// those holding its current template and the old ones (upstream's `constructHistory`):
/// the current one's number is one more than every old one's.
pub fn construct(ds: &DaemonSet, sorted: &[Arc<ControllerRevision>]) -> Construct {
    let candidate = snapshot(ds, 0);
    let (mut current, old): (Vec<_>, Vec<_>) = sorted.iter().cloned().partition(|r| revision::equal(r, &candidate));
    let next = old.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
    let current = match current.pop() {
        None => Current::Create(ControllerRevision { revision: next, ..candidate }),
        Some(keep) => Current::Keep { renumber: (keep.revision < next).then_some(next), keep, duplicates: current },
    };
    Construct { current, old }
}

/// The old revisions to delete so that at most `limit` remain, oldest first, never one
/// whose hash a pod of the DaemonSet still carries (upstream's `cleanupHistory`).
pub fn to_clean_up<'a>(old: &'a [Arc<ControllerRevision>], live: &HashSet<&str>, limit: i32) -> Vec<&'a Arc<ControllerRevision>> {
    let excess = old.len().saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    old.iter().filter(|r| !live.contains(hash_of(r))).take(excess).collect()
}

/// Claims the DaemonSet's revisions, labels unlabelled ones, and finds or writes the
/// current revision; returns it and the old revisions, sorted.
pub async fn construct_history(
    ds: &DaemonSet,
    pods: &[Arc<Pod>],
    cx: &Cx,
) -> Result<(Arc<ControllerRevision>, Vec<Arc<ControllerRevision>>), ReconcileError> {
    let selector = ds.spec.selector.clone().unwrap_or_default();
    let mut revisions = history::claim(ds, &selector, cx).await?;
    for r in revisions.iter_mut().filter(|r| !r.metadata.labels.contains_key(REVISION_LABEL)) {
        *r = add_hash_label(r, cx).await?;
    }
    let Construct { current, old } = construct(ds, &revisions);
    let current = match current {
        Current::Create(cr) => create(ds, cr, cx).await?,
        Current::Keep { keep, renumber, duplicates } => {
            if !duplicates.is_empty() {
                relabel(pods, hash_of(&keep), cx).await?;
                for d in &duplicates {
                    history::delete(d, cx).await?;
                }
            }
            match renumber {
                Some(n) => history::renumber(&keep, n, cx).await?,
                None => keep,
            }
        }
    };
    Ok((current, old))
}

/// Deletes the old revisions beyond `revisionHistoryLimit` (10 by default) that no pod
/// of the DaemonSet (finished ones included) carries.
pub async fn cleanup_history(ds: &DaemonSet, old: &[Arc<ControllerRevision>], pods: &[Arc<Pod>], cx: &Cx) -> Result<(), ReconcileError> {
    let live: HashSet<&str> = pods.iter().filter_map(|p| p.metadata.labels.get(REVISION_LABEL)).map(String::as_str).collect();
    for r in to_clean_up(old, &live, ds.spec.revision_history_limit.unwrap_or(10)) {
        history::delete(r, cx).await?;
    }
    Ok(())
}

async fn add_hash_label(cr: &ControllerRevision, cx: &Cx) -> Result<Arc<ControllerRevision>, ReconcileError> {
    let (uid, name) = (cr.metadata.uid.clone(), cr.metadata.name.clone());
    let out = cx
        .modify::<ControllerRevision>(cr.metadata.namespace.as_deref(), &name, UpdateScope::Main, |c| {
            if c.metadata.uid != uid || c.metadata.labels.contains_key(REVISION_LABEL) {
                return false;
            }
            c.metadata.labels.insert(REVISION_LABEL.into(), name.clone());
            true
        })
        .await?;
    Ok(Arc::new(out))
}

/// Gives every pod the hash label `hash` (pods of a duplicate revision move to the kept one).
async fn relabel(pods: &[Arc<Pod>], hash: &str, cx: &Cx) -> Result<(), ReconcileError> {
    for p in pods.iter().filter(|p| p.metadata.labels.get(REVISION_LABEL).map(String::as_str) != Some(hash)) {
        let uid = p.metadata.uid.clone();
        let res = cx
            .modify::<Pod>(p.metadata.namespace.as_deref(), &p.metadata.name, UpdateScope::Main, |o| {
                if o.metadata.uid != uid || o.metadata.labels.get(REVISION_LABEL).map(String::as_str) == Some(hash) {
                    return false;
                }
                o.metadata.labels.insert(REVISION_LABEL.into(), hash.to_string());
                true
            })
            .await;
        match res {
            Ok(_) | Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Creates the current revision. A revision of that name with other data is a hash
/// collision: the DaemonSet's `status.collisionCount` goes up and the sync is retried
/// with the next name (upstream's `snapshot`).
async fn create(ds: &DaemonSet, cr: ControllerRevision, cx: &Cx) -> Result<Arc<ControllerRevision>, ReconcileError> {
    let ns = ds.metadata.namespace.as_deref();
    let name = cr.metadata.name.clone();
    match cx.create(cr.clone()).await {
        Ok(out) => Ok(Arc::new(out)),
        Err(RegistryError::AlreadyExists { .. }) => {
            let existing: ControllerRevision = cx.registry().get(ns, &name).await?;
            if revision::equal(&existing, &cr) {
                return Ok(Arc::new(existing));
            }
            let seen = ds.status.as_ref().and_then(|s| s.collision_count);
            let uid = ds.metadata.uid.clone();
            cx.modify::<DaemonSet>(ns, &ds.metadata.name, UpdateScope::Status, |o| {
                let st = o.status.get_or_insert_with(Default::default);
                if o.metadata.uid != uid || st.collision_count != seen {
                    return false;
                }
                st.collision_count = Some(seen.unwrap_or(0) + 1);
                true
            })
            .await?;
            Err(ReconcileError::Other(format!("DaemonSet {}: ControllerRevision {name} holds another template; collisionCount raised", ds.metadata.name)))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Container;

    fn ds(image: &str) -> DaemonSet {
        let mut d = DaemonSet::default();
        d.metadata.name = "agent".into();
        d.metadata.namespace = Some("default".into());
        d.metadata.uid = "u".into();
        d.metadata.annotations.insert("kubernetes.io/change-cause".into(), "because".into());
        d.spec.template.metadata.labels.insert("app".into(), "agent".into());
        d.spec.template.spec.containers.push(Container { name: "c".into(), image: Some(image.into()), ..Default::default() });
        d
    }

    fn stored(image: &str, n: i64) -> Arc<ControllerRevision> {
        let mut r = snapshot(&ds(image), n);
        r.metadata.uid = format!("uid-{}", r.metadata.name);
        Arc::new(r)
    }

    #[test]
    fn a_snapshot_names_the_hash_its_pods_carry_and_restores_the_template() {
        let d = ds("busybox:1");
        let r = snapshot(&d, 1);
        let hash = template_hash(&d.spec.template, None);
        assert_eq!(r.metadata.name, format!("agent-{hash}"));
        assert_eq!(hash_of(&r), hash);
        assert_eq!(r.metadata.labels["app"], "agent");
        assert_eq!(r.metadata.annotations["kubernetes.io/change-cause"], "because");
        assert_eq!(r.metadata.controller_ref().map(|o| o.kind.as_str()), Some("DaemonSet"));
        assert_eq!(revision::template_of(&r), Some(d.spec.template.clone()));
        assert!(r.data.contains(r#""$patch":"replace""#), "{}", r.data);
        let mut collided = d.clone();
        collided.status = Some(api::model::DaemonSetStatus { collision_count: Some(1), ..Default::default() });
        assert_ne!(snapshot(&collided, 1).metadata.name, r.metadata.name, "the collision count changes the name");
        let mut unlabelled = (*stored("busybox:1", 1)).clone();
        unlabelled.metadata.labels.clear();
        assert_eq!(hash_of(&unlabelled), unlabelled.metadata.name, "a revision without the label names itself");
    }

    #[test]
    fn the_first_template_creates_revision_one_and_a_new_one_the_next() {
        match construct(&ds("busybox:1"), &[]).current {
            Current::Create(r) => assert_eq!(r.revision, 1),
            other => panic!("{other:?}"),
        }
        let revs = vec![stored("busybox:1", 1)];
        let c = construct(&ds("busybox:2"), &revs);
        assert!(matches!(&c.current, Current::Create(r) if r.revision == 2), "{c:?}");
        assert_eq!(c.old, revs);
    }

    #[test]
    fn an_unchanged_template_keeps_its_revision() {
        let revs = vec![stored("busybox:1", 1), stored("busybox:2", 2)];
        let c = construct(&ds("busybox:2"), &revs);
        assert_eq!(c.current, Current::Keep { keep: revs[1].clone(), renumber: None, duplicates: vec![] });
        assert_eq!(c.old, revs[..1]);
    }

    #[test]
    fn a_rollback_reuses_the_old_revision_with_the_next_number() {
        let revs = vec![stored("busybox:1", 1), stored("busybox:2", 2)];
        let c = construct(&ds("busybox:1"), &revs);
        assert_eq!(c.current, Current::Keep { keep: revs[0].clone(), renumber: Some(3), duplicates: vec![] });
        assert_eq!(c.old, revs[1..]);
    }

    #[test]
    fn duplicates_of_the_current_revision_go_and_the_newest_stays() {
        let mut dup = (*stored("busybox:1", 1)).clone();
        dup.metadata.name = "agent-other".into();
        let revs = vec![Arc::new(dup), stored("busybox:2", 2), stored("busybox:1", 3)];
        let c = construct(&ds("busybox:1"), &revs);
        assert_eq!(c.current, Current::Keep { keep: revs[2].clone(), renumber: None, duplicates: vec![revs[0].clone()] });
        assert_eq!(c.old, vec![revs[1].clone()]);
    }

    #[test]
    fn cleanup_keeps_the_limit_and_every_revision_a_pod_carries() {
        let old: Vec<_> = (1..=5).map(|i| stored(&format!("busybox:{i}"), i)).collect();
        let names = |v: Vec<&Arc<ControllerRevision>>| v.iter().map(|r| r.revision).collect::<Vec<_>>();
        let none = HashSet::new();
        assert_eq!(names(to_clean_up(&old, &none, 2)), [1, 2, 3]);
        assert!(to_clean_up(&old, &none, 10).is_empty());
        assert_eq!(names(to_clean_up(&old, &none, 0)), [1, 2, 3, 4, 5]);
        // A pod still on revision 1: the next oldest go instead, as many as before.
        let live: HashSet<&str> = [hash_of(&old[0])].into();
        assert_eq!(names(to_clean_up(&old, &live, 2)), [2, 3, 4]);
    }
}
