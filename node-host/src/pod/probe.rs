//! Probes and lifecycle hooks: one action (exec through the runtime, HTTP GET to the pod
//! IP, TCP connect, gRPC health over HTTP/2, sleep), and the prober — one
//! task per probed container running its startup, liveness and readiness probes with
//! upstream's timings and thresholds, recording `Unhealthy` events and waking the pod's
//! actor whenever a verdict changes.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::model::{Container, ExecAction, GrpcAction, HttpGetAction, IntOrString, LifecycleHandler, Pod, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::events::{Recorder, WARNING};
use super::plan::ProbeView;
use crate::runtime::{ContainerRuntime, ExecRequest};

/// What one probe or hook run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(String),
}

/// Where probes and hooks of one container go.
#[derive(Clone)]
pub struct Target {
    pub runtime: Arc<dyn ContainerRuntime>,
    pub container_id: String,
    pub container: Container,
    pub pod_ip: Option<Ipv4Addr>,
}

/// A container port given by number or by name.
pub fn port(container: &Container, p: &IntOrString) -> Result<u16, String> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|n| *n > 0).ok_or_else(|| format!("invalid port number: {n}")),
        IntOrString::String(s) => match s.parse::<u16>() {
            Ok(n) => Ok(n),
            Err(_) => container
                .ports
                .iter()
                .find(|cp| cp.name.as_deref() == Some(s.as_str()))
                .and_then(|cp| u16::try_from(cp.container_port).ok())
                .ok_or_else(|| format!("couldn't find port: {s} in {}", container.name)),
        },
    }
}

/// Runs `argv` in the container; success is exit code 0, the output is the message.
pub async fn exec(t: &Target, action: &ExecAction, timeout: Duration) -> Outcome {
    let (reader, writer) = match std::io::pipe() {
        Ok(p) => p,
        Err(e) => return Outcome::Failure(e.to_string()),
    };
    let stderr = std::os::fd::OwnedFd::from(writer);
    let stdout = match stderr.try_clone() {
        Ok(f) => f,
        Err(e) => return Outcome::Failure(e.to_string()),
    };
    let req = ExecRequest { argv: action.command.clone(), env: Vec::new(), stdin: None, stdout: Some(stdout), stderr: Some(stderr), tty: false };
    let output = tokio::task::spawn_blocking(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::Read::take(reader, 10 * 1024), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let res = tokio::time::timeout(timeout, t.runtime.exec(&t.container_id, req)).await;
    let out = match tokio::time::timeout(Duration::from_millis(200), output).await {
        Ok(Ok(s)) => s,
        _ => String::new(),
    };
    match res {
        Err(_) => Outcome::Failure(format!("command {:?} timed out", action.command.join(" "))),
        Ok(Err(e)) => Outcome::Failure(e.to_string()),
        Ok(Ok(0)) => Outcome::Success,
        Ok(Ok(code)) if out.trim().is_empty() => Outcome::Failure(format!("command {:?} exited with {code}", action.command.join(" "))),
        Ok(Ok(_)) => Outcome::Failure(out),
    }
}

fn host(t: &Target, given: &Option<String>) -> Result<IpAddr, String> {
    match given.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => h.parse().map_err(|_| format!("invalid host {h:?}")),
        None => t.pod_ip.map(IpAddr::V4).ok_or_else(|| "the pod has no IP yet".to_string()),
    }
}

