//! Pure scheduling predicates and scores: resource fit, node selector and affinity,
//! taints and tolerations, and Kubernetes' "0/N nodes are available" message.

use std::collections::{BTreeMap, HashMap};

use api::model::{
    find_condition, Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, PreferredSchedulingTerm, Quantity,
    Taint, Toleration,
};

pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const EFFECT_NO_SCHEDULE: &str = "NoSchedule";
pub const EFFECT_NO_EXECUTE: &str = "NoExecute";

/// Requests used for scoring pods that request nothing (Kubernetes' non-zero defaults).
const DEFAULT_MILLI_CPU: i128 = 100;
const DEFAULT_MEMORY: i128 = 200 * 1024 * 1024;

/// The resources the scheduler accounts for: CPU in millicores, memory in bytes, pod slots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i128,
    pub memory: i128,
    pub pods: i128,
}

impl Resources {
    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.pods += o.pods;
    }
}

fn milli(q: Option<&Quantity>) -> i128 {
    q.and_then(|q| q.parsed().ok()).map(|p| p.milli_value()).unwrap_or(0)
}

fn units(q: Option<&Quantity>) -> i128 {
    q.and_then(|q| q.parsed().ok()).map(|p| p.value()).unwrap_or(0)
}

/// One container's request of `name`: its `requests`, else its `limits` (API defaulting).
fn container_request<'a>(c: &'a api::model::Container, name: &str) -> Option<&'a Quantity> {
    let r = c.resources.as_ref()?;
    r.requests.get(name).or_else(|| r.limits.get(name))
}

/// What a pod needs from a node: the sum over its containers, at least the largest init
/// container (they run one at a time before the others), and one pod slot.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    let mut r = Resources { pods: 1, ..Default::default() };
    for c in &spec.containers {
        r.milli_cpu += milli(container_request(c, "cpu"));
        r.memory += units(container_request(c, "memory"));
    }
    for c in &spec.init_containers {
        r.milli_cpu = r.milli_cpu.max(milli(container_request(c, "cpu")));
        r.memory = r.memory.max(units(container_request(c, "memory")));
    }
    r
}

/// What a node offers: `allocatable`, else `capacity`; a missing resource is 0.
pub fn node_allocatable(node: &Node) -> Resources {
    let Some(st) = &node.status else { return Resources::default() };
    let pick = |name: &str| st.allocatable.get(name).or_else(|| st.capacity.get(name));
    Resources { milli_cpu: milli(pick("cpu")), memory: units(pick("memory")), pods: units(pick("pods")) }
}

/// Whether the node's Ready condition is True.
pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, "Ready"))
        .is_some_and(|c| c.is_true())
}

/// Kubernetes' `Toleration.ToleratesTaint`: an empty effect matches every effect, an empty
/// key (with `Exists`) every key; `Equal` (the default) also compares values.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if e != taint.effect {
            return false;
        }
    }
    if let Some(k) = t.key.as_deref().filter(|k| !k.is_empty()) {
        if k != taint.key {
            return false;
        }
    }
    match t.operator.as_deref().unwrap_or("") {
        "Exists" => true,
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// The first taint with effect NoSchedule or NoExecute that no toleration tolerates.
pub fn untolerated_taint<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == EFFECT_NO_SCHEDULE || t.effect == EFFECT_NO_EXECUTE)
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

/// One `matchExpressions` requirement against a node's labels.
fn expression_matches(r: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let value = labels.get(&r.key);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| r.values.contains(v)),
        "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, r.values.as_slice()) else { return false };
            let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else { return false };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// One `matchFields` requirement: only `metadata.name` with `In`/`NotIn` exists.
fn field_matches(r: &NodeSelectorRequirement, node: &Node) -> bool {
    if r.key != "metadata.name" {
        return false;
    }
    match r.operator.as_str() {
        "In" => r.values.contains(&node.metadata.name),
        "NotIn" => !r.values.contains(&node.metadata.name),
        _ => false,
    }
}

