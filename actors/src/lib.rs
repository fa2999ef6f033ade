//! shoal's core: the object model, the store, and (next) the supervised controller actors.
//!
//! Nothing here knows about HTTP, containers or packets: the gateway, the node-host and
//! the overlay are clients of what this crate defines.

pub mod allocator;
pub mod codec;
pub mod compactor;
pub mod controller;
pub mod controllers;
pub mod defaults;
pub mod events;
pub mod gc;
pub mod informer;
pub mod model;
pub mod pod_actor;
pub mod nodelifecycle;
pub mod registry;
pub mod runtime;
pub mod scheduler;
pub mod standard;
pub mod store;
pub mod validation;
