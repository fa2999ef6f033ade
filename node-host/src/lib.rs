//! Node agent: runs the pods bound to this node. Real containers arrive with the
//! data-plane issues; `simulate` runs fake nodes (like kwok) through the HTTP API.

pub mod simulate;

pub use simulate::{run_simulated, run_simulated_until, SimError, SimOptions};
