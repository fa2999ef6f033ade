//! The node agent: registers the Node, keeps its Lease and status, and runs one
//! supervised actor per pod bound to the node (`pod::PodWorker`), plus a housekeeping
//! loop that removes what the runtime still holds of pods that are gone. Everything it
//! knows is re-derived from the runtime (`ContainerRuntime::list`) and the API, so a
//! restarted actor — or a new agent over the same runtime — adopts what runs.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use api::model::Pod;
use client::ListParams;
use supervision::{BudgetSpec, ControlPlane};

use crate::image::ImageService;
use crate::network::PodNetwork;
use crate::pod::backoff::{Backoff, BackoffConfig};
use crate::pod::events::Recorder;
use crate::pod::probe::Prober;
use crate::runtime::{ContainerRuntime, Usage};
use crate::volumes::ObjectLookup;
use crate::world::{NodeWorld, PodSource};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// API server URL, e.g. `http://127.0.0.1:6443`.
    pub server: String,
    pub node_name: String,
    /// InternalIP of the node (hostIP of its pods).
    pub node_ip: Ipv4Addr,
    /// State below `pods/<uid>/`, `logs/`, …
    pub root_dir: PathBuf,
    /// The node's pod subnet; None: wait for `Node.spec.podCIDR` (the control plane allocates it).
    pub pod_cidr: Option<String>,
    /// Container restart back-off (upstream: 10 s doubling to 5 min, reset after 10 min).
    pub restart_backoff: BackoffConfig,
    /// Image pull back-off.
    pub pull_backoff: BackoffConfig,
    /// `leaseDurationSeconds`; renewed every quarter of it (at least every second).
    pub lease_seconds: u64,
    /// How often the Node status is posted.
    pub status_interval: Duration,
    /// How often container usage is read.
    pub usage_interval: Duration,
    /// The node server's port (`daemonEndpoints.kubeletEndpoint.Port`).
    pub kubelet_port: u16,
    /// Subtracted from capacity for allocatable (`cpu`, `memory`, `ephemeral-storage`, `pods`).
    pub reserved: BTreeMap<String, String>,
    pub max_pods: u32,
    /// Extra Node labels.
    pub labels: BTreeMap<String, String>,
    /// Restart budget of the agent's supervisors.
    pub restart_budget: BudgetSpec,
    /// Grace period when a pod names none.
    pub default_grace: Duration,
    /// Container log size cap and rotation.
    pub logs: crate::logs::LogOptions,
    /// Where local-path volumes live on this node (None: volumes' default).
    pub local_path_base: Option<PathBuf>,
    /// Serve the node's server (logs, exec, attach, port-forward) on `node_ip:kubelet_port`.
    pub serve: bool,
    /// The cluster's DNS address and domain, for the pods' resolv.conf and hosts files.
    pub cluster_dns: overlay::dns::ClusterDns,
}

impl AgentOptions {
    pub fn new(server: &str, node_name: &str, node_ip: Ipv4Addr, root_dir: PathBuf) -> Self {
        AgentOptions {
            server: server.into(),
            node_name: node_name.into(),
            node_ip,
            root_dir,
            pod_cidr: None,
            restart_backoff: BackoffConfig::default(),
            pull_backoff: BackoffConfig::default(),
            lease_seconds: 40,
            status_interval: Duration::from_secs(10),
            usage_interval: Duration::from_secs(10),
            kubelet_port: 10250,
            reserved: BTreeMap::new(),
            max_pods: 110,
            labels: BTreeMap::new(),
            restart_budget: BudgetSpec { limit: 5, window: Duration::from_secs(10) },
            default_grace: Duration::from_secs(30),
            logs: crate::logs::LogOptions::default(),
            serve: false,
            local_path_base: None,
            cluster_dns: overlay::dns::ClusterDns::default(),
        }
    }

    pub fn renew_interval(&self) -> Duration {
        Duration::from_millis((self.lease_seconds * 1000 / 4).max(1000))
    }
}

