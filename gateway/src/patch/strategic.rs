//! Strategic merge patch (`application/strategic-merge-patch+json`), after apimachinery's
//! `strategicpatch`: maps merge recursively and `null` deletes a key; lists with a patch
//! merge key merge item by item on that key; lists of primitives with the merge strategy
//! (finalizers) merge as sets; every other list is replaced. Directives: `$patch`
//! (`replace`, `delete`, `merge`) in maps and list items, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.
//!
//! Which lists merge on which key is decided by [`strategy`] from the JSON path of the
//! field (field names from the object's root, list positions left out), in one table.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// How a list field is patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the object's (atomic lists).
    Replace,
    /// Items (maps) are matched on this key and merged.
    MergeOnKey(&'static str),
    /// Items (primitives) are merged as a set.
    MergePrimitives,
}

/// Prefixes under which a PodSpec lives, in every kind that has one.
const POD_SPECS: &[&str] = &["spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec"];
/// Prefixes under which an ObjectMeta lives.
const METAS: &[&str] = &["metadata", "spec.template.metadata", "spec.jobTemplate.metadata", "spec.jobTemplate.spec.template.metadata"];

fn table() -> &'static HashMap<String, ListStrategy> {
    static TABLE: OnceLock<HashMap<String, ListStrategy>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use ListStrategy::*;
        let mut t = HashMap::new();
        for ps in POD_SPECS {
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                t.insert(format!("{ps}.{list}"), MergeOnKey("name"));
                let c = format!("{ps}.{list}");
                t.insert(format!("{c}.ports"), MergeOnKey("containerPort"));
                t.insert(format!("{c}.env"), MergeOnKey("name"));
                t.insert(format!("{c}.volumeMounts"), MergeOnKey("mountPath"));
                t.insert(format!("{c}.volumeDevices"), MergeOnKey("devicePath"));
                t.insert(format!("{c}.resizePolicy"), MergeOnKey("resourceName"));
            }
            t.insert(format!("{ps}.volumes"), MergeOnKey("name"));
            t.insert(format!("{ps}.imagePullSecrets"), MergeOnKey("name"));
            t.insert(format!("{ps}.hostAliases"), MergeOnKey("ip"));
            t.insert(format!("{ps}.topologySpreadConstraints"), MergeOnKey("topologyKey"));
            t.insert(format!("{ps}.resourceClaims"), MergeOnKey("name"));
            t.insert(format!("{ps}.schedulingGates"), MergeOnKey("name"));
        }
        for m in METAS {
            t.insert(format!("{m}.ownerReferences"), MergeOnKey("uid"));
            t.insert(format!("{m}.finalizers"), MergePrimitives);
        }
        // Status conditions of every kind, Node taints and addresses, Service ports.
        t.insert("status.conditions".into(), MergeOnKey("type"));
        t.insert("status.addresses".into(), MergeOnKey("type"));
        t.insert("spec.taints".into(), MergeOnKey("key"));
        t.insert("spec.ports".into(), MergeOnKey("port"));
        t
    })
}

/// The strategy of the list at `path` (dot-joined field names from the root).
pub fn strategy(path: &str) -> ListStrategy {
    table().get(path).copied().unwrap_or(ListStrategy::Replace)
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";
const SET_ORDER: &str = "$setElementOrder/";

fn is_directive(k: &str) -> bool {
    k.starts_with('$')
}

/// Applies `patch` to `original` (both whole objects).
pub fn merge(original: &Value, patch: &Value) -> Result<Value, String> {
    let (Value::Object(o), Value::Object(p)) = (original, patch) else {
        return Err("a strategic merge patch must be a JSON object".into());
    };
    Ok(merge_map(o, p, "")?.map(Value::Object).unwrap_or_else(|| Value::Object(Map::new())))
}

/// Merges one map; `None` means the patch deleted it (`$patch: delete`).
fn merge_map(original: &Map<String, Value>, patch: &Map<String, Value>, path: &str) -> Result<Option<Map<String, Value>>, String> {
    let mut out = original.clone();
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(None),
        Some(Value::String(d)) if d == "replace" => out = Map::new(),
        Some(other) => return Err(format!("unknown patch type: {other} in map at {path:?}")),
    }
    // $deleteFromPrimitiveList/<field> first: they act on the original's list.
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(DELETE_FROM) {
            let Value::Array(gone) = v else {
                return Err(format!("{k} must be a list"));
            };
            if let Some(Value::Array(items)) = out.get_mut(field) {
                items.retain(|i| !gone.contains(i));
            }
        }
    }
    for (k, v) in patch {
        if is_directive(k) {
            continue;
        }
        let sub = join(path, k);
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), v) {
            (Some(Value::Object(o)), Value::Object(p)) => merge_map(o, p, &sub)?.map(Value::Object),
            (Some(Value::Array(o)), Value::Array(p)) => Some(Value::Array(merge_list(o, p, &sub)?)),
            (None, Value::Object(p)) => merge_map(&Map::new(), p, &sub)?.map(Value::Object),
            (None, Value::Array(p)) => Some(Value::Array(merge_list(&[], p, &sub)?)),
            (_, other) => Some(strip(other)),
        };
        match merged {
            Some(m) => {
                out.insert(k.clone(), m);
            }
            None => {
                out.remove(k);
            }
        }
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let Value::Array(keys) = retain else {
            return Err(format!("{RETAIN_KEYS} must be a list of strings at {path:?}"));
        };
        let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keys.contains(&k.as_str()));
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(SET_ORDER) {
            let Value::Array(order) = v else {
                return Err(format!("{k} must be a list"));
            };
            let sub = join(path, field);
            if let Some(Value::Array(items)) = out.get_mut(field) {
                reorder(items, order, strategy(&sub));
            }
        }
    }
    Ok(Some(out))
}

