//! ControllerRevision (apps/v1): an immutable snapshot of a workload's template, the
//! revision history of StatefulSets (and, upstream, DaemonSets). `data` is free-form JSON
//! (a `RawExtension`): held as its JSON text so that the bincode envelope can store it.

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::*;

pub const CONTROLLER_REVISION_INFO: KindInfo = KindInfo {
    group: "apps",
    version: "v1",
    kind: "ControllerRevision",
    plural: "controllerrevisions",
    singular: "controllerrevision",
    namespaced: true,
    short_names: &[],
    categories: &[],
    has_status: false,
    has_scale: false,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(default)]
pub struct ControllerRevision {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    /// The serialized state (JSON text; empty when the object has none).
    #[serde(skip_serializing_if = "String::is_empty", with = "crate::model::json_text")]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub data: String,
    /// The revision this object represents; required, never negative.
    pub revision: i64,
}

crate::impl_resource!(ControllerRevision, CONTROLLER_REVISION_INFO);

impl ControllerRevision {
    /// `data` as a JSON value (`Null` when empty or not JSON).
    pub fn data_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use serde_json::json;

    #[test]
    fn data_round_trips_as_json_through_the_store_envelope() {
        let manifest = json!({
            "apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "web-6c5d8b9f7c", "namespace": "default"},
            "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"name": "c", "image": "x"}]}}}},
            "revision": 2
        });
        let typed: ControllerRevision = serde_json::from_value(manifest.clone()).unwrap();
        assert_eq!(typed.revision, 2);
        let back: ControllerRevision = decode(&encode(&typed).unwrap()).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), manifest);
        assert_eq!(back.data_value()["spec"]["template"]["$patch"], "replace");
    }
}
