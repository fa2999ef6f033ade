//! A network namespace of a test's own (DESIGN.md, "Networks"): created with
//! `ip netns add`, entered by the test's thread — so that every process and client the
//! test starts from that thread lives in it, never in the machine's root namespace —
//! and removed on drop, also when the test panics.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Netns {
    pub name: String,
    /// The thread's namespace before `enter`, to return to on drop.
    home: Option<File>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("running ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Netns {
    /// A fresh namespace with `lo` up.
    pub fn create(tag: &str) -> Self {
        let name = format!("shoal-t-{tag}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name]).expect("creating a network namespace (tests with real nodes run as root)");
        let ns = Netns { name, home: None };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]).expect("bringing lo up in the test namespace");
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Moves the calling thread into the namespace: processes and threads it starts from
    /// now on start there too.
    pub fn enter(&mut self) {
        let home = File::open("/proc/thread-self/ns/net").expect("opening this thread's network namespace");
        let target = File::open(self.path()).expect("opening the test namespace");
        nix::sched::setns(target.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("entering the test namespace");
        self.home = Some(home);
    }

    /// Pids of the processes in the namespace.
    pub fn pids(&self) -> Vec<i32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Everything in it but this process (a test or bench thread may live in it).
        let me = std::process::id() as i32;
        for pid in self.pids().into_iter().filter(|p| *p != me) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        if let Some(home) = self.home.take() {
            let _ = nix::sched::setns(home.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET);
        }
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("removing test namespace {}: {e}", self.name);
        }
    }
}
