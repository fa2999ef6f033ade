//! API discovery as Kubernetes serves it: `/version`, `/api`, `/apis`, the per-group and
//! per-version resource lists, and aggregated discovery (`apidiscovery.k8s.io/v2`), which
//! current kubectl asks for first.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use api::model::KindInfo;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Group name → versions → kinds, in a stable order (core group first); the views
/// (events.k8s.io/v1, autoscaling/v1) are served kinds too.
fn groups() -> BTreeMap<&'static str, BTreeMap<&'static str, Vec<&'static KindInfo>>> {
    let mut g: BTreeMap<&'static str, BTreeMap<&'static str, Vec<&'static KindInfo>>> = BTreeMap::new();
    for k in api::served_kinds() {
        g.entry(k.group).or_default().entry(k.version).or_default().push(k);
    }
    g
}

/// A resource of a group served beside the stored kinds: the read-only metrics APIs.
struct Extra {
    name: String,
    kind: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
}

/// The metrics groups (`metrics_api`): `metrics.k8s.io/v1beta1` nodes and pods, and
/// `custom.metrics.k8s.io/v1beta2` with one `<resource>/<metric>` per metric posted so far.
fn extra_groups(state: Option<&AppState>) -> Vec<(&'static str, &'static str, Vec<Extra>)> {
    let m = |name: &str, kind, namespaced| Extra { name: name.into(), kind, namespaced, verbs: &["get", "list"] };
    let custom = state
        .map(|s| s.usage.custom_metric_names())
        .unwrap_or_default()
        .into_iter()
        .map(|(resource, metric, namespaced)| Extra { name: format!("{resource}/{metric}"), kind: "MetricValueList", namespaced, verbs: &["get"] })
        .collect();
    vec![
        (api::metrics::RESOURCE_GROUP, api::metrics::RESOURCE_VERSION, vec![m("nodes", "NodeMetrics", false), m("pods", "PodMetrics", true)]),
        (api::metrics::CUSTOM_GROUP, api::metrics::CUSTOM_VERSION, custom),
    ]
}

fn extra_group_json(group: &str, version: &str) -> Value {
    let v = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [v.clone()], "preferredVersion": v})
}

fn extra_resource_list(group: &str, version: &str, resources: &[Extra]) -> Value {
    let rs: Vec<Value> =
        resources.iter().map(|r| json!({"name": r.name, "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": r.verbs})).collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/{version}"), "resources": rs})
}

fn extra_discovery(group: &str, version: &str, resources: &[Extra]) -> Value {
    let rs: Vec<Value> = resources
        .iter()
        .map(|r| {
            json!({"resource": r.name, "responseKind": {"group": group, "version": version, "kind": r.kind},
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" }, "singularResource": "", "verbs": r.verbs})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": [{"version": version, "resources": rs, "freshness": "Current"}]})
}

fn wants_aggregated(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().unwrap_or("").contains("as=APIGroupDiscoveryList"))
}

fn json_ok(v: Value) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(v.to_string())
}

