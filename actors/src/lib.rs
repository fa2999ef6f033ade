//! shoal's control plane: the store, the registry, informers, the supervision runtime,
//! the controllers and the scheduler, over the object model of the `api` crate.
//!
//! Nothing here knows about HTTP, containers or packets: the gateway, the node-host and
//! the overlay are clients of what this crate defines.

pub mod admission;
pub mod allocator;
pub mod compactor;
pub mod controller;
pub mod controllers;
pub mod events;
pub mod gc;
pub mod graceful;
pub mod informer;
pub mod metrics;
pub mod pod_actor;
pub mod nodelifecycle;
pub mod registry;
pub mod scheduler;
pub mod standard;
pub mod store;
