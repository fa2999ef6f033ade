//! Serving: binds the HTTP server, runs until the passed-in shutdown future resolves.

use std::future::Future;
use std::sync::Arc;

use actix_web::{middleware, web, App, HttpServer};
use api::model::{Namespace, ObjectMeta};
use actors::registry::{Registry, RegistryError};
use actors::store::Store;

use crate::metrics::Metrics;
use crate::AppState;

impl AppState {
    pub fn new(store: Arc<dyn Store>) -> Self {
        AppState { registry: Registry::new(store), metrics: Metrics::new(), control: None, usage: actors::metrics::MetricsRegistry::shared(), encoded: Arc::default() }
    }
}

impl AppState {
    /// Starts the namespace mirror (needs a running tokio runtime), which the registry's
    /// namespace lifecycle plugin then reads so that a create need not read the store to
    /// check its namespace (a miss still asks the store).
    pub fn with_namespace_cache(mut self) -> Self {
        let cache = actors::informer::start::<Namespace>(self.registry.clone());
        self.registry = self.registry.clone().with_namespace_mirror(Arc::new(cache));
        self
    }
}

/// Creates the namespaces every cluster has (`default`, `kube-system`, `kube-public`).
pub async fn bootstrap(registry: &Registry) -> Result<(), RegistryError> {
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let ns = Namespace { metadata: ObjectMeta { name: name.into(), ..Default::default() }, ..Default::default() };
        match registry.create(ns).await {
            Ok(_) | Err(RegistryError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Serves the API on `listener` until `stop` resolves, then drains in-flight requests.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    workers: usize,
    stop: impl Future<Output = ()> + 'static,
) -> std::io::Result<()> {
    let srv = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap(middleware::from_fn(crate::negotiate::refuse_unservable))
            .wrap(middleware::from_fn(crate::metrics::record))
            .configure(crate::routes::configure)
    })
    .workers(workers.max(1))
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    let handle = srv.handle();
    actix_rt::spawn(async move {
        stop.await;
        handle.stop(true).await;
    });
    srv.await
}
