//! Graceful deletion: how long a deleted object may linger before it is removed, decided
//! per kind (upstream's `RESTGracefulDeleteStrategy.CheckGracefulDelete`) and applied to
//! one delete request as upstream's `rest.BeforeDelete` does.
//!
//! A kind with a strategy (today only Pod) is kept after a DELETE with
//! `metadata.deletionTimestamp = now + grace` and `metadata.deletionGracePeriodSeconds =
//! grace`, until whoever runs it (the node) deletes it again with grace 0. A later delete
//! may shorten the grace, never lengthen it; grace 0 removes the object at once (finalizers
//! still hold it). Kinds without a strategy are deleted at once, or wait for their
//! finalizers, as before. Everything here is pure: the registry asks [`decide`] and writes.

use chrono::{DateTime, Utc};

use api::model::{ObjectMeta, Pod};
use api::time::{parse, rfc3339};

use crate::admission::Object;

/// A pod's grace when its spec names none (upstream's default
/// `terminationGracePeriodSeconds`).
pub const DEFAULT_POD_GRACE_SECONDS: i64 = 30;

/// What a delete does about grace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grace {
    /// The kind has no graceful deletion, or the object's grace is already spent: it goes
    /// now (or waits for its finalizers with grace 0), as any kind's delete does.
    None,
    /// The object is already being deleted gracefully and this request does not shorten
    /// that: nothing changes (finalizers are not touched either, as upstream).
    Pending,
    /// Stamp the object with this deletionTimestamp and deletionGracePeriodSeconds; with
    /// `seconds` 0 it goes at once unless finalizers hold it.
    Stamp { deletion_timestamp: String, seconds: i64 },
}

impl Grace {
    /// Whether the object is kept for a grace period (not removed by this request).
    pub fn lingers(&self) -> bool {
        matches!(self, Grace::Stamp { seconds, .. } if *seconds > 0)
    }
}

/// The kind's grace for deleting `obj` now with `requested` (the request's
/// `gracePeriodSeconds`); None when the kind has no graceful deletion.
pub fn kind_grace(obj: &dyn Object, requested: Option<i64>) -> Option<i64> {
    obj.downcast_ref::<Pod>().map(|pod| pod_grace(pod, requested))
}

/// A pod's grace (upstream's pod strategy): the requested grace, else the pod's
/// `terminationGracePeriodSeconds`, else 30; 0 for a pod no node runs (unbound) or that
/// has finished (Succeeded, Failed); a negative value counts as 1.
pub fn pod_grace(pod: &Pod, requested: Option<i64>) -> i64 {
    let unbound = pod.spec.node_name.as_deref().is_none_or(str::is_empty);
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let finished = matches!(phase, Some("Succeeded" | "Failed"));
    if unbound || finished {
        return 0;
    }
    let period = requested.or(pod.spec.termination_grace_period_seconds).unwrap_or(DEFAULT_POD_GRACE_SECONDS);
    if period < 0 {
        1
    } else {
        period
    }
}

/// What a delete of `obj` asking for `requested` seconds does about grace at `now`.
pub fn decide(obj: &dyn Object, requested: Option<i64>, now: DateTime<Utc>) -> Grace {
    let requested = requested.map(|g| if g < 0 { 1 } else { g });
    let meta = obj.metadata();
    if meta.is_deleting() {
        // The strategy's answer does not matter once deleting, only whether there is one.
        return match kind_grace(obj, None) {
            Some(_) => shorten(meta, requested),
            None => Grace::None,
        };
    }
    match kind_grace(obj, requested) {
        Some(seconds) => Grace::Stamp { deletion_timestamp: rfc3339(now + chrono::Duration::seconds(seconds)), seconds },
        None => Grace::None,
    }
}

/// A delete of an object already being deleted gracefully: only a shorter grace changes
/// anything (the deadline moves back by the difference); a spent grace (0, or none
/// recorded) means "remove it now".
fn shorten(meta: &ObjectMeta, requested: Option<i64>) -> Grace {
    let current = match meta.deletion_grace_period_seconds {
        None | Some(0) => return Grace::None,
        Some(c) => c,
    };
    let Some(wanted) = requested.filter(|w| *w < current) else {
        return Grace::Pending;
    };
    let deadline = meta.deletion_timestamp.as_deref().and_then(parse).unwrap_or_else(Utc::now);
    let moved = deadline - chrono::Duration::seconds(current - wanted);
    Grace::Stamp { deletion_timestamp: rfc3339(moved), seconds: wanted }
}

/// Whether an object being deleted has no grace left to wait for: its last finalizer
/// removed, it goes (upstream's `ShouldDeleteDuringUpdate`); one still in its grace
/// period waits for the delete that ends it.
pub fn grace_spent(meta: &ObjectMeta) -> bool {
    meta.deletion_grace_period_seconds.unwrap_or(0) == 0
}

