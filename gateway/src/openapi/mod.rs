//! OpenAPI documents, generated from the model's Rust types so that they cannot drift:
//! schemars derives a JSON Schema for every kind, [`definitions`] renames the schemas to
//! Kubernetes' definition names (one table, `names.rs`), cleans them into the subset
//! Kubernetes serves (no null types, no defaults), adds descriptions, the
//! `x-kubernetes-group-version-kind` of every kind, list kinds, strategic-merge metadata
//! and the meta types clients look up (`Status`, `DeleteOptions`, `Scale`, …).
//! `v2.rs` turns them into `/openapi/v2`, `v3.rs` into `/openapi/v3` and its
//! per-group-version documents. Everything is computed once and served as bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use api::model::*;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use crate::error::ApiError;

pub mod names;
pub mod v2;
pub mod v3;

/// Where the neutral form of a definition points its references.
pub const REF_PREFIX: &str = "#/definitions/";

/// Every definition, by Kubernetes name, in the neutral form: JSON Schema with `$ref`s as
/// `#/definitions/{name}` and descriptions next to `$ref`s (v2's form).
pub fn definitions() -> BTreeMap<String, Value> {
    let mut gen = SchemaSettings::draft2020_12()
        .with(|s| {
            s.meta_schema = None;
            s.definitions_path = "/definitions".into();
        })
        .into_generator();
    api::for_each_kind(&mut Schemas(&mut gen));
    gen.subschema_for::<ListMeta>();
    let raw = gen.take_definitions(false);

    let mut defs = BTreeMap::new();
    for (rust, schema) in raw {
        let mut schema = clean(schema);
        describe_fields(&rust, &mut schema);
        defs.insert(names::k8s_name(&rust), schema);
    }
    for k in kinds() {
        let name = names::kind_name(k);
        if let Some(def) = defs.get_mut(&name) {
            let desc = names::KIND_DESCRIPTIONS.iter().find(|(n, _)| *n == k.kind).map(|(_, d)| *d).unwrap_or(k.kind);
            def["description"] = json!(desc);
            def["x-kubernetes-group-version-kind"] = json!([gvk(k.group, k.version, k.kind)]);
        }
        defs.insert(format!("{name}List"), list_schema(k, &name));
    }
    for (def, prop, strategy, key, map_keys) in names::PATCH_META {
        if let Some(p) = defs.get_mut(*def).and_then(|d| d.get_mut("properties")).and_then(|p| p.get_mut(*prop)) {
            p["x-kubernetes-patch-strategy"] = json!(strategy);
            if !key.is_empty() {
                p["x-kubernetes-patch-merge-key"] = json!(key);
            }
            if map_keys.is_empty() {
                p["x-kubernetes-list-type"] = json!("set");
            } else {
                p["x-kubernetes-list-type"] = json!("map");
                p["x-kubernetes-list-map-keys"] = json!(map_keys);
            }
        }
    }
    for (def, props) in names::required() {
        if let Some(d) = defs.get_mut(&def) {
            let present: Vec<&str> = props.iter().copied().filter(|p| d.get("properties").and_then(|ps| ps.get(*p)).is_some()).collect();
            if !present.is_empty() {
                d["required"] = json!(present);
            }
        }
    }
    meta_definitions(&mut defs);
    defs
}

/// Every kind the documents describe: the stored kinds and the events.k8s.io/v1 view.
pub fn kinds() -> impl Iterator<Item = &'static KindInfo> {
    api::served_kinds()
}

/// Adds every kind's schema to the generator, walking the one list of kinds.
struct Schemas<'a>(&'a mut schemars::SchemaGenerator);

impl api::KindVisitor for Schemas<'_> {
    fn visit<T: Resource>(&mut self) {
        self.0.subschema_for::<T>();
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> Value {
    json!({"group": group, "kind": kind, "version": version})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}")})
}

fn described_ref(name: &str, description: &str) -> Value {
    json!({"$ref": format!("{REF_PREFIX}{name}"), "description": description})
}

fn string_prop(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn type_meta_props() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("apiVersion".into(), string_prop(&names::field_description("*", "apiVersion")));
    m.insert("kind".into(), string_prop(&names::field_description("*", "kind")));
    m
}

