//! `shoal up` and `shoal server`: a control plane on the embedded store or on etcd.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actors::store::embedded::EmbeddedStore;
use actors::store::etcd::EtcdStore;
use actors::store::Store;
use anyhow::{bail, Context, Result};
use gateway::AppState;

/// Where the control plane keeps its state.
pub enum StoreChoice {
    Embedded(PathBuf),
    Etcd(Vec<String>),
}

impl StoreChoice {
    /// Parses `etcd://HOST:PORT[,HOST:PORT]`.
    pub fn etcd(url: &str) -> Result<Self> {
        let Some(rest) = url.strip_prefix("etcd://") else {
            bail!("--store must look like etcd://HOST:PORT[,HOST:PORT], got {url:?}");
        };
        let endpoints: Vec<String> = rest.split(',').filter(|s| !s.is_empty()).map(|s| format!("http://{s}")).collect();
        if endpoints.is_empty() {
            bail!("--store names no etcd endpoint");
        }
        Ok(StoreChoice::Etcd(endpoints))
    }
}

pub struct ServeOptions {
    pub store: StoreChoice,
    pub listen: String,
    pub kubeconfig_out: Option<PathBuf>,
    pub workers: usize,
    /// How often store history is compacted (zero: never).
    pub compact_interval: std::time::Duration,
    /// Controller tunables (restart budget, node grace, eviction timeout).
    pub control: actors::controller::ControlConfig,
    /// Whether this process runs the controllers (the supervision tree).
    pub controllers: bool,
    /// Service ClusterIP and NodePort ranges.
    pub allocator: actors::allocator::AllocatorConfig,
    /// Simulated nodes to run in this process (`shoal up` only).
    pub simulated_nodes: usize,
    /// A real node to run in this process (`shoal up` as root).
    pub node: Option<LocalNode>,
    /// A directory of image archives to import when the cluster holds no image yet.
    pub import_images: Option<PathBuf>,
}

/// The node `shoal up` runs beside its control plane.
pub struct LocalNode {
    pub name: String,
    pub root_dir: PathBuf,
    pub kubelet_port: u16,
    pub zygote: node_host::runtime::Zygote,
}

/// Runs the control plane until SIGINT or SIGTERM.
pub fn run(opts: ServeOptions) -> Result<()> {
    let system = actix_rt::System::new();
    system.block_on(serve(opts))
}

async fn open_store(choice: &StoreChoice) -> Result<Arc<dyn Store>> {
    Ok(match choice {
        StoreChoice::Embedded(dir) => {
            Arc::new(EmbeddedStore::open(dir).with_context(|| format!("opening the embedded store in {}", dir.display()))?)
        }
        StoreChoice::Etcd(endpoints) => {
            Arc::new(EtcdStore::connect(endpoints).await.with_context(|| format!("connecting to etcd at {endpoints:?}"))?)
        }
    })
}

async fn serve(opts: ServeOptions) -> Result<()> {
    let store = open_store(&opts.store).await?;
    let mut state = AppState::new(store.clone()).with_namespace_cache();
    state.registry = state.registry.clone().with_allocator(opts.allocator.clone());
    actix_rt::spawn(actors::compactor::run(store, opts.compact_interval));
    gateway::bootstrap(&state.registry).await.context("creating the default namespaces")?;
    let listener = std::net::TcpListener::bind(&opts.listen).with_context(|| format!("binding {}", opts.listen))?;
    let addr = listener.local_addr()?;
    if opts.controllers {
        let shared = Arc::new(actors::controller::Shared {
            registry: state.registry.clone(),
            caches: actors::controller::Caches::start(&state.registry),
            config: actors::controller::ControlConfig { api_server: Some(addr), metrics: state.usage.clone(), ..opts.control.clone() },
        });
        state.control = Some(actors::standard::control_plane(shared).start());
    }
    let url = format!("http://{addr}");
    let kubeconfig = opts.kubeconfig_out.clone().or_else(|| match &opts.store {
        StoreChoice::Embedded(dir) => Some(dir.join("kubeconfig")),
        StoreChoice::Etcd(_) => None,
    });
    if let Some(path) = &kubeconfig {
        write_kubeconfig(path, &url)?;
        println!("kubeconfig written to {}", path.display());
    }
    // The simulated nodes run on a runtime of their own, beside the server's.
    let (stop_nodes, stopped) = tokio::sync::oneshot::channel::<()>();
    if opts.simulated_nodes > 0 {
        let sim = node_host::SimOptions {
            server: url.clone(),
            names: (0..opts.simulated_nodes).map(|i| format!("node-{i}")).collect(),
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("simulated-nodes")
            .enable_all()
            .build()
            .context("starting the simulated nodes' runtime")?;
        std::thread::Builder::new()
            .name("simulated-nodes".into())
            .spawn(move || {
                let stop = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = rt.block_on(node_host::run_simulated_until(sim, stop)) {
                    tracing::error!(error = %e, "simulated nodes stopped");
                }
            })
            .context("starting the simulated nodes")?;
    }
    // The real node runs on a thread of its own, in an actix System of its own.
    let (stop_node, node_stopped) = tokio::sync::oneshot::channel::<()>();
    let node_thread = match opts.node {
        Some(node) => Some(super::node::spawn_local(node, &url, addr.ip(), node_stopped)?),
        None => None,
    };
    if let Some(dir) = opts.import_images.clone() {
        let url = url.clone();
        actix_rt::spawn(async move {
            if let Err(e) = import_if_fresh(&url, &dir).await {
                tracing::warn!(error = %format!("{e:#}"), dir = %dir.display(), "importing the example images");
            }
        });
    }
    println!("shoal API server listening on {url}");
    tracing::info!(%url, "API server listening");
    gateway::serve(listener, state, opts.workers, shutdown_signal()).await.context("serving the API")?;
    let _ = stop_nodes.send(());
    let _ = stop_node.send(());
    if let Some(t) = node_thread {
        let _ = t.join();
    }
    tracing::info!("API server stopped");
    Ok(())
}

/// Imports every `*.tar` in `dir` when the cluster holds no image yet (a fresh cluster).
async fn import_if_fresh(url: &str, dir: &Path) -> Result<()> {
    let api = client::Client::new(url).context("building the API client")?;
    if !api.list_images().await.context("listing images")?.items.is_empty() {
        return Ok(());
    }
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tar"))
        .collect();
    archives.sort();
    for a in archives {
        let bytes = tokio::fs::read(&a).await.with_context(|| format!("reading {}", a.display()))?;
        let done = api.import_images(bytes).await.with_context(|| format!("importing {}", a.display()))?;
        for line in super::image::import_lines(&done) {
            println!("{line}");
        }
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A kubeconfig pointing kubectl at this cluster.
fn write_kubeconfig(path: &Path, url: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: shoal\n  cluster:\n    server: {url}\ncontexts:\n- name: shoal\n  context:\n    cluster: shoal\n    user: shoal\n    namespace: default\ncurrent-context: shoal\nusers:\n- name: shoal\n  user: {{}}\n"
    );
    std::fs::write(path, text).with_context(|| format!("writing kubeconfig {}", path.display()))
}
