//! Services get unique ClusterIPs and NodePorts (held as store keys, released on delete,
//! kept across a server restart); namespaces go Terminating and are emptied before they
//! disappear; controllers record Events that the API and `kubectl describe` show; the
//! pods/eviction subresource deletes a pod that its ReplicaSet then replaces.

mod harness;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use harness::{wait_for, Api, Cluster};
use serde_json::{json, Value};

const SVCS: &str = "/api/v1/namespaces/default/services";
const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";


fn kubectl(cluster: &Cluster, args: &[&str]) -> (bool, String) {
    let r = cluster.kubectl().run(args);
    (r.success(), r.output())
}

fn service(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    if spec.get("ports").is_none() && spec.get("type") != Some(&json!("ExternalName")) {
        spec["ports"] = json!([{"port": 80}]);
    }
    if spec.get("selector").is_none() {
        spec["selector"] = json!({"app": name});
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn create(api: &Api, path: &str, body: &Value) -> Value {
    let (code, v) = api.post(path, body).expect("POST");
    assert_eq!(code, 201, "POST {path}: {v}");
    v
}

fn refused(api: &Api, path: &str, body: &Value, code: u16, message: &str) {
    let (got, v) = api.post(path, body).expect("POST");
    assert_eq!(got, code, "POST {path} should be refused: {v}");
    let m = v["message"].as_str().unwrap_or("");
    assert!(m.contains(message), "message {m:?} lacks {message:?}");
}

fn get(api: &Api, path: &str) -> Value {
    let (code, v) = api.get(path).expect("GET");
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

fn items(api: &Api, path: &str) -> Vec<Value> {
    get(api, path)["items"].as_array().cloned().unwrap_or_default()
}

fn in_service_range(ip: &str) -> bool {
    let ip: Ipv4Addr = ip.parse().expect("an IPv4 clusterIP");
    let n = u32::from(ip);
    let base = u32::from(Ipv4Addr::new(10, 96, 0, 0));
    n & 0xfff0_0000 == base && n != base && n != base + 1 && n != base + 0xf_ffff
}

#[test]
fn cluster_ips_and_node_ports_are_unique_honoured_refused_released_and_survive_a_restart() {
    let mut cluster = Cluster::embedded();
    let api = cluster.api();

    // Twenty services, twenty different addresses inside 10.96.0.0/12 (never .0 or .1).
    let mut ips = BTreeSet::new();
    for i in 0..20 {
        let s = create(&api, SVCS, &service(&format!("s{i}"), json!({})));
        let ip = s["spec"]["clusterIP"].as_str().expect("clusterIP").to_string();
        assert!(in_service_range(&ip), "{ip}");
        assert_eq!(s["spec"]["clusterIPs"], json!([ip.clone()]));
        assert!(ips.insert(ip.clone()), "{ip} handed out twice");
    }

    // A requested free address is honoured; the same again, or one outside the range, is 422.
    let s = create(&api, SVCS, &service("fixed", json!({"clusterIP": "10.96.0.20"})));
    assert_eq!(s["spec"]["clusterIP"], "10.96.0.20");
    refused(&api, SVCS, &service("fixed2", json!({"clusterIP": "10.96.0.20"})), 422, "provided IP is already allocated");
    refused(&api, SVCS, &service("outside", json!({"clusterIP": "10.200.0.1"})), 422, "not in the valid range");
    assert_eq!(api.get(&format!("{SVCS}/fixed2")).unwrap().0, 404, "a refused create stores nothing");

    // Headless and ExternalName services get no address.
    let h = create(&api, SVCS, &service("headless", json!({"clusterIP": "None"})));
    assert_eq!(h["spec"]["clusterIP"], "None");
    let x = create(&api, SVCS, &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.com"}}));
    assert!(x["spec"]["clusterIP"].is_null(), "{x}");

    // clusterIP is immutable; a replace that leaves it out keeps it.
    let mut changed = get(&api, &format!("{SVCS}/fixed"));
    changed["spec"]["clusterIP"] = json!("10.96.0.21");
    changed["spec"]["clusterIPs"] = json!(["10.96.0.21"]);
    let (code, v) = api.put(&format!("{SVCS}/fixed"), &changed).unwrap();
    assert_eq!(code, 422, "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("field is immutable"), "{v}");
    let mut kept = get(&api, &format!("{SVCS}/fixed"));
    kept["spec"].as_object_mut().unwrap().remove("clusterIP");
    kept["spec"].as_object_mut().unwrap().remove("clusterIPs");
    kept["metadata"]["labels"] = json!({"touched": "yes"});
    let (code, v) = api.put(&format!("{SVCS}/fixed"), &kept).unwrap();
    assert_eq!((code, v["spec"]["clusterIP"].clone()), (200, json!("10.96.0.20")), "{v}");

    // NodePorts: allocated per port in 30000-32767, a requested one honoured, a taken one 422.
    let np = create(&api, SVCS, &service("np", json!({"type": "NodePort", "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]})));
    let ports: Vec<i64> = np["spec"]["ports"].as_array().unwrap().iter().map(|p| p["nodePort"].as_i64().unwrap()).collect();
    assert!(ports.iter().all(|p| (30000..=32767).contains(p)) && ports[0] != ports[1], "{ports:?}");
    create(&api, SVCS, &service("np-fixed", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})));
    refused(
        &api,
        SVCS,
        &service("np-clash", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})),
        422,
        "provided port is already allocated",
    );
    refused(&api, SVCS, &service("np-out", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 40000}]})), 422, "valid range");
    // Changing a ClusterIP service to NodePort allocates its node port.
    let mut to_np = get(&api, &format!("{SVCS}/s0"));
    to_np["spec"]["type"] = json!("NodePort");
    let (code, v) = api.put(&format!("{SVCS}/s0"), &to_np).unwrap();
    assert_eq!(code, 200, "{v}");
    assert!(v["spec"]["ports"][0]["nodePort"].as_i64().is_some_and(|p| (30000..=32767).contains(&p)), "{v}");

    // Allocations are held in the store: they survive a restart of the server.
    cluster.restart_server();
    let api = cluster.api();
    refused(&api, SVCS, &service("after-restart", json!({"clusterIP": "10.96.0.20"})), 422, "provided IP is already allocated");
    refused(
        &api,
        SVCS,
        &service("after-restart-np", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})),
        422,
        "provided port is already allocated",
    );
    let again = create(&api, SVCS, &service("s20", json!({})));
    assert!(!ips.contains(again["spec"]["clusterIP"].as_str().unwrap()), "{again}");

    // Deleting releases: the address and the port can be taken again at once.
    assert_eq!(api.delete(&format!("{SVCS}/fixed")).unwrap().0, 200);
    assert_eq!(api.delete(&format!("{SVCS}/np-fixed")).unwrap().0, 200);
    let s = create(&api, SVCS, &service("reuse", json!({"clusterIP": "10.96.0.20"})));
    assert_eq!(s["spec"]["clusterIP"], "10.96.0.20");
    create(&api, SVCS, &service("reuse-np", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]})));
}

