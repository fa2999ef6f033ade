//! StatefulSets end to end on simulated nodes, with the HTTP API and the real kubectl:
//! OrderedReady creation (no pod k+1 before pod k is Ready, checked on every watch event)
//! and reverse-order scale-down, stable names and claims across deletes and scale-downs,
//! failed pods recreated, Parallel creation, partitioned rolling updates, `kubectl rollout
//! status/history/undo/restart`, the retention policy's Delete, and the Kubernetes
//! documentation's `web` example with its headless Service.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{wait_for, Api, Cluster, Kubectl};
use serde_json::{json, Value};

const SETS: &str = "/apis/apps/v1/namespaces/default/statefulsets";
const REVISIONS: &str = "/apis/apps/v1/namespaces/default/controllerrevisions";
const PODS: &str = "/api/v1/namespaces/default/pods";
const PVCS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";

fn start(nodes: usize) -> (Cluster, Api) {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sts", nodes);
    let api = cluster.api();
    (cluster, api)
}

fn get(api: &Api, path: &str) -> Value {
    match api.get(path) {
        Ok((200, v)) => v,
        other => panic!("GET {path}: {other:?}"),
    }
}

/// The object, or what it is instead (not found yet, an error) for a `wait_for` to retry on.
fn get_if_present(api: &Api, path: &str) -> Result<Value, String> {
    match api.get(path) {
        Ok((200, v)) => Ok(v),
        other => Err(format!("GET {path}: {other:?}")),
    }
}

fn items(api: &Api, path: &str) -> Vec<Value> {
    get(api, path)["items"].as_array().cloned().unwrap_or_default()
}

fn name_of(v: &Value) -> String {
    v["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// A StatefulSet `name` of `image` with one claim template `data`; `extra` is merged into `spec`.
fn stateful_set(name: &str, replicas: i64, image: &str, extra: Value) -> Value {
    let mut spec = json!({
        "replicas": replicas,
        "serviceName": name,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": image,
                                              "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                  "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
    });
    if let (Value::Object(s), Value::Object(e)) = (&mut spec, extra) {
        s.extend(e);
    }
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name}, "spec": spec})
}

fn create(api: &Api, path: &str, body: &Value) -> Value {
    let (code, v) = api.post(path, body).expect("POST");
    assert_eq!(code, 201, "POST {path}: {v}");
    v
}

fn merge_patch(api: &Api, path: &str, patch: Value) -> Value {
    let (code, v) = api.send("PATCH", path, "application/merge-patch+json", patch.to_string().as_bytes()).expect("PATCH");
    assert_eq!(code, 200, "PATCH {path}: {v}");
    v
}

/// The set's pods by name.
fn pods_of(api: &Api, app: &str) -> BTreeMap<String, Value> {
    items(api, &format!("{PODS}?labelSelector=app%3D{app}")).into_iter().map(|p| (name_of(&p), p)).collect()
}

/// Waits until the set `app` (its pods labelled `app=<app>`) has exactly `names`, all
/// Ready and not terminating, and its status says so.
fn wait_ready(api: &Api, app: &str, names: &[&str]) -> BTreeMap<String, Value> {
    wait_set_ready(api, app, app, names)
}

/// [`wait_ready`] for a set whose name is not its pods' `app` label.
fn wait_set_ready(api: &Api, set: &str, app: &str, names: &[&str]) -> BTreeMap<String, Value> {
    wait_for(&format!("{set}: pods {names:?} ready"), Duration::from_secs(60), || {
        let pods = pods_of(api, app);
        let ok = pods.len() == names.len()
            && names.iter().all(|n| pods.get(*n).is_some_and(|p| is_ready(p) && p["metadata"]["deletionTimestamp"].is_null()));
        let set = get(api, &format!("{SETS}/{set}"));
        let st = &set["status"];
        let n = names.len() as i64;
        if ok && st["readyReplicas"] == n && st["replicas"] == n && st["observedGeneration"] == set["metadata"]["generation"] {
            Ok(pods)
        } else {
            Err(format!("pods {:?}, status {st}", pods.iter().map(|(k, p)| (k.clone(), is_ready(p))).collect::<Vec<_>>()))
        }
    })
}

