//! Schema coverage against upstream: for every kind shoal serves, every field path of
//! Kubernetes 1.37's schema (as the `k8s-openapi` crate generates it from upstream's
//! OpenAPI) must exist in shoal's own generated schema, with a compatible JSON type.
//!
//! Paths look like `spec.containers[].securityContext.capabilities.add[]`; `{}` stands
//! for the values of a map. Run with `--nocapture` to see the per-kind figures; set
//! `SHOAL_SCHEMA_MISSING=1` to print every missing path.

use std::collections::{BTreeMap, BTreeSet};

use api::served_kinds;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value;

/// A schema with its definitions, walked into `path → JSON type` (the type is `""` where
/// the schema does not pin one, e.g. int-or-string).
struct Walk<'a> {
    defs: &'a serde_json::Map<String, Value>,
    paths: BTreeMap<String, String>,
    /// Definitions on the current branch, so that a recursive schema ends.
    stack: Vec<String>,
}

fn schema_of<T: JsonSchema>() -> (Value, serde_json::Map<String, Value>) {
    let mut g = SchemaGenerator::default();
    let root = g.root_schema_for::<T>();
    let mut root = root.to_value();
    let defs = root
        .as_object_mut()
        .and_then(|o| o.remove("$defs").or_else(|| o.remove("definitions")))
        .and_then(|d| match d {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    (root, defs)
}

fn paths_of<T: JsonSchema>() -> BTreeMap<String, String> {
    let (root, defs) = schema_of::<T>();
    let mut w = Walk { defs: &defs, paths: BTreeMap::new(), stack: Vec::new() };
    w.walk(&root, "");
    w.paths
}

impl Walk<'_> {
    fn walk(&mut self, s: &Value, path: &str) {
        let Some(o) = s.as_object() else { return };
        if let Some(Value::String(r)) = o.get("$ref") {
            let name = r.rsplit('/').next().unwrap_or(r).to_string();
            if self.stack.contains(&name) {
                return;
            }
            if let Some(def) = self.defs.get(&name) {
                self.stack.push(name);
                let def = def.clone();
                self.walk(&def, path);
                self.stack.pop();
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = o.get(key) {
                for b in branches {
                    self.walk(b, path);
                }
            }
        }
        if !path.is_empty() {
            let ty = type_of(o);
            let slot = self.paths.entry(path.to_string()).or_default();
            if slot.is_empty() {
                *slot = ty;
            }
        }
        if let Some(Value::Object(props)) = o.get("properties") {
            for (name, sub) in props {
                let p = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                self.walk(sub, &p);
            }
        }
        if let Some(items) = o.get("items") {
            self.walk(items, &format!("{path}[]"));
        }
        if let Some(extra @ Value::Object(_)) = o.get("additionalProperties") {
            self.walk(extra, &format!("{path}{{}}"));
        }
    }
}

/// The JSON type a schema pins, ignoring `null` (an optional field is still its type).
fn type_of(o: &serde_json::Map<String, Value>) -> String {
    match o.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

/// Types that may stand for each other: a number field may be an integer in shoal only
/// where upstream says number; int-or-string and free-form values have no pinned type.
fn compatible(upstream: &str, ours: &str) -> bool {
    upstream == ours || upstream.is_empty() || ours.is_empty()
}

/// Upstream's schema (root and definitions) for every kind shoal serves, keyed `group/version/Kind`.
fn upstream_schemas() -> BTreeMap<&'static str, (Value, serde_json::Map<String, Value>)> {
    use k8s_openapi::api::*;
    let mut m = BTreeMap::new();
    macro_rules! up {
        ($($key:literal => $ty:ty),* $(,)?) => { $( m.insert($key, schema_of::<$ty>()); )* };
    }
    up! {
        "v1/Namespace" => core::v1::Namespace,
        "v1/Node" => core::v1::Node,
        "v1/Pod" => core::v1::Pod,
        "v1/Service" => core::v1::Service,
        "v1/Endpoints" => core::v1::Endpoints,
        "v1/ReplicationController" => core::v1::ReplicationController,
        "v1/PersistentVolumeClaim" => core::v1::PersistentVolumeClaim,
        "v1/PersistentVolume" => core::v1::PersistentVolume,
        "v1/ConfigMap" => core::v1::ConfigMap,
        "v1/Secret" => core::v1::Secret,
        "v1/ServiceAccount" => core::v1::ServiceAccount,
        "v1/Event" => core::v1::Event,
        "apps/v1/Deployment" => apps::v1::Deployment,
        "apps/v1/ReplicaSet" => apps::v1::ReplicaSet,
        "apps/v1/StatefulSet" => apps::v1::StatefulSet,
        "apps/v1/DaemonSet" => apps::v1::DaemonSet,
        "apps/v1/ControllerRevision" => apps::v1::ControllerRevision,
        "batch/v1/Job" => batch::v1::Job,
        "batch/v1/CronJob" => batch::v1::CronJob,
        "autoscaling/v2/HorizontalPodAutoscaler" => autoscaling::v2::HorizontalPodAutoscaler,
        "autoscaling/v1/HorizontalPodAutoscaler" => autoscaling::v1::HorizontalPodAutoscaler,
        "coordination.k8s.io/v1/Lease" => coordination::v1::Lease,
        "events.k8s.io/v1/Event" => events::v1::Event,
        "storage.k8s.io/v1/StorageClass" => storage::v1::StorageClass,
        "discovery.k8s.io/v1/EndpointSlice" => discovery::v1::EndpointSlice,
        "policy/v1/PodDisruptionBudget" => policy::v1::PodDisruptionBudget,
    }
    m
}

/// Upstream's field paths for every kind, keyed as [`upstream_schemas`].
fn upstream() -> BTreeMap<&'static str, BTreeMap<String, String>> {
    upstream_schemas()
        .into_iter()
        .map(|(k, (root, defs))| {
            let mut w = Walk { defs: &defs, paths: BTreeMap::new(), stack: Vec::new() };
            w.walk(&root, "");
            (k, w.paths)
        })
        .collect()
}

/// shoal's schema for every served kind, keyed the same way.
fn ours() -> BTreeMap<String, BTreeMap<String, String>> {
    struct Collect(BTreeMap<String, BTreeMap<String, String>>);
    impl api::KindVisitor for Collect {
        fn visit<T: api::Resource>(&mut self) {
            let key = format!("{}/{}", T::INFO.api_version(), T::INFO.kind);
            self.0.insert(key, paths_of::<T>());
        }
    }
    let mut c = Collect(BTreeMap::new());
    api::for_each_kind(&mut c);
    c.0
}

#[test]
fn every_upstream_field_path_of_every_served_kind_is_in_shoals_schema() {
    let upstream = upstream();
    let ours = ours();
    let show_all = std::env::var_os("SHOAL_SCHEMA_MISSING").is_some();
    let mut failures = Vec::new();
    let (mut total, mut covered) = (0usize, 0usize);
    for kind in served_kinds() {
        let key = format!("{}/{}", kind.api_version(), kind.kind);
        let Some(theirs) = upstream.get(key.as_str()) else {
            failures.push(format!("{key}: no upstream schema to compare with (add it to upstream())"));
            continue;
        };
        let mine = &ours[&key];
        let missing: Vec<&String> = theirs.keys().filter(|p| !mine.contains_key(*p)).collect();
        let mistyped: Vec<String> = theirs
            .iter()
            .filter_map(|(p, t)| {
                let o = mine.get(p)?;
                (!compatible(t, o)).then(|| format!("{p}: upstream {t}, shoal {o}"))
            })
            .collect();
        total += theirs.len();
        covered += theirs.len() - missing.len();
        println!(
            "{key}: {} of {} upstream paths ({:.1}%), {} mistyped",
            theirs.len() - missing.len(),
            theirs.len(),
            100.0 * (theirs.len() - missing.len()) as f64 / theirs.len().max(1) as f64,
            mistyped.len()
        );
        if show_all {
            for p in &missing {
                println!("  missing {p}");
            }
        }
        for p in missing.iter().take(if show_all { usize::MAX } else { 20 }) {
            failures.push(format!("{key}: missing {p}"));
        }
        if missing.len() > 20 && !show_all {
            failures.push(format!("{key}: … and {} more missing", missing.len() - 20));
        }
        for m in mistyped {
            failures.push(format!("{key}: {m}"));
        }
    }
    let served: BTreeSet<String> = served_kinds().map(|k| format!("{}/{}", k.api_version(), k.kind)).collect();
    for key in upstream.keys() {
        if !served.contains(*key) {
            failures.push(format!("{key} has an upstream schema but is not served"));
        }
    }
    println!("all served kinds: {covered} of {total} upstream paths");
    assert!(failures.is_empty(), "schema coverage gaps:\n{}", failures.join("\n"));
}

#[test]
fn the_walker_sees_nested_paths() {
    let p = paths_of::<k8s_openapi::api::core::v1::Pod>();
    assert!(p.contains_key("spec.containers[].securityContext.capabilities.add[]"), "{p:?}");
    assert!(p.contains_key("metadata.labels{}"));
    let set: BTreeSet<_> = p.keys().collect();
    assert!(set.len() > 400);
}

/// A maximal instance of an upstream schema: every property present, with a value of its
/// type (strings `"x"`, integers 1, numbers 1.5, booleans true, one-element arrays,
/// one-entry maps; Quantity `"1"`, Time `2026-01-01T00:00:00Z`, IntOrString 1, free-form
/// objects `{"a":1}`). A recursive definition is cut off where it recurs.
struct Maximal<'a> {
    defs: &'a serde_json::Map<String, Value>,
    stack: Vec<String>,
}

