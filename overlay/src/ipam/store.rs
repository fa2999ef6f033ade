//! Pod addresses on disk: `<root>/network/ipam/<pod-uid>`, one small JSON file per pod
//! (`{"ip":"10.244.1.5","subnet":"10.244.1.0/24"}`), written to a temporary name and
//! renamed, so a file is either whole or absent. The file is written before the address
//! is wired into the pod and removed after the veth is gone, so an agent killed at any
//! point finds every address that may be in use.

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Subnet;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub ip: Ipv4Addr,
    pub subnet: String,
}

impl Record {
    pub fn new(ip: Ipv4Addr, subnet: Subnet) -> Self {
        Record { ip, subnet: subnet.to_string() }
    }

    pub fn subnet(&self) -> Option<Subnet> {
        Subnet::parse(&self.subnet).ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0:?} cannot name a pod's address file")]
    BadUid(String),
    #[error("{op} {}", path.display())]
    Io { op: &'static str, path: PathBuf, #[source] source: io::Error },
}

/// The directory of the address files.
#[derive(Debug, Clone)]
pub struct DiskStore {
    dir: PathBuf,
}

/// A pod uid as a file name: letters, digits, `-`, `_`, `.`, not starting with `.`.
fn check_uid(uid: &str) -> Result<(), StoreError> {
    let ok = !uid.is_empty()
        && uid.len() <= 128
        && !uid.starts_with('.')
        && uid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(StoreError::BadUid(uid.to_string())) }
}

impl DiskStore {
    /// The store below a node's root directory (`<root>/network/ipam`).
    pub fn under(root: &Path) -> Self {
        DiskStore { dir: root.join("network").join("ipam") }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, uid: &str) -> Result<PathBuf, StoreError> {
        check_uid(uid)?;
        Ok(self.dir.join(uid))
    }

    /// Every stored record; unreadable or malformed files are returned apart, by path.
    pub fn load(&self) -> Result<(Vec<(String, Record)>, Vec<PathBuf>), StoreError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
            Err(source) => return Err(StoreError::Io { op: "reading", path: self.dir.clone(), source }),
        };
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                // A temporary file of a write that never finished.
                let _ = std::fs::remove_file(entry.path());
                continue;
            }
            match std::fs::read(entry.path()).ok().and_then(|b| serde_json::from_slice::<Record>(&b).ok()) {
                Some(r) if check_uid(&name).is_ok() => good.push((name, r)),
                _ => bad.push(entry.path()),
            }
        }
        good.sort_by(|a, b| a.0.cmp(&b.0));
        Ok((good, bad))
    }

    pub fn save(&self, uid: &str, record: &Record) -> Result<(), StoreError> {
        let path = self.path(uid)?;
        std::fs::create_dir_all(&self.dir).map_err(|source| StoreError::Io { op: "creating", path: self.dir.clone(), source })?;
        let tmp = self.dir.join(format!(".{uid}.tmp"));
        let body = serde_json::to_vec(record).map_err(|e| StoreError::Io { op: "encoding", path: path.clone(), source: e.into() })?;
        std::fs::write(&tmp, body).map_err(|source| StoreError::Io { op: "writing", path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| StoreError::Io { op: "renaming", path: path.clone(), source })
    }

    /// Removes the pod's file; a missing one counts as removed.
    pub fn remove(&self, uid: &str) -> Result<(), StoreError> {
        let path = self.path(uid)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Io { op: "removing", path, source: e }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_bad_files_are_set_apart() {
        let root = tempfile::tempdir().unwrap();
        let s = DiskStore::under(root.path());
        assert_eq!(s.load().unwrap().0, []);
        let subnet = Subnet::parse("10.244.1.0/24").unwrap();
        s.save("uid-a", &Record::new("10.244.1.2".parse().unwrap(), subnet)).unwrap();
        s.save("uid-b", &Record::new("10.244.1.3".parse().unwrap(), subnet)).unwrap();
        std::fs::write(s.dir().join("garbage"), b"not json").unwrap();
        std::fs::write(s.dir().join(".uid-c.tmp"), b"{").unwrap();
        let (good, bad) = s.load().unwrap();
        assert_eq!(good.iter().map(|(u, r)| (u.as_str(), r.ip.to_string())).collect::<Vec<_>>(), [("uid-a", "10.244.1.2".to_string()), ("uid-b", "10.244.1.3".to_string())]);
        assert_eq!(bad, [s.dir().join("garbage")]);
        assert!(!s.dir().join(".uid-c.tmp").exists());
        s.remove("uid-a").unwrap();
        s.remove("uid-a").unwrap();
        assert_eq!(s.load().unwrap().0.len(), 1);
    }

    #[test]
    fn uids_that_are_not_file_names_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let s = DiskStore::under(root.path());
        let r = Record::new("10.244.1.2".parse().unwrap(), Subnet::parse("10.244.1.0/24").unwrap());
        for uid in ["", "../x", "a/b", ".hidden", "x y"] {
            assert!(matches!(s.save(uid, &r), Err(StoreError::BadUid(_))), "{uid:?}");
        }
    }
}
