//! What the runtime keeps on disk for every container and sandbox, so that any agent
//! (and its zygote) started later knows what runs:
//!
//! ```text
//! <state_dir>/containers/<id>/   libcontainer's own state (state.json, notify socket)
//! <state_dir>/meta/<id>/entry.json    ContainerMeta, cgroup, bundle        (agent, at create)
//! <state_dir>/meta/<id>/proc.json     pid, its start time, started_at      (operation child)
//! <state_dir>/meta/<id>/exit.json     exit code, signal, OOM, finished_at  (the zygote that reaped it)
//! <state_dir>/meta/<id>/sandbox.json  namespace files, pod cgroup          (sandboxes only)
//! ```
//!
//! A pid is only trusted while `/proc/<pid>/stat` shows the start time recorded with it
//! (pids are reused). The zygote writes `exit.json` *before* it reaps the process (it
//! peeks with `WNOWAIT`), so a process that is gone has its exit recorded, unless it
//! exited while no zygote was its parent: that is `ContainerStatus::Unknown`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::runtime::{ContainerMeta, ContainerStatus, Sandbox};

pub const ENTRY: &str = "entry.json";
pub const PROC: &str = "proc.json";
pub const EXIT: &str = "exit.json";
pub const SANDBOX: &str = "sandbox.json";

/// What a container or sandbox is (written when it is created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub meta: ContainerMeta,
    /// Absolute cgroup path (as `linux.cgroupsPath`).
    pub cgroup: String,
    /// The OCI bundle (containers only).
    pub bundle: Option<PathBuf>,
}

