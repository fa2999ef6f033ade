//! The scheduler's writes: bind (spec.nodeName, then PodScheduled=True) and report
//! unschedulable pods (PodScheduled=False), each only when still needed.

use super::plan::{REASON_SCHEDULING_GATED, SCHEDULING_GATED_MESSAGE};
use crate::controller::Cx;
use api::model::{Condition, Pod, PodStatus};
use crate::registry::{now_rfc3339, RegistryError, UpdateScope};

/// Sets a condition, keeping `lastTransitionTime` when the status does not change.
/// Returns whether anything changed.
pub fn set_condition(conditions: &mut Vec<Condition>, mut c: Condition) -> bool {
    match conditions.iter_mut().find(|x| x.type_ == c.type_) {
        Some(old) => {
            if old.status == c.status && old.reason == c.reason && old.message == c.message {
                return false;
            }
            if old.status == c.status {
                c.last_transition_time = old.last_transition_time.clone();
            }
            *old = c;
            true
        }
        None => {
            conditions.push(c);
            true
        }
    }
}

fn scheduled(status: bool, reason: Option<&str>, message: Option<&str>) -> Condition {
    Condition {
        reason: reason.map(Into::into),
        message: message.map(Into::into),
        last_transition_time: Some(now_rfc3339()),
        ..Condition::new("PodScheduled", status)
    }
}

/// Writes `spec.nodeName` if the pod is still unbound, then marks it scheduled.
/// A pod that is gone or was bound by someone else is not an error.
pub async fn bind(cx: &Cx, pod: &Pod, node: &str) -> Result<(), RegistryError> {
    let ns = pod.metadata.namespace.as_deref();
    let name = pod.metadata.name.as_str();
    // Fast path: a compare-and-swap on the cached version.
    let mut want = pod.clone();
    want.spec.node_name = Some(node.to_string());
    let bound = match cx.update(want, UpdateScope::Main).await {
        Ok(p) => p,
        Err(RegistryError::NotFound { .. }) => return Ok(()),
        Err(RegistryError::Conflict { .. }) => {
            let mut ours = false;
            let res = cx
                .modify::<Pod>(ns, name, UpdateScope::Main, |p| {
                    ours = p.spec.node_name.as_deref().unwrap_or("").is_empty() && !p.metadata.is_deleting();
                    if ours {
                        p.spec.node_name = Some(node.to_string());
                    }
                    ours
                })
                .await;
            match res {
                Ok(p) if ours => p,
                Ok(_) | Err(RegistryError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    cx.event(&bound, "Normal", "Scheduled", format!("Successfully assigned {}/{name} to {node}", ns.unwrap_or("default")));
    let mut with_status = bound;
    let changed = set_condition(
        &mut with_status.status.get_or_insert_with(PodStatus::default).conditions,
        scheduled(true, None, None),
    );
    if !changed {
        return Ok(());
    }
    match cx.update(with_status, UpdateScope::Status).await {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(RegistryError::Conflict { .. }) => {
            // Someone (the node) wrote status in between: set just our condition.
            let res = cx
                .modify::<Pod>(ns, name, UpdateScope::Status, |p| {
                    set_condition(&mut p.status.get_or_insert_with(PodStatus::default).conditions, scheduled(true, None, None))
                })
                .await;
            match res {
                Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Records why the pod cannot be placed, writing only when the message changes.
pub async fn mark_unschedulable(cx: &Cx, pod: &Pod, message: &str) -> Result<(), RegistryError> {
    let cond = || scheduled(false, Some("Unschedulable"), Some(message));
    let mut cached = pod.status.clone().unwrap_or_default().conditions;
    if !set_condition(&mut cached, cond()) {
        return Ok(());
    }
    let res = cx
        .modify::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, UpdateScope::Status, |p| {
            if !p.spec.node_name.as_deref().unwrap_or("").is_empty() {
                return false;
            }
            let st = p.status.get_or_insert_with(PodStatus::default);
            if st.phase.is_none() {
                st.phase = Some("Pending".into());
            }
            set_condition(&mut st.conditions, cond())
        })
        .await;
    match res {
        Ok(p) if p.spec.node_name.as_deref().unwrap_or("").is_empty() => {
            cx.event(&p, "Warning", "FailedScheduling", message);
            Ok(())
        }
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Marks a gated pod PodScheduled=False/SchedulingGated (as upstream's API server does
/// for a pod created with gates), while it is still unbound and gated. No Event: the
/// scheduler did not try.
pub async fn mark_gated(cx: &Cx, pod: &Pod) -> Result<(), RegistryError> {
    let cond = || scheduled(false, Some(REASON_SCHEDULING_GATED), Some(SCHEDULING_GATED_MESSAGE));
    let res = cx
        .modify::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, UpdateScope::Status, |p| {
            if !p.spec.node_name.as_deref().unwrap_or("").is_empty() || p.spec.scheduling_gates.is_empty() {
                return false;
            }
            let st = p.status.get_or_insert_with(PodStatus::default);
            if st.phase.is_none() {
                st.phase = Some("Pending".into());
            }
            set_condition(&mut st.conditions, cond())
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_condition_keeps_transition_time_and_reports_no_change() {
        let mut cs = vec![];
        let mut c = scheduled(false, Some("Unschedulable"), Some("0/1 nodes are available."));
        c.last_transition_time = Some("t0".into());
        assert!(set_condition(&mut cs, c.clone()));
        assert!(!set_condition(&mut cs, scheduled(false, Some("Unschedulable"), Some("0/1 nodes are available."))));
        assert!(set_condition(&mut cs, scheduled(false, Some("Unschedulable"), Some("0/2 nodes are available."))));
        assert_eq!(cs[0].last_transition_time.as_deref(), Some("t0"));
        assert!(set_condition(&mut cs, scheduled(true, None, None)));
        assert_ne!(cs[0].last_transition_time.as_deref(), Some("t0"));
        assert_eq!(cs.len(), 1);
    }
}
