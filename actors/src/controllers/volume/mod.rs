//! The PersistentVolume binder (upstream's `pkg/controller/volume/persistentvolume`,
//! static binding only): one control loop over claims and volumes.
//!
//! - An unbound claim binds to the volume [`matching::find_matching_volume`] picks: the
//!   volume first (`spec.claimRef`, `bound-by-controller`, phase `Bound`), then the claim
//!   (`spec.volumeName`, `bind-completed`, `bound-by-controller`, status `Bound` with the
//!   volume's capacity and access modes). Each write is a compare-and-swap that re-checks
//!   the volume is still free, so no two claims can take one volume.
//! - A claim whose class binds `WaitForFirstConsumer` stays Pending until a scheduled pod
//!   uses it; the loop then writes that pod's node as `volume.kubernetes.io/selected-node`
//!   and only volumes reachable from that node are eligible.
//! - A bound claim whose volume is gone (or bound to another claim) is `Lost`.
//! - A volume whose claim is gone is `Released`, then kept (`Retain`) or deleted
//!   (`Delete`); `Recycle` is not supported and the volume is `Failed`.
//!
//! Dynamic provisioning is the provisioner's job: a claim of a class with a provisioner
//! waits (event `ExternalProvisioning`) for a volume to be created — by
//! [`local_path::LocalPathProvisioner`] for shoal's `local-path` class, by hand otherwise.

pub mod local_path;
pub mod matching;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use api::model::{
    binding_mode, ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus, Pod, Resource, StorageClass,
};
use api::time::now_rfc3339;

use crate::controller::{changes_of, changes_of_while, Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::{Preconditions, RegistryError, UpdateScope};
use matching::{claim_class, find_matching_volume, is_bound_to, unsatisfied};

/// Set on a claim once the binder has bound it.
pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set on a volume (and its claim) whose binding the binder made, not the user.
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// The node picked for a claim that waits for its first consumer.
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

const COMPONENT: &str = "persistentvolume-controller";

/// The binder loop. Remembers the last event it recorded per object, so that a claim that
/// stays Pending is reported once per reason, not once per pass.
#[derive(Default)]
pub struct VolumeBinder {
    reported: Mutex<HashMap<String, String>>,
}

#[async_trait]
impl Singleton for VolumeBinder {
    const NAME: &'static str = "persistentvolume-binder";
    const MIN_INTERVAL: Duration = Duration::from_millis(50);

    fn wakers(c: &Caches) -> BoxStream<'static, ()> {
        futures::stream::select_all(vec![
            changes_of(&c.persistentvolumes),
            changes_of(&c.persistentvolumeclaims),
            changes_of(&c.storageclasses),
            changes_of_while(&c.pods, &c.persistentvolumeclaims),
        ])
        .boxed()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        cx.catch_up().await;
        let volumes = cx.caches().persistentvolumes.list(None);
        let claims = cx.caches().persistentvolumeclaims.list(None);
        let mut failed = 0usize;
        // Volumes bound in this pass: the cache does not show them yet.
        let mut taken = BTreeSet::new();
        for pvc in &claims {
            if let Err(e) = self.sync_claim(cx, pvc, &volumes, &mut taken).await {
                failed += 1;
                tracing::warn!(claim = %api::model::key_of(pvc.as_ref()), error = %e, "binding a claim failed");
            }
        }
        for pv in &volumes {
            if taken.contains(&pv.metadata.name) {
                continue;
            }
            if let Err(e) = self.sync_volume(cx, pv).await {
                failed += 1;
                tracing::warn!(volume = %pv.metadata.name, error = %e, "syncing a volume failed");
            }
        }
        Ok(if failed > 0 { Action::requeue(Duration::from_secs(1)) } else { Action::await_change() })
    }
}

