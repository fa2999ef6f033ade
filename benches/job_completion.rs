//! Benchmark: one Job of 1,000 completions with parallelism 100 on 100 simulated nodes
//! (each pod runs `RUN_SECONDS`, default 0.3 s). Prints the time from creation to the
//! Complete condition, completions/s, and the time the pods' runs alone would take
//! (completions / parallelism × run), so the controller's share shows. Asserts only
//! that exactly `COMPLETIONS` pods were counted.
//!
//! Run: `cargo bench --bench job_completion` (env: COMPLETIONS=1000 PARALLELISM=100
//! NODES=100 RUN_SECONDS=0.3 MODE=NonIndexed|Indexed).

#[path = "../tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::time::{Duration, Instant};

use harness::{wait_for, Backend, Cluster};
use serde_json::json;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let completions: u64 = env("COMPLETIONS", 1000);
    let parallelism: u64 = env("PARALLELISM", 100);
    let nodes: usize = env("NODES", 100);
    let run: f64 = env("RUN_SECONDS", 0.3);
    let mode: String = env("MODE", "NonIndexed".to_string());
    let mut cluster = Cluster::with_args(Backend::Embedded, &[]);
    cluster.add_simulated_nodes("bench", nodes);
    let api = cluster.api();
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bench"},
        "spec": {"completions": completions, "parallelism": parallelism, "completionMode": mode,
                 "template": {"metadata": {"annotations": {"sim.shoal.io/run-seconds": run.to_string()}},
                              "spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}}]}}}});
    let start = Instant::now();
    let (code, body) = api.post("/apis/batch/v1/namespaces/default/jobs", &job).unwrap();
    assert_eq!(code, 201, "{body}");
    let mut first_done = None;
    let done = wait_for("the Job to be Complete", Duration::from_secs(900), || {
        let (_, j) = api.get("/apis/batch/v1/namespaces/default/jobs/bench").map_err(|e| e.to_string())?;
        let succeeded = j["status"]["succeeded"].as_u64().unwrap_or(0);
        if first_done.is_none() && succeeded > 0 {
            first_done = Some(start.elapsed());
        }
        let complete = j["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Complete" && c["status"] == "True"));
        if complete { Ok(j) } else { Err(format!("{succeeded}/{completions} succeeded, {} active", j["status"]["active"])) }
    });
    let took = start.elapsed();
    let succeeded = done["status"]["succeeded"].as_u64().unwrap_or(0);
    assert_eq!(succeeded, completions, "{}", done["status"]);
    let ideal = (completions as f64 / parallelism as f64).ceil() * run;
    println!("Job of {completions} completions ({mode}), parallelism {parallelism}, on {nodes} simulated nodes, each pod runs {run} s (embedded store)");
    if let Some(f) = first_done {
        println!("  first completion counted : {:>8.2} s", f.as_secs_f64());
    }
    println!("  Complete                 : {:>8.2} s   ({:.0} pods/s)", took.as_secs_f64(), completions as f64 / took.as_secs_f64());
    println!("  runs alone would take    : {:>8.2} s   (completions / parallelism x run)", ideal);
    println!("  failed                   : {}", done["status"]["failed"].as_u64().unwrap_or(0));
}
