//! `/openapi/v3`: an index of group versions, and one OpenAPI 3.0 document per group
//! version with its paths and the `components.schemas` they reach.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{closure, kind_paths, names, Operation, PathItem, PATCH_TYPES, REF_PREFIX};
use api::model::KindInfo;

const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// A neutral (v2-form) schema in v3's form: references under `#/components/schemas/`,
/// a reference with siblings wrapped in `allOf` (as Kubernetes serves them), and
/// IntOrString marked `x-kubernetes-int-or-string`.
pub fn to_v3(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                if k == "$ref" {
                    let r = val.as_str().unwrap_or("").replacen(REF_PREFIX, SCHEMA_PREFIX, 1);
                    out.insert(k.clone(), json!(r));
                } else if k == "properties" || k == "x-kubernetes-group-version-kind" {
                    let inner = match val {
                        Value::Object(props) => Value::Object(props.iter().map(|(pk, pv)| (pk.clone(), to_v3(pv))).collect()),
                        other => other.clone(),
                    };
                    out.insert(k.clone(), inner);
                } else {
                    out.insert(k.clone(), to_v3(val));
                }
            }
            if out.contains_key("$ref") && out.len() > 1 {
                let r = out.remove("$ref").unwrap_or_default();
                out.insert("allOf".into(), json!([{"$ref": r}]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{SCHEMA_PREFIX}{name}")})
}

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    for (name, description) in &op.query {
        let ty = match *name {
            "timeoutSeconds" | "gracePeriodSeconds" => "integer",
            "watch" | "allowWatchBookmarks" | "force" => "boolean",
            _ => "string",
        };
        params.push(json!({"name": name, "in": "query", "description": description, "schema": {"type": ty, "uniqueItems": true}}));
    }
    let ok_content = json!({
        "application/json": {"schema": schema_ref(&op.response)},
        "application/yaml": {"schema": schema_ref(&op.response)},
    });
    let mut responses = Map::new();
    responses.insert("200".into(), json!({"description": "OK", "content": ok_content}));
    if op.action == "post" {
        responses.insert("201".into(), json!({"description": "Created", "content": ok_content}));
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let mut o = json!({
        "tags": [op.tag],
        "description": op.description,
        "operationId": op.operation_id,
        "parameters": params,
        "responses": responses,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": {"group": op.gvk.0, "kind": op.gvk.2, "version": op.gvk.1},
    });
    if let Some(body) = &op.body {
        let types: Vec<&str> = if op.method == "patch" { PATCH_TYPES.to_vec() } else { vec!["*/*"] };
        let content: Map<String, Value> = types.iter().map(|t| (t.to_string(), json!({"schema": schema_ref(body)}))).collect();
        o["requestBody"] = json!({"content": content, "required": op.method != "delete"});
    }
    o
}

fn path_item(item: &PathItem) -> Value {
    let mut p = Map::new();
    for op in &item.ops {
        p.insert(op.method.into(), operation(op));
    }
    let mut params: Vec<Value> = item
        .params
        .iter()
        .map(|n| {
            json!({"name": n, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true},
                   "description": if *n == "name" { "name of the object" } else { "object name and auth scope, such as for teams and projects" }})
        })
        .collect();
    params.push(json!({"name": "pretty", "in": "query", "description": "If 'true', then the output is pretty printed.", "schema": {"type": "string", "uniqueItems": true}}));
    p.insert("parameters".into(), Value::Array(params));
    Value::Object(p)
}

/// `api/v1` or `apis/{group}/{version}`.
pub fn gv_key(k: &KindInfo) -> String {
    k.group_version_path().trim_start_matches('/').to_string()
}

/// One document per group version, keyed like `api/v1`.
pub fn documents(defs: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut by_gv: BTreeMap<String, Vec<&KindInfo>> = BTreeMap::new();
    for k in super::kinds() {
        by_gv.entry(gv_key(k)).or_default().push(k);
    }
    let mut out = BTreeMap::new();
    for (gv, kinds) in by_gv {
        let mut paths = Map::new();
        let mut roots = vec![names::META_STATUS.to_string(), names::META_DELETE_OPTIONS.to_string(), names::META_PATCH.to_string()];
        for k in &kinds {
            roots.push(names::kind_name(k));
            roots.push(format!("{}List", names::kind_name(k)));
            if k.has_scale {
                roots.push(names::SCALE.to_string());
            }
            for item in kind_paths(k) {
                paths.insert(item.path.clone(), path_item(&item));
            }
        }
        let schemas: Map<String, Value> =
            closure(defs, roots).into_iter().filter_map(|n| defs.get(&n).map(|d| (n.clone(), v3_schema(&n, d)))).collect();
        out.insert(
            gv.clone(),
            json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": format!("v1.32.0-shoal.{}", env!("CARGO_PKG_VERSION"))},
                "paths": paths,
                "components": {
                    "schemas": schemas,
                    "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
                },
                "security": [{"BearerToken": []}],
            }),
        );
    }
    out
}

fn v3_schema(name: &str, def: &Value) -> Value {
    let mut s = to_v3(def);
    if name == names::k8s_name("IntOrString") {
        s["x-kubernetes-int-or-string"] = json!(true);
    }
    s
}

/// The `/openapi/v3` index: each group version with the URL of its current document.
pub fn root<'a>(gvs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let paths: Map<String, Value> =
        gvs.map(|(gv, hash)| (gv.to_string(), json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash={hash}")}))).collect();
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_documents_per_group_version() {
        let docs = documents(&super::super::definitions());
        assert!(docs.contains_key("api/v1") && docs.contains_key("apis/apps/v1") && docs.contains_key("apis/autoscaling/v2"));
        let events = &docs["apis/events.k8s.io/v1"]["components"]["schemas"]["io.k8s.api.events.v1.Event"];
        assert_eq!(events["x-kubernetes-group-version-kind"][0]["group"], "events.k8s.io");
        let apps = &docs["apis/apps/v1"];
        let schemas = &apps["components"]["schemas"];
        let d = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(d["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
        // A reference with a description is wrapped in allOf.
        assert_eq!(d["properties"]["spec"]["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec");
        assert_eq!(schemas["io.k8s.api.apps.v1.DeploymentSpec"]["required"], json!(["selector", "template"]));
        assert_eq!(schemas["io.k8s.api.core.v1.Container"]["required"], json!(["name"]));
        assert!(schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"] == true);
        assert!(schemas.get("io.k8s.api.autoscaling.v1.Scale").is_some());
        assert!(schemas.get("io.k8s.api.core.v1.Node").is_none(), "only reachable schemas");
        let patch = &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"], json!({"group": "apps", "kind": "Deployment", "version": "v1"}));
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        assert!(patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_some());
        let text = serde_json::to_string(apps).unwrap();
        assert!(!text.contains("#/definitions/"));
    }

    #[test]
    fn root_points_at_hashed_documents() {
        let r = root([("api/v1", "AB12")].into_iter());
        assert_eq!(r["paths"]["api/v1"]["serverRelativeURL"], "/openapi/v3/api/v1?hash=AB12");
    }
}
