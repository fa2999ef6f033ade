//! One sync of a Job, decided without I/O (upstream's `syncJob` and `manageJob`): which
//! finish criterion holds, which pods to delete or create, when to look again, and the
//! status fields that do not depend on counting (active, ready, terminating, startTime,
//! Suspended). Counting and finalizers are `tracking`'s.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use api::model::{Job, JobStatus, Pod};

use super::backoff;
use super::conditions::{self, names};
use super::failure_policy::{self, Action};
use super::indexes::{self, Indexes};
use super::pods::{failures_of, has_tracking_finalizer, IndexFailures, NewPod};
use super::success_policy;
use crate::controllers::replicaset::pods_to_delete;
use crate::controllers::{pod_is_active, pod_is_ready};

/// At most this many pods are created or deleted per sync (upstream's MaxPodCreateDeletePerSync).
pub const MAX_POD_CHANGES_PER_SYNC: usize = 500;

/// The back-off between pod failures.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

/// How the Job ends: an interim condition to add now (FailureTarget or
/// SuccessCriteriaMet, unless already there), then the final one (Failed or Complete)
/// once every pod is counted and none is terminating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub interim: Option<&'static str>,
    pub final_type: &'static str,
    pub reason: String,
    pub message: String,
}

impl Finish {
    fn failed(reason: &str, message: &str) -> Self {
        Finish { interim: Some(names::FAILURE_TARGET), final_type: names::FAILED, reason: reason.into(), message: message.into() }
    }
    fn succeeded(reason: &str, message: &str) -> Self {
        Finish {
            interim: Some(names::SUCCESS_CRITERIA_MET),
            final_type: names::COMPLETE,
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn is_failure(&self) -> bool {
        self.final_type == names::FAILED
    }
}

/// What one sync does.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub finish: Option<Finish>,
    /// Active pods deleted because the Job finishes (finalizers kept: they count as failed).
    pub delete_counted: Vec<Arc<Pod>>,
    /// Pods deleted because too many run, or the Job is suspended (finalizer removed
    /// first: they do not count).
    pub delete_uncounted: Vec<Arc<Pod>>,
    pub create: Vec<NewPod>,
    pub requeue: Option<Duration>,
    /// The status with active, ready, terminating, startTime and Suspended set.
    pub status: JobStatus,
    /// Normal events to record (reason, message).
    pub events: Vec<(&'static str, String)>,
}

fn phase(p: &Pod) -> Option<&str> {
    p.status.as_ref().and_then(|s| s.phase.as_deref())
}

fn is_terminating(p: &Pod) -> bool {
    p.metadata.is_deleting() && !matches!(phase(p), Some("Succeeded" | "Failed"))
}

/// Upstream's `isPodFailed`: Failed, or deleted before succeeding — except that with a
/// pod failure policy only the Failed phase counts (the policy needs the final state).
pub fn is_pod_failed(p: &Pod, job: &Job) -> bool {
    if job.spec.pod_failure_policy.is_some() && phase(p) != Some("Failed") {
        return false;
    }
    phase(p) == Some("Failed") || (p.metadata.is_deleting() && phase(p) != Some("Succeeded"))
}

/// Whether a failed pod counts (not ignored by the failure policy).
pub fn failure_counts(p: &Pod, job: &Job) -> bool {
    job.spec.pod_failure_policy.as_ref().is_none_or(|pol| failure_policy::verdict(pol, p).count)
}

fn index_failed(p: &Pod, job: &Job, limit: i32) -> bool {
    if !is_pod_failed(p, job) {
        return false;
    }
    let counted = match &job.spec.pod_failure_policy {
        Some(pol) => {
            let v = failure_policy::verdict(pol, p);
            if v.action == Some(Action::FailIndex) {
                return true;
            }
            v.count
        }
        None => true,
    };
    counted && failures_of(p).counted >= limit
}

/// The failure counts a new pod of `index` inherits from the latest failed pod of it.
fn inherited_failures(job: &Job, pods: &[Arc<Pod>], index: i32, completions: i32) -> IndexFailures {
    let latest = pods
        .iter()
        .filter(|p| indexes::valid_index(p, completions) == Some(index) && is_pod_failed(p, job))
        .max_by_key(|p| (failures_of(p).counted + failures_of(p).ignored, backoff::finished_at(p)));
    match latest {
        None => IndexFailures::default(),
        Some(p) => {
            let f = failures_of(p);
            if failure_counts(p, job) {
                IndexFailures { counted: f.counted + 1, ..f }
            } else {
                IndexFailures { ignored: f.ignored + 1, ..f }
            }
        }
    }
}

/// The counts a sync works with (upstream's `syncJobCtx`).
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub succeeded: i32,
    pub failed: i32,
    pub succeeded_indexes: Indexes,
    pub failed_indexes: Option<Indexes>,
}

/// Succeeded and failed, counted or about to be (status + uncounted + new).
pub fn counts(job: &Job, pods: &[Arc<Pod>]) -> Counts {
    let st = job.status.clone().unwrap_or_default();
    let unc = st.uncounted_terminated_pods.clone().unwrap_or_default();
    let (unc_s, unc_f): (HashSet<&str>, HashSet<&str>) =
        (unc.succeeded.iter().map(String::as_str).collect(), unc.failed.iter().map(String::as_str).collect());
    let completions = job.spec.completions.unwrap_or(0);
    let valid = |p: &Pod| !job.is_indexed() || indexes::valid_index(p, completions).is_some();
    let tracked: Vec<&Arc<Pod>> = pods.iter().filter(|p| has_tracking_finalizer(p) && valid(p)).collect();
    let new_s = tracked.iter().filter(|p| !unc_s.contains(p.metadata.uid.as_str()) && phase(p) == Some("Succeeded")).count();
    let new_f = tracked
        .iter()
        .filter(|p| !unc_f.contains(p.metadata.uid.as_str()) && is_pod_failed(p, job) && failure_counts(p, job))
        .count();
    let mut c = Counts {
        succeeded: st.succeeded + new_s as i32 + unc_s.len() as i32,
        failed: st.failed + new_f as i32 + unc_f.len() as i32,
        ..Default::default()
    };
    if job.is_indexed() {
        let mut ix = Indexes::parse(st.completed_indexes.as_deref(), completions);
        for p in &tracked {
            if phase(p) == Some("Succeeded") {
                if let Some(i) = indexes::valid_index(p, completions) {
                    ix.insert(i);
                }
            }
        }
        c.succeeded = ix.len() as i32;
        c.succeeded_indexes = ix;
        if let Some(limit) = job.spec.backoff_limit_per_index {
            let mut failed = Indexes::parse(st.failed_indexes.as_deref(), completions);
            for p in &tracked {
                if let Some(i) = indexes::valid_index(p, completions) {
                    if index_failed(p, job, limit) {
                        failed.insert(i);
                    }
                }
            }
            c.failed_indexes = Some(failed);
        }
    }
    c
}

/// Upstream's `pastBackoffLimitOnFailure`: with restartPolicy OnFailure the containers'
/// restarts of running and pending pods count as failures.
fn past_backoff_limit_on_failure(job: &Job, pods: &[Arc<Pod>]) -> bool {
    if job.spec.template.spec.restart_policy.as_deref() != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = pods
        .iter()
        .filter(|p| matches!(phase(p), Some("Running" | "Pending")))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| s.container_statuses.iter().chain(s.init_container_statuses.iter()))
        .map(|c| c.restart_count)
        .sum();
    let limit = job.spec.backoff_limit.unwrap_or(6);
    if limit == 0 { restarts > 0 } else { restarts >= limit }
}

