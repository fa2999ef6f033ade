//! The real node's usage report: every usage interval the cumulative CPU time of each
//! running container (its cgroup's `cpu.stat usage_usec`, or `cpuacct.usage` on v1)
//! becomes a rate over the time since the previous reading, next to its memory working
//! set (`memory.current` minus inactive files); the node's own usage is the machine's
//! non-idle CPU time (`/proc/stat`) over the same interval and `MemTotal - MemAvailable`.
//! A container read for the first time has no rate yet and is left out of that report.

use std::collections::HashMap;
use std::time::Instant;

use api::metrics::{ContainerUsage, PodUsage, Usage, UsageReport};

use crate::agent::PodInfo;

/// Non-idle and total jiffies of the `cpu` line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle, total))
}

/// The previous readings the next report's rates are computed against.
#[derive(Default)]
pub struct Rates {
    /// Container id → (cumulative CPU ns, when read).
    containers: HashMap<String, (u64, Instant)>,
    /// Non-idle jiffies (USER_HZ = 100 per second), when read.
    node: Option<(u64, Instant)>,
}

fn rate(prev: Option<(u64, Instant)>, now: (u64, Instant), per_ns: f64) -> Option<u64> {
    let (v0, t0) = prev?;
    let dt = now.1.checked_duration_since(t0)?.as_secs_f64();
    if dt <= 0.0 || now.0 < v0 {
        return None;
    }
    Some(((now.0 - v0) as f64 * per_ns / dt) as u64)
}

impl Rates {
    /// Builds the report from the pods' latest readings (taken at `at`) and the
    /// machine's, remembering them for the next one.
    pub fn report(&mut self, node: &str, pods: &[PodInfo], machine_busy_jiffies: Option<u64>, memory_used: u64, at: Instant, window_ms: u64) -> UsageReport {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        let mut pod_total = Usage::default();
        for p in pods {
            let mut containers = Vec::new();
            for c in p.containers.iter().filter(|c| c.running) {
                let Some(u) = c.usage else { continue };
                let cpu = rate(self.containers.get(&c.id).copied(), (u.cpu_ns, at), 1.0);
                seen.insert(c.id.clone(), (u.cpu_ns, at));
                let Some(cpu) = cpu else { continue };
                containers.push(ContainerUsage { name: c.name.clone(), usage: Usage { cpu_nanocores: cpu, memory_bytes: u.memory_working_set } });
            }
            if containers.is_empty() {
                continue;
            }
            let pu = PodUsage { namespace: p.namespace.clone(), name: p.name.clone(), uid: p.uid.clone(), containers };
            pod_total = pod_total.add(pu.total());
            out.push(pu);
        }
        self.containers = seen;
        // A jiffy is 10 ms of one core: nanocores = jiffies/s × 10^7.
        let node_cpu = machine_busy_jiffies.and_then(|j| {
            let r = rate(self.node, (j, at), 1e7);
            self.node = Some((j, at));
            r
        });
        let node_usage = Usage { cpu_nanocores: node_cpu.unwrap_or(pod_total.cpu_nanocores), memory_bytes: memory_used.max(pod_total.memory_bytes) };
        UsageReport { node: node.to_string(), timestamp: api::time::now_rfc3339(), window_ms, node_usage, pods: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ContainerInfo;
    use crate::runtime::Usage as Cgroup;
    use std::time::Duration;

    fn pod(cpu_ns: u64) -> PodInfo {
        PodInfo {
            uid: "u".into(),
            namespace: "default".into(),
            name: "web".into(),
            ip: None,
            containers: vec![ContainerInfo {
                name: "c".into(),
                id: "id".into(),
                attempt: 0,
                running: true,
                log_path: Default::default(),
                usage: Some(Cgroup { cpu_ns, memory_working_set: 4096 }),
            }],
            usage_at: None,
        }
    }

    #[test]
    fn cpu_time_becomes_a_rate_from_the_second_reading() {
        let mut r = Rates::default();
        let t0 = Instant::now();
        let first = r.report("n", &[pod(1_000_000_000)], Some(1000), 1 << 20, t0, 10_000);
        assert!(first.pods.is_empty(), "no rate from one reading");
        // 0.5 s of CPU in 2 s: 250m; 100 jiffies in 2 s: half a core.
        let second = r.report("n", &[pod(1_500_000_000)], Some(1100), 1 << 20, t0 + Duration::from_secs(2), 10_000);
        assert_eq!(second.pods[0].containers[0].usage, Usage { cpu_nanocores: 250_000_000, memory_bytes: 4096 });
        assert_eq!(second.node_usage.cpu_nanocores, 500_000_000);
    }

    #[test]
    fn proc_stat_counts_everything_but_idle_and_iowait() {
        let text = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(text), Some((161, 1181)));
        assert_eq!(parse_proc_stat("intr 1"), None);
    }
}
