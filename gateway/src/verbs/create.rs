//! POST to a collection: create one object from the decoded body.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use api::model::Resource;

use super::{err, tag, write};
use crate::request::decode;
use crate::request::params::{Target, WriteParams};
use crate::response::{json_response, ApiResult};
use crate::AppState;

pub async fn create<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "create");
    let target = Target::of(&req);
    let decoded = decode::from_request::<T>(&req, payload, &target).await?;
    write::admit_namespace(&state, &target).await?;
    let params = WriteParams::of(&req)?;
    let obj = write::record_write::<T>(None, decoded.object, &params.manager(&req)?)?;
    let created = write::create(&state, obj, params.dry_run()?).await.map_err(err::<T>)?;
    json_response(StatusCode::CREATED, &created, &decoded.warnings)
}
