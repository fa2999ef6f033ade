//! The namespace lifecycle plugin: `default`, `kube-system` and `kube-public` cannot be
//! deleted; a deleted namespace goes `Terminating` (deletionTimestamp,
//! `spec.finalizers: ["kubernetes"]`) and stays until the namespace controller has emptied
//! it and removed that finalizer; nothing is created in a namespace that is missing or
//! Terminating, whoever writes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use api::codec;
use api::model::{Namespace, Resource};

use super::{resource_name, Admission, AdmissionError, Context, Object, Operation, Result};
use crate::store::Revision;

/// The finalizer the namespace controller owns (in `spec.finalizers`).
pub const KUBERNETES_FINALIZER: &str = "kubernetes";
/// Namespaces that can never be deleted.
pub const PROTECTED: &[&str] = &["default", "kube-system", "kube-public"];

/// How long a namespace delete waits for the mirror to show it Terminating.
const MIRROR_CATCH_UP: Duration = Duration::from_secs(2);

/// Whether a namespace is being deleted (no new content may be created in it).
pub fn is_terminating(ns: &Namespace) -> bool {
    ns.metadata.is_deleting() || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

/// A read-only mirror of the namespaces (an informer cache), so that creates need not
/// read the store.
#[async_trait]
pub trait NamespaceMirror: Send + Sync {
    /// The namespace as the mirror last saw it; None when it has not seen it.
    fn namespace(&self, name: &str) -> Option<Arc<Namespace>>;
    /// Waits (at most `timeout`) until the mirror has caught up to store revision `rev`.
    async fn caught_up(&self, rev: Revision, timeout: Duration) -> bool;
}

/// The plugin; it reads namespaces from the mirror when it has one (a miss asks the store).
#[derive(Default)]
pub struct NamespaceLifecycle {
    mirror: Option<Arc<dyn NamespaceMirror>>,
}

impl NamespaceLifecycle {
    pub fn new(mirror: Option<Arc<dyn NamespaceMirror>>) -> Self {
        NamespaceLifecycle { mirror }
    }

    async fn lookup(&self, cx: Context<'_>, name: &str) -> Result<Option<Arc<Namespace>>> {
        if let Some(ns) = self.mirror.as_ref().and_then(|m| m.namespace(name)) {
            return Ok(Some(ns));
        }
        match cx.store.get(&Namespace::INFO.key(None, name)).await? {
            Some(kv) => Ok(Some(Arc::new(codec::decode::<Namespace>(&kv.value)?))),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Admission for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    async fn admit_create(&self, cx: Context<'_>, obj: &mut dyn Object) -> Result<()> {
        if !obj.info().namespaced {
            return Ok(());
        }
        let Some(ns) = obj.metadata().namespace.clone().filter(|n| !n.is_empty()) else { return Ok(()) };
        match self.lookup(cx, &ns).await? {
            None => Err(AdmissionError::Missing { resource: "namespaces".into(), name: ns }),
            Some(n) if is_terminating(&n) => Err(AdmissionError::Forbidden {
                resource: resource_name(obj.info()),
                name: obj.metadata().name.clone(),
                reason: format!("unable to create new content in namespace {ns} because it is being terminated"),
            }),
            Some(_) => Ok(()),
        }
    }

    /// Refuses protected namespaces; on a namespace not yet being deleted, adds the
    /// `kubernetes` finalizer and sets the phase to Terminating.
    async fn admit_delete(&self, _cx: Context<'_>, obj: &mut dyn Object) -> Result<bool> {
        let Some(ns) = obj.downcast_mut::<Namespace>() else { return Ok(false) };
        if PROTECTED.contains(&ns.metadata.name.as_str()) {
            return Err(AdmissionError::Forbidden {
                resource: "namespaces".into(),
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

    /// A namespace's `spec.finalizers` hold it as `metadata.finalizers` do.
    fn holds(&self, obj: &dyn Object) -> bool {
        obj.downcast_ref::<Namespace>().is_some_and(|ns| ns.spec.as_ref().is_some_and(|s| !s.finalizers.is_empty()))
    }

    /// After a namespace went Terminating: later creates must see that in the mirror.
    async fn committed(&self, _cx: Context<'_>, op: Operation, obj: &dyn Object) {
        let (Some(mirror), Operation::Delete) = (&self.mirror, op) else { return };
        if obj.downcast_ref::<Namespace>().is_some() {
            let rev = obj.metadata().resource_version.parse().unwrap_or(0);
            mirror.caught_up(rev, MIRROR_CATCH_UP).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::testing::{answer, create_namespace, registry};
    use crate::registry::{Deleted, Preconditions, Propagation, Registry};
    use api::model::Pod;

    fn pod(ns: &str, name: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}
        }))
        .expect("pod")
    }

    async fn delete_ns(r: &Registry, name: &str, dry_run: bool) -> crate::registry::Result<Deleted<Namespace>> {
        r.delete_with::<Namespace>(None, name, &Preconditions::default(), Propagation::Background, dry_run).await
    }

    #[tokio::test]
    async fn protected_namespaces_are_403_dry_run_or_not() {
        let (r, _d) = registry(Default::default()).await;
        for name in PROTECTED {
            if *name != "default" {
                create_namespace(&r, name).await;
            }
            let dry = delete_ns(&r, name, true).await;
            let real = delete_ns(&r, name, false).await;
            assert_eq!(answer(&dry), answer(&real), "{name}");
            assert_eq!(answer(&real).0, 403, "{name}: {real:?}");
            assert!(!is_terminating(&r.get::<Namespace>(None, name).await.unwrap()), "{name}");
        }
    }

    #[tokio::test]
    async fn a_dry_run_delete_answers_terminating_and_changes_nothing() {
        let (r, _d) = registry(Default::default()).await;
        let before = create_namespace(&r, "team").await;
        let Ok(Deleted::Pending(dry)) = delete_ns(&r, "team", true).await else { panic!("expected a pending dry-run delete") };
        assert!(is_terminating(&dry));
        assert_eq!(dry.spec.as_ref().map(|s| s.finalizers.clone()), Some(vec![KUBERNETES_FINALIZER.to_string()]));
        let stored: Namespace = r.get(None, "team").await.unwrap();
        assert_eq!(stored.metadata.resource_version, before.metadata.resource_version, "nothing written");
        let Ok(Deleted::Pending(real)) = delete_ns(&r, "team", false).await else { panic!("expected a pending delete") };
        assert_eq!((is_terminating(&real), real.spec.clone()), (true, dry.spec.clone()));
    }

    #[tokio::test]
    async fn creates_in_a_terminating_or_missing_namespace_are_refused_dry_run_or_not() {
        let (r, _d) = registry(Default::default()).await;
        create_namespace(&r, "team").await;
        let ok_dry = r.create_with(pod("team", "early"), true).await;
        assert_eq!(answer(&ok_dry).0, 200, "{ok_dry:?}");
        delete_ns(&r, "team", false).await.unwrap();
        for (ns, code, words) in [("team", 403, "because it is being terminated"), ("nowhere", 404, "namespaces \"nowhere\" not found")] {
            let dry = r.create_with(pod(ns, "late"), true).await;
            let real = r.create_with(pod(ns, "late"), false).await;
            assert_eq!(answer(&dry), answer(&real), "{ns}");
            let (got, message) = answer(&real);
            assert_eq!(got, code, "{ns}: {message}");
            assert!(message.contains(words), "{ns}: {message}");
            assert!(r.get::<Pod>(Some(ns), "late").await.is_err(), "{ns}: nothing stored");
        }
        assert!(r.get::<Pod>(Some("team"), "early").await.is_err(), "the earlier dry run stored nothing");
    }

    #[tokio::test]
    async fn with_a_mirror_a_create_right_after_the_delete_is_refused() {
        let (r, _d) = registry(Default::default()).await;
        let cache = crate::informer::start::<Namespace>(r.clone());
        let r = r.with_namespace_mirror(Arc::new(cache.clone()));
        let created = create_namespace(&r, "team").await;
        cache.wait_for_revision(created.metadata.resource_version.parse().unwrap(), Duration::from_secs(5)).await;
        assert!(!is_terminating(&cache.get(None, "team").expect("mirrored")));
        delete_ns(&r, "team", false).await.unwrap();
        let out = r.create(pod("team", "late")).await;
        assert_eq!(answer(&out).0, 403, "{out:?}");
    }
}
