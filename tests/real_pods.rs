//! Real pods on a real node (`shoal up` as root, in a network namespace of the test's
//! own): containers through libcontainer in a pause sandbox, from the example images,
//! driven with the real kubectl. They need root and fail without it.

mod harness;

use std::time::Duration;

use harness::real::{require_root, RealCluster};
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
    require_root();
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

    // The node reports the machine, its images, and the pods' usage from the cgroups.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    assert_eq!(node["status"]["capacity"]["cpu"], cores.to_string(), "{}", node["status"]);
    assert!(node["status"]["nodeInfo"]["kernelVersion"].as_str().is_some_and(|k| !k.is_empty()), "{}", node["status"]);
    for c in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert!(node["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|x| x["type"] == c)), "{c}: {}", node["status"]);
    }
    wait_for("the node's images in its status", Duration::from_secs(30), || {
        let (_, n) = rc.cluster.api().get(&format!("/api/v1/nodes/{}", rc.node))?;
        let images = n["status"]["images"].to_string();
        if images.contains("hello:v1") && images.contains("busybox:latest") { Ok(()) } else { Err(images) }
    });
    wait_for("the pod's usage in /metrics/resource", Duration::from_secs(30), || {
        let text = http_get("127.0.0.1:10250", "/metrics/resource")?;
        let line = text.lines().find(|l| l.starts_with("container_memory_working_set_bytes{container=\"web\",namespace=\"default\",pod=\"duo\"}"));
        match line.and_then(|l| l.split(' ').nth(1)).and_then(|v| v.parse::<u64>().ok()) {
            Some(bytes) if bytes > 0 => Ok(()),
            _ => Err(text),
        }
    });

    // Deleting the pod stops its containers and frees everything the node held for it.
    k.ok(&["delete", "pod", "duo", "--wait=true", "--timeout=60s"]);
    wait_for("the pod's cgroup to go", Duration::from_secs(30), || {
        let uid = p["metadata"]["uid"].as_str().unwrap_or_default();
        let left = rc.cgroup_dirs(&format!("pod{uid}"));
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?} still exist")) }
    });
    let uid = p["metadata"]["uid"].as_str().unwrap_or_default();
    wait_for("no mount, file or veth of the pod left", Duration::from_secs(30), || {
        let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().filter(|l| l.contains(uid)).map(str::to_string).collect();
        let dir = rc.node_root().join("pods").join(uid);
        let links = std::process::Command::new("ip").args(["-o", "link"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        let veths: Vec<&str> = links.lines().filter(|l| l.contains("veth")).collect();
        if mounts.is_empty() && !dir.exists() && veths.is_empty() { Ok(()) } else { Err(format!("mounts {mounts:?}, dir {} exists: {}, veths {veths:?}", dir.display(), dir.exists())) }
    });
}

fn apply(rc: &RealCluster, manifest: &str) {
    let r = rc.cluster.kubectl().run_with_stdin(&["apply", "-f", "-"], Some(manifest));
    assert!(r.success(), "{}", r.text());
}

/// The status of container `name` (app or init) of the pod.
fn container(p: &Value, name: &str) -> Value {
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .filter_map(|k| p["status"][k].as_array())
        .flatten()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_default()
}

fn wait_container(rc: &RealCluster, pod: &str, name: &str, what: &str, within: Duration, f: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("{pod}/{name}: {what}"), within, || {
        let c = container(&pod_status(rc, pod), name);
        if f(&c) { Ok(c) } else { Err(c.to_string()) }
    })
}

