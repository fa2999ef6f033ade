//! The real [`ContainerRuntime`]: youki's libcontainer driven through the zygote.
//!
//! The agent side here never calls libcontainer: it writes each container's records and
//! `config.json`, asks the zygote (over its socket) to create, start, delete and exec,
//! and reads status, lists and usage straight from the records and cgroup files (see
//! [`state`] for the layout and why a restarted agent can trust what it reads).
//! Signals go through a pidfd after checking the pid's start time.

pub(crate) mod ops;
pub mod state;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::io::unix::AsyncFd;
use tokio::sync::{broadcast, oneshot};

use self::state::{Dirs, Entry, ProcRecord, SandboxRecord};
use crate::runtime::cgroups::Layout;
use crate::runtime::zygote::{self, Message, Op, Reply, Request, Zygote};
use crate::runtime::{
    ContainerConfig, ContainerRecord, ContainerRuntime, ContainerStatus, ExecRequest, Role, RuntimeError, RuntimeEvent, Sandbox, SandboxConfig, Usage,
};

/// Where the runtime keeps its state and puts its cgroups.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// libcontainer's state and the runtime's records (the node's `<root-dir>/runtime`).
    pub state_dir: PathBuf,
    /// The cgroup, relative to the agent's own, below which pods go (e.g. `shoal/<node>`);
    /// a sandbox's `cgroup_parent` and a relative `linux.cgroupsPath` are relative to it.
    pub cgroup_root: String,
}

/// The libcontainer runtime (agent side). Create it inside a tokio runtime.
pub struct LibcontainerRuntime {
    inner: Arc<Inner>,
    reader: tokio::task::JoinHandle<()>,
}

struct Inner {
    sock: AsyncFd<OwnedFd>,
    seq: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    dead: AtomicBool,
    events: broadcast::Sender<RuntimeEvent>,
    dirs: Dirs,
    layout: Layout,
    /// Absolute cgroup path of `cgroup_root`.
    cgroup_root: String,
}

fn helper_gone() -> RuntimeError {
    RuntimeError::Helper("the runtime helper (zygote) exited".into())
}

impl LibcontainerRuntime {
    pub fn new(zygote: Zygote, opts: RuntimeOptions) -> Result<Self, RuntimeError> {
        let dirs = Dirs { root: opts.state_dir };
        std::fs::create_dir_all(dirs.libcontainer())?;
        std::fs::create_dir_all(dirs.meta_root())?;
        let layout = Layout::detect()?;
        let cgroup_root = layout.resolve(&opts.cgroup_root);
        let Zygote { sock, pid } = zygote;
        nix::fcntl::fcntl(sock.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).map_err(io::Error::from)?;
        // The zygote is our child: reap it (by its pid only) whenever it exits.
        std::thread::Builder::new().name("zygote-reaper".into()).spawn(move || {
            let _ = nix::sys::wait::waitpid(pid, None);
        })?;
        let (events, _) = broadcast::channel(1024);
        // SAFETY: an OwnedFd keeps its descriptor open, unchanged, for its whole life.
        let sock = unsafe { AsyncFd::register(sock) }.map_err(|e| RuntimeError::Io(io::Error::other(e.to_string())))?;
        let inner = Arc::new(Inner {
            sock,
            seq: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            dead: AtomicBool::new(false),
            events,
            dirs,
            layout,
            cgroup_root,
        });
        let reader = tokio::spawn(read_loop(inner.clone()));
        Ok(LibcontainerRuntime { inner, reader })
    }

    /// The absolute cgroup of a pod whose sandbox has this `cgroup_parent`.
    pub fn pod_cgroup(&self, cgroup_parent: &str) -> String {
        join(&self.inner.cgroup_root, cgroup_parent)
    }

