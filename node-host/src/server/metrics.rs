//! The node's resource metrics in the Prometheus text format, as the kubelet serves them
//! at `/metrics/resource` (what metrics-server scrapes for `kubectl top` and the HPA):
//! per container and per pod, cumulative CPU seconds and the memory working set, each
//! sample stamped with when it was read from the cgroup.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use super::ContainerUsage;

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// Label values escaped as the text format wants (`\\`, `\"`, `\n`).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub fn render(usage: &[ContainerUsage]) -> String {
    let mut out = String::new();
    let mut pods: BTreeMap<(&str, &str), (u64, u64, SystemTime)> = BTreeMap::new();
    for u in usage {
        let e = pods.entry((&u.namespace, &u.pod)).or_insert((0, 0, u.at));
        e.0 += u.cpu_ns;
        e.1 += u.memory_working_set;
        e.2 = e.2.max(u.at);
    }
    family(&mut out, "container_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the container in core-seconds");
    for u in usage {
        let _ = writeln!(
            out,
            "container_cpu_usage_seconds_total{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {}",
            esc(&u.container),
            esc(&u.namespace),
            esc(&u.pod),
            u.cpu_ns as f64 / 1e9,
            millis(u.at)
        );
    }
    family(&mut out, "container_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the container in bytes");
    for u in usage {
        let _ = writeln!(
            out,
            "container_memory_working_set_bytes{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}} {} {}",
            esc(&u.container),
            esc(&u.namespace),
            esc(&u.pod),
            u.memory_working_set,
            millis(u.at)
        );
    }
    family(&mut out, "pod_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds");
    for ((ns, pod), (cpu, _, at)) in &pods {
        let _ = writeln!(out, "pod_cpu_usage_seconds_total{{namespace=\"{}\",pod=\"{}\"}} {} {}", esc(ns), esc(pod), *cpu as f64 / 1e9, millis(*at));
    }
    family(&mut out, "pod_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the pod in bytes");
    for ((ns, pod), (_, mem, at)) in &pods {
        let _ = writeln!(out, "pod_memory_working_set_bytes{{namespace=\"{}\",pod=\"{}\"}} {} {}", esc(ns), esc(pod), mem, millis(*at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn containers_and_their_pods_are_summed_with_timestamps() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let u = |c: &str, cpu, mem| ContainerUsage { namespace: "default".into(), pod: "web".into(), container: c.into(), cpu_ns: cpu, memory_working_set: mem, at };
        let text = render(&[u("a", 1_500_000_000, 1000), u("b", 500_000_000, 24)]);
        assert!(text.contains("container_cpu_usage_seconds_total{container=\"a\",namespace=\"default\",pod=\"web\"} 1.5 1700000000123\n"), "{text}");
        assert!(text.contains("pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web\"} 2 1700000000123\n"), "{text}");
        assert!(text.contains("pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 1024 1700000000123\n"), "{text}");
        assert!(text.contains("# TYPE container_memory_working_set_bytes gauge\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
