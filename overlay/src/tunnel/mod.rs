//! The node overlay of the flat pod network, as Flannel's UDP backend: every IP packet
//! the TUN gives for another node's subnet travels as the payload of one UDP datagram to
//! that node, which writes it to its own TUN.
//!
//! - [`core`]: the decisions, sans-I/O (peer table, route lookup, anti-spoofing, TTL);
//! - [`ipv4`]: the header fields it reads and the incremental checksum update;
//! - [`metrics`]: the counters, in Prometheus text;
//! - [`shell`]: the TUN device, its address and route, the UDP sockets and the two
//!   directions: batched with the kernel's offloads on a thread each (`offload`, the
//!   default: [`gso`] cuts superpackets, [`gro`] merges them back, [`udp_batch`] sends
//!   and receives many datagrams per syscall, [`checksum`] and [`vnet`] the helpers), or
//!   one read and one send per packet on tokio tasks.

pub mod checksum;
pub mod core;
pub mod gro;
pub mod gso;
pub mod ipv4;
pub mod metrics;
mod offload;
pub mod shell;
pub mod udp_batch;
pub mod vnet;

pub use self::core::{Action, Peer, PeerError, Tunnel, DEFAULT_PORT, ENCAP_OVERHEAD};
pub use self::metrics::{DropReason, Metrics, Snapshot};
pub use self::shell::{OverlayShell, ShellConfig, ShellError, ShellOptions, DEFAULT_DEVICE};