impl Maximal<'_> {
    fn value(&mut self, s: &Value) -> Option<Value> {
        let o = s.as_object()?;
        if let Some(Value::String(r)) = o.get("$ref") {
            let name = r.rsplit('/').next().unwrap_or(r).to_string();
            match name.as_str() {
                "io.k8s.apimachinery.pkg.api.resource.Quantity" => return Some(Value::from("1")),
                "io.k8s.apimachinery.pkg.apis.meta.v1.Time" => return Some(Value::from("2026-01-01T00:00:00Z")),
                "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime" => {
                    return Some(Value::from("2026-01-01T00:00:00.000001Z"))
                }
                "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => return Some(Value::from(1)),
                _ => {}
            }
            if self.stack.contains(&name) {
                return None;
            }
            let def = self.defs.get(&name)?.clone();
            // k8s-openapi spells upstream's empty structs (e.g. a gang policy's `basic`)
            // as free-form objects; Go accepts only `{}` for them.
            if name.starts_with("io.k8s.api.") && def.get("properties").is_none() && def.get("additionalProperties").is_none() {
                return Some(serde_json::json!({}));
            }
            self.stack.push(name);
            let v = self.value(&def);
            self.stack.pop();
            return v;
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = o.get(key) {
                return branches.iter().find_map(|b| self.value(b));
            }
        }
        Some(match type_of(o).as_str() {
            "string" if o.get("format").and_then(Value::as_str) == Some("byte") => Value::from("eA=="),
            "string" => Value::from("x"),
            "integer" => Value::from(1),
            "number" => Value::from(1.5),
            "boolean" => Value::from(true),
            "array" => Value::Array(o.get("items").and_then(|i| self.value(i)).into_iter().collect()),
            _ => {
                if let Some(Value::Object(props)) = o.get("properties") {
                    let mut m = serde_json::Map::new();
                    for (name, sub) in props {
                        if let Some(v) = self.value(sub) {
                            m.insert(name.clone(), v);
                        }
                    }
                    Value::Object(m)
                } else if let Some(extra @ Value::Object(_)) = o.get("additionalProperties") {
                    let mut m = serde_json::Map::new();
                    if let Some(v) = self.value(extra) {
                        m.insert("k".into(), v);
                    }
                    Value::Object(m)
                } else {
                    serde_json::json!({ "a": 1 })
                }
            }
        })
    }
}

