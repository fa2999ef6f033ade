//! Cluster DNS for shoal: answers Kubernetes DNS names for Services, endpoints and pods
//! from the store's Services and EndpointSlices, and forwards every other name upstream.
//!
//! The node host starts a [`DnsServer`] once, then, whenever its Service or EndpointSlice
//! cache changes, builds the whole zone again with [`Records::build`] and hands it to
//! [`DnsServer::update`] (level-triggered: no deltas). [`Records`] does no I/O and can be
//! asked questions directly ([`Records::answer`]).

pub mod metrics;
pub mod records;
pub mod server;

pub use hickory_proto as proto;
pub use metrics::Metrics;
pub use records::{Answer, Rcode, Records, Scope, DEFAULT_DOMAIN};
pub use server::{upstream_from_resolv_conf, DnsError, DnsServer, ServerConfig};
