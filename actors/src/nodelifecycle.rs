//! Node lifecycle: marks nodes whose lease lapsed as Ready=Unknown and taints them
//! unreachable, lifts that when they renew, and evicts pods from NoExecute-tainted nodes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Timelike, Utc};
use futures::StreamExt;

use crate::controller::{Action, Cx, ReconcileError, Singleton};
use api::model::{find_condition, Condition, Lease, Node, NodeStatus, Pod, Taint, NODE_LEASE_NAMESPACE};
use crate::registry::{Preconditions, RegistryError, UpdateScope};
use crate::scheduler::fit::{tolerates, EFFECT_NO_EXECUTE, EFFECT_NO_SCHEDULE};

pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const REASON_UNKNOWN: &str = "NodeStatusUnknown";
pub const MESSAGE_UNKNOWN: &str = "Kubelet stopped posting node status.";

const CONCURRENT_EVICTIONS: usize = 64;

pub struct NodeLifecycle;

use api::time::{parse as parse_time, rfc3339};

fn ready_condition(node: &Node) -> Option<&Condition> {
    node.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready"))
}

/// When the node last proved it is alive: its Lease's renewTime, else the Ready
/// condition's lastHeartbeatTime, else its creation.
pub fn last_heartbeat(node: &Node, lease: Option<&Lease>) -> Option<DateTime<Utc>> {
    lease
        .and_then(|l| l.spec.renew_time.as_deref())
        .and_then(parse_time)
        .or_else(|| ready_condition(node).and_then(|c| c.last_heartbeat_time.as_deref()).and_then(parse_time))
        .or_else(|| node.metadata.creation_timestamp.as_deref().and_then(parse_time))
}

/// The Ready condition the node should have now, or None when the stored one is right.
/// A lapsed heartbeat makes it Unknown; a renewed one undoes only our own Unknown (a node
/// that reports False itself stays False).
pub fn desired_ready(node: &Node, stale: bool, now: DateTime<Utc>) -> Option<Condition> {
    let current = ready_condition(node);
    let ours = current.is_some_and(|c| c.status == "Unknown" && c.reason.as_deref() == Some(REASON_UNKNOWN));
    let (status, reason, message) = match (stale, ours) {
        (true, false) => ("Unknown", REASON_UNKNOWN, MESSAGE_UNKNOWN),
        (false, true) => ("True", "KubeletReady", "kubelet is posting ready status"),
        _ => return None,
    };
    Some(Condition {
        type_: "Ready".into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: current.and_then(|c| c.last_heartbeat_time.clone()),
        last_transition_time: Some(rfc3339(now)),
        ..Default::default()
    })
}

/// The taints a node with this Ready status should carry: unreachable (Unknown) or
/// not-ready (False), NoSchedule and NoExecute; other taints are kept. None: unchanged.
pub fn desired_taints(current: &[Taint], ready: Option<&str>, now: DateTime<Utc>) -> Option<Vec<Taint>> {
    let want_key = match ready {
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        Some("False") => Some(TAINT_NOT_READY),
        _ => None,
    };
    let managed = |t: &Taint| t.key == TAINT_UNREACHABLE || t.key == TAINT_NOT_READY;
    let mut out: Vec<Taint> = current.iter().filter(|t| !managed(t) || Some(t.key.as_str()) == want_key).cloned().collect();
    if let Some(key) = want_key {
        for effect in [EFFECT_NO_SCHEDULE, EFFECT_NO_EXECUTE] {
            if !out.iter().any(|t| t.key == key && t.effect == effect) {
                // timeAdded has whole seconds: round up, so that no deadline counted from
                // it comes early.
                let added = now.with_nanosecond(0).filter(|t| *t == now).unwrap_or_else(|| {
                    now.with_nanosecond(0).unwrap_or(now) + chrono::Duration::seconds(1)
                });
                out.push(Taint { key: key.into(), value: None, effect: effect.into(), time_added: Some(rfc3339(added)) });
            }
        }
    }
    (out != current).then_some(out)
}

