//! The REST verbs, generic over the kind: list, create, get, replace, patch, delete, and
//! the `/status` and `/scale` subresources.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use api::model::selector::{matches, parse_selector_string, LabelSelector};
use api::model::{ListMeta, Resource};
use actors::registry::{Deleted, Preconditions, RegistryError, UpdateScope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::body;
use crate::error::{from_registry, ApiError};
use crate::fields;
use crate::metrics::RequestInfo;
use crate::patch::{self, apply::Writer, PatchKind, WriteParams};
use crate::pagination;
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
    pub resource_version_match: Option<String>,
    pub allow_watch_bookmarks: Option<bool>,
    pub send_initial_events: Option<bool>,
    pub timeout_seconds: Option<u64>,
    pub limit: Option<i64>,
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
}

impl ListParams {
    pub fn is_watch(&self) -> bool {
        matches!(self.watch.as_deref(), Some("true") | Some("1"))
    }

    fn rv(&self) -> &str {
        self.resource_version.as_deref().unwrap_or("")
    }

    fn rv_match(&self) -> &str {
        self.resource_version_match.as_deref().unwrap_or("")
    }

    fn continue_token(&self) -> &str {
        self.continue_token.as_deref().unwrap_or("")
    }

    /// Upstream's `ValidateListOptions` (apimachinery internalversion validation): a
    /// 422 Invalid on `ListOptions.meta.k8s.io` with one cause per broken rule.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut errs: Vec<(&str, &str, String)> = Vec::new(); // (field, cause reason, message)
        let forbidden = |f: &'static str, m: &str| (f, "FieldValueForbidden", format!("Forbidden: {m}"));
        let (rv, m, cont) = (self.rv(), self.rv_match(), self.continue_token());
        if self.is_watch() {
            if let Some(send) = self.send_initial_events {
                if m != "NotOlderThan" {
                    errs.push(forbidden("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"));
                }
                if send && self.allow_watch_bookmarks != Some(true) {
                    errs.push(forbidden("allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true"));
                }
            }
            if !m.is_empty() {
                if self.send_initial_events.is_none() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
                }
                if m != "NotOlderThan" {
                    errs.push(("resourceVersionMatch", "FieldValueNotSupported", format!("Unsupported value: {m:?}: supported values: \"NotOlderThan\"")));
                }
                if !cont.is_empty() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"));
                }
            }
        } else {
            if !m.is_empty() {
                if rv.is_empty() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"));
                }
                if !cont.is_empty() {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"));
                }
                if m != "Exact" && m != "NotOlderThan" {
                    errs.push((
                        "resourceVersionMatch",
                        "FieldValueNotSupported",
                        format!("Unsupported value: {m:?}: supported values: \"Exact\", \"NotOlderThan\", \"\""),
                    ));
                }
                if m == "Exact" && rv == "0" {
                    errs.push(forbidden("resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""));
                }
            }
            if self.send_initial_events.is_some() {
                errs.push(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"));
            }
        }
        if errs.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = errs.iter().map(|(f, _, m)| format!("{f}: {m}")).collect();
        let joined = if list.len() == 1 { list[0].clone() } else { format!("[{}]", list.join(", ")) };
        let causes: Vec<Value> = errs.iter().map(|(f, r, m)| json!({"reason": r, "message": m, "field": f})).collect();
        Err(ApiError {
            details: Some(json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes})),
            ..ApiError::new(422, "Invalid", format!("ListOptions.meta.k8s.io \"\" is invalid: {joined}"))
        })
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
    #[serde(default)]
    pub dry_run: Vec<String>,
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

