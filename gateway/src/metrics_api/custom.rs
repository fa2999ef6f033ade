//! `custom.metrics.k8s.io/v1beta2`: MetricValueLists about objects, as a custom metrics
//! adapter serves them, from values posted to the same paths:
//!
//! - `GET …/namespaces/{ns}/{resource}/{name}/{metric}` (one object) and
//!   `GET …/namespaces/{ns}/pods/*/{metric}?labelSelector=…` (the pods the selector
//!   matches that have a value; `*` of other resources lists every value posted for
//!   them), `metricLabelSelector` matching the labels posted with a value;
//!   `GET …/{resource}/{name}/{metric}` for cluster-scoped objects;
//! - `POST`/`PUT` of a `CustomMetricPost` (`{"value": "10", "metricLabels": {…},
//!   "windowSeconds": 60}`) to an object's path stores its value (`201`, the MetricValue).

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use actors::metrics::{CustomKey, CustomSample};
use api::metrics::{CustomMetricPost, CUSTOM_GROUP, CUSTOM_VERSION};
use api::model::{Pod, Quantity};
use serde_json::{json, Value};

use super::label_selector;
use crate::error::{from_registry, ApiError};
use crate::request::body;
use crate::AppState;

fn base() -> String {
    format!("/apis/{CUSTOM_GROUP}/{CUSTOM_VERSION}")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let b = base();
    cfg.service(
        web::resource(format!("{b}/namespaces/{{ns}}/{{resource}}/{{name}}/{{metric}}"))
            .route(web::get().to(get_namespaced))
            .route(web::post().to(put_namespaced))
            .route(web::put().to(put_namespaced)),
    );
    cfg.service(
        web::resource(format!("{b}/{{resource}}/{{name}}/{{metric}}"))
            .route(web::get().to(get_cluster))
            .route(web::post().to(put_cluster))
            .route(web::put().to(put_cluster)),
    );
}

/// The kind and apiVersion of a resource's objects (`pods` → `Pod`, `/v1`).
fn described(resource: &str) -> (String, String) {
    match api::served_kinds().find(|k| k.plural == resource) {
        Some(k) => (k.kind.to_string(), format!("{}/{}", k.group, k.version)),
        None => (resource.trim_end_matches('s').to_string(), String::new()),
    }
}

fn metric_value(key: &CustomKey, s: &CustomSample) -> Value {
    let (kind, api_version) = described(&key.resource);
    let mut obj = json!({"kind": kind, "name": key.name, "apiVersion": api_version});
    if let Some(ns) = &key.namespace {
        obj["namespace"] = json!(ns);
    }
    let selector = if s.labels.is_empty() { Value::Null } else { json!({"matchLabels": s.labels}) };
    let mut v = json!({
        "describedObject": obj,
        "metric": {"name": key.metric, "selector": selector},
        "timestamp": api::time::rfc3339(s.timestamp),
        "value": s.value.0,
    });
    if let Some(w) = s.window {
        v["windowSeconds"] = json!(w.as_secs());
    }
    v
}

fn list(items: Vec<Value>) -> HttpResponse {
    let body = json!({"kind": "MetricValueList", "apiVersion": format!("{CUSTOM_GROUP}/{CUSTOM_VERSION}"), "metadata": {}, "items": items});
    HttpResponse::Ok().content_type("application/json").body(body.to_string())
}

fn not_found(key: &CustomKey) -> ApiError {
    ApiError::not_found(format!("the server could not find the metric {} for {} {}", key.metric, key.resource, key.name))
}

async fn get(state: &AppState, req: &HttpRequest, ns: Option<String>, resource: String, name: String, metric: String) -> Result<HttpResponse, ApiError> {
    let metric_sel = label_selector(req, "metricLabelSelector")?;
    if name != "*" {
        let key = CustomKey { namespace: ns, resource, name, metric };
        let s = state.usage.custom(&key, metric_sel.as_ref()).ok_or_else(|| not_found(&key))?;
        return Ok(list(vec![metric_value(&key, &s)]));
    }
    let names: Vec<String> = if resource == "pods" {
        let sel = label_selector(req, "labelSelector")?;
        let (pods, _) = state.registry.list::<Pod>(ns.as_deref()).await.map_err(|e| from_registry(e, "", "pods"))?;
        pods.into_iter().filter(|p| sel.as_ref().is_none_or(|s| s.matches(&p.metadata.labels))).map(|p| p.metadata.name).collect()
    } else {
        state.usage.custom_names(ns.as_deref(), &resource, &metric)
    };
    let items = names
        .into_iter()
        .filter_map(|name| {
            let key = CustomKey { namespace: ns.clone(), resource: resource.clone(), name, metric: metric.clone() };
            state.usage.custom(&key, metric_sel.as_ref()).map(|s| metric_value(&key, &s))
        })
        .collect();
    Ok(list(items))
}

