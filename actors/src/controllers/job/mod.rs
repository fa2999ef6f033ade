//! The Job controller (batch/v1; upstream's `pkg/controller/job`): one supervised actor
//! per Job runs pods to completion — `completions` and `parallelism`, retries with
//! `backoffLimit` and exponential back-off, `activeDeadlineSeconds`, Indexed jobs with
//! per-index limits, the pod failure and success policies, `podReplacementPolicy`,
//! `suspend`, `ttlSecondsAfterFinished` — and counts every pod exactly once through the
//! `batch.kubernetes.io/job-tracking` finalizer.
//!
//! A sync: read the Job fresh from the store, claim its pods, `plan` (pure) what to
//! delete and create, do it, then `tracking` (pure) the counting: write the uncounted
//! pods, remove their finalizers, fold them into the counters and, once nothing is left
//! to count or terminating, write Complete or Failed.

pub mod backoff;
pub mod conditions;
pub mod failure_policy;
pub mod indexes;
pub mod orphans;
pub mod plan;
pub mod pods;
pub mod success_policy;
pub mod tracking;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::join_all;

use api::model::{job_keys, Job, JobStatus, LabelSelector, Pod};

use super::replicaset::{claim, Claim};
use crate::controller::{Action, ChildKind, Children, Cx, ReconcileError, Reconciler};
use crate::registry::{DeleteOptions, Preconditions, Propagation, RegistryError, UpdateScope};
use plan::{Backoff, Finish, Plan};

pub use orphans::JobPodFinalizers;

/// The controller name a Job may name in `spec.managedBy` to be ours.
pub const MANAGED_BY: &str = "kubernetes.io/job-controller";

/// Reconciles Jobs.
pub struct JobController;

#[async_trait]
impl Reconciler for JobController {
    type Object = Job;
    const CHILDREN: Children = Children::Of(&[ChildKind::of::<Pod>()]);
    fn selector(obj: &Job) -> Option<LabelSelector> {
        obj.spec.selector.clone()
    }
    async fn reconcile(&self, obj: Arc<Job>, cx: &Cx) -> Result<Action, ReconcileError> {
        // The store's copy, not the cache's: a new actor (after a kill) must not count
        // from a status older than the one its predecessor wrote.
        let ns = obj.metadata.namespace.as_deref();
        let job = match cx.registry().get::<Job>(ns, &obj.metadata.name).await {
            Ok(j) if j.metadata.uid == obj.metadata.uid => j,
            Ok(_) | Err(RegistryError::NotFound { .. }) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        };
        sync(job, cx).await
    }
}

fn backoff_of(cx: &Cx) -> Backoff {
    let c = cx.config();
    Backoff { base: c.job_backoff_base, max: c.job_backoff_max }
}

/// The Job's pods: owned ones (releasing those that stopped matching) and matching
/// orphans, adopted with the tracking finalizer (upstream's `getPodsForJob`).
async fn claim_pods(job: &Job, cx: &Cx) -> Result<Vec<Arc<Pod>>, ReconcileError> {
    let ns = job.metadata.namespace.as_deref();
    let selector = job.spec.selector.clone().unwrap_or_default();
    // A fresh actor has seen none of its own writes: list from the store, not the cache.
    let all: Vec<Arc<Pod>> = if cx.has_written() {
        cx.caches().pods.list(ns)
    } else {
        cx.registry().list::<Pod>(ns).await?.0.into_iter().map(Arc::new).collect()
    };
    let adopting = !job.metadata.is_deleting() && !job.is_finished();
    let mut owned = Vec::new();
    for pod in all {
        match claim(&job.metadata.uid, !adopting, &selector, &pod) {
            Claim::Keep => owned.push(pod),
            Claim::Adopt => {
                if let Some(p) = adopt(job, &pod, cx).await? {
                    owned.push(Arc::new(p));
                }
            }
            Claim::Release => release(job, &pod, cx).await?,
            Claim::Ignore => {}
        }
    }
    Ok(owned)
}

