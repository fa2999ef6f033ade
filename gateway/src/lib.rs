//! shoal's API server: Kubernetes REST paths and watch over the store, with validation,
//! Status errors and Prometheus metrics.

use std::sync::Arc;

use actors::registry::Registry;

pub mod debug;
pub mod discovery;
pub mod encoded;
pub mod error;
pub mod eviction;
pub mod fields;
pub mod freshness;
pub mod health;
pub mod images;
pub mod metrics;
pub mod metrics_api;
pub mod negotiate;
pub mod openapi;
pub mod pagination;
pub mod patch;
pub mod pod_proxy;
pub mod protobuf;
pub mod request;
pub mod response;
pub mod routes;
pub mod server;
pub mod table;
pub mod verbs;
pub mod watch;

pub use server::{bootstrap, serve};

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub metrics: Arc<metrics::Metrics>,
    /// The supervision tree, when this process runs the controllers.
    pub control: Option<supervision::ControlHandle>,
    /// The latest node usage and custom metrics (`metrics_api`); the controllers read
    /// the same registry (`ControlConfig::metrics`).
    pub usage: Arc<actors::metrics::MetricsRegistry>,
    /// Each listed or watched object's JSON at its revision (`encoded`).
    pub encoded: Arc<encoded::EncodedCache>,
}
