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

/// The patch that restores `template` (upstream's `getPatch`), as compact JSON text with
/// sorted keys.
pub fn patch_of(template: &PodTemplateSpec) -> String {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Object(Map::new()));
    if let Value::Object(m) = &mut t {
        m.insert("$patch".into(), Value::String("replace".into()));
    }
    let patch = serde_json::json!({"spec": {"template": t}});
    serde_json::to_string(&sorted(patch)).unwrap_or_default()
}

/// The template a revision restores (`ApplyRevision` of a template-replacing patch); None
/// when its data holds no template.
pub fn template_of(cr: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = cr.data_value().get("spec")?.get("template")?.clone();
    if let Value::Object(m) = &mut t {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// Whether two revisions hold the same data (`history.EqualRevision`).
pub fn equal(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    a.data == b.data || a.data_value() == b.data_value()
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
        assert!(p.starts_with(r#"{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"#), "{p}");
        assert!(p.contains(r#""image":"nginx:1","name":"c""#), "keys sorted inside objects: {p}");
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