/// Decodes `input` as `T`, stores it as the store does (bincode in the versioned
/// envelope), reads it back and serializes it to JSON.
fn through_the_store<T: api::Resource>(input: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(input.clone()).map_err(|e| format!("decode: {e}"))?;
    let bytes = api::codec::encode(&typed).map_err(|e| format!("encode: {e}"))?;
    let back: T = api::codec::decode(&bytes).map_err(|e| format!("bincode decode: {e}"))?;
    serde_json::to_value(&back).map_err(|e| format!("serialize: {e}"))
}

/// Paths where two JSON values differ (`a.b[0].c: left vs right`).
fn differences(left: &Value, right: &Value, path: &str, out: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            for (k, lv) in l {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match r.get(k) {
                    Some(rv) => differences(lv, rv, &p, out),
                    None => out.push(format!("{p}: dropped")),
                }
            }
            for k in r.keys().filter(|k| !l.contains_key(*k)) {
                out.push(format!("{path}.{k}: added"));
            }
        }
        (Value::Array(l), Value::Array(r)) if l.len() == r.len() => {
            for (i, (lv, rv)) in l.iter().zip(r).enumerate() {
                differences(lv, rv, &format!("{path}[{i}]"), out);
            }
        }
        (l, r) if l != r => out.push(format!("{path}: sent {l}, got {r}")),
        _ => {}
    }
}

