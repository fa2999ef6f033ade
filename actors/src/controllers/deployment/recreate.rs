//! Recreate: scale every old ReplicaSet to zero, wait until their pods are gone, then
//! create or scale up the new one (Kubernetes' `recreate.go`).

use std::time::Duration;

use chrono::Utc;

use super::sync::{cleanup_history, ensure_new_rs, scale_rs, spec_replicas, NewRs, Sets};
use super::{replicas_of, status};
use crate::controller::{Action, Cx, ReconcileError};
use crate::controllers::pod_is_finished;
use api::model::Deployment;

/// How often a Deployment waiting for its old pods to go looks again.
const OLD_PODS_POLL: Duration = Duration::from_secs(1);

/// Whether any pod of an old set is still running (or its status still counts some); a
/// terminating pod runs until its node has stopped it, so the new pods wait for it
/// (upstream's `oldPodsRunning`: only finished pods do not count).
fn old_pods_running(sets: &Sets, cx: &Cx) -> bool {
    sets.old.iter().any(|rs| {
        rs.status.as_ref().is_some_and(|s| s.replicas > 0)
            || cx.caches().pods.owned_by(&rs.metadata.uid).iter().any(|p| !pod_is_finished(p))
    })
}

pub async fn step(d: &Deployment, sets: &Sets, cx: &Cx) -> Result<Action, ReconcileError> {
    let new = match ensure_new_rs(d, sets, None, cx).await? {
        NewRs::Ready(rs) => Some(rs),
        NewRs::Wrote { created } => return status::sync(d, sets, created.as_deref(), cx).await,
        NewRs::Missing => None,
    };

    let active_old: Vec<_> = sets.active_old().cloned().collect();
    if !active_old.is_empty() {
        for rs in &active_old {
            scale_rs(d, rs, 0, cx).await?;
        }
        return status::sync(d, sets, None, cx).await;
    }
    if old_pods_running(sets, cx) {
        // A terminating pod's removal changes no ReplicaSet (it counted for none since its
        // deletion), so nothing wakes the Deployment then: look again shortly.
        let action = status::sync(d, sets, None, cx).await?;
        let after = action.requeue_after.map_or(OLD_PODS_POLL, |a| a.min(OLD_PODS_POLL));
        return Ok(Action::requeue(after));
    }

    let want = replicas_of(d);
    let Some(new) = new else {
        return match ensure_new_rs(d, sets, Some(want), cx).await? {
            NewRs::Wrote { created } => status::sync(d, sets, created.as_deref(), cx).await,
            _ => status::sync(d, sets, None, cx).await,
        };
    };
    if spec_replicas(&new) != want {
        scale_rs(d, &new, want, cx).await?;
        return status::sync(d, sets, None, cx).await;
    }

    let (st, _) = status::compute(d, sets, None, Utc::now());
    if status::is_complete(d, &st) && cleanup_history(d, sets, cx).await? {
        return status::sync(d, sets, None, cx).await;
    }
    status::sync(d, sets, None, cx).await
}
