//! `shoal get`: tables (rendered by the server), or the objects as JSON or YAML.

use api::model::KindInfo;
use anyhow::{bail, Result};
use serde_json::Value;

use client::path::{collection_path, item_path, urlencode};
use client::Request;

use super::Client;

/// The `Accept` header asking for a server-side Table.
pub const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

fn get(client: &Client, path: &str, accept: &str) -> Result<Value> {
    let body = client.send(Request::get(path).header("Accept", accept))?;
    Ok(serde_json::from_slice(&body)?)
}

pub struct GetOptions<'a> {
    pub namespace: &'a str,
    pub all_namespaces: bool,
    pub output: Option<&'a str>,
    pub selector: Option<&'a str>,
}

pub fn run(client: &Client, info: &KindInfo, name: Option<&str>, o: &GetOptions) -> Result<()> {
    let ns = if o.all_namespaces { None } else { Some(o.namespace) };
    let mut path = match name {
        Some(n) => item_path(info, ns.or(Some(o.namespace)), n),
        None => collection_path(info, ns),
    };
    if let Some(sel) = o.selector {
        path.push_str(&format!("?labelSelector={}", urlencode(sel)));
    }
    match o.output {
        Some("json") => println!("{}", serde_json::to_string_pretty(&get(client, &path, "application/json")?)?),
        Some("yaml") => print!("{}", serde_saphyr::to_string(&get(client, &path, "application/json")?)?),
        Some("name") => {
            let v = get(client, &path, "application/json")?;
            let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_else(|| vec![v.clone()]);
            for it in items {
                let n = it.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                println!("{}/{n}", super::display_kind(info));
            }
        }
        None | Some("wide") => {
            let table = get(client, &path, ACCEPT_TABLE)?;
            let with_ns = o.all_namespaces && info.namespaced;
            let text = render_table(&table, o.output == Some("wide"), with_ns);
            if text.is_empty() {
                match ns {
                    Some(ns) if info.namespaced => eprintln!("No resources found in {ns} namespace."),
                    _ => eprintln!("No resources found"),
                }
            } else {
                print!("{text}");
            }
        }
        Some(other) => bail!("unknown output format {other:?}: use json, yaml, wide or name"),
    }
    Ok(())
}

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

/// Formats a meta.k8s.io/v1 Table as kubectl does: upper-case headers, columns padded
/// to their widest cell, three spaces apart.
pub fn render_table(table: &Value, wide: bool, with_namespace: bool) -> String {
    let empty = Vec::new();
    let cols = table.get("columnDefinitions").and_then(Value::as_array).unwrap_or(&empty);
    let rows = table.get("rows").and_then(Value::as_array).unwrap_or(&empty);
    if rows.is_empty() {
        return String::new();
    }
    let shown: Vec<usize> = (0..cols.len())
        .filter(|&i| wide || cols[i].get("priority").and_then(Value::as_i64).unwrap_or(0) == 0)
        .collect();
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = Vec::new();
    if with_namespace {
        header.push("NAMESPACE".into());
    }
    header.extend(shown.iter().map(|&i| cols[i].get("name").and_then(Value::as_str).unwrap_or("").to_ascii_uppercase()));
    lines.push(header);
    for row in rows {
        let cells = row.get("cells").and_then(Value::as_array).unwrap_or(&empty);
        let mut line = Vec::new();
        if with_namespace {
            line.push(row.pointer("/object/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string());
        }
        line.extend(shown.iter().map(|&i| cells.get(i).map(cell_text).unwrap_or_default()));
        lines.push(line);
    }
    let ncols = lines[0].len();
    let widths: Vec<usize> = (0..ncols).map(|c| lines.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for l in &lines {
        let mut s = String::new();
        for (c, cell) in l.iter().enumerate() {
            if c + 1 == ncols {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    }
    out
}
