//! Typed access to API objects in the store, with the rules every writer must follow:
//! validation before anything is written, server-set metadata (uid, creationTimestamp,
//! generation, resourceVersion), optimistic concurrency on `resourceVersion`, the
//! spec/status split, deletion through finalizers, and the admission plugins the registry
//! is built with (`crate::admission`).
//!
//! The gateway and the controllers both write through here, so an object can never be
//! stored in a shape one of them would refuse. Each write has one path, which a dry run
//! (`dryRun=All`) follows to the end, every check and plugin included, without storing.

use std::any::Any;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use futures::{Stream, StreamExt};
use serde_json::Value;

use api::codec::{self, CodecError};
use api::model::{KindInfo, Resource};
use crate::admission::{self, AdmissionError, Chain, Operation};
use crate::graceful;
use crate::allocator::AllocatorConfig;
use crate::store::{EventKind, KeyValue, ListResult, Revision, Store, StoreError, WatchEvent};
use api::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{kind} \"{name}\" not found")]
    NotFound { kind: String, name: String },
    #[error("{kind} \"{name}\" already exists")]
    AlreadyExists { kind: String, name: String },
    #[error("Operation cannot be fulfilled on {kind} \"{name}\": {reason}")]
    Conflict { kind: String, name: String, reason: String },
    #[error("{kind} \"{name}\" is invalid: {}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "))]
    Invalid { kind: String, name: String, errors: Vec<FieldError> },
    #[error("{0}")]
    BadRequest(String),
    /// 403: the operation is refused by policy (e.g. deleting `default`).
    #[error("{kind} \"{name}\" is forbidden: {reason}")]
    Forbidden { kind: String, name: String, reason: String },
    #[error("too old resource version: {requested} ({compacted})")]
    Expired { requested: Revision, compacted: Revision },
    #[error("stored object is unreadable")]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Compacted { requested, compacted } => RegistryError::Expired { requested, compacted },
            other => RegistryError::Store(other),
        }
    }
}

impl From<AdmissionError> for RegistryError {
    fn from(e: AdmissionError) -> Self {
        match e {
            AdmissionError::Invalid { kind, name, errors } => RegistryError::Invalid { kind, name, errors },
            AdmissionError::Forbidden { resource, name, reason } => RegistryError::Forbidden { kind: resource, name, reason },
            AdmissionError::Missing { resource, name } => RegistryError::NotFound { kind: resource, name },
            AdmissionError::Store(e) => e.into(),
            AdmissionError::Codec(e) => RegistryError::Codec(e),
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Which part of an object an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateScope {
    /// Metadata and spec; the stored status is kept (for kinds with a status subresource).
    Main,
    /// Only the status; everything else is kept as stored.
    Status,
}

/// A change to one object, as a watcher sees it; `resourceVersion` is set on the object.
/// The object is shared: every watcher of one store change gets the same decoded value.
#[derive(Debug)]
pub enum ObjectEvent<T> {
    Added(Arc<T>),
    Modified(Arc<T>),
    /// The object as it was last stored, with `resourceVersion` = the revision of the delete.
    Deleted(Arc<T>),
}

impl<T> Clone for ObjectEvent<T> {
    fn clone(&self) -> Self {
        match self {
            ObjectEvent::Added(o) => ObjectEvent::Added(o.clone()),
            ObjectEvent::Modified(o) => ObjectEvent::Modified(o.clone()),
            ObjectEvent::Deleted(o) => ObjectEvent::Deleted(o.clone()),
        }
    }
}

impl<T: Resource> ObjectEvent<T> {
    pub fn object(&self) -> &T {
        self.shared()
    }
    /// The object, shared with every other reader of the same change.
    pub fn shared(&self) -> &Arc<T> {
        match self {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) | ObjectEvent::Deleted(o) => o,
        }
    }
    pub fn type_name(&self) -> &'static str {
        match self {
            ObjectEvent::Added(_) => "ADDED",
            ObjectEvent::Modified(_) => "MODIFIED",
            ObjectEvent::Deleted(_) => "DELETED",
        }
    }
    pub fn revision(&self) -> Revision {
        self.object().meta().resource_version.parse().unwrap_or(0)
    }
}

/// A typed watch: events in store order. Each item also carries the previous state of the
/// object for updates (so a filtered watch can tell "stopped matching" from "changed").
pub type ObjectStream<T> = Pin<Box<dyn Stream<Item = Result<(ObjectEvent<T>, Option<Arc<T>>)>> + Send>>;

/// What a delete did.
#[derive(Debug, Clone)]
pub enum Deleted<T> {
    /// The object is gone; this is its last state.
    Gone(T),
    /// Finalizers hold the object; it now carries a deletionTimestamp.
    Pending(T),
}

/// Conditions a delete must meet (Kubernetes' `preconditions`).
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl Preconditions {
    /// 409 Conflict, worded as Kubernetes words it, when the object is not the one meant.
    fn check(&self, info: &KindInfo, name: &str, meta: &api::model::ObjectMeta) -> Result<()> {
        let failed = |reason: String| RegistryError::Conflict { kind: display_name(info), name: name.to_string(), reason };
        if let Some(uid) = self.uid.as_ref().filter(|u| **u != meta.uid) {
            return Err(failed(format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", meta.uid)));
        }
        if let Some(rv) = self.resource_version.as_ref().filter(|rv| **rv != meta.resource_version) {
            return Err(failed(format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta.resource_version
            )));
        }
        Ok(())
    }
}

/// What one delete asks for (Kubernetes' `DeleteOptions`, as the registry reads them).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub preconditions: Preconditions,
    pub propagation: Propagation,
    /// `gracePeriodSeconds`: None for the kind's default; 0 deletes at once (a force
    /// delete); kinds without graceful deletion ignore it.
    pub grace_period_seconds: Option<i64>,
    /// `dryRun=All`: every check runs, nothing is written.
    pub dry_run: bool,
}

/// Puts a graceful delete's deadline on `meta` (a first stamp also bumps the generation,
/// as upstream); returns whether anything changed.
fn stamp_grace(meta: &mut api::model::ObjectMeta, grace: graceful::Grace) -> bool {
    let graceful::Grace::Stamp { deletion_timestamp, seconds } = grace else {
        return false;
    };
    if !meta.is_deleting() && meta.generation > 0 {
        meta.generation += 1;
    }
    meta.deletion_timestamp = Some(deletion_timestamp);
    meta.deletion_grace_period_seconds = Some(seconds);
    true
}

/// The finalizer that makes the garbage collector orphan an owner's dependents.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer that makes the garbage collector delete an owner's dependents first.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// What happens to an object's dependents when it is deleted (Kubernetes'
/// `propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagation {
    /// The object goes now; the garbage collector deletes its dependents afterwards.
    #[default]
    Background,
    /// The object stays (with a deletionTimestamp) until the garbage collector has
    /// deleted its dependents.
    Foreground,
    /// The object stays until the garbage collector has removed it from its dependents'
    /// ownerReferences; the dependents live on.
    Orphan,
}

