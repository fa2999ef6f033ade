//! ReplicaSet and ReplicationController: keep `replicas` active pods from the template.
//!
//! One implementation serves both kinds (Kubernetes' `replica_set.go`): claim pods
//! (adopt matching orphans, release owned pods that stopped matching), create or delete
//! the difference, then write status.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::future::join_all;

use super::{adopt, controller_ref_of, parse_time, pod_is_active, pod_is_available, pod_is_ready, pod_ready_since, release};
use crate::controller::{Action, ChildKind, Children, Cx, ReconcileError, Reconciler};
use api::model::{
    LabelSelector, ObjectMeta, Pod, PodTemplateSpec, ReplicaSet, ReplicaSetStatus, ReplicationController, Resource,
};
use crate::registry::{Preconditions, UpdateScope};

/// At most this many pods are created or deleted per reconcile.
pub const BURST_REPLICAS: usize = 500;

/// What the ReplicaSet and ReplicationController controllers need to know of their object.
pub trait ReplicatedSet: Resource {
    fn pod_selector(&self) -> LabelSelector;
    fn pod_template(&self) -> Option<&PodTemplateSpec>;
    fn desired_replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn replica_status(&self) -> Option<&ReplicaSetStatus>;
    fn replica_status_mut(&mut self) -> &mut Option<ReplicaSetStatus>;
}

impl ReplicatedSet for ReplicaSet {
    fn pod_selector(&self) -> LabelSelector {
        self.spec.selector.clone().unwrap_or_default()
    }
    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        Some(&self.spec.template)
    }
    fn desired_replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }
    fn replica_status(&self) -> Option<&ReplicaSetStatus> {
        self.status.as_ref()
    }
    fn replica_status_mut(&mut self) -> &mut Option<ReplicaSetStatus> {
        &mut self.status
    }
}

impl ReplicatedSet for ReplicationController {
    fn pod_selector(&self) -> LabelSelector {
        LabelSelector::from_map(&self.spec.selector)
    }
    fn pod_template(&self) -> Option<&PodTemplateSpec> {
        self.spec.template.as_ref()
    }
    fn desired_replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.min_ready_seconds.unwrap_or(0)
    }
    fn replica_status(&self) -> Option<&ReplicaSetStatus> {
        self.status.as_ref()
    }
    fn replica_status_mut(&mut self) -> &mut Option<ReplicaSetStatus> {
        &mut self.status
    }
}

/// Reconciles ReplicaSets (apps/v1).
pub struct ReplicaSetController;

/// Reconciles ReplicationControllers (v1).
pub struct ReplicationControllerController;

#[async_trait]
impl Reconciler for ReplicaSetController {
    type Object = ReplicaSet;
    const CHILDREN: Children = Children::Of(&[ChildKind::of::<Pod>()]);
    fn selector(obj: &ReplicaSet) -> Option<LabelSelector> {
        obj.spec.selector.clone()
    }
    async fn reconcile(&self, obj: Arc<ReplicaSet>, cx: &Cx) -> Result<Action, ReconcileError> {
        sync_replicas(obj.as_ref(), cx).await
    }
}

#[async_trait]
impl Reconciler for ReplicationControllerController {
    type Object = ReplicationController;
    const CHILDREN: Children = Children::Of(&[ChildKind::of::<Pod>()]);
    fn selector(obj: &ReplicationController) -> Option<LabelSelector> {
        Some(obj.pod_selector())
    }
    async fn reconcile(&self, obj: Arc<ReplicationController>, cx: &Cx) -> Result<Action, ReconcileError> {
        sync_replicas(obj.as_ref(), cx).await
    }
}

/// How an owned pod's labels relate to the selector, and whether an orphan should be adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Ours and matching: counts.
    Keep,
    /// Ours but no longer matching: remove our ownerReference.
    Release,
    /// An active orphan that matches: add our ownerReference.
    Adopt,
    /// Not ours to consider.
    Ignore,
}

