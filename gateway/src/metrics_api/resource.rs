//! `metrics.k8s.io/v1beta1`: NodeMetrics (cluster-scoped) and PodMetrics (namespaced),
//! list and get, as metrics-server serves them: one item per Node or Pod in the store
//! that the label selector matches and whose node has reported it within the window;
//! a get of one without metrics is a 404.

use actix_web::{web, HttpRequest, HttpResponse};
use api::metrics::{format_cpu, format_memory, Usage, RESOURCE_GROUP, RESOURCE_VERSION};
use api::model::{Node, Pod};
use serde_json::{json, Value};

use super::{go_duration, label_selector};
use crate::error::{from_registry, ApiError};
use crate::AppState;

fn base() -> String {
    format!("/apis/{RESOURCE_GROUP}/{RESOURCE_VERSION}")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let b = base();
    cfg.route(&format!("{b}/nodes"), web::get().to(list_nodes));
    cfg.route(&format!("{b}/nodes/{{name}}"), web::get().to(get_node));
    cfg.route(&format!("{b}/pods"), web::get().to(list_all_pods));
    cfg.route(&format!("{b}/namespaces/{{ns}}/pods"), web::get().to(list_pods));
    cfg.route(&format!("{b}/namespaces/{{ns}}/pods/{{name}}"), web::get().to(get_pod));
}

fn usage_json(u: Usage) -> Value {
    json!({"cpu": format_cpu(u.cpu_nanocores), "memory": format_memory(u.memory_bytes)})
}

fn list_json(kind: &str, items: Vec<Value>) -> HttpResponse {
    let body = json!({"kind": kind, "apiVersion": format!("{RESOURCE_GROUP}/{RESOURCE_VERSION}"), "metadata": {}, "items": items});
    HttpResponse::Ok().content_type("application/json").body(body.to_string())
}

fn one(v: Value) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(v.to_string())
}

fn not_found(what: &str, name: &str) -> ApiError {
    let mut e = ApiError::not_found(format!("{what}.{RESOURCE_GROUP} {name:?} not found"));
    e.details = Some(json!({"name": name, "group": RESOURCE_GROUP, "kind": what}));
    e
}

fn node_metrics(state: &AppState, n: &Node) -> Option<Value> {
    let s = state.usage.node(&n.metadata.name)?;
    Some(json!({
        "kind": "NodeMetrics",
        "apiVersion": format!("{RESOURCE_GROUP}/{RESOURCE_VERSION}"),
        "metadata": {"name": n.metadata.name, "labels": n.metadata.labels, "creationTimestamp": api::time::now_rfc3339()},
        "timestamp": api::time::rfc3339(s.timestamp),
        "window": go_duration(s.window),
        "usage": usage_json(s.usage),
    }))
}

fn pod_metrics(state: &AppState, p: &Pod) -> Option<Value> {
    let ns = p.metadata.namespace.as_deref().unwrap_or("default");
    let s = state.usage.pod(ns, &p.metadata.name).filter(|s| s.uid.is_empty() || s.uid == p.metadata.uid)?;
    let containers: Vec<Value> = s.containers.iter().map(|c| json!({"name": c.name, "usage": usage_json(c.usage)})).collect();
    Some(json!({
        "kind": "PodMetrics",
        "apiVersion": format!("{RESOURCE_GROUP}/{RESOURCE_VERSION}"),
        "metadata": {"name": p.metadata.name, "namespace": ns, "labels": p.metadata.labels, "creationTimestamp": api::time::now_rfc3339()},
        "timestamp": api::time::rfc3339(s.timestamp),
        "window": go_duration(s.window),
        "containers": containers,
    }))
}

async fn list_nodes(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let sel = label_selector(&req, "labelSelector")?;
    let (nodes, _) = state.registry.list::<Node>(None).await.map_err(|e| from_registry(e, "", "nodes"))?;
    let items = nodes
        .iter()
        .filter(|n| sel.as_ref().is_none_or(|s| s.matches(&n.metadata.labels)))
        .filter_map(|n| node_metrics(&state, n))
        .collect();
    Ok(list_json("NodeMetricsList", items))
}

