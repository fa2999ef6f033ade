//! DaemonSets on simulated nodes: one pod per eligible node as nodes join, leave, get
//! labels and taints; a rolling update through kubectl; deletion takes the pods along.

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
