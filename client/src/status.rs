//! The server's `Status` (meta/v1): what every failed request answers, decoded so that a
//! caller can branch on its code and reason.

use serde::{Deserialize, Serialize};

/// A `Status` object as the API server sends it with a non-2xx answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    /// `Success` or `Failure`.
    pub status: String,
    /// The HTTP status code.
    pub code: u16,
    /// Machine-readable: `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Expired`, ….
    pub reason: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusDetails {
    pub name: String,
    pub group: String,
    pub kind: String,
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i32>,
}

/// One problem of an `Invalid` answer, with the field it concerns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusCause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

impl Status {
    /// The Status of an answer with HTTP `code` and `body`: the body decoded when it is a
    /// Status, otherwise one made from the code and the body's text.
    pub fn from_response(code: u16, body: &[u8]) -> Status {
        let mut status = match serde_json::from_slice::<Status>(body) {
            Ok(s) if !s.reason.is_empty() || !s.message.is_empty() => s,
            _ => Status {
                status: "Failure".into(),
                reason: reason_for(code).into(),
                message: String::from_utf8_lossy(body).trim().to_string(),
                ..Default::default()
            },
        };
        if status.code == 0 {
            status.code = code;
        }
        if status.reason.is_empty() {
            status.reason = reason_for(code).into();
        }
        status
    }
}

/// Kubernetes' reason for an HTTP code, for answers that carry no Status.
fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_status_body_with_causes() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1",
            "reason":"Invalid","details":{"name":"web","group":"apps","kind":"deployments",
            "causes":[{"reason":"FieldValueInvalid","message":"Invalid value: -1","field":"spec.replicas"}]},"code":422}"#;
        let s = Status::from_response(422, body);
        assert_eq!(s.code, 422);
        assert_eq!(s.reason, "Invalid");
        let d = s.details.expect("details");
        assert_eq!((d.name.as_str(), d.group.as_str(), d.kind.as_str()), ("web", "apps", "deployments"));
        assert_eq!(d.causes[0].field, "spec.replicas");
    }

    #[test]
    fn a_body_that_is_no_status_keeps_the_code_and_the_text() {
        let s = Status::from_response(404, b"404 page not found\n");
        assert_eq!((s.code, s.reason.as_str(), s.message.as_str()), (404, "NotFound", "404 page not found"));
        let s = Status::from_response(500, br#"{"some":"json"}"#);
        assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    }
}
