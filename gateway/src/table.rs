//! Server-side printing: `meta.k8s.io/v1` (or `v1beta1`) Tables with upstream's columns,
//! answered when a client asks with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`
//! (what `kubectl get` sends). Each row carries the object as `includeObject` asks:
//! its metadata as a `PartialObjectMetadata` (the default), the whole object (`Object`,
//! what `kubectl get --sort-by` asks for), or nothing (`None`).
//!
//! The columns and cells are upstream's (pkg/printers/internalversion): `columns` declares
//! them, `rows` fills them from the object's JSON, `pod` computes a Pod's status,
//! `format` spells durations, selectors and lists, `convert` brings the events.k8s.io
//! and autoscaling/v1 shapes to the fields the printers read.

mod columns;
mod convert;
mod descriptions;
mod format;
mod pod;
mod rows;

use actix_web::http::header::ACCEPT;
use actix_web::HttpRequest;
use api::model::KindInfo;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// What a row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// `PartialObjectMetadata`: the object's metadata (the default).
    Metadata,
    /// The object itself, in the version the request was for.
    Object,
    /// Nothing (`"object": null`).
    None,
}

/// A Table request: which `meta.k8s.io` version, what each row carries, and whether the
/// column definitions are left out (a watch sends them with its first event only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `v1` or `v1beta1`.
    pub version: &'static str,
    pub include: Include,
    pub no_headers: bool,
}

impl Options {
    fn api_version(&self) -> String {
        format!("meta.k8s.io/{}", self.version)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TableQuery {
    include_object: Option<String>,
}

/// The Table the request asks for, if it asks for one: the first media range of
/// `Accept` that shoal can serve decides (`as=Table` → a Table, plain JSON → none).
/// An unknown `includeObject` is 400, as upstream's `ValidateTableOptions`.
pub fn requested(req: &HttpRequest) -> Result<Option<Options>, ApiError> {
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(version) = table_version(accept) else { return Ok(None) };
    let q: TableQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or(TableQuery { include_object: None });
    let include = match q.include_object.as_deref().unwrap_or("") {
        "" | "Metadata" => Include::Metadata,
        "Object" => Include::Object,
        "None" => Include::None,
        other => {
            return Err(ApiError::bad_request(format!(
                "Unable to convert to Table as requested: includeObject: Unsupported value: {other:?}: supported values: \"Metadata\", \"None\", \"Object\""
            )))
        }
    };
    Ok(Some(Options { version, include, no_headers: false }))
}

/// The `meta.k8s.io` version of the Table the `Accept` header asks for, if its first
/// servable media range asks for a Table.
fn table_version(accept: &str) -> Option<&'static str> {
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        if !(media.is_empty() || media == "*/*" || media == "application/*" || media == "application/json") {
            continue;
        }
        let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
        let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        return match param("as") {
            None => None,
            Some("Table") => Some(if param("v") == Some("v1beta1") { "v1beta1" } else { "v1" }),
            Some(_) => continue,
        };
    }
    None
}

/// A label selector (`matchLabels`/`matchExpressions`, or a plain label map as
/// ReplicationControllers have) in upstream's selector syntax: `app=web,tier in (a,b)`.
pub fn selector_text(sel: &Value) -> String {
    if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() {
        return format::selector_string(Some(sel)).unwrap_or_default();
    }
    let map = json!({"matchLabels": sel});
    format::selector_string(Some(&map)).unwrap_or_default()
}

/// The Table of `objects` (JSON, in the version `info` serves) at `resource_version`.
pub fn build(info: &KindInfo, objects: &[Value], opts: &Options, resource_version: &str) -> Value {
    build_at(info, objects, opts, resource_version, Utc::now())
}

