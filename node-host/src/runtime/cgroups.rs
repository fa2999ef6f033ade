//! Where this node's pod and container cgroups live, and what is read from them.
//!
//! Every cgroup the runtime creates is below the agent's own cgroup, so that it goes
//! wherever the machine (or CI) puts and cleans up the agent:
//! - cgroup v1 (this machine: one hierarchy per controller): `/proc/self/cgroup` gives one
//!   path per controller. libcontainer takes a single `linux.cgroupsPath` and joins it to
//!   every controller's mount point, so the base is the most specific of those paths (on
//!   this machine the memory controller's `/process_api/<id>`, the others are `/`); in the
//!   hierarchies where the agent sits higher, the same path is created and removed by us.
//! - cgroup v2 (unified): the agent's own `0::` path. cgroup v2's "no internal
//!   processes" rule means that cgroup must be delegated with its controllers enabled
//!   for children while the agent itself sits in a leaf (systemd `Delegate=yes`, as
//!   containerd and the kubelet expect); that setup is not done here (not testable on
//!   this v1 machine).
//!
//! `usage` reads CPU time and the memory working set; `oom_killed` reads the kernel's
//! OOM-kill counter of a container's memory cgroup (v1 `memory.oom_control`, v2
//! `memory.events`), so an exit by the OOM killer reports `OOMKilled` as the kubelet does.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::runtime::Usage;

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup versions a machine can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// One hierarchy per controller (hybrid machines count as v1, as libcgroups does).
    V1,
    Unified,
}

/// v1 controllers libcontainer's cgroup manager creates directories in.
pub const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "cpuset", "devices", "memory", "pids", "blkio", "freezer"];

/// The machine's cgroup layout as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub version: Version,
    /// The agent's own cgroup (absolute within each hierarchy), below which everything goes.
    pub base: String,
    /// v1: the agent's own cgroup in each controller's hierarchy (where it is not `base`,
    /// the directories between it and `base` are the runtime's to create and remove).
    pub own: Vec<(String, String)>,
}

impl Layout {
    /// Reads the machine's cgroup version and this process's cgroup.
    pub fn detect() -> io::Result<Layout> {
        let version = if Path::new(ROOT).join("cgroup.controllers").exists() { Version::Unified } else { Version::V1 };
        let own = fs::read_to_string("/proc/self/cgroup")?;
        Ok(Layout { version, base: base_from_proc(&own, version), own: own_paths(&own) })
    }

    /// The absolute cgroup path (as `linux.cgroupsPath` takes it) of `rel` below the base.
    /// An absolute `rel` is kept as given.
    pub fn resolve(&self, rel: &str) -> String {
        if rel.starts_with('/') {
            return rel.to_string();
        }
        join(&self.base, rel)
    }

    /// The directories of an absolute cgroup path in every hierarchy that has it.
    pub fn dirs(&self, path: &str) -> Vec<PathBuf> {
        let rel = path.trim_start_matches('/');
        match self.version {
            Version::Unified => vec![Path::new(ROOT).join(rel)],
            Version::V1 => V1_CONTROLLERS.iter().map(|c| Path::new(ROOT).join(c)).filter(|m| m.exists()).map(|m| m.join(rel)).collect(),
        }
    }

    fn controller_dir(&self, controller: &str, path: &str) -> PathBuf {
        let rel = path.trim_start_matches('/');
        match self.version {
            Version::Unified => Path::new(ROOT).join(rel),
            Version::V1 => Path::new(ROOT).join(controller).join(rel),
        }
    }

    /// CPU time and memory working set of a cgroup (and everything below it).
    pub fn usage(&self, path: &str) -> io::Result<Usage> {
        match self.version {
            Version::V1 => {
                let cpu_ns = read_u64(&self.controller_dir("cpuacct", path).join("cpuacct.usage"))?;
                let mem = self.controller_dir("memory", path);
                let usage = read_u64(&mem.join("memory.usage_in_bytes"))?;
                let stat = fs::read_to_string(mem.join("memory.stat"))?;
                let inactive = stat_value(&stat, "total_inactive_file").unwrap_or(0);
                Ok(Usage { cpu_ns, memory_working_set: usage.saturating_sub(inactive) })
            }
            Version::Unified => {
                let dir = self.controller_dir("", path);
                let cpu = fs::read_to_string(dir.join("cpu.stat"))?;
                let cpu_ns = stat_value(&cpu, "usage_usec").unwrap_or(0).saturating_mul(1000);
                let usage = read_u64(&dir.join("memory.current"))?;
                let stat = fs::read_to_string(dir.join("memory.stat"))?;
                let inactive = stat_value(&stat, "inactive_file").unwrap_or(0);
                Ok(Usage { cpu_ns, memory_working_set: usage.saturating_sub(inactive) })
            }
        }
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self, path: &str) -> bool {
        let (file, key) = match self.version {
            Version::V1 => (self.controller_dir("memory", path).join("memory.oom_control"), "oom_kill"),
            Version::Unified => (self.controller_dir("", path).join("memory.events"), "oom_kill"),
        };
        fs::read_to_string(file).ok().and_then(|s| stat_value(&s, key)).is_some_and(|n| n > 0)
    }

