//! Admission: the ordered plugins every registry write passes through, the same for a dry
//! run as for a real write, whoever writes (the gateway or a controller).
//!
//! The registry calls the [`Chain`] at fixed points of each write:
//! - create: [`Admission::admit_create`] (defaults and server-set metadata are filled, not
//!   yet validated), then validation, then [`Admission::reserve`], then the write;
//! - update (metadata and spec): [`Admission::admit_update`] on the merged object, then
//!   validation, then [`Admission::reserve`], then the write;
//! - delete: [`Admission::admit_delete`] (may refuse, or change the object before it is
//!   stamped with a deletionTimestamp), then [`Admission::holds`] decides whether the object
//!   waits for finalizers;
//! - after the write: [`Reservation::settle`] keeps or undoes what `reserve` took,
//!   [`Admission::committed`] and [`Admission::deleted`] follow up.
//!
//! A dry run calls every hook with [`Context::dry_run`] set and then writes nothing, so
//! it gives the answer the real write would; a plugin with side effects (the allocator)
//! checks instead of taking. Plugins see objects as [`Object`]s and downcast to the kinds
//! they care about; nothing here knows the registry, the controllers or HTTP.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;

use api::model::{KindInfo, ObjectMeta, Resource};

use crate::allocator::AllocatorConfig;
use crate::store::Store;

pub mod allocation;
pub mod job;
pub mod outcome;
pub mod namespace;
pub mod storage;
pub mod service_account;

pub use allocation::ServiceAllocation;
pub use job::JobSelector;
pub use outcome::{resource_name, AdmissionError, Reservation, Result};
pub use namespace::{NamespaceLifecycle, NamespaceMirror};
pub use storage::DefaultStorageClass;
pub use service_account::ServiceAccountAdmission;

/// An object of any kind, as plugins see it; [`Object::downcast_ref`] gives the typed view.
pub trait Object: Any + Send + Sync {
    fn info(&self) -> &'static KindInfo;
    fn metadata(&self) -> &ObjectMeta;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Resource> Object for T {
    fn info(&self) -> &'static KindInfo {
        T::INFO
    }
    fn metadata(&self) -> &ObjectMeta {
        self.meta()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl dyn Object {
    pub fn downcast_ref<K: Resource>(&self) -> Option<&K> {
        self.as_any().downcast_ref::<K>()
    }
    pub fn downcast_mut<K: Resource>(&mut self) -> Option<&mut K> {
        self.as_any_mut().downcast_mut::<K>()
    }
}

/// What every hook of one write sees.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub store: &'a dyn Store,
    /// `dryRun=All`: check everything, change nothing (the store included).
    pub dry_run: bool,
}

/// The kind of write that was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    /// The object was stamped with a deletionTimestamp and waits for its finalizers.
    Delete,
}

/// One admission plugin. Every hook has a default that admits and does nothing.
#[async_trait]
pub trait Admission: Send + Sync {
    /// A short name for logs (`NamespaceLifecycle`, `ServiceAllocation`).
    fn name(&self) -> &'static str;

    /// Create, before validation: may refuse the object or change it.
    async fn admit_create(&self, _cx: Context<'_>, _obj: &mut dyn Object) -> Result<()> {
        Ok(())
    }

    /// Update of metadata and spec, before validation: `new` is the stored `old` merged
    /// with the request; may refuse it or change it.
    async fn admit_update(&self, _cx: Context<'_>, _old: &dyn Object, _new: &mut dyn Object) -> Result<()> {
        Ok(())
    }

    /// Delete, before the registry decides between "gone now" and "wait for finalizers":
    /// may refuse, or change the object that will be stored with its deletionTimestamp.
    /// Returns whether it changed the object.
    async fn admit_delete(&self, _cx: Context<'_>, _obj: &mut dyn Object) -> Result<bool> {
        Ok(false)
    }

    /// After validation, just before a create (`old` None) or an update is written: takes
    /// what the object needs (in a dry run, only checks it could). The reservation is
    /// settled once the write's outcome is known.
    async fn reserve(
        &self,
        _cx: Context<'_>,
        _old: Option<&dyn Object>,
        _new: &mut dyn Object,
    ) -> Result<Option<Box<dyn Reservation>>> {
        Ok(None)
    }

    /// Whether something besides `metadata.finalizers` keeps a deleted object (a
    /// namespace's `spec.finalizers`).
    fn holds(&self, _obj: &dyn Object) -> bool {
        false
    }