async fn put(state: &AppState, payload: web::Payload, key: CustomKey) -> Result<HttpResponse, ApiError> {
    if key.name == "*" {
        return Err(ApiError::bad_request("a value is posted for one object, not for *"));
    }
    let bytes = body::read(payload).await?;
    let post: CustomMetricPost = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("decoding the metric value: {e}")))?;
    let value = Quantity::new(post.value.trim());
    value.parsed().map_err(|e| ApiError::new(422, "Invalid", format!("value: Invalid value: {:?}: {e}", post.value)))?;
    let sample = CustomSample {
        value,
        labels: post.metric_labels.into_iter().collect::<BTreeMap<_, _>>(),
        timestamp: chrono::Utc::now(),
        window: post.window_seconds.filter(|w| *w > 0).map(|w| std::time::Duration::from_secs(w as u64)),
    };
    let body = metric_value(&key, &sample);
    state.usage.put_custom(key, sample);
    Ok(HttpResponse::Created().content_type("application/json").body(body.to_string()))
}

async fn get_namespaced(state: web::Data<AppState>, req: HttpRequest, path: web::Path<(String, String, String, String)>) -> Result<HttpResponse, ApiError> {
    let (ns, resource, name, metric) = path.into_inner();
    get(&state, &req, Some(ns), resource, name, metric).await
}

async fn get_cluster(state: web::Data<AppState>, req: HttpRequest, path: web::Path<(String, String, String)>) -> Result<HttpResponse, ApiError> {
    let (resource, name, metric) = path.into_inner();
    get(&state, &req, None, resource, name, metric).await
}

async fn put_namespaced(state: web::Data<AppState>, path: web::Path<(String, String, String, String)>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let (ns, resource, name, metric) = path.into_inner();
    put(&state, payload, CustomKey { namespace: Some(ns), resource, name, metric }).await
}

async fn put_cluster(state: web::Data<AppState>, path: web::Path<(String, String, String)>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let (resource, name, metric) = path.into_inner();
    put(&state, payload, CustomKey { namespace: None, resource, name, metric }).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, web as aweb, App};

    #[actix_rt::test]
    async fn posted_values_are_served_per_object_and_per_selected_pod() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::verbs::testing::state(dir.path()).await;
        for (name, app) in [("web-1", "web"), ("web-2", "web"), ("db", "db")] {
            let pod: Pod = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
            .unwrap();
            state.registry.create(pod).await.unwrap();
        }
        let app = test::init_service(App::new().app_data(aweb::Data::new(state)).configure(crate::routes::configure)).await;
        let b = base();
        for (pod, v) in [("web-1", "10"), ("db", "3")] {
            let req = test::TestRequest::post().uri(&format!("{b}/namespaces/default/pods/{pod}/rps")).set_json(json!({"value": v})).to_request();
            assert_eq!(test::call_service(&app, req).await.status(), 201);
        }
        let req = test::TestRequest::put().uri(&format!("{b}/namespaces/default/services/front/hits")).set_json(json!({"value": "1500m", "metricLabels": {"verb": "GET"}})).to_request();
        assert_eq!(test::call_service(&app, req).await.status(), 201);
        let bad = test::TestRequest::post().uri(&format!("{b}/namespaces/default/pods/web-1/rps")).set_json(json!({"value": "lots"})).to_request();
        assert_eq!(test::call_service(&app, bad).await.status(), 422);

        let pods: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri(&format!("{b}/namespaces/default/pods/*/rps?labelSelector=app%3Dweb")).to_request()).await;
        let items = pods["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{pods}");
        assert_eq!((items[0]["describedObject"]["name"].as_str(), items[0]["value"].as_str()), (Some("web-1"), Some("10")));
        assert_eq!(items[0]["describedObject"]["kind"], "Pod");
        let svc: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri(&format!("{b}/namespaces/default/services/front/hits?metricLabelSelector=verb%3DGET")).to_request()).await;
        assert_eq!(svc["items"][0]["value"], "1500m");
        let miss = test::call_service(&app, test::TestRequest::get().uri(&format!("{b}/namespaces/default/services/front/hits?metricLabelSelector=verb%3DPUT")).to_request()).await;
        assert_eq!(miss.status(), 404);
        let all: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri(&format!("{b}/namespaces/default/services/*/hits")).to_request()).await;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    }
}
