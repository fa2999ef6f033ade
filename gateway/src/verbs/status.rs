//! The `/status` subresource: GET is the object's GET; PUT and PATCH write only the status.

use actix_web::{web, HttpRequest};
use actors::registry::UpdateScope;
use api::model::Resource;

use super::tag;
use crate::response::ApiResult;
use crate::AppState;

pub async fn get_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    super::get::<T>(state, req).await
}

pub async fn replace_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    super::replace::replace_scoped::<T>(&state, &req, payload, UpdateScope::Status).await
}

pub async fn patch_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "patch");
    super::patch::patch_scoped::<T>(&state, &req, payload, UpdateScope::Status).await
}
