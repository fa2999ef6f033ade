//! Prints Rust structs in shoal's model conventions for upstream definitions, read from
//! the `k8s-openapi` crate's schema (generated from Kubernetes' OpenAPI). A drafting aid
//! for adding upstream fields: the output is pasted into `api/src/model` and then owned
//! there like any hand-written code (validation and defaults are written by hand).
//!
//! `cargo run -p api --example model_gen -- io.k8s.api.core.v1.SecurityContext`
//! prints that struct and, with `--deep`, every struct it refers to that shoal's model
//! does not have yet (shoal's names are read from its own schema; `--have Name,Name` adds
//! more to treat as existing).

use std::collections::{BTreeMap, BTreeSet};

use schemars::SchemaGenerator;
use serde_json::{Map, Value};

fn all_defs() -> Map<String, Value> {
    use k8s_openapi::api::*;
    let mut g = SchemaGenerator::default();
    macro_rules! add {
        ($($ty:ty),*) => { $( let _ = g.subschema_for::<$ty>(); )* };
    }
    add!(
        core::v1::Pod, core::v1::Node, core::v1::Service, core::v1::Endpoints,
        core::v1::ReplicationController, core::v1::PersistentVolumeClaim,
        core::v1::PersistentVolume, core::v1::ConfigMap, core::v1::Secret,
        core::v1::ServiceAccount, core::v1::Event, core::v1::Namespace,
        apps::v1::Deployment, apps::v1::ReplicaSet, apps::v1::StatefulSet, apps::v1::DaemonSet,
        apps::v1::ControllerRevision, batch::v1::Job, batch::v1::CronJob,
        autoscaling::v2::HorizontalPodAutoscaler, autoscaling::v1::HorizontalPodAutoscaler,
        coordination::v1::Lease, events::v1::Event, storage::v1::StorageClass,
        discovery::v1::EndpointSlice, policy::v1::PodDisruptionBudget, policy::v1::Eviction
    );
    g.take_definitions(true)
}

/// Upstream definitions shoal spells with its own types.
fn leaf(def: &str) -> Option<&'static str> {
    Some(match def {
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time" | "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => "String",
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => "Quantity",
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => "IntOrString",
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" => "ObjectMeta",
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector" => "LabelSelector",
        "io.k8s.apimachinery.pkg.apis.meta.v1.Condition" => "Condition",
        _ => return None,
    })
}

fn short(def: &str) -> &str {
    def.rsplit('.').next().unwrap_or(def)
}

fn snake(json: &str) -> String {
    let chars: Vec<char> = json.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower && chars.get(i + 2).is_some())) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

const KEYWORDS: &[&str] = &["type", "ref", "match", "in", "as", "use", "where", "loop", "continue", "static"];

struct Gen<'a> {
    defs: &'a Map<String, Value>,
    have: BTreeSet<String>,
    queue: Vec<String>,
}