/// HTTP GET to the pod IP (or `host`): 200–399 is success, as upstream.
pub async fn http_get(t: &Target, action: &HttpGetAction, timeout: Duration) -> Outcome {
    let scheme = action.scheme.as_deref().unwrap_or("HTTP");
    let (ip, port) = match (host(t, &action.host), port(&t.container, &action.port)) {
        (Ok(h), Ok(p)) => (h, p),
        (Err(e), _) | (_, Err(e)) => return Outcome::Failure(e),
    };
    let path = action.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
    let url = format!("{}://{ip}:{port}{path}", scheme.to_ascii_lowercase());
    if scheme.eq_ignore_ascii_case("HTTPS") {
        return Outcome::Failure(format!("Get {url:?}: https probes are not supported yet"));
    }
    let run = async {
        let mut s = tokio::net::TcpStream::connect((ip, port)).await.map_err(|e| format!("Get {url:?}: dial tcp {ip}:{port}: connect: {}", plain(&e)))?;
        let mut req = format!("GET {path} HTTP/1.1\r\n");
        let has = |n: &str| action.http_headers.iter().any(|h| h.name.eq_ignore_ascii_case(n));
        if !has("host") {
            req.push_str(&format!("Host: {ip}:{port}\r\n"));
        }
        if !has("user-agent") {
            req.push_str("User-Agent: kube-probe/1.37\r\n");
        }
        if !has("accept") {
            req.push_str("Accept: */*\r\n");
        }
        for h in &action.http_headers {
            req.push_str(&format!("{}: {}\r\n", h.name, h.value));
        }
        req.push_str("Connection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.map_err(|e| format!("Get {url:?}: {e}"))?;
        let mut head = vec![0u8; 1024];
        let mut n = 0;
        while n < head.len() && !head[..n].contains(&b'\n') {
            let r = s.read(&mut head[n..]).await.map_err(|e| format!("Get {url:?}: {e}"))?;
            if r == 0 {
                break;
            }
            n += r;
        }
        let line = String::from_utf8_lossy(&head[..n]).lines().next().unwrap_or_default().to_string();
        let code: u16 = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("Get {url:?}: malformed HTTP response {line:?}"))?;
        if (200..400).contains(&code) { Ok(()) } else { Err(format!("HTTP probe failed with statuscode: {code}")) }
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Outcome::Failure(format!("Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)")),
        Ok(Err(e)) => Outcome::Failure(e),
        Ok(Ok(())) => Outcome::Success,
    }
}

