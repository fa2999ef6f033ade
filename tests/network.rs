//! The network model on three real nodes, each in a namespace of its own behind an
//! underlay (harness::multinode): pod-to-pod on one node and across nodes through the
//! overlay, Services through each node's nftables table (ClusterIP to every endpoint,
//! NodePort from the underlay, no endpoints refused at once, hairpin), egress masquerade,
//! spoofed overlay packets dropped and counted. They need root and fail without it.

mod harness;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use harness::multinode::{MultiCluster, UNDERLAY_IP};
use harness::wait_for;
use serde_json::Value;

fn pod(mc: &MultiCluster, name: &str) -> Value {
    mc.cluster.api().get(&format!("/api/v1/namespaces/default/pods/{name}")).map(|(_, p)| p).unwrap_or_default()
}

fn wait_ready(mc: &MultiCluster, name: &str) -> Value {
    wait_for(&format!("pod {name} to be Running and Ready"), Duration::from_secs(120), || {
        let p = pod(mc, name);
        let ready = p["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
        if p["status"]["phase"] == "Running" && ready { Ok(p) } else { Err(p["status"].to_string()) }
    })
}

fn apply(mc: &MultiCluster, manifest: &str) {
    let r = mc.cluster.kubectl().run_with_stdin(&["apply", "-f", "-"], Some(manifest));
    assert!(r.success(), "kubectl apply:\n{}", r.text());
}

/// A hello server pinned to a node, labelled `app=web` and `pod=<name>`, with a busybox
/// sidecar (the hello image has no shell) to send requests from the pod's own address.
fn web_pod(name: &str, node: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web, pod: {name}}}
spec:
  nodeName: {node}
  hostname: {name}
  subdomain: web
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: hello:v1
    ports: [{{name: http, containerPort: 8080}}]
    readinessProbe:
      httpGet: {{path: /healthz, port: 8080}}
      periodSeconds: 1
  - name: shell
    image: busybox:latest
    command: ["sleep", "3600"]
"#
    )
}

/// Runs a shell command in a pod's busybox container.
fn sh(mc: &MultiCluster, pod: &str, container: &str, script: &str) -> harness::kubectl::Run {
    mc.cluster.kubectl().run(&["exec", pod, "-c", container, "--", "sh", "-c", script])
}

/// The hostnames in the hello answers of `out` (one JSON object per line).
fn hostnames(out: &str) -> Vec<String> {
    out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter_map(|v| v["hostname"].as_str().map(str::to_string)).collect()
}

fn service_ip(mc: &MultiCluster, name: &str) -> String {
    let (_, s) = mc.cluster.api().get(&format!("/api/v1/namespaces/default/services/{name}")).expect("reading a Service");
    s["spec"]["clusterIP"].as_str().unwrap_or_default().to_string()
}

/// `GET /` over plain HTTP/1.0 from the test's thread (in the underlay).
fn http_get(addr: &str, within: Duration) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().map_err(|e| format!("{addr}: {e}"))?, within).map_err(|e| format!("connecting to {addr}: {e}"))?;
    s.set_read_timeout(Some(within)).map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| format!("reading from {addr}: {e}"))?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

