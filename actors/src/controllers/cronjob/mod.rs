//! CronJob (batch/v1): create a Job from `jobTemplate` at each time of `schedule`, as
//! Kubernetes' `cronjob_controllerv2.go` does, one supervised actor per CronJob.
//!
//! A reconcile (`syncCronJob` + `cleanupFinishedJobs`): compare `status.active` with the
//! owned Jobs (`jobs.rs`: finished ones leave it, `lastSuccessfulTime` follows the newest
//! success, vanished ones go after an API read); stop there when the CronJob is being
//! deleted, suspended, or its zone or schedule cannot be used (a Warning event says
//! which); otherwise plan (`plan.rs`, pure, `now` from the control plane's clock) and
//! act: start the due Job (named `<cronjob>-<minutes since epoch>`, so a repeat after a
//! crash is an AlreadyExists, not a second Job), skip it under `Forbid`, delete the
//! active ones first under `Replace`; prune finished Jobs beyond the history limits,
//! oldest first; write status once; requeue at the next start time.
//!
//! Schedules are parsed by `api::cron` (croner; see its doc for why that crate). Time
//! comes from `ControlConfig::clock` (`controller/clock.rs`): the real clock, or for
//! end-to-end tests a faster one (`--test-clock-speed`), whose requeue delays are
//! shortened to match.

pub mod jobs;
pub mod plan;

use std::sync::Arc;

use async_trait::async_trait;

use crate::controller::{Action, ChildKind, Children, Cx, ReconcileError, Reconciler};
use crate::registry::{Preconditions, RegistryError, UpdateScope};
use api::cron::{Schedule, Zone};
use api::model::{CronJob, CronJobStatus, Job, LabelSelector};
use plan::Step;

/// The component CronJob events are reported as.
pub const COMPONENT: &str = "cronjob-controller";

/// Reconciles CronJobs (batch/v1).
pub struct CronJobController;

#[async_trait]
impl Reconciler for CronJobController {
    type Object = CronJob;
    const CHILDREN: Children = Children::Of(&[ChildKind::of::<Job>()]);
    /// CronJobs adopt nothing: their Jobs carry a controller reference from birth.
    fn selector(_: &CronJob) -> Option<LabelSelector> {
        None
    }
    async fn reconcile(&self, obj: Arc<CronJob>, cx: &Cx) -> Result<Action, ReconcileError> {
        sync(&obj, cx).await
    }
}

fn event(cx: &Cx, cj: &CronJob, type_: &str, reason: &str, message: impl AsRef<str>) {
    cx.event_from(COMPONENT, cj, type_, reason, message);
}

