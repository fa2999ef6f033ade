//! The finer controls of a Job: the pod failure policy (rules on exit codes and pod
//! conditions), the success policy (indexes or counts that make a job succeed), the
//! pod-group scheduling settings, and the status' uncounted terminated pods.

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct PodFailurePolicy {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<PodFailurePolicyRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct PodFailurePolicyRule {
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_exit_codes: Option<PodFailurePolicyOnExitCodesRequirement>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub on_pod_conditions: Vec<PodFailurePolicyOnPodConditionsPattern>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct PodFailurePolicyOnExitCodesRequirement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    pub operator: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct PodFailurePolicyOnPodConditionsPattern {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub type_: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct SuccessPolicy {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<SuccessPolicyRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct SuccessPolicyRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub succeeded_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub succeeded_indexes: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct UncountedTerminatedPods {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub succeeded: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSchedulingConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disruption_mode: Option<WorkloadPodGroupDisruptionMode>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_claims: Vec<WorkloadPodGroupResourceClaim>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduling_constraints: Option<WorkloadPodGroupSchedulingConstraints>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduling_policy: Option<WorkloadPodGroupSchedulingPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupDisruptionMode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<WorkloadPodGroupAllDisruptionMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single: Option<WorkloadPodGroupSingleDisruptionMode>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupSingleDisruptionMode {
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupAllDisruptionMode {
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupResourceClaim {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_claim_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_claim_template_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupSchedulingConstraints {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub topology: Vec<TopologyConstraint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct TopologyConstraint {
    pub key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupSchedulingPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basic: Option<WorkloadPodGroupBasicSchedulingPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gang: Option<WorkloadPodGroupGangSchedulingPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupBasicSchedulingPolicy {
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadPodGroupGangSchedulingPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_count: Option<i32>,
}