fn fail_job_message(job: &Job, pods: &[Arc<Pod>]) -> Option<String> {
    let pol = job.spec.pod_failure_policy.as_ref()?;
    pods.iter().filter(|p| is_pod_failed(p, job)).find_map(|p| failure_policy::verdict(pol, p).fail_job_message)
}

/// Finished pods as the back-off sees them: (finish time, succeeded). Pods that were
/// deleted are left out (their end is the deleter's doing, not the workload's).
fn outcomes<'a>(job: &Job, pods: impl Iterator<Item = &'a Arc<Pod>>) -> Vec<(DateTime<Utc>, bool)> {
    pods.filter(|p| !p.metadata.is_deleting())
        .filter_map(|p| {
            let ok = phase(p) == Some("Succeeded");
            (ok || is_pod_failed(p, job)).then(|| backoff::finished_at(p).map(|t| (t, ok))).flatten()
        })
        .collect()
}

/// Upstream's `activePodsForRemoval`: for Indexed Jobs first the pods with an invalid or
/// repeated index (the best pod of an index stays), then the best candidates.
fn pods_for_removal(job: &Job, active: &[Arc<Pod>], at_least: usize) -> Vec<Arc<Pod>> {
    let mut rm: Vec<Arc<Pod>> = Vec::new();
    let mut left: Vec<Arc<Pod>> = Vec::new();
    if job.is_indexed() {
        let completions = job.spec.completions.unwrap_or(0);
        let mut by_index: BTreeMap<i32, Vec<Arc<Pod>>> = BTreeMap::new();
        for p in active {
            match indexes::valid_index(p, completions) {
                Some(i) => by_index.entry(i).or_default().push(p.clone()),
                None => rm.push(p.clone()),
            }
        }
        for (_, group) in by_index {
            let mut ordered = pods_to_delete(group, usize::MAX);
            if let Some(best) = ordered.pop() {
                left.push(best);
            }
            rm.extend(ordered);
        }
    } else {
        left = active.to_vec();
    }
    if rm.len() < at_least {
        rm.extend(pods_to_delete(left, at_least - rm.len()));
    }
    rm
}

