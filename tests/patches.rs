//! Writes as clients send them: strategic merge patch, JSON patch, server-side apply with
//! managed fields and conflicts, dryRun; and the same through the real kubectl.

mod harness;



use harness::{Api, Cluster};
use serde_json::{json, Value};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(name: &str, replicas: i64, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}}
        }
    })
}

fn containers_of(d: &Value) -> Vec<(String, String)> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| (c["name"].as_str().unwrap_or("").to_string(), c["image"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn patch(api: &Api, path: &str, content_type: &str, body: &Value) -> (u16, Value) {
    api.send("PATCH", path, content_type, body.to_string().as_bytes()).expect("PATCH")
}

fn two_containers(api: &Api, name: &str) {
    let d = deployment(name, 1, json!([{"name": "web", "image": "hello:v1"}, {"name": "side", "image": "busybox:1"}]));
    let (code, body) = api.post(DEPLOYS, &d).expect("POST");
    assert_eq!(code, 201, "{body}");
}

#[test]
fn strategic_merge_patch_merges_containers_by_name_and_deletes_with_directive() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    two_containers(&api, "web");
    let path = format!("{DEPLOYS}/web");

    let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "hello:v2"}]}}}});
    let (code, body) = patch(&api, &path, "application/strategic-merge-patch+json", &p);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        containers_of(&body),
        vec![("web".into(), "hello:v2".into()), ("side".into(), "busybox:1".into())],
        "the other container is kept"
    );
    // The same patch as a JSON merge patch replaces the list, as Kubernetes does.
    let (_, stored) = api.get(&path).expect("GET");
    assert_eq!(containers_of(&stored).len(), 2);

    let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}});
    let (code, body) = patch(&api, &path, "application/strategic-merge-patch+json", &p);
    assert_eq!(code, 200, "{body}");
    assert_eq!(containers_of(&body), vec![("web".into(), "hello:v2".into())]);

    // A keyed item without its merge key is refused.
    let p = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let (code, body) = patch(&api, &path, "application/strategic-merge-patch+json", &p);
    assert_eq!(code, 422, "{body}");

    // A patch records an Update entry for its own manager, owning the fields it set.
    let p = json!({"spec": {"replicas": 4}});
    let (code, body) = patch(&api, &format!("{path}?fieldManager=patcher"), "application/strategic-merge-patch+json", &p);
    assert_eq!(code, 200, "{body}");
    let entries = body["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    let mine: Vec<&Value> = entries.iter().filter(|e| e["manager"] == "patcher").collect();
    assert_eq!(mine.len(), 1, "one entry for the patch's manager: {entries:?}");
    assert_eq!(mine[0]["operation"], "Update", "{entries:?}");
    assert_eq!(mine[0]["fieldsV1"]["f:spec"]["f:replicas"], json!({}), "{entries:?}");
}

#[test]
fn json_patch_test_failure_is_422_and_changes_nothing() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    two_containers(&api, "jp");
    let path = format!("{DEPLOYS}/jp");
    let p = json!([{"op": "test", "path": "/spec/replicas", "value": 7}, {"op": "replace", "path": "/spec/replicas", "value": 3}]);
    let (code, body) = patch(&api, &path, "application/json-patch+json", &p);
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["kind"], "Status");
    assert!(body["message"].as_str().unwrap().contains("/spec/replicas"), "{body}");
    let (_, stored) = api.get(&path).expect("GET");
    assert_eq!(stored["spec"]["replicas"], 1);

    let p = json!([{"op": "test", "path": "/spec/replicas", "value": 1}, {"op": "replace", "path": "/spec/replicas", "value": 3}]);
    let (code, body) = patch(&api, &path, "application/json-patch+json", &p);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["spec"]["replicas"], 3);
}

fn apply(api: &Api, name: &str, query: &str, body: &Value) -> (u16, Value) {
    api.send("PATCH", &format!("{DEPLOYS}/{name}?{query}"), "application/apply-patch+yaml", body.to_string().as_bytes())
        .expect("PATCH apply")
}

