//! [`Streams`] over host processes and files, for tests of the node's server and of the
//! gateway's proxies: "containers" are entries naming a log file, exec runs the command
//! on the host (with the pty as controlling terminal when asked), attach follows what
//! is fed through [`LocalStreams::output`], pods have a fixed IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::streams::{Attach, ContainerRef, LogFile, StreamError, Streams};
use crate::logs::Chunk;
use crate::runtime::ExecRequest;

struct Container {
    log: PathBuf,
    previous: Option<PathBuf>,
    running: bool,
    output: broadcast::Sender<Chunk>,
}

#[derive(Default)]
pub struct LocalStreams {
    pods: Mutex<HashMap<(String, String), (IpAddr, HashMap<String, Container>)>>,
}

impl LocalStreams {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_pod(&self, namespace: &str, pod: &str, ip: IpAddr) {
        self.lock().insert((namespace.into(), pod.into()), (ip, HashMap::new()));
    }

    /// A running container of the pod whose current log is `log` (and `previous`, the one before).
    pub fn add_container(&self, namespace: &str, pod: &str, name: &str, log: PathBuf, previous: Option<PathBuf>) {
        let mut pods = self.lock();
        if let Some((_, cs)) = pods.get_mut(&(namespace.into(), pod.into())) {
            cs.insert(name.into(), Container { log, previous, running: true, output: broadcast::channel(64).0 });
        }
    }

    pub fn set_running(&self, namespace: &str, pod: &str, name: &str, running: bool) {
        if let Some(c) = self.lock().get_mut(&(namespace.into(), pod.into())).and_then(|(_, cs)| cs.get_mut(name)) {
            c.running = running;
            if !running {
                // Ends attachers.
                c.output = broadcast::channel(64).0;
            }
        }
    }

    /// Where attachers' output comes from.
    pub fn output(&self, namespace: &str, pod: &str, name: &str) -> Option<broadcast::Sender<Chunk>> {
        self.lock().get(&(namespace.into(), pod.into())).and_then(|(_, cs)| cs.get(name)).map(|c| c.output.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (IpAddr, HashMap<String, Container>)>> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(&self, t: &ContainerRef, f: impl FnOnce(&Container) -> Result<T, StreamError>) -> Result<T, StreamError> {
        let pods = self.lock();
        let (_, cs) = pods
            .get(&(t.namespace.clone(), t.pod.clone()))
            .ok_or_else(|| StreamError::NotFound(format!("pod \"{}\" not found", t.pod)))?;
        let c = cs.get(&t.container).ok_or_else(|| {
            StreamError::NotFound(format!("container \"{}\" in pod \"{}\" is not available", t.container, t.pod))
        })?;
        f(c)
    }
}

#[async_trait]
impl Streams for LocalStreams {
    async fn log_file(&self, t: &ContainerRef, previous: bool) -> Result<LogFile, StreamError> {
        self.with(t, |c| {
            let id = format!("{}/{}/{}", t.namespace, t.pod, t.container);
            if previous {
                let path = c.previous.clone().ok_or_else(|| {
                    StreamError::BadRequest(format!("previous terminated container \"{}\" in pod \"{}\" not found", t.container, t.pod))
                })?;
                return Ok(LogFile { path, container_id: format!("{id}/previous") });
            }
            Ok(LogFile { path: c.log.clone(), container_id: id })
        })
    }

    async fn running(&self, container_id: &str) -> bool {
        let mut parts = container_id.splitn(3, '/');
        let (Some(ns), Some(pod), Some(name)) = (parts.next(), parts.next(), parts.next()) else { return false };
        self.lock().get(&(ns.into(), pod.into())).and_then(|(_, cs)| cs.get(name)).is_some_and(|c| c.running)
    }

    async fn exec(&self, t: &ContainerRef, req: ExecRequest) -> Result<i32, StreamError> {
        self.with(t, |c| if c.running { Ok(()) } else { Err(StreamError::BadRequest("container not running".into())) })?;
        let (prog, args) = req.argv.split_first().ok_or_else(|| StreamError::BadRequest("no command".into()))?;
        let mut cmd = tokio::process::Command::new(prog);
        cmd.args(args).envs(req.env.iter().cloned());
        let stdio = |fd: Option<std::os::fd::OwnedFd>| fd.map(std::process::Stdio::from).unwrap_or_else(std::process::Stdio::null);
        cmd.stdin(stdio(req.stdin)).stdout(stdio(req.stdout)).stderr(stdio(req.stderr));
        if req.tty {
            // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    nix::unistd::setsid()?;
                    if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| StreamError::Internal(format!("exec {prog}: {e}")))?;
        // The parent's copies of the child's fds are closed now (they moved into `cmd`).
        drop(cmd);
        let status = child.wait().await.map_err(|e| StreamError::Internal(e.to_string()))?;
        use std::os::unix::process::ExitStatusExt;
        Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    async fn attach(&self, t: &ContainerRef) -> Result<Attach, StreamError> {
        self.with(t, |c| Ok(Attach { output: c.output.subscribe(), stdin: None, tty: false }))
    }

    async fn pod_ip(&self, namespace: &str, pod: &str) -> Result<IpAddr, StreamError> {
        self.lock()
            .get(&(namespace.into(), pod.into()))
            .map(|(ip, _)| *ip)
            .ok_or_else(|| StreamError::NotFound(format!("pod \"{pod}\" not found")))
    }
}