pub async fn version() -> HttpResponse {
    json_ok(json!({
        "major": "1", "minor": "32",
        "gitVersion": format!("v1.32.0-shoal.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust", "compiler": "rustc", "platform": "linux/amd64",
    }))
}

fn resource_list(group: &str, version: &str, kinds: &[&KindInfo]) -> Value {
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut resources = Vec::new();
    for k in kinds {
        let mut r = json!({
            "name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
            "kind": k.kind, "verbs": VERBS,
        });
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        resources.push(r);
        if k.has_status {
            resources.push(json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": k.kind, "verbs": SUB_VERBS}));
        }
        if k.has_scale {
            resources.push(json!({"name": format!("{}/scale", k.plural), "singularName": "", "namespaced": k.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": SUB_VERBS}));
        }
        if is_pod(k) {
            // What `kubectl drain` looks for before it evicts rather than deletes.
            resources.push(json!({"name": "pods/eviction", "singularName": "", "namespaced": true,
                "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]}));
            for (sub, kind, verbs) in POD_STREAMS {
                resources.push(json!({"name": format!("pods/{sub}"), "singularName": "", "namespaced": true, "kind": kind, "verbs": verbs}));
            }
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

/// The pod subresources the node serves (`pod_proxy`), as upstream lists them.
const POD_STREAMS: [(&str, &str, &[&str]); 4] = [
    ("attach", "PodAttachOptions", &["create", "get"]),
    ("exec", "PodExecOptions", &["create", "get"]),
    ("log", "Pod", &["get"]),
    ("portforward", "PodPortForwardOptions", &["create", "get"]),
];

/// Pods have the eviction subresource besides status.
fn is_pod(k: &KindInfo) -> bool {
    k.group.is_empty() && k.kind == "Pod"
}

fn discovery_resources(kinds: &[&KindInfo]) -> Vec<Value> {
    kinds
        .iter()
        .map(|k| {
            let mut subs = Vec::new();
            if k.has_status {
                subs.push(json!({"subresource": "status", "responseKind": {"group": k.group, "version": k.version, "kind": k.kind}, "verbs": SUB_VERBS}));
            }
            if k.has_scale {
                subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": SUB_VERBS}));
            }
            if is_pod(k) {
                subs.push(json!({"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"}, "verbs": ["create"]}));
                for (sub, kind, verbs) in POD_STREAMS {
                    subs.push(json!({"subresource": sub, "responseKind": {"group": "", "version": "v1", "kind": kind}, "verbs": verbs}));
                }
            }
            let mut r = json!({
                "resource": k.plural,
                "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
                "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": k.singular,
                "verbs": VERBS,
            });
            if !k.short_names.is_empty() {
                r["shortNames"] = json!(k.short_names);
            }
            if !k.categories.is_empty() {
                r["categories"] = json!(k.categories);
            }
            if !subs.is_empty() {
                r["subresources"] = json!(subs);
            }
            r
        })
        .collect()
}

fn aggregated(core: bool, state: Option<&AppState>) -> HttpResponse {
    let mut items: Vec<Value> = groups()
        .into_iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .rev()
                .map(|(v, kinds)| json!({"version": v, "resources": discovery_resources(kinds), "freshness": "Current"}))
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({"metadata": meta, "versions": versions})
        })
        .collect();
    if !core {
        items.extend(extra_groups(state).iter().map(|(g, v, rs)| extra_discovery(g, v, rs)));
    }
    HttpResponse::Ok()
        .content_type(AGGREGATED)
        .body(json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items}).to_string())
}

pub async fn core_versions(req: HttpRequest) -> HttpResponse {
    if wants_aggregated(&req) {
        return aggregated(true, None);
    }
    let addr = req.app_config().local_addr().to_string();
    json_ok(json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]}))
}

fn group_json(group: &str, versions: &BTreeMap<&'static str, Vec<&'static KindInfo>>) -> Value {
    let vs: Vec<Value> = versions.keys().rev().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0].clone()})
}

