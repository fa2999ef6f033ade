//! PodDisruptionBudget (policy/v1): how many of a set of pods voluntary disruptions
//! (evictions) may take down at once. Its status is kept by the disruption controller and
//! spent by `pods/eviction`.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::is_zero_i64;
use super::{Condition, IntOrString, KindInfo, LabelSelector, ObjectMeta};

pub const POD_DISRUPTION_BUDGET_INFO: KindInfo = KindInfo {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    singular: "poddisruptionbudget",
    namespaced: true,
    short_names: &["pdb"],
    categories: &[],
    has_status: true,
    has_scale: false,
};

/// The condition the disruption controller keeps (`status.conditions`).
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";

/// `unhealthyPodEvictionPolicy` values.
pub mod unhealthy_policy {
    pub const IF_HEALTHY_BUDGET: &str = "IfHealthyBudget";
    pub const ALWAYS_ALLOW: &str = "AlwaysAllow";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(default)]
pub struct PodDisruptionBudget {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PodDisruptionBudgetSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<PodDisruptionBudgetStatus>,
}

crate::impl_resource!(PodDisruptionBudget, POD_DISRUPTION_BUDGET_INFO);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct PodDisruptionBudgetSpec {
    /// At most one of `minAvailable` and `maxUnavailable`: a count or a percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// The pods the budget covers; an empty selector matches every pod of the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// `IfHealthyBudget` (the default behaviour) or `AlwaysAllow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct PodDisruptionBudgetStatus {
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// Pods evicted but not yet seen gone by the controller: name → eviction time.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub disrupted_pods: BTreeMap<String, String>,
    pub disruptions_allowed: i32,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
