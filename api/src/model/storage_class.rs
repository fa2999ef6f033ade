//! StorageClass (storage.k8s.io/v1, cluster-scoped): how volumes of a class are made and
//! bound. A class is the default one when it carries [`IS_DEFAULT_CLASS`] = `"true"`.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{KindInfo, ObjectMeta};

pub const STORAGE_CLASS_INFO: KindInfo = KindInfo {
    group: "storage.k8s.io",
    version: "v1",
    kind: "StorageClass",
    plural: "storageclasses",
    singular: "storageclass",
    namespaced: false,
    short_names: &["sc"],
    categories: &[],
    has_status: false,
    has_scale: false,
};

/// The annotation that marks the default class (value `"true"`).
pub const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The beta spelling upstream still honours.
pub const BETA_IS_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";

/// `volumeBindingMode` values.
pub mod binding_mode {
    pub const IMMEDIATE: &str = "Immediate";
    pub const WAIT_FOR_FIRST_CONSUMER: &str = "WaitForFirstConsumer";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct StorageClass {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    /// The volume plugin that provisions volumes of this class (immutable).
    pub provisioner: String,
    /// Provisioner parameters (immutable; at most 512 entries, 256 KiB in all).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// `Delete` (default) or `Retain` (immutable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reclaim_policy: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mount_options: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_volume_expansion: Option<bool>,
    /// `Immediate` (default) or `WaitForFirstConsumer` (immutable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_binding_mode: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_topologies: Vec<TopologySelectorTerm>,
}

crate::impl_resource!(StorageClass, STORAGE_CLASS_INFO);

impl StorageClass {
    /// Whether the class is marked as the default one.
    pub fn is_default(&self) -> bool {
        let a = &self.metadata.annotations;
        a.get(IS_DEFAULT_CLASS).or_else(|| a.get(BETA_IS_DEFAULT_CLASS)).is_some_and(|v| v == "true")
    }

    /// `volumeBindingMode`, `Immediate` when unset.
    pub fn binding_mode(&self) -> &str {
        self.volume_binding_mode.as_deref().unwrap_or(binding_mode::IMMEDIATE)
    }
}

/// Topology domains, ANDed within a term (terms are ORed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct TopologySelectorTerm {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub match_label_expressions: Vec<TopologySelectorLabelRequirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct TopologySelectorLabelRequirement {
    pub key: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}
