//! Inter-pod affinity and anti-affinity, as upstream's InterPodAffinity plugin: the
//! incoming pod's required terms and the required anti-affinity of pods already placed
//! filter nodes; preferred terms (the incoming pod's and the placed pods') score them.
//!
//! A term matches a pod by namespace (`namespaces`, `namespaceSelector`, by default the
//! term owner's namespace) and by its `labelSelector`, into which `matchLabelKeys` /
//! `mismatchLabelKeys` are merged from the term owner's labels (upstream's API server
//! merges them at creation; shoal merges them here). Topology is a node label: two nodes
//! with the same value of `topologyKey` are one domain.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use api::model::{LabelSelector, LabelSelectorRequirement, Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use super::fit::Unfit;

/// Labels of each namespace by name (for `namespaceSelector`).
pub type NamespaceLabels<'a> = HashMap<&'a str, &'a BTreeMap<String, String>>;

/// Weight of an existing pod's required affinity term when scoring (upstream's
/// `hardPodAffinityWeight` default).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// One term, ready to match pods.
#[derive(Debug, Clone)]
pub struct Term {
    namespaces: Vec<String>,
    namespace_selector: Option<LabelSelector>,
    /// None matches nothing (a term without a labelSelector).
    selector: Option<LabelSelector>,
    pub topology_key: String,
    pub weight: i64,
}

impl Term {
    fn new(owner: &Pod, t: &PodAffinityTerm, weight: i64) -> Self {
        let namespaces = if t.namespaces.is_empty() && t.namespace_selector.is_none() {
            vec![owner.metadata.namespace.clone().unwrap_or_default()]
        } else {
            t.namespaces.clone()
        };
        let selector = t.label_selector.clone().map(|mut s| {
            let labels = &owner.metadata.labels;
            for (keys, op) in [(&t.match_label_keys, "In"), (&t.mismatch_label_keys, "NotIn")] {
                for k in keys {
                    if let Some(v) = labels.get(k) {
                        s.match_expressions.push(LabelSelectorRequirement {
                            key: k.clone(),
                            operator: op.into(),
                            values: vec![v.clone()],
                        });
                    }
                }
            }
            s
        });
        Term { namespaces, namespace_selector: t.namespace_selector.clone(), selector, topology_key: t.topology_key.clone(), weight }
    }

    /// Upstream's `PodMatchesTermsNamespaceAndSelector`.
    pub fn matches(&self, pod: &Pod, ns: &NamespaceLabels) -> bool {
        let pod_ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let in_namespace = self.namespaces.iter().any(|n| n == pod_ns)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                static NONE: BTreeMap<String, String> = BTreeMap::new();
                s.matches(ns.get(pod_ns).copied().unwrap_or(&NONE))
            });
        in_namespace && self.selector.as_ref().is_some_and(|s| s.matches(&pod.metadata.labels))
    }
}

/// A pod's pod-affinity and anti-affinity terms.
#[derive(Debug, Clone, Default)]
pub struct PodTerms {
    pub required_affinity: Vec<Term>,
    pub required_anti: Vec<Term>,
    pub preferred_affinity: Vec<Term>,
    pub preferred_anti: Vec<Term>,
}

impl PodTerms {
    /// None when the pod has neither pod affinity nor pod anti-affinity.
    pub fn of(pod: &Pod) -> Option<PodTerms> {
        let a = pod.spec.affinity.as_ref()?;
        if a.pod_affinity.is_none() && a.pod_anti_affinity.is_none() {
            return None;
        }
        let req = |ts: &[PodAffinityTerm]| ts.iter().map(|t| Term::new(pod, t, HARD_POD_AFFINITY_WEIGHT)).collect();
        let pref = |ts: &[WeightedPodAffinityTerm]| {
            ts.iter().map(|w| Term::new(pod, &w.pod_affinity_term, w.weight as i64)).collect()
        };
        let (mut t, pa, anti) = (PodTerms::default(), a.pod_affinity.as_ref(), a.pod_anti_affinity.as_ref());
        if let Some(pa) = pa {
            t.required_affinity = req(&pa.required_during_scheduling_ignored_during_execution);
            t.preferred_affinity = pref(&pa.preferred_during_scheduling_ignored_during_execution);
        }
        if let Some(anti) = anti {
            t.required_anti = req(&anti.required_during_scheduling_ignored_during_execution);
            t.preferred_anti = pref(&anti.preferred_during_scheduling_ignored_during_execution);
        }
        Some(t)
    }

