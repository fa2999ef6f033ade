//! Server-side apply: `PATCH` with `application/apply-patch+yaml`. Merges the applied
//! configuration into the live object (or creates it), with field-manager conflicts.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use actors::registry::{RegistryError, UpdateScope};
use api::model::Resource;
use serde_json::{json, Value};

use super::{err, to_json, write};
use crate::error::ApiError;
use crate::patch::{self, apply::Writer};
use crate::request::decode;
use crate::request::params::{FieldValidation, Target, WriteParams};
use crate::response::{json_response, ApiResult};
use crate::AppState;

/// The 409 of an apply that conflicts with other managers, one cause per field.
fn apply_conflict(conflicts: &[patch::apply::Conflict]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message, "field": c.field}))
        .collect();
    ApiError { details: Some(json!({"causes": causes})), ..ApiError::new(409, "Conflict", patch::apply::conflicts_message(conflicts)) }
}

pub(super) async fn apply_scoped<T: Resource>(
    state: &AppState,
    req: &HttpRequest,
    params: &WriteParams,
    bytes: &[u8],
    scope: UpdateScope,
) -> ApiResult {
    let target = Target::of(req);
    let dry = params.dry_run()?;
    let manager = params.apply_manager()?;
    let force = params.force()?;
    let validation = FieldValidation::of(req)?;
    let config = decode::apply_configuration::<T>(bytes, validation, &target)?;
    let pinned =
        config.value.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let now = api::time::now_rfc3339();
    let api_version = T::INFO.api_version();
    let writer = Writer { manager: &manager, api_version: &api_version, status: scope == UpdateScope::Status, now: &now };
    loop {
        let current = match state.registry.get::<T>(target.ns.as_deref(), target.name()).await {
            Ok(c) => c,
            Err(RegistryError::NotFound { .. }) if scope == UpdateScope::Main && pinned.is_none() => {
                let doc = patch::apply::apply_create(&config.value, &writer);
                let mut decoded = decode::typed::<T>(doc, &config.duplicates, validation)?;
                decode::bind_namespace(&mut decoded.object, target.ns.as_deref())?;
                match write::create(state, decoded.object, dry).await {
                    Ok(created) => return json_response(StatusCode::CREATED, &created, &decoded.warnings),
                    Err(RegistryError::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(err::<T>(e)),
                }
            }
            Err(e) => return Err(err::<T>(e)),
        };
        let live = to_json(&current)?;
        let merged = match patch::apply::apply(&live, &config.value, &writer, force) {
            Ok(m) => m,
            Err(patch::apply::ApplyError::Conflicts(c)) => return Err(apply_conflict(&c)),
            Err(patch::apply::ApplyError::Invalid(m)) => return Err(ApiError::new(422, "Invalid", m)),
        };
        let decoded = decode::typed::<T>(merged, &config.duplicates, validation)?;
        let mut obj = decoded.object;
        decode::check_namespace(&obj, target.ns.as_deref())?;
        obj.meta_mut().resource_version = pinned.clone().unwrap_or_else(|| current.meta().resource_version.clone());
        match write::update(state, obj, scope, dry).await {
            Ok(updated) => return json_response(StatusCode::OK, &updated, &decoded.warnings),
            Err(RegistryError::Conflict { .. }) if pinned.is_none() => continue,
            Err(e) => return Err(err::<T>(e)),
        }
    }
}
