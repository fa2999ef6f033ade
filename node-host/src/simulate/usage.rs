//! Usage of simulated pods (as kwok's `ClusterResourceUsage`): a test sets it through the
//! pod's annotations, read at every report, so changing them changes what `kubectl top`
//! and the HPA see one interval later:
//!
//! - `sim.shoal.io/cpu` (a quantity, e.g. `250m`) and `sim.shoal.io/memory` (`64Mi`): the
//!   pod's usage, shared evenly by its containers that set none of their own;
//! - `sim.shoal.io/cpu-<container>`, `sim.shoal.io/memory-<container>`: one container's.
//!
//! Without annotations a running pod uses nothing. Every interval each node posts one
//! `UsageReport` with its Running pods and, as its own usage, their sum.

use std::sync::Arc;
use std::time::Duration;

use api::metrics::{ContainerUsage, PodUsage, Usage, UsageReport};
use api::model::{Pod, Quantity};
use client::Cache;

use super::node::SimNode;

pub const CPU: &str = "sim.shoal.io/cpu";
pub const MEMORY: &str = "sim.shoal.io/memory";
/// Prefixes of the per-container annotations.
pub const CPU_PREFIX: &str = "sim.shoal.io/cpu-";
pub const MEMORY_PREFIX: &str = "sim.shoal.io/memory-";

/// A non-negative quantity in nano-units (CPU: nanocores; memory: bytes × 10^9).
fn nanos(v: Option<&String>) -> Option<u128> {
    let q = Quantity::parse(v?.trim()).ok()?;
    u128::try_from(q.nanos).ok()
}

fn to_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The usage of each container of `pod` its annotations give.
pub fn container_usage(pod: &Pod) -> Vec<ContainerUsage> {
    let a = &pod.metadata.annotations;
    let names: Vec<&str> = pod.spec.containers.iter().map(|c| c.name.as_str()).collect();
    let own = |prefix: &str, c: &str| nanos(a.get(&format!("{prefix}{c}")));
    // The pod's value, shared by the containers without one of their own.
    let share = |key: &str, prefix: &str| -> u128 {
        let without = names.iter().filter(|c| own(prefix, c).is_none()).count() as u128;
        nanos(a.get(key)).map_or(0, |t| t / without.max(1))
    };
    let (cpu_share, mem_share) = (share(CPU, CPU_PREFIX), share(MEMORY, MEMORY_PREFIX));
    names
        .iter()
        .map(|c| ContainerUsage {
            name: c.to_string(),
            usage: Usage {
                cpu_nanocores: to_u64(own(CPU_PREFIX, c).unwrap_or(cpu_share)),
                memory_bytes: to_u64(own(MEMORY_PREFIX, c).unwrap_or(mem_share) / 1_000_000_000),
            },
        })
        .collect()
}

/// One node's report from its pod cache.
pub fn report(node: &str, pods: &[Arc<Pod>], window: Duration) -> UsageReport {
    let mut total = Usage::default();
    let mut out = Vec::new();
    for p in pods {
        let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        if !running || p.metadata.is_deleting() {
            continue;
        }
        let containers = container_usage(p);
        let pu = PodUsage {
            namespace: p.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            name: p.metadata.name.clone(),
            uid: p.metadata.uid.clone(),
            containers,
        };
        total = total.add(pu.total());
        out.push(pu);
    }
    UsageReport {
        node: node.to_string(),
        timestamp: api::time::now_rfc3339(),
        window_ms: window.as_millis().min(u128::from(u64::MAX)) as u64,
        node_usage: total,
        pods: out,
    }
}

/// Posts every node's report every `interval`, until aborted.
pub async fn run(api: client::Client, nodes: Arc<Vec<SimNode>>, caches: Arc<Vec<Cache<Pod>>>, interval: Duration) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (n, cache) in nodes.iter().zip(caches.iter()) {
            let r = report(&n.name, &cache.list(None), interval);
            if let Err(e) = api.report_usage(&r).await {
                tracing::debug!(node = %n.name, error = %e, "posting usage failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u", "annotations": annotations},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running"},
        }))
        .unwrap()
    }

    #[test]
    fn the_pods_usage_is_shared_by_containers_without_their_own() {
        let p = pod(json!({"sim.shoal.io/cpu": "500m", "sim.shoal.io/memory": "64Mi", "sim.shoal.io/cpu-b": "100m"}));
        let u = container_usage(&p);
        assert_eq!(u[0].usage, Usage { cpu_nanocores: 500_000_000, memory_bytes: 32 << 20 });
        assert_eq!(u[1].usage, Usage { cpu_nanocores: 100_000_000, memory_bytes: 32 << 20 });
        let none = container_usage(&pod(json!({"sim.shoal.io/cpu": "lots"})));
        assert_eq!(none[0].usage, Usage::default());
    }

    #[test]
    fn a_report_holds_running_pods_and_their_sum() {
        let running = Arc::new(pod(json!({"sim.shoal.io/cpu": "300m"})));
        let mut pending = pod(json!({"sim.shoal.io/cpu": "1"}));
        pending.status = None;
        let r = report("n", &[running, Arc::new(pending)], Duration::from_secs(2));
        assert_eq!(r.pods.len(), 1);
        assert_eq!(r.node_usage.cpu_nanocores, 300_000_000);
        assert_eq!(r.window_ms, 2000);
    }
}
