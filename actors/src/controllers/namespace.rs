//! The namespace controller: empties a Terminating namespace, then removes its
//! `kubernetes` finalizer, which completes the delete. The lifecycle rules every writer
//! meets (protected namespaces, Terminating on delete, no creates in a Terminating
//! namespace) are the `crate::admission::namespace` plugin's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::controller::{Action, Children, Cx, ReconcileError, Reconciler};
use api::model::*;
use crate::registry::{Preconditions, Registry, RegistryError, UpdateScope};

pub use crate::admission::namespace::{is_terminating, KUBERNETES_FINALIZER, PROTECTED};

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
        PodDisruptionBudget,
        ConfigMap,
        Secret,
        ServiceAccount,
        EndpointSlice,
        ControllerRevision,
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
    async fn a_controller_cannot_create_in_a_terminating_namespace_dry_run_or_not() {
        let (r, _d) = registry().await;
        r.create(ns("team")).await.unwrap();
        r.delete::<Namespace>(None, "team", &Preconditions::default()).await.unwrap();
        let shared = crate::controller::Shared {
            registry: r.clone(),
            caches: crate::controller::Caches::start(&r),
            config: Default::default(),
        };
        let cx = Cx::new(Arc::new(shared));
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "late", "namespace": "team"},
            "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}
        }))
        .unwrap();
        let real = cx.create(pod.clone()).await;
        let dry = cx.registry().create_with(pod, true).await;
        for out in [&real, &dry] {
            match out {
                Err(RegistryError::Forbidden { reason, .. }) => assert!(reason.contains("being terminated"), "{reason}"),
                other => panic!("expected 403, got {other:?}"),
            }
        }
        assert!(r.get::<Pod>(Some("team"), "late").await.is_err());
    }
}
