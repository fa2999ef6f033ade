//! Server-side apply and managed fields.
//!
//! Every write through the gateway leaves a `metadata.managedFields` entry for its field
//! manager: `Update` entries own the fields their writes changed; `Apply` entries own the
//! fields of the manager's last applied configuration. Applying:
//! 1. the configuration's field set is computed ([`fields::fields_of`]);
//! 2. a field another manager owns whose value the configuration changes is a conflict
//!    (409 listing every one), unless `force`, which moves the field to the applier;
//! 3. the configuration is merged into the live object with the strategic merge rules;
//! 4. fields this manager applied before, left out now and owned by nobody else are
//!    removed.

use serde_json::{json, Map, Value};

use super::fields::{self, changed_fields, fields_of, from_fields_v1, is_leaf, remove_at, to_fields_v1, tracked, value_at, FieldSet};
use super::strategic;

/// One `managedFields` entry with its parsed field set.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub set: FieldSet,
}

impl Entry {
    /// How Kubernetes names the manager in conflict messages.
    pub fn describe(&self) -> String {
        if self.operation == "Update" {
            format!("{:?} using {}", self.manager, self.api_version)
        } else {
            format!("{:?}", self.manager)
        }
    }
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// `conflict with "other" using apps/v1`
    pub message: String,
    /// `.spec.replicas`
    pub field: String,
}

/// Why an apply failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyError {
    Conflicts(Vec<Conflict>),
    /// The configuration cannot be merged (a malformed directive, a missing merge key).
    Invalid(String),
}

/// The Status message of a failed apply (as Kubernetes words it).
pub fn conflicts_message(conflicts: &[Conflict]) -> String {
    let n = conflicts.len();
    let plural = if n == 1 { "" } else { "s" };
    if n == 1 {
        return format!("Apply failed with 1 conflict: {}: {}", conflicts[0].message, conflicts[0].field);
    }
    // Grouped by manager: `conflicts with "m":\n- .a\n- .b`.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for c in conflicts {
        let who = c.message.trim_start_matches("conflict with ").to_string();
        match groups.iter_mut().find(|(m, _)| *m == who) {
            Some((_, fs)) => fs.push(c.field.clone()),
            None => groups.push((who, vec![c.field.clone()])),
        }
    }
    let body: Vec<String> = groups
        .iter()
        .map(|(m, fs)| format!("conflicts with {m}:\n{}", fs.iter().map(|f| format!("- {f}")).collect::<Vec<_>>().join("\n")))
        .collect();
    format!("Apply failed with {n} conflict{plural}: {}", body.join("\n"))
}

/// The entries of `obj`'s `metadata.managedFields`.
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj.pointer("/metadata/managedFields").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: e.get("time").and_then(Value::as_str).map(str::to_string),
                subresource: s("subresource"),
                set: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            }
        })
        .collect()
}

/// Writes `entries` (empty ones dropped) into `obj`'s `metadata.managedFields`.
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.set.is_empty())
        .map(|e| {
            let mut m = Map::new();
            m.insert("manager".into(), json!(e.manager));
            m.insert("operation".into(), json!(e.operation));
            m.insert("apiVersion".into(), json!(e.api_version));
            if let Some(t) = &e.time {
                m.insert("time".into(), json!(t));
            }
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), to_fields_v1(&e.set));
            if !e.subresource.is_empty() {
                m.insert("subresource".into(), json!(e.subresource));
            }
            Value::Object(m)
        })
        .collect();
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if list.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(list);
    }
}

/// Who writes, for the managed-fields bookkeeping.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    /// Writes to the `/status` subresource track only `status`.
    pub status: bool,
    pub now: &'a str,
}

impl Writer<'_> {
    fn subresource(&self) -> &'static str {
        if self.status {
            "status"
        } else {
            ""
        }
    }
}

/// Keeps each entry's fields that still exist in `obj` and drops empty entries.
fn prune(entries: &mut Vec<Entry>, obj: &Value, status: bool) {
    let sub = if status { "status" } else { "" };
    let view = tracked(obj, status);
    for e in entries.iter_mut().filter(|e| e.subresource == sub) {
        e.set.retain(|p| value_at(&view, p).is_some());
    }
    entries.retain(|e| !e.set.is_empty());
}