/// Removes directives (and nulls) from a value the patch adds wholesale.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, v)| !is_directive(k) && !v.is_null()).map(|(k, v)| (k.clone(), strip(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        other => other.clone(),
    }
}

fn directive_of(v: &Value) -> Option<&str> {
    v.get(PATCH).and_then(Value::as_str)
}

fn merge_list(original: &[Value], patch: &[Value], path: &str) -> Result<Vec<Value>, String> {
    let strat = strategy(path);
    // `{"$patch": "replace"}` as an item: the rest of the patch list is the new list.
    if patch.iter().any(|i| directive_of(i) == Some("replace")) {
        return Ok(patch.iter().filter(|i| directive_of(i) != Some("replace")).map(strip).collect());
    }
    match strat {
        ListStrategy::Replace => Ok(patch.iter().filter(|i| directive_of(i).is_none()).map(strip).collect()),
        ListStrategy::MergePrimitives => {
            let mut out = original.to_vec();
            for item in patch {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Ok(out)
        }
        ListStrategy::MergeOnKey(key) => {
            let mut out = original.to_vec();
            for item in patch {
                let Value::Object(p) = item else {
                    return Err(format!("{path}: expected a map item with merge key {key:?}, got {item}"));
                };
                match p.get(PATCH).and_then(Value::as_str) {
                    Some("delete") => {
                        match p.get(key) {
                            Some(kv) => out.retain(|o| o.get(key) != Some(kv)),
                            None => {
                                let plain = strip(item);
                                out.retain(|o| *o != plain);
                            }
                        }
                        continue;
                    }
                    Some("merge") | None => {}
                    Some(other) => return Err(format!("unknown patch type: {other:?} in list {path:?}")),
                }
                let Some(kv) = p.get(key) else {
                    return Err(format!("map: {item} does not contain declared merge key: {key}"));
                };
                match out.iter().position(|o| o.get(key) == Some(kv)) {
                    Some(i) => {
                        let o = out[i].as_object().cloned().unwrap_or_default();
                        match merge_map(&o, p, path)? {
                            Some(m) => out[i] = Value::Object(m),
                            None => {
                                out.remove(i);
                            }
                        }
                    }
                    None => {
                        if let Some(m) = merge_map(&Map::new(), p, path)? {
                            out.push(Value::Object(m));
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}

/// Orders `items` as `$setElementOrder` lists them; items it does not name keep their
/// relative order after the named ones.
fn reorder(items: &mut Vec<Value>, order: &[Value], strat: ListStrategy) {
    let pos = |item: &Value| -> Option<usize> {
        match strat {
            ListStrategy::MergeOnKey(key) => {
                let kv = item.get(key)?;
                order.iter().position(|o| o.get(key) == Some(kv))
            }
            _ => order.iter().position(|o| o == item),
        }
    };
    let mut keyed: Vec<(usize, usize, Value)> =
        items.drain(..).enumerate().map(|(i, v)| (pos(&v).unwrap_or(usize::MAX), i, v)).collect();
    keyed.sort_by_key(|(p, i, _)| (*p, *i));
    items.extend(keyed.into_iter().map(|(_, _, v)| v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Table cases in the spirit of apimachinery's strategicpatch testdata: original,
    /// patch, expected result.
    fn cases() -> Vec<(&'static str, Value, Value, Value)> {
        vec![
            (
                "maps merge recursively and null deletes",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}}),
                json!({"metadata": {"labels": {"b": null, "c": "3"}}, "spec": {"replicas": 2}}),
                json!({"metadata": {"labels": {"a": "1", "c": "3"}}, "spec": {"replicas": 2}}),
            ),
            (
                "containers merge by name, other containers kept",
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "web", "image": "hello:v1"}, {"name": "side", "image": "busybox"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "hello:v2"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [
                    {"name": "web", "image": "hello:v2"}, {"name": "side", "image": "busybox"}]}}}}),
            ),
            (
                "new keyed item is appended",
                json!({"spec": {"containers": [{"name": "a", "image": "x"}]}}),
                json!({"spec": {"containers": [{"name": "b", "image": "y"}]}}),
                json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}),
            ),
            (
                "$patch: delete removes a keyed item",
                json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}),
                json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
                json!({"spec": {"containers": [{"name": "a", "image": "x"}]}}),
            ),
            (
                "$patch: replace as a list item replaces the list",
                json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}),
                json!({"spec": {"containers": [{"name": "c", "image": "z"}, {"$patch": "replace"}]}}),
                json!({"spec": {"containers": [{"name": "c", "image": "z"}]}}),
            ),
            (
                "$patch: replace in a map replaces the map",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
                json!({"metadata": {"labels": {"c": "3"}}}),
            ),
            (
                "$patch: delete in a map deletes the map",
                json!({"metadata": {"labels": {"a": "1"}, "name": "x"}}),
                json!({"metadata": {"labels": {"$patch": "delete"}}}),
                json!({"metadata": {"name": "x"}}),
            ),
            (
                "nested keyed lists: env by name, ports by containerPort, volumeMounts by mountPath",
                json!({"spec": {"containers": [{"name": "a",
                    "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}],
                    "volumeMounts": [{"name": "v", "mountPath": "/data"}]}]}}),
                json!({"spec": {"containers": [{"name": "a",
                    "env": [{"name": "Y", "value": "3"}],
                    "ports": [{"containerPort": 443, "name": "https"}],
                    "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}]}}),
                json!({"spec": {"containers": [{"name": "a",
                    "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}],
                    "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}],
                    "volumeMounts": [{"name": "v", "mountPath": "/data", "readOnly": true}]}]}}),
            ),
            (
                "lists without a merge key are replaced (args, tolerations)",
                json!({"spec": {"containers": [{"name": "a", "args": ["1", "2"]}], "tolerations": [{"key": "k"}]}}),
                json!({"spec": {"containers": [{"name": "a", "args": ["3"]}], "tolerations": [{"key": "j"}]}}),
                json!({"spec": {"containers": [{"name": "a", "args": ["3"]}], "tolerations": [{"key": "j"}]}}),
            ),
            (
                "finalizers merge as a set; $deleteFromPrimitiveList removes",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
                json!({"metadata": {"finalizers": ["b", "c"]}}),
            ),
            (
                "$setElementOrder orders the merged list",
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}),
                json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "c"}]}}),
                json!({"spec": {"containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}}),
            ),
            (
                "$retainKeys drops keys it does not list",
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
            ),
            (
                "conditions merge by type, ownerReferences by uid, taints by key, Service ports by port",
                json!({"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "status": "True"}]},
                    "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]},
                    "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}], "ports": [{"port": 80, "name": "http"}]}}),
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]},
                    "metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]},
                    "spec": {"taints": [{"key": "k", "effect": "NoExecute"}], "ports": [{"port": 80, "targetPort": 8080}]}}),
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "True"}]},
                    "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]},
                    "spec": {"taints": [{"key": "k", "effect": "NoExecute"}], "ports": [{"port": 80, "name": "http", "targetPort": 8080}]}}),
            ),
            (
                "directives inside new values are stripped",
                json!({}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "merge", "image": "x"}]}}}}),
                json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}),
            ),
            (
                "CronJob pod template containers merge by name",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}}}}}),
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "y"}]}}}}}}),
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "y"}, {"name": "b"}]}}}}}}),
            ),
        ]
    }

    #[test]
    fn strategic_merge_table() {
        for (name, original, patch, want) in cases() {
            let got = merge(&original, &patch).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn merge_key_table_is_keyed_by_path() {
        assert_eq!(strategy("spec.template.spec.containers"), ListStrategy::MergeOnKey("name"));
        assert_eq!(strategy("spec.containers"), ListStrategy::MergeOnKey("name"));
        assert_eq!(strategy("spec.template.spec.containers.ports"), ListStrategy::MergeOnKey("containerPort"));
        assert_eq!(strategy("spec.template.spec.containers.args"), ListStrategy::Replace);
        assert_eq!(strategy("spec.tolerations"), ListStrategy::Replace);
        assert_eq!(strategy("metadata.finalizers"), ListStrategy::MergePrimitives);
    }

    #[test]
    fn errors_are_reported() {
        assert!(merge(&json!({"spec": {"containers": []}}), &json!({"spec": {"containers": [{"image": "x"}]}}))
            .unwrap_err()
            .contains("merge key"));
        assert!(merge(&json!({}), &json!({"spec": {"$patch": "explode"}})).is_err());
        assert!(merge(&json!({}), &json!([1])).is_err());
    }
}
