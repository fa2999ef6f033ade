//! Deployment status: counts from the ReplicaSets, and the Progressing/Available conditions.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::sync::Sets;
use super::{max_surge_unavailable, replicas_of};
use crate::controller::{Action, Cx, ReconcileError};
use crate::controllers::parse_time;
use api::model::{find_condition, Condition, Deployment, DeploymentStatus};
use crate::registry::{RegistryError, UpdateScope};

pub const PROGRESSING: &str = "Progressing";
pub const AVAILABLE: &str = "Available";
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

use api::time::rfc3339 as fmt;

fn condition(type_: &str, status: &str, reason: &str, message: String, now: DateTime<Utc>) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(fmt(now)),
        last_transition_time: Some(fmt(now)),
        ..Default::default()
    }
}

/// Kubernetes' `SetDeploymentCondition`: same status and reason → unchanged (times kept);
/// same status → the transition time is kept.
pub fn set_condition(conds: &mut Vec<Condition>, mut c: Condition) {
    if let Some(cur) = conds.iter().find(|x| x.type_ == c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

/// Counts over the ReplicaSets (Kubernetes' `calculateStatus`) plus the Available condition.
pub fn calculate(d: &Deployment, sets: &Sets, now: DateTime<Utc>) -> DeploymentStatus {
    let sum = |f: fn(&api::model::ReplicaSetStatus) -> i32| -> i32 {
        sets.all().filter_map(|rs| rs.status.as_ref()).map(f).sum()
    };
    let want = replicas_of(d);
    let available = sum(|s| s.available_replicas);
    let mut st = d.status.clone().unwrap_or_default();
    st.observed_generation = d.metadata.generation;
    st.replicas = sum(|s| s.replicas);
    st.updated_replicas = sets.new.as_ref().and_then(|rs| rs.status.as_ref()).map(|s| s.replicas).unwrap_or(0);
    st.ready_replicas = sum(|s| s.ready_replicas);
    st.available_replicas = available;
    st.unavailable_replicas = (want - available).max(0);
    let (_, max_unavailable) = max_surge_unavailable(d);
    let c = if available >= want - max_unavailable {
        condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.".into(), now)
    } else {
        condition(AVAILABLE, "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.".into(), now)
    };
    set_condition(&mut st.conditions, c);
    st
}

/// Every replica updated and available, and this generation observed.
pub fn is_complete(d: &Deployment, st: &DeploymentStatus) -> bool {
    let want = replicas_of(d);
    st.updated_replicas == want
        && st.replicas == want
        && st.available_replicas == want
        && st.observed_generation >= d.metadata.generation
}

/// Progress since the last status: more updated, ready or available pods, or fewer old ones.
fn is_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    new.updated_replicas > old.updated_replicas
        || (new.replicas - new.updated_replicas) < (old.replicas - old.updated_replicas)
        || new.ready_replicas > old.ready_replicas
        || new.available_replicas > old.available_replicas
}

fn deadline(d: &Deployment) -> Option<chrono::Duration> {
    d.spec.progress_deadline_seconds.map(|s| chrono::Duration::seconds(i64::from(s)))
}

/// The full new status and, while a rollout is under way, how long until its deadline
/// (pure). `created` names a ReplicaSet created in this sync.
pub fn compute(d: &Deployment, sets: &Sets, created: Option<&str>, now: DateTime<Utc>) -> (DeploymentStatus, Option<Duration>) {
    let old = d.status.clone().unwrap_or_default();
    let mut st = calculate(d, sets, now);
    let paused = d.spec.paused.unwrap_or(false);
    let cur = find_condition(&st.conditions, PROGRESSING).cloned();
    if paused {
        set_condition(&mut st.conditions, condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused".into(), now));
        return (st, None);
    }
    if cur.as_ref().and_then(|c| c.reason.as_deref()) == Some(PAUSED) {
        set_condition(&mut st.conditions, condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed".into(), now));
    }
    let Some(limit) = deadline(d) else { return (st, None) };
    let new_name = sets.new.as_ref().map(|rs| rs.metadata.name.clone()).unwrap_or_default();
    if let Some(name) = created {
        set_condition(
            &mut st.conditions,
            condition(PROGRESSING, "True", NEW_RS_CREATED, format!("Created new replica set {name:?}"), now),
        );
    } else if cur.is_none() && sets.new.is_some() {
        set_condition(
            &mut st.conditions,
            condition(PROGRESSING, "True", FOUND_NEW_RS, format!("Found new replica set {new_name:?}"), now),
        );
    }
    let cur = find_condition(&st.conditions, PROGRESSING).cloned();
    let already_complete =
        st.replicas == st.updated_replicas && cur.as_ref().and_then(|c| c.reason.as_deref()) == Some(NEW_RS_AVAILABLE);
    if already_complete {
        return (st, None);
    }
    if is_complete(d, &st) {
        let c = condition(PROGRESSING, "True", NEW_RS_AVAILABLE, format!("ReplicaSet {new_name:?} has successfully progressed."), now);
        set_condition(&mut st.conditions, c);
        return (st, None);
    }
    if created.is_none() && is_progressing(&old, &st) {
        let mut c = condition(PROGRESSING, "True", RS_UPDATED, format!("ReplicaSet {new_name:?} is progressing."), now);
        if let Some(cur) = cur.as_ref().filter(|c| c.status == "True") {
            c.last_transition_time = cur.last_transition_time.clone();
        }
        // Progress refreshes lastUpdateTime, which restarts the deadline.
        st.conditions.retain(|x| x.type_ != PROGRESSING);
        st.conditions.push(c);
        return (st, Some(limit.to_std().unwrap_or_default()));
    }
    let cur = find_condition(&st.conditions, PROGRESSING).cloned();
    match cur {
        Some(c) if c.reason.as_deref() == Some(TIMED_OUT) => (st, None),
        Some(c) => {
            let from = parse_time(c.last_update_time.as_deref()).unwrap_or(now);
            let due = from + limit;
            if now >= due {
                let t = condition(PROGRESSING, "False", TIMED_OUT, format!("ReplicaSet {new_name:?} has timed out progressing."), now);
                set_condition(&mut st.conditions, t);
                (st, None)
            } else {
                let left = (due - now).to_std().unwrap_or_default() + Duration::from_secs(1);
                (st, Some(left))
            }
        }
        None => (st, None),
    }
}

/// Writes the status (Status scope) when it differs from the stored one; returns the
/// requeue for the progress deadline.
pub async fn sync(d: &Deployment, sets: &Sets, created: Option<&str>, cx: &Cx) -> Result<Action, ReconcileError> {
    let (st, wait) = compute(d, sets, created, Utc::now());
    if d.status.as_ref() != Some(&st) {
        let uid = d.metadata.uid.clone();
        let res = cx
            .modify::<Deployment>(d.metadata.namespace.as_deref(), &d.metadata.name, UpdateScope::Status, |dd| {
                if dd.metadata.uid != uid || dd.status.as_ref() == Some(&st) {
                    return false;
                }
                dd.status = Some(st.clone());
                true
            })
            .await;
        match res {
            Ok(_) | Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(match wait {
        Some(w) => Action::requeue(w),
        None => Action::await_change(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::deployment::sync::tests::{deployment, rs_for};

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn converged_deployment_writes_status_once_then_nothing() {
        let mut d = deployment(3, "hello:v1");
        let sets = Sets { new: Some(rs_for(&d, 1, 3, 3, "2026-01-01T00:00:00Z")), old: vec![] };
        let (st, wait) = compute(&d, &sets, None, at("2026-01-01T00:01:00Z"));
        assert_eq!((st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas, st.unavailable_replicas), (3, 3, 3, 3, 0));
        assert_eq!(find_condition(&st.conditions, PROGRESSING).unwrap().reason.as_deref(), Some(NEW_RS_AVAILABLE));
        assert!(find_condition(&st.conditions, AVAILABLE).unwrap().is_true());
        assert_eq!(wait, None);
        d.status = Some(st.clone());
        let (again, _) = compute(&d, &sets, None, at("2026-01-01T09:00:00Z"));
        assert_eq!(again, st, "idempotent: no status write on a converged deployment");
    }

    #[test]
    fn rollout_progresses_then_times_out_at_the_deadline() {
        let mut d = deployment(3, "hello:v2");
        d.spec.progress_deadline_seconds = Some(60);
        let old = rs_for(&deployment(3, "hello:v1"), 1, 3, 3, "2026-01-01T00:00:00Z");
        let new = rs_for(&d, 2, 1, 0, "2026-01-01T00:00:00Z");
        let sets = Sets { new: Some(new), old: vec![old] };
        let (st, wait) = compute(&d, &sets, Some("web-x"), at("2026-01-01T00:00:00Z"));
        assert_eq!(find_condition(&st.conditions, PROGRESSING).unwrap().reason.as_deref(), Some(NEW_RS_CREATED));
        assert!(wait.is_some(), "requeued for the deadline");
        d.status = Some(st);
        let (st, wait) = compute(&d, &sets, None, at("2026-01-01T00:00:30Z"));
        let w = wait.unwrap();
        assert!(w >= Duration::from_secs(30) && w <= Duration::from_secs(31), "{w:?}");
        d.status = Some(st);
        let (st, wait) = compute(&d, &sets, None, at("2026-01-01T00:01:01Z"));
        let c = find_condition(&st.conditions, PROGRESSING).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some(TIMED_OUT)));
        assert_eq!(wait, None);
    }

    #[test]
    fn availability_and_pause_conditions() {
        let mut d = deployment(4, "hello:v1");
        // 25% of 4: one may be unavailable.
        let sets = Sets { new: Some(rs_for(&d, 1, 4, 2, "2026-01-01T00:00:00Z")), old: vec![] };
        let st = calculate(&d, &sets, at("2026-01-01T00:00:00Z"));
        let c = find_condition(&st.conditions, AVAILABLE).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some(MIN_UNAVAILABLE)));
        assert_eq!(st.unavailable_replicas, 2);
        d.spec.paused = Some(true);
        let (st, wait) = compute(&d, &sets, None, at("2026-01-01T00:00:00Z"));
        let c = find_condition(&st.conditions, PROGRESSING).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("Unknown", Some(PAUSED)));
        assert_eq!(wait, None);
    }
}
