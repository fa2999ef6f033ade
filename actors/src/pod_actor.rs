//! The control plane's actor for each Pod: it cleans up what no node will clean up —
//! pods bound to a node that no longer exists, and terminating pods whose grace ran out
//! on a node that is not Ready (Kubernetes' pod garbage collection, one pod at a time).
//! Both are force deletes (grace 0): no node will finish them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use crate::controller::{Action, Children, Cx, ReconcileError, Reconciler};
use crate::graceful;
use api::model::{find_condition, LabelSelector, Pod};
use crate::registry::Preconditions;

/// How often a quiet pod re-checks its node (nodes vanishing do not wake pods).
const RECHECK: Duration = Duration::from_secs(60);
/// How long a pod bound to a missing node is left alone (upstream PodGC's quarantine);
/// shoal counts it from the pod's creation, so a pod created for a node that does not
/// exist sits Pending that long, as upstream.
pub const ORPHAN_QUARANTINE: Duration = Duration::from_secs(40);

/// How much of the quarantine is left for a pod created at `created`.
fn quarantine_left(created: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let created = api::time::parse(created?)?;
    let age = (now - created).to_std().unwrap_or_default();
    ORPHAN_QUARANTINE.checked_sub(age).filter(|d| !d.is_zero())
}

pub struct PodController;

/// What the pod garbage collector does with one bound pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing now; look again after this long (the node may vanish or fail meanwhile).
    RecheckIn(Duration),
    /// Force-delete it (grace 0), for this reason.
    ForceDelete(&'static str),
}

/// What should happen to a pod bound to a node given that node (upstream PodGC's
/// `gcOrphaned` and `gcTerminating`, the latter for any node that is not Ready): a pod of
/// a node that no longer exists is force-deleted; a terminating pod on a node that is not
/// Ready is force-deleted once its grace has run out (no node will finish it); anything
/// else is looked at again later, a terminating pod by the end of its grace.
pub fn cleanup(pod: &Pod, node_exists: bool, node_ready: bool, now: DateTime<Utc>) -> Cleanup {
    if !node_exists {
        return Cleanup::ForceDelete("bound to a node that no longer exists");
    }
    let Some(deadline) = graceful::grace_deadline(&pod.metadata) else {
        return Cleanup::RecheckIn(RECHECK);
    };
    let left = (deadline - now).to_std().unwrap_or_default();
    if !node_ready && left.is_zero() {
        return Cleanup::ForceDelete("terminating past its grace period on a node that is not Ready");
    }
    Cleanup::RecheckIn((left + Duration::from_secs(1)).min(RECHECK))
}

#[async_trait]
impl Reconciler for PodController {
    type Object = Pod;
    const CHILDREN: Children = Children::None;

    fn selector(_: &Pod) -> Option<LabelSelector> {
        None
    }

    async fn reconcile(&self, pod: Arc<Pod>, cx: &Cx) -> Result<Action, ReconcileError> {
        let Some(node_name) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) else {
            return Ok(Action::await_change());
        };
        let node = cx.caches().nodes.get(None, node_name);
        let ready = node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .is_some_and(|c| c.is_true());
        let reason = match cleanup(&pod, node.is_some(), ready, Utc::now()) {
            Cleanup::RecheckIn(after) => return Ok(Action::requeue(after)),
            Cleanup::ForceDelete(reason) => reason,
        };
        if node.is_none() {
            // The cache may lag: confirm with the store before deleting.
            if cx.registry().get::<api::model::Node>(None, node_name).await.is_ok() {
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            if let Some(left) = quarantine_left(pod.metadata.creation_timestamp.as_deref(), Utc::now()) {
                return Ok(Action::requeue(left));
            }
        }
        tracing::info!(pod = %pod.metadata.name, node = node_name, reason, "pod garbage-collected");
        let pre = Preconditions { uid: Some(pod.metadata.uid.clone()), resource_version: None };
        cx.force_delete::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, &pre).await?;
        Ok(Action::await_change())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(deadline: Option<&str>) -> Pod {
        let mut p = Pod::default();
        p.spec.node_name = Some("n".into());
        p.metadata.deletion_timestamp = deadline.map(str::to_string);
        p.metadata.deletion_grace_period_seconds = deadline.map(|_| 30);
        p
    }

    fn at(s: &str) -> DateTime<Utc> {
        api::time::parse(s).expect("time")
    }

    #[test]
    fn pods_of_missing_nodes_are_force_deleted() {
        let now = at("2026-01-01T00:00:00Z");
        assert!(matches!(cleanup(&pod(None), false, false, now), Cleanup::ForceDelete(_)));
        assert!(matches!(cleanup(&pod(Some("2026-01-01T00:10:00Z")), false, true, now), Cleanup::ForceDelete(_)));
    }

    #[test]
    fn terminating_pods_on_unready_nodes_go_once_their_grace_ran_out() {
        let now = at("2026-01-01T00:00:00Z");
        let p = pod(Some("2026-01-01T00:00:20Z"));
        assert_eq!(cleanup(&p, true, false, now), Cleanup::RecheckIn(Duration::from_secs(21)));
        assert!(matches!(cleanup(&p, true, false, at("2026-01-01T00:00:20Z")), Cleanup::ForceDelete(_)));
        assert!(matches!(cleanup(&p, true, false, at("2026-01-01T00:05:00Z")), Cleanup::ForceDelete(_)));
        // A Ready node finishes its own pods; they are looked at again by the deadline.
        assert_eq!(cleanup(&p, true, true, at("2026-01-01T00:05:00Z")), Cleanup::RecheckIn(Duration::from_secs(1)));
        assert_eq!(cleanup(&pod(Some("2026-01-01T01:00:00Z")), true, false, now), Cleanup::RecheckIn(RECHECK));
    }

    #[test]
    fn live_pods_of_existing_nodes_are_left_alone() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(cleanup(&pod(None), true, false, now), Cleanup::RecheckIn(RECHECK));
        assert_eq!(cleanup(&pod(None), true, true, now), Cleanup::RecheckIn(RECHECK));
    }

    #[test]
    fn young_orphans_wait_out_the_quarantine() {
        let now = api::time::parse("2026-01-01T00:01:00Z").unwrap();
        assert_eq!(quarantine_left(Some("2026-01-01T00:00:50Z"), now), Some(Duration::from_secs(30)));
        assert_eq!(quarantine_left(Some("2026-01-01T00:00:20Z"), now), None);
        assert_eq!(quarantine_left(Some("2026-01-01T00:00:00Z"), now), None);
        assert_eq!(quarantine_left(None, now), None);
    }
}
