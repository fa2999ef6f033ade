//! DELETE of one object, with the propagation policy, preconditions and grace period of
//! its `DeleteOptions` (body or query); answers the object (while finalizers or a grace
//! period hold it, or for the kinds upstream returns) or a Success Status.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use actors::registry::Deleted;
use api::model::Resource;
use serde_json::json;

use super::{err, tag, write};
use crate::request::params::{DeleteParams, DeleteRequest, Target, WriteParams};
use crate::request::{body, decode};
use crate::response::{json_response, ApiResult};
use crate::AppState;

pub async fn delete<T: Resource>(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DeleteParams>,
    payload: web::Payload,
) -> ApiResult {
    tag::<T>(&req, "delete");
    let target = Target::of(&req);
    let del = DeleteRequest::resolve(decode::delete_options(&body::read(payload).await?)?, &q)?;
    let mut params = WriteParams::of(&req)?;
    params.dry_run.extend(del.dry_run.iter().cloned());
    let deleted = write::delete::<T>(&state, &target, &del.options(params.dry_run()?)).await;
    let deleted = deleted.map_err(err::<T>)?;
    match deleted {
        Deleted::Pending(obj) => json_response(StatusCode::OK, &obj, &[]),
        // Kinds whose storage upstream returns the deleted object (ReturnDeletedObject).
        Deleted::Gone(obj) if matches!(T::INFO.kind, "Pod" | "Service" | "PersistentVolumeClaim" | "Namespace") => {
            json_response(StatusCode::OK, &obj, &[])
        }
        Deleted::Gone(obj) => json_response(
            StatusCode::OK,
            &json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": obj.meta().name, "group": T::INFO.group, "kind": T::INFO.plural, "uid": obj.meta().uid}
            }),
            &[],
        ),
    }
}
