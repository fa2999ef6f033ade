//! The metrics APIs, served from the in-memory `actors::metrics::MetricsRegistry`:
//!
//! - `POST /apis/metrics.shoal.io/v1/usage` (bincode `UsageReport`): a node's latest
//!   usage window (shoal's own endpoint; nodes are clients of the API);
//! - `metrics.k8s.io/v1beta1` (`resource.rs`): NodeMetrics and PodMetrics, list and get,
//!   label selectors, joined with the Nodes and Pods in the store (what `kubectl top`
//!   and metrics-server clients read);
//! - `custom.metrics.k8s.io/v1beta2` (`custom.rs`): MetricValueLists about pods and other
//!   objects; values are written with `POST`/`PUT` to the path they are read from.
//!
//! The groups are listed in discovery (`discovery::extra_groups`).

pub mod custom;
pub mod resource;

use actix_web::{web, HttpRequest, HttpResponse};
use api::metrics::{UsageReport, REPORT_CONTENT_TYPE, REPORT_PATH};
use api::model::LabelSelector;

use crate::error::ApiError;
use crate::request::body;
use crate::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(REPORT_PATH, web::post().to(report));
    resource::configure(cfg);
    custom::configure(cfg);
}

/// Takes a node's usage report.
async fn report(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let media = body::media_type(&req);
    if media != REPORT_CONTENT_TYPE {
        return Err(ApiError::new(415, "UnsupportedMediaType", format!("the body of a usage report must be {REPORT_CONTENT_TYPE}, not {media:?}")));
    }
    let bytes = body::read(payload).await?;
    let r = UsageReport::decode(&bytes).map_err(|e| ApiError::bad_request(format!("decoding the usage report: {e}")))?;
    state.usage.report(r).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(HttpResponse::NoContent().finish())
}

/// The `labelSelector` query parameter, parsed (None when absent or empty).
pub(crate) fn label_selector(req: &HttpRequest, param: &str) -> Result<Option<LabelSelector>, ApiError> {
    let q = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("query: {e}")))?;
    match q.get(param).map(String::as_str).filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(s) => api::model::parse_selector_string(s).map(Some).map_err(|e| ApiError::bad_request(format!("{param}: {e}"))),
    }
}

/// A window as a Go duration (`10s`, `2.5s`), as metav1.Duration is written.
pub(crate) fn go_duration(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    }
}
