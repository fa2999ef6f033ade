//! When a CronJob's next Job is due and what to do about it (pure; `now` is a
//! parameter): upstream's `mostRecentScheduleTime`, `nextScheduleTime` and
//! `nextScheduleTimeDuration` (`utils.go`), and the start decision of `syncCronJob`.
//!
//! Only the most recent missed time is ever started: a controller that was down for a
//! weekend starts one Job, not one per missed hour. More than 100 missed times since the
//! last schedule (or creation) is reported as `TooManyMissedTimes`; with
//! `startingDeadlineSeconds` nothing older than the deadline counts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use api::cron::{Schedule, Zone};
use api::model::CronJob;

use crate::controllers::parse_time;

/// Upstream pads requeues by 100 ms against clock skew.
pub const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// More missed start times than this is "too many".
pub const MANY_MISSED: i64 = 100;

/// How many start times went by unstarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    None,
    Few,
    Many,
}

/// A schedule that parses but cannot be planned with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the schedule has no next time")]
    Never,
    #[error("time difference between two schedules is less than 1 second")]
    TooClose,
}

/// The times of a CronJob the planning reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub created: DateTime<Utc>,
    pub last_schedule: Option<DateTime<Utc>>,
    pub starting_deadline_seconds: Option<i64>,
}

impl Times {
    pub fn of(cj: &CronJob) -> Times {
        Times {
            created: parse_time(cj.metadata.creation_timestamp.as_deref()).unwrap_or(DateTime::<Utc>::MIN_UTC),
            last_schedule: parse_time(cj.status.as_ref().and_then(|s| s.last_schedule_time.as_deref())),
            starting_deadline_seconds: cj.spec.starting_deadline_seconds,
        }
    }
}

/// What `mostRecentScheduleTime` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recent {
    /// The last schedule time, or the creation time (moved up to `now - deadline`).
    pub earliest: DateTime<Utc>,
    /// The latest start time not after `now`, if any came after `earliest`.
    pub most_recent: Option<DateTime<Utc>>,
    pub missed: Missed,
}

/// The most recent time a Job should have started, and how many were missed.
pub fn most_recent_schedule_time(
    t: &Times,
    now: DateTime<Utc>,
    sched: &Schedule,
    zone: Zone,
    include_deadline: bool,
) -> Result<Recent, PlanError> {
    let mut earliest = t.last_schedule.unwrap_or(t.created);
    if include_deadline {
        if let Some(d) = t.starting_deadline_seconds {
            let deadline = now - chrono::Duration::seconds(d);
            if deadline > earliest {
                earliest = deadline;
            }
        }
    }
    let next = |x: DateTime<Utc>| sched.next_after(x, zone);
    let none = Recent { earliest, most_recent: None, missed: Missed::None };
    let t1 = next(earliest).ok_or(PlanError::Never)?;
    if now < t1 {
        return Ok(none);
    }
    let t2 = next(t1).ok_or(PlanError::Never)?;
    if now < t2 {
        return Ok(Recent { most_recent: Some(t1), ..none });
    }
    // Upstream's approximation: count whole intervals of (t2 - t1) between t1 and now,
    // then walk the schedule from one interval before the estimate.
    let between = (t2 - t1 + chrono::Duration::milliseconds(500)).num_seconds();
    if between < 1 {
        return Err(PlanError::TooClose);
    }
    let elapsed = (now - t1).num_seconds();
    let missed_count = elapsed / between + 1;
    let mut t = next(t1 + chrono::Duration::seconds((missed_count - 2) * between));
    let mut most_recent = None;
    while let Some(x) = t.filter(|x| *x <= now) {
        most_recent = Some(x);
        t = next(x);
    }
    let missed = if missed_count > MANY_MISSED { Missed::Many } else { Missed::Few };
    Ok(Recent { most_recent, missed, ..none })
}

/// The start time due now (none when nothing is due), and how many were missed
/// (`nextScheduleTime`: the deadline limits how far back it looks).
pub fn next_schedule_time(
    t: &Times,
    now: DateTime<Utc>,
    sched: &Schedule,
    zone: Zone,
) -> Result<(Option<DateTime<Utc>>, Missed), PlanError> {
    let r = most_recent_schedule_time(t, now, sched, zone, true)?;
    Ok((r.most_recent.filter(|m| *m <= now), r.missed))
}

/// How long until the next start time, plus [`NEXT_SCHEDULE_DELTA`]
/// (`nextScheduleTimeDuration`); None when the schedule never fires again.
pub fn requeue_after(t: &Times, now: DateTime<Utc>, sched: &Schedule, zone: Zone) -> Option<Duration> {
    let base = match most_recent_schedule_time(t, now, sched, zone, false) {
        Err(_) => now,
        Ok(Recent { most_recent: Some(m), .. }) => m,
        Ok(Recent { earliest, most_recent: None, missed: Missed::None }) => earliest,
        Ok(Recent { most_recent: None, .. }) => now,
    };
    let next = sched.next_after(base, zone)?;
    Some((next - now).to_std().unwrap_or_default() + NEXT_SCHEDULE_DELTA)
}