fn list_schema(k: &KindInfo, item: &str) -> Value {
    let mut props = type_meta_props();
    props.insert(
        "items".into(),
        json!({"type": "array", "description": format!("List of {}.", k.plural), "items": reference(item)}),
    );
    props.insert("metadata".into(), described_ref(names::META_LIST_META, "Standard list metadata."));
    json!({
        "description": format!("{}List is a list of {}.", k.kind, k.kind),
        "type": "object",
        "required": ["items"],
        "properties": props,
        "x-kubernetes-group-version-kind": [gvk(k.group, k.version, &format!("{}List", k.kind))],
    })
}

/// The meta and autoscaling types that clients look up and that the model does not define
/// as Rust types of its own (they are the server's protocol, not stored objects).
fn meta_definitions(defs: &mut BTreeMap<String, Value>) {
    let meta = "io.k8s.apimachinery.pkg.apis.meta.v1";
    let mut gvs: BTreeSet<(&str, &str)> = kinds().map(|k| (k.group, k.version)).collect();
    gvs.insert(("autoscaling", "v1"));
    let delete_gvks: Vec<Value> = gvs.iter().map(|(g, v)| gvk(g, v, "DeleteOptions")).collect();

    let mut props = type_meta_props();
    props.insert("dryRun".into(), json!({"type": "array", "items": {"type": "string"}, "description": "When present, indicates that modifications should not be persisted."}));
    props.insert("gracePeriodSeconds".into(), json!({"type": "integer", "format": "int64", "description": "The duration in seconds before the object should be deleted."}));
    props.insert("orphanDependents".into(), json!({"type": "boolean", "description": "Deprecated: please use the PropagationPolicy."}));
    props.insert("preconditions".into(), described_ref(&format!("{meta}.Preconditions"), "Must be fulfilled before a deletion is carried out."));
    props.insert("propagationPolicy".into(), string_prop("Whether and how garbage collection will be performed: Orphan, Background or Foreground."));
    defs.insert(
        names::META_DELETE_OPTIONS.into(),
        json!({"description": "DeleteOptions may be provided when deleting an API object.", "type": "object",
               "properties": props, "x-kubernetes-group-version-kind": delete_gvks}),
    );
    defs.insert(
        format!("{meta}.Preconditions"),
        json!({"description": "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.", "type": "object",
               "properties": {"resourceVersion": string_prop("Specifies the target ResourceVersion"), "uid": string_prop("Specifies the target UID.")}}),
    );

    let mut props = type_meta_props();
    props.insert("code".into(), json!({"type": "integer", "format": "int32", "description": "Suggested HTTP return code for this status, 0 if not set."}));
    props.insert("details".into(), described_ref(&format!("{meta}.StatusDetails"), "Extended data associated with the reason."));
    props.insert("message".into(), string_prop("A human-readable description of the status of this operation."));
    props.insert("metadata".into(), described_ref(names::META_LIST_META, "Standard list metadata."));
    props.insert("reason".into(), string_prop("A machine-readable description of why this operation is in the \"Failure\" status."));
    props.insert("status".into(), string_prop("Status of the operation. One of: \"Success\" or \"Failure\"."));
    defs.insert(
        names::META_STATUS.into(),
        json!({"description": "Status is a return value for calls that don't return other objects.", "type": "object",
               "properties": props, "x-kubernetes-group-version-kind": [gvk("", "v1", "Status")]}),
    );
    defs.insert(
        format!("{meta}.StatusDetails"),
        json!({"description": "StatusDetails is a set of additional properties that MAY be set by the server to provide additional information about a response.", "type": "object",
               "properties": {
                   "causes": {"type": "array", "items": reference(&format!("{meta}.StatusCause")), "description": "The Causes array includes more details associated with the StatusReason failure."},
                   "group": string_prop("The group attribute of the resource associated with the status StatusReason."),
                   "kind": string_prop("The kind attribute of the resource associated with the status StatusReason."),
                   "name": string_prop("The name attribute of the resource associated with the status StatusReason."),
                   "retryAfterSeconds": {"type": "integer", "format": "int32", "description": "If specified, the time in seconds before the operation should be retried."},
                   "uid": string_prop("UID of the resource."),
               }}),
    );
    defs.insert(
        format!("{meta}.StatusCause"),
        json!({"description": "StatusCause provides more information about an api.Status failure.", "type": "object",
               "properties": {
                   "field": string_prop("The field of the resource that has caused this error, as named by its JSON serialization."),
                   "message": string_prop("A human-readable description of the cause of the error."),
                   "reason": string_prop("A machine-readable description of the cause of the error."),
               }}),
    );
    defs.insert(
        names::META_PATCH.into(),
        json!({"description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.", "type": "object"}),
    );

    let mut props = type_meta_props();
    props.insert("metadata".into(), described_ref(&names::k8s_name("ObjectMeta"), "Standard object metadata."));
    props.insert("spec".into(), described_ref(&format!("{}Spec", names::SCALE), "Defines the behavior of the scale."));
    props.insert("status".into(), described_ref(&format!("{}Status", names::SCALE), "The current status of the scale. Read-only."));
    defs.insert(
        names::SCALE.into(),
        json!({"description": "Scale represents a scaling request for a resource.", "type": "object", "properties": props,
               "x-kubernetes-group-version-kind": [gvk("autoscaling", "v1", "Scale")]}),
    );
    defs.insert(
        format!("{}Spec", names::SCALE),
        json!({"description": "ScaleSpec describes the attributes of a scale subresource.", "type": "object",
               "properties": {"replicas": {"type": "integer", "format": "int32", "description": "The desired number of instances for the scaled object."}}}),
    );
    defs.insert(
        format!("{}Status", names::SCALE),
        json!({"description": "ScaleStatus represents the current status of a scale subresource.", "type": "object", "required": ["replicas"],
               "properties": {
                   "replicas": {"type": "integer", "format": "int32", "description": "The actual number of observed instances of the scaled object."},
                   "selector": string_prop("Label query over pods that should match the replicas count, in the label selector string format."),
               }}),
    );
}