fn http_path(addr: &str, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().map_err(|e| format!("{addr}: {e}"))?, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The value of an unlabelled-or-labelled counter line `name{…} value` summed over lines.
fn metric(text: &str, name: &str, label: &str) -> u64 {
    text.lines().filter(|l| l.starts_with(name) && l.contains(label)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).map(|v| v as u64).sum()
}

/// An IPv4/UDP packet from `src` to `dst`, checksummed (the UDP checksum left 0).
fn udp_packet(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum: u32 = p.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10] = (ck >> 8) as u8;
    p[11] = ck as u8;
    let ulen = 8 + payload.len();
    p.extend_from_slice(&[0x30, 0x39, 0x30, 0x39, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    p.extend_from_slice(payload);
    p
}

/// Sends one datagram from inside a node's namespace (a thread of its own enters it).
fn send_from_node(ns: &std::path::Path, from: &str, to: &str, datagram: Vec<u8>) {
    let ns = ns.to_path_buf();
    let (from, to) = (from.to_string(), to.to_string());
    std::thread::spawn(move || {
        let f = std::fs::File::open(&ns).expect("opening the node's namespace");
        nix::sched::setns(std::os::fd::AsFd::as_fd(&f), nix::sched::CloneFlags::CLONE_NEWNET).expect("entering the node's namespace");
        let s = std::net::UdpSocket::bind(format!("{from}:0")).expect("binding in the node's namespace");
        s.send_to(&datagram, to).expect("sending the spoofed datagram");
    })
    .join()
    .expect("the sender thread");
}

#[test]
fn pods_services_and_the_overlay_on_three_nodes() {
    let mut mc = MultiCluster::start("net", 3);
    let names: Vec<String> = mc.nodes.iter().map(|n| n.name.clone()).collect();
    for (i, node) in names.iter().enumerate() {
        apply(&mc, &web_pod(&format!("web-{i}"), node));
    }
    apply(
        &mc,
        r#"
apiVersion: v1
kind: Service
metadata: {name: web-cip}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: self}
spec:
  selector: {pod: web-0}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80, targetPort: 8080}]
"#,
    );
    let ips: Vec<String> = (0..3).map(|i| wait_ready(&mc, &format!("web-{i}"))["status"]["podIP"].as_str().unwrap_or_default().to_string()).collect();

    // Pod to pod: the same node (the bridge) and the two others (the overlay).
    for (i, ip) in ips.iter().enumerate() {
        let out = wait_for(&format!("web-0 to reach web-{i} at {ip}"), Duration::from_secs(30), || {
            let r = sh(&mc, "web-0", "shell", &format!("timeout 3 wget -qO- http://{ip}:8080/"));
            if r.success() { Ok(r.stdout) } else { Err(r.text()) }
        });
        assert_eq!(hostnames(&out), vec![format!("web-{i}")], "{out}");
    }

    // ClusterIP: every endpoint answers within 100 requests.
    let cip = service_ip(&mc, "web-cip");
    let seen = wait_for("the ClusterIP to reach every endpoint", Duration::from_secs(60), || {
        let r = sh(&mc, "web-1", "shell", &format!("for i in $(seq 100); do timeout 2 wget -qO- http://{cip}/; done"));
        let seen: BTreeSet<String> = hostnames(&r.stdout).into_iter().collect();
        if seen.len() == 3 { Ok(seen) } else { Err(format!("answered by {seen:?}: {}", r.stderr)) }
    });
    assert_eq!(seen, (0..3).map(|i| format!("web-{i}")).collect());

    // Cluster DNS: a Service's short name through the search list, the pods of a
    // headless Service, a pod's hostname.subdomain; every node serves it.
    for (i, n) in names.iter().enumerate() {
        let out = wait_for(&format!("web-{i} (on {n}) to reach web-cip by name"), Duration::from_secs(30), || {
            let r = sh(&mc, &format!("web-{i}"), "shell", "timeout 5 wget -qO- http://web-cip/");
            if r.success() { Ok(r.stdout) } else { Err(r.text()) }
        });
        assert_eq!(hostnames(&out).len(), 1, "{out}");
    }
    let out = sh(&mc, "web-1", "shell", "nslookup web.default.svc.cluster.local");
    for ip in &ips {
        assert!(out.stdout.contains(&format!("Address: {ip}")), "the headless Service lacks {ip}:\n{}", out.text());
    }
    let out = sh(&mc, "web-2", "shell", "nslookup web-0.web.default.svc.cluster.local");
    assert!(out.stdout.contains(&format!("Address: {}", ips[0])), "web-0.web:\n{}", out.text());
    let out = sh(&mc, "web-2", "shell", "nslookup nothing-here.default.svc.cluster.local");
    assert!(out.text().contains("NXDOMAIN"), "{}", out.text());

    // NodePort: every node answers from the underlay.
    let (_, np) = mc.cluster.api().get("/api/v1/namespaces/default/services/web-np").expect("reading web-np");
    let port = np["spec"]["ports"][0]["nodePort"].as_i64().expect("a nodePort");
    for n in &mc.nodes {
        let addr = format!("{}:{port}", n.ip);
        let body = wait_for(&format!("NodePort {addr}"), Duration::from_secs(30), || http_get(&addr, Duration::from_secs(3)));
        assert_eq!(hostnames(&body).len(), 1, "{body}");
    }

    // externalTrafficPolicy: Local — each node's NodePort answers from its own pod.
    let (_, local) = mc.cluster.api().get("/api/v1/namespaces/default/services/web-local").expect("reading web-local");
    let port = local["spec"]["ports"][0]["nodePort"].as_i64().expect("a nodePort");
    for (i, n) in mc.nodes.iter().enumerate() {
        let addr = format!("{}:{port}", n.ip);
        for _ in 0..5 {
            let body = wait_for(&format!("Local NodePort {addr}"), Duration::from_secs(30), || http_get(&addr, Duration::from_secs(3)));
            assert_eq!(hostnames(&body), vec![format!("web-{i}")], "{addr} answered from another node");
        }
    }

    // sessionAffinity: ClientIP — one client, one endpoint.
    let sticky = service_ip(&mc, "web-sticky");
    let out = sh(&mc, "web-2", "shell", &format!("for i in $(seq 20); do timeout 2 wget -qO- http://{sticky}/; done"));
    let seen: BTreeSet<String> = hostnames(&out.stdout).into_iter().collect();
    assert_eq!(seen.len(), 1, "a ClientIP-affine Service answered from {seen:?}");
    assert_eq!(hostnames(&out.stdout).len(), 20, "{}", out.text());

    // A Service without endpoints refuses at once.
    let nobody = service_ip(&mc, "nobody");
    let started = Instant::now();
    let r = sh(&mc, "web-2", "shell", &format!("timeout 10 wget -qO- http://{nobody}/"));
    assert!(!r.success(), "a Service without endpoints answered: {}", r.text());
    assert!(r.stderr.contains("refused"), "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(8), "refusing took {:?}", started.elapsed());

    // Hairpin: web-0 reaches itself through a Service whose only endpoint it is.
    let own = service_ip(&mc, "self");
    let out = wait_for("web-0 to reach itself through its Service", Duration::from_secs(30), || {
        let r = sh(&mc, "web-0", "shell", &format!("timeout 3 wget -qO- http://{own}/"));
        if r.success() { Ok(r.stdout) } else { Err(r.text()) }
    });
    assert_eq!(hostnames(&out), vec!["web-0".to_string()]);

    // Egress: a pod reaching the underlay leaves with its node's address.
    let listener = TcpListener::bind(format!("{UNDERLAY_IP}:0")).expect("listening in the underlay");
    let addr = listener.local_addr().expect("the listener's address");
    let accept = std::thread::spawn(move || listener.accept().map(|(mut s, peer)| {
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        peer
    }));
    let _ = sh(&mc, "web-1", "shell", &format!("timeout 5 wget -qO- http://{addr}/"));
    let peer = accept.join().expect("the accepting thread").expect("accepting the pod's connection");
    assert_eq!(peer.ip().to_string(), mc.nodes[1].ip, "the egress source");

    // The overlay drops a packet from a known node whose inner source is not in its subnet.
    let metrics_url = format!("{}:10250", mc.nodes[0].ip);
    let before = metric(&http_path(&metrics_url, "/metrics").expect("node 0's /metrics"), "shoal_overlay_dropped_packets_total", "spoofed_source");
    let web0: std::net::Ipv4Addr = ips[0].parse().expect("an IPv4 pod IP");
    let spoofed = udp_packet([10, 99, 0, 7], web0.octets(), b"spoofed");
    send_from_node(&mc.nodes[1].ns.path(), &mc.nodes[1].ip, &format!("{}:8285", mc.nodes[0].ip), spoofed);
    wait_for("the spoofed packet to be counted", Duration::from_secs(10), || {
        let text = http_path(&metrics_url, "/metrics")?;
        let now = metric(&text, "shoal_overlay_dropped_packets_total", "spoofed_source");
        if now > before { Ok(()) } else { Err(text) }
    });

    // Nothing leaks: a deleted Service leaves every node's table; a stopped node without
    // pods leaves no TUN device, bridge or table in its namespace.
    let table = |n: &harness::multinode::NodeHost| String::from_utf8_lossy(&n.run("nft", &["list", "table", "ip", "shoal-proxy"]).stdout).into_owned();
    assert!(table(&mc.nodes[0]).contains(&nobody), "the table lacks {nobody}");
    mc.cluster.kubectl().ok(&["delete", "service", "nobody"]);
    for n in &mc.nodes {
        wait_for(&format!("{}'s table to forget {nobody}", n.name), Duration::from_secs(20), || {
            let t = table(n);
            if t.contains("shoal-proxy") && !t.contains(&nobody) { Ok(()) } else { Err(t) }
        });
    }
    mc.cluster.kubectl().ok(&["delete", "pod", "web-2", "--wait=true", "--timeout=60s"]);
    mc.stop_node(2);
    let n = &mc.nodes[2];
    let links = String::from_utf8_lossy(&n.run("ip", &["-o", "link"]).stdout).into_owned();
    assert!(!links.contains("shoal-tun0") && !links.contains("shoal0"), "left behind:\n{links}");
    let o = n.run("nft", &["list", "tables"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("shoal-proxy"), "the table is left behind");
    let routes = String::from_utf8_lossy(&n.run("ip", &["route"]).stdout).into_owned();
    assert!(!routes.contains("10.244."), "routes left behind:\n{routes}");
}

const ROLLOUT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  replicas: 10
  selector: {matchLabels: {app: hello}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 0, maxSurge: 3}
  template:
    metadata: {labels: {app: hello}}
    spec:
      terminationGracePeriodSeconds: 15
      containers:
      - name: hello
        image: hello:v1
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
        lifecycle:
          preStop: {sleep: {seconds: 3}}
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
"#;

/// A client that asks the Service without pause and logs each answer's version, or FAIL.
fn client_pod(node: &str, service_ip: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: client}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: busybox:latest
    command:
    - sh
    - -c
    - |
      while true; do
        if out=$(timeout 3 wget -qO- http://{service_ip}/); then
          echo "$out" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p' >> /tmp/log
        else
          echo FAIL >> /tmp/log
        fi
      done
"#
    )
}