#[test]
fn namespace_delete_goes_terminating_refuses_creates_and_cascades() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    for name in ["default", "kube-system", "kube-public"] {
        let (code, v) = api.delete(&format!("/api/v1/namespaces/{name}")).unwrap();
        assert_eq!(code, 403, "{name}: {v}");
    }
    create(&api, "/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
    let pod = |name: &str, finalizers: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "finalizers": finalizers},
               "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}})
    };
    create(&api, "/api/v1/namespaces/team/pods", &pod("held", json!(["example.com/hold"])));
    create(&api, "/api/v1/namespaces/team/pods", &pod("free", json!([])));
    let svc = create(&api, "/api/v1/namespaces/team/services", &service("web", json!({"clusterIP": "10.96.0.20"})));
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.20");
    create(&api, "/apis/apps/v1/namespaces/team/deployments", &json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}}}
    }));

    let (code, ns) = api.delete("/api/v1/namespaces/team").unwrap();
    assert_eq!(code, 200, "{ns}");
    assert_eq!(ns["status"]["phase"], "Terminating", "{ns}");
    assert!(ns["metadata"]["deletionTimestamp"].is_string(), "{ns}");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
    refused(
        &api,
        "/api/v1/namespaces/team/pods",
        &pod("late", json!([])),
        403,
        "unable to create new content in namespace team because it is being terminated",
    );

    // Everything but the held pod goes; the namespace waits for it.
    wait_for("the namespace's content to be deleted", Duration::from_secs(30), || {
        let left: Vec<String> = ["/api/v1/namespaces/team/services", "/apis/apps/v1/namespaces/team/deployments", "/apis/apps/v1/namespaces/team/replicasets"]
            .iter()
            .flat_map(|p| items(&api, p))
            .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect();
        let pods = items(&api, "/api/v1/namespaces/team/pods");
        let held_deleting = pods.iter().any(|p| p["metadata"]["name"] == "held" && p["metadata"]["deletionTimestamp"].is_string());
        if left.is_empty() && pods.len() == 1 && held_deleting {
            Ok(())
        } else {
            Err(format!("left {left:?}, pods {pods:?}"))
        }
    });
    assert_eq!(get(&api, "/api/v1/namespaces/team")["status"]["phase"], "Terminating");
    // The deleted service's address is free again.
    create(&api, SVCS, &service("takes-20", json!({"clusterIP": "10.96.0.20"})));

    let (code, v) = api
        .send("PATCH", "/api/v1/namespaces/team/pods/held", "application/merge-patch+json", br#"{"metadata":{"finalizers":null}}"#)
        .unwrap();
    assert_eq!(code, 200, "{v}");
    wait_for("the namespace to disappear", Duration::from_secs(30), || match api.get("/api/v1/namespaces/team") {
        Ok((404, _)) => Ok(()),
        other => Err(format!("{other:?}")),
    });
    // A namespace of the same name can be created again, and is Active-ly usable.
    create(&api, "/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}));
    create(&api, "/api/v1/namespaces/team/pods", &pod("fresh", json!([])));
}

/// The same request twice, with `?dryRun=All` and without: the code and message of each.
fn both_ways(api: &Api, method: &str, path: &str, body: &Value) -> [(u16, String); 2] {
    let sep = if path.contains('?') { '&' } else { '?' };
    let send = |p: &str| {
        let bytes = if method == "DELETE" { Vec::new() } else { body.to_string().into_bytes() };
        let (code, v) = api.send(method, p, "application/json", &bytes).unwrap_or_else(|e| panic!("{method} {p}: {e}"));
        (code, v["message"].as_str().unwrap_or("").to_string())
    };
    [send(&format!("{path}{sep}dryRun=All")), send(path)]
}

#[test]
fn dry_runs_get_the_answers_real_writes_get_and_leave_nothing_behind() {
    let cluster = Cluster::embedded();
    let api = cluster.api();

    // Namespace lifecycle: a protected namespace, and a create in a Terminating one.
    let [dry, real] = both_ways(&api, "DELETE", "/api/v1/namespaces/default", &Value::Null);
    assert_eq!(dry, real);
    assert_eq!(real.0, 403, "{real:?}");
    create(&api, "/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "going"}}));
    let pod = |name: &str, finalizers: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "finalizers": finalizers},
               "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}})
    };
    create(&api, "/api/v1/namespaces/going/pods", &pod("held", json!(["example.com/hold"])));
    let (code, ns) = api.send("DELETE", "/api/v1/namespaces/going?dryRun=All", "application/json", b"").unwrap();
    assert_eq!((code, ns["status"]["phase"].clone()), (200, json!("Terminating")), "{ns}");
    let stored = get(&api, "/api/v1/namespaces/going");
    assert!(stored["status"]["phase"] != "Terminating" && stored["metadata"]["deletionTimestamp"].is_null(), "a dry-run delete changes nothing: {stored}");
    assert_eq!(api.delete("/api/v1/namespaces/going").unwrap().0, 200);
    let [dry, real] = both_ways(&api, "POST", "/api/v1/namespaces/going/pods", &pod("late", json!([])));
    assert_eq!(dry, real);
    assert_eq!(real.0, 403, "{real:?}");
    assert!(real.1.contains("because it is being terminated"), "{real:?}");
    let [dry, real] = both_ways(&api, "POST", "/api/v1/namespaces/nowhere/pods", &pod("lost", json!([])));
    assert_eq!(dry, real);
    assert_eq!(real, (404, "namespaces \"nowhere\" not found".to_string()));
    let (_, v) = api.post("/api/v1/namespaces/nowhere/pods", &pod("lost", json!([]))).unwrap();
    assert_eq!(v["details"]["kind"], "namespaces", "{v}");

    // Allocation: a dry-run create answers an address and takes none.
    let (code, v) = api.send("POST", &format!("{SVCS}?dryRun=All"), "application/json", service("dry", json!({"clusterIP": "10.96.0.30", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30090}]})).to_string().as_bytes()).unwrap();
    assert_eq!((code, v["spec"]["clusterIP"].clone()), (201, json!("10.96.0.30")), "{v}");
    assert_eq!(api.get(&format!("{SVCS}/dry")).unwrap().0, 404);
    let real = create(&api, SVCS, &service("real", json!({"clusterIP": "10.96.0.30", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30090}]})));
    assert_eq!(real["spec"]["ports"][0]["nodePort"], 30090, "the dry run held neither the address nor the port");
    // Taken values and an immutable clusterIP: the same 422 both ways.
    let [dry, real] = both_ways(&api, "POST", SVCS, &service("clash", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30090}]})));
    assert_eq!(dry, real);
    assert_eq!(real.0, 422, "{real:?}");
    assert!(real.1.contains("provided port is already allocated"), "{real:?}");
    let mut changed = get(&api, &format!("{SVCS}/real"));
    changed["spec"]["clusterIP"] = json!("10.96.0.31");
    changed["spec"]["clusterIPs"] = json!(["10.96.0.31"]);
    let [dry, real] = both_ways(&api, "PUT", &format!("{SVCS}/real"), &changed);
    assert_eq!(dry, real);
    assert_eq!(real.0, 422, "{real:?}");
    assert!(real.1.contains("field is immutable"), "{real:?}");
    // A dry-run delete keeps the Service's address.
    let (code, _) = api.send("DELETE", &format!("{SVCS}/real?dryRun=All"), "application/json", b"").unwrap();
    assert_eq!(code, 200);
    refused(&api, SVCS, &service("after", json!({"clusterIP": "10.96.0.30"})), 422, "provided IP is already allocated");
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}}}
    })
}

