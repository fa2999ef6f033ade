//! A container's resources as the kubelet turns them into cgroup settings: CPU shares
//! from the request (`milli * 1024 / 1000`, at least 2), CFS quota from the limit over a
//! 100 ms period, the memory limit (swap equal to it: no swap), a pids limit, and the
//! OOM score adjustment from the pod's QoS class (pkg/kubelet/qos/policy.go).

use std::collections::BTreeMap;

use api::model::{Container, Pod, Quantity};
use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder};

use super::BundleError;

pub const CPU_PERIOD_US: u64 = 100_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;
/// The kubelet's OOM score adjustments.
pub const GUARANTEED_OOM_SCORE_ADJ: i32 = -997;
pub const BEST_EFFORT_OOM_SCORE_ADJ: i32 = 1000;

/// A pod's quality-of-service class, as `GetPodQOS` computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

fn milli(q: &Quantity) -> Result<i128, BundleError> {
    q.parsed().map(|p| p.milli_value()).map_err(BundleError::Spec)
}

fn value(q: &Quantity) -> Result<i128, BundleError> {
    q.parsed().map(|p| p.value()).map_err(BundleError::Spec)
}

fn get<'a>(m: &'a BTreeMap<String, Quantity>, k: &str) -> Option<&'a Quantity> {
    m.get(k)
}

