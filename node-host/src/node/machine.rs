//! What the machine has, read from the kernel: cores (the CPU affinity of this process,
//! as `sched_getaffinity`), memory (`/proc/meminfo`), disk of the root directory
//! (`statvfs`), kernel release, OS image (`/etc/os-release`), architecture, and the
//! pressure signals the Node conditions report.

use std::path::Path;

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.trim_start_matches(':').split_whitespace().next()).and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(0)
            * 1024
    };
    (field("MemTotal"), field("MemAvailable"))
}

/// `PRETTY_NAME` of an os-release file.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim().trim_matches('"').to_string())
}

/// Kubernetes' name of an architecture (`GOARCH`).
pub fn goarch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub cores: u64,
    pub memory_bytes: u64,
    pub memory_available: u64,
    pub disk_bytes: u64,
    pub disk_available: u64,
    pub kernel: String,
    pub os_image: String,
    pub arch: String,
    pub boot_id: String,
    pub machine_id: String,
    pub pid_max: u64,
    pub pids: u64,
}

fn statvfs(path: &Path) -> (u64, u64) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return (0, 0) };
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated path and s a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return (0, 0);
    }
    let frsize = s.f_frsize as u64;
    (s.f_blocks as u64 * frsize, s.f_bavail as u64 * frsize)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default().trim().to_string()
}

/// Reads the machine; `root` is the agent's root directory (whose filesystem is the
/// node's ephemeral storage).
pub fn read_machine(root: &Path) -> Machine {
    let (memory_bytes, memory_available) = parse_meminfo(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default());
    let mut probe = root.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let (disk_bytes, disk_available) = statvfs(&probe);
    let pids = std::fs::read_dir("/proc").map(|d| d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit())).count() as u64).unwrap_or(0);
    Machine {
        cores: std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
        memory_bytes,
        memory_available,
        disk_bytes,
        disk_available,
        kernel: read("/proc/sys/kernel/osrelease"),
        os_image: parse_os_release(&std::fs::read_to_string("/etc/os-release").unwrap_or_default()).unwrap_or_else(|| "Linux".into()),
        arch: goarch(std::env::consts::ARCH).to_string(),
        boot_id: read("/proc/sys/kernel/random/boot_id"),
        machine_id: read("/etc/machine-id"),
        pid_max: read("/proc/sys/kernel/pid_max").parse().unwrap_or(32768),
        pids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_and_os_release_parse() {
        let mem = "MemTotal:       16318536 kB\nMemFree:         1000 kB\nMemAvailable:    8000000 kB\n";
        assert_eq!(parse_meminfo(mem), (16318536 * 1024, 8000000 * 1024));
        assert_eq!(parse_os_release("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n").as_deref(), Some("Debian GNU/Linux 13 (trixie)"));
        assert_eq!(goarch("x86_64"), "amd64");
        assert_eq!(goarch("aarch64"), "arm64");
    }

    #[test]
    fn this_machine_reads() {
        let m = read_machine(Path::new("/tmp/does/not/exist"));
        assert!(m.cores >= 1);
        assert!(m.memory_bytes > 0 && m.memory_available <= m.memory_bytes);
        assert!(m.disk_bytes > 0, "statvfs of the nearest existing parent");
        assert!(!m.kernel.is_empty());
    }
}
