//! PATCH of one object (or of its status) with a merge, JSON or strategic merge patch:
//! read, patch, write, retried on conflicts unless the patch pins a resourceVersion.
//! Server-side apply, the fourth content type, is `apply`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use actors::registry::{RegistryError, UpdateScope};
use api::model::Resource;
use serde_json::Value;

use super::{apply, err, tag, to_json, write};
use crate::error::ApiError;
use crate::patch::{self, apply::Writer, PatchKind};
use crate::request::params::{FieldValidation, Target, WriteParams};
use crate::request::{body, decode};
use crate::response::{json_response, ApiResult};
use crate::AppState;

pub async fn patch<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "patch");
    patch_scoped::<T>(&state, &req, payload, UpdateScope::Main).await
}

pub(super) async fn patch_scoped<T: Resource>(state: &AppState, req: &HttpRequest, payload: web::Payload, scope: UpdateScope) -> ApiResult {
    let target = Target::of(req);
    let kind = PatchKind::from_media(&body::media_type(req))?;
    let params = WriteParams::of(req)?;
    let dry = params.dry_run()?;
    let bytes = body::read(payload).await?;
    if kind == PatchKind::Apply {
        return apply::apply_scoped::<T>(state, req, &params, &bytes, scope).await;
    }
    if params.force.is_some() {
        return Err(ApiError::bad_request("force: Forbidden: may not be specified for non-apply patch"));
    }
    let manager = params.manager(req)?;
    let validation = FieldValidation::of(req)?;
    let patch_doc = decode::patch_document(&bytes, validation)?;
    let now = api::time::now_rfc3339();
    let api_version = T::INFO.api_version();
    let writer = Writer { manager: &manager, api_version: &api_version, status: false, now: &now };
    loop {
        let current: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
        let live = to_json(&current)?;
        let mut doc = live.clone();
        patch::apply_patch(kind, &mut doc, &patch_doc.value)?;
        let pinned = doc.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string);
        let pinned = pinned.filter(|rv| *rv != current.meta().resource_version);
        if scope == UpdateScope::Main {
            // The patched copy carries the live entries, so they are the base.
            if let Some(m) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                if m.get("managedFields") == live.pointer("/metadata/managedFields") {
                    m.remove("managedFields");
                }
            }
            patch::apply::record_update(Some(&live), &mut doc, &writer);
        }
        let decoded = decode::typed::<T>(doc, &patch_doc.duplicates, validation)?;
        let mut obj = decoded.object;
        if obj.meta().name != current.meta().name {
            return Err(ApiError::bad_request("metadata.name cannot be changed by a patch"));
        }
        obj.meta_mut().resource_version = pinned.clone().unwrap_or_else(|| current.meta().resource_version.clone());
        match write::update(state, obj, scope, dry).await {
            Ok(updated) => return json_response(StatusCode::OK, &updated, &decoded.warnings),
            Err(RegistryError::Conflict { .. }) if pinned.is_none() => continue,
            Err(e) => return Err(err::<T>(e)),
        }
    }
}