    /// Upstream's `podMatchesAllAffinityTerms` over the required affinity terms.
    fn all_affinity_match(&self, pod: &Pod, ns: &NamespaceLabels) -> bool {
        !self.required_affinity.is_empty() && self.required_affinity.iter().all(|t| t.matches(pod, ns))
    }
}

/// A placed pod that has pod affinity or anti-affinity terms, with its node's labels.
#[derive(Debug, Clone)]
pub struct Placed {
    pub pod: Arc<Pod>,
    pub node: usize,
    pub terms: PodTerms,
}

/// What the cluster looks like to the affinity checks of one incoming pod.
pub struct View<'a> {
    /// Each node's labels, by node index.
    pub node_labels: &'a [&'a BTreeMap<String, String>],
    /// Every placed pod per node index (only filled when some pod needs it).
    pub pods_on: &'a [Vec<Arc<Pod>>],
    /// Placed pods with affinity terms.
    pub with_affinity: &'a [Placed],
    pub namespaces: &'a NamespaceLabels<'a>,
}

type Pairs<'a> = HashMap<(&'a str, &'a str), i64>;

/// The incoming pod's counts, as upstream's PreFilter and PreScore compute them.
pub struct State<'a> {
    terms: Option<&'a PodTerms>,
    /// Pods that match all of the incoming pod's required affinity terms, per domain.
    affinity: Pairs<'a>,
    /// Pods that match one of the incoming pod's required anti-affinity terms, per domain.
    anti: Pairs<'a>,
    /// Placed pods whose required anti-affinity matches the incoming pod, per domain.
    existing_anti: Pairs<'a>,
    /// Sum of matching preferred weights per topology key and value.
    scores: HashMap<&'a str, HashMap<&'a str, i64>>,
    /// Whether the incoming pod matches its own required affinity terms.
    matches_itself: bool,
}

fn bump<'a>(m: &mut Pairs<'a>, key: &'a str, labels: &'a BTreeMap<String, String>, by: i64) {
    if let Some(v) = labels.get(key) {
        *m.entry((key, v.as_str())).or_default() += by;
    }
}

