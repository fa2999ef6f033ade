//! The overlay singleton: once the control plane has given this node its pod subnet, it
//! starts the overlay shell (TUN device, route of the cluster CIDR, UDP socket; see
//! `overlay::tunnel`) and, on every change of the Nodes, hands it the peer table — each
//! other node's subnet and InternalIP. A node without either is left out until it has
//! both; a subnet change of this node restarts the shell.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use overlay::ipam::Subnet;
use overlay::tunnel::{OverlayShell, Peer, ShellConfig};
use supervision::{Action, Loop};

use super::world::{changes, NetCx, NetWorld};
use crate::agent::MetricsSource;

/// The node's InternalIP as its Node says.
pub fn internal_ip(node: &api::model::Node) -> Option<Ipv4Addr> {
    let status = node.status.as_ref()?;
    status.addresses.iter().find(|a| a.type_ == "InternalIP").and_then(|a| a.address.parse().ok())
}

/// Every other node that has a subnet and an address, as the overlay's peers.
pub fn peers(world: &NetWorld) -> Vec<(String, Peer)> {
    let mut out: Vec<(String, Peer)> = world
        .nodes
        .list(None)
        .iter()
        .filter(|n| n.metadata.name != world.facts.node_name && !n.metadata.is_deleting())
        .filter_map(|n| {
            let subnet = Subnet::parse(n.spec.pod_cidr.as_deref()?).ok()?;
            Some((n.metadata.name.clone(), Peer { underlay: internal_ip(n)?, subnet }))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The MTU of the interface holding `ip` (1500 when none does, e.g. a loopback address
/// on a machine that reports none).
pub fn underlay_mtu(ip: Ipv4Addr) -> u32 {
    let name = nix::ifaddrs::getifaddrs().ok().and_then(|mut addrs| {
        addrs.find(|a| a.address.as_ref().and_then(|s| s.as_sockaddr_in()).is_some_and(|s| s.ip() == ip)).map(|a| a.interface_name)
    });
    name.and_then(|n| std::fs::read_to_string(format!("/sys/class/net/{n}/mtu")).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|m: &u32| *m > 576 && *m < 65_536)
        .unwrap_or(1500)
}

struct Running {
    shell: OverlayShell,
    own: Subnet,
}

/// The shell, shared by the singleton (across its restarts) and the node's shutdown.
#[derive(Default)]
pub struct OverlayState {
    running: tokio::sync::Mutex<Option<Running>>,
    stopped: std::sync::atomic::AtomicBool,
    metrics: std::sync::Mutex<Option<Arc<overlay::tunnel::Metrics>>>,
}

impl OverlayState {
    /// Stops the shell and removes its device and route; nothing starts again after.
    pub async fn stop(&self) {
        self.stopped.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(r) = self.running.lock().await.take() {
            if let Err(e) = r.shell.stop().await {
                tracing::warn!(error = %e, "removing the overlay");
            }
        }
    }

    /// The socket the shell listens on, once it runs.
    pub async fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.lock().await.as_ref().map(|r| r.shell.local_addr())
    }
}

impl MetricsSource for OverlayState {
    fn render(&self, out: &mut String) {
        if let Some(m) = self.metrics.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            m.render_prometheus(out);
        }
    }
}

pub struct OverlayLoop(pub Arc<OverlayState>);

#[async_trait]
impl Loop for OverlayLoop {
    type World = NetWorld;
    type Error = String;
    const NAME: &'static str = "overlay";
    const MIN_INTERVAL: Duration = Duration::from_millis(50);

    fn wakers(world: &NetWorld) -> BoxStream<'static, ()> {
        changes(&world.nodes)
    }

    async fn run_once(&self, cx: &NetCx) -> Result<Action, String> {
        let world = &cx.world;
        let Some(own) = world.own_subnet() else {
            return Ok(Action::await_change());
        };
        let peers = peers(world);
        let mut running = self.0.running.lock().await;
        if self.0.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(Action::await_change());
        }
        if running.as_ref().is_some_and(|r| r.own != own) {
            if let Some(r) = running.take() {
                tracing::info!(old = %r.own, new = %own, "the node's subnet changed: restarting the overlay");
                r.shell.stop().await.map_err(|e| format!("stopping the overlay: {e}"))?;
            }
        }
        let refused = match running.as_ref() {
            Some(r) => r.shell.set_peers(peers.clone()),
            None => {
                let ip = world.facts.node_ip;
                let mut config = ShellConfig::new(own, world.facts.cluster, ip);
                config.listen.set_port(world.facts.network.overlay_port);
                config.underlay_mtu = underlay_mtu(ip);
                let (shell, refused) = OverlayShell::start(config, peers.clone()).await.map_err(|e| format!("starting the overlay: {e:#}"))?;
                tracing::info!(subnet = %own, listen = %shell.local_addr(), peers = peers.len(), "overlay running");
                *self.0.metrics.lock().unwrap_or_else(|p| p.into_inner()) = Some(shell.metrics());
                *running = Some(Running { shell, own });
                refused
            }
        };
        for e in refused {
            tracing::warn!(error = %e, "overlay peer refused");
        }
        Ok(Action::await_change())
    }
}