    /// SIGKILLs every process in `path` and below, in every hierarchy, and removes those
    /// cgroups (then the empty ancestors, as [`Layout::remove_up`]); false while some
    /// remain (processes take a moment to leave): call again. For tearing down what
    /// outlives an agent on purpose (tests, a node being wiped).
    pub fn kill_tree(&self, path: &str) -> bool {
        let done = self.dirs(path).iter().all(|d| kill_and_remove(d));
        if done {
            self.remove_up(path);
        }
        done
    }

    /// Removes the empty directories of `path` and of its ancestors, in every hierarchy,
    /// up to (not including) the agent's own cgroup in that hierarchy (an ancestor still
    /// in use stays); false when `path` itself is still there.
    pub fn remove_up(&self, path: &str) -> bool {
        let hierarchies: Vec<(PathBuf, String)> = match self.version {
            Version::Unified => vec![(PathBuf::from(ROOT), self.base.clone())],
            Version::V1 => V1_CONTROLLERS
                .iter()
                .map(|c| (Path::new(ROOT).join(c), self.own.iter().find(|(n, _)| n == c).map(|(_, p)| p.clone()).unwrap_or_else(|| "/".into())))
                .filter(|(m, _)| m.exists())
                .collect(),
        };
        for (mount, stop) in hierarchies {
            let stop = stop.trim_end_matches('/');
            let mut cur = path.trim_end_matches('/').to_string();
            while cur.len() > stop.len() && cur.starts_with(stop) {
                let d = mount.join(cur.trim_start_matches('/'));
                if d.exists() && fs::remove_dir(&d).is_err() {
                    break;
                }
                match cur.rfind('/') {
                    Some(i) => cur.truncate(i),
                    None => break,
                }
            }
        }
        !self.exists(path)
    }

    /// Whether any hierarchy still has a directory for `path`.
    pub fn exists(&self, path: &str) -> bool {
        self.dirs(path).iter().any(|d| d.exists())
    }
}

/// The agent's own cgroup from `/proc/self/cgroup`: v2 its `0::` line; v1 the longest
/// path among the controllers libcontainer manages.
pub fn base_from_proc(proc_cgroup: &str, version: Version) -> String {
    let mut best = String::from("/");
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let wanted = match version {
            Version::Unified => ctrls.is_empty(),
            Version::V1 => ctrls.split(',').any(|c| V1_CONTROLLERS.contains(&c)),
        };
        if wanted && path.len() > best.len() {
            best = path.to_string();
        }
    }
    best
}

/// v1: each controller's own path from `/proc/self/cgroup`.
pub fn own_paths(proc_cgroup: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            out.push((c.to_string(), path.to_string()));
        }
    }
    out
}

fn join(a: &str, b: &str) -> String {
    let a = a.trim_end_matches('/');
    let b = b.trim_start_matches('/');
    if b.is_empty() {
        return if a.is_empty() { "/".into() } else { a.into() };
    }
    format!("{a}/{b}")
}

fn read_u64(p: &Path) -> io::Result<u64> {
    fs::read_to_string(p)?.trim().parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))
}

/// The value of `key` in a "key value" per line file (memory.stat, cpu.stat, memory.events).
pub fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_is_the_agents_most_specific_cgroup() {
        let v1 = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";
        let v2 = "0::/system.slice/shoal.service\n";
        let cases = [(v1, Version::V1, "/process_api/abc"), (v2, Version::Unified, "/system.slice/shoal.service"), ("0::/\n", Version::Unified, "/"), ("", Version::V1, "/")];
        for (text, version, want) in cases {
            assert_eq!(base_from_proc(text, version), want, "{text:?}");
        }
    }

    #[test]
    fn relative_paths_resolve_below_the_base() {
        let l = Layout { version: Version::V1, base: "/process_api/abc".into(), own: own_paths("4:memory:/process_api/abc\n1:cpu:/\n") };
        assert_eq!(l.own, vec![("memory".to_string(), "/process_api/abc".to_string()), ("cpu".to_string(), "/".to_string())]);
        assert_eq!(l.resolve("shoal/pod1/c1"), "/process_api/abc/shoal/pod1/c1");
        assert_eq!(l.resolve("/abs"), "/abs");
        let root = Layout { version: Version::Unified, base: "/".into(), own: vec![] };
        assert_eq!(root.resolve("shoal/p"), "/shoal/p");
    }

    #[test]
    fn stat_values_are_read_by_key() {
        let text = "cache 10\ntotal_inactive_file 4096\noom_kill 2\n";
        assert_eq!(stat_value(text, "total_inactive_file"), Some(4096));
        assert_eq!(stat_value(text, "oom_kill"), Some(2));
        assert_eq!(stat_value(text, "missing"), None);
    }
}

/// Kills what is in `d` and below and removes the directories, deepest first.
fn kill_and_remove(d: &std::path::Path) -> bool {
    if !d.exists() {
        return true;
    }
    let mut ok = true;
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            ok &= kill_and_remove(&e.path());
        }
    }
    if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
        for p in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
        }
    }
    ok && std::fs::remove_dir(d).is_ok()
}
