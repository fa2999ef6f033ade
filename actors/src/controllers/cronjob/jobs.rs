//! A CronJob's Jobs (pure): the Job built from `jobTemplate` for a start time, the
//! bookkeeping of `status.active` / `lastSuccessfulTime` against the owned Jobs, and
//! which finished Jobs the history limits remove.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use api::cron::Zone;
use api::model::{CronJob, CronJobStatus, Job, ObjectMeta, ObjectReference};

use crate::controllers::{controller_ref_of, parse_time};

/// The annotation carrying a Job's scheduled time (RFC 3339 in the CronJob's zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// `Complete` or `Failed` when one of them is True (upstream's `getFinishedStatus`).
pub fn finished_condition(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    conditions.iter().find_map(|c| match (c.type_.as_str(), c.status.as_str()) {
        ("Complete", "True") => Some("Complete"),
        ("Failed", "True") => Some("Failed"),
        _ => None,
    })
}

/// The Job of `cj` for `scheduled` (`getJobFromTemplate2`): the template's labels,
/// annotations and spec, the deterministic name, the scheduled-timestamp annotation and
/// a controlling owner reference.
pub fn job_from_template(cj: &CronJob, scheduled: DateTime<Utc>, zone: Zone) -> Job {
    let t = &cj.spec.job_template;
    let mut annotations = t.metadata.annotations.clone();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), zone.format_rfc3339(scheduled));
    Job {
        metadata: ObjectMeta {
            name: super::plan::job_name(&cj.metadata.name, scheduled),
            namespace: cj.metadata.namespace.clone(),
            labels: t.metadata.labels.clone(),
            annotations,
            owner_references: vec![controller_ref_of(cj)],
            ..Default::default()
        },
        spec: t.spec.clone(),
        ..Default::default()
    }
}

/// The reference `status.active` keeps to a Job.
pub fn reference_to(job: &Job) -> ObjectReference {
    crate::events::reference_of(job)
}

/// An event the bookkeeping asks for: (type, reason, message).
pub type Note = (&'static str, &'static str, String);

/// The outcome of comparing `status.active` with the owned Jobs.
#[derive(Debug, Default, PartialEq)]
pub struct Bookkeeping {
    pub status: CronJobStatus,
    pub events: Vec<Note>,
    /// Active references to Jobs not among the owned ones: gone, or not yet in the cache
    /// (the caller asks the API before dropping them, as upstream does).
    pub unseen: Vec<ObjectReference>,
}