/// Decides one sync of `job` (its status as stored) over the pods it owns.
pub fn plan(job: &Job, pods: &[Arc<Pod>], backoff_cfg: Backoff, now: DateTime<Utc>) -> Plan {
    let spec = &job.spec;
    let now_s = api::time::rfc3339(now);
    let mut st = job.status.clone().unwrap_or_default();
    let suspended = spec.suspend == Some(true);
    let active_pods: Vec<Arc<Pod>> = pods.iter().filter(|p| pod_is_active(p)).cloned().collect();
    let mut active = active_pods.len() as i32;
    let mut ready = active_pods.iter().filter(|p| pod_is_ready(p)).count() as i32;
    let mut terminating = pods.iter().filter(|p| is_terminating(p)).count() as i32;
    let counts = counts(job, pods);
    let mut plan = Plan::default();
    if st.start_time.is_none() && !suspended {
        st.start_time = Some(now_s.clone());
    }

    let mut finish = conditions::true_condition(&st, names::SUCCESS_CRITERIA_MET).map(|c| Finish {
        interim: None,
        final_type: names::COMPLETE,
        reason: c.reason.clone().unwrap_or_default(),
        message: c.message.clone().unwrap_or_default(),
    });
    if finish.is_none() {
        if let Some(c) = conditions::true_condition(&st, names::FAILURE_TARGET) {
            finish = Some(Finish {
                interim: None,
                final_type: names::FAILED,
                reason: c.reason.clone().unwrap_or_default(),
                message: c.message.clone().unwrap_or_default(),
            });
        } else if let Some(msg) = fail_job_message(job, pods) {
            finish = Some(Finish::failed(names::POD_FAILURE_POLICY, &msg));
        }
    }
    if finish.is_none() {
        let started = st.start_time.as_deref().and_then(api::time::parse);
        let deadline = spec.active_deadline_seconds.filter(|_| !suspended).zip(started);
        if counts.failed > spec.backoff_limit.unwrap_or(6) || past_backoff_limit_on_failure(job, pods) {
            finish = Some(Finish::failed(names::BACKOFF_LIMIT_EXCEEDED, "Job has reached the specified backoff limit"));
        } else if let Some((secs, start)) = deadline {
            let left = start + chrono::Duration::seconds(secs) - now;
            if left <= chrono::Duration::zero() {
                finish = Some(Finish::failed(names::DEADLINE_EXCEEDED, "Job was active longer than specified deadline"));
            } else {
                plan.requeue = left.to_std().ok();
            }
        }
    }
    let completions = spec.completions.unwrap_or(0);
    if job.is_indexed() {
        if let (None, Some(failed)) = (&finish, &counts.failed_indexes) {
            if spec.max_failed_indexes.is_some_and(|m| failed.len() as i32 > m) {
                finish = Some(Finish::failed(
                    names::MAX_FAILED_INDEXES_EXCEEDED,
                    "Job has exceeded the specified maximal number of failed indexes",
                ));
            } else if !failed.is_empty() && (failed.len() + counts.succeeded_indexes.len()) as i32 >= completions {
                finish = Some(Finish::failed(names::FAILED_INDEXES, "Job has failed indexes"));
            }
        }
        if finish.is_none() {
            if let Some(msg) = success_policy::matched(spec.success_policy.as_ref(), completions, &counts.succeeded_indexes) {
                finish = Some(Finish::succeeded(names::SUCCESS_POLICY, &msg));
            }
        }
    }

    if finish.is_some() {
        terminating += active;
        ready = 0;
        active = 0;
        plan.delete_counted = active_pods;
    } else if !job.metadata.is_deleting() {
        manage(job, pods, &active_pods, &counts, backoff_cfg, now, &mut plan, &mut active, &mut ready, &mut terminating);
        let complete = match spec.completions {
            None => counts.succeeded > 0 && active == 0,
            Some(c) => counts.succeeded >= c && active == 0,
        };
        if complete {
            finish = Some(Finish::succeeded(names::COMPLETIONS_REACHED, "Reached expected number of succeeded pods"));
        } else if suspended {
            if conditions::ensure(&mut st.conditions, names::SUSPENDED, "True", "JobSuspended", "Job suspended", &now_s) {
                plan.events.push(("Suspended", "Job suspended".into()));
            }
        } else if conditions::ensure(&mut st.conditions, names::SUSPENDED, "False", "JobResumed", "Job resumed", &now_s) {
            plan.events.push(("Resumed", "Job resumed".into()));
            // ActiveDeadlineSeconds counts the time a Job is continuously active.
            st.start_time = Some(now_s.clone());
        }
    }
    st.active = active;
    st.ready = Some(ready);
    st.terminating = Some(terminating);
    plan.finish = finish;
    plan.status = st;
    plan
}

