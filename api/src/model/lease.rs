//! Lease (coordination.k8s.io/v1): a node-host's heartbeat, renewed like kubelet's.

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;
use super::{KindInfo, ObjectMeta};

pub const LEASE_INFO: KindInfo = KindInfo {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    namespaced: true,
    short_names: &[],
    categories: &[],
    has_status: false,
    has_scale: false,
};

/// The namespace holding one Lease per node, named after the node.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(default)]
pub struct Lease {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(skip_serializing_if = "is_default")]
    pub spec: LeaseSpec,
}

crate::impl_resource!(Lease, LEASE_INFO);

/// Times are Kubernetes' MicroTime: RFC 3339 with microseconds (`2026-11-25T01:02:03.123456Z`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct LeaseSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    /// A candidate the current holder should yield to (coordinated leader election).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_holder: Option<String>,
    /// The leader-election strategy, e.g. `OldestEmulationVersion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

pub use crate::time::now_micro_time;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::codec::{decode, encode};

    #[test]
    fn lease_round_trips_through_json_and_bincode() {
        let manifest = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40,
                     "acquireTime": "2026-11-25T01:02:03.000000Z",
                     "renewTime": "2026-11-25T01:02:13.123456Z", "leaseTransitions": 1}
        });
        let typed: Lease = serde_json::from_value(manifest.clone()).unwrap();
        let back: Lease = decode(&encode(&typed).unwrap()).unwrap();
        assert_eq!(back, typed);
        assert_eq!(serde_json::to_value(&back).unwrap(), manifest);
        assert_eq!(crate::model::Validate::validate(&back), vec![]);
    }

    #[test]
    fn micro_time_parses_as_rfc3339() {
        assert!(chrono::DateTime::parse_from_rfc3339(&now_micro_time()).is_ok());
    }
}