impl Propagation {
    /// Parses the API value (`Background`, `Foreground`, `Orphan`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            "Orphan" => Some(Propagation::Orphan),
            _ => None,
        }
    }

    /// The finalizer this policy puts on the deleted object, if any.
    pub fn finalizer(self) -> Option<&'static str> {
        match self {
            Propagation::Background => None,
            Propagation::Foreground => Some(FOREGROUND_FINALIZER),
            Propagation::Orphan => Some(ORPHAN_FINALIZER),
        }
    }
}

/// Puts the finalizers `propagation` asks for on `meta` (and drops the other policy's);
/// returns whether anything changed. Background leaves the finalizers alone.
fn apply_propagation(meta: &mut api::model::ObjectMeta, propagation: Propagation) -> bool {
    let Some(wanted) = propagation.finalizer() else {
        return false;
    };
    let before = meta.finalizers.len();
    meta.finalizers.retain(|f| !((f == ORPHAN_FINALIZER || f == FOREGROUND_FINALIZER) && f != wanted));
    let mut changed = meta.finalizers.len() != before;
    if !meta.finalizers.iter().any(|f| f == wanted) {
        meta.finalizers.push(wanted.to_string());
        changed = true;
    }
    changed
}

#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    /// What the standard admission chain is built from.
    config: Arc<admission::Config>,
    admission: Arc<Chain>,
    /// The last decoded version of each key that a watch has seen (see `typed_event`).
    recent: Arc<Recent>,
}

pub use api::time::now_rfc3339;

fn display_name(info: &KindInfo) -> String {
    // Kubernetes names the resource in messages: `deployments.apps`, `pods`.
    admission::resource_name(info)
}

fn not_found(info: &KindInfo, name: &str) -> RegistryError {
    RegistryError::NotFound { kind: display_name(info), name: name.to_string() }
}

fn conflict(info: &KindInfo, name: &str) -> RegistryError {
    RegistryError::Conflict {
        kind: display_name(info),
        name: name.to_string(),
        reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
    }
}

/// Decodes a stored value and stamps it with its revision.
pub fn decode_object<T: Resource>(kv: &KeyValue) -> Result<T> {
    let mut obj: T = codec::decode(&kv.value)?;
    obj.set_type_meta();
    obj.meta_mut().resource_version = kv.mod_revision.to_string();
    Ok(obj)
}

fn encode_object<T: Resource>(obj: &T) -> Result<Vec<u8>> {
    // resourceVersion is the store's revision, never stored inside the value.
    let mut copy = obj.clone();
    copy.meta_mut().resource_version.clear();
    Ok(codec::encode(&copy)?)
}

fn to_value<T: Resource>(obj: &T) -> Result<Value> {
    serde_json::to_value(obj).map_err(|e| RegistryError::BadRequest(format!("cannot serialize object: {e}")))
}

fn from_value<T: Resource>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| RegistryError::BadRequest(format!("cannot rebuild object: {e}")))
}

/// The part of an object whose change bumps `metadata.generation`: everything but
/// metadata and status.
fn desired_part(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn check_invalid<T: Resource>(obj: &T) -> Result<()> {
    refuse_invalid(obj, obj.validate())
}

/// An update is checked against the stored object too (immutable fields).
fn check_invalid_update<T: Resource>(new: &T, old: &T) -> Result<()> {
    refuse_invalid(new, new.validate_update(old))
}

fn refuse_invalid<T: Resource>(obj: &T, errors: Vec<api::field::FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid { kind: T::INFO.kind.to_string(), name: obj.meta().name.clone(), errors })
    }
}

impl Registry {
    /// A registry with the standard admission chain ([`Chain::standard`]) and its defaults.
    pub fn new(store: Arc<dyn Store>) -> Self {
        let config = admission::Config::default();
        Registry { store, admission: Arc::new(Chain::standard(&config)), config: Arc::new(config), recent: Arc::default() }
    }

    /// The same registry with the standard chain built from `config`.
    pub fn with_config(mut self, config: admission::Config) -> Self {
        self.admission = Arc::new(Chain::standard(&config));
        self.config = Arc::new(config);
        self
    }

