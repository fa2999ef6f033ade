//! Paths inside a volume that cannot leave it: the checks upstream makes on item paths and
//! subPaths (no absolute path, no `..`), opening a path below a root with `openat2`
//! `RESOLVE_BENEATH` (symlinks that stay inside are followed, ones that leave are refused),
//! making directories the same way, and bind-mounting what such an fd names.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// Upstream's `atomic_writer.go` `validatePath`: the rules for a projected file's path.
pub fn validate_item_path(p: &str) -> Result<(), String> {
    if p.len() > 4096 {
        return Err(format!("invalid path: must be less than or equal to 4096 characters: {p}"));
    }
    if p.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    if Path::new(p).is_absolute() {
        return Err(format!("invalid path: must not be absolute path: {p}"));
    }
    let items: Vec<&str> = p.split('/').collect();
    if items.contains(&"..") {
        return Err(format!("invalid path: must not contain '..': {p}"));
    }
    if items[0].starts_with("..") {
        return Err(format!("invalid path: must not start with '..': {p}"));
    }
    if items.iter().any(|i| i.len() > 255) {
        return Err(format!("invalid path: must not contain a path segment longer than 255 characters: {p}"));
    }
    Ok(())
}

/// Upstream's `ValidatePathNoBacksteps`.
pub fn no_backsteps(p: &str) -> Result<(), String> {
    if Path::new(p).components().any(|c| c == Component::ParentDir) {
        return Err("must not contain '..'".into());
    }
    Ok(())
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Opens `root` itself (a directory, not following a final symlink) as an `O_PATH` fd.
pub fn open_root(root: &Path) -> io::Result<OwnedFd> {
    let c = cstr(root)?;
    // SAFETY: a valid NUL-terminated path; the returned fd is owned by us.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    check(fd as libc::c_long)?;
    // SAFETY: fd was just returned by open and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn openat2_beneath(dir: RawFd, rel: &Path) -> io::Result<OwnedFd> {
    let c = cstr(rel)?;
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 with a valid dirfd, NUL-terminated path and a correctly sized open_how.
    let fd = unsafe { libc::syscall(libc::SYS_openat2, dir, c.as_ptr(), &how as *const libc::open_how, std::mem::size_of::<libc::open_how>()) };
    check(fd)?;
    // SAFETY: fd was just returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Without openat2 (kernels before 5.6): walk component by component refusing every
/// symlink (`O_NOFOLLOW`), as upstream's `doSafeOpen` does.
fn walk_nofollow(dir: RawFd, rel: &Path) -> io::Result<OwnedFd> {
    // SAFETY: dup of a valid fd.
    let mut cur = unsafe { OwnedFd::from_raw_fd(check(libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0) as libc::c_long)? as RawFd) };
    for comp in rel.components() {
        let name = match comp {
            Component::Normal(n) => n,
            Component::CurDir => continue,
            _ => return Err(io::Error::new(io::ErrorKind::PermissionDenied, "path leaves the volume")),
        };
        let c = CString::new(name.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: valid dirfd and name.
        let fd = unsafe { libc::openat(cur.as_raw_fd(), c.as_ptr(), libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        check(fd as libc::c_long)?;
        // SAFETY: fresh fd.
        let next = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a valid fd into a zeroed stat.
        check(unsafe { libc::fstat(next.as_raw_fd(), &mut st) } as libc::c_long)?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, "symlinks are not followed"));
        }
        cur = next;
    }
    Ok(cur)
}

/// Opens `rel` below the directory `dir` without leaving it.
pub fn open_beneath_fd(dir: RawFd, rel: &Path) -> io::Result<OwnedFd> {
    if rel.is_absolute() || rel.components().any(|c| c == Component::ParentDir) {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, "path leaves the volume"));
    }
    if rel.as_os_str().is_empty() {
        return walk_nofollow(dir, rel);
    }
    match openat2_beneath(dir, rel) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => walk_nofollow(dir, rel),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) || e.raw_os_error() == Some(libc::ELOOP) => {
            Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{} leaves the volume", rel.display())))
        }
        r => r,
    }
}

