//! What a controller is in shoal: a level-triggered `reconcile(object, cx) -> Action`,
//! run by one supervised actor per object (see the `supervision` crate).
//!
//! Controllers read from the shared informer caches in `Cx::caches` and write through
//! `Cx`'s write methods, which remember the revisions written so that the next reconcile
//! of the same object first waits until the caches show those writes (no double creates).
//!
//! `Shared` is the control plane's `runtime::World`; `Reconciler` and `Singleton` are the
//! runtime's `Reconcile` and `Loop` fixed to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::informer::{self, Cache};
use api::model::{Deployment, LabelSelector, Lease, Namespace, Node, Pod, ReplicaSet, ReplicationController, Resource, ServiceAccount};
use api::model::{PersistentVolume, PersistentVolumeClaim, PodDisruptionBudget, StatefulSet, StorageClass};
use api::model::{ControllerRevision, CronJob, DaemonSet, EndpointSlice, Endpoints, HorizontalPodAutoscaler, Job, Service};
use crate::registry::{DeleteOptions, Deleted, Preconditions, Registry, RegistryError, UpdateScope};
use supervision::{ActorCx, BudgetSpec, HasSource, Loop, Reconcile, Source, World};
use crate::store::Revision;

pub use supervision::Action;

pub mod clock;
pub use clock::{Clock, SystemClock};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Other(String),
}

/// The defaults of the tunables, which the CLI's flags show (one source for both).
pub mod defaults {
    pub const RESTART_LIMIT: u32 = 5;
    pub const RESTART_WINDOW_SECS: u64 = 10;
    pub const NODE_GRACE_SECS: u64 = 40;
    pub const EVICTION_TIMEOUT_SECS: u64 = 300;
    /// The first back-off after a Job's pod fails (upstream's DefaultJobPodFailureBackOff).
    pub const JOB_BACKOFF_BASE_MS: u64 = 10_000;
    /// The longest back-off between a Job's pod failures (MaxJobPodFailureBackOff).
    pub const JOB_BACKOFF_MAX_SECS: u64 = 360;
    /// How often each HPA is synced (upstream's `--horizontal-pod-autoscaler-sync-period`).
    pub const HPA_SYNC_PERIOD_SECS: f64 = 15.0;
    /// The scale-down stabilization window of HPAs that set none
    /// (`--horizontal-pod-autoscaler-downscale-stabilization`).
    pub const HPA_DOWNSCALE_STABILIZATION_SECS: f64 = 300.0;
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
    /// Where the API server listens, for the `kubernetes` Service (None: no such Service).
    pub api_server: Option<std::net::SocketAddr>,
    /// The cluster pod CIDR and the size of each node's share (`--cluster-cidr`,
    /// `--node-cidr-mask-size`).
    pub node_ipam: crate::controllers::nodeipam::NodeIpamConfig,
    /// The UDP port every node's overlay listens on (`--overlay-port`, 8285).
    pub overlay_port: u16,
    /// The cluster DNS domain (`--cluster-domain`, `cluster.local`).
    pub cluster_domain: String,
    /// Back-off after a Job's pod fails: `base` doubling per consecutive failure up to
    /// `max` (`--job-backoff-base-ms`; 10 s and 6 min as upstream).
    pub job_backoff_base: Duration,
    pub job_backoff_max: Duration,
    /// The time controllers read (the real clock unless a test sped it up).
    pub clock: Arc<dyn Clock>,
    /// The HPA controller's tunables (sync period, stabilization, tolerance, CPU
    /// initialization period).
    pub hpa: crate::controllers::hpa::HpaConfig,
    /// The latest resource and custom metrics (fed by the gateway from the nodes'
    /// reports and custom metric posts; read by the HPA controller).
    pub metrics: Arc<crate::metrics::MetricsRegistry>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            restart_limit: defaults::RESTART_LIMIT,
            restart_window: Duration::from_secs(defaults::RESTART_WINDOW_SECS),
            node_grace: Duration::from_secs(defaults::NODE_GRACE_SECS),
            eviction_timeout: Duration::from_secs(defaults::EVICTION_TIMEOUT_SECS),
            api_server: None,
            node_ipam: Default::default(),
            overlay_port: api::network::DEFAULT_OVERLAY_PORT,
            cluster_domain: api::network::DEFAULT_DOMAIN.into(),
            job_backoff_base: Duration::from_millis(defaults::JOB_BACKOFF_BASE_MS),
            job_backoff_max: Duration::from_secs(defaults::JOB_BACKOFF_MAX_SECS),
            clock: Arc::new(SystemClock),
            hpa: Default::default(),
            metrics: crate::metrics::MetricsRegistry::shared(),
        }
    }
}

/// Whether a cache showed a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaughtUp {
    Yes,
    TimedOut,
    /// No cache follows this kind, so there is nothing to wait for.
    NotCached,
}

/// One item per change of `cache` (what wakes a singleton that reads it).
pub fn changes_of<T: Resource>(cache: &Cache<T>) -> BoxStream<'static, ()> {
    BroadcastStream::new(cache.subscribe()).map(|_| ()).boxed()
}