    /// The same registry with another Service IP / NodePort configuration (and the
    /// standard chain, rebuilt from it).
    pub fn with_allocator(self, cfg: AllocatorConfig) -> Self {
        let config = admission::Config { allocator: cfg, ..(*self.config).clone() };
        self.with_config(config)
    }

    /// The same registry, its namespace lifecycle reading namespaces from `mirror` (the
    /// standard chain, rebuilt).
    pub fn with_namespace_mirror(self, mirror: Arc<dyn admission::NamespaceMirror>) -> Self {
        let config = admission::Config { namespaces: Some(mirror), ..(*self.config).clone() };
        self.with_config(config)
    }

    pub fn allocator(&self) -> &AllocatorConfig {
        &self.config.allocator
    }

    fn cx(&self, dry_run: bool) -> admission::Context<'_> {
        admission::Context { store: self.store.as_ref(), dry_run }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    fn namespace_of<'a, T: Resource>(ns: Option<&'a str>) -> Option<&'a str> {
        if T::INFO.namespaced {
            ns
        } else {
            None
        }
    }

    pub async fn get<T: Resource>(&self, ns: Option<&str>, name: &str) -> Result<T> {
        let key = T::INFO.key(Self::namespace_of::<T>(ns), name);
        match self.store.get(&key).await? {
            Some(kv) => decode_object(&kv),
            None => Err(not_found(T::INFO, name)),
        }
    }

    /// Every object of the kind in `ns` (all namespaces when None), and the list revision.
    pub async fn list<T: Resource>(&self, ns: Option<&str>) -> Result<(Vec<T>, Revision)> {
        let prefix = T::INFO.namespace_prefix(Self::namespace_of::<T>(ns));
        let res = self.store.list(&prefix).await?;
        let mut out = Vec::with_capacity(res.kvs.len());
        for kv in &res.kvs {
            out.push(decode_object(kv)?);
        }
        Ok((out, res.revision))
    }

    /// The stored values of the kind in `ns` (all namespaces when None), undecoded, in key
    /// order, and the list revision: for readers that keep encodings of their own per
    /// revision (the gateway's encoded cache) and decode only what they lack.
    pub async fn list_raw<T: Resource>(&self, ns: Option<&str>) -> Result<ListResult> {
        let prefix = T::INFO.namespace_prefix(Self::namespace_of::<T>(ns));
        Ok(self.store.list(&prefix).await?)
    }

    /// The object a stored value holds, shared with every other reader of the same
    /// revision (an informer's cache, a watch) while one holds it; decoded otherwise.
    pub fn shared_object<T: Resource>(&self, kv: &KeyValue) -> Result<Arc<T>> {
        if let Some(shared) = self.recent.get::<T>(&kv.key, kv.mod_revision) {
            return Ok(shared);
        }
        let obj = Arc::new(decode_object::<T>(kv)?);
        self.recent.put(&kv.key, kv.mod_revision, &obj);
        Ok(obj)
    }

    /// Creates `obj`: validates it, fills server-set metadata and stores it if absent.
    pub async fn create<T: Resource>(&self, obj: T) -> Result<T> {
        self.create_with(obj, false).await
    }

    /// [`Registry::create`], or with `dry_run` everything it does (defaults, server-set
    /// metadata, admission, validation, the already-exists check) but the write: what
    /// would be stored, with no resourceVersion.
    pub async fn create_with<T: Resource>(&self, obj: T, dry_run: bool) -> Result<T> {
        // A generated name can collide (5 random characters); draw again, as clients would.
        let generated = obj.meta().name.is_empty() && obj.meta().generate_name.is_some();
        let mut attempts = 0;
        loop {
            match self.create_once(obj.clone(), dry_run).await {
                Err(RegistryError::AlreadyExists { .. }) if generated && attempts < 8 => attempts += 1,
                other => return other,
            }
        }
    }

    async fn create_once<T: Resource>(&self, mut obj: T, dry_run: bool) -> Result<T> {
        let cx = self.cx(dry_run);
        fill_create_metadata(&mut obj);
        self.admission.admit_create(cx, &mut obj).await?;
        check_invalid(&obj)?;
        // e.g. Service ClusterIP / NodePort keys, taken before the object is written.
        let reserved = self.admission.reserve(cx, None, &mut obj).await?;
        let key = T::INFO.key(obj.meta().namespace.as_deref(), &obj.meta().name);
        let name = obj.meta().name.clone();
        let exists = || RegistryError::AlreadyExists { kind: display_name(T::INFO), name: name.clone() };
        if dry_run {
            reserved.settle(cx.store, false).await;
            return match self.store.get(&key).await? {
                Some(_) => Err(exists()),
                None => Ok(obj),
            };
        }
        let res = self.store.create(&key, encode_object(&obj)?, None).await;
        reserved.settle(cx.store, res.is_ok()).await;
        match res {
            Ok(rev) => {
                obj.meta_mut().resource_version = rev.to_string();
                self.admission.committed(cx, Operation::Create, &obj).await;
                Ok(obj)
            }
            Err(StoreError::AlreadyExists { .. }) => Err(exists()),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces an object. A non-empty `resourceVersion` must match the stored one (else
    /// 409 Conflict); an empty one means "whatever is stored now" (retried on races).
    pub async fn update<T: Resource>(&self, obj: T, scope: UpdateScope) -> Result<T> {
        self.update_with(obj, scope, false).await
    }

    /// [`Registry::update`], or with `dry_run` everything it does (the resourceVersion
    /// check, the spec/status split, generation, admission, validation) but the write:
    /// what would be stored, carrying the current resourceVersion.
    ///
    /// Admission sees changes of metadata and spec (`UpdateScope::Main`); a status write
    /// keeps the stored spec, so no plugin has anything to say about it.
    pub async fn update_with<T: Resource>(&self, obj: T, scope: UpdateScope, dry_run: bool) -> Result<T> {
        let cx = self.cx(dry_run);
        let mut obj = obj;
        if scope == UpdateScope::Main {
            obj.apply_defaults();
        }
        let ns = Self::namespace_of::<T>(obj.meta().namespace.as_deref()).map(str::to_string);
        let name = obj.meta().name.clone();
        let key = T::INFO.key(ns.as_deref(), &name);
        let wanted_rv = obj.meta().resource_version.clone();
        let expected: Option<Revision> = if wanted_rv.is_empty() {
            None
        } else {
            Some(wanted_rv.parse().map_err(|_| {
                RegistryError::BadRequest(format!("metadata.resourceVersion: Invalid value: {wanted_rv:?}: must be an integer"))
            })?)
        };
        loop {
            let Some(kv) = self.store.get(&key).await? else {
                return Err(not_found(T::INFO, &name));
            };
            if let Some(exp) = expected {
                if exp != kv.mod_revision {
                    return Err(conflict(T::INFO, &name));
                }
            }
            let old: T = decode_object(&kv)?;
            let mut new = merge_update(&old, obj.clone(), scope)?;
            let mut reserved = admission::Reservations::default();
            if scope == UpdateScope::Main {
                self.admission.admit_update(cx, &old, &mut new).await?;
                check_invalid_update(&new, &old)?;
                reserved = self.admission.reserve(cx, Some(&old as &dyn admission::Object), &mut new).await?;
            }
            let rev = kv.mod_revision;
            // The last finalizer removed from an object being deleted: the delete completes
            // (unless a grace period is still running: the delete that ends it removes it).
            if new.meta().is_deleting() && !self.admission.holds(&new) && graceful::grace_spent(new.meta()) {
                if dry_run {
                    reserved.settle(cx.store, false).await;
                    new.meta_mut().resource_version = rev.to_string();
                    return Ok(new);
                }
                let res = self.store.delete(&key, Some(rev)).await;
                reserved.settle(cx.store, false).await;
                if res.is_ok() {
                    self.admission.deleted(cx, &old).await;
                }
                return match res {
                    Ok(_) => Ok(new),
                    Err(StoreError::Conflict { .. }) if expected.is_none() => continue,
                    Err(StoreError::Conflict { .. }) => Err(conflict(T::INFO, &name)),
                    Err(StoreError::NotFound { .. }) => Err(not_found(T::INFO, &name)),
                    Err(e) => Err(e.into()),
                };
            }
            // A write that changes nothing (managedFields timestamps aside) is not made: the
            // object keeps its resourceVersion and no watcher hears of it, as in Kubernetes.
            if same_apart_from_timestamps(&old, &new)? {
                reserved.settle(cx.store, false).await;
                return Ok(old);
            }
            if dry_run {
                reserved.settle(cx.store, false).await;
                new.meta_mut().resource_version = rev.to_string();
                return Ok(new);
            }
            let bytes = encode_object(&new)?;
            let res = self.store.update(&key, bytes, rev).await;
            reserved.settle(cx.store, res.is_ok()).await;
            match res {
                Ok(new_rev) => {
                    new.meta_mut().resource_version = new_rev.to_string();
                    self.admission.committed(cx, Operation::Update, &new).await;
                    return Ok(new);
                }
                Err(StoreError::Conflict { .. }) if expected.is_none() => continue,
                Err(StoreError::Conflict { .. }) => return Err(conflict(T::INFO, &name)),
                Err(StoreError::NotFound { .. }) => return Err(not_found(T::INFO, &name)),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads, changes and writes back one object, retrying on conflicts: the safe
    /// read-modify-write for controllers. `change` returns false to skip the write.
    pub async fn modify<T: Resource>(
        &self,
        ns: Option<&str>,
        name: &str,
        scope: UpdateScope,
        mut change: impl FnMut(&mut T) -> bool,
    ) -> Result<T> {
        loop {
            let mut obj: T = self.get(ns, name).await?;
            if !change(&mut obj) {
                return Ok(obj);
            }
            match self.update(obj, scope).await {
                Err(RegistryError::Conflict { .. }) => continue,
                other => return other,
            }
        }
    }

    /// Deletes an object with Background propagation and the kind's default grace: at once
    /// when it has no finalizers and no grace period (see `crate::graceful`), otherwise by
    /// stamping a deletionTimestamp and leaving the rest to whoever owns the finalizers or
    /// runs the object (a pod's node).
    pub async fn delete<T: Resource>(&self, ns: Option<&str>, name: &str, pre: &Preconditions) -> Result<Deleted<T>> {
        self.delete_with(ns, name, pre, Propagation::Background, false).await
    }

    /// [`Registry::delete_opts`] with the kind's default grace.
    pub async fn delete_with<T: Resource>(
        &self,
        ns: Option<&str>,
        name: &str,
        pre: &Preconditions,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Deleted<T>> {
        let opts = DeleteOptions { preconditions: pre.clone(), propagation, grace_period_seconds: None, dry_run };
        self.delete_opts(ns, name, &opts).await
    }

    /// Deletes an object as `opts` ask. Background removes it now unless finalizers or a
    /// grace period keep it; Foreground and Orphan add their finalizer (`foregroundDeletion`,
    /// `orphan`) and stamp a deletionTimestamp, and the garbage collector finishes the
    /// delete. Kinds with graceful deletion (pods) are kept for their grace with
    /// `deletionTimestamp = now + grace`; a later delete may shorten it (0: now). A repeated
    /// delete of an object already being deleted may switch between Foreground and Orphan,
    /// unless a grace period is running (as upstream). With `dry_run`, every check and
    /// plugin runs (preconditions, protected namespaces, finalizers) and the answer is what
    /// the delete would do, with nothing written.
    pub async fn delete_opts<T: Resource>(&self, ns: Option<&str>, name: &str, opts: &DeleteOptions) -> Result<Deleted<T>> {
        let cx = self.cx(opts.dry_run);
        let key = T::INFO.key(Self::namespace_of::<T>(ns), name);
        loop {
            let Some(kv) = self.store.get(&key).await? else {
                return Err(not_found(T::INFO, name));
            };
            let mut obj: T = decode_object(&kv)?;
            opts.preconditions.check(T::INFO, name, obj.meta())?;
            let grace = graceful::decide(&obj, opts.grace_period_seconds, chrono::Utc::now());
            if grace == graceful::Grace::Pending {
                return Ok(Deleted::Pending(obj));
            }
            let lingers = grace.lingers();
            let mut changed = stamp_grace(obj.meta_mut(), grace);
            changed |= apply_propagation(obj.meta_mut(), opts.propagation);
            // e.g. a namespace goes Terminating and keeps its "kubernetes" finalizer until
            // the namespace controller has emptied it; `default` & co. cannot be deleted.
            changed |= self.admission.admit_delete(cx, &mut obj).await?;
            let outcome = if lingers || self.admission.holds(&obj) {
                self.keep_deleting(cx, &key, kv.mod_revision, obj, changed).await?
            } else {
                self.remove(cx, &key, kv.mod_revision, obj).await?
            };
            match outcome {
                Some(done) => return Ok(done),
                None => continue,
            }
        }
    }

    /// Stores `obj` marked for deletion (a deletionTimestamp, now and grace 0 unless a
    /// grace period stamped it): what finalizers or a grace period keep. Nothing is written
    /// when the object was already being deleted and nothing `changed`. None: the stored
    /// object changed meanwhile (read it again).
    async fn keep_deleting<T: Resource>(
        &self,
        cx: admission::Context<'_>,
        key: &str,
        rev: Revision,
        mut obj: T,
        changed: bool,
    ) -> Result<Option<Deleted<T>>> {
        if obj.meta().is_deleting() && !changed {
            return Ok(Some(Deleted::Pending(obj)));
        }
        if !obj.meta().is_deleting() {
            obj.meta_mut().deletion_timestamp = Some(now_rfc3339());
            obj.meta_mut().deletion_grace_period_seconds = Some(0);
        }
        if cx.dry_run {
            return Ok(Some(Deleted::Pending(obj)));
        }
        let name = obj.meta().name.clone();
        match self.store.update(key, encode_object(&obj)?, rev).await {
            Ok(rev) => {
                obj.meta_mut().resource_version = rev.to_string();
                self.admission.committed(cx, Operation::Delete, &obj).await;
                Ok(Some(Deleted::Pending(obj)))
            }
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(StoreError::NotFound { .. }) => Err(not_found(T::INFO, &name)),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes `obj` from the store (if it is still at `rev`; None: it changed meanwhile).
    async fn remove<T: Resource>(&self, cx: admission::Context<'_>, key: &str, rev: Revision, mut obj: T) -> Result<Option<Deleted<T>>> {
        if cx.dry_run {
            return Ok(Some(Deleted::Gone(obj)));
        }
        match self.store.delete(key, Some(rev)).await {
            Ok((rev, _)) => {
                self.admission.deleted(cx, &obj).await;
                obj.meta_mut().resource_version = rev.to_string();
                Ok(Some(Deleted::Gone(obj)))
            }
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(StoreError::NotFound { .. }) => Err(not_found(T::INFO, &obj.meta().name)),
            Err(e) => Err(e.into()),
        }
    }

    /// Watches the kind (in `ns`, or everywhere) for changes at revisions >= `from`
    /// (0: from now on).
    pub async fn watch<T: Resource>(&self, ns: Option<&str>, from: Revision) -> Result<ObjectStream<T>> {
        let prefix = T::INFO.namespace_prefix(Self::namespace_of::<T>(ns));
        let raw = self.store.watch(&prefix, from).await?;
        let recent = self.recent.clone();
        Ok(Box::pin(raw.map(move |item| -> Result<Typed<T>> {
            let ev = item?;
            typed_event(&recent, &ev)
        })))
    }
}

/// The typed form of one store change.
type Typed<T> = (ObjectEvent<T>, Option<Arc<T>>);

/// Per key, the revision and (weakly) the object a watch last decoded for it. A change's
/// previous state is the object of the key's change before it, which an informer's cache
/// usually still holds: found here, it is shared instead of decoded again.
#[derive(Default)]
struct Recent(Mutex<HashMap<String, (Revision, Weak<dyn Any + Send + Sync>)>>);

impl Recent {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, (Revision, Weak<dyn Any + Send + Sync>)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The object of `key` at exactly `rev`, if some reader still holds it.
    fn get<T: Resource>(&self, key: &str, rev: Revision) -> Option<Arc<T>> {
        let (at, weak) = self.lock().get(key).cloned()?;
        (at == rev).then(|| weak.upgrade()?.downcast::<T>().ok()).flatten()
    }

    /// Remembers `obj` as `key` at `rev`, unless a newer version is remembered (a watch
    /// replaying old history must not hide the live one).
    fn put<T: Resource>(&self, key: &str, rev: Revision, obj: &Arc<T>) {
        let any: Arc<dyn Any + Send + Sync> = obj.clone();
        let mut known = self.lock();
        if known.get(key).is_none_or(|(at, _)| *at < rev) {
            known.insert(key.to_string(), (rev, Arc::downgrade(&any)));
        }
    }

    fn forget(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Decodes a store change once for all its watchers: the event's memo (shared by the
/// clones of the event that reach each watcher) holds what the first reader decoded, for
/// as long as the store's ring of recent changes holds the event; the previous state
/// comes from `recent` when it is still held (usually by that ring or an informer cache),
/// so it shares the allocation of the key's previous change instead of being a copy.
fn typed_event<T: Resource>(recent: &Recent, ev: &WatchEvent) -> Result<Typed<T>> {
    if let Some(typed) = ev.memo.get::<Typed<T>>() {
        return Ok((typed.0.clone(), typed.1.clone()));
    }
    let typed = decode_event::<T>(recent, ev)?;
    ev.memo.set(Arc::new((typed.0.clone(), typed.1.clone())));
    Ok(typed)
}

fn decode_event<T: Resource>(recent: &Recent, ev: &WatchEvent) -> Result<Typed<T>> {
    let key = &ev.kv.key;
    match ev.kind {
        EventKind::Put => {
            let obj = Arc::new(decode_object::<T>(&ev.kv)?);
            let prev = match &ev.prev {
                Some(p) => Some(match recent.get::<T>(key, p.mod_revision) {
                    Some(shared) => shared,
                    None => Arc::new(decode_object::<T>(p)?),
                }),
                None => None,
            };
            recent.put(key, ev.kv.mod_revision, &obj);
            match prev {
                Some(prev) => Ok((ObjectEvent::Modified(obj), Some(prev))),
                None => Ok((ObjectEvent::Added(obj), None)),
            }
        }
        EventKind::Delete => {
            recent.forget(key);
            let Some(p) = &ev.prev else {
                return Err(RegistryError::BadRequest(format!("delete event for {key} carries no previous value")));
            };
            let mut last: T = decode_object(p)?;
            last.meta_mut().resource_version = ev.kv.mod_revision.to_string();
            let last = Arc::new(last);
            Ok((ObjectEvent::Deleted(last.clone()), Some(last)))
        }
    }
}

/// Whether two versions of an object differ only in managedFields timestamps.
fn same_apart_from_timestamps<T: Resource>(a: &T, b: &T) -> Result<bool> {
    fn stripped<T: Resource>(o: &T) -> T {
        let mut c = o.clone();
        c.meta_mut().resource_version.clear();
        for e in &mut c.meta_mut().managed_fields {
            e.time = None;
        }
        c
    }
    Ok(codec::encode(&stripped(a))? == codec::encode(&stripped(b))?)
}

/// Builds the object to store from the stored one and the one a client sent.
fn merge_update<T: Resource>(old: &T, mut new: T, scope: UpdateScope) -> Result<T> {
    new.set_type_meta();
    match scope {
        UpdateScope::Status => {
            let mut merged = to_value(old)?;
            let incoming = to_value(&new)?;
            match incoming.get("status") {
                Some(s) => merged["status"] = s.clone(),
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            let mut out: T = from_value(merged)?;
            out.meta_mut().resource_version = old.meta().resource_version.clone();
            Ok(out)
        }
        UpdateScope::Main => {
            {
                let (o, n) = (old.meta(), new.meta_mut());
                n.uid = o.uid.clone();
                n.creation_timestamp = o.creation_timestamp.clone();
                n.namespace = o.namespace.clone();
                n.generation = o.generation;
                n.deletion_timestamp = o.deletion_timestamp.clone();
                n.deletion_grace_period_seconds = o.deletion_grace_period_seconds;
                if n.generate_name.is_none() {
                    n.generate_name = o.generate_name.clone();
                }
            }
            let old_v = to_value(old)?;
            let mut new_v = to_value(&new)?;
            if T::INFO.has_status {
                match old_v.get("status") {
                    Some(s) => new_v["status"] = s.clone(),
                    None => {
                        if let Some(m) = new_v.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            let bump = desired_part(&old_v) != desired_part(&new_v);
            let mut out: T = from_value(new_v)?;
            if bump {
                out.meta_mut().generation = old.meta().generation + 1;
            }
            Ok(out)
        }
    }
}

/// Defaults and server-set metadata of a new object.
fn fill_create_metadata<T: Resource>(obj: &mut T) {
    obj.set_type_meta();
    obj.apply_defaults();
    let meta = obj.meta_mut();
    if meta.name.is_empty() {
        if let Some(prefix) = meta.generate_name.clone() {
            meta.name = format!("{prefix}{}", random_suffix());
        }
    }
    if !T::INFO.namespaced {
        meta.namespace = None;
    } else if meta.namespace.as_deref().unwrap_or("").is_empty() {
        meta.namespace = Some("default".into());
    }
    meta.uid = uuid::Uuid::new_v4().to_string();
    meta.creation_timestamp = Some(now_rfc3339());
    meta.generation = 1;
    meta.resource_version.clear();
    meta.deletion_timestamp = None;
    meta.deletion_grace_period_seconds = None;
}

fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}


#[cfg(test)]
mod propagation_tests {
    use super::*;
    use api::model::Pod;

    fn pod(name: &str, finalizers: &[&str]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "finalizers": finalizers},
            "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}
        }))
        .expect("pod")
    }

    async fn registry() -> (Registry, tempfile::TempDir) {
        crate::admission::testing::registry(Default::default()).await
    }

    fn ea_object(e: &ObjectEvent<Pod>) -> &Arc<Pod> {
        match e {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) | ObjectEvent::Deleted(o) => o,
        }
    }

    #[tokio::test]
    async fn watchers_of_one_change_share_one_decoded_object() {
        let (r, _dir) = registry().await;
        let mut a = r.watch::<Pod>(None, 0).await.expect("watch a");
        let mut b = r.watch::<Pod>(Some("default"), 0).await.expect("watch b");
        r.create(pod("shared", &[])).await.expect("create");
        let (ea, _) = a.next().await.expect("event").expect("ok");
        let (eb, _) = b.next().await.expect("event").expect("ok");
        // While one watcher holds the object, the other gets the same allocation.
        assert!(Arc::ptr_eq(
            match &ea { ObjectEvent::Added(o) => o, other => panic!("{other:?}") },
            match &eb { ObjectEvent::Added(o) => o, other => panic!("{other:?}") },
        ));
        assert_eq!(ea.object().metadata.name, "shared");
        // The next change's previous state is that same object, not a second decode of it.
        r.modify::<Pod>(Some("default"), "shared", UpdateScope::Main, |p| {
            p.metadata.labels.insert("v".into(), "2".into());
            true
        })
        .await
        .expect("update");
        let (em, prev) = a.next().await.expect("event").expect("ok");
        assert!(matches!(em, ObjectEvent::Modified(_)), "{em:?}");
        assert!(Arc::ptr_eq(prev.as_ref().expect("prev"), ea_object(&ea)));
        let _ = b.next().await;
        // A watch that replays the log reads its own copy of the change.
        drop((ea, eb));
        let mut c = r.watch::<Pod>(None, 1).await.expect("watch c");
        let (ec, _) = c.next().await.expect("event").expect("ok");
        assert_eq!(ec.object().metadata.name, "shared");
    }

    #[tokio::test]
    async fn background_without_finalizers_deletes_at_once() {
        let (r, _dir) = registry().await;
        r.create(pod("a", &[])).await.expect("create");
        let out = r.delete_with::<Pod>(Some("default"), "a", &Preconditions::default(), Propagation::Background, false).await;
        assert!(matches!(out, Ok(Deleted::Gone(_))), "{out:?}");
    }

    #[tokio::test]
    async fn orphan_and_foreground_add_their_finalizer_and_a_deletion_timestamp() {
        let (r, _dir) = registry().await;
        for (name, policy, fin) in [("o", Propagation::Orphan, ORPHAN_FINALIZER), ("f", Propagation::Foreground, FOREGROUND_FINALIZER)] {
            r.create(pod(name, &[])).await.expect("create");
            let Ok(Deleted::Pending(obj)) = r.delete_with::<Pod>(Some("default"), name, &Preconditions::default(), policy, false).await
            else {
                panic!("{name}: expected a pending delete");
            };
            assert_eq!(obj.metadata.finalizers, vec![fin.to_string()]);
            assert!(obj.metadata.is_deleting());
            let stored: Pod = r.get(Some("default"), name).await.expect("still there");
            assert_eq!(stored.metadata.finalizers, vec![fin.to_string()]);
            // Removing the finalizer completes the delete.
            r.modify::<Pod>(Some("default"), name, UpdateScope::Main, |p| {
                p.metadata.finalizers.clear();
                true
            })
            .await
            .expect("remove finalizer");
            assert!(matches!(r.get::<Pod>(Some("default"), name).await, Err(RegistryError::NotFound { .. })));
        }
    }

    #[tokio::test]
    async fn a_second_delete_can_switch_foreground_to_orphan_and_background_changes_nothing() {
        let (r, _dir) = registry().await;
        r.create(pod("s", &["example.com/hold"])).await.expect("create");
        let pre = Preconditions::default();
        r.delete_with::<Pod>(Some("default"), "s", &pre, Propagation::Foreground, false).await.expect("delete");
        let Ok(Deleted::Pending(obj)) = r.delete_with::<Pod>(Some("default"), "s", &pre, Propagation::Orphan, false).await else {
            panic!("expected a pending delete");
        };
        assert_eq!(obj.metadata.finalizers, vec!["example.com/hold".to_string(), ORPHAN_FINALIZER.to_string()]);
        let Ok(Deleted::Pending(again)) = r.delete_with::<Pod>(Some("default"), "s", &pre, Propagation::Background, false).await
        else {
            panic!("expected a pending delete");
        };
        assert_eq!(again.metadata.finalizers, obj.metadata.finalizers);
        assert_eq!(again.metadata.resource_version, obj.metadata.resource_version, "no write");
    }

    #[tokio::test]
    async fn preconditions_still_apply_to_orphan_deletes() {
        let (r, _dir) = registry().await;
        r.create(pod("p", &[])).await.expect("create");
        let pre = Preconditions { uid: Some("not-the-uid".into()), resource_version: None };
        let out = r.delete_with::<Pod>(Some("default"), "p", &pre, Propagation::Orphan, false).await;
        assert!(matches!(out, Err(RegistryError::Conflict { .. })), "{out:?}");
        let stored: Pod = r.get(Some("default"), "p").await.expect("untouched");
        assert!(stored.metadata.finalizers.is_empty() && !stored.metadata.is_deleting());
    }
}

#[cfg(test)]
mod graceful_tests {
    use super::*;
    use api::model::Pod;

    fn bound_pod(name: &str, finalizers: &[&str]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "finalizers": finalizers},
            "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 20, "containers": [{"name": "c", "image": "hello:v1"}]}
        }))
        .expect("pod")
    }

    async fn registry() -> (Registry, tempfile::TempDir) {
        crate::admission::testing::registry(Default::default()).await
    }

    fn opts(grace: Option<i64>) -> DeleteOptions {
        DeleteOptions { grace_period_seconds: grace, ..Default::default() }
    }

    async fn stored(r: &Registry, name: &str) -> Option<Pod> {
        r.get::<Pod>(Some("default"), name).await.ok()
    }

    #[tokio::test]
    async fn a_bound_pod_is_kept_for_its_grace_and_goes_with_grace_zero() {
        let (r, _dir) = registry().await;
        r.create(bound_pod("p", &[])).await.expect("create");
        let Ok(Deleted::Pending(p)) = r.delete_opts::<Pod>(Some("default"), "p", &opts(None)).await else {
            panic!("expected a pending delete");
        };
        assert_eq!(p.metadata.deletion_grace_period_seconds, Some(20));
        let deadline = graceful::grace_deadline(&p.metadata).expect("a deletionTimestamp");
        let left = deadline - chrono::Utc::now();
        assert!(left > chrono::Duration::seconds(18) && left <= chrono::Duration::seconds(20), "{left:?}");
        assert_eq!(p.metadata.generation, 2, "a graceful delete bumps the generation");
        // Status writes of a terminating pod do not end it.
        r.modify::<Pod>(Some("default"), "p", UpdateScope::Main, |p| {
            p.metadata.labels.insert("k".into(), "v".into());
            true
        })
        .await
        .expect("update");
        assert!(stored(&r, "p").await.is_some_and(|p| p.metadata.is_deleting()));
        // A repeated delete changes nothing; a longer grace neither.
        let Ok(Deleted::Pending(again)) = r.delete_opts::<Pod>(Some("default"), "p", &opts(Some(60))).await else {
            panic!("expected a pending delete");
        };
        assert_eq!(again.metadata.deletion_timestamp, stored(&r, "p").await.and_then(|p| p.metadata.deletion_timestamp));
        assert_eq!(again.metadata.deletion_grace_period_seconds, Some(20));
        // A shorter one moves the deadline back.
        let Ok(Deleted::Pending(shorter)) = r.delete_opts::<Pod>(Some("default"), "p", &opts(Some(5))).await else {
            panic!("expected a pending delete");
        };
        assert_eq!(shorter.metadata.deletion_grace_period_seconds, Some(5));
        let moved = graceful::grace_deadline(&shorter.metadata).expect("deadline");
        assert_eq!(deadline - moved, chrono::Duration::seconds(15));
        let out = r.delete_opts::<Pod>(Some("default"), "p", &opts(Some(0))).await;
        assert!(matches!(out, Ok(Deleted::Gone(_))), "{out:?}");
        assert!(stored(&r, "p").await.is_none());
    }

    #[tokio::test]
    async fn unbound_pods_and_force_deletes_go_at_once() {
        let (r, _dir) = registry().await;
        let mut unbound = bound_pod("u", &[]);
        unbound.spec.node_name = None;
        r.create(unbound).await.expect("create");
        let out = r.delete_opts::<Pod>(Some("default"), "u", &opts(Some(30))).await;
        assert!(matches!(out, Ok(Deleted::Gone(_))), "{out:?}");
        r.create(bound_pod("f", &[])).await.expect("create");
        let out = r.delete_opts::<Pod>(Some("default"), "f", &opts(Some(0))).await;
        assert!(matches!(out, Ok(Deleted::Gone(_))), "{out:?}");
    }

    #[tokio::test]
    async fn a_dry_run_graceful_delete_writes_nothing() {
        let (r, _dir) = registry().await;
        r.create(bound_pod("d", &[])).await.expect("create");
        let dry = DeleteOptions { dry_run: true, ..Default::default() };
        let Ok(Deleted::Pending(p)) = r.delete_opts::<Pod>(Some("default"), "d", &dry).await else {
            panic!("expected a pending delete");
        };
        assert!(p.metadata.is_deleting());
        assert!(stored(&r, "d").await.is_some_and(|p| !p.metadata.is_deleting()));
    }

    #[tokio::test]
    async fn finalizers_still_hold_a_force_deleted_pod() {
        let (r, _dir) = registry().await;
        r.create(bound_pod("h", &["example.com/hold"])).await.expect("create");
        assert!(matches!(r.delete_opts::<Pod>(Some("default"), "h", &opts(None)).await, Ok(Deleted::Pending(_))));
        // The finalizer goes while the grace runs: the pod stays for the node.
        r.modify::<Pod>(Some("default"), "h", UpdateScope::Main, |p| {
            p.metadata.finalizers.clear();
            true
        })
        .await
        .expect("remove finalizer");
        assert!(stored(&r, "h").await.is_some());
        r.modify::<Pod>(Some("default"), "h", UpdateScope::Main, |p| {
            p.metadata.finalizers = vec!["example.com/hold".into()];
            true
        })
        .await
        .expect("add finalizer back");
        let Ok(Deleted::Pending(p)) = r.delete_opts::<Pod>(Some("default"), "h", &opts(Some(0))).await else {
            panic!("finalizers hold a force delete");
        };
        assert_eq!(p.metadata.deletion_grace_period_seconds, Some(0));
        r.modify::<Pod>(Some("default"), "h", UpdateScope::Main, |p| {
            p.metadata.finalizers.clear();
            true
        })
        .await
        .expect("remove finalizer");
        assert!(stored(&r, "h").await.is_none(), "grace spent and no finalizer: gone");
    }
}
