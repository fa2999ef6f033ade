//! Tearing a pod's volumes down: every mount below the pod's `volumes/` and
//! `volume-subpaths/` (tmpfs of memory-backed emptyDirs, secrets and projections, subPath
//! binds) is unmounted, deepest first, then the directories are removed. Nothing is
//! removed while a mount is still there, so no data behind a mount can be deleted.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Mount points from `/proc/self/mountinfo` (field 5, octal escapes decoded).
pub fn mount_points() -> std::io::Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(text.lines().filter_map(|l| l.split(' ').nth(4)).map(unescape).map(PathBuf::from).collect())
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_below(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = mount_points()?.into_iter().filter(|m| m.starts_with(dir)).collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v.dedup();
    Ok(v)
}

/// Whether `dir` itself is a mount point.
pub fn is_mounted(dir: &Path) -> bool {
    mount_points().map(|m| m.iter().any(|p| p == dir)).unwrap_or(false)
}

/// Detaches the mount at `p` (stacked mounts: until none is left).
pub fn unmount(p: &Path) -> std::io::Result<()> {
    let c = CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::Error::other("NUL in path"))?;
    for _ in 0..16 {
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            // EINVAL: not a mount point (any more).
            return if e.raw_os_error() == Some(libc::EINVAL) { Ok(()) } else { Err(e) };
        }
        if !is_mounted(p) {
            return Ok(());
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("unmounting {path}: {source}")]
    Unmount { path: PathBuf, source: std::io::Error },
    #[error("{path} is still mounted: not removing it")]
    StillMounted { path: PathBuf },
    #[error("removing {path}: {source}")]
    Remove { path: PathBuf, source: std::io::Error },
    #[error("reading mounts: {0}")]
    Mounts(std::io::Error),
}

/// Unmounts everything below the pod's volume directories and removes them.
pub fn release(pod_dir: &Path) -> Result<(), ReleaseError> {
    let dirs = [pod_dir.join("volumes"), pod_dir.join("volume-subpaths")];
    for d in &dirs {
        for m in mounts_below(d).map_err(ReleaseError::Mounts)? {
            unmount(&m).map_err(|source| ReleaseError::Unmount { path: m.clone(), source })?;
        }
        if let Some(m) = mounts_below(d).map_err(ReleaseError::Mounts)?.into_iter().next() {
            return Err(ReleaseError::StillMounted { path: m });
        }
        match std::fs::remove_dir_all(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ReleaseError::Remove { path: d.clone(), source }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/x\\"), "/x\\");
    }
}
