//! A real node-host: the agent (`agent`) over the libcontainer runtime, the node's image
//! content store filled from the control plane, the node bridge, and the node's share of
//! the cluster network (`netplane`: overlay, service proxy, DNS) set up from the control
//! plane's network configuration. `shoal node` and `shoal up` run this; the simulated
//! nodes and the agent's tests run the same agent over fakes instead.

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
}

impl HostOptions {
    pub fn new(agent: AgentOptions) -> Self {
        HostOptions { agent, cgroup_root: None }
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
    #[error("starting the node's network")]
    NetPlane(#[source] crate::netplane::NetPlaneError),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

/// Runs a real node until `stop` resolves. Must run inside an actix `System` (the agent's
/// actors), in a process whose network namespace is the node's: the bridge, the TUN
/// device and the nftables table go there.
/// `zygote` is the runtime's helper, forked while the process had one thread.
pub async fn run_host(mut opts: HostOptions, zygote: Zygote, stop: impl Future<Output = ()>) -> Result<(), HostError> {
    let root = opts.agent.root_dir.clone();
    std::fs::create_dir_all(&root).map_err(|e| HostError::Runtime(RuntimeError::Io(e)))?;
    let cgroup_root = opts.cgroup_root.clone().unwrap_or_else(|| format!("shoal/{}", opts.agent.node_name));
    let runtime = LibcontainerRuntime::new(zygote, RuntimeOptions { state_dir: root.join("runtime"), cgroup_root }).map_err(HostError::Runtime)?;
    let dir = root.join("images");
    let store = ImageStore::open(&dir).map_err(|source| HostError::Images { dir: dir.clone(), source })?;
    let api = client::Client::new(&opts.agent.server).map_err(HostError::Client)?;
    let images = Arc::new(ClusterImages::new(Arc::new(store), Some(api.clone())));
    let network_config = crate::netplane::config::wait_network_config(&api).await;
    opts.agent.cluster_dns = overlay::dns::ClusterDns { servers: vec![network_config.dns_ip.into()], domain: network_config.domain.clone() };
    let mut bridge = BridgeOptions::new(&root);
    // Pods send packets the overlay can carry whole (Flannel sets its bridge so too).
    bridge.mtu = Some(crate::netplane::overlay::underlay_mtu(opts.agent.node_ip).saturating_sub(overlay::tunnel::ENCAP_OVERHEAD));
    let network = BridgeNetwork::new(bridge).map_err(HostError::Network)?;
    // Every image imported into the cluster comes to this node too, in the background.
    let (stop_sync, sync_stopped) = tokio::sync::oneshot::channel::<()>();
    let sync = tokio::spawn(images.clone().sync(SYNC_INTERVAL, async move {
        let _ = sync_stopped.await;
    }));
    let stats = Arc::new(NodeStats::default());
    let netplane = crate::netplane::NetPlane::start(
        crate::netplane::NetPlaneOptions {
            node_name: opts.agent.node_name.clone(),
            node_ip: opts.agent.node_ip,
            network: network_config,
            restart_budget: opts.agent.restart_budget,
        },
        api.clone(),
        &stats,
    )
    .map_err(HostError::NetPlane)?;
    let network = Arc::new(network);
    let parts = AgentParts { runtime: Arc::new(runtime), images, network: network.clone(), lookup: None, stats };
    let result = run_agent(opts.agent, parts, stop).await;
    netplane.stop().await;
    if let Err(e) = crate::network::PodNetwork::shutdown(network.as_ref()).await {
        tracing::warn!(error = %e, "removing the node bridge");
    }
    let _ = stop_sync.send(());
    let _ = sync.await;
    Ok(result?)
}
