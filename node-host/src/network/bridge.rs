//! The real pod network: the `overlay` crate's node bridge (`shoal0`, the pod CIDR's
//! first address as gateway) and one veth pair per pod, with addresses kept in
//! `<root>/network/ipam/<pod-uid>` so that a restarted agent gives every pod the address
//! it held. Netlink and file work runs on tokio's blocking threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use overlay::ipam::IpamError;
use overlay::netns::{Links, VethLinks};
use overlay::{NodeNet, NodeNetConfig, NodeNetError};

use super::{NetworkError, PodAddress, PodNetwork};

/// How the node's pod network is set up.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// The node's state directory (`--root-dir`).
    pub root_dir: PathBuf,
    /// The bridge's name (default `shoal0`).
    pub bridge: String,
    /// MTU of the bridge and the veths (None: 1500).
    pub mtu: Option<u32>,
    /// The node's network namespace as a file, when the node does not live in the
    /// agent's own (tests; a node run inside a namespace of its own).
    pub node_netns: Option<PathBuf>,
}

impl BridgeOptions {
    pub fn new(root_dir: impl Into<PathBuf>) -> Self {
        BridgeOptions { root_dir: root_dir.into(), bridge: overlay::node::DEFAULT_BRIDGE.into(), mtu: None, node_netns: None }
    }
}

pub struct BridgeNetwork<L: Links = VethLinks> {
    net: Arc<NodeNet<L>>,
}

fn error(e: NodeNetError) -> NetworkError {
    match e {
        NodeNetError::Ipam(IpamError::Exhausted(subnet)) => NetworkError::Exhausted(subnet.to_string()),
        other => {
            // The whole chain: "creating the veth pair …: Operation not permitted".
            let mut msg = other.to_string();
            let mut src = std::error::Error::source(&other);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            NetworkError::Setup(msg)
        }
    }
}

fn address(a: overlay::Address) -> PodAddress {
    PodAddress { ip: a.ip, prefix_len: a.prefix_len, gateway: a.gateway }
}

impl BridgeNetwork<VethLinks> {
    /// The kernel's bridge and veths, in `node_netns`, or else in the network namespace
    /// of the thread calling `new` (held open: later calls may run on any thread). Reads
    /// the stored pod addresses at once.
    pub fn new(opts: BridgeOptions) -> Result<Self, NetworkError> {
        let links = match &opts.node_netns {
            Some(p) => VethLinks::in_namespace(p),
            None => VethLinks::new(),
        };
        let links = links.map_err(|e| NetworkError::Setup(format!("opening the node's network namespace: {e}")))?;
        Self::with_links(opts, links)
    }
}

impl<L: Links> BridgeNetwork<L> {
    /// Over any [`Links`] (e.g. `overlay::netns::FakeLinks`).
    pub fn with_links(opts: BridgeOptions, links: L) -> Result<Self, NetworkError> {
        let config = NodeNetConfig { root: opts.root_dir, bridge: opts.bridge, mtu: opts.mtu };
        Ok(BridgeNetwork { net: Arc::new(NodeNet::open(config, links).map_err(error)?) })
    }

    /// The overlay's node network underneath (its links, the pods holding addresses).
    pub fn node_net(&self) -> &NodeNet<L> {
        &self.net
    }

    async fn blocking<R: Send + 'static>(&self, f: impl FnOnce(&NodeNet<L>) -> Result<R, NodeNetError> + Send + 'static) -> Result<R, NetworkError> {
        let net = self.net.clone();
        tokio::task::spawn_blocking(move || f(&net))
            .await
            .map_err(|e| NetworkError::Setup(format!("pod network task failed: {e}")))?
            .map_err(error)
    }
}

#[async_trait]
impl<L: Links> PodNetwork for BridgeNetwork<L> {
    async fn ensure_node(&self, pod_cidr: &str) -> Result<(), NetworkError> {
        let cidr = pod_cidr.to_string();
        self.blocking(move |n| n.ensure_node(&cidr).map(|_| ())).await
    }

    async fn shutdown(&self) -> Result<(), NetworkError> {
        self.blocking(|n| {
            let bridge = n.config().bridge.clone();
            n.links().remove_bridge_if_unused(&bridge).map(|_| ()).map_err(overlay::NodeNetError::from)
        })
        .await
    }

    async fn attach(&self, pod_uid: &str, netns: &Path) -> Result<PodAddress, NetworkError> {
        let (uid, ns) = (pod_uid.to_string(), netns.to_path_buf());
        self.blocking(move |n| n.attach(&uid, &ns)).await.map(address)
    }

    async fn detach(&self, pod_uid: &str) -> Result<(), NetworkError> {
        let uid = pod_uid.to_string();
        self.blocking(move |n| n.detach(&uid)).await
    }

    fn address(&self, pod_uid: &str) -> Option<PodAddress> {
        self.net.address(pod_uid).map(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay::netns::FakeLinks;

    #[tokio::test]
    async fn pods_keep_their_address_across_a_restart_and_lose_it_on_detach() {
        let root = tempfile::tempdir().unwrap();
        let opts = BridgeOptions::new(root.path());
        let net = BridgeNetwork::with_links(opts.clone(), FakeLinks::default()).unwrap();
        assert!(matches!(net.attach("a", Path::new("/ns/a")).await, Err(NetworkError::Setup(_))), "no pod CIDR yet");
        net.ensure_node("10.244.5.0/24").await.unwrap();
        let a = net.attach("a", Path::new("/ns/a")).await.unwrap();
        assert_eq!(a, PodAddress { ip: "10.244.5.2".parse().unwrap(), prefix_len: 24, gateway: "10.244.5.1".parse().unwrap() });
        assert_eq!(net.address("a"), Some(a));

        let again = BridgeNetwork::with_links(opts, FakeLinks::default()).unwrap();
        assert_eq!(again.address("a"), Some(a), "known from disk before ensure_node");
        again.ensure_node("10.244.5.0/24").await.unwrap();
        assert_eq!(again.attach("b", Path::new("/ns/b")).await.unwrap().ip.to_string(), "10.244.5.3");
        again.detach("a").await.unwrap();
        assert_eq!(again.address("a"), None);
    }

    #[tokio::test]
    async fn a_full_subnet_is_exhausted() {
        let root = tempfile::tempdir().unwrap();
        let net = BridgeNetwork::with_links(BridgeOptions::new(root.path()), FakeLinks::default()).unwrap();
        net.ensure_node("10.244.5.0/30").await.unwrap();
        net.attach("a", Path::new("/ns/a")).await.unwrap();
        match net.attach("b", Path::new("/ns/b")).await {
            Err(NetworkError::Exhausted(s)) => assert_eq!(s, "10.244.5.0/30"),
            other => panic!("{other:?}"),
        }
    }
}
