//! Content negotiation: the API answers in JSON (plain, or as a Table or an aggregated
//! discovery document when asked); a client that accepts none of those gets 406 Not
//! Acceptable, never a body in a format it did not ask for.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::ResponseError;

use crate::error::ApiError;

/// The `as=` views the API can render.
const VIEWS: &[&str] = &["Table", "APIGroupDiscoveryList"];

/// Whether one of the media ranges in an `Accept` header is something shoal serves.
/// `views` lists the `as=` parameters acceptable here (none: any `as=` is refused).
pub fn servable(accept: &str, views: &[&str]) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let view = parts.find_map(|p| p.strip_prefix("as="));
        let media_ok = media.is_empty() || media == "*/*" || media == "application/*" || media == "application/json";
        media_ok && view.is_none_or(|v| views.contains(&v))
    })
}

/// Middleware for `/api` and `/apis`: 406 when nothing the client accepts can be served.
pub async fn refuse_unservable(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path();
    let api = path == "/api" || path == "/apis" || path.starts_with("/api/") || path.starts_with("/apis/");
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let (true, Some(accept)) = (api, accept) {
        if !servable(&accept, VIEWS) {
            let err = ApiError::new(
                406,
                "NotAcceptable",
                format!("only the following media types are accepted: application/json (with as=Table or as=APIGroupDiscoveryList); got {accept:?}"),
            );
            return Ok(req.into_response(err.error_response()));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tables_and_wildcards_are_served_protobuf_alone_is_not() {
        assert!(servable("application/json", VIEWS));
        assert!(servable("application/vnd.kubernetes.protobuf,application/json", VIEWS));
        assert!(servable("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", VIEWS));
        assert!(servable("*/*", VIEWS));
        assert!(!servable("application/vnd.kubernetes.protobuf", VIEWS));
        assert!(!servable("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", VIEWS));
        assert!(!servable("application/yaml", VIEWS));
    }
}