/// Records a non-apply write (create, update, patch) of `new` over `old` (None for a
/// create) in `new`'s managedFields: the writer's `Update` entry gains the fields it
/// changed, which no other manager owns any more. The base entries are those the client
/// sent in `new` when it sent any, else `old`'s.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer<'_>) {
    let sent = read_entries(new);
    let mut entries = if sent.is_empty() { old.map(read_entries).unwrap_or_default() } else { sent };
    let old_view = old.map(|o| tracked(o, w.status));
    let changed = changed_fields(old_view.as_ref(), &tracked(new, w.status));
    let sub = w.subresource();
    if !changed.is_empty() {
        for e in entries.iter_mut().filter(|e| e.subresource == sub) {
            if !(e.manager == w.manager && e.operation == "Update") {
                e.set.retain(|p| !changed.contains(p));
            }
        }
        match entries.iter_mut().find(|e| e.manager == w.manager && e.operation == "Update" && e.subresource == sub) {
            Some(e) => {
                e.set.extend(changed);
                e.api_version = w.api_version.to_string();
                e.time = Some(w.now.to_string());
            }
            None => entries.push(Entry {
                manager: w.manager.to_string(),
                operation: "Update".into(),
                api_version: w.api_version.to_string(),
                time: Some(w.now.to_string()),
                subresource: sub.to_string(),
                set: changed,
            }),
        }
    }
    prune(&mut entries, new, w.status);
    write_entries(new, &entries);
}

/// The object an apply of `config` creates (no live object yet).
pub fn apply_create(config: &Value, w: &Writer<'_>) -> Value {
    let mut obj = strip_directives(config);
    let set = fields_of(&tracked(&obj, w.status));
    let entry = Entry {
        manager: w.manager.to_string(),
        operation: "Apply".into(),
        api_version: w.api_version.to_string(),
        time: Some(w.now.to_string()),
        subresource: w.subresource().to_string(),
        set,
    };
    write_entries(&mut obj, &[entry]);
    obj
}

fn strip_directives(v: &Value) -> Value {
    strategic::merge(&json!({}), v).unwrap_or_else(|_| v.clone())
}

