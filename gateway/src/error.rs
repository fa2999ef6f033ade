//! API errors rendered as Kubernetes `Status` objects with the matching HTTP code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use actors::registry::RegistryError;
use actors::store::StoreError;
use serde_json::{json, Value};

/// An error answered to a client: HTTP code, Kubernetes reason and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError { code, reason, message: message.into(), details: None }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NotFound", message)
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(413, "RequestEntityTooLarge", format!("the request body is larger than the limit of {limit} bytes"))
    }
    pub fn unsupported_media(ct: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/json-patch+json (got {ct:?})"))
    }
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(405, "MethodNotAllowed", format!("the server does not allow this method on the requested resource: {method}"))
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` object for this error.
    pub fn status_body(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        // A 429 or 503 that says when to come back says it in the header too, as upstream.
        if let Some(s) = self.details.as_ref().and_then(|d| d.get("retryAfterSeconds")).and_then(Value::as_u64) {
            res.insert_header(("Retry-After", s.to_string()));
        }
        res.content_type("application/json").body(self.status_body().to_string())
    }
}

/// Maps a registry error to its Status; `group`/`kind` fill `details` like Kubernetes.
pub fn from_registry(e: RegistryError, group: &str, plural: &str) -> ApiError {
    let message = e.to_string();
    match e {
        // The missing thing names itself (`namespaces` for a create in a missing namespace).
        RegistryError::NotFound { name, kind } => {
            let (plural, group) = kind.split_once('.').unwrap_or((kind.as_str(), ""));
            ApiError {
                details: Some(json!({"name": name, "group": group, "kind": plural})),
                ..ApiError::new(404, "NotFound", message)
            }
        }
        RegistryError::AlreadyExists { name, .. } => ApiError {
            details: Some(json!({"name": name, "group": group, "kind": plural})),
            ..ApiError::new(409, "AlreadyExists", message)
        },
        RegistryError::Conflict { name, .. } => ApiError {
            details: Some(json!({"name": name, "group": group, "kind": plural})),
            ..ApiError::new(409, "Conflict", message)
        },
        RegistryError::Invalid { kind, name, errors } => {
            let causes: Vec<Value> = errors
                .iter()
                .map(|fe| {
                    let full = fe.to_string();
                    let msg = full.strip_prefix(&format!("{}: ", fe.field)).unwrap_or(&full).to_string();
                    json!({"reason": fe.kind.cause_reason(), "message": msg, "field": fe.field})
                })
                .collect();
            let qualified = if group.is_empty() { kind.clone() } else { format!("{kind}.{group}") };
            let list = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>();
            let joined = if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
            ApiError {
                details: Some(json!({"name": name, "group": group, "kind": kind, "causes": causes})),
                ..ApiError::new(422, "Invalid", format!("{qualified} {name:?} is invalid: {joined}"))
            }
        }
        RegistryError::BadRequest(m) => ApiError::bad_request(m),
        RegistryError::Forbidden { name, .. } => ApiError {
            details: Some(json!({"name": name, "group": group, "kind": plural})),
            ..ApiError::new(403, "Forbidden", message)
        },
        RegistryError::Expired { .. } => ApiError::new(410, "Expired", message),
        RegistryError::Codec(_) => ApiError::internal(format!("{message}: {e:?}")),
        RegistryError::Store(StoreError::Unavailable(m)) => ApiError::new(503, "ServiceUnavailable", m),
        RegistryError::Store(StoreError::Compacted { requested, compacted }) => {
            ApiError::new(410, "Expired", format!("too old resource version: {requested} ({compacted})"))
        }
        RegistryError::Store(other) => ApiError::internal(other.to_string()),
    }
}
