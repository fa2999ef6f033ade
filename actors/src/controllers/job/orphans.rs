//! Tracking finalizers of pods no Job will count (upstream's orphan-pod queue): a pod
//! whose controlling Job is gone (deleted in the background) or finished loses the
//! `batch.kubernetes.io/job-tracking` finalizer, so that it can be deleted.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use api::model::{Job, Pod};

use crate::controller::{changes_of, changes_of_while, Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::RegistryError;

#[derive(Debug, Default)]
pub struct JobPodFinalizers;

/// Whether the pod's controlling Job, as `lookup` finds it by name, no longer tracks it.
fn orphaned(pod: &Pod, lookup: impl Fn(&str) -> Option<Job>) -> bool {
    match pod.metadata.controller_ref() {
        Some(r) if r.kind == "Job" && r.api_version == "batch/v1" => match lookup(&r.name) {
            Some(j) => j.metadata.uid != r.uid || j.is_finished(),
            None => true,
        },
        Some(_) => false,
        None => true,
    }
}

#[async_trait]
impl Singleton for JobPodFinalizers {
    const NAME: &'static str = "job-pod-finalizers";
    const MIN_INTERVAL: Duration = Duration::from_millis(500);

    fn wakers(caches: &Caches) -> BoxStream<'static, ()> {
        futures::stream::select(changes_of(&caches.jobs), changes_of_while(&caches.pods, &caches.jobs)).boxed_stream()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        let caches = cx.caches();
        for pod in caches.pods.list(None) {
            if !super::pods::has_tracking_finalizer(&pod) {
                continue;
            }
            let ns = pod.metadata.namespace.as_deref();
            let cached = |name: &str| caches.jobs.get(ns, name).map(|j| (*j).clone());
            if !orphaned(&pod, cached) {
                continue;
            }
            // The cache may lag: ask the store before letting the pod go.
            let name = pod.metadata.controller_ref().map(|r| r.name.clone()).unwrap_or_default();
            let stored = match cx.registry().get::<Job>(ns, &name).await {
                Ok(j) => Some(j),
                Err(RegistryError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            if !orphaned(&pod, |_| stored.clone()) {
                continue;
            }
            super::remove_finalizer(&pod, cx).await?;
        }
        Ok(Action::await_change())
    }
}

trait BoxedStream: futures::Stream<Item = ()> + Send + Sized + 'static {
    fn boxed_stream(self) -> BoxStream<'static, ()> {
        Box::pin(self)
    }
}
impl<S: futures::Stream<Item = ()> + Send + 'static> BoxedStream for S {}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::OwnerReference;

    fn job(uid: &str, finished: bool) -> Job {
        let mut j = Job::default();
        j.metadata.uid = uid.into();
        if finished {
            let c = api::model::Condition { type_: "Complete".into(), status: "True".into(), ..Default::default() };
            j.status = Some(api::model::JobStatus { conditions: vec![c], ..Default::default() });
        }
        j
    }

    #[test]
    fn pods_of_gone_replaced_or_finished_jobs_are_orphans() {
        let mut p = Pod::default();
        p.metadata.owner_references.push(OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: "pi".into(),
            uid: "u1".into(),
            controller: Some(true),
            ..Default::default()
        });
        assert!(!orphaned(&p, |_| Some(job("u1", false))));
        assert!(orphaned(&p, |_| Some(job("u1", true))));
        assert!(orphaned(&p, |_| Some(job("u2", false))), "a new Job of the same name");
        assert!(orphaned(&p, |_| None));
        p.metadata.owner_references[0].kind = "ReplicaSet".into();
        p.metadata.owner_references[0].api_version = "apps/v1".into();
        assert!(!orphaned(&p, |_| None), "not ours to judge");
    }
}