/// Decodes a request body into `T` (JSON or YAML). Unknown and duplicate fields are
/// handled as the `fieldValidation` query parameter says (default Warn: `Warning` headers).
async fn read_object<T: Resource>(req: &HttpRequest, payload: web::Payload) -> Result<(T, Vec<String>), ApiError> {
    let validation = body::FieldValidation::of(req)?;
    let bytes = body::read(payload).await?;
    let media = body::media_type(req);
    let value = body::parse_document(&bytes, &media)?;
    check_type_meta::<T>(&value)?;
    let duplicates = if validation == body::FieldValidation::Ignore { Vec::new() } else { body::duplicate_fields(&bytes, &media) };
    let (obj, unknown) = body::decode_typed::<T>(value)?;
    let warnings = validation.check(T::INFO.kind, T::INFO.version, &duplicates, &unknown)?;
    Ok((obj, warnings))
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

/// Parses `labelSelector` and `fieldSelector` into one predicate; fields are the kind's
/// selectable fields (see `fields`), as upstream.
pub struct Filter {
    kind: &'static str,
    labels: Option<LabelSelector>,
    fields: Vec<fields::Requirement>,
    /// The selectors as given, identifying the filtered list (for snapshots).
    key: String,
}

impl Filter {
    pub fn for_kind<T: Resource>(p: &ListParams) -> Result<Self, ApiError> {
        Self::new(T::INFO.kind, p.label_selector.as_deref(), p.field_selector.as_deref())
    }

    pub fn new(kind: &'static str, label_selector: Option<&str>, field_selector: Option<&str>) -> Result<Self, ApiError> {
        let ls = label_selector.map(str::trim).unwrap_or("");
        let fs = field_selector.map(str::trim).unwrap_or("");
        let labels = if ls.is_empty() {
            None
        } else {
            Some(parse_selector_string(ls).map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?)
        };
        let fields = fields::parse(kind, fs)?;
        Ok(Filter { kind, labels, fields, key: format!("l={ls}\u{0}f={fs}") })
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_empty()
    }

    /// The selectors, as one string (equal strings select the same objects).
    pub fn key(&self) -> &str {
        &self.key
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
        fields::matches(self.kind, &value, &self.fields)
    }
}

/// An object's key within its collection; sorts like the store key.
fn item_key<T: Resource>(obj: &T) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) if T::INFO.namespaced => format!("{ns}/{}", obj.meta().name),
        _ => obj.meta().name.clone(),
    }
}

fn to_items<T: Resource>(objs: &[T]) -> Result<Vec<pagination::Item>, ApiError> {
    objs.iter()
        .map(|o| {
            let json = serde_json::to_vec(o).map_err(|e| ApiError::internal(format!("encoding response: {e}")))?;
            Ok(pagination::Item { key: item_key(o), json: json.into() })
        })
        .collect()
}

/// 504 "Too large resource version", as upstream answers a read newer than the store.
fn too_large_rv(want: i64, current: i64) -> ApiError {
    ApiError {
        details: Some(json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        })),
        ..ApiError::new(504, "Timeout", format!("Too large resource version: {want}, current: {current}"))
    }
}