/// The parts the agent runs pods with (real or fake).
#[derive(Clone)]
pub struct AgentParts {
    pub runtime: Arc<dyn ContainerRuntime>,
    pub images: Arc<dyn ImageService>,
    pub network: Arc<dyn PodNetwork>,
    /// What volumes and env read; None: GETs through the API.
    pub lookup: Option<Arc<dyn ObjectLookup>>,
    /// What the node server reads (pods, containers, usage); create it and keep a clone.
    pub stats: Arc<NodeStats>,
}

/// One container as the node server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    pub name: String,
    pub id: String,
    pub attempt: u32,
    pub running: bool,
    /// `logs/<ns>_<pod>_<uid>/<container>/<attempt>.log`.
    pub log_path: PathBuf,
    pub usage: Option<Usage>,
}

/// One pod as the node server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub ip: Option<Ipv4Addr>,
    /// Every container record (all kept attempts), newest attempt last per name.
    pub containers: Vec<ContainerInfo>,
    /// When usage was last read.
    pub usage_at: Option<SystemTime>,
}

impl PodInfo {
    /// CPU and memory of the pod's running containers, summed.
    pub fn usage(&self) -> Usage {
        self.containers.iter().filter(|c| c.running).filter_map(|c| c.usage).fold(Usage::default(), |a, u| Usage {
            cpu_ns: a.cpu_ns + u.cpu_ns,
            memory_working_set: a.memory_working_set + u.memory_working_set,
        })
    }
}

/// Something that adds its figures to the node server's `/metrics` (the overlay, the
/// service proxy, the DNS server), in the Prometheus text format.
pub trait MetricsSource: Send + Sync + 'static {
    fn render(&self, out: &mut String);
}

/// What the agent knows of its pods, for the node server (logs, exec, metrics).
#[derive(Default)]
pub struct NodeStats {
    pods: RwLock<BTreeMap<String, PodInfo>>,
    metrics: RwLock<Vec<Arc<dyn MetricsSource>>>,
}

impl std::fmt::Debug for NodeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStats").field("pods", &self.read().len()).finish_non_exhaustive()
    }
}

