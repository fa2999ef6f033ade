//! What a real node-host needs from the machine, checked before it starts, so that
//! `shoal up` and `shoal node` say what is missing instead of failing half-way.

use std::path::Path;

/// Each requirement the machine does not meet, in words a user can act on.
pub fn missing() -> Vec<String> {
    let mut out = Vec::new();
    if !cfg!(target_os = "linux") {
        out.push("running containers needs Linux".to_string());
        return out;
    }
    if !nix::unistd::geteuid().is_root() {
        out.push("running containers needs root (namespaces, cgroups, mounts and the node bridge)".to_string());
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.split_whitespace().any(|f| f == "overlay") {
        out.push("the kernel has no overlay filesystem (modprobe overlay)".to_string());
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let cgroups = mounts.lines().any(|l| matches!(l.split_whitespace().nth(2), Some("cgroup" | "cgroup2")));
    if !Path::new("/sys/fs/cgroup").is_dir() || !cgroups {
        out.push("no cgroup filesystem is mounted at /sys/fs/cgroup".to_string());
    }
    if !Path::new("/proc/self/ns/net").exists() {
        out.push("the kernel has no network namespaces".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_requirement_is_a_sentence() {
        for m in super::missing() {
            assert!(m.len() > 10 && !m.ends_with('.'), "{m:?}");
        }
    }
}
