//! Field sets, as server-side apply tracks ownership: the set of leaf fields and list
//! items an object (or an applied configuration) sets, and its `FieldsV1` form
//! (`{"f:spec":{"f:replicas":{}}}`, `k:{"name":"web"}` for keyed list items, `v:"x"` for
//! set items, `"."` for an item that is itself owned and has owned children).
//!
//! List items are named by their merge key where [`strategic::strategy`] has one; lists
//! without a key are atomic: the whole list is one leaf.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::strategic::{strategy, ListStrategy};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elem {
    /// A map field.
    Field(String),
    /// A keyed list item; the JSON text of its key (`{"name":"web"}`).
    Key(String),
    /// An item of a set-like list of primitives; its JSON text.
    Value(String),
}

pub type Path = Vec<Elem>;
pub type FieldSet = BTreeSet<Path>;

/// Fields that belong to the server, never owned: type meta and server-set metadata.
const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// The part of an object whose fields are tracked: everything but type meta and
/// server-set metadata, and either everything but `status` or only `status`.
pub fn tracked(obj: &Value, status: bool) -> Value {
    let Value::Object(m) = obj else { return Value::Object(Map::new()) };
    let mut out = Map::new();
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if status => {
                out.insert(k.clone(), v.clone());
            }
            _ if status => {}
            "status" => {}
            "metadata" => {
                if let Value::Object(meta) = v {
                    let kept: Map<String, Value> =
                        meta.iter().filter(|(k, _)| !SERVER_META.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
                    if !kept.is_empty() {
                        out.insert(k.clone(), Value::Object(kept));
                    }
                }
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The fields `obj` sets (call on [`tracked`] output).
pub fn fields_of(obj: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(m) = obj {
        walk_map(m, &mut Vec::new(), "", &mut out);
    }
    out
}

fn walk_map(m: &Map<String, Value>, at: &mut Path, json_path: &str, out: &mut FieldSet) {
    for (k, v) in m {
        if k.starts_with('$') {
            continue;
        }
        at.push(Elem::Field(k.clone()));
        let jp = join(json_path, k);
        walk_value(v, at, &jp, out);
        at.pop();
    }
}

fn walk_value(v: &Value, at: &mut Path, json_path: &str, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => walk_map(m, at, json_path, out),
        Value::Array(items) if !items.is_empty() => match strategy(json_path) {
            ListStrategy::Replace => {
                out.insert(at.clone());
            }
            ListStrategy::MergePrimitives => {
                for item in items {
                    at.push(Elem::Value(item.to_string()));
                    out.insert(at.clone());
                    at.pop();
                }
            }
            ListStrategy::MergeOnKey(key) => {
                for item in items {
                    let Some(kv) = item.get(key) else { continue };
                    let mut k = Map::new();
                    k.insert(key.to_string(), kv.clone());
                    at.push(Elem::Key(Value::Object(k).to_string()));
                    out.insert(at.clone());
                    if let Value::Object(m) = item {
                        walk_map(m, at, json_path, out);
                    }
                    at.pop();
                }
            }
        },
        _ => {
            out.insert(at.clone());
        }
    }
}

fn elem_text(e: &Elem) -> String {
    match e {
        Elem::Field(f) => format!("f:{f}"),
        Elem::Key(k) => format!("k:{k}"),
        Elem::Value(v) => format!("v:{v}"),
    }
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<String, Node>,
}

impl Node {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_json());
        }
        Value::Object(m)
    }
}

/// The `FieldsV1` object of a set.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut n = &mut root;
        for e in path {
            n = n.children.entry(elem_text(e)).or_default();
        }
        n.member = true;
    }
    root.to_json()
}

/// Reads a `FieldsV1` object (unknown prefixes are skipped).
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    read_node(v, &mut Vec::new(), &mut out);
    out
}

fn read_node(v: &Value, at: &mut Path, out: &mut FieldSet) {
    let Value::Object(m) = v else { return };
    if m.is_empty() && !at.is_empty() {
        out.insert(at.clone());
        return;
    }
    for (k, child) in m {
        if k == "." {
            out.insert(at.clone());
            continue;
        }
        let e = if let Some(f) = k.strip_prefix("f:") {
            Elem::Field(f.to_string())
        } else if let Some(key) = k.strip_prefix("k:") {
            Elem::Key(key.to_string())
        } else if let Some(val) = k.strip_prefix("v:") {
            Elem::Value(val.to_string())
        } else {
            continue;
        };
        at.push(e);
        read_node(child, at, out);
        at.pop();
    }
}