async fn adopt(job: &Job, pod: &Pod, cx: &Cx) -> Result<Option<Pod>, ReconcileError> {
    let r = super::controller_ref_of(job);
    let res = cx
        .modify::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, UpdateScope::Main, |p| {
            if p.metadata.uid != pod.metadata.uid || p.metadata.controller_ref().is_some() || p.metadata.is_deleting() {
                return false;
            }
            p.metadata.owner_references.push(r.clone());
            if !pods::has_tracking_finalizer(p) {
                p.metadata.finalizers.push(job_keys::TRACKING_FINALIZER.into());
            }
            true
        })
        .await;
    match res {
        Ok(p) if p.metadata.controller_ref().is_some_and(|o| o.uid == job.metadata.uid) => Ok(Some(p)),
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn release(job: &Job, pod: &Pod, cx: &Cx) -> Result<(), ReconcileError> {
    let uid = job.metadata.uid.clone();
    let res = cx
        .modify::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, UpdateScope::Main, |p| {
            let before = (p.metadata.owner_references.len(), p.metadata.finalizers.len());
            p.metadata.owner_references.retain(|o| o.uid != uid);
            p.metadata.finalizers.retain(|f| f != job_keys::TRACKING_FINALIZER);
            before != (p.metadata.owner_references.len(), p.metadata.finalizers.len())
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes the tracking finalizer; returns whether the pod no longer holds it ("already
/// gone" counts).
async fn remove_finalizer(pod: &Pod, cx: &Cx) -> Result<bool, RegistryError> {
    let uid = pod.metadata.uid.clone();
    let res = cx
        .modify::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, UpdateScope::Main, |p| {
            if p.metadata.uid != uid || !pods::has_tracking_finalizer(p) {
                return false;
            }
            p.metadata.finalizers.retain(|f| f != job_keys::TRACKING_FINALIZER);
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Removes the finalizers of `pods` concurrently; returns the uids that lost it and the
/// first error.
async fn remove_finalizers(pods: &[Arc<Pod>], cx: &Cx) -> (Vec<String>, Option<RegistryError>) {
    let mut done = Vec::new();
    let mut first_err = None;
    for chunk in pods.chunks(64) {
        let results = join_all(chunk.iter().map(|p| remove_finalizer(p, cx))).await;
        for (p, r) in chunk.iter().zip(results) {
            match r {
                Ok(true) => done.push(p.metadata.uid.clone()),
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
    }
    (done, first_err)
}

async fn delete_pods(job: &Job, pods: &[Arc<Pod>], drop_finalizer: bool, cx: &Cx) -> Result<(), ReconcileError> {
    for chunk in pods.chunks(64) {
        let results = join_all(chunk.iter().map(|p| async move {
            if drop_finalizer {
                remove_finalizer(p, cx).await?;
            }
            let pre = Preconditions { uid: Some(p.metadata.uid.clone()), resource_version: None };
            cx.delete::<Pod>(p.metadata.namespace.as_deref(), &p.metadata.name, &pre).await
        }))
        .await;
        for (p, r) in chunk.iter().zip(results) {
            match r {
                Ok(_) => cx.event(job, "Normal", "SuccessfulDelete", format!("Deleted pod: {}", p.metadata.name)),
                Err(RegistryError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Creates pods in slow-start batches (1, 2, 4, …), stopping at the first failed batch.
async fn create_pods(job: &Job, plan: &Plan, cx: &Cx) -> Result<(), ReconcileError> {
    let mut left = plan.create.as_slice();
    let mut batch = 1usize;
    while !left.is_empty() {
        let (now, rest) = left.split_at(batch.min(left.len()));
        let results = join_all(now.iter().map(|n| cx.create(pods::pod_for(job, *n)))).await;
        for p in results.iter().flatten() {
            cx.event(job, "Normal", "SuccessfulCreate", format!("Created pod: {}", p.metadata.name));
        }
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(e.into());
        }
        left = rest;
        batch *= 2;
    }
    Ok(())
}

/// Writes the status, conditional on the resourceVersion read (one writer per Job; a
/// conflict means the view is stale, and the sync is retried).
async fn write_status(job: &mut Job, status: JobStatus, cx: &Cx) -> Result<(), ReconcileError> {
    if job.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let mut next = job.clone();
    next.status = Some(status);
    *job = cx.update(next, UpdateScope::Status).await?;
    Ok(())
}

/// One sync of a Job read from the store.
pub async fn sync(mut job: Job, cx: &Cx) -> Result<Action, ReconcileError> {
    if job.spec.managed_by.as_deref().is_some_and(|m| m != MANAGED_BY) {
        return Ok(Action::await_change());
    }
    if job.is_finished() {
        return finished(&job, cx).await;
    }
    let pods = claim_pods(&job, cx).await?;
    let now = Utc::now();
    let plan = plan::plan(&job, &pods, backoff_of(cx), now);
    delete_pods(&job, &plan.delete_counted, false, cx).await?;
    delete_pods(&job, &plan.delete_uncounted, true, cx).await?;
    let created = create_pods(&job, &plan, cx).await;
    for (reason, msg) in &plan.events {
        cx.event(&job, "Normal", reason, msg);
    }

    let now_s = api::time::rfc3339(now);
    let counts = plan::counts(&job, &pods);
    let tr = tracking::track(&job, plan.status.clone(), &pods, &counts, plan.finish.as_ref(), &now_s);
    write_status(&mut job, tr.status.clone(), cx).await?;
    let (removed, rm_err) = remove_finalizers(&tr.remove_finalizer, cx).await;
    let mut with_finalizer = tr.with_finalizer.clone();
    for uid in &removed {
        with_finalizer.remove(uid);
    }
    let mut status = tr.status.clone();
    tracking::clean_uncounted(&mut status, &with_finalizer);
    let done = rm_err.is_none() && !tr.capped && tracking::enact_finish(&mut status, plan.finish.as_ref(), &now_s);
    write_status(&mut job, status, cx).await?;
    if done {
        record_finished(&job, plan.finish.as_ref(), cx);
    }
    if let Some(e) = rm_err {
        return Err(e.into());
    }
    created?;
    if done {
        return finished(&job, cx).await;
    }
    Ok(match plan.requeue {
        Some(d) => Action::requeue(d + Duration::from_millis(50)),
        None => Action::await_change(),
    })
}

fn record_finished(job: &Job, finish: Option<&Finish>, cx: &Cx) {
    match finish {
        Some(f) if !f.is_failure() => {
            let st = job.status.as_ref();
            if job.spec.completions.is_some_and(|c| st.is_some_and(|s| s.succeeded > c)) {
                cx.event(job, "Warning", "TooManySucceededPods", "Too many succeeded pods running after completion count reached");
            }
            cx.event(job, "Normal", "Completed", "Job completed");
        }
        Some(f) => cx.event(job, "Warning", &f.reason, &f.message),
        None => {}
    }
}

/// A finished Job: pods it still holds lose the tracking finalizer (upstream's orphan
/// cleanup), and after `ttlSecondsAfterFinished` the Job goes with its pods (upstream's
/// TTL-after-finished controller, which deletes in the foreground).
async fn finished(job: &Job, cx: &Cx) -> Result<Action, ReconcileError> {
    let held: Vec<Arc<Pod>> = cx
        .caches()
        .pods
        .owned_by(&job.metadata.uid)
        .into_iter()
        .filter(|p| pods::has_tracking_finalizer(p))
        .collect();
    if let (_, Some(e)) = remove_finalizers(&held, cx).await {
        return Err(e.into());
    }
    let Some(ttl) = job.spec.ttl_seconds_after_finished else { return Ok(Action::await_change()) };
    if job.metadata.is_deleting() {
        return Ok(Action::await_change());
    }
    let st = job.status.clone().unwrap_or_default();
    let finished_at = [conditions::names::COMPLETE, conditions::names::FAILED]
        .iter()
        .find_map(|t| conditions::true_condition(&st, t))
        .and_then(|c| c.last_transition_time.as_deref())
        .and_then(api::time::parse);
    let Some(at) = finished_at else { return Ok(Action::await_change()) };
    let left = at + chrono::Duration::seconds(i64::from(ttl)) - Utc::now();
    if left > chrono::Duration::zero() {
        return Ok(Action::requeue(left.to_std().unwrap_or_default() + Duration::from_millis(50)));
    }
    let opts = DeleteOptions {
        preconditions: Preconditions { uid: Some(job.metadata.uid.clone()), resource_version: None },
        propagation: Propagation::Foreground,
        ..Default::default()
    };
    match cx.registry().delete_opts::<Job>(job.metadata.namespace.as_deref(), &job.metadata.name, &opts).await {
        Ok(_) | Err(RegistryError::NotFound { .. }) | Err(RegistryError::Conflict { .. }) => Ok(Action::await_change()),
        Err(e) => Err(e.into()),
    }
}
