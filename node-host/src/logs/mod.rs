//! Container logs as the kubelet keeps them: each container's stdout and stderr go to two
//! FIFOs (the runtime opens them read-write for the container, so it never gets SIGPIPE
//! and outlives the agent); a [`Pump`] drains them into
//! `<root>/logs/<ns>_<pod>_<uid>/<container>/<attempt>.log` in the CRI log format
//! (`cri`), size-capped and rotated (`writer`); `reader` answers `kubectl logs`.
//!
//! ```text
//! let logs = ContainerLogs::create(&root, &key, attempt)?;       // FIFOs + log path
//! cfg.stdout = logs.stdout_fifo.clone(); cfg.stderr = logs.stderr_fifo.clone();
//! let pump = Pump::spawn(&logs, LogOptions::default())?;        // also after an agent restart
//! …container exits…  pump.finish().await;                       // drains what is left
//! ```

pub mod cri;
pub mod pump;
pub mod reader;
pub mod writer;

use std::io;
use std::path::{Path, PathBuf};

pub use cri::{LogStream, Tag};
pub use pump::{Chunk, Pump};
pub use reader::{read_logs, ReadOptions, StreamFilter};
pub use writer::{LogOptions, Writer};

/// The pod a container's logs belong to (kubelet names its directory after all three).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLogKey {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// `<root>/logs/<ns>_<pod>_<uid>`: the pod's log directory (kubelet's `BuildPodLogsDirectory`).
pub fn pod_log_dir(root: &Path, pod: &PodLogKey) -> PathBuf {
    root.join("logs").join(format!("{}_{}_{}", pod.namespace, pod.name, pod.uid))
}

/// `<pod dir>/<container>/<attempt>.log` (kubelet's `BuildContainerLogsDirectory` + restart count).
pub fn container_log_path(root: &Path, pod: &PodLogKey, container: &str, attempt: u32) -> PathBuf {
    pod_log_dir(root, pod).join(container).join(format!("{attempt}.log"))
}

/// The files of one container attempt: the two FIFOs the container writes to and the
/// CRI log file they are drained into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLogs {
    pub stdout_fifo: PathBuf,
    pub stderr_fifo: PathBuf,
    pub log_path: PathBuf,
}

impl ContainerLogs {
    /// Creates (or, after an agent restart, finds) the FIFOs beside the log file
    /// (`<attempt>.stdout.fifo`, `<attempt>.stderr.fifo`) and the directories.
    pub fn create(root: &Path, pod: &PodLogKey, container: &str, attempt: u32) -> io::Result<Self> {
        let log_path = container_log_path(root, pod, container, attempt);
        let dir = log_path.parent().map(Path::to_path_buf).unwrap_or_default();
        std::fs::create_dir_all(&dir)?;
        let logs = ContainerLogs {
            stdout_fifo: dir.join(format!("{attempt}.stdout.fifo")),
            stderr_fifo: dir.join(format!("{attempt}.stderr.fifo")),
            log_path,
        };
        for fifo in [&logs.stdout_fifo, &logs.stderr_fifo] {
            make_fifo(fifo)?;
        }
        Ok(logs)
    }

    /// Removes the FIFOs (once the container is gone); the log file stays for `--previous`.
    pub fn remove_fifos(&self) -> io::Result<()> {
        for fifo in [&self.stdout_fifo, &self.stderr_fifo] {
            match std::fs::remove_file(fifo) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

fn make_fifo(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => return Ok(()),
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_kubelets() {
        let key = PodLogKey { namespace: "ns".into(), name: "web".into(), uid: "u-1".into() };
        let p = container_log_path(Path::new("/r"), &key, "app", 2);
        assert_eq!(p, Path::new("/r/logs/ns_web_u-1/app/2.log"));
    }

    #[test]
    fn create_makes_fifos_and_is_idempotent() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let key = PodLogKey { namespace: "ns".into(), name: "web".into(), uid: "u".into() };
        let a = ContainerLogs::create(dir.path(), &key, "app", 0).unwrap();
        let b = ContainerLogs::create(dir.path(), &key, "app", 0).unwrap();
        assert_eq!(a, b);
        assert!(std::fs::metadata(&a.stdout_fifo).unwrap().file_type().is_fifo());
        a.remove_fifos().unwrap();
        assert!(!a.stdout_fifo.exists());
    }
}
