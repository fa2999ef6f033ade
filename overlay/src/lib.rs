//! Pod networking: node subnets, bridge + veth, the UDP overlay and Service NAT (data-plane issues).
//!
//! - [`ipam`]: pod addresses of a node's subnet (sans-I/O [`ipam::Pool`], one file per pod on disk);
//! - [`netns`]: the node bridge and the per-pod veth pair (trait [`netns::Links`], rtnetlink, a fake);
//! - [`node`]: the two together, one node's pod network ([`node::NodeNet`]);
//! - [`dns`]: each pod's `/etc/hosts` and `/etc/resolv.conf`;
//! - [`proxy`]: the node's service proxy (Services → one nftables table, kube-proxy's layout);
//! - [`tunnel`]: the node overlay between nodes (TUN + UDP, Flannel's UDP backend).

pub mod dns;
pub mod ipam;
pub mod netns;
pub mod node;
pub mod proxy;
pub mod tunnel;

pub use node::{Address, NodeNet, NodeNetConfig, NodeNetError};