/// One node selector term: its requirements ANDed; an empty term matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    (!term.match_expressions.is_empty() || !term.match_fields.is_empty())
        && term.match_expressions.iter().all(|r| expression_matches(r, &node.metadata.labels))
        && term.match_fields.iter().all(|r| field_matches(r, node))
}

/// A required node selector (ORed terms) against a node: what a PersistentVolume's node
/// affinity and a pod's required node affinity ask.
pub fn node_selector_matches(sel: &NodeSelector, node: &Node) -> bool {
    sel.node_selector_terms.iter().any(|term| term_matches(term, node))
}

/// `spec.nodeSelector` and the required node affinity: every selector label, and at least
/// one of the ORed terms.
pub fn matches_node_selector_and_affinity(spec: &PodSpec, node: &Node) -> bool {
    let labels = &node.metadata.labels;
    if !spec.node_selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return false;
    }
    spec.affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
        .is_none_or(|required| node_selector_matches(required, node))
}

/// The preferred node-affinity terms of a pod, if it has any (upstream's NodeAffinity
/// score plugin has nothing to do otherwise).
pub fn preferred_node_terms(spec: &PodSpec) -> Option<&[PreferredSchedulingTerm]> {
    let terms = &spec.affinity.as_ref()?.node_affinity.as_ref()?.preferred_during_scheduling_ignored_during_execution;
    (!terms.is_empty()).then_some(terms.as_slice())
}

/// The raw NodeAffinity score of a node: the summed weights of the preferred terms it
/// matches (normalized over the feasible nodes by the caller).
pub fn preferred_node_score(terms: &[PreferredSchedulingTerm], node: &Node) -> i64 {
    terms.iter().filter(|t| term_matches(&t.preference, node)).map(|t| i64::from(t.weight)).sum()
}

/// Why a node cannot take a pod. A node reports the first failing check, except that
/// every insufficient resource is reported (as Kubernetes' NodeResourcesFit does).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unfit {
    NotReady,
    Unschedulable,
    Taint { key: String, value: String },
    NodeAffinity,
    TooManyPods,
    InsufficientCpu,
    InsufficientMemory,
    SpreadConstraints,
    SpreadMissingLabel,
    PodAffinity,
    PodAntiAffinity,
    ExistingAntiAffinity,
    VolumeNodeAffinity,
}

impl Unfit {
    /// Whether evicting pods could make the node fit (upstream's `Unschedulable`), as
    /// opposed to `UnschedulableAndUnresolvable`, where preemption is not helpful.
    pub fn resolvable(&self) -> bool {
        matches!(
            self,
            Unfit::TooManyPods
                | Unfit::InsufficientCpu
                | Unfit::InsufficientMemory
                | Unfit::SpreadConstraints
                | Unfit::PodAntiAffinity
                | Unfit::ExistingAntiAffinity
        )
    }
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::NotReady => write!(f, "node(s) were not ready"),
            Unfit::Unschedulable => write!(f, "node(s) were unschedulable"),
            Unfit::Taint { key, value } => write!(f, "node(s) had untolerated taint {{{key}: {value}}}"),
            Unfit::NodeAffinity => write!(f, "node(s) didn't match Pod's node affinity/selector"),
            Unfit::TooManyPods => write!(f, "Too many pods"),
            Unfit::InsufficientCpu => write!(f, "Insufficient cpu"),
            Unfit::InsufficientMemory => write!(f, "Insufficient memory"),
            Unfit::SpreadConstraints => write!(f, "node(s) didn't match pod topology spread constraints"),
            Unfit::SpreadMissingLabel => write!(f, "node(s) didn't match pod topology spread constraints (missing required label)"),
            Unfit::PodAffinity => write!(f, "node(s) didn't match pod affinity rules"),
            Unfit::PodAntiAffinity => write!(f, "node(s) didn't match pod anti-affinity rules"),
            Unfit::ExistingAntiAffinity => write!(f, "node(s) didn't satisfy existing pods anti-affinity rules"),
            Unfit::VolumeNodeAffinity => write!(f, "node(s) had volume node affinity conflict"),
        }
    }
}

