//! One scheduling pass as a pure function: pods, nodes and namespaces in, decisions out.
//!
//! Per pending pod, as upstream's framework: the filters (`fit::check`, then topology
//! spread, then inter-pod affinity) and, among the nodes that pass, the weighted scores
//! (least requested ×1, preferred node affinity ×2, topology spread ×2, inter-pod
//! affinity ×2, upstream's default weights). The per-node pod lists that spread and affinity read are built only when a
//! pending pod has constraints that need them; pods without such constraints pay for
//! none of it (their default spreading reads the per-owner counts of `NodeState`).

use std::collections::HashMap;
use std::sync::Arc;

use super::affinity::{self, NamespaceLabels, Placed, PodTerms};
use super::fit::{self, NodeState, Unfit};
use super::spread;
use super::volumes::VolumeReq;
use api::model::{find_condition, Namespace, Node, Pod};

pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
pub const REASON_SCHEDULING_GATED: &str = "SchedulingGated";
pub const SCHEDULING_GATED_MESSAGE: &str = "Scheduling is blocked due to non-empty scheduling gates";

/// Upstream's default score weights.
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_SPREAD: i64 = 2;
const WEIGHT_AFFINITY: i64 = 2;

/// What the pass decided for one pending pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Bind { pod: Arc<Pod>, node: String },
    Unschedulable { pod: Arc<Pod>, message: String },
    /// The pod has scheduling gates and is not yet marked `SchedulingGated`.
    Gated { pod: Arc<Pod> },
}

/// A pod this scheduler must place: unbound, not being deleted, ours by schedulerName.
pub fn is_pending(pod: &Pod) -> bool {
    pod.spec.node_name.as_deref().unwrap_or("").is_empty()
        && !pod.metadata.is_deleting()
        && matches!(pod.spec.scheduler_name.as_deref(), None | Some("") | Some(DEFAULT_SCHEDULER))
}

/// Whether a bound pod still holds its node's resources (terminal pods do not).
fn holds_resources(pod: &Pod) -> bool {
    !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

/// Whether the pod already reads PodScheduled=False/SchedulingGated.
fn marked_gated(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "PodScheduled"))
        .is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some(REASON_SCHEDULING_GATED))
}

/// Whether the pod's constraints read the pods on each node.
fn needs_pod_lists(pod: &Pod, terms: Option<&PodTerms>) -> bool {
    terms.is_some() || spread::uses_pod_lists(pod)
}

/// Places every pending pod (highest priority, then oldest, first), counting the pods it
/// places against the nodes as it goes. Gated pods are left alone (reported once).
pub fn plan(pods: &[Arc<Pod>], nodes: &[Arc<Node>], namespaces: &[Arc<Namespace>]) -> Vec<Decision> {
    plan_with_volumes(pods, nodes, namespaces, |_| VolumeReq::Nodes(Vec::new()))
}