    /// Absolute form of a container's `linux.cgroupsPath` (relative ones are below
    /// `cgroup_root`).
    pub fn resolve_cgroup(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_string()
        } else {
            join(&self.inner.cgroup_root, path)
        }
    }

    /// The machine's cgroup layout as the runtime uses it.
    pub fn cgroups(&self) -> &Layout {
        &self.inner.layout
    }

    /// Removes `cgroup_root`'s (empty) directories and those of its ancestors that the
    /// runtime created below the agent's cgroup: on shutdown, and in tests.
    pub fn remove_cgroup_root(&self) -> bool {
        self.inner.layout.remove_up(&self.inner.cgroup_root)
    }

    async fn call(&self, op: Op, fds: [Option<OwnedFd>; 3]) -> Result<Reply, RuntimeError> {
        let inner = &self.inner;
        if inner.dead.load(Ordering::SeqCst) {
            return Err(helper_gone());
        }
        let seq = inner.seq.fetch_add(1, Ordering::SeqCst);
        let mask = [fds[0].is_some(), fds[1].is_some(), fds[2].is_some()];
        let raw: Vec<RawFd> = fds.iter().flatten().map(|f| f.as_raw_fd()).collect();
        let bytes = serde_json::to_vec(&Request { seq, op, fds: mask }).map_err(|e| RuntimeError::Helper(e.to_string()))?;
        if bytes.len() > zygote::MAX_MESSAGE {
            return Err(RuntimeError::Helper("request too large".into()));
        }
        let (tx, rx) = oneshot::channel();
        lock(&inner.pending).insert(seq, tx);
        let sent = loop {
            let mut guard = match inner.sock.writable().await {
                Ok(g) => g,
                Err(e) => break Err(e),
            };
            match guard.try_io(|s| zygote::send_request(s.as_raw_fd(), &bytes, &raw).map_err(io::Error::from)) {
                Ok(r) => break r.map(|_| ()),
                Err(_would_block) => continue,
            }
        };
        drop(fds);
        if let Err(e) = sent {
            lock(&inner.pending).remove(&seq);
            return Err(RuntimeError::Helper(format!("send to the runtime helper: {e}")));
        }
        rx.await.map_err(|_| helper_gone())
    }

    fn meta_dir(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(RuntimeError::Start(format!("invalid container id {id:?}")));
        }
        Ok(self.inner.dirs.meta(id))
    }

    fn entry(&self, id: &str) -> Result<Entry, RuntimeError> {
        let dir = self.meta_dir(id)?;
        state::read_json::<Entry>(&dir.join(state::ENTRY))?.ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }

    /// Makes a new record directory; `Exists` if one is there.
    fn new_entry(&self, id: &str, entry: &Entry) -> Result<PathBuf, RuntimeError> {
        let dir = self.meta_dir(id)?;
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(RuntimeError::Exists(id.to_string())),
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = state::write_json(&dir.join(state::ENTRY), entry) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        Ok(dir)
    }
}

impl Drop for LibcontainerRuntime {
    fn drop(&mut self) {
        // The reader holds the socket; once it is gone the zygote sees EOF and exits.
        self.reader.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn join(a: &str, b: &str) -> String {
    let b = b.trim_matches('/');
    if b.is_empty() {
        a.to_string()
    } else {
        format!("{}/{b}", a.trim_end_matches('/'))
    }
}

async fn read_loop(inner: Arc<Inner>) {
    let mut buf = vec![0u8; zygote::MAX_MESSAGE];
    loop {
        let mut guard = match inner.sock.readable().await {
            Ok(g) => g,
            Err(_) => break,
        };
        let n = match guard.try_io(|s| nix::sys::socket::recv(s.as_raw_fd(), &mut buf, nix::sys::socket::MsgFlags::empty()).map_err(io::Error::from)) {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_would_block) => continue,
        };
        match serde_json::from_slice::<Message>(&buf[..n]) {
            Ok(Message::Reply { seq, reply }) => {
                if let Some(tx) = lock(&inner.pending).remove(&seq) {
                    let _ = tx.send(reply);
                }
            }
            Ok(Message::Exited { meta_dir, status }) => {
                let id = meta_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if let Ok(Some(entry)) = state::read_json::<Entry>(&meta_dir.join(state::ENTRY)) {
                    let _ = inner.events.send(RuntimeEvent { id, meta: entry.meta, status });
                }
            }
            Err(e) => tracing::warn!("runtime helper sent a bad message: {e}"),
        }
    }
    inner.dead.store(true, Ordering::SeqCst);
    lock(&inner.pending).clear();
}

fn failed(reply: Reply) -> RuntimeError {
    match reply {
        Reply::Failed(m) => RuntimeError::Start(m),
        other => RuntimeError::Helper(format!("unexpected reply {other:?}")),
    }
}

#[async_trait]
impl ContainerRuntime for LibcontainerRuntime {
    async fn run_sandbox(&self, cfg: &SandboxConfig) -> Result<Sandbox, RuntimeError> {
        let pod_cgroup = self.pod_cgroup(&cfg.cgroup_parent);
        let entry = Entry { meta: cfg.meta.clone(), cgroup: crate::runtime::sandbox::pause_cgroup(&pod_cgroup, &cfg.id), bundle: None };
        let meta_dir = self.new_entry(&cfg.id, &entry)?;
        let op = Op::RunSandbox {
            id: cfg.id.clone(),
            hostname: cfg.hostname.clone(),
            ns_dir: cfg.pod_dir.join("ns"),
            pod_cgroup,
            meta_dir: meta_dir.clone(),
            host_network: cfg.host_network,
        };
        match self.call(op, [None, None, None]).await {
            Ok(Reply::Sandbox(s)) => Ok(s),
            Ok(other) => {
                let _ = self.call(Op::RemoveSandbox { id: cfg.id.clone(), meta_dir: meta_dir.clone() }, [None, None, None]).await;
                let _ = std::fs::remove_dir_all(&meta_dir);
                Err(failed(other))
            }
            Err(e) => Err(e),
        }
    }

    async fn remove_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        let meta_dir = self.meta_dir(id)?;
        if !meta_dir.exists() {
            return Ok(());
        }
        match self.call(Op::RemoveSandbox { id: id.to_string(), meta_dir }, [None, None, None]).await? {
            Reply::Done => Ok(()),
            other => Err(failed(other)),
        }
    }