/// Reduces a schemars schema to what Kubernetes serves: Kubernetes reference names, no
/// null types (optional is the absence from `required`), no defaults or titles.
pub fn clean(schema: impl Into<Value>) -> Value {
    let mut v: Value = schema.into();
    clean_value(&mut v);
    v
}

fn clean_value(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    for k in ["$schema", "title", "default", "nullable", "examples", "deprecated", "readOnly", "writeOnly"] {
        obj.remove(k);
    }
    // `Option<T>` of a referenced type: anyOf [T, null] → T.
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = obj.get(key) {
            let non_null: Vec<Value> = alts.iter().filter(|a| a.get("type") != Some(&json!("null"))).cloned().collect();
            if non_null.len() == 1 && alts.len() == 2 {
                obj.remove(key);
                if let Value::Object(inner) = non_null.into_iter().next().unwrap_or_default() {
                    for (k, val) in inner {
                        obj.entry(k).or_insert(val);
                    }
                }
            }
        }
    }
    // A lone allOf around a reference: the reference itself (siblings stay next to it).
    if let Some(Value::Array(all)) = obj.get("allOf") {
        if all.len() == 1 && all[0].get("$ref").is_some() {
            let r = all[0]["$ref"].clone();
            obj.remove("allOf");
            obj.insert("$ref".into(), r);
        }
    }
    if let Some(Value::String(r)) = obj.get("$ref") {
        let rust = r.rsplit('/').next().unwrap_or("").to_string();
        obj.insert("$ref".into(), json!(format!("{REF_PREFIX}{}", names::k8s_name(&rust))));
    }
    if let Some(Value::Array(types)) = obj.get("type") {
        let t: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        if t.len() == 1 {
            obj.insert("type".into(), t[0].clone());
        } else {
            obj.insert("type".into(), Value::Array(t));
        }
    }
    // Kubernetes' integers are int32 or int64; unsigned formats mean the same to clients.
    if let Some(Value::String(f)) = obj.get("format") {
        let f = match f.as_str() {
            "uint8" | "uint16" | "uint32" | "int8" | "int16" => Some("int32"),
            "uint" | "uint64" | "int" => Some("int64"),
            _ => None,
        };
        if let Some(f) = f {
            obj.insert("format".into(), json!(f));
            obj.remove("minimum");
        }
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for p in props.values_mut() {
            clean_value(p);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = obj.get_mut(key) {
            clean_value(sub);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(alts)) = obj.get_mut(key) {
            alts.iter_mut().for_each(clean_value);
        }
    }
}

