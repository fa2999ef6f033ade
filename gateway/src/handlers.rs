//! The REST verbs, generic over the kind: list, create, get, replace, patch, delete, and
//! the `/status` and `/scale` subresources.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use actors::model::selector::{matches, parse_selector_string, LabelSelector};
use actors::model::{ListMeta, Namespace, Resource};
use actors::registry::{Deleted, Preconditions, RegistryError, UpdateScope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::body;
use crate::error::{from_registry, ApiError};
use crate::metrics::RequestInfo;
use crate::table;
use crate::watch;
use crate::AppState;

pub type ApiResult = Result<HttpResponse, ApiError>;

/// Query parameters of list and watch requests.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub watch: Option<String>,
    pub resource_version: Option<String>,
    pub allow_watch_bookmarks: Option<bool>,
    pub timeout_seconds: Option<u64>,
}

impl ListParams {
    pub fn is_watch(&self) -> bool {
        matches!(self.watch.as_deref(), Some("true") | Some("1"))
    }
}

/// Query parameters of DELETE.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteParams {
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
}

/// The body of DELETE (`DeleteOptions`), all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    #[serde(default)]
    pub preconditions: Option<PreconditionsBody>,
    #[serde(default)]
    pub propagation_policy: Option<String>,
    #[serde(default)]
    pub grace_period_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreconditionsBody {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// Where a request points: namespace (for namespaced kinds) and name.
pub struct Target {
    pub ns: Option<String>,
    pub name: Option<String>,
}

impl Target {
    pub fn of(req: &HttpRequest) -> Self {
        Target {
            ns: req.match_info().get("ns").map(str::to_string),
            name: req.match_info().get("name").map(str::to_string),
        }
    }
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

fn tag<T: Resource>(req: &HttpRequest, verb: &'static str) {
    req.extensions_mut().insert(RequestInfo { verb, resource: T::INFO.plural });
}

fn err<T: Resource>(e: RegistryError) -> ApiError {
    from_registry(e, T::INFO.group, T::INFO.plural)
}

/// A JSON response with optional `Warning` headers.
pub fn json_response<S: Serialize>(code: StatusCode, body: &S, warnings: &[String]) -> ApiResult {
    let bytes = serde_json::to_vec(body).map_err(|e| ApiError::internal(format!("encoding response: {e}")))?;
    let mut b = HttpResponse::build(code);
    b.content_type("application/json");
    for w in warnings {
        b.append_header(("Warning", w.as_str()));
    }
    Ok(b.body(bytes))
}

/// Decodes a request body into `T` (JSON or YAML), with warnings for unknown fields.
async fn read_object<T: Resource>(req: &HttpRequest, payload: web::Payload) -> Result<(T, Vec<String>), ApiError> {
    let bytes = body::read(payload).await?;
    let media = body::media_type(req);
    let value = body::parse_document(&bytes, &media)?;
    check_type_meta::<T>(&value)?;
    let (obj, unknown) = body::decode_typed::<T>(value)?;
    Ok((obj, body::unknown_field_warnings(&unknown)))
}

/// A body that names another kind or group version is refused, as Kubernetes does.
fn check_type_meta<T: Resource>(value: &Value) -> Result<(), ApiError> {
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON or YAML object"));
    }
    if let Some(kind) = value.get("kind").and_then(Value::as_str) {
        if !kind.is_empty() && kind != T::INFO.kind {
            return Err(ApiError::bad_request(format!(
                "the kind of the provided object ({kind}) does not match the kind of the request ({})",
                T::INFO.kind
            )));
        }
    }
    if let Some(av) = value.get("apiVersion").and_then(Value::as_str) {
        if !av.is_empty() && av != T::INFO.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version of the provided object ({av}) does not match the API version of the request ({})",
                T::INFO.api_version()
            )));
        }
    }
    Ok(())
}

/// Puts the path's namespace on a body object; a different one in the body is a 400.
fn bind_namespace<T: Resource>(obj: &mut T, target: &Target) -> Result<(), ApiError> {
    if !T::INFO.namespaced {
        obj.meta_mut().namespace = None;
        return Ok(());
    }
    let path_ns = target.ns.clone().unwrap_or_default();
    match obj.meta().namespace.as_deref() {
        Some(ns) if !ns.is_empty() && ns != path_ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            obj.meta_mut().namespace = Some(path_ns);
            Ok(())
        }
    }
}