/// Kubernetes' `ClaimPods` decision for one pod (pure).
pub(crate) fn claim(owner_uid: &str, owner_deleting: bool, selector: &LabelSelector, pod: &Pod) -> Claim {
    let matches = !selector.is_empty() && selector.matches(&pod.metadata.labels);
    match pod.metadata.controller_ref() {
        Some(r) if r.uid == owner_uid => {
            if matches {
                Claim::Keep
            } else if owner_deleting || pod.metadata.is_deleting() {
                Claim::Ignore
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if matches && !owner_deleting && pod_is_active(pod) => Claim::Adopt,
        None => Claim::Ignore,
    }
}

/// Sort key for choosing pods to delete: the smallest key goes first (Kubernetes'
/// `ActivePods` ordering): unassigned before assigned; Pending before Unknown before
/// Running; not ready before ready; ready for less time before longer; more restarts
/// before fewer; newer before older.
pub(crate) fn deletion_rank(p: &Pod) -> impl Ord {
    let assigned = p.spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    let phase = match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Pending") | None => 0,
        Some("Unknown") => 1,
        Some("Running") => 2,
        Some(_) => 3,
    };
    let ready_since = pod_ready_since(p);
    let ready = ready_since.is_some();
    let ready_at = ready_since.flatten().map(|t| t.timestamp()).unwrap_or(i64::MIN);
    let restarts: i32 = p
        .status
        .as_ref()
        .map(|s| s.container_statuses.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0);
    let created = parse_time(p.metadata.creation_timestamp.as_deref()).map(|t| t.timestamp()).unwrap_or(i64::MIN);
    (assigned, phase, ready, Reverse(ready_at), Reverse(restarts), Reverse(created), p.metadata.name.clone())
}

/// The `n` pods to delete, best candidates first.
pub(crate) fn pods_to_delete(mut pods: Vec<Arc<Pod>>, n: usize) -> Vec<Arc<Pod>> {
    pods.sort_by_cached_key(|p| deletion_rank(p));
    pods.truncate(n);
    pods
}

/// The status the pods imply, and how long until a ready-but-not-yet-available pod
/// becomes available (pure).
pub(crate) fn compute_status<T: ReplicatedSet>(
    obj: &T,
    owned_active: &[Arc<Pod>],
    now: DateTime<Utc>,
) -> (ReplicaSetStatus, Option<Duration>) {
    let template_labels = obj.pod_template().map(|t| t.metadata.labels.clone()).unwrap_or_default();
    let min_ready = obj.min_ready_seconds();
    let mut st = obj.replica_status().cloned().unwrap_or_default();
    st.replicas = owned_active.len() as i32;
    st.fully_labeled_replicas = owned_active
        .iter()
        .filter(|p| template_labels.iter().all(|(k, v)| p.metadata.labels.get(k) == Some(v)))
        .count() as i32;
    st.ready_replicas = owned_active.iter().filter(|p| pod_is_ready(p)).count() as i32;
    st.available_replicas = owned_active.iter().filter(|p| pod_is_available(p, min_ready, now)).count() as i32;
    st.observed_generation = obj.meta().generation;
    let mut wait: Option<Duration> = None;
    if min_ready > 0 {
        for p in owned_active {
            if let Some(Some(since)) = pod_ready_since(p) {
                let left = since + chrono::Duration::seconds(i64::from(min_ready)) - now;
                if left > chrono::Duration::zero() {
                    let left = left.to_std().unwrap_or_default() + Duration::from_millis(100);
                    wait = Some(wait.map_or(left, |w| w.min(left)));
                }
            }
        }
    }
    (st, wait)
}

/// Builds a pod from the owner's template.
pub(crate) fn pod_from_template<T: ReplicatedSet>(obj: &T, template: &PodTemplateSpec) -> Pod {
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", obj.meta().name)),
            namespace: obj.meta().namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations: template.metadata.annotations.clone(),
            finalizers: template.metadata.finalizers.clone(),
            owner_references: vec![controller_ref_of(obj)],
            ..Default::default()
        },
        spec: template.spec.clone(),
        ..Default::default()
    }
}

/// Creates `count` pods in slow-start batches (1, 2, 4, … up to the burst); stops at the
/// first batch with an error (Kubernetes' `slowStartBatch`).
async fn create_pods<T: ReplicatedSet>(obj: &T, template: &PodTemplateSpec, count: usize, cx: &Cx) -> Result<(), ReconcileError> {
    let mut remaining = count;
    let mut batch = 1usize;
    while remaining > 0 {
        let n = batch.min(remaining);
        let results = join_all((0..n).map(|_| cx.create(pod_from_template(obj, template)))).await;
        results.iter().flatten().for_each(|p| cx.event(obj, "Normal", "SuccessfulCreate", format!("Created pod: {}", p.metadata.name)));
        if let Some(e) = results.into_iter().find_map(Result::err) {
            return Err(e.into());
        }
        remaining -= n;
        batch = (batch * 2).min(BURST_REPLICAS);
    }
    Ok(())
}