fn owners(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["manager"].as_str().unwrap_or("").to_string(), e["operation"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn server_side_apply_creates_conflicts_forces_and_removes() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let cfg = deployment("ssa", 1, json!([{"name": "web", "image": "hello:v1"}]));

    // fieldManager is required.
    let (code, body) = apply(&api, "ssa", "", &cfg);
    assert_eq!(code, 400, "{body}");

    // Apply creates.
    let (code, body) = apply(&api, "ssa", "fieldManager=alice", &cfg);
    assert_eq!(code, 201, "{body}");
    assert_eq!(owners(&body), vec![("alice".into(), "Apply".into())]);
    assert_eq!(body["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"], json!({}));

    // Another manager changing alice's field: 409 listing it.
    let (code, body) = apply(&api, "ssa", "fieldManager=bob", &json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ssa"}, "spec": {"replicas": 3}}));
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["reason"], "Conflict");
    let causes = body["details"]["causes"].as_array().expect("causes");
    assert_eq!(causes.len(), 1, "{body}");
    assert_eq!(causes[0]["reason"], "FieldManagerConflict");
    assert_eq!(causes[0]["field"], ".spec.replicas");
    assert_eq!(causes[0]["message"], "conflict with \"alice\"");
    assert!(body["message"].as_str().unwrap().starts_with("Apply failed with 1 conflict"), "{body}");

    // force=true wins and takes the field.
    let (code, body) = apply(&api, "ssa", "fieldManager=bob&force=true", &json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ssa"}, "spec": {"replicas": 3}}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["spec"]["replicas"], 3);
    assert_eq!(owners(&body).len(), 2);

    // Alice adds a label, then applies without it: the label goes.
    let mut with_label = cfg.clone();
    with_label["metadata"]["labels"]["tier"] = json!("front");
    with_label["spec"].as_object_mut().unwrap().remove("replicas");
    let (code, body) = apply(&api, "ssa", "fieldManager=alice", &with_label);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["metadata"]["labels"]["tier"], "front");
    with_label["metadata"]["labels"].as_object_mut().unwrap().remove("tier");
    let (code, body) = apply(&api, "ssa", "fieldManager=alice", &with_label);
    assert_eq!(code, 200, "{body}");
    assert!(body["metadata"]["labels"].get("tier").is_none(), "{body}");
    assert_eq!(body["spec"]["replicas"], 3, "bob's field stays");

    // A non-apply write shows up as an Update entry and conflicts with later applies.
    let (code, body) = patch(&api, &format!("{DEPLOYS}/ssa?fieldManager=scaler"), "application/merge-patch+json", &json!({"spec": {"replicas": 5}}));
    assert_eq!(code, 200, "{body}");
    assert!(owners(&body).contains(&("scaler".into(), "Update".into())), "{body}");
    let (code, body) = apply(&api, "ssa", "fieldManager=bob", &json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "ssa"}, "spec": {"replicas": 3}}));
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["details"]["causes"][0]["message"], "conflict with \"scaler\" using apps/v1");
}

#[test]
fn dry_run_answers_without_storing() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let d = deployment("dry", 1, json!([{"name": "web", "image": "hello:v1"}]));
    let (code, body) = api.send("POST", &format!("{DEPLOYS}?dryRun=All"), "application/json", d.to_string().as_bytes()).expect("POST");
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["metadata"]["name"], "dry");
    assert!(body["metadata"]["uid"].as_str().is_some_and(|u| !u.is_empty()), "{body}");
    let (code, _) = api.get(&format!("{DEPLOYS}/dry")).expect("GET");
    assert_eq!(code, 404, "a dry-run create stores nothing");

    let (code, body) = api.send("POST", &format!("{DEPLOYS}?dryRun=Some"), "application/json", d.to_string().as_bytes()).expect("POST");
    assert_eq!(code, 400, "{body}");

    // Stored for real, then dry-run patch, put, apply and delete leave it alone.
    let (code, created) = api.post(DEPLOYS, &d).expect("POST");
    assert_eq!(code, 201, "{created}");
    let path = format!("{DEPLOYS}/dry");
    let (code, body) = patch(&api, &format!("{path}?dryRun=All"), "application/merge-patch+json", &json!({"spec": {"replicas": 4}}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["spec"]["replicas"], 4);
    let mut put = created.clone();
    put["spec"]["replicas"] = json!(6);
    // Controllers write status meanwhile: no resourceVersion, so no 409 from the race.
    put["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    let (code, body) = api.send("PUT", &format!("{path}?dryRun=All"), "application/json", put.to_string().as_bytes()).expect("PUT");
    assert_eq!(code, 200, "{body}");
    let (code, body) = apply(&api, "dry", "fieldManager=x&force=true&dryRun=All", &json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "dry"}, "spec": {"replicas": 9}}));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["spec"]["replicas"], 9);
    // The /scale subresource honours dryRun too: the answer has the new count, the store not.
    let (code, body) = patch(&api, &format!("{path}/scale?dryRun=All"), "application/merge-patch+json", &json!({"spec": {"replicas": 7}}));
    assert_eq!(code, 200, "{body}");
    assert_eq!((body["kind"].as_str(), body["spec"]["replicas"].as_i64()), (Some("Scale"), Some(7)), "{body}");
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "dry"}, "spec": {"replicas": 8}});
    let (code, body) = api.send("PUT", &format!("{path}/scale?dryRun=All"), "application/json", scale.to_string().as_bytes()).expect("PUT");
    assert_eq!((code, body["spec"]["replicas"].as_i64()), (200, Some(8)), "{body}");
    let (code, body) = api.send("PUT", &format!("{path}/scale?dryRun=Some"), "application/json", scale.to_string().as_bytes()).expect("PUT");
    assert_eq!(code, 400, "{body}");
    let (code, body) = api.send("DELETE", &format!("{path}?dryRun=All"), "application/json", b"").expect("DELETE");
    assert_eq!(code, 200, "{body}");
    let (code, stored) = api.get(&path).expect("GET");
    assert_eq!(code, 200);
    assert_eq!(stored["spec"]["replicas"], 1);
    assert_eq!(stored["metadata"]["generation"], created["metadata"]["generation"], "no spec change was stored");
}