/// [`plan`], with what each pod's claims ask of its node (`volumes::requirements`).
pub fn plan_with_volumes(
    pods: &[Arc<Pod>],
    nodes: &[Arc<Node>],
    namespaces: &[Arc<Namespace>],
    volumes: impl Fn(&Pod) -> VolumeReq,
) -> Vec<Decision> {
    let mut states: Vec<NodeState> = nodes.iter().cloned().map(NodeState::new).collect();
    states.sort_by(|a, b| a.name().cmp(b.name()));
    let index: HashMap<String, usize> = states.iter().enumerate().map(|(i, s)| (s.name().to_string(), i)).collect();
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let mut bound = Vec::new();
    for p in pods {
        if is_pending(p) {
            if p.spec.scheduling_gates.is_empty() {
                pending.push(p.clone());
            } else if !marked_gated(p) {
                out.push(Decision::Gated { pod: p.clone() });
            }
        } else if let Some(&i) = p.spec.node_name.as_ref().and_then(|n| index.get(n)) {
            if holds_resources(p) {
                states[i].add_pod(p);
                bound.push((i, p.clone()));
            }
        }
    }
    pending.sort_by(|a, b| {
        let key = |p: &Pod| (-(p.spec.priority.unwrap_or(0) as i64), p.metadata.creation_timestamp.clone());
        key(a).cmp(&key(b)).then_with(|| {
            (a.metadata.namespace.as_deref(), a.metadata.name.as_str())
                .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_str()))
        })
    });
    let pending: Vec<(Arc<Pod>, Option<PodTerms>)> = pending.into_iter().map(|p| { let t = PodTerms::of(&p); (p, t) }).collect();
    let lists = pending.iter().any(|(p, t)| needs_pod_lists(p, t.as_ref()));
    let mut pods_on: Vec<Vec<Arc<Pod>>> = if lists { vec![Vec::new(); states.len()] } else { Vec::new() };
    let mut with_affinity: Vec<Placed> = Vec::new();
    for (i, p) in bound {
        if let Some(terms) = PodTerms::of(&p) {
            with_affinity.push(Placed { pod: p.clone(), node: i, terms });
        }
        if lists {
            pods_on[i].push(p);
        }
    }
    let node_arcs: Vec<Arc<Node>> = states.iter().map(|s| s.node.clone()).collect();
    let node_labels: Vec<_> = node_arcs.iter().map(|n| &n.metadata.labels).collect();
    let ns: NamespaceLabels = namespaces.iter().map(|n| (n.metadata.name.as_str(), &n.metadata.labels)).collect();

    for (pod, terms) in pending {
        let node_selectors = match volumes(&pod) {
            VolumeReq::Nodes(s) => s,
            VolumeReq::Unschedulable(why) => {
                let n = states.len();
                let message = if n == 0 {
                    fit::NO_NODES_MESSAGE.to_string()
                } else {
                    format!("0/{n} nodes are available: {why}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.")
                };
                out.push(Decision::Unschedulable { pod, message });
                continue;
            }
        };
        let (best, reasons) = {
            let sview = spread::View { nodes: &states, pods_on: &pods_on };
            let aview = affinity::View { node_labels: &node_labels, pods_on: &pods_on, with_affinity: &with_affinity, namespaces: &ns };
            place(&pod, terms.as_ref(), &node_selectors, &sview, &aview)
        };
        match best {
            Some(i) => {
                states[i].add_pod(&pod);
                if lists {
                    pods_on[i].push(pod.clone());
                }
                if let Some(terms) = terms {
                    with_affinity.push(Placed { pod: pod.clone(), node: i, terms });
                }
                out.push(Decision::Bind { pod, node: states[i].name().to_string() });
            }
            None => {
                let message = fit::fit_error_message(&reasons);
                out.push(Decision::Unschedulable { pod, message });
            }
        }
    }
    out
}