async fn delete_pods(pods: &[Arc<Pod>], cx: &Cx) -> Result<(), ReconcileError> {
    for chunk in pods.chunks(64) {
        let results = join_all(chunk.iter().map(|p| {
            let pre = Preconditions { uid: Some(p.metadata.uid.clone()), resource_version: None };
            async move { cx.delete::<Pod>(p.metadata.namespace.as_deref(), &p.metadata.name, &pre).await }
        }))
        .await;
        for r in results {
            match r {
                Ok(_) => {}
                // The uid precondition failed: a new pod took the name; ours is gone.
                Err(crate::registry::RegistryError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Writes `status` with Status scope unless the stored one already equals it.
async fn write_status<T: ReplicatedSet>(obj: &T, status: ReplicaSetStatus, cx: &Cx) -> Result<(), ReconcileError> {
    if obj.replica_status() == Some(&status) {
        return Ok(());
    }
    let res = cx
        .modify::<T>(obj.meta().namespace.as_deref(), &obj.meta().name, UpdateScope::Status, |o| {
            if o.meta().uid != obj.meta().uid || o.replica_status() == Some(&status) {
                return false;
            }
            *o.replica_status_mut() = Some(status.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(crate::registry::RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// One reconcile of a ReplicaSet or ReplicationController.
pub async fn sync_replicas<T: ReplicatedSet>(obj: &T, cx: &Cx) -> Result<Action, ReconcileError> {
    let meta = obj.meta();
    let deleting = meta.is_deleting();
    let selector = obj.pod_selector();
    let ns = meta.namespace.as_deref();

    let mut owned: Vec<Arc<Pod>> = Vec::new();
    let mut to_adopt = Vec::new();
    let mut to_release = Vec::new();
    for pod in cx.caches().pods.list(ns) {
        match claim(&meta.uid, deleting, &selector, &pod) {
            Claim::Keep => owned.push(pod),
            Claim::Adopt => to_adopt.push(pod),
            Claim::Release => to_release.push(pod),
            Claim::Ignore => {}
        }
    }
    for pod in &to_release {
        release(cx, &meta.uid, pod.as_ref()).await?;
    }
    for pod in to_adopt {
        adopt(cx, obj, pod.as_ref()).await?;
        owned.push(pod);
    }
    let active: Vec<Arc<Pod>> = owned.into_iter().filter(|p| pod_is_active(p)).collect();

    if !deleting {
        if let Some(template) = obj.pod_template() {
            let want = obj.desired_replicas().max(0) as usize;
            if active.len() < want {
                let n = (want - active.len()).min(BURST_REPLICAS);
                create_pods(obj, template, n, cx).await?;
            } else if active.len() > want {
                let n = (active.len() - want).min(BURST_REPLICAS);
                let victims = pods_to_delete(active.clone(), n);
                delete_pods(&victims, cx).await?;
                victims.iter().for_each(|p| cx.event(obj, "Normal", "SuccessfulDelete", format!("Deleted pod: {}", p.metadata.name)));
            }
        }
    }

    let (status, wait) = compute_status(obj, &active, Utc::now());
    write_status(obj, status, cx).await?;
    Ok(match wait {
        Some(d) => Action::requeue(d),
        None => Action::await_change(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Condition, PodStatus};

    fn pod(name: &str, node: Option<&str>, phase: &str, ready_at: Option<&str>, created: &str) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.creation_timestamp = Some(created.into());
        p.spec.node_name = node.map(str::to_string);
        let mut st = PodStatus { phase: Some(phase.into()), ..Default::default() };
        if let Some(t) = ready_at {
            st.conditions.push(Condition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(t.into()),
                ..Default::default()
            });
        }
        p.status = Some(st);
        Arc::new(p)
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<&str> {
        pods.iter().map(|p| p.metadata.name.as_str()).collect()
    }

    #[test]
    fn deletes_unassigned_then_pending_then_not_ready_then_newest_ready() {
        let t0 = "2026-01-01T00:00:00Z";
        let t1 = "2026-01-01T00:10:00Z";
        let pods = vec![
            pod("ready-old", Some("n1"), "Running", Some(t0), t0),
            pod("ready-new", Some("n1"), "Running", Some(t1), t1),
            pod("running-not-ready", Some("n1"), "Running", None, t0),
            pod("pending", Some("n1"), "Pending", None, t0),
            pod("unknown", Some("n1"), "Unknown", None, t0),
            pod("unassigned", None, "Pending", None, t0),
        ];
        let order = pods_to_delete(pods, 6);
        assert_eq!(
            names(&order),
            ["unassigned", "pending", "unknown", "running-not-ready", "ready-new", "ready-old"]
        );
    }

    #[test]
    fn newer_pod_goes_first_among_equals() {
        let pods = vec![
            pod("old", Some("n"), "Running", None, "2026-01-01T00:00:00Z"),
            pod("new", Some("n"), "Running", None, "2026-01-02T00:00:00Z"),
        ];
        assert_eq!(names(&pods_to_delete(pods, 1)), ["new"]);
    }

    #[test]
    fn claim_decisions() {
        let sel = LabelSelector::from_map(&[("app".to_string(), "web".to_string())].into());
        let mut p = Pod::default();
        p.metadata.labels.insert("app".into(), "web".into());
        assert_eq!(claim("u1", false, &sel, &p), Claim::Adopt);
        assert_eq!(claim("u1", true, &sel, &p), Claim::Ignore, "a deleting owner adopts nothing");
        p.metadata.owner_references.push(OwnerReferenceExt::ctl("u1"));
        assert_eq!(claim("u1", false, &sel, &p), Claim::Keep);
        p.metadata.labels.insert("app".into(), "other".into());
        assert_eq!(claim("u1", false, &sel, &p), Claim::Release);
        p.metadata.owner_references[0].uid = "u2".into();
        assert_eq!(claim("u1", false, &sel, &p), Claim::Ignore);
        let mut done = Pod::default();
        done.metadata.labels.insert("app".into(), "web".into());
        done.status = Some(PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        assert_eq!(claim("u1", false, &sel, &done), Claim::Ignore, "finished orphans stay orphans");
        assert_eq!(claim("u1", false, &LabelSelector::default(), &done), Claim::Ignore);
    }

    struct OwnerReferenceExt;
    impl OwnerReferenceExt {
        fn ctl(uid: &str) -> api::model::OwnerReference {
            api::model::OwnerReference { uid: uid.into(), controller: Some(true), ..Default::default() }
        }
    }

    #[test]
    fn status_counts_ready_and_available_with_min_ready_seconds() {
        let mut rs = ReplicaSet::default();
        rs.metadata.generation = 3;
        rs.spec.min_ready_seconds = Some(30);
        rs.spec.template.metadata.labels.insert("app".into(), "web".into());
        let now: DateTime<Utc> = "2026-01-01T00:01:00Z".parse().unwrap();
        let mut labeled = (*pod("a", Some("n"), "Running", Some("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z")).clone();
        labeled.metadata.labels.insert("app".into(), "web".into());
        let pods = vec![
            Arc::new(labeled),
            pod("b", Some("n"), "Running", Some("2026-01-01T00:00:50Z"), "2026-01-01T00:00:00Z"),
            pod("c", Some("n"), "Running", None, "2026-01-01T00:00:00Z"),
        ];
        let (st, wait) = compute_status(&rs, &pods, now);
        assert_eq!((st.replicas, st.fully_labeled_replicas, st.ready_replicas, st.available_replicas), (3, 1, 2, 1));
        assert_eq!(st.observed_generation, 3);
        let wait = wait.expect("b becomes available in 20 s");
        assert!(wait >= Duration::from_secs(20) && wait < Duration::from_secs(21), "{wait:?}");

        rs.spec.min_ready_seconds = None;
        let (st, wait) = compute_status(&rs, &pods, now);
        assert_eq!(st.available_replicas, 2);
        assert_eq!(wait, None);
    }

    #[test]
    fn pods_from_the_template_are_owned_and_labeled() {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = "web-abc".into();
        rs.metadata.namespace = Some("ns".into());
        rs.metadata.uid = "u".into();
        rs.spec.template.metadata.labels.insert("app".into(), "web".into());
        let p = pod_from_template(&rs, &rs.spec.template);
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-abc-"));
        assert_eq!(p.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(p.metadata.labels.get("app").map(String::as_str), Some("web"));
        let r = p.metadata.controller_ref().unwrap();
        assert_eq!((r.kind.as_str(), r.api_version.as_str(), r.uid.as_str()), ("ReplicaSet", "apps/v1", "u"));
        assert_eq!(r.block_owner_deletion, Some(true));
    }
}