impl Gen<'_> {
    /// The Rust type of a property, queueing referenced definitions.
    fn ty(&mut self, s: &Value) -> (String, &'static str) {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let def = r.rsplit('/').next().unwrap_or(r).to_string();
            if let Some(l) = leaf(&def) {
                return (l.to_string(), "");
            }
            if matches!(short(&def), "RawExtension" | "FieldsV1") {
                return ("String".into(), "json");
            }
            let name = short(&def).to_string();
            if !self.have.contains(&name) {
                self.have.insert(name.clone());
                self.queue.push(def);
            }
            return (name, "struct");
        }
        match s.get("type").and_then(Value::as_str) {
            Some("string") => ("String".into(), ""),
            Some("boolean") => ("bool".into(), ""),
            Some("integer") => {
                (if s.get("format").and_then(Value::as_str) == Some("int32") { "i32" } else { "i64" }.into(), "")
            }
            Some("number") => ("f64".into(), ""),
            Some("array") => {
                let (inner, _) = self.ty(s.get("items").unwrap_or(&Value::Null));
                (format!("Vec<{inner}>"), "vec")
            }
            Some("object") => match s.get("additionalProperties") {
                Some(extra @ Value::Object(_)) => {
                    let (inner, _) = self.ty(extra);
                    (format!("BTreeMap<String, {inner}>"), "map")
                }
                _ => ("String".into(), "json"),
            },
            _ => ("String".into(), "json"),
        }
    }

    fn emit(&mut self, def: &str) -> String {
        let Some(schema) = self.defs.get(def).cloned() else {
            return format!("// no definition {def}\n");
        };
        let required: BTreeSet<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        let empty = Map::new();
        let props: BTreeMap<String, Value> = schema
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = String::new();
        out.push_str("#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]\n");
        out.push_str("#[serde(rename_all = \"camelCase\", default)]\n");
        out.push_str(&format!("pub struct {} {{\n", short(def)));
        for (json, s) in &props {
            let (ty, shape) = self.ty(s);
            let mut field = snake(json);
            let mut rename = camel(&field) != *json;
            if KEYWORDS.contains(&field.as_str()) {
                field.push('_');
                rename = true;
            }
            let req = required.contains(json);
            let mut attrs = Vec::new();
            if rename {
                attrs.push(format!("rename = \"{json}\""));
            }
            let full_ty = match shape {
                "vec" => {
                    attrs.push("skip_serializing_if = \"Vec::is_empty\"".into());
                    ty
                }
                "map" => {
                    attrs.push("skip_serializing_if = \"BTreeMap::is_empty\"".into());
                    ty
                }
                "json" => {
                    attrs.push("skip_serializing_if = \"String::is_empty\"".into());
                    attrs.push("with = \"crate::model::json_text\"".into());
                    ty
                }
                _ if req && ty == "String" => ty,
                _ if req && shape == "struct" => ty,
                _ if req && matches!(ty.as_str(), "i32" | "i64" | "bool") => ty,
                _ => {
                    attrs.push("skip_serializing_if = \"Option::is_none\"".into());
                    format!("Option<{ty}>")
                }
            };
            if !attrs.is_empty() {
                out.push_str(&format!("    #[serde({})]\n", attrs.join(", ")));
            }
            if shape == "json" {
                out.push_str("    #[schemars(with = \"serde_json::Map<String, serde_json::Value>\")]\n");
            }
            out.push_str(&format!("    pub {field}: {full_ty},\n"));
        }
        out.push_str("}\n");
        out
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deep = args.iter().any(|a| a == "--deep");
    let mut have = existing();
    let mut roots = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--deep" => {}
            "--have" => {
                for n in it.next().map(String::as_str).unwrap_or("").split(',') {
                    have.insert(n.to_string());
                }
            }
            "--list" => {
                for k in all_defs().keys() {
                    println!("{k}");
                }
                return;
            }
            d => roots.push(d.to_string()),
        }
    }
    let defs = all_defs();
    let mut g = Gen { defs: &defs, have, queue: Vec::new() };
    let mut done = BTreeSet::new();
    let named: BTreeSet<String> = roots.iter().cloned().collect();
    for r in roots {
        g.have.insert(short(&r).to_string());
        g.queue.push(r);
    }
    while let Some(def) = g.queue.pop() {
        if !done.insert(def.clone()) || (!deep && !named.contains(&def)) {
            continue;
        }
        println!("{}", g.emit(&def));
    }
}

/// The type names shoal's model already has: every definition its served kinds' schemas
/// reach (schemars names them after the Rust types).
fn existing() -> BTreeSet<String> {
    struct Names(SchemaGenerator);
    impl api::KindVisitor for Names {
        fn visit<T: api::Resource>(&mut self) {
            let _ = self.0.subschema_for::<T>();
        }
    }
    let mut n = Names(SchemaGenerator::default());
    api::for_each_kind(&mut n);
    n.0.take_definitions(true).keys().cloned().collect()
}
