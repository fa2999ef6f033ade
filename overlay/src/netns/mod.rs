//! The node's links as a seam: the bridge that holds a node's pod subnet, and the veth
//! pair that puts one pod's network namespace on it. [`veth::VethLinks`] does it with
//! rtnetlink; [`fake::FakeLinks`] records what was asked.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub mod fake;
pub mod netlink;
pub mod sysctl;
pub mod veth;

pub use fake::FakeLinks;
pub use veth::VethLinks;

/// The bridge of a node: its name and the gateway address (the subnet's first address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    pub mtu: Option<u32>,
}

/// One pod's wiring: the host end's name, the pod's namespace and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    pub bridge: String,
    /// The node-side end (on the bridge).
    pub host_name: String,
    /// The pod's network namespace, as a file (`/proc/PID/ns/net`, a bind-mounted ns file).
    pub netns: PathBuf,
    /// The name of the pod-side end inside its namespace (`eth0`).
    pub pod_name: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mtu: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("creating the bridge {bridge}")]
    Bridge { bridge: String, #[source] source: std::io::Error },
    #[error("setting the sysctl {key} in the node's namespace")]
    Sysctl { key: String, #[source] source: std::io::Error },
    #[error("the bridge {0} does not exist")]
    NoBridge(String),
    #[error("creating the veth pair {host} for {}", netns.display())]
    Veth { host: String, netns: PathBuf, #[source] source: std::io::Error },
    #[error("configuring {name} in {}", netns.display())]
    PodSide { name: String, netns: PathBuf, #[source] source: std::io::Error },
    #[error("removing the veth {host}")]
    Remove { host: String, #[source] source: std::io::Error },
    #[error("opening a netlink socket")]
    Socket(#[source] std::io::Error),
}

/// What the node network needs from the kernel (or a fake). Calls block: callers on an
/// async runtime run them on a blocking thread.
pub trait Links: Send + Sync + 'static {
    /// Creates the bridge if missing, brings it up, gives it the gateway address, and turns
    /// forwarding on in the node's namespace. Idempotent.
    fn ensure_bridge(&self, bridge: &BridgeSpec) -> Result<(), LinkError>;
    /// Creates the pair, moves the pod end into the namespace as `pod_name`, gives it the
    /// address and the default route, and brings `lo` up there.
    fn attach(&self, veth: &VethSpec) -> Result<(), LinkError>;
    /// Whether the host end exists and is on the bridge (an adopted pod needs nothing).
    fn is_attached(&self, veth: &VethSpec) -> Result<bool, LinkError>;
    /// Removes the host end (its peer goes with it); returns whether there was one.
    fn detach(&self, host_name: &str) -> Result<bool, LinkError>;
    /// Removes the bridge unless a pod is still wired to it; returns whether it went.
    fn remove_bridge_if_unused(&self, name: &str) -> Result<bool, LinkError>;
}

/// The node-side end's name for a pod: `veth` and 10 hex digits of a hash of the pod's
/// uid (interface names have at most 15 characters), stable across restarts.
pub fn host_veth_name(pod_uid: &str) -> String {
    // FNV-1a, 64 bits: stable across builds and Rust versions (unlike DefaultHasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pod_uid.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("veth{:010x}", h & 0xff_ffff_ffff)
}

/// The namespace file of a process (`/proc/PID/ns/net`).
pub fn netns_of_pid(pid: u32) -> PathBuf {
    Path::new("/proc").join(pid.to_string()).join("ns/net")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_veth_names_are_short_stable_and_distinct() {
        let a = host_veth_name("0b6f6c1e-5d2a-4c1f-9c1b-3d9b2d8f0a11");
        assert_eq!(a, host_veth_name("0b6f6c1e-5d2a-4c1f-9c1b-3d9b2d8f0a11"));
        assert!(a.len() <= 15 && a.starts_with("veth"), "{a}");
        let names: std::collections::HashSet<String> = (0..10_000).map(|i| host_veth_name(&format!("uid-{i}"))).collect();
        assert_eq!(names.len(), 10_000);
    }
}
