//! `/openapi/v2`: Swagger 2.0 with Kubernetes' definitions and paths.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{kind_paths, Operation, PATCH_TYPES, REF_PREFIX};

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    if let Some(body) = &op.body {
        params.push(json!({"name": "body", "in": "body", "required": op.method != "delete", "schema": {"$ref": format!("{REF_PREFIX}{body}")}}));
    }
    for (name, description) in &op.query {
        let ty = match *name {
            "timeoutSeconds" | "gracePeriodSeconds" => "integer",
            "watch" | "allowWatchBookmarks" | "force" => "boolean",
            _ => "string",
        };
        params.push(json!({"name": name, "in": "query", "description": description, "type": ty, "uniqueItems": true}));
    }
    let consumes: Vec<&str> = match op.method {
        "patch" => PATCH_TYPES.to_vec(),
        _ => vec!["*/*"],
    };
    let ok = json!({"description": "OK", "schema": {"$ref": format!("{REF_PREFIX}{}", op.response)}});
    let mut responses = Map::new();
    responses.insert("200".into(), ok.clone());
    if op.action == "post" {
        responses.insert("201".into(), json!({"description": "Created", "schema": ok["schema"].clone()}));
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    json!({
        "description": op.description,
        "operationId": op.operation_id,
        "consumes": consumes,
        "produces": ["application/json", "application/yaml"],
        "schemes": ["https"],
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
        "x-kubernetes-action": op.action,
        "x-kubernetes-group-version-kind": {"group": op.gvk.0, "kind": op.gvk.2, "version": op.gvk.1},
    })
}

/// The whole Swagger 2.0 document.
pub fn document(defs: &BTreeMap<String, Value>) -> Value {
    let mut paths = Map::new();
    for k in super::kinds() {
        for item in kind_paths(k) {
            let mut p = Map::new();
            for op in &item.ops {
                p.insert(op.method.into(), operation(op));
            }
            let mut params: Vec<Value> = item
                .params
                .iter()
                .map(|n| json!({"name": n, "in": "path", "required": true, "type": "string", "uniqueItems": true,
                                 "description": if *n == "name" { "name of the object" } else { "object name and auth scope, such as for teams and projects" }}))
                .collect();
            params.push(json!({"name": "pretty", "in": "query", "type": "string", "uniqueItems": true, "description": "If 'true', then the output is pretty printed."}));
            p.insert("parameters".into(), Value::Array(params));
            paths.insert(item.path, Value::Object(p));
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": format!("v1.32.0-shoal.{}", env!("CARGO_PKG_VERSION"))},
        "paths": paths,
        "definitions": defs,
        "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}},
        "security": [{"BearerToken": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_has_definitions_and_kind_paths() {
        let doc = document(&super::super::definitions());
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"], "string");
        assert_eq!(doc["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["required"], json!(["selector", "template"]));
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-action"], "patch");
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["get"];
        assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
        assert!(doc["paths"]["/api/v1/nodes/{name}"]["get"].is_object());
    }
}
