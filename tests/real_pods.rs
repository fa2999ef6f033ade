//! Real pods on a real node (`shoal up` as root, in a network namespace of the test's
//! own): containers through libcontainer in a pause sandbox, from the example images,
//! driven with the real kubectl. Skipped (passing) when not root.

mod harness;

use std::time::Duration;

use harness::real::{can_run_containers, RealCluster};
use harness::wait_for;
use serde_json::Value;

fn pod_status(rc: &RealCluster, name: &str) -> Value {
    rc.cluster.api().get(&format!("/api/v1/namespaces/default/pods/{name}")).map(|(_, p)| p).unwrap_or_default()
}

/// Waits until the pod is Running with every container ready; returns it.
fn wait_running(rc: &RealCluster, name: &str, within: Duration) -> Value {
    wait_for(&format!("pod {name} to be Running and Ready"), within, || {
        let p = pod_status(rc, name);
        let ready = p["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        if p["status"]["phase"] == "Running" && ready { Ok(p) } else { Err(p["status"].to_string()) }
    })
}

const TWO_CONTAINERS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: duo
spec:
  hostname: duo-host
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: hello:v1
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
  - name: client
    image: busybox:latest
    command: ["sh", "-c", "until wget -qO /shared/answer http://localhost:8080/; do sleep 0.2; done; echo fetched; exec sleep 3600"]
    volumeMounts:
    - {name: shared, mountPath: /shared}
  volumes:
  - name: shared
    emptyDir: {}
"#;

#[test]
fn containers_of_a_pod_share_localhost_hostname_and_an_empty_dir() {
    if !can_run_containers() {
        eprintln!("skipped: running containers needs root");
        return;
    }
    let rc = RealCluster::start("duo");
    let k = rc.cluster.kubectl();
    k.run_with_stdin(&["apply", "-f", "-"], Some(TWO_CONTAINERS));
    let p = wait_running(&rc, "duo", Duration::from_secs(90));

    // The address comes from the node's pod CIDR.
    let ip = p["status"]["podIP"].as_str().unwrap_or_default().to_string();
    let (_, node) = rc.cluster.api().get(&format!("/api/v1/nodes/{}", rc.node)).expect("reading the node");
    let cidr = node["spec"]["podCIDR"].as_str().unwrap_or_default().to_string();
    let prefix = cidr.rsplit_once('.').map(|(a, _)| a.to_string()).unwrap_or_default();
    assert!(!prefix.is_empty() && ip.starts_with(&prefix), "podIP {ip:?} outside the node's podCIDR {cidr:?}");
    assert_eq!(p["status"]["hostIP"], node["status"]["addresses"][0]["address"]);

    // The second container reached the first on localhost and wrote into the shared emptyDir.
    let answer = k.ok(&["exec", "duo", "-c", "web", "--", "cat", "/proc/self/status"]);
    assert!(answer.contains("Name:"), "{answer}");
    let answer = wait_for("the answer in the shared emptyDir", Duration::from_secs(30), || {
        let r = k.run(&["exec", "duo", "-c", "client", "--", "cat", "/shared/answer"]);
        if r.success() { Ok(r.stdout) } else { Err(r.text()) }
    });
    let v: Value = serde_json::from_str(answer.trim()).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(v["version"], "v1", "{answer}");
    assert_eq!(v["hostname"], "duo-host", "{answer}");
    assert_eq!(v["podIP"], ip.as_str(), "{answer}");

    // Both containers see the pod's hostname, /etc/hosts names it, and logs come through.
    assert_eq!(k.ok(&["exec", "duo", "-c", "client", "--", "hostname"]).trim(), "duo-host");
    let hosts = k.ok(&["exec", "duo", "-c", "client", "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("{ip}\tduo-host")), "{hosts}");
    let resolv = k.ok(&["exec", "duo", "-c", "client", "--", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("search default.svc.cluster.local"), "{resolv}");
    let logs = wait_for("the client's log line", Duration::from_secs(20), || {
        let r = k.run(&["logs", "duo", "-c", "client"]);
        if r.stdout.contains("fetched") { Ok(r.stdout) } else { Err(r.text()) }
    });
    assert!(logs.contains("fetched"));

    // Deleting the pod stops its containers and frees everything the node held for it.
    k.ok(&["delete", "pod", "duo", "--wait=true", "--timeout=60s"]);
    wait_for("the pod's cgroup to go", Duration::from_secs(30), || {
        let uid = p["metadata"]["uid"].as_str().unwrap_or_default();
        let left = rc.cgroup_dirs(&format!("pod{uid}"));
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?} still exist")) }
    });
}
