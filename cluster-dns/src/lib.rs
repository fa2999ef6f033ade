//! Cluster DNS for shoal: answers Kubernetes DNS names for Services, endpoints and pods
//! from the store's Services and EndpointSlices, and forwards every other name upstream.

pub mod records;

pub use hickory_proto as proto;
pub use records::{Answer, Rcode, Records, Scope, DEFAULT_DOMAIN};
