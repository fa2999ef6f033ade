//! What every strategy shares: claiming ReplicaSets, finding or creating the new one,
//! scaling, proportional scaling for resizes and paused deployments, history cleanup.

use std::sync::Arc;

use super::hash::{template_hash, templates_equal, HASH_LABEL};
use super::rollback::{
    deployment_revision_needs_update, max_revision, revision_of, set_new_rs_revision, set_replicas_annotations, DESIRED_REPLICAS,
    REVISION,
};
use super::{max_surge_unavailable, replicas_of};
use crate::controller::{Cx, ReconcileError};
use crate::controllers::{adopt, controller_ref_of, parse_time, release};
use api::model::{Deployment, LabelSelector, ObjectMeta, ReplicaSet, ReplicaSetSpec};
use crate::registry::{Preconditions, RegistryError, UpdateScope};

/// A Deployment's ReplicaSets: the one running its current template, and the others
/// (oldest first).
#[derive(Debug, Clone, Default)]
pub struct Sets {
    pub new: Option<Arc<ReplicaSet>>,
    pub old: Vec<Arc<ReplicaSet>>,
}

impl Sets {
    pub fn all(&self) -> impl Iterator<Item = &Arc<ReplicaSet>> {
        self.new.iter().chain(self.old.iter())
    }

    /// Old sets that still have replicas.
    pub fn active_old(&self) -> impl Iterator<Item = &Arc<ReplicaSet>> {
        self.old.iter().filter(|rs| spec_replicas(rs) > 0)
    }
}

pub fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(0)
}

pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.available_replicas).unwrap_or(0)
}

fn created(rs: &ReplicaSet) -> (i64, String) {
    let t = parse_time(rs.metadata.creation_timestamp.as_deref()).map(|t| t.timestamp()).unwrap_or(0);
    (t, rs.metadata.name.clone())
}

/// Splits owned sets into the new one (same template, oldest if several) and the old ones.
pub fn split_sets(d: &Deployment, mut owned: Vec<Arc<ReplicaSet>>) -> Sets {
    owned.sort_by_key(|rs| created(rs));
    let new_idx = owned.iter().position(|rs| templates_equal(&rs.spec.template, &d.spec.template));
    let new = new_idx.map(|i| owned.remove(i));
    Sets { new, old: owned }
}

/// Reads the Deployment's ReplicaSets from the cache, adopting matching orphans and
/// releasing owned sets whose labels stopped matching.
pub async fn claim_sets(d: &Deployment, cx: &Cx) -> Result<Vec<Arc<ReplicaSet>>, ReconcileError> {
    let uid = &d.metadata.uid;
    let deleting = d.metadata.is_deleting();
    let selector = d.spec.selector.clone().unwrap_or_default();
    let matches = |rs: &ReplicaSet| !selector.is_empty() && selector.matches(&rs.metadata.labels);
    let mut owned = Vec::new();
    for rs in cx.caches().replicasets.list(d.metadata.namespace.as_deref()) {
        match rs.metadata.controller_ref() {
            Some(r) if r.uid == *uid => {
                if matches(&rs) || deleting || rs.metadata.is_deleting() {
                    owned.push(rs);
                } else {
                    release(cx, uid, rs.as_ref()).await?;
                }
            }
            None if !deleting && !rs.metadata.is_deleting() && matches(&rs) => {
                adopt(cx, d, rs.as_ref()).await?;
                owned.push(rs);
            }
            _ => {}
        }
    }
    Ok(owned)
}

/// The ReplicaSet a Deployment creates for its current template (pure).
pub fn new_rs_object(d: &Deployment, replicas: i32, revision: i64, max_surge: i32) -> ReplicaSet {
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(&d.spec.template, collision);
    let mut template = d.spec.template.clone();
    template.metadata.labels.insert(HASH_LABEL.into(), hash.clone());
    let mut selector: LabelSelector = d.spec.selector.clone().unwrap_or_default();
    selector.match_labels.insert(HASH_LABEL.into(), hash.clone());
    let mut meta = ObjectMeta {
        name: format!("{}-{}", d.metadata.name, hash),
        namespace: d.metadata.namespace.clone(),
        labels: template.metadata.labels.clone(),
        owner_references: vec![controller_ref_of(d)],
        ..Default::default()
    };
    // Annotations of the Deployment are copied (not kubectl's bookkeeping ones).
    for (k, v) in &d.metadata.annotations {
        if k != REVISION && !k.starts_with("kubectl.kubernetes.io/") {
            meta.annotations.insert(k.clone(), v.clone());
        }
    }
    meta.annotations.insert(REVISION.into(), revision.to_string());
    let want = replicas_of(d);
    set_replicas_annotations(&mut meta, want, want + max_surge);
    ReplicaSet {
        metadata: meta,
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector: Some(selector),
            template,
        },
        ..Default::default()
    }
}

