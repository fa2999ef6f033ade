//! A real etcd server for tests: started from `/usr/bin/etcd` (or `etcd` on PATH) on free
//! loopback ports in a temporary directory, killed on drop (also when a test panics).
//! Tests fail, never skip, when etcd is not installed.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use actors::store::etcd::EtcdStore;
use actors::store::Store;

/// How long etcd may take to answer after it is started.
const READY_DEADLINE: Duration = Duration::from_secs(30);

pub struct EtcdServer {
    binary: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

fn etcd_binary() -> PathBuf {
    let default = PathBuf::from("/usr/bin/etcd");
    if default.exists() {
        return default;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("etcd");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("etcd not found: install etcd-server (looked for /usr/bin/etcd and etcd on PATH)");
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    l.local_addr().expect("local addr of a bound socket").port()
}

impl EtcdServer {
    /// Starts a fresh single-member etcd and waits until it serves requests.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir for etcd");
        let mut server = EtcdServer {
            binary: etcd_binary(),
            data_dir: dir.path().join("data"),
            log_path: dir.path().join("etcd.log"),
            client_port: free_port(),
            peer_port: free_port(),
            child: None,
            _dir: dir,
        };
        // Another process may take a port between `free_port` and etcd's bind: then
        // start over on fresh ports.
        for _ in 0..5 {
            match server.try_spawn().await {
                Ok(()) => return server,
                Err(log) if log.contains("address already in use") => {
                    server.kill();
                    let _ = std::fs::remove_dir_all(&server.data_dir);
                    let _ = std::fs::remove_file(&server.log_path);
                    server.client_port = free_port();
                    server.peer_port = free_port();
                }
                Err(log) => panic!("{log}"),
            }
        }
        panic!("etcd found no free ports in 5 tries; log:\n{}", server.log_tail())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub async fn connect(&self) -> EtcdStore {
        EtcdStore::connect(&[self.endpoint()]).await.expect("connect to the test etcd")
    }

    /// SIGKILLs the server, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data dir and ports.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn spawn(&mut self) {
        if let Err(log) = self.try_spawn().await {
            panic!("{log}");
        }
    }

    /// Starts etcd and waits until it is ready; Err(what went wrong, with the log).
    async fn try_spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open etcd log file");
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new(&self.binary)
            .arg("--name=shoal-test")
            .arg(format!("--data-dir={}", self.data_dir.display()))
            .arg(format!("--listen-client-urls={}", self.endpoint()))
            .arg(format!("--advertise-client-urls={}", self.endpoint()))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=shoal-test={peer}"))
            .arg("--logger=zap")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("etcd exited with {status} before it was ready; log:\n{}", self.log_tail()));
                }
            }
            let attempt = async {
                let store = EtcdStore::connect(&[self.endpoint()]).await?;
                store.current_revision().await
            };
            let last_err = match tokio::time::timeout(Duration::from_secs(2), attempt).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "request timed out".to_owned(),
            };
            if Instant::now() > deadline {
                return Err(format!("etcd at {} not ready after {READY_DEADLINE:?}: {last_err}; log:\n{}", self.endpoint(), self.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}
