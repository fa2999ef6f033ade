//! A container's `volumeMounts` as mounts (kubelet's `makeMounts`): the volume's directory,
//! or with `subPath` / `subPathExpr` a path inside it. A subPath must be relative and
//! free of `..`; it is opened below the volume with `RESOLVE_BENEATH` (a symlink that
//! leaves the volume is refused), made as a directory when missing, and bind-mounted from
//! that fd to `volume-subpaths/<volume>/<container>/<index>` below the pod, which is what
//! the container mounts — so the path cannot be swapped between the check and the mount.
//! `readOnly` is the mount's or the volume's (a read-only claim).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use api::model::{Container, VolumeMount};

use super::expansion::expand_with;
use super::safe_path::{bind_fd, fd_is_dir, make_dir_beneath, no_backsteps, open_beneath_fd, open_root};
use super::{teardown, ConfigError, MountKind, MountSpec, PodVolumes};

/// Upstream's `ExpandContainerVolumeMounts`: every referenced variable must be set.
fn expand_sub_path_expr(expr: &str, env: &[(String, String)]) -> Result<String, ConfigError> {
    let map: std::collections::HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut missing = std::collections::BTreeSet::new();
    let out = expand_with(expr, |k| match map.get(k) {
        Some(v) if !v.is_empty() => Some(v.to_string()),
        _ => {
            missing.insert(k.to_string());
            Some(String::new())
        }
    });
    if !missing.is_empty() {
        return Err(ConfigError(format!("missing value for {}", missing.into_iter().collect::<Vec<_>>().join(", "))));
    }
    Ok(out)
}

/// The subPath of a mount, `subPathExpr` expanded.
fn sub_path(m: &VolumeMount, env: &[(String, String)]) -> Result<Option<String>, ConfigError> {
    let p = match (m.sub_path.as_deref().filter(|s| !s.is_empty()), m.sub_path_expr.as_deref().filter(|s| !s.is_empty())) {
        (Some(p), _) => p.to_string(),
        (None, Some(e)) => expand_sub_path_expr(e, env)?,
        (None, None) => return Ok(None),
    };
    if Path::new(&p).is_absolute() {
        return Err(ConfigError(format!("error SubPath `{p}` must not be an absolute path")));
    }
    no_backsteps(&p).map_err(|e| ConfigError(format!("unable to provision SubPath `{p}`: {e}")))?;
    Ok(Some(p))
}

/// Opens the subPath below the volume (making it as a directory when missing) and binds
/// it to its per-container target. Returns the target.
fn prepare_sub_path(vols: &PodVolumes, volume: &str, volume_path: &Path, sub: &str, container: &str, index: usize) -> Result<PathBuf, String> {
    // The volume's own path is trusted (a hostPath may well be a symlink, like /var/run);
    // what is below it is not.
    let volume_path = &std::fs::canonicalize(volume_path).map_err(|e| format!("resolving volume {}: {e}", volume_path.display()))?;
    let root = open_root(volume_path).map_err(|e| format!("opening volume {}: {e}", volume_path.display()))?;
    let fd = match open_beneath_fd(root.as_raw_fd(), Path::new(sub)) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mode = std::fs::metadata(volume_path).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777).unwrap_or(0o755);
            make_dir_beneath(volume_path, Path::new(sub), mode).map_err(|e| format!("making subPath {sub}: {e}"))?;
            open_beneath_fd(root.as_raw_fd(), Path::new(sub)).map_err(|e| format!("opening subPath {sub}: {e}"))?
        }
        Err(e) => return Err(format!("subPath {sub}: {e}")),
    };
    let target = vols.pod_dir.join("volume-subpaths").join(volume).join(container).join(index.to_string());
    if teardown::is_mounted(&target) {
        teardown::unmount(&target).map_err(|e| format!("unmounting old subPath bind {}: {e}", target.display()))?;
    }
    let parent = target.parent().ok_or("subPath target has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    let is_dir = fd_is_dir(&fd).map_err(|e| e.to_string())?;
    match std::fs::symlink_metadata(&target) {
        Ok(m) if m.is_dir() == is_dir => {}
        Ok(_) => {
            let _ = std::fs::remove_file(&target).or_else(|_| std::fs::remove_dir(&target));
        }
        Err(_) => {}
    }
    if is_dir {
        std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
    } else if !target.exists() {
        std::fs::File::create(&target).map_err(|e| e.to_string())?;
    }
    bind_fd(&fd, &target).map_err(|e| format!("bind-mounting subPath {sub} to {}: {e}", target.display()))?;
    Ok(target)
}

/// The container's mounts; `env` is its resolved environment (for `subPathExpr`).
pub fn container_mounts(container: &Container, vols: &PodVolumes, env: &[(String, String)]) -> Result<Vec<MountSpec>, ConfigError> {
    let mut out = Vec::with_capacity(container.volume_mounts.len());
    for (i, m) in container.volume_mounts.iter().enumerate() {
        let Some((source, kind)) = vols.volumes.get(&m.name) else {
            return Err(ConfigError(format!("cannot find volume {:?} to mount into container {:?}", m.name, container.name)));
        };
        let read_only = m.read_only.unwrap_or(false) || vols.read_only.contains(&m.name);
        let mut source = source.clone();
        if let Some(sub) = sub_path(m, env)? {
            if !matches!(kind, MountKind::Bind) {
                return Err(ConfigError(format!("volume {:?}: subPath needs a volume on the node", m.name)));
            }
            source = prepare_sub_path(vols, &m.name, &source, &sub, &container.name, i).map_err(|e| {
                tracing::warn!(container = %container.name, volume = %m.name, error = %e, "preparing a subPath failed");
                ConfigError(format!("failed to prepare subPath for volumeMount {:?} of container {:?}", m.name, container.name))
            })?;
        }
        out.push(MountSpec { destination: m.mount_path.clone().into(), source, kind: kind.clone(), read_only });
    }
    Ok(out)
}