/// Opens `rel` below `root` (an `O_PATH` fd): the kernel resolves every component and
/// refuses any that would leave `root`, including through `..` or absolute symlinks.
pub fn open_beneath(root: &Path, rel: &Path) -> io::Result<OwnedFd> {
    let r = open_root(root)?;
    open_beneath_fd(r.as_raw_fd(), rel)
}

/// Upstream's `SafeMakeDir`: makes every missing directory of `rel` below `root` with
/// `mode`, each created relative to its already-checked parent, so no symlink can send the
/// creation outside.
pub fn make_dir_beneath(root: &Path, rel: &Path, mode: u32) -> io::Result<()> {
    let r = open_root(root)?;
    let mut so_far = std::path::PathBuf::new();
    for comp in rel.components() {
        let name = match comp {
            Component::Normal(n) => n,
            Component::CurDir => continue,
            _ => return Err(io::Error::new(io::ErrorKind::PermissionDenied, "path leaves the volume")),
        };
        let parent = open_beneath_fd(r.as_raw_fd(), &so_far)?;
        so_far.push(name);
        match open_beneath_fd(r.as_raw_fd(), &so_far) {
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let c = CString::new(name.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: valid parent dirfd (O_PATH fds serve as dirfd) and name.
        let rc = unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
        }
        // The umask may have narrowed the mode: set it as asked, through the fd.
        let dirfd = open_beneath_fd(r.as_raw_fd(), &so_far)?;
        chmod_fd(&dirfd, mode)?;
    }
    Ok(())
}

/// `chmod` of what an `O_PATH` fd names (through its `/proc/self/fd` link).
pub fn chmod_fd(fd: &OwnedFd, mode: u32) -> io::Result<()> {
    let p = format!("/proc/self/fd/{}\0", fd.as_raw_fd());
    // SAFETY: NUL-terminated path of our own fd.
    check(unsafe { libc::chmod(p.as_ptr().cast(), mode as libc::mode_t) } as libc::c_long).map(|_| ())
}

/// Whether what `fd` names is a directory.
pub fn fd_is_dir(fd: &OwnedFd) -> io::Result<bool> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a valid fd.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } as libc::c_long)?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

/// Bind-mounts what `fd` names (not a path that could be swapped meanwhile) onto
/// `target`, as upstream's `doBindSubPath` does through `/proc/<pid>/fd/<fd>`.
pub fn bind_fd(fd: &OwnedFd, target: &Path) -> io::Result<()> {
    let src = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|_| io::Error::other("fd path"))?;
    let dst = cstr(target)?;
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REC, std::ptr::null()) };
    check(rc as libc::c_long).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_paths_as_upstream_validates_them() {
        let cases = [
            ("a", true),
            ("a/b/c", true),
            ("..a", false),
            ("a/../b", false),
            ("..", false),
            ("/etc/passwd", false),
            ("a/..b", true),
            ("", false),
        ];
        for (p, ok) in cases {
            assert_eq!(validate_item_path(p).is_ok(), ok, "{p:?}: {:?}", validate_item_path(p));
        }
        assert!(no_backsteps("a/../b").is_err());
        assert!(no_backsteps("a/b..").is_ok());
    }

    #[test]
    fn symlinks_that_leave_the_root_are_refused_and_inner_ones_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir(r.join("dir")).unwrap();
        std::fs::write(r.join("dir/file"), b"y").unwrap();
        std::os::unix::fs::symlink(outside.path(), r.join("out")).unwrap();
        std::os::unix::fs::symlink("../..", r.join("dir/up")).unwrap();
        std::os::unix::fs::symlink("dir", r.join("in")).unwrap();
        let cases = [("dir/file", true), ("in/file", true), ("out/secret", false), ("dir/up", false), ("../x", false), ("/etc", false)];
        for (p, ok) in cases {
            assert_eq!(open_beneath(r, Path::new(p)).is_ok(), ok, "{p}");
        }
        // make_dir_beneath refuses to create through an escaping symlink.
        assert!(make_dir_beneath(r, Path::new("out/new"), 0o755).is_err());
        assert!(!outside.path().join("new").exists());
        make_dir_beneath(r, Path::new("a/b/c"), 0o750).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(r.join("a/b/c")).unwrap().permissions().mode() & 0o777, 0o750);
    }
}
