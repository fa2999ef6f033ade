//! The disruption controller (upstream's `pkg/controller/disruption`): keeps each
//! PodDisruptionBudget's status — expected pods, current and desired healthy, the
//! disruptions allowed, the `DisruptionAllowed` condition — from the pods its selector
//! matches and the scale of their controllers. `pods/eviction` spends the budget
//! (decrementing `disruptionsAllowed`, noting the pod in `disruptedPods`); this loop
//! forgets a disrupted pod once it is gone, or after [`DELETION_TIMEOUT`] if it never goes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::StreamExt;

use api::model::{
    Condition, IntOrString, Pod, PodDisruptionBudget, PodDisruptionBudgetStatus, ReplicaSet, DISRUPTION_ALLOWED,
};

use super::{parse_time, pod_is_ready};
use crate::controller::{changes_of, changes_of_while, Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::{RegistryError, UpdateScope};

/// How long an evicted pod may take to go before the budget stops counting it as disrupted.
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(120);

const COMPONENT: &str = "controllermanager";

/// What the controllers of the selected pods say: how many pods there should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Count(i32),
    /// Why the count is unknown (an event reason and its message).
    Unknown(&'static str, String),
}

/// The budget's target: (expected pods, desired healthy), or why it cannot be known.
pub fn targets(pdb: &PodDisruptionBudget, pods: usize, scale: impl FnOnce() -> Expected) -> Result<(i32, i32), (&'static str, String)> {
    let s = &pdb.spec;
    let count = |e: Expected| match e {
        Expected::Count(n) => Ok(n),
        Expected::Unknown(r, m) => Err((r, m)),
    };
    let resolve = |v: &IntOrString, total: i32| v.resolve(total, true).map_err(|e| ("CalculateExpectedPodCountFailed", e));
    if let Some(max) = &s.max_unavailable {
        let expected = count(scale())?;
        let max = resolve(max, expected)?;
        return Ok((expected, (expected - max).max(0)));
    }
    match &s.min_available {
        Some(IntOrString::Int(n)) => Ok((i32::try_from(pods).unwrap_or(i32::MAX), *n)),
        Some(v @ IntOrString::String(_)) => {
            let expected = count(scale())?;
            Ok((expected, resolve(v, expected)?))
        }
        None => Ok((0, 0)),
    }
}

/// The status a budget should have: `disrupted` is what the stored status remembers,
/// pruned of pods that are gone, deleting, or past the timeout. Returns the status and
/// when the next disrupted pod times out.
pub fn compute_status(
    pdb: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
    target: Result<(i32, i32), (&'static str, String)>,
    now: DateTime<Utc>,
) -> (PodDisruptionBudgetStatus, Option<DateTime<Utc>>) {
    let old = pdb.status.clone().unwrap_or_default();
    let timeout = chrono::Duration::from_std(DELETION_TIMEOUT).unwrap_or(chrono::Duration::MAX);
    let live: HashMap<&str, &Pod> =
        pods.iter().filter(|p| !p.metadata.is_deleting()).map(|p| (p.metadata.name.as_str(), p.as_ref())).collect();
    let mut disrupted = BTreeMap::new();
    let mut next: Option<DateTime<Utc>> = None;
    for (name, at) in &old.disrupted_pods {
        if !live.contains_key(name.as_str()) {
            continue;
        }
        let Some(t) = parse_time(Some(at)) else { continue };
        let expires = t + timeout;
        if expires <= now {
            continue;
        }
        next = Some(next.map_or(expires, |n| n.min(expires)));
        disrupted.insert(name.clone(), at.clone());
    }
    let healthy = live.values().filter(|p| !disrupted.contains_key(&p.metadata.name) && pod_is_ready(p)).count();
    let current_healthy = i32::try_from(healthy).unwrap_or(i32::MAX);
    let mut status = PodDisruptionBudgetStatus {
        observed_generation: pdb.metadata.generation,
        disrupted_pods: disrupted,
        current_healthy,
        conditions: old.conditions.clone(),
        ..Default::default()
    };
    let (reason, message) = match target {
        Ok((expected, desired)) => {
            status.expected_pods = expected;
            status.desired_healthy = desired;
            status.disruptions_allowed = if expected <= 0 { 0 } else { (current_healthy - desired).max(0) };
            let reason = if status.disruptions_allowed > 0 { "SufficientPods" } else { "InsufficientPods" };
            (reason, String::new())
        }
        Err((_, message)) => {
            // Fail safe: keep what was known, allow nothing.
            status.expected_pods = old.expected_pods;
            status.desired_healthy = old.desired_healthy;
            status.observed_generation = old.observed_generation;
            ("SyncFailed", message)
        }
    };
    let allowed = status.disruptions_allowed > 0;
    set_condition(&mut status, allowed, reason, &message, now);
    (status, next)
}

fn set_condition(status: &mut PodDisruptionBudgetStatus, allowed: bool, reason: &str, message: &str, now: DateTime<Utc>) {
    let want = if allowed { "True" } else { "False" };
    let generation = status.observed_generation;
    let time = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match status.conditions.iter_mut().find(|c| c.type_ == DISRUPTION_ALLOWED) {
        Some(c) => {
            if c.status != want {
                c.status = want.into();
                c.last_transition_time = Some(time);
            }
            c.reason = Some(reason.into());
            c.message = Some(message.into());
            c.observed_generation = Some(generation);
        }
        None => status.conditions.push(Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: want.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            observed_generation: Some(generation),
            last_transition_time: Some(time),
            ..Default::default()
        }),
    }
}

/// Whether two statuses differ in more than the condition's transition time.
fn same(a: &PodDisruptionBudgetStatus, b: &PodDisruptionBudgetStatus) -> bool {
    let strip = |s: &PodDisruptionBudgetStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = None;
        }
        s
    };
    strip(a) == strip(b)
}