/// The process of a container or sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRecord {
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat` (clock ticks since boot) when it was recorded.
    pub start_ticks: u64,
    /// When `start` let the process run its program (None: created, not started).
    pub started_at: Option<SystemTime>,
}

/// How a process ended, as the zygote that reaped it saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub finished_at: SystemTime,
}

/// A sandbox's namespace files and cgroups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub sandbox: Sandbox,
    /// The pod's cgroup (absolute); the pause process is in `<pod_cgroup>/<id>`.
    pub pod_cgroup: String,
    pub ns_dir: PathBuf,
}

/// The directories of one runtime state root.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub root: PathBuf,
}

impl Dirs {
    pub fn libcontainer(&self) -> PathBuf {
        self.root.join("containers")
    }
    pub fn meta_root(&self) -> PathBuf {
        self.root.join("meta")
    }
    pub fn meta(&self, id: &str) -> PathBuf {
        self.meta_root().join(id)
    }
}

/// Writes `value` as JSON to `path` through a temporary file and a rename, so that a
/// reader never sees half a record.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, serde_json::to_vec(value).map_err(io::Error::other)?)?;
    fs::rename(&tmp, path)
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A process's start time and state letter from `/proc/<pid>/stat`.
pub fn proc_stat(pid: u32) -> Option<(u64, char)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Fields after the command (which may contain spaces and parentheses): state is the
/// 3rd field of the line, starttime the 22nd.
pub fn parse_stat(text: &str) -> Option<(u64, char)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// Whether the recorded process still runs (same pid and start time, not a zombie).
pub fn alive(p: &ProcRecord) -> bool {
    matches!(proc_stat(p.pid), Some((start, state)) if start == p.start_ticks && state != 'Z' && state != 'X')
}

/// Sends `signal` to the recorded process if it is still that process: the pid is
/// pinned with a pidfd first, then its start time checked, so a reused pid is never hit.
/// `Ok(false)`: the process is gone.
pub fn signal(p: &ProcRecord, signal: i32) -> io::Result<bool> {
    // SAFETY: plain syscalls on integers; the returned fd is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p.pid as libc::pid_t, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(false) } else { Err(e) };
    }
    // SAFETY: fd was just returned by pidfd_open.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    if !alive(p) {
        return Ok(false);
    }
    // SAFETY: fd is a valid pidfd; a null siginfo is allowed.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, std::os::fd::AsRawFd::as_raw_fd(&fd), signal, std::ptr::null::<libc::siginfo_t>(), 0) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(false) } else { Err(e) };
    }
    Ok(true)
}

/// Waits (polling, at most `timeout`) until the recorded process is gone or a zombie.
pub fn wait_gone(p: &ProcRecord, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if !alive(p) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// What is known of the container whose records are in `dir`.
pub fn status(dir: &Path) -> io::Result<ContainerStatus> {
    let proc: Option<ProcRecord> = read_json(&dir.join(PROC))?;
    if let Some(exit) = read_json::<ExitRecord>(&dir.join(EXIT))? {
        return Ok(exited(exit, proc.and_then(|p| p.started_at)));
    }
    let Some(p) = proc else { return Ok(ContainerStatus::Created) };
    match proc_stat(p.pid) {
        Some((start, state)) if start == p.start_ticks && state != 'Z' && state != 'X' => {
            return Ok(match p.started_at {
                Some(started_at) => ContainerStatus::Running { pid: p.pid, started_at },
                None => ContainerStatus::Created,
            });
        }
        // A zombie: if a zygote is its parent it is writing the exit record right now.
        Some((start, _)) if start == p.start_ticks => {
            for _ in 0..10 {
                if let Some(exit) = read_json::<ExitRecord>(&dir.join(EXIT))? {
                    return Ok(exited(exit, p.started_at));
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        _ => {}
    }
    // Gone: read the exit record again, the zygote may have written it meanwhile.
    Ok(match read_json::<ExitRecord>(&dir.join(EXIT))? {
        Some(exit) => exited(exit, p.started_at),
        None => ContainerStatus::Unknown,
    })
}

pub fn exited(e: ExitRecord, started_at: Option<SystemTime>) -> ContainerStatus {
    ContainerStatus::Exited { exit_code: e.exit_code, signal: e.signal, started_at, finished_at: e.finished_at, oom_killed: e.oom_killed }
}

/// Exit code as upstream reports it: the code, or 128 + the signal that ended it.
pub fn exit_code(code: Option<i32>, signal: Option<i32>) -> i32 {
    match (code, signal) {
        (_, Some(s)) => 128 + s,
        (Some(c), None) => c,
        (None, None) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_whatever_the_command_name() {
        let cases = [
            ("1234 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 100 18446744073709551615", Some((98765, 'S'))),
            ("7 (a b) c)) Z 1 7 7 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 42 1000", Some((42, 'Z'))),
            ("garbage", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_stat(line), want, "{line}");
        }
    }

    #[test]
    fn exit_codes_as_upstream() {
        assert_eq!(exit_code(Some(3), None), 3);
        assert_eq!(exit_code(None, Some(9)), 137);
        assert_eq!(exit_code(None, Some(15)), 143);
    }

    #[test]
    fn status_follows_the_records() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(status(dir.path()).unwrap(), ContainerStatus::Created);
        let me = std::process::id();
        let (start, _) = proc_stat(me).unwrap();
        let t = SystemTime::now();
        write_json(&dir.path().join(PROC), &ProcRecord { pid: me, start_ticks: start, started_at: Some(t) }).unwrap();
        assert_eq!(status(dir.path()).unwrap(), ContainerStatus::Running { pid: me, started_at: t });
        write_json(&dir.path().join(PROC), &ProcRecord { pid: me, start_ticks: start + 1, started_at: Some(t) }).unwrap();
        assert_eq!(status(dir.path()).unwrap(), ContainerStatus::Unknown, "a reused pid is not ours");
        let e = ExitRecord { exit_code: 137, signal: Some(9), oom_killed: true, finished_at: t };
        write_json(&dir.path().join(EXIT), &e).unwrap();
        assert_eq!(status(dir.path()).unwrap(), exited(e, Some(t)));
    }
}
