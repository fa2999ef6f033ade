//! Back-off between a Job's pod failures (upstream's `backoff_utils.go`): the n-th
//! consecutive failure since the last success delays the next pod by base · 2ⁿ⁻¹,
//! capped (10 s doubling to 6 min upstream; the base comes from `ControlConfig`). The
//! record is rebuilt from the pods' finish times every reconcile, so it survives restarts.

use std::time::Duration;

use chrono::{DateTime, Utc};

use api::model::Pod;

use crate::controllers::parse_time;

/// When a pod finished: its containers' latest `finishedAt`, else its deletion time.
pub fn finished_at(pod: &Pod) -> Option<DateTime<Utc>> {
    let st = pod.status.as_ref();
    let containers = st.into_iter().flat_map(|s| s.container_statuses.iter().chain(s.init_container_statuses.iter()));
    containers
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_deref())
        .filter_map(|t| parse_time(Some(t)))
        .max()
        .or_else(|| parse_time(pod.metadata.deletion_timestamp.as_deref()))
}

/// Failures after the latest success and the time of the last of them.
/// `outcomes`: (finished at, succeeded) of every finished pod.
pub fn failures_since_success(outcomes: &[(DateTime<Utc>, bool)]) -> (u32, Option<DateTime<Utc>>) {
    let last_success = outcomes.iter().filter(|(_, ok)| *ok).map(|(t, _)| *t).max();
    let failures: Vec<DateTime<Utc>> =
        outcomes.iter().filter(|(t, ok)| !*ok && last_success.is_none_or(|s| *t > s)).map(|(t, _)| *t).collect();
    (failures.len() as u32, failures.iter().max().copied())
}

/// The delay after `failures` consecutive failures.
pub fn delay(base: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(failures.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// How long until the next pod may be created (zero: now).
pub fn remaining(now: DateTime<Utc>, last_failure: Option<DateTime<Utc>>, delay: Duration) -> Duration {
    let Some(last) = last_failure else { return Duration::ZERO };
    let due = last + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
    (due - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn ten_seconds_doubling_capped_at_six_minutes() {
        let (b, m) = (Duration::from_secs(10), Duration::from_secs(360));
        let d: Vec<u64> = (0..8).map(|n| delay(b, m, n).as_secs()).collect();
        assert_eq!(d, [0, 10, 20, 40, 80, 160, 320, 360]);
        assert_eq!(delay(b, m, 200), m);
    }

    #[test]
    fn a_success_resets_the_count() {
        let outcomes = [(t(0), false), (t(5), true), (t(8), false), (t(9), false)];
        assert_eq!(failures_since_success(&outcomes), (2, Some(t(9))));
        assert_eq!(failures_since_success(&[(t(1), true)]), (0, None));
        let left = remaining(t(12), Some(t(9)), Duration::from_secs(20));
        assert_eq!(left, Duration::from_secs(17));
        assert_eq!(remaining(t(40), Some(t(9)), Duration::from_secs(20)), Duration::ZERO);
    }
}
