//! What an operation child of the zygote does for each request: the libcontainer calls
//! (create, start, delete, exec) and the sandbox's. Runs in a freshly forked,
//! single-threaded process that exits right after replying, so libcontainer may change
//! its working directory, oom_score_adj and dumpable flag as it likes.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use ::libcontainer::container::builder::ContainerBuilder;
use ::libcontainer::container::Container;
use ::libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use super::state::{self, Entry, ProcRecord};
use crate::runtime::zygote::{Notes, Op, Reply};

/// Runs one operation; `mask` says which of stdin/stdout/stderr arrived in `fds`.
pub fn run(op: Op, mask: [bool; 3], fds: Vec<OwnedFd>, notes: Notes) -> Reply {
    let result = match op {
        Op::Create { id, lc_root, bundle, stdout, stderr, meta_dir } => create(&id, &lc_root, &bundle, &stdout, &stderr, &meta_dir, notes).map(Reply::Pid),
        Op::Start { id, lc_root, meta_dir } => start(&id, &lc_root, &meta_dir).map(Reply::Pid),
        Op::Delete { id, lc_root, meta_dir } => delete(&id, &lc_root, &meta_dir).map(|()| Reply::Done),
        Op::Exec { id, lc_root, argv, env } => exec(&id, &lc_root, argv, env, mask, fds).map(Reply::Code),
        Op::RunSandbox { id, hostname, ns_dir, pod_cgroup, meta_dir, host_network } => {
            crate::runtime::sandbox::run(&id, &hostname, &ns_dir, &pod_cgroup, &meta_dir, host_network, notes).map(Reply::Sandbox)
        }
        Op::RemoveSandbox { id, meta_dir } => crate::runtime::sandbox::remove(&id, &meta_dir).map(|()| Reply::Done),
    };
    result.unwrap_or_else(Reply::Failed)
}

fn open_log(p: &Path) -> Result<File, String> {
    // Read-write and appending: a FIFO opened so never blocks, and never gives SIGPIPE.
    OpenOptions::new().read(true).append(true).create(true).mode(0o640).open(p).map_err(|e| format!("open {}: {e}", p.display()))
}

fn dev_null() -> Result<File, String> {
    OpenOptions::new().read(true).write(true).open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))
}

/// Error chains as one line (what `kubectl describe` shows as the start error).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

fn create(id: &str, lc_root: &Path, bundle: &Path, stdout: &Path, stderr: &Path, meta_dir: &Path, notes: Notes) -> Result<u32, String> {
    fs::create_dir_all(lc_root).map_err(|e| format!("create {}: {e}", lc_root.display()))?;
    let container = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(lc_root)
        .map_err(|e| chain(&e))?
        .with_stdin(dev_null()?)
        .with_stdout(open_log(stdout)?)
        .with_stderr(open_log(stderr)?)
        .validate_id()
        .map_err(|e| chain(&e))?
        .as_init(bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| chain(&e))?;
    let pid = container.pid().ok_or("container has no pid")?.as_raw() as u32;
    let (start_ticks, _) = state::proc_stat(pid).ok_or("container process vanished")?;
    state::write_json(&meta_dir.join(state::PROC), &ProcRecord { pid, start_ticks, started_at: None }).map_err(|e| e.to_string())?;
    notes.announce(pid, meta_dir);
    Ok(pid)
}

fn start(id: &str, lc_root: &Path, meta_dir: &Path) -> Result<u32, String> {
    let mut container = Container::load(lc_root.join(id)).map_err(|e| chain(&e))?;
    let proc: ProcRecord = state::read_json(&meta_dir.join(state::PROC)).map_err(|e| e.to_string())?.ok_or("container was never created")?;
    let started = ProcRecord { started_at: Some(SystemTime::now()), ..proc };
    state::write_json(&meta_dir.join(state::PROC), &started).map_err(|e| e.to_string())?;
    if let Err(e) = container.start() {
        let _ = state::write_json(&meta_dir.join(state::PROC), &proc);
        return Err(chain(&e));
    }
    Ok(proc.pid)
}

