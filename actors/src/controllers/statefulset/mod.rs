//! StatefulSet: pods with stable names, hostnames and storage, created, deleted and
//! updated in ordinal order (Kubernetes' `pkg/controller/statefulset`). One reconcile is
//! one pass of upstream's `UpdateStatefulSet`: claim revisions and pods, find or write
//! the update revision, plan ([`plan::plan`], pure) and carry out the steps, write the
//! status, truncate the history. The watch events of those writes bring the next pass.

pub mod claims;
pub mod history;
pub mod identity;
pub mod plan;
pub mod pods;
pub mod revision;
pub mod status;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use api::model::{ControllerRevision, IntOrString, LabelSelector, PersistentVolumeClaim, Pod, StatefulSet};

use self::claims::{has_stale_ref, retention_of, up_to_date, Keep};
use self::identity::{claims_for, in_range, ordinal_of, pod_name, pod_revision, replicas_of, start_ordinal};
use self::plan::{Input, Phase, PodView};
use crate::controller::{Action, ChildKind, Children, Cx, ReconcileError, Reconciler};
use crate::controllers::history::revision::template_of;
use crate::controllers::{pod_is_available, pod_is_ready};
use crate::registry::{RegistryError, UpdateScope};

/// Reconciles StatefulSets (apps/v1).
pub struct StatefulSetController;

#[async_trait]
impl Reconciler for StatefulSetController {
    type Object = StatefulSet;
    const CHILDREN: Children =
        Children::Of(&[ChildKind::of::<Pod>(), ChildKind::of::<ControllerRevision>(), ChildKind::of::<PersistentVolumeClaim>()]);

    fn selector(obj: &StatefulSet) -> Option<LabelSelector> {
        obj.spec.selector.clone()
    }

    async fn reconcile(&self, obj: Arc<StatefulSet>, cx: &Cx) -> Result<Action, ReconcileError> {
        sync(obj.as_ref(), cx).await
    }
}

fn strategy_type(set: &StatefulSet) -> &str {
    set.spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate")
}

/// `maxUnavailable` resolved against the replicas (rounded down, at least 1; 1 when unset).
pub fn max_unavailable(set: &StatefulSet) -> i32 {
    let v = set.spec.update_strategy.as_ref().and_then(|s| s.rolling_update.as_ref()).and_then(|r| r.max_unavailable.clone());
    v.unwrap_or(IntOrString::Int(1)).resolve(replicas_of(set), false).unwrap_or(1).max(1)
}

/// Ordinals below this are created at the current revision (upstream's
/// `newVersionedStatefulSetPod`: below the partition, or, for a RollingUpdate without
/// parameters, below the current replicas).
fn current_below(set: &StatefulSet) -> i32 {
    let start = start_ordinal(set);
    let ru = set.spec.update_strategy.as_ref().and_then(|s| s.rolling_update.as_ref());
    match ru {
        Some(r) => start + r.partition.unwrap_or(0),
        None if strategy_type(set) == "RollingUpdate" => start + set.status.as_ref().map(|s| s.current_replicas).unwrap_or(0),
        None => start,
    }
}

fn phase_of(p: &Pod) -> Phase {
    match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Running") => Phase::Running,
        Some("Succeeded") => Phase::Succeeded,
        Some("Failed") => Phase::Failed,
        Some("Unknown") => Phase::Unknown,
        _ => Phase::Pending,
    }
}

/// What the planner needs of one pod, the claims read from the cache.
fn view(set: &StatefulSet, pod: &Pod, ordinal: i32, cx: &Cx, now: DateTime<Utc>) -> PodView {
    let ns = set.metadata.namespace.as_deref();
    let scaled_down = !in_range(set, ordinal);
    let claims: Vec<Option<Arc<PersistentVolumeClaim>>> =
        claims_for(set, ordinal).iter().map(|(_, c)| cx.caches().persistentvolumeclaims.get(ns, &c.metadata.name)).collect();
    let claims_ok = claims.iter().flatten().all(|c| up_to_date(c, set, pod, scaled_down));
    let identity_ok = identity::identity_matches(set, pod) && identity::storage_matches(set, pod);
    PodView {
        name: pod.metadata.name.clone(),
        ordinal,
        revision: pod_revision(pod).to_string(),
        phase: phase_of(pod),
        ready: pod_is_ready(pod),
        available: pod_is_available(pod, set.spec.min_ready_seconds.unwrap_or(0), now),
        terminating: pod.metadata.is_deleting(),
        conforms: identity_ok && claims_ok,
        claims_missing: claims.iter().any(Option::is_none),
    }
}

/// Missing ordinals whose claims still name an earlier pod of that name (whenScaled:
/// Delete; the garbage collector is about to delete them).
fn stale_claims(set: &StatefulSet, missing: &[i32], cx: &Cx) -> Vec<i32> {
    if retention_of(set).0 == Keep::Retain {
        return Vec::new();
    }
    let ns = set.metadata.namespace.as_deref();
    missing
        .iter()
        .copied()
        .filter(|ord| {
            let mut placeholder = Pod::default();
            placeholder.metadata.name = pod_name(set, *ord);
            claims_for(set, *ord).iter().any(|(_, c)| {
                cx.caches().persistentvolumeclaims.get(ns, &c.metadata.name).is_some_and(|c| has_stale_ref(&c, &placeholder))
            })
        })
        .collect()
}

