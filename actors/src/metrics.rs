//! The latest resource and custom metrics, in memory: what the gateway serves as
//! `metrics.k8s.io` and `custom.metrics.k8s.io` and what the HPA controller reads.
//!
//! Nodes post a usage report every interval (`api::metrics::UsageReport`); the newest
//! report of each node replaces its previous one, and reports older than `max_age` are
//! no longer served (a node that stopped reporting has no metrics, as with
//! metrics-server). Custom metric values are posted one per object and metric and kept
//! until replaced or older than `max_age`.
//!
//! Why memory and not the store: usage is a sliding window that is worthless minutes
//! later, written by every node every few seconds. Through the store it would cost a
//! durable write and a watch event per node per interval and fill the watch history for
//! nothing; upstream keeps it in metrics-server's and the adapters' memory, never in
//! etcd. A restart of the control plane loses one interval of metrics, which the next
//! reports restore.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use api::metrics::{ContainerUsage, Usage, UsageReport};
use api::model::LabelSelector;

/// How long a report or a custom value is served after its timestamp.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(120);

/// One pod's usage, as its node last reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSample {
    pub node: String,
    pub uid: String,
    pub timestamp: DateTime<Utc>,
    pub window: Duration,
    pub containers: Vec<ContainerUsage>,
}

impl PodSample {
    pub fn total(&self) -> Usage {
        self.containers.iter().fold(Usage::default(), |a, c| a.add(c.usage))
    }
}

/// One node's own usage, as it last reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSample {
    pub timestamp: DateTime<Utc>,
    pub window: Duration,
    pub usage: Usage,
}

/// Which object a custom metric describes: namespace (None for cluster-scoped), the
/// resource's plural (`pods`, `services`, …), the object's name, the metric's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomKey {
    pub namespace: Option<String>,
    pub resource: String,
    pub name: String,
    pub metric: String,
}

/// A posted custom metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomSample {
    /// The value as a quantity string (`"10"`, `"500m"`).
    pub value: api::model::Quantity,
    /// The metric's labels, matched by a `metric.selector`.
    pub labels: BTreeMap<String, String>,
    pub timestamp: DateTime<Utc>,
    pub window: Option<Duration>,
}

#[derive(Default)]
struct Reports {
    nodes: HashMap<String, NodeSample>,
    /// (namespace, pod name) → sample; a pod appears under the node that reported it last.
    pods: HashMap<(String, String), PodSample>,
}

/// The metrics registry the gateway feeds and serves and the HPA controller reads.
pub struct MetricsRegistry {
    max_age: Duration,
    reports: RwLock<Reports>,
    custom: RwLock<BTreeMap<CustomKey, CustomSample>>,
}

impl std::fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (nodes, pods) = {
            let g = read(&self.reports);
            (g.nodes.len(), g.pods.len())
        };
        f.debug_struct("MetricsRegistry").field("nodes", &nodes).field("pods", &pods).field("custom", &read(&self.custom).len()).finish()
    }
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        MetricsRegistry::new(DEFAULT_MAX_AGE)
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Why a report was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReportError {
    #[error("report names no node")]
    NoNode,
    #[error("report timestamp {0:?} is not RFC 3339")]
    Timestamp(String),
}

impl MetricsRegistry {
    pub fn new(max_age: Duration) -> Self {
        MetricsRegistry { max_age, reports: RwLock::default(), custom: RwLock::default() }
    }

    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn fresh(&self, t: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        (now - t).to_std().map(|age| age <= self.max_age).unwrap_or(true)
    }

    /// Takes a node's report: it replaces what the node reported before (a pod the node
    /// no longer reports has no metrics any more).
    pub fn report(&self, r: UsageReport) -> Result<(), ReportError> {
        if r.node.is_empty() {
            return Err(ReportError::NoNode);
        }
        let timestamp = api::time::parse(&r.timestamp).ok_or_else(|| ReportError::Timestamp(r.timestamp.clone()))?;
        let window = Duration::from_millis(r.window_ms);
        let mut g = write(&self.reports);
        g.pods.retain(|_, p| p.node != r.node);
        for p in r.pods {
            let sample = PodSample { node: r.node.clone(), uid: p.uid, timestamp, window, containers: p.containers };
            g.pods.insert((p.namespace, p.name), sample);
        }
        g.nodes.insert(r.node, NodeSample { timestamp, window, usage: r.node_usage });
        Ok(())
    }

