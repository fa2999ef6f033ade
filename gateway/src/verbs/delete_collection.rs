//! DELETE on a collection (`deletecollection`): every object the selectors match.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use actors::registry::{Deleted, RegistryError};
use api::model::Resource;

use super::list::list_body;
use super::{err, tag, write};
use crate::request::params::{DeleteParams, DeleteRequest, ListParams, Target};
use crate::request::selectors::Filter;
use crate::request::{body, decode};
use crate::response::{json_response, ApiResult};
use crate::AppState;

/// Deletes every object the label and field selectors match, one by one through the
/// registry with the body's (or query's) propagationPolicy, and answers the list of
/// deleted objects (`kind: XList`), as upstream does. Objects that vanish meanwhile are
/// skipped.
pub async fn delete_collection<T: Resource>(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListParams>,
    dq: web::Query<DeleteParams>,
    payload: web::Payload,
) -> ApiResult {
    tag::<T>(&req, "deletecollection");
    let target = Target::of(&req);
    let filter = Filter::for_kind::<T>(&q)?;
    let del = DeleteRequest::resolve(decode::delete_options(&body::read(payload).await?)?, &dq)?;
    let (items, _) = state.registry.list::<T>(target.ns.as_deref()).await.map_err(err::<T>)?;
    let mut deleted = Vec::new();
    let mut last_rev = 0;
    for obj in items.into_iter().filter(|o| filter.accepts(o)) {
        let item = Target { ns: obj.meta().namespace.clone(), name: Some(obj.meta().name.clone()) };
        match write::delete::<T>(&state, &item, &del.preconditions, del.propagation, false).await {
            Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => {
                last_rev = last_rev.max(o.meta().resource_version.parse().unwrap_or(0));
                deleted.push(o);
            }
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(err::<T>(e)),
        }
    }
    if last_rev == 0 {
        last_rev = state.registry.store().current_revision().await.map_err(|e| err::<T>(RegistryError::from(e)))?;
    }
    json_response(StatusCode::OK, &list_body::<T>(deleted, last_rev), &[])
}
