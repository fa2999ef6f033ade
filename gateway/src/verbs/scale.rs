//! The `/scale` subresource: the autoscaling/v1 Scale view of a scalable object; PUT and
//! PATCH write its `spec.replicas`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use actors::registry::{RegistryError, UpdateScope};
use api::model::Resource;
use serde_json::{json, Value};

use super::{err, tag, to_json, write};
use crate::error::{from_registry, ApiError};
use crate::patch::{self, PatchKind};
use crate::request::params::{FieldValidation, Target, WriteParams};
use crate::request::{body, decode};
use crate::response::{json_response, ApiResult};
use crate::table;
use crate::AppState;

/// The autoscaling/v1 Scale view of a scalable object.
fn scale_of<T: Resource>(obj: &T) -> Result<Value, ApiError> {
    let v = to_json(obj)?;
    let meta = obj.meta();
    let spec_replicas = v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let status_replicas = v.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0);
    let selector = v.pointer("/spec/selector").map(table::selector_text).unwrap_or_default();
    let mut m = BTreeMap::new();
    m.insert("name", json!(meta.name));
    if let Some(ns) = &meta.namespace {
        m.insert("namespace", json!(ns));
    }
    m.insert("uid", json!(meta.uid));
    m.insert("resourceVersion", json!(meta.resource_version));
    if let Some(ts) = &meta.creation_timestamp {
        m.insert("creationTimestamp", json!(ts));
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": spec_replicas},
        "status": {"replicas": status_replicas, "selector": selector},
    }))
}

pub async fn get_scale<T: Resource>(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    tag::<T>(&req, "get");
    let target = Target::of(&req);
    let obj: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
    json_response(StatusCode::OK, &scale_of(&obj)?, &[])
}

/// Writes `replicas` into the object, honouring a resourceVersion the client pinned; with
/// `dry` (dryRun=All) the update is checked and answered but not stored.
async fn set_replicas<T: Resource>(
    state: &AppState,
    target: &Target,
    replicas: Value,
    pinned: Option<String>,
    dry: bool,
) -> ApiResult {
    if !replicas.is_i64() {
        return Err(ApiError::new(422, "Invalid", format!("spec.replicas: Invalid value: {replicas}: must be an integer")));
    }
    loop {
        let current: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
        if let Some(rv) = &pinned {
            if *rv != current.meta().resource_version {
                return Err(err::<T>(RegistryError::Conflict {
                    kind: T::INFO.plural.to_string(),
                    name: target.name().to_string(),
                    reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
                }));
            }
        }
        let mut doc = to_json(&current)?;
        doc["spec"]["replicas"] = replicas.clone();
        let obj: T = serde_json::from_value(doc).map_err(|e| ApiError::new(422, "Invalid", format!("spec.replicas: {e}")))?;
        match write::update(state, obj, UpdateScope::Main, dry).await {
            Ok(updated) => return json_response(StatusCode::OK, &scale_of(&updated)?, &[]),
            Err(RegistryError::Conflict { .. }) if pinned.is_none() => continue,
            Err(RegistryError::Invalid { errors, name, .. }) => {
                // Report against the Scale object, as Kubernetes does.
                return Err(from_registry(RegistryError::Invalid { kind: "Scale".into(), name, errors }, "autoscaling", "scale"));
            }
            Err(e) => return Err(err::<T>(e)),
        }
    }
}

pub async fn replace_scale<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    let target = Target::of(&req);
    let bytes = body::read(payload).await?;
    let scale = body::parse_document(&bytes, &body::media_type(&req))?;
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    let pinned = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let dry = WriteParams::of(&req)?.dry_run()?;
    set_replicas::<T>(&state, &target, replicas, pinned, dry).await
}

pub async fn patch_scale<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "patch");
    let target = Target::of(&req);
    let kind = PatchKind::from_media(&body::media_type(&req))?;
    let bytes = body::read(payload).await?;
    let patch = decode::patch_document(&bytes, FieldValidation::Ignore)?.value;
    let current: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
    let mut scale = scale_of(&current)?;
    patch::apply_patch(kind, &mut scale, &patch)?;
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    let dry = WriteParams::of(&req)?.dry_run()?;
    set_replicas::<T>(&state, &target, replicas, None, dry).await
}
