//! A node that stops renewing its lease becomes NotReady and its pods are replaced on
//! other nodes after the grace period plus the eviction timeout; the evicted pods stay
//! Terminating for their own grace period (no node finishes them) and are then
//! force-deleted by the pod garbage collector.

mod harness;

use std::time::Duration;

use harness::{wait_for, Backend, Cluster};
use serde_json::{json, Value};

#[test]
fn pods_of_a_dead_node_are_replaced_elsewhere_after_grace_and_toleration() {
    let mut cluster = Cluster::with_args(Backend::Embedded, &["--node-grace", "3", "--eviction-timeout", "2"]);
    let doomed = cluster.add_simulated_nodes("doomed", 1);
    cluster.add_simulated_nodes("healthy", 2);
    let api = cluster.api();
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 6, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"terminationGracePeriodSeconds": 2, "containers": [{"name": "web", "image": "hello:v1"}]}}}});
    assert_eq!(api.post("/apis/apps/v1/namespaces/default/deployments", &d).unwrap().0, 201);
    let pods_on = |node: &str| -> Vec<Value> {
        let (_, l) = api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb").unwrap();
        l["items"].as_array().unwrap().iter().filter(|p| p["spec"]["nodeName"] == node).cloned().collect()
    };
    wait_for("6 running pods, some on the doomed node", Duration::from_secs(30), || {
        let (_, d) = api.get("/apis/apps/v1/namespaces/default/deployments/web").unwrap();
        let on_doomed = pods_on("doomed-0").len();
        if d["status"]["availableReplicas"] == 6 && on_doomed > 0 { Ok(()) } else { Err(format!("{} available, {on_doomed} on doomed", d["status"]["availableReplicas"])) }
    });

    cluster.kill_nodes(doomed);
    // The dead node's last renewal: grace and eviction timeout count from there.
    let (_, lease) = api.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/doomed-0").unwrap();
    let renewed = lease["spec"]["renewTime"].as_str().expect("lease renewTime").to_string();
    let renewed = chrono::DateTime::parse_from_rfc3339(&renewed).expect("RFC 3339 renewTime");
    wait_for("doomed-0 NotReady and tainted", Duration::from_secs(20), || {
        let (_, n) = api.get("/api/v1/nodes/doomed-0").unwrap();
        let not_ready = n["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] != "True"));
        let tainted = n["spec"]["taints"].as_array().is_some_and(|ts| ts.iter().any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoExecute"));
        if not_ready && tainted { Ok(()) } else { Err(n["status"]["conditions"].to_string()) }
    });
    wait_for("all 6 pods running on healthy nodes", Duration::from_secs(30), || {
        let on_doomed = pods_on("doomed-0").len();
        let healthy = pods_on("healthy-0").len() + pods_on("healthy-1").len();
        let (_, d) = api.get("/apis/apps/v1/namespaces/default/deployments/web").unwrap();
        if on_doomed == 0 && healthy == 6 && d["status"]["availableReplicas"] == 6 { Ok(()) } else { Err(format!("{on_doomed} on doomed, {healthy} healthy, status {}", d["status"])) }
    });
    let took = chrono::Utc::now().signed_duration_since(renewed);
    assert!(took >= chrono::Duration::seconds(5), "pods moved {took:?} after the last renewal, before grace (3 s) + eviction timeout (2 s)");
}
