//! Benchmark: a StatefulSet of 100 replicas, OrderedReady, on simulated nodes. Prints the
//! time until every pod is Ready (each pod waits for the one before it: create, schedule,
//! Running and Ready on a node, the controller seeing it), the mean time per ordinal, and
//! the same for Parallel as the floor. Asserts nothing.
//!
//! Run: `cargo bench --bench statefulset` (env: REPLICAS=100 NODES=10).

#[path = "../tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use harness::{wait_for, Api, Backend, Cluster};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Creates the set and returns the time until `readyReplicas` reaches `replicas`.
fn time_to_ready(api: &Api, name: &str, replicas: usize, policy: &str) -> Duration {
    let set = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                 "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}}}});
    let start = Instant::now();
    let (code, body) = api.post("/apis/apps/v1/namespaces/default/statefulsets", &set).unwrap();
    assert_eq!(code, 201, "{body}");
    wait_for(&format!("{name}: every pod Ready"), Duration::from_secs(900), || {
        let (_, s) = api.get(&format!("/apis/apps/v1/namespaces/default/statefulsets/{name}")).map_err(|e| e.to_string())?;
        let ready = s["status"]["readyReplicas"].as_u64().unwrap_or(0) as usize;
        if ready == replicas { Ok(()) } else { Err(format!("{ready}/{replicas} ready")) }
    });
    start.elapsed()
}

fn main() {
    let replicas = env_usize("REPLICAS", 100);
    let nodes = env_usize("NODES", 10);
    let mut cluster = Cluster::with_args(Backend::Embedded, &[]);
    cluster.add_simulated_nodes("bench", nodes);
    let api = cluster.api();
    wait_for("the simulated nodes", Duration::from_secs(60), || {
        let (_, l) = api.get("/api/v1/nodes").map_err(|e| e.to_string())?;
        let n = l["items"].as_array().map(Vec::len).unwrap_or(0);
        if n == nodes { Ok(()) } else { Err(format!("{n}/{nodes} nodes")) }
    });

    let ordered = time_to_ready(&api, "ordered", replicas, "OrderedReady");
    let parallel = time_to_ready(&api, "parallel", replicas, "Parallel");
    println!("StatefulSet of {replicas} replicas on {nodes} simulated nodes (embedded store)");
    println!(
        "  OrderedReady, all Ready : {:>8.2} s   ({:.1} ms per ordinal: create -> scheduled -> Running/Ready -> next)",
        ordered.as_secs_f64(),
        ordered.as_secs_f64() * 1000.0 / replicas as f64
    );
    println!("  Parallel, all Ready     : {:>8.2} s   (the floor: every pod at once)", parallel.as_secs_f64());
}
