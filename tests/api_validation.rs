//! Every validation rule: a bad object gets 422 naming the field, and nothing is stored.
//! Also the transport errors: malformed bodies (400), oversized bodies (413), unknown
//! paths (404), and unknown fields (dropped, with a Warning).

mod harness;

use harness::{Api, Cluster};
use serde_json::{json, Value};

fn pod(name: &str, containers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers}})
}

fn deployment(name: &str, replicas: i64, selector: Value, template_labels: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": selector,
            "template": {"metadata": {"labels": template_labels}, "spec": {"containers": [{"name": "web", "image": "hello:v1"}]}}
        }
    })
}

/// Posts `body` to `collection`, expects 422 with a cause on `field`, and checks that
/// nothing named `name` was stored.
fn expect_invalid(api: &Api, collection: &str, body: &Value, field: &str) {
    let (code, status) = api.post(collection, body).expect("POST");
    assert_eq!(code, 422, "expected 422 for {field}, got {code}: {status}");
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Invalid");
    let causes = status["details"]["causes"].as_array().cloned().unwrap_or_default();
    assert!(
        causes.iter().any(|c| c["field"] == field),
        "no cause names {field}: {status}"
    );
    assert!(status["message"].as_str().unwrap_or("").contains(field), "message does not name {field}: {status}");
    let name = body["metadata"]["name"].as_str().unwrap_or("");
    if !name.is_empty() && name.len() < 250 {
        let (code, _) = api.get(&format!("{collection}/{name}")).expect("GET");
        assert_eq!(code, 404, "{name} was stored although invalid");
    }
    let (_, list) = api.get(collection).expect("LIST");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "something was stored: {list}");
}

