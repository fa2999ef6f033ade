//! `shoal apply -f`: create what is missing, update what differs, leave the rest alone.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::display_kind;
use crate::client::{collection_path, item_path, ApiFailure, Client};
use crate::manifest::{self, Doc};

/// Applies every object in `path`; returns the lines it printed.
pub fn run(client: &Client, path: &Path, default_ns: &str) -> Result<()> {
    let docs = manifest::load(path)?;
    let mut failed = 0;
    for doc in &docs {
        match apply_one(client, doc, default_ns) {
            Ok(outcome) => println!("{}/{} {outcome}", display_kind(doc.info), doc.name()),
            Err(e) => {
                failed += 1;
                eprintln!("{}: {}/{}: {e:#}", doc.source, display_kind(doc.info), doc.name());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} objects failed to apply", docs.len());
    }
    Ok(())
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>().is_some_and(|f| f.code == 404)
}

fn is_conflict(e: &anyhow::Error) -> bool {
    e.downcast_ref::<ApiFailure>().is_some_and(|f| f.code == 409)
}

fn apply_one(client: &Client, doc: &Doc, default_ns: &str) -> Result<&'static str> {
    let ns = doc.namespace(default_ns);
    let item = item_path(doc.info, ns.as_deref(), doc.name());
    for _ in 0..10 {
        let current = match client.json("GET", &item, None) {
            Ok(v) => v,
            Err(e) if is_not_found(&e) => {
                let mut body = doc.value.clone();
                if let Some(ns) = &ns {
                    body["metadata"]["namespace"] = Value::String(ns.clone());
                }
                match client.json("POST", &collection_path(doc.info, ns.as_deref()), Some(&body)) {
                    Ok(_) => return Ok("created"),
                    Err(e) if is_conflict(&e) => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        // Unchanged when laying the manifest over the live object changes nothing.
        let mut merged = current.clone();
        json_merge(&mut merged, &doc.value);
        if merged == current {
            return Ok("unchanged");
        }
        let mut body = doc.value.clone();
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        if let Some(ns) = &ns {
            body["metadata"]["namespace"] = Value::String(ns.clone());
        }
        match client.json("PUT", &item, Some(&body)) {
            Ok(_) => return Ok("configured"),
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(anyhow::anyhow!("gave up after repeated conflicts")).context("applying")
}

/// Lays `patch` over `target` key by key (objects merge, everything else replaces).
fn json_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                json_merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}