/// The pods a budget covers: those of its namespace its selector matches (no selector:
/// none; an empty selector: all).
pub fn selected_pods(pdb: &PodDisruptionBudget, pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
    let Some(sel) = &pdb.spec.selector else { return Vec::new() };
    pods.iter()
        .filter(|p| p.metadata.namespace == pdb.metadata.namespace && sel.matches(&p.metadata.labels))
        .cloned()
        .collect()
}

/// The summed scale of the pods' controllers (a ReplicaSet's Deployment when it has one).
fn expected_scale(caches: &Caches, pods: &[Arc<Pod>]) -> Expected {
    let mut seen = HashSet::new();
    let mut total = 0i32;
    for p in pods {
        let Some(r) = p.metadata.controller_ref() else {
            return Expected::Unknown("NoControllerRef", format!("found no controller ref for pod \"{}\"", p.metadata.name));
        };
        let ns = p.metadata.namespace.as_deref();
        let scale = match r.kind.as_str() {
            "ReplicaSet" => caches.replicasets.get(ns, &r.name).filter(|rs| rs.metadata.uid == r.uid).map(|rs| rs_scale(caches, &rs)),
            "ReplicationController" => caches
                .replicationcontrollers
                .get(ns, &r.name)
                .filter(|rc| rc.metadata.uid == r.uid)
                .map(|rc| (rc.metadata.uid.clone(), rc.spec.replicas.unwrap_or(1))),
            "StatefulSet" => caches
                .statefulsets
                .get(ns, &r.name)
                .filter(|s| s.metadata.uid == r.uid)
                .map(|s| (s.metadata.uid.clone(), s.spec.replicas.unwrap_or(1))),
            _ => None,
        };
        let Some((uid, n)) = scale else {
            return Expected::Unknown("NoControllers", format!("found no controllers for pod \"{}\"", p.metadata.name));
        };
        if seen.insert(uid) {
            total = total.saturating_add(n);
        }
    }
    Expected::Count(total)
}

/// A ReplicaSet's scale, or its Deployment's when a Deployment controls it: (uid, replicas).
fn rs_scale(caches: &Caches, rs: &ReplicaSet) -> (String, i32) {
    if let Some(d) = rs
        .metadata
        .controller_ref()
        .filter(|r| r.kind == "Deployment")
        .and_then(|r| caches.deployments.get(rs.metadata.namespace.as_deref(), &r.name).filter(|d| d.metadata.uid == r.uid))
    {
        return (d.metadata.uid.clone(), d.spec.replicas.unwrap_or(1));
    }
    (rs.metadata.uid.clone(), rs.spec.replicas.unwrap_or(1))
}

