//! A container's root filesystem: an overlay of the image's layers (top first in
//! `lowerdir`) with the container's own upper and work directories.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Overlay mount options must fit in one page.
const MAX_OPTIONS: usize = 4096;

/// The overlay options for `layers` (bottom first), `upper` and `work`.
pub fn overlay_options(layers: &[PathBuf], upper: &Path, work: &Path) -> io::Result<String> {
    if layers.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "an image with no layers has no root filesystem"));
    }
    let lower: Vec<String> = layers.iter().rev().map(|p| p.display().to_string()).collect();
    for p in lower.iter().chain([upper.display().to_string(), work.display().to_string()].iter()) {
        if p.contains(',') || p.contains(':') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("overlay path {p:?} has a ',' or ':'")));
        }
    }
    let opts = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), upper.display(), work.display());
    if opts.len() >= MAX_OPTIONS {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("overlay options are {} bytes, over a page ({MAX_OPTIONS})", opts.len())));
    }
    Ok(opts)
}

/// Mounts the overlay at `target` (creating `upper`, `work` and `target` if missing).
pub fn mount_overlay(layers: &[PathBuf], target: &Path, upper: &Path, work: &Path) -> io::Result<()> {
    for d in [target, upper, work] {
        std::fs::create_dir_all(d)?;
    }
    let opts = overlay_options(layers, upper, work)?;
    let c = |s: &[u8]| CString::new(s).map_err(io::Error::other);
    let (src, tgt, fstype, data) = (c(b"overlay")?, c(target.as_os_str().as_bytes())?, c(b"overlay")?, c(opts.as_bytes())?);
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fstype.as_ptr(), 0, data.as_ptr().cast()) };
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("mounting overlay at {}: {e}", target.display())))
    }
}

/// Unmounts `target` (lazily: `MNT_DETACH`); not mounted counts as done.
pub fn unmount(target: &Path) -> io::Result<()> {
    let c = CString::new(target.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    let e = io::Error::last_os_error();
    match (rc, e.raw_os_error()) {
        (0, _) | (_, Some(libc::EINVAL)) | (_, Some(libc::ENOENT)) => Ok(()),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_list_the_top_layer_first_and_stay_under_a_page() {
        let layers = vec![PathBuf::from("/l/bottom"), PathBuf::from("/l/top")];
        let o = overlay_options(&layers, Path::new("/u"), Path::new("/w")).unwrap();
        assert_eq!(o, "lowerdir=/l/top:/l/bottom,upperdir=/u,workdir=/w");
        let many: Vec<PathBuf> = (0..300).map(|i| PathBuf::from(format!("/var/lib/shoal/node/n/images/layers/{i:016}"))).collect();
        assert!(overlay_options(&many, Path::new("/u"), Path::new("/w")).is_err());
        assert!(overlay_options(&[], Path::new("/u"), Path::new("/w")).is_err());
    }
}
