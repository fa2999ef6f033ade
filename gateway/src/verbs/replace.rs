//! PUT of one object (or of its status): replace it with the decoded body.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use actors::registry::UpdateScope;
use api::model::Resource;

use super::{err, tag, write};
use crate::request::decode;
use crate::request::params::{Target, WriteParams};
use crate::response::{json_response, ApiResult};
use crate::AppState;

pub async fn replace<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    replace_scoped::<T>(&state, &req, payload, UpdateScope::Main).await
}

/// A replace of the main part records its manager; one of the status does not.
pub(super) async fn replace_scoped<T: Resource>(state: &AppState, req: &HttpRequest, payload: web::Payload, scope: UpdateScope) -> ApiResult {
    let target = Target::of(req);
    let decoded = decode::from_request::<T>(req, payload, &target).await?;
    let mut obj = decoded.object;
    let params = WriteParams::of(req)?;
    if scope == UpdateScope::Main {
        let current = state.registry.get::<T>(target.ns.as_deref(), target.name()).await.ok();
        obj = write::record_write::<T>(current.as_ref(), obj, &params.manager(req)?)?;
    }
    let updated = write::update(state, obj, scope, params.dry_run()?).await.map_err(err::<T>)?;
    json_response(StatusCode::OK, &updated, &decoded.warnings)
}
