//! Cluster DNS for shoal: answers Kubernetes DNS names for Services, endpoints and pods
//! from the store's Services and EndpointSlices, and forwards every other name upstream.

pub mod metrics;
pub mod records;
pub mod server;

pub use hickory_proto as proto;
pub use metrics::Metrics;
pub use records::{Answer, Rcode, Records, Scope, DEFAULT_DOMAIN};
pub use server::{upstream_from_resolv_conf, DnsError, DnsServer, ServerConfig};