    /// After a successful real write of `obj` (carrying its new resourceVersion).
    async fn committed(&self, _cx: Context<'_>, _op: Operation, _obj: &dyn Object) {}

    /// After `obj` (its last stored state) is gone from the store.
    async fn deleted(&self, _cx: Context<'_>, _obj: &dyn Object) {}
}

/// What the standard chain is built from.
#[derive(Clone, Default)]
pub struct Config {
    /// Service ClusterIP and NodePort ranges.
    pub allocator: AllocatorConfig,
    /// A mirror of the namespaces, so that creates need not read the store to check
    /// theirs (a miss still asks the store).
    pub namespaces: Option<Arc<dyn NamespaceMirror>>,
}

/// The reservations of one write, settled together.
#[derive(Default)]
#[must_use = "reservations must be settled once the write's outcome is known"]
pub struct Reservations(Vec<Box<dyn Reservation>>);

impl Reservations {
    pub async fn settle(self, store: &dyn Store, committed: bool) {
        for r in self.0 {
            r.settle(store, committed).await;
        }
    }
}

/// The plugins a registry runs, in order: the first refusal wins.
#[derive(Clone, Default)]
pub struct Chain {
    plugins: Vec<Arc<dyn Admission>>,
}

impl Chain {
    /// No plugins.
    pub fn empty() -> Self {
        Chain::default()
    }

    /// What shoal runs: namespace lifecycle, then a pod's default ServiceAccount, then
    /// Service address and port allocation (so that a create refused for its namespace
    /// takes no address), then the default StorageClass of claims. Rules that compare an
    /// update with the stored object (immutable fields, scheduling gates) are update
    /// validation (`Validate::validate_update`), not plugins.
    pub fn standard(cfg: &Config) -> Self {
        Chain::empty()
            .with(NamespaceLifecycle::new(cfg.namespaces.clone()))
            .with(ServiceAccountAdmission)
            .with(ServiceAllocation::new(cfg.allocator.clone()))
            .with(DefaultStorageClass)
            .with(JobSelector)
    }

    /// The chain with `plugin` appended.
    pub fn with(mut self, plugin: impl Admission + 'static) -> Self {
        self.plugins.push(Arc::new(plugin));
        self
    }

    pub async fn admit_create(&self, cx: Context<'_>, obj: &mut dyn Object) -> Result<()> {
        for p in &self.plugins {
            p.admit_create(cx, obj).await?;
        }
        Ok(())
    }

    pub async fn admit_update(&self, cx: Context<'_>, old: &dyn Object, new: &mut dyn Object) -> Result<()> {
        for p in &self.plugins {
            p.admit_update(cx, old, new).await?;
        }
        Ok(())
    }

    pub async fn admit_delete(&self, cx: Context<'_>, obj: &mut dyn Object) -> Result<bool> {
        let mut changed = false;
        for p in &self.plugins {
            changed |= p.admit_delete(cx, obj).await?;
        }
        Ok(changed)
    }

    /// Every plugin's reservation; when one refuses, the earlier ones are given back.
    pub async fn reserve(&self, cx: Context<'_>, old: Option<&dyn Object>, new: &mut dyn Object) -> Result<Reservations> {
        let mut taken = Reservations::default();
        for p in &self.plugins {
            match p.reserve(cx, old, new).await {
                Ok(Some(r)) => taken.0.push(r),
                Ok(None) => {}
                Err(e) => {
                    taken.settle(cx.store, false).await;
                    return Err(e);
                }
            }
        }
        Ok(taken)
    }

    /// Whether finalizers keep a deleted object: its own, or one a plugin knows of.
    pub fn holds(&self, obj: &dyn Object) -> bool {
        !obj.metadata().finalizers.is_empty() || self.plugins.iter().any(|p| p.holds(obj))
    }

    pub async fn committed(&self, cx: Context<'_>, op: Operation, obj: &dyn Object) {
        for p in &self.plugins {
            p.committed(cx, op, obj).await;
        }
    }

    pub async fn deleted(&self, cx: Context<'_>, obj: &dyn Object) {
        for p in &self.plugins {
            p.deleted(cx, obj).await;
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Registries for unit tests: the real embedded store on a temporary directory.

    use std::sync::Arc;

    use api::model::{Namespace, ObjectMeta};

    use crate::allocator::AllocatorConfig;
    use crate::registry::{Registry, RegistryError};
    use crate::store::embedded::EmbeddedStore;

    /// A registry with the standard chain, and the `default` namespace (creates need theirs).
    pub async fn registry(cfg: AllocatorConfig) -> (Registry, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open the embedded store");
        let r = Registry::new(Arc::new(store)).with_allocator(cfg);
        create_namespace(&r, "default").await;
        (r, dir)
    }

    pub async fn create_namespace(r: &Registry, name: &str) -> Namespace {
        let ns = Namespace { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
        r.create(ns).await.expect("create namespace")
    }

    /// A write's answer as the API would give it: the HTTP code and the message.
    pub fn answer<T>(res: &Result<T, RegistryError>) -> (u16, String) {
        match res {
            Ok(_) => (200, String::new()),
            Err(e) => {
                let code = match e {
                    RegistryError::NotFound { .. } => 404,
                    RegistryError::AlreadyExists { .. } | RegistryError::Conflict { .. } => 409,
                    RegistryError::Invalid { .. } => 422,
                    RegistryError::Forbidden { .. } => 403,
                    RegistryError::BadRequest(_) => 400,
                    _ => 500,
                };
                (code, e.to_string())
            }
        }
    }
}
