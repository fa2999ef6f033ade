//! The zygote: a single-threaded helper process in which (and in whose children) every
//! libcontainer call happens.
//!
//! Why (see DATAPLANE.md): libcontainer forks and clones, and forking a multi-threaded
//! process (the agent's tokio/actix runtime) can deadlock the child on locks other
//! threads held; it also `chdir`s its caller, writes the spec's `oomScoreAdj` into the
//! caller's own `/proc/self/oom_score_adj` and makes the caller non-dumpable. So the
//! `shoal` binary forks the zygote at the very top of `main` ([`spawn_if_needed`]),
//! before any thread exists, and the agent sends it requests over a `SOCK_SEQPACKET`
//! socketpair (JSON, one request per datagram; exec's stdio fds ride along with
//! `SCM_RIGHTS`).
//!
//! The zygote forks one *operation child* per request: the child does the libcontainer
//! work (it may chdir, change its oom_score_adj, become non-dumpable: nobody else is
//! affected), sends its reply on the shared socket (datagrams are atomic, so children
//! never interleave) and exits. Operations therefore run concurrently.
//!
//! Reaping. libcontainer clones a container's init with `CLONE_PARENT`, so it is a child
//! of the operation child; when that exits, the init is re-parented to the zygote,
//! which is a child subreaper (`PR_SET_CHILD_SUBREAPER`); the sandbox's pause process
//! gets there the same way. The zygote's only children are therefore its operation
//! children and those adopted processes, and no code in the zygote waits for anything
//! else, so the zygote may wait for *any* child: on `SIGCHLD` (a signalfd) it peeks with
//! `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT | __WALL)`, records the exit of an adopted
//! process in its `exit.json` (exit code, signal, OOM kill) *before* reaping it with
//! `waitpid(pid)`, then tells the agent. Waits inside libcontainer (for its intermediate
//! process) and for exec'd processes happen in operation children, on their own
//! children, which the zygote never sees. An operation child announces each process it
//! leaves behind (pid and record directory) on a pipe before it exits, so the zygote
//! knows what it adopts.
//!
//! The zygote exits when the agent's end of the socket closes (and dies with the agent
//! through `PR_SET_PDEATHSIG`); containers and sandboxes are not its session's or
//! process group's (it calls `setsid`), so they outlive both, re-parented to PID 1.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::SystemTime;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::socket::{self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};
use serde::{Deserialize, Serialize};

use crate::runtime::cgroups::Layout;
use crate::runtime::libcontainer::state::{self, Entry, ExitRecord, ProcRecord};
use crate::runtime::{ContainerStatus, Sandbox};

/// Largest request or reply datagram.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// The environment variable naming the socket fd of a zygote started by [`spawn_command`].
pub const FD_ENV: &str = "SHOAL_ZYGOTE_FD";

/// The agent's handle on a running zygote: its end of the socketpair and its pid.
#[derive(Debug)]
pub struct Zygote {
    pub(crate) sock: OwnedFd,
    pub(crate) pid: Pid,
}

impl Zygote {
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }
}

/// What the agent asks for.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub seq: u64,
    pub op: Op,
    /// Which of stdin/stdout/stderr came as fds with this request (in that order).
    #[serde(default)]
    pub fds: [bool; 3],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Op {
    Create { id: String, lc_root: PathBuf, bundle: PathBuf, stdout: PathBuf, stderr: PathBuf, meta_dir: PathBuf },
    Start { id: String, lc_root: PathBuf, meta_dir: PathBuf },
    Delete { id: String, lc_root: PathBuf, meta_dir: PathBuf },
    Exec { id: String, lc_root: PathBuf, argv: Vec<String>, env: Vec<(String, String)> },
    RunSandbox {
        id: String,
        hostname: String,
        ns_dir: PathBuf,
        pod_cgroup: String,
        meta_dir: PathBuf,
        #[serde(default)]
        host_network: bool,
    },
    RemoveSandbox { id: String, meta_dir: PathBuf },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Pid(u32),
    Code(i32),
    Sandbox(Sandbox),
    /// The operation failed; the message is what the pod's status shows.
    Failed(String),
}

/// What the zygote sends to the agent.
#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    Reply { seq: u64, reply: Reply },
    /// A process the zygote adopted exited (its record directory and final status).
    Exited { meta_dir: PathBuf, status: ContainerStatus },
}

/// Forks the zygote if this process can run containers (root); call it first thing in
/// `main`, while the process has one thread. `None` when not root.
pub fn spawn_if_needed() -> Option<Zygote> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    match spawn_fork() {
        Ok(z) => Some(z),
        Err(e) => {
            eprintln!("warning: could not start the container runtime helper: {e}");
            None
        }
    }
}

fn pair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(socket::socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?)
}