/// Deletes the container (killing what still runs), its cgroup, libcontainer state,
/// records and bundle.
fn delete(id: &str, lc_root: &Path, meta_dir: &Path) -> Result<(), String> {
    let entry: Option<Entry> = state::read_json(&meta_dir.join(state::ENTRY)).map_err(|e| e.to_string())?;
    let proc: Option<ProcRecord> = state::read_json(&meta_dir.join(state::PROC)).ok().flatten();
    let dir = lc_root.join(id);
    if dir.exists() {
        match Container::load(dir.clone()) {
            Ok(mut c) => c.delete(true).map_err(|e| chain(&e))?,
            Err(_) => fs::remove_dir_all(&dir).map_err(|e| format!("remove {}: {e}", dir.display()))?,
        }
    }
    if let Some(e) = &entry {
        remove_cgroup(id, &e.cgroup)?;
    }
    // Let the zygote record the exit before the records go.
    if let Some(p) = proc {
        let deadline = Instant::now() + Duration::from_secs(5);
        while state::proc_stat(p.pid).is_some_and(|(t, _)| t == p.start_ticks) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if let Some(bundle) = entry.as_ref().and_then(|e| e.bundle.clone()) {
        remove_bundle(&bundle)?;
    }
    remove_dir_retrying(meta_dir)
}

pub(crate) fn remove_cgroup(id: &str, path: &str) -> Result<(), String> {
    let cfg = libcgroups::common::CgroupConfig { cgroup_path: PathBuf::from(path), systemd_cgroup: false, container_name: id.to_string() };
    let m = libcgroups::common::create_cgroup_manager(cfg).map_err(|e| chain(&e))?;
    libcgroups::common::CgroupManager::remove(&m).map_err(|e| format!("remove cgroup {path}: {}", chain(&e)))
}

pub(crate) fn remove_dir_retrying(dir: &Path) -> Result<(), String> {
    for _ in 0..20 {
        match fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    fs::remove_dir_all(dir).map_err(|e| format!("remove {}: {e}", dir.display()))
}

/// Unmounts the rootfs if something (overlayfs) is mounted there, then removes the bundle.
fn remove_bundle(bundle: &Path) -> Result<(), String> {
    let root = oci_spec::runtime::Spec::load(bundle.join("config.json")).ok().and_then(|s| s.root().as_ref().map(|r| r.path().clone()));
    if let Some(root) = root {
        let root = if root.is_absolute() { root } else { bundle.join(root) };
        if is_mount_point(&root) {
            nix::mount::umount2(&root, nix::mount::MntFlags::MNT_DETACH).map_err(|e| format!("unmount {}: {e}", root.display()))?;
        }
    }
    remove_dir_retrying(bundle)
}

pub(crate) fn is_mount_point(p: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else { return false };
    let Ok(p) = p.canonicalize() else { return false };
    let want = p.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4).is_some_and(|m| unescape(m) == want))
}

fn unescape(s: &str) -> String {
    s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

fn exec(id: &str, lc_root: &Path, argv: Vec<String>, env: Vec<(String, String)>, mask: [bool; 3], fds: Vec<OwnedFd>) -> Result<i32, String> {
    let container = Container::load(lc_root.join(id)).map_err(|e| chain(&e))?;
    // kubectl exec runs as the container's user, under the container's seccomp profile.
    let spec = oci_spec::runtime::Spec::load(container.bundle().join("config.json")).ok();
    let user = spec.as_ref().and_then(|s| s.process().as_ref().map(|p| p.user().clone()));
    let seccomp = spec.as_ref().and_then(|s| s.linux().as_ref()).and_then(|l| l.seccomp().clone());
    let mut fds = fds.into_iter();
    let mut stdio: Vec<OwnedFd> = Vec::with_capacity(3);
    for present in mask {
        stdio.push(match present.then(|| fds.next()).flatten() {
            Some(fd) => fd,
            None => dev_null()?.into(),
        });
    }
    let mut stdio = stdio.into_iter();
    let (Some(i), Some(o), Some(e)) = (stdio.next(), stdio.next(), stdio.next()) else { return Err("stdio".into()) };
    let mut b = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(lc_root)
        .map_err(|e| chain(&e))?
        .with_stdin(i)
        .with_stdout(o)
        .with_stderr(e)
        .with_executor(SeccompExecutor { seccomp })
        .as_tenant()
        .with_container_args(argv)
        .with_env(env.into_iter().collect())
        .with_detach(false);
    if let Some(u) = user {
        b = b.with_user(Some(u.uid())).with_group(Some(u.gid())).with_additional_gids(u.additional_gids().clone().unwrap_or_default());
    }
    let pid = b.build().map_err(|e| chain(&e))?;
    loop {
        match waitpid(pid, Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(c),
            Ok(WaitStatus::Signaled(_, s, _)) => return Ok(128 + s as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("wait for exec'd process: {e}")),
        }
    }
}

/// Runs an exec'd process as libcontainer's default executor does, after installing the
/// container's seccomp profile: libcontainer 0.7 builds a tenant's spec without the
/// container's `linux.seccomp`, so without this `kubectl exec` would run unfiltered.
/// Called in the exec'd process right before `execve`, after its capabilities are
/// dropped: the filter needs no_new_privs then, so an exec'd process always has it (as if
/// `allowPrivilegeEscalation: false`).
#[derive(Clone)]
struct SeccompExecutor {
    seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

impl libcontainer::workload::Executor for SeccompExecutor {
    fn exec(&self, spec: &oci_spec::runtime::Spec) -> Result<(), libcontainer::workload::ExecutorError> {
        use libcontainer::workload::ExecutorError;
        if let Some(profile) = &self.seccomp {
            // SAFETY: prctl with constant arguments.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(ExecutorError::Other(format!("no_new_privs: {}", std::io::Error::last_os_error())));
            }
            libcontainer::seccomp::initialize_seccomp(profile).map_err(|e| ExecutorError::Other(format!("seccomp: {e}")))?;
        }
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &oci_spec::runtime::Spec) -> Result<(), libcontainer::workload::ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }
}
