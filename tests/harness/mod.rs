//! The end-to-end test harness: starts real `shoal` processes (and etcd when asked) in a
//! temporary directory, hands out API clients, and tears everything down on drop, also
//! when the test panics.

#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod etcd;
pub mod kubectl;
pub mod multinode;
pub mod netns;
pub mod real;
pub use etcd::Etcd;
pub use kubectl::{kubectl_bin, Kubectl};

/// Path of the `shoal` binary cargo built for these tests.
pub fn shoal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shoal"))
}

/// Polls `check` until it returns Some or the deadline passes; then panics with `what` and
/// the last observed state.
pub fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let end = Instant::now() + deadline;
    let mut last = String::from("never checked");
    while Instant::now() < end {
        match check() {
            Ok(v) => return v,
            Err(state) => last = state,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {deadline:?} waiting for {what}; last observed: {last}");
}

/// Which store the control plane runs on.
pub enum Backend {
    Embedded,
    Etcd,
}

/// A running control plane (and its etcd, if any). Killed on drop.
pub struct Cluster {
    pub url: String,
    pub dir: tempfile::TempDir,
    server: Option<Child>,
    pub etcd: Option<Etcd>,
    backend_args: Vec<String>,
    extra_args: Vec<String>,
    nodes: Vec<Option<Child>>,
    /// The client of the running server (one runtime and connection pool for the test).
    api: Option<Api>,
    /// Where the server listens (`127.0.0.1:0` unless a test's nodes must reach it).
    listen: String,
}

impl Cluster {
    pub fn embedded() -> Self {
        Self::start(Backend::Embedded)
    }

    pub fn on_etcd() -> Self {
        Self::start(Backend::Etcd)
    }

    pub fn start(backend: Backend) -> Self {
        Self::with_args(backend, &[])
    }

    /// A cluster whose server runs with extra flags (e.g. `--node-grace 3`).
    pub fn with_args(backend: Backend, args: &[&str]) -> Self {
        Self::build(backend, args, false)
    }

    /// `shoal up` with its real node (`real::RealCluster` puts it in a namespace first).
    pub fn with_real_node(args: &[&str]) -> Self {
        Self::build(Backend::Embedded, args, true)
    }

    /// A cluster whose server listens on `listen` (e.g. an underlay address its nodes reach).
    pub fn listening_on(backend: Backend, args: &[&str], listen: &str) -> Self {
        Self::build_on(backend, args, false, listen)
    }

    fn build(backend: Backend, args: &[&str], real_node: bool) -> Self {
        Self::build_on(backend, args, real_node, "127.0.0.1:0")
    }

    fn build_on(backend: Backend, args: &[&str], real_node: bool, listen: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("shoal-e2e-").tempdir_in("/var/tmp").expect("creating a temporary directory");
        let (etcd, backend_args) = match backend {
            Backend::Embedded => {
                let mut a = vec!["up".to_string(), "--data-dir".into(), dir.path().join("data").display().to_string()];
                if !real_node {
                    a.push("--no-node".into());
                }
                (None, a)
            }
            Backend::Etcd => {
                let etcd = Etcd::start(&dir.path().join("etcd"));
                let a = vec!["server".to_string(), "--store".into(), format!("etcd://{}", etcd.client_addr)];
                (Some(etcd), a)
            }
        };
        let extra_args = args.iter().map(|s| s.to_string()).collect();
        let mut c = Cluster { url: String::new(), dir, server: None, etcd, backend_args, extra_args, nodes: Vec::new(), api: None, listen: listen.to_string() };
        c.start_server();
        c
    }

    /// Starts one `shoal node --simulate` process hosting `count` nodes named
    /// `{prefix}-0..`, waits until they are Ready, and returns its index (for `kill_nodes`).
    pub fn add_simulated_nodes(&mut self, prefix: &str, count: usize) -> usize {
        self.add_simulated_nodes_with(prefix, count, &[])
    }

    /// [`Cluster::add_simulated_nodes`] with more `shoal node` flags (`--usage-interval 1`).
    pub fn add_simulated_nodes_with(&mut self, prefix: &str, count: usize, extra: &[&str]) -> usize {
        let child = Command::new(shoal_bin())
            .args(["node", "--simulate", "--server", &self.url, "--name", prefix, "--count", &count.to_string()])
            .args(extra)
            .env("SHOAL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting shoal node --simulate");
        self.nodes.push(Some(child));
        let api = self.api();
        let prefix = format!("{prefix}-");
        wait_for("simulated nodes to be Ready", Duration::from_secs(30), || {
            let (_, list) = api.get("/api/v1/nodes").map_err(|e| e.to_string())?;
            let ready = list["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter(|n| n["metadata"]["name"].as_str().is_some_and(|x| x.starts_with(&prefix)))
                        .filter(|n| {
                            n["status"]["conditions"].as_array().is_some_and(|cs| {
                                cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")
                            })
                        })
                        .count()
                })
                .unwrap_or(0);
            if ready == count { Ok(()) } else { Err(format!("{ready}/{count} ready")) }
        });
        self.nodes.len() - 1
    }

    /// SIGKILLs one simulated-node process (its nodes stop renewing their leases).
    pub fn kill_nodes(&mut self, index: usize) {
        if let Some(Some(mut c)) = self.nodes.get_mut(index).map(Option::take) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn start_server(&mut self) {
        let kubeconfig = self.dir.path().join("kubeconfig");
        let mut child = Command::new(shoal_bin())
            .args(&self.backend_args)
            .args(&self.extra_args)
            .args(["--listen", &self.listen, "--kubeconfig-out"])
            .arg(&kubeconfig)
            .env("SHOAL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting shoal");
        let stdout = child.stdout.take().expect("shoal stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("shoal API server listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        self.server = Some(child);
        self.url = rx.recv_timeout(Duration::from_secs(60)).expect("shoal did not report its listen address within 60 s");
        self.api = Some(Api::new(&self.url));
        let api = self.api();
        wait_for("the API server to be ready", Duration::from_secs(30), || match api.get("/readyz") {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        });
    }

    /// Kills the server process (SIGKILL) and starts it again on the same store.
    pub fn restart_server(&mut self) {
        self.kill_server();
        self.start_server();
    }

    /// Extra flags for the next server start (see `restart_server`).
    pub fn set_server_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|s| s.to_string()).collect();
    }

    pub fn kill_server(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server process id (for memory figures).
    /// How the server process ended, if it did (None while it runs).
    pub fn server_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.server.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    pub fn api(&self) -> Api {
        self.api.clone().unwrap_or_else(|| Api::new(&self.url))
    }

    /// The real kubectl for this cluster.
    pub fn kubectl(&self) -> Kubectl {
        Kubectl::new(self)
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Runs the `shoal` CLI against this cluster.
    pub fn shoal(&self, args: &[&str]) -> std::process::Output {
        Command::new(shoal_bin()).args(args).env("SHOAL_SERVER", &self.url).output().expect("running shoal")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill_nodes(i);
        }
        self.kill_server();
    }
}

/// The tests' API client: the client crate's (typed verbs through `client()`), plus raw
/// requests that return (status, parsed body) for tests that check codes and headers.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: client::blocking::Client,
}

