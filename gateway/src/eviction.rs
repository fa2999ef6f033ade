//! `POST /api/v1/namespaces/{ns}/pods/{name}/eviction`: the Eviction subresource
//! (policy/v1 `Eviction`). shoal has no PodDisruptionBudgets, so an eviction is never
//! refused for budget reasons (upstream's 429 "Cannot evict pod as it would violate the
//! pod's disruption budget" cannot happen): it deletes the pod, honouring the
//! `deleteOptions.preconditions` it carries, and answers 201 Created with a Success Status
//! as upstream does. The pod's controller (ReplicaSet, …) then replaces it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest};
use api::model::Pod;
use actors::registry::{Preconditions, RegistryError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{from_registry, ApiError};
use crate::request::body;
use crate::request::params::DeleteOptions;
use crate::response::{json_response, ApiResult};
use crate::metrics::RequestInfo;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Eviction {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: EvictionMeta,
    delete_options: Option<DeleteOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EvictionMeta {
    name: Option<String>,
    namespace: Option<String>,
}

pub async fn evict(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    req.extensions_mut().insert(RequestInfo { verb: "create", resource: "pods" });
    let ns = req.match_info().get("ns").unwrap_or("default").to_string();
    let name = req.match_info().get("name").unwrap_or("").to_string();
    let bytes = body::read(payload).await?;
    let doc: Value = body::parse_document(&bytes, &body::media_type(&req))?;
    let ev: Eviction =
        serde_json::from_value(doc).map_err(|e| ApiError::bad_request(format!("error decoding Eviction: {e}")))?;
    if let Some(kind) = ev.kind.as_deref().filter(|k| !k.is_empty() && *k != "Eviction") {
        return Err(ApiError::bad_request(format!("the kind of the provided object ({kind}) is not Eviction")));
    }
    if let Some(av) = ev.api_version.as_deref() {
        if !matches!(av, "" | "policy/v1" | "policy/v1beta1") {
            return Err(ApiError::bad_request(format!("unsupported apiVersion {av:?} for Eviction")));
        }
    }
    if ev.metadata.name.as_deref().is_some_and(|n| !n.is_empty() && n != name) {
        return Err(ApiError::bad_request("name in URL does not match name in Eviction object"));
    }
    if ev.metadata.namespace.as_deref().is_some_and(|n| !n.is_empty() && n != ns) {
        return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
    }
    let pre = ev
        .delete_options
        .and_then(|o| o.preconditions)
        .map(Preconditions::from)
        .unwrap_or_default();
    // No PodDisruptionBudget in shoal: nothing can veto the eviction.
    match state.registry.delete::<Pod>(Some(&ns), &name, &pre).await {
        Ok(_) => {}
        Err(e @ RegistryError::NotFound { .. }) => return Err(from_registry(e, "", "pods")),
        Err(e) => return Err(from_registry(e, "", "pods")),
    }
    json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        &[],
    )
}