/// The loop; remembers the last event per budget so that a steady state reports once.
#[derive(Default)]
pub struct DisruptionController {
    reported: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl Singleton for DisruptionController {
    const NAME: &'static str = "disruption";
    const MIN_INTERVAL: Duration = Duration::from_millis(50);

    fn wakers(c: &Caches) -> BoxStream<'static, ()> {
        futures::stream::select_all(vec![
            changes_of(&c.poddisruptionbudgets),
            changes_of_while(&c.pods, &c.poddisruptionbudgets),
            changes_of_while(&c.replicasets, &c.poddisruptionbudgets),
            changes_of_while(&c.deployments, &c.poddisruptionbudgets),
            changes_of_while(&c.replicationcontrollers, &c.poddisruptionbudgets),
            changes_of_while(&c.statefulsets, &c.poddisruptionbudgets),
        ])
        .boxed()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        cx.catch_up().await;
        let now = Utc::now();
        let mut next: Option<DateTime<Utc>> = None;
        let mut failed = 0usize;
        for pdb in cx.caches().poddisruptionbudgets.list(None) {
            match self.sync(cx, &pdb, now).await {
                Ok(Some(t)) => next = Some(next.map_or(t, |n| n.min(t))),
                Ok(None) => {}
                Err(e) => {
                    failed += 1;
                    tracing::warn!(pdb = %api::model::key_of(pdb.as_ref()), error = %e, "disruption budget sync failed");
                }
            }
        }
        if failed > 0 {
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        Ok(match next {
            Some(t) => Action::requeue((t - now).to_std().unwrap_or_default() + Duration::from_millis(100)),
            None => Action::await_change(),
        })
    }
}

impl DisruptionController {
    fn report(&self, cx: &Cx, pdb: &PodDisruptionBudget, type_: &str, reason: &str, message: &str) {
        let what = format!("{reason}: {message}");
        let mut seen = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if seen.get(&pdb.metadata.uid) != Some(&what) {
            seen.insert(pdb.metadata.uid.clone(), what);
            cx.event_from(COMPONENT, pdb, type_, reason, message);
        }
    }

    async fn sync(&self, cx: &Cx, pdb: &PodDisruptionBudget, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ReconcileError> {
        if pdb.metadata.is_deleting() {
            return Ok(None);
        }
        let all = cx.caches().pods.list(pdb.metadata.namespace.as_deref());
        let pods = selected_pods(pdb, &all);
        let target = targets(pdb, pods.len(), || expected_scale(cx.caches(), &pods));
        match &target {
            Err((reason, message)) => self.report(cx, pdb, "Warning", reason, message),
            Ok(_) if pods.is_empty() => self.report(cx, pdb, "Normal", "NoPods", "No matching pods found"),
            Ok(_) => {}
        }
        let (want, next) = compute_status(pdb, &pods, target.clone(), now);
        if pdb.status.as_ref().is_some_and(|s| same(s, &want)) {
            return Ok(next);
        }
        let uid = pdb.metadata.uid.clone();
        // Recomputed on the stored budget: an eviction may have spent it since the cache.
        let res = cx
            .modify::<PodDisruptionBudget>(pdb.metadata.namespace.as_deref(), &pdb.metadata.name, UpdateScope::Status, |p| {
                if p.metadata.uid != uid {
                    return false;
                }
                let (want, _) = compute_status(p, &pods, target.clone(), now);
                if p.status.as_ref().is_some_and(|s| same(s, &want)) {
                    return false;
                }
                p.status = Some(want);
                true
            })
            .await;
        match res {
            Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(next),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn pdb(spec: Value, status: Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default", "generation": 2},
            "spec": spec, "status": status}))
        .unwrap()
    }

