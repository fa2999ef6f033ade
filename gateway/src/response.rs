//! What handlers answer: `Result<HttpResponse, ApiError>`, and JSON bodies with `Warning`
//! headers.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use crate::error::ApiError;

pub type ApiResult = Result<HttpResponse, ApiError>;

/// A JSON response with optional `Warning` headers.
pub fn json_response<S: Serialize>(code: StatusCode, body: &S, warnings: &[String]) -> ApiResult {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::internal(format!("encoding response: {e}")))?;
    let mut b = HttpResponse::build(code);
    b.content_type("application/json");
    for w in warnings {
        b.append_header(("Warning", w.as_str()));
    }
    Ok(b.body(bytes))
}