    async fn sandbox(&self, id: &str) -> Result<Option<Sandbox>, RuntimeError> {
        let dir = self.meta_dir(id)?;
        let rec: Option<SandboxRecord> = state::read_json(&dir.join(state::SANDBOX))?;
        let proc: Option<ProcRecord> = state::read_json(&dir.join(state::PROC))?;
        Ok(match (rec, proc) {
            (Some(r), Some(p)) if state::alive(&p) => Some(r.sandbox),
            _ => None,
        })
    }

    async fn create(&self, _sandbox: &Sandbox, cfg: ContainerConfig) -> Result<(), RuntimeError> {
        let mut spec = cfg.spec;
        let mut linux = spec.linux().clone().unwrap_or_default();
        let cgroup = self.resolve_cgroup(&linux.cgroups_path().as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| cfg.id.clone()));
        linux.set_cgroups_path(Some(PathBuf::from(&cgroup)));
        spec.set_linux(Some(linux));
        let entry = Entry { meta: cfg.meta.clone(), cgroup, bundle: Some(cfg.bundle.clone()) };
        let meta_dir = self.new_entry(&cfg.id, &entry)?;
        let written = std::fs::create_dir_all(&cfg.bundle).map_err(RuntimeError::from).and_then(|()| spec.save(cfg.bundle.join("config.json")).map_err(|e| RuntimeError::Start(e.to_string())));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&meta_dir);
            return Err(e);
        }
        let op = Op::Create {
            id: cfg.id.clone(),
            lc_root: self.inner.dirs.libcontainer(),
            bundle: cfg.bundle.clone(),
            stdout: cfg.stdout.clone(),
            stderr: cfg.stderr.clone(),
            meta_dir: meta_dir.clone(),
        };
        match self.call(op, [None, None, None]).await {
            Ok(Reply::Pid(_)) => Ok(()),
            Ok(other) => {
                let _ = std::fs::remove_dir_all(&meta_dir);
                Err(failed(other))
            }
            Err(e) => Err(e),
        }
    }

    async fn start(&self, id: &str) -> Result<u32, RuntimeError> {
        let meta_dir = self.meta_dir(id)?;
        self.entry(id)?;
        match self.call(Op::Start { id: id.to_string(), lc_root: self.inner.dirs.libcontainer(), meta_dir }, [None, None, None]).await? {
            Reply::Pid(p) => Ok(p),
            other => Err(failed(other)),
        }
    }

    async fn signal(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        let dir = self.meta_dir(id)?;
        self.entry(id)?;
        if let Some(p) = state::read_json::<ProcRecord>(&dir.join(state::PROC))? {
            state::signal(&p, signal)?;
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let meta_dir = self.meta_dir(id)?;
        if !meta_dir.exists() && !self.inner.dirs.libcontainer().join(id).exists() {
            return Ok(());
        }
        match self.call(Op::Delete { id: id.to_string(), lc_root: self.inner.dirs.libcontainer(), meta_dir }, [None, None, None]).await? {
            Reply::Done => Ok(()),
            other => Err(failed(other)),
        }
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        let dir = self.meta_dir(id)?;
        self.entry(id)?;
        Ok(state::status(&dir)?)
    }

    async fn list(&self) -> Result<Vec<ContainerRecord>, RuntimeError> {
        let mut out = Vec::new();
        for d in std::fs::read_dir(self.inner.dirs.meta_root())? {
            let d = d?;
            let Ok(Some(entry)) = state::read_json::<Entry>(&d.path().join(state::ENTRY)) else { continue };
            let status = state::status(&d.path())?;
            out.push(ContainerRecord { id: d.file_name().to_string_lossy().into_owned(), meta: entry.meta, status });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn exec(&self, id: &str, req: ExecRequest) -> Result<i32, RuntimeError> {
        let entry = self.entry(id)?;
        if entry.meta.role == Role::Sandbox {
            return Err(RuntimeError::Start(format!("cannot exec in sandbox {id}")));
        }
        match self.status(id).await? {
            ContainerStatus::Running { .. } => {}
            _ => return Err(RuntimeError::Start(format!("container {id} is not running"))),
        }
        let op = Op::Exec { id: id.to_string(), lc_root: self.inner.dirs.libcontainer(), argv: req.argv, env: req.env };
        match self.call(op, [req.stdin, req.stdout, req.stderr]).await? {
            Reply::Code(c) => Ok(c),
            other => Err(failed(other)),
        }
    }

    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError> {
        let entry = self.entry(id)?;
        // A sandbox's usage is its pod's (the pause leaf's parent holds every container).
        let path = match entry.meta.role {
            Role::Sandbox => entry.cgroup.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or(entry.cgroup),
            _ => entry.cgroup,
        };
        Ok(self.inner.layout.usage(&path)?)
    }

    fn events(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.inner.events.subscribe()
    }
}
