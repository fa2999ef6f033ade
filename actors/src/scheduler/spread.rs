//! Topology spread constraints, as upstream's PodTopologySpread plugin: `DoNotSchedule`
//! constraints filter nodes whose domain would exceed `maxSkew` over the least loaded
//! domain (`minDomains` counting missing domains as empty); `ScheduleAnyway` constraints,
//! or upstream's system defaults for a pod that has none, score nodes by how few
//! matching pods their domains hold.
//!
//! Only nodes that have every constraint's topology key and pass the pod's inclusion
//! policies (`nodeAffinityPolicy`, default Honor; `nodeTaintsPolicy`, default Ignore)
//! count, and only pods of the pod's namespace that match the selector (with
//! `matchLabelKeys` merged from the pod's labels) and are not terminating.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use api::model::{LabelSelector, LabelSelectorRequirement, Pod};
use api::validation::scheduling::{DO_NOT_SCHEDULE, HONOR, SCHEDULE_ANYWAY};

use super::fit::{matches_node_selector_and_affinity, untolerated_taint, NodeState, Unfit};

pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// Upstream's system default constraints (hostname maxSkew 3, zone maxSkew 5,
/// ScheduleAnyway), applied to pods without constraints of their own.
const SYSTEM_DEFAULTS: [(&str, i64); 2] = [(LABEL_HOSTNAME, 3), (LABEL_ZONE, 5)];

/// Which placed pods a constraint counts.
#[derive(Debug, Clone)]
enum Matcher {
    /// The constraint's labelSelector (None matches nothing).
    Selector(Option<LabelSelector>),
    /// For the system defaults: pods with the same controlling ReplicaSet,
    /// ReplicationController or StatefulSet. (Upstream selects with the selectors of the
    /// Services, ReplicaSets, ReplicationControllers and StatefulSets that select the pod.)
    Owner(String),
}

#[derive(Debug, Clone)]
struct Constraint<'a> {
    key: &'a str,
    max_skew: i64,
    min_domains: Option<i64>,
    matcher: Matcher,
    honor_affinity: bool,
    honor_taints: bool,
}

/// What the spread checks read: the nodes (with their per-owner counts) and, when some
/// pod needs them, the pods placed on each.
pub struct View<'a> {
    pub nodes: &'a [NodeState],
    pub pods_on: &'a [Vec<Arc<Pod>>],
}

impl<'a> Constraint<'a> {
    fn of(pod: &'a Pod, when: &str) -> Vec<Constraint<'a>> {
        pod.spec
            .topology_spread_constraints
            .iter()
            .filter(|c| c.when_unsatisfiable == when)
            .map(|c| {
                let selector = c.label_selector.clone().map(|mut s| {
                    for k in &c.match_label_keys {
                        if let Some(v) = pod.metadata.labels.get(k) {
                            s.match_expressions.push(LabelSelectorRequirement { key: k.clone(), operator: "In".into(), values: vec![v.clone()] });
                        }
                    }
                    s
                });
                Constraint {
                    key: &c.topology_key,
                    max_skew: c.max_skew as i64,
                    min_domains: c.min_domains.map(i64::from),
                    matcher: Matcher::Selector(selector),
                    honor_affinity: c.node_affinity_policy.as_deref().is_none_or(|p| p == HONOR),
                    honor_taints: c.node_taints_policy.as_deref() == Some(HONOR),
                }
            })
            .collect()
    }

    fn system_defaults(pod: &Pod) -> Vec<Constraint<'static>> {
        let Some(owner) = pod
            .metadata
            .controller_ref()
            .filter(|o| matches!(o.kind.as_str(), "ReplicaSet" | "ReplicationController" | "StatefulSet"))
        else {
            return Vec::new();
        };
        SYSTEM_DEFAULTS
            .iter()
            .map(|(key, max_skew)| Constraint {
                key,
                max_skew: *max_skew,
                min_domains: None,
                matcher: Matcher::Owner(owner.uid.clone()),
                honor_affinity: true,
                honor_taints: false,
            })
            .collect()
    }

