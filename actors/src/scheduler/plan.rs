//! One scheduling pass as a pure function: pending pods and nodes in, decisions out.

use std::collections::HashMap;
use std::sync::Arc;

use super::fit::{self, NodeState, Unfit};
use api::model::{Node, Pod};

pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// What the pass decided for one pending pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Bind { pod: Arc<Pod>, node: String },
    Unschedulable { pod: Arc<Pod>, message: String },
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

/// Places every pending pod (highest priority, then oldest, first), counting the pods it
/// places against the nodes as it goes.
pub fn plan(pods: &[Arc<Pod>], nodes: &[Arc<Node>]) -> Vec<Decision> {
    let mut states: Vec<NodeState> = nodes.iter().cloned().map(NodeState::new).collect();
    states.sort_by(|a, b| a.name().cmp(b.name()));
    let index: HashMap<String, usize> = states.iter().enumerate().map(|(i, s)| (s.name().to_string(), i)).collect();
    let mut pending = Vec::new();
    for p in pods {
        if is_pending(p) {
            pending.push(p.clone());
        } else if let Some(&i) = p.spec.node_name.as_ref().and_then(|n| index.get(n)) {
            if holds_resources(p) {
                states[i].add_pod(p);
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
    let mut out = Vec::with_capacity(pending.len());
    for pod in pending {
        let req = fit::pod_requests(&pod.spec);
        let mut best: Option<(usize, (i64, i64))> = None;
        let mut reasons: HashMap<Unfit, usize> = HashMap::new();
        for (i, n) in states.iter().enumerate() {
            let unfit = fit::check(&pod, &req, n);
            if unfit.is_empty() {
                let s = fit::score(&pod, &req, n);
                if best.is_none_or(|(_, b)| s > b) {
                    best = Some((i, s));
                }
            } else {
                for u in unfit {
                    *reasons.entry(u).or_default() += 1;
                }
            }
        }
        match best {
            Some((i, _)) => {
                states[i].add_pod(&pod);
                out.push(Decision::Bind { pod, node: states[i].name().to_string() });
            }
            None => {
                let message = fit::fit_error_message(states.len(), &reasons);
                out.push(Decision::Unschedulable { pod, message });
            }
        }
    }
    out
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
        let ds = plan(&pods, &nodes);
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
        let ds = plan(&pods, &nodes);
        assert_eq!(binds(&ds).len(), 1);
        assert!(matches!(&ds[1], Decision::Unschedulable { message, .. }
            if message == "0/1 nodes are available: 1 Insufficient cpu."));
    }

    #[test]
    fn already_bound_pods_count_and_terminal_ones_do_not() {
        let nodes = vec![node("a", "1", json!({}))];
        let running = pod("old", "800m", json!({"nodeName": "a"}));
        let mut done = (*pod("done", "800m", json!({"nodeName": "a"}))).clone();
        done.status = Some(api::model::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        let new = pod("new", "500m", json!({}));
        let ds = plan(&[running.clone(), new.clone()], &nodes);
        assert!(matches!(&ds[..], [Decision::Unschedulable { .. }]));
        let ds = plan(&[Arc::new(done), new], &nodes);
        assert_eq!(binds(&ds), vec![("new".to_string(), "a".to_string())]);
    }

    #[test]
    fn message_counts_every_node() {
        let nodes = vec![node("a", "100m", json!({"disk": "ssd"})), node("b", "100m", json!({})), node("c", "8", json!({}))];
        let pods = vec![pod("p", "1", json!({"nodeSelector": {"disk": "ssd"}}))];
        let ds = plan(&pods, &nodes);
        assert!(
            matches!(&ds[..], [Decision::Unschedulable { message, .. }]
                if message == "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector."),
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
        assert_eq!(binds(&plan(&pods, &nodes)), vec![("high".to_string(), "a".to_string())]);
    }
}
