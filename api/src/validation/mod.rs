//! Validation of objects before they are stored: every problem names its field.

pub use crate::field::{FieldError, FieldErrorKind};

pub mod autoscaling;
pub mod batch;
pub mod containers;
pub mod controller_revision;
pub mod config;
pub mod cron;
pub mod disruption;
pub mod discovery;
pub mod event;
pub mod job_policy;
pub mod lease;
pub mod meta;
pub mod names;
pub mod node;
pub mod persistent_volume;
pub mod pod;
pub mod pod_runtime;
pub mod scheduling;
pub mod service;
pub mod storage;
pub mod storage_class;
pub mod workloads;

pub use autoscaling::{validate_horizontal_pod_autoscaler, validate_horizontal_pod_autoscaler_v1};
pub use batch::{validate_cron_job, validate_job, validate_job_update};
pub use config::{
    validate_config_map, validate_config_map_update, validate_secret, validate_secret_update, validate_service_account,
};
pub use cron::{validate_schedule, validate_time_zone};
pub use disruption::validate_pod_disruption_budget;
pub use discovery::{validate_endpoint_slice, validate_endpoint_slice_update};
pub use event::{validate_event, validate_event_v1};
pub use lease::validate_lease;
pub use meta::validate_namespace;
pub use node::{validate_node, validate_node_update};
pub use persistent_volume::{validate_persistent_volume, validate_persistent_volume_update};
pub use pod::{validate_pod, validate_pod_spec, validate_pod_template, validate_pod_update};
pub use service::{validate_endpoints, validate_service};
pub use storage::validate_persistent_volume_claim;
pub use storage_class::{validate_storage_class, validate_storage_class_update};
pub use controller_revision::{validate_controller_revision, validate_controller_revision_update};
pub use workloads::{
    validate_daemon_set, validate_deployment, validate_replica_set, validate_replication_controller,
    validate_stateful_set,
};

/// Which validation each kind gets: `Kind => validate_kind` checks creates and updates
/// alike; `Kind => validate_kind | validate_kind_update` checks updates with the old
/// object too (`validate_kind_update(new, old)`, which runs the create checks itself).
macro_rules! validated {
    ($($ty:ident => $f:ident $(| $u:ident)?),* $(,)?) => {
        $(impl crate::model::Validate for crate::model::$ty {
            fn validate(&self) -> Vec<FieldError> {
                $f(self)
            }
            $(fn validate_update(&self, old: &Self) -> Vec<FieldError> {
                $u(self, old)
            })?
        })*
    };
}

validated! {
    CronJob => validate_cron_job,
    DaemonSet => validate_daemon_set,
    Deployment => validate_deployment,
    Endpoints => validate_endpoints,
    Event => validate_event,
    EventV1 => validate_event_v1,
    HorizontalPodAutoscaler => validate_horizontal_pod_autoscaler,
    Job => validate_job | validate_job_update,
    Lease => validate_lease,
    Namespace => validate_namespace,
    Node => validate_node | validate_node_update,
    PersistentVolumeClaim => validate_persistent_volume_claim,
    PersistentVolume => validate_persistent_volume | validate_persistent_volume_update,
    StorageClass => validate_storage_class | validate_storage_class_update,
    PodDisruptionBudget => validate_pod_disruption_budget,
    Pod => validate_pod | validate_pod_update,
    ReplicaSet => validate_replica_set,
    ReplicationController => validate_replication_controller,
    Service => validate_service,
    StatefulSet => validate_stateful_set,
    ConfigMap => validate_config_map | validate_config_map_update,
    Secret => validate_secret | validate_secret_update,
    ServiceAccount => validate_service_account,
    EndpointSlice => validate_endpoint_slice | validate_endpoint_slice_update,
    ControllerRevision => validate_controller_revision | validate_controller_revision_update,
    HorizontalPodAutoscalerV1 => validate_horizontal_pod_autoscaler_v1,
}
