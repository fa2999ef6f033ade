//! The Endpoints and EndpointSlice controller: a Service selecting a Deployment's pods
//! gets an Endpoints object and an EndpointSlice of their addresses and resolved ports,
//! kept up as the Deployment scales; a Service without a selector is left alone; both
//! go with the Service.

mod harness;

use std::time::Duration;

use harness::{wait_for, Api, Cluster};
use serde_json::{json, Value};

const SVCS: &str = "/api/v1/namespaces/default/services";
const EPS: &str = "/api/v1/namespaces/default/endpoints";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn get(api: &Api, path: &str) -> (u16, Value) {
    api.get(path).expect("GET")
}

fn slices_of(api: &Api, svc: &str) -> Vec<Value> {
    let (code, v) = get(api, &format!("{SLICES}?labelSelector=kubernetes.io%2Fservice-name%3D{svc}"));
    assert_eq!(code, 200, "{v}");
    v["items"].as_array().cloned().unwrap_or_default()
}

fn ready_addresses(ep: &Value) -> usize {
    ep["subsets"].as_array().map_or(0, |ss| ss.iter().map(|s| s["addresses"].as_array().map_or(0, Vec::len)).sum())
}

/// Waits until the Service has Endpoints with `n` ready addresses and one slice with `n`
/// ready endpoints; returns both.
fn wait_endpoints(api: &Api, svc: &str, n: usize) -> (Value, Value) {
    wait_for(&format!("{svc}: {n} ready endpoints"), Duration::from_secs(30), || {
        let (code, ep) = get(api, &format!("{EPS}/{svc}"));
        if code != 200 {
            return Err(format!("endpoints: {code}"));
        }
        let slices = slices_of(api, svc);
        let ready = |s: &Value| {
            s["endpoints"].as_array().map_or(0, |es| es.iter().filter(|e| e["conditions"]["ready"] == true).count())
        };
        let total = |s: &Value| s["endpoints"].as_array().map_or(0, Vec::len);
        match slices.as_slice() {
            [s] if ready_addresses(&ep) == n && ready(s) == n && total(s) == n => Ok((ep, s.clone())),
            _ => Err(format!("endpoints {ep}, slices {slices:?}")),
        }
    })
}

#[test]
fn services_get_endpoints_and_slices_from_their_pods() {
    let mut c = Cluster::embedded();
    c.add_simulated_nodes("ep", 2);
    let api = c.api();

    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "hello:v1",
                                                  "ports": [{"name": "http-alt", "containerPort": 8080}]}]}}
        }
    });
    let (code, v) = api.post(DEPLOYS, &deploy).unwrap();
    assert_eq!(code, 201, "{v}");
    let svc = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http-alt"},
                           {"name": "metrics", "port": 9090, "targetPort": 9100}]}
    });
    let (code, v) = api.post(SVCS, &svc).unwrap();
    assert_eq!(code, 201, "{v}");
    let svc_uid = v["metadata"]["uid"].as_str().unwrap().to_string();

    let (ep, slice) = wait_endpoints(&api, "web", 3);
    let mut ports: Vec<(String, i64)> = ep["subsets"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["port"].as_i64().unwrap()))
        .collect();
    ports.sort();
    assert_eq!(ports, vec![("http".into(), 8080), ("metrics".into(), 9100)], "{ep}");
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
    assert_eq!(slice["metadata"]["ownerReferences"][0]["uid"], svc_uid.as_str());
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    let mut sports: Vec<(String, i64)> = slice["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["port"].as_i64().unwrap()))
        .collect();
    sports.sort();
    assert_eq!(sports, ports);
    for e in slice["endpoints"].as_array().unwrap() {
        assert_eq!(e["targetRef"]["kind"], "Pod", "{e}");
        assert!(e["nodeName"].as_str().is_some_and(|n| n.starts_with("ep")), "{e}");
        assert_eq!(e["conditions"]["serving"], true);
        assert_eq!(e["conditions"]["terminating"], false);
    }

    // A Service without a selector: nothing written for it, and user-written Endpoints kept.
    let manual = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
                        "spec": {"ports": [{"port": 80}]}});
    let (code, v) = api.post(SVCS, &manual).unwrap();
    assert_eq!(code, 201, "{v}");
    let user_ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
                         "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 80}]}]});
    let (code, v) = api.post(EPS, &user_ep).unwrap();
    assert_eq!(code, 201, "{v}");

    // Scale down: both follow.
    let (code, v) = api
        .send("PATCH", &format!("{DEPLOYS}/web/scale"), "application/merge-patch+json", json!({"spec": {"replicas": 1}}).to_string().as_bytes())
        .unwrap();
    assert_eq!(code, 200, "{v}");
    wait_endpoints(&api, "web", 1);

    let (code, ep) = get(&api, &format!("{EPS}/manual"));
    assert_eq!(code, 200);
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "192.0.2.10", "{ep}");
    assert!(ep["metadata"]["ownerReferences"].is_null(), "{ep}");
    assert!(slices_of(&api, "manual").is_empty());

    // Deleting the Service removes both.
    let (code, v) = api.delete(&format!("{SVCS}/web")).unwrap();
    assert!(code == 200 || code == 202, "{v}");
    wait_for("endpoints and slices of web gone", Duration::from_secs(30), || {
        let (code, _) = get(&api, &format!("{EPS}/web"));
        let slices = slices_of(&api, "web");
        if code == 404 && slices.is_empty() { Ok(()) } else { Err(format!("endpoints {code}, {} slices", slices.len())) }
    });
}
