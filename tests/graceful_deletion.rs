//! Graceful deletion of pods, as upstream: a DELETE of a pod bound to a node keeps it
//! with a deletionTimestamp (Terminating) until the node deletes it with grace 0; a pod no
//! node runs goes at once; `gracePeriodSeconds=0` forces; kubectl waits for the pod to go
//! and shows it Terminating meanwhile.

mod harness;

use std::time::Duration;

use harness::{wait_for, Cluster};
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str, spec: Value) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}});
    if let (Some(s), Some(extra)) = (p["spec"].as_object_mut(), spec.as_object()) {
        s.extend(extra.clone());
    }
    p
}

fn create(api: &harness::Api, p: &Value) -> Value {
    let (code, body) = api.post(PODS, p).expect("create pod");
    assert_eq!(code, 201, "{body}");
    body
}

fn get_code(api: &harness::Api, name: &str) -> u16 {
    api.get(&format!("{PODS}/{name}")).expect("get pod").0
}

/// A Node object no agent runs: its pods are never finished by a node.
fn create_ghost_node(api: &harness::Api) {
    let (code, body) = api.post("/api/v1/nodes", &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ghost"}})).expect("create node");
    assert_eq!(code, 201, "{body}");
}

#[test]
fn a_bound_pod_terminates_until_its_node_removes_it_and_an_unbound_one_goes_at_once() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 1);
    let api = cluster.api();

    // Bound to a simulated node: MODIFIED with a deletionTimestamp, then DELETED by the node.
    create(&api, &pod("bound", json!({"nodeName": "sim-0", "terminationGracePeriodSeconds": 20})));
    let rv = wait_for("bound Running", Duration::from_secs(20), || {
        let (_, p) = api.get(&format!("{PODS}/bound")).map_err(|e| e.to_string())?;
        match p["status"]["phase"].as_str() {
            Some("Running") => Ok(p["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string()),
            other => Err(format!("phase {other:?}")),
        }
    });
    let watch = api.watch(&format!("{PODS}?watch=true&fieldSelector=metadata.name%3Dbound&resourceVersion={rv}"));
    let (code, body) = api.delete(&format!("{PODS}/bound")).expect("delete");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "Pod", "the object is answered while it terminates: {body}");
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
    assert_eq!(body["metadata"]["deletionGracePeriodSeconds"], 20, "{body}");
    let mut types = Vec::new();
    while let Some(ev) = watch.next(Duration::from_secs(15)) {
        types.push(ev["type"].as_str().unwrap_or("").to_string());
        if ev["type"] == "MODIFIED" {
            assert!(ev["object"]["metadata"]["deletionTimestamp"].is_string(), "{ev}");
        }
        if ev["type"] == "DELETED" {
            break;
        }
    }
    assert_eq!(types.first().map(String::as_str), Some("MODIFIED"), "{types:?}");
    assert_eq!(types.last().map(String::as_str), Some("DELETED"), "{types:?}");
    assert_eq!(get_code(&api, "bound"), 404);

    // Not bound to any node (no node matches its selector): gone at once.
    create(&api, &pod("unbound", json!({"nodeSelector": {"nowhere": "true"}, "terminationGracePeriodSeconds": 20})));
    let (code, body) = api.delete(&format!("{PODS}/unbound")).expect("delete");
    assert_eq!(code, 200, "{body}");
    assert_eq!(get_code(&api, "unbound"), 404, "an unbound pod has no grace");

    // On a node that never finishes it: Terminating, a shorter grace moves the deadline,
    // a longer one does not, and gracePeriodSeconds=0 (query or body) forces it out.
    create_ghost_node(&api);
    for name in ["ghost-a", "ghost-b"] {
        create(&api, &pod(name, json!({"nodeName": "ghost", "terminationGracePeriodSeconds": 600})));
        let (code, body) = api.delete(&format!("{PODS}/{name}")).expect("delete");
        assert_eq!((code, body["metadata"]["deletionGracePeriodSeconds"].as_i64()), (200, Some(600)), "{body}");
    }
    let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 300});
    let (code, shorter) = api.send("DELETE", &format!("{PODS}/ghost-a"), "application/json", body.to_string().as_bytes()).expect("delete");
    assert_eq!((code, shorter["metadata"]["deletionGracePeriodSeconds"].as_i64()), (200, Some(300)), "{shorter}");
    let (_, longer) = api.delete(&format!("{PODS}/ghost-a?gracePeriodSeconds=900")).expect("delete");
    assert_eq!(longer["metadata"]["deletionGracePeriodSeconds"], 300, "never lengthened: {longer}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get_code(&api, "ghost-a"), 200, "no node finishes it");
    let (code, _) = api.delete(&format!("{PODS}/ghost-a?gracePeriodSeconds=0")).expect("force");
    assert_eq!((code, get_code(&api, "ghost-a")), (200, 404), "forced by the query");
    let body = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0});
    let (code, _) = api.send("DELETE", &format!("{PODS}/ghost-b"), "application/json", body.to_string().as_bytes()).expect("force");
    assert_eq!((code, get_code(&api, "ghost-b")), (200, 404), "forced by the body");
}

#[test]
fn kubectl_waits_for_a_deleted_pod_and_shows_it_terminating() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 1);
    let api = cluster.api();
    let kubectl = cluster.kubectl();

    // kubectl delete returns once the simulated node has removed the pod.
    create(&api, &pod("web", json!({"nodeName": "sim-0"})));
    wait_for("web Running", Duration::from_secs(20), || {
        let (_, p) = api.get(&format!("{PODS}/web")).map_err(|e| e.to_string())?;
        if p["status"]["phase"] == "Running" { Ok(()) } else { Err(p["status"].to_string()) }
    });
    let out = kubectl.ok(&["delete", "pod", "web"]);
    assert!(out.contains("pod \"web\" deleted"), "{out}");
    assert_eq!(get_code(&api, "web"), 404, "kubectl delete returned before the pod was gone");

    // A pod on a node with no agent stays Terminating; kubectl --force --grace-period=0 ends it.
    create_ghost_node(&api);
    create(&api, &pod("stuck", json!({"nodeName": "ghost", "terminationGracePeriodSeconds": 600})));
    kubectl.ok(&["delete", "pod", "stuck", "--wait=false"]);
    let table = kubectl.ok(&["get", "pods"]);
    let row = table.lines().find(|l| l.starts_with("stuck ")).unwrap_or_else(|| panic!("no row for stuck:\n{table}"));
    assert!(row.split_whitespace().any(|c| c == "Terminating"), "{table}");
    std::thread::sleep(Duration::from_secs(2));
    let p = kubectl.json(&["get", "pod", "stuck"]);
    assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p}");
    let forced = kubectl.run(&["delete", "pod", "stuck", "--force", "--grace-period=0"]);
    assert!(forced.success(), "{}", forced.text());
    assert_eq!(get_code(&api, "stuck"), 404);
}
