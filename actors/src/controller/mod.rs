//! What a controller is in shoal: a level-triggered `reconcile(object, cx) -> Action`,
//! run by one supervised actor per object (see `crate::runtime`).
//!
//! Controllers read from the shared informer caches in `Cx::caches` and write through
//! `Cx`'s write methods, which remember the revisions written so that the next reconcile
//! of the same object first waits until the caches show those writes (no double creates).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::informer::{self, Cache};
use api::model::{Deployment, LabelSelector, Lease, Namespace, Node, Pod, ReplicaSet, ReplicationController, Resource};
use crate::registry::{Deleted, Preconditions, Registry, RegistryError, UpdateScope};
use crate::store::Revision;

/// What the runtime should do after a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Action {
    /// Reconcile again after this long even if nothing changes (e.g. a deadline).
    pub requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing to do until the object or one of its children changes.
    pub fn await_change() -> Self {
        Action { requeue_after: None }
    }
    pub fn requeue(after: Duration) -> Self {
        Action { requeue_after: Some(after) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Other(String),
}

/// Tunables of the control plane.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Restart budget of every supervisor: at most `restart_limit` restarts in `restart_window`.
    pub restart_limit: u32,
    pub restart_window: Duration,
    /// A node whose lease is older than this becomes NotReady.
    pub node_grace: Duration,
    /// Pods on a NotReady node are evicted after this (unless their tolerationSeconds say otherwise).
    pub eviction_timeout: Duration,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            restart_limit: 5,
            restart_window: Duration::from_secs(10),
            node_grace: Duration::from_secs(40),
            eviction_timeout: Duration::from_secs(300),
        }
    }
}

/// The shared informer caches every controller reads.
#[derive(Clone)]
pub struct Caches {
    pub pods: Cache<Pod>,
    pub replicasets: Cache<ReplicaSet>,
    pub replicationcontrollers: Cache<ReplicationController>,
    pub deployments: Cache<Deployment>,
    pub nodes: Cache<Node>,
    pub leases: Cache<Lease>,
    pub namespaces: Cache<Namespace>,
}

impl Caches {
    /// Starts one informer per kind on the current tokio runtime.
    pub fn start(registry: &Registry) -> Self {
        Caches {
            pods: informer::start(registry.clone()),
            replicasets: informer::start(registry.clone()),
            replicationcontrollers: informer::start(registry.clone()),
            deployments: informer::start(registry.clone()),
            nodes: informer::start(registry.clone()),
            leases: informer::start(registry.clone()),
            namespaces: informer::start(registry.clone()),
        }
    }

    /// Waits until every cache has had its first list.
    pub async fn wait_synced(&self) {
        self.pods.wait_synced().await;
        self.replicasets.wait_synced().await;
        self.replicationcontrollers.wait_synced().await;
        self.deployments.wait_synced().await;
        self.nodes.wait_synced().await;
        self.leases.wait_synced().await;
        self.namespaces.wait_synced().await;
    }

    async fn wait_for(&self, plural: &str, rev: Revision, timeout: Duration) -> bool {
        match plural {
            "pods" => self.pods.wait_for_revision(rev, timeout).await,
            "replicasets" => self.replicasets.wait_for_revision(rev, timeout).await,
            "replicationcontrollers" => self.replicationcontrollers.wait_for_revision(rev, timeout).await,
            "deployments" => self.deployments.wait_for_revision(rev, timeout).await,
            "nodes" => self.nodes.wait_for_revision(rev, timeout).await,
            "leases" => self.leases.wait_for_revision(rev, timeout).await,
            "namespaces" => self.namespaces.wait_for_revision(rev, timeout).await,
            _ => true,
        }
    }
}

/// What every actor of the control plane shares.
pub struct Shared {
    pub registry: Registry,
    pub caches: Caches,
    pub config: ControlConfig,
}