#[test]
fn a_rollout_behind_a_service_loses_no_request() {
    let mc = MultiCluster::start("roll", 3);
    apply(&mc, ROLLOUT);
    let k = mc.cluster.kubectl();
    let r = k.run(&["rollout", "status", "deployment/hello", "--timeout=180s"]);
    assert!(r.success(), "{}", r.text());
    let cip = service_ip(&mc, "hello");
    apply(&mc, &client_pod(&mc.nodes[0].name, &cip));
    wait_ready(&mc, "client");
    let log = |k: &harness::kubectl::Kubectl| k.run(&["exec", "client", "--", "cat", "/tmp/log"]).stdout;
    wait_for("the client to get answers from v1", Duration::from_secs(30), || {
        let l = log(&k);
        if l.lines().filter(|x| *x == "v1").count() >= 20 { Ok(()) } else { Err(l) }
    });

    k.ok(&["set", "image", "deployment/hello", "hello=hello:v2"]);
    let r = k.run(&["rollout", "status", "deployment/hello", "--timeout=300s"]);
    assert!(r.success(), "{}", r.text());
    let before = log(&k).lines().count();
    wait_for("the client to get answers after the rollout", Duration::from_secs(30), || {
        let n = log(&k).lines().count();
        if n >= before + 30 { Ok(()) } else { Err(format!("{n} answers")) }
    });

    let lines: Vec<String> = log(&k).lines().map(str::to_string).collect();
    let failed = lines.iter().filter(|l| *l == "FAIL").count();
    let v1 = lines.iter().filter(|l| *l == "v1").count();
    let v2 = lines.iter().filter(|l| *l == "v2").count();
    eprintln!("rollout: {} requests, {v1} answered by v1, {v2} by v2, {failed} failed", lines.len());
    assert_eq!(failed, 0, "requests failed during the rollout ({} in all)", lines.len());
    assert_eq!(lines.first().map(String::as_str), Some("v1"));
    assert!(lines.iter().rev().take(20).all(|l| l == "v2"), "the last answers are not all v2: {:?}", &lines[lines.len().saturating_sub(20)..]);
}
