//! `shoal apply -f`: create what is missing, update what differs, leave the rest alone.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::display_kind;
use super::Client;
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

fn apply_one(client: &Client, doc: &Doc, default_ns: &str) -> Result<&'static str> {
    let ns = doc.namespace(default_ns);
    let api = client.dynamic(doc.info, ns.as_deref());
    for _ in 0..10 {
        let current = match api.get(doc.name()) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => {
                let mut body = doc.value.clone();
                if let Some(ns) = &ns {
                    body["metadata"]["namespace"] = Value::String(ns.clone());
                }
                body["metadata"]["annotations"][LAST_APPLIED] = Value::String(last_applied(&doc.value));
                match api.create(&body) {
                    Ok(_) => return Ok("created"),
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        // Unchanged when the manifest is what was applied last and the live object still
        // holds every field of it (the server may have added defaults around them).
        let applied = last_applied(&doc.value);
        let live_applied = current.pointer(&format!("/metadata/annotations/{}", LAST_APPLIED.replace('/', "~1")));
        if live_applied.and_then(Value::as_str) == Some(applied.as_str()) && is_subset(&doc.value, &current) {
            return Ok("unchanged");
        }
        let mut body = doc.value.clone();
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
        body["metadata"]["annotations"][LAST_APPLIED] = Value::String(applied);
        if let Some(ns) = &ns {
            body["metadata"]["namespace"] = Value::String(ns.clone());
        }
        match api.replace(doc.name(), &body) {
            Ok(_) => return Ok("configured"),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(anyhow::anyhow!("gave up after repeated conflicts")).context("applying")
}

/// The annotation kubectl also uses to remember what was applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manifest as recorded in the annotation (without the annotation itself).
fn last_applied(manifest: &Value) -> String {
    let mut m = manifest.clone();
    if let Some(a) = m.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.remove(LAST_APPLIED);
    }
    m.to_string()
}

/// Whether every field of `want` is present in `have` with the same value (objects by key,
/// lists element by element with the same length).
fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| match h.get(k) {
            Some(hv) => is_subset(v, hv),
            None => v.is_null() || v.as_object().is_some_and(|o| o.is_empty()) || v.as_array().is_some_and(|a| a.is_empty()),
        }),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_added_by_the_server_do_not_count_as_changes() {
        let manifest = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        let live = json!({"spec": {"containers": [{"name": "a", "image": "x", "imagePullPolicy": "IfNotPresent"}], "restartPolicy": "Always"}});
        assert!(is_subset(&manifest, &live));
        let changed = json!({"spec": {"containers": [{"name": "a", "image": "y"}]}});
        assert!(!is_subset(&changed, &live));
    }
}
