//! DaemonSets on simulated nodes: one pod per eligible node as nodes join, leave, get
//! labels and taints; a rolling update through kubectl; the history in
//! ControllerRevisions with `kubectl rollout history|undo|restart` and
//! `revisionHistoryLimit`; deletion takes the pods along.

mod harness;

use std::collections::BTreeMap;
use std::time::Duration;

use harness::{wait_for, Api, Cluster};
use serde_json::Value;

const DS: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 2}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - {name: agent, image: "busybox:latest", command: [sleep, "3600"]}
"#;

/// Live pods of the DaemonSet by node.
fn pods_by_node(api: &Api, app: &str) -> BTreeMap<String, Vec<Value>> {
    let (_, list) = api.get(&format!("/api/v1/namespaces/default/pods?labelSelector=app%3D{app}")).expect("listing pods");
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in list["items"].as_array().cloned().unwrap_or_default() {
        if !p["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let node = p["spec"]["nodeName"].as_str().unwrap_or("").to_string();
        out.entry(node).or_default().push(p);
    }
    out
}

/// Waits until exactly `nodes` (sorted) each run one pod of `app`.
fn wait_one_per_node(api: &Api, app: &str, nodes: &[&str]) {
    let want: Vec<String> = nodes.iter().map(|s| s.to_string()).collect();
    wait_for(&format!("one {app} pod on each of {nodes:?}"), Duration::from_secs(30), || {
        let by = pods_by_node(api, app);
        let have: Vec<String> = by.keys().cloned().collect();
        if have == want && by.values().all(|ps| ps.len() == 1) { Ok(()) } else { Err(format!("{:?}", by.iter().map(|(k, v)| (k.clone(), v.len())).collect::<Vec<_>>())) }
    });
}

#[test]
fn daemon_pods_follow_the_nodes() {
    let mut c = Cluster::embedded();
    c.add_simulated_nodes("ds", 3);
    let k = c.kubectl();
    k.run_with_stdin(&["apply", "-f", "-"], Some(DS));
    let api = c.api();
    wait_one_per_node(&api, "agent", &["ds-0", "ds-1", "ds-2"]);

    // Two nodes join: each gets its pod.
    let extra = c.add_simulated_nodes("more", 2);
    wait_one_per_node(&api, "agent", &["ds-0", "ds-1", "ds-2", "more-0", "more-1"]);

    // A node that leaves loses its pod (its process stops, then the Node goes).
    c.kill_nodes(extra);
    k.ok(&["delete", "node", "more-0", "more-1"]);
    wait_one_per_node(&api, "agent", &["ds-0", "ds-1", "ds-2"]);

    // An untolerated NoExecute taint evicts; a NoSchedule one added later does not.
    k.ok(&["taint", "node", "ds-0", "dedicated=db:NoExecute"]);
    wait_one_per_node(&api, "agent", &["ds-1", "ds-2"]);
    k.ok(&["taint", "node", "ds-1", "maintenance=soon:NoSchedule"]);
    wait_one_per_node(&api, "agent", &["ds-1", "ds-2"]);
    wait_for("the status to count the tainted node as misscheduled", Duration::from_secs(20), || {
        let (_, ds) = api.get("/apis/apps/v1/namespaces/default/daemonsets/agent").map_err(|e| e.to_string())?;
        let st = &ds["status"];
        if st["desiredNumberScheduled"] == 1 && st["numberMisscheduled"] == 1 && st["currentNumberScheduled"] == 1 { Ok(()) } else { Err(st.to_string()) }
    });

    // A DaemonSet that tolerates the taint runs there; a node selector narrows it.
    k.run_with_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: edge}
spec:
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge}}
    spec:
      nodeSelector: {role: edge}
      tolerations: [{key: dedicated, operator: Exists}]
      containers:
      - {name: edge, image: "busybox:latest"}
"#,
        ),
    );
    k.ok(&["label", "node", "ds-0", "role=edge"]);
    wait_one_per_node(&api, "edge", &["ds-0"]);
    k.ok(&["label", "node", "ds-0", "role-"]);
    wait_one_per_node(&api, "edge", &[]);

    // Deleting a DaemonSet deletes its pods.
    k.ok(&["delete", "daemonset", "agent"]);
    wait_one_per_node(&api, "agent", &[]);
}