/// One actor's context: the shared parts plus the revisions this actor has written.
pub struct Cx {
    pub shared: Arc<Shared>,
    written: Mutex<HashMap<&'static str, Revision>>,
}

fn rev_of<T: Resource>(obj: &T) -> Revision {
    obj.meta().resource_version.parse().unwrap_or(0)
}

impl Cx {
    pub fn new(shared: Arc<Shared>) -> Self {
        Cx { shared, written: Mutex::new(HashMap::new()) }
    }

    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    pub fn caches(&self) -> &Caches {
        &self.shared.caches
    }

    pub fn config(&self) -> &ControlConfig {
        &self.shared.config
    }

    fn note<T: Resource>(&self, rev: Revision) {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let e = w.entry(T::INFO.plural).or_insert(0);
        *e = (*e).max(rev);
    }

    pub async fn create<T: Resource>(&self, obj: T) -> Result<T, RegistryError> {
        let out = self.shared.registry.create(obj).await?;
        self.note::<T>(rev_of(&out));
        Ok(out)
    }

    pub async fn update<T: Resource>(&self, obj: T, scope: UpdateScope) -> Result<T, RegistryError> {
        let out = self.shared.registry.update(obj, scope).await?;
        self.note::<T>(rev_of(&out));
        Ok(out)
    }

    /// Read-modify-write with retries (see `Registry::modify`).
    pub async fn modify<T: Resource>(
        &self,
        ns: Option<&str>,
        name: &str,
        scope: UpdateScope,
        change: impl FnMut(&mut T) -> bool + Send,
    ) -> Result<T, RegistryError> {
        let out = self.shared.registry.modify(ns, name, scope, change).await?;
        self.note::<T>(rev_of(&out));
        Ok(out)
    }

    /// Deletes; "already gone" counts as success (returns None).
    pub async fn delete<T: Resource>(&self, ns: Option<&str>, name: &str, pre: &Preconditions) -> Result<Option<T>, RegistryError> {
        match self.shared.registry.delete::<T>(ns, name, pre).await {
            Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => {
                self.note::<T>(rev_of(&o));
                Ok(Some(o))
            }
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits (bounded) until the caches show every write this actor made.
    pub async fn catch_up(&self) {
        let pending: Vec<(&'static str, Revision)> = {
            let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
            w.iter().map(|(k, v)| (*k, *v)).collect()
        };
        for (plural, rev) in pending {
            if !self.shared.caches.wait_for(plural, rev, Duration::from_secs(5)).await {
                tracing::warn!(plural, rev, "cache did not catch up with our write within 5 s");
            }
        }
    }
}

/// Which children a controller owns: their changes wake the owner, and orphans whose
/// labels match the owner's selector wake it too (adoption).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Children {
    None,
    Pods,
    ReplicaSets,
}

/// A controller: one reconcile per object, run by a supervised actor.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    type Object: Resource;
    /// The kind of children whose changes wake an object.
    const CHILDREN: Children;
    /// The selector used to adopt orphan children (None: no adoption).
    fn selector(obj: &Self::Object) -> Option<LabelSelector>;
    /// Brings the world one step closer to `obj`'s spec; level-triggered, safe to repeat.
    async fn reconcile(&self, obj: Arc<Self::Object>, cx: &Cx) -> Result<Action, ReconcileError>;
}

/// A control loop that is not tied to one object (the scheduler, node lifecycle, the
/// garbage collector): one supervised actor runs `run_once` whenever a cache it reads
/// changes (coalesced), and again after the returned `Action`'s delay.
#[async_trait]
pub trait Singleton: Send + Sync + 'static {
    /// Name in the supervision tree and in `/debug/actors/{name}/…`.
    const NAME: &'static str;
    /// The shortest time between two passes: changes arriving sooner are coalesced into
    /// the next pass, so a loop that scans every object does not run once per event.
    const MIN_INTERVAL: Duration = Duration::from_millis(20);
    /// One pass over the caches; level-triggered, safe to repeat.
    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError>;
}
