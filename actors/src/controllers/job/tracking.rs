//! Finalizer-based tracking (upstream's `trackJobStatusAndRemoveFinalizers`): a finished
//! pod is first written into `status.uncountedTerminatedPods`, then its
//! `batch.kubernetes.io/job-tracking` finalizer is removed, then it moves from the
//! uncounted lists into `succeeded`/`failed`. Each step is a write the next sync can
//! see, so a sync cut short anywhere (a crash, a kill) neither loses a pod nor counts it
//! twice: a pod with the finalizer is not counted yet; a pod in the uncounted lists
//! without it is counted exactly once, when it leaves the list.

use std::collections::HashSet;
use std::sync::Arc;

use api::model::{Job, JobStatus, Pod, UncountedTerminatedPods};

use super::conditions;
use super::indexes::{self, Indexes};
use super::plan::{failure_counts, is_pod_failed, Counts, Finish};
use super::pods::has_tracking_finalizer;

/// At most this many pods enter the uncounted lists per sync (upstream's MaxUncountedPods).
pub const MAX_UNCOUNTED_PODS: usize = 500;

/// The first half of tracking: the status to write before any finalizer goes, and the
/// pods whose finalizers go.
#[derive(Debug, Clone)]
pub struct Tracking {
    pub status: JobStatus,
    pub remove_finalizer: Vec<Arc<Pod>>,
    /// Uids of the Job's pods that still hold the finalizer.
    pub with_finalizer: HashSet<String>,
    /// The per-sync cap was reached: more pods wait for the next sync.
    pub capped: bool,
}

/// Moves uids of pods that no longer hold the finalizer from the uncounted lists into
/// the counters (upstream's `cleanUncountedPodsWithoutFinalizers`).
pub fn clean_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let Some(unc) = status.uncounted_terminated_pods.as_mut() else { return false };
    let before = (unc.succeeded.len(), unc.failed.len());
    unc.succeeded.retain(|u| with_finalizer.contains(u));
    unc.failed.retain(|u| with_finalizer.contains(u));
    status.succeeded += (before.0 - unc.succeeded.len()) as i32;
    status.failed += (before.1 - unc.failed.len()) as i32;
    before != (unc.succeeded.len(), unc.failed.len())
}

/// Decides which finished pods enter the uncounted lists and lose their finalizer;
/// `status` is the plan's, `counts` its indexes.
pub fn track(job: &Job, mut status: JobStatus, pods: &[Arc<Pod>], counts: &Counts, finish: Option<&Finish>, now: &str) -> Tracking {
    let indexed = job.is_indexed();
    let completions = job.spec.completions.unwrap_or(0);
    let with_finalizer: HashSet<String> =
        pods.iter().filter(|p| has_tracking_finalizer(p)).map(|p| p.metadata.uid.clone()).collect();
    clean_uncounted(&mut status, &with_finalizer);
    let mut unc: UncountedTerminatedPods = status.uncounted_terminated_pods.take().unwrap_or_default();
    let counted_s: HashSet<String> = unc.succeeded.iter().cloned().collect();
    let counted_f: HashSet<String> = unc.failed.iter().cloned().collect();
    let prev_succeeded = Indexes::parse(status.completed_indexes.as_deref(), completions);
    let mut succeeded_ix = prev_succeeded.clone();
    let mut ordered: Vec<&Arc<Pod>> = pods.iter().collect();
    if indexed {
        ordered.sort_by_key(|p| indexes::completion_index(p).unwrap_or(i32::MAX));
    }
    let failing = finish.is_some_and(Finish::is_failure);
    let mut remove = Vec::new();
    let mut capped = false;
    let mut new_indexes = 0usize;
    for pod in ordered {
        if !has_tracking_finalizer(pod) {
            continue;
        }
        let uid = &pod.metadata.uid;
        let failed = is_pod_failed(pod, job);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let can_remove = job.metadata.is_deleting() || finish.is_some() || phase == Some("Succeeded") || failed;
        if !can_remove {
            continue;
        }
        remove.push(pod.clone());
        let index = indexes::valid_index(pod, completions);
        if phase == Some("Succeeded") && !counted_f.contains(uid) {
            if indexed {
                if let Some(i) = index.filter(|i| !prev_succeeded.contains(*i)) {
                    if succeeded_ix.insert(i) {
                        new_indexes += 1;
                    }
                }
            } else if !counted_s.contains(uid) {
                unc.succeeded.push(uid.clone());
            }
        } else if (failed || failing) && !counted_f.contains(uid) && (!indexed || index.is_some()) && failure_counts(pod, job) {
            unc.failed.push(uid.clone());
        }
        if new_indexes + unc.succeeded.len() + unc.failed.len() >= MAX_UNCOUNTED_PODS {
            capped = true;
            break;
        }
    }
    if indexed {
        status.succeeded = succeeded_ix.len() as i32;
        status.completed_indexes = (!succeeded_ix.is_empty()).then(|| succeeded_ix.to_string());
        status.failed_indexes = counts.failed_indexes.as_ref().map(Indexes::to_string);
    }
    status.uncounted_terminated_pods = Some(unc);
    if let Some(f) = finish {
        if let Some(interim) = f.interim {
            if conditions::true_condition(&status, interim).is_none() {
                status.conditions.push(conditions::condition(interim, "True", &f.reason, &f.message, now));
            }
        }
    }
    Tracking { status, remove_finalizer: remove, with_finalizer, capped }
}

/// Adds the final condition once every pod is counted and none is terminating
/// (upstream's `enactJobFinished`); returns whether it did.
pub fn enact_finish(status: &mut JobStatus, finish: Option<&Finish>, now: &str) -> bool {
    let Some(f) = finish else { return false };
    if status.uncounted_terminated_pods.as_ref().is_some_and(|u| !u.succeeded.is_empty() || !u.failed.is_empty()) {
        return false;
    }
    if status.terminating.unwrap_or(0) > 0 {
        return false;
    }
    conditions::ensure(&mut status.conditions, f.final_type, "True", &f.reason, &f.message, now);
    if f.final_type == conditions::names::COMPLETE {
        status.completion_time = Some(now.to_string());
    }
    true
}
