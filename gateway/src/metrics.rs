//! Prometheus metrics: request counts and latency histograms by verb and resource.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<CountLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
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
        Arc::new(Metrics { registry: Mutex::new(registry), requests, latency })
    }

    fn observe(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&CountLabels { verb: verb.into(), resource: resource.into(), code: code.to_string() })
            .inc();
        self.latency.get_or_create(&LatencyLabels { verb: verb.into(), resource: resource.into() }).observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(reg) = self.registry.lock() {
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
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(state.metrics.render())
}
