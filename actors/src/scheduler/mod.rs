//! The scheduler: places pending pods on nodes (filter, score, bind), as a Singleton.
//!
//! `plan` is pure (see `fit` for the node's own predicates, `spread` for topology spread
//! constraints, `affinity` for inter-pod affinity); `bind` does the writes, many at once.
//! Pods with scheduling gates are only marked `SchedulingGated`; a pod whose
//! `spec.nodeName` is set is not ours (it is bound already, whether or not its node exists).

pub mod affinity;
pub mod bind;
pub mod fit;
pub mod plan;
pub mod spread;
pub mod volumes;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::controller::{changes_of, Action, Caches, Cx, ReconcileError, Singleton};
use plan::Decision;

/// How many bind writes run at once (the embedded store commits them in groups).
const CONCURRENT_WRITES: usize = 64;
/// How soon unschedulable pods are tried again even if nothing changes.
const RETRY_UNSCHEDULABLE: Duration = Duration::from_secs(5);

pub struct Scheduler;

#[async_trait]
impl Singleton for Scheduler {
    const NAME: &'static str = "scheduler";

    /// A pass reads pods and nodes only (not, say, the leases nodes renew every few seconds).
    fn wakers(caches: &Caches) -> BoxStream<'static, ()> {
        futures::stream::select_all(vec![
            changes_of(&caches.pods),
            changes_of(&caches.nodes),
            changes_of(&caches.persistentvolumeclaims),
            changes_of(&caches.persistentvolumes),
        ])
        .boxed()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        // Our own binds of the last pass must be visible, or we would place pods twice.
        cx.catch_up().await;
        let pods = cx.caches().pods.list(None);
        let nodes = cx.caches().nodes.list(None);
        let namespaces = cx.caches().namespaces.list(None);
        let caches = cx.caches();
        let decisions = plan::plan_with_volumes(&pods, &nodes, &namespaces, |p| volumes::from_caches(p, caches));
        if decisions.is_empty() {
            return Ok(Action::await_change());
        }
        let unschedulable = decisions.iter().filter(|d| matches!(d, Decision::Unschedulable { .. })).count();
        let results: Vec<_> = futures::stream::iter(decisions)
            .map(|d| async move {
                let res = match &d {
                    Decision::Bind { pod, node } => bind::bind(cx, pod, node).await,
                    Decision::Unschedulable { pod, message } => bind::mark_unschedulable(cx, pod, message).await,
                    Decision::Gated { pod } => bind::mark_gated(cx, pod).await,
                };
                (d, res)
            })
            .buffer_unordered(CONCURRENT_WRITES)
            .collect()
            .await;
        let mut failed = 0usize;
        for (d, res) in results {
            if let Err(e) = res {
                failed += 1;
                let pod = match &d {
                    Decision::Bind { pod, .. } | Decision::Unschedulable { pod, .. } | Decision::Gated { pod } => pod,
                };
                tracing::warn!(pod = %crate::informer::key_of(pod.as_ref()), error = %e, "scheduler write failed");
            }
        }
        if failed > 0 {
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        if unschedulable > 0 {
            return Ok(Action::requeue(RETRY_UNSCHEDULABLE));
        }
        Ok(Action::await_change())
    }
}
