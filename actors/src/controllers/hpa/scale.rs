//! The scale of an HPA's target: what the `/scale` subresource shows (spec and status
//! replicas, the pod selector) and its write of `spec.replicas` alone, for the kinds
//! that have one (Deployment, ReplicaSet, StatefulSet, ReplicationController). The
//! controller runs inside the control plane, so it reads the target from the caches and
//! writes the same compare-and-swap update the gateway's `/scale` verb makes.

use api::model::{CrossVersionObjectReference, Deployment, LabelSelector, ReplicaSet, ReplicationController, Resource, StatefulSet};

use crate::controller::{Cx, ReconcileError};
use crate::registry::UpdateScope;

/// The autoscaling/v1 Scale of a target, as far as the HPA needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    pub spec_replicas: i32,
    pub status_replicas: i32,
    pub selector: Option<LabelSelector>,
}

/// Why no scale could be read.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("the server could not find the requested resource: no scale subresource for kind {kind:?} ({api_version})")]
    NotScalable { kind: String, api_version: String },
    /// `deployments.apps "web" not found`, as the API server says it.
    #[error("{resource} {name:?} not found")]
    NotFound { resource: String, name: String },
}

fn of<T: Resource>(spec: Option<i32>, status: i32, selector: Option<LabelSelector>) -> Scale {
    Scale { spec_replicas: spec.unwrap_or(1), status_replicas: status, selector }
}

/// Reads the target's scale from the caches.
pub fn get(cx: &Cx, ns: Option<&str>, r: &CrossVersionObjectReference) -> Result<Scale, ScaleError> {
    let c = cx.caches();
    let missing = |group: &str| {
        let plural = r.kind.to_lowercase() + "s";
        let resource = if group.is_empty() { plural } else { format!("{plural}.{group}") };
        ScaleError::NotFound { resource, name: r.name.clone() }
    };
    let api_version = r.api_version.clone().unwrap_or_default();
    match (r.kind.as_str(), api_version.as_str()) {
        ("Deployment", "apps/v1" | "") => c.deployments.get(ns, &r.name).map(|d| {
            of::<Deployment>(d.spec.replicas, d.status.as_ref().map_or(0, |s| s.replicas), d.spec.selector.clone())
        }).ok_or_else(|| missing("apps")),
        ("ReplicaSet", "apps/v1" | "") => c.replicasets.get(ns, &r.name).map(|d| {
            of::<ReplicaSet>(d.spec.replicas, d.status.as_ref().map_or(0, |s| s.replicas), d.spec.selector.clone())
        }).ok_or_else(|| missing("apps")),
        ("StatefulSet", "apps/v1" | "") => c.statefulsets.get(ns, &r.name).map(|d| {
            of::<StatefulSet>(d.spec.replicas, d.status.as_ref().map_or(0, |s| s.replicas), d.spec.selector.clone())
        }).ok_or_else(|| missing("apps")),
        ("ReplicationController", "v1" | "") => c.replicationcontrollers.get(ns, &r.name).map(|d| {
            let sel = (!d.spec.selector.is_empty()).then(|| LabelSelector::from_map(&d.spec.selector));
            of::<ReplicationController>(d.spec.replicas, d.status.as_ref().map_or(0, |s| s.replicas), sel)
        }).ok_or_else(|| missing("")),
        _ => Err(ScaleError::NotScalable { kind: r.kind.clone(), api_version }),
    }
}

/// Writes `replicas` into the target's `spec.replicas` (a fresh read, retried on conflict).
pub async fn set(cx: &Cx, ns: Option<&str>, r: &CrossVersionObjectReference, replicas: i32) -> Result<(), ReconcileError> {
    match r.kind.as_str() {
        "Deployment" => write::<Deployment>(cx, ns, &r.name, replicas, |d| &mut d.spec.replicas).await,
        "ReplicaSet" => write::<ReplicaSet>(cx, ns, &r.name, replicas, |d| &mut d.spec.replicas).await,
        "StatefulSet" => write::<StatefulSet>(cx, ns, &r.name, replicas, |d| &mut d.spec.replicas).await,
        "ReplicationController" => write::<ReplicationController>(cx, ns, &r.name, replicas, |d| &mut d.spec.replicas).await,
        other => Err(ReconcileError::Other(format!("no scale subresource for kind {other:?}"))),
    }
}

async fn write<T: Resource>(cx: &Cx, ns: Option<&str>, name: &str, replicas: i32, field: fn(&mut T) -> &mut Option<i32>) -> Result<(), ReconcileError> {
    cx.modify::<T>(ns, name, UpdateScope::Main, |o| {
        let f = field(o);
        if *f == Some(replicas) {
            return false;
        }
        *f = Some(replicas);
        true
    })
    .await?;
    Ok(())
}