/// What `ensure_new_rs` did.
pub enum NewRs {
    /// Nothing to do: the new set exists with the right annotations and the Deployment
    /// carries its revision.
    Ready(Arc<ReplicaSet>),
    /// A write was made (created, revision bumped, or the Deployment's annotation set).
    Wrote { created: Option<String> },
    /// No new set and `create` was false.
    Missing,
}

/// Finds the new ReplicaSet and brings its annotations (revision, sizes, minReadySeconds)
/// up to date, or creates it with `initial` replicas. At most one kind of write.
pub async fn ensure_new_rs(d: &Deployment, sets: &Sets, create: Option<i32>, cx: &Cx) -> Result<NewRs, ReconcileError> {
    let (max_surge, _) = max_surge_unavailable(d);
    let next_revision = max_revision(sets.old.iter().map(|r| r.as_ref())) + 1;
    let ns = d.metadata.namespace.as_deref();
    if let Some(rs) = &sets.new {
        let mut probe = (**rs).clone();
        let mut changed = set_new_rs_revision(&mut probe.metadata, next_revision);
        changed |= probe.spec.min_ready_seconds != d.spec.min_ready_seconds;
        let want = replicas_of(d);
        let desired_missing = !probe.metadata.annotations.contains_key(DESIRED_REPLICAS);
        if changed || desired_missing {
            let uid = rs.metadata.uid.clone();
            let res = cx
                .modify::<ReplicaSet>(ns, &rs.metadata.name, UpdateScope::Main, |r| {
                    if r.metadata.uid != uid {
                        return false;
                    }
                    let mut c = set_new_rs_revision(&mut r.metadata, next_revision);
                    if r.spec.min_ready_seconds != d.spec.min_ready_seconds {
                        r.spec.min_ready_seconds = d.spec.min_ready_seconds;
                        c = true;
                    }
                    if !r.metadata.annotations.contains_key(DESIRED_REPLICAS) {
                        c |= set_replicas_annotations(&mut r.metadata, want, want + max_surge);
                    }
                    c
                })
                .await;
            return match res {
                Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(NewRs::Wrote { created: None }),
                Err(e) => Err(e.into()),
            };
        }
        if let Some(rev) = deployment_revision_needs_update(&d.metadata, &rs.metadata) {
            set_deployment_revision(d, rev, cx).await?;
            return Ok(NewRs::Wrote { created: None });
        }
        return Ok(NewRs::Ready(rs.clone()));
    }
    let Some(initial) = create else { return Ok(NewRs::Missing) };
    let obj = new_rs_object(d, initial, next_revision, max_surge);
    let name = obj.metadata.name.clone();
    match cx.create(obj).await {
        Ok(_) => {
            cx.event(d, "Normal", "ScalingReplicaSet", format!("Scaled up replica set {name} to {initial}"));
            Ok(NewRs::Wrote { created: Some(name) })
        }
        Err(RegistryError::AlreadyExists { .. }) => {
            // A set of that name exists but is not ours or holds another template: a hash
            // collision. Bump collisionCount so the next reconcile hashes differently.
            let existing = cx.caches().replicasets.get(ns, &name);
            let same = existing.as_ref().is_some_and(|rs| templates_equal(&rs.spec.template, &d.spec.template));
            if !same {
                let uid = d.metadata.uid.clone();
                cx.modify::<Deployment>(ns, &d.metadata.name, UpdateScope::Status, |dd| {
                    if dd.metadata.uid != uid {
                        return false;
                    }
                    let st = dd.status.get_or_insert_with(Default::default);
                    st.collision_count = Some(st.collision_count.unwrap_or(0) + 1);
                    true
                })
                .await?;
            }
            Ok(NewRs::Wrote { created: None })
        }
        Err(e) => Err(e.into()),
    }
}

