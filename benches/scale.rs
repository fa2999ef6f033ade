//! Benchmark: 100 simulated nodes, one Deployment scaled 0 → 10,000. Prints the time
//! until every pod is bound and Running, pods/s, the control plane's RSS at the end, and
//! the memory each pod (actor, cache entry, bookkeeping) adds. Asserts nothing.
//!
//! Run: `cargo bench --bench scale` (env: PODS=10000 NODES=100).

#[path = "../tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use harness::{wait_for, Backend, Cluster};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let pods = env_usize("PODS", 10_000);
    let nodes = env_usize("NODES", 100);
    let mut cluster = Cluster::with_args(Backend::Embedded, &[]);
    cluster.add_simulated_nodes("bench", nodes);
    let api = cluster.api();
    let pid = cluster.server_pid().expect("server pid");
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "scale"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "scale"}},
                 "template": {"metadata": {"labels": {"app": "scale"}},
                              "spec": {"containers": [{"name": "c", "image": "hello:v1", "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}}}]}}}});
    assert_eq!(api.post("/apis/apps/v1/namespaces/default/deployments", &d).unwrap().0, 201);
    std::thread::sleep(Duration::from_secs(2));
    let rss_before = rss_kib(pid);

    let start = Instant::now();
    let (code, body) = api
        .send("PATCH", "/apis/apps/v1/namespaces/default/deployments/scale/scale", "application/merge-patch+json", json!({"spec": {"replicas": pods}}).to_string().as_bytes())
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let mut bound_at = None;
    wait_for("every pod bound and Running", Duration::from_secs(600), || {
        let (_, d) = api.get("/apis/apps/v1/namespaces/default/deployments/scale").map_err(|e| e.to_string())?;
        let avail = d["status"]["availableReplicas"].as_u64().unwrap_or(0) as usize;
        if bound_at.is_none() {
            let (_, l) = api.get("/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D").map_err(|e| e.to_string())?;
            let total = d["status"]["replicas"].as_u64().unwrap_or(0) as usize;
            if total == pods && l["items"].as_array().map(Vec::len) == Some(0) {
                bound_at = Some(start.elapsed());
            }
        }
        if avail == pods { Ok(()) } else { Err(format!("{avail}/{pods} available")) }
    });
    let running = start.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = rss_kib(pid);

    println!("scale 0 -> {pods} pods on {nodes} simulated nodes (embedded store)");
    if let Some(b) = bound_at {
        println!("  all pods bound      : {:>8.2} s   ({:.0} pods/s)", b.as_secs_f64(), pods as f64 / b.as_secs_f64());
    }
    println!("  all pods Running    : {:>8.2} s   ({:.0} pods/s)  (target >= 2000 pods/s bound)", running.as_secs_f64(), pods as f64 / running.as_secs_f64());
    println!("  control-plane RSS   : {:>8.1} MB at {pods} pods (target <= 150 MB); {:.1} MB before scaling", rss_after as f64 / 1024.0, rss_before as f64 / 1024.0);
    println!("  memory per pod      : {:>8.2} KiB (RSS delta / pods: actor + cache entry + store pages)", (rss_after.saturating_sub(rss_before)) as f64 / pods as f64);
    let (_, tree) = api.get("/debug/actors").unwrap();
    let pod_actors = tree["children"].as_array().and_then(|c| c.iter().find(|m| m["name"] == "pods")).and_then(|m| m["actors"].as_u64()).unwrap_or(0);
    println!("  pod actors          : {pod_actors}");
}
