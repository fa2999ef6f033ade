//! Job and CronJob: run-to-completion pods, once or on a schedule.

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;
use super::*;

pub const JOB_INFO: KindInfo = KindInfo {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    singular: "job",
    namespaced: true,
    short_names: &[],
    categories: &["all"],
    has_status: true,
    has_scale: false,
};

pub const CRON_JOB_INFO: KindInfo = KindInfo {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    singular: "cronjob",
    namespaced: true,
    short_names: &["cj"],
    categories: &["all"],
    has_status: true,
    has_scale: false,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(default)]
pub struct Job {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: JobSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
}

crate::impl_resource!(Job, JOB_INFO);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct JobSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_selector: Option<bool>,
    pub template: PodTemplateSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// `NonIndexed` (default) or `Indexed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Retries per index (Indexed jobs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<i32>,
    /// Failed indexes after which the whole job fails (needs `backoffLimitPerIndex`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failed_indexes: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<PodFailurePolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_policy: Option<SuccessPolicy>,
    /// `TerminatingOrFailed` (default) or `Failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_replacement_policy: Option<String>,
    /// The controller that reconciles this job; `kubernetes.io/job-controller` or absent for shoal's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<Box<JobSchedulingConfiguration>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct JobStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub active: i32,
    #[serde(skip_serializing_if = "is_zero")]
    pub succeeded: i32,
    #[serde(skip_serializing_if = "is_zero")]
    pub failed: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_indexes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminating: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncounted_terminated_pods: Option<UncountedTerminatedPods>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(default)]
pub struct CronJob {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: CronJobSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CronJobStatus>,
}

crate::impl_resource!(CronJob, CRON_JOB_INFO);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct CronJobSpec {
    /// Five-field cron expression or `@hourly`, `@daily`, ….
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// `Allow` (default), `Forbid` or `Replace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    pub job_template: JobTemplateSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(default)]
pub struct JobTemplateSpec {
    #[serde(skip_serializing_if = "meta_is_empty")]
    pub metadata: ObjectMeta,
    pub spec: JobSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct CronJobStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<String>,
}

/// The label and annotation keys of Job pods (upstream's `batch/v1` constants).
pub mod job_keys {
    /// The selector label every generated Job selector matches (the Job's uid).
    pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
    pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
    pub const LEGACY_CONTROLLER_UID: &str = "controller-uid";
    pub const LEGACY_JOB_NAME: &str = "job-name";
    /// Annotation and label of an Indexed Job's pod: its completion index.
    pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
    /// The environment variable an Indexed Job's containers read their index from.
    pub const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
    /// Failures so far of the pod's index (`backoffLimitPerIndex`), on each pod.
    pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";
    /// Failures of the pod's index that a podFailurePolicy rule ignored.
    pub const INDEX_IGNORED_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-ignored-failure-count";
    /// The finalizer that keeps a finished pod until the Job controller has counted it.
    pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
}

impl Job {
    /// Upstream's `generateSelector` (the Job strategy's PrepareForCreate, unless
    /// `manualSelector`): the template gets the job-name and controller-uid labels (both
    /// spellings; labels the user set are kept, for validation to judge) and the selector
    /// matches the uid.
    pub fn generate_selector(&mut self) {
        if self.spec.manual_selector == Some(true) {
            return;
        }
        let (name, uid) = (self.metadata.name.clone(), self.metadata.uid.clone());
        let labels = &mut self.spec.template.metadata.labels;
        for key in [job_keys::LEGACY_JOB_NAME, job_keys::JOB_NAME] {
            labels.entry(key.to_string()).or_insert_with(|| name.clone());
        }
        for key in [job_keys::LEGACY_CONTROLLER_UID, job_keys::CONTROLLER_UID] {
            labels.entry(key.to_string()).or_insert_with(|| uid.clone());
        }
        let sel = self.spec.selector.get_or_insert_with(LabelSelector::default);
        sel.match_labels.entry(job_keys::CONTROLLER_UID.to_string()).or_insert(uid);
    }

    /// Whether the Job has a condition of this type with status True.
    pub fn has_condition(&self, type_: &str) -> bool {
        self.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == type_ && c.status == "True"))
    }

    /// Complete or Failed (upstream's `IsJobFinished`).
    pub fn is_finished(&self) -> bool {
        self.has_condition("Complete") || self.has_condition("Failed")
    }

    pub fn is_indexed(&self) -> bool {
        self.spec.completion_mode.as_deref() == Some("Indexed")
    }
}