pub async fn group_list(req: HttpRequest, state: Option<web::Data<AppState>>) -> HttpResponse {
    let state = state.as_ref().map(|d| d.get_ref());
    if wants_aggregated(&req) {
        return aggregated(false, state);
    }
    let mut groups: Vec<Value> = groups().iter().filter(|(g, _)| !g.is_empty()).map(|(g, v)| group_json(g, v)).collect();
    groups.extend(extra_groups(state).iter().map(|(g, v, _)| extra_group_json(g, v)));
    json_ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

pub async fn group(path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    if let Some((g, v, _)) = extra_groups(None).into_iter().find(|(g, _, _)| *g == name) {
        let mut j = extra_group_json(g, v);
        j["kind"] = json!("APIGroup");
        j["apiVersion"] = json!("v1");
        return Ok(json_ok(j));
    }
    let all = groups();
    match all.get(name.as_str()).filter(|_| !name.is_empty()) {
        Some(v) => {
            let mut g = group_json(&name, v);
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            Ok(json_ok(g))
        }
        None => Err(ApiError::not_found(format!("the server could not find the requested resource (group {name})"))),
    }
}

pub async fn core_resources() -> HttpResponse {
    let all = groups();
    let kinds = all.get("").and_then(|v| v.get("v1")).cloned().unwrap_or_default();
    json_ok(resource_list("", "v1", &kinds))
}

pub async fn group_resources(path: web::Path<(String, String)>, state: Option<web::Data<AppState>>) -> Result<HttpResponse, ApiError> {
    let (g, v) = path.into_inner();
    if let Some((eg, ev, rs)) = extra_groups(state.as_ref().map(|d| d.get_ref())).into_iter().find(|(eg, ev, _)| *eg == g && *ev == v) {
        return Ok(json_ok(extra_resource_list(eg, ev, &rs)));
    }
    let all = groups();
    match all.get(g.as_str()).and_then(|vs| vs.get(v.as_str())).filter(|_| !g.is_empty()) {
        Some(kinds) => Ok(json_ok(resource_list(&g, &v, kinds))),
        None => Err(ApiError::not_found(format!("the server could not find the requested resource ({g}/{v})"))),
    }
}

/// The discovery paths, each also with a trailing slash: Kubernetes answers `/version/`,
/// `/api/`, `/apis/` and `/apis/{group}/{version}/` as it answers them without (the
/// official Python client's `VersionApi().get_code()` asks for `/version/`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for slash in ["", "/"] {
        cfg.route(&format!("/version{slash}"), web::get().to(version))
            .route(&format!("/api{slash}"), web::get().to(core_versions))
            .route(&format!("/api/v1{slash}"), web::get().to(core_resources))
            .route(&format!("/apis{slash}"), web::get().to(group_list))
            .route(&format!("/apis/{{group}}{slash}"), web::get().to(group))
            .route(&format!("/apis/{{group}}/{{version}}{slash}"), web::get().to(group_resources));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test as http, App};

    #[actix_rt::test]
    async fn discovery_paths_answer_with_and_without_a_trailing_slash() {
        let app = http::init_service(App::new().configure(configure)).await;
        for path in ["/version", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1"] {
            let plain: Value = http::call_and_read_body_json(&app, http::TestRequest::get().uri(path).to_request()).await;
            let slashed = format!("{path}/");
            let resp = http::call_service(&app, http::TestRequest::get().uri(&slashed).to_request()).await;
            assert_eq!(resp.status(), 200, "{slashed}");
            let body: Value = serde_json::from_slice(&http::read_body(resp).await).unwrap();
            assert_eq!(body, plain, "{slashed}");
        }
        let v: Value = http::call_and_read_body_json(&app, http::TestRequest::get().uri("/version/").to_request()).await;
        assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("32")));
        let resp = http::call_service(&app, http::TestRequest::get().uri("/apis/nosuch.io/").to_request()).await;
        assert_eq!(resp.status(), 404);
    }

    #[test]
    fn every_kind_is_listed_once_under_its_group_version() {
        let n: usize = groups().values().flat_map(|v| v.values()).map(Vec::len).sum();
        assert_eq!(n, api::served_kinds().count());
        // autoscaling serves v2 (preferred) and the v1 view.
        let autoscaling = group_json("autoscaling", &groups()["autoscaling"]);
        assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
        assert_eq!(autoscaling["versions"][1]["version"], "v1");
        let apps = resource_list("apps", "v1", &groups()["apps"]["v1"]);
        let names: Vec<&str> = apps["resources"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&"deployments") && names.contains(&"deployments/scale") && names.contains(&"deployments/status"));
        // kubectl drain evicts only when pods/eviction names its group and version.
        let core = resource_list("", "v1", &groups()[""]["v1"]);
        let ev = core["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods/eviction").expect("pods/eviction");
        assert_eq!((ev["group"].as_str(), ev["version"].as_str(), ev["kind"].as_str()), (Some("policy"), Some("v1"), Some("Eviction")));
        for r in core["resources"].as_array().unwrap() {
            if r["name"] == "persistentvolumes" {
                assert_eq!((r["namespaced"].as_bool(), r["shortNames"][0].as_str()), (Some(false), Some("pv")));
            }
        }
        let sc = resource_list("storage.k8s.io", "v1", &groups()["storage.k8s.io"]["v1"]);
        assert_eq!(sc["resources"][0]["shortNames"], json!(["sc"]));
        let policy = resource_list("policy", "v1", &groups()["policy"]["v1"]);
        assert!(policy["resources"].as_array().unwrap().iter().any(|r| r["name"] == "poddisruptionbudgets/status"));
    }
}
