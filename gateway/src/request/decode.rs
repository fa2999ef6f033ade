//! A write's body, from bytes to a checked typed object, in one place: the format its
//! content type names (JSON, YAML, Kubernetes protobuf), the type meta it must agree
//! with, the unknown and duplicate fields `fieldValidation` turns into warnings or a 400,
//! and the name and namespace of the path it must agree with.

use actix_web::{web, HttpRequest};
use api::model::Resource;
use serde_json::Value;

use crate::error::ApiError;
use crate::request::body;
use crate::request::params::{DeleteOptions, FieldValidation, Target};

/// The message of a body whose namespace is not the path's (Kubernetes' wording).
pub const NAMESPACE_MISMATCH: &str = "the namespace of the provided object does not match the namespace sent on the request";

/// A typed object, and the `Warning` header values its decoding produced.
#[derive(Debug)]
pub struct Decoded<T> {
    pub object: T,
    pub warnings: Vec<String>,
}

/// A parsed body before it is typed: the document and the keys it repeats (looked for
/// only when `fieldValidation` is not Ignore; a protobuf body cannot repeat one).
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// Parses a body in the format `media` names (400 when malformed, 415 when unknown).
pub fn document(bytes: &[u8], media: &str, validation: FieldValidation) -> Result<Document, ApiError> {
    let value = body::parse_document(bytes, media)?;
    let duplicates = if validation == FieldValidation::Ignore || crate::protobuf::is_protobuf(media) {
        Vec::new()
    } else {
        body::duplicate_fields(bytes, media)
    };
    Ok(Document { value, duplicates })
}

/// A body that is not an object, or names another kind or group version, is refused, as
/// Kubernetes does; absent or empty `kind` and `apiVersion` are the request's.
pub fn check_type_meta<T: Resource>(value: &Value) -> Result<(), ApiError> {
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON or YAML object"));
    }
    if let Some(kind) = value.get("kind").and_then(Value::as_str) {
        if !kind.is_empty() && kind != T::INFO.kind {
            return Err(ApiError::bad_request(format!(
                "the kind of the provided object ({kind}) does not match the kind of the request ({})",
                T::INFO.kind
            )));
        }
    }
    if let Some(av) = value.get("apiVersion").and_then(Value::as_str) {
        if !av.is_empty() && av != T::INFO.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version of the provided object ({av}) does not match the API version of the request ({})",
                T::INFO.api_version()
            )));
        }
    }
    Ok(())
}

/// Types a document as `T`; the fields `T` lacks and the `duplicates` of its source are
/// dropped with warnings, or refused, as `validation` says.
pub fn typed<T: Resource>(value: Value, duplicates: &[String], validation: FieldValidation) -> Result<Decoded<T>, ApiError> {
    let (object, unknown) = body::decode_typed::<T>(value)?;
    let warnings = validation.check(T::INFO.kind, T::INFO.version, duplicates, &unknown)?;
    Ok(Decoded { object, warnings })
}

/// The body of a create or replace, from bytes to the object to write: parsed, type meta
/// checked, typed under `validation`, then bound to the path: a replace's empty name is the
/// path's and another is a 400; the namespace is the path's (see [`bind_namespace`]).
pub fn object<T: Resource>(bytes: &[u8], media: &str, validation: FieldValidation, path: &Target) -> Result<Decoded<T>, ApiError> {
    let doc = document(bytes, media, validation)?;
    check_type_meta::<T>(&doc.value)?;
    let mut decoded = typed::<T>(doc.value, &doc.duplicates, validation)?;
    if let Some(name) = path.name.as_deref() {
        let meta = decoded.object.meta_mut();
        if meta.name.is_empty() {
            meta.name = name.to_string();
        }
        if meta.name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta.name
            )));
        }
    }
    bind_namespace(&mut decoded.object, path.ns.as_deref())?;
    Ok(decoded)
}