/// The JSON a client sends round-trips: for every served kind, a maximal instance of
/// upstream's schema is decoded into shoal's type, encoded for the store and decoded
/// again, and serializes to exactly the JSON that was sent.
#[test]
fn a_maximal_upstream_instance_of_every_served_kind_round_trips_through_the_store() {
    struct RoundTrip {
        schemas: BTreeMap<&'static str, (Value, serde_json::Map<String, Value>)>,
        failures: Vec<String>,
        checked: usize,
    }
    impl api::KindVisitor for RoundTrip {
        fn visit<T: api::Resource>(&mut self) {
            let key = format!("{}/{}", T::INFO.api_version(), T::INFO.kind);
            let Some((root, defs)) = self.schemas.get(key.as_str()) else {
                self.failures.push(format!("{key}: no upstream schema"));
                return;
            };
            let mut input = Maximal { defs, stack: Vec::new() }.value(root).unwrap_or_default();
            // A client sends the kind's own type meta (the events.k8s.io view sets it).
            input["apiVersion"] = Value::from(T::INFO.api_version());
            input["kind"] = Value::from(T::INFO.kind);
            match through_the_store::<T>(&input) {
                Err(e) => self.failures.push(format!("{key}: {e}")),
                Ok(output) => {
                    let mut diffs = Vec::new();
                    differences(&input, &output, "", &mut diffs);
                    self.failures.extend(diffs.into_iter().map(|d| format!("{key}: {d}")));
                }
            }
            self.checked += 1;
        }
    }
    let mut rt = RoundTrip { schemas: upstream_schemas(), failures: Vec::new(), checked: 0 };
    api::for_each_kind(&mut rt);
    assert!(rt.checked >= 17, "only {} kinds checked", rt.checked);
    assert!(rt.failures.is_empty(), "round-trip differences:\n{}", rt.failures.join("\n"));
}

#[test]
fn the_maximal_instance_has_every_field() {
    let (root, defs) = schema_of::<k8s_openapi::api::core::v1::Pod>();
    let v = Maximal { defs: &defs, stack: Vec::new() }.value(&root).unwrap();
    let c = &v["spec"]["initContainers"][0];
    assert_eq!(c["restartPolicy"], "x");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], 1);
    assert_eq!(v["spec"]["overhead"]["k"], "1");
    assert_eq!(v["metadata"]["creationTimestamp"], "2026-01-01T00:00:00Z");
    assert!(v["spec"]["volumes"][0]["projected"]["sources"][0]["downwardAPI"]["items"][0]["fieldRef"].is_object());
}