fn running_pods(api: &Api, app: &str) -> Vec<Value> {
    items(api, &format!("{PODS}?labelSelector=app%3D{app}"))
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null() && p["spec"]["nodeName"].is_string())
        .collect()
}

#[test]
fn a_scale_up_records_events_shown_by_the_api_and_kubectl_describe() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 2);
    let api = cluster.api();
    let d = create(&api, DEPLOYS, &deployment("web", 1));
    let uid = d["metadata"]["uid"].as_str().unwrap().to_string();
    wait_for("1 pod", Duration::from_secs(30), || {
        let n = running_pods(&api, "web").len();
        if n == 1 { Ok(()) } else { Err(format!("{n} pods")) }
    });
    let (code, v) = api
        .send("PATCH", &format!("{DEPLOYS}/web/scale"), "application/merge-patch+json", br#"{"spec":{"replicas":3}}"#)
        .unwrap();
    assert_eq!(code, 200, "{v}");
    wait_for("3 pods", Duration::from_secs(30), || {
        let n = running_pods(&api, "web").len();
        if n == 3 { Ok(()) } else { Err(format!("{n} pods")) }
    });

    // kubectl describe's query: events about this object, by field selector.
    let selector = format!("involvedObject.name%3Dweb,involvedObject.namespace%3Ddefault,involvedObject.uid%3D{uid}");
    let events = wait_for("ScalingReplicaSet events for web", Duration::from_secs(20), || {
        let evs = items(&api, &format!("/api/v1/namespaces/default/events?fieldSelector={selector}"));
        let msgs: Vec<String> = evs.iter().map(|e| e["message"].as_str().unwrap_or("").to_string()).collect();
        let up3 = evs.iter().any(|e| {
            e["reason"] == "ScalingReplicaSet"
                && e["message"].as_str().is_some_and(|m| m.starts_with("Scaled up replica set web-") && m.ends_with(" to 3"))
        });
        if up3 { Ok(evs) } else { Err(format!("{msgs:?}")) }
    });
    for e in &events {
        assert_eq!(e["involvedObject"]["kind"], "Deployment");
        assert_eq!(e["type"], "Normal");
        assert_eq!(e["source"]["component"], "deployment-controller");
        assert!(e["count"].as_i64().unwrap_or(0) >= 1 && e["firstTimestamp"].is_string() && e["lastTimestamp"].is_string());
        assert!(e["metadata"]["name"].as_str().unwrap().starts_with("web."), "{e}");
    }
    // The same stored events through events.k8s.io/v1.
    let v1 = items(&api, "/apis/events.k8s.io/v1/namespaces/default/events");
    assert!(
        v1.iter().any(|e| e["regarding"]["uid"] == uid.as_str()
            && e["reason"] == "ScalingReplicaSet"
            && e["reportingController"] == "deployment-controller"
            && e["note"].as_str().is_some_and(|n| n.ends_with(" to 3"))),
        "{v1:?}"
    );
    // Pods got SuccessfulCreate (on their ReplicaSet) and Scheduled events.
    let all = items(&api, "/api/v1/namespaces/default/events");
    assert!(all.iter().any(|e| e["reason"] == "SuccessfulCreate" && e["involvedObject"]["kind"] == "ReplicaSet"), "{all:?}");
    let pod = running_pods(&api, "web").remove(0);
    let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
    wait_for("a Scheduled event for the pod", Duration::from_secs(10), || {
        let evs = items(&api, &format!("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{pod_name}"));
        if evs.iter().any(|e| e["reason"] == "Scheduled" && e["message"].as_str().unwrap_or("").starts_with(&format!("Successfully assigned default/{pod_name} to sim-"))) {
            Ok(())
        } else {
            Err(format!("{evs:?}"))
        }
    });

    let (ok, out) = kubectl(&cluster, &["describe", "deployment", "web"]);
    assert!(ok, "{out}");
    let events_section = out.split("Events:").nth(1).unwrap_or_else(|| panic!("no Events section:\n{out}"));
    assert!(events_section.contains("ScalingReplicaSet") && events_section.contains("deployment-controller"), "{out}");
    assert!(events_section.contains(" to 3"), "{out}");
    let (ok, out) = kubectl(&cluster, &["describe", "pod", &pod_name]);
    assert!(ok, "{out}");
    let events_section = out.split("Events:").nth(1).unwrap_or_else(|| panic!("no Events section:\n{out}"));
    assert!(events_section.contains("Scheduled") && events_section.contains("default-scheduler"), "{out}");
}