pub type Reply = Result<(u16, Value), String>;

/// A body as JSON, or as a JSON string when it is not JSON.
fn parse_body(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

impl Api {
    pub fn new(base: &str) -> Self {
        let client = client::blocking::Client::new(base).expect("building the API client");
        Api { base: base.to_string(), client }
    }

    /// The typed client, for `client().api::<Pod>(Some("default")).get("p")` and the like.
    pub fn client(&self) -> &client::blocking::Client {
        &self.client
    }

    /// Sends a raw request; any HTTP code is an answer.
    pub fn raw(&self, req: client::Request) -> Result<client::Response, String> {
        self.client.raw(req).map_err(|e| format!("{e:#}"))
    }

    fn reply(&self, req: client::Request) -> Reply {
        let r = self.raw(req)?;
        Ok((r.code, parse_body(&r.body)))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.reply(client::Request::get(path))
    }

    pub fn get_with(&self, path: &str, accept: &str) -> Reply {
        self.reply(client::Request::get(path).header("Accept", accept))
    }

    fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> Result<client::Request, String> {
        let method = match method {
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            m => return Err(format!("unsupported method {m}")),
        };
        Ok(client::Request::new(method, path).body(content_type, body))
    }

    pub fn send(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.reply(Self::request(method, path, content_type, body)?)
    }

    /// Like `send`, also returning the `Warning` headers.
    pub fn send_with_warnings(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> Result<(u16, Value, Vec<String>), String> {
        let r = self.raw(Self::request(method, path, content_type, body)?)?;
        Ok((r.code, parse_body(&r.body), r.header_values("Warning")))
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, "application/json", body.to_string().as_bytes())
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, "application/json", body.to_string().as_bytes())
    }

    /// Read-modify-write with retries on 409, as a client racing the controllers must do.
    /// Returns the final PUT's reply.
    pub fn modify(&self, path: &str, mut change: impl FnMut(&mut Value)) -> Reply {
        for _ in 0..20 {
            let (code, mut obj) = self.get(path)?;
            if code != 200 {
                return Ok((code, obj));
            }
            change(&mut obj);
            let (code, body) = self.put(path, &obj)?;
            if code != 409 {
                return Ok((code, body));
            }
        }
        Err(format!("PUT {path} kept conflicting"))
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.reply(client::Request::new("DELETE", path))
    }

    /// Opens a watch and returns a reader of its event lines.
    pub fn watch(&self, path: &str) -> WatchReader {
        self.watch_with(path, "application/json")
    }

    /// Opens a watch asking for `accept` (e.g. Table rows) and returns a reader of its lines.
    pub fn watch_with(&self, path: &str, accept: &str) -> WatchReader {
        let req = client::Request::get(path).header("Accept", accept);
        match self.client.lines(req, Duration::from_secs(3600)) {
            Ok(lines) => WatchReader { lines },
            Err(e) => panic!("watch {path}: {e:#}"),
        }
    }
}

/// Events of an open watch, one JSON value per line.
pub struct WatchReader {
    lines: client::blocking::Lines,
}

impl WatchReader {
    /// The next event, or None when the deadline passes or the stream ends.
    pub fn next(&self, deadline: Duration) -> Option<Value> {
        let end = Instant::now() + deadline;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            match self.lines.next_within(left)? {
                Ok(line) => match serde_json::from_slice(&line) {
                    Ok(v) => return Some(v),
                    Err(_) => continue,
                },
                Err(_) => return None,
            }
        }
    }
}

/// Reads a whole stream to a string (for small bodies in tests).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