fn build_at(info: &KindInfo, objects: &[Value], opts: &Options, resource_version: &str, now: DateTime<Utc>) -> Value {
    let defs: Vec<Value> = columns::of(info.kind)
        .iter()
        .map(|c| json!({"name": c.name, "type": c.ty, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let printable = convert::for_printing(info, o);
            let mut row = json!({"cells": rows::cells(info.kind, &printable, now), "object": row_object(info, o, opts)});
            if info.kind == "Pod" {
                if let Some(c) = pod::row_conditions(o) {
                    row["conditions"] = c;
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": opts.api_version(),
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": if opts.no_headers { Value::Null } else { Value::Array(defs) },
        "rows": rows,
    })
}

/// What a row carries as `object`: the whole object names its kind and version, as
/// upstream's conversion to the request's version sets them (list items may lack them).
fn row_object(info: &KindInfo, o: &Value, opts: &Options) -> Value {
    match opts.include {
        Include::Object => {
            let mut whole = o.clone();
            if let Some(m) = whole.as_object_mut() {
                m.entry("apiVersion").or_insert_with(|| json!(info.api_version()));
                m.entry("kind").or_insert_with(|| json!(info.kind));
            }
            whole
        }
        Include::None => Value::Null,
        Include::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": opts.api_version(),
            "metadata": o.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Pod, Resource};

    const DEFAULT: Options = Options { version: "v1", include: Include::Metadata, no_headers: false };

    #[test]
    fn the_first_servable_accept_range_decides() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        let cases = [
            (kubectl, Some("v1")),
            ("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", Some("v1beta1")),
            ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io", Some("v1")),
            ("application/json, application/json;as=Table;v=v1;g=meta.k8s.io", None),
            ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io", Some("v1")),
            ("application/json", None),
            ("", None),
        ];
        for (accept, want) in cases {
            assert_eq!(table_version(accept), want, "{accept}");
        }
    }

    #[test]
    fn rows_carry_metadata_the_object_or_nothing() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d"}, "spec": {}, "status": {"phase": "Succeeded"}});
        let t = build(Pod::INFO, std::slice::from_ref(&pod), &DEFAULT, "7");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        assert_eq!(t["rows"][0]["object"], json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "p", "namespace": "d"}}));
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
        let beta = Options { version: "v1beta1", ..DEFAULT };
        assert_eq!(build(Pod::INFO, std::slice::from_ref(&pod), &beta, "7")["rows"][0]["object"]["apiVersion"], "meta.k8s.io/v1beta1");
        let whole = Options { include: Include::Object, ..DEFAULT };
        assert_eq!(build(Pod::INFO, std::slice::from_ref(&pod), &whole, "7")["rows"][0]["object"], pod);
        let item = json!({"metadata": {"name": "p"}});
        assert_eq!(build(Pod::INFO, &[item], &whole, "7")["rows"][0]["object"], json!({"metadata": {"name": "p"}, "apiVersion": "v1", "kind": "Pod"}));
        let none = Options { include: Include::None, ..DEFAULT };
        assert_eq!(build(Pod::INFO, std::slice::from_ref(&pod), &none, "7")["rows"][0]["object"], Value::Null);
        let quiet = Options { no_headers: true, ..DEFAULT };
        assert_eq!(build(Pod::INFO, &[pod], &quiet, "7")["columnDefinitions"], Value::Null);
    }

    #[test]
    fn column_definitions_carry_upstreams_types_formats_and_descriptions() {
        let t = build(Pod::INFO, &[], &DEFAULT, "1");
        let defs = t["columnDefinitions"].as_array().expect("column definitions");
        assert_eq!(defs[0]["format"], "name");
        assert!(defs[0]["description"].as_str().is_some_and(|d| d.starts_with("Name must be unique within a namespace.")));
        assert_eq!(defs[3], json!({"name": "Restarts", "type": "string", "format": "", "priority": 0,
            "description": "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."}));
        assert_eq!(defs[5]["priority"], 1);
    }

    #[test]
    fn selectors_read_in_upstreams_syntax() {
        assert_eq!(selector_text(&json!({"matchLabels": {"b": "2", "a": "1"}})), "a=1,b=2");
        assert_eq!(selector_text(&json!({"app": "web"})), "app=web");
        assert_eq!(selector_text(&json!({})), "");
    }
}
