//! `kubectl logs`, `exec` (plain, `-i`, `-it` through a pty), `cp` and `port-forward`
//! with the real kubectl, through the gateway's pod subresources, to a node server
//! (`node_host::server`) over `LocalStreams` (host processes), registered as the Node
//! the pod is bound to.

mod harness;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use harness::{kubectl_bin, Cluster};
use node_host::logs::{self, LogOptions, LogStream, PodLogKey, Writer};
use node_host::server::local::LocalStreams;
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(30);

/// The node server on a free port of 127.0.0.1, in its own runtime (dropped with the test).
fn start_node_server(streams: Arc<LocalStreams>) -> (tokio::runtime::Runtime, u16) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(node_host::server::serve(listener, streams, std::future::pending()));
    (rt, port)
}

fn register(cluster: &Cluster, kubelet_port: u16) -> String {
    let api = cluster.api();
    let (code, body) = api.post("/api/v1/nodes", &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})).unwrap();
    assert_eq!(code, 201, "{body}");
    let (code, body) = api
        .modify("/api/v1/nodes/n1/status", |n| {
            n["status"] = json!({
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "n1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            });
        })
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "busybox"}]}});
    let (code, body) = api.post("/api/v1/namespaces/default/pods", &pod).unwrap();
    assert_eq!(code, 201, "{body}");
    let uid = body["metadata"]["uid"].as_str().unwrap().to_string();
    let (code, body) = api
        .modify("/api/v1/namespaces/default/pods/web/status", |p| {
            p["status"] = json!({
                "phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "busybox", "imageID": "",
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}],
            });
        })
        .unwrap();
    assert_eq!(code, 200, "{body}");
    uid
}

/// Runs kubectl under `script`, so that its stdin is a terminal (`exec -it`).
fn under_pty(cluster: &Cluster, args: &str) -> String {
    let cmd = format!("{} {args}", kubectl_bin().display());
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("HOME", cluster.path())
        .env("KUBECACHEDIR", cluster.path().join("kube-cache"))
        .stdin(Stdio::null())
        .output()
        .expect("running script");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn kubectl_logs_exec_cp_and_port_forward_through_the_node_server() {
    let cluster = Cluster::embedded();
    let streams = Arc::new(LocalStreams::new());
    let (rt, port) = start_node_server(streams.clone());
    let uid = register(&cluster, port);
    let root = cluster.path().join("node");
    let key = PodLogKey { namespace: "default".into(), name: "web".into(), uid };
    let log = logs::container_log_path(&root, &key, "app", 0);
    let mut w = Writer::open(&log, LogOptions::default()).unwrap();
    w.write(LogStream::Stdout, b"first line\nsecond line\n").unwrap();
    w.write(LogStream::Stderr, b"an error\n").unwrap();
    streams.add_pod("default", "web", IpAddr::V4(Ipv4Addr::LOCALHOST));
    streams.add_container("default", "web", "app", log.clone(), None);
    let k = cluster.kubectl();

    // logs, --tail, --timestamps, --previous, a wrong container.
    assert_eq!(k.ok(&["logs", "web"]), "first line\nsecond line\nan error\n");
    assert_eq!(k.ok(&["logs", "web", "--tail", "1"]), "an error\n");
    let ts = k.ok(&["logs", "web", "--timestamps", "--tail", "2"]);
    assert!(ts.lines().all(|l| l.split_once(' ').is_some_and(|(t, _)| chrono::DateTime::parse_from_rfc3339(t).is_ok())), "{ts}");
    assert!(k.ok(&["logs", "web", "-c", "app", "--since", "1h"]).contains("first line"));
    let err = k.fails(&["logs", "web", "--previous"]);
    assert!(err.contains("previous terminated container \"app\" in pod \"web\" not found"), "{err}");
    let err = k.fails(&["logs", "web", "-c", "nope"]);
    assert!(err.contains("container nope is not valid for pod web"), "{err}");

    // shoal logs.
    let out = cluster.shoal(&["logs", "web", "--tail", "2"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "second line\nan error\n");
    let out = cluster.shoal(&["logs", "pod/web", "-c", "app", "--timestamps", "--since", "1h"]);
    assert!(String::from_utf8_lossy(&out.stdout).lines().count() == 3, "{out:?}");

    // logs -f sees a line appended later, and ends when the container stops.
    let mut follow = k.stream(&["logs", "-f", "web"]);
    follow.until("the first line", DEADLINE, |l| l == "first line");
    w.write(LogStream::Stdout, b"appended later\n").unwrap();
    follow.until("the appended line", DEADLINE, |l| l == "appended later");

    // exec: output, exit codes, stdin, a pty.
    assert_eq!(k.ok(&["exec", "web", "--", "echo", "hi"]), "hi\n");
    let r = k.run(&["exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(r.code, Some(3), "{}", r.text());
    assert_eq!(r.stdout, "out\n");
    assert!(r.stderr.contains("err"), "{}", r.text());
    let r = k.run_with_stdin(&["exec", "-i", "web", "--", "sh", "-c", "tr a-z A-Z"], Some("piped in\n"));
    assert!(r.success(), "{}", r.text());
    assert_eq!(r.stdout, "PIPED IN\n");
    let out = under_pty(&cluster, "exec -it web -- tty");
    assert!(out.contains("/dev/pts/"), "{out}");
    let out = under_pty(&cluster, "exec -it web -- sh -c 'stty size'");
    assert!(out.lines().any(|l| l.trim().split(' ').count() == 2), "{out}");

    // cp both ways (tar through exec).
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.txt");
    std::fs::write(&src, "copied content\n").unwrap();
    let dest = dir.path().join("in-pod");
    std::fs::create_dir(&dest).unwrap();
    let remote = format!("default/web:{}/dest.txt", dest.display());
    k.ok(&["cp", src.to_str().unwrap(), &remote]);
    assert_eq!(std::fs::read_to_string(dest.join("dest.txt")).unwrap(), "copied content\n");
    let back = dir.path().join("back.txt");
    k.ok(&["cp", &remote, back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "copied content\n");

    // port-forward to a port served on the "pod IP".
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in server.incoming() {
            let Ok(mut c) = conn else { break };
            let mut buf = [0u8; 64];
            let n = c.read(&mut buf).unwrap_or(0);
            let _ = c.write_all(format!("echo: {}", String::from_utf8_lossy(&buf[..n])).as_bytes());
        }
    });
    let local = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut pf = k.stream(&["port-forward", "pod/web", &format!("{local}:{target}")]);
    pf.until("Forwarding from", DEADLINE, |l| l.contains("Forwarding from 127.0.0.1"));
    for round in 0..2 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        c.write_all(format!("ping {round}").as_bytes()).unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        assert_eq!(got, format!("echo: ping {round}"));
    }
    drop(pf);

    // attach: the container's output from now on.
    let output = streams.output("default", "web", "app").unwrap();
    let mut attach = k.stream(&["attach", "web", "-c", "app"]);
    // Output sent before kubectl is attached is not seen: keep sending until a line arrives.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let _ = output.send(logs::Chunk { stream: LogStream::Stdout, data: format!("attached {n}\n").into() });
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let line = attach.until("attached output", DEADLINE, |l| l.starts_with("attached "));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    feeder.join().unwrap();
    assert!(line.starts_with("attached "), "{line}");
    drop(attach);
    drop(follow);
    drop(rt);
}