/// When a pod on a node with these taints must be evicted; None: never. For each NoExecute
/// taint: tolerated → its timeAdded + the smallest tolerationSeconds of the matching
/// tolerations (none given: forever); not tolerated → timeAdded + `default_wait` for the
/// node-health taints (Kubernetes' DefaultTolerationSeconds), at once for any other.
pub fn eviction_deadline(pod: &Pod, taints: &[Taint], default_wait: Duration, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut earliest: Option<DateTime<Utc>> = None;
    for taint in taints.iter().filter(|t| t.effect == EFFECT_NO_EXECUTE) {
        let added = taint.time_added.as_deref().and_then(parse_time).unwrap_or(now);
        let matching: Vec<_> = pod.spec.tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        let wait = if matching.is_empty() {
            if taint.key == TAINT_UNREACHABLE || taint.key == TAINT_NOT_READY {
                chrono::Duration::from_std(default_wait).unwrap_or(chrono::Duration::MAX)
            } else {
                chrono::Duration::zero()
            }
        } else {
            match matching.iter().filter_map(|t| t.toleration_seconds).min() {
                Some(s) => chrono::Duration::seconds(s.max(0)),
                None => continue,
            }
        };
        let at = added.checked_add_signed(wait).unwrap_or(DateTime::<Utc>::MAX_UTC);
        earliest = Some(earliest.map_or(at, |e| e.min(at)));
    }
    earliest
}

fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

#[async_trait]
impl Singleton for NodeLifecycle {
    const NAME: &'static str = "node-lifecycle";
    const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        cx.catch_up().await;
        let now = Utc::now();
        let grace = chrono::Duration::from_std(cx.config().node_grace).unwrap_or(chrono::Duration::MAX);
        let mut next: Option<Duration> = None;
        let mut soonest = |d: Duration| next = Some(next.map_or(d, |n: Duration| n.min(d)));
        let mut failed = 0usize;

        // 1. Node health: Ready condition and taints.
        let mut nodes: Vec<Arc<Node>> = cx.caches().nodes.list(None);
        for node in nodes.iter_mut() {
            let name = node.metadata.name.clone();
            let lease = cx.caches().leases.get(Some(NODE_LEASE_NAMESPACE), &name);
            let last = last_heartbeat(node, lease.as_deref());
            let stale_at = last.and_then(|l| l.checked_add_signed(grace));
            let stale = stale_at.is_none_or(|at| at <= now);
            if let Some(at) = stale_at.filter(|_| !stale) {
                soonest(until(now, at) + Duration::from_millis(100));
            }
            match sync_node(cx, node, stale, now).await {
                Ok(Some(updated)) => *node = Arc::new(updated),
                Ok(None) => {}
                Err(e) => {
                    failed += 1;
                    tracing::warn!(node = %name, error = %e, "node lifecycle: updating node failed");
                }
            }
        }

