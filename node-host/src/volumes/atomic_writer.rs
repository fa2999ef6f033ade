//! Kubelet's atomic writer (`pkg/volume/util/atomic_writer.go`): a projected volume's
//! files live in a timestamped directory `..<time>`; `..data` is a symlink to it, and each
//! user-visible top-level name is a symlink into `..data`. A new payload is written into a
//! fresh timestamped directory and `..data` is swapped with one `rename`, so a reader sees
//! either the old files or the new ones, never a mix — and containers that mount the
//! volume see the change without a restart (files under a subPath mount do not follow, as
//! upstream).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::safe_path::validate_item_path;

pub const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

/// One file of a payload: its bytes and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Relative path → file.
pub type Payload = BTreeMap<String, FileProjection>;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    InvalidPath(String),
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: io::Error },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WriteError + 'a {
    move |source| WriteError::Io { what, path: path.to_path_buf(), source }
}

/// The top-level names a payload makes visible.
fn user_visible(payload: &Payload) -> BTreeSet<String> {
    payload.keys().filter_map(|p| p.split('/').next().map(str::to_string)).collect()
}

/// `..YYYY_MM_DD_HH_MM_SS.<nanos><n>`, unique within the volume directory.
fn ts_dir_name(target: &Path) -> PathBuf {
    let now = chrono::Utc::now();
    let base = now.format("..%Y_%m_%d_%H_%M_%S").to_string();
    let nanos = now.timestamp_subsec_nanos();
    let mut n = 0u32;
    loop {
        let p = target.join(format!("{base}.{nanos:09}{n}"));
        if !p.exists() {
            return p;
        }
        n += 1;
    }
}

/// The payload as it is on disk below `dir` (a timestamped directory).
fn read_existing(dir: &Path) -> io::Result<Payload> {
    fn walk(base: &Path, rel: &Path, out: &mut Payload) -> io::Result<()> {
        for e in std::fs::read_dir(base.join(rel))? {
            let e = e?;
            let r = rel.join(e.file_name());
            let md = std::fs::symlink_metadata(base.join(&r))?;
            if md.is_dir() {
                walk(base, &r, out)?;
            } else {
                let data = std::fs::read(base.join(&r))?;
                out.insert(r.to_string_lossy().into_owned(), FileProjection { data, mode: md.permissions().mode() & 0o7777 });
            }
        }
        Ok(())
    }
    let mut out = Payload::new();
    walk(dir, Path::new(""), &mut out)?;
    Ok(out)
}