/// Changes of `cache`, passed on only while `gate` holds objects: a loop that reads pods
/// only on behalf of budgets or claims is not woken by 10,000 pods while there are none
/// (the gate kind's own changes wake it when the first one appears).
pub fn changes_of_while<T: Resource, G: Resource>(cache: &Cache<T>, gate: &Cache<G>) -> BoxStream<'static, ()> {
    let gate = gate.clone();
    BroadcastStream::new(cache.subscribe())
        .filter_map(move |_| futures::future::ready((!gate.is_empty()).then_some(())))
        .boxed()
}

/// A kind the control plane caches, and where its cache is.
pub trait CachedKind: Resource {
    fn cache(c: &Caches) -> &Cache<Self>;
}

/// Something done once per cached kind (e.g. the garbage collector's view of each).
pub trait CachedKindVisitor {
    fn visit<T: CachedKind>(&mut self);
}

/// Declares the kinds the control plane caches, one line each: the `Caches` fields,
/// their informers, sync, revision waits, change streams and the `HasSource` impls of
/// `Shared`, `CachedKind` and `for_each_cached_kind` all come from this one list.
macro_rules! caches {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// The shared informer caches every controller reads.
        #[derive(Clone)]
        pub struct Caches {
            $(pub $field: Cache<$ty>,)*
        }

        impl Caches {
            /// Starts one informer per kind on the current tokio runtime.
            pub fn start(registry: &Registry) -> Self {
                Caches { $($field: informer::start(registry.clone()),)* }
            }

            /// Waits until every cache has had its first list.
            pub async fn wait_synced(&self) {
                $(self.$field.wait_synced().await;)*
            }

            /// Waits (bounded) until the cache of the kind with this plural shows `rev`.
            pub async fn wait_for(&self, plural: &str, rev: Revision, timeout: Duration) -> CaughtUp {
                let caught = match plural {
                    $(p if p == <$ty as Resource>::INFO.plural => self.$field.wait_for_revision(rev, timeout).await,)*
                    _ => return CaughtUp::NotCached,
                };
                if caught { CaughtUp::Yes } else { CaughtUp::TimedOut }
            }

            /// One item per change of any cache.
            pub fn changes(&self) -> BoxStream<'static, ()> {
                futures::stream::select_all(vec![$(changes_of(&self.$field),)*]).boxed()
            }
        }

        $(impl CachedKind for $ty {
            fn cache(c: &Caches) -> &Cache<Self> {
                &c.$field
            }
        })*

        /// Visits every cached kind, with the kind as a type.
        pub fn for_each_cached_kind<V: CachedKindVisitor>(v: &mut V) {
            $(v.visit::<$ty>();)*
        }

        $(impl HasSource<$ty> for Shared {
            fn source(&self) -> &dyn Source<$ty> {
                &self.caches.$field
            }
        })*
    };
}

caches! {
    pods: Pod,
    replicasets: ReplicaSet,
    replicationcontrollers: ReplicationController,
    deployments: Deployment,
    nodes: Node,
    leases: Lease,
    namespaces: Namespace,
    persistentvolumes: PersistentVolume,
    persistentvolumeclaims: PersistentVolumeClaim,
    storageclasses: StorageClass,
    poddisruptionbudgets: PodDisruptionBudget,
    statefulsets: StatefulSet,
    daemonsets: DaemonSet,
    jobs: Job,
    cronjobs: CronJob,
    serviceaccounts: ServiceAccount,
    services: Service,
    endpoints: Endpoints,
    endpointslices: EndpointSlice,
    controllerrevisions: ControllerRevision,
    horizontalpodautoscalers: HorizontalPodAutoscaler,
}

/// What every actor of the control plane shares: the control plane's `World`.
pub struct Shared {
    pub registry: Registry,
    pub caches: Caches,
    pub config: ControlConfig,
}

impl World for Shared {
    type Cx = Cx;

    fn actor_cx(self: &Arc<Self>) -> Cx {
        Cx::new(self.clone())
    }

    fn restart_budget(&self) -> BudgetSpec {
        BudgetSpec { limit: self.config.restart_limit, window: self.config.restart_window }
    }

    fn wait_synced(&self) -> BoxFuture<'static, ()> {
        let caches = self.caches.clone();
        Box::pin(async move { caches.wait_synced().await })
    }

    fn changes(&self) -> BoxStream<'static, ()> {
        self.caches.changes()
    }
}

/// One actor's context: the shared parts plus the revisions this actor has written.
pub struct Cx {
    pub shared: Arc<Shared>,
    written: Mutex<HashMap<&'static str, Revision>>,
    /// What this actor alone remembers between reconciles (the HPA's recent
    /// recommendations); it dies with the actor, so a replacement starts afresh.
    local: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

fn rev_of<T: Resource>(obj: &T) -> Revision {
    obj.meta().resource_version.parse().unwrap_or(0)
}

impl Cx {
    pub fn new(shared: Arc<Shared>) -> Self {
        Cx { shared, written: Mutex::new(HashMap::new()), local: Mutex::new(None) }
    }