impl<'a> State<'a> {
    /// None when nothing about pod affinity concerns this pod (no terms of its own, no
    /// placed pod with terms).
    pub fn new(pod: &'a Pod, terms: Option<&'a PodTerms>, view: &View<'a>) -> Option<State<'a>> {
        if terms.is_none() && view.with_affinity.is_empty() {
            return None;
        }
        let ns = view.namespaces;
        let mut s = State {
            terms,
            affinity: Pairs::new(),
            anti: Pairs::new(),
            existing_anti: Pairs::new(),
            scores: HashMap::new(),
            matches_itself: terms.is_some_and(|t| t.all_affinity_match(pod, ns)),
        };
        let score = |scores: &mut HashMap<&'a str, HashMap<&'a str, i64>>, t: &'a Term, labels: &'a BTreeMap<String, String>, sign: i64| {
            if let Some(v) = labels.get(&t.topology_key) {
                *scores.entry(t.topology_key.as_str()).or_default().entry(v.as_str()).or_default() += sign * t.weight;
            }
        };
        if let Some(t) = terms {
            for (i, pods) in view.pods_on.iter().enumerate() {
                let labels = view.node_labels[i];
                for other in pods {
                    if t.all_affinity_match(other, ns) {
                        for term in &t.required_affinity {
                            bump(&mut s.affinity, &term.topology_key, labels, 1);
                        }
                    }
                    for term in t.required_anti.iter().filter(|term| term.matches(other, ns)) {
                        bump(&mut s.anti, &term.topology_key, labels, 1);
                    }
                    for term in t.preferred_affinity.iter().filter(|term| term.matches(other, ns)) {
                        score(&mut s.scores, term, labels, 1);
                    }
                    for term in t.preferred_anti.iter().filter(|term| term.matches(other, ns)) {
                        score(&mut s.scores, term, labels, -1);
                    }
                }
            }
        }
        for placed in view.with_affinity {
            let labels = view.node_labels[placed.node];
            let pt = &placed.terms;
            for term in pt.required_anti.iter().filter(|term| term.matches(pod, ns)) {
                bump(&mut s.existing_anti, &term.topology_key, labels, 1);
            }
            for term in pt.required_affinity.iter().chain(&pt.preferred_affinity).filter(|term| term.matches(pod, ns)) {
                score(&mut s.scores, term, labels, 1);
            }
            for term in pt.preferred_anti.iter().filter(|term| term.matches(pod, ns)) {
                score(&mut s.scores, term, labels, -1);
            }
        }
        Some(s)
    }

    /// Upstream's Filter: the pod's affinity, its anti-affinity, then the anti-affinity
    /// of the pods already placed.
    pub fn filter(&self, labels: &BTreeMap<String, String>) -> Option<Unfit> {
        if let Some(t) = self.terms {
            let mut pods_exist = true;
            for term in &t.required_affinity {
                let Some(v) = labels.get(&term.topology_key) else { return Some(Unfit::PodAffinity) };
                if self.affinity.get(&(term.topology_key.as_str(), v.as_str())).copied().unwrap_or(0) <= 0 {
                    pods_exist = false;
                }
            }
            // The first pod of a group with affinity to itself may go anywhere its
            // topology keys exist, as long as no pod anywhere matches its terms.
            if !pods_exist && !(self.affinity.is_empty() && self.matches_itself) {
                return Some(Unfit::PodAffinity);
            }
            for term in &t.required_anti {
                if let Some(v) = labels.get(&term.topology_key) {
                    if self.anti.get(&(term.topology_key.as_str(), v.as_str())).copied().unwrap_or(0) > 0 {
                        return Some(Unfit::PodAntiAffinity);
                    }
                }
            }
        }
        if !self.existing_anti.is_empty()
            && labels.iter().any(|(k, v)| self.existing_anti.get(&(k.as_str(), v.as_str())).copied().unwrap_or(0) > 0)
        {
            return Some(Unfit::ExistingAntiAffinity);
        }
        None
    }

    /// Upstream's Score before normalizing: the weights of the domains the node is in.
    pub fn raw_score(&self, labels: &BTreeMap<String, String>) -> i64 {
        self.scores
            .iter()
            .filter_map(|(k, values)| labels.get(*k).and_then(|v| values.get(v.as_str())))
            .sum()
    }

    /// Whether scores can differ between nodes (upstream skips normalizing otherwise).
    pub fn scores(&self) -> bool {
        !self.scores.is_empty()
    }
}

/// Upstream's NormalizeScore: 0–100 between the lowest (at most 0) and highest (at least
/// 0) raw score.
pub fn normalize(raw: &mut [i64]) {
    let max = raw.iter().copied().fold(0, i64::max);
    let min = raw.iter().copied().fold(0, i64::min);
    let diff = max - min;
    for s in raw.iter_mut() {
        *s = if diff > 0 { 100 * (*s - min) / diff } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn pod(name: &str, ns: &str, labels: Value, affinity: Value) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {"containers": [{"name": "c"}], "affinity": affinity}
            }))
            .unwrap(),
        )
    }

    fn labels(host: &str, zone: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("kubernetes.io/hostname".into(), host.into()), ("zone".into(), zone.into())])
    }

    fn term(key: &str, sel: Value) -> Value {
        json!({"labelSelector": sel, "topologyKey": key})
    }

    /// Three nodes (a, b in zone 1; c in zone 2) and `placed` pods on them by index.
    struct Cluster {
        labels: Vec<BTreeMap<String, String>>,
        pods_on: Vec<Vec<Arc<Pod>>>,
        with_affinity: Vec<Placed>,
        ns: Vec<(String, BTreeMap<String, String>)>,
    }

    impl Cluster {
        fn new(placed: &[(usize, Arc<Pod>)]) -> Self {
            let mut pods_on = vec![vec![], vec![], vec![]];
            let mut with_affinity = vec![];
            for (i, p) in placed {
                pods_on[*i].push(p.clone());
                if let Some(terms) = PodTerms::of(p) {
                    with_affinity.push(Placed { pod: p.clone(), node: *i, terms });
                }
            }
            Cluster {
                labels: vec![labels("a", "1"), labels("b", "1"), labels("c", "2")],
                pods_on,
                with_affinity,
                ns: vec![("prod".into(), BTreeMap::from([("env".into(), "prod".into())])), ("default".into(), BTreeMap::new())],
            }
        }

        /// The filter result on each node, and the normalized scores of the nodes that pass.
        fn run(&self, incoming: &Pod) -> (Vec<Option<Unfit>>, Vec<i64>) {
            let ns: NamespaceLabels = self.ns.iter().map(|(n, l)| (n.as_str(), l)).collect();
            let node_labels: Vec<_> = self.labels.iter().collect();
            let view = View { node_labels: &node_labels, pods_on: &self.pods_on, with_affinity: &self.with_affinity, namespaces: &ns };
            let terms = PodTerms::of(incoming);
            let Some(state) = State::new(incoming, terms.as_ref(), &view) else { return (vec![None; 3], vec![0; 3]) };
            let filtered: Vec<_> = self.labels.iter().map(|l| state.filter(l)).collect();
            let mut raw: Vec<i64> = self.labels.iter().map(|l| state.raw_score(l)).collect();
            normalize(&mut raw);
            (filtered, raw)
        }
    }

    #[test]
    fn required_terms_filter_nodes() {
        let web = json!({"matchLabels": {"app": "web"}});
        let anti_host = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname", web.clone())]}});
        let anti_zone = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", web.clone())]}});
        let with_db = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", json!({"matchLabels": {"app": "db"}}))]}});
        let self_affine = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("zone", web.clone())]}});
        let web_on = |i: usize, aff: &Value| (i, pod(&format!("w{i}"), "default", json!({"app": "web"}), aff.clone()));
        let (none, anti, pa, ex) = (None, Some(Unfit::PodAntiAffinity), Some(Unfit::PodAffinity), Some(Unfit::ExistingAntiAffinity));
        let cases: Vec<(&str, Vec<(usize, Arc<Pod>)>, Arc<Pod>, Vec<Option<Unfit>>)> = vec![
            ("anti-affinity by hostname keeps off the node with a match",
             vec![web_on(0, &json!(null))], pod("new", "default", json!({"app": "web"}), anti_host.clone()), vec![anti.clone(), none.clone(), none.clone()]),
            ("anti-affinity by zone keeps off the whole zone",
             vec![web_on(0, &json!(null))], pod("new", "default", json!({"app": "web"}), anti_zone.clone()), vec![anti.clone(), anti.clone(), none.clone()]),
            ("other namespaces do not match by default",
             vec![(0, pod("w", "prod", json!({"app": "web"}), json!(null)))], pod("new", "default", json!({}), anti_host.clone()), vec![none.clone(); 3]),
            ("an existing pod's anti-affinity refuses a matching newcomer (symmetry)",
             vec![web_on(2, &anti_host)], pod("new", "default", json!({"app": "web"}), json!(null)), vec![none.clone(), none.clone(), ex.clone()]),
            ("an existing pod's anti-affinity ignores pods it does not select",
             vec![web_on(2, &anti_host)], pod("new", "default", json!({"app": "db"}), json!(null)), vec![none.clone(); 3]),
            ("affinity needs a matching pod in the domain",
             vec![(2, pod("db", "default", json!({"app": "db"}), json!(null)))], pod("new", "default", json!({}), with_db.clone()), vec![pa.clone(), pa.clone(), none.clone()]),
            ("affinity with no match anywhere and not matching itself goes nowhere",
             vec![], pod("new", "default", json!({}), with_db.clone()), vec![pa.clone(); 3]),
            ("the first pod of a self-affine group goes anywhere",
             vec![], pod("new", "default", json!({"app": "web"}), self_affine.clone()), vec![none.clone(); 3]),
            ("later pods of the group follow the first",
             vec![web_on(2, &self_affine)], pod("new", "default", json!({"app": "web"}), self_affine.clone()), vec![pa.clone(), pa.clone(), none.clone()]),
        ];
        for (name, placed, incoming, want) in cases {
            assert_eq!(Cluster::new(&placed).run(&incoming).0, want, "{name}");
        }
    }

    #[test]
    fn namespaces_and_label_keys() {
        let anti = |t: Value| json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t]}});
        let placed = vec![(0, pod("w", "prod", json!({"app": "web", "v": "1"}), json!(null)))];
        let c = Cluster::new(&placed);
        let web = json!({"matchLabels": {"app": "web"}});
        let host = "kubernetes.io/hostname";
        let blocked = vec![Some(Unfit::PodAntiAffinity), None, None];
        let free = vec![None, None, None];
        let cases: Vec<(&str, Value, Value, Vec<Option<Unfit>>)> = vec![
            ("listed namespace", json!({}), json!({"labelSelector": web, "namespaces": ["prod"], "topologyKey": host}), blocked.clone()),
            ("namespace selector", json!({}), json!({"labelSelector": web, "namespaceSelector": {"matchLabels": {"env": "prod"}}, "topologyKey": host}), blocked.clone()),
            ("empty namespace selector is every namespace", json!({}), json!({"labelSelector": web, "namespaceSelector": {}, "topologyKey": host}), blocked.clone()),
            ("no labelSelector matches nothing", json!({}), json!({"namespaces": ["prod"], "topologyKey": host}), free.clone()),
            ("matchLabelKeys takes the owner's value", json!({"v": "2"}),
             json!({"labelSelector": web, "namespaces": ["prod"], "matchLabelKeys": ["v"], "topologyKey": host}), free.clone()),
            ("matchLabelKeys with the same value", json!({"v": "1"}),
             json!({"labelSelector": web, "namespaces": ["prod"], "matchLabelKeys": ["v"], "topologyKey": host}), blocked.clone()),
            ("mismatchLabelKeys", json!({"v": "2"}),
             json!({"labelSelector": web, "namespaces": ["prod"], "mismatchLabelKeys": ["v"], "topologyKey": host}), blocked.clone()),
            ("a node without the topology key is no domain", json!({}), json!({"labelSelector": web, "namespaces": ["prod"], "topologyKey": "rack"}), free.clone()),
        ];
        for (name, own_labels, t, want) in cases {
            assert_eq!(c.run(&pod("new", "default", own_labels, anti(t))).0, want, "{name}");
        }
    }

    #[test]
    fn preferred_terms_score_by_weight() {
        let web = json!({"matchLabels": {"app": "web"}});
        let pref = |kind: &str, w: i32, key: &str| {
            json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": w, "podAffinityTerm": term(key, web.clone())}]}})
        };
        let w = |i: usize| (i, pod(&format!("w{i}"), "default", json!({"app": "web"}), json!(null)));
        let plain = || pod("new", "default", json!({"app": "web"}), json!(null));
        let cases: Vec<(&str, Vec<(usize, Arc<Pod>)>, Arc<Pod>, Vec<i64>)> = vec![
            ("affinity to the zone with the most matches", vec![w(0), w(2), w(2)], pod("n", "default", json!({}), pref("podAffinity", 10, "zone")), vec![50, 50, 100]),
            ("anti-affinity away from matches", vec![w(0)], pod("n", "default", json!({}), pref("podAntiAffinity", 5, "kubernetes.io/hostname")), vec![0, 100, 100]),
            ("an existing pod's preferred affinity draws a pod it selects",
             vec![(1, pod("x", "default", json!({}), pref("podAffinity", 7, "kubernetes.io/hostname")))], plain(), vec![0, 100, 0]),
            ("an existing pod's preferred anti-affinity pushes it away",
             vec![(1, pod("x", "default", json!({}), pref("podAntiAffinity", 7, "zone")))], plain(), vec![0, 0, 100]),
            ("no terms: no scores", vec![w(0)], plain(), vec![0, 0, 0]),
        ];
        for (name, placed, incoming, want) in cases {
            assert_eq!(Cluster::new(&placed).run(&incoming).1, want, "{name}");
        }
    }
}
