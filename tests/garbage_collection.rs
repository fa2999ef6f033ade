//! Deletes and their propagation through the HTTP API: Background, Orphan and Foreground
//! deletes of a ReplicaSet that owns Pods by hand-written ownerReferences, and a custom
//! finalizer holding a delete until it is removed.
//!
//! The ReplicaSet has `replicas: 0` and its Pods carry labels its selector does not match
//! (and `controller: false` references), so the ReplicaSet controller neither adopts nor
//! deletes them; the Pods select no node, so no node-host touches them either. What
//! happens to them is the garbage collector's doing.

mod harness;

use std::time::Duration;

use harness::{wait_for, Api, Cluster};
use serde_json::{json, Value};

const RS_PATH: &str = "/apis/apps/v1/namespaces/default/replicasets";
const POD_PATH: &str = "/api/v1/namespaces/default/pods";
const DEADLINE: Duration = Duration::from_secs(30);

/// Creates the ReplicaSet `name` (with these finalizers) and returns its uid.
fn create_owner(api: &Api, name: &str, finalizers: &[&str]) -> String {
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "finalizers": finalizers},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": format!("{name}-template")}},
            "template": {
                "metadata": {"labels": {"app": format!("{name}-template")}},
                "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}
            }
        }
    });
    let (code, body) = api.post(RS_PATH, &rs).expect("POST replicaset");
    assert_eq!(code, 201, "{body}");
    body["metadata"]["uid"].as_str().expect("uid").to_string()
}

/// Creates `count` Pods `{owner}-{i}` referring to the ReplicaSet (not as controller).
fn create_dependents(api: &Api, owner: &str, owner_uid: &str, count: usize, finalizers: &[&str]) -> Vec<String> {
    (0..count)
        .map(|i| {
            let name = format!("{owner}-{i}");
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": name,
                    "labels": {"gc-test": owner},
                    "finalizers": finalizers,
                    "ownerReferences": [{
                        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner_uid,
                        "controller": false, "blockOwnerDeletion": true
                    }]
                },
                "spec": {
                    "nodeSelector": {"gc-test.example.com/nowhere": "true"},
                    "containers": [{"name": "c", "image": "hello:v1"}]
                }
            });
            let (code, body) = api.post(POD_PATH, &pod).expect("POST pod");
            assert_eq!(code, 201, "{body}");
            name
        })
        .collect()
}

fn delete_with(api: &Api, path: &str, policy: &str) -> Value {
    let opts = json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy});
    let (code, body) = api.send("DELETE", path, "application/json", opts.to_string().as_bytes()).expect("DELETE");
    assert_eq!(code, 200, "DELETE {path} ({policy}) answered {code}: {body}");
    body
}

fn merge_patch(api: &Api, path: &str, patch: &Value) -> Value {
    let (code, body) =
        api.send("PATCH", path, "application/merge-patch+json", patch.to_string().as_bytes()).expect("PATCH");
    assert_eq!(code, 200, "PATCH {path} answered {code}: {body}");
    body
}

fn rs_path(name: &str) -> String {
    format!("{RS_PATH}/{name}")
}

fn pod_path(name: &str) -> String {
    format!("{POD_PATH}/{name}")
}

/// The object at `path`, or None once it is gone (404).
fn get(api: &Api, path: &str) -> Option<Value> {
    match api.get(path).expect("GET") {
        (200, v) => Some(v),
        (404, _) => None,
        (code, v) => panic!("GET {path} answered {code}: {v}"),
    }
}

fn wait_gone(api: &Api, what: &str, path: &str) {
    wait_for(what, DEADLINE, || match get(api, path) {
        None => Ok(()),
        Some(v) => Err(v["metadata"].to_string()),
    });
}