/// How long a read "not older than" a future revision waits for the store (upstream's
/// watch cache waits 3 s before answering "Too large resource version").
const FRESHNESS_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Waits (briefly) until the store has reached revision `want`.
pub async fn wait_until_fresh(state: &AppState, want: i64) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + FRESHNESS_WAIT;
    loop {
        let current = state
            .registry
            .store()
            .current_revision()
            .await
            .map_err(|e| from_registry(RegistryError::from(e), "", ""))?;
        if current >= want {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(too_large_rv(want, current));
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Parses a `resourceVersion` parameter ("" → None).
pub fn parse_rv(rv: &str) -> Result<Option<i64>, ApiError> {
    if rv.is_empty() {
        return Ok(None);
    }
    match rv.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(Some(n)),
        _ => Err(ApiError::bad_request(format!("invalid resource version: {rv:?}: must be a non-negative integer"))),
    }
}

/// The list, filtered, read at the latest revision, as a snapshot.
async fn read_snapshot<T: Resource>(state: &AppState, ns: Option<&str>, filter: &Filter, prefix: &str) -> Result<pagination::Snapshot, ApiError> {
    let (items, rev) = state.registry.list::<T>(ns).await.map_err(err::<T>)?;
    let items: Vec<T> = if filter.is_empty() { items } else { items.into_iter().filter(|o| filter.accepts(o)).collect() };
    Ok(pagination::Snapshot { rev, prefix: prefix.to_string(), selector: filter.key().to_string(), items: to_items(&items)? })
}

/// LIST, with `limit`/`continue` over a consistent snapshot and `resourceVersion` +
/// `resourceVersionMatch`:
/// - `resourceVersion` unset or "0": the latest state (shoal has no older cache to serve
///   "any" from).
/// - `NotOlderThan` N (or N without a match and without `limit`): the latest state once
///   the store has reached N; waits up to 3 s, then 504 "Too large resource version".
/// - `Exact` N (or N with `limit` and no match, upstream's legacy rule): served when N is
///   the latest revision or a kept snapshot of the same list is at N; an older N is 410
///   Expired (shoal keeps no multi-version state to rebuild it from), a newer one waits
///   like NotOlderThan and then needs N to be the latest revision.
pub async fn list<T: Resource>(state: web::Data<AppState>, req: HttpRequest, q: web::Query<ListParams>) -> ApiResult {
    let target = Target::of(&req);
    q.validate()?;
    let filter = Filter::for_kind::<T>(&q)?;
    if q.is_watch() {
        tag::<T>(&req, "watch");
        return watch::serve::<T>(state.get_ref().clone(), target.ns, filter, &q, table::wants_table(&req)).await;
    }
    tag::<T>(&req, "list");
    let ns = target.ns.as_deref();
    let prefix = T::INFO.namespace_prefix(if T::INFO.namespaced { ns } else { None });
    let limit = q.limit.filter(|l| *l > 0).map(|l| l as usize);
    let cache = pagination::cache();
    let rv = parse_rv(q.rv())?;
    let page = if !q.continue_token().is_empty() {
        if rv.is_some_and(|n| n != 0) {
            return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
        }
        let token = pagination::Token::decode(q.continue_token(), &prefix)?;
        if token.rv == -1 {
            // Continue after the last key served, at the latest revision (inconsistent).
            let mut snap = read_snapshot::<T>(&state, ns, &filter, &prefix).await?;
            snap.items.retain(|i| i.key > token.start);
            pagination::first_page(cache, snap, limit)
        } else {
            let Some(snap) = cache.get(token.id) else {
                return Ok(pagination::expired_response(&token));
            };
            if snap.rev != token.rv || snap.prefix != prefix {
                return Ok(pagination::expired_response(&token));
            }
            if snap.selector != filter.key() {
                return Err(ApiError::bad_request(
                    "invalid continue token: the label and field selectors differ from those of the list it continues",
                ));
            }
            pagination::paginate(cache, &snap, token.id, token.off, limit, true)
        }
    } else {
        let exact = match (q.rv_match(), rv) {
            ("Exact", Some(n)) => Some(n),
            ("", Some(n)) if n != 0 && limit.is_some() => Some(n),
            _ => None,
        };
        match (exact, rv) {
            (Some(n), _) => {
                if let Some((id, snap)) = cache.find(n, &prefix, filter.key()) {
                    pagination::paginate(cache, &snap, id, 0, limit, false)
                } else {
                    wait_until_fresh(&state, n).await?;
                    let snap = read_snapshot::<T>(&state, ns, &filter, &prefix).await?;
                    if snap.rev != n {
                        return Err(ApiError::new(410, "Expired", "The resourceVersion for the provided list is too old."));
                    }
                    pagination::first_page(cache, snap, limit)
                }
            }
            (None, Some(n)) if n > 0 => {
                wait_until_fresh(&state, n).await?;
                pagination::first_page(cache, read_snapshot::<T>(&state, ns, &filter, &prefix).await?, limit)
            }
            _ => pagination::first_page(cache, read_snapshot::<T>(&state, ns, &filter, &prefix).await?, limit),
        }
    };
    list_response::<T>(&req, page)
}

fn list_response<T: Resource>(req: &HttpRequest, page: pagination::Page) -> ApiResult {
    let meta = ListMeta {
        resource_version: page.rev.to_string(),
        continue_token: page.continue_token,
        remaining_item_count: page.remaining,
    };
    if table::wants_table(req) {
        let values: Vec<Value> = page.items.iter().filter_map(|i| serde_json::from_slice(&i.json).ok()).collect();
        let mut t = table::build(T::INFO.kind, &values, &page.rev.to_string());
        t["metadata"] = serde_json::to_value(&meta).map_err(|e| ApiError::internal(e.to_string()))?;
        return json_response(StatusCode::OK, &t, &[]);
    }
    // The items are already JSON; splice them in rather than decode and encode again.
    let mut out = Vec::with_capacity(page.items.iter().map(|i| i.json.len() + 1).sum::<usize>() + 256);
    out.extend_from_slice(format!("{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":", T::INFO.kind, T::INFO.api_version()).as_bytes());
    out.extend_from_slice(&serde_json::to_vec(&meta).map_err(|e| ApiError::internal(e.to_string()))?);
    out.extend_from_slice(b",\"items\":[");
    for (n, i) in page.items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&i.json);
    }
    out.extend_from_slice(b"]}");
    Ok(HttpResponse::Ok().content_type("application/json").body(out))
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
    let params = WriteParams::of(&req)?;
    let obj = record_write::<T>(None, obj, &params.manager(&req)?)?;
    let created = state.registry.create_with(obj, params.dry_run()?).await;
    json_response(StatusCode::CREATED, &created.map_err(err::<T>)?, &warnings)
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
    let params = WriteParams::of(req)?;
    if scope == UpdateScope::Main {
        let current = state.registry.get::<T>(target.ns.as_deref(), target.name()).await.ok();
        obj = record_write::<T>(current.as_ref(), obj, &params.manager(req)?)?;
    }
    let updated = state.registry.update_with(obj, scope, params.dry_run()?).await;
    json_response(StatusCode::OK, &updated.map_err(err::<T>)?, &warnings)
}

pub async fn replace<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    replace_scoped::<T>(&state, &req, payload, UpdateScope::Main).await
}