const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[test]
fn every_validation_rule_rejects_with_422_and_stores_nothing() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let web = json!([{"name": "web", "image": "hello:v1"}]);

    // Names: DNS-1123 subdomain, length.
    expect_invalid(&api, PODS, &pod("Bad_Name", web.clone()), "metadata.name");
    expect_invalid(&api, PODS, &pod(&"a".repeat(254), web.clone()), "metadata.name");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "has.dot"}});
    let (code, _) = api.post("/api/v1/namespaces", &ns).unwrap();
    assert_eq!(code, 422, "namespace names are DNS-1123 labels");

    // Labels: key syntax and value syntax.
    let mut p = pod("labels-key", web.clone());
    p["metadata"]["labels"] = json!({"bad key!": "x"});
    expect_invalid(&api, PODS, &p, "metadata.labels");
    let mut p = pod("labels-value", web.clone());
    p["metadata"]["labels"] = json!({"app": "-bad-"});
    expect_invalid(&api, PODS, &p, "metadata.labels");

    // Containers: unique names.
    expect_invalid(
        &api,
        PODS,
        &pod("dup-names", json!([{"name": "a", "image": "x"}, {"name": "a", "image": "y"}])),
        "spec.containers[1].name",
    );
    // Ports in 1..=65535.
    expect_invalid(
        &api,
        PODS,
        &pod("port-high", json!([{"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}])),
        "spec.containers[0].ports[0].containerPort",
    );
    expect_invalid(
        &api,
        PODS,
        &pod("port-zero", json!([{"name": "a", "image": "x", "ports": [{"containerPort": 0}]}])),
        "spec.containers[0].ports[0].containerPort",
    );
    // Two containers of one pod on the same port and protocol: one network stack.
    expect_invalid(
        &api,
        PODS,
        &pod(
            "port-clash",
            json!([
                {"name": "a", "image": "x", "ports": [{"containerPort": 8080}]},
                {"name": "b", "image": "y", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}
            ]),
        ),
        "spec.containers[1].ports[0].containerPort",
    );
    // The same port on different protocols is fine.
    let ok = pod(
        "port-tcp-udp",
        json!([
            {"name": "a", "image": "x", "ports": [{"containerPort": 53, "protocol": "TCP"}]},
            {"name": "b", "image": "y", "ports": [{"containerPort": 53, "protocol": "UDP"}]}
        ]),
    );
    assert_eq!(api.post(PODS, &ok).unwrap().0, 201);
    assert_eq!(api.delete(&format!("{PODS}/port-tcp-udp")).unwrap().0, 200);

    // Quantities are parsed exactly.
    expect_invalid(
        &api,
        PODS,
        &pod("bad-cpu", json!([{"name": "a", "image": "x", "resources": {"requests": {"cpu": "1.5.5"}}}])),
        "spec.containers[0].resources.requests[cpu]",
    );
    expect_invalid(
        &api,
        PODS,
        &pod("bad-mem", json!([{"name": "a", "image": "x", "resources": {"limits": {"memory": "5GB"}}}])),
        "spec.containers[0].resources.limits[memory]",
    );

    // Workloads: replicas >= 0, selector matches the template.
    expect_invalid(
        &api,
        DEPLOYS,
        &deployment("neg", -1, json!({"matchLabels": {"app": "web"}}), json!({"app": "web"})),
        "spec.replicas",
    );
    expect_invalid(
        &api,
        DEPLOYS,
        &deployment("mismatch", 1, json!({"matchLabels": {"app": "web"}}), json!({"app": "other"})),
        "spec.template.metadata.labels",
    );
    expect_invalid(
        &api,
        "/apis/apps/v1/namespaces/default/replicasets",
        &json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs-expr"},
            "spec": {"replicas": 1,
                     "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]},
                     "template": {"metadata": {"labels": {"tier": "web"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}}
        }),
        "spec.template.metadata.labels",
    );

    // An update is validated too, and leaves the stored object as it was.
    let good = deployment("good", 2, json!({"matchLabels": {"app": "web"}}), json!({"app": "web"}));
    let (code, created) = api.post(DEPLOYS, &good).unwrap();
    assert_eq!(code, 201, "{created}");
    let mut bad = created.clone();
    bad["spec"]["replicas"] = json!(-5);
    // Without a resourceVersion the update is unconditional, so the Deployment controller's
    // own writes to the object cannot turn the expected 422 into a 409 Conflict.
    if let Some(m) = bad["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    let (code, status) = api.put(&format!("{DEPLOYS}/good"), &bad).unwrap();
    assert_eq!(code, 422, "{status}");
    let (_, now) = api.get(&format!("{DEPLOYS}/good")).unwrap();
    assert_eq!(now["spec"]["replicas"], 2);
    // (The Deployment controller may have written status meanwhile; the spec is untouched.)
    assert_eq!(now["metadata"]["generation"], created["metadata"]["generation"]);
    assert_eq!(now["spec"], created["spec"]);
}

#[test]
fn malformed_oversized_and_unknown_requests_get_their_status_codes() {
    let cluster = Cluster::embedded();
    let api = cluster.api();

    let (code, status) = api.send("POST", PODS, "application/json", b"{\"apiVersion\": \"v1\", \"kind\":").unwrap();
    assert_eq!(code, 400, "{status}");
    assert_eq!(status["kind"], "Status");
    let (code, status) = api.send("POST", PODS, "application/yaml", b"apiVersion: v1\nkind: [Pod\n").unwrap();
    assert_eq!(code, 400, "{status}");

    let big = format!("{{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{{\"name\":\"big\",\"annotations\":{{\"a\":\"{}\"}}}}}}", "x".repeat(3 * 1024 * 1024 + 10));
    let (code, status) = api.send("POST", PODS, "application/json", big.as_bytes()).unwrap();
    assert_eq!(code, 413, "{status}");

    let (code, status) = api.get("/api/v1/namespaces/default/widgets").unwrap();
    assert_eq!(code, 404, "{status}");
    assert_eq!(status["kind"], "Status");
    let (code, _) = api.get("/apis/nothing.example/v1/things").unwrap();
    assert_eq!(code, 404);
    let (code, _) = api.get(&format!("{PODS}/absent")).unwrap();
    assert_eq!(code, 404);

    // YAML bodies work; unknown fields are dropped with a Warning.
    let yaml = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: from-yaml\nspec:\n  colour: blue\n  containers:\n  - name: web\n    image: hello:v1\n    flavour: sweet\n";
    let (code, obj, warnings) = api.send_with_warnings("POST", PODS, "application/yaml", yaml).unwrap();
    assert_eq!(code, 201, "{obj}");
    assert!(warnings.iter().any(|w| w.contains("unknown field \\\"spec.colour\\\"")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("spec.containers[0].flavour")), "{warnings:?}");
    assert!(obj["spec"].get("colour").is_none());

    // A namespace that does not exist.
    let (code, status) = api.post("/api/v1/namespaces/nowhere/pods", &pod("p", json!([{"name": "a", "image": "x"}]))).unwrap();
    assert_eq!(code, 404, "{status}");
}

#[test]
fn patches_honour_field_validation_too() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let (code, _) = api.post(DEPLOYS, &deployment("p", 1, json!({"matchLabels": {"app": "p"}}), json!({"app": "p"}))).unwrap();
    assert_eq!(code, 201);
    let patch = br#"{"spec": {"replicas": 2, "colour": "blue"}}"#;
    let path = format!("{DEPLOYS}/p?fieldValidation=Strict");
    let (code, status) = api.send("PATCH", &path, "application/merge-patch+json", patch).unwrap();
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap_or("").contains("unknown field \"spec.colour\""), "{status}");
    let (_, d) = api.get(&format!("{DEPLOYS}/p")).unwrap();
    assert_eq!(d["spec"]["replicas"], 1, "a refused patch changes nothing");
    let dup = br#"{"spec": {"replicas": 2, "replicas": 3}}"#;
    let (code, status) = api.send("PATCH", &path, "application/merge-patch+json", dup).unwrap();
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap_or("").contains("duplicate field"), "{status}");
    let (code, _) = api.send("PATCH", &format!("{DEPLOYS}/p?fieldValidation=Ignore"), "application/merge-patch+json", patch).unwrap();
    assert_eq!(code, 200);
}

#[test]
fn a_media_type_the_api_cannot_serve_gets_406() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    let (code, status) = api.get_with(PODS, "application/vnd.kubernetes.protobuf").unwrap();
    assert_eq!(code, 406, "{status}");
    assert_eq!(status["reason"], "NotAcceptable");
    let (code, _) = api.get_with(PODS, "application/vnd.kubernetes.protobuf,application/json").unwrap();
    assert_eq!(code, 200);
    let (code, _) = api.get_with(PODS, "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1").unwrap();
    assert_eq!(code, 406);
}