async fn require_namespace(state: &AppState, target: &Target) -> Result<(), ApiError> {
    let Some(ns) = target.ns.as_deref() else { return Ok(()) };
    if state.namespaces.as_ref().is_some_and(|c| c.get(None, ns).is_some()) {
        return Ok(());
    }
    match state.registry.get::<Namespace>(None, ns).await {
        Ok(_) => Ok(()),
        Err(e) => Err(from_registry(e, "", "namespaces")),
    }
}

/// Parses `labelSelector` and `fieldSelector` into one predicate.
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Vec<(String, bool, String)>,
}

impl Filter {
    pub fn from_params(p: &ListParams) -> Result<Self, ApiError> {
        let labels = match p.label_selector.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => Some(
                parse_selector_string(s).map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?,
            ),
            _ => None,
        };
        let mut fields = Vec::new();
        if let Some(fs) = p.field_selector.as_deref() {
            for term in fs.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let (k, eq, v) = if let Some((k, v)) = term.split_once("!=") {
                    (k, false, v)
                } else if let Some((k, v)) = term.split_once("==") {
                    (k, true, v)
                } else if let Some((k, v)) = term.split_once('=') {
                    (k, true, v)
                } else {
                    return Err(ApiError::bad_request(format!("invalid field selector term {term:?}: expected key=value")));
                };
                fields.push((k.trim().to_string(), eq, v.trim().to_string()));
            }
        }
        Ok(Filter { labels, fields })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_empty()
    }

    pub fn accepts<T: Resource>(&self, obj: &T) -> bool {
        if let Some(sel) = &self.labels {
            if !matches(sel, &obj.meta().labels) {
                return false;
            }
        }
        if self.fields.is_empty() {
            return true;
        }
        let value = serde_json::to_value(obj).unwrap_or(Value::Null);
        self.fields.iter().all(|(path, eq, want)| {
            let got = path.split('.').try_fold(&value, |v, seg| v.get(seg));
            let got = match got {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (got == *want) == *eq
        })
    }
}

pub async fn list<T: Resource>(state: web::Data<AppState>, req: HttpRequest, q: web::Query<ListParams>) -> ApiResult {
    let target = Target::of(&req);
    let filter = Filter::from_params(&q)?;
    if q.is_watch() {
        tag::<T>(&req, "watch");
        return watch::serve::<T>(state.get_ref().clone(), target.ns, filter, &q).await;
    }
    tag::<T>(&req, "list");
    let (items, rev) = state.registry.list::<T>(target.ns.as_deref()).await.map_err(err::<T>)?;
    let items: Vec<T> = if filter.is_empty() { items } else { items.into_iter().filter(|o| filter.accepts(o)).collect() };
    if table::wants_table(&req) {
        let values: Vec<Value> = items.iter().filter_map(|o| serde_json::to_value(o).ok()).collect();
        return json_response(StatusCode::OK, &table::build(T::INFO.kind, &values, &rev.to_string()), &[]);
    }
    json_response(StatusCode::OK, &list_body::<T>(items, rev), &[])
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<T> {
    kind: String,
    api_version: String,
    metadata: ListMeta,
    items: Vec<T>,
}

fn list_body<T: Resource>(items: Vec<T>, rev: i64) -> ListBody<T> {
    ListBody {
        kind: format!("{}List", T::INFO.kind),
        api_version: T::INFO.api_version(),
        metadata: ListMeta { resource_version: rev.to_string(), ..Default::default() },
        items,
    }
}

pub async fn create<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "create");
    let target = Target::of(&req);
    let (mut obj, warnings) = read_object::<T>(&req, payload).await?;
    bind_namespace(&mut obj, &target)?;
    require_namespace(&state, &target).await?;
    let created = state.registry.create(obj).await.map_err(err::<T>)?;
    json_response(StatusCode::CREATED, &created, &warnings)
}

pub async fn get<T: Resource>(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    tag::<T>(&req, "get");
    let target = Target::of(&req);
    let obj: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
    if table::wants_table(&req) {
        let value = serde_json::to_value(&obj).map_err(|e| ApiError::internal(e.to_string()))?;
        let rv = obj.meta().resource_version.clone();
        return json_response(StatusCode::OK, &table::build(T::INFO.kind, &[value], &rv), &[]);
    }
    json_response(StatusCode::OK, &obj, &[])
}