/// Guaranteed: every container has cpu and memory limits, and requests equal to them;
/// BestEffort: no container requests or limits cpu or memory; else Burstable.
pub fn qos_class(pod: &Pod) -> QosClass {
    let mut any = false;
    let mut guaranteed = true;
    for c in pod.spec.all_containers() {
        let (limits, requests) = match &c.resources {
            Some(r) => (&r.limits, &r.requests),
            None => {
                guaranteed = false;
                continue;
            }
        };
        for res in ["cpu", "memory"] {
            let l = get(limits, res).and_then(|q| q.parsed().ok()).filter(|p| p.milli_value() != 0);
            let r = get(requests, res).and_then(|q| q.parsed().ok()).filter(|p| p.milli_value() != 0);
            if l.is_some() || r.is_some() {
                any = true;
            }
            match (l, r) {
                (Some(l), Some(r)) if l.milli_value() == r.milli_value() => {}
                (Some(_), None) => {} // requests default to limits
                _ => guaranteed = false,
            }
        }
    }
    if !any {
        QosClass::BestEffort
    } else if guaranteed {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

/// The container's `oomScoreAdj`: Guaranteed −997, BestEffort 1000, Burstable
/// `1000 − 1000 × memoryRequest / nodeMemory`, kept within [3, 999] (above Guaranteed's,
/// below BestEffort's, as upstream).
pub fn oom_score_adj(pod: &Pod, c: &Container, node_memory: u64) -> i32 {
    match qos_class(pod) {
        QosClass::Guaranteed => GUARANTEED_OOM_SCORE_ADJ,
        QosClass::BestEffort => BEST_EFFORT_OOM_SCORE_ADJ,
        QosClass::Burstable => {
            let request = c.resources.as_ref().and_then(|r| get(&r.requests, "memory").or_else(|| get(&r.limits, "memory"))).and_then(|q| value(q).ok()).unwrap_or(0).max(0) as u128;
            if node_memory == 0 {
                return 999;
            }
            let adj = 1000i128 - (1000u128 * request / node_memory as u128) as i128;
            if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ as i128 {
                1000 + GUARANTEED_OOM_SCORE_ADJ
            } else if adj >= 1000 {
                999
            } else {
                adj as i32
            }
        }
    }
}

/// `linux.resources` of a container (cpu, memory, pids).
pub fn linux_resources(c: &Container, pids_limit: Option<i64>) -> Result<LinuxResources, BundleError> {
    let empty = BTreeMap::new();
    let (limits, requests) = c.resources.as_ref().map(|r| (&r.limits, &r.requests)).unwrap_or((&empty, &empty));
    let mut b = LinuxResourcesBuilder::default();
    let cpu_request = match get(requests, "cpu").or_else(|| get(limits, "cpu")) {
        Some(q) => Some(milli(q)?),
        None => None,
    };
    let shares = match cpu_request {
        Some(m) if m > 0 => ((m as u128 * 1024 / 1000) as u64).clamp(MIN_SHARES, MAX_SHARES),
        _ => MIN_SHARES,
    };
    let mut cpu = LinuxCpuBuilder::default().shares(shares);
    if let Some(q) = get(limits, "cpu") {
        let m = milli(q)?;
        if m > 0 {
            // At least 1 ms per period, as the kubelet's MinQuotaPeriod.
            let quota = ((m * CPU_PERIOD_US as i128) / 1000).max(1000) as i64;
            cpu = cpu.quota(quota).period(CPU_PERIOD_US);
        }
    }
    b = b.cpu(cpu.build().map_err(|e| BundleError::Spec(e.to_string()))?);
    if let Some(q) = get(limits, "memory") {
        let bytes = i64::try_from(value(q)?).map_err(|_| BundleError::Spec(format!("memory limit {} too large", q.as_str())))?;
        if bytes > 0 {
            b = b.memory(LinuxMemoryBuilder::default().limit(bytes).swap(bytes).build().map_err(|e| BundleError::Spec(e.to_string()))?);
        }
    }
    if let Some(p) = pids_limit.filter(|p| *p > 0) {
        b = b.pids(LinuxPidsBuilder::default().limit(p).build().map_err(|e| BundleError::Spec(e.to_string()))?);
    }
    b.build().map_err(|e| BundleError::Spec(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::ResourceRequirements;

    fn res(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Option<ResourceRequirements> {
        let m = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), Quantity::new(*v))).collect();
        Some(ResourceRequirements { limits: m(limits), requests: m(requests), ..Default::default() })
    }

    fn pod_of(cs: Vec<Option<ResourceRequirements>>) -> Pod {
        let mut p = Pod::default();
        p.spec.containers = cs.into_iter().enumerate().map(|(i, r)| Container { name: format!("c{i}"), resources: r, ..Default::default() }).collect();
        p
    }

    #[test]
    fn qos_classes_as_upstream() {
        let g = res(&[("cpu", "500m"), ("memory", "64Mi")], &[("cpu", "500m"), ("memory", "64Mi")]);
        let limits_only = res(&[("cpu", "1"), ("memory", "1Gi")], &[]);
        let b = res(&[], &[("memory", "64Mi")]);
        let cases = [
            (vec![None], QosClass::BestEffort),
            (vec![g.clone()], QosClass::Guaranteed),
            (vec![limits_only], QosClass::Guaranteed),
            (vec![g.clone(), None], QosClass::Burstable),
            (vec![b], QosClass::Burstable),
            (vec![res(&[("cpu", "1"), ("memory", "1Gi")], &[("cpu", "500m"), ("memory", "1Gi")])], QosClass::Burstable),
        ];
        for (cs, want) in cases {
            assert_eq!(qos_class(&pod_of(cs.clone())), want, "{cs:?}");
        }
    }

    #[test]
    fn oom_score_adj_follows_the_qos_class() {
        let node = 8u64 << 30;
        let cases = [
            (res(&[("cpu", "1"), ("memory", "1Gi")], &[]), GUARANTEED_OOM_SCORE_ADJ),
            (None, BEST_EFFORT_OOM_SCORE_ADJ),
            (res(&[], &[("memory", "1Gi")]), 875),
            (res(&[], &[("memory", "8Gi")]), 3),
            (res(&[], &[("cpu", "100m")]), 999),
        ];
        for (r, want) in cases {
            let p = pod_of(vec![r.clone()]);
            assert_eq!(oom_score_adj(&p, &p.spec.containers[0], node), want, "{r:?}");
        }
    }

    #[test]
    fn limits_and_requests_become_cgroup_settings() {
        let c = Container { resources: res(&[("cpu", "250m"), ("memory", "16Mi")], &[("cpu", "100m")]), ..Default::default() };
        let r = linux_resources(&c, Some(1024)).unwrap();
        let cpu = r.cpu().clone().unwrap();
        assert_eq!((cpu.shares(), cpu.quota(), cpu.period()), (Some(102), Some(25_000), Some(CPU_PERIOD_US)));
        let mem = r.memory().unwrap();
        assert_eq!((mem.limit(), mem.swap()), (Some(16 << 20), Some(16 << 20)));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(1024));
        let none = linux_resources(&Container::default(), None).unwrap();
        assert_eq!(none.cpu().as_ref().and_then(|c| c.shares()), Some(MIN_SHARES));
        assert!(none.memory().is_none() && none.pids().is_none());
        let tiny = Container { resources: res(&[("cpu", "1m")], &[]), ..Default::default() };
        assert_eq!(linux_resources(&tiny, None).unwrap().cpu().as_ref().and_then(|c| c.quota()), Some(1000));
    }
}
