//! Simulated nodes (`shoal node --simulate`): they register Ready, renew their Leases,
//! and report the pods bound to them Running; with the scheduler and node lifecycle
//! running, pods are placed on them and evicted from them when their leases lapse.

mod harness;

use std::time::Duration;

use harness::{wait_for, Backend, Cluster};
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

fn pod(name: &str, extra_spec: Value) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "sim"}},
                       "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}});
    if let (Some(spec), Some(extra)) = (p["spec"].as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    p
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
}

fn running_pods(api: &harness::Api) -> Vec<Value> {
    let (_, l) = api.get(&format!("{PODS}?labelSelector=app%3Dsim")).unwrap();
    l["items"].as_array().cloned().unwrap_or_default().into_iter().filter(|p| p["status"]["phase"] == "Running").collect()
}

#[test]
fn simulated_nodes_register_ready_and_renew_their_leases() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 2);
    let api = cluster.api();
    for name in ["sim-0", "sim-1"] {
        let (code, n) = api.get(&format!("/api/v1/nodes/{name}")).unwrap();
        assert_eq!(code, 200, "{n}");
        assert_eq!(condition(&n, "Ready").map(|c| c["status"].clone()), Some(json!("True")), "{n}");
        assert_eq!(n["status"]["allocatable"]["cpu"], "8", "{n}");
        assert_eq!(n["status"]["capacity"]["pods"], "110", "{n}");
        assert_eq!(n["status"]["addresses"][0]["type"], "InternalIP", "{n}");
        assert_eq!(n["metadata"]["labels"]["kubernetes.io/hostname"], name, "{n}");
    }
    let renew_times = |api: &harness::Api| -> Result<Vec<String>, String> {
        ["sim-0", "sim-1"]
            .iter()
            .map(|name| {
                let (code, l) = api.get(&format!("{LEASES}/{name}")).map_err(|e| e.to_string())?;
                if code != 200 || l["spec"]["holderIdentity"] != *name || l["spec"]["leaseDurationSeconds"] != 10 {
                    return Err(format!("lease {name}: {code} {l}"));
                }
                l["spec"]["renewTime"].as_str().map(str::to_string).ok_or_else(|| l.to_string())
            })
            .collect()
    };
    let first = wait_for("both leases", Duration::from_secs(10), || renew_times(&api));
    // Renewed every lease/4 = 2.5 s.
    wait_for("both leases renewed", Duration::from_secs(15), || {
        let now = renew_times(&api)?;
        if now.iter().zip(&first).all(|(a, b)| a > b) { Ok(()) } else { Err(format!("{first:?} → {now:?}")) }
    });
}

#[test]
fn simulated_node_reports_a_bound_pod_running() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 2);
    let api = cluster.api();
    let (code, body) = api.post(PODS, &pod("bound", json!({"nodeName": "sim-1"}))).unwrap();
    assert_eq!(code, 201, "{body}");
    let p = wait_for("the bound pod to run", Duration::from_secs(15), || {
        let (_, p) = api.get(&format!("{PODS}/bound")).map_err(|e| e.to_string())?;
        if p["status"]["phase"] == "Running" { Ok(p) } else { Err(p["status"].to_string()) }
    });
    let st = &p["status"];
    assert!(st["podIP"].as_str().is_some_and(|ip| ip.starts_with("10.244.1.")), "{st}");
    assert_eq!(st["hostIP"], "127.0.0.2", "{st}");
    assert_eq!(st["containerStatuses"][0]["ready"], true, "{st}");
    assert!(st["containerStatuses"][0]["state"]["running"]["startedAt"].is_string(), "{st}");
    for t in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(condition(&p, t).map(|c| c["status"].clone()), Some(json!("True")), "{t}: {st}");
    }
    // Another pod on the same node gets another address.
    let (code, body) = api.post(PODS, &pod("second", json!({"nodeName": "sim-1"}))).unwrap();
    assert_eq!(code, 201, "{body}");
    let ip2 = wait_for("the second pod to run", Duration::from_secs(15), || {
        let (_, p) = api.get(&format!("{PODS}/second")).map_err(|e| e.to_string())?;
        p["status"]["podIP"].as_str().map(str::to_string).ok_or_else(|| p["status"].to_string())
    });
    assert_ne!(Some(ip2.as_str()), st["podIP"].as_str());
}

// ---- The tests below need the scheduler and node lifecycle Singletons registered in the
// ---- control plane (actors::standard::control_plane).