fn events_of(rc: &RealCluster, pod: &str) -> Vec<(String, String)> {
    let (_, list) = rc.cluster.api().get(&format!("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name={pod}")).unwrap_or_default();
    list["items"].as_array().into_iter().flatten().map(|e| (e["reason"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string())).collect()
}

const LIFECYCLE: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox:latest
    command: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]
    resources: {limits: {memory: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: fails
    image: busybox:latest
    command: ["sh", "-c", "echo giving up; exit 3"]
    terminationMessagePolicy: FallbackToLogsOnError
---
apiVersion: v1
kind: Pod
metadata: {name: probes}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: unready
    image: hello:v1
    readinessProbe:
      httpGet: {path: /, port: 9999}
      periodSeconds: 1
  - name: unlive
    image: busybox:latest
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {command: ["cat", "/nonexistent"]}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata: {name: fds}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: lister
    image: busybox:latest
    command: ["sh", "-c", "ls /proc/$$/fd; echo end; exec sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: ports}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: first
    image: hello:v1
  - name: second
    image: hello:v1
    terminationMessagePolicy: FallbackToLogsOnError
"#;

#[test]
fn oom_kills_crash_loops_probes_and_port_clashes_are_reported_as_upstream() {
    require_root();
    let rc = RealCluster::start("life");
    apply(&rc, LIFECYCLE);
    let long = Duration::from_secs(90);

    // Over its memory limit: OOMKilled, exit code 137, and the pod Failed (restartPolicy Never).
    let hog = wait_container(&rc, "oom", "hog", "terminated", long, |c| !c["state"]["terminated"].is_null());
    assert_eq!(hog["state"]["terminated"]["reason"], "OOMKilled", "{hog}");
    assert_eq!(hog["state"]["terminated"]["exitCode"], 137, "{hog}");
    wait_for("pod oom to be Failed", long, || {
        let p = pod_status(&rc, "oom");
        if p["status"]["phase"] == "Failed" { Ok(()) } else { Err(p["status"].to_string()) }
    });

    // A crashing container: CrashLoopBackOff, a growing restart count, the last exit kept.
    let c = wait_container(&rc, "crash", "fails", "CrashLoopBackOff after two restarts", long, |c| {
        c["restartCount"].as_u64().unwrap_or(0) >= 2 && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 3, "{c}");
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error", "{c}");
    assert!(c["lastState"]["terminated"]["message"].as_str().unwrap_or("").contains("giving up"), "{c}");
    assert!(events_of(&rc, "crash").iter().any(|(r, _)| r == "BackOff"), "{:?}", events_of(&rc, "crash"));

    // Failing readiness keeps the pod out of Ready; failing liveness restarts the container.
    let unlive = wait_container(&rc, "probes", "unlive", "restarted by its liveness probe", long, |c| c["restartCount"].as_u64().unwrap_or(0) >= 1);
    assert!(!unlive.is_null());
    let p = pod_status(&rc, "probes");
    assert_eq!(p["status"]["phase"], "Running", "{}", p["status"]);
    assert_eq!(container(&p, "unready")["ready"], false, "{}", p["status"]);
    let ready = p["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned()).unwrap_or_default();
    assert_eq!(ready["status"], "False", "{}", p["status"]);
    assert!(events_of(&rc, "probes").iter().any(|(r, m)| r == "Unhealthy" && m.contains("Liveness probe failed")), "{:?}", events_of(&rc, "probes"));

    // A container finds only its own 0, 1 and 2: nothing of the agent leaks in.
    let logs = wait_for("the fd listing", Duration::from_secs(30), || {
        let r = rc.cluster.kubectl().run(&["logs", "fds"]);
        if r.stdout.contains("end") { Ok(r.stdout) } else { Err(r.text()) }
    });
    let fds: Vec<&str> = logs.lines().take_while(|l| *l != "end").collect();
    assert_eq!(fds, ["0", "1", "2"], "{logs}");

    // Two containers binding one port: the second fails, restarts with back-off, and says why.
    let second = wait_container(&rc, "ports", "second", "failing to bind", long, |c| c["restartCount"].as_u64().unwrap_or(0) >= 1 && !c["lastState"]["terminated"].is_null());
    assert_ne!(second["lastState"]["terminated"]["exitCode"], 0, "{second}");
    let why = second["lastState"]["terminated"]["message"].as_str().unwrap_or("").to_lowercase();
    assert!(why.contains("address") && why.contains("in use"), "{second}");
    assert_eq!(container(&pod_status(&rc, "ports"), "first")["restartCount"], 0);
}

const PRESTOP: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: polite}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: busybox:latest
    command: ["sh", "-c", "trap 'echo TERM >> /data/log; exit 0' TERM; echo started >> /data/log; while true; do sleep 0.1; done"]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "echo prestop >> /data/log"]}
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    hostPath: {path: HOSTDIR, type: DirectoryOrCreate}
"#;

#[test]
fn pre_stop_runs_before_sigterm_and_host_path_data_stays() {
    require_root();
    let rc = RealCluster::start("stop");
    let host = rc.path().join("prestop");
    apply(&rc, &PRESTOP.replace("HOSTDIR", &host.display().to_string()));
    wait_running(&rc, "polite", Duration::from_secs(60));
    rc.cluster.kubectl().ok(&["delete", "pod", "polite", "--wait=false"]);
    let log = wait_for("preStop, then SIGTERM, in the log", Duration::from_secs(30), || {
        let l = std::fs::read_to_string(host.join("log")).unwrap_or_default();
        if l.contains("TERM") { Ok(l) } else { Err(l) }
    });
    assert_eq!(log, "started\nprestop\nTERM\n");
}

const CONFIG: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello, mode: fast}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:latest
    command: ["sh", "-c", "echo $GREETING $PASSWORD > /data/first; exec sleep 3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    volumeMounts:
    - {name: settings, mountPath: /etc/settings}
    - {name: creds, mountPath: /etc/creds, readOnly: true}
    - {name: data, mountPath: /data}
  volumes:
  - name: settings
    configMap: {name: settings}
  - name: creds
    secret: {secretName: creds}
  - name: data
    persistentVolumeClaim: {claimName: data}
"#;

#[test]
fn config_maps_and_secrets_reach_files_and_env_and_update_in_place_and_claims_keep_data() {
    require_root();
    let rc = RealCluster::start("conf");
    let k = rc.cluster.kubectl();
    apply(&rc, CONFIG);
    wait_running(&rc, "reader", Duration::from_secs(60));
    let cat = |path: &str| k.ok(&["exec", "reader", "--", "cat", path]);
    assert_eq!(cat("/etc/settings/greeting"), "hello");
    assert_eq!(cat("/etc/settings/mode"), "fast");
    assert_eq!(cat("/etc/creds/password"), "s3cret");
    assert_eq!(
        wait_for("the env line in the claim", Duration::from_secs(20), || {
            let r = k.run(&["exec", "reader", "--", "cat", "/data/first"]);
            if r.success() { Ok(r.stdout) } else { Err(r.text()) }
        }),
        "hello s3cret\n"
    );

    // Updated in place: the files change without a restart; the environment does not.
    k.ok(&["patch", "configmap", "settings", "-p", r#"{"data":{"greeting":"bonjour"}}"#]);
    k.ok(&["patch", "secret", "creds", "-p", r#"{"stringData":{"password":"n3w"}}"#]);
    wait_for("the updated ConfigMap and Secret in the pod", Duration::from_secs(60), || {
        let (g, p) = (cat("/etc/settings/greeting"), cat("/etc/creds/password"));
        if g == "bonjour" && p == "n3w" { Ok(()) } else { Err(format!("{g} {p}")) }
    });
    assert_eq!(k.ok(&["exec", "reader", "--", "sh", "-c", "echo $GREETING"]).trim(), "hello");
    assert_eq!(container(&pod_status(&rc, "reader"), "app")["restartCount"], 0);

    // The claim's data outlives its pod: a new pod on the same claim reads it.
    k.ok(&["delete", "pod", "reader"]);
    wait_for("the pod to go", Duration::from_secs(30), || {
        if pod_status(&rc, "reader")["kind"] == "Pod" { Err("still there".into()) } else { Ok(()) }
    });
    wait_for("the pod's mounts to go", Duration::from_secs(30), || {
        let m = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let pods = rc.node_root().join("pods").display().to_string();
        let left: Vec<&str> = m.lines().filter(|l| l.contains(&pods)).collect();
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    });
    apply(&rc, &CONFIG.replace("name: reader", "name: again").replace("echo $GREETING $PASSWORD > /data/first; ", ""));
    wait_running(&rc, "again", Duration::from_secs(60));
    assert_eq!(k.ok(&["exec", "again", "--", "cat", "/data/first"]), "hello s3cret\n");
}

/// The body of `GET path` at `addr` (HTTP/1.0, from the test's namespace).
fn http_get(addr: &str, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).ok_or_else(|| format!("no body: {out}"))
}

/// `GET /` of the hello server at `ip:8080`, from the test's namespace (where the node's
/// bridge is).
fn hello(ip: &str) -> Result<Value, String> {
    let body = http_get(&format!("{ip}:8080"), "/")?;
    serde_json::from_str(body.trim()).map_err(|e| format!("{e}: {body}"))
}

fn pod_ips(rc: &RealCluster, selector: &str) -> Vec<(String, String)> {
    let (_, list) = rc.cluster.api().get(&format!("/api/v1/namespaces/default/pods?labelSelector={selector}")).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null() && p["status"]["phase"] == "Running")
        .filter_map(|p| Some((p["metadata"]["name"].as_str()?.to_string(), p["status"]["podIP"].as_str()?.to_string())))
        .collect()
}

#[test]
fn a_deployment_of_hello_serves_on_every_pod_ip_and_rolls_to_v2() {
    require_root();
    let rc = RealCluster::start("deploy");
    let k = rc.cluster.kubectl();
    k.ok(&["create", "deployment", "web", "--image=hello:v1", "--replicas=3"]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let serving = |version: &str| {
        wait_for(&format!("3 pods answering {version}"), Duration::from_secs(90), || {
            let pods = pod_ips(&rc, "app=web");
            let answers: Vec<Result<Value, String>> = pods.iter().map(|(_, ip)| hello(ip)).collect();
            let good = pods.iter().zip(&answers).filter(|((name, ip), a)| {
                a.as_ref().is_ok_and(|v| v["version"] == version && v["hostname"] == name.as_str() && v["podIP"] == ip.as_str())
            });
            if pods.len() == 3 && good.count() == 3 { Ok(pods) } else { Err(format!("{pods:?} {answers:?}")) }
        })
    };
    let v1 = serving("v1");
    let ips: std::collections::BTreeSet<&String> = v1.iter().map(|(_, ip)| ip).collect();
    assert_eq!(ips.len(), 3, "three distinct pod IPs: {v1:?}");

    k.ok(&["set", "image", "deployment/web", "hello=hello:v2"]);
    k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    let v2 = serving("v2");
    assert!(v2.iter().all(|(n, _)| !v1.iter().any(|(o, _)| o == n)), "new pods: {v1:?} → {v2:?}");
}

const ADOPT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: keep}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: ticker
    image: busybox:latest
    command: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: gone}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: sleeper
    image: busybox:latest
    command: ["sleep", "3600"]
"#;

/// The ticks in a log, in order.
fn ticks(log: &str) -> Vec<u64> {
    log.lines().filter_map(|l| l.strip_prefix("tick ")?.trim().parse().ok()).collect()
}

#[test]
fn a_killed_node_host_leaves_containers_running_and_a_new_one_adopts_them() {
    require_root();
    let mut rc = RealCluster::with_separate_node("adopt");
    let k = rc.cluster.kubectl();
    apply(&rc, ADOPT);
    let keep = wait_running(&rc, "keep", Duration::from_secs(60));
    let gone = wait_running(&rc, "gone", Duration::from_secs(60));
    let before = container(&keep, "ticker");

    rc.kill_node();
    // Its containers run on without it.
    let uid = |p: &Value| p["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    assert!(!rc.cgroup_dirs(&format!("pod{}", uid(&keep))).is_empty());
    // Meanwhile: one pod deleted, one created.
    k.ok(&["delete", "pod", "gone", "--wait=false"]);
    apply(&rc, &ADOPT.split("---").nth(1).unwrap_or_default().replace("name: gone", "name: fresh"));

    rc.start_node();
    wait_running(&rc, "fresh", Duration::from_secs(60));
    wait_for("the deleted pod's cgroups to go", Duration::from_secs(30), || {
        let left = rc.cgroup_dirs(&format!("pod{}", uid(&gone)));
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    });
    // The kept container was adopted: same container, same start, same address, no restart.
    let after_pod = pod_status(&rc, "keep");
    let after = container(&after_pod, "ticker");
    assert_eq!(after["containerID"], before["containerID"], "{after}");
    assert_eq!(after["state"]["running"]["startedAt"], before["state"]["running"]["startedAt"], "{after}");
    assert_eq!(after["restartCount"], 0, "{after}");
    assert_eq!(after_pod["status"]["podIP"], keep["status"]["podIP"]);
    // Its log goes on where it was, nothing lost while nobody read it.
    let seen = wait_for("the log to go on after the adoption", Duration::from_secs(30), || {
        let r = k.run(&["logs", "keep"]);
        let t = ticks(&r.stdout);
        if t.len() > 60 { Ok(t) } else { Err(format!("{} ticks", t.len())) }
    });
    assert!(seen.iter().enumerate().all(|(i, t)| *t == i as u64), "a gap in the ticks: {seen:?}");
}

/// Runs kubectl under `script`, so that its stdin is a terminal (`exec -it`).
fn under_pty(rc: &RealCluster, args: &str) -> String {
    let cmd = format!("{} {args}", harness::kubectl_bin().display());
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("KUBECONFIG", rc.cluster.kubeconfig())
        .env("HOME", rc.path())
        .env("KUBECACHEDIR", rc.path().join("kube-cache"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running script");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

const STREAMS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: hello:v1
  - name: shell
    image: busybox:latest
    command: ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"]
"#;

#[test]
fn kubectl_logs_follow_exec_tty_cp_and_port_forward_on_a_real_pod() {
    require_root();
    let rc = RealCluster::start("streams");
    let k = rc.cluster.kubectl();
    apply(&rc, STREAMS);
    wait_running(&rc, "web", Duration::from_secs(60));
    let deadline = Duration::from_secs(30);

    // logs -f follows the container as it writes; --tail and --timestamps.
    let mut follow = k.stream(&["logs", "-f", "web", "-c", "shell"]);
    follow.until("line 10 as it is written", deadline, |l| l == "line 10");
    drop(follow);
    assert_eq!(k.ok(&["logs", "web", "-c", "shell", "--tail", "1"]).lines().count(), 1);
    let out = rc.cluster.shoal(&["logs", "web", "-c", "shell", "--tail", "2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2, "{out:?}");

    // exec: output, exit codes, stdin, a terminal.
    assert_eq!(k.ok(&["exec", "web", "-c", "shell", "--", "echo", "hi"]), "hi\n");
    let r = k.run(&["exec", "web", "-c", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(r.code, Some(3), "{}", r.text());
    let r = k.run_with_stdin(&["exec", "-i", "web", "-c", "shell", "--", "tr", "a-z", "A-Z"], Some("piped in\n"));
    assert_eq!(r.stdout, "PIPED IN\n", "{}", r.text());
    // A terminal as stdin and stdout. Its name is the node's
    // /dev/pts entry, which the container's own devpts does not hold: `tty` cannot name it.
    let out = under_pty(&rc, "exec -it web -c shell -- sh -c 'test -t 0 && test -t 1 && echo terminal'");
    assert!(out.contains("terminal"), "{out}");

    // cp both ways (tar in the container).
    let src = rc.path().join("src.txt");
    std::fs::write(&src, "copied content\n").expect("writing the file to copy");
    k.ok(&["cp", src.to_str().unwrap_or_default(), "web:/tmp/dest.txt", "-c", "shell"]);
    assert_eq!(k.ok(&["exec", "web", "-c", "shell", "--", "cat", "/tmp/dest.txt"]), "copied content\n");
    let back = rc.path().join("back.txt");
    k.ok(&["cp", "web:/tmp/dest.txt", back.to_str().unwrap_or_default(), "-c", "shell"]);
    assert_eq!(std::fs::read_to_string(&back).unwrap_or_default(), "copied content\n");

    // port-forward to the hello server in the pod.
    let local = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
    let mut pf = k.stream(&["port-forward", "pod/web", &format!("{local}:8080")]);
    pf.until("Forwarding from", deadline, |l| l.contains("Forwarding from 127.0.0.1"));
    for _ in 0..2 {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", local)).expect("connecting to the forwarded port");
        c.set_read_timeout(Some(deadline)).ok();
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("sending a request");
        let mut got = String::new();
        let _ = c.read_to_string(&mut got);
        assert!(got.contains("\"version\":\"v1\"") && got.contains("\"hostname\":\"web\""), "{got}");
    }
}

const SECURE: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: secure}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: prepare
    image: busybox:latest
    command: ["sh", "-c", "echo prepared > /work/ready"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: sidecar
    image: busybox:latest
    restartPolicy: Always
    command: ["sh", "-c", "while true; do date +%s > /work/beat; sleep 0.2; done"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: busybox:latest
    command: ["sh", "-c", "cat /work/ready; cat /work/beat; exec sleep 3600"]
    securityContext:
      runAsUser: 65534
      runAsGroup: 65534
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
    resources:
      limits: {cpu: 250m, memory: 64Mi}
    volumeMounts: [{name: work, mountPath: /work}]
  volumes:
  - name: work
    emptyDir: {}
"#;

#[test]
fn init_containers_sidecars_security_contexts_and_limits_on_a_real_node() {
    require_root();
    let rc = RealCluster::start("secure");
    let k = rc.cluster.kubectl();
    apply(&rc, SECURE);
    let p = wait_running(&rc, "secure", Duration::from_secs(60));
    // The init container ran to completion first; the sidecar was up before the app.
    let prepare = container(&p, "prepare");
    assert_eq!(prepare["state"]["terminated"]["exitCode"], 0, "{prepare}");
    assert!(container(&p, "sidecar")["state"]["running"].is_object(), "{}", p["status"]);
    let logs = wait_for("the app's first lines", Duration::from_secs(20), || {
        let r = k.run(&["logs", "secure", "-c", "app"]);
        if r.stdout.lines().count() >= 2 { Ok(r.stdout) } else { Err(r.text()) }
    });
    assert!(logs.starts_with("prepared\n"), "{logs}");
    assert!(logs.lines().nth(1).is_some_and(|l| l.parse::<u64>().is_ok()), "the sidecar's beat was there: {logs}");

    // runAsUser/Group, a read-only root, no capabilities, no_new_privs.
    let ex = |cmd: &str| k.run(&["exec", "secure", "-c", "app", "--", "sh", "-c", cmd]);
    assert_eq!(ex("id -u; id -g").stdout, "65534\n65534\n");
    let r = ex("touch /rootfile");
    assert!(!r.success() && r.output().contains("Read-only file system"), "{}", r.text());
    assert!(ex("touch /work/ok").success(), "the emptyDir stays writable");
    // The container's process and an exec'd one alike.
    for status in [ex("cat /proc/1/status").stdout, ex("cat /proc/self/status").stdout] {
        let field = |name: &str| status.lines().find(|l| l.starts_with(name)).map(|l| l.split_whitespace().last().unwrap_or("").to_string()).unwrap_or_default();
        assert_eq!(field("CapEff:"), "0000000000000000", "{status}");
        assert_eq!(field("NoNewPrivs:"), "1", "{status}");
        assert_eq!(field("Seccomp:"), "2", "the default seccomp profile filters: {status}");
    }

    // Limits enforced through the container's cgroup.
    let uid = p["metadata"]["uid"].as_str().unwrap_or_default();
    let id = container(&p, "app")["containerID"].as_str().unwrap_or_default().rsplit("://").next().unwrap_or_default().to_string();
    let dirs = rc.cgroup_dirs(&format!("pod{uid}/{id}"));
    let read = |hier: &str, file: &str| {
        dirs.iter().find(|d| d.to_string_lossy().contains(&format!("/{hier}/"))).and_then(|d| std::fs::read_to_string(d.join(file)).ok()).map(|s| s.trim().to_string())
    };
    if let Some(limit) = read("memory", "memory.limit_in_bytes") {
        assert_eq!(limit, (64u64 << 20).to_string());
        assert_eq!(read("cpu", "cpu.cfs_quota_us").as_deref(), Some("25000"));
    } else {
        // cgroup v2: one directory.
        let d = dirs.first().unwrap_or_else(|| panic!("no cgroup for {id} in {dirs:?}"));
        assert_eq!(std::fs::read_to_string(d.join("memory.max")).unwrap_or_default().trim(), (64u64 << 20).to_string());
        assert!(std::fs::read_to_string(d.join("cpu.max")).unwrap_or_default().starts_with("25000 "));
    }
}

const HOST_NET: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: hello:v1
    env: [{name: PORT, value: "18080"}]
"#;

#[test]
fn a_host_network_pod_serves_on_the_node_address_with_the_node_hostname() {
    require_root();
    let rc = RealCluster::start("hostnet");
    apply(&rc, HOST_NET);
    let p = wait_running(&rc, "hostnet", Duration::from_secs(60));
    assert_eq!(p["status"]["podIP"], p["status"]["hostIP"], "{}", p["status"]);
    let body = wait_for("the server on the node's address", Duration::from_secs(20), || http_get(&format!("{}:18080", p["status"]["hostIP"].as_str().unwrap_or("")), "/"));
    let v: Value = serde_json::from_str(body.trim()).unwrap_or_default();
    let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
    assert_eq!(v["hostname"], host.as_str(), "{body}");
    let hosts = rc.cluster.kubectl().ok(&["exec", "hostnet", "--", "cat", "/etc/hosts"]);
    assert!(hosts.starts_with("# Kubernetes-managed hosts file (host network).\n"), "{hosts}");
}