fn pod_image(p: &Value) -> &str {
    p["spec"]["containers"][0]["image"].as_str().unwrap_or_default()
}

fn events_about(api: &Api, name: &str) -> Vec<(String, String)> {
    items(api, "/api/v1/namespaces/default/events")
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == name)
        .map(|e| (e["reason"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// The ordinal of `web-3`.
fn ordinal(name: &str) -> i64 {
    name.rsplit_once('-').and_then(|(_, o)| o.parse().ok()).unwrap_or(-1)
}

#[test]
fn ordered_ready_creates_in_order_scales_down_in_reverse_and_keeps_names_and_claims() {
    let (_cluster, api) = start(2);
    let list = get(&api, &format!("{PODS}?labelSelector=app%3Dweb"));
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let watch = api.watch(&format!("{PODS}?watch=true&labelSelector=app%3Dweb&resourceVersion={rv}"));
    create(&api, SETS, &stateful_set("web", 5, "hello:v1", json!({})));

    // On every pod event: a pod exists only if every lower ordinal is Ready.
    let mut live: BTreeMap<i64, bool> = BTreeMap::new();
    let mut events = 0;
    while live.len() < 5 || live.values().any(|r| !r) {
        let Some(ev) = watch.next(Duration::from_secs(30)) else { panic!("no pod event within 30 s; pods {live:?}") };
        events += 1;
        let ord = ordinal(&name_of(&ev["object"]));
        if ev["type"] == "DELETED" {
            live.remove(&ord);
        } else {
            live.insert(ord, is_ready(&ev["object"]));
        }
        for (&o, _) in live.iter() {
            let below_ready = (0..o).all(|k| live.get(&k) == Some(&true));
            assert!(below_ready, "event {events}: web-{o} exists before every lower ordinal is Ready: {live:?}");
        }
    }
    let pods = wait_ready(&api, "web", &["web-0", "web-1", "web-2", "web-3", "web-4"]);

    // Identity: hostname, subdomain, labels, the claim volume; one claim per ordinal.
    let set = get(&api, &format!("{SETS}/web"));
    let revision = set["status"]["updateRevision"].as_str().unwrap().to_string();
    assert_eq!(set["status"]["currentRevision"], revision.as_str());
    assert_eq!(set["status"]["currentReplicas"], 5);
    assert_eq!(set["status"]["updatedReplicas"], 5);
    assert_eq!(set["status"]["availableReplicas"], 5);
    assert_eq!(set["status"]["collisionCount"], 0);
    for (name, p) in &pods {
        assert_eq!(p["spec"]["hostname"], name.as_str());
        assert_eq!(p["spec"]["subdomain"], "web");
        assert_eq!(p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], name.as_str());
        assert_eq!(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"], ordinal(name).to_string());
        assert_eq!(p["metadata"]["labels"]["controller-revision-hash"], revision.as_str());
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        let vol = p["spec"]["volumes"].as_array().unwrap().iter().find(|v| v["name"] == "data").cloned().unwrap();
        assert_eq!(vol["persistentVolumeClaim"]["claimName"], format!("data-{name}"));
    }
    let revisions = items(&api, REVISIONS);
    assert_eq!(revisions.len(), 1, "{revisions:?}");
    assert_eq!(name_of(&revisions[0]), revision);
    assert_eq!(revisions[0]["revision"], 1);
    assert_eq!(revisions[0]["data"]["spec"]["template"]["$patch"], "replace");
    assert_eq!(revisions[0]["metadata"]["ownerReferences"][0]["name"], "web");
    // The claims bind on the simulated nodes (the default local-path class).
    let claim_uids: BTreeMap<String, String> = wait_for("five Bound claims", Duration::from_secs(30), || {
        let claims = items(&api, PVCS);
        let bound = claims.iter().filter(|c| c["status"]["phase"] == "Bound").count();
        if claims.len() == 5 && bound == 5 {
            Ok(claims.iter().map(|c| (name_of(c), c["metadata"]["uid"].as_str().unwrap().to_string())).collect())
        } else {
            Err(format!("{} claims, {bound} bound", claims.len()))
        }
    });
    assert_eq!(claim_uids.keys().cloned().collect::<Vec<_>>(), ["data-web-0", "data-web-1", "data-web-2", "data-web-3", "data-web-4"]);

    // 5 → 2: web-4, web-3, web-2 go, in that order, one at a time.
    merge_patch(&api, &format!("{SETS}/web"), json!({"spec": {"replicas": 2}}));
    let mut gone = Vec::new();
    let mut terminating: BTreeMap<i64, bool> = BTreeMap::new();
    while gone.len() < 3 {
        let Some(ev) = watch.next(Duration::from_secs(30)) else { panic!("no pod event within 30 s; deleted so far {gone:?}") };
        let name = name_of(&ev["object"]);
        if ev["type"] == "DELETED" {
            gone.push(name.clone());
            terminating.remove(&ordinal(&name));
        } else if !ev["object"]["metadata"]["deletionTimestamp"].is_null() {
            terminating.insert(ordinal(&name), true);
            assert!(terminating.len() <= 1, "more than one pod terminating at once: {terminating:?}");
        }
    }
    assert_eq!(gone, ["web-4", "web-3", "web-2"]);
    wait_ready(&api, "web", &["web-0", "web-1"]);
    assert_eq!(items(&api, PVCS).len(), 5, "claims are kept on scale-down (whenScaled: Retain)");

    // A deleted pod comes back with its name and its claim.
    let old_uid = pods["web-1"]["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(api.delete(&format!("{PODS}/web-1")).unwrap().0, 200);
    let back = wait_for("web-1 recreated", Duration::from_secs(30), || {
        // Between the deletion and the new pod there is none: 404 is a state to wait out.
        let p = get_if_present(&api, &format!("{PODS}/web-1"))?;
        if p["metadata"]["uid"] != old_uid.as_str() && is_ready(&p) { Ok(p) } else { Err(p["metadata"]["uid"].to_string()) }
    });
    assert_eq!(back["spec"]["hostname"], "web-1");
    let claim = get(&api, &format!("{PVCS}/data-web-1"));
    assert_eq!(claim["metadata"]["uid"], claim_uids["data-web-1"].as_str(), "the same claim, not a new one");

    // A failed pod is deleted and recreated.
    let failed_uid = back["metadata"]["uid"].as_str().unwrap().to_string();
    let mut status = back.clone();
    status["status"]["phase"] = json!("Failed");
    let (code, v) = api.put(&format!("{PODS}/web-1/status"), &status).unwrap();
    assert_eq!(code, 200, "{v}");
    wait_for("the failed web-1 replaced", Duration::from_secs(30), || {
        let p = get_if_present(&api, &format!("{PODS}/web-1"))?;
        if p["metadata"]["uid"] != failed_uid.as_str() && is_ready(&p) { Ok(()) } else { Err(p["status"]["phase"].to_string()) }
    });
    let evs = events_about(&api, "web");
    assert!(evs.iter().any(|(r, m)| r == "RecreatingFailedPod" && m == "StatefulSet default/web is recreating failed Pod web-1"), "{evs:?}");
    assert!(evs.iter().any(|(r, m)| r == "SuccessfulCreate" && m == "create Pod web-0 in StatefulSet web successful"), "{evs:?}");
    assert!(evs.iter().any(|(r, m)| r == "SuccessfulCreate" && m == "create Claim data-web-0 Pod web-0 in StatefulSet web success"), "{evs:?}");

    // Scaling up again re-attaches the kept claim of web-2.
    merge_patch(&api, &format!("{SETS}/web"), json!({"spec": {"replicas": 3}}));
    wait_ready(&api, "web", &["web-0", "web-1", "web-2"]);
    assert_eq!(get(&api, &format!("{PVCS}/data-web-2"))["metadata"]["uid"], claim_uids["data-web-2"].as_str());

    // Deleting the set deletes its pods and revisions (garbage collection) and keeps the claims.
    assert_eq!(api.delete(&format!("{SETS}/web")).unwrap().0, 200);
    wait_for("pods and revisions collected", Duration::from_secs(30), || {
        let (p, r) = (pods_of(&api, "web").len(), items(&api, REVISIONS).len());
        if p == 0 && r == 0 { Ok(()) } else { Err(format!("{p} pods, {r} revisions")) }
    });
    assert_eq!(items(&api, PVCS).len(), 5, "whenDeleted: Retain keeps the claims");
}

#[test]
fn parallel_creates_every_pod_at_once_and_the_delete_policy_removes_claims() {
    let (_cluster, api) = start(2);
    let list = get(&api, &format!("{PODS}?labelSelector=app%3Dpar"));
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let watch = api.watch(&format!("{PODS}?watch=true&labelSelector=app%3Dpar&resourceVersion={rv}"));
    let extra = json!({"podManagementPolicy": "Parallel",
                       "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Delete", "whenDeleted": "Delete"}});
    create(&api, SETS, &stateful_set("par", 4, "hello:v1", extra));
    // Every pod is created before the lower ones are all Ready (OrderedReady never could).
    let mut live: BTreeMap<String, bool> = BTreeMap::new();
    let mut ready_when_last_added = None;
    while ready_when_last_added.is_none() {
        let Some(ev) = watch.next(Duration::from_secs(30)) else { panic!("no pod event within 30 s; pods {live:?}") };
        let added = ev["type"] == "ADDED";
        live.insert(name_of(&ev["object"]), is_ready(&ev["object"]));
        if added && live.len() == 4 {
            ready_when_last_added = Some(live.values().filter(|r| **r).count());
        }
    }
    let ready = ready_when_last_added.unwrap_or_default();
    assert!(ready < 3, "the fourth pod waited for {ready} pods to be Ready: {live:?}");
    wait_ready(&api, "par", &["par-0", "par-1", "par-2", "par-3"]);
    // whenDeleted: Delete: the claims are owned by the set; whenScaled: Delete: a
    // scaled-down pod's claim is owned by the pod and goes with it.
    wait_for("four claims owned by the set", Duration::from_secs(30), || {
        let claims = items(&api, PVCS);
        let owned = claims.iter().filter(|c| c["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet").count();
        if claims.len() == 4 && owned == 4 { Ok(()) } else { Err(format!("{claims:?}")) }
    });
    merge_patch(&api, &format!("{SETS}/par"), json!({"spec": {"replicas": 2}}));
    wait_ready(&api, "par", &["par-0", "par-1"]);
    wait_for("the scaled-down claims deleted", Duration::from_secs(30), || {
        let names: Vec<String> = items(&api, PVCS).iter().map(name_of).collect();
        if names == ["data-par-0", "data-par-1"] { Ok(()) } else { Err(format!("{names:?}")) }
    });
    assert_eq!(api.delete(&format!("{SETS}/par")).unwrap().0, 200);
    wait_for("the set's claims deleted with it", Duration::from_secs(30), || {
        let n = items(&api, PVCS).len();
        if n == 0 { Ok(()) } else { Err(format!("{n} claims")) }
    });
}

fn kubectl_apply(k: &Kubectl, yaml: &str) {
    let r = k.run_with_stdin(&["apply", "-f", "-"], Some(yaml));
    assert!(r.success(), "kubectl apply failed:\n{}\n{yaml}", r.text());
}

#[test]
fn partitioned_rolling_update_and_kubectl_rollout_status_history_undo_restart() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sts", 2);
    let api = cluster.api();
    let k = cluster.kubectl();
    let manifest = serde_json::to_string(&stateful_set("db", 3, "hello:v1", json!({}))).unwrap();
    kubectl_apply(&k, &manifest);
    let status = k.ok(&["rollout", "status", "statefulset/db", "--timeout=60s"]);
    assert!(status.contains("partitioned roll out complete: 3 new pods have been updated..."), "{status}");
    let before = wait_ready(&api, "db", &["db-0", "db-1", "db-2"]);
    let rev1 = get(&api, &format!("{SETS}/db"))["status"]["updateRevision"].as_str().unwrap().to_string();

    // A partition of 2: only db-2 is updated.
    merge_patch(&api, &format!("{SETS}/db"), json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}}}));
    k.ok(&["set", "image", "statefulset/db", "c=hello:v2"]);
    let rev2 = wait_for("the update revision", Duration::from_secs(30), || {
        let s = get(&api, &format!("{SETS}/db"));
        match s["status"]["updateRevision"].as_str() {
            Some(r) if r != rev1 => Ok(r.to_string()),
            other => Err(format!("{other:?}")),
        }
    });
    wait_for("db-2 updated", Duration::from_secs(30), || {
        let p = pods_of(&api, "db");
        let ok = p.get("db-2").is_some_and(|p| pod_image(p) == "hello:v2" && is_ready(p) && p["metadata"]["labels"]["controller-revision-hash"] == rev2.as_str());
        if ok { Ok(()) } else { Err(format!("{:?}", p.values().map(pod_image).collect::<Vec<_>>())) }
    });
    let out = k.ok(&["rollout", "status", "statefulset/db", "--timeout=30s"]);
    assert!(out.contains("partitioned roll out complete: 1 new pods have been updated..."), "{out}");
    let after = pods_of(&api, "db");
    for name in ["db-0", "db-1"] {
        assert_eq!(after[name]["metadata"]["uid"], before[name]["metadata"]["uid"], "{name} is below the partition: untouched");
        assert_eq!(pod_image(&after[name]), "hello:v1");
    }
    let st = get(&api, &format!("{SETS}/db"))["status"].clone();
    assert_eq!((st["currentRevision"].as_str(), st["currentReplicas"].as_i64(), st["updatedReplicas"].as_i64()), (Some(rev1.as_str()), Some(2), Some(1)));

    // Partition 0: the rest follows, highest first; then the rollout is complete.
    merge_patch(&api, &format!("{SETS}/db"), json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}));
    k.ok(&["rollout", "status", "statefulset/db", "--timeout=60s"]);
    wait_for("every pod at hello:v2", Duration::from_secs(60), || {
        let s = get(&api, &format!("{SETS}/db"));
        let imgs: Vec<String> = pods_of(&api, "db").values().map(|p| pod_image(p).to_string()).collect();
        if s["status"]["currentRevision"] == rev2.as_str() && imgs.iter().all(|i| i == "hello:v2") && s["status"]["readyReplicas"] == 3 {
            Ok(())
        } else {
            Err(format!("{imgs:?} {}", s["status"]))
        }
    });

    // History lists both revisions; --revision shows a revision's template.
    let history = k.ok(&["rollout", "history", "statefulset/db"]);
    let revs: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revs, ["1", "2"], "{history}");
    let one = k.ok(&["rollout", "history", "statefulset/db", "--revision=1"]);
    assert!(one.contains("hello:v1"), "{one}");

    // Undo returns to the previous template: revision 1 comes back as revision 3.
    let undo = k.ok(&["rollout", "undo", "statefulset/db"]);
    assert!(undo.contains("rolled back"), "{undo}");
    wait_for("every pod back at hello:v1", Duration::from_secs(60), || {
        let s = get(&api, &format!("{SETS}/db"));
        let imgs: Vec<String> = pods_of(&api, "db").values().map(|p| pod_image(p).to_string()).collect();
        if s["status"]["currentRevision"] == rev1.as_str() && imgs.len() == 3 && imgs.iter().all(|i| i == "hello:v1") && s["status"]["readyReplicas"] == 3 {
            Ok(())
        } else {
            Err(format!("{imgs:?} {}", s["status"]))
        }
    });
    assert_eq!(get(&api, &format!("{SETS}/db"))["spec"]["template"]["spec"]["containers"][0]["image"], "hello:v1");
    let history = k.ok(&["rollout", "history", "statefulset/db"]);
    let revs: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revs, ["2", "3"], "{history}");
    let r1 = get(&api, &format!("{REVISIONS}/{rev1}"));
    assert_eq!(r1["revision"], 3, "the old revision is reused with the next number");

    // Restart: a new revision whose template carries kubectl's restartedAt; every pod replaced.
    let uids: Vec<String> = pods_of(&api, "db").values().map(|p| p["metadata"]["uid"].as_str().unwrap().to_string()).collect();
    k.ok(&["rollout", "restart", "statefulset/db"]);
    k.ok(&["rollout", "status", "statefulset/db", "--timeout=60s"]);
    wait_for("every pod restarted", Duration::from_secs(60), || {
        let pods = pods_of(&api, "db");
        let fresh = pods.values().filter(|p| {
            !uids.contains(&p["metadata"]["uid"].as_str().unwrap_or_default().to_string())
                && !p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_null()
                && is_ready(p)
        });
        let n = fresh.count();
        if n == 3 && pods.len() == 3 { Ok(()) } else { Err(format!("{n} restarted")) }
    });
    assert_eq!(items(&api, REVISIONS).len(), 3);
}

