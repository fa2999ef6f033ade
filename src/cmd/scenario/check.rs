//! Wait conditions and assertions, evaluated on fetched JSON: each returns what does not hold,
//! worded with the observed values.

use std::collections::BTreeMap;

use serde_json::Value;

use super::step::{revision_string, Assertion, Condition, PodCount, PodsPerNode};
use crate::cmd::rollout::{revision_of, rollout_state, RolloutState};

fn int_at(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

/// A pod that counts: not being deleted and not finished.
pub fn is_live(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null)
        && !matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

fn is_running(pod: &Value) -> bool {
    is_live(pod) && pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
}

/// The deployment part of a `wait`; `Err` when waiting longer cannot help (progress deadline).
pub fn deployment_wait(c: &Condition, name: &str, d: &Value) -> Result<Vec<String>, String> {
    let mut unmet = Vec::new();
    for (field, want, pointer) in [
        ("availableReplicas", c.available, "/status/availableReplicas"),
        ("readyReplicas", c.ready, "/status/readyReplicas"),
        ("updatedReplicas", c.updated, "/status/updatedReplicas"),
    ] {
        if let Some(want) = want {
            let got = int_at(d, pointer);
            if got < want {
                unmet.push(format!("deployment {name}: {field} {got}, want >= {want}"));
            }
        }
    }
    if c.complete == Some(true) {
        match rollout_state(d, name) {
            RolloutState::Done(_) => {}
            RolloutState::Waiting(msg) => unmet.push(msg),
            RolloutState::Failed(msg) => return Err(msg),
        }
    }
    Ok(unmet)
}

/// Pod counts: at least (`exact == false`, for waits) or exactly (asserts).
pub fn pod_counts(p: &PodCount, pods: &[Value], exact: bool) -> Vec<String> {
    let running = pods.iter().filter(|p| is_running(p)).count() as i64;
    let live = pods.iter().filter(|p| is_live(p)).count() as i64;
    let mut unmet = Vec::new();
    for (what, want, got) in [("running", p.running, running), ("live", p.count, live)] {
        let Some(want) = want else { continue };
        if (exact && got != want) || (!exact && got < want) {
            let op = if exact { "==" } else { ">=" };
            unmet.push(format!("pods {}: {got} {what}, want {op} {want} ({live} live, {} listed)", p.selector, pods.len()));
        }
    }
    unmet
}

/// Nodes whose Ready condition is True.
pub fn ready_nodes(nodes: &[Value]) -> i64 {
    nodes
        .iter()
        .filter(|n| {
            n.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
        })
        .count() as i64
}

/// Owned ReplicaSets that still have (or want) pods.
pub fn active_replicasets(sets: &[Value]) -> i64 {
    sets.iter().filter(|rs| int_at(rs, "/spec/replicas") > 0 || int_at(rs, "/status/replicas") > 0).count() as i64
}

/// The deployment part of an `assert` (exact counts); `sets` are the ReplicaSets it owns.
pub fn deployment_assert(a: &Assertion, name: &str, d: &Value, sets: &[Value]) -> Vec<String> {
    let mut unmet = Vec::new();
    if let Some(want) = a.replicas {
        let spec = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        let status = int_at(d, "/status/replicas");
        if spec != want || status != want {
            unmet.push(format!("deployment {name}: spec.replicas {spec}, status.replicas {status}, want {want}"));
        }
    }
    for (field, want, pointer) in [
        ("readyReplicas", a.ready, "/status/readyReplicas"),
        ("availableReplicas", a.available, "/status/availableReplicas"),
        ("updatedReplicas", a.updated, "/status/updatedReplicas"),
    ] {
        if let Some(want) = want {
            let got = int_at(d, pointer);
            if got != want {
                unmet.push(format!("deployment {name}: {field} {got}, want {want}"));
            }
        }
    }
    if let Some(want) = &a.revision {
        let want = revision_string(want);
        let got = revision_of(d).map_or_else(|| "<none>".to_string(), |r| r.to_string());
        if got != want {
            unmet.push(format!("deployment {name}: revision {got}, want {want}"));
        }
    }
    if let Some(want) = a.replicasets {
        let got = active_replicasets(sets);
        if got != want {
            let seen: Vec<String> = sets
                .iter()
                .map(|rs| {
                    format!(
                        "{} (rev {}, spec {}, status {})",
                        name_of(rs),
                        revision_of(rs).unwrap_or(0),
                        int_at(rs, "/spec/replicas"),
                        int_at(rs, "/status/replicas")
                    )
                })
                .collect();
            unmet.push(format!("deployment {name}: {got} replicasets with replicas, want {want}: {}", seen.join(", ")));
        }
    }
    if a.complete == Some(true) {
        match rollout_state(d, name) {
            RolloutState::Done(_) => {}
            RolloutState::Waiting(msg) | RolloutState::Failed(msg) => unmet.push(msg),
        }
    }
    unmet
}

/// Live pods per node within `[min, max]`; Ready nodes without pods count as 0.
pub fn pods_per_node(p: &PodsPerNode, pods: &[Value], nodes: &[Value]) -> Vec<String> {
    let mut per_node: BTreeMap<String, i64> = BTreeMap::new();
    for n in nodes {
        if ready_nodes(std::slice::from_ref(n)) == 1 {
            per_node.insert(name_of(n).to_string(), 0);
        }
    }
    let mut unscheduled = 0;
    for pod in pods.iter().filter(|p| is_live(p)) {
        match pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(node) => *per_node.entry(node.to_string()).or_default() += 1,
            None => unscheduled += 1,
        }
    }
    let bad: Vec<String> = per_node
        .iter()
        .filter(|(_, n)| p.min.is_some_and(|m| **n < m) || p.max.is_some_and(|m| **n > m))
        .map(|(node, n)| format!("{node}={n}"))
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    let all: Vec<String> = per_node.iter().map(|(node, n)| format!("{node}={n}")).collect();
    vec![format!(
        "pods {} per node outside [{}, {}]: {} (all: {}; unscheduled {unscheduled})",
        p.selector,
        p.min.map_or("-".into(), |m| m.to_string()),
        p.max.map_or("-".into(), |m| m.to_string()),
        bad.join(", "),
        all.join(", ")
    )]
}

