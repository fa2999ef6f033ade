//! The replica calculation (pure), as upstream's `replica_calculator.go`: from the pods a
//! target selects, their metrics and the target value to a proposed replica count.
//!
//! Pods are grouped first (`group_pods`): deleted and Failed pods are ignored, Pending
//! ones are unready, pods without a metric are missing, and for CPU a pod is unready
//! while it has no Ready condition or start time, or — inside the CPU initialization
//! period — while it is not Ready or its metric's window began before it became Ready
//! (later, only while it has never been Ready within the initial readiness delay).
//! The ratio of usage to target over the ready pods decides; within the tolerance
//! nothing changes. When pods are missing, they count as using the target (a scale
//! down) or nothing (a scale up); on a scale up, unready pods count as using nothing; if
//! that flips the direction, or lands within the tolerance, nothing changes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A pod as the calculation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodView {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    pub deleting: bool,
    /// The Ready condition: whether True, and since when.
    pub ready: Option<(bool, Option<DateTime<Utc>>)>,
    pub start_time: Option<DateTime<Utc>>,
}

impl PodView {
    /// Running and Ready (upstream's `GetReadyPodsCount`).
    pub fn running_and_ready(&self) -> bool {
        self.phase == "Running" && matches!(self.ready, Some((true, _)))
    }
}

/// One pod's metric: a milli-value (milli-cores, milli-bytes, milli-units) sampled over
/// `window` ending at `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodMetric {
    pub value: i64,
    pub timestamp: DateTime<Utc>,
    pub window: Duration,
}

/// Pod name → metric.
pub type PodMetrics = BTreeMap<String, PodMetric>;

/// Why no replica count could be computed (the message upstream reports).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalcError {
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetrics,
    #[error("no metrics returned matched known pods")]
    NoMatchingMetrics,
    #[error("missing request for {resource} in container {container} of Pod {pod}")]
    MissingRequest { resource: String, container: String, pod: String },
    #[error("{0}")]
    Other(String),
}

/// The cluster-wide knobs of the calculation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calculator {
    /// Relative change ignored above 1 (scale up) and below it (scale down).
    pub tolerance_up: f64,
    pub tolerance_down: f64,
    pub cpu_initialization_period: Duration,
    pub delay_of_initial_readiness_status: Duration,
    pub now: DateTime<Utc>,
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The groups of `group_pods`.
#[derive(Debug, Default, PartialEq)]
pub struct Groups {
    pub ready: usize,
    pub unready: BTreeSet<String>,
    pub missing: BTreeSet<String>,
    pub ignored: BTreeSet<String>,
}

/// Sorts pods into ready, unready, missing and ignored (upstream's `groupPods`).
pub fn group_pods(c: &Calculator, pods: &[PodView], metrics: &PodMetrics, resource: &str) -> Groups {
    let mut g = Groups::default();
    for p in pods {
        if p.deleting || p.phase == "Failed" {
            g.ignored.insert(p.name.clone());
            continue;
        }
        if p.phase == "Pending" {
            g.unready.insert(p.name.clone());
            continue;
        }
        let Some(m) = metrics.get(&p.name) else {
            g.missing.insert(p.name.clone());
            continue;
        };
        if resource == "cpu" {
            let unready = match (p.ready, p.start_time) {
                (None, _) | (_, None) => true,
                (Some((ready, since)), Some(start)) => {
                    let since = since.unwrap_or(start);
                    if after(start, c.cpu_initialization_period) > c.now {
                        // Still within the initialization period: only samples taken
                        // wholly after it became ready count.
                        !ready || m.timestamp < after(since, m.window)
                    } else {
                        !ready && after(start, c.delay_of_initial_readiness_status) > since
                    }
                }
            };
            if unready {
                g.unready.insert(p.name.clone());
                continue;
            }
        }
        g.ready += 1;
    }
    g
}

impl Calculator {
    pub fn within(&self, ratio: f64) -> bool {
        (1.0 - self.tolerance_down) <= ratio && ratio <= (1.0 + self.tolerance_up)
    }

