//! shoal's built-in local-path provisioner (the role of Rancher's local-path-provisioner,
//! run in the control plane): it keeps a default StorageClass `local-path`, and for every
//! claim of a class whose provisioner is [`PROVISIONER`] that has a selected node (the
//! binder writes `volume.kubernetes.io/selected-node` once a scheduled pod uses a
//! `WaitForFirstConsumer` claim) it creates a PersistentVolume `pvc-<claim uid>`:
//! `spec.local.path` = `<base>/<pv name>` on that node (base: the node's
//! [`ANN_LOCAL_PATH_BASE`] annotation, else [`DEFAULT_BASE`]), `nodeAffinity` requiring
//! that node, the claim's size, access and volume modes, the class's reclaim policy, and
//! `claimRef` pre-bound to the claim. The binder then binds the pair.
//!
//! With reclaim policy `Delete` the binder deletes the volume once its claim is gone;
//! the node-host removes the directory (`node_host::volumes::sweep_local_path`: a
//! directory below its base whose volume no longer exists and that no pod uses).

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use api::model::{
    binding_mode, LocalVolumeSource, Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectMeta, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec, StorageClass, VolumeNodeAffinity, IS_DEFAULT_CLASS,
};

use super::matching::claim_class;
use super::ANN_SELECTED_NODE;
use crate::controller::{changes_of, Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::RegistryError;

/// The provisioner name of the local-path class.
pub const PROVISIONER: &str = "shoal.io/local-path";
/// The default class the control plane keeps.
pub const DEFAULT_CLASS: &str = "local-path";
/// A provisioner names itself on the volumes it makes.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
/// On a Node: the directory below which its local-path volumes live.
pub const ANN_LOCAL_PATH_BASE: &str = "local-path.shoal.io/base-dir";
/// Where local-path volumes live on a node that does not say.
pub const DEFAULT_BASE: &str = "/var/lib/shoal/local-path";
const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
const COMPONENT: &str = "shoal.io/local-path_provisioner";

#[derive(Debug, Default)]
pub struct LocalPathProvisioner;

/// The class created when no default class exists.
pub fn default_class() -> StorageClass {
    let mut meta = ObjectMeta { name: DEFAULT_CLASS.into(), ..Default::default() };
    meta.annotations.insert(IS_DEFAULT_CLASS.into(), "true".into());
    StorageClass {
        metadata: meta,
        provisioner: PROVISIONER.into(),
        reclaim_policy: Some("Delete".into()),
        volume_binding_mode: Some(binding_mode::WAIT_FOR_FIRST_CONSUMER.into()),
        ..Default::default()
    }
}

/// The name of the volume provisioned for a claim (upstream's `pvc-<uid>`).
pub fn volume_name(pvc: &PersistentVolumeClaim) -> String {
    format!("pvc-{}", pvc.metadata.uid)
}

/// The volume for `pvc` of `class` on `node`, or None when the claim asks for nothing.
pub fn volume_for(pvc: &PersistentVolumeClaim, class: &StorageClass, node: &Node) -> Option<PersistentVolume> {
    let size = pvc.spec.resources.as_ref()?.requests.get("storage")?.clone();
    let name = volume_name(pvc);
    let base = node.metadata.annotations.get(ANN_LOCAL_PATH_BASE).cloned().unwrap_or_else(|| DEFAULT_BASE.into());
    let path = format!("{}/{name}", base.trim_end_matches('/'));
    // The node by its hostname label as upstream's local volumes do; by name if it has none.
    let term = match node.metadata.labels.get(HOSTNAME_LABEL) {
        Some(h) => NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement { key: HOSTNAME_LABEL.into(), operator: "In".into(), values: vec![h.clone()] }],
            match_fields: vec![],
        },
        None => NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: vec![node.metadata.name.clone()] }],
        },
    };
    let mut meta = ObjectMeta { name, ..Default::default() };
    meta.annotations.insert(ANN_PROVISIONED_BY.into(), PROVISIONER.into());
    let access_modes = if pvc.spec.access_modes.is_empty() { vec!["ReadWriteOnce".to_string()] } else { pvc.spec.access_modes.clone() };
    Some(PersistentVolume {
        metadata: meta,
        spec: PersistentVolumeSpec {
            access_modes,
            capacity: [("storage".to_string(), size)].into(),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: pvc.metadata.namespace.clone(),
                name: Some(pvc.metadata.name.clone()),
                uid: Some(pvc.metadata.uid.clone()),
                resource_version: None,
                field_path: None,
            }),
            node_affinity: Some(VolumeNodeAffinity { required: Some(NodeSelector { node_selector_terms: vec![term] }) }),
            persistent_volume_reclaim_policy: Some(class.reclaim_policy.clone().unwrap_or_else(|| "Delete".into())),
            storage_class_name: Some(class.metadata.name.clone()),
            volume_mode: pvc.spec.volume_mode.clone(),
            local: Some(LocalVolumeSource { path, fs_type: None }),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// The claims this provisioner should make a volume for now, with their class and node.
fn wanted(caches: &Caches) -> Vec<(Arc<PersistentVolumeClaim>, Arc<StorageClass>, String)> {
    caches
        .persistentvolumeclaims
        .list(None)
        .into_iter()
        .filter(|c| !c.metadata.is_deleting() && c.spec.volume_name.as_deref().unwrap_or("").is_empty())
        .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound"))
        .filter_map(|c| {
            let class = caches.storageclasses.get(None, claim_class(&c))?;
            if class.provisioner != PROVISIONER {
                return None;
            }
            let node = c.metadata.annotations.get(ANN_SELECTED_NODE)?.clone();
            Some((c, class, node))
        })
        .collect()
}

impl LocalPathProvisioner {
    /// Keeps a default class: `local-path` is made when no class is the default and no
    /// class of that name exists.
    async fn ensure_default_class(&self, cx: &Cx) -> Result<(), ReconcileError> {
        let classes = cx.caches().storageclasses.list(None);
        if classes.iter().any(|c| c.is_default() || c.metadata.name == DEFAULT_CLASS) {
            return Ok(());
        }
        match cx.create(default_class()).await {
            Ok(_) => {
                tracing::info!("created the default StorageClass {DEFAULT_CLASS}");
                Ok(())
            }
            Err(RegistryError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn provision(&self, cx: &Cx, pvc: &PersistentVolumeClaim, class: &StorageClass, node_name: &str) -> Result<(), ReconcileError> {
        let name = volume_name(pvc);
        if cx.caches().persistentvolumes.get(None, &name).is_some() {
            return Ok(());
        }
        let Some(node) = cx.caches().nodes.get(None, node_name) else {
            cx.event_from(COMPONENT, pvc, "Warning", "ProvisioningFailed", format!("node \"{node_name}\" selected for this claim does not exist"));
            return Ok(());
        };
        let Some(pv) = volume_for(pvc, class, &node) else {
            cx.event_from(COMPONENT, pvc, "Warning", "ProvisioningFailed", "claim has no storage request");
            return Ok(());
        };
        let key = format!("{}/{}", pvc.metadata.namespace.as_deref().unwrap_or(""), pvc.metadata.name);
        cx.event_from(COMPONENT, pvc, "Normal", "Provisioning", format!("External provisioner is provisioning volume for claim \"{key}\""));
        match cx.create(pv).await {
            Ok(pv) => {
                let path = pv.spec.local.as_ref().map(|l| l.path.clone()).unwrap_or_default();
                tracing::info!(claim = %key, volume = %name, node = %node_name, %path, "provisioned a local-path volume");
                cx.event_from(COMPONENT, pvc, "Normal", "ProvisioningSucceeded", format!("Successfully provisioned volume {name}"));
                Ok(())
            }
            Err(RegistryError::AlreadyExists { .. }) => Ok(()),
            Err(e) => {
                cx.event_from(COMPONENT, pvc, "Warning", "ProvisioningFailed", format!("failed to provision volume with StorageClass \"{}\": {e}", class.metadata.name));
                Err(e.into())
            }
        }
    }
}

#[async_trait]
impl Singleton for LocalPathProvisioner {
    const NAME: &'static str = "local-path-provisioner";

    fn wakers(c: &Caches) -> BoxStream<'static, ()> {
        futures::stream::select_all(vec![
            changes_of(&c.persistentvolumeclaims),
            changes_of(&c.storageclasses),
            changes_of(&c.nodes),
            changes_of(&c.persistentvolumes),
        ])
        .boxed()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        cx.catch_up().await;
        self.ensure_default_class(cx).await?;
        let mut failed = false;
        for (pvc, class, node) in wanted(cx.caches()) {
            if let Err(e) = self.provision(cx, &pvc, &class, &node).await {
                failed = true;
                tracing::warn!(claim = %pvc.metadata.name, error = %e, "provisioning a local-path volume failed");
            }
        }
        Ok(if failed { Action::requeue(std::time::Duration::from_secs(1)) } else { Action::await_change() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Quantity, VolumeResourceRequirements};

    fn claim() -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim::default();
        c.metadata.name = "data".into();
        c.metadata.namespace = Some("ns".into());
        c.metadata.uid = "u1".into();
        c.spec.resources = Some(VolumeResourceRequirements { requests: [("storage".to_string(), Quantity::new("1Gi"))].into(), ..Default::default() });
        c
    }

    #[test]
    fn the_volume_names_the_node_path_size_class_and_claim() {
        let mut node = Node::default();
        node.metadata.name = "n1".into();
        let pv = volume_for(&claim(), &default_class(), &node).unwrap();
        assert_eq!(pv.metadata.name, "pvc-u1");
        assert_eq!(pv.metadata.annotations[ANN_PROVISIONED_BY], PROVISIONER);
        assert_eq!(pv.spec.local.as_ref().unwrap().path, "/var/lib/shoal/local-path/pvc-u1");
        assert_eq!(pv.spec.capacity["storage"], Quantity::new("1Gi"));
        assert_eq!(pv.spec.persistent_volume_reclaim_policy.as_deref(), Some("Delete"));
        assert_eq!(pv.spec.access_modes, ["ReadWriteOnce"]);
        let r = pv.spec.claim_ref.as_ref().unwrap();
        assert_eq!((r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref()), (Some("ns"), Some("data"), Some("u1")));
        let term = &pv.spec.node_affinity.as_ref().unwrap().required.as_ref().unwrap().node_selector_terms[0];
        assert_eq!(term.match_fields[0].values, ["n1"]);

        node.metadata.labels.insert(HOSTNAME_LABEL.into(), "host-1".into());
        node.metadata.annotations.insert(ANN_LOCAL_PATH_BASE.into(), "/srv/lp/".into());
        let pv = volume_for(&claim(), &default_class(), &node).unwrap();
        assert_eq!(pv.spec.local.as_ref().unwrap().path, "/srv/lp/pvc-u1");
        let term = &pv.spec.node_affinity.as_ref().unwrap().required.as_ref().unwrap().node_selector_terms[0];
        assert_eq!(term.match_expressions[0].values, ["host-1"]);
    }

    #[test]
    fn the_default_class_waits_for_the_first_consumer() {
        let c = default_class();
        assert!(c.is_default());
        assert_eq!(c.binding_mode(), binding_mode::WAIT_FOR_FIRST_CONSUMER);
        assert_eq!(c.provisioner, PROVISIONER);
    }
}