    fn matches(&self, incoming: &Pod, other: &Pod) -> bool {
        match &self.matcher {
            Matcher::Selector(s) => {
                other.metadata.namespace == incoming.metadata.namespace
                    && !other.metadata.is_deleting()
                    && s.as_ref().is_some_and(|s| s.matches(&other.metadata.labels))
            }
            Matcher::Owner(uid) => other.metadata.controller_ref().is_some_and(|o| o.uid == *uid) && !other.metadata.is_deleting(),
        }
    }

    /// Matching pods on node `i`.
    fn count_on(&self, incoming: &Pod, view: &View, i: usize) -> i64 {
        match &self.matcher {
            Matcher::Owner(uid) => view.nodes[i].by_owner.get(uid).copied().unwrap_or(0) as i64,
            Matcher::Selector(_) => view.pods_on[i].iter().filter(|p| self.matches(incoming, p)).count() as i64,
        }
    }

    fn includes(&self, pod: &Pod, n: &NodeState) -> bool {
        (!self.honor_affinity || matches_node_selector_and_affinity(&pod.spec, &n.node))
            && (!self.honor_taints || untolerated_taint(&n.node.spec.taints, &pod.spec.tolerations).is_none())
    }
}

fn labels_of(n: &NodeState) -> &BTreeMap<String, String> {
    &n.node.metadata.labels
}

fn has_all_keys(labels: &BTreeMap<String, String>, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| labels.contains_key(c.key))
}

/// Whether any of the pod's constraints needs the pods on each node (`View::pods_on`).
pub fn uses_pod_lists(pod: &Pod) -> bool {
    !pod.spec.topology_spread_constraints.is_empty()
}

/// The `DoNotSchedule` constraints of one pod with the counts of their domains
/// (upstream's PreFilter state).
pub struct Filter<'a> {
    constraints: Vec<Constraint<'a>>,
    counts: HashMap<(usize, &'a str), i64>,
    /// Per constraint: the smallest domain count (0 when fewer than minDomains domains).
    min: Vec<i64>,
    self_match: Vec<i64>,
}

impl<'a> Filter<'a> {
    pub fn new(pod: &'a Pod, view: &View<'a>) -> Option<Filter<'a>> {
        let constraints = Constraint::of(pod, DO_NOT_SCHEDULE);
        if constraints.is_empty() {
            return None;
        }
        let mut counts: HashMap<(usize, &'a str), i64> = HashMap::new();
        for (i, n) in view.nodes.iter().enumerate() {
            let labels = labels_of(n);
            if !has_all_keys(labels, &constraints) {
                continue;
            }
            for (ci, c) in constraints.iter().enumerate() {
                if c.includes(pod, n) {
                    *counts.entry((ci, labels[c.key].as_str())).or_default() += c.count_on(pod, view, i);
                }
            }
        }
        let min = constraints
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let domains = counts.iter().filter(|((k, _), _)| *k == ci);
                let (n, min) = domains.fold((0i64, i32::MAX as i64), |(n, m), (_, v)| (n + 1, m.min(*v)));
                if c.min_domains.is_some_and(|md| n < md) {
                    0
                } else {
                    min
                }
            })
            .collect();
        let self_match = constraints.iter().map(|c| c.matches(pod, pod) as i64).collect();
        Some(Filter { constraints, counts, min, self_match })
    }

    /// Upstream's Filter for one node.
    pub fn check(&self, n: &NodeState) -> Option<Unfit> {
        let labels = labels_of(n);
        for (ci, c) in self.constraints.iter().enumerate() {
            let Some(v) = labels.get(c.key) else { return Some(Unfit::SpreadMissingLabel) };
            let count = self.counts.get(&(ci, v.as_str())).copied().unwrap_or(0);
            if count + self.self_match[ci] - self.min[ci] > c.max_skew {
                return Some(Unfit::SpreadConstraints);
            }
        }
        None
    }
}

/// The scoring constraints of one pod with their domain counts (upstream's PreScore).
pub struct Score<'a> {
    pod: &'a Pod,
    constraints: Vec<Constraint<'a>>,
    /// Nodes without every key are not scored (explicit constraints only).
    require_all: bool,
    counts: HashMap<(usize, &'a str), i64>,
    weights: Vec<f64>,
}