/// One pass over a StatefulSet.
pub async fn sync(set: &StatefulSet, cx: &Cx) -> Result<Action, ReconcileError> {
    let selector = set.spec.selector.clone().unwrap_or_default();
    let revisions = history::claim(set, &selector, cx).await?;
    let (update, collision) = history::update_revision(set, &revisions, cx).await?;
    let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
    let current =
        revisions.iter().find(|r| Some(&r.metadata.name) == current_name.as_ref()).cloned().unwrap_or_else(|| update.clone());
    let pods = pods::claim(set, &selector, cx).await?;
    let now = Utc::now();

    if !set.metadata.is_deleting() {
        let start = start_ordinal(set);
        let mut slots: Vec<Option<PodView>> = vec![None; replicas_of(set) as usize];
        let mut condemned = Vec::new();
        for p in &pods {
            let Some(ord) = ordinal_of(set, p) else { continue };
            let v = view(set, p, ord, cx, now);
            if in_range(set, ord) {
                slots[(ord - start) as usize] = Some(v);
            } else {
                condemned.push(v);
            }
        }
        let missing: Vec<i32> = slots.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| start + i as i32).collect();
        let input = Input {
            start,
            stale_claims: stale_claims(set, &missing, cx),
            slots,
            condemned,
            monotonic: set.spec.pod_management_policy.as_deref() != Some("Parallel"),
            on_delete: strategy_type(set) == "OnDelete",
            current_below: current_below(set),
            partition: set
                .spec
                .update_strategy
                .as_ref()
                .and_then(|s| s.rolling_update.as_ref())
                .and_then(|r| r.partition)
                .unwrap_or(0),
            max_unavailable: max_unavailable(set),
            update_revision: update.metadata.name.clone(),
        };
        let steps = plan::plan(&input);
        if !steps.is_empty() {
            let current_t = template_of(&current).unwrap_or_else(|| set.spec.template.clone());
            let update_t = template_of(&update).unwrap_or_else(|| set.spec.template.clone());
            let t = pods::Templates {
                current: (&current_t, current.metadata.name.as_str()),
                update: (&update_t, update.metadata.name.as_str()),
            };
            let done = pods::execute(set, steps, &pods, &t, cx).await;
            // The status is written whatever happened to the steps (upstream's deferred write).
            write_status(set, status::compute(set, &pods, &current.metadata.name, &update.metadata.name, collision, now), cx).await?;
            done?;
            return Ok(Action::await_change());
        }
    }

    let st = status::compute(set, &pods, &current.metadata.name, &update.metadata.name, collision, now);
    let (cur, upd) = (st.current_revision.clone().unwrap_or_default(), st.update_revision.clone().unwrap_or_default());
    write_status(set, st, cx).await?;
    history::truncate(set, &revisions, &pods, &cur, &upd, cx).await?;
    Ok(match status::next_available_in(set, &pods, now) {
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    })
}

/// Writes the status unless the stored one already equals it.
async fn write_status(set: &StatefulSet, st: api::model::StatefulSetStatus, cx: &Cx) -> Result<(), ReconcileError> {
    if set.status.as_ref() == Some(&st) {
        return Ok(());
    }
    let uid = set.metadata.uid.clone();
    let res = cx
        .modify::<StatefulSet>(set.metadata.namespace.as_deref(), &set.metadata.name, UpdateScope::Status, |s| {
            if s.metadata.uid != uid || s.status.as_ref() == Some(&st) {
                return false;
            }
            s.status = Some(st.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{RollingUpdateStatefulSetStrategy, StatefulSetUpdateStrategy};

    fn set(replicas: i32, ru: Option<RollingUpdateStatefulSetStrategy>, type_: &str) -> StatefulSet {
        let mut s = StatefulSet::default();
        s.spec.replicas = Some(replicas);
        s.spec.update_strategy = Some(StatefulSetUpdateStrategy { type_: Some(type_.into()), rolling_update: ru });
        s
    }

    #[test]
    fn max_unavailable_rounds_down_and_is_at_least_one() {
        let ru = |v: IntOrString| Some(RollingUpdateStatefulSetStrategy { partition: Some(0), max_unavailable: Some(v) });
        assert_eq!(max_unavailable(&set(10, None, "RollingUpdate")), 1);
        assert_eq!(max_unavailable(&set(10, ru(IntOrString::from("25%")), "RollingUpdate")), 2);
        assert_eq!(max_unavailable(&set(3, ru(IntOrString::from("10%")), "RollingUpdate")), 1);
        assert_eq!(max_unavailable(&set(10, ru(IntOrString::Int(3)), "RollingUpdate")), 3);
    }

    #[test]
    fn new_pods_below_the_partition_get_the_current_revision() {
        let ru = Some(RollingUpdateStatefulSetStrategy { partition: Some(2), max_unavailable: None });
        let mut s = set(4, ru, "RollingUpdate");
        assert_eq!(current_below(&s), 2);
        s.spec.ordinals = Some(api::model::StatefulSetOrdinals { start: 10 });
        assert_eq!(current_below(&s), 12);
        let mut plain = set(4, None, "RollingUpdate");
        plain.status = Some(api::model::StatefulSetStatus { current_replicas: 3, ..Default::default() });
        assert_eq!(current_below(&plain), 3);
        assert_eq!(current_below(&set(4, None, "OnDelete")), 0);
    }
}
