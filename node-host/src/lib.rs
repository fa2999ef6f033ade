//! Node agent: runs the pods bound to this node — one supervised actor per pod owning its
//! sandbox and containers (through `runtime`), its images (`image`), volumes (`volumes`)
//! and network — plus the node's registration, lease and status (`node`). `agent` ties
//! them together over the supervision runtime (`world`); `simulate` runs fake nodes
//! (like kwok) through the HTTP API.

pub mod agent;
pub mod bundle;
pub mod host;
pub mod logs;
pub mod server;
pub mod image;
pub mod netplane;
pub mod network;
pub mod node;
pub mod pod;
pub mod runtime;
pub mod simulate;
pub mod streams;
pub mod volumes;
pub mod world;

pub use agent::{run_agent, AgentError, AgentOptions, AgentParts, ContainerInfo, NodeStats, PodInfo};
pub use host::{run_host, HostError, HostOptions};
pub use simulate::{run_simulated, run_simulated_until, SimError, SimOptions};