/// Filters and scores every node for one pod: the best node (the first of the highest
/// total score), or each node's reasons when none fits.
fn place(
    pod: &Pod,
    terms: Option<&PodTerms>,
    volume_nodes: &[api::model::NodeSelector],
    sview: &spread::View,
    aview: &affinity::View,
) -> (Option<usize>, Vec<Vec<Unfit>>) {
    let req = fit::pod_requests(&pod.spec);
    let spread_filter = spread::Filter::new(pod, sview);
    let aff = affinity::State::new(pod, terms, aview);
    let mut feasible = Vec::new();
    let mut reasons = Vec::new();
    for (i, n) in sview.nodes.iter().enumerate() {
        let mut unfit = fit::check(pod, &req, n);
        if unfit.is_empty() && !volume_nodes.iter().all(|s| fit::node_selector_matches(s, &n.node)) {
            unfit.push(Unfit::VolumeNodeAffinity);
        }
        if unfit.is_empty() {
            unfit.extend(spread_filter.as_ref().and_then(|f| f.check(n)));
        }
        if unfit.is_empty() {
            unfit.extend(aff.as_ref().and_then(|a| a.filter(aview.node_labels[i])));
        }
        if unfit.is_empty() {
            feasible.push(i);
        } else {
            reasons.push(unfit);
        }
    }
    if feasible.is_empty() {
        return (None, reasons);
    }
    let mut total: Vec<i64> = feasible.iter().map(|&i| fit::least_requested(&req, &sview.nodes[i])).collect();
    if let Some(terms) = fit::preferred_node_terms(&pod.spec) {
        let raw: Vec<i64> = feasible.iter().map(|&i| fit::preferred_node_score(terms, &sview.nodes[i].node)).collect();
        let max = raw.iter().copied().max().unwrap_or(0);
        if max > 0 {
            for (t, r) in total.iter_mut().zip(raw) {
                *t += WEIGHT_NODE_AFFINITY * (r * 100 / max);
            }
        }
    }
    if let Some(s) = spread::Score::new(pod, sview, &feasible) {
        let raw: Vec<_> = feasible.iter().map(|&i| s.raw(sview, i)).collect();
        for (t, s) in total.iter_mut().zip(spread::normalize(&raw)) {
            *t += WEIGHT_SPREAD * s;
        }
    }
    if let Some(a) = aff.as_ref().filter(|a| a.scores()) {
        let mut raw: Vec<i64> = feasible.iter().map(|&i| a.raw_score(aview.node_labels[i])).collect();
        affinity::normalize(&mut raw);
        for (t, s) in total.iter_mut().zip(raw) {
            *t += WEIGHT_AFFINITY * s;
        }
    }
    let mut best = 0;
    for (k, t) in total.iter().enumerate() {
        if *t > total[best] {
            best = k;
        }
    }
    (Some(feasible[best]), reasons)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(name: &str, cpu: &str, labels: serde_json::Value) -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "labels": labels},
                "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": "True"}]}
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, cpu: &str, extra: serde_json::Value) -> Arc<Pod> {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "default",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1", "controller": true}]},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}
        });
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn binds(ds: &[Decision]) -> Vec<(String, String)> {
        ds.iter()
            .filter_map(|d| match d {
                Decision::Bind { pod, node } => Some((pod.metadata.name.clone(), node.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn replicas_spread_over_nodes() {
        let nodes = vec![node("a", "8", json!({})), node("b", "8", json!({})), node("c", "8", json!({}))];
        let pods: Vec<_> = (0..6).map(|i| pod(&format!("p{i}"), "100m", json!({}))).collect();
        let ds = plan(&pods, &nodes, &[]);
        let mut per_node: HashMap<String, usize> = HashMap::new();
        for (_, n) in binds(&ds) {
            *per_node.entry(n).or_default() += 1;
        }
        assert_eq!(per_node, HashMap::from([("a".into(), 2), ("b".into(), 2), ("c".into(), 2)]));
    }

    #[test]
    fn pods_placed_in_this_pass_use_up_the_node() {
        let nodes = vec![node("a", "1", json!({}))];
        let pods = vec![pod("p0", "600m", json!({})), pod("p1", "600m", json!({}))];
        let ds = plan(&pods, &nodes, &[]);
        assert_eq!(binds(&ds).len(), 1);
        assert!(matches!(&ds[1], Decision::Unschedulable { message, .. }
            if message == "0/1 nodes are available: 1 Insufficient cpu. \
                preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."));
    }

    #[test]
    fn already_bound_pods_count_and_terminal_ones_do_not() {
        let nodes = vec![node("a", "1", json!({}))];
        let running = pod("old", "800m", json!({"nodeName": "a"}));
        let mut done = (*pod("done", "800m", json!({"nodeName": "a"}))).clone();
        done.status = Some(api::model::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        let new = pod("new", "500m", json!({}));
        let ds = plan(&[running.clone(), new.clone()], &nodes, &[]);
        assert!(matches!(&ds[..], [Decision::Unschedulable { .. }]));
        let ds = plan(&[Arc::new(done), new], &nodes, &[]);
        assert_eq!(binds(&ds), vec![("new".to_string(), "a".to_string())]);
    }

    #[test]
    fn message_counts_every_node() {
        let nodes = vec![node("a", "100m", json!({"disk": "ssd"})), node("b", "100m", json!({})), node("c", "8", json!({}))];
        let pods = vec![pod("p", "1", json!({"nodeSelector": {"disk": "ssd"}}))];
        let ds = plan(&pods, &nodes, &[]);
        assert!(
            matches!(&ds[..], [Decision::Unschedulable { message, .. }]
                if message == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. \
                    preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."),
            "{ds:?}"
        );
    }

    #[test]
    fn only_our_unbound_live_pods_are_pending() {
        assert!(is_pending(&pod("p", "1", json!({}))));
        assert!(is_pending(&pod("p", "1", json!({"schedulerName": "default-scheduler"}))));
        assert!(!is_pending(&pod("p", "1", json!({"schedulerName": "other"}))));
        assert!(!is_pending(&pod("p", "1", json!({"nodeName": "a"}))));
        let mut deleting = (*pod("p", "1", json!({}))).clone();
        deleting.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into());
        assert!(!is_pending(&deleting));
    }

    #[test]
    fn higher_priority_goes_first() {
        let nodes = vec![node("a", "1", json!({}))];
        let pods = vec![pod("low", "1", json!({})), pod("high", "1", json!({"priority": 100}))];
        assert_eq!(binds(&plan(&pods, &nodes, &[])), vec![("high".to_string(), "a".to_string())]);
    }

    fn zoned(name: &str, zone: &str) -> Arc<Node> {
        node(name, "8", json!({"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}))
    }

    fn with_labels(p: Arc<Pod>, labels: serde_json::Value) -> Arc<Pod> {
        let mut p = (*p).clone();
        p.metadata.labels = serde_json::from_value(labels).unwrap();
        Arc::new(p)
    }

    #[test]
    fn gated_pods_are_marked_once_and_never_placed() {
        let nodes = vec![node("a", "8", json!({}))];
        let gated = pod("g", "1", json!({"schedulingGates": [{"name": "example.com/wait"}]}));
        assert!(matches!(&plan(&[gated.clone()], &nodes, &[])[..], [Decision::Gated { .. }]));
        let mut marked = (*gated).clone();
        marked.status = Some(serde_json::from_value(json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated", "message": SCHEDULING_GATED_MESSAGE}]})).unwrap());
        assert_eq!(plan(&[Arc::new(marked.clone())], &nodes, &[]), vec![]);
        marked.spec.scheduling_gates.clear();
        assert_eq!(binds(&plan(&[Arc::new(marked)], &nodes, &[])), vec![("g".to_string(), "a".to_string())]);
    }

    #[test]
    fn required_anti_affinity_puts_one_replica_per_node_and_refuses_a_fourth() {
        let nodes: Vec<_> = ["a", "b", "c"].iter().map(|n| node(n, "8", json!({"kubernetes.io/hostname": n}))).collect();
        let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
        let pods: Vec<_> = (0..4).map(|i| with_labels(pod(&format!("p{i}"), "100m", anti.clone()), json!({"app": "web"}))).collect();
        let ds = plan(&pods, &nodes, &[]);
        let mut placed: Vec<String> = binds(&ds).into_iter().map(|(_, n)| n).collect();
        placed.sort();
        assert_eq!(placed, vec!["a", "b", "c"]);
        assert!(
            ds.iter().any(|d| matches!(d, Decision::Unschedulable { message, .. } if message ==
                "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. \
                 preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.")),
            "{ds:?}"
        );
    }

    #[test]
    fn required_affinity_follows_the_first_pod_of_its_group() {
        let nodes = vec![zoned("a", "z1"), zoned("b", "z2"), zoned("c", "z2")];
        let together = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "topology.kubernetes.io/zone"}]}}});
        let pods: Vec<_> = (0..4).map(|i| with_labels(pod(&format!("p{i}"), "100m", together.clone()), json!({"app": "cache"}))).collect();
        let ds = plan(&pods, &nodes, &[]);
        let zones: std::collections::BTreeSet<_> =
            binds(&ds).into_iter().map(|(_, n)| if n == "a" { "z1" } else { "z2" }).collect();
        assert_eq!((binds(&ds).len(), zones.len()), (4, 1), "{ds:?}");
    }

    #[test]
    fn spread_constraint_keeps_zones_within_max_skew_as_replicas_grow() {
        // Zone z1 has three nodes, z2 one: without the constraint, least requested and the
        // default hostname spreading would fill z1 three times as fast.
        let nodes = vec![zoned("a1", "z1"), zoned("a2", "z1"), zoned("a3", "z1"), zoned("b1", "z2")];
        let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]});
        let mut placed: Vec<Arc<Pod>> = Vec::new();
        for i in 0..9 {
            let p = with_labels(pod(&format!("p{i}"), "100m", spread.clone()), json!({"app": "web"}));
            let mut all = placed.clone();
            all.push(p.clone());
            let ds = plan(&all, &nodes, &[]);
            let [(_, node)] = &binds(&ds)[..] else { panic!("step {i}: {ds:?}") };
            let mut bound = (*p).clone();
            bound.spec.node_name = Some(node.clone());
            placed.push(Arc::new(bound));
            let in_z1 = placed.iter().filter(|p| p.spec.node_name.as_deref().unwrap().starts_with('a')).count();
            let in_z2 = placed.len() - in_z1;
            assert!(in_z1.abs_diff(in_z2) <= 1, "step {i}: {in_z1} in z1, {in_z2} in z2");
        }
    }

    #[test]
    fn preferred_node_affinity_wins_over_least_requested() {
        let nodes = vec![zoned("a", "z1"), zoned("b", "z2")];
        // b is emptier (a runs another owner's pod), but the pod prefers zone z1.
        let busy: Arc<Pod> = Arc::new(
            serde_json::from_value(json!({"metadata": {"name": "busy", "namespace": "default"},
                "spec": {"nodeName": "a", "containers": [{"name": "c", "resources": {"requests": {"cpu": "4"}}}]}}))
            .unwrap(),
        );
        let p = pod("p", "100m", json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 80, "preference": {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z1"]}]}}]}}}));
        assert_eq!(binds(&plan(&[busy.clone(), p], &nodes, &[])), vec![("p".to_string(), "a".to_string())]);
        let q = pod("q", "100m", json!({}));
        assert_eq!(binds(&plan(&[busy, q], &nodes, &[])), vec![("q".to_string(), "b".to_string())]);
    }

    #[test]
    fn preferred_anti_affinity_spreads_another_owners_pods() {
        let nodes = vec![node("a", "8", json!({"kubernetes.io/hostname": "a"})), node("b", "8", json!({"kubernetes.io/hostname": "b"}))];
        let db = with_labels(pod("db", "100m", json!({"nodeName": "a"})), json!({"app": "db"}));
        let away = json!({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}}]}}});
        // b is busier, so least requested alone would pick a.
        let busy = pod("busy", "4", json!({"nodeName": "b"}));
        let mut p = (*pod("web", "100m", away)).clone();
        p.metadata.owner_references.clear();
        assert_eq!(binds(&plan(&[db.clone(), busy.clone(), Arc::new(p.clone())], &nodes, &[])), vec![("web".to_string(), "b".to_string())]);
        p.spec.affinity = None;
        assert_eq!(binds(&plan(&[db, busy, Arc::new(p)], &nodes, &[])), vec![("web".to_string(), "a".to_string())]);
    }
}
