//! `hostPath` volumes: the path on the node, with upstream's `type` checks (`checkType`
//! in `pkg/volume/hostpath`): `DirectoryOrCreate`, `Directory`, `FileOrCreate`, `File`,
//! `Socket`, `CharDevice`, `BlockDevice`, and `""` for no check. Checks follow symlinks,
//! as upstream's `os.Stat` does.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use api::model::HostPathVolumeSource;

use super::safe_path::no_backsteps;

fn stat(p: &Path) -> Option<std::fs::Metadata> {
    std::fs::metadata(p).ok()
}

fn missing(p: &Path) -> String {
    format!("hostPath type check failed: {} does not exist", p.display())
}

fn is(p: &Path, what: &str, ok: impl Fn(&std::fs::Metadata) -> bool) -> Result<(), String> {
    match stat(p) {
        None => Err(missing(p)),
        Some(m) if ok(&m) => Ok(()),
        Some(_) => Err(format!("hostPath type check failed: {} is not a {what}", p.display())),
    }
}

/// Checks (and for the `…OrCreate` types makes) the path; returns it.
pub fn setup(src: &HostPathVolumeSource) -> Result<PathBuf, String> {
    let p = PathBuf::from(&src.path);
    no_backsteps(&src.path)?;
    if !p.is_absolute() {
        return Err(format!("hostPath {} must be an absolute path", src.path));
    }
    match src.type_.as_deref().unwrap_or("") {
        "" => {}
        "DirectoryOrCreate" => {
            if stat(&p).is_none() {
                std::fs::create_dir_all(&p).map_err(|e| e.to_string())?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
            } else {
                is(&p, "directory", |m| m.is_dir())?;
            }
        }
        "Directory" => is(&p, "directory", |m| m.is_dir())?,
        "FileOrCreate" => {
            if stat(&p).is_none() {
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| e.to_string())?;
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
            } else {
                is(&p, "file", |m| m.is_file())?;
            }
        }
        "File" => is(&p, "file", |m| m.is_file())?,
        "Socket" => is(&p, "socket file", |m| m.file_type().is_socket())?,
        "CharDevice" => is(&p, "character device", |m| m.file_type().is_char_device())?,
        "BlockDevice" => is(&p, "block device", |m| m.file_type().is_block_device())?,
        other => return Err(format!("{other} is an invalid volume type")),
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(path: &Path, t: &str) -> HostPathVolumeSource {
        HostPathVolumeSource { path: path.to_string_lossy().into_owned(), type_: Some(t.into()) }
    }

    #[test]
    fn types_are_checked_with_upstreams_messages() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("dir");
        let file = d.path().join("file");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(&file, b"").unwrap();
        let sock_path = d.path().join("sock");
        let _sock = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
        let nope = d.path().join("nope");
        let cases: Vec<(PathBuf, &str, Result<(), String>)> = vec![
            (dir.clone(), "Directory", Ok(())),
            (file.clone(), "Directory", Err(format!("hostPath type check failed: {} is not a directory", file.display()))),
            (nope.clone(), "Directory", Err(format!("hostPath type check failed: {} does not exist", nope.display()))),
            (file.clone(), "File", Ok(())),
            (dir.clone(), "File", Err(format!("hostPath type check failed: {} is not a file", dir.display()))),
            (sock_path.clone(), "Socket", Ok(())),
            (file.clone(), "Socket", Err(format!("hostPath type check failed: {} is not a socket file", file.display()))),
            (PathBuf::from("/dev/null"), "CharDevice", Ok(())),
            (file.clone(), "BlockDevice", Err(format!("hostPath type check failed: {} is not a block device", file.display()))),
            (nope.clone(), "", Ok(())),
            (file.clone(), "Weird", Err("Weird is an invalid volume type".into())),
            (PathBuf::from("/a/../etc"), "", Err("must not contain '..'".into())),
        ];
        for (p, t, want) in cases {
            assert_eq!(setup(&src(&p, t)).map(|_| ()), want, "{} {t}", p.display());
        }
    }

    #[test]
    fn or_create_types_make_what_is_missing() {
        let d = tempfile::tempdir().unwrap();
        let nd = d.path().join("a/b");
        setup(&src(&nd, "DirectoryOrCreate")).unwrap();
        assert!(nd.is_dir());
        let nf = d.path().join("c/f");
        setup(&src(&nf, "FileOrCreate")).unwrap();
        assert!(nf.is_file());
        assert!(setup(&src(&nf, "DirectoryOrCreate")).is_err());
    }
}