        // 2. Evictions from nodes with NoExecute taints.
        let tainted: std::collections::HashMap<&str, &[Taint]> = nodes
            .iter()
            .filter(|n| n.spec.taints.iter().any(|t| t.effect == EFFECT_NO_EXECUTE))
            .map(|n| (n.metadata.name.as_str(), n.spec.taints.as_slice()))
            .collect();
        let mut evict: Vec<Arc<Pod>> = Vec::new();
        if !tainted.is_empty() {
            for pod in cx.caches().pods.list(None) {
                if pod.metadata.is_deleting() {
                    continue;
                }
                let Some(taints) = pod.spec.node_name.as_deref().and_then(|n| tainted.get(n)) else { continue };
                match eviction_deadline(&pod, taints, cx.config().eviction_timeout, now) {
                    Some(at) if at <= now => evict.push(pod),
                    Some(at) => soonest(until(now, at) + Duration::from_millis(100)),
                    None => {}
                }
            }
        }
        let results: Vec<_> = futures::stream::iter(evict)
            .map(|pod| async move {
                let pre = Preconditions { uid: Some(pod.metadata.uid.clone()), resource_version: None };
                cx.event(pod.as_ref(), "Normal", "TaintManagerEviction", format!("Marking for deletion Pod {}", crate::informer::key_of(pod.as_ref())));
                let res = cx.delete::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, &pre).await;
                (pod, res)
            })
            .buffer_unordered(CONCURRENT_EVICTIONS)
            .collect()
            .await;
        for (pod, res) in results {
            match res {
                Ok(_) => tracing::info!(pod = %crate::informer::key_of(pod.as_ref()), node = ?pod.spec.node_name, "evicted pod from tainted node"),
                // A different pod of the same name (uid precondition): nothing to evict.
                Err(RegistryError::Conflict { .. }) => {}
                Err(e) => {
                    failed += 1;
                    tracing::warn!(pod = %crate::informer::key_of(pod.as_ref()), error = %e, "eviction failed");
                }
            }
        }

        if failed > 0 {
            soonest(Duration::from_secs(1));
        }
        Ok(next.map_or_else(Action::await_change, Action::requeue))
    }
}

