//! Job conditions as upstream writes them (`ensureJobConditionStatus`, `newCondition`):
//! a condition changes only when its status does; a False condition is never added.

use api::model::{Condition, JobStatus};

/// The condition types and reasons of batch/v1.
pub mod names {
    pub const COMPLETE: &str = "Complete";
    pub const FAILED: &str = "Failed";
    pub const SUSPENDED: &str = "Suspended";
    pub const FAILURE_TARGET: &str = "FailureTarget";
    pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
    pub const BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";
    pub const MAX_FAILED_INDEXES_EXCEEDED: &str = "MaxFailedIndexesExceeded";
    pub const FAILED_INDEXES: &str = "FailedIndexes";
    pub const COMPLETIONS_REACHED: &str = "CompletionsReached";
    pub const SUCCESS_POLICY: &str = "SuccessPolicy";
}

/// The Job's condition of this type, if True.
pub fn true_condition<'a>(st: &'a JobStatus, type_: &str) -> Option<&'a Condition> {
    st.conditions.iter().find(|c| c.type_ == type_ && c.status == "True")
}

/// A new condition stamped `now`.
pub fn condition(type_: &str, status: &str, reason: &str, message: &str, now: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        last_probe_time: Some(now.into()),
        last_transition_time: Some(now.into()),
        reason: Some(reason.into()),
        message: Some(message.into()),
        ..Default::default()
    }
}

/// Sets the condition's status (and reason, message, times) if it differs; adds it only
/// when True. Returns whether anything changed.
pub fn ensure(conds: &mut Vec<Condition>, type_: &str, status: &str, reason: &str, message: &str, now: &str) -> bool {
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status => false,
        Some(c) => {
            *c = condition(type_, status, reason, message, now);
            true
        }
        None if status == "True" => {
            conds.push(condition(type_, status, reason, message, now));
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn false_conditions_are_never_added_and_unchanged_ones_keep_their_time() {
        let mut c = Vec::new();
        assert!(!ensure(&mut c, "Suspended", "False", "JobResumed", "Job resumed", "t0"));
        assert!(c.is_empty());
        assert!(ensure(&mut c, "Suspended", "True", "JobSuspended", "Job suspended", "t1"));
        assert!(!ensure(&mut c, "Suspended", "True", "JobSuspended", "Job suspended", "t2"));
        assert_eq!(c[0].last_transition_time.as_deref(), Some("t1"));
        assert!(ensure(&mut c, "Suspended", "False", "JobResumed", "Job resumed", "t3"));
        assert_eq!((c[0].status.as_str(), c[0].reason.as_deref()), ("False", Some("JobResumed")));
    }
}