#[test]
fn scheduler_spreads_pods_over_simulated_nodes_and_reports_unschedulable_ones() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 2);
    let api = cluster.api();
    for i in 0..20 {
        let (code, body) = api.post(PODS, &pod(&format!("p{i}"), json!({}))).unwrap();
        assert_eq!(code, 201, "{body}");
    }
    let (code, body) = api.post(PODS, &pod("nowhere", json!({"nodeSelector": {"disk": "ssd"}}))).unwrap();
    assert_eq!(code, 201, "{body}");
    let (code, body) = api
        .post(PODS, &pod("huge", json!({"containers": [{"name": "c", "image": "hello:v1", "resources": {"requests": {"cpu": "9"}}}]})))
        .unwrap();
    assert_eq!(code, 201, "{body}");

    let pods = wait_for("20 pods running", Duration::from_secs(30), || {
        let r = running_pods(&api);
        if r.len() == 20 { Ok(r) } else { Err(format!("{} running", r.len())) }
    });
    let on = |n: &str| pods.iter().filter(|p| p["spec"]["nodeName"] == n).count();
    let (a, b) = (on("sim-0"), on("sim-1"));
    assert!(a.abs_diff(b) <= 2, "least requested spreads pods evenly: {a} on sim-0, {b} on sim-1");
    for p in &pods {
        assert_eq!(condition(p, "PodScheduled").map(|c| c["status"].clone()), Some(json!("True")), "{p}");
    }
    for (name, message) in [
        (
            "nowhere",
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        ),
        (
            "huge",
            "0/2 nodes are available: 2 Insufficient cpu. \
             preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
        ),
    ] {
        wait_for(&format!("{name} reported unschedulable"), Duration::from_secs(15), || {
            let (_, p) = api.get(&format!("{PODS}/{name}")).map_err(|e| e.to_string())?;
            let c = condition(&p, "PodScheduled").cloned().unwrap_or(Value::Null);
            if p["spec"]["nodeName"].is_null() && c["status"] == "False" && c["reason"] == "Unschedulable" && c["message"] == message {
                Ok(())
            } else {
                Err(p.to_string())
            }
        });
    }
    // A node that matches appears: the waiting pod is placed on it.
    let (code, n) = api.get("/api/v1/nodes/sim-0").unwrap();
    assert_eq!(code, 200);
    let patch = json!({"metadata": {"labels": {"disk": "ssd"}}});
    let (code, body) = api.send("PATCH", "/api/v1/nodes/sim-0", "application/merge-patch+json", patch.to_string().as_bytes()).unwrap();
    assert_eq!(code, 200, "{body} (node was {n})");
    wait_for("nowhere to run on sim-0", Duration::from_secs(20), || {
        let (_, p) = api.get(&format!("{PODS}/nowhere")).map_err(|e| e.to_string())?;
        if p["spec"]["nodeName"] == "sim-0" && p["status"]["phase"] == "Running" { Ok(()) } else { Err(p.to_string()) }
    });
}

#[test]
fn node_lifecycle_marks_a_silent_node_unknown_evicts_its_pods_and_recovers() {
    let mut cluster = Cluster::with_args(Backend::Embedded, &["--node-grace", "3", "--eviction-timeout", "2"]);
    let doomed = cluster.add_simulated_nodes("doomed", 1);
    let api = cluster.api();
    let (code, body) = api.post(PODS, &pod("plain", json!({"nodeName": "doomed-0"}))).unwrap();
    assert_eq!(code, 201, "{body}");
    let tolerant = json!({"nodeName": "doomed-0", "tolerations": [
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3600}]});
    let (code, body) = api.post(PODS, &pod("tolerant", tolerant)).unwrap();
    assert_eq!(code, 201, "{body}");
    wait_for("both pods running", Duration::from_secs(15), || {
        let n = running_pods(&api).len();
        if n == 2 { Ok(()) } else { Err(format!("{n} running")) }
    });

    cluster.kill_nodes(doomed);
    let (_, lease) = api.get(&format!("{LEASES}/doomed-0")).unwrap();
    let last_renew = lease["spec"]["renewTime"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).expect("renewTime");
    wait_for("doomed-0 Ready=Unknown and tainted unreachable", Duration::from_secs(20), || {
        let (_, n) = api.get("/api/v1/nodes/doomed-0").map_err(|e| e.to_string())?;
        let ready = condition(&n, "Ready").cloned().unwrap_or(Value::Null);
        let taints: Vec<(String, String)> = n["spec"]["taints"]
            .as_array()
            .map(|ts| ts.iter().map(|t| (t["key"].as_str().unwrap_or("").into(), t["effect"].as_str().unwrap_or("").into())).collect())
            .unwrap_or_default();
        let want = |e: &str| taints.contains(&("node.kubernetes.io/unreachable".to_string(), e.to_string()));
        if ready["status"] == "Unknown"
            && ready["reason"] == "NodeStatusUnknown"
            && ready["message"] == "Kubelet stopped posting node status."
            && want("NoSchedule")
            && want("NoExecute")
        {
            Ok(())
        } else {
            Err(n.to_string())
        }
    });
    // Evicted = deleted gracefully: Terminating until a node (or the pod GC, after its
    // grace on a node that is not Ready) finishes it.
    wait_for("the plain pod evicted", Duration::from_secs(20), || match api.get(&format!("{PODS}/plain")) {
        Ok((200, p)) if p["metadata"]["deletionTimestamp"].is_string() => Ok(()),
        other => Err(format!("{other:?}")),
    });
    let took = chrono::Utc::now().signed_duration_since(last_renew);
    assert!(took >= chrono::Duration::seconds(5), "evicted {took:?} after the last renewal, before grace (3 s) + eviction timeout (2 s)");
    let (code, _) = api.get(&format!("{PODS}/tolerant")).unwrap();
    assert_eq!(code, 200, "a pod tolerating unreachable for an hour stays");

    // The node comes back: Ready again, taints lifted.
    cluster.add_simulated_nodes("doomed", 1);
    wait_for("doomed-0 Ready without unreachable taints", Duration::from_secs(20), || {
        let (_, n) = api.get("/api/v1/nodes/doomed-0").map_err(|e| e.to_string())?;
        let ready = condition(&n, "Ready").is_some_and(|c| c["status"] == "True");
        let tainted = n["spec"]["taints"].as_array().is_some_and(|ts| ts.iter().any(|t| t["key"] == "node.kubernetes.io/unreachable"));
        if ready && !tainted { Ok(()) } else { Err(n.to_string()) }
    });
    wait_for("the evicted pod finished by its node", Duration::from_secs(20), || match api.get(&format!("{PODS}/plain")) {
        Ok((404, _)) => Ok(()),
        other => Err(format!("{other:?}")),
    });
}