fn claim_phase(pvc: &PersistentVolumeClaim) -> &str {
    pvc.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Whether a scheduled pod in the claim's namespace mounts it: the node it runs on.
fn consumer_node(pods: &[Arc<Pod>], pvc: &PersistentVolumeClaim) -> Option<String> {
    pods.iter()
        .filter(|p| p.metadata.namespace == pvc.metadata.namespace && !p.metadata.is_deleting())
        .filter(|p| {
            p.spec.volumes.iter().any(|v| v.persistent_volume_claim.as_ref().is_some_and(|c| c.claim_name == pvc.metadata.name))
        })
        .find_map(|p| p.spec.node_name.clone().filter(|n| !n.is_empty()))
}

impl VolumeBinder {
    /// Records `reason` about `obj` unless it was the last thing recorded about it.
    fn report<T: Resource>(&self, cx: &Cx, obj: &T, type_: &str, reason: &str, message: &str) {
        let key = format!("{}/{}", T::INFO.kind, obj.meta().uid);
        let what = format!("{reason}: {message}");
        let mut seen = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        if seen.get(&key) != Some(&what) {
            seen.insert(key, what);
            cx.event_from(COMPONENT, obj, type_, reason, message);
        }
    }

    async fn sync_claim(
        &self,
        cx: &Cx,
        pvc: &PersistentVolumeClaim,
        volumes: &[Arc<PersistentVolume>],
        taken: &mut BTreeSet<String>,
    ) -> Result<(), ReconcileError> {
        if pvc.metadata.is_deleting() {
            return Ok(());
        }
        let volume_name = pvc.spec.volume_name.as_deref().unwrap_or("");
        if pvc.metadata.annotations.contains_key(ANN_BIND_COMPLETED) && !volume_name.is_empty() {
            return self.sync_bound_claim(cx, pvc, volume_name).await;
        }
        if !volume_name.is_empty() {
            // The user named the volume: bind to it, or wait for it.
            let Some(pv) = cx.caches().persistentvolumes.get(None, volume_name) else {
                return set_claim_pending(cx, pvc).await;
            };
            if pv.spec.claim_ref.is_some() && !is_bound_to(&pv, pvc) {
                self.report(cx, pvc, "Warning", "FailedBinding", &format!("volume \"{volume_name}\" already bound to a different claim."));
                return set_claim_pending(cx, pvc).await;
            }
            if let Some(why) = unsatisfied(&pv, pvc) {
                let msg = format!("Cannot bind to requested volume \"{volume_name}\": {why}");
                self.report(cx, pvc, "Warning", "VolumeMismatch", &msg);
                return set_claim_pending(cx, pvc).await;
            }
            taken.insert(pv.metadata.name.clone());
            return self.bind(cx, &pv, pvc).await;
        }

        let class_name = claim_class(pvc);
        let class: Option<Arc<StorageClass>> =
            (!class_name.is_empty()).then(|| cx.caches().storageclasses.get(None, class_name)).flatten();
        let waits = class.as_ref().is_some_and(|c| c.binding_mode() == binding_mode::WAIT_FOR_FIRST_CONSUMER);
        let mut node = None;
        if waits {
            let selected = match pvc.metadata.annotations.get(ANN_SELECTED_NODE) {
                Some(n) => Some(n.clone()),
                None => match consumer_node(&cx.caches().pods.list(pvc.metadata.namespace.as_deref()), pvc) {
                    Some(n) => {
                        select_node(cx, pvc, &n).await?;
                        Some(n)
                    }
                    None => None,
                },
            };
            let Some(selected) = selected else {
                self.report(cx, pvc, "Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding");
                return set_claim_pending(cx, pvc).await;
            };
            match cx.caches().nodes.get(None, &selected) {
                Some(n) => node = Some(n),
                None => {
                    self.report(cx, pvc, "Warning", "FailedBinding", &format!("node \"{selected}\" selected for this claim does not exist"));
                    return set_claim_pending(cx, pvc).await;
                }
            }
        }
        let free: Vec<&PersistentVolume> =
            volumes.iter().map(Arc::as_ref).filter(|v| !taken.contains(&v.metadata.name)).collect();
        match find_matching_volume(pvc, &free, node.as_deref()) {
            Some(pv) => {
                taken.insert(pv.metadata.name.clone());
                self.bind(cx, pv, pvc).await
            }
            None => {
                match (class_name, &class) {
                    ("", _) => self.report(
                        cx,
                        pvc,
                        "Normal",
                        "FailedBinding",
                        "no persistent volumes available for this claim and no storage class is set",
                    ),
                    (name, None) => self.report(
                        cx,
                        pvc,
                        "Warning",
                        "ProvisioningFailed",
                        &format!("storageclass.storage.k8s.io \"{name}\" not found"),
                    ),
                    (_, Some(c)) => self.report(
                        cx,
                        pvc,
                        "Normal",
                        "ExternalProvisioning",
                        &format!(
                            "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
                            c.provisioner
                        ),
                    ),
                }
                set_claim_pending(cx, pvc).await
            }
        }
    }

    /// A claim the binder bound: still bound to a volume that names it, or Lost.
    async fn sync_bound_claim(&self, cx: &Cx, pvc: &PersistentVolumeClaim, volume_name: &str) -> Result<(), ReconcileError> {
        let pv = match cx.caches().persistentvolumes.get(None, volume_name) {
            Some(pv) => pv,
            // The cache may lag a volume we bound this instant: ask the store.
            None => match cx.registry().get::<PersistentVolume>(None, volume_name).await {
                Ok(pv) => Arc::new(pv),
                Err(RegistryError::NotFound { .. }) => {
                    if claim_phase(pvc) != "Lost" {
                        self.report(cx, pvc, "Warning", "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!");
                    }
                    return set_claim_phase(cx, pvc, "Lost", None).await;
                }
                Err(e) => return Err(e.into()),
            },
        };
        match &pv.spec.claim_ref {
            None => self.bind(cx, &pv, pvc).await,
            Some(_) if is_bound_to(&pv, pvc) => {
                if claim_phase(pvc) == "Bound" {
                    Ok(())
                } else {
                    set_claim_phase(cx, pvc, "Bound", Some(&pv)).await
                }
            }
            Some(_) => {
                if claim_phase(pvc) != "Lost" {
                    self.report(cx, pvc, "Warning", "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly");
                }
                set_claim_phase(cx, pvc, "Lost", None).await
            }
        }
    }

    /// Binds the volume to the claim, then the claim to the volume (upstream's order: a
    /// crash between the two leaves a volume that names its claim, which the next pass
    /// completes).
    async fn bind(&self, cx: &Cx, pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> Result<(), ReconcileError> {
        let claim_ref = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("PersistentVolumeClaim".into()),
            namespace: pvc.metadata.namespace.clone(),
            name: Some(pvc.metadata.name.clone()),
            uid: Some(pvc.metadata.uid.clone()),
            resource_version: Some(pvc.metadata.resource_version.clone()),
            field_path: None,
        };
        let res = cx
            .modify::<PersistentVolume>(None, &pv.metadata.name, UpdateScope::Main, |v| {
                if v.metadata.is_deleting() {
                    return false;
                }
                match &v.spec.claim_ref {
                    Some(r) if r.uid.as_deref() == Some(pvc.metadata.uid.as_str()) => false,
                    Some(_) if !is_bound_to(v, pvc) => false,
                    Some(_) => {
                        // Pre-bound by the user: complete the reference, do not claim the binding.
                        v.spec.claim_ref = Some(claim_ref.clone());
                        true
                    }
                    None => {
                        v.spec.claim_ref = Some(claim_ref.clone());
                        v.metadata.annotations.insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
                        true
                    }
                }
            })
            .await;
        let pv = match res {
            Ok(v) => v,
            Err(RegistryError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if !is_bound_to(&pv, pvc) {
            // Another claim took it first; the next pass looks again.
            return Ok(());
        }
        set_volume_phase(cx, &pv, "Bound", None).await?;
        let volume_name = pv.metadata.name.clone();
        let res = cx
            .modify::<PersistentVolumeClaim>(pvc.metadata.namespace.as_deref(), &pvc.metadata.name, UpdateScope::Main, |c| {
                if c.metadata.uid != pvc.metadata.uid {
                    return false;
                }
                let mut changed = false;
                if c.spec.volume_name.as_deref() != Some(volume_name.as_str()) {
                    c.spec.volume_name = Some(volume_name.clone());
                    c.metadata.annotations.insert(ANN_BOUND_BY_CONTROLLER.into(), "yes".into());
                    changed = true;
                }
                if !c.metadata.annotations.contains_key(ANN_BIND_COMPLETED) {
                    c.metadata.annotations.insert(ANN_BIND_COMPLETED.into(), "yes".into());
                    changed = true;
                }
                changed
            })
            .await;
        let claim = match res {
            Ok(c) => c,
            Err(RegistryError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        set_claim_phase(cx, &claim, "Bound", Some(&pv)).await
    }

    /// A volume's phase from its claim: Available, Bound, or Released and reclaimed.
    async fn sync_volume(&self, cx: &Cx, pv: &PersistentVolume) -> Result<(), ReconcileError> {
        if pv.metadata.is_deleting() {
            return Ok(());
        }
        let Some(r) = &pv.spec.claim_ref else {
            return set_volume_phase(cx, pv, "Available", None).await;
        };
        let uid = r.uid.as_deref().unwrap_or("");
        if uid.is_empty() {
            // Pre-bound to a claim that has not been bound yet.
            return set_volume_phase(cx, pv, "Available", None).await;
        }
        let (ns, name) = (r.namespace.as_deref(), r.name.as_deref().unwrap_or(""));
        let claim = match cx.caches().persistentvolumeclaims.get(ns, name) {
            Some(c) => Some(c),
            // Not cached: ask the store before calling the claim gone (upstream does too).
            None => match cx.registry().get::<PersistentVolumeClaim>(ns, name).await {
                Ok(c) => Some(Arc::new(c)),
                Err(RegistryError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
        };
        match claim.filter(|c| c.metadata.uid == uid) {
            Some(c) if c.spec.volume_name.as_deref() == Some(pv.metadata.name.as_str()) => {
                set_volume_phase(cx, pv, "Bound", None).await
            }
            // Binding in progress: the claim side is the claim's sync.
            Some(_) => Ok(()),
            None => self.reclaim(cx, pv).await,
        }
    }

    /// The claim of a bound volume is gone: Released, then the reclaim policy.
    async fn reclaim(&self, cx: &Cx, pv: &PersistentVolume) -> Result<(), ReconcileError> {
        if pv.phase() != "Released" && pv.phase() != "Failed" {
            set_volume_phase(cx, pv, "Released", None).await?;
        }
        match pv.spec.persistent_volume_reclaim_policy.as_deref().unwrap_or("Retain") {
            "Delete" => {
                // No volume plugin deletes the storage itself here: the object goes.
                let pre = Preconditions { uid: Some(pv.metadata.uid.clone()), resource_version: None };
                cx.delete::<PersistentVolume>(None, &pv.metadata.name, &pre).await?;
                Ok(())
            }
            "Recycle" => {
                let msg = "Recycle is not supported by this cluster";
                self.report(cx, pv, "Warning", "VolumeFailedRecycle", msg);
                set_volume_phase(cx, pv, "Failed", Some(msg)).await
            }
            _ => Ok(()),
        }
    }
}

/// The claim and volume given (the volume only for Bound): status written when it differs.
async fn set_claim_phase(
    cx: &Cx,
    pvc: &PersistentVolumeClaim,
    phase: &str,
    pv: Option<&PersistentVolume>,
) -> Result<(), ReconcileError> {
    let mut want = pvc.status.clone().unwrap_or_default();
    want.phase = Some(phase.to_string());
    match (phase, pv) {
        ("Bound", Some(pv)) => {
            want.access_modes = pv.spec.access_modes.clone();
            want.capacity = pv.spec.capacity.clone();
        }
        ("Bound", None) => {}
        _ => {
            want.access_modes.clear();
            want.capacity.clear();
        }
    }
    if pvc.status.as_ref() == Some(&want) {
        return Ok(());
    }
    write_claim_status(cx, pvc, want).await
}

async fn set_claim_pending(cx: &Cx, pvc: &PersistentVolumeClaim) -> Result<(), ReconcileError> {
    if claim_phase(pvc) == "Pending" {
        return Ok(());
    }
    set_claim_phase(cx, pvc, "Pending", None).await
}

async fn write_claim_status(cx: &Cx, pvc: &PersistentVolumeClaim, want: PersistentVolumeClaimStatus) -> Result<(), ReconcileError> {
    let uid = pvc.metadata.uid.clone();
    let res = cx
        .modify::<PersistentVolumeClaim>(pvc.metadata.namespace.as_deref(), &pvc.metadata.name, UpdateScope::Status, |c| {
            if c.metadata.uid != uid || c.status.as_ref() == Some(&want) {
                return false;
            }
            c.status = Some(want.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn select_node(cx: &Cx, pvc: &PersistentVolumeClaim, node: &str) -> Result<(), ReconcileError> {
    let res = cx
        .modify::<PersistentVolumeClaim>(pvc.metadata.namespace.as_deref(), &pvc.metadata.name, UpdateScope::Main, |c| {
            if c.metadata.annotations.contains_key(ANN_SELECTED_NODE) {
                return false;
            }
            c.metadata.annotations.insert(ANN_SELECTED_NODE.into(), node.to_string());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn set_volume_phase(cx: &Cx, pv: &PersistentVolume, phase: &str, message: Option<&str>) -> Result<(), ReconcileError> {
    if pv.phase() == phase && pv.status.as_ref().and_then(|s| s.message.as_deref()) == message {
        return Ok(());
    }
    let res = cx
        .modify::<PersistentVolume>(None, &pv.metadata.name, UpdateScope::Status, |v| {
            let s = v.status.get_or_insert_with(PersistentVolumeStatus::default);
            if s.phase.as_deref() == Some(phase) && s.message.as_deref() == message {
                return false;
            }
            s.phase = Some(phase.to_string());
            s.message = message.map(str::to_string);
            s.last_phase_transition_time = Some(now_rfc3339());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
