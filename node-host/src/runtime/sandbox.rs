//! The pod sandbox: a pause process holding new network, IPC and UTS namespaces, whose
//! namespaces are bind-mounted to files (`<pod_dir>/ns/{net,ipc,uts}`) that the pod's
//! containers join through `linux.namespaces[].path` and that outlive the agent.
//!
//! Decision: the pause process is a plain process forked by an operation child of the
//! zygote (it `unshare`s, sets the hostname, brings `lo` up and `pause()`s), not a
//! libcontainer container. It needs no root filesystem, no mount or pid namespace, no
//! seccomp or capabilities setup, and no second clone: a fork and an unshare take well
//! under a millisecond where a libcontainer create + start takes tens (see the
//! measurement in the runtime tests), and it is one process with nothing to clean up
//! but itself, its namespace mounts and its cgroup. It is re-parented to the zygote
//! like a container's init, so its exit is recorded the same way.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::ForkResult;

use crate::runtime::libcontainer::ops::{remove_cgroup, remove_dir_retrying};
use crate::runtime::libcontainer::state::{self, ProcRecord, SandboxRecord};
use crate::runtime::zygote::Notes;
use crate::runtime::Sandbox;

/// The namespaces a sandbox holds, with their file names.
const NAMESPACES: [&str; 3] = ["net", "ipc", "uts"];

/// The cgroup of a sandbox's pause process: a leaf below the pod's cgroup (cgroup v2
/// allows processes only in leaves once the pod cgroup has children).
pub fn pause_cgroup(pod_cgroup: &str, id: &str) -> String {
    format!("{}/{id}", pod_cgroup.trim_end_matches('/'))
}

/// Starts the pause process (operation child side).
pub fn run(id: &str, hostname: &str, ns_dir: &Path, pod_cgroup: &str, meta_dir: &Path, host_network: bool, notes: Notes) -> Result<Sandbox, String> {
    fs::create_dir_all(ns_dir).map_err(|e| format!("create {}: {e}", ns_dir.display()))?;
    let files: Vec<PathBuf> = NAMESPACES.iter().map(|n| ns_dir.join(n)).collect();
    for f in &files {
        fs::File::create(f).map_err(|e| format!("create {}: {e}", f.display()))?;
    }
    if hostname.contains('\0') {
        return Err("hostname has a NUL byte".into());
    }
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    // SAFETY: the operation child is single-threaded.
    let pid = match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            drop(ready_r);
            let mut w = fs::File::from(ready_w);
            match enter(hostname, host_network) {
                Ok(()) => {
                    let _ = w.write_all(b"ok");
                    drop(w);
                    pause_forever()
                }
                Err(e) => {
                    let _ = w.write_all(e.as_bytes());
                    // SAFETY: leaving the forked child without unwinding.
                    unsafe { libc::_exit(1) }
                }
            }
        }
        ForkResult::Parent { child } => child,
    };
    drop(ready_w);
    let mut msg = String::new();
    let _ = fs::File::from(ready_r).read_to_string(&mut msg);
    if msg != "ok" {
        let _ = nix::sys::wait::waitpid(pid, None);
        return Err(format!("sandbox: {msg}"));
    }
    let raw = pid.as_raw() as u32;
    let (start_ticks, _) = state::proc_stat(raw).ok_or("pause process vanished")?;
    let proc = ProcRecord { pid: raw, start_ticks, started_at: Some(SystemTime::now()) };
    state::write_json(&meta_dir.join(state::PROC), &proc).map_err(|e| e.to_string())?;
    notes.announce(raw, meta_dir);
    let setup = || -> Result<Sandbox, String> {
        join_cgroup(id, &pause_cgroup(pod_cgroup, id), raw)?;
        for (n, f) in NAMESPACES.iter().zip(&files) {
            let src = format!("/proc/{raw}/ns/{n}");
            mount(Some(src.as_str()), f, None::<&str>, MsFlags::MS_BIND, None::<&str>).map_err(|e| format!("bind {src} to {}: {e}", f.display()))?;
        }
        let sandbox = Sandbox { id: id.to_string(), pid: raw, netns: files[0].clone(), ipcns: files[1].clone(), utsns: files[2].clone() };
        let rec = SandboxRecord { sandbox: sandbox.clone(), pod_cgroup: pod_cgroup.to_string(), ns_dir: ns_dir.to_path_buf() };
        state::write_json(&meta_dir.join(state::SANDBOX), &rec).map_err(|e| e.to_string())?;
        Ok(sandbox)
    };
    setup().inspect_err(|_| {
        let _ = state::signal(&proc, libc::SIGKILL);
        unmount_all(&files);
    })
}