    /// `GetResourceReplicas`: a Utilization target (percent of the pods' requests).
    /// Returns (replicas, current utilization %, current average raw value).
    pub fn resource_replicas(
        &self,
        current: i32,
        target_utilization: i32,
        resource: &str,
        pods: &[PodView],
        mut metrics: PodMetrics,
        requests: &BTreeMap<String, i64>,
    ) -> Result<(i32, i32, i64), CalcError> {
        if pods.is_empty() {
            return Err(CalcError::NoPods);
        }
        let g = group_pods(self, pods, &metrics, resource);
        for n in g.ignored.iter().chain(&g.unready) {
            metrics.remove(n);
        }
        if metrics.is_empty() {
            return Err(CalcError::NoMetrics);
        }
        let (ratio, utilization, raw) = utilization_ratio(&metrics, requests, target_utilization)?;
        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if self.within(ratio) {
                return Ok((current, utilization, raw));
            }
            return Ok((ceil_replicas(ratio * g.ready as f64), utilization, raw));
        }
        if !g.missing.is_empty() {
            let fallback_percent = i64::from(target_utilization.max(100));
            for n in &g.missing {
                let value = if ratio < 1.0 { requests.get(n).copied().unwrap_or(0) * fallback_percent / 100 } else { 0 };
                metrics.insert(n.clone(), PodMetric { value, timestamp: self.now, window: Duration::ZERO });
            }
        }
        if scale_up_with_unready {
            for n in &g.unready {
                metrics.insert(n.clone(), PodMetric { value: 0, timestamp: self.now, window: Duration::ZERO });
            }
        }
        let (new_ratio, _, _) = utilization_ratio(&metrics, requests, target_utilization)?;
        if self.within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
            return Ok((current, utilization, raw));
        }
        let n = ceil_replicas(new_ratio * metrics.len() as f64);
        if (new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current) {
            return Ok((current, utilization, raw));
        }
        Ok((n, utilization, raw))
    }

    /// `calcPlainMetricReplicas`: an AverageValue target over the pods' metric (Pods
    /// metrics, and Resource/ContainerResource AverageValue targets). Returns (replicas,
    /// current average).
    pub fn plain_replicas(&self, current: i32, target: i64, resource: &str, pods: &[PodView], mut metrics: PodMetrics) -> Result<(i32, i64), CalcError> {
        if pods.is_empty() {
            return Err(CalcError::NoPods);
        }
        let g = group_pods(self, pods, &metrics, resource);
        for n in g.ignored.iter().chain(&g.unready) {
            metrics.remove(n);
        }
        if metrics.is_empty() {
            return Err(CalcError::NoMetrics);
        }
        let (ratio, usage) = usage_ratio(&metrics, target);
        let scale_up_with_unready = !g.unready.is_empty() && ratio > 1.0;
        if !scale_up_with_unready && g.missing.is_empty() {
            if self.within(ratio) {
                return Ok((current, usage));
            }
            return Ok((ceil_replicas(ratio * g.ready as f64), usage));
        }
        for n in &g.missing {
            let value = if ratio < 1.0 { target } else { 0 };
            metrics.insert(n.clone(), PodMetric { value, timestamp: self.now, window: Duration::ZERO });
        }
        if scale_up_with_unready {
            for n in &g.unready {
                metrics.insert(n.clone(), PodMetric { value: 0, timestamp: self.now, window: Duration::ZERO });
            }
        }
        let (new_ratio, _) = usage_ratio(&metrics, target);
        if self.within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
            return Ok((current, usage));
        }
        let n = ceil_replicas(new_ratio * metrics.len() as f64);
        if (new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current) {
            return Ok((current, usage));
        }
        Ok((n, usage))
    }

    /// `getUsageRatioReplicaCount`: an Object metric's Value target, scaled over the
    /// ready pods (or from nothing when the target runs none).
    pub fn ratio_replicas(&self, current: i32, ratio: f64, pods: &[PodView]) -> Result<i32, CalcError> {
        if current == 0 {
            return Ok(ceil_replicas(ratio));
        }
        if self.within(ratio) {
            return Ok(current);
        }
        if pods.is_empty() {
            return Err(CalcError::NoPods);
        }
        let ready = pods.iter().filter(|p| p.running_and_ready()).count();
        Ok(ceil_replicas(ratio * ready as f64))
    }

    /// `GetObjectPerPodMetricReplicas`: an Object metric's AverageValue target: the
    /// object's value divided among the target's replicas. Returns (replicas, average).
    pub fn per_pod_replicas(&self, status_replicas: i32, target_average: i64, usage: i64) -> (i32, i64) {
        let mut replicas = status_replicas;
        let ratio = usage as f64 / (target_average as f64 * f64::from(status_replicas.max(1)));
        if !self.within(ratio) {
            replicas = ceil_replicas(usage as f64 / target_average as f64);
        }
        let avg = (usage as f64 / f64::from(status_replicas.max(1))).ceil() as i64;
        (replicas, avg)
    }
}