#[test]
fn an_eviction_deletes_the_pod_and_its_replicaset_replaces_it() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 2);
    let api = cluster.api();
    create(&api, DEPLOYS, &deployment("ev", 2));
    let pods = wait_for("2 pods", Duration::from_secs(30), || {
        let p = running_pods(&api, "ev");
        if p.len() == 2 { Ok(p) } else { Err(format!("{} pods", p.len())) }
    });
    let victim = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    let victim_uid = pods[0]["metadata"]["uid"].as_str().unwrap().to_string();

    // A wrong uid precondition refuses the eviction (409) and keeps the pod.
    let path = format!("{PODS}/{victim}/eviction");
    let body = |uid: &str| {
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim, "namespace": "default"},
               "deleteOptions": {"preconditions": {"uid": uid}}})
    };
    assert_eq!(api.post(&path, &body("not-the-uid")).unwrap().0, 409);
    let (code, v) = api.post(&path, &body(&victim_uid)).unwrap();
    assert_eq!(code, 201, "{v}");
    assert_eq!((v["kind"].clone(), v["status"].clone()), (json!("Status"), json!("Success")), "{v}");
    assert_eq!(api.post(&format!("{PODS}/no-such-pod/eviction"), &json!({"metadata": {"name": "no-such-pod"}})).unwrap().0, 404);

    wait_for("the evicted pod to be replaced", Duration::from_secs(30), || {
        let p = running_pods(&api, "ev");
        let names: Vec<&str> = p.iter().map(|p| p["metadata"]["name"].as_str().unwrap_or("")).collect();
        if p.len() == 2 && !names.contains(&victim.as_str()) {
            Ok(())
        } else {
            Err(format!("{names:?}"))
        }
    });
    let evs = items(&api, "/api/v1/namespaces/default/events");
    assert!(evs.iter().any(|e| e["reason"] == "SuccessfulCreate"), "{evs:?}");
}