/// Applies `config` to `live` for `w.manager`; the result carries the new managedFields.
pub fn apply(live: &Value, config: &Value, w: &Writer<'_>, force: bool) -> Result<Value, ApplyError> {
    let sub = w.subresource();
    let cfg = tracked(config, w.status);
    let applied = fields_of(&cfg);
    let mut entries = read_entries(live);
    let live_view = tracked(live, w.status);
    let is_mine = |e: &Entry| e.manager == w.manager && e.operation == "Apply" && e.subresource == sub;

    // Conflicts: leaf fields owned by someone else whose value the config changes.
    let mut conflicts = Vec::new();
    let mut taken: Vec<(usize, fields::Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if is_mine(e) || e.subresource != sub {
            continue;
        }
        for p in e.set.intersection(&applied) {
            if is_leaf(p) && value_at(&live_view, p) != value_at(&cfg, p) {
                conflicts.push(Conflict { message: format!("conflict with {}", e.describe()), field: fields::render(p) });
                taken.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflicts(conflicts));
    }
    for (i, p) in taken {
        entries[i].set.remove(&p);
    }

    // Merge, then remove what only this manager applied before and left out now.
    let mut merged = strategic::merge(live, &cfg).map_err(ApplyError::Invalid)?;
    let previous: FieldSet = entries.iter().filter(|e| is_mine(e)).flat_map(|e| e.set.iter().cloned()).collect();
    let mut gone: Vec<&fields::Path> = previous
        .difference(&applied)
        .filter(|p| {
            !entries
                .iter()
                .filter(|e| !is_mine(e) && e.subresource == sub)
                .any(|e| e.set.iter().any(|q| q.starts_with(p)))
        })
        .collect();
    // Items before their fields: a removed item takes its fields along (and an item
    // stripped of its key first could no longer be found).
    gone.sort_by_key(|p| p.len());
    for p in gone {
        remove_at(&mut merged, p);
    }

    entries.retain(|e| !is_mine(e));
    entries.push(Entry {
        manager: w.manager.to_string(),
        operation: "Apply".into(),
        api_version: w.api_version.to_string(),
        time: Some(w.now.to_string()),
        subresource: sub.to_string(),
        set: applied,
    });
    prune(&mut entries, &merged, w.status);
    write_entries(&mut merged, &entries);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(manager: &str) -> Writer<'_> {
        Writer { manager, api_version: "apps/v1", status: false, now: "2026-01-01T00:00:00Z" }
    }

    fn deploy(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    #[test]
    fn second_manager_conflicts_then_force_moves_ownership() {
        let live = apply_create(&deploy(1, "hello:v1"), &w("first"));
        let fv1 = &live["metadata"]["managedFields"][0];
        assert_eq!(fv1["operation"], "Apply");
        assert_eq!(fv1["fieldsV1"]["f:spec"]["f:replicas"], json!({}));

        // Same values: shared ownership, no conflict.
        let shared = apply(&live, &json!({"spec": {"replicas": 1}}), &w("second"), false).expect("same value");
        assert_eq!(read_entries(&shared).len(), 2);

        let Err(ApplyError::Conflicts(err)) = apply(&live, &json!({"spec": {"replicas": 3}}), &w("second"), false) else {
            panic!("expected a conflict")
        };
        assert_eq!(err, vec![Conflict { message: "conflict with \"first\"".into(), field: ".spec.replicas".into() }]);
        assert_eq!(conflicts_message(&err), "Apply failed with 1 conflict: conflict with \"first\": .spec.replicas");

        let won = apply(&live, &json!({"spec": {"replicas": 3}}), &w("second"), true).expect("forced");
        assert_eq!(won["spec"]["replicas"], 3);
        let entries = read_entries(&won);
        let first = entries.iter().find(|e| e.manager == "first").unwrap();
        assert!(!first.set.iter().any(|p| fields::render(p) == ".spec.replicas"));
        let second = entries.iter().find(|e| e.manager == "second").unwrap();
        assert!(second.set.iter().any(|p| fields::render(p) == ".spec.replicas"));
    }

    #[test]
    fn update_managers_are_named_with_their_api_version() {
        let mut live = deploy(1, "hello:v1");
        record_update(None, &mut live, &w("kubectl-client-side-apply"));
        let Err(ApplyError::Conflicts(err)) = apply(&live, &json!({"spec": {"replicas": 2}}), &w("other"), false) else {
            panic!("expected a conflict")
        };
        assert_eq!(err[0].message, "conflict with \"kubectl-client-side-apply\" using apps/v1");
    }

    #[test]
    fn fields_left_out_of_a_later_apply_are_removed_unless_shared() {
        let mut cfg = deploy(1, "hello:v1");
        cfg["metadata"]["labels"]["tier"] = json!("front");
        let live = apply_create(&cfg, &w("me"));
        let next = apply(&live, &deploy(1, "hello:v1"), &w("me"), false).expect("apply");
        assert_eq!(next["metadata"]["labels"], json!({"app": "web"}));

        // A second container applied, then dropped: the item goes.
        let mut two = deploy(1, "hello:v1");
        two["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "side", "image": "b"}));
        let with_two = apply(&next, &two, &w("me"), false).expect("apply");
        assert_eq!(with_two["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 2);
        let back = apply(&with_two, &deploy(1, "hello:v1"), &w("me"), false).expect("apply");
        assert_eq!(back["spec"]["template"]["spec"]["containers"], json!([{"name": "web", "image": "hello:v1"}]));

        // A field another manager also owns stays.
        let mut shared = back.clone();
        shared["metadata"]["labels"]["team"] = json!("a");
        record_update(Some(&back), &mut shared, &w("editor"));
        let mut cfg = deploy(1, "hello:v1");
        cfg["metadata"]["labels"]["team"] = json!("a");
        let owned_by_both = apply(&shared, &cfg, &w("me"), false).expect("apply");
        let after = apply(&owned_by_both, &deploy(1, "hello:v1"), &w("me"), false).expect("apply");
        assert_eq!(after["metadata"]["labels"]["team"], "a");
    }

    #[test]
    fn update_takes_changed_fields_from_other_managers() {
        let live = apply_create(&deploy(1, "hello:v1"), &w("me"));
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(5);
        record_update(Some(&live), &mut scaled, &w("kubectl-scale"));
        let entries = read_entries(&scaled);
        let scale = entries.iter().find(|e| e.manager == "kubectl-scale").unwrap();
        assert_eq!(scale.set.iter().map(fields::render).collect::<Vec<_>>(), vec![".spec.replicas"]);
        let me = entries.iter().find(|e| e.manager == "me").unwrap();
        assert!(!me.set.iter().any(|p| fields::render(p) == ".spec.replicas"));
        // So applying the old value again is no conflict with "me", but is with kubectl-scale.
        let Err(ApplyError::Conflicts(err)) = apply(&scaled, &deploy(1, "hello:v1"), &w("me"), false) else {
            panic!("expected a conflict")
        };
        assert_eq!(err[0].message, "conflict with \"kubectl-scale\" using apps/v1");
    }
}