/// Checks for a while that the object at `path` stays there, being deleted.
fn assert_held(api: &Api, path: &str, for_: Duration) -> Value {
    let end = std::time::Instant::now() + for_;
    loop {
        let obj = get(api, path).unwrap_or_else(|| panic!("{path} went away while it should be held"));
        assert!(obj["metadata"]["deletionTimestamp"].is_string(), "{path} is not being deleted: {}", obj["metadata"]);
        if std::time::Instant::now() >= end {
            return obj;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn background_delete_of_a_replicaset_deletes_its_pods() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let uid = create_owner(&api, "bg", &[]);
    let pods = create_dependents(&api, "bg", &uid, 3, &[]);

    let body = delete_with(&api, &rs_path("bg"), "Background");
    assert_eq!(body["status"], "Success", "a Background delete without finalizers completes at once: {body}");
    assert!(get(&api, &rs_path("bg")).is_none());
    for p in &pods {
        wait_gone(&api, &format!("pod {p} to be collected after its owner went"), &pod_path(p));
    }
}

#[test]
fn orphan_delete_keeps_pods_and_strips_their_owner_references() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let uid = create_owner(&api, "orph", &[]);
    let pods = create_dependents(&api, "orph", &uid, 3, &[]);

    let body = delete_with(&api, &rs_path("orph"), "Orphan");
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "the owner waits for the collector: {body}");
    assert!(
        body["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f == "orphan")),
        "{body}"
    );
    wait_gone(&api, "the orphaning ReplicaSet to go", &rs_path("orph"));
    for p in &pods {
        let pod = get(&api, &pod_path(p)).unwrap_or_else(|| panic!("orphaned pod {p} was deleted"));
        let refs = &pod["metadata"]["ownerReferences"];
        assert!(refs.is_null() || refs.as_array().is_some_and(Vec::is_empty), "pod {p} still has owners: {refs}");
        assert!(pod["metadata"]["deletionTimestamp"].is_null(), "pod {p} is being deleted: {}", pod["metadata"]);
    }
    // And they stay: nothing collects a pod without owners.
    std::thread::sleep(Duration::from_secs(2));
    for p in &pods {
        assert!(get(&api, &pod_path(p)).is_some(), "orphaned pod {p} disappeared later");
    }
}

#[test]
fn foreground_delete_keeps_the_replicaset_until_its_pods_are_gone() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let uid = create_owner(&api, "fg", &[]);
    let mut pods = create_dependents(&api, "fg", &uid, 2, &[]);
    // One pod is held by a finalizer of the test's own, so the owner must wait for it.
    let held = "fg-held".to_string();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": held, "labels": {"gc-test": "fg"}, "finalizers": ["example.com/hold"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "fg", "uid": uid,
                                 "controller": false, "blockOwnerDeletion": true}]
        },
        "spec": {"nodeSelector": {"gc-test.example.com/nowhere": "true"}, "containers": [{"name": "c", "image": "hello:v1"}]}
    });
    let (code, body) = api.post(POD_PATH, &pod).expect("POST pod");
    assert_eq!(code, 201, "{body}");

    let body = delete_with(&api, &rs_path("fg"), "Foreground");
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
    assert!(
        body["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f == "foregroundDeletion")),
        "{body}"
    );
    for p in &pods {
        wait_gone(&api, &format!("pod {p} to be deleted by the foreground delete"), &pod_path(p));
    }
    wait_for("the held pod to be marked for deletion", DEADLINE, || match get(&api, &pod_path(&held)) {
        Some(p) if p["metadata"]["deletionTimestamp"].is_string() => Ok(()),
        other => Err(format!("{other:?}")),
    });
    let rs = assert_held(&api, &rs_path("fg"), Duration::from_secs(2));
    assert!(
        rs["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f == "foregroundDeletion")),
        "{}",
        rs["metadata"]
    );

    merge_patch(&api, &pod_path(&held), &json!({"metadata": {"finalizers": null}}));
    pods.push(held);
    for p in &pods {
        wait_gone(&api, &format!("pod {p} to go"), &pod_path(p));
    }
    wait_gone(&api, "the ReplicaSet to go once its pods are gone", &rs_path("fg"));
}

#[test]
fn custom_finalizer_holds_a_delete_until_it_is_removed() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let uid = create_owner(&api, "hold", &["example.com/hold"]);
    let pods = create_dependents(&api, "hold", &uid, 2, &[]);

    let body = delete_with(&api, &rs_path("hold"), "Background");
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
    let rs = assert_held(&api, &rs_path("hold"), Duration::from_secs(2));
    assert_eq!(rs["metadata"]["finalizers"], json!(["example.com/hold"]));
    // The owner still exists, so its pods are not collected yet.
    for p in &pods {
        assert!(get(&api, &pod_path(p)).is_some(), "pod {p} was collected while its owner is still there");
    }

    // Removing the finalizer with a PUT completes the delete.
    let (code, body) = api.modify(&rs_path("hold"), |rs| rs["metadata"]["finalizers"] = json!([])).expect("PUT");
    assert_eq!(code, 200, "{body}");
    wait_gone(&api, "the ReplicaSet to go once its finalizer is removed", &rs_path("hold"));
    for p in &pods {
        wait_gone(&api, &format!("pod {p} to be collected"), &pod_path(p));
    }
}

#[test]
fn unknown_propagation_policy_is_refused() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    create_owner(&api, "bad", &[]);
    let opts = json!({"propagationPolicy": "Sideways"});
    let (code, body) =
        api.send("DELETE", &rs_path("bad"), "application/json", opts.to_string().as_bytes()).expect("DELETE");
    assert_eq!(code, 422, "{body}");
    assert!(get(&api, &rs_path("bad")).is_some(), "a refused delete deleted");
    let (code, body) = api.delete(&format!("{}?propagationPolicy=Orphan", rs_path("bad"))).expect("DELETE");
    assert_eq!(code, 200, "{body}");
    assert!(body["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|f| f == "orphan")), "{body}");
    wait_gone(&api, "the orphaning ReplicaSet without dependents to go", &rs_path("bad"));
}
