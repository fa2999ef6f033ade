//! DELETE on a collection (`deletecollection`): every object the selectors match.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use actors::registry::{Deleted, RegistryError};
use api::model::Resource;

use super::list::list_body;
use super::{err, tag, write};
use crate::request::params::{DeleteParams, DeleteRequest, ListParams, Target, WriteParams};
use crate::request::selectors::Filter;
use crate::request::{body, decode};
use crate::response::{json_response, ApiResult};
use crate::AppState;

/// Deletes every object the label and field selectors match, one by one through the
/// registry with the body's (or query's) propagationPolicy, and answers the list of
/// deleted objects (`kind: XList`), as upstream does. Objects that vanish meanwhile are
/// skipped. With `dryRun=All` (query or body) nothing is deleted and the list is what
/// would be.
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
    let mut params = WriteParams::of(&req)?;
    params.dry_run.extend(del.dry_run.iter().cloned());
    let dry = params.dry_run()?;
    let (items, _) = state.registry.list::<T>(target.ns.as_deref()).await.map_err(err::<T>)?;
    let mut deleted = Vec::new();
    let mut last_rev = 0;
    for obj in items.into_iter().filter(|o| filter.accepts(o)) {
        let item = Target { ns: obj.meta().namespace.clone(), name: Some(obj.meta().name.clone()) };
        match write::delete::<T>(&state, &item, &del.options(dry)).await {
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

#[cfg(test)]
mod tests {
    use actix_web::{test as http, web, App};
    use serde_json::{json, Value};

    const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases";

    #[actix_rt::test]
    async fn a_dry_run_deletecollection_deletes_nothing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let state = crate::verbs::testing::state(dir.path()).await;
        let app = http::init_service(App::new().app_data(web::Data::new(state)).configure(crate::routes::configure)).await;
        for name in ["a", "b"] {
            let req = http::TestRequest::post().uri(LEASES).set_json(json!({"metadata": {"name": name}})).to_request();
            assert_eq!(http::call_service(&app, req).await.status(), 201, "create {name}");
        }
        let names = |list: &Value| -> Vec<String> {
            list["items"].as_array().expect("items").iter().map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string()).collect()
        };
        let req = http::TestRequest::delete().uri(&format!("{LEASES}?dryRun=All")).to_request();
        let would: Value = http::call_and_read_body_json(&app, req).await;
        assert_eq!(names(&would), ["a", "b"]);
        let left: Value = http::call_and_read_body_json(&app, http::TestRequest::get().uri(LEASES).to_request()).await;
        assert_eq!(names(&left), ["a", "b"], "a dry run deleted objects");
        let req = http::TestRequest::delete().uri(&format!("{LEASES}?dryRun=Some")).to_request();
        assert_eq!(http::call_service(&app, req).await.status(), 400);
        let req = http::TestRequest::delete().uri(LEASES).set_payload(r#"{"dryRun": ["All"]}"#).to_request();
        assert_eq!(http::call_service(&app, req).await.status(), 200);
        let left: Value = http::call_and_read_body_json(&app, http::TestRequest::get().uri(LEASES).to_request()).await;
        assert_eq!(names(&left).len(), 2, "a dry run in the body deleted objects");
        let gone: Value = http::call_and_read_body_json(&app, http::TestRequest::delete().uri(LEASES).to_request()).await;
        assert_eq!(names(&gone), ["a", "b"]);
        let left: Value = http::call_and_read_body_json(&app, http::TestRequest::get().uri(LEASES).to_request()).await;
        assert!(names(&left).is_empty());
    }
}