/// The first loop of `syncCronJob`: finished Jobs leave the active list
/// (`SawCompletedJob`), unfinished owned Jobs missing from it are reported
/// (`UnexpectedJob`), and the newest completion time of a succeeded Job becomes
/// `lastSuccessfulTime`.
pub fn bookkeeping(status: &CronJobStatus, jobs: &[Arc<Job>]) -> Bookkeeping {
    let mut st = status.clone();
    let mut events = Vec::new();
    for j in jobs {
        let uid = j.metadata.uid.as_str();
        let found = st.active.iter().any(|r| r.uid.as_deref() == Some(uid));
        match finished_condition(j) {
            None if !found => events.push((
                "Warning",
                "UnexpectedJob",
                format!("Saw a job that the controller did not create or forgot: {}", j.metadata.name),
            )),
            None => {}
            Some(cond) => {
                if found {
                    st.active.retain(|r| r.uid.as_deref() != Some(uid));
                    events.push(("Normal", "SawCompletedJob", format!("Saw completed job: {}, condition: {cond}", j.metadata.name)));
                }
                if cond == "Complete" {
                    let done = j.status.as_ref().and_then(|s| s.completion_time.as_deref());
                    let newer = match (parse_time(done), parse_time(st.last_successful_time.as_deref())) {
                        (Some(d), Some(last)) => d > last,
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    if newer {
                        st.last_successful_time = done.map(str::to_string);
                    }
                }
            }
        }
    }
    let unseen = st
        .active
        .iter()
        .filter(|r| !jobs.iter().any(|j| r.uid.as_deref() == Some(j.metadata.uid.as_str())))
        .cloned()
        .collect();
    Bookkeeping { status: st, events, unseen }
}

/// Sort key of `byJobStartTime`: Jobs with a start time first, oldest first, names
/// breaking ties; Jobs without one last.
fn start_order(j: &Job) -> (bool, Option<DateTime<Utc>>, String) {
    let start = parse_time(j.status.as_ref().and_then(|s| s.start_time.as_deref()));
    (start.is_none(), start, j.metadata.name.clone())
}

/// The finished Jobs over the history limits, oldest first (`cleanupFinishedJobs`):
/// succeeded ones beyond `successfulJobsHistoryLimit`, failed ones beyond
/// `failedJobsHistoryLimit`; a limit that is not set keeps everything.
pub fn over_history_limits(cj: &CronJob, jobs: &[Arc<Job>]) -> Vec<Arc<Job>> {
    let mut out = Vec::new();
    for (cond, limit) in [
        ("Complete", cj.spec.successful_jobs_history_limit),
        ("Failed", cj.spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut finished: Vec<Arc<Job>> = jobs.iter().filter(|j| finished_condition(j) == Some(cond)).cloned().collect();
        let excess = finished.len().saturating_sub(limit.max(0) as usize);
        if excess == 0 {
            continue;
        }
        finished.sort_by_cached_key(|j| start_order(j));
        out.extend(finished.into_iter().take(excess));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Condition, JobStatus};

    fn job(name: &str, uid: &str, finished: Option<&str>, start: Option<&str>, done: Option<&str>) -> Arc<Job> {
        let mut j = Job::default();
        j.metadata.name = name.into();
        j.metadata.uid = uid.into();
        let mut st = JobStatus { start_time: start.map(str::to_string), completion_time: done.map(str::to_string), ..Default::default() };
        if let Some(c) = finished {
            st.conditions.push(Condition { type_: c.into(), status: "True".into(), ..Default::default() });
        }
        j.status = Some(st);
        Arc::new(j)
    }

    fn active(refs: &[(&str, &str)]) -> CronJobStatus {
        CronJobStatus {
            active: refs
                .iter()
                .map(|(n, u)| ObjectReference { name: Some(n.to_string()), uid: Some(u.to_string()), ..Default::default() })
                .collect(),
            ..Default::default()
        }
    }

    fn names(jobs: &[Arc<Job>]) -> Vec<&str> {
        jobs.iter().map(|j| j.metadata.name.as_str()).collect()
    }

    #[test]
    fn the_job_of_a_start_time() {
        let mut cj = CronJob::default();
        cj.metadata.name = "hello".into();
        cj.metadata.namespace = Some("ns".into());
        cj.metadata.uid = "cj-uid".into();
        cj.spec.job_template.metadata.labels.insert("app".into(), "hello".into());
        cj.spec.job_template.metadata.annotations.insert("note".into(), "kept".into());
        cj.spec.job_template.spec.backoff_limit = Some(2);
        let at: DateTime<Utc> = "2026-03-01T10:01:00Z".parse().unwrap();
        let j = job_from_template(&cj, at, Zone::parse(Some("Europe/Berlin")).unwrap());
        assert_eq!(j.metadata.name, format!("hello-{}", at.timestamp() / 60));
        assert_eq!(j.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(j.metadata.labels.get("app").map(String::as_str), Some("hello"));
        assert_eq!(j.metadata.annotations.get("note").map(String::as_str), Some("kept"));
        assert_eq!(j.metadata.annotations.get(SCHEDULED_TIMESTAMP).map(String::as_str), Some("2026-03-01T11:01:00+01:00"));
        let r = j.metadata.controller_ref().unwrap();
        assert_eq!((r.kind.as_str(), r.api_version.as_str(), r.uid.as_str()), ("CronJob", "batch/v1", "cj-uid"));
        assert_eq!(r.block_owner_deletion, Some(true));
        assert_eq!(j.spec.backoff_limit, Some(2));
    }

    #[test]
    fn finished_jobs_leave_the_active_list() {
        let jobs = vec![
            job("a", "1", Some("Complete"), Some("2026-03-01T10:00:01Z"), Some("2026-03-01T10:00:09Z")),
            job("b", "2", None, None, None),
            job("c", "3", Some("Failed"), None, None),
        ];
        let b = bookkeeping(&active(&[("a", "1"), ("b", "2"), ("c", "3")]), &jobs);
        assert_eq!(b.status.active.iter().map(|r| r.name.as_deref().unwrap()).collect::<Vec<_>>(), ["b"]);
        assert_eq!(b.status.last_successful_time.as_deref(), Some("2026-03-01T10:00:09Z"));
        let reasons: Vec<&str> = b.events.iter().map(|e| e.1).collect();
        assert_eq!(reasons, ["SawCompletedJob", "SawCompletedJob"]);
        assert!(b.events[1].2.contains("condition: Failed"));
        assert!(b.unseen.is_empty());
    }

    #[test]
    fn unexpected_and_unseen_jobs() {
        let jobs = vec![job("manual", "9", None, None, None)];
        let b = bookkeeping(&active(&[("gone", "7")]), &jobs);
        assert_eq!(b.events, vec![("Warning", "UnexpectedJob", "Saw a job that the controller did not create or forgot: manual".to_string())]);
        assert_eq!(b.unseen.len(), 1);
        assert_eq!(b.unseen[0].name.as_deref(), Some("gone"));
        assert_eq!(b.status.active.len(), 1, "dropped only once the API says it is gone");
    }

    #[test]
    fn last_successful_time_only_moves_forward() {
        let mut st = CronJobStatus { last_successful_time: Some("2026-03-01T12:00:00Z".into()), ..Default::default() };
        let jobs = vec![job("old", "1", Some("Complete"), None, Some("2026-03-01T11:00:00Z"))];
        assert_eq!(bookkeeping(&st, &jobs).status.last_successful_time, st.last_successful_time);
        st.last_successful_time = None;
        let failed = vec![job("f", "2", Some("Failed"), None, Some("2026-03-01T13:00:00Z"))];
        assert_eq!(bookkeeping(&st, &failed).status.last_successful_time, None, "failed jobs do not count");
    }

    #[test]
    fn history_limits_prune_oldest_first() {
        let mut cj = CronJob::default();
        cj.spec.successful_jobs_history_limit = Some(2);
        cj.spec.failed_jobs_history_limit = Some(1);
        let jobs = vec![
            job("s3", "3", Some("Complete"), Some("2026-03-01T10:03:00Z"), None),
            job("s1", "1", Some("Complete"), Some("2026-03-01T10:01:00Z"), None),
            job("s-nostart", "0", Some("Complete"), None, None),
            job("s2", "2", Some("Complete"), Some("2026-03-01T10:02:00Z"), None),
            job("f2", "5", Some("Failed"), Some("2026-03-01T10:05:00Z"), None),
            job("f1", "4", Some("Failed"), Some("2026-03-01T10:04:00Z"), None),
            job("running", "6", None, Some("2026-03-01T09:00:00Z"), None),
        ];
        assert_eq!(names(&over_history_limits(&cj, &jobs)), ["s1", "s2", "f1"]);
        cj.spec.successful_jobs_history_limit = Some(0);
        cj.spec.failed_jobs_history_limit = None;
        assert_eq!(names(&over_history_limits(&cj, &jobs)), ["s1", "s2", "s3", "s-nostart"]);
    }
}
