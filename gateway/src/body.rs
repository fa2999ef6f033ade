//! Request bodies: size limit, JSON or YAML, and typed decoding that reports the fields
//! shoal does not know (they are dropped with a `Warning` header, as Kubernetes does).

use actix_web::{web, HttpRequest};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Largest request body accepted (Kubernetes' limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Reads the whole body, refusing more than [`MAX_BODY`] bytes with 413.
pub async fn read(mut payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::too_large(MAX_BODY));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// The request's media type without parameters, lower-cased.
pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Parses a JSON or YAML document into a JSON value (400 when malformed).
pub fn parse_document(bytes: &[u8], media: &str) -> Result<Value, ApiError> {
    let is_yaml = media.contains("yaml");
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if is_yaml {
        let text = std::str::from_utf8(bytes).map_err(|_| ApiError::bad_request("the YAML body is not UTF-8"))?;
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))
    } else {
        serde_json::from_slice::<Value>(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))
    }
}

/// Decodes a JSON value into `T`, returning the paths of fields that `T` does not have,
/// in Kubernetes' notation (`spec.template.spec.containers[0].foo`).
pub fn decode_typed<T: DeserializeOwned>(value: Value) -> Result<(T, Vec<String>), ApiError> {
    let mut unknown = Vec::new();
    let obj = serde_ignored::deserialize(value, |path| unknown.push(render_path(&path)))
        .map_err(|e: serde_json::Error| ApiError::bad_request(format!("error decoding object: {e}")))?;
    Ok((obj, unknown))
}

fn render_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        Path::Map { parent, key } => {
            let p = render_path(parent);
            if p.is_empty() {
                key.to_string()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => render_path(parent),
    }
}

/// `Warning` header values for unknown fields (RFC 7234 warn-code 299, like Kubernetes).
pub fn unknown_field_warnings(paths: &[String]) -> Vec<String> {
    paths.iter().map(|p| format!("299 - \"unknown field \\\"{p}\\\"\"")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[test]
    fn unknown_fields_are_reported_with_kubernetes_paths() {
        let v = serde_json::json!({"items": [{"name": "a", "colour": 1}], "extra": true});
        let (_o, unknown): (Outer, _) = decode_typed(v).unwrap();
        assert_eq!(unknown, vec!["items[0].colour".to_string(), "extra".to_string()]);
    }

    #[test]
    fn yaml_and_json_parse_and_garbage_is_400() {
        assert_eq!(parse_document(b"a: 1\n", "application/yaml").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse_document(b"{\"a\":1}", "application/json").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse_document(b"{\"a\":", "application/json").unwrap_err().code, 400);
        assert_eq!(parse_document(b"", "application/json").unwrap_err().code, 400);
    }
}