async fn get_node(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let node: Node = state.registry.get(None, &name).await.map_err(|_| not_found("nodes", &name))?;
    node_metrics(&state, &node).map(one).ok_or_else(|| not_found("nodes", &name))
}

async fn pods_in(state: &AppState, req: &HttpRequest, ns: Option<&str>) -> Result<HttpResponse, ApiError> {
    let sel = label_selector(req, "labelSelector")?;
    let (pods, _) = state.registry.list::<Pod>(ns).await.map_err(|e| from_registry(e, "", "pods"))?;
    let items = pods
        .iter()
        .filter(|p| sel.as_ref().is_none_or(|s| s.matches(&p.metadata.labels)))
        .filter_map(|p| pod_metrics(state, p))
        .collect();
    Ok(list_json("PodMetricsList", items))
}

async fn list_all_pods(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    pods_in(&state, &req, None).await
}

async fn list_pods(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let ns = path.into_inner();
    pods_in(&state, &req, Some(&ns)).await
}

async fn get_pod(state: web::Data<AppState>, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (ns, name) = path.into_inner();
    let pod: Pod = state.registry.get(Some(&ns), &name).await.map_err(|_| not_found("pods", &name))?;
    pod_metrics(&state, &pod).map(one).ok_or_else(|| not_found("pods", &name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test, web as aweb, App};
    use api::metrics::{ContainerUsage, PodUsage, UsageReport, REPORT_CONTENT_TYPE, REPORT_PATH};

    fn report() -> UsageReport {
        UsageReport {
            node: "n1".into(),
            timestamp: api::time::now_rfc3339(),
            window_ms: 10_000,
            node_usage: Usage { cpu_nanocores: 1_500_000_000, memory_bytes: 2 << 30 },
            pods: vec![PodUsage {
                namespace: "default".into(),
                name: "web".into(),
                uid: String::new(),
                containers: vec![ContainerUsage { name: "c".into(), usage: Usage { cpu_nanocores: 250_000_000, memory_bytes: 64 << 20 } }],
            }],
        }
    }

    #[actix_rt::test]
    async fn reported_usage_is_served_as_node_and_pod_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::verbs::testing::state(dir.path()).await;
        let mut node = Node::default();
        node.metadata.name = "n1".into();
        node.metadata.labels.insert("zone".into(), "a".into());
        state.registry.create(node).await.unwrap();
        let mut pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap();
        pod.metadata.namespace = Some("default".into());
        state.registry.create(pod).await.unwrap();
        let app = test::init_service(App::new().app_data(aweb::Data::new(state)).configure(crate::routes::configure)).await;

        let post = |ct: &str| test::TestRequest::post().uri(REPORT_PATH).insert_header(("Content-Type", ct.to_string())).set_payload(report().encode()).to_request();
        assert_eq!(test::call_service(&app, post("application/json")).await.status(), 415);
        assert_eq!(test::call_service(&app, post(REPORT_CONTENT_TYPE)).await.status(), 204);

        let nodes: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Da").to_request()).await;
        assert_eq!(nodes["items"][0]["usage"], json!({"cpu": "1500m", "memory": "2097152Ki"}), "{nodes}");
        assert_eq!(nodes["items"][0]["window"], "10s");
        let none: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db").to_request()).await;
        assert_eq!(none["items"], json!([]));
        let pods: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb").to_request()).await;
        assert_eq!(pods["items"][0]["containers"][0]["usage"], json!({"cpu": "250m", "memory": "65536Ki"}), "{pods}");
        let all: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri("/apis/metrics.k8s.io/v1beta1/pods").to_request()).await;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
        let one: Value = test::call_and_read_body_json(&app, test::TestRequest::get().uri("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web").to_request()).await;
        assert_eq!(one["kind"], "PodMetrics");
        let missing = test::call_service(&app, test::TestRequest::get().uri("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope").to_request()).await;
        assert_eq!(missing.status(), 404);
    }
}