pub async fn replace_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    tag::<T>(&req, "update");
    replace_scoped::<T>(&state, &req, payload, UpdateScope::Status).await
}

/// Records a create or update by `manager` in the object's managedFields (an `Update`
/// entry owning the fields it changed).
fn record_write<T: Resource>(old: Option<&T>, obj: T, manager: &str) -> Result<T, ApiError> {
    let old = old.map(serde_json::to_value).transpose().map_err(|e| ApiError::internal(e.to_string()))?;
    let mut doc = serde_json::to_value(&obj).map_err(|e| ApiError::internal(e.to_string()))?;
    let now = api::time::now_rfc3339();
    let api_version = T::INFO.api_version();
    patch::apply::record_update(old.as_ref(), &mut doc, &Writer { manager, api_version: &api_version, status: false, now: &now });
    Ok(body::decode_typed::<T>(doc)?.0)
}

fn patch_kind(media: &str) -> Result<PatchKind, ApiError> {
    PatchKind::from_media(media)
}

/// Applies a merge, JSON or strategic merge patch document to an object's JSON form.
fn apply_patch(kind: &PatchKind, target: &mut Value, patch: &Value) -> Result<(), ApiError> {
    patch::apply_patch(*kind, target, patch)
}

/// The 409 of an apply that conflicts with other managers, one cause per field.
fn apply_conflict(conflicts: &[patch::apply::Conflict]) -> ApiError {
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": c.message, "field": c.field}))
        .collect();
    ApiError {
        details: Some(json!({"causes": causes})),
        ..ApiError::new(409, "Conflict", patch::apply::conflicts_message(conflicts))
    }
}