/// Brings one node's Ready condition and taints in line; returns the node as written
/// when anything changed.
async fn sync_node(cx: &Cx, node: &Node, stale: bool, now: DateTime<Utc>) -> Result<Option<Node>, RegistryError> {
    let name = node.metadata.name.as_str();
    let mut written: Option<Node> = None;
    if desired_ready(node, stale, now).is_some() {
        let res = cx
            .modify::<Node>(None, name, UpdateScope::Status, |n| {
                // Decide again on the fresh copy (someone may have written it meanwhile).
                let Some(cond) = desired_ready(n, stale, now) else { return false };
                let st = n.status.get_or_insert_with(NodeStatus::default);
                match st.conditions.iter_mut().find(|c| c.type_ == "Ready") {
                    Some(c) => *c = cond,
                    None => st.conditions.push(cond),
                }
                true
            })
            .await;
        match res {
            Ok(n) => {
                if stale {
                    cx.event(&n, "Normal", "NodeNotReady", format!("Node {name} status is now: NodeNotReady"));
                }
                written = Some(n)
            }
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    let base = written.as_ref().unwrap_or(node);
    let ready = ready_condition(base).map(|c| c.status.clone());
    if desired_taints(&base.spec.taints, ready.as_deref(), now).is_some() {
        let res = cx
            .modify::<Node>(None, name, UpdateScope::Main, |n| {
                let ready = ready_condition(n).map(|c| c.status.clone());
                match desired_taints(&n.spec.taints, ready.as_deref(), now) {
                    Some(t) => {
                        n.spec.taints = t;
                        true
                    }
                    None => false,
                }
            })
            .await;
        match res {
            Ok(n) => written = Some(n),
            Err(RegistryError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use api::model::Toleration;

    fn at(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    fn node(ready: serde_json::Value) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [ready]}
        }))
        .unwrap()
    }

    fn lease(renew: &str) -> Lease {
        serde_json::from_value(json!({"metadata": {"name": "n1", "namespace": "kube-node-lease"},
                                       "spec": {"renewTime": renew}}))
        .unwrap()
    }

    #[test]
    fn heartbeat_prefers_lease_then_condition_then_creation() {
        let n = node(json!({"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:01:00Z"}));
        assert_eq!(last_heartbeat(&n, Some(&lease("2026-01-01T00:02:00.500000Z"))), Some(at("2026-01-01T00:02:00.5Z")));
        assert_eq!(last_heartbeat(&n, None), Some(at("2026-01-01T00:01:00Z")));
        let bare = node(json!({"type": "Ready", "status": "True"}));
        assert_eq!(last_heartbeat(&bare, None), Some(at("2026-01-01T00:00:00Z")));
    }

    #[test]
    fn ready_goes_unknown_when_stale_and_back_when_renewed() {
        let now = at("2026-01-01T01:00:00Z");
        let healthy = node(json!({"type": "Ready", "status": "True", "reason": "KubeletReady"}));
        assert_eq!(desired_ready(&healthy, false, now), None);
        let c = desired_ready(&healthy, true, now).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref(), c.message.as_deref()), ("Unknown", Some(REASON_UNKNOWN), Some(MESSAGE_UNKNOWN)));
        let unknown = node(serde_json::to_value(&c).unwrap());
        assert_eq!(desired_ready(&unknown, true, now), None, "no rewrite while still stale");
        assert_eq!(desired_ready(&unknown, false, now).unwrap().status, "True");
        let reported_false = node(json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady"}));
        assert_eq!(desired_ready(&reported_false, false, now), None, "a node's own False stands");
    }

    #[test]
    fn taints_follow_ready_status() {
        let now = at("2026-01-01T01:00:00Z");
        let own = Taint { key: "gpu".into(), value: Some("yes".into()), effect: "NoSchedule".into(), time_added: None };
        let t = desired_taints(&[own.clone()], Some("Unknown"), at("2026-01-01T00:59:59.2Z")).unwrap();
        let keys: Vec<_> = t.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
        assert_eq!(keys, [("gpu", "NoSchedule"), (TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")]);
        assert_eq!(t[2].time_added.as_deref(), Some("2026-01-01T01:00:00Z"));
        assert_eq!(desired_taints(&t, Some("Unknown"), now), None, "idempotent");
        assert_eq!(desired_taints(&t, Some("True"), now), Some(vec![own.clone()]));
        let nr = desired_taints(&t, Some("False"), now).unwrap();
        assert!(nr.iter().all(|t| t.key != TAINT_UNREACHABLE) && nr.iter().filter(|t| t.key == TAINT_NOT_READY).count() == 2);
        assert_eq!(desired_taints(&[own.clone()], Some("True"), now), None);
    }

    #[test]
    fn eviction_deadlines() {
        let now = at("2026-01-01T01:00:00Z");
        let unreachable = Taint {
            key: TAINT_UNREACHABLE.into(),
            value: None,
            effect: "NoExecute".into(),
            time_added: Some("2026-01-01T00:59:00Z".into()),
        };
        let tol = |secs: Option<i64>| Toleration {
            key: Some(TAINT_UNREACHABLE.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: secs,
            ..Default::default()
        };
        let pod = |tols: Vec<Toleration>| Pod {
            spec: api::model::PodSpec { tolerations: tols, ..Default::default() },
            ..Default::default()
        };
        let five_min = Duration::from_secs(300);
        let taints = std::slice::from_ref(&unreachable);
        let drain = |effect: &str| vec![Taint { key: "drain".into(), value: None, effect: effect.into(), time_added: None }];
        let (drain_exec, drain_sched) = (drain("NoExecute"), drain("NoSchedule"));
        let cases: Vec<(&str, Pod, &[Taint], Option<DateTime<Utc>>)> = vec![
            ("no toleration: default wait", pod(vec![]), taints, Some(at("2026-01-01T01:04:00Z"))),
            ("tolerationSeconds", pod(vec![tol(Some(30))]), taints, Some(at("2026-01-01T00:59:30Z"))),
            ("smallest of matching", pod(vec![tol(Some(600)), tol(Some(10))]), taints, Some(at("2026-01-01T00:59:10Z"))),
            ("negative is zero", pod(vec![tol(Some(-5))]), taints, Some(at("2026-01-01T00:59:00Z"))),
            ("tolerated forever", pod(vec![tol(None)]), taints, None),
            (
                "other NoExecute taint evicts at once",
                pod(vec![]),
                &drain_exec,
                Some(now),
            ),
            (
                "NoSchedule never evicts",
                pod(vec![]),
                &drain_sched,
                None,
            ),
        ];
        for (name, p, taints, want) in cases {
            assert_eq!(eviction_deadline(&p, taints, five_min, now), want, "{name}");
        }
    }
}