fn spawn_fork() -> io::Result<Zygote> {
    let (agent, zygote) = pair()?;
    // SAFETY: called before any other thread exists (top of main); the child only runs
    // the zygote loop and never returns into the caller's code.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            drop(agent);
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            serve(zygote)
        }
        ForkResult::Parent { child } => {
            drop(zygote);
            Ok(Zygote { sock: agent, pid: child })
        }
    }
}

/// Starts a zygote by running `cmd` (a program that calls [`serve_from_env`] first thing)
/// with its end of the socket as fd 3: how tests, whose harness is multi-threaded, get a
/// zygote from a fresh single-threaded process.
pub fn spawn_command(mut cmd: std::process::Command) -> io::Result<(Zygote, std::process::Child)> {
    use std::os::unix::process::CommandExt;
    let (agent, zygote) = pair()?;
    let raw = zygote.as_raw_fd();
    cmd.env(FD_ENV, "3").stdin(std::process::Stdio::null());
    // SAFETY: dup2 is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(zygote);
    Ok((Zygote { sock: agent, pid: Pid::from_raw(child.id() as i32) }, child))
}

/// When this process was started as a zygote by [`spawn_command`], serves and exits;
/// otherwise returns.
pub fn serve_from_env() {
    let Ok(v) = std::env::var(FD_ENV) else { return };
    let Ok(fd) = v.parse::<RawFd>() else { return };
    std::env::remove_var(FD_ENV);
    // SAFETY: the fd was put there by spawn_command for us alone.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = nix::fcntl::fcntl(sock.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    serve(sock)
}

/// The pipe on which operation children announce the processes they leave behind.
#[derive(Clone, Copy)]
pub struct Notes {
    fd: RawFd,
}

impl Notes {
    /// Tells the zygote that `pid` (which it will adopt) belongs to the records in `dir`.
    pub fn announce(&self, pid: u32, dir: &std::path::Path) {
        let line = format!("{pid}\t{}\n", dir.display());
        // One write of less than PIPE_BUF bytes is atomic.
        // SAFETY: fd is the write end of the notes pipe, open for the child's life.
        unsafe { libc::write(self.fd, line.as_ptr().cast(), line.len()) };
    }
}

struct Zyg {
    sock: OwnedFd,
    notes_r: OwnedFd,
    notes_w: OwnedFd,
    sigfd: SignalFd,
    /// Operation children in flight.
    ops: HashSet<i32>,
    /// Adopted (or soon adopted) processes → their record directory.
    owned: HashMap<i32, PathBuf>,
    notes_buf: Vec<u8>,
    layout: Option<Layout>,
}

fn serve(sock: OwnedFd) -> ! {
    let code = match serve_loop(sock) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("shoal zygote: {e}");
            1
        }
    };
    // SAFETY: leaving the process without running the caller's atexit handlers or
    // destructors (a forked copy of main's state).
    unsafe { libc::_exit(code) }
}

fn serve_loop(sock: OwnedFd) -> io::Result<()> {
    let _ = nix::unistd::setsid();
    let _ = std::env::set_current_dir("/");
    let _ = nix::sys::prctl::set_child_subreaper(true);
    if let Ok(name) = CString::new("shoal-zygote") {
        let _ = nix::sys::prctl::set_name(&name);
    }
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
    // SAFETY: restoring the default disposition; nothing else in the zygote handles it.
    unsafe { nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl) }?;
    let sigfd = SignalFd::with_flags(&mask, nix::sys::signalfd::SfdFlags::SFD_CLOEXEC | nix::sys::signalfd::SfdFlags::SFD_NONBLOCK)?;
    let (notes_r, notes_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    nix::fcntl::fcntl(notes_r.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))?;
    let mut z = Zyg { sock, notes_r, notes_w, sigfd, ops: HashSet::new(), owned: HashMap::new(), notes_buf: Vec::new(), layout: Layout::detect().ok() };
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let (sock_ready, sig_ready, notes_ready) = {
            use nix::poll::{PollFd, PollFlags, PollTimeout};
            let mut fds = [
                PollFd::new(z.sock.as_fd(), PollFlags::POLLIN),
                PollFd::new(z.sigfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(z.notes_r.as_fd(), PollFlags::POLLIN),
            ];
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let r = |f: &PollFd| f.revents().is_some_and(|e| !e.is_empty());
            (r(&fds[0]), r(&fds[1]), r(&fds[2]))
        };
        if notes_ready {
            z.read_notes();
        }
        if sig_ready {
            while let Ok(Some(_)) = z.sigfd.read_signal() {}
            z.reap();
        }
        if sock_ready && !z.handle_request(&mut buf)? {
            return Ok(());
        }
    }
}