/// [`object`] for a request: its `fieldValidation`, its body (up to the size limit) and its
/// content type.
pub async fn from_request<T: Resource>(req: &HttpRequest, payload: web::Payload, path: &Target) -> Result<Decoded<T>, ApiError> {
    let validation = FieldValidation::of(req)?;
    let bytes = body::read(payload).await?;
    object::<T>(&bytes, &body::media_type(req), validation, path)
}

/// The body of a merge, JSON or strategic merge patch: JSON whatever its content type
/// (400 when it does not parse); its repeated keys are found as for an object.
pub fn patch_document(bytes: &[u8], validation: FieldValidation) -> Result<Document, ApiError> {
    let duplicates = if validation == FieldValidation::Ignore { Vec::new() } else { body::duplicate_fields(bytes, "application/json") };
    let value = serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    Ok(Document { value, duplicates })
}

/// The body of a server-side apply (YAML, or JSON as YAML): an object of the request's
/// kind that names its `apiVersion` and `kind`, and the path's name (filled in when absent).
pub fn apply_configuration<T: Resource>(bytes: &[u8], validation: FieldValidation, path: &Target) -> Result<Document, ApiError> {
    const MEDIA: &str = "application/apply-patch+yaml";
    let mut doc = document(bytes, MEDIA, validation)?;
    let config = &mut doc.value;
    check_type_meta::<T>(config)?;
    for field in ["apiVersion", "kind"] {
        if config.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(format!("{field} must be set in an applied configuration")));
        }
    }
    match config.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != path.name() => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                path.name()
            )))
        }
        Some(_) => {}
        None => {
            if !config.get("metadata").is_some_and(Value::is_object) {
                config["metadata"] = serde_json::json!({});
            }
            config["metadata"]["name"] = serde_json::json!(path.name());
        }
    }
    Ok(doc)
}

/// Puts the path's namespace on a body object (none for a cluster-scoped kind); a
/// different one in the body is a 400, an empty one is the path's.
pub fn bind_namespace<T: Resource>(obj: &mut T, path_ns: Option<&str>) -> Result<(), ApiError> {
    if !T::INFO.namespaced {
        obj.meta_mut().namespace = None;
        return Ok(());
    }
    let path_ns = path_ns.unwrap_or_default();
    match obj.meta().namespace.as_deref() {
        Some(ns) if !ns.is_empty() && ns != path_ns => Err(ApiError::bad_request(NAMESPACE_MISMATCH)),
        _ => {
            obj.meta_mut().namespace = Some(path_ns.to_string());
            Ok(())
        }
    }
}

/// For an object that carries a namespace already (an apply merged onto the live object):
/// any namespace but the path's, even an empty one, is a 400.
pub fn check_namespace<T: Resource>(obj: &T, path_ns: Option<&str>) -> Result<(), ApiError> {
    match obj.meta().namespace.as_deref() {
        Some(ns) if T::INFO.namespaced && Some(ns) != path_ns => Err(ApiError::bad_request(NAMESPACE_MISMATCH)),
        _ => Ok(()),
    }
}