async fn sync(cj: &CronJob, cx: &Cx) -> Result<Action, ReconcileError> {
    let clock = cx.config().clock.clone();
    let now = clock.now();
    let ns = cj.metadata.namespace.as_deref();
    let owned: Vec<Arc<Job>> = cx.caches().jobs.owned_by(&cj.metadata.uid);

    let old_status = cj.status.clone().unwrap_or_default();
    let book = jobs::bookkeeping(&old_status, &owned);
    for (t, reason, msg) in &book.events {
        event(cx, cj, t, reason, msg);
    }
    let mut status = book.status;
    for r in &book.unseen {
        let name = r.name.as_deref().unwrap_or_default();
        match cx.registry().get::<Job>(r.namespace.as_deref().or(ns), name).await {
            Err(RegistryError::NotFound { .. }) => {
                event(cx, cj, "Normal", "MissingJob", format!("Active job went missing: {name}"));
                status.active.retain(|a| a.uid != r.uid);
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {} // in the API but not yet in the cache
        }
    }

    let mut requeue = None;
    if let Some((zone, sched)) = usable(cj, cx) {
        let mut view = cj.clone();
        view.status = Some(status.clone());
        match plan::plan(&view, &sched, zone, now) {
            Err(e) => event(cx, cj, "Warning", "InvalidSchedule", format!("invalid schedule: {} : {e}", cj.spec.schedule)),
            Ok(p) => {
                if p.too_many_missed {
                    event(
                        cx,
                        cj,
                        "Warning",
                        "TooManyMissedTimes",
                        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                    );
                }
                let started = start(&view, &p.step, zone, &mut status, cx).await?;
                // A Job that could not be created is retried by the supervisor's back-off
                // (the error above); one that was is followed by the next time.
                requeue = if started || !matches!(p.step, Step::Start { .. }) { p.requeue } else { None };
            }
        }
    }

    for j in jobs::over_history_limits(cj, &owned) {
        if delete_job(cj, &j, cx).await {
            status.active.retain(|a| a.uid.as_deref() != Some(j.metadata.uid.as_str()));
        }
    }

    write_status(cj, &old_status, status, cx).await?;
    Ok(match requeue {
        Some(d) => Action::requeue(clock.real_delay(d)),
        None => Action::await_change(),
    })
}

/// The zone and schedule when the CronJob should be planned at all; None (with the
/// upstream event) when it is being deleted, suspended, or its zone or schedule fail.
fn usable(cj: &CronJob, cx: &Cx) -> Option<(Zone, Schedule)> {
    if cj.metadata.is_deleting() || cj.spec.suspend == Some(true) {
        return None;
    }
    let zone = match Zone::parse(cj.spec.time_zone.as_deref()) {
        Ok(z) => z,
        Err(e) => {
            let tz = cj.spec.time_zone.as_deref().unwrap_or_default();
            event(cx, cj, "Warning", "UnknownTimeZone", format!("invalid timeZone: {tz:?}: {e}"));
            return None;
        }
    };
    if cj.spec.schedule.contains("TZ") {
        event(
            cx,
            cj,
            "Warning",
            "UnsupportedSchedule",
            format!(
                "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                cj.spec.schedule
            ),
        );
    }
    match Schedule::parse(&cj.spec.schedule) {
        Ok(s) => Some((zone, s)),
        Err(e) => {
            event(cx, cj, "Warning", "UnparseableSchedule", format!("unparseable schedule: {:?} : {e}", cj.spec.schedule));
            None
        }
    }
}

/// Carries out a plan's step; returns whether a Job for the due time now exists and is
/// in `status.active`.
async fn start(cj: &CronJob, step: &Step, zone: Zone, status: &mut CronJobStatus, cx: &Cx) -> Result<bool, ReconcileError> {
    let (scheduled, replace) = match step {
        Step::Wait => return Ok(false),
        Step::TooLate(t) => {
            let when = t.format("%a, %d %b %Y %H:%M:%S +0000");
            event(cx, cj, "Warning", "MissSchedule", format!("Missed scheduled time to start a job: {when}"));
            return Ok(false);
        }
        Step::Forbidden(_) => {
            event(cx, cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid");
            return Ok(false);
        }
        Step::Start { scheduled, replace } => (*scheduled, *replace),
    };
    if replace {
        for r in status.active.clone() {
            let name = r.name.as_deref().unwrap_or_default();
            let job = match cx.registry().get::<Job>(r.namespace.as_deref().or(cj.metadata.namespace.as_deref()), name).await {
                Ok(j) => j,
                Err(e) => {
                    event(cx, cj, "Warning", "FailedGet", format!("Get job: {e}"));
                    return Err(e.into());
                }
            };
            if !delete_job(cj, &job, cx).await {
                return Err(ReconcileError::Other(format!("could not replace job {}", job.metadata.name)));
            }
            status.active.retain(|a| a.uid != r.uid);
        }
    }
    let want = jobs::job_from_template(cj, scheduled, zone);
    let job = match cx.create(want.clone()).await {
        Ok(j) => {
            event(cx, cj, "Normal", "SuccessfulCreate", format!("Created job {}", j.metadata.name));
            j
        }
        Err(RegistryError::AlreadyExists { .. }) => {
            // Created by an earlier reconcile whose status write was lost, or by someone
            // else (then theirs to account for).
            let j = cx.registry().get::<Job>(want.metadata.namespace.as_deref(), &want.metadata.name).await?;
            let ours = j.metadata.controller_ref().is_some_and(|r| r.uid == cj.metadata.uid);
            if !ours || status.active.iter().any(|a| a.uid.as_deref() == Some(j.metadata.uid.as_str())) {
                return Ok(false);
            }
            tracing::info!(cronjob = %cj.metadata.name, job = %j.metadata.name, "job already exists");
            j
        }
        Err(e) => {
            event(cx, cj, "Warning", "FailedCreate", format!("Error creating job: {e}"));
            return Err(e.into());
        }
    };
    status.active.push(jobs::reference_to(&job));
    status.last_schedule_time = Some(api::time::rfc3339(scheduled));
    Ok(true)
}

/// Deletes a Job with background propagation (its pods follow through the garbage
/// collector); "already gone" counts as done.
async fn delete_job(cj: &CronJob, job: &Job, cx: &Cx) -> bool {
    let pre = Preconditions { uid: Some(job.metadata.uid.clone()), resource_version: None };
    match cx.delete::<Job>(job.metadata.namespace.as_deref(), &job.metadata.name, &pre).await {
        Ok(_) | Err(RegistryError::Conflict { .. }) => {
            event(cx, cj, "Normal", "SuccessfulDelete", format!("Deleted job {}", job.metadata.name));
            true
        }
        Err(e) => {
            event(cx, cj, "Warning", "FailedDelete", format!("Deleted job: {e}"));
            false
        }
    }
}

/// Writes `status` with Status scope when it differs from what the reconcile started with.
async fn write_status(cj: &CronJob, old: &CronJobStatus, status: CronJobStatus, cx: &Cx) -> Result<(), ReconcileError> {
    if *old == status {
        return Ok(());
    }
    let res = cx
        .modify::<CronJob>(cj.metadata.namespace.as_deref(), &cj.metadata.name, UpdateScope::Status, |o| {
            if o.metadata.uid != cj.metadata.uid || o.status.as_ref() == Some(&status) {
                return false;
            }
            o.status = Some(status.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