/// How a path reads in conflict messages: `.spec.template.spec.containers[name="web"].image`.
pub fn render(path: &Path) -> String {
    let mut s = String::new();
    for e in path {
        match e {
            Elem::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Elem::Key(k) => {
                let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_else(|_| vec![k.clone()]);
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Elem::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

fn key_matches(item: &Value, key: &str) -> bool {
    let Ok(k) = serde_json::from_str::<Map<String, Value>>(key) else { return false };
    k.iter().all(|(f, v)| item.get(f) == Some(v))
}

fn value_matches(item: &Value, text: &str) -> bool {
    serde_json::from_str::<Value>(text).is_ok_and(|v| v == *item)
}

/// The value at `path`, if the object has it.
pub fn value_at<'a>(obj: &'a Value, path: &[Elem]) -> Option<&'a Value> {
    let mut cur = obj;
    for e in path {
        cur = match e {
            Elem::Field(f) => cur.get(f)?,
            Elem::Key(k) => cur.as_array()?.iter().find(|i| key_matches(i, k))?,
            Elem::Value(t) => cur.as_array()?.iter().find(|i| value_matches(i, t))?,
        };
    }
    Some(cur)
}

/// Removes the field or list item at `path`; false when it was not there.
pub fn remove_at(obj: &mut Value, path: &[Elem]) -> bool {
    let Some((last, parent)) = path.split_last() else { return false };
    let mut cur = obj;
    for e in parent {
        let next = match e {
            Elem::Field(f) => cur.get_mut(f),
            Elem::Key(k) => cur.as_array_mut().and_then(|a| a.iter_mut().find(|i| key_matches(i, k))),
            Elem::Value(t) => cur.as_array_mut().and_then(|a| a.iter_mut().find(|i| value_matches(i, t))),
        };
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    match last {
        Elem::Field(f) => cur.as_object_mut().is_some_and(|m| m.remove(f).is_some()),
        Elem::Key(k) => remove_item(cur, |i| key_matches(i, k)),
        Elem::Value(t) => remove_item(cur, |i| value_matches(i, t)),
    }
}

fn remove_item(list: &mut Value, pred: impl Fn(&Value) -> bool) -> bool {
    let Some(a) = list.as_array_mut() else { return false };
    let before = a.len();
    a.retain(|i| !pred(i));
    a.len() != before
}

/// Whether `path` is a leaf field (compared by value), not a list item.
pub fn is_leaf(path: &[Elem]) -> bool {
    matches!(path.last(), Some(Elem::Field(_)))
}

/// The fields of `new` that an update from `old` set or changed.
pub fn changed_fields(old: Option<&Value>, new: &Value) -> FieldSet {
    fields_of(new)
        .into_iter()
        .filter(|p| match old {
            None => true,
            Some(old) => {
                let before = value_at(old, p);
                if is_leaf(p) {
                    before != value_at(new, p)
                } else {
                    before.is_none()
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> Elem {
        Elem::Field(s.into())
    }

    #[test]
    fn fields_of_a_deployment_config() {
        let cfg = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}, "finalizers": ["x"]},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "web", "image": "hello:v1", "args": ["a"]}]}}},
            "status": {"replicas": 1}
        });
        let set = fields_of(&tracked(&cfg, false));
        let fv1 = to_fields_v1(&set);
        assert_eq!(
            fv1,
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {".": {}, "f:args": {}, "f:image": {}, "f:name": {}}}}}}
            })
        );
        assert_eq!(from_fields_v1(&fv1), set, "FieldsV1 round-trips");
        assert!(set.contains(&vec![f("spec"), f("replicas")]));
        let image = vec![f("spec"), f("template"), f("spec"), f("containers"), Elem::Key("{\"name\":\"web\"}".into()), f("image")];
        assert_eq!(render(&image), ".spec.template.spec.containers[name=\"web\"].image");
        assert_eq!(value_at(&cfg, &image), Some(&json!("hello:v1")));
        let status = fields_of(&tracked(&cfg, true));
        assert_eq!(status.into_iter().collect::<Vec<_>>(), vec![vec![f("status"), f("replicas")]]);
    }

    #[test]
    fn changed_fields_and_removal() {
        let old = json!({"spec": {"replicas": 1, "paused": false, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let mut new = json!({"spec": {"replicas": 2, "paused": false, "template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}});
        let changed: Vec<String> = changed_fields(Some(&old), &new).iter().map(render).collect();
        assert_eq!(
            changed,
            vec![
                ".spec.replicas",
                ".spec.template.spec.containers[name=\"b\"]",
                ".spec.template.spec.containers[name=\"b\"].image",
                ".spec.template.spec.containers[name=\"b\"].name",
            ]
        );
        let b = vec![f("spec"), f("template"), f("spec"), f("containers"), Elem::Key("{\"name\":\"b\"}".into())];
        assert!(remove_at(&mut new, &b));
        assert!(remove_at(&mut new, &[f("spec"), f("paused")]));
        assert!(!remove_at(&mut new, &[f("spec"), f("nothing")]));
        assert_eq!(new, json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}}));
    }
}