#[test]
fn the_documentation_example_applies_and_converges() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sts", 2);
    let api = cluster.api();
    let k = cluster.kubectl();
    // https://kubernetes.io/docs/tutorials/stateful-application/basic-stateful-set/ (web.yaml)
    let web = r#"
apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels:
    app: nginx
spec:
  ports:
  - port: 80
    name: web
  clusterIP: None
  selector:
    app: nginx
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: "nginx"
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.21
        ports:
        - containerPort: 80
          name: web
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ "ReadWriteOnce" ]
      resources:
        requests:
          storage: 1Gi
"#;
    kubectl_apply(&k, web);
    let out = k.ok(&["rollout", "status", "statefulset/web", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete: 2 new pods have been updated..."), "{out}");
    let pods = wait_set_ready(&api, "web", "nginx", &["web-0", "web-1"]);
    for (name, p) in &pods {
        assert_eq!(p["spec"]["subdomain"], "nginx");
        assert_eq!(p["spec"]["hostname"], name.as_str());
    }
    let table = k.ok(&["get", "statefulset", "web"]);
    assert!(table.lines().nth(1).is_some_and(|l| l.split_whitespace().nth(1) == Some("2/2")), "{table}");
    wait_for("the claims www-web-0 and www-web-1 Bound", Duration::from_secs(30), || {
        let claims: Vec<(String, String)> =
            items(&api, PVCS).iter().map(|c| (name_of(c), c["status"]["phase"].as_str().unwrap_or("").to_string())).collect();
        let want = [("www-web-0".to_string(), "Bound".to_string()), ("www-web-1".to_string(), "Bound".to_string())];
        if claims == want { Ok(()) } else { Err(format!("{claims:?}")) }
    });
    // The headless Service's endpoints name each pod by its hostname.
    wait_for("endpoints with the pods' hostnames", Duration::from_secs(30), || {
        let slices = items(&api, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dnginx");
        let mut hosts: Vec<String> = slices
            .iter()
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["hostname"].as_str().map(str::to_string))
            .collect();
        hosts.sort();
        if hosts == ["web-0", "web-1"] { Ok(()) } else { Err(format!("{hosts:?}")) }
    });
    let revisions = k.ok(&["get", "controllerrevisions"]);
    assert!(revisions.lines().nth(1).is_some_and(|l| l.contains("statefulset.apps/web") && l.split_whitespace().nth(2) == Some("1")), "{revisions}");
}
