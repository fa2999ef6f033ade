//! EndpointSlice (discovery.k8s.io/v1): a Service's backends in slices of at most 1000
//! endpoints of one address type. The endpoints controller
//! (`actors/src/controllers/endpoints.rs`) fills them from Services and Pods.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;
use super::{KindInfo, ObjectMeta};

pub const ENDPOINT_SLICE_INFO: KindInfo = KindInfo {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    singular: "endpointslice",
    namespaced: true,
    short_names: &[],
    categories: &[],
    has_status: false,
    has_scale: false,
};

/// The label naming the Service a slice belongs to.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

/// The address types a slice may be created with.
pub const ADDRESS_TYPES: &[&str] = &["FQDN", "IPv4", "IPv6"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointSlice {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    /// `IPv4`, `IPv6` or `FQDN`; immutable.
    pub address_type: String,
    pub endpoints: Vec<Endpoint>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointSlicePort>,
}

crate::impl_resource!(EndpointSlice, ENDPOINT_SLICE_INFO);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct Endpoint {
    /// One to 100 addresses of the slice's address type.
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<EndpointConditions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
    /// The v1beta1 topology, kept for reading; not writable through v1 upstream.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub deprecated_topology: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hints: Option<EndpointHints>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointConditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointHints {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub for_zones: Vec<ForZone>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub for_nodes: Vec<ForNode>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct ForZone {
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct ForNode {
    pub name: String,
}

/// discovery/v1 `EndpointPort`: unlike core's, the port number is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct EndpointSlicePort {
    /// Defaults to `""`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Defaults to `TCP`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_slice_round_trips() {
        let v = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "default", "labels": {LABEL_SERVICE_NAME: "web"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": true}, "nodeName": "n1", "zone": "a",
                           "hints": {"forZones": [{"name": "a"}]}}],
            "ports": [{"name": "http", "protocol": "TCP", "port": 80}]
        });
        let s: EndpointSlice = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), v);
    }
}