async fn replace_scoped<T: Resource>(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    scope: UpdateScope,
) -> ApiResult {
    let target = Target::of(req);
    let (mut obj, warnings) = read_object::<T>(req, payload).await?;
    if obj.meta().name.is_empty() {
        obj.meta_mut().name = target.name().to_string();
    }
    if obj.meta().name != target.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            obj.meta().name,
            target.name()
        )));
    }
    bind_namespace(&mut obj, &target)?;
    let updated = state.registry.update(obj, scope).await.map_err(err::<T>)?;
    json_response(StatusCode::OK, &updated, &warnings)
}

pub async fn replace<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    replace_scoped::<T>(&state, &req, payload, UpdateScope::Main).await
}

pub async fn replace_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    replace_scoped::<T>(&state, &req, payload, UpdateScope::Status).await
}

/// The patch formats shoal understands.
enum PatchKind {
    Merge,
    Json,
}

fn patch_kind(media: &str) -> Result<PatchKind, ApiError> {
    match media {
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/json-patch+json" => Ok(PatchKind::Json),
        other => Err(ApiError::unsupported_media(other)),
    }
}

/// Applies a patch document to an object's JSON form.
fn apply_patch(kind: &PatchKind, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    match kind {
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(target, patch);
            Ok(())
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(target, &ops).map_err(|e| {
                if matches!(e.kind, json_patch::PatchErrorKind::TestFailed) {
                    ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: {e}"))
                } else {
                    ApiError::new(422, "Invalid", format!("the server rejected our request due to an error in our request: {e}"))
                }
            })
        }
    }
}

/// Read, patch, write; retried on conflicts unless the patch pins a resourceVersion.
async fn patch_scoped<T: Resource>(state: &AppState, req: &HttpRequest, payload: web::Payload, scope: UpdateScope) -> ApiResult {
    let target = Target::of(req);
    let media = body::media_type(req);
    let kind = patch_kind(&media)?;
    let bytes = body::read(payload).await?;
    let patch: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    loop {
        let current: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
        let mut doc = serde_json::to_value(&current).map_err(|e| ApiError::internal(e.to_string()))?;
        apply_patch(&kind, &mut doc, &patch)?;
        let pinned = doc.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string);
        let pinned = pinned.filter(|rv| *rv != current.meta().resource_version);
        let (mut obj, unknown) = body::decode_typed::<T>(doc)?;
        if obj.meta().name != current.meta().name {
            return Err(ApiError::bad_request("metadata.name cannot be changed by a patch"));
        }
        obj.meta_mut().resource_version = pinned.clone().unwrap_or_else(|| current.meta().resource_version.clone());
        match state.registry.update(obj, scope).await {
            Ok(updated) => return json_response(StatusCode::OK, &updated, &body::unknown_field_warnings(&unknown)),
            Err(RegistryError::Conflict { .. }) if pinned.is_none() => continue,
            Err(e) => return Err(err::<T>(e)),
        }
    }
}

pub async fn patch<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "patch");
    patch_scoped::<T>(&state, &req, payload, UpdateScope::Main).await
}

pub async fn patch_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "patch");
    patch_scoped::<T>(&state, &req, payload, UpdateScope::Status).await
}

pub async fn delete<T: Resource>(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DeleteParams>,
    payload: web::Payload,
) -> ApiResult {
    tag::<T>(&req, "delete");
    let target = Target::of(&req);
    let bytes = body::read(payload).await?;
    let opts: DeleteOptions = if bytes.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let policy = opts.propagation_policy.or_else(|| q.propagation_policy.clone());
    // Unspecified means Background, as for apps/v1 kinds in Kubernetes (and what kubectl sends).
    let propagation = match policy.as_deref() {
        None => actors::registry::Propagation::Background,
        Some(p) => actors::registry::Propagation::parse(p).ok_or_else(|| {
            ApiError::new(
                422,
                "Invalid",
                format!("propagationPolicy: Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""),
            )
        })?,
    };
    let pre = opts
        .preconditions
        .map(|p| Preconditions { uid: p.uid, resource_version: p.resource_version })
        .unwrap_or_default();
    match state
        .registry
        .delete_with::<T>(target.ns.as_deref(), target.name(), &pre, propagation)
        .await
        .map_err(err::<T>)?
    {
        Deleted::Pending(obj) => json_response(StatusCode::OK, &obj, &[]),
        Deleted::Gone(obj) if T::INFO.kind == "Pod" || T::INFO.kind == "Namespace" => json_response(StatusCode::OK, &obj, &[]),
        Deleted::Gone(obj) => json_response(
            StatusCode::OK,
            &json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": {"name": obj.meta().name, "group": T::INFO.group, "kind": T::INFO.plural, "uid": obj.meta().uid}
            }),
            &[],
        ),
    }
}

