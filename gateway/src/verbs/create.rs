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
    let params = WriteParams::of(&req)?;
    let obj = write::record_write::<T>(None, decoded.object, &params.manager(&req)?)?;
    let created = write::create(&state, obj, params.dry_run()?).await.map_err(err::<T>)?;
    json_response(StatusCode::CREATED, &created, &decoded.warnings)
}

#[cfg(test)]
mod tests {
    use actix_web::{test as http, web, App};
    use serde_json::{json, Value};

    const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases";

    #[actix_rt::test]
    async fn create_binds_the_decoded_body_to_the_path_and_honours_dry_run() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let state = crate::verbs::testing::state(dir.path()).await;
        let app = http::init_service(App::new().app_data(web::Data::new(state)).configure(crate::routes::configure)).await;

        let req = http::TestRequest::post().uri(LEASES).set_json(json!({"metadata": {"name": "x", "namespace": "other"}})).to_request();
        let resp = http::call_service(&app, req).await;
        assert_eq!(resp.status(), 400);
        let status: Value = serde_json::from_slice(&http::read_body(resp).await).expect("a Status");
        assert_eq!(status["message"], crate::request::decode::NAMESPACE_MISMATCH);

        let req = http::TestRequest::post()
            .uri(&format!("{LEASES}?dryRun=All"))
            .set_json(json!({"metadata": {"name": "dry"}, "spec": {"colour": 1}}))
            .to_request();
        let resp = http::call_service(&app, req).await;
        assert_eq!(resp.status(), 201);
        assert_eq!(resp.headers().get("Warning").and_then(|v| v.to_str().ok()), Some(r#"299 - "unknown field \"spec.colour\"""#));
        let req = http::TestRequest::get().uri(&format!("{LEASES}/dry")).to_request();
        assert_eq!(http::call_service(&app, req).await.status(), 404, "a dry-run create was stored");

        let req = http::TestRequest::post()
            .uri(LEASES)
            .insert_header(("Content-Type", "application/yaml"))
            .insert_header(("User-Agent", "kubectl/v1.32.0"))
            .set_payload("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: web\nspec:\n  holderIdentity: me\n")
            .to_request();
        let resp = http::call_service(&app, req).await;
        let code = resp.status();
        let created: Value = serde_json::from_slice(&http::read_body(resp).await).expect("a JSON answer");
        assert_eq!(code, 201, "{created}");
        assert_eq!((created["metadata"]["name"].as_str(), created["metadata"]["namespace"].as_str()), (Some("web"), Some("default")));
        assert_eq!(created["metadata"]["managedFields"][0]["manager"], "kubectl");
    }
}
