//! Controllers end to end on simulated nodes: scaling, rolling updates (surge and
//! unavailability bounds checked on every watch event), undo, pause/resume, progress
//! deadline, Recreate, ReplicaSet/RC selectors, adoption, cascading and orphan deletes.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{wait_for, Api, Backend, Cluster};
use serde_json::{json, Value};

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const RSS: &str = "/apis/apps/v1/namespaces/default/replicasets";
const PODS: &str = "/api/v1/namespaces/default/pods";

fn cluster_with_nodes(nodes: usize) -> Cluster {
    let mut c = Cluster::start(Backend::Embedded);
    c.add_simulated_nodes("sim", nodes);
    c
}

fn deployment(name: &str, replicas: i64, image: &str, strategy: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy,
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": image}]}}
        }
    })
}

fn get(api: &Api, path: &str) -> Value {
    let (code, v) = api.get(path).expect("GET");
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

fn pods(api: &Api, selector: &str) -> Vec<Value> {
    let v = get(api, &format!("{PODS}?labelSelector={selector}"));
    v["items"].as_array().cloned().unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Waits until the Deployment is complete and available at `replicas`, with `image`.
fn wait_rolled_out(api: &Api, name: &str, replicas: i64, image: &str) -> Value {
    wait_for(&format!("deployment {name} rolled out to {replicas} x {image}"), Duration::from_secs(30), || {
        let d = get(api, &format!("{DEPLOYS}/{name}"));
        let s = &d["status"];
        let done = d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && s["updatedReplicas"].as_i64().unwrap_or(0) == replicas
            && s["replicas"].as_i64().unwrap_or(0) == replicas
            && s["availableReplicas"].as_i64().unwrap_or(0) == replicas
            && d["spec"]["template"]["spec"]["containers"][0]["image"] == image;
        let live = pods(api, &format!("app%3D{name}"));
        let matching = live.iter().filter(|p| p["spec"]["containers"][0]["image"] == image && is_ready(p)).count() as i64;
        if done && matching == replicas && live.len() as i64 == replicas { Ok(d) } else { Err(format!("status {s}, {} pods ({matching} ready on {image})", live.len())) }
    })
}

fn scale(api: &Api, name: &str, replicas: i64) {
    let (code, v) = api.send("PATCH", &format!("{DEPLOYS}/{name}/scale"), "application/merge-patch+json", json!({"spec": {"replicas": replicas}}).to_string().as_bytes()).unwrap();
    assert_eq!(code, 200, "{v}");
}

fn set_image(api: &Api, name: &str, image: &str) {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
    let (code, v) = api.send("PATCH", &format!("{DEPLOYS}/{name}"), "application/merge-patch+json", patch.to_string().as_bytes()).unwrap();
    assert_eq!(code, 200, "{v}");
}

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn deployment_scales_up_and_down_and_spreads_over_nodes() {
    let cluster = cluster_with_nodes(3);
    let api = cluster.api();
    assert_eq!(api.post(DEPLOYS, &deployment("web", 3, "hello:v1", json!({}))).unwrap().0, 201);
    wait_rolled_out(&api, "web", 3, "hello:v1");
    let nodes: std::collections::BTreeSet<String> =
        pods(&api, "app%3Dweb").iter().map(|p| p["spec"]["nodeName"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(nodes.len(), 3, "3 replicas should spread over 3 nodes: {nodes:?}");
    scale(&api, "web", 7);
    wait_rolled_out(&api, "web", 7, "hello:v1");
    scale(&api, "web", 2);
    wait_rolled_out(&api, "web", 2, "hello:v1");
    scale(&api, "web", 0);
    wait_rolled_out(&api, "web", 0, "hello:v1");
}

#[test]
fn rolling_update_never_drops_below_replicas_ready_or_above_one_surge() {
    let cluster = cluster_with_nodes(2);
    let api = cluster.api();
    let strategy = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    api.post(DEPLOYS, &deployment("roll", 2, "hello:v1", strategy)).unwrap();
    wait_rolled_out(&api, "roll", 2, "hello:v1");
    let list = get(&api, &format!("{PODS}?labelSelector=app%3Droll"));
    let mut live: BTreeMap<String, bool> =
        list["items"].as_array().unwrap().iter().map(|p| (p["metadata"]["name"].as_str().unwrap().to_string(), is_ready(p))).collect();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let watch = api.watch(&format!("{PODS}?watch=true&labelSelector=app%3Droll&resourceVersion={rv}"));
    set_image(&api, "roll", "hello:v2");
    let mut events = 0;
    let mut max_total = 0;
    let mut terminating = std::collections::BTreeSet::new();
    loop {
        let Some(ev) = watch.next(Duration::from_secs(30)) else { panic!("no pod event within 30 s; pods {live:?}") };
        events += 1;
        let name = ev["object"]["metadata"]["name"].as_str().unwrap().to_string();
        match ev["type"].as_str().unwrap() {
            "DELETED" => {
                live.remove(&name);
                terminating.remove(&name);
            }
            _ => {
                if ev["object"]["metadata"]["deletionTimestamp"].is_null() {
                    live.insert(name, is_ready(&ev["object"]));
                } else {
                    // Terminating: as upstream (without DeploymentPodReplacementPolicy),
                    // it counts neither as ready nor against the surge.
                    live.remove(&name);
                    terminating.insert(name);
                }
            }
        }
        let ready = live.values().filter(|r| **r).count();
        max_total = max_total.max(live.len());
        assert!(ready >= 2, "event {events}: only {ready} ready pods: {live:?}");
        assert!(live.len() <= 3, "event {events}: {} pods exist (max replicas+1 = 3): {live:?}, terminating {terminating:?}", live.len());
        let new_ready = pods(&api, "app%3Droll").iter().filter(|p| p["spec"]["containers"][0]["image"] == "hello:v2" && is_ready(p)).count();
        if new_ready == 2 && live.len() == 2 && terminating.is_empty() {
            break;
        }
    }
    assert_eq!(max_total, 3, "the rollout should have used its one surge pod");
    let d = wait_rolled_out(&api, "roll", 2, "hello:v2");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
}

#[test]
fn undo_restores_the_previous_template_and_pause_holds_the_rollout() {
    let cluster = cluster_with_nodes(2);
    let api = cluster.api();
    api.post(DEPLOYS, &deployment("web", 2, "hello:v1", json!({}))).unwrap();
    wait_rolled_out(&api, "web", 2, "hello:v1");
    set_image(&api, "web", "hello:v2");
    wait_rolled_out(&api, "web", 2, "hello:v2");

    let o = cluster.shoal(&["rollout", "undo", "deployment/web"]);
    assert!(o.status.success(), "{}", out(&o));
    let d = wait_rolled_out(&api, "web", 2, "hello:v1");
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    let rs = get(&api, RSS);
    assert_eq!(rs["items"].as_array().unwrap().len(), 2, "undo reuses the v1 ReplicaSet: {rs}");

    // Paused: a template change does not roll out; scaling still works.
    let o = cluster.shoal(&["rollout", "pause", "deployment/web"]);
    assert!(o.status.success(), "{}", out(&o));
    set_image(&api, "web", "hello:v3");
    scale(&api, "web", 3);
    wait_for("paused deployment scaled to 3 on v1", Duration::from_secs(20), || {
        let p = pods(&api, "app%3Dweb");
        let v1 = p.iter().filter(|p| p["spec"]["containers"][0]["image"] == "hello:v1" && is_ready(p)).count();
        if v1 == 3 && p.len() == 3 { Ok(()) } else { Err(format!("{} pods, {v1} ready v1", p.len())) }
    });
    assert!(pods(&api, "app%3Dweb").iter().all(|p| p["spec"]["containers"][0]["image"] == "hello:v1"));
    let o = cluster.shoal(&["rollout", "resume", "deployment/web"]);
    assert!(o.status.success(), "{}", out(&o));
    wait_rolled_out(&api, "web", 3, "hello:v3");
    let o = cluster.shoal(&["rollout", "status", "deployment/web"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("successfully rolled out"), "{}", out(&o));
}

#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let cluster = cluster_with_nodes(1);
    let api = cluster.api();
    let mut d = deployment("stuck", 1, "hello:v1", json!({}));
    d["spec"]["progressDeadlineSeconds"] = json!(2);
    d["spec"]["template"]["spec"]["nodeSelector"] = json!({"disk": "none-has-this"});
    api.post(DEPLOYS, &d).unwrap();
    wait_for("Progressing=False ProgressDeadlineExceeded", Duration::from_secs(30), || {
        let d = get(&api, &format!("{DEPLOYS}/stuck"));
        let conds = d["status"]["conditions"].as_array().cloned().unwrap_or_default();
        if conds.iter().any(|c| c["type"] == "Progressing" && c["status"] == "False" && c["reason"] == "ProgressDeadlineExceeded") {
            Ok(())
        } else {
            Err(format!("{conds:?}"))
        }
    });
    let o = cluster.shoal(&["rollout", "status", "deployment/stuck", "--timeout", "20s"]);
    assert!(!o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("exceeded its progress deadline"), "{}", out(&o));
    // The pod says why it is pending.
    let p = pods(&api, "app%3Dstuck");
    assert_eq!(p.len(), 1);
    wait_for("PodScheduled=False Unschedulable", Duration::from_secs(10), || {
        let p = pods(&api, "app%3Dstuck");
        let c = p[0]["status"]["conditions"].as_array().cloned().unwrap_or_default();
        if c.iter().any(|c| c["type"] == "PodScheduled" && c["status"] == "False" && c["reason"] == "Unschedulable") { Ok(()) } else { Err(format!("{c:?}")) }
    });
}

#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let cluster = cluster_with_nodes(2);
    let api = cluster.api();
    api.post(DEPLOYS, &deployment("rec", 3, "hello:v1", json!({"type": "Recreate"}))).unwrap();
    wait_rolled_out(&api, "rec", 3, "hello:v1");
    let list = get(&api, &format!("{PODS}?labelSelector=app%3Drec"));
    let mut live: BTreeMap<String, String> = list["items"].as_array().unwrap().iter()
        .map(|p| (p["metadata"]["name"].as_str().unwrap().to_string(), p["spec"]["containers"][0]["image"].as_str().unwrap().to_string()))
        .collect();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let watch = api.watch(&format!("{PODS}?watch=true&labelSelector=app%3Drec&resourceVersion={rv}"));
    set_image(&api, "rec", "hello:v2");
    loop {
        let ev = watch.next(Duration::from_secs(30)).expect("pod event");
        let name = ev["object"]["metadata"]["name"].as_str().unwrap().to_string();
        if ev["type"] == "DELETED" {
            live.remove(&name);
        } else {
            live.insert(name, ev["object"]["spec"]["containers"][0]["image"].as_str().unwrap().to_string());
        }
        let images: std::collections::BTreeSet<&String> = live.values().collect();
        assert!(images.len() <= 1, "old and new pods at once: {live:?}");
        if live.len() == 3 && images.contains(&"hello:v2".to_string()) {
            break;
        }
    }
    wait_rolled_out(&api, "rec", 3, "hello:v2");
}

#[test]
fn replica_sets_and_rcs_use_their_selectors_and_adopt_orphans() {
    let cluster = cluster_with_nodes(2);
    let api = cluster.api();
    // An orphan that matches the set-based selector exists first: it is adopted.
    let orphan = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orphan", "labels": {"tier": "fe", "env": "prod"}},
        "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}});
    assert_eq!(api.post(PODS, &orphan).unwrap().0, 201);
    let stranger = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "canary", "labels": {"tier": "fe", "env": "prod", "canary": "yes"}},
        "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}});
    assert_eq!(api.post(PODS, &stranger).unwrap().0, 201);
    let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "fe"},
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"tier": "fe"},
                              "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]},
                                                   {"key": "canary", "operator": "DoesNotExist"}]},
                 "template": {"metadata": {"labels": {"tier": "fe", "env": "prod"}},
                              "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}}}});
    let (code, created) = api.post(RSS, &rs).unwrap();
    assert_eq!(code, 201, "{created}");
    let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
    wait_for("RS fe with 3 ready pods including the adopted orphan", Duration::from_secs(30), || {
        let r = get(&api, &format!("{RSS}/fe"));
        let o = get(&api, &format!("{PODS}/orphan"));
        let adopted = o["metadata"]["ownerReferences"].as_array().is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid.as_str()));
        if r["status"]["readyReplicas"] == 3 && adopted { Ok(()) } else { Err(format!("status {}, orphan owners {}", r["status"], o["metadata"]["ownerReferences"])) }
    });
    assert_eq!(pods(&api, "tier%3Dfe").len(), 4, "3 owned + the canary, which the selector excludes");
    let canary = get(&api, &format!("{PODS}/canary"));
    assert!(canary["metadata"]["ownerReferences"].is_null(), "{canary}");

    // A pod relabelled out of the selector is released and replaced.
    let (code, body) = api.modify(&format!("{PODS}/orphan"), |o| o["metadata"]["labels"]["env"] = json!("dev")).unwrap();
    assert_eq!(code, 200, "{body}");
    wait_for("orphan released and replaced", Duration::from_secs(30), || {
        let o = get(&api, &format!("{PODS}/orphan"));
        let owned = pods(&api, "tier%3Dfe,env%3Dprod,!canary").len();
        if o["metadata"]["ownerReferences"].as_array().map(Vec::is_empty).unwrap_or(true) && owned == 3 { Ok(()) } else { Err(format!("owned {owned}, orphan {}", o["metadata"])) }
    });

    // A ReplicationController with a map selector.
    let rc = json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "legacy"},
        "spec": {"replicas": 2, "selector": {"app": "legacy"},
                 "template": {"metadata": {"labels": {"app": "legacy"}}, "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}}}});
    assert_eq!(api.post("/api/v1/namespaces/default/replicationcontrollers", &rc).unwrap().0, 201);
    wait_for("RC with 2 ready pods", Duration::from_secs(30), || {
        let r = get(&api, "/api/v1/namespaces/default/replicationcontrollers/legacy");
        if r["status"]["readyReplicas"] == 2 { Ok(()) } else { Err(r["status"].to_string()) }
    });
    // A pod deleted by hand is replaced.
    let victim = pods(&api, "app%3Dlegacy")[0]["metadata"]["name"].as_str().unwrap().to_string();
    api.delete(&format!("{PODS}/{victim}")).unwrap();
    wait_for("RC replaced the deleted pod", Duration::from_secs(30), || {
        let p = pods(&api, "app%3Dlegacy");
        if p.len() == 2 && p.iter().all(|p| p["metadata"]["name"] != victim.as_str() && is_ready(p)) { Ok(()) } else { Err(format!("{} pods", p.len())) }
    });
}

#[test]
fn deleting_a_deployment_cascades_or_orphans() {
    let cluster = cluster_with_nodes(2);
    let api = cluster.api();
    api.post(DEPLOYS, &deployment("gone", 2, "hello:v1", json!({}))).unwrap();
    api.post(DEPLOYS, &deployment("kept", 2, "hello:v1", json!({}))).unwrap();
    wait_rolled_out(&api, "gone", 2, "hello:v1");
    wait_rolled_out(&api, "kept", 2, "hello:v1");

    let o = cluster.shoal(&["delete", "deployment", "gone"]);
    assert!(o.status.success(), "{}", out(&o));
    wait_for("ReplicaSet and pods of `gone` deleted", Duration::from_secs(30), || {
        let rs = get(&api, &format!("{RSS}?labelSelector=app%3Dgone"));
        let n_rs = rs["items"].as_array().map(Vec::len).unwrap_or(0);
        let n_pods = pods(&api, "app%3Dgone").len();
        if n_rs == 0 && n_pods == 0 { Ok(()) } else { Err(format!("{n_rs} RS, {n_pods} pods")) }
    });

    let o = cluster.shoal(&["delete", "deployment", "kept", "--cascade=orphan"]);
    assert!(o.status.success(), "{}", out(&o));
    wait_for("deployment `kept` gone, its ReplicaSet orphaned", Duration::from_secs(30), || {
        let (code, _) = api.get(&format!("{DEPLOYS}/kept")).unwrap();
        let rs = get(&api, &format!("{RSS}?labelSelector=app%3Dkept"));
        let items = rs["items"].as_array().cloned().unwrap_or_default();
        let orphaned = items.len() == 1 && items[0]["metadata"]["ownerReferences"].as_array().map(Vec::is_empty).unwrap_or(true);
        if code == 404 && orphaned { Ok(()) } else { Err(format!("deployment {code}, RS {items:?}")) }
    });
    assert_eq!(pods(&api, "app%3Dkept").len(), 2, "orphaned ReplicaSet keeps its pods");
}
