//! `shoal delete KIND NAME…` and `shoal delete -f FILE`.

use std::path::Path;

use api::model::KindInfo;
use anyhow::Result;
use serde_json::json;

use super::display_kind;
use crate::client::{item_path, Client};
use crate::manifest;

fn delete_one(client: &Client, info: &KindInfo, ns: Option<&str>, name: &str, cascade: &str) -> Result<()> {
    let policy = match cascade {
        "orphan" => "Orphan",
        "foreground" => "Foreground",
        _ => "Background",
    };
    let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy});
    client.json("DELETE", &item_path(info, ns, name), Some(&body))?;
    println!("{} \"{name}\" deleted", display_kind(info));
    Ok(())
}

pub fn by_name(client: &Client, info: &KindInfo, ns: &str, names: &[String], cascade: &str) -> Result<()> {
    let ns = info.namespaced.then_some(ns);
    let mut failed = 0;
    for name in names {
        if let Err(e) = delete_one(client, info, ns, name, cascade) {
            eprintln!("{e:#}");
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} deletions failed");
    }
    Ok(())
}

pub fn from_file(client: &Client, path: &Path, default_ns: &str, cascade: &str) -> Result<()> {
    let mut failed = 0;
    for doc in manifest::load(path)? {
        if let Err(e) = delete_one(client, doc.info, doc.namespace(default_ns).as_deref(), doc.name(), cascade) {
            eprintln!("{e:#}");
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} deletions failed");
    }
    Ok(())
}