impl NodeStats {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, PodInfo>> {
        self.pods.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, PodInfo>> {
        self.pods.write().unwrap_or_else(|p| p.into_inner())
    }
    pub fn pods(&self) -> Vec<PodInfo> {
        self.read().values().cloned().collect()
    }
    /// Adds a source of the node server's `/metrics`.
    pub fn add_metrics(&self, source: Arc<dyn MetricsSource>) {
        self.metrics.write().unwrap_or_else(|p| p.into_inner()).push(source);
    }
    /// Every source's figures, in the order they were added.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        for m in self.metrics.read().unwrap_or_else(|p| p.into_inner()).iter() {
            m.render(&mut out);
        }
        out
    }
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodInfo> {
        self.read().get(&format!("{namespace}/{name}")).cloned()
    }
    /// The newest attempt of a container (`previous`: the one before it).
    pub fn container(&self, namespace: &str, pod: &str, container: &str, previous: bool) -> Option<ContainerInfo> {
        let p = self.pod(namespace, pod)?;
        let mut cs: Vec<ContainerInfo> = p.containers.into_iter().filter(|c| c.name == container).collect();
        cs.sort_by_key(|c| c.attempt);
        if previous {
            cs.pop();
        }
        cs.pop()
    }
    pub(crate) fn set(&self, info: PodInfo) {
        let key = format!("{}/{}", info.namespace, info.name);
        let mut all = self.write();
        let usage: HashMap<String, Usage> =
            all.get(&key).map(|old| old.containers.iter().filter_map(|c| c.usage.map(|u| (c.id.clone(), u))).collect()).unwrap_or_default();
        let at = all.get(&key).and_then(|o| o.usage_at);
        let mut info = info;
        for c in &mut info.containers {
            c.usage = c.usage.or_else(|| usage.get(&c.id).copied());
        }
        info.usage_at = info.usage_at.or(at);
        all.insert(key, info);
    }
    pub(crate) fn remove(&self, namespace: &str, name: &str) {
        self.write().remove(&format!("{namespace}/{name}"));
    }
    pub(crate) fn set_usage(&self, key: &str, id: &str, u: Usage, at: SystemTime) {
        if let Some(p) = self.write().get_mut(key) {
            p.usage_at = Some(at);
            if let Some(c) = p.containers.iter_mut().find(|c| c.id == id) {
                c.usage = Some(u);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("building the API client")]
    Client(#[source] client::Error),
    #[error("registering node {node}")]
    Register {
        node: String,
        #[source]
        source: client::Error,
    },
    #[error("serving the node server on {addr}")]
    Serve {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("setting up the pod network for {cidr}")]
    Network {
        cidr: String,
        #[source]
        source: crate::network::NetworkError,
    },
}

/// What every pod actor shares: the parts, the API, back-off and probe state.
pub struct Agent {
    pub opts: AgentOptions,
    pub api: client::Client,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub images: Arc<dyn ImageService>,
    pub network: Arc<dyn PodNetwork>,
    pub lookup: Arc<dyn ObjectLookup>,
    pub recorder: Arc<Recorder>,
    pub restart_backoff: Mutex<Backoff>,
    pub pull_backoff: Mutex<Backoff>,
    /// Per pod uid: what the runtime does not keep (waiting reasons, start failures).
    pub memory: Mutex<HashMap<String, crate::pod::PodMemory>>,
    /// Uids of pods removed from the API that are being torn down.
    pub removing: Mutex<std::collections::HashSet<String>>,
    /// Set once `run_agent` returns: the actors (which live until their actix System stops)
    /// do nothing more.
    pub stopped: std::sync::atomic::AtomicBool,
    /// Pod uids housekeeping found gone, and when it first did.
    pub suspects: Mutex<HashMap<String, std::time::Instant>>,
    /// Per container id.
    pub probers: Mutex<HashMap<String, Prober>>,
    pub stats: Arc<NodeStats>,
    pub pods: Arc<PodSource>,
    /// The log pump of every running container.
    pub pumps: crate::pod::pumps::Pumps,
    /// The node's allocatable (what a container without limits reads as its limits).
    pub allocatable: BTreeMap<String, api::model::Quantity>,
    /// The machine's memory in bytes (Burstable containers' OOM score).
    pub node_memory: u64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Agent {
    /// The directory of a pod's state.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.opts.root_dir.join("pods").join(uid)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn log_path(&self, pod: &Pod, container: &str, attempt: u32) -> PathBuf {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        self.opts.root_dir.join("logs").join(format!("{ns}_{}_{}", pod.metadata.name, pod.metadata.uid)).join(container).join(format!("{attempt}.log"))
    }
}

/// Volumes' and env's objects read with GETs through the API.
pub struct ApiLookup(pub client::Client);

#[async_trait::async_trait]
impl ObjectLookup for ApiLookup {
    async fn config_map(&self, ns: &str, name: &str) -> Result<Option<api::model::ConfigMap>, client::Error> {
        self.0.api(Some(ns)).get_opt(name).await
    }
    async fn secret(&self, ns: &str, name: &str) -> Result<Option<api::model::Secret>, client::Error> {
        self.0.api(Some(ns)).get_opt(name).await
    }
    async fn pvc(&self, ns: &str, name: &str) -> Result<Option<api::model::PersistentVolumeClaim>, client::Error> {
        self.0.api(Some(ns)).get_opt(name).await
    }
    async fn pv(&self, name: &str) -> Result<Option<api::model::PersistentVolume>, client::Error> {
        self.0.api(None).get_opt(name).await
    }
    async fn services(&self, ns: &str) -> Result<Vec<api::model::Service>, client::Error> {
        Ok(self.0.api(Some(ns)).list(&ListParams::default()).await?.items)
    }
}

/// Runs the node agent until `stop` resolves. Must run inside an actix `System` (the
/// supervision runtime's actors live there); the pod actors keep running until that
/// System stops, so give the agent a System of its own and stop it after this returns.
pub async fn run_agent(opts: AgentOptions, parts: AgentParts, stop: impl Future<Output = ()>) -> Result<(), AgentError> {
    let api = client::Client::new(&opts.server).map_err(AgentError::Client)?;
    let node = crate::node::NodeAgent::new(&opts, parts.images.clone());
    node.register(&api).await.map_err(|source| AgentError::Register { node: opts.node_name.clone(), source })?;
    let cidr = match &opts.pod_cidr {
        Some(c) => c.clone(),
        None => node.wait_pod_cidr(&api).await,
    };
    parts.network.ensure_node(&cidr).await.map_err(|source| AgentError::Network { cidr: cidr.clone(), source })?;
    let lp = ListParams::default().fields(&format!("spec.nodeName={}", opts.node_name));
    let (cache, watcher) = client::watcher::start(api.api::<Pod>(None), lp, 4096);
    let pods = PodSource::new(cache);
    let lookup = parts.lookup.clone().unwrap_or_else(|| Arc::new(ApiLookup(api.clone())));
    let agent = Arc::new(Agent {
        recorder: Arc::new(Recorder::new(api.clone(), &opts.node_name)),
        restart_backoff: Mutex::new(Backoff::new(opts.restart_backoff)),
        pull_backoff: Mutex::new(Backoff::new(opts.pull_backoff)),
        memory: Mutex::new(HashMap::new()),
        probers: Mutex::new(HashMap::new()),
        removing: Mutex::new(Default::default()),
        suspects: Mutex::new(HashMap::new()),
        stopped: Default::default(),
        stats: parts.stats.clone(),
        pumps: crate::pod::pumps::Pumps::new(opts.logs),
        node_memory: crate::node::machine::read_machine(&opts.root_dir).memory_bytes,
        allocatable: crate::node::allocatable(
            &crate::node::capacity(&crate::node::machine::read_machine(&opts.root_dir), opts.max_pods),
            &opts.reserved,
        ),
        runtime: parts.runtime.clone(),
        images: parts.images.clone(),
        network: parts.network.clone(),
        lookup,
        pods: pods.clone(),
        api: api.clone(),
        opts: opts.clone(),
    });
    // A pod removed from the API while it runs is stopped from its last known spec.
    let mut changes = pods.cache.subscribe();
    let a = agent.clone();
    let removals = tokio::spawn(async move {
        loop {
            match changes.recv().await {
                Ok(client::Change::Deleted(old)) => {
                    if !lock(&a.removing).insert(old.metadata.uid.clone()) {
                        continue;
                    }
                    tokio::spawn(crate::pod::terminate_removed(a.clone(), old));
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    // A container's exit wakes its pod's actor.
    let mut events = agent.runtime.events();
    let poker = pods.clone();
    let exits = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(ev) => poker.poke(&format!("{}/{}", ev.meta.pod_namespace, ev.meta.pod_name)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for p in poker.list(None) {
                        poker.poke(&api::model::key_of(p.as_ref()));
                    }
                }
                Err(_) => return,
            }
        }
    });
    use supervision::Source as _;
    let usage = tokio::spawn(crate::node::usage_loop(agent.clone()));
    let world = Arc::new(NodeWorld { agent: agent.clone() });
    let node = Arc::new(node);
    let _handle = ControlPlane::new(world)
        .manager(crate::pod::PodWorker)
        .singleton(crate::pod::Housekeeping)
        .singleton(crate::node::LeaseLoop(node.clone(), api.clone()))
        .singleton(crate::node::StatusLoop(node, api.clone()))
        .start();
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = if opts.serve {
        let addr = std::net::SocketAddr::from((opts.node_ip, opts.kubelet_port));
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| AgentError::Serve { addr, source })?;
        let streams: Arc<dyn crate::server::Streams> = Arc::new(crate::streams::AgentStreams(agent.clone()));
        Some(tokio::spawn(crate::server::serve(listener, streams, async move {
            let _ = server_stopped.await;
        })))
    } else {
        None
    };
    tracing::info!(node = %opts.node_name, %cidr, "node agent running");
    stop.await;
    let _ = stop_server.send(());
    if let Some(s) = server {
        s.abort();
    }
    agent.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
    exits.abort();
    removals.abort();
    usage.abort();
    watcher.abort();
    lock(&agent.probers).clear();
    Ok(())
}