impl<'a> Score<'a> {
    /// None when the pod has no scoring constraints (its own ScheduleAnyway ones, or the
    /// system defaults when it has no constraints at all and a controlling owner).
    /// `feasible` are the nodes that passed the filters.
    pub fn new(pod: &'a Pod, view: &View<'a>, feasible: &[usize]) -> Option<Score<'a>> {
        let (constraints, require_all) = if pod.spec.topology_spread_constraints.is_empty() {
            (Constraint::system_defaults(pod), false)
        } else {
            (Constraint::of(pod, SCHEDULE_ANYWAY), true)
        };
        if constraints.is_empty() || feasible.is_empty() {
            return None;
        }
        let mut counts: HashMap<(usize, &'a str), i64> = HashMap::new();
        let mut sizes = vec![0usize; constraints.len()];
        let mut ignored = 0usize;
        for &i in feasible {
            let labels = labels_of(&view.nodes[i]);
            if require_all && !has_all_keys(labels, &constraints) {
                ignored += 1;
                continue;
            }
            for (ci, c) in constraints.iter().enumerate() {
                // Hostname domains are counted per node when scoring.
                if c.key == LABEL_HOSTNAME {
                    continue;
                }
                if let Some(v) = labels.get(c.key) {
                    if counts.insert((ci, v.as_str()), 0).is_none() {
                        sizes[ci] += 1;
                    }
                }
            }
        }
        if !counts.is_empty() {
            for (i, n) in view.nodes.iter().enumerate() {
                let labels = labels_of(n);
                if require_all && !has_all_keys(labels, &constraints) {
                    continue;
                }
                for (ci, c) in constraints.iter().enumerate() {
                    let Some(v) = labels.get(c.key) else { continue };
                    if !c.includes(pod, n) {
                        continue;
                    }
                    if let Some(slot) = counts.get_mut(&(ci, v.as_str())) {
                        *slot += c.count_on(pod, view, i);
                    }
                }
            }
        }
        let weights = constraints
            .iter()
            .zip(&sizes)
            .map(|(c, size)| {
                let size = if c.key == LABEL_HOSTNAME { feasible.len() - ignored } else { *size };
                ((size + 2) as f64).ln()
            })
            .collect();
        Some(Score { pod, constraints, require_all, counts, weights })
    }

    /// Upstream's Score for node `i`: None for a node that is not scored.
    pub fn raw(&self, view: &View, i: usize) -> Option<i64> {
        let labels = labels_of(&view.nodes[i]);
        if self.require_all && !has_all_keys(labels, &self.constraints) {
            return None;
        }
        let mut score = 0f64;
        for (ci, c) in self.constraints.iter().enumerate() {
            let Some(v) = labels.get(c.key) else { continue };
            let count = if c.key == LABEL_HOSTNAME {
                c.count_on(self.pod, view, i)
            } else {
                self.counts.get(&(ci, v.as_str())).copied().unwrap_or(0)
            };
            score += count as f64 * self.weights[ci] + (c.max_skew - 1) as f64;
        }
        Some(score.round() as i64)
    }
}

