//! Prometheus metrics: request counts and latency histograms by verb and resource, and
//! the supervision tree's restarts (copied from `supervision::Tree` when scraped).

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// What a handler did, left in the request's extensions for the metrics middleware.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo {
    pub verb: &'static str,
    pub resource: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountLabels {
    verb: String,
    resource: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    verb: String,
    resource: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SupervisorLabels {
    supervisor: String,
}

/// The supervision tree's counters, brought up to the tree's figures on each scrape.
struct Supervision {
    actor_restarts: Family<SupervisorLabels, Counter>,
    tree_restarts: Counter,
    tree_backoff: Gauge<f64, AtomicU64>,
}

impl Supervision {
    fn register(registry: &mut Registry) -> Self {
        let s = Supervision { actor_restarts: Family::default(), tree_restarts: Counter::default(), tree_backoff: Gauge::default() };
        registry.register(
            "shoal_actor_restarts",
            "Restarts of actors (kills, crashes, escalations) by the supervisor above them",
            s.actor_restarts.clone(),
        );
        registry.register(
            "shoal_supervision_tree_restarts",
            "Restarts of the whole supervision tree after the root's restart budget was spent",
            s.tree_restarts.clone(),
        );
        registry.register(
            "shoal_supervision_tree_backoff_seconds",
            "The back-off a stopped supervision tree waits before it starts again (0 while it runs)",
            s.tree_backoff.clone(),
        );
        s
    }

    /// Counters only grow: add what the tree counted since the last scrape.
    fn sync(&self, tree: &supervision::Tree) {
        for (name, restarts) in tree.restarts_by_supervisor() {
            let c = self.actor_restarts.get_or_create(&SupervisorLabels { supervisor: name });
            c.inc_by(restarts.saturating_sub(c.get()));
        }
        self.tree_restarts.inc_by(tree.tree_restarts().saturating_sub(self.tree_restarts.get()));
        self.tree_backoff.set(tree.backoff().map_or(0.0, |d| d.as_secs_f64()));
    }
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<CountLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    supervision: Supervision,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Family::<CountLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register("shoal_apiserver_requests", "API requests by verb, resource and HTTP code", requests.clone());
        registry.register(
            "shoal_apiserver_request_duration_seconds",
            "API request latency by verb and resource (watches: until the stream starts)",
            latency.clone(),
        );
        let supervision = Supervision::register(&mut registry);
        Arc::new(Metrics { registry: Mutex::new(registry), requests, latency, supervision })
    }

    fn observe(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&CountLabels { verb: verb.into(), resource: resource.into(), code: code.to_string() })
            .inc();
        self.latency.get_or_create(&LatencyLabels { verb: verb.into(), resource: resource.into() }).observe(seconds);
    }

    /// The Prometheus text exposition, with the supervision tree's figures when there is one.
    pub fn render(&self, tree: Option<&supervision::Tree>) -> String {
        let mut out = String::new();
        if let Ok(reg) = self.registry.lock() {
            // Under the lock, so that two scrapes do not both add the same restarts.
            if let Some(t) = tree {
                self.supervision.sync(t);
            }
            let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        }
        out
    }
}

/// Middleware: times every request and counts it under the verb/resource its handler set.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let metrics = req.app_data::<actix_web::web::Data<crate::AppState>>().map(|s| s.metrics.clone());
    let method = req.method().as_str().to_ascii_lowercase();
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let info = res.request().extensions().get::<RequestInfo>().copied();
        let (verb, resource) = match info {
            Some(i) => (i.verb.to_string(), i.resource),
            None => (method, "other"),
        };
        m.observe(&verb, resource, res.status().as_u16(), start.elapsed().as_secs_f64());
    }
    Ok(res)
}

pub async fn endpoint(state: actix_web::web::Data<crate::AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render(state.control.as_ref().map(|c| &c.tree)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use supervision::{Cause, Tree};

    #[test]
    fn restarts_and_tree_restarts_are_exposed_as_counters() {
        let m = Metrics::new();
        let tree = Tree::default();
        tree.add_supervisor("deployments", "manager");
        tree.supervisor_restarted("deployments", Cause::Killed);
        tree.supervisor_restarted("deployments", Cause::Escalated);
        tree.tree_stopped(std::time::Duration::from_secs(1));
        tree.tree_restarted();
        let text = m.render(Some(&tree));
        assert!(text.contains(r#"shoal_actor_restarts_total{supervisor="deployments"} 2"#), "{text}");
        assert!(text.contains("shoal_supervision_tree_restarts_total 1"), "{text}");
        // A second scrape adds nothing new.
        let again = m.render(Some(&tree));
        assert!(again.contains(r#"shoal_actor_restarts_total{supervisor="deployments"} 2"#), "{again}");
    }
}
