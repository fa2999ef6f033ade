//! The controllers: the workloads' (ReplicaSet/ReplicationController, Deployment,
//! StatefulSet, DaemonSet, Job, CronJob), the HorizontalPodAutoscaler, the
//! ControllerRevision history the StatefulSet and DaemonSet share, and the cluster's
//! others (endpoints, namespaces, node IPAM, volumes…).
//!
//! Register with the runtime: [`replicaset::ReplicaSetController`],
//! [`replicaset::ReplicationControllerController`] and [`deployment::DeploymentController`].

pub mod cluster_network;
pub mod daemonset;
pub mod cronjob;
pub mod deployment;
pub mod history;
pub mod disruption;
pub mod endpoints;
pub mod hpa;
pub mod job;
pub mod kubernetes_service;
pub mod namespace;
pub mod nodeipam;
pub mod replicaset;
pub mod serviceaccounts;
pub mod statefulset;
pub mod volume;

pub use cluster_network::ClusterNetwork;
pub use daemonset::DaemonSetController;
pub use cronjob::CronJobController;
pub use deployment::DeploymentController;
pub use disruption::DisruptionController;
pub use endpoints::EndpointsController;
pub use hpa::HorizontalPodAutoscalerController;
pub use job::{JobController, JobPodFinalizers};
pub use namespace::NamespaceController;
pub use nodeipam::NodeIpam;
pub use replicaset::{ReplicaSetController, ReplicationControllerController};
pub use kubernetes_service::KubernetesService;
pub use serviceaccounts::ServiceAccountsController;
pub use statefulset::StatefulSetController;
pub use volume::local_path::LocalPathProvisioner;
pub use volume::VolumeBinder;

use chrono::{DateTime, Utc};

use api::model::{find_condition, OwnerReference, Pod, Resource};

/// Parses an RFC 3339 timestamp as the registry writes them.
pub(crate) fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    api::time::parse(s?)
}

/// A pod that still counts: not Succeeded/Failed and not being deleted (upstream's
/// `FilterActivePods`: a terminating pod is on its way out, its replacement is due now).
pub(crate) fn pod_is_active(p: &Pod) -> bool {
    !pod_is_finished(p) && !p.metadata.is_deleting()
}

/// A pod whose containers are done for good (Succeeded or Failed); a terminating pod
/// is not finished until its node has stopped it.
pub(crate) fn pod_is_finished(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded") | Some("Failed"))
}

/// The time the pod's Ready condition became True, if it is ready.
pub(crate) fn pod_ready_since(p: &Pod) -> Option<Option<DateTime<Utc>>> {
    let c = find_condition(&p.status.as_ref()?.conditions, "Ready")?;
    c.is_true().then(|| parse_time(c.last_transition_time.as_deref()))
}

pub(crate) fn pod_is_ready(p: &Pod) -> bool {
    pod_ready_since(p).is_some()
}

/// Ready for at least `min_ready_seconds` at `now` (a missing transition time counts as long ago).
pub(crate) fn pod_is_available(p: &Pod, min_ready_seconds: i32, now: DateTime<Utc>) -> bool {
    match pod_ready_since(p) {
        None => false,
        Some(_) if min_ready_seconds <= 0 => true,
        Some(None) => true,
        Some(Some(t)) => now - t >= chrono::Duration::seconds(i64::from(min_ready_seconds)),
    }
}

/// The controlling ownerReference an object of kind `O` puts on its children.
pub(crate) fn controller_ref_of<O: Resource>(owner: &O) -> OwnerReference {
    OwnerReference {
        api_version: O::INFO.api_version(),
        kind: O::INFO.kind.to_string(),
        name: owner.meta().name.clone(),
        uid: owner.meta().uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Adds `owner`'s controlling reference to an orphan `child`, if it is still an orphan.
pub(crate) async fn adopt<C: Resource, O: Resource>(
    cx: &crate::controller::Cx,
    owner: &O,
    child: &C,
) -> Result<(), crate::controller::ReconcileError> {
    let r = controller_ref_of(owner);
    let res = cx
        .modify::<C>(child.meta().namespace.as_deref(), &child.meta().name, crate::registry::UpdateScope::Main, |c| {
            if c.meta().controller_ref().is_some() || c.meta().is_deleting() {
                return false;
            }
            c.meta_mut().owner_references.retain(|o| o.uid != r.uid);
            c.meta_mut().owner_references.push(r.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(crate::registry::RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes the ownerReference of the owner with `owner_uid` from `child`.
pub(crate) async fn release<C: Resource>(
    cx: &crate::controller::Cx,
    owner_uid: &str,
    child: &C,
) -> Result<(), crate::controller::ReconcileError> {
    let res = cx
        .modify::<C>(child.meta().namespace.as_deref(), &child.meta().name, crate::registry::UpdateScope::Main, |c| {
            let before = c.meta().owner_references.len();
            c.meta_mut().owner_references.retain(|o| o.uid != owner_uid);
            c.meta().owner_references.len() != before
        })
        .await;
    match res {
        Ok(_) | Err(crate::registry::RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