fn ceil_replicas(x: f64) -> i32 {
    let c = x.ceil();
    if c >= f64::from(i32::MAX) {
        i32::MAX
    } else if c <= 0.0 {
        0
    } else {
        c as i32
    }
}

/// `GetResourceUtilizationRatio`: (usage / target, utilization %, average raw value)
/// over the pods that have both a metric and a request.
pub fn utilization_ratio(metrics: &PodMetrics, requests: &BTreeMap<String, i64>, target: i32) -> Result<(f64, i32, i64), CalcError> {
    let (mut total, mut requested, mut n) = (0i64, 0i64, 0i64);
    for (pod, m) in metrics {
        let Some(r) = requests.get(pod) else { continue };
        total = total.saturating_add(m.value);
        requested = requested.saturating_add(*r);
        n += 1;
    }
    if requested == 0 {
        return Err(CalcError::NoMatchingMetrics);
    }
    let utilization = (total.saturating_mul(100) / requested).min(i64::from(i32::MAX)) as i32;
    Ok((f64::from(utilization) / f64::from(target.max(1)), utilization, total / n))
}

/// `GetMetricUsageRatio`: (average / target, average).
pub fn usage_ratio(metrics: &PodMetrics, target: i64) -> (f64, i64) {
    let total: i64 = metrics.values().map(|m| m.value).fold(0i64, i64::saturating_add);
    let avg = total / (metrics.len().max(1) as i64);
    (avg as f64 / target.max(1) as f64, avg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        api::time::parse("2026-01-01T12:00:00Z").unwrap()
    }

    fn calc() -> Calculator {
        Calculator {
            tolerance_up: 0.1,
            tolerance_down: 0.1,
            cpu_initialization_period: Duration::from_secs(300),
            delay_of_initial_readiness_status: Duration::from_secs(30),
            now: now(),
        }
    }

    /// A pod Running and Ready for ten minutes, started long ago.
    fn ready(name: &str) -> PodView {
        let long_ago = now() - chrono::Duration::minutes(10);
        PodView { name: name.into(), phase: "Running".into(), deleting: false, ready: Some((true, Some(long_ago))), start_time: Some(long_ago) }
    }

    fn metrics(values: &[(&str, i64)]) -> PodMetrics {
        values.iter().map(|(n, v)| (n.to_string(), PodMetric { value: *v, timestamp: now(), window: Duration::from_secs(30) })).collect()
    }

    fn requests(names: &[&str], milli: i64) -> BTreeMap<String, i64> {
        names.iter().map(|n| (n.to_string(), milli)).collect()
    }

    /// The HPA walkthrough's rule: desired = ceil(current × currentMetric / desiredMetric):
    /// 200m against 100m doubles, 50m against 100m halves.
    #[test]
    fn documented_examples_double_and_halve() {
        let pods = [ready("a")];
        let r = requests(&["a"], 1000);
        assert_eq!(calc().resource_replicas(1, 10, "cpu", &pods, metrics(&[("a", 200)]), &r), Ok((2, 20, 200)));
        assert_eq!(calc().resource_replicas(1, 20, "cpu", &pods, metrics(&[("a", 100)]), &r).map(|x| x.0), Ok(1));
        let pods: Vec<PodView> = ["a", "b", "c", "d"].iter().map(|n| ready(n)).collect();
        let r = requests(&["a", "b", "c", "d"], 1000);
        let m = metrics(&[("a", 250), ("b", 250), ("c", 250), ("d", 250)]);
        // 25% against 50%: 4 → 2.
        assert_eq!(calc().resource_replicas(4, 50, "cpu", &pods, m, &r), Ok((2, 25, 250)));
    }

    /// The walkthrough's php-apache: 1 pod at 305% of a 50% target → 7 (ceil 6.1).
    #[test]
    fn walkthrough_load_scales_one_pod_to_seven() {
        let r = requests(&["a"], 200);
        assert_eq!(calc().resource_replicas(1, 50, "cpu", &[ready("a")], metrics(&[("a", 610)]), &r), Ok((7, 305, 610)));
    }

    #[test]
    fn tolerance_keeps_small_changes_out() {
        let pods: Vec<PodView> = ["a", "b"].iter().map(|n| ready(n)).collect();
        let r = requests(&["a", "b"], 1000);
        // 54% / 50% = 1.08: within 10%.
        let m = metrics(&[("a", 540), ("b", 540)]);
        assert_eq!(calc().resource_replicas(2, 50, "cpu", &pods, m, &r).map(|x| x.0), Ok(2));
        // 56% / 50% = 1.12: out of it, ceil(2.24) = 3.
        let m = metrics(&[("a", 560), ("b", 560)]);
        assert_eq!(calc().resource_replicas(2, 50, "cpu", &pods, m, &r).map(|x| x.0), Ok(3));
        // 46% / 50% = 0.92 stays; 44% / 50% = 0.88 → ceil(1.76) = 2 (no change either).
        let m = metrics(&[("a", 460), ("b", 460)]);
        assert_eq!(calc().resource_replicas(2, 50, "cpu", &pods, m, &r).map(|x| x.0), Ok(2));
    }

    /// Missing metrics on a scale down count as 100% of the request: a scale down is
    /// damped (upstream's TestReplicaCalcMissingMetricsNoChangeLt: it flips and stays).
    #[test]
    fn missing_metrics_damp_a_scale_down() {
        let pods: Vec<PodView> = ["a", "b", "c", "d"].iter().map(|n| ready(n)).collect();
        let r = requests(&["a", "b", "c", "d"], 1000);
        // Three pods at 40% of a 50% target, one without a metric: (3×400 + 1000)/4000 =
        // 55% → ratio 1.1 flips the direction → no change.
        let m = metrics(&[("a", 400), ("b", 400), ("c", 400)]);
        assert_eq!(calc().resource_replicas(4, 50, "cpu", &pods, m, &r).map(|x| x.0), Ok(4));
        // Three at 10%: (300 + 1000)/4000 = 32.5% → 0.65 → ceil(2.6) = 3.
        let m = metrics(&[("a", 100), ("b", 100), ("c", 100)]);
        assert_eq!(calc().resource_replicas(4, 50, "cpu", &pods, m, &r).map(|x| x.0), Ok(3));
    }

    /// Missing metrics on a scale up count as 0%.
    #[test]
    fn missing_metrics_count_as_zero_on_a_scale_up() {
        let pods: Vec<PodView> = ["a", "b", "c"].iter().map(|n| ready(n)).collect();
        let r = requests(&["a", "b", "c"], 1000);
        // Two pods at 100% of a 50% target, one missing: 2000/3000 = 66% → 1.32 → ceil(3.96) = 4.
        let m = metrics(&[("a", 1000), ("b", 1000)]);
        assert_eq!(calc().resource_replicas(3, 50, "cpu", &pods, m, &r).map(|x| x.0), Ok(4));
    }

    /// Unready pods are left out, and on a scale up count as using nothing.
    #[test]
    fn unready_pods_count_as_zero_on_a_scale_up() {
        let mut pending = ready("c");
        pending.phase = "Pending".into();
        let pods = vec![ready("a"), ready("b"), pending];
        let r = requests(&["a", "b", "c"], 1000);
        // Ready pods at 90% of a 50% target: with c at 0 → 60% → 1.2 → ceil(3.6) = 4
        // (without the rebalance it would be ceil(1.8 × 2) = 4 too, but from 2 pods).
        let m = metrics(&[("a", 900), ("b", 900)]);
        assert_eq!(calc().resource_replicas(3, 50, "cpu", &pods, m, &r).map(|x| x.0), Ok(4));
        // Deleted and Failed pods are ignored altogether.
        let mut gone = ready("d");
        gone.deleting = true;
        let mut failed = ready("e");
        failed.phase = "Failed".into();
        let pods = vec![ready("a"), gone, failed];
        let m = metrics(&[("a", 250), ("d", 5000), ("e", 5000)]);
        assert_eq!(calc().resource_replicas(3, 50, "cpu", &pods, m, &requests(&["a", "d", "e"], 1000)).map(|x| x.0), Ok(1));
    }

    #[test]
    fn cpu_samples_from_before_readiness_do_not_count_in_the_initialization_period() {
        let mut fresh = ready("b");
        fresh.start_time = Some(now() - chrono::Duration::seconds(20));
        fresh.ready = Some((true, Some(now() - chrono::Duration::seconds(10))));
        let c = calc();
        // Its sample's 30 s window began before it became ready: unready for CPU …
        let g = group_pods(&c, &[ready("a"), fresh.clone()], &metrics(&[("a", 1), ("b", 1)]), "cpu");
        assert_eq!((g.ready, g.unready.len()), (1, 1));
        // … but not for other metrics.
        let g = group_pods(&c, &[ready("a"), fresh], &metrics(&[("a", 1), ("b", 1)]), "memory");
        assert_eq!(g.ready, 2);
    }

    #[test]
    fn errors_name_what_is_missing() {
        let c = calc();
        assert_eq!(c.resource_replicas(1, 50, "cpu", &[], metrics(&[]), &BTreeMap::new()), Err(CalcError::NoPods));
        assert_eq!(c.resource_replicas(1, 50, "cpu", &[ready("a")], metrics(&[]), &requests(&["a"], 1)), Err(CalcError::NoMetrics));
        assert_eq!(c.resource_replicas(1, 50, "cpu", &[ready("a")], metrics(&[("a", 1)]), &BTreeMap::new()), Err(CalcError::NoMatchingMetrics));
    }

    /// Pods metrics (AverageValue): 3 pods averaging 15 against 10 → ceil(4.5) = 5;
    /// missing ones count as the target on a scale down.
    #[test]
    fn plain_metrics_average_against_the_target() {
        let pods: Vec<PodView> = ["a", "b", "c"].iter().map(|n| ready(n)).collect();
        let m = metrics(&[("a", 15_000), ("b", 15_000), ("c", 15_000)]);
        assert_eq!(calc().plain_replicas(3, 10_000, "", &pods, m), Ok((5, 15_000)));
        let m = metrics(&[("a", 2_000), ("b", 2_000)]);
        // (2 + 2 + 10) / 3 = 4.67 → 0.467 → ceil(1.4) = 2.
        assert_eq!(calc().plain_replicas(3, 10_000, "", &pods, m).map(|x| x.0), Ok(2));
    }

    /// Object metrics: Value scales the ready pods by the ratio; AverageValue divides
    /// the object's value by the target per pod.
    #[test]
    fn object_metrics() {
        let pods: Vec<PodView> = ["a", "b"].iter().map(|n| ready(n)).collect();
        assert_eq!(calc().ratio_replicas(2, 2.0, &pods), Ok(4));
        assert_eq!(calc().ratio_replicas(2, 1.05, &pods), Ok(2));
        assert_eq!(calc().ratio_replicas(0, 2.5, &[]), Ok(3));
        // 3000 requests/s against 500 per pod → 6 (average 1500 over 2).
        assert_eq!(calc().per_pod_replicas(2, 500_000, 3_000_000), (6, 1_500_000));
        assert_eq!(calc().per_pod_replicas(2, 1_000_000, 2_050_000), (2, 1_025_000));
    }
}