    /// The node's latest usage, when fresh.
    pub fn node(&self, name: &str) -> Option<NodeSample> {
        let now = Utc::now();
        read(&self.reports).nodes.get(name).filter(|s| self.fresh(s.timestamp, now)).cloned()
    }

    /// The pod's latest usage, when fresh.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodSample> {
        let now = Utc::now();
        let g = read(&self.reports);
        g.pods.get(&(namespace.to_string(), name.to_string())).filter(|s| self.fresh(s.timestamp, now)).cloned()
    }

    /// Stores a custom metric value (replacing the previous one) and drops stale ones.
    pub fn put_custom(&self, key: CustomKey, sample: CustomSample) {
        let now = Utc::now();
        let mut g = write(&self.custom);
        g.retain(|_, s| self.fresh(s.timestamp, now));
        g.insert(key, sample);
    }

    /// The fresh value of `key` whose labels `selector` matches (no selector: any).
    pub fn custom(&self, key: &CustomKey, selector: Option<&LabelSelector>) -> Option<CustomSample> {
        let now = Utc::now();
        read(&self.custom)
            .get(key)
            .filter(|s| self.fresh(s.timestamp, now))
            .filter(|s| selector.is_none_or(|sel| sel.matches(&s.labels)))
            .cloned()
    }

    /// The names of the objects of `resource` in `namespace` with a value of `metric`.
    pub fn custom_names(&self, namespace: Option<&str>, resource: &str, metric: &str) -> Vec<String> {
        read(&self.custom)
            .keys()
            .filter(|k| k.namespace.as_deref() == namespace && k.resource == resource && k.metric == metric)
            .map(|k| k.name.clone())
            .collect()
    }

    /// The metric names posted for objects of `resource` (for discovery), sorted.
    pub fn custom_metric_names(&self) -> Vec<(String, String, bool)> {
        let g = read(&self.custom);
        let mut out: Vec<(String, String, bool)> = g.keys().map(|k| (k.resource.clone(), k.metric.clone(), k.namespace.is_some())).collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::metrics::PodUsage;

    fn report(node: &str, pods: &[&str], at: DateTime<Utc>) -> UsageReport {
        UsageReport {
            node: node.into(),
            timestamp: api::time::rfc3339(at),
            window_ms: 10_000,
            node_usage: Usage { cpu_nanocores: 1, memory_bytes: 2 },
            pods: pods
                .iter()
                .map(|p| PodUsage {
                    namespace: "default".into(),
                    name: p.to_string(),
                    uid: format!("uid-{p}"),
                    containers: vec![ContainerUsage { name: "c".into(), usage: Usage { cpu_nanocores: 100, memory_bytes: 0 } }],
                })
                .collect(),
        }
    }

    #[test]
    fn a_report_replaces_the_nodes_previous_pods() {
        let m = MetricsRegistry::default();
        let now = Utc::now();
        m.report(report("a", &["p1", "p2"], now)).unwrap();
        m.report(report("b", &["p3"], now)).unwrap();
        m.report(report("a", &["p2"], now)).unwrap();
        assert!(m.pod("default", "p1").is_none());
        assert_eq!(m.pod("default", "p2").map(|p| p.node), Some("a".to_string()));
        assert!(m.pod("default", "p3").is_some());
        assert_eq!(m.node("a").map(|n| n.usage.memory_bytes), Some(2));
        assert_eq!(m.report(UsageReport::default()), Err(ReportError::NoNode));
    }

    #[test]
    fn stale_reports_and_values_are_not_served() {
        let m = MetricsRegistry::new(Duration::from_secs(60));
        m.report(report("a", &["p1"], Utc::now() - chrono::Duration::seconds(61))).unwrap();
        assert!(m.pod("default", "p1").is_none());
        assert!(m.node("a").is_none());
        let key = CustomKey { namespace: Some("default".into()), resource: "pods".into(), name: "p1".into(), metric: "rps".into() };
        let labels = BTreeMap::from([("verb".to_string(), "GET".to_string())]);
        m.put_custom(key.clone(), CustomSample { value: api::model::Quantity::new("10"), labels, timestamp: Utc::now(), window: None });
        assert!(m.custom(&key, None).is_some());
        let get = LabelSelector::from_map(&BTreeMap::from([("verb".to_string(), "GET".to_string())]));
        let post = LabelSelector::from_map(&BTreeMap::from([("verb".to_string(), "POST".to_string())]));
        assert!(m.custom(&key, Some(&get)).is_some());
        assert!(m.custom(&key, Some(&post)).is_none());
        assert_eq!(m.custom_metric_names(), vec![("pods".to_string(), "rps".to_string(), true)]);
    }
}