#[test]
fn a_rolling_update_replaces_every_daemon_pod() {
    let mut c = Cluster::embedded();
    c.add_simulated_nodes("ru", 4);
    let k = c.kubectl();
    k.run_with_stdin(&["apply", "-f", "-"], Some(DS));
    let api = c.api();
    wait_one_per_node(&api, "agent", &["ru-0", "ru-1", "ru-2", "ru-3"]);
    let r = k.run(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert!(r.success(), "{}", r.text());
    let hash_of = |p: &Value| p["metadata"]["labels"]["controller-revision-hash"].as_str().unwrap_or("").to_string();
    let first: Vec<String> = pods_by_node(&api, "agent").values().map(|ps| hash_of(&ps[0])).collect();
    assert!(first.iter().all(|h| !h.is_empty() && *h == first[0]), "{first:?}");

    k.ok(&["set", "image", "daemonset/agent", "agent=busybox:v2"]);
    let r = k.run(&["rollout", "status", "daemonset/agent", "--timeout=90s"]);
    assert!(r.success(), "{}", r.text());
    wait_for("every pod on the new revision", Duration::from_secs(30), || {
        let by = pods_by_node(&api, "agent");
        let hashes: Vec<String> = by.values().flatten().map(hash_of).collect();
        if by.len() == 4 && hashes.len() == 4 && hashes.iter().all(|h| *h != first[0]) { Ok(()) } else { Err(format!("{hashes:?}")) }
    });
    let (_, ds) = api.get("/apis/apps/v1/namespaces/default/daemonsets/agent").expect("reading the DaemonSet");
    assert_eq!(ds["status"]["updatedNumberScheduled"], 4, "{}", ds["status"]);
    assert_eq!(ds["status"]["numberAvailable"], 4, "{}", ds["status"]);
}

const REVISIONS: &str = "/apis/apps/v1/namespaces/default/controllerrevisions";

/// The DaemonSet's ControllerRevisions as (revision, hash label, image), by revision.
fn revisions_of(api: &Api, ds: &str) -> Vec<(i64, String, String)> {
    let (_, list) = api.get(REVISIONS).expect("listing ControllerRevisions");
    let mut out: Vec<(i64, String, String)> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["metadata"]["ownerReferences"].as_array().is_some_and(|o| o.iter().any(|o| o["kind"] == "DaemonSet" && o["name"] == ds)))
        .map(|r| {
            let image = r["data"]["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or("").to_string();
            let hash = r["metadata"]["labels"]["controller-revision-hash"].as_str().unwrap_or("").to_string();
            (r["revision"].as_i64().unwrap_or(-1), hash, image)
        })
        .collect();
    out.sort();
    out
}

/// The revisions `kubectl rollout history` lists.
fn history_numbers(out: &str) -> Vec<String> {
    out.lines().skip(2).filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

/// Waits until every node of `nodes` runs one pod of `image` carrying `hash` and the
/// DaemonSet's status counts them updated and available; returns the pods' uids.
fn wait_all_on(api: &Api, nodes: usize, image: &str, hash: &str) -> Vec<String> {
    wait_for(&format!("{nodes} agent pods of {image} ({hash}) available"), Duration::from_secs(60), || {
        let by = pods_by_node(api, "agent");
        let pods: Vec<&Value> = by.values().flatten().collect();
        let on = pods
            .iter()
            .filter(|p| p["spec"]["containers"][0]["image"] == image && p["metadata"]["labels"]["controller-revision-hash"] == hash)
            .count();
        let (_, ds) = api.get("/apis/apps/v1/namespaces/default/daemonsets/agent").map_err(|e| e.to_string())?;
        let st = &ds["status"];
        let settled = st["updatedNumberScheduled"] == nodes && st["numberAvailable"] == nodes && st["observedGeneration"] == ds["metadata"]["generation"];
        if by.len() == nodes && pods.len() == nodes && on == nodes && settled {
            Ok(pods.iter().map(|p| p["metadata"]["uid"].as_str().unwrap_or("").to_string()).collect())
        } else {
            Err(format!("{on}/{} on it; status {st}", pods.len()))
        }
    })
}

#[test]
fn kubectl_rollout_history_undo_restart_and_the_history_limit() {
    let mut c = Cluster::embedded();
    c.add_simulated_nodes("hist", 2);
    let k = c.kubectl();
    let api = c.api();
    let r = k.run_with_stdin(&["apply", "-f", "-"], Some(DS));
    assert!(r.success(), "{}", r.text());
    let revs = wait_for("the first ControllerRevision", Duration::from_secs(30), || match revisions_of(&api, "agent").as_slice() {
        [one] => Ok(vec![one.clone()]),
        other => Err(format!("{other:?}")),
    });
    let (n1, hash1, image1) = revs[0].clone();
    assert_eq!((n1, image1.as_str()), (1, "busybox:latest"));
    wait_all_on(&api, 2, "busybox:latest", &hash1);

    // A new image: revision 2, and every pod moves to it.
    k.ok(&["set", "image", "daemonset/agent", "agent=busybox:v2"]);
    let out = k.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let revs = revisions_of(&api, "agent");
    assert_eq!(revs.iter().map(|r| (r.0, r.2.as_str())).collect::<Vec<_>>(), [(1, "busybox:latest"), (2, "busybox:v2")], "{revs:?}");
    let hash2 = revs[1].1.clone();
    assert_ne!(hash1, hash2);
    wait_all_on(&api, 2, "busybox:v2", &hash2);

    let history = k.ok(&["rollout", "history", "daemonset/agent"]);
    assert_eq!(history_numbers(&history), ["1", "2"], "{history}");
    let one = k.ok(&["rollout", "history", "daemonset/agent", "--revision=1"]);
    assert!(one.contains("busybox:latest") && !one.contains("busybox:v2"), "{one}");

    // Undo: the first template comes back as revision 3, under its first hash.
    let undo = k.ok(&["rollout", "undo", "daemonset/agent"]);
    assert!(undo.contains("rolled back"), "{undo}");
    let out = k.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    wait_all_on(&api, 2, "busybox:latest", &hash1);
    let (_, ds) = api.get("/apis/apps/v1/namespaces/default/daemonsets/agent").expect("reading the DaemonSet");
    assert_eq!(ds["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:latest");
    let revs = revisions_of(&api, "agent");
    assert_eq!(revs, [(2, hash2.clone(), "busybox:v2".to_string()), (3, hash1.clone(), "busybox:latest".to_string())]);
    let history = k.ok(&["rollout", "history", "daemonset/agent"]);
    assert_eq!(history_numbers(&history), ["2", "3"], "{history}");
    // kubectl compares the revision's data with its own marshalling of the DaemonSet.
    let same = k.ok(&["rollout", "undo", "daemonset/agent", "--to-revision=3"]);
    assert!(same.contains("skipped rollback (current template already matches revision 3)"), "{same}");

    // Restart: a template with kubectl's restartedAt, so revision 4; every pod replaced.
    let before = wait_all_on(&api, 2, "busybox:latest", &hash1);
    k.ok(&["rollout", "restart", "daemonset/agent"]);
    k.ok(&["rollout", "status", "daemonset/agent", "--timeout=60s"]);
    let revs = revisions_of(&api, "agent");
    assert_eq!(revs.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 4], "{revs:?}");
    let hash4 = revs[2].1.clone();
    let after = wait_all_on(&api, 2, "busybox:latest", &hash4);
    assert!(after.iter().all(|u| !before.contains(u)), "every pod replaced: {before:?} → {after:?}");
    for p in pods_by_node(&api, "agent").values().flatten() {
        assert!(!p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_null(), "{p}");
    }

    // revisionHistoryLimit 1: only the newest old revision stays beside the current one.
    let (code, body) = api
        .send("PATCH", "/apis/apps/v1/namespaces/default/daemonsets/agent", "application/merge-patch+json", br#"{"spec":{"revisionHistoryLimit":1}}"#)
        .expect("patching the limit");
    assert_eq!(code, 200, "{body}");
    wait_for("the history pruned to one old revision", Duration::from_secs(30), || {
        let revs: Vec<i64> = revisions_of(&api, "agent").iter().map(|r| r.0).collect();
        if revs == [3, 4] { Ok(()) } else { Err(format!("{revs:?}")) }
    });
    let history = k.ok(&["rollout", "history", "daemonset/agent"]);
    assert_eq!(history_numbers(&history), ["3", "4"], "{history}");

    // Deleting the DaemonSet takes its history along (the garbage collector follows the owner).
    k.ok(&["delete", "daemonset", "agent"]);
    wait_for("the revisions gone with the DaemonSet", Duration::from_secs(30), || {
        let revs = revisions_of(&api, "agent");
        if revs.is_empty() { Ok(()) } else { Err(format!("{revs:?}")) }
    });
}
