//! What one DaemonSet sync does, decided apart from I/O (upstream's `manage` and
//! `rollingUpdate` in `pkg/controller/daemon/`): which nodes should run the daemon pod
//! (node selector and required affinity of the template, taints against the pod's
//! tolerations plus the automatic ones), which pods to create where, which to delete
//! (surplus, failed, on nodes that stopped matching or are gone, old ones a rolling
//! update may replace now), and the status this implies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use api::model::{DaemonSet, DaemonSetStatus, Node, Pod, PodSpec, Toleration};
use chrono::{DateTime, Utc};

use crate::controllers::{parse_time, pod_is_available, pod_is_ready};
use crate::scheduler::fit::{matches_node_selector_and_affinity, tolerates};

/// The label that names a daemon pod's template revision.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Upstream's `AddOrUpdateDaemonPodTolerations`: daemon pods stay through node trouble
/// and go where the scheduler would not send other pods.
pub fn daemon_tolerations(spec: &PodSpec) -> Vec<Toleration> {
    let mut out = spec.tolerations.clone();
    let mut add = |key: &str, effect: &str| {
        let t = Toleration { key: Some(key.into()), operator: Some("Exists".into()), effect: Some(effect.into()), ..Default::default() };
        if !out.iter().any(|o| o.key == t.key && o.effect == t.effect && o.operator == t.operator) {
            out.push(t);
        }
    };
    add("node.kubernetes.io/not-ready", "NoExecute");
    add("node.kubernetes.io/unreachable", "NoExecute");
    add("node.kubernetes.io/disk-pressure", "NoSchedule");
    add("node.kubernetes.io/memory-pressure", "NoSchedule");
    add("node.kubernetes.io/pid-pressure", "NoSchedule");
    add("node.kubernetes.io/unschedulable", "NoSchedule");
    if spec.host_network == Some(true) {
        add("node.kubernetes.io/network-unavailable", "NoSchedule");
    }
    out
}

/// Whether a node should run the daemon pod (`should_run`: a new pod may go there) and
/// whether a pod already there may stay (`may_stay`: only untolerated NoExecute taints
/// and a mismatch of selectors evict).
pub fn node_fits(spec: &PodSpec, node: &Node) -> (bool, bool) {
    if node.metadata.is_deleting() || !matches_node_selector_and_affinity(spec, node) {
        return (false, false);
    }
    let tolerations = daemon_tolerations(spec);
    let untolerated = |effect: &str| node.spec.taints.iter().filter(|t| t.effect == effect).any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)));
    let no_execute = untolerated("NoExecute");
    (!no_execute && !untolerated("NoSchedule"), !no_execute)
}

/// The node a daemon pod is for: its binding, else the node its affinity pins it to.
pub fn pod_node(pod: &Pod) -> Option<String> {
    if let Some(n) = pod.spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(n.to_string());
    }
    let required = pod.spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?;
    required.node_selector_terms.iter().flat_map(|t| &t.match_fields).find(|f| f.key == "metadata.name" && f.operator == "In").and_then(|f| f.values.first().cloned())
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending")
}

fn created(p: &Pod) -> i64 {
    parse_time(p.metadata.creation_timestamp.as_deref()).map_or(i64::MAX, |t| t.timestamp())
}

/// How the DaemonSet updates its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    OnDelete,
    RollingUpdate { max_unavailable: usize, max_surge: usize },
}