fn describe_fields(rust: &str, schema: &mut Value) {
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        for (field, p) in props.iter_mut() {
            if p.get("description").is_none() {
                p["description"] = json!(names::field_description(rust, field));
            }
        }
    }
    if schema.get("description").is_none() {
        schema["description"] = json!(format!("{rust} is part of the shoal API."));
    }
}

/// The names of every definition `root` refers to, directly or through others.
pub fn closure(defs: &BTreeMap<String, Value>, roots: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(def) = defs.get(&name) {
            collect_refs(def, &mut todo);
        }
    }
    seen
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if k == "$ref" {
                    if let Some(s) = val.as_str() {
                        out.push(s.rsplit('/').next().unwrap_or("").to_string());
                    }
                } else {
                    collect_refs(val, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// One REST operation of a kind, the same for both document versions.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    /// `get`, `list`, `post`, `put`, `patch`, `delete`.
    pub action: &'static str,
    pub operation_id: String,
    pub description: String,
    /// Definition of the request body, if any.
    pub body: Option<String>,
    /// Definition of the 200/201 response.
    pub response: String,
    /// GVK of the operation (the kind, or autoscaling/v1 Scale).
    pub gvk: (String, String, String),
    /// Query parameters (name, description).
    pub query: Vec<(&'static str, &'static str)>,
    pub tag: String,
}

/// One path with its path parameters and operations.
#[derive(Debug, Clone)]
pub struct PathItem {
    pub path: String,
    pub params: Vec<&'static str>,
    pub ops: Vec<Operation>,
}

const Q_PRETTY: (&str, &str) = ("pretty", "If 'true', then the output is pretty printed.");
const Q_DRY_RUN: (&str, &str) = ("dryRun", "When present, indicates that modifications should not be persisted. Valid values: All.");
const Q_FIELD_MANAGER: (&str, &str) = ("fieldManager", "A name associated with the actor or entity that is making these changes.");
const Q_FIELD_VALIDATION: (&str, &str) = (
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore (drop them silently), Warn (the default: drop them and send a warning header for each), Strict (fail the request with BadRequest listing every unknown and duplicate field).",
);
const Q_FORCE: (&str, &str) = ("force", "Force is going to \"force\" Apply requests. It must be unset for non-apply patch requests.");
const Q_LIST: &[(&str, &str)] = &[
    ("labelSelector", "A selector to restrict the list of returned objects by their labels."),
    ("fieldSelector", "A selector to restrict the list of returned objects by their fields."),
    ("resourceVersion", "resourceVersion sets a constraint on what resource versions a request may be served from."),
    ("timeoutSeconds", "Timeout for the list/watch call."),
    ("watch", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
    ("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
];

fn pascal(s: &str) -> String {
    let mut out = String::new();
    for part in s.split(['.', '-']) {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            out.extend(f.to_uppercase());
            out.push_str(c.as_str());
        }
    }
    out
}

/// The paths of one kind, as Kubernetes lays them out.
pub fn kind_paths(k: &KindInfo) -> Vec<PathItem> {
    let gv = k.group_version_path();
    let base = if k.namespaced { format!("{gv}/namespaces/{{namespace}}/{}", k.plural) } else { format!("{gv}/{}", k.plural) };
    let group_id = if k.group.is_empty() { format!("Core{}", pascal(k.version)) } else { format!("{}{}", pascal(k.group.split('.').next().unwrap_or("")), pascal(k.version)) };
    let scope = if k.namespaced { "Namespaced" } else { "" };
    let tag = if k.group.is_empty() { format!("core_{}", k.version) } else { format!("{}_{}", k.group.replace('.', "_"), k.version) };
    let kind_def = names::kind_name(k);
    let kind_gvk = (k.group.to_string(), k.version.to_string(), k.kind.to_string());
    let ns_params: Vec<&'static str> = if k.namespaced { vec!["namespace"] } else { vec![] };
    let write_q = vec![Q_PRETTY, Q_DRY_RUN, Q_FIELD_MANAGER, Q_FIELD_VALIDATION];
    let patch_q = vec![Q_PRETTY, Q_DRY_RUN, Q_FIELD_MANAGER, Q_FIELD_VALIDATION, Q_FORCE];
    let op = |method, action, verb: &str, sub: &str, body: Option<String>, response: &str, gvk: &(String, String, String), query: Vec<(&'static str, &'static str)>| Operation {
        method,
        action,
        operation_id: format!("{verb}{group_id}{scope}{}{sub}", k.kind),
        description: format!("{verb} the specified {}{}", k.kind, if sub.is_empty() { String::new() } else { format!(" {}", sub.to_lowercase()) }),
        body,
        response: response.to_string(),
        gvk: gvk.clone(),
        query,
        tag: tag.clone(),
    };
    let mut list_q = vec![Q_PRETTY];
    list_q.extend_from_slice(Q_LIST);
    let mut paths = vec![
        PathItem {
            path: base.clone(),
            params: ns_params.clone(),
            ops: vec![
                op("get", "list", "list", "", None, &format!("{kind_def}List"), &kind_gvk, list_q.clone()),
                op("post", "post", "create", "", Some(kind_def.clone()), &kind_def, &kind_gvk, write_q.clone()),
            ],
        },
        PathItem {
            path: format!("{base}/{{name}}"),
            params: [vec!["name"], ns_params.clone()].concat(),
            ops: vec![
                op("get", "get", "read", "", None, &kind_def, &kind_gvk, vec![Q_PRETTY]),
                op("put", "put", "replace", "", Some(kind_def.clone()), &kind_def, &kind_gvk, write_q.clone()),
                op("patch", "patch", "patch", "", Some(names::META_PATCH.into()), &kind_def, &kind_gvk, patch_q.clone()),
                op("delete", "delete", "delete", "", Some(names::META_DELETE_OPTIONS.into()), names::META_STATUS, &kind_gvk,
                    vec![Q_PRETTY, Q_DRY_RUN, ("gracePeriodSeconds", "The duration in seconds before the object should be deleted."), ("propagationPolicy", "Whether and how garbage collection will be performed.")]),
            ],
        },
    ];
    if k.has_status {
        paths.push(PathItem {
            path: format!("{base}/{{name}}/status"),
            params: [vec!["name"], ns_params.clone()].concat(),
            ops: vec![
                op("get", "get", "read", "Status", None, &kind_def, &kind_gvk, vec![Q_PRETTY]),
                op("put", "put", "replace", "Status", Some(kind_def.clone()), &kind_def, &kind_gvk, write_q.clone()),
                op("patch", "patch", "patch", "Status", Some(names::META_PATCH.into()), &kind_def, &kind_gvk, patch_q.clone()),
            ],
        });
    }
    if k.has_scale {
        let scale_gvk = ("autoscaling".to_string(), "v1".to_string(), "Scale".to_string());
        paths.push(PathItem {
            path: format!("{base}/{{name}}/scale"),
            params: [vec!["name"], ns_params.clone()].concat(),
            ops: vec![
                op("get", "get", "read", "Scale", None, names::SCALE, &scale_gvk, vec![Q_PRETTY]),
                op("put", "put", "replace", "Scale", Some(names::SCALE.into()), names::SCALE, &scale_gvk, write_q.clone()),
                op("patch", "patch", "patch", "Scale", Some(names::META_PATCH.into()), names::SCALE, &scale_gvk, patch_q.clone()),
            ],
        });
    }
    if k.namespaced {
        let mut list_all = op("get", "list", "list", "ForAllNamespaces", None, &format!("{kind_def}List"), &kind_gvk, list_q);
        list_all.operation_id = format!("list{group_id}{}ForAllNamespaces", k.kind);
        paths.push(PathItem { path: format!("{gv}/{}", k.plural), params: vec![], ops: vec![list_all] });
    }
    paths
}

pub const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// The documents, computed once.
pub struct Documents {
    pub v2: Vec<u8>,
    pub v3_root: Vec<u8>,
    /// `api/v1`, `apis/apps/v1` → (hash, document).
    pub v3: BTreeMap<String, (String, Vec<u8>)>,
}

static DOCUMENTS: OnceLock<Documents> = OnceLock::new();

pub fn documents() -> &'static Documents {
    DOCUMENTS.get_or_init(|| {
        let defs = definitions();
        let v2 = serde_json::to_vec(&v2::document(&defs)).unwrap_or_default();
        let mut docs = BTreeMap::new();
        for (gv, doc) in v3::documents(&defs) {
            let bytes = serde_json::to_vec(&doc).unwrap_or_default();
            docs.insert(gv, (content_hash(&bytes), bytes));
        }
        let root = v3::root(docs.iter().map(|(gv, (hash, _))| (gv.as_str(), hash.as_str())));
        Documents { v2, v3_root: serde_json::to_vec(&root).unwrap_or_default(), v3: docs }
    })
}

/// A stable hex hash of a document (FNV-1a, 128 bits from two 64-bit lanes).
pub fn content_hash(bytes: &[u8]) -> String {
    let mut a: u64 = 0xcbf29ce484222325;
    let mut b: u64 = 0x84222325cbf29ce4;
    for &x in bytes {
        a = (a ^ x as u64).wrapping_mul(0x100000001b3);
        b = (b ^ (x as u64).rotate_left(3)).wrapping_mul(0x100000001b3);
    }
    format!("{a:016X}{b:016X}")
}

/// JSON is served when the client accepts it (or anything); a client that asks only for
/// protobuf gets 406, as servers without that encoding answer.
fn accepts_json(req: &HttpRequest) -> bool {
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return true };
    crate::negotiate::servable(accept, &[])
}

