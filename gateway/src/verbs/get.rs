//! GET of one object, as JSON or as a one-row Table.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use api::model::Resource;

use super::{err, tag, to_json};
use crate::request::params::Target;
use crate::response::{json_response, ApiResult};
use crate::table;
use crate::AppState;

pub async fn get<T: Resource>(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    tag::<T>(&req, "get");
    let target = Target::of(&req);
    let obj: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
    if let Some(opts) = table::requested(&req)? {
        let rv = obj.meta().resource_version.clone();
        return json_response(StatusCode::OK, &table::build(T::INFO, &[to_json(&obj)?], &opts, &rv), &[]);
    }
    json_response(StatusCode::OK, &obj, &[])
}
