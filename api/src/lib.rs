//! shoal's object model: the Kubernetes-shaped API types, their validation and
//! server-side defaults, and the bincode envelope they are stored in.
//!
//! Nothing here does I/O: the control plane (`actors`), the gateway, the typed client,
//! node-hosts and the overlay all share these types without linking a store or a runtime.
//! Dependencies point one way: `validation` and `defaults` implement what `model`
//! declares (`Validate`, `ApplyDefaults`); `model` never reaches into them.

pub mod codec;
pub mod cron;
pub mod defaults;
pub mod field;
pub mod image;
pub mod inert;
pub mod kinds;
pub mod metrics;
pub mod model;
pub mod network;
pub mod time;
pub mod validation;

pub use field::{FieldError, FieldErrorKind};
pub use kinds::{for_each_kind, for_each_stored_kind, served_kinds, KindVisitor, ALL_KINDS, VIEW_KINDS};
pub use model::{KindInfo, Resource};
