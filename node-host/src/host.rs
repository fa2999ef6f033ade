//! A real node-host: the agent (`agent`) over the libcontainer runtime, the node's image
//! content store filled from the control plane, and the node bridge. `shoal node` and
//! `shoal up` run this; the simulated nodes and the agent's tests run the same agent over
//! fakes instead.

use std::future::Future;
use std::sync::Arc;

use crate::agent::{run_agent, AgentError, AgentOptions, AgentParts, NodeStats};
use crate::image::{pull::SYNC_INTERVAL, ClusterImages, ImageStore};
use crate::network::{BridgeNetwork, BridgeOptions, NetworkError};
use crate::runtime::{LibcontainerRuntime, RuntimeError, RuntimeOptions, Zygote};

/// What a real node needs beyond the agent's options.
#[derive(Debug, Clone)]
pub struct HostOptions {
    pub agent: AgentOptions,
    /// The cgroup below the agent's own where pods go (default `shoal/<node>`).
    pub cgroup_root: Option<String>,
    /// The node's network namespace as a file, when it is not this thread's.
    pub node_netns: Option<std::path::PathBuf>,
}

impl HostOptions {
    pub fn new(agent: AgentOptions) -> Self {
        HostOptions { agent, cgroup_root: None, node_netns: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("starting the container runtime")]
    Runtime(#[source] RuntimeError),
    #[error("opening the image store in {dir}")]
    Images {
        dir: std::path::PathBuf,
        #[source]
        source: crate::image::store::StoreError,
    },
    #[error("setting up the node bridge")]
    Network(#[source] NetworkError),
    #[error("building the API client")]
    Client(#[source] client::Error),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

/// Runs a real node until `stop` resolves. Must run inside an actix `System` (the agent's
/// actors), on the thread whose network namespace is the node's unless `node_netns` says.
/// `zygote` is the runtime's helper, forked while the process had one thread.
pub async fn run_host(opts: HostOptions, zygote: Zygote, stop: impl Future<Output = ()>) -> Result<(), HostError> {
    let root = opts.agent.root_dir.clone();
    std::fs::create_dir_all(&root).map_err(|e| HostError::Runtime(RuntimeError::Io(e)))?;
    let cgroup_root = opts.cgroup_root.clone().unwrap_or_else(|| format!("shoal/{}", opts.agent.node_name));
    let runtime = LibcontainerRuntime::new(zygote, RuntimeOptions { state_dir: root.join("runtime"), cgroup_root }).map_err(HostError::Runtime)?;
    let dir = root.join("images");
    let store = ImageStore::open(&dir).map_err(|source| HostError::Images { dir: dir.clone(), source })?;
    let api = client::Client::new(&opts.agent.server).map_err(HostError::Client)?;
    let images = Arc::new(ClusterImages::new(Arc::new(store), Some(api)));
    let mut bridge = BridgeOptions::new(&root);
    bridge.node_netns = opts.node_netns.clone();
    let network = BridgeNetwork::new(bridge).map_err(HostError::Network)?;
    // Every image imported into the cluster comes to this node too, in the background.
    let (stop_sync, sync_stopped) = tokio::sync::oneshot::channel::<()>();
    let sync = tokio::spawn(images.clone().sync(SYNC_INTERVAL, async move {
        let _ = sync_stopped.await;
    }));
    let parts = AgentParts {
        runtime: Arc::new(runtime),
        images,
        network: Arc::new(network),
        lookup: None,
        stats: Arc::new(NodeStats::default()),
    };
    let result = run_agent(opts.agent, parts, stop).await;
    let _ = stop_sync.send(());
    let _ = sync.await;
    Ok(result?)
}
