//! `emptyDir` volumes (upstream's `pkg/volume/emptydir`): a directory below the pod
//! (mode 0777) on the node's disk, or for `medium: Memory` a tmpfs mounted there, sized
//! as upstream's `calculateEmptyDirMemorySize` (the smallest positive of node allocatable
//! memory, the pod's memory limit and `sizeLimit`). Secret and projected volumes sit on
//! such a tmpfs too, so their content never touches the disk. A disk `sizeLimit` is
//! recorded in `PodVolumes::size_limits`; evicting a pod that exceeds it is for the
//! eviction manager (not done yet).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use api::model::{Pod, Quantity};

use super::NodeFacts;

/// Mounts a tmpfs on `dir` (made if missing) unless one is there already.
pub fn mount_tmpfs(dir: &Path, size: Option<u64>, mode: u32) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    if super::teardown::is_mounted(dir) {
        return Ok(());
    }
    let mut opts = format!("mode={mode:o}");
    if let Some(s) = size {
        opts.push_str(&format!(",size={s}"));
    }
    let target = CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    let (src, fstype, data) = (c"tmpfs", c"tmpfs", CString::new(opts).map_err(|e| e.to_string())?);
    // SAFETY: valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::mount(src.as_ptr(), target.as_ptr(), fstype.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV, data.as_ptr().cast())
    };
    if rc != 0 {
        return Err(format!("mount of tmpfs on {} failed: {}", dir.display(), std::io::Error::last_os_error()));
    }
    Ok(())
}

fn bytes(q: &Quantity) -> Option<u64> {
    q.parsed().ok().map(|p| p.value()).filter(|v| *v > 0).and_then(|v| u64::try_from(v).ok())
}

/// The pod's memory limit as its cgroup gets it: set only when every container has one
/// (the larger of the app containers' sum and the largest init container), plus overhead.
pub fn pod_memory_limit(pod: &Pod) -> Option<u64> {
    let limit = |c: &api::model::Container| c.resources.as_ref().and_then(|r| r.limits.get("memory")).and_then(bytes);
    let mut sum = 0u64;
    for c in &pod.spec.containers {
        sum = sum.saturating_add(limit(c)?);
    }
    let mut init_max = 0u64;
    for c in &pod.spec.init_containers {
        let l = limit(c)?;
        if c.restart_policy.as_deref() == Some("Always") {
            sum = sum.saturating_add(l);
        } else {
            init_max = init_max.max(l);
        }
    }
    let overhead = pod.spec.overhead.get("memory").and_then(bytes).unwrap_or(0);
    Some(sum.max(init_max).saturating_add(overhead)).filter(|v| *v > 0)
}

/// The size of a memory-backed emptyDir (None: the kernel's default, half of RAM).
pub fn memory_size(pod: &Pod, size_limit: Option<&Quantity>, facts: &NodeFacts) -> Option<u64> {
    let mut size = facts.allocatable.get("memory").and_then(bytes);
    for cand in [pod_memory_limit(pod), size_limit.and_then(bytes)].into_iter().flatten() {
        if size.is_none_or(|s| cand <= s) {
            size = Some(cand);
        }
    }
    size
}

/// Makes the directory of an on-disk emptyDir (0777, whatever the umask).
pub fn make_disk_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(limits: &[Option<&str>]) -> Pod {
        let mut p = Pod::default();
        for (i, l) in limits.iter().enumerate() {
            let mut c = api::model::Container { name: format!("c{i}"), ..Default::default() };
            if let Some(l) = l {
                let mut r = api::model::ResourceRequirements::default();
                r.limits.insert("memory".into(), Quantity::new(*l));
                c.resources = Some(r);
            }
            p.spec.containers.push(c);
        }
        p
    }

    #[test]
    fn memory_size_is_the_smallest_of_allocatable_pod_limit_and_size_limit() {
        let mut facts = NodeFacts::default();
        facts.allocatable.insert("memory".into(), Quantity::new("1Gi"));
        let mi = |n: u64| Some(n << 20);
        let cases: &[(&[Option<&str>], Option<&str>, Option<u64>)] = &[
            (&[None], None, mi(1024)),
            (&[Some("64Mi"), Some("64Mi")], None, mi(128)),
            (&[Some("64Mi"), None], None, mi(1024)),
            (&[Some("64Mi")], Some("16Mi"), mi(16)),
            (&[Some("64Mi")], Some("2Gi"), mi(64)),
            (&[Some("4Gi")], None, mi(1024)),
        ];
        for (limits, sl, want) in cases {
            assert_eq!(memory_size(&pod(limits), sl.map(Quantity::new).as_ref(), &facts), *want, "{limits:?} {sl:?}");
        }
        assert_eq!(memory_size(&pod(&[None]), None, &NodeFacts::default()), None);
    }
}
