//! The container runtime seam: what the pod actors ask of whatever runs processes on
//! this node. `libcontainer` (youki's crate, driven from a single-threaded helper
//! process) runs real containers; `fake` records calls for tests and simulated nodes.
//!
//! Every container and sandbox carries a [`ContainerMeta`] that the runtime keeps on
//! disk beside it, so that a restarted agent can list what runs ([`ContainerRuntime::list`])
//! and adopt it instead of starting it again.

pub mod cgroups;
pub mod libcontainer;
pub mod sandbox;
pub mod zygote;

pub use self::libcontainer::{LibcontainerRuntime, RuntimeOptions};
pub use self::zygote::Zygote;

use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// What a container is to its pod; kept with the container by the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMeta {
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    /// The container's name in the pod spec (empty for the sandbox).
    pub container_name: String,
    pub role: Role,
    /// 0 for the first run of this container in this pod, +1 per restart.
    pub attempt: u32,
    /// A hash of the container's spec: a changed spec (e.g. a new image) restarts it.
    pub spec_hash: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The pause process holding the pod's namespaces.
    Sandbox,
    Init,
    App,
    Ephemeral,
}

/// The pod-level sandbox: a process holding new network, IPC and UTS namespaces.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxConfig {
    /// Runtime id of the sandbox (unique on the node).
    pub id: String,
    pub meta: ContainerMeta,
    /// Set on the new UTS namespace.
    pub hostname: String,
    /// The pod's state directory (volumes, hosts files, logs live below it).
    pub pod_dir: PathBuf,
    /// The pod's cgroup, relative to the agent's own cgroup.
    pub cgroup_parent: String,
    /// `hostNetwork`: the pod keeps the node's network and UTS namespaces.
    pub host_network: bool,
}

/// A running sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub id: String,
    pub pid: u32,
    /// Namespace files containers join (bind mounts that outlive the agent).
    pub netns: PathBuf,
    pub ipcns: PathBuf,
    pub utsns: PathBuf,
}

/// One container to create inside a sandbox.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    pub id: String,
    pub meta: ContainerMeta,
    /// The OCI bundle directory; `spec` is written there as `config.json`.
    pub bundle: PathBuf,
    /// The complete runtime spec (root.path, namespaces joined, mounts, process, cgroups path).
    pub spec: oci_spec::runtime::Spec,
    /// Where the container's stdout and stderr go (a FIFO the log reader drains, or a file):
    /// opened read-write by the runtime so that the container never gets SIGPIPE.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// What the runtime knows of one container (or sandbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContainerStatus {
    /// Created, its process not started yet.
    Created,
    Running { pid: u32, started_at: SystemTime },
    Exited {
        /// The exit code; 128 + signal when a signal ended it (as upstream reports).
        exit_code: i32,
        signal: Option<i32>,
        started_at: Option<SystemTime>,
        finished_at: SystemTime,
        /// The memory cgroup's OOM killer ended it.
        oom_killed: bool,
    },
    /// Exited while nobody was watching (e.g. during an agent restart): the code is lost.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub meta: ContainerMeta,
    pub status: ContainerStatus,
}

/// A process to run inside a running container (`kubectl exec`, exec probes, hooks).
#[derive(Debug)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Given fds become the process's 0, 1, 2 (None: /dev/null). A tty is passed as all three.
    pub stdin: Option<std::os::fd::OwnedFd>,
    pub stdout: Option<std::os::fd::OwnedFd>,
    pub stderr: Option<std::os::fd::OwnedFd>,
    pub tty: bool,
}

/// Resource usage read from a container's (or pod's) cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Total CPU time consumed, in nanoseconds.
    pub cpu_ns: u64,
    /// Working set: usage minus inactive file pages, in bytes.
    pub memory_working_set: u64,
}

/// A change the runtime noticed on its own (a process exited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEvent {
    pub id: String,
    pub meta: ContainerMeta,
    pub status: ContainerStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("no container {0}")]
    NotFound(String),
    #[error("container {0} already exists")]
    Exists(String),
    /// The container could not be created or started (bad spec, missing binary…): the
    /// message is what `kubectl describe` shows (upstream's StartError / RunContainerError).
    #[error("{0}")]
    Start(String),
    #[error("runtime helper: {0}")]
    Helper(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Runs sandboxes and containers on this node.
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    async fn run_sandbox(&self, cfg: &SandboxConfig) -> Result<Sandbox, RuntimeError>;
    /// Kills the sandbox's process and removes its namespace files and cgroup.
    async fn remove_sandbox(&self, id: &str) -> Result<(), RuntimeError>;
    /// The sandbox of a pod that a previous agent started, if it still runs.
    async fn sandbox(&self, id: &str) -> Result<Option<Sandbox>, RuntimeError>;
    async fn create(&self, sandbox: &Sandbox, cfg: ContainerConfig) -> Result<(), RuntimeError>;
    /// Starts a created container's process; returns its pid.
    async fn start(&self, id: &str) -> Result<u32, RuntimeError>;
    async fn signal(&self, id: &str, signal: i32) -> Result<(), RuntimeError>;
    /// Removes a stopped container (its state, bundle and cgroup).
    async fn remove(&self, id: &str) -> Result<(), RuntimeError>;
    async fn status(&self, id: &str) -> Result<ContainerStatus, RuntimeError>;
    /// Every container and sandbox this node's runtime knows, live or exited.
    async fn list(&self) -> Result<Vec<ContainerRecord>, RuntimeError>;
    /// Runs a process in a running container; resolves with its exit code.
    async fn exec(&self, id: &str, req: ExecRequest) -> Result<i32, RuntimeError>;
    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError>;
    /// Exits as they happen.
    fn events(&self) -> broadcast::Receiver<RuntimeEvent>;
}

pub mod fake;
