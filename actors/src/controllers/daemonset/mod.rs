//! The DaemonSet controller: one supervised actor per DaemonSet keeps one pod of it on
//! every eligible node (upstream's `pkg/controller/daemon`). Pods are created with a
//! required node affinity on `metadata.name` (the scheduler binds them, as upstream
//! since 1.12) and the automatic daemon tolerations. The template's revisions are
//! ControllerRevisions (`history.rs`); a pod carries its revision's hash in the
//! `controller-revision-hash` label. Every significant Node change (added, deleted,
//! labels, taints) wakes every DaemonSet. The decisions are `plan.rs`'s.

pub mod history;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::future::join_all;

use super::{adopt, controller_ref_of, release};
use crate::controller::{Action, ChildKind, Children, Cx, ReconcileError, Reconciler};
use crate::controllers::replicaset::{claim, Claim};
use crate::registry::{Preconditions, RegistryError, UpdateScope};
use api::model::{
    Affinity, ControllerRevision, DaemonSet, LabelSelector, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectMeta, Pod,
};
use plan::{daemon_tolerations, REVISION_LABEL};

/// Reconciles DaemonSets (apps/v1).
pub struct DaemonSetController;

/// The Node changes that can change where daemon pods go.
pub struct NodePlacement;

impl supervision::Significant<Node> for NodePlacement {
    fn significant(new: &Node, old: Option<&Node>) -> bool {
        let Some(old) = old else { return true };
        new.metadata.labels != old.metadata.labels
            || new.spec.taints != old.spec.taints
            || new.metadata.deletion_timestamp != old.metadata.deletion_timestamp
            || new.spec.unschedulable != old.spec.unschedulable
    }
}

/// A new daemon pod for `node`.
pub fn new_pod(ds: &DaemonSet, hash: &str, node: &str) -> Pod {
    let t = &ds.spec.template;
    let mut labels = t.metadata.labels.clone();
    labels.insert(REVISION_LABEL.into(), hash.into());
    let mut spec = t.spec.clone();
    spec.tolerations = daemon_tolerations(&t.spec);
    let pin = NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: Vec::new(),
            match_fields: vec![NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: vec![node.into()] }],
        }],
    };
    let mut affinity: Box<Affinity> = spec.affinity.take().unwrap_or_default();
    let mut node_affinity: NodeAffinity = affinity.node_affinity.take().unwrap_or_default();
    node_affinity.required_during_scheduling_ignored_during_execution = Some(pin);
    affinity.node_affinity = Some(node_affinity);
    spec.affinity = Some(affinity);
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", ds.metadata.name)),
            namespace: ds.metadata.namespace.clone(),
            labels,
            annotations: t.metadata.annotations.clone(),
            finalizers: t.metadata.finalizers.clone(),
            owner_references: vec![controller_ref_of(ds)],
            ..Default::default()
        },
        spec,
        ..Default::default()
    }
}

#[async_trait]
impl Reconciler for DaemonSetController {
    type Object = DaemonSet;
    const CHILDREN: Children =
        Children::Of(&[ChildKind::of::<Pod>(), ChildKind::of::<ControllerRevision>(), ChildKind::every::<Node, NodePlacement>()]);
    fn selector(obj: &DaemonSet) -> Option<LabelSelector> {
        obj.spec.selector.clone()
    }
    async fn reconcile(&self, obj: Arc<DaemonSet>, cx: &Cx) -> Result<Action, ReconcileError> {
        sync(obj.as_ref(), cx).await
    }
}

