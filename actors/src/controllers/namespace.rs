//! Namespace lifecycle: a deleted namespace goes `Terminating` (deletionTimestamp,
//! `spec.finalizers: ["kubernetes"]`), the namespace controller deletes everything inside
//! it, then removes the `kubernetes` finalizer, which completes the delete. The registry
//! calls [`prepare_delete`] and [`holds_finalizers`] so that no writer can skip this.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::controller::{Action, Children, Cx, ReconcileError, Reconciler};
use api::model::*;
use crate::registry::{Preconditions, Registry, RegistryError, UpdateScope};

/// The finalizer the namespace controller owns (in `spec.finalizers`).
pub const KUBERNETES_FINALIZER: &str = "kubernetes";
/// Namespaces that can never be deleted.
pub const PROTECTED: &[&str] = &["default", "kube-system", "kube-public"];

fn as_namespace_mut<T: Resource>(obj: &mut T) -> Option<&mut Namespace> {
    (obj as &mut dyn Any).downcast_mut::<Namespace>()
}

/// Whether finalizers still hold `obj` (metadata finalizers, or a namespace's
/// `spec.finalizers`).
pub fn holds_finalizers<T: Resource>(obj: &T) -> bool {
    if !obj.meta().finalizers.is_empty() {
        return true;
    }
    (obj as &dyn Any)
        .downcast_ref::<Namespace>()
        .is_some_and(|ns| ns.spec.as_ref().is_some_and(|s| !s.finalizers.is_empty()))
}

/// Called by the registry's delete before it decides: refuses protected namespaces; on a
/// namespace not yet being deleted, adds the `kubernetes` finalizer and sets the phase to
/// Terminating. Returns whether it changed the object. No-op for other kinds.
pub fn prepare_delete<T: Resource>(obj: &mut T) -> Result<bool, RegistryError> {
    let Some(ns) = as_namespace_mut(obj) else { return Ok(false) };
    if PROTECTED.contains(&ns.metadata.name.as_str()) {
        return Err(RegistryError::Forbidden {
            kind: "namespaces".into(),
            name: ns.metadata.name.clone(),
            reason: "this namespace may not be deleted".into(),
        });
    }
    if ns.metadata.is_deleting() {
        return Ok(false);
    }
    let spec = ns.spec.get_or_insert_with(Default::default);
    if !spec.finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
        spec.finalizers.push(KUBERNETES_FINALIZER.into());
    }
    ns.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
    Ok(true)
}