/// Every restart in the `/debug/actors` tree: the root's `totalRestarts` when it has one (it
/// keeps the restarts of actors whose objects are gone), else the sum of `restarts` and
/// `departedRestarts` over the tree.
/// The restart figures of a `/debug/actors` tree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restarts {
    pub total: u64,
    /// Restarts caused by kills, crashes and escalations (`restartsByCause`).
    pub killed: u64,
    pub crashed: u64,
    pub escalated: u64,
    /// Restarts of the whole tree after the root's budget was spent.
    pub tree: u64,
}

impl Restarts {
    pub fn of(tree: &Value) -> Self {
        let n = |p: &str| tree.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        Restarts {
            total: restarts_sum(tree),
            killed: n("/restartsByCause/killed"),
            crashed: n("/restartsByCause/crashed"),
            escalated: n("/restartsByCause/escalated"),
            tree: n("/treeRestarts"),
        }
    }

    /// What was added since `before`.
    pub fn since(&self, before: &Restarts) -> Restarts {
        Restarts {
            total: self.total.saturating_sub(before.total),
            killed: self.killed.saturating_sub(before.killed),
            crashed: self.crashed.saturating_sub(before.crashed),
            escalated: self.escalated.saturating_sub(before.escalated),
            tree: self.tree.saturating_sub(before.tree),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} restarts ({} after kills, {} escalations, {} crashes), {} tree restarts",
            self.total, self.killed, self.escalated, self.crashed, self.tree
        )
    }
}

pub fn restarts_sum(tree: &Value) -> u64 {
    if let Some(total) = tree.get("totalRestarts").and_then(Value::as_u64) {
        return total;
    }
    let own = ["restarts", "departedRestarts"].iter().filter_map(|k| tree.get(*k).and_then(Value::as_u64)).sum::<u64>();
    let children = tree.get("children").and_then(Value::as_array).into_iter().flatten().map(restarts_sum).sum::<u64>();
    own + children
}