pub async fn get_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    get::<T>(state, req).await
}

/// `metadata.labels`-style selector rendered as a string, as `Scale.status.selector` wants.
fn selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    let labels = sel.get("matchLabels").unwrap_or(sel);
    if let Some(m) = labels.as_object() {
        for (k, v) in m {
            if let Some(v) = v.as_str() {
                parts.push(format!("{k}={v}"));
            }
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(Value::as_array) {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let vals: Vec<&str> = e.get("values").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", vals.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

/// The autoscaling/v1 Scale view of a scalable object.
fn scale_of<T: Resource>(obj: &T) -> Result<Value, ApiError> {
    let v = serde_json::to_value(obj).map_err(|e| ApiError::internal(e.to_string()))?;
    let meta = obj.meta();
    let spec_replicas = v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let status_replicas = v.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0);
    let selector = v.pointer("/spec/selector").map(selector_string).unwrap_or_default();
    let mut m = BTreeMap::new();
    m.insert("name", json!(meta.name));
    if let Some(ns) = &meta.namespace {
        m.insert("namespace", json!(ns));
    }
    m.insert("uid", json!(meta.uid));
    m.insert("resourceVersion", json!(meta.resource_version));
    if let Some(ts) = &meta.creation_timestamp {
        m.insert("creationTimestamp", json!(ts));
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": m,
        "spec": {"replicas": spec_replicas},
        "status": {"replicas": status_replicas, "selector": selector},
    }))
}

pub async fn get_scale<T: Resource>(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    tag::<T>(&req, "get");
    let target = Target::of(&req);
    let obj: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
    json_response(StatusCode::OK, &scale_of(&obj)?, &[])
}

/// Writes `replicas` into the object, honouring a resourceVersion the client pinned.
async fn set_replicas<T: Resource>(state: &AppState, target: &Target, replicas: Value, pinned: Option<String>) -> ApiResult {
    loop {
        let current: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
        if let Some(rv) = &pinned {
            if *rv != current.meta().resource_version {
                return Err(err::<T>(RegistryError::Conflict {
                    kind: T::INFO.plural.to_string(),
                    name: target.name().to_string(),
                    reason: "the object has been modified; please apply your changes to the latest version and try again".into(),
                }));
            }
        }
        let mut doc = serde_json::to_value(&current).map_err(|e| ApiError::internal(e.to_string()))?;
        if !replicas.is_i64() {
            return Err(ApiError::new(422, "Invalid", format!("spec.replicas: Invalid value: {replicas}: must be an integer")));
        }
        doc["spec"]["replicas"] = replicas.clone();
        let obj: T = serde_json::from_value(doc).map_err(|e| ApiError::new(422, "Invalid", format!("spec.replicas: {e}")))?;
        match state.registry.update(obj, UpdateScope::Main).await {
            Ok(updated) => return json_response(StatusCode::OK, &scale_of(&updated)?, &[]),
            Err(RegistryError::Conflict { .. }) if pinned.is_none() => continue,
            Err(RegistryError::Invalid { errors, name, .. }) => {
                // Report against the Scale object, as Kubernetes does.
                return Err(from_registry(
                    RegistryError::Invalid { kind: "Scale".into(), name, errors },
                    "autoscaling",
                    "scale",
                ));
            }
            Err(e) => return Err(err::<T>(e)),
        }
    }
}

pub async fn replace_scale<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    let target = Target::of(&req);
    let bytes = body::read(payload).await?;
    let scale = body::parse_document(&bytes, &body::media_type(&req))?;
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    let pinned = scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    set_replicas::<T>(&state, &target, replicas, pinned).await
}

pub async fn patch_scale<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "patch");
    let target = Target::of(&req);
    let kind = patch_kind(&body::media_type(&req))?;
    let bytes = body::read(payload).await?;
    let patch: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let current: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
    let mut scale = scale_of(&current)?;
    apply_patch(&kind, &mut scale, &patch)?;
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    set_replicas::<T>(&state, &target, replicas, None).await
}
