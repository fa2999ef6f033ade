//! A StatefulSet's status from its pods (pure, upstream's `computeReplicaStatus`,
//! `completeRollingUpdate`), and how long until a ready pod becomes available.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use api::model::{Pod, StatefulSet, StatefulSetStatus};

use super::identity::{pod_revision, replicas_of};
use crate::controllers::{pod_is_available, pod_is_ready, pod_ready_since};

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// The status the set's pods imply. `current` and `update` name the revisions; a finished
/// rolling update makes the update revision the current one.
pub fn compute(
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    current: &str,
    update: &str,
    collision_count: i32,
    now: DateTime<Utc>,
) -> StatefulSetStatus {
    let min_ready = set.spec.min_ready_seconds.unwrap_or(0);
    let mut st = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(current.to_string()),
        update_revision: Some(update.to_string()),
        collision_count: Some(collision_count),
        conditions: set.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default(),
        ..Default::default()
    };
    for p in pods {
        st.replicas += 1;
        if running(p) && pod_is_ready(p) {
            st.ready_replicas += 1;
            if pod_is_available(p, min_ready, now) {
                st.available_replicas += 1;
            }
        }
        if !p.metadata.is_deleting() {
            let rev = pod_revision(p);
            if rev == current {
                st.current_replicas += 1;
            }
            if rev == update {
                st.updated_replicas += 1;
            }
        }
    }
    let rolling = set.spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate";
    let want = replicas_of(set);
    if rolling && st.updated_replicas == want && st.ready_replicas == want && st.replicas == want {
        st.current_replicas = st.updated_replicas;
        st.current_revision = st.update_revision.clone();
    }
    st
}

/// How long until the next ready pod has been ready for `minReadySeconds` (None: no such pod).
pub fn next_available_in(set: &StatefulSet, pods: &[Arc<Pod>], now: DateTime<Utc>) -> Option<Duration> {
    let min_ready = set.spec.min_ready_seconds.unwrap_or(0);
    if min_ready <= 0 {
        return None;
    }
    pods.iter()
        .filter_map(|p| pod_ready_since(p).flatten())
        .map(|since| since + chrono::Duration::seconds(i64::from(min_ready)) - now)
        .filter(|left| *left > chrono::Duration::zero())
        .map(|left| left.to_std().unwrap_or_default() + Duration::from_millis(100))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Condition, PodStatus};

    fn pod(name: &str, rev: &str, phase: &str, ready_at: Option<&str>) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.labels.insert(super::super::identity::REVISION_LABEL.into(), rev.into());
        let mut st = PodStatus { phase: Some(phase.into()), ..Default::default() };
        if let Some(t) = ready_at {
            st.conditions.push(Condition { type_: "Ready".into(), status: "True".into(), last_transition_time: Some(t.into()), ..Default::default() });
        }
        p.status = Some(st);
        Arc::new(p)
    }

    #[test]
    fn counts_and_completion_of_a_rolling_update() {
        let mut set = StatefulSet::default();
        set.spec.replicas = Some(3);
        set.metadata.generation = 4;
        set.spec.min_ready_seconds = Some(30);
        let now: DateTime<Utc> = "2026-01-01T00:01:00Z".parse().unwrap();
        let pods = vec![
            pod("web-0", "a", "Running", Some("2026-01-01T00:00:00Z")),
            pod("web-1", "a", "Running", Some("2026-01-01T00:00:50Z")),
            pod("web-2", "b", "Pending", None),
        ];
        let st = compute(&set, &pods, "a", "b", 0, now);
        assert_eq!((st.replicas, st.ready_replicas, st.available_replicas), (3, 2, 1));
        assert_eq!((st.current_replicas, st.updated_replicas), (2, 1));
        assert_eq!((st.current_revision.as_deref(), st.update_revision.as_deref()), (Some("a"), Some("b")));
        assert_eq!((st.observed_generation, st.collision_count), (4, Some(0)));
        let wait = next_available_in(&set, &pods, now).unwrap();
        assert!(wait >= Duration::from_secs(20) && wait < Duration::from_secs(21), "{wait:?}");

        let done: Vec<Arc<Pod>> = (0..3).map(|i| pod(&format!("web-{i}"), "b", "Running", Some("2026-01-01T00:00:00Z"))).collect();
        let st = compute(&set, &done, "a", "b", 0, now);
        assert_eq!((st.current_revision.as_deref(), st.current_replicas, st.updated_replicas), (Some("b"), 3, 3));
        assert_eq!(next_available_in(&set, &done, now), None);
    }
}