/// Upstream's `manageJob`: suspend, remove extra pods, or create missing ones after the
/// back-off.
#[allow(clippy::too_many_arguments)]
fn manage(
    job: &Job,
    pods: &[Arc<Pod>],
    active_pods: &[Arc<Pod>],
    counts: &Counts,
    cfg: Backoff,
    now: DateTime<Utc>,
    plan: &mut Plan,
    active: &mut i32,
    ready: &mut i32,
    terminating: &mut i32,
) {
    let spec = &job.spec;
    let mut remove = |victims: Vec<Arc<Pod>>, plan: &mut Plan, active: &mut i32| {
        *active -= victims.len() as i32;
        *terminating += victims.len() as i32;
        *ready -= victims.iter().filter(|p| pod_is_ready(p)).count() as i32;
        plan.delete_uncounted = victims;
    };
    if spec.suspend == Some(true) {
        remove(pods_for_removal(job, active_pods, active_pods.len()), plan, active);
        return;
    }
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let want = match spec.completions {
        None if counts.succeeded > 0 => *active,
        None => parallelism,
        Some(c) => (c - counts.succeeded).clamp(0, parallelism),
    };
    let mut victims = pods_for_removal(job, active_pods, (*active - want).max(0) as usize);
    victims.truncate(MAX_POD_CHANGES_PER_SYNC);
    if !victims.is_empty() {
        remove(victims, plan, active);
        return;
    }
    let only_failed = spec.pod_replacement_policy.as_deref() == Some("Failed");
    let waiting = if only_failed { *terminating } else { 0 };
    let diff = (want - waiting - *active).max(0) as usize;
    if diff == 0 {
        return;
    }
    let diff = diff.min(MAX_POD_CHANGES_PER_SYNC);
    let per_index = spec.backoff_limit_per_index.is_some() && job.is_indexed();
    if !per_index {
        let (n, last) = backoff::failures_since_success(&outcomes(job, pods.iter()));
        let left = backoff::remaining(now, last, backoff::delay(cfg.base, cfg.max, n));
        if !left.is_zero() {
            plan.requeue = Some(plan.requeue.map_or(left, |r| r.min(left)));
            return;
        }
    }
    if !job.is_indexed() {
        plan.create = vec![NewPod { index: None, failures: None }; diff];
        *active += diff as i32;
        return;
    }
    let completions = spec.completions.unwrap_or(0);
    let busy: Indexes = active_pods.iter().filter_map(|p| indexes::valid_index(p, completions)).collect();
    let term: Indexes = if only_failed {
        pods.iter().filter(|p| is_terminating(p)).filter_map(|p| indexes::valid_index(p, completions)).collect()
    } else {
        Indexes::default()
    };
    let failed = counts.failed_indexes.clone().unwrap_or_default();
    let pending = indexes::first_pending(usize::MAX, completions, &[&counts.succeeded_indexes, &busy, &term, &failed]);
    for i in pending {
        if plan.create.len() == diff {
            break;
        }
        let failures = if per_index {
            let of_index = pods.iter().filter(|p| indexes::valid_index(p, completions) == Some(i));
            let (n, last) = backoff::failures_since_success(&outcomes(job, of_index));
            let left = backoff::remaining(now, last, backoff::delay(cfg.base, cfg.max, n));
            if !left.is_zero() {
                plan.requeue = Some(plan.requeue.map_or(left, |r| r.min(left)));
                continue;
            }
            Some(inherited_failures(job, pods, i, completions))
        } else {
            None
        };
        plan.create.push(NewPod { index: Some(i), failures });
    }
    *active += plan.create.len() as i32;
}