/// Server-side apply: `PATCH` with `application/apply-patch+yaml`.
async fn apply_scoped<T: Resource>(
    state: &AppState,
    req: &HttpRequest,
    params: &WriteParams,
    bytes: &[u8],
    scope: UpdateScope,
) -> ApiResult {
    let target = Target::of(req);
    let dry = params.dry_run()?;
    let manager = params
        .field_manager
        .clone()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad_request("PATCH request with apply content type requires a fieldManager: fieldManager is required for apply requests"))?;
    let force = params.force()?;
    let validation = body::FieldValidation::of(req)?;
    let duplicates = if validation == body::FieldValidation::Ignore { Vec::new() } else { body::duplicate_fields(bytes, "application/apply-patch+yaml") };
    let mut config = body::parse_document(bytes, "application/apply-patch+yaml")?;
    check_type_meta::<T>(&config)?;
    for field in ["apiVersion", "kind"] {
        if config.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(format!("{field} must be set in an applied configuration")));
        }
    }
    match config.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != target.name() => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                target.name()
            )))
        }
        Some(_) => {}
        None => {
            if !config.get("metadata").is_some_and(Value::is_object) {
                config["metadata"] = json!({});
            }
            config["metadata"]["name"] = json!(target.name());
        }
    }
    let pinned = config.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let now = api::time::now_rfc3339();
    let api_version = T::INFO.api_version();
    let writer = Writer { manager: &manager, api_version: &api_version, status: scope == UpdateScope::Status, now: &now };
    loop {
        let current = match state.registry.get::<T>(target.ns.as_deref(), target.name()).await {
            Ok(c) => c,
            Err(RegistryError::NotFound { .. }) if scope == UpdateScope::Main && pinned.is_none() => {
                let doc = patch::apply::apply_create(&config, &writer);
                let (mut obj, unknown) = body::decode_typed::<T>(doc)?;
                let warnings = validation.check(T::INFO.kind, T::INFO.version, &duplicates, &unknown)?;
                bind_namespace(&mut obj, &target)?;
                let created = state.registry.create_with(obj, dry).await;
                match created {
                    Ok(created) => return json_response(StatusCode::CREATED, &created, &warnings),
                    Err(RegistryError::AlreadyExists { .. }) => continue,
                    Err(e) => return Err(err::<T>(e)),
                }
            }
            Err(e) => return Err(err::<T>(e)),
        };
        let live = serde_json::to_value(&current).map_err(|e| ApiError::internal(e.to_string()))?;
        let merged = match patch::apply::apply(&live, &config, &writer, force) {
            Ok(m) => m,
            Err(patch::apply::ApplyError::Conflicts(c)) => return Err(apply_conflict(&c)),
            Err(patch::apply::ApplyError::Invalid(m)) => return Err(ApiError::new(422, "Invalid", m)),
        };
        let (mut obj, unknown) = body::decode_typed::<T>(merged)?;
        let warnings = validation.check(T::INFO.kind, T::INFO.version, &duplicates, &unknown)?;
        if T::INFO.namespaced {
            if let Some(ns) = obj.meta().namespace.as_deref() {
                if Some(ns) != target.ns.as_deref() {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
        }
        obj.meta_mut().resource_version = pinned.clone().unwrap_or_else(|| current.meta().resource_version.clone());
        let res = state.registry.update_with(obj, scope, dry).await;
        match res {
            Ok(updated) => return json_response(StatusCode::OK, &updated, &warnings),
            Err(RegistryError::Conflict { .. }) if pinned.is_none() => continue,
            Err(e) => return Err(err::<T>(e)),
        }
    }
}

/// Read, patch, write; retried on conflicts unless the patch pins a resourceVersion.
async fn patch_scoped<T: Resource>(state: &AppState, req: &HttpRequest, payload: web::Payload, scope: UpdateScope) -> ApiResult {
    let target = Target::of(req);
    let media = body::media_type(req);
    let kind = patch_kind(&media)?;
    let params = WriteParams::of(req)?;
    let dry = params.dry_run()?;
    let bytes = body::read(payload).await?;
    if kind == PatchKind::Apply {
        return apply_scoped::<T>(state, req, &params, &bytes, scope).await;
    }
    if params.force.is_some() {
        return Err(ApiError::bad_request("force: Forbidden: may not be specified for non-apply patch"));
    }
    let manager = params.manager(req)?;
    let validation = body::FieldValidation::of(req)?;
    let duplicates = if validation == body::FieldValidation::Ignore { Vec::new() } else { body::duplicate_fields(&bytes, "application/json") };
    let patch: Value = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let now = api::time::now_rfc3339();
    let api_version = T::INFO.api_version();
    let writer = Writer { manager: &manager, api_version: &api_version, status: false, now: &now };
    loop {
        let current: T = state.registry.get(target.ns.as_deref(), target.name()).await.map_err(err::<T>)?;
        let live = serde_json::to_value(&current).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut doc = live.clone();
        apply_patch(&kind, &mut doc, &patch)?;
        let pinned = doc.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string);
        let pinned = pinned.filter(|rv| *rv != current.meta().resource_version);
        if scope == UpdateScope::Main {
            // The patched copy carries the live entries, so they are the base.
            if let Some(m) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                if m.get("managedFields") == live.pointer("/metadata/managedFields") {
                    m.remove("managedFields");
                }
            }
            patch::apply::record_update(Some(&live), &mut doc, &writer);
        }
        let (mut obj, unknown) = body::decode_typed::<T>(doc)?;
        let warnings = validation.check(T::INFO.kind, T::INFO.version, &duplicates, &unknown)?;
        if obj.meta().name != current.meta().name {
            return Err(ApiError::bad_request("metadata.name cannot be changed by a patch"));
        }
        obj.meta_mut().resource_version = pinned.clone().unwrap_or_else(|| current.meta().resource_version.clone());
        let res = state.registry.update_with(obj, scope, dry).await;
        match res {
            Ok(updated) => return json_response(StatusCode::OK, &updated, &warnings),
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

/// The `DeleteOptions` of a DELETE (body, else query): propagation (unspecified means
/// Background, as for apps/v1 kinds in Kubernetes and what kubectl sends) and preconditions.
async fn delete_options(
    payload: web::Payload,
    q: &DeleteParams,
) -> Result<(DeleteOptions, actors::registry::Propagation, Preconditions), ApiError> {
    let bytes = body::read(payload).await?;
    let mut opts: DeleteOptions = if bytes.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let policy = opts.propagation_policy.take().or_else(|| q.propagation_policy.clone());
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
        .take()
        .map(|p| Preconditions { uid: p.uid, resource_version: p.resource_version })
        .unwrap_or_default();
    Ok((opts, propagation, pre))
}

pub async fn delete<T: Resource>(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<DeleteParams>,
    payload: web::Payload,
) -> ApiResult {
    tag::<T>(&req, "delete");
    let target = Target::of(&req);
    let (opts, propagation, pre) = delete_options(payload, &q).await?;
    let mut params = WriteParams::of(&req)?;
    params.dry_run.extend(opts.dry_run);
    let deleted = state
        .registry
        .delete_with::<T>(target.ns.as_deref(), target.name(), &pre, propagation, params.dry_run()?)
        .await
        .map_err(err::<T>)?;
    match deleted {
        Deleted::Pending(obj) => json_response(StatusCode::OK, &obj, &[]),
        // Kinds whose storage upstream returns the deleted object (ReturnDeletedObject).
        Deleted::Gone(obj) if matches!(T::INFO.kind, "Pod" | "Service" | "PersistentVolumeClaim" | "Namespace") => {
            json_response(StatusCode::OK, &obj, &[])
        }
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

/// DELETE on a collection (`deletecollection`): deletes every object the label and field
/// selectors match, one by one through the registry with the body's (or query's)
/// propagationPolicy, and answers the list of deleted objects (`kind: XList`), as
/// upstream does. Objects that vanish meanwhile are skipped.
pub async fn delete_collection<T: Resource>(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<ListParams>,
    dq: web::Query<DeleteParams>,
    payload: web::Payload,
) -> ApiResult {
    tag::<T>(&req, "deletecollection");
    let target = Target::of(&req);
    let filter = Filter::for_kind::<T>(&q)?;
    let (opts, propagation, pre) = delete_options(payload, &dq).await?;
    let mut params = WriteParams::of(&req)?;
    params.dry_run.extend(opts.dry_run);
    let dry = params.dry_run()?;
    let (items, _) = state.registry.list::<T>(target.ns.as_deref()).await.map_err(err::<T>)?;
    let mut deleted = Vec::new();
    let mut last_rev = 0;
    for obj in items.into_iter().filter(|o| filter.accepts(o)) {
        let ns = obj.meta().namespace.clone();
        match state.registry.delete_with::<T>(ns.as_deref(), &obj.meta().name, &pre, propagation, dry).await {
            Ok(Deleted::Gone(o)) | Ok(Deleted::Pending(o)) => {
                last_rev = last_rev.max(o.meta().resource_version.parse().unwrap_or(0));
                deleted.push(o);
            }
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(err::<T>(e)),
        }
    }
    if last_rev == 0 {
        last_rev = state
            .registry
            .store()
            .current_revision()
            .await
            .map_err(|e| from_registry(RegistryError::from(e), T::INFO.group, T::INFO.plural))?;
    }
    json_response(StatusCode::OK, &list_body::<T>(deleted, last_rev), &[])
}

pub async fn get_status<T: Resource>(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    get::<T>(state, req).await
}

/// The autoscaling/v1 Scale view of a scalable object.
fn scale_of<T: Resource>(obj: &T) -> Result<Value, ApiError> {
    let v = serde_json::to_value(obj).map_err(|e| ApiError::internal(e.to_string()))?;
    let meta = obj.meta();
    let spec_replicas = v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let status_replicas = v.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0);
    let selector = v.pointer("/spec/selector").map(table::selector_text).unwrap_or_default();
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