/// The uid of a pod's controlling owner (the ReplicaSet, StatefulSet, Job… that made it).
fn controller_uid(pod: &Value) -> Option<&str> {
    pod.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

/// No pod is a duplicate, and the live pods number exactly `want`.
///
/// Names are unique keys in the store, so a duplicate is not two pods with one name: it is
/// a controller that made two pods for one missing replica, which shows as an owner
/// (among `owners`, e.g. the namespace's ReplicaSets) with more live pods than its
/// `spec.replicas`. Extra pods of one owner beyond its replica count are reported by name.
pub fn no_duplicate_pods(what: &str, pods: &[Value], owners: &[Value], want: i64) -> Vec<String> {
    let mut by_owner: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in pods.iter().filter(|p| is_live(p)) {
        if let Some(uid) = controller_uid(p) {
            by_owner.entry(uid).or_default().push(name_of(p));
        }
    }
    let mut unmet = Vec::new();
    for owner in owners {
        let uid = owner.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
        let replicas = owner.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
        if let Some(names) = by_owner.get(uid).filter(|n| n.len() as i64 > replicas) {
            unmet.push(format!(
                "{what}: {} {} has {} live pods for {replicas} replicas (duplicates): {names:?}",
                owner.pointer("/kind").and_then(Value::as_str).unwrap_or("owner"),
                name_of(owner),
                names.len()
            ));
        }
    }
    let live = pods.iter().filter(|p| is_live(p)).count() as i64;
    if live != want {
        let terminating = pods.len() as i64 - live;
        unmet.push(format!("{what}: {live} live pods ({terminating} terminating or finished), want {want}"));
    }
    unmet
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({
            "metadata": {"name": "web", "generation": 4, "uid": "u1",
                         "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 20},
            "status": {"observedGeneration": 4, "replicas": 20, "updatedReplicas": 20,
                       "readyReplicas": 20, "availableReplicas": 18},
        })
    }

    fn pod(name: &str, node: &str, phase: &str, deleting: bool) -> Value {
        let mut p = json!({"metadata": {"name": name}, "spec": {"nodeName": node}, "status": {"phase": phase}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        }
        p
    }

    fn node(name: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name},
               "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn deployment_wait_reports_what_it_saw() {
        let c = Condition { deployment: Some("web".into()), available: Some(20), complete: Some(true), ..Default::default() };
        let unmet = deployment_wait(&c, "web", &deploy()).unwrap();
        assert_eq!(unmet.len(), 2, "{unmet:?}");
        assert!(unmet[0].contains("availableReplicas 18, want >= 20"));
        assert!(unmet[1].contains("18 of 20 updated replicas are available"));
        let mut done = deploy();
        done["status"]["availableReplicas"] = json!(20);
        assert!(deployment_wait(&c, "web", &done).unwrap().is_empty());
        done["status"]["conditions"] = json!([{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]);
        assert!(deployment_wait(&c, "web", &done).is_err());
    }

    #[test]
    fn deployment_assert_is_exact() {
        let sets = [
            json!({"metadata": {"name": "web-a"}, "spec": {"replicas": 0}, "status": {"replicas": 0}}),
            json!({"metadata": {"name": "web-b"}, "spec": {"replicas": 20}, "status": {"replicas": 20}}),
        ];
        let a = Assertion {
            deployment: Some("web".into()),
            replicas: Some(20),
            revision: Some(json!(3)),
            replicasets: Some(1),
            ready: Some(20),
            ..Default::default()
        };
        assert!(deployment_assert(&a, "web", &deploy(), &sets).is_empty());
        let wrong = Assertion { revision: Some(json!("2")), available: Some(20), replicasets: Some(2), ..a };
        let unmet = deployment_assert(&wrong, "web", &deploy(), &sets);
        assert_eq!(unmet.len(), 3, "{unmet:?}");
        assert!(unmet.iter().any(|m| m.contains("revision 3, want 2")));
        assert!(unmet.iter().any(|m| m.contains("availableReplicas 18, want 20")));
    }

    #[test]
    fn pods_count_live_and_running() {
        let pods = [pod("a", "n1", "Running", false), pod("b", "n1", "Pending", false), pod("c", "n2", "Running", true)];
        let p = PodCount { selector: "app=web".into(), running: Some(1), count: Some(2) };
        assert!(pod_counts(&p, &pods, true).is_empty());
        let more = PodCount { selector: "app=web".into(), running: Some(2), count: None };
        assert_eq!(pod_counts(&more, &pods, false).len(), 1);
    }

    #[test]
    fn pods_per_node_counts_empty_ready_nodes() {
        let pods = [pod("a", "n1", "Running", false), pod("b", "n1", "Running", false), pod("c", "n2", "Running", true)];
        let nodes = [node("n1", true), node("n2", true), node("n3", false)];
        let p = PodsPerNode { selector: "app=web".into(), max: Some(2), min: Some(0) };
        assert!(pods_per_node(&p, &pods, &nodes).is_empty());
        let p = PodsPerNode { selector: "app=web".into(), max: Some(2), min: Some(1) };
        let unmet = pods_per_node(&p, &pods, &nodes);
        assert_eq!(unmet.len(), 1);
        assert!(unmet[0].contains("n2=0"), "{unmet:?}");
        assert_eq!(ready_nodes(&nodes), 2);
    }

    #[test]
    fn restarts_are_summed_over_the_tree() {
        let tree = json!({"name": "root", "kind": "root", "restarts": 1, "children": [
            {"name": "replicasets", "kind": "manager", "restarts": 2, "children": [
                {"name": "default/web-abc", "kind": "ReplicaSet", "restarts": 3, "children": []}]},
            {"name": "scheduler", "kind": "scheduler", "restarts": 4}]});
        assert_eq!(restarts_sum(&tree), 10);
        let mut with_departed = tree.clone();
        with_departed["children"][0]["departedRestarts"] = json!(5);
        assert_eq!(restarts_sum(&with_departed), 15);
        with_departed["totalRestarts"] = json!(42);
        assert_eq!(restarts_sum(&with_departed), 42);
    }

    #[test]
    fn duplicates_are_pods_beyond_their_owners_replicas() {
        let owned = |name: &str, uid: &str| {
            let mut p = pod(name, "n1", "Running", false);
            p["metadata"]["ownerReferences"] = json!([{"kind": "ReplicaSet", "uid": uid, "controller": true}]);
            p
        };
        let rs = |name: &str, uid: &str, replicas: i64| {
            json!({"kind": "ReplicaSet", "metadata": {"name": name, "uid": uid}, "spec": {"replicas": replicas}})
        };
        let owners = [rs("web-1", "r1", 2), rs("web-2", "r2", 1)];
        // Two replicas of web-1 and one of web-2: no duplicate.
        let pods = [owned("a", "r1"), owned("b", "r1"), owned("c", "r2")];
        assert!(no_duplicate_pods("d", &pods, &owners, 3).is_empty());
        // A third pod of web-1 (made for a replica that already had one) is a duplicate,
        // even though the total is what a surge could explain.
        let pods = [owned("a", "r1"), owned("b", "r1"), owned("x", "r1")];
        let unmet = no_duplicate_pods("d", &pods, &owners, 3);
        assert_eq!(unmet.len(), 1, "{unmet:?}");
        assert!(unmet[0].contains("web-1") && unmet[0].contains("duplicates") && unmet[0].contains("\"x\""), "{unmet:?}");
        // Terminating pods are not duplicates; a short count is reported as such.
        let mut gone = owned("y", "r1");
        gone["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        let pods = [owned("a", "r1"), owned("b", "r1"), gone];
        let unmet = no_duplicate_pods("d", &pods, &owners, 3);
        assert_eq!(unmet, vec!["d: 2 live pods (1 terminating or finished), want 3".to_string()]);
    }
}