/// Writes `payload` into `target` (which must exist) atomically. Returns whether anything
/// changed.
pub fn write(target: &Path, payload: &Payload) -> Result<bool, WriteError> {
    // 1. Every path is valid.
    for p in payload.keys() {
        validate_item_path(p).map_err(WriteError::InvalidPath)?;
    }
    // 2–3. What `..data` points to now, and whether it already holds this payload.
    let data_link = target.join(DATA_DIR);
    let old_ts = std::fs::read_link(&data_link).ok().map(|t| target.join(t));
    let visible = user_visible(payload);
    if let Some(old) = &old_ts {
        let same = read_existing(old).map(|have| &have == payload).unwrap_or(false);
        let links_ok = visible.iter().all(|n| std::fs::symlink_metadata(target.join(n)).is_ok());
        if same && links_ok {
            return Ok(false);
        }
    }
    // 4–5. A new timestamped directory holding the payload.
    let ts = ts_dir_name(target);
    std::fs::create_dir(&ts).map_err(io_err("creating", &ts))?;
    std::fs::set_permissions(&ts, std::fs::Permissions::from_mode(0o755)).map_err(io_err("chmod", &ts))?;
    for (rel, f) in payload {
        let path = ts.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(f.mode)
            .open(&path)
            .map_err(io_err("writing", &path))?;
        file.write_all(&f.data).map_err(io_err("writing", &path))?;
        // The umask narrowed the mode given to open.
        file.set_permissions(std::fs::Permissions::from_mode(f.mode)).map_err(io_err("chmod", &path))?;
    }
    // 6–7. `..data_tmp` → new dir, renamed over `..data` (atomic).
    let tmp = target.join(DATA_DIR_TMP);
    let _ = std::fs::remove_file(&tmp);
    let ts_name = ts.file_name().map(PathBuf::from).unwrap_or_default();
    std::os::unix::fs::symlink(&ts_name, &tmp).map_err(io_err("linking", &tmp))?;
    std::fs::rename(&tmp, &data_link).map_err(io_err("renaming", &data_link))?;
    // 8. User-visible names.
    for name in &visible {
        let link = target.join(name);
        if std::fs::symlink_metadata(&link).is_ok() {
            continue;
        }
        std::os::unix::fs::symlink(Path::new(DATA_DIR).join(name), &link).map_err(io_err("linking", &link))?;
    }
    // 9. Names of the old payload that the new one lacks.
    for e in std::fs::read_dir(target).map_err(io_err("listing", target))?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || visible.contains(&name) {
            continue;
        }
        let p = e.path();
        if std::fs::symlink_metadata(&p).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
            std::fs::remove_file(&p).map_err(io_err("removing", &p))?;
        }
    }
    // 10. The old timestamped directory.
    if let Some(old) = old_ts.filter(|o| *o != ts) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str, mode: u32) -> FileProjection {
        FileProjection { data: s.as_bytes().to_vec(), mode }
    }

    #[test]
    fn writes_through_data_symlink_and_swaps_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        let mut p = Payload::new();
        p.insert("a".into(), file("1", 0o644));
        p.insert("sub/b".into(), file("2", 0o400));
        assert!(write(t, &p).unwrap());
        assert_eq!(std::fs::read_link(t.join("a")).unwrap(), Path::new("..data/a"));
        assert_eq!(std::fs::read_to_string(t.join("sub/b")).unwrap(), "2");
        assert_eq!(std::fs::metadata(t.join("sub/b")).unwrap().permissions().mode() & 0o777, 0o400);
        let first = std::fs::read_link(t.join(DATA_DIR)).unwrap();
        assert!(first.to_string_lossy().starts_with("..20"), "{first:?}");

        // Same payload: nothing changes.
        assert!(!write(t, &p).unwrap());
        assert_eq!(std::fs::read_link(t.join(DATA_DIR)).unwrap(), first);

        // New payload: the link moves, the old dir goes, removed names go.
        let mut q = Payload::new();
        q.insert("a".into(), file("3", 0o644));
        q.insert("c".into(), file("4", 0o600));
        assert!(write(t, &q).unwrap());
        let second = std::fs::read_link(t.join(DATA_DIR)).unwrap();
        assert_ne!(first, second);
        assert!(!t.join(&first).exists());
        assert_eq!(std::fs::read_to_string(t.join("a")).unwrap(), "3");
        assert_eq!(std::fs::read_to_string(t.join("c")).unwrap(), "4");
        assert!(std::fs::symlink_metadata(t.join("sub")).is_err());
        let names: BTreeSet<String> = std::fs::read_dir(t).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 4, "{names:?}"); // a, c, ..data, one ts dir
    }

    #[test]
    fn a_reader_holding_the_volume_sees_the_new_content() {
        // A bind of the volume directory (what a container gets) follows the swap.
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        let mut p = Payload::new();
        p.insert("k".into(), file("old", 0o644));
        write(t, &p).unwrap();
        let held = std::fs::File::open(t).unwrap();
        p.insert("k".into(), file("new", 0o644));
        write(t, &p).unwrap();
        use std::os::fd::AsRawFd;
        let via_fd = std::fs::read_to_string(format!("/proc/self/fd/{}/k", held.as_raw_fd())).unwrap();
        assert_eq!(via_fd, "new");
    }

    #[test]
    fn bad_paths_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/abs", "a/../../b", "..data/x"] {
            let mut p = Payload::new();
            p.insert(bad.into(), file("x", 0o644));
            assert!(matches!(write(dir.path(), &p), Err(WriteError::InvalidPath(_))), "{bad}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