/// In the pause child: new namespaces, hostname, loopback up — or, for a `hostNetwork`
/// pod, a new IPC namespace only (network and hostname stay the node's, as upstream).
fn enter(host: &str, host_network: bool) -> Result<(), String> {
    let _ = nix::unistd::setsid();
    if host_network {
        return unshare(CloneFlags::CLONE_NEWIPC).map_err(|e| format!("unshare: {e}"));
    }
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS).map_err(|e| format!("unshare: {e}"))?;
    nix::unistd::sethostname(host).map_err(|e| format!("sethostname: {e}"))?;
    loopback_up().map_err(|e| format!("bring up lo: {e}"))
}

fn loopback_up() -> std::io::Result<()> {
    // SAFETY: an ioctl on a socket we own with a zeroed, NUL-terminated ifreq.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, c) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *c as libc::c_char;
        }
        let mut r = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req);
        if r == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            r = libc::ioctl(s, libc::SIOCSIFFLAGS, &req);
        }
        let e = std::io::Error::last_os_error();
        libc::close(s);
        if r < 0 {
            return Err(e);
        }
    }
    Ok(())
}

fn pause_forever() -> ! {
    // SAFETY: closing every inherited fd, then 0/1/2 onto /dev/null; no Rust object
    // owning those fds is used again in this process.
    unsafe {
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
        libc::prctl(libc::PR_SET_NAME, c"pause".as_ptr());
        loop {
            libc::pause();
        }
    }
}

fn join_cgroup(id: &str, path: &str, pid: u32) -> Result<(), String> {
    let cfg = libcgroups::common::CgroupConfig { cgroup_path: PathBuf::from(path), systemd_cgroup: false, container_name: id.to_string() };
    let m = libcgroups::common::create_cgroup_manager(cfg).map_err(|e| e.to_string())?;
    libcgroups::common::CgroupManager::add_task(&m, nix::unistd::Pid::from_raw(pid as i32)).map_err(|e| format!("join cgroup {path}: {e}"))
}

fn unmount_all(files: &[PathBuf]) {
    for f in files {
        let _ = umount2(f, MntFlags::MNT_DETACH);
    }
}

/// Kills the pause process, unmounts and removes the namespace files, removes its and
/// the pod's cgroup and its records (operation child side).
pub fn remove(id: &str, meta_dir: &Path) -> Result<(), String> {
    let rec: Option<SandboxRecord> = state::read_json(&meta_dir.join(state::SANDBOX)).map_err(|e| e.to_string())?;
    let proc: Option<ProcRecord> = state::read_json(&meta_dir.join(state::PROC)).map_err(|e| e.to_string())?;
    if let Some(p) = &proc {
        state::signal(p, libc::SIGKILL).map_err(|e| format!("kill pause: {e}"))?;
        if !state::wait_gone(p, Duration::from_secs(5)) {
            return Err(format!("pause process {} did not exit", p.pid));
        }
    }
    if let Some(rec) = rec {
        let files: Vec<PathBuf> = NAMESPACES.iter().map(|n| rec.ns_dir.join(n)).collect();
        unmount_all(&files);
        for f in &files {
            match fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("remove {}: {e}", f.display())),
            }
        }
        let _ = fs::remove_dir(&rec.ns_dir);
        remove_cgroup(id, &pause_cgroup(&rec.pod_cgroup, id))?;
        remove_cgroup(id, &rec.pod_cgroup)?;
    }
    remove_dir_retrying(meta_dir)
}
