//! `shoal delete KIND NAME…` and `shoal delete -f FILE`.

use std::path::Path;

use api::model::KindInfo;
use anyhow::Result;
use client::{DeleteParams, PropagationPolicy};

use super::{display_kind, Client};
use crate::manifest;

fn delete_one(client: &Client, info: &'static KindInfo, ns: Option<&str>, name: &str, cascade: &str) -> Result<()> {
    let policy = match cascade {
        "orphan" => PropagationPolicy::Orphan,
        "foreground" => PropagationPolicy::Foreground,
        _ => PropagationPolicy::Background,
    };
    client.dynamic(info, ns).delete(name, &DeleteParams::propagation(policy))?;
    println!("{} \"{name}\" deleted", display_kind(info));
    Ok(())
}

pub fn by_name(client: &Client, info: &'static KindInfo, ns: &str, names: &[String], cascade: &str) -> Result<()> {
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
