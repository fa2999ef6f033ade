//! The node's share of the cluster network, beside the bridge the agent wires pods into:
//! the overlay to the other nodes (peers from the watched Nodes), the service proxy
//! (Services and EndpointSlices → the node's nftables table), and the cluster DNS server
//! with the EndpointSlice that announces it. Each is a supervised singleton over
//! [`world::NetWorld`] (the node's watcher caches of those kinds); [`NetPlane`] starts them
//! and, when the node stops, removes what they made (the TUN and its route, the table).
//! Everything lives in the network namespace of the process (a node's).

pub mod config;
pub mod dns;
pub mod overlay;
pub mod proxy;
pub mod world;

use std::net::Ipv4Addr;
use std::sync::Arc;

use api::network::NetworkConfig;
use supervision::ControlPlane;

use crate::agent::NodeStats;

/// What the node's network pieces are set up with.
#[derive(Debug, Clone)]
pub struct NetPlaneOptions {
    pub node_name: String,
    /// The node's underlay address: where the overlay listens, where NodePorts answer.
    pub node_ip: Ipv4Addr,
    /// The cluster's ranges, from the control plane's ConfigMap.
    pub network: NetworkConfig,
    /// Restart budget of the singletons.
    pub restart_budget: supervision::BudgetSpec,
}

/// The running pieces; [`NetPlane::stop`] takes down what they made.
pub struct NetPlane {
    node_name: String,
    dns: Arc<dns::DnsState>,
    overlay: Arc<overlay::OverlayState>,
    proxy: Arc<proxy::ProxyState>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
    _handle: supervision::ControlHandle,
}

#[derive(Debug, thiserror::Error)]
pub enum NetPlaneError {
    #[error("the cluster network configuration: {0}")]
    Config(String),
}

impl NetPlane {
    /// Starts the watchers and the singletons. Must run inside an actix `System`.
    pub fn start(opts: NetPlaneOptions, api: client::Client, stats: &NodeStats) -> Result<NetPlane, NetPlaneError> {
        let facts = world::Facts::new(&opts).map_err(NetPlaneError::Config)?;
        let (world, watchers) = world::NetWorld::start(&api, facts, opts.restart_budget);
        let world = Arc::new(world);
        let overlay = Arc::new(overlay::OverlayState::default());
        let proxy = Arc::new(proxy::ProxyState::new(&world.facts));
        let resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let dns = Arc::new(dns::DnsState::new(api.clone(), &resolv_conf));
        stats.add_metrics(overlay.clone());
        stats.add_metrics(proxy.clone());
        stats.add_metrics(dns.clone());
        let handle = ControlPlane::new(world)
            .singleton(overlay::OverlayLoop(overlay.clone()))
            .singleton(proxy::ProxyLoop(proxy.clone()))
            .singleton(dns::DnsLoop(dns.clone()))
            .start();
        Ok(NetPlane { node_name: opts.node_name, dns, overlay, proxy, watchers, _handle: handle })
    }

    /// Stops the pieces, withdraws the node's DNS endpoint and removes the TUN device, its
    /// route and the nftables table.
    pub async fn stop(self) {
        self.dns.stop(&self.node_name).await;
        for w in &self.watchers {
            w.abort();
        }
        self.overlay.stop().await;
        self.proxy.stop().await;
    }
}