fn plain(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

/// TCP connect to the pod IP (or `host`) and port.
pub async fn tcp(t: &Target, host_given: &Option<String>, p: &IntOrString, timeout: Duration) -> Outcome {
    let (ip, port) = match (host(t, host_given), port(&t.container, p)) {
        (Ok(h), Ok(p)) => (h, p),
        (Err(e), _) | (_, Err(e)) => return Outcome::Failure(e),
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((ip, port))).await {
        Err(_) => Outcome::Failure(format!("dial tcp {ip}:{port}: i/o timeout")),
        Ok(Err(e)) => Outcome::Failure(format!("dial tcp {ip}:{port}: connect: {}", plain(&e))),
        Ok(Ok(_)) => Outcome::Success,
    }
}

/// gRPC health checking (`grpc.health.v1.Health/Check` over HTTP/2 without TLS, as
/// upstream's prober): SERVING is success.
pub async fn grpc(t: &Target, action: &GrpcAction, timeout: Duration) -> Outcome {
    let ip = match host(t, &None) {
        Ok(ip) => ip,
        Err(e) => return Outcome::Failure(e),
    };
    let Ok(port) = u16::try_from(action.port) else { return Outcome::Failure(format!("invalid port number: {}", action.port)) };
    let addr = format!("{ip}:{port}");
    let service = action.service.clone().unwrap_or_default();
    let secs = go_secs(timeout);
    let run = async {
        let tcp = tokio::net::TcpStream::connect((ip, port)).await.map_err(|e| format!("timeout: failed to connect service {addr:?} within {secs}: {}", plain(&e)))?;
        let (client, conn) = h2::client::handshake(tcp).await.map_err(|e| format!("timeout: failed to connect service {addr:?} within {secs}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let rpc_err = |e: h2::Error| format!("error: health rpc probe failed: {e}");
        let mut client = client.ready().await.map_err(rpc_err)?;
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("user-agent", "kube-probe/1.37")
            .body(())
            .map_err(|e| e.to_string())?;
        let (resp, mut send) = client.send_request(req, false).map_err(rpc_err)?;
        // HealthCheckRequest { service = 1 }, in a gRPC length-prefixed frame.
        let mut msg = Vec::new();
        if !service.is_empty() {
            msg.push(0x0a);
            msg.extend(varint(service.len() as u64));
            msg.extend(service.as_bytes());
        }
        let mut frame = vec![0u8];
        frame.extend((msg.len() as u32).to_be_bytes());
        frame.extend(msg);
        send.send_data(bytes::Bytes::from(frame), true).map_err(rpc_err)?;
        let resp = resp.await.map_err(rpc_err)?;
        if resp.status() != http::StatusCode::OK {
            return Err(format!("error: health rpc probe failed: HTTP status {}", resp.status()));
        }
        let header_status = resp.headers().get("grpc-status").and_then(|v| v.to_str().ok()).map(String::from);
        let mut body = resp.into_body();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(rpc_err)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(rpc_err)?;
        let get = |k: &str| trailers.as_ref().and_then(|t| t.get(k)).and_then(|v| v.to_str().ok()).map(String::from);
        let code = get("grpc-status").or(header_status).unwrap_or_else(|| "0".into());
        if code != "0" {
            let desc = get("grpc-message").unwrap_or_default();
            return Err(format!("error: health rpc probe failed: rpc error: code = {} desc = {desc}", grpc_code(&code)));
        }
        let status = data.get(5..).map(health_status).unwrap_or(0);
        match status {
            1 => Ok(()),
            s => Err(format!("service unhealthy (responded with {:?})", serving_name(s))),
        }
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Outcome::Failure(format!("timeout: health rpc did not complete within {secs}")),
        Ok(Err(e)) => Outcome::Failure(e),
        Ok(Ok(())) => Outcome::Success,
    }
}

fn go_secs(d: Duration) -> String {
    super::backoff::go_duration(d)
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// `HealthCheckResponse.status` (field 1, varint) of an encoded message; 0 when absent.
fn health_status(msg: &[u8]) -> u64 {
    let mut i = 0;
    while i < msg.len() {
        let tag = msg[i];
        i += 1;
        let (field, wire) = (tag >> 3, tag & 7);
        let mut read_varint = || {
            let (mut v, mut shift) = (0u64, 0);
            while i < msg.len() {
                let b = msg[i];
                i += 1;
                v |= ((b & 0x7f) as u64) << shift;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
            v
        };
        match wire {
            0 => {
                let v = read_varint();
                if field == 1 {
                    return v;
                }
            }
            2 => {
                let len = read_varint() as usize;
                i += len;
            }
            _ => return 0,
        }
    }
    0
}

fn serving_name(s: u64) -> &'static str {
    match s {
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}

fn grpc_code(code: &str) -> &str {
    match code {
        "1" => "Canceled",
        "2" => "Unknown",
        "4" => "DeadlineExceeded",
        "5" => "NotFound",
        "12" => "Unimplemented",
        "13" => "Internal",
        "14" => "Unavailable",
        other => other,
    }
}

/// One run of a probe.
pub async fn run_probe(t: &Target, p: &Probe) -> Outcome {
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    if let Some(e) = &p.exec {
        exec(t, e, timeout).await
    } else if let Some(h) = &p.http_get {
        http_get(t, h, timeout).await
    } else if let Some(s) = &p.tcp_socket {
        tcp(t, &s.host, &s.port, timeout).await
    } else if let Some(g) = &p.grpc {
        grpc(t, g, timeout).await
    } else {
        Outcome::Failure("probe has no handler".into())
    }
}

/// Runs a lifecycle hook (postStart, preStop) within `deadline`; Err is upstream's message.
pub async fn run_handler(t: &Target, h: &LifecycleHandler, deadline: Duration, pod: &Pod, hook: &str) -> Result<(), String> {
    let name = &t.container.name;
    let who = format!("Container {name:?} in Pod {:?}", format!("{}_{}({})", pod.metadata.name, pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.uid));
    let _ = hook;
    if let Some(e) = &h.exec {
        return match exec(t, e, deadline).await {
            Outcome::Success => Ok(()),
            Outcome::Failure(m) => Err(format!("Exec lifecycle hook ([{}]) for {who} failed - error: command '{}' exited with non-zero status, message: {m:?}", e.command.join(" "), e.command.join(" "))),
        };
    }
    if let Some(g) = &h.http_get {
        return match http_get(t, g, deadline).await {
            Outcome::Success => Ok(()),
            Outcome::Failure(m) => Err(format!("HTTP lifecycle hook ({}) for {who} failed - error: {m}", g.path.as_deref().unwrap_or("/"))),
        };
    }
    if let Some(s) = &h.sleep {
        let d = Duration::from_secs(s.seconds.max(0) as u64).min(deadline);
        tokio::time::sleep(d).await;
        return Ok(());
    }
    if let Some(s) = &h.tcp_socket {
        return match tcp(t, &s.host, &s.port, deadline).await {
            Outcome::Success => Ok(()),
            Outcome::Failure(m) => Err(m),
        };
    }
    Err(format!("Lifecycle hook for {who} has no handler"))
}

/// The verdicts of one container's probes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verdicts {
    pub started: bool,
    pub readiness_ok: bool,
    pub has_readiness: bool,
    pub liveness_failed: bool,
    pub startup_failed: bool,
}

impl Verdicts {
    pub fn view(&self) -> ProbeView {
        ProbeView {
            started: self.started,
            ready: self.started && (!self.has_readiness || self.readiness_ok),
            liveness_failed: self.liveness_failed,
            startup_failed: self.startup_failed,
        }
    }
}

/// The prober of one running container; dropping it stops its probes.
pub struct Prober {
    pub verdicts: Arc<Mutex<Verdicts>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Prober {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// What the prober needs besides the target.
pub struct ProberCx {
    pub recorder: Arc<Recorder>,
    pub pod: Arc<Pod>,
    /// Wakes the pod's actor.
    pub poke: Arc<dyn Fn() + Send + Sync>,
}

/// A view for a container without a prober (no probes): started and ready while it runs.
pub fn no_probes() -> ProbeView {
    ProbeView { started: true, ready: true, ..Default::default() }
}

/// Starts the probes of a running container (None when it has none).
pub fn start(t: Target, cx: ProberCx) -> Option<Prober> {
    let c = t.container.clone();
    if c.startup_probe.is_none() && c.liveness_probe.is_none() && c.readiness_probe.is_none() {
        return None;
    }
    let verdicts = Arc::new(Mutex::new(Verdicts { started: c.startup_probe.is_none(), has_readiness: c.readiness_probe.is_some(), ..Default::default() }));
    let cx = Arc::new(cx);
    let mut tasks = Vec::new();
    for (kind, probe) in [(Kind::Startup, &c.startup_probe), (Kind::Liveness, &c.liveness_probe), (Kind::Readiness, &c.readiness_probe)] {
        if let Some(p) = probe {
            tasks.push(tokio::spawn(worker(kind, (**p).clone(), t.clone(), verdicts.clone(), cx.clone())));
        }
    }
    Some(Prober { verdicts, tasks })
}

fn lock(v: &Mutex<Verdicts>) -> std::sync::MutexGuard<'_, Verdicts> {
    v.lock().unwrap_or_else(|p| p.into_inner())
}

async fn worker(kind: Kind, p: Probe, t: Target, verdicts: Arc<Mutex<Verdicts>>, cx: Arc<ProberCx>) {
    let period = Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
    let success_threshold = p.success_threshold.unwrap_or(1).max(1);
    let failure_threshold = p.failure_threshold.unwrap_or(3).max(1);
    tokio::time::sleep(Duration::from_secs(p.initial_delay_seconds.unwrap_or(0).max(0) as u64)).await;
    let (mut successes, mut failures) = (0, 0);
    loop {
        let started = lock(&verdicts).started;
        if kind == Kind::Startup && started {
            return;
        }
        if kind != Kind::Startup && !started {
            tokio::time::sleep(period.min(Duration::from_millis(200))).await;
            continue;
        }
        let outcome = run_probe(&t, &p).await;
        let changed = {
            let mut v = lock(&verdicts);
            let before = (v.started, v.readiness_ok, v.liveness_failed, v.startup_failed);
            match &outcome {
                Outcome::Success => {
                    failures = 0;
                    successes += 1;
                    if successes >= success_threshold {
                        match kind {
                            Kind::Startup => v.started = true,
                            Kind::Readiness => v.readiness_ok = true,
                            Kind::Liveness => {}
                        }
                    }
                }
                Outcome::Failure(_) => {
                    successes = 0;
                    failures += 1;
                    if failures >= failure_threshold {
                        match kind {
                            Kind::Startup => v.startup_failed = true,
                            Kind::Readiness => v.readiness_ok = false,
                            Kind::Liveness => v.liveness_failed = true,
                        }
                    }
                }
            }
            before != (v.started, v.readiness_ok, v.liveness_failed, v.startup_failed)
        };
        if let Outcome::Failure(m) = &outcome {
            cx.recorder.record(&cx.pod, Some(&t.container.name), WARNING, "Unhealthy", &format!("{} probe failed: {m}", kind.name())).await;
        }
        if changed {
            (cx.poke)();
        }
        let v = *lock(&verdicts);
        if v.liveness_failed || v.startup_failed {
            return;
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use api::model::{ContainerPort, HttpHeader};

    fn target(rt: Arc<dyn ContainerRuntime>) -> Target {
        let container = Container { name: "web".into(), ports: vec![ContainerPort { name: Some("http".into()), container_port: 8080, ..Default::default() }], ..Default::default() };
        Target { runtime: rt, container_id: "x".into(), container, pod_ip: Some(Ipv4Addr::LOCALHOST) }
    }

    #[test]
    fn ports_resolve_by_number_and_name() {
        let t = target(Arc::new(FakeRuntime::new()));
        assert_eq!(port(&t.container, &IntOrString::Int(80)), Ok(80));
        assert_eq!(port(&t.container, &IntOrString::String("http".into())), Ok(8080));
        assert!(port(&t.container, &IntOrString::String("nope".into())).is_err());
        assert!(port(&t.container, &IntOrString::Int(0)).is_err());
    }

    /// Serves one HTTP response per connection with `status`, recording request heads.
    async fn server(status: u16) -> (u16, Arc<Mutex<Vec<String>>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let mut buf = vec![0u8; 2048];
                let n = c.read(&mut buf).await.unwrap_or(0);
                s.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = c.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
            }
        });
        (port, seen)
    }

    #[tokio::test]
    async fn http_get_succeeds_on_2xx_3xx_and_sends_path_and_headers() {
        let t = target(Arc::new(FakeRuntime::new()));
        for (status, ok) in [(200, true), (302, true), (404, false), (503, false)] {
            let (port, seen) = server(status).await;
            let action = HttpGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::Int(port as i32),
                http_headers: vec![HttpHeader { name: "X-Probe".into(), value: "yes".into() }],
                ..Default::default()
            };
            let out = http_get(&t, &action, Duration::from_secs(2)).await;
            assert_eq!(out == Outcome::Success, ok, "{status}: {out:?}");
            if !ok {
                assert_eq!(out, Outcome::Failure(format!("HTTP probe failed with statuscode: {status}")));
            }
            let head = seen.lock().unwrap()[0].clone();
            assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
            assert!(head.contains("X-Probe: yes\r\n") && head.contains("User-Agent: kube-probe/"), "{head}");
        }
    }

    /// A gRPC health server answering `status` (1 SERVING, 2 NOT_SERVING) for every service.
    async fn health_server(status: u8) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((c, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut conn = h2::server::handshake(c).await.unwrap();
                    while let Some(Ok((req, mut respond))) = conn.accept().await {
                        assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                        let resp = http::Response::builder().status(200).header("content-type", "application/grpc").body(()).unwrap();
                        let mut send = respond.send_response(resp, false).unwrap();
                        send.send_data(bytes::Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]), false).unwrap();
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        send.send_trailers(trailers).unwrap();
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn grpc_health_checks_report_serving_and_not_serving() {
        let t = target(Arc::new(FakeRuntime::new()));
        let ok = GrpcAction { port: health_server(1).await as i32, ..Default::default() };
        assert_eq!(grpc(&t, &ok, Duration::from_secs(2)).await, Outcome::Success);
        let bad = GrpcAction { port: health_server(2).await as i32, service: Some("web".into()), ..Default::default() };
        assert_eq!(grpc(&t, &bad, Duration::from_secs(2)).await, Outcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into()));
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let none = GrpcAction { port: port as i32, ..Default::default() };
        let out = grpc(&t, &none, Duration::from_secs(1)).await;
        assert_eq!(out, Outcome::Failure(format!("timeout: failed to connect service \"127.0.0.1:{port}\" within 1s: connection refused")));
        assert_eq!(health_status(&[0x08, 0x02]), 2);
        assert_eq!(varint(300), [0xac, 0x02]);
    }

    #[tokio::test]
    async fn tcp_and_http_report_refused_connections_as_upstream() {
        let t = target(Arc::new(FakeRuntime::new()));
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(tcp(&t, &None, &IntOrString::Int(port as i32), Duration::from_secs(1)).await, Outcome::Success);
        drop(l);
        let out = tcp(&t, &None, &IntOrString::Int(port as i32), Duration::from_secs(1)).await;
        assert_eq!(out, Outcome::Failure(format!("dial tcp 127.0.0.1:{port}: connect: connection refused")));
        let action = HttpGetAction { port: IntOrString::Int(port as i32), ..Default::default() };
        let out = http_get(&t, &action, Duration::from_secs(1)).await;
        assert_eq!(out, Outcome::Failure(format!("Get \"http://127.0.0.1:{port}/\": dial tcp 127.0.0.1:{port}: connect: connection refused")));
    }
}
