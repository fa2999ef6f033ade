//! Reading manifests: a file or a directory of YAML (multi-document) or JSON files,
//! including `List` documents, each resolved to its kind.

use std::path::{Path, PathBuf};

use api::model::{KindInfo, ALL_KINDS};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// One object from a manifest, with its kind and where it came from.
pub struct Doc {
    pub info: &'static KindInfo,
    pub value: Value,
    pub source: String,
}

impl Doc {
    pub fn name(&self) -> &str {
        self.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
    }
    pub fn namespace(&self, default: &str) -> Option<String> {
        if !self.info.namespaced {
            return None;
        }
        Some(self.value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(default).to_string())
    }
}

/// The kind named by `apiVersion` and `kind`.
pub fn kind_of(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    ALL_KINDS.iter().copied().find(|k| k.kind == kind && k.api_version() == api_version)
}

fn files_in(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path).with_context(|| format!("reading directory {}", path.display()))? {
            let p = entry?.path();
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if p.is_file() && matches!(ext, "yaml" | "yml" | "json") {
                out.push(p);
            }
        }
        out.sort();
        Ok(out)
    } else if path.is_file() {
        Ok(vec![path.to_path_buf()])
    } else {
        bail!("the path {:?} does not exist", path.display().to_string())
    }
}

/// Parses one file's text into JSON documents (JSON, or YAML with `---` separators).
pub fn parse_text(text: &str, source: &str) -> Result<Vec<Value>> {
    let trimmed = text.trim_start();
    let docs: Vec<Value> = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(text).with_context(|| format!("{source}: invalid JSON"))? {
            Value::Array(items) => items,
            v => vec![v],
        }
    } else {
        serde_saphyr::from_multiple::<Value>(text).map_err(|e| anyhow!("{source}: invalid YAML: {e}"))?
    };
    let mut out = Vec::new();
    for d in docs {
        if d.is_null() {
            continue;
        }
        // `kind: List` carries its objects in `items`.
        if d.get("kind").and_then(Value::as_str).is_some_and(|k| k == "List" || k.ends_with("List")) {
            if let Some(items) = d.get("items").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
                continue;
            }
        }
        out.push(d);
    }
    Ok(out)
}

/// Loads every object from a file or directory.
pub fn load(path: &Path) -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    for file in files_in(path)? {
        let source = file.display().to_string();
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {source}"))?;
        for value in parse_text(&text, &source)? {
            let av = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
            let info = kind_of(av, kind)
                .ok_or_else(|| anyhow!("{source}: no kind {kind:?} in version {av:?} is known to shoal"))?;
            docs.push(Doc { info, value, source: source.clone() });
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists_are_split() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: b}\n";
        let docs = parse_text(text, "t").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1]["metadata"]["name"], "b");
    }
}