async fn set_deployment_revision(d: &Deployment, rev: String, cx: &Cx) -> Result<(), ReconcileError> {
    let uid = d.metadata.uid.clone();
    let res = cx
        .modify::<Deployment>(d.metadata.namespace.as_deref(), &d.metadata.name, UpdateScope::Main, |dd| {
            if dd.metadata.uid != uid || dd.metadata.annotations.get(REVISION) == Some(&rev) {
                return false;
            }
            dd.metadata.annotations.insert(REVISION.into(), rev.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sets a ReplicaSet's replicas and records the deployment size it was scaled for.
pub async fn scale_rs(d: &Deployment, rs: &ReplicaSet, replicas: i32, cx: &Cx) -> Result<(), ReconcileError> {
    let (max_surge, _) = max_surge_unavailable(d);
    let want = replicas_of(d);
    let uid = rs.metadata.uid.clone();
    let res = cx
        .modify::<ReplicaSet>(rs.metadata.namespace.as_deref(), &rs.metadata.name, UpdateScope::Main, |r| {
            if r.metadata.uid != uid {
                return false;
            }
            let mut c = r.spec.replicas != Some(replicas);
            r.spec.replicas = Some(replicas);
            c |= set_replicas_annotations(&mut r.metadata, want, want + max_surge);
            c
        })
        .await;
    match res {
        Ok(r) if r.metadata.uid == uid && rs.spec.replicas != Some(replicas) => {
            let dir = if rs.spec.replicas.unwrap_or(0) < replicas { "up" } else { "down" };
            cx.event(d, "Normal", "ScalingReplicaSet", format!("Scaled {dir} replica set {} to {replicas}", rs.metadata.name));
            Ok(())
        }
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether `spec.replicas` changed since the active sets were last scaled (their
/// desired-replicas annotation differs).
pub fn is_scaling_event(d: &Deployment, sets: &Sets) -> bool {
    let want = replicas_of(d).to_string();
    sets.all()
        .filter(|rs| spec_replicas(rs) > 0)
        .any(|rs| rs.metadata.annotations.get(DESIRED_REPLICAS).is_some_and(|v| *v != want))
}

/// Splits `target_total` replicas over sets of the given current sizes in proportion
/// to their size (Kubernetes' proportional scaling); the rounding leftover goes to the
/// first sets in order (callers order them newest first). Never below zero.
pub fn proportional_targets(sizes: &[i32], target_total: i32) -> Vec<i32> {
    let total: i64 = sizes.iter().map(|s| i64::from(*s)).sum();
    let target_total = target_total.max(0);
    if sizes.is_empty() {
        return Vec::new();
    }
    if total == 0 {
        let mut out = vec![0; sizes.len()];
        out[0] = target_total;
        return out;
    }
    let to_add = i64::from(target_total) - total;
    let mut out: Vec<i64> = sizes.iter().map(|s| i64::from(*s) + i64::from(*s) * to_add / total).collect();
    let mut leftover = i64::from(target_total) - out.iter().sum::<i64>();
    let mut i = 0;
    while leftover != 0 && i < 10 * out.len() + 10 {
        let k = i % out.len();
        if leftover > 0 {
            out[k] += 1;
            leftover -= 1;
        } else if out[k] > 0 {
            out[k] -= 1;
            leftover += 1;
        }
        i += 1;
    }
    out.into_iter().map(|v| v.max(0) as i32).collect()
}

/// The sizes each set should have after a resize (or while paused); empty when nothing
/// needs to change (pure). Sets are given as `(current spec replicas, is_new)`, old ones
/// oldest first.
pub fn plan_scale(d: &Deployment, sets: &Sets) -> Vec<(Arc<ReplicaSet>, i32)> {
    let want = replicas_of(d);
    let active: Vec<&Arc<ReplicaSet>> = sets.all().filter(|rs| spec_replicas(rs) > 0).collect();
    // One active set (or none: the latest one) takes the whole size.
    if active.len() <= 1 {
        let target = active.first().copied().or(sets.new.as_ref()).or(sets.old.last());
        return match target {
            Some(rs) if spec_replicas(rs) != want => vec![(rs.clone(), want)],
            _ => Vec::new(),
        };
    }
    // The new set is saturated: the old ones go.
    if let Some(new) = &sets.new {
        if spec_replicas(new) == want && available(new) >= want {
            return sets.active_old().map(|rs| (rs.clone(), 0)).collect();
        }
    }
    let (max_surge, _) = max_surge_unavailable(d);
    let allowed = if super::is_recreate(d) { want } else { want + max_surge };
    // Newest first: the new set, then old sets newest to oldest.
    let mut ordered: Vec<&Arc<ReplicaSet>> = sets.new.iter().filter(|rs| spec_replicas(rs) > 0).collect();
    ordered.extend(sets.old.iter().rev().filter(|rs| spec_replicas(rs) > 0));
    let sizes: Vec<i32> = ordered.iter().map(|rs| spec_replicas(rs)).collect();
    if sizes.iter().sum::<i32>() == allowed {
        return Vec::new();
    }
    let targets = proportional_targets(&sizes, allowed);
    ordered
        .into_iter()
        .zip(targets)
        .filter(|(rs, t)| spec_replicas(rs) != *t)
        .map(|(rs, t)| ((*rs).clone(), t))
        .collect()
}

/// Applies `plan_scale`; true when something was written.
pub async fn scale(d: &Deployment, sets: &Sets, cx: &Cx) -> Result<bool, ReconcileError> {
    let plan = plan_scale(d, sets);
    for (rs, n) in &plan {
        scale_rs(d, rs, *n, cx).await?;
    }
    Ok(!plan.is_empty())
}

/// Old sets to delete beyond `revisionHistoryLimit` (pure): those with no replicas in
/// spec and status, lowest revision first.
pub fn history_to_delete(d: &Deployment, sets: &Sets) -> Vec<Arc<ReplicaSet>> {
    let limit = d.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let mut cleanable: Vec<&Arc<ReplicaSet>> = sets
        .old
        .iter()
        .filter(|rs| {
            spec_replicas(rs) == 0
                && rs.status.as_ref().map(|s| s.replicas).unwrap_or(0) == 0
                && !rs.metadata.is_deleting()
        })
        .collect();
    if cleanable.len() <= limit {
        return Vec::new();
    }
    cleanable.sort_by_key(|rs| (revision_of(&rs.metadata), created(rs)));
    let n = cleanable.len() - limit;
    cleanable.into_iter().take(n).cloned().collect()
}

pub async fn cleanup_history(d: &Deployment, sets: &Sets, cx: &Cx) -> Result<bool, ReconcileError> {
    let victims = history_to_delete(d, sets);
    for rs in &victims {
        let pre = Preconditions { uid: Some(rs.metadata.uid.clone()), resource_version: None };
        match cx.delete::<ReplicaSet>(rs.metadata.namespace.as_deref(), &rs.metadata.name, &pre).await {
            Ok(_) | Err(RegistryError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(!victims.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use api::model::{Container, ReplicaSetStatus};

    pub(crate) fn deployment(replicas: i32, image: &str) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.name = "web".into();
        d.metadata.namespace = Some("default".into());
        d.metadata.uid = "d-uid".into();
        d.metadata.generation = 1;
        d.spec.replicas = Some(replicas);
        d.spec.selector = Some(LabelSelector::from_map(&[("app".to_string(), "web".to_string())].into()));
        d.spec.template.metadata.labels.insert("app".into(), "web".into());
        d.spec.template.spec.containers.push(Container { name: "c".into(), image: Some(image.into()), ..Default::default() });
        api::defaults::default_deployment(&mut d);
        d
    }

    /// A set as the controller would have created it, with `spec`/`available` replicas.
    pub(crate) fn rs_for(d: &Deployment, revision: i64, spec: i32, available: i32, created: &str) -> Arc<ReplicaSet> {
        let mut rs = new_rs_object(d, spec, revision, max_surge_unavailable(d).0);
        rs.metadata.uid = format!("rs-{revision}");
        rs.metadata.creation_timestamp = Some(created.into());
        rs.status = Some(ReplicaSetStatus {
            replicas: spec,
            ready_replicas: available,
            available_replicas: available,
            ..Default::default()
        });
        Arc::new(rs)
    }

    #[test]
    fn new_rs_carries_hash_revision_and_sizes() {
        let d = deployment(4, "hello:v1");
        let rs = new_rs_object(&d, 2, 3, 1);
        let hash = rs.spec.template.metadata.labels.get(HASH_LABEL).cloned().unwrap();
        assert_eq!(rs.metadata.name, format!("web-{hash}"));
        assert_eq!(rs.spec.selector.as_ref().unwrap().match_labels.get(HASH_LABEL), Some(&hash));
        assert_eq!(rs.metadata.labels.get(HASH_LABEL), Some(&hash));
        assert!(rs.spec.selector.as_ref().unwrap().matches(&rs.spec.template.metadata.labels));
        assert_eq!(rs.metadata.annotations.get(REVISION).map(String::as_str), Some("3"));
        assert_eq!(rs.metadata.annotations.get(DESIRED_REPLICAS).map(String::as_str), Some("4"));
        assert_eq!(rs.metadata.annotations.get(super::super::rollback::MAX_REPLICAS).map(String::as_str), Some("5"));
        assert_eq!(rs.spec.replicas, Some(2));
        assert_eq!(rs.metadata.controller_ref().unwrap().uid, "d-uid");
        assert!(templates_equal(&rs.spec.template, &d.spec.template));
    }

    #[test]
    fn split_finds_the_set_with_the_current_template_even_an_old_one() {
        let v1 = deployment(3, "hello:v1");
        let v2 = deployment(3, "hello:v2");
        let a = rs_for(&v1, 1, 0, 0, "2026-01-01T00:00:00Z");
        let b = rs_for(&v2, 2, 3, 3, "2026-01-02T00:00:00Z");
        // Rolled back to v1: the v1 set is the new one again.
        let sets = split_sets(&v1, vec![b.clone(), a.clone()]);
        assert_eq!(sets.new.unwrap().metadata.uid, a.metadata.uid);
        assert_eq!(sets.old.len(), 1);
        let sets = split_sets(&deployment(3, "hello:v3"), vec![b, a.clone()]);
        assert!(sets.new.is_none());
        assert_eq!(sets.old[0].metadata.uid, a.metadata.uid, "oldest first");
    }

    #[test]
    fn proportional_targets_table() {
        assert_eq!(proportional_targets(&[5, 5], 20), vec![10, 10]);
        assert_eq!(proportional_targets(&[6, 3], 12), vec![8, 4]);
        assert_eq!(proportional_targets(&[3, 2], 6), vec![4, 2]);
        assert_eq!(proportional_targets(&[6, 4], 5), vec![3, 2]);
        assert_eq!(proportional_targets(&[0, 0], 3), vec![3, 0]);
        assert_eq!(proportional_targets(&[2, 1], 0), vec![0, 0]);
        for (sizes, total) in [(vec![7, 3, 1], 25), (vec![1, 1, 1], 1), (vec![9, 1], 4)] {
            assert_eq!(proportional_targets(&sizes, total).iter().sum::<i32>(), total, "{sizes:?}");
        }
    }

    #[test]
    fn resize_scales_the_only_active_set_and_nothing_when_converged() {
        let d = deployment(5, "hello:v1");
        let only = rs_for(&deployment(3, "hello:v1"), 1, 3, 3, "2026-01-01T00:00:00Z");
        let sets = Sets { new: Some(only.clone()), old: vec![] };
        assert!(is_scaling_event(&d, &sets));
        let plan = plan_scale(&d, &sets);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].1, 5);
        let done = rs_for(&d, 1, 5, 5, "2026-01-01T00:00:00Z");
        let sets = Sets { new: Some(done), old: vec![] };
        assert!(!is_scaling_event(&d, &sets));
        assert!(plan_scale(&d, &sets).is_empty());
    }

    #[test]
    fn resize_mid_rollout_is_proportional() {
        // 10 → 20 replicas while v1 has 8 and v2 has 5 (surge 3 of 10).
        let before = deployment(10, "hello:v2");
        let old = rs_for(&deployment(10, "hello:v1"), 1, 8, 8, "2026-01-01T00:00:00Z");
        let new = rs_for(&before, 2, 5, 0, "2026-01-02T00:00:00Z");
        let d = deployment(20, "hello:v2");
        let sets = Sets { new: Some(new), old: vec![old] };
        assert!(is_scaling_event(&d, &sets));
        let plan = plan_scale(&d, &sets);
        let total: i32 = plan.iter().map(|(_, n)| n).sum();
        assert_eq!(total, 25, "replicas + maxSurge (5)");
        assert!(plan.iter().all(|(_, n)| *n > 0));
    }

    #[test]
    fn history_keeps_the_newest_empty_sets_within_the_limit() {
        let mut d = deployment(1, "hello:v9");
        d.spec.revision_history_limit = Some(2);
        let old: Vec<_> = (1..=5)
            .map(|r| rs_for(&deployment(1, &format!("hello:v{r}")), r, if r == 5 { 1 } else { 0 }, 0, "2026-01-01T00:00:00Z"))
            .collect();
        let sets = Sets { new: None, old };
        let gone: Vec<i64> = history_to_delete(&d, &sets).iter().map(|rs| revision_of(&rs.metadata)).collect();
        assert_eq!(gone, vec![1, 2], "revisions 3 and 4 kept; 5 still has replicas");
    }
}
