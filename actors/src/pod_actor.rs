//! The control plane's actor for each Pod: it cleans up what no node will clean up —
//! pods bound to a node that no longer exists, and terminating pods on a node that is
//! not Ready (Kubernetes' pod garbage collection, one pod at a time).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::controller::{Action, Children, Cx, ReconcileError, Reconciler};
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

/// What should happen to a pod given its node: None (leave it), or why it is deleted.
pub fn cleanup_reason(pod: &Pod, node_exists: bool, node_ready: bool) -> Option<&'static str> {
    let bound = pod.spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    if !bound {
        return None;
    }
    if !node_exists {
        return Some("bound to a node that no longer exists");
    }
    if pod.metadata.is_deleting() && !node_ready {
        return Some("terminating on a node that is not Ready");
    }
    None
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
        if let Some(reason) = cleanup_reason(&pod, node.is_some(), ready) {
            // The cache may lag: confirm with the store before deleting.
            let node_in_store = cx.registry().get::<api::model::Node>(None, node_name).await.is_ok();
            if node.is_none() && node_in_store {
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
            if node.is_none() {
                if let Some(left) = quarantine_left(pod.metadata.creation_timestamp.as_deref(), chrono::Utc::now()) {
                    return Ok(Action::requeue(left));
                }
            }
            tracing::info!(pod = %pod.metadata.name, node = node_name, reason, "pod garbage-collected");
            let pre = Preconditions { uid: Some(pod.metadata.uid.clone()), resource_version: None };
            cx.delete::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, &pre).await?;
            return Ok(Action::await_change());
        }
        Ok(Action::requeue(RECHECK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: Option<&str>, deleting: bool) -> Pod {
        let mut p = Pod::default();
        p.spec.node_name = node.map(str::to_string);
        if deleting {
            p.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        }
        p
    }

    #[test]
    fn only_pods_of_missing_nodes_or_terminating_on_unready_nodes_are_cleaned() {
        assert_eq!(cleanup_reason(&pod(None, false), false, false), None);
        assert!(cleanup_reason(&pod(Some("n"), false), false, false).is_some());
        assert_eq!(cleanup_reason(&pod(Some("n"), false), true, false), None);
        assert!(cleanup_reason(&pod(Some("n"), true), true, false).is_some());
        assert_eq!(cleanup_reason(&pod(Some("n"), true), true, true), None);
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