/// Upstream's NormalizeScore: fewer matching pods score higher, 0–100; nodes not scored
/// get 0.
pub fn normalize(raw: &[Option<i64>]) -> Vec<i64> {
    let scored = raw.iter().flatten();
    let min = scored.clone().copied().min().unwrap_or(0);
    let max = scored.copied().max().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => 100,
            Some(s) => 100 * (max + min - s) / max,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn node(name: &str, zone: Option<&str>, extra: Value) -> NodeState {
        let mut labels = json!({"kubernetes.io/hostname": name});
        if let Some(z) = zone {
            labels[LABEL_ZONE] = json!(z);
        }
        let mut v = json!({"metadata": {"name": name, "labels": labels},
                           "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        if let Some(spec) = extra.get("spec") {
            v["spec"] = spec.clone();
        }
        if let Some(l) = extra.get("labels").and_then(Value::as_object) {
            for (k, x) in l {
                v["metadata"]["labels"][k] = x.clone();
            }
        }
        NodeState::new(Arc::new(serde_json::from_value(v).unwrap()))
    }

    fn pod(name: &str, labels: Value, spec: Value) -> Arc<Pod> {
        let mut v = json!({"metadata": {"name": name, "namespace": "default", "labels": labels,
                                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-1", "controller": true}]},
                           "spec": {"containers": [{"name": "c"}]}});
        if let (Some(s), Some(e)) = (v["spec"].as_object_mut(), spec.as_object()) {
            s.extend(e.clone());
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn web(n: usize) -> Vec<Arc<Pod>> {
        (0..n).map(|i| pod(&format!("w{i}"), json!({"app": "web"}), json!({}))).collect()
    }

    fn constraint(when: &str, extra: Value) -> Value {
        let mut c = json!({"maxSkew": 1, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": when,
                           "labelSelector": {"matchLabels": {"app": "web"}}});
        if let (Some(o), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        c
    }

    /// `placed[i]` pods on node i; returns the filter result per node.
    fn filter(nodes: Vec<NodeState>, placed: Vec<Vec<Arc<Pod>>>, incoming: &Pod) -> Vec<Option<Unfit>> {
        let mut nodes = nodes;
        for (n, ps) in nodes.iter_mut().zip(&placed) {
            for p in ps {
                n.add_pod(p);
            }
        }
        let view = View { nodes: &nodes, pods_on: &placed };
        let f = Filter::new(incoming, &view).expect("DoNotSchedule constraints");
        nodes.iter().map(|n| f.check(n)).collect()
    }

    #[test]
    fn do_not_schedule_keeps_skew_within_max() {
        let two_zones = || vec![node("a", Some("z1"), json!({})), node("b", Some("z1"), json!({})), node("c", Some("z2"), json!({}))];
        let skew = Some(Unfit::SpreadConstraints);
        let hard = |extra: Value| pod("new", json!({"app": "web", "v": "2"}), json!({"topologySpreadConstraints": [constraint(DO_NOT_SCHEDULE, extra)]}));
        let cases: Vec<(&str, Vec<NodeState>, Vec<Vec<Arc<Pod>>>, Arc<Pod>, Vec<Option<Unfit>>)> = vec![
            ("empty cluster: anywhere", two_zones(), vec![vec![], vec![], vec![]], hard(json!({})), vec![None, None, None]),
            ("one in z1: only z2", two_zones(), vec![web(1), vec![], vec![]], hard(json!({})), vec![skew.clone(), skew.clone(), None]),
            ("balanced: anywhere", two_zones(), vec![web(1), vec![], web(1)], hard(json!({})), vec![None, None, None]),
            ("maxSkew 2 allows one more", two_zones(), vec![web(1), vec![], vec![]], hard(json!({"maxSkew": 2})), vec![None, None, None]),
            ("pods not selected do not count", two_zones(), vec![vec![pod("x", json!({"app": "db"}), json!({}))], vec![], vec![]], hard(json!({})), vec![None, None, None]),
            ("matchLabelKeys narrows to the pod's own value", two_zones(),
             vec![vec![pod("old", json!({"app": "web", "v": "1"}), json!({}))], vec![], vec![]], hard(json!({"matchLabelKeys": ["v"]})), vec![None, None, None]),
            ("a node without the key is refused, and is no domain",
             vec![node("a", Some("z1"), json!({})), node("b", None, json!({}))], vec![vec![], web(3)], hard(json!({})),
             vec![None, Some(Unfit::SpreadMissingLabel)]),
            ("balanced over two zones", two_zones(), vec![web(1), vec![], web(1)], hard(json!({"minDomains": 2})), vec![None, None, None]),
            ("minDomains counts missing domains as empty", two_zones(), vec![web(1), vec![], web(1)], hard(json!({"minDomains": 3})),
             vec![skew.clone(), skew.clone(), skew.clone()]),
            ("nodeAffinityPolicy Honor: nodes the pod cannot use are no domain",
             vec![node("a", Some("z1"), json!({"labels": {"disk": "ssd"}})), node("c", Some("z2"), json!({}))], vec![web(1), vec![]],
             pod("new", json!({"app": "web"}), json!({"nodeSelector": {"disk": "ssd"}, "topologySpreadConstraints": [constraint(DO_NOT_SCHEDULE, json!({}))]})),
             vec![None, None]),
            ("nodeAffinityPolicy Ignore: they count",
             vec![node("a", Some("z1"), json!({"labels": {"disk": "ssd"}})), node("c", Some("z2"), json!({}))], vec![web(1), vec![]],
             pod("new", json!({"app": "web"}), json!({"nodeSelector": {"disk": "ssd"}, "topologySpreadConstraints": [constraint(DO_NOT_SCHEDULE, json!({"nodeAffinityPolicy": "Ignore"}))]})),
             vec![skew.clone(), None]),
            ("nodeTaintsPolicy Honor: tainted nodes are no domain",
             vec![node("a", Some("z1"), json!({})), node("c", Some("z2"), json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}))], vec![web(1), vec![]],
             hard(json!({"nodeTaintsPolicy": "Honor"})), vec![None, None]),
            ("nodeTaintsPolicy Ignore (default): they count",
             vec![node("a", Some("z1"), json!({})), node("c", Some("z2"), json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}))], vec![web(1), vec![]],
             hard(json!({})), vec![skew.clone(), None]),
        ];
        for (name, nodes, placed, incoming, want) in cases {
            assert_eq!(filter(nodes, placed, &incoming), want, "{name}");
        }
    }

    fn scores(nodes: Vec<NodeState>, placed: Vec<Vec<Arc<Pod>>>, incoming: &Pod) -> Vec<i64> {
        let mut nodes = nodes;
        for (n, ps) in nodes.iter_mut().zip(&placed) {
            for p in ps {
                n.add_pod(p);
            }
        }
        let view = View { nodes: &nodes, pods_on: &placed };
        let feasible: Vec<usize> = (0..nodes.len()).collect();
        let Some(s) = Score::new(incoming, &view, &feasible) else { return vec![] };
        normalize(&feasible.iter().map(|&i| s.raw(&view, i)).collect::<Vec<_>>())
    }

    #[test]
    fn schedule_anyway_and_system_defaults_score_emptier_domains_higher() {
        let soft = pod("new", json!({"app": "web"}), json!({"topologySpreadConstraints": [constraint(SCHEDULE_ANYWAY, json!({}))]}));
        let zones = || vec![node("a", Some("z1"), json!({})), node("b", Some("z2"), json!({})), node("c", None, json!({}))];
        // z1 holds 2, z2 holds 0 (weight ln(4)): raw 2·1.39 = 3 and 0; c has no zone.
        assert_eq!(scores(zones(), vec![web(2), vec![], vec![]], &soft), vec![0, 100, 0]);
        // Only DoNotSchedule constraints: nothing to score.
        let hard = pod("new", json!({"app": "web"}), json!({"topologySpreadConstraints": [constraint(DO_NOT_SCHEDULE, json!({}))]}));
        assert_eq!(scores(zones(), vec![web(2), vec![], vec![]], &hard), Vec::<i64>::new());
        // No constraints, owned by a ReplicaSet: the system defaults by hostname (and by zone
        // where nodes have one), counting the owner's pods.
        let plain = pod("new", json!({"app": "web"}), json!({}));
        let hosts = || vec![node("a", None, json!({})), node("b", None, json!({})), node("c", None, json!({}))];
        // raw: a 2·ln(5)+2 = 5, b 1·1.61+2 = 4 (3.6), c 2: normalized 100·(max+min−s)/max.
        assert_eq!(scores(hosts(), vec![web(2), web(1), vec![]], &plain), vec![40, 60, 100]);
        assert_eq!(scores(hosts(), vec![vec![], vec![], vec![]], &plain), vec![100, 100, 100]);
        // A pod without a controller gets no default spreading.
        let mut orphan = (*plain).clone();
        orphan.metadata.owner_references.clear();
        assert_eq!(scores(hosts(), vec![web(2), vec![], vec![]], &orphan), Vec::<i64>::new());
    }
}