/// When a pod's grace ends (its deletionTimestamp), if it is being deleted.
pub fn grace_deadline(meta: &ObjectMeta) -> Option<DateTime<Utc>> {
    meta.deletion_timestamp.as_deref().and_then(parse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Namespace, PodStatus};

    fn now() -> DateTime<Utc> {
        parse("2026-01-01T00:00:00Z").expect("time")
    }

    fn pod(node: Option<&str>, phase: Option<&str>, spec_grace: Option<i64>) -> Pod {
        let mut p = Pod::default();
        p.spec.node_name = node.map(str::to_string);
        p.spec.termination_grace_period_seconds = spec_grace;
        p.status = phase.map(|ph| PodStatus { phase: Some(ph.into()), ..Default::default() });
        p
    }

    #[test]
    fn a_bound_pod_takes_the_request_then_its_spec_then_thirty_seconds() {
        assert_eq!(pod_grace(&pod(Some("n"), Some("Running"), Some(10)), Some(5)), 5);
        assert_eq!(pod_grace(&pod(Some("n"), Some("Running"), Some(10)), None), 10);
        assert_eq!(pod_grace(&pod(Some("n"), None, None), None), 30);
        assert_eq!(pod_grace(&pod(Some("n"), None, None), Some(0)), 0);
        assert_eq!(pod_grace(&pod(Some("n"), None, Some(-3)), None), 1, "negative counts as 1");
    }

    #[test]
    fn unbound_and_finished_pods_have_no_grace() {
        assert_eq!(pod_grace(&pod(None, None, Some(10)), Some(20)), 0);
        assert_eq!(pod_grace(&pod(Some(""), None, Some(10)), None), 0);
        assert_eq!(pod_grace(&pod(Some("n"), Some("Succeeded"), Some(10)), None), 0);
        assert_eq!(pod_grace(&pod(Some("n"), Some("Failed"), None), Some(5)), 0);
    }

    #[test]
    fn a_first_delete_stamps_now_plus_grace() {
        let p = pod(Some("n"), Some("Running"), None);
        let g = decide(&p, None, now());
        assert_eq!(g, Grace::Stamp { deletion_timestamp: "2026-01-01T00:00:30Z".into(), seconds: 30 });
        assert!(g.lingers());
        let g = decide(&p, Some(-5), now());
        assert_eq!(g, Grace::Stamp { deletion_timestamp: "2026-01-01T00:00:01Z".into(), seconds: 1 });
        let forced = decide(&p, Some(0), now());
        assert_eq!(forced, Grace::Stamp { deletion_timestamp: "2026-01-01T00:00:00Z".into(), seconds: 0 });
        assert!(!forced.lingers());
    }

    #[test]
    fn kinds_without_a_strategy_have_no_grace() {
        let ns = Namespace::default();
        assert_eq!(decide(&ns, Some(30), now()), Grace::None);
        let mut deleting = Namespace::default();
        deleting.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        deleting.metadata.deletion_grace_period_seconds = Some(30);
        assert_eq!(decide(&deleting, Some(0), now()), Grace::None);
    }

    fn terminating(grace: Option<i64>) -> Pod {
        let mut p = pod(Some("n"), Some("Running"), None);
        p.metadata.deletion_timestamp = Some("2026-01-01T00:00:30Z".into());
        p.metadata.deletion_grace_period_seconds = grace;
        p
    }

    #[test]
    fn a_later_delete_may_only_shorten_the_grace() {
        let p = terminating(Some(30));
        assert_eq!(decide(&p, None, now()), Grace::Pending);
        assert_eq!(decide(&p, Some(30), now()), Grace::Pending);
        assert_eq!(decide(&p, Some(60), now()), Grace::Pending, "never lengthened");
        assert_eq!(decide(&p, Some(10), now()), Grace::Stamp { deletion_timestamp: "2026-01-01T00:00:10Z".into(), seconds: 10 });
        assert_eq!(decide(&p, Some(0), now()), Grace::Stamp { deletion_timestamp: "2026-01-01T00:00:00Z".into(), seconds: 0 });
    }

    #[test]
    fn a_spent_grace_means_delete_now() {
        assert_eq!(decide(&terminating(Some(0)), None, now()), Grace::None);
        assert_eq!(decide(&terminating(None), Some(10), now()), Grace::None);
        assert!(grace_spent(&terminating(Some(0)).metadata));
        assert!(grace_spent(&terminating(None).metadata));
        assert!(!grace_spent(&terminating(Some(5)).metadata));
    }
}
