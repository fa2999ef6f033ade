//! Unpacks one layer (plain, gzip or zstd tar, told apart by magic bytes) into a directory
//! that overlayfs can stack: permissions, ownership, xattrs, mtimes, symlinks, hard links,
//! device nodes and fifos as the tar says; whiteouts converted as containerd does for
//! overlayfs (`.wh..wh..opq` → xattr `trusted.overlay.opaque=y` on the directory,
//! `.wh.NAME` → a 0/0 character device NAME). Entries naming `..` are refused, and every
//! path is resolved inside the layer's directory, never through a symlink out of it.
//! Returns the digest of the uncompressed tar (the layer's `diff_id`).

use std::ffi::CString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("reading the layer: {0}")]
    Read(#[source] io::Error),
    #[error("layer entry {0:?} leaves the layer (..)")]
    Traversal(String),
    #[error("unpacking layer entry {path:?}: {source}")]
    Entry {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Hashes the bytes read through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// A reader of the layer's tar, whatever its compression.
pub fn decompress<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let head = r.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(r))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(r)?)
    } else {
        Box::new(r)
    })
}

/// Unpacks the layer read from `r` into `dest` (which must exist, empty) and returns its
/// `diff_id`.
pub fn unpack_layer(r: impl Read, dest: &Path) -> Result<String, UnpackError> {
    let tar_reader = decompress(r).map_err(UnpackError::Read)?;
    let mut hashing = Hashing { inner: tar_reader, hash: Sha256::new() };
    let mut dirs: Vec<(PathBuf, i64)> = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().map_err(UnpackError::Read)? {
            let mut entry = entry.map_err(UnpackError::Read)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            apply_entry(&mut entry, &name, dest, &mut dirs).map_err(|e| match e {
                EntryError::Traversal => UnpackError::Traversal(name.clone()),
                EntryError::Io(source) => UnpackError::Entry { path: name.clone(), source },
            })?;
        }
    }
    // What follows the end-of-archive blocks still belongs to the tar's digest.
    io::copy(&mut hashing, &mut io::sink()).map_err(UnpackError::Read)?;
    // Directory times last: creating their children changed them.
    for (dir, mtime) in dirs.iter().rev() {
        let _ = set_mtime(dir, mtime.to_owned());
    }
    let sum = hashing.hash.finalize();
    Ok(format!("sha256:{}", sum.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

enum EntryError {
    Traversal,
    Io(io::Error),
}

impl From<io::Error> for EntryError {
    fn from(e: io::Error) -> Self {
        EntryError::Io(e)
    }
}

/// The entry's path as components, refusing `..`.
fn components(name: &str) -> Result<Vec<String>, EntryError> {
    let mut out = Vec::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => return Err(EntryError::Traversal),
            _ => {}
        }
    }
    Ok(out)
}

/// The directory `rel` inside `root`, following symlinks as if `root` were `/`, creating
/// missing directories (0755) on the way.
fn resolve_dir(root: &Path, rel: &[String]) -> io::Result<PathBuf> {
    let mut pending: std::collections::VecDeque<String> = rel.iter().cloned().collect();
    let mut cur = root.to_path_buf();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            if cur != root {
                cur.pop();
            }
            continue;
        }
        let next = cur.join(&part);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(io::Error::other("too many levels of symbolic links"));
                }
                let target = fs::read_link(&next)?;
                if target.is_absolute() {
                    cur = root.to_path_buf();
                }
                let mut front: Vec<String> = Vec::new();
                for c in target.components() {
                    match c {
                        Component::Normal(p) => front.push(p.to_string_lossy().into_owned()),
                        Component::ParentDir => front.push("..".into()),
                        _ => {}
                    }
                }
                for p in front.into_iter().rev() {
                    pending.push_front(p);
                }
            }
            Ok(m) if m.is_dir() => cur = next,
            Ok(_) => return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{} is not a directory", next.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&next)?;
                fs::set_permissions(&next, fs::Permissions::from_mode(0o755))?;
                cur = next;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn lchown(p: &Path, uid: u64, gid: u64) -> io::Result<()> {
    let c = cpath(p)?;
    // SAFETY: c is a valid NUL-terminated path.
    check(unsafe { libc::lchown(c.as_ptr(), uid as libc::uid_t, gid as libc::gid_t) })
}