fn not_acceptable() -> ApiError {
    ApiError::new(406, "NotAcceptable", "only application/json is supported for OpenAPI documents")
}

fn serve(req: &HttpRequest, bytes: &[u8], etag: Option<&str>) -> Result<HttpResponse, ApiError> {
    if !accepts_json(req) {
        return Err(not_acceptable());
    }
    let mut b = HttpResponse::Ok();
    b.content_type("application/json");
    if let Some(tag) = etag {
        b.insert_header((header::ETAG, format!("\"{tag}\"")));
        let hashed = req.query_string().split('&').any(|kv| kv == format!("hash={tag}"));
        if hashed {
            b.insert_header((header::CACHE_CONTROL, "public, immutable"));
        }
    }
    Ok(b.body(bytes.to_vec()))
}

async fn openapi_v2(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let d = documents();
    serve(&req, &d.v2, None)
}

async fn openapi_v3_root(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, &documents().v3_root, None)
}

async fn openapi_v3_gv(req: HttpRequest, tail: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let gv = tail.into_inner();
    match documents().v3.get(gv.trim_matches('/')) {
        Some((hash, bytes)) => serve(&req, bytes, Some(hash)),
        None => Err(ApiError::not_found(format!("the server could not find the requested resource (OpenAPI v3 {gv})"))),
    }
}