impl Strategy {
    /// Upstream's defaults and rounding (both round up; both 0 means 1 unavailable).
    pub fn of(ds: &DaemonSet, desired: usize) -> Result<Strategy, String> {
        let s = ds.spec.update_strategy.as_ref();
        if s.and_then(|s| s.type_.as_deref()) == Some("OnDelete") {
            return Ok(Strategy::OnDelete);
        }
        let ru = s.and_then(|s| s.rolling_update.as_ref());
        let total = i32::try_from(desired).unwrap_or(i32::MAX);
        let surge = match ru.and_then(|r| r.max_surge.as_ref()) {
            Some(v) => v.resolve(total, true)?.max(0) as usize,
            None => 0,
        };
        let unavailable = match ru.and_then(|r| r.max_unavailable.as_ref()) {
            Some(v) => v.resolve(total, true)?.max(0) as usize,
            None => 1,
        };
        let max_unavailable = if surge == 0 && unavailable == 0 { 1 } else { unavailable };
        Ok(Strategy::RollingUpdate { max_unavailable, max_surge: surge })
    }
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Nodes that get a new pod of the current revision.
    pub create_on: Vec<String>,
    /// Pods to delete (name), with why.
    pub delete: Vec<(String, &'static str)>,
    pub status: DaemonSetStatus,
    /// A pod turns available at this time (minReadySeconds): sync again then.
    pub recheck_at: Option<DateTime<Utc>>,
}

/// Plans one sync of `ds` over every node and the pods it owns (active ones: not
/// Succeeded; deleting ones are waited for).
pub fn plan(ds: &DaemonSet, hash: &str, nodes: &[Arc<Node>], pods: &[Arc<Pod>], now: DateTime<Utc>) -> Result<Plan, String> {
    let spec = &ds.spec.template.spec;
    let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
    let mut by_node: BTreeMap<String, Vec<&Arc<Pod>>> = BTreeMap::new();
    let mut out = Plan::default();
    for p in pods {
        match pod_node(p) {
            Some(n) => by_node.entry(n).or_default().push(p),
            None => out.delete.push((p.metadata.name.clone(), "not bound to any node")),
        }
    }
    let known: BTreeSet<&str> = nodes.iter().map(|n| n.metadata.name.as_str()).collect();
    for (node, ps) in &by_node {
        if !known.contains(node.as_str()) {
            for p in ps.iter().filter(|p| !p.metadata.is_deleting()) {
                out.delete.push((p.metadata.name.clone(), "its node is gone"));
            }
        }
    }
    let is_new = |p: &Pod| p.metadata.labels.get(REVISION_LABEL).map(String::as_str) == Some(hash);
    let available = |p: &Pod| !p.metadata.is_deleting() && pod_is_available(p, min_ready, now);
    let (mut desired, mut current, mut misscheduled, mut ready, mut updated, mut avail) = (0, 0, 0, 0, 0, 0);
    // Nodes that run the DaemonSet, with their live (not deleting) pods after the clean-up.
    let mut running: Vec<(String, Vec<&Arc<Pod>>)> = Vec::new();
    for n in nodes {
        let name = &n.metadata.name;
        let (should_run, may_stay) = node_fits(spec, n);
        let ps = by_node.get(name).cloned().unwrap_or_default();
        let (deleting, mut live): (Vec<_>, Vec<_>) = ps.into_iter().partition(|p| p.metadata.is_deleting());
        if !should_run {
            // Upstream: scheduled where it should not run is misscheduled; it stays unless
            // an untolerated NoExecute taint or a selector mismatch evicts it.
            if !live.is_empty() {
                misscheduled += 1;
            }
            if !may_stay {
                for p in live {
                    out.delete.push((p.metadata.name.clone(), "its node no longer matches"));
                }
            }
            continue;
        }
        desired += 1;
        // A failed pod is replaced (upstream deletes it; the next sync creates anew).
        let (failed, rest): (Vec<_>, Vec<_>) = live.drain(..).partition(|p| phase(p) == "Failed");
        for p in failed {
            out.delete.push((p.metadata.name.clone(), "it failed"));
        }
        live = rest;
        if live.is_empty() {
            if deleting.is_empty() {
                out.create_on.push(name.clone());
            }
            continue;
        }
        current += 1;
        // Two or more: keep the newest revision's oldest pod, or else the oldest.
        live.sort_by_key(|p| (!is_new(p), created(p), p.metadata.name.clone()));
        let surplus_allowed = matches!(Strategy::of(ds, nodes.len()), Ok(Strategy::RollingUpdate { max_surge, .. }) if max_surge > 0);
        if live.len() > 1 {
            // During a surge a node holds one new pod and one old pod until the new is available.
            let keep = if surplus_allowed && is_new(live[0]) && !available(live[0]) { 2 } else { 1 };
            for p in live.split_off(keep.min(live.len())) {
                out.delete.push((p.metadata.name.clone(), "one pod per node"));
            }
        }
        if live.iter().any(|p| pod_is_ready(p)) {
            ready += 1;
        }
        if live.iter().any(|p| is_new(p)) {
            updated += 1;
        }
        if live.iter().any(|p| available(p)) {
            avail += 1;
        }
        if min_ready > 0 {
            for p in &live {
                if let Some(Some(since)) = crate::controllers::pod_ready_since(p) {
                    let at = since + chrono::Duration::seconds(i64::from(min_ready));
                    if at > now {
                        out.recheck_at = Some(out.recheck_at.map_or(at, |r| r.min(at)));
                    }
                }
            }
        }
        running.push((name.clone(), live));
    }
    if let Strategy::RollingUpdate { max_unavailable, max_surge } = Strategy::of(ds, desired)? {
        rolling_update(&mut out, &running, max_unavailable, max_surge, desired, &is_new, &available);
    }
    out.status = DaemonSetStatus {
        current_number_scheduled: current,
        number_misscheduled: misscheduled,
        desired_number_scheduled: desired as i32,
        number_ready: ready,
        observed_generation: ds.metadata.generation,
        updated_number_scheduled: updated,
        number_available: avail,
        number_unavailable: (desired as i32 - avail).max(0),
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default(),
    };
    Ok(out)
}

/// Upstream's `rollingUpdate`: without surge, old pods are deleted — unavailable ones at
/// once, available ones while fewer than `max_unavailable` nodes lack an available pod —
/// and the next sync creates their replacements; with surge, a new pod starts beside the
/// old one on up to `max_surge` nodes at a time and the old one goes once the new is
/// available.
fn rolling_update(
    out: &mut Plan,
    running: &[(String, Vec<&Arc<Pod>>)],
    max_unavailable: usize,
    max_surge: usize,
    desired: usize,
    is_new: &dyn Fn(&Pod) -> bool,
    available: &dyn Fn(&Pod) -> bool,
) {
    let deleting: BTreeSet<String> = out.delete.iter().map(|(n, _)| n.clone()).collect();
    let live = |ps: &[&Arc<Pod>]| -> Vec<Arc<Pod>> { ps.iter().filter(|p| !deleting.contains(&p.metadata.name)).map(|p| Arc::clone(p)).collect() };
    let nodes_available = running.iter().filter(|(_, ps)| live(ps).iter().any(|p| available(p))).count();
    let mut unavailable = desired.saturating_sub(nodes_available);
    if max_surge == 0 {
        let mut old_available = Vec::new();
        for (_, ps) in running {
            for p in live(ps) {
                if is_new(&p) {
                    continue;
                }
                if available(&p) {
                    old_available.push(p);
                } else {
                    out.delete.push((p.metadata.name.clone(), "rolling update (unavailable)"));
                }
            }
        }
        for p in old_available {
            if unavailable >= max_unavailable {
                break;
            }
            out.delete.push((p.metadata.name.clone(), "rolling update"));
            unavailable += 1;
        }
        return;
    }
    let surging = running.iter().filter(|(_, ps)| {
        let l = live(ps);
        l.iter().any(|p| is_new(p)) && l.iter().any(|p| !is_new(p))
    });
    let mut budget = max_surge.saturating_sub(surging.count());
    for (node, ps) in running {
        let l = live(ps);
        let new: Vec<&Arc<Pod>> = l.iter().filter(|p| is_new(p)).collect();
        let old: Vec<&Arc<Pod>> = l.iter().filter(|p| !is_new(p)).collect();
        if old.is_empty() {
            continue;
        }
        if new.iter().any(|p| available(p)) {
            for p in old {
                out.delete.push((p.metadata.name.clone(), "rolling update (replaced)"));
            }
        } else if new.is_empty() {
            if old.iter().all(|p| !available(p)) {
                // Nothing to keep serving: replace at once.
                for p in old {
                    out.delete.push((p.metadata.name.clone(), "rolling update (unavailable)"));
                }
            } else if budget > 0 {
                out.create_on.push(node.clone());
                budget -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Condition, DaemonSetUpdateStrategy, IntOrString, PodStatus, RollingUpdateDaemonSet, Taint};

    fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Arc<Node> {
        let mut n = Node::default();
        n.metadata.name = name.into();
        n.metadata.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        n.spec.taints = taints.iter().map(|(k, e)| Taint { key: k.to_string(), effect: e.to_string(), ..Default::default() }).collect();
        Arc::new(n)
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool, created: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.creation_timestamp = Some(created.into());
        p.metadata.labels.insert(REVISION_LABEL.into(), hash.into());
        p.spec.node_name = Some(node.into());
        let mut st = PodStatus { phase: Some("Running".into()), ..Default::default() };
        if ready {
            st.conditions.push(Condition { type_: "Ready".into(), status: "True".into(), last_transition_time: Some("2026-01-01T00:00:00Z".into()), ..Default::default() });
        }
        p.status = Some(st);
        Arc::new(p)
    }

    fn ds(strategy: Option<DaemonSetUpdateStrategy>) -> DaemonSet {
        let mut d = DaemonSet::default();
        d.metadata.name = "agent".into();
        d.spec.update_strategy = strategy;
        d
    }

    fn rolling(unavailable: i32, surge: i32) -> Option<DaemonSetUpdateStrategy> {
        Some(DaemonSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDaemonSet { max_unavailable: Some(IntOrString::Int(unavailable)), max_surge: Some(IntOrString::Int(surge)) }),
        })
    }

    fn now() -> DateTime<Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn every_fitting_node_gets_one_pod() {
        let nodes = vec![node("a", &[], &[]), node("b", &[], &[]), node("c", &[], &[("dedicated", "NoSchedule")])];
        let p = plan(&ds(None), "h1", &nodes, &[pod("x", "a", "h1", true, "2026-01-01T00:00:00Z")], now()).unwrap();
        assert_eq!(p.create_on, vec!["b".to_string()], "the tainted node gets none");
        assert_eq!((p.status.desired_number_scheduled, p.status.current_number_scheduled, p.status.number_ready), (2, 1, 1));
    }

    #[test]
    fn tolerations_and_node_selectors_decide() {
        let mut d = ds(None);
        d.spec.template.spec.tolerations.push(Toleration { key: Some("dedicated".into()), operator: Some("Exists".into()), ..Default::default() });
        d.spec.template.spec.node_selector.insert("role".into(), "edge".into());
        let nodes = vec![node("a", &[("role", "edge")], &[("dedicated", "NoSchedule")]), node("b", &[], &[])];
        let p = plan(&d, "h", &nodes, &[], now()).unwrap();
        assert_eq!(p.create_on, vec!["a".to_string()]);
        // The automatic tolerations: a not-ready or unschedulable node still runs it.
        let nodes = vec![node("c", &[("role", "edge")], &[("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unschedulable", "NoSchedule")])];
        assert_eq!(plan(&d, "h", &nodes, &[], now()).unwrap().create_on, vec!["c".to_string()]);
    }

    #[test]
    fn a_node_that_stops_matching_or_goes_loses_its_pod() {
        let mut d = ds(None);
        d.spec.template.spec.node_selector.insert("role".into(), "edge".into());
        let nodes = vec![node("a", &[], &[])];
        let pods = vec![pod("x", "a", "h", true, "2026-01-01T00:00:00Z"), pod("y", "gone", "h", true, "2026-01-01T00:00:00Z")];
        let p = plan(&d, "h", &nodes, &pods, now()).unwrap();
        let deleted: Vec<&str> = p.delete.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(deleted, vec!["y", "x"]);
        assert_eq!(p.status.number_misscheduled, 1);
        // A NoSchedule taint added later keeps the pod; a NoExecute one evicts it.
        let d = ds(None);
        let keep = plan(&d, "h", &[node("a", &[], &[("k", "NoSchedule")])], &pods[..1], now()).unwrap();
        assert!(keep.delete.is_empty() && keep.create_on.is_empty());
        let evict = plan(&d, "h", &[node("a", &[], &[("k", "NoExecute")])], &pods[..1], now()).unwrap();
        assert_eq!(evict.delete.len(), 1);
    }

    #[test]
    fn surplus_and_failed_pods_go_and_deleting_ones_are_waited_for() {
        let nodes = vec![node("a", &[], &[]), node("b", &[], &[])];
        let mut failed = (*pod("f", "b", "h", false, "2026-01-01T00:00:00Z")).clone();
        failed.status.as_mut().unwrap().phase = Some("Failed".into());
        let pods = vec![pod("old", "a", "h", true, "2026-01-01T00:00:00Z"), pod("dup", "a", "h", true, "2026-01-02T00:00:00Z"), Arc::new(failed)];
        let p = plan(&ds(None), "h", &nodes, &pods, now()).unwrap();
        let deleted: Vec<&str> = p.delete.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(deleted, vec!["dup", "f"], "the newer duplicate and the failed pod");
        assert_eq!(p.create_on, vec!["b".to_string()], "the failed pod's node gets a new one");
        let mut going = (*pod("g", "a", "h", true, "2026-01-01T00:00:00Z")).clone();
        going.metadata.deletion_timestamp = Some("2026-06-01T00:00:00Z".into());
        let p = plan(&ds(None), "h", &nodes[..1], &[Arc::new(going)], now()).unwrap();
        assert!(p.create_on.is_empty(), "a node whose pod is terminating waits");
    }

    #[test]
    fn a_rolling_update_without_surge_replaces_max_unavailable_at_a_time() {
        let nodes: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| node(n, &[], &[])).collect();
        let pods: Vec<_> = ["a", "b", "c", "d"].iter().map(|n| pod(&format!("p-{n}"), n, "v1", true, "2026-01-01T00:00:00Z")).collect();
        let p = plan(&ds(rolling(2, 0)), "v2", &nodes, &pods, now()).unwrap();
        assert_eq!(p.delete.len(), 2, "{:?}", p.delete);
        assert!(p.create_on.is_empty());
        assert_eq!(p.status.updated_number_scheduled, 0);
        // One node already lacks an available pod: only one more may go.
        let mut pods2 = pods.clone();
        pods2[0] = pod("p-a", "a", "v2", false, "2026-01-01T00:00:00Z");
        let p = plan(&ds(rolling(2, 0)), "v2", &nodes, &pods2, now()).unwrap();
        assert_eq!(p.delete.len(), 1, "{:?}", p.delete);
        // OnDelete touches nothing.
        let on_delete = Some(DaemonSetUpdateStrategy { type_: Some("OnDelete".into()), rolling_update: None });
        assert!(plan(&ds(on_delete), "v2", &nodes, &pods, now()).unwrap().delete.is_empty());
    }