/// The name of the Job for a start time: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cronjob: &str, scheduled: DateTime<Utc>) -> String {
    format!("{cronjob}-{}", scheduled.timestamp() / 60)
}

/// What a reconcile does about starting a Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing is due, or the due time was already started.
    Wait,
    /// The due time is more than `startingDeadlineSeconds` ago (`MissSchedule`).
    TooLate(DateTime<Utc>),
    /// Forbid and a Job is still active (`JobAlreadyActive`).
    Forbidden(DateTime<Utc>),
    /// Create the Job for this time; with `replace`, delete the active Jobs first.
    Start { scheduled: DateTime<Utc>, replace: bool },
}

/// The decision and when to look again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub step: Step,
    /// More than 100 start times were missed (`TooManyMissedTimes`).
    pub too_many_missed: bool,
    /// When the next start time is due (computed as if `step`'s Job had started).
    pub requeue: Option<Duration>,
}

/// The start decision of `syncCronJob` for a CronJob that is neither deleting nor
/// suspended and whose schedule and zone parsed.
pub fn plan(cj: &CronJob, sched: &Schedule, zone: Zone, now: DateTime<Utc>) -> Result<Plan, PlanError> {
    let mut times = Times::of(cj);
    let (due, missed) = next_schedule_time(&times, now, sched, zone)?;
    let too_many_missed = due.is_some() && missed == Missed::Many;
    let wait = |step: Step, times: &Times| Plan { step, too_many_missed, requeue: requeue_after(times, now, sched, zone) };
    let Some(scheduled) = due else { return Ok(wait(Step::Wait, &times)) };
    if let Some(d) = cj.spec.starting_deadline_seconds {
        if scheduled + chrono::Duration::seconds(d) < now {
            return Ok(wait(Step::TooLate(scheduled), &times));
        }
    }
    let active = cj.status.as_ref().map(|s| s.active.as_slice()).unwrap_or_default();
    let name = job_name(&cj.metadata.name, scheduled);
    if active.iter().any(|r| r.name.as_deref() == Some(name.as_str())) || times.last_schedule == Some(scheduled) {
        return Ok(wait(Step::Wait, &times));
    }
    match cj.spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => Ok(wait(Step::Forbidden(scheduled), &times)),
        policy => {
            times.last_schedule = Some(scheduled);
            Ok(wait(Step::Start { scheduled, replace: policy == Some("Replace") }, &times))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{CronJobStatus, ObjectReference};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn utc_zone() -> Zone {
        Zone::parse(Some("UTC")).unwrap()
    }

    fn cron_job(schedule: &str, created: &str, last: Option<&str>) -> CronJob {
        let mut cj = CronJob::default();
        cj.metadata.name = "hello".into();
        cj.metadata.creation_timestamp = Some(created.into());
        cj.spec.schedule = schedule.into();
        cj.status = Some(CronJobStatus { last_schedule_time: last.map(str::to_string), ..Default::default() });
        cj
    }

    fn plan_at(cj: &CronJob, now: &str) -> Plan {
        let s = Schedule::parse(&cj.spec.schedule).unwrap();
        plan(cj, &s, utc_zone(), utc(now)).unwrap()
    }

    fn with_active(mut cj: CronJob, names: &[&str]) -> CronJob {
        let st = cj.status.get_or_insert_with(Default::default);
        st.active = names.iter().map(|n| ObjectReference { name: Some(n.to_string()), ..Default::default() }).collect();
        cj
    }

    #[test]
    fn nothing_due_before_the_first_time() {
        let cj = cron_job("*/5 * * * *", "2026-03-01T10:01:00Z", None);
        let p = plan_at(&cj, "2026-03-01T10:03:00Z");
        assert_eq!(p.step, Step::Wait);
        assert_eq!(p.requeue, Some(Duration::from_secs(120) + NEXT_SCHEDULE_DELTA));
    }

    #[test]
    fn starts_the_due_time_and_requeues_at_the_next() {
        let cj = cron_job("*/1 * * * *", "2026-03-01T10:00:30Z", None);
        let p = plan_at(&cj, "2026-03-01T10:01:00.250Z");
        assert_eq!(p.step, Step::Start { scheduled: utc("2026-03-01T10:01:00Z"), replace: false });
        assert_eq!(p.requeue, Some(Duration::from_millis(59_750) + NEXT_SCHEDULE_DELTA));
        assert!(!p.too_many_missed);
        assert_eq!(job_name("hello", utc("2026-03-01T10:01:00Z")), format!("hello-{}", utc("2026-03-01T10:01:00Z").timestamp() / 60));
    }

    #[test]
    fn a_started_time_is_not_started_again() {
        let cj = cron_job("*/1 * * * *", "2026-03-01T09:00:00Z", Some("2026-03-01T10:01:00Z"));
        assert_eq!(plan_at(&cj, "2026-03-01T10:01:30Z").step, Step::Wait);
        // The Job of the due time is in the active list though the status lost lastScheduleTime.
        let cj = with_active(cron_job("*/1 * * * *", "2026-03-01T10:00:30Z", None), &[&job_name("hello", utc("2026-03-01T10:01:00Z"))]);
        assert_eq!(plan_at(&cj, "2026-03-01T10:01:30Z").step, Step::Wait);
    }

    #[test]
    fn forbid_never_overlaps() {
        let mut cj = with_active(cron_job("*/1 * * * *", "2026-03-01T09:00:00Z", Some("2026-03-01T10:00:00Z")), &["hello-1"]);
        cj.spec.concurrency_policy = Some("Forbid".into());
        let p = plan_at(&cj, "2026-03-01T10:01:05Z");
        assert_eq!(p.step, Step::Forbidden(utc("2026-03-01T10:01:00Z")));
        assert_eq!(p.requeue, Some(Duration::from_secs(55) + NEXT_SCHEDULE_DELTA));
        // Once nothing is active, the most recent due time starts.
        cj.status.as_mut().unwrap().active.clear();
        assert_eq!(plan_at(&cj, "2026-03-01T10:03:05Z").step, Step::Start { scheduled: utc("2026-03-01T10:03:00Z"), replace: false });
    }

    #[test]
    fn replace_deletes_the_running_job_and_starts_the_new_one() {
        let mut cj = with_active(cron_job("*/1 * * * *", "2026-03-01T09:00:00Z", Some("2026-03-01T10:00:00Z")), &["hello-1"]);
        cj.spec.concurrency_policy = Some("Replace".into());
        assert_eq!(plan_at(&cj, "2026-03-01T10:01:05Z").step, Step::Start { scheduled: utc("2026-03-01T10:01:00Z"), replace: true });
    }

    #[test]
    fn allow_runs_several() {
        let mut cj = with_active(cron_job("*/1 * * * *", "2026-03-01T09:00:00Z", Some("2026-03-01T10:00:00Z")), &["hello-1", "hello-2"]);
        cj.spec.concurrency_policy = Some("Allow".into());
        assert_eq!(plan_at(&cj, "2026-03-01T10:01:05Z").step, Step::Start { scheduled: utc("2026-03-01T10:01:00Z"), replace: false });
        cj.spec.concurrency_policy = None;
        assert_eq!(plan_at(&cj, "2026-03-01T10:01:05Z").step, Step::Start { scheduled: utc("2026-03-01T10:01:00Z"), replace: false });
    }

    #[test]
    fn missed_times_start_only_the_most_recent() {
        // Down from 10:00 to 10:42: one Job, for 10:42, not 42.
        let cj = cron_job("*/1 * * * *", "2026-03-01T09:00:00Z", Some("2026-03-01T10:00:00Z"));
        let p = plan_at(&cj, "2026-03-01T10:42:10Z");
        assert_eq!(p.step, Step::Start { scheduled: utc("2026-03-01T10:42:00Z"), replace: false });
        assert!(!p.too_many_missed);
        let s = Schedule::parse("*/1 * * * *").unwrap();
        let r = most_recent_schedule_time(&Times::of(&cj), utc("2026-03-01T10:42:10Z"), &s, utc_zone(), true).unwrap();
        assert_eq!(r.missed, Missed::Few);
    }

    #[test]
    fn irregular_schedules_find_the_right_most_recent_time() {
        // 06:30, 10:30, 14:30 on weekdays: from Friday 10:30 to Monday 11:00 the last one is Monday 10:30.
        let cj = cron_job("30 6-16/4 * * 1-5", "2026-01-01T00:00:00Z", Some("2026-03-06T10:30:00Z"));
        assert_eq!(plan_at(&cj, "2026-03-09T11:00:00Z").step, Step::Start { scheduled: utc("2026-03-09T10:30:00Z"), replace: false });
    }

    #[test]
    fn more_than_100_missed_warns_and_starts_one() {
        let cj = cron_job("*/1 * * * *", "2026-03-01T09:00:00Z", Some("2026-03-01T10:00:00Z"));
        let p = plan_at(&cj, "2026-03-01T11:41:30Z"); // 101 missed
        assert!(p.too_many_missed);
        assert_eq!(p.step, Step::Start { scheduled: utc("2026-03-01T11:41:00Z"), replace: false });
        let p = plan_at(&cj, "2026-03-01T11:39:30Z"); // 99 missed
        assert!(!p.too_many_missed);
        // Years off (a wrong clock): still one Job and a warning, quickly.
        let started = std::time::Instant::now();
        let p = plan_at(&cj, "2036-03-01T10:00:30Z");
        assert!(p.too_many_missed);
        assert_eq!(p.step, Step::Start { scheduled: utc("2036-03-01T10:00:00Z"), replace: false });
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn starting_deadline_limits_how_far_back_it_looks() {
        let mut cj = cron_job("0 * * * *", "2026-03-01T00:00:00Z", Some("2026-03-01T08:00:00Z"));
        cj.spec.starting_deadline_seconds = Some(600);
        // 10:05: 10:00 is within the 10-minute window.
        assert_eq!(plan_at(&cj, "2026-03-01T10:05:00Z").step, Step::Start { scheduled: utc("2026-03-01T10:00:00Z"), replace: false });
        // 10:20: 10:00 is past the window, and nothing older counts: wait for 11:00.
        let p = plan_at(&cj, "2026-03-01T10:20:00Z");
        assert_eq!(p.step, Step::Wait);
        assert_eq!(p.requeue, Some(Duration::from_secs(40 * 60) + NEXT_SCHEDULE_DELTA));
        // The deadline window also keeps "too many missed" from triggering.
        let cj2 = {
            let mut c = cron_job("*/1 * * * *", "2026-03-01T00:00:00Z", Some("2026-03-01T01:00:00Z"));
            c.spec.starting_deadline_seconds = Some(120);
            c
        };
        let p = plan_at(&cj2, "2026-03-01T09:00:30Z");
        assert!(!p.too_many_missed);
        assert_eq!(p.step, Step::Start { scheduled: utc("2026-03-01T09:00:00Z"), replace: false });
    }

    #[test]
    fn a_time_past_the_deadline_is_skipped() {
        // A 30 s deadline: 20 s late still starts; 45 s late is outside the window and
        // is not started at all (the next run is 10:05). Upstream's `tooLate` check after
        // the window can no longer fire since the window moved into the search; it stays
        // as `Step::TooLate` for parity.
        let mut cj = cron_job("*/5 * * * *", "2026-03-01T09:00:00Z", Some("2026-03-01T09:55:00Z"));
        cj.spec.starting_deadline_seconds = Some(30);
        assert_eq!(plan_at(&cj, "2026-03-01T10:00:20Z").step, Step::Start { scheduled: utc("2026-03-01T10:00:00Z"), replace: false });
        let p = plan_at(&cj, "2026-03-01T10:00:45Z");
        assert_eq!(p.step, Step::Wait);
        assert_eq!(p.requeue, Some(Duration::from_secs(255) + NEXT_SCHEDULE_DELTA));
    }

    #[test]
    fn time_zones_and_macros() {
        let mut cj = cron_job("@daily", "2026-03-01T00:00:00Z", Some("2026-03-10T15:00:00Z"));
        cj.spec.time_zone = Some("Asia/Tokyo".into());
        let tokyo = Zone::parse(Some("Asia/Tokyo")).unwrap();
        let s = Schedule::parse("@daily").unwrap();
        // Midnight in Tokyo is 15:00 UTC.
        let p = plan(&cj, &s, tokyo, utc("2026-03-11T15:00:10Z")).unwrap();
        assert_eq!(p.step, Step::Start { scheduled: utc("2026-03-11T15:00:00Z"), replace: false });
        assert_eq!(p.requeue, Some(Duration::from_secs(24 * 3600 - 10) + NEXT_SCHEDULE_DELTA));
        for (m, next) in [("@hourly", "2026-03-11T16:00:00Z"), ("@weekly", "2026-03-14T15:00:00Z"), ("@monthly", "2026-03-31T15:00:00Z"), ("@yearly", "2026-12-31T15:00:00Z")] {
            let s = Schedule::parse(m).unwrap();
            let t = Times { created: utc("2026-03-11T15:00:30Z"), last_schedule: None, starting_deadline_seconds: None };
            let r = requeue_after(&t, utc("2026-03-11T15:00:30Z"), &s, tokyo).unwrap();
            assert_eq!(r, (utc(next) - utc("2026-03-11T15:00:30Z")).to_std().unwrap() + NEXT_SCHEDULE_DELTA, "{m}");
        }
    }

    #[test]
    fn never_firing_schedules_are_errors() {
        let cj = cron_job("0 0 30 2 *", "2026-03-01T00:00:00Z", None);
        let s = Schedule::parse("0 0 30 2 *").unwrap();
        assert_eq!(plan(&cj, &s, utc_zone(), utc("2026-03-02T00:00:00Z")), Err(PlanError::Never));
        assert_eq!(requeue_after(&Times::of(&cj), utc("2026-03-02T00:00:00Z"), &s, utc_zone()), None);
    }
}