/// `/openapi/v2`, `/openapi/v3` and `/openapi/v3/{group version}`. Computes the
/// documents now, so that the first client does not wait for them.
pub fn configure(cfg: &mut web::ServiceConfig) {
    documents();
    cfg.route("/openapi/v2", web::get().to(openapi_v2))
        .route("/openapi/v3", web::get().to(openapi_v3_root))
        .route("/openapi/v3/{tail:.*}", web::get().to(openapi_v3_gv));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_type_has_a_kubernetes_name() {
        let defs = definitions();
        let unmapped: Vec<&String> = defs.keys().filter(|k| k.starts_with(names::UNMAPPED)).collect();
        assert!(unmapped.is_empty(), "add these to names::NAMES: {unmapped:?}");
        for name in closure(&defs, defs.keys().cloned()) {
            assert!(defs.contains_key(&name), "dangling reference to {name}");
        }
    }

    #[test]
    fn deployment_schema_follows_serde_names_and_kubernetes_conventions() {
        let defs = definitions();
        let d = &defs["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(d["x-kubernetes-group-version-kind"], json!([{"group": "apps", "kind": "Deployment", "version": "v1"}]));
        assert_eq!(d["properties"]["metadata"]["$ref"], "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
        assert_eq!(d["properties"]["spec"]["$ref"], "#/definitions/io.k8s.api.apps.v1.DeploymentSpec");
        let spec = &defs["io.k8s.api.apps.v1.DeploymentSpec"];
        let replicas = &spec["properties"]["replicas"];
        assert_eq!(replicas["type"], "integer");
        assert_eq!(replicas["format"], "int32");
        assert!(replicas["description"].as_str().unwrap().contains("desired pods"));
        assert!(spec["properties"].get("revisionHistoryLimit").is_some());
        assert!(spec["properties"].get("revision_history_limit").is_none());
        let ru = &defs["io.k8s.api.apps.v1.RollingUpdateDeployment"];
        assert_eq!(ru["properties"]["maxSurge"]["$ref"], "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString");
        assert_eq!(defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"], "int-or-string");
        let rr = &defs["io.k8s.api.core.v1.ResourceRequirements"];
        assert_eq!(rr["properties"]["requests"]["additionalProperties"]["$ref"], "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity");
        let list = &defs["io.k8s.api.apps.v1.DeploymentList"];
        assert_eq!(list["properties"]["items"]["items"]["$ref"], "#/definitions/io.k8s.api.apps.v1.Deployment");
        assert_eq!(list["x-kubernetes-group-version-kind"][0]["kind"], "DeploymentList");
        for name in [names::META_STATUS, names::META_DELETE_OPTIONS, names::SCALE, names::META_PATCH] {
            assert!(defs.contains_key(name), "{name}");
        }
        // No null types or defaults survive.
        let text = serde_json::to_string(&defs).unwrap();
        assert!(!text.contains("\"null\""), "null types left");
        assert!(!text.contains("\"default\""), "defaults left");
        assert!(!text.contains("anyOf"), "anyOf left");
    }

    #[test]
    fn merge_lists_carry_strategic_merge_metadata() {
        let defs = definitions();
        for (def, prop, strategy, key, _) in names::PATCH_META {
            let p = defs.get(*def).and_then(|d| d["properties"].get(*prop)).unwrap_or_else(|| panic!("{def}.{prop} does not exist"));
            assert_eq!(p["type"], "array", "{def}.{prop}");
            assert_eq!(p["x-kubernetes-patch-strategy"], *strategy);
            if !key.is_empty() {
                assert_eq!(p["x-kubernetes-patch-merge-key"], *key);
            }
        }
        let c = &defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(c["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(defs["io.k8s.api.core.v1.Container"]["properties"]["ports"]["x-kubernetes-patch-merge-key"], "containerPort");
    }

    #[test]
    fn required_lists_name_existing_properties() {
        let defs = definitions();
        for (def, props) in names::required() {
            let d = defs.get(&def).unwrap_or_else(|| panic!("names::REQUIRED lists {def}, which is not a definition"));
            for p in props {
                assert!(d["properties"].get(*p).is_some(), "names::REQUIRED lists {def}.{p}, which is not a property");
            }
            assert_eq!(d["required"], json!(props), "{def}");
        }
        let spec = &defs["io.k8s.api.apps.v1.DeploymentSpec"];
        assert_eq!(spec["required"], json!(["selector", "template"]));
        assert_eq!(defs["io.k8s.api.core.v1.PodSpec"]["required"], json!(["containers"]));
        assert!(defs["io.k8s.api.core.v1.PodTemplateSpec"].get("required").is_none());
        assert_eq!(defs["io.k8s.api.apps.v1.DeploymentList"]["required"], json!(["items"]));
    }

    #[test]
    fn accept_negotiation() {
        let req = actix_web::test::TestRequest::default().insert_header(("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")).to_http_request();
        assert!(!accepts_json(&req));
        let req = actix_web::test::TestRequest::default()
            .insert_header(("Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json"))
            .to_http_request();
        assert!(accepts_json(&req));
        assert!(accepts_json(&actix_web::test::TestRequest::default().to_http_request()));
    }
}
