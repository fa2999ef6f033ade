//! Upstream's VolumeBinding and VolumeRestrictions filters, the part shoal needs: a pod
//! whose claim does not exist, or whose `Immediate` claim is not bound yet, cannot be
//! scheduled; a pod whose claim is bound can only go where the volume's node affinity
//! allows (a local-path volume pins its pods to its node). A claim that waits for its
//! first consumer does not constrain the node (the binder follows the pod).

use std::sync::Arc;

use api::model::{binding_mode, NodeSelector, PersistentVolume, PersistentVolumeClaim, Pod, StorageClass};

use crate::controller::Caches;

/// What a pod's claims ask of its node.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeReq {
    /// Every selector must match the node.
    Nodes(Vec<NodeSelector>),
    /// No node will do until this changes (upstream's reason).
    Unschedulable(String),
}

/// The requirements of `pod`'s claims, from lookups of claims, volumes and classes.
pub fn requirements(
    pod: &Pod,
    claim: impl Fn(&str, &str) -> Option<Arc<PersistentVolumeClaim>>,
    volume: impl Fn(&str) -> Option<Arc<PersistentVolume>>,
    class: impl Fn(&str) -> Option<Arc<StorageClass>>,
) -> VolumeReq {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = Vec::new();
    for v in &pod.spec.volumes {
        let Some(src) = &v.persistent_volume_claim else { continue };
        let Some(pvc) = claim(ns, &src.claim_name) else {
            return VolumeReq::Unschedulable(format!("persistentvolumeclaim \"{}\" not found", src.claim_name));
        };
        if pvc.metadata.is_deleting() {
            return VolumeReq::Unschedulable(format!("persistentvolumeclaim \"{}\" is being deleted", src.claim_name));
        }
        let bound_to = pvc.spec.volume_name.as_deref().filter(|n| !n.is_empty());
        match bound_to.and_then(&volume) {
            Some(pv) => {
                if let Some(sel) = pv.spec.node_affinity.as_ref().and_then(|a| a.required.clone()) {
                    out.push(sel);
                }
            }
            None => {
                let class_name = pvc.spec.storage_class_name.as_deref().unwrap_or("");
                let waits = class(class_name).is_some_and(|c| c.binding_mode() == binding_mode::WAIT_FOR_FIRST_CONSUMER);
                if !waits {
                    return VolumeReq::Unschedulable("pod has unbound immediate PersistentVolumeClaims".into());
                }
            }
        }
    }
    VolumeReq::Nodes(out)
}

/// [`requirements`] over the control plane's caches.
pub fn from_caches(pod: &Pod, c: &Caches) -> VolumeReq {
    requirements(
        pod,
        |ns, name| c.persistentvolumeclaims.get(Some(ns), name),
        |name| c.persistentvolumes.get(None, name),
        |name| c.storageclasses.get(None, name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{NodeSelectorRequirement, NodeSelectorTerm, PersistentVolumeClaimVolumeSource, Volume, VolumeNodeAffinity};

    fn pod(claim: &str) -> Pod {
        let mut p = Pod::default();
        p.metadata.namespace = Some("ns".into());
        p.spec.volumes.push(Volume {
            name: "d".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.into(), read_only: None }),
            ..Default::default()
        });
        p
    }

    fn pvc(volume: Option<&str>, class: &str) -> Arc<PersistentVolumeClaim> {
        let mut c = PersistentVolumeClaim::default();
        c.spec.volume_name = volume.map(str::to_string);
        c.spec.storage_class_name = Some(class.into());
        Arc::new(c)
    }

    fn sel(node: &str) -> NodeSelector {
        NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: vec![],
                match_fields: vec![NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: vec![node.into()] }],
            }],
        }
    }

    #[test]
    fn claims_constrain_the_node_as_upstream() {
        let mut pv = PersistentVolume::default();
        pv.spec.node_affinity = Some(VolumeNodeAffinity { required: Some(sel("n1")) });
        let pv = Arc::new(pv);
        let mut late = StorageClass::default();
        late.volume_binding_mode = Some("WaitForFirstConsumer".into());
        let late = Arc::new(late);
        let cases: Vec<(&str, Option<Arc<PersistentVolumeClaim>>, VolumeReq)> = vec![
            ("missing", None, VolumeReq::Unschedulable("persistentvolumeclaim \"c\" not found".into())),
            ("bound", Some(pvc(Some("pv"), "")), VolumeReq::Nodes(vec![sel("n1")])),
            ("immediate unbound", Some(pvc(None, "")), VolumeReq::Unschedulable("pod has unbound immediate PersistentVolumeClaims".into())),
            ("waits for consumer", Some(pvc(None, "late")), VolumeReq::Nodes(vec![])),
        ];
        for (name, claim, want) in cases {
            let got = requirements(&pod("c"), |_, _| claim.clone(), |_| Some(pv.clone()), |n| (n == "late").then(|| late.clone()));
            assert_eq!(got, want, "{name}");
        }
    }
}
