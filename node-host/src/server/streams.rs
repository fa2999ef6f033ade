//! What the node's server asks of the agent: where a container's log is and whether it
//! still runs, running a process in it, attaching to it, and the pod's IP for
//! port-forwarding. The agent implements it over its pods and `ContainerRuntime`;
//! [`super::local::LocalStreams`] implements it with host processes for tests.

use std::net::IpAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::logs::Chunk;
use crate::runtime::ExecRequest;

/// A container by its pod and name (as the URL names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// A container attempt's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// `<root>/logs/<ns>_<pod>_<uid>/<container>/<attempt>.log`.
    pub path: PathBuf,
    /// The runtime id of the attempt that writes it (asked of [`Streams::running`]).
    pub container_id: String,
}

/// What `kubectl attach` gets: the container's output from now on and, when the
/// container was created with `stdin: true`, the write end of its stdin.
pub struct Attach {
    pub output: broadcast::Receiver<Chunk>,
    pub stdin: Option<std::os::fd::OwnedFd>,
    /// The container has a tty (`tty: true`): output is one stream, no stderr.
    pub tty: bool,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    /// 404 with this message (an unknown pod or container).
    #[error("{0}")]
    NotFound(String),
    /// 400 with this message (e.g. no previous attempt, container not running).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

#[async_trait]
pub trait Streams: Send + Sync + 'static {
    /// The current attempt's log, or with `previous` the one before it (a
    /// `BadRequest` `previous terminated container "c" in pod "p" not found` when none).
    async fn log_file(&self, target: &ContainerRef, previous: bool) -> Result<LogFile, StreamError>;
    /// Whether the container with this runtime id still runs (a follower ends when not).
    async fn running(&self, container_id: &str) -> bool;
    /// Runs a process in the running container (fds and tty as in [`ExecRequest`]; with
    /// `tty` the process must get the pty as its controlling terminal); resolves with its
    /// exit code once it exits.
    async fn exec(&self, target: &ContainerRef, req: ExecRequest) -> Result<i32, StreamError>;
    async fn attach(&self, target: &ContainerRef) -> Result<Attach, StreamError>;
    /// The pod's IP, which port-forwarded connections are made to from the node.
    async fn pod_ip(&self, namespace: &str, pod: &str) -> Result<IpAddr, StreamError>;
    /// Usage of the running containers, for `/metrics/resource` (none by default).
    async fn usage(&self) -> Vec<ContainerUsage> {
        Vec::new()
    }
    /// The node's own figures for `/metrics` (the network's; none by default).
    async fn metrics(&self) -> String {
        String::new()
    }
}

/// One running container's usage, read from its cgroup at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUsage {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// Cumulative CPU time, nanoseconds.
    pub cpu_ns: u64,
    pub memory_working_set: u64,
    pub at: std::time::SystemTime,
}