/// What the scheduler knows of one node during a pass.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub node: std::sync::Arc<Node>,
    pub allocatable: Resources,
    /// Requests of the pods bound to it (including those bound earlier in this pass).
    pub requested: Resources,
    /// Non-zero requests (for scoring pods that ask for nothing).
    pub scored: Resources,
    /// Pods on the node per controlling owner uid (not counting terminating ones).
    pub by_owner: HashMap<String, u32>,
}

impl NodeState {
    pub fn new(node: std::sync::Arc<Node>) -> Self {
        let allocatable = node_allocatable(&node);
        NodeState {
            node,
            allocatable,
            requested: Resources::default(),
            scored: Resources::default(),
            by_owner: HashMap::new(),
        }
    }

    /// Accounts a pod as running here.
    pub fn add_pod(&mut self, pod: &Pod) {
        let r = pod_requests(&pod.spec);
        self.requested.add(&r);
        self.scored.add(&non_zero(r));
        if let Some(o) = pod.metadata.controller_ref().filter(|_| !pod.metadata.is_deleting()) {
            *self.by_owner.entry(o.uid.clone()).or_default() += 1;
        }
    }

    pub fn name(&self) -> &str {
        &self.node.metadata.name
    }
}

fn non_zero(mut r: Resources) -> Resources {
    if r.milli_cpu == 0 {
        r.milli_cpu = DEFAULT_MILLI_CPU;
    }
    if r.memory == 0 {
        r.memory = DEFAULT_MEMORY;
    }
    r
}

/// Checks every filter for `pod` (whose requests are `req`) on `n`; empty means it fits.
pub fn check(pod: &Pod, req: &Resources, n: &NodeState) -> Vec<Unfit> {
    let node = &n.node;
    let spec = &pod.spec;
    if !node_ready(node) {
        return vec![Unfit::NotReady];
    }
    if node.spec.unschedulable == Some(true) {
        let t = Taint { key: TAINT_UNSCHEDULABLE.into(), effect: EFFECT_NO_SCHEDULE.into(), ..Default::default() };
        if !spec.tolerations.iter().any(|tol| tolerates(tol, &t)) {
            return vec![Unfit::Unschedulable];
        }
    }
    if let Some(t) = untolerated_taint(&node.spec.taints, &spec.tolerations) {
        return vec![Unfit::Taint { key: t.key.clone(), value: t.value.clone().unwrap_or_default() }];
    }
    if !matches_node_selector_and_affinity(spec, node) {
        return vec![Unfit::NodeAffinity];
    }
    let (a, used) = (&n.allocatable, &n.requested);
    let mut out = Vec::new();
    if used.pods + req.pods > a.pods {
        out.push(Unfit::TooManyPods);
    }
    if req.milli_cpu > 0 && used.milli_cpu + req.milli_cpu > a.milli_cpu {
        out.push(Unfit::InsufficientCpu);
    }
    if req.memory > 0 && used.memory + req.memory > a.memory {
        out.push(Unfit::InsufficientMemory);
    }
    out
}

/// Upstream's LeastAllocated score, 0–100: the free share of CPU and memory after
/// placing the pod (non-zero requests), averaged.
pub fn least_requested(req: &Resources, n: &NodeState) -> i64 {
    let want = non_zero(*req);
    let least = |cap: i128, used: i128| -> i128 {
        if cap <= 0 || used > cap {
            0
        } else {
            (cap - used) * 100 / cap
        }
    };
    let cpu = least(n.allocatable.milli_cpu, n.scored.milli_cpu + want.milli_cpu);
    let mem = least(n.allocatable.memory, n.scored.memory + want.memory);
    ((cpu + mem) / 2) as i64
}

pub const NO_NODES_MESSAGE: &str = "no nodes available to schedule pods";

