//! The scheduler's pod constraints end to end on simulated nodes: required pod
//! anti-affinity, topology spread over zones, scheduling gates removed with kubectl, and
//! `spec.nodeName` set by the user.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{wait_for, Cluster};
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(name: &str, replicas: u32, extra_spec: Value) -> Value {
    let mut spec = json!({"containers": [{"name": "c", "image": "hello:v1", "resources": {"requests": {"cpu": "10m"}}}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}})
}

fn pods_of(api: &harness::Api, app: &str) -> Vec<Value> {
    let (_, l) = api.get(&format!("{PODS}?labelSelector=app%3D{app}")).unwrap();
    l["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).collect()
}

fn condition<'a>(p: &'a Value, type_: &str) -> Option<&'a Value> {
    p["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

fn scale(api: &harness::Api, name: &str, replicas: u32) {
    let body = json!({"spec": {"replicas": replicas}}).to_string();
    let (code, out) = api
        .send("PATCH", &format!("{DEPLOYMENTS}/{name}/scale"), "application/merge-patch+json", body.as_bytes())
        .unwrap();
    assert_eq!(code, 200, "{out}");
}

fn label_node(api: &harness::Api, node: &str, key: &str, value: &str) {
    let body = json!({"metadata": {"labels": {key: value}}}).to_string();
    let (code, out) = api.send("PATCH", &format!("/api/v1/nodes/{node}"), "application/merge-patch+json", body.as_bytes()).unwrap();
    assert_eq!(code, 200, "{out}");
}

#[test]
fn required_anti_affinity_places_one_replica_per_node_and_a_fourth_stays_pending() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("anti", 3);
    let api = cluster.api();
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}});
    let (code, out) = api.post(DEPLOYMENTS, &deployment("web", 3, anti)).unwrap();
    assert_eq!(code, 201, "{out}");
    let pods = wait_for("3 replicas running", Duration::from_secs(30), || {
        let ps = pods_of(&api, "web");
        let running = ps.iter().filter(|p| p["status"]["phase"] == "Running").count();
        if running == 3 { Ok(ps) } else { Err(format!("{running}/3 running")) }
    });
    let mut nodes: Vec<&str> = pods.iter().filter_map(|p| p["spec"]["nodeName"].as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["anti-0", "anti-1", "anti-2"], "one replica per node");

    scale(&api, "web", 4);
    let want = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. \
                preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
    wait_for("the 4th replica reported unschedulable", Duration::from_secs(30), || {
        let ps = pods_of(&api, "web");
        let pending: Vec<_> = ps.iter().filter(|p| p["spec"]["nodeName"].is_null()).collect();
        match pending[..] {
            [p] if condition(p, "PodScheduled").is_some_and(|c| c["status"] == "False" && c["reason"] == "Unschedulable" && c["message"] == want) => {
                Ok(())
            }
            _ => Err(format!("{} pods, pending: {pending:?}", ps.len())),
        }
    });
}

#[test]
fn spread_constraint_keeps_zones_within_max_skew_while_scaling_up() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("zn", 4);
    let api = cluster.api();
    // Three nodes in zone a, one in zone b: spreading by node alone would not balance zones.
    for (node, zone) in [("zn-0", "a"), ("zn-1", "a"), ("zn-2", "a"), ("zn-3", "b")] {
        label_node(&api, node, "topology.kubernetes.io/zone", zone);
    }
    let zone_of: BTreeMap<&str, &str> = BTreeMap::from([("zn-0", "a"), ("zn-1", "a"), ("zn-2", "a"), ("zn-3", "b")]);
    wait_for("zone labels visible", Duration::from_secs(10), || {
        let (_, l) = api.get("/api/v1/nodes?labelSelector=topology.kubernetes.io%2Fzone").map_err(|e| e.to_string())?;
        let n = l["items"].as_array().map_or(0, Vec::len);
        if n == 4 { Ok(()) } else { Err(format!("{n} labelled")) }
    });
    let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "spread"}}}]});
    let (code, out) = api.post(DEPLOYMENTS, &deployment("spread", 1, spread)).unwrap();
    assert_eq!(code, 201, "{out}");
    for n in 1..=9u32 {
        if n > 1 {
            scale(&api, "spread", n);
        }
        let (a, b) = wait_for(&format!("{n} replicas running"), Duration::from_secs(30), || {
            let ps = pods_of(&api, "spread");
            let running: Vec<_> = ps.iter().filter(|p| p["status"]["phase"] == "Running").collect();
            if ps.len() != n as usize || running.len() != n as usize {
                return Err(format!("{} pods, {} running", ps.len(), running.len()));
            }
            let in_a = running.iter().filter(|p| p["spec"]["nodeName"].as_str().and_then(|x| zone_of.get(x)) == Some(&"a")).count();
            Ok((in_a, n as usize - in_a))
        });
        assert!(a.abs_diff(b) <= 1, "{n} replicas: {a} in zone a, {b} in zone b");
    }
}