async fn sync(ds: &DaemonSet, cx: &Cx) -> Result<Action, ReconcileError> {
    let meta = &ds.metadata;
    let ns = meta.namespace.as_deref();
    let deleting = meta.is_deleting();
    let selector = ds.spec.selector.clone().unwrap_or_default();
    let mut owned = Vec::new();
    for pod in cx.caches().pods.list(ns) {
        match claim(&meta.uid, deleting, &selector, &pod) {
            Claim::Keep => owned.push(pod),
            Claim::Adopt => {
                adopt(cx, ds, pod.as_ref()).await?;
                owned.push(pod);
            }
            Claim::Release => release(cx, &meta.uid, pod.as_ref()).await?,
            Claim::Ignore => {}
        }
    }
    // Upstream leaves a DaemonSet being deleted alone: its history may be gone already.
    if deleting {
        return Ok(Action::await_change());
    }
    let (current, old) = history::construct_history(ds, &owned, cx).await?;
    let hash = history::hash_of(&current).to_string();
    // Succeeded pods are done; the node gets a new one (upstream treats them as gone).
    let active: Vec<Arc<Pod>> =
        owned.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Succeeded")).cloned().collect();
    let nodes = cx.caches().nodes.list(None);
    let now = Utc::now();
    let plan = plan::plan(ds, &hash, &nodes, &active, now).map_err(|e| ReconcileError::Other(format!("DaemonSet {}: {e}", meta.name)))?;
    for chunk in plan.create_on.chunks(64) {
        let results = join_all(chunk.iter().map(|node| cx.create(new_pod(ds, &hash, node)))).await;
        for r in results {
            match r {
                Ok(p) => cx.event(ds, "Normal", "SuccessfulCreate", format!("Created pod: {}", p.metadata.name)),
                Err(e) => return Err(e.into()),
            }
        }
    }
    for (name, why) in &plan.delete {
        let uid = active.iter().find(|p| &p.metadata.name == name).map(|p| p.metadata.uid.clone());
        let pre = Preconditions { uid, resource_version: None };
        match cx.delete::<Pod>(ns, name, &pre).await {
            Ok(_) => cx.event(ds, "Normal", "SuccessfulDelete", format!("Deleted pod: {name} ({why})")),
            Err(RegistryError::NotFound { .. } | RegistryError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    history::cleanup_history(ds, &old, &owned, cx).await?;
    write_status(ds, plan.status, cx).await?;
    Ok(match plan.recheck_at {
        Some(at) => Action::requeue((at - now).to_std().unwrap_or_default() + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

async fn write_status(ds: &DaemonSet, status: api::model::DaemonSetStatus, cx: &Cx) -> Result<(), ReconcileError> {
    if ds.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let res = cx
        .modify::<DaemonSet>(ds.metadata.namespace.as_deref(), &ds.metadata.name, UpdateScope::Status, |o| {
            if o.metadata.uid != ds.metadata.uid || o.status.as_ref() == Some(&status) {
                return false;
            }
            o.status = Some(status.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_pods_are_pinned_to_their_node_and_tolerate_node_trouble() {
        let mut ds = DaemonSet::default();
        ds.metadata.name = "agent".into();
        ds.metadata.uid = "u1".into();
        ds.spec.template.metadata.labels.insert("app".into(), "agent".into());
        let p = new_pod(&ds, "h1", "node-3");
        assert_eq!(p.metadata.labels.get(REVISION_LABEL).map(String::as_str), Some("h1"));
        assert_eq!(plan::pod_node(&p).as_deref(), Some("node-3"));
        assert!(p.spec.tolerations.iter().any(|t| t.key.as_deref() == Some("node.kubernetes.io/not-ready")));
        assert_eq!(p.metadata.owner_references[0].uid, "u1");
        assert_eq!(p.metadata.generate_name.as_deref(), Some("agent-"));
    }

    #[test]
    fn only_placement_changes_of_nodes_wake_daemon_sets() {
        use supervision::Significant;
        let a = Node::default();
        let mut heartbeat = a.clone();
        heartbeat.metadata.resource_version = "9".into();
        assert!(!NodePlacement::significant(&heartbeat, Some(&a)));
        let mut labelled = a.clone();
        labelled.metadata.labels.insert("role".into(), "edge".into());
        assert!(NodePlacement::significant(&labelled, Some(&a)));
        assert!(NodePlacement::significant(&a, None));
    }
}
