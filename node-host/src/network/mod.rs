//! The pod network seam: gives a sandbox's network namespace an address on this node's
//! pod subnet. The real one (the `overlay` crate's node bridge and veth pairs) and a
//! recording fake implement it.

use std::net::Ipv4Addr;
use std::path::Path;

use async_trait::async_trait;

pub mod bridge;

pub use bridge::{BridgeNetwork, BridgeOptions};

/// A pod's address, as the sandbox got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodAddress {
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("no free address left in {0}")]
    Exhausted(String),
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait PodNetwork: Send + Sync + 'static {
    /// Prepares the node side (the bridge with the subnet's gateway address).
    async fn ensure_node(&self, pod_cidr: &str) -> Result<(), NetworkError>;
    /// The node stops: removes the bridge if no pod is wired to it any more (pods that
    /// still run keep theirs, for the next agent to adopt). Nothing by default.
    async fn shutdown(&self) -> Result<(), NetworkError> {
        Ok(())
    }
    /// Wires the namespace at `netns` to the node bridge and gives it an address; the
    /// same pod (by uid) always gets the address it already holds.
    async fn attach(&self, pod_uid: &str, netns: &Path) -> Result<PodAddress, NetworkError>;
    /// Removes the pod's veth and frees its address.
    async fn detach(&self, pod_uid: &str) -> Result<(), NetworkError>;
    /// The address a pod holds (e.g. after an agent restart), if any.
    fn address(&self, pod_uid: &str) -> Option<PodAddress>;
}

pub mod fake;