    fn pod(name: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
            .unwrap(),
        )
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2030-01-01T00:10:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn targets_by_spec() {
        let sel = json!({"matchLabels": {"app": "web"}});
        let cases: Vec<(Value, usize, Expected, Result<(i32, i32), &str>)> = vec![
            (json!({"minAvailable": 2, "selector": sel}), 3, Expected::Unknown("NoControllers", "x".into()), Ok((3, 2))),
            (json!({"minAvailable": "50%"}), 3, Expected::Count(5), Ok((5, 3))),
            (json!({"maxUnavailable": 1}), 3, Expected::Count(4), Ok((4, 3))),
            (json!({"maxUnavailable": "30%"}), 3, Expected::Count(4), Ok((4, 2))),
            (json!({"maxUnavailable": 5}), 3, Expected::Count(4), Ok((4, 0))),
            (json!({"maxUnavailable": 1}), 3, Expected::Unknown("NoControllerRef", "x".into()), Err("NoControllerRef")),
            (json!({}), 3, Expected::Count(4), Ok((0, 0))),
        ];
        for (spec, n, scale, want) in cases {
            let got = targets(&pdb(spec.clone(), json!(null)), n, || scale);
            assert_eq!(got.map_err(|(r, _)| r), want, "{spec}");
        }
    }

    #[test]
    fn status_counts_ready_pods_and_spends_none_below_the_minimum() {
        let b = pdb(json!({"minAvailable": 2}), json!(null));
        let pods = vec![pod("a", true), pod("b", true), pod("c", false)];
        let (s, next) = compute_status(&b, &pods, Ok((3, 2)), now());
        assert_eq!((s.current_healthy, s.desired_healthy, s.expected_pods, s.disruptions_allowed), (2, 2, 3, 0));
        assert_eq!(s.observed_generation, 2);
        assert_eq!(next, None);
        let c = find_condition(&s.conditions, DISRUPTION_ALLOWED).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some("InsufficientPods")));
        let pods = vec![pod("a", true), pod("b", true), pod("c", true)];
        let (s, _) = compute_status(&b, &pods, Ok((3, 2)), now());
        assert_eq!(s.disruptions_allowed, 1);
        assert_eq!(find_condition(&s.conditions, DISRUPTION_ALLOWED).unwrap().reason.as_deref(), Some("SufficientPods"));
    }

    #[test]
    fn disrupted_pods_do_not_count_until_gone_or_timed_out() {
        let b = pdb(
            json!({"minAvailable": 1}),
            json!({"disruptedPods": {"a": "2030-01-01T00:09:00Z", "gone": "2030-01-01T00:09:00Z", "old": "2030-01-01T00:00:00Z"},
                   "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}),
        );
        let pods = vec![pod("a", true), pod("b", true), pod("old", true)];
        let (s, next) = compute_status(&b, &pods, Ok((3, 1)), now());
        assert_eq!(s.disrupted_pods.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(s.current_healthy, 2);
        assert_eq!(s.disruptions_allowed, 1);
        assert_eq!(next, Some(DateTime::parse_from_rfc3339("2030-01-01T00:11:00Z").unwrap().with_timezone(&Utc)));
    }

    #[test]
    fn a_failed_sync_allows_nothing() {
        let b = pdb(json!({"maxUnavailable": 1}), json!({"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3, "observedGeneration": 1}));
        let (s, _) = compute_status(&b, &[pod("a", true)], Err(("NoControllerRef", "found no controller ref for pod \"a\"".into())), now());
        assert_eq!(s.disruptions_allowed, 0);
        assert_eq!(s.observed_generation, 1);
        let c = find_condition(&s.conditions, DISRUPTION_ALLOWED).unwrap();
        assert_eq!((c.reason.as_deref(), c.message.as_deref()), (Some("SyncFailed"), Some("found no controller ref for pod \"a\"")));
    }

    #[test]
    fn no_selector_selects_nothing_and_empty_selects_all() {
        let pods = vec![pod("a", true)];
        assert!(selected_pods(&pdb(json!({}), json!(null)), &pods).is_empty());
        assert_eq!(selected_pods(&pdb(json!({"selector": {}}), json!(null)), &pods).len(), 1);
    }

    use api::model::find_condition;
}