impl Zyg {
    fn read_notes(&mut self) {
        let mut chunk = [0u8; 4096];
        loop {
            match nix::unistd::read(self.notes_r.as_raw_fd(), &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.notes_buf.extend_from_slice(&chunk[..n]),
            }
        }
        while let Some(i) = self.notes_buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.notes_buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            if let Some((pid, dir)) = line.split_once('\t') {
                if let Ok(pid) = pid.parse() {
                    self.owned.insert(pid, PathBuf::from(dir));
                }
            }
        }
    }

    /// Peeks at each exited child, records it if it is a container or sandbox process,
    /// then reaps it (see the module doc on why waiting for any child is right here).
    fn reap(&mut self) {
        loop {
            self.read_notes();
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT | WaitPidFlag::__WALL;
            let (pid, code, signal) = match waitid(Id::All, flags) {
                Ok(WaitStatus::Exited(pid, c)) => (pid, Some(c), None),
                Ok(WaitStatus::Signaled(pid, s, _)) => (pid, None, Some(s as i32)),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(other) => match other.pid() {
                    Some(pid) => (pid, None, None),
                    None => return,
                },
            };
            if !self.ops.remove(&pid.as_raw()) {
                if let Some(dir) = self.owned.remove(&pid.as_raw()) {
                    self.record_exit(pid, &dir, code, signal);
                }
            }
            let _ = waitpid(pid, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG));
        }
    }

    fn record_exit(&mut self, pid: Pid, dir: &std::path::Path, code: Option<i32>, signal: Option<i32>) {
        if !dir.is_dir() {
            return;
        }
        let entry: Option<Entry> = state::read_json(&dir.join(state::ENTRY)).ok().flatten();
        let proc: Option<ProcRecord> = state::read_json(&dir.join(state::PROC)).ok().flatten();
        if proc.is_some_and(|p| p.pid != pid.as_raw() as u32) {
            return;
        }
        let oom_killed = signal == Some(libc::SIGKILL)
            && match (&self.layout, &entry) {
                (Some(l), Some(e)) => l.oom_killed(&e.cgroup),
                _ => false,
            };
        let rec = ExitRecord { exit_code: state::exit_code(code, signal), signal, oom_killed, finished_at: SystemTime::now() };
        if state::write_json(&dir.join(state::EXIT), &rec).is_err() {
            return;
        }
        let status = state::exited(rec, proc.and_then(|p| p.started_at));
        send(self.sock.as_raw_fd(), &Message::Exited { meta_dir: dir.to_path_buf(), status });
    }

    /// Reads one request and forks its operation child; false when the agent is gone.
    fn handle_request(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut cmsg = nix::cmsg_space!([RawFd; 3]);
        let (n, fds) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = match socket::recvmsg::<()>(self.sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(m) => m,
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => return Ok(true),
                // The agent is gone.
                Err(Errno::ECONNRESET) | Err(Errno::ENOTCONN) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
            let mut fds: Vec<OwnedFd> = Vec::new();
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(raw) = c {
                        // SAFETY: fds just received, owned by nobody else.
                        fds.extend(raw.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }));
                    }
                }
            }
            (msg.bytes, fds)
        };
        if n == 0 {
            return Ok(false);
        }
        let req: Request = match serde_json::from_slice(&buf[..n]) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("shoal zygote: bad request: {e}");
                return Ok(true);
            }
        };
        // SAFETY: the zygote is single-threaded.
        match unsafe { nix::unistd::fork() } {
            Ok(ForkResult::Child) => {
                // The operation child: plain signal state, none of the zygote's fds but
                // the socket (for the reply) and the notes pipe.
                let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
                let notes = Notes { fd: self.notes_w.as_raw_fd() };
                let reply = crate::runtime::libcontainer::ops::run(req.op, req.fds, fds, notes);
                send(self.sock.as_raw_fd(), &Message::Reply { seq: req.seq, reply });
                // SAFETY: ending the operation child without unwinding into the zygote loop.
                unsafe { libc::_exit(0) }
            }
            Ok(ForkResult::Parent { child }) => {
                self.ops.insert(child.as_raw());
            }
            Err(e) => send(self.sock.as_raw_fd(), &Message::Reply { seq: req.seq, reply: Reply::Failed(format!("fork: {e}")) }),
        }
        Ok(true)
    }
}

fn send(fd: RawFd, m: &Message) {
    if let Ok(b) = serde_json::to_vec(m) {
        let _ = socket::send(fd, &b, MsgFlags::MSG_NOSIGNAL);
    }
}

/// Sends one request datagram with its fds (agent side; the socket may be non-blocking).
pub(crate) fn send_request(fd: RawFd, bytes: &[u8], fds: &[RawFd]) -> nix::Result<usize> {
    let iov = [IoSlice::new(bytes)];
    let cmsgs = [ControlMessage::ScmRights(fds)];
    socket::sendmsg::<()>(fd, &iov, if fds.is_empty() { &[] } else { &cmsgs }, MsgFlags::MSG_NOSIGNAL, None)
}
