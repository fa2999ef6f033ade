//! The metrics APIs' wire shapes: the usage report a node posts to the control plane
//! (shoal's own `metrics.shoal.io/v1`, bincode), and the quantities of the read-only
//! views the gateway serves from the latest reports — `metrics.k8s.io/v1beta1`
//! NodeMetrics and PodMetrics (what `kubectl top` reads) and
//! `custom.metrics.k8s.io/v1beta2` MetricValues (posted as [`CustomMetricPost`]).

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// `metrics.k8s.io`, version `v1beta1`: NodeMetrics and PodMetrics.
pub const RESOURCE_GROUP: &str = "metrics.k8s.io";
pub const RESOURCE_VERSION: &str = "v1beta1";
/// `custom.metrics.k8s.io`, version `v1beta2`: MetricValues about objects.
pub const CUSTOM_GROUP: &str = "custom.metrics.k8s.io";
pub const CUSTOM_VERSION: &str = "v1beta2";
/// Where a node posts its [`UsageReport`] (`POST`, bincode body).
pub const REPORT_PATH: &str = "/apis/metrics.shoal.io/v1/usage";
/// The content type of a bincode-encoded report.
pub const REPORT_CONTENT_TYPE: &str = "application/vnd.shoal.usage-report+bincode";

/// Usage over a window: CPU as a rate in nanocores (10^-9 cores), memory as the
/// working set in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Usage {
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

impl Usage {
    pub fn add(self, o: Usage) -> Usage {
        Usage {
            cpu_nanocores: self.cpu_nanocores.saturating_add(o.cpu_nanocores),
            memory_bytes: self.memory_bytes.saturating_add(o.memory_bytes),
        }
    }

    /// The value of resource `cpu` (in milli-cores) or `memory` (in milli-bytes, as
    /// upstream's `MilliValue`), None for other resources.
    pub fn milli_value(&self, resource: &str) -> Option<i64> {
        match resource {
            "cpu" => Some((self.cpu_nanocores / 1_000_000).min(i64::MAX as u64) as i64),
            "memory" => Some(self.memory_bytes.saturating_mul(1000).min(i64::MAX as u64) as i64),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct ContainerUsage {
    pub name: String,
    pub usage: Usage,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct PodUsage {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub containers: Vec<ContainerUsage>,
}

impl PodUsage {
    pub fn total(&self) -> Usage {
        self.containers.iter().fold(Usage::default(), |a, c| a.add(c.usage))
    }
}

/// What a node posts every usage interval: its own usage and its pods', measured over
/// `window_ms` ending at `timestamp` (RFC 3339).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct UsageReport {
    pub node: String,
    pub timestamp: String,
    pub window_ms: u64,
    pub node_usage: Usage,
    pub pods: Vec<PodUsage>,
}

impl UsageReport {
    pub fn encode(&self) -> Vec<u8> {
        bincode::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        bincode::decode_from_slice(bytes, bincode::config::standard()).map(|(r, _)| r).map_err(|e| e.to_string())
    }
}

/// The body of a custom metric write (`POST`/`PUT` to a MetricValue's path): the value,
/// optionally the metric's labels (what a `metric.selector` matches) and its window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CustomMetricPost {
    pub value: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metric_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<i64>,
}

/// CPU in nanocores as metrics-server writes it: `250m` when whole milli-cores, else `n`.
pub fn format_cpu(nanocores: u64) -> String {
    if nanocores % 1_000_000 == 0 {
        format!("{}m", nanocores / 1_000_000)
    } else {
        format!("{nanocores}n")
    }
}

/// Memory in bytes as metrics-server writes it: `Ki` when whole kibibytes, else bytes.
pub fn format_memory(bytes: u64) -> String {
    if bytes % 1024 == 0 {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_through_bincode() {
        let r = UsageReport {
            node: "n".into(),
            timestamp: "2026-01-01T00:00:00Z".into(),
            window_ms: 10_000,
            node_usage: Usage { cpu_nanocores: 5, memory_bytes: 6 },
            pods: vec![PodUsage {
                namespace: "default".into(),
                name: "p".into(),
                uid: "u".into(),
                containers: vec![ContainerUsage { name: "c".into(), usage: Usage { cpu_nanocores: 250_000_000, memory_bytes: 1 << 26 } }],
            }],
        };
        assert_eq!(UsageReport::decode(&r.encode()), Ok(r.clone()));
        assert_eq!(r.pods[0].total().milli_value("cpu"), Some(250));
        assert!(UsageReport::decode(b"\xff\xff").is_err());
    }

    #[test]
    fn quantities_are_written_as_metrics_server_writes_them() {
        assert_eq!(format_cpu(250_000_000), "250m");
        assert_eq!(format_cpu(1_234_567), "1234567n");
        assert_eq!(format_memory(64 << 20), "65536Ki");
        assert_eq!(format_memory(1000), "1000");
    }
}
