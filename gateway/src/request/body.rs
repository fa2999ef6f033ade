//! Request bodies as formats: the size limit, JSON, YAML or protobuf into a JSON value,
//! the keys a document repeats, and typed decoding that reports the fields a type lacks.

use actix_web::{web, HttpRequest};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Largest request body accepted (Kubernetes' limit is 3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Reads the whole body (a `web::Payload`, or any stream of chunks), refusing more than
/// [`MAX_BODY`] bytes with 413.
pub async fn read<S, E>(mut payload: S) -> Result<web::BytesMut, ApiError>
where
    S: Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
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

/// Parses a JSON, YAML or Kubernetes protobuf document into a JSON value (400 when malformed).
pub fn parse_document(bytes: &[u8], media: &str) -> Result<Value, ApiError> {
    let is_yaml = media.contains("yaml");
    // Kubernetes protobuf, as client-go's typed clients send it (they do not fall back
    // to JSON on 415); CBOR and anything else is refused with 415.
    if crate::protobuf::is_protobuf(media) {
        return crate::protobuf::decode(bytes);
    }
    if !(is_yaml || media.is_empty() || media.contains("json")) {
        return Err(ApiError::unsupported_media(media));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    if is_yaml {
        let text = std::str::from_utf8(bytes).map_err(|_| ApiError::bad_request("the YAML body is not UTF-8"))?;
        serde_saphyr::from_str_with_options::<Value>(text, yaml_options())
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))
    } else {
        serde_json::from_slice::<Value>(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))
    }
}

/// Repeated keys reach the decoder (the last one wins in a JSON value); whether they are
/// an error is `fieldValidation`'s decision, after [`duplicate_fields`] found them.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough }
}

/// Paths of the keys that appear more than once in one object of a JSON or YAML body
/// (`spec.replicas`, `spec.template.spec.containers[0].image`). A JSON value keeps only
/// the last of them, so this reads the raw document again.
pub fn duplicate_fields(bytes: &[u8], media: &str) -> Vec<String> {
    let mut out = Vec::new();
    if media.contains("yaml") {
        if let Ok(text) = std::str::from_utf8(bytes) {
            if let Ok(Duplicates(found)) = serde_saphyr::from_str_with_options::<Duplicates>(text, yaml_options()) {
                out = found;
            }
        }
    } else {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let _ = serde::de::DeserializeSeed::deserialize(DupFinder { path: String::new(), out: &mut out }, &mut de);
    }
    out
}

/// The duplicate key paths of a whole document (a `Deserialize` so any format can feed it).
struct Duplicates(Vec<String>);

impl<'de> serde::Deserialize<'de> for Duplicates {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        serde::de::DeserializeSeed::deserialize(DupFinder { path: String::new(), out: &mut out }, d)?;
        Ok(Duplicates(out))
    }
}

/// Walks any document, recording the path of every key already seen in its object.
struct DupFinder<'a> {
    path: String,
    out: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for DupFinder<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for DupFinder<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let seed = DupFinder { path: format!("{}[{i}]", self.path), out: &mut *self.out };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(Key(key)) = map.next_key::<Key>()? {
            let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            if !seen.insert(key) {
                self.out.push(path.clone());
            }
            map.next_value_seed(DupFinder { path, out: &mut *self.out })?;
        }
        Ok(())
    }
}

/// A mapping key of any scalar type, as text.
struct Key(String);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key("null".into()))
            }
            fn visit_none<E>(self) -> Result<Key, E> {
                Ok(Key("null".into()))
            }
        }
        d.deserialize_any(V)
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
    fn duplicate_keys_are_found_in_json_and_yaml_with_paths() {
        let json = br#"{"spec": {"replicas": 1, "replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x", "image": "y"}]}}}, "kind": "D", "kind": "D"}"#;
        assert_eq!(
            duplicate_fields(json, "application/json"),
            vec!["spec.replicas".to_string(), "spec.template.spec.containers[0].image".into(), "kind".into()]
        );
        let yaml = b"spec:\n  replicas: 1\n  replicas: 2\nitems:\n- a: 1\n  a: 2\n";
        assert_eq!(duplicate_fields(yaml, "application/yaml"), vec!["spec.replicas".to_string(), "items[0].a".into()]);
        // The document itself still parses, the last value winning.
        assert_eq!(parse_document(yaml, "application/yaml").unwrap()["spec"]["replicas"], 2);
        assert!(duplicate_fields(br#"{"a": {"b": 1}, "c": {"b": 2}}"#, "application/json").is_empty());
    }

    #[test]
    fn yaml_and_json_parse_and_garbage_is_400() {
        assert_eq!(parse_document(b"a: 1\n", "application/yaml").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse_document(b"{\"a\":1}", "application/json").unwrap(), serde_json::json!({"a": 1}));
        assert_eq!(parse_document(b"{\"a\":", "application/json").unwrap_err().code, 400);
        assert_eq!(parse_document(b"", "application/json").unwrap_err().code, 400);
    }
}