fn lsetxattr(p: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cpath(p)?;
    let n = CString::new(name).map_err(io::Error::other)?;
    // SAFETY: valid path and name, value pointer and length from one slice.
    check(unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
}

fn mknod(p: &Path, kind: libc::mode_t, perm: u32, major: u32, minor: u32) -> io::Result<()> {
    let c = cpath(p)?;
    // SAFETY: valid path; makedev and mknod take plain integers.
    check(unsafe { libc::mknod(c.as_ptr(), kind | (perm as libc::mode_t & 0o7777), libc::makedev(major, minor)) })
}

fn set_mtime(p: &Path, mtime: i64) -> io::Result<()> {
    let c = cpath(p)?;
    let t = libc::timespec { tv_sec: mtime as libc::time_t, tv_nsec: 0 };
    let times = [t, t];
    // SAFETY: valid path and a two-element timespec array.
    check(unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
}

/// Removes what is at `p` unless both it and the new entry are directories.
fn make_room(p: &Path, new_is_dir: bool) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() && new_is_dir => Ok(()),
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn apply_entry<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str, root: &Path, dirs: &mut Vec<(PathBuf, i64)>) -> Result<(), EntryError> {
    let parts = components(name)?;
    let Some((base, parent)) = parts.split_last() else {
        return Ok(()); // the layer's root itself
    };
    let header = entry.header().clone();
    let kind = header.entry_type();
    if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
        return Ok(());
    }
    let dir = resolve_dir(root, parent)?;
    let (uid, gid) = (header.uid()?, header.gid()?);
    if base == OPAQUE_MARKER {
        lsetxattr(&dir, OPAQUE_XATTR, b"y")?;
        return Ok(());
    }
    if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
        let target = dir.join(hidden);
        make_room(&target, false)?;
        mknod(&target, libc::S_IFCHR, 0, 0, 0)?;
        lchown(&target, uid, gid)?;
        return Ok(());
    }
    let target = dir.join(base);
    let mode = header.mode()? & 0o7777;
    let mtime = header.mtime().unwrap_or(0) as i64;
    let xattrs: Vec<(String, Vec<u8>)> = match entry.pax_extensions()? {
        Some(exts) => exts
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.key().ok()?.strip_prefix("SCHILY.xattr.")?.to_string(), e.value_bytes().to_vec())))
            .collect(),
        None => Vec::new(),
    };
    make_room(&target, kind.is_dir())?;
    let mut is_link = false;
    match kind {
        tar::EntryType::Directory => {
            if !target.exists() {
                fs::create_dir(&target)?;
            }
            dirs.push((target.clone(), mtime));
        }
        tar::EntryType::Symlink => {
            let link = entry.link_name()?.ok_or_else(|| io::Error::other("symlink without a target"))?;
            std::os::unix::fs::symlink(&link, &target)?;
            is_link = true;
        }
        tar::EntryType::Link => {
            let link = entry.link_name()?.ok_or_else(|| io::Error::other("hard link without a target"))?;
            let lparts = components(&link.to_string_lossy())?;
            let Some((lbase, lparent)) = lparts.split_last() else {
                return Err(io::Error::other("hard link to the layer's root").into());
            };
            let source = resolve_dir(root, lparent)?.join(lbase);
            fs::hard_link(&source, &target)?;
            return Ok(()); // the link shares its source's inode and metadata
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let t = match kind {
                tar::EntryType::Char => libc::S_IFCHR,
                tar::EntryType::Block => libc::S_IFBLK,
                _ => libc::S_IFIFO,
            };
            // A fifo's device fields are often left blank.
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            mknod(&target, t, mode, major, minor)?;
        }
        _ => {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&target)?;
            io::copy(entry, &mut f)?;
        }
    }
    // Owner before mode: chown clears setuid bits.
    lchown(&target, uid, gid)?;
    if !is_link {
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
    }
    for (k, v) in xattrs {
        lsetxattr(&target, &k, &v)?;
    }
    if !kind.is_dir() {
        set_mtime(&target, mtime)?;
    }
    Ok(())
}