#[test]
fn a_gated_pod_waits_until_kubectl_removes_its_gates() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("gate", 1);
    let api = cluster.api();
    let kubectl = cluster.kubectl();
    let manifest = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gated", "labels": {"app": "gated"}},
        "spec": {"schedulingGates": [{"name": "example.com/quota"}],
                 "containers": [{"name": "c", "image": "hello:v1"}]}});
    let r = kubectl.run_with_stdin(&["apply", "-f", "-"], Some(&manifest.to_string()));
    assert!(r.success(), "{}", r.text());
    let p = wait_for("the pod marked SchedulingGated", Duration::from_secs(15), || {
        let (_, p) = api.get(&format!("{PODS}/gated")).map_err(|e| e.to_string())?;
        match condition(&p, "PodScheduled") {
            Some(c) if c["status"] == "False" && c["reason"] == "SchedulingGated" => Ok(p),
            _ => Err(p["status"].to_string()),
        }
    });
    assert_eq!(condition(&p, "PodScheduled").unwrap()["message"], "Scheduling is blocked due to non-empty scheduling gates");
    assert!(p["spec"]["nodeName"].is_null(), "{p}");
    assert_eq!(p["status"]["phase"], "Pending", "{p}");

    // Gates can only be removed.
    let out = kubectl.fails(&["patch", "pod", "gated", "--type=json", "-p",
        r#"[{"op": "add", "path": "/spec/schedulingGates/-", "value": {"name": "example.com/more"}}]"#]);
    assert!(
        out.contains("spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/more'"),
        "{out}"
    );
    // A gated pod is never bound, and nodeName may not be set while gates remain.
    let (_, p) = api.get(&format!("{PODS}/gated")).unwrap();
    assert!(p["spec"]["nodeName"].is_null(), "{p}");

    kubectl.ok(&["patch", "pod", "gated", "--type=json", "-p", r#"[{"op": "remove", "path": "/spec/schedulingGates"}]"#]);
    wait_for("the released pod running on gate-0", Duration::from_secs(20), || {
        let (_, p) = api.get(&format!("{PODS}/gated")).map_err(|e| e.to_string())?;
        let scheduled = condition(&p, "PodScheduled").is_some_and(|c| c["status"] == "True");
        if p["spec"]["nodeName"] == "gate-0" && p["status"]["phase"] == "Running" && scheduled { Ok(()) } else { Err(p.to_string()) }
    });
}

#[test]
fn spec_node_name_bypasses_the_scheduler() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("direct", 2);
    let api = cluster.api();
    let pod = |name: &str, node: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
               "spec": {"nodeName": node, "containers": [{"name": "c", "image": "hello:v1"}],
                        // The scheduler would refuse both nodes; nodeName does not ask it.
                        "nodeSelector": {"disk": "none"}}})
    };
    for (name, node) in [("ghost", "no-such-node"), ("pinned", "direct-1")] {
        let (code, out) = api.post(PODS, &pod(name, node)).unwrap();
        assert_eq!(code, 201, "{out}");
    }
    wait_for("the pinned pod running on direct-1", Duration::from_secs(20), || {
        let (_, p) = api.get(&format!("{PODS}/pinned")).map_err(|e| e.to_string())?;
        if p["spec"]["nodeName"] == "direct-1" && p["status"]["phase"] == "Running" { Ok(()) } else { Err(p.to_string()) }
    });
    // The pod bound to a node that does not exist just sits there: no scheduler verdict.
    let (_, p) = api.get(&format!("{PODS}/ghost")).unwrap();
    assert_eq!(p["spec"]["nodeName"], "no-such-node", "{p}");
    assert!(condition(&p, "PodScheduled").is_none_or(|c| c["reason"] != "Unschedulable"), "{p}");
    assert_ne!(p["status"]["phase"], "Running", "{p}");
}