/// A DELETE's JSON body; an empty (or blank) one means no options.
pub fn delete_options(bytes: &[u8]) -> Result<DeleteOptions, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(DeleteOptions::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::registry::Preconditions;
    use api::model::{Deployment, Namespace};
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as pbmeta;
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
    use prost::Message;

    const JSON: &str = "application/json";
    const YAML: &str = "application/yaml";
    const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

    fn at(ns: Option<&str>, name: Option<&str>) -> Target {
        Target { ns: ns.map(str::to_string), name: name.map(str::to_string) }
    }

    fn deploy(bytes: &str, media: &str, v: FieldValidation, path: &Target) -> Result<Decoded<Deployment>, ApiError> {
        object::<Deployment>(bytes.as_bytes(), media, v, path)
    }

    fn protobuf_namespace(api_version: &str, kind: &str, name: &str) -> Vec<u8> {
        let ns = k8s_pb::api::core::v1::Namespace {
            metadata: Some(pbmeta::ObjectMeta { name: Some(name.into()), ..Default::default() }),
            ..Default::default()
        };
        let u = Unknown {
            type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
            raw: Some(ns.encode_to_vec()),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = crate::protobuf::MAGIC.to_vec();
        out.extend(u.encode_to_vec());
        out
    }

    #[test]
    fn json_yaml_and_protobuf_decode_to_the_same_object() {
        let path = at(Some("default"), None);
        let json = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}}"#;
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n";
        let a = deploy(json, JSON, FieldValidation::Strict, &path).unwrap();
        let b = deploy(yaml, YAML, FieldValidation::Strict, &path).unwrap();
        assert_eq!(serde_json::to_value(&a.object).unwrap(), serde_json::to_value(&b.object).unwrap());
        assert_eq!((a.object.metadata.name.as_str(), a.object.metadata.namespace.as_deref()), ("web", Some("default")));
        assert!(a.warnings.is_empty() && b.warnings.is_empty());
        // Parameters on the media type are the caller's to strip; an empty one is JSON.
        assert!(deploy(json, "", FieldValidation::Strict, &path).is_ok());
        let ns = object::<Namespace>(&protobuf_namespace("v1", "Namespace", "team"), PROTOBUF, FieldValidation::Strict, &at(None, None))
            .unwrap();
        assert_eq!(ns.object.metadata.name, "team");
        assert_eq!(ns.object.metadata.namespace, None);
    }

    #[test]
    fn malformed_empty_and_unknown_formats_are_refused() {
        let path = at(Some("default"), None);
        let e = deploy(r#"{"kind":"#, JSON, FieldValidation::Warn, &path).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.starts_with("error decoding JSON body: "), "{}", e.message);
        let e = deploy("a: [", YAML, FieldValidation::Warn, &path).unwrap_err();
        assert!(e.code == 400 && e.message.starts_with("error decoding YAML body: "), "{}", e.message);
        assert_eq!(deploy("  \n", JSON, FieldValidation::Warn, &path).unwrap_err().message, "the request body is empty");
        assert_eq!(deploy("[1]", JSON, FieldValidation::Warn, &path).unwrap_err().message, "the request body must be a JSON or YAML object");
        let e = deploy("{}", "application/cbor", FieldValidation::Warn, &path).unwrap_err();
        assert_eq!((e.code, e.reason), (415, "UnsupportedMediaType"));
        let e = deploy("{}", PROTOBUF, FieldValidation::Warn, &path).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("magic bytes"), "{}", e.message);
        let e = object::<Namespace>(&protobuf_namespace("v1", "PersistentVolumeClaim", "x"), PROTOBUF, FieldValidation::Warn, &at(None, None)).unwrap_err();
        assert_eq!(e.code, 415);
    }

    #[test]
    fn another_kind_or_api_version_is_a_400() {
        let path = at(Some("default"), None);
        let e = deploy(r#"{"apiVersion": "apps/v1", "kind": "Pod", "metadata": {"name": "x"}}"#, JSON, FieldValidation::Warn, &path).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(e.message, "the kind of the provided object (Pod) does not match the kind of the request (Deployment)");
        let e = deploy(r#"{"apiVersion": "extensions/v1beta1", "kind": "Deployment"}"#, JSON, FieldValidation::Warn, &path).unwrap_err();
        assert_eq!(
            e.message,
            "the API version of the provided object (extensions/v1beta1) does not match the API version of the request (apps/v1)"
        );
        // Absent or empty type meta is the request's.
        assert!(deploy(r#"{"metadata": {"name": "x"}}"#, JSON, FieldValidation::Strict, &path).is_ok());
        assert!(deploy(r#"{"kind": "", "apiVersion": "", "metadata": {"name": "x"}}"#, JSON, FieldValidation::Strict, &path).is_ok());
        // The protobuf envelope's type meta is checked like a JSON body's.
        let e = object::<Deployment>(&protobuf_namespace("v1", "Namespace", "x"), PROTOBUF, FieldValidation::Warn, &path).unwrap_err();
        assert_eq!(e.message, "the kind of the provided object (Namespace) does not match the kind of the request (Deployment)");
    }

    #[test]
    fn the_path_namespace_binds_the_body() {
        let body = |ns: &str| format!(r#"{{"metadata": {{"name": "x"{ns}}}}}"#);
        let d = deploy(&body(""), JSON, FieldValidation::Warn, &at(Some("team"), None)).unwrap();
        assert_eq!(d.object.metadata.namespace.as_deref(), Some("team"));
        let d = deploy(&body(r#", "namespace": """#), JSON, FieldValidation::Warn, &at(Some("team"), None)).unwrap();
        assert_eq!(d.object.metadata.namespace.as_deref(), Some("team"));
        let d = deploy(&body(r#", "namespace": "team""#), JSON, FieldValidation::Warn, &at(Some("team"), None)).unwrap();
        assert_eq!(d.object.metadata.namespace.as_deref(), Some("team"));
        let e = deploy(&body(r#", "namespace": "other""#), JSON, FieldValidation::Warn, &at(Some("team"), None)).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, NAMESPACE_MISMATCH));
        // A cluster-scoped kind has no namespace, whatever the body says.
        let n = object::<Namespace>(br#"{"metadata": {"name": "a", "namespace": "b"}}"#, JSON, FieldValidation::Warn, &at(None, None)).unwrap();
        assert_eq!(n.object.metadata.namespace, None);
        // An object that carries its namespace must keep the path's.
        let mut kept = Deployment::default();
        kept.metadata.namespace = Some("team".into());
        assert!(check_namespace(&kept, Some("team")).is_ok());
        kept.metadata.namespace = Some(String::new());
        assert_eq!(check_namespace(&kept, Some("team")).unwrap_err().message, NAMESPACE_MISMATCH);
        kept.metadata.namespace = None;
        assert!(check_namespace(&kept, Some("team")).is_ok());
    }

    #[test]
    fn a_replace_takes_the_path_name_and_refuses_another() {
        let path = at(Some("default"), Some("web"));
        let d = deploy(r#"{"metadata": {}}"#, JSON, FieldValidation::Warn, &path).unwrap();
        assert_eq!(d.object.metadata.name, "web");
        let e = deploy(r#"{"metadata": {"name": "api", "namespace": "other"}}"#, JSON, FieldValidation::Warn, &path).unwrap_err();
        // The name is checked before the namespace.
        assert_eq!((e.code, e.message.as_str()), (400, "the name of the object (api) does not match the name on the URL (web)"));
    }

    #[test]
    fn unknown_and_duplicate_fields_follow_field_validation() {
        let path = at(Some("default"), None);
        let json = r#"{"metadata": {"name": "x"}, "spec": {"replicas": 1, "replicas": 2, "colour": "red"}}"#;
        let yaml = "metadata:\n  name: x\nspec:\n  replicas: 1\n  replicas: 2\n  colour: red\n";
        for (body, media) in [(json, JSON), (yaml, YAML)] {
            let e = deploy(body, media, FieldValidation::Strict, &path).unwrap_err();
            assert_eq!(e.code, 400, "{media}");
            assert_eq!(
                e.message,
                r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: duplicate field "spec.replicas", unknown field "spec.colour""#,
                "{media}"
            );
            let d = deploy(body, media, FieldValidation::Warn, &path).unwrap();
            assert_eq!(d.warnings, vec![r#"299 - "duplicate field \"spec.replicas\"""#.to_string(), r#"299 - "unknown field \"spec.colour\"""#.into()]);
            // The last of the repeated values wins.
            assert_eq!(d.object.spec.replicas, Some(2), "{media}");
            let d = deploy(body, media, FieldValidation::Ignore, &path).unwrap();
            assert!(d.warnings.is_empty(), "{media}");
        }
        // Ignore does not even look for duplicates.
        assert!(document(json.as_bytes(), JSON, FieldValidation::Ignore).unwrap().duplicates.is_empty());
        assert_eq!(document(json.as_bytes(), JSON, FieldValidation::Warn).unwrap().duplicates, vec!["spec.replicas".to_string()]);
    }

    #[test]
    fn a_patch_is_json_with_its_duplicates() {
        let d = patch_document(br#"{"spec": {"replicas": 1, "replicas": 2}}"#, FieldValidation::Warn).unwrap();
        assert_eq!((d.value["spec"]["replicas"].as_i64(), d.duplicates), (Some(2), vec!["spec.replicas".to_string()]));
        assert!(patch_document(br#"{"a": 1, "a": 2}"#, FieldValidation::Ignore).unwrap().duplicates.is_empty());
        let e = patch_document(b"spec: {}", FieldValidation::Warn).unwrap_err();
        assert!(e.code == 400 && e.message.starts_with("error decoding patch: "), "{}", e.message);
    }

    #[test]
    fn an_applied_configuration_names_its_type_and_the_path_name() {
        let path = at(Some("default"), Some("web"));
        let cfg = |s: &str| apply_configuration::<Deployment>(s.as_bytes(), FieldValidation::Warn, &path);
        let d = cfg("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n").unwrap();
        assert_eq!(d.value["metadata"]["name"], "web");
        let d = cfg(r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"a": "b"}}}"#).unwrap();
        assert_eq!(d.value["metadata"]["labels"]["a"], "b");
        assert_eq!(cfg("kind: Deployment\n").unwrap_err().message, "apiVersion must be set in an applied configuration");
        assert_eq!(cfg("apiVersion: apps/v1\n").unwrap_err().message, "kind must be set in an applied configuration");
        assert_eq!(cfg("apiVersion: v1\nkind: Deployment\n").unwrap_err().message,
            "the API version of the provided object (v1) does not match the API version of the request (apps/v1)");
        let e = cfg("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, "the name of the object (api) does not match the name on the URL (web)"));
        let d = cfg("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 1\n  replicas: 2\n").unwrap();
        assert_eq!(d.duplicates, vec!["spec.replicas".to_string()]);
    }

    #[actix_rt::test]
    async fn a_body_over_the_limit_is_a_413() {
        let chunk = web::Bytes::from(vec![b' '; 1024 * 1024]);
        let chunks = |n: usize| futures::stream::iter((0..n).map(|_| Ok::<_, std::convert::Infallible>(chunk.clone())));
        assert_eq!(body::read(chunks(3)).await.unwrap().len(), body::MAX_BODY);
        let e = body::read(chunks(4)).await.unwrap_err();
        assert_eq!((e.code, e.reason), (413, "RequestEntityTooLarge"));
        assert_eq!(e.message, format!("the request body is larger than the limit of {} bytes", body::MAX_BODY));
        let broken = futures::stream::iter([Err::<web::Bytes, _>("connection reset")]);
        assert_eq!(body::read(broken).await.unwrap_err().message, "reading request body: connection reset");
    }

    #[test]
    fn delete_options_are_optional_json() {
        let o = delete_options(b"").unwrap();
        assert!(o.propagation_policy.is_none() && o.preconditions.is_none() && o.dry_run.is_empty());
        let o = delete_options(br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Orphan","dryRun":["All"],
            "preconditions":{"uid":"u","resourceVersion":"3"}}"#)
        .unwrap();
        assert_eq!(o.propagation_policy.as_deref(), Some("Orphan"));
        assert_eq!(o.dry_run, vec!["All".to_string()]);
        let p: Preconditions = o.preconditions.unwrap().into();
        assert_eq!((p.uid.as_deref(), p.resource_version.as_deref()), (Some("u"), Some("3")));
        let e = delete_options(b"{").unwrap_err();
        assert!(e.code == 400 && e.message.starts_with("error decoding DeleteOptions: "), "{}", e.message);
    }
}