/// Whether a namespace is being deleted (no new content may be created in it).
pub fn is_terminating(ns: &Namespace) -> bool {
    ns.metadata.is_deleting() || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

/// Deletes one object of the kind named `kind`, through the registry (finalizers,
/// allocations and watches behave as for an API delete). Gone already counts as done.
async fn delete_one(reg: &Registry, info: &KindInfo, ns: &str, name: &str) -> Result<(), RegistryError> {
    let pre = Preconditions::default();
    macro_rules! by_kind {
        ($($t:ty),* $(,)?) => {
            match info.kind {
                $(k if k == <$t as Resource>::INFO.kind && info.group == <$t as Resource>::INFO.group => {
                    reg.delete::<$t>(Some(ns), name, &pre).await.map(|_| ())
                })*
                _ => {
                    // A kind this list does not know yet: remove the key itself.
                    reg.store().delete(&info.key(Some(ns), name), None).await.map(|_| ()).map_err(Into::into)
                }
            }
        };
    }
    let res = by_kind!(
        Pod,
        Service,
        Endpoints,
        ReplicationController,
        Deployment,
        ReplicaSet,
        StatefulSet,
        DaemonSet,
        Job,
        CronJob,
        PersistentVolumeClaim,
        HorizontalPodAutoscaler,
        Lease,
        Event,
    );
    match res {
        Err(RegistryError::NotFound { .. }) | Err(RegistryError::Store(crate::store::StoreError::NotFound { .. })) => Ok(()),
        other => other,
    }
}

/// One pass over the namespace's content: deletes every object of every namespaced kind
/// (controllers first, pods and events last, so that nothing recreates what was just
/// deleted); returns how many objects are still there afterwards.
pub async fn delete_content(reg: &Registry, ns: &str) -> Result<usize, RegistryError> {
    let mut kinds: Vec<&KindInfo> = ALL_KINDS.iter().copied().filter(|k| k.namespaced).collect();
    kinds.sort_by_key(|k| match k.kind {
        "Pod" => 1,
        "Event" => 2,
        _ => 0,
    });
    for info in &kinds {
        let prefix = info.namespace_prefix(Some(ns));
        for kv in reg.store().list(&prefix).await?.kvs {
            let name = kv.key.trim_start_matches(&prefix);
            delete_one(reg, info, ns, name).await?;
        }
    }
    let mut remaining = 0;
    for info in &kinds {
        remaining += reg.store().list(&info.namespace_prefix(Some(ns))).await?.kvs.len();
    }
    Ok(remaining)
}

/// The namespace controller: empties Terminating namespaces, then lets them go.
pub struct NamespaceController;

#[async_trait]
impl Reconciler for NamespaceController {
    type Object = Namespace;
    const CHILDREN: Children = Children::None;

    fn selector(_: &Namespace) -> Option<LabelSelector> {
        None
    }

    async fn reconcile(&self, obj: Arc<Namespace>, cx: &Cx) -> Result<Action, ReconcileError> {
        let holds = obj.spec.as_ref().is_some_and(|s| s.finalizers.iter().any(|f| f == KUBERNETES_FINALIZER));
        if !obj.metadata.is_deleting() || !holds {
            return Ok(Action::await_change());
        }
        let name = obj.metadata.name.clone();
        let remaining = delete_content(cx.registry(), &name).await?;
        if remaining > 0 {
            tracing::debug!(namespace = %name, remaining, "namespace not empty yet");
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        let uid = obj.metadata.uid.clone();
        let res = cx
            .modify::<Namespace>(None, &name, UpdateScope::Main, |n| {
                if n.metadata.uid != uid {
                    return false;
                }
                let Some(spec) = n.spec.as_mut() else { return false };
                let before = spec.finalizers.len();
                spec.finalizers.retain(|f| f != KUBERNETES_FINALIZER);
                spec.finalizers.len() != before
            })
            .await;
        match res {
            Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(Action::await_change()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Deleted;
    use crate::store::embedded::EmbeddedStore;

    async fn registry() -> (Registry, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        (Registry::new(Arc::new(store)), dir)
    }

    fn ns(name: &str) -> Namespace {
        Namespace { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() }
    }

    #[tokio::test]
    async fn delete_goes_terminating_and_finishing_removes_it() {
        let (r, _d) = registry().await;
        r.create(ns("team")).await.unwrap();
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "team"},
            "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}
        }))
        .unwrap();
        r.create(pod).await.unwrap();
        let Ok(Deleted::Pending(n)) = r.delete::<Namespace>(None, "team", &Preconditions::default()).await else {
            panic!("expected a pending delete")
        };
        assert!(is_terminating(&n));
        assert_eq!(n.spec.unwrap().finalizers, vec!["kubernetes".to_string()]);
        // A second delete changes nothing; an unrelated update does not complete it.
        assert!(matches!(r.delete::<Namespace>(None, "team", &Preconditions::default()).await, Ok(Deleted::Pending(_))));
        r.modify::<Namespace>(None, "team", UpdateScope::Main, |n| {
            n.metadata.labels.insert("a".into(), "b".into());
            true
        })
        .await
        .unwrap();
        assert!(r.get::<Namespace>(None, "team").await.is_ok());
        assert_eq!(delete_content(&r, "team").await.unwrap(), 0);
        assert!(r.get::<Pod>(Some("team"), "p").await.is_err());
        r.modify::<Namespace>(None, "team", UpdateScope::Main, |n| {
            n.spec.as_mut().unwrap().finalizers.clear();
            true
        })
        .await
        .unwrap();
        assert!(matches!(r.get::<Namespace>(None, "team").await, Err(RegistryError::NotFound { .. })));
    }

    #[tokio::test]
    async fn protected_namespaces_cannot_be_deleted() {
        let (r, _d) = registry().await;
        r.create(ns("default")).await.unwrap();
        let out = r.delete::<Namespace>(None, "default", &Preconditions::default()).await;
        assert!(matches!(out, Err(RegistryError::Forbidden { .. })), "{out:?}");
        assert!(!is_terminating(&r.get::<Namespace>(None, "default").await.unwrap()));
    }
}