// ---- the real kubectl ----


/// The harness's kubectl with a manifest on stdin, as these tests pipe them.
struct Kubectl(harness::Kubectl);

impl Kubectl {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String) {
        let r = self.0.run_with_stdin(args, stdin);
        (r.success(), r.output())
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, text) = self.run(args, stdin);
        assert!(ok, "kubectl {args:?} failed: {text}");
        text
    }

    fn deploy(&self, name: &str) -> Value {
        serde_json::from_str(&self.0.ok(&["get", "deploy", name, "-o", "json", "--show-managed-fields"])).expect("JSON")
    }
}

fn manifest(replicas: i64, image: &str, extra_label: Option<&str>) -> String {
    let extra = extra_label.map(|l| format!("\n    {l}")).unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web{extra}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: {image}\n"
    )
}

#[test]
fn kubectl_server_side_apply_patch_and_client_side_apply() {
    let cluster = Cluster::embedded();
    let k = Kubectl(cluster.kubectl());

    // Server-side apply, a conflicting second manager, then --force-conflicts.
    k.ok(&["apply", "--server-side", "--validate=false", "-f", "-"], Some(&manifest(1, "hello:v1", None)));
    let (ok, text) = k.run(
        &["apply", "--server-side", "--validate=false", "--field-manager=other", "-f", "-"],
        Some(&manifest(4, "hello:v1", None)),
    );
    assert!(!ok, "expected a conflict: {text}");
    assert!(text.contains("conflict") && text.contains(".spec.replicas"), "{text}");
    k.ok(
        &["apply", "--server-side", "--validate=false", "--field-manager=other", "--force-conflicts", "-f", "-"],
        Some(&manifest(4, "hello:v1", None)),
    );
    assert_eq!(k.deploy("web")["spec"]["replicas"], 4);

    // kubectl patch: strategic (the default), merge, json.
    k.ok(&["patch", "deploy", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"hello:v2"}]}}}}"#], None);
    assert_eq!(containers_of(&k.deploy("web")), vec![("web".into(), "hello:v2".into())]);
    k.ok(&["patch", "deploy", "web", "--type=merge", "-p", r#"{"metadata":{"labels":{"patched":"yes"}}}"#], None);
    assert_eq!(k.deploy("web")["metadata"]["labels"]["patched"], "yes");
    k.ok(&["patch", "deploy", "web", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#], None);
    assert_eq!(k.deploy("web")["spec"]["replicas"], 2);
    let (ok, text) = k.run(&["patch", "deploy", "web", "--type=json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":9}]"#], None);
    assert!(!ok, "{text}");

    // Client-side apply of another object: created, unchanged, configured, field removed.
    let m1 = manifest(1, "hello:v1", Some("tier: front")).replace("name: web\n  labels", "name: cs\n  labels");
    let out = k.ok(&["apply", "--validate=false", "-f", "-"], Some(&m1));
    assert!(out.contains("created"), "{out}");
    let out = k.ok(&["apply", "--validate=false", "-f", "-"], Some(&m1));
    assert!(out.contains("unchanged"), "{out}");
    let m2 = m1.replace("replicas: 1", "replicas: 2");
    let out = k.ok(&["apply", "--validate=false", "-f", "-"], Some(&m2));
    assert!(out.contains("configured"), "{out}");
    assert_eq!(k.deploy("cs")["spec"]["replicas"], 2);
    let m3 = m2.replace("\n    tier: front", "");
    let out = k.ok(&["apply", "--validate=false", "-f", "-"], Some(&m3));
    assert!(out.contains("configured"), "{out}");
    let cs = k.deploy("cs");
    assert!(cs["metadata"]["labels"].get("tier").is_none(), "{cs}");
    assert!(cs["metadata"]["managedFields"].as_array().is_some_and(|a| a
        .iter()
        .any(|e| e["manager"] == "kubectl-client-side-apply" && e["operation"] == "Update")), "{cs}");
}