    #[test]
    fn a_rolling_update_with_surge_starts_new_pods_beside_old_ones() {
        let nodes: Vec<_> = ["a", "b", "c"].iter().map(|n| node(n, &[], &[])).collect();
        let pods: Vec<_> = ["a", "b", "c"].iter().map(|n| pod(&format!("p-{n}"), n, "v1", true, "2026-01-01T00:00:00Z")).collect();
        let p = plan(&ds(rolling(0, 1)), "v2", &nodes, &pods, now()).unwrap();
        assert_eq!(p.create_on.len(), 1);
        assert!(p.delete.is_empty());
        // Node a has its new pod, not yet available: nothing more to do but wait.
        let mut with_new = pods.clone();
        with_new.push(pod("n-a", "a", "v2", false, "2026-01-02T00:00:00Z"));
        let p = plan(&ds(rolling(0, 1)), "v2", &nodes, &with_new, now()).unwrap();
        assert!(p.create_on.is_empty() && p.delete.is_empty(), "{p:?}");
        // Once it is available the old pod goes.
        with_new.pop();
        with_new.push(pod("n-a", "a", "v2", true, "2026-01-02T00:00:00Z"));
        let p = plan(&ds(rolling(0, 1)), "v2", &nodes, &with_new, now()).unwrap();
        assert_eq!(p.delete.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["p-a"]);
    }

    #[test]
    fn the_strategy_defaults_as_upstream() {
        assert_eq!(Strategy::of(&ds(None), 10), Ok(Strategy::RollingUpdate { max_unavailable: 1, max_surge: 0 }));
        let pct = Some(DaemonSetUpdateStrategy {
            type_: None,
            rolling_update: Some(RollingUpdateDaemonSet { max_unavailable: Some(IntOrString::String("25%".into())), max_surge: None }),
        });
        assert_eq!(Strategy::of(&ds(pct), 10), Ok(Strategy::RollingUpdate { max_unavailable: 3, max_surge: 0 }));
        assert_eq!(Strategy::of(&ds(rolling(0, 0)), 10), Ok(Strategy::RollingUpdate { max_unavailable: 1, max_surge: 0 }));
    }
}
