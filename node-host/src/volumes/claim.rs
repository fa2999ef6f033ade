//! `persistentVolumeClaim` volumes: the claim must be Bound (upstream's
//! `getPVCExtractPV` messages), its volume must name it back, and the volume's
//! `hostPath` or `local.path` is what the pod mounts. A volume made by the local-path
//! provisioner gets its directory made here, on the node it was provisioned for; others
//! must exist. `readOnly` comes from the pod's claim source (or the mount).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use api::model::{PersistentVolume, Pod};

use super::{NodeFacts, ObjectLookup};

/// The provisioner name of shoal's local-path StorageClass.
pub const LOCAL_PATH_PROVISIONER: &str = "shoal.io/local-path";
/// On this node's Node object: where its local-path volumes live (the provisioner puts
/// `<base>/<pv name>` in the volumes it makes for this node; the agent sets it to
/// `NodeFacts::local_path_base`).
pub const ANN_LOCAL_PATH_BASE: &str = "local-path.shoal.io/base-dir";
/// Annotation a provisioner puts on the volumes it makes.
pub const ANN_PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// Where a claim's data lives on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimVolume {
    pub path: PathBuf,
    pub pv_name: String,
}

async fn pv_of(pod: &Pod, claim_name: &str, lookup: &dyn ObjectLookup) -> Result<PersistentVolume, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let ctx = |m: &str| format!("error processing PVC {ns}/{claim_name}: {m}");
    let pvc = match lookup.pvc(ns, claim_name).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(ctx(&format!("persistentvolumeclaim \"{claim_name}\" not found"))),
        Err(e) => return Err(ctx(&format!("failed to fetch PVC from API server: {e}"))),
    };
    if pvc.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
        return Err(ctx("PVC is not bound"));
    }
    if pvc.metadata.is_deleting() {
        return Err(ctx("PVC is being deleted"));
    }
    let volume = pvc.spec.volume_name.clone().unwrap_or_default();
    if volume.is_empty() {
        return Err(ctx("PVC has empty pvc.Spec.VolumeName"));
    }
    let pv = match lookup.pv(&volume).await {
        Ok(Some(v)) => v,
        Ok(None) => return Err(ctx(&format!("failed to fetch PV {volume} from API server: persistentvolume \"{volume}\" not found"))),
        Err(e) => return Err(ctx(&format!("failed to fetch PV {volume} from API server: {e}"))),
    };
    let refers = pv.spec.claim_ref.as_ref().is_some_and(|r| {
        r.name.as_deref() == Some(claim_name) && r.namespace.as_deref() == Some(ns) && r.uid.as_deref() == Some(pvc.metadata.uid.as_str())
    });
    if !refers {
        let r = pv.spec.claim_ref.clone().unwrap_or_default();
        return Err(ctx(&format!(
            "found PV object {volume} but it has a ClaimRef that points to PVC {}/{} (uid {}), not the expected PVC {ns}/{claim_name} (uid {})",
            r.namespace.unwrap_or_default(),
            r.name.unwrap_or_default(),
            r.uid.unwrap_or_default(),
            pvc.metadata.uid
        )));
    }
    Ok(pv)
}

/// Whether the volume was made by shoal's local-path provisioner.
pub fn is_local_path(pv: &PersistentVolume) -> bool {
    pv.metadata.annotations.get(ANN_PROVISIONED_BY).map(String::as_str) == Some(LOCAL_PATH_PROVISIONER)
}

/// Resolves the claim to a directory on this node (made for local-path volumes).
pub async fn setup(pod: &Pod, claim_name: &str, facts: &NodeFacts, lookup: &dyn ObjectLookup) -> Result<ClaimVolume, String> {
    let pv = pv_of(pod, claim_name, lookup).await?;
    let name = pv.metadata.name.clone();
    if let Some(h) = &pv.spec.host_path {
        let path = super::host_path::setup(h)?;
        return Ok(ClaimVolume { path, pv_name: name });
    }
    let Some(local) = &pv.spec.local else {
        return Err(format!("volume {name}: only hostPath and local PersistentVolumes can be mounted by this node"));
    };
    let path = PathBuf::from(&local.path);
    super::safe_path::no_backsteps(&local.path)?;
    if !path.is_absolute() {
        return Err(format!("local volume {name}: path {} must be absolute", local.path));
    }
    if is_local_path(&pv) {
        let base = facts.local_path_base();
        if path.parent() != Some(base.as_path()) {
            return Err(format!("local-path volume {name}: {} is not in this node's local-path directory {}", local.path, base.display()));
        }
        if !path.exists() {
            std::fs::create_dir_all(&path).map_err(|e| format!("creating {}: {e}", path.display()))?;
            // Like the upstream local-path provisioner: any user of the pod may write.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).map_err(|e| e.to_string())?;
        }
    }
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(ClaimVolume { path, pv_name: name }),
        Ok(_) => Err(format!("local volume {name}: {} is not a directory", path.display())),
        Err(e) => Err(format!("local volume {name}: {}: {e}", path.display())),
    }
}

/// Removes the directories below the node's local-path base whose volume is gone (the
/// reclaim policy `Delete`: the control plane deletes the PersistentVolume, the node
/// deletes the data). A directory is removed only when a GET says its volume does not
/// exist and no pod here uses it. Returns the names removed.
pub async fn sweep_local_path(
    base: &Path,
    in_use: &std::collections::BTreeSet<String>,
    lookup: &dyn ObjectLookup,
) -> Result<Vec<String>, String> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(base) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(format!("listing {}: {e}", base.display())),
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if in_use.contains(&name) {
            continue;
        }
        match lookup.pv(&name).await {
            Ok(None) => {}
            // It exists (or we cannot tell): keep the data.
            Ok(Some(_)) | Err(_) => continue,
        }
        let p = e.path();
        if !super::teardown::mounts_below(&p).map_err(|e| e.to_string())?.is_empty() {
            continue;
        }
        std::fs::remove_dir_all(&p).map_err(|e| format!("removing {}: {e}", p.display()))?;
        removed.push(name);
    }
    Ok(removed)
}