    /// Runs `f` on this actor's own memory of type `T` (made with `Default` on first use,
    /// or when an earlier use stored another type).
    pub fn local<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if !g.as_ref().is_some_and(|b| b.is::<T>()) {
            *g = Some(Box::new(T::default()));
        }
        match g.as_mut().and_then(|b| b.downcast_mut::<T>()) {
            Some(t) => f(t),
            None => f(&mut T::default()),
        }
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

    /// Deletes with the kind's default grace (a pod lingers until its node has stopped
    /// it); "already gone" counts as success (returns None).
    pub async fn delete<T: Resource>(&self, ns: Option<&str>, name: &str, pre: &Preconditions) -> Result<Option<T>, RegistryError> {
        let opts = DeleteOptions { preconditions: pre.clone(), ..Default::default() };
        self.delete_opts(ns, name, &opts).await
    }

    /// Deletes with grace 0 (upstream's force delete: for pods no node will stop);
    /// finalizers still hold the object. "Already gone" counts as success.
    pub async fn force_delete<T: Resource>(&self, ns: Option<&str>, name: &str, pre: &Preconditions) -> Result<Option<T>, RegistryError> {
        let opts = DeleteOptions { preconditions: pre.clone(), grace_period_seconds: Some(0), ..Default::default() };
        self.delete_opts(ns, name, &opts).await
    }

    async fn delete_opts<T: Resource>(&self, ns: Option<&str>, name: &str, opts: &DeleteOptions) -> Result<Option<T>, RegistryError> {
        match self.shared.registry.delete_opts::<T>(ns, name, opts).await {
            Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => {
                self.note::<T>(rev_of(&o));
                Ok(Some(o))
            }
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether this actor has written anything yet (a fresh actor, e.g. one that replaced
    /// a killed one, has not: its caches may not show what its predecessor wrote).
    pub fn has_written(&self) -> bool {
        !self.written.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Waits (bounded) until the caches show every write this actor made.
    pub async fn catch_up(&self) {
        let pending: Vec<(&'static str, Revision)> = {
            let w = self.written.lock().unwrap_or_else(|p| p.into_inner());
            w.iter().map(|(k, v)| (*k, *v)).collect()
        };
        for (plural, rev) in pending {
            match self.shared.caches.wait_for(plural, rev, Duration::from_secs(5)).await {
                CaughtUp::Yes | CaughtUp::NotCached => {}
                CaughtUp::TimedOut => tracing::warn!(plural, rev, "cache did not catch up with our write within 5 s"),
            }
        }
    }
}

impl ActorCx for Cx {
    fn catch_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(Cx::catch_up(self))
    }
}

/// Which children a controller owns: their changes wake the owner, and orphans whose
/// labels match the owner's selector wake it too (adoption). E.g.
/// `Children::Of(&[ChildKind::of::<Pod>()])`.
pub type Children = supervision::Children<Shared>;
pub use supervision::ChildKind;

/// A controller: one reconcile per object, run by a supervised actor.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    type Object: Resource;
    /// The kinds of children whose changes wake an object.
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
    /// The caches whose changes wake the loop (default: all of them; e.g.
    /// `select(changes_of(&caches.pods), changes_of(&caches.nodes))`); the one place a
    /// singleton's wake-ups come from.
    fn wakers(caches: &Caches) -> BoxStream<'static, ()> {
        caches.changes()
    }
    /// One pass over the caches; level-triggered, safe to repeat.
    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError>;
}

/// Runs a control-plane `Reconciler` in the supervision runtime (as a manager's actors):
/// `ControlPlane::new(shared).manager(Controller(DeploymentController))`.
pub struct Controller<R>(pub R);

/// Runs a control-plane `Singleton` in the supervision runtime:
/// `ControlPlane::new(shared).singleton(ControlLoop(Scheduler))`.
pub struct ControlLoop<S>(pub S);

#[async_trait]
impl<R: Reconciler> Reconcile for Controller<R>
where
    Shared: HasSource<R::Object>,
{
    type Object = R::Object;
    type World = Shared;
    type Error = ReconcileError;
    const CHILDREN: Children = <R as Reconciler>::CHILDREN;

    fn selector(obj: &Self::Object) -> Option<LabelSelector> {
        <R as Reconciler>::selector(obj)
    }

    async fn reconcile(&self, obj: Arc<Self::Object>, cx: &Cx) -> Result<Action, ReconcileError> {
        self.0.reconcile(obj, cx).await
    }
}

#[async_trait]
impl<S: Singleton> Loop for ControlLoop<S> {
    type World = Shared;
    type Error = ReconcileError;
    const NAME: &'static str = <S as Singleton>::NAME;
    const MIN_INTERVAL: Duration = <S as Singleton>::MIN_INTERVAL;

    fn wakers(world: &Shared) -> BoxStream<'static, ()> {
        <S as Singleton>::wakers(&world.caches)
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        self.0.run_once(cx).await
    }
}
