//! What a ControllerRevision holds, apart from I/O (upstream's `getPatch`, `ApplyRevision`
//! and `pkg/controller/history`): the `data` is the strategic merge patch
//! `{"spec":{"template":{…,"$patch":"replace"}}}` that restores a template, keys sorted as
//! Go's `json.Marshal` of a map writes them; revisions sort by number, then age, then name.

use std::sync::Arc;

use serde_json::{Map, Value};

use api::model::{ControllerRevision, PodTemplateSpec};

use crate::controllers::parse_time;

/// A JSON value with every object's keys sorted (what Go's `json.Marshal` of a map gives).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The containers of a template's spec, of every kind.
fn containers_mut(template: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    let spec = template.get_mut("spec").and_then(Value::as_object_mut);
    spec.into_iter()
        .flat_map(|spec| spec.iter_mut())
        .filter(|(k, _)| matches!(k.as_str(), "containers" | "initContainers" | "ephemeralContainers"))
        .filter_map(|(_, v)| v.as_array_mut())
        .flat_map(|cs| cs.iter_mut().filter_map(Value::as_object_mut))
}

/// Adds the empty field Go's `json.Marshal` writes and serde leaves out: every
/// container's `resources: {}` (Go does not omit an empty struct; a zero
/// `creationTimestamp` it does leave out, as kubectl 1.37 shows).
fn with_go_empties(template: &mut Value) {
    for c in containers_mut(template) {
        c.entry("resources").or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The patch that restores `template` (upstream's `getPatch`): compact JSON text with
/// sorted keys and Go's empty fields, as Go writes it, since kubectl compares a
/// revision's data with its own marshalling of the live object byte for byte (and skips
/// `rollout undo` to the current template; checked with kubectl 1.37). Go's escapes of
/// `<`, `>` and `&` are not written: the API's JSON edge writes the data anew without them.
pub fn patch_of(template: &PodTemplateSpec) -> String {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Object(Map::new()));
    with_go_empties(&mut t);
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), Value::String("replace".into()));
    }
    let patch = serde_json::json!({"spec": {"template": t}});
    serde_json::to_string(&sorted(patch)).unwrap_or_default()
}

/// The template a revision restores (`ApplyRevision` of a template-replacing patch), an
/// empty `resources` read as none; None when its data holds no template.
pub fn template_of(cr: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = cr.data_value().get("spec")?.get("template")?.clone();
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    for c in containers_mut(&mut t) {
        if c.get("resources").and_then(Value::as_object).is_some_and(Map::is_empty) {
            c.remove("resources");
        }
    }
    serde_json::from_value(t).ok()
}

/// A revision's data with Go's empty fields, so that data written with and without them
/// compare equal.
fn normalized(cr: &ControllerRevision) -> Value {
    let mut v = cr.data_value();
    if let Some(t) = v.get_mut("spec").and_then(|s| s.get_mut("template")) {
        with_go_empties(t);
    }
    v
}

/// Whether two revisions hold the same data (`history.EqualRevision`): the same text or
/// the same JSON, Go's empty fields aside (data written before [`patch_of`] wrote them
/// still matches).
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data == b.data || normalized(a) == normalized(b)
}

/// `<prefix>-<hash>`, the prefix cut to 223 bytes so that the name stays within 253.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let mut end = prefix.len().min(223);
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{hash}", &prefix[..end])
}

/// Sorts by revision, then creation time, then name (`history.SortControllerRevisions`).
pub fn sort(revisions: &mut [Arc<ControllerRevision>]) {
    revisions.sort_by_cached_key(|r| {
        let t = parse_time(r.metadata.creation_timestamp.as_deref()).map(|t| t.timestamp()).unwrap_or(0);
        (r.revision, t, r.metadata.name.clone())
    });
}

/// One more than the highest revision (1 for none); `sorted` as [`sort`] leaves it.
pub fn next_revision(sorted: &[Arc<ControllerRevision>]) -> i64 {
    sorted.last().map(|r| r.revision + 1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Container;

    fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels.insert("app".into(), "nginx".into());
        t.spec.containers.push(Container { name: "c".into(), image: Some(image.into()), ..Default::default() });
        t
    }

    #[test]
    fn the_patch_replaces_the_template_and_has_sorted_keys() {
        let p = patch_of(&template("nginx:1"));
        assert!(
            p.starts_with(r#"{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"#),
            "{p}"
        );
        assert!(p.contains(r#""image":"nginx:1","name":"c","resources":{}"#), "keys sorted inside objects, Go's empty resources: {p}");
    }

    #[test]
    fn data_without_gos_empty_fields_is_equal() {
        let t = template("nginx:1");
        let bare = serde_json::json!({"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}});
        let old = ControllerRevision { data: bare.to_string(), ..Default::default() };
        let new = ControllerRevision { data: patch_of(&t), ..Default::default() };
        assert!(equal(&old, &new));
        assert!(!equal(&old, &ControllerRevision { data: patch_of(&template("nginx:2")), ..Default::default() }));
        assert!(!equal(&ControllerRevision::default(), &ControllerRevision { data: "{}".into(), ..Default::default() }));
    }

    #[test]
    fn a_revision_restores_its_template() {
        let cr = ControllerRevision { data: patch_of(&template("nginx:1")), ..Default::default() };
        assert_eq!(template_of(&cr), Some(template("nginx:1")));
        assert_eq!(template_of(&ControllerRevision::default()), None);
    }

    #[test]
    fn names_stay_within_253_bytes() {
        assert_eq!(revision_name("web", "abc"), "web-abc");
        assert_eq!(revision_name(&"x".repeat(300), "h").len(), 225);
    }

    #[test]
    fn revisions_sort_by_number_and_the_next_follows_the_last() {
        let r = |n: i64, name: &str| {
            let mut c = ControllerRevision { revision: n, ..Default::default() };
            c.metadata.name = name.into();
            Arc::new(c)
        };
        let mut revs = vec![r(3, "c"), r(1, "a"), r(2, "b")];
        sort(&mut revs);
        assert_eq!(revs.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(next_revision(&revs), 4);
        assert_eq!(next_revision(&[]), 1);
    }
}