/// Kubernetes' FitError message with what preemption found, e.g. `0/3 nodes are
/// available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu.
/// preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No
/// preemption victims found for incoming pod.` (reasons counted, sorted as text).
/// `reasons` holds each node's reasons; shoal does not preempt, so a node where evicting
/// pods could help reports that no victims were found.
pub fn fit_error_message(reasons: &[Vec<Unfit>]) -> String {
    if reasons.is_empty() {
        return NO_NODES_MESSAGE.to_string();
    }
    let total = reasons.len();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut preemption: HashMap<&str, usize> = HashMap::new();
    for node in reasons {
        for u in node {
            *counts.entry(u.to_string()).or_default() += 1;
        }
        let helpful = !node.is_empty() && node.iter().all(Unfit::resolvable);
        let why = if helpful { "No preemption victims found for incoming pod" } else { "Preemption is not helpful for scheduling" };
        *preemption.entry(why).or_default() += 1;
    }
    let list = |m: Vec<(String, usize)>| {
        let mut parts: Vec<String> = m.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
        parts.sort();
        parts.join(", ")
    };
    let fit = list(counts.into_iter().collect());
    let pre = list(preemption.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
    format!("0/{total} nodes are available: {fit}. preemption: 0/{total} nodes are available: {pre}.")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use api::model::NodeSelector;

    fn node(name: &str, cpu: &str, mem: &str, extra: serde_json::Value) -> Node {
        let mut v = json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "zone": "a", "gen": "5"}},
            "status": {"allocatable": {"cpu": cpu, "memory": mem, "pods": "3"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        json_patch_merge(&mut v, &extra);
        serde_json::from_value(v).unwrap()
    }

    fn json_patch_merge(a: &mut serde_json::Value, b: &serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    json_patch_merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b.clone(),
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec})).unwrap()
    }

    fn web(cpu: &str, mem: &str) -> Pod {
        pod(json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}))
    }

    fn state(n: Node) -> NodeState {
        NodeState::new(Arc::new(n))
    }

    #[test]
    fn requests_sum_containers_and_take_the_largest_init_container() {
        let p = pod(json!({
            "initContainers": [{"name": "i1", "resources": {"requests": {"cpu": "2", "memory": "64Mi"}}},
                               {"name": "i2", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "0.5", "memory": "128Mi"}}},
                           {"name": "c"}]
        }));
        let r = pod_requests(&p.spec);
        assert_eq!(r, Resources { milli_cpu: 2000, memory: 1 << 30, pods: 1 });
        let r = pod_requests(&web("100m", "1Mi").spec);
        assert_eq!(r, Resources { milli_cpu: 100, memory: 1 << 20, pods: 1 });
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let taint = |k: &str, v: Option<&str>, e: &str| Taint {
            key: k.into(),
            value: v.map(Into::into),
            effect: e.into(),
            time_added: None,
        };
        let tol = |k: Option<&str>, op: Option<&str>, v: Option<&str>, e: Option<&str>| Toleration {
            key: k.map(Into::into),
            operator: op.map(Into::into),
            value: v.map(Into::into),
            effect: e.map(Into::into),
            toleration_seconds: None,
        };
        let gpu = taint("gpu", Some("yes"), "NoSchedule");
        let cases: &[(&str, Toleration, &Taint, bool)] = &[
            ("equal key and value", tol(Some("gpu"), Some("Equal"), Some("yes"), Some("NoSchedule")), &gpu, true),
            ("default operator is Equal", tol(Some("gpu"), None, Some("yes"), None), &gpu, true),
            ("value differs", tol(Some("gpu"), None, Some("no"), None), &gpu, false),
            ("exists ignores value", tol(Some("gpu"), Some("Exists"), None, None), &gpu, true),
            ("effect differs", tol(Some("gpu"), Some("Exists"), None, Some("NoExecute")), &gpu, false),
            ("empty effect matches all", tol(Some("gpu"), Some("Exists"), None, Some("")), &gpu, true),
            ("empty key with Exists tolerates all", tol(None, Some("Exists"), None, None), &gpu, true),
            ("key differs", tol(Some("ssd"), Some("Exists"), None, None), &gpu, false),
            ("unknown operator", tol(Some("gpu"), Some("Like"), Some("yes"), None), &gpu, false),
            (
                "Equal with no value matches a taint with no value",
                tol(Some("node.kubernetes.io/unreachable"), None, None, Some("NoExecute")),
                &taint("node.kubernetes.io/unreachable", None, "NoExecute"),
                true,
            ),
        ];
        for (name, t, taint, want) in cases {
            assert_eq!(tolerates(t, taint), *want, "{name}");
        }
        // PreferNoSchedule never blocks; NoExecute does.
        let taints = vec![taint("soft", None, "PreferNoSchedule"), taint("hard", None, "NoExecute")];
        assert_eq!(untolerated_taint(&taints, &[]).map(|t| t.key.as_str()), Some("hard"));
        assert!(untolerated_taint(&taints, &[tol(Some("hard"), Some("Exists"), None, None)]).is_none());
    }

    #[test]
    fn node_affinity_operators() {
        let n = node("n1", "4", "8Gi", json!({}));
        let term = |exprs: serde_json::Value, fields: serde_json::Value| {
            json!({"matchExpressions": exprs, "matchFields": fields})
        };
        let cases: Vec<(&str, serde_json::Value, bool)> = vec![
            ("In", json!([term(json!([{"key": "zone", "operator": "In", "values": ["a", "b"]}]), json!([]))]), true),
            ("In miss", json!([term(json!([{"key": "zone", "operator": "In", "values": ["b"]}]), json!([]))]), false),
            ("NotIn", json!([term(json!([{"key": "zone", "operator": "NotIn", "values": ["b"]}]), json!([]))]), true),
            ("NotIn absent", json!([term(json!([{"key": "x", "operator": "NotIn", "values": ["b"]}]), json!([]))]), true),
            ("Exists", json!([term(json!([{"key": "zone", "operator": "Exists"}]), json!([]))]), true),
            ("DoesNotExist", json!([term(json!([{"key": "zone", "operator": "DoesNotExist"}]), json!([]))]), false),
            ("Gt", json!([term(json!([{"key": "gen", "operator": "Gt", "values": ["4"]}]), json!([]))]), true),
            ("Gt equal", json!([term(json!([{"key": "gen", "operator": "Gt", "values": ["5"]}]), json!([]))]), false),
            ("Lt", json!([term(json!([{"key": "gen", "operator": "Lt", "values": ["6"]}]), json!([]))]), true),
            ("Lt not a number", json!([term(json!([{"key": "zone", "operator": "Lt", "values": ["6"]}]), json!([]))]), false),
            ("field In", json!([term(json!([]), json!([{"key": "metadata.name", "operator": "In", "values": ["n1"]}]))]), true),
            ("field NotIn", json!([term(json!([]), json!([{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]))]), false),
            ("terms are ORed", json!([
                term(json!([{"key": "zone", "operator": "In", "values": ["b"]}]), json!([])),
                term(json!([{"key": "zone", "operator": "In", "values": ["a"]}]), json!([]))]), true),
            ("requirements are ANDed", json!([term(json!([
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "gen", "operator": "Lt", "values": ["5"]}]), json!([]))]), false),
            ("empty term matches nothing", json!([term(json!([]), json!([]))]), false),
            ("no terms match nothing", json!([]), false),
        ];
        for (name, terms, want) in cases {
            let mut p = pod(json!({"containers": [{"name": "c"}]}));
            let sel: NodeSelector = serde_json::from_value(json!({"nodeSelectorTerms": terms})).unwrap();
            p.spec.affinity = Some(Box::new(api::model::Affinity {
                node_affinity: Some(api::model::NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(sel),
                    ..Default::default()
                }),
                ..Default::default()
            }));
            assert_eq!(matches_node_selector_and_affinity(&p.spec, &n), want, "{name}");
        }
        let p = pod(json!({"containers": [{"name": "c"}], "nodeSelector": {"zone": "a"}}));
        assert!(matches_node_selector_and_affinity(&p.spec, &n));
        let p = pod(json!({"containers": [{"name": "c"}], "nodeSelector": {"zone": "a", "disk": "ssd"}}));
        assert!(!matches_node_selector_and_affinity(&p.spec, &n));
    }

    #[test]
    fn filters_report_why_a_node_does_not_fit() {
        let p = web("1", "1Gi");
        let req = pod_requests(&p.spec);
        let cases: Vec<(&str, NodeState, Vec<Unfit>)> = vec![
            ("fits", state(node("n", "2", "2Gi", json!({}))), vec![]),
            ("exactly fits", state(node("n", "1", "1Gi", json!({}))), vec![]),
            ("cpu", state(node("n", "500m", "2Gi", json!({}))), vec![Unfit::InsufficientCpu]),
            ("cpu and memory", state(node("n", "500m", "1Mi", json!({}))), vec![Unfit::InsufficientCpu, Unfit::InsufficientMemory]),
            (
                "not ready",
                state(node("n", "2", "2Gi", json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}))),
                vec![Unfit::NotReady],
            ),
            ("cordoned", state(node("n", "2", "2Gi", json!({"spec": {"unschedulable": true}}))), vec![Unfit::Unschedulable]),
            (
                "tainted",
                state(node("n", "2", "2Gi", json!({"spec": {"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]}}))),
                vec![Unfit::Taint { key: "gpu".into(), value: "yes".into() }],
            ),
        ];
        for (name, n, want) in cases {
            assert_eq!(check(&p, &req, &n), want, "{name}");
        }
        // Bound pods use up the node: two 1-cpu pods fill a 2-cpu node; pods slots too.
        let mut n = state(node("n", "2", "2Gi", json!({})));
        n.add_pod(&p);
        assert_eq!(check(&p, &req, &n), vec![]);
        n.add_pod(&p);
        assert_eq!(check(&p, &req, &n), vec![Unfit::InsufficientCpu, Unfit::InsufficientMemory]);
        let tiny = pod(json!({"containers": [{"name": "c"}]}));
        let mut n = state(node("n", "2", "2Gi", json!({})));
        for _ in 0..3 {
            assert_eq!(check(&tiny, &pod_requests(&tiny.spec), &n), vec![]);
            n.add_pod(&tiny);
        }
        assert_eq!(check(&tiny, &pod_requests(&tiny.spec), &n), vec![Unfit::TooManyPods]);
    }

    #[test]
    fn least_requested_prefers_free_nodes() {
        let p = web("100m", "100Mi");
        let req = pod_requests(&p.spec);
        let mut busy = state(node("a", "4", "8Gi", json!({})));
        busy.add_pod(&web("3", "6Gi"));
        let idle = state(node("c", "4", "8Gi", json!({})));
        // (4000−100)/4000 and (8Gi−100Mi)/8Gi → 97 and 98, averaged; busy: 22 and 23.
        assert_eq!((least_requested(&req, &idle), least_requested(&req, &busy)), (97, 22));
        // A pod that asks for nothing is scored as asking for 100m and 200Mi.
        let empty = pod(json!({"containers": [{"name": "c"}]}));
        assert_eq!(least_requested(&pod_requests(&empty.spec), &idle), 97);
    }

    #[test]
    fn fit_error_message_counts_and_sorts_reasons_and_says_what_preemption_found() {
        use Unfit::*;
        let cases: Vec<(Vec<Vec<Unfit>>, &str)> = vec![
            (
                vec![vec![InsufficientCpu], vec![InsufficientCpu], vec![NodeAffinity]],
                "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu. \
                 preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
            ),
            (
                vec![vec![PodAntiAffinity]; 3],
                "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. \
                 preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
            ),
            (
                vec![vec![InsufficientCpu, InsufficientMemory], vec![SpreadMissingLabel]],
                "0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 node(s) didn't match pod topology spread constraints (missing required label). \
                 preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
            ),
            (vec![], "no nodes available to schedule pods"),
        ];
        for (reasons, want) in cases {
            assert_eq!(fit_error_message(&reasons), want);
        }
        let t = Unfit::Taint { key: "node.kubernetes.io/unreachable".into(), value: String::new() };
        assert_eq!(t.to_string(), "node(s) had untolerated taint {node.kubernetes.io/unreachable: }");
    }
}
