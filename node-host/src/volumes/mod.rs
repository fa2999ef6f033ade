//! Pod volumes on the node: materialises a pod's volumes below its directory (emptyDir,
//! configMap, secret, downwardAPI, projected, hostPath, persistentVolumeClaim), keeps the
//! projected ones up to date, turns a container's volumeMounts into mounts (subPath,
//! readOnly), resolves its environment (env, envFrom, service links), and tears it all
//! down again.
//!
//! The layout is kubelet's: `<pod_dir>/volumes/kubernetes.io~<plugin>/<volume>/`, subPath
//! binds in `<pod_dir>/volume-subpaths/<volume>/<container>/<index>`.
//!
//! The agent calls [`prepare`] before the sandbox's containers start (a [`VolumeError`] is
//! a `FailedMount` event and the pod waits), [`refresh`] when a ConfigMap or Secret the pod
//! uses changes (and periodically, as kubelet's sync does), [`resolve_env`] then
//! [`container_mounts`] per container (a [`ConfigError`] is
//! `CreateContainerConfigError`), [`expand_command_and_args`] for the bundle, and
//! [`release`] when the pod is gone.

pub mod atomic_writer;
pub mod claim;
pub mod downward;
pub mod empty_dir;
pub mod env;
pub mod expansion;
pub mod host_path;
pub mod mounts;
pub mod projection;
pub mod safe_path;
pub mod teardown;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use api::model::{Pod, Quantity, Volume};

pub use claim::{sweep_local_path, ANN_LOCAL_PATH_BASE, LOCAL_PATH_PROVISIONER};
pub use env::{EnvWarning, ResolvedEnv};
pub use expansion::{expand, expand_command_and_args};
pub use mounts::container_mounts;
pub use teardown::ReleaseError;

/// One mount of a container, as the bundle puts it in the OCI spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Path inside the container.
    pub destination: PathBuf,
    /// Path on the node (ignored for tmpfs).
    pub source: PathBuf,
    pub kind: MountKind,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    /// A tmpfs of at most this many bytes (None: the kernel's default).
    Tmpfs { size: Option<u64> },
}

/// The objects volumes and env read, as the node sees them (its watchers' caches or GETs).
/// `Ok(None)` is "not found".
#[async_trait]
pub trait ObjectLookup: Send + Sync + 'static {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<api::model::ConfigMap>, client::Error>;
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<api::model::Secret>, client::Error>;
    async fn pvc(&self, namespace: &str, name: &str) -> Result<Option<api::model::PersistentVolumeClaim>, client::Error>;
    async fn pv(&self, name: &str) -> Result<Option<api::model::PersistentVolume>, client::Error>;
    /// The Services of a namespace (for service environment variables; the `kubernetes`
    /// Service is read from `default`).
    async fn services(&self, namespace: &str) -> Result<Vec<api::model::Service>, client::Error>;
}

/// A volume that could not be set up: the pod waits (upstream's `FailedMount` event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct VolumeError {
    pub volume: String,
    pub message: String,
}

/// A container whose environment or mounts cannot be built (upstream's
/// `CreateContainerConfigError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where each of a pod's volumes lives on the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodVolumes {
    /// Volume name → (host path, how it mounts).
    pub volumes: BTreeMap<String, (PathBuf, MountKind)>,
    /// The pod's directory (subPath binds go below it).
    pub pod_dir: PathBuf,
    /// Volumes every mount gets read-only (a claim source with `readOnly`).
    pub read_only: BTreeSet<String>,
    /// On-disk emptyDirs' `sizeLimit` in bytes, for the eviction manager.
    pub size_limits: BTreeMap<String, u64>,
    /// Volume name → the PersistentVolume behind it.
    pub claims: BTreeMap<String, String>,
}

/// The default directory below which local-path volumes live on a node.
pub const DEFAULT_LOCAL_PATH_BASE: &str = "/var/lib/shoal/local-path";

/// What the downward API, `fieldRef` env and volume sizes read that is not in the pod.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    pub node_name: String,
    pub host_ip: String,
    pub pod_ip: String,
    /// `status.podIPs` (the first is `pod_ip`); empty: just `pod_ip`.
    pub pod_ips: Vec<String>,
    pub host_ips: Vec<String>,
    /// The node's allocatable (`cpu`, `memory`, `ephemeral-storage`): a container limit
    /// that is not set reads as this, and memory-backed volumes are at most this big.
    pub allocatable: BTreeMap<String, Quantity>,
    /// Where local-path volumes live (None: [`DEFAULT_LOCAL_PATH_BASE`]).
    pub local_path_base: Option<PathBuf>,
}

impl NodeFacts {
    pub fn local_path_base(&self) -> PathBuf {
        self.local_path_base.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_LOCAL_PATH_BASE))
    }
}

fn plugin_dir(pod_dir: &Path, plugin: &str, volume: &str) -> PathBuf {
    pod_dir.join("volumes").join(format!("kubernetes.io~{plugin}")).join(volume)
}

/// The kind of volume source, for messages.
fn source_kind(v: &Volume) -> &'static str {
    let known = [
        (v.empty_dir.is_some(), "emptyDir"),
        (v.config_map.is_some(), "configMap"),
        (v.secret.is_some(), "secret"),
        (v.downward_api.is_some(), "downwardAPI"),
        (v.projected.is_some(), "projected"),
        (v.host_path.is_some(), "hostPath"),
        (v.persistent_volume_claim.is_some(), "persistentVolumeClaim"),
        (v.ephemeral.is_some(), "ephemeral"),
        (v.csi.is_some(), "csi"),
        (v.image.is_some(), "image"),
        (v.nfs.is_some(), "nfs"),
    ];
    known.iter().find(|(on, _)| *on).map(|(_, k)| *k).unwrap_or("unknown")
}

/// Whether the volume projects API data (and so follows its objects' changes).
fn is_projection(v: &Volume) -> bool {
    v.config_map.is_some() || v.secret.is_some() || v.downward_api.is_some() || v.projected.is_some()
}

/// Writes a projecting volume's current payload; returns (dir, changed).
async fn project(pod: &Pod, pod_dir: &Path, v: &Volume, facts: &NodeFacts, lookup: &dyn ObjectLookup) -> Result<(PathBuf, bool), String> {
    // Each payload is computed before its tmpfs is mounted: a failed projection leaves no
    // mount behind.
    let (dir, payload) = if let Some(s) = &v.config_map {
        let dir = plugin_dir(pod_dir, "configmap", &v.name);
        empty_dir::make_disk_dir(&dir)?;
        let name = s.name.clone().unwrap_or_default();
        let dm = s.default_mode.unwrap_or(projection::DEFAULT_MODE);
        (dir, projection::config_map(pod, &name, &s.items, dm, s.optional.unwrap_or(false), lookup).await?)
    } else if let Some(s) = &v.secret {
        let dir = plugin_dir(pod_dir, "secret", &v.name);
        let name = s.secret_name.clone().unwrap_or_default();
        let dm = s.default_mode.unwrap_or(projection::DEFAULT_MODE);
        let payload = projection::secret(pod, &name, &s.items, dm, s.optional.unwrap_or(false), lookup).await?;
        empty_dir::mount_tmpfs(&dir, empty_dir::memory_size(pod, None, facts), 0o777)?;
        (dir, payload)
    } else if let Some(s) = &v.downward_api {
        let dir = plugin_dir(pod_dir, "downward-api", &v.name);
        empty_dir::make_disk_dir(&dir)?;
        (dir, projection::downward_api(pod, &s.items, s.default_mode.unwrap_or(projection::DEFAULT_MODE), facts)?)
    } else if let Some(s) = &v.projected {
        let dir = plugin_dir(pod_dir, "projected", &v.name);
        let payload = projection::projected(pod, s, facts, lookup).await?;
        empty_dir::mount_tmpfs(&dir, empty_dir::memory_size(pod, None, facts), 0o777)?;
        (dir, payload)
    } else {
        return Err("not a projecting volume".into());
    };
    let changed = atomic_writer::write(&dir, &payload).map_err(|e| e.to_string())?;
    Ok((dir, changed))
}

struct SetUp {
    path: PathBuf,
    read_only: bool,
    size_limit: Option<u64>,
    pv: Option<String>,
}

async fn setup_one(pod: &Pod, pod_dir: &Path, v: &Volume, facts: &NodeFacts, lookup: &dyn ObjectLookup) -> Result<SetUp, String> {
    let plain = |path| SetUp { path, read_only: false, size_limit: None, pv: None };
    if let Some(e) = &v.empty_dir {
        let dir = plugin_dir(pod_dir, "empty-dir", &v.name);
        let limit = e.size_limit.as_ref().and_then(|q| q.parsed().ok()).and_then(|q| u64::try_from(q.value()).ok()).filter(|b| *b > 0);
        return match e.medium.as_deref().unwrap_or("") {
            "" => {
                empty_dir::make_disk_dir(&dir)?;
                Ok(SetUp { size_limit: limit, ..plain(dir) })
            }
            "Memory" => {
                empty_dir::mount_tmpfs(&dir, empty_dir::memory_size(pod, e.size_limit.as_ref(), facts), 0o777)?;
                Ok(plain(dir))
            }
            m => Err(format!("unknown storage medium {m:?}")),
        };
    }
    if is_projection(v) {
        return project(pod, pod_dir, v, facts, lookup).await.map(|(dir, _)| plain(dir));
    }
    if let Some(h) = &v.host_path {
        return host_path::setup(h).map(plain);
    }
    if let Some(c) = &v.persistent_volume_claim {
        let cv = claim::setup(pod, &c.claim_name, facts, lookup).await?;
        return Ok(SetUp { path: cv.path, read_only: c.read_only.unwrap_or(false), size_limit: None, pv: Some(cv.pv_name) });
    }
    Err(format!("volume type {} is not supported by this node", source_kind(v)))
}

/// Sets up every volume of `pod` below `pod_dir/volumes/`. Safe to call again: what is
/// there is kept, projections are rewritten only when their content changed.
pub async fn prepare(pod: &Pod, pod_dir: &Path, facts: &NodeFacts, lookup: &dyn ObjectLookup) -> Result<PodVolumes, VolumeError> {
    let mut out = PodVolumes { pod_dir: pod_dir.to_path_buf(), ..Default::default() };
    for v in &pod.spec.volumes {
        let s = setup_one(pod, pod_dir, v, facts, lookup).await.map_err(|message| VolumeError { volume: v.name.clone(), message })?;
        out.volumes.insert(v.name.clone(), (s.path, MountKind::Bind));
        if s.read_only {
            out.read_only.insert(v.name.clone());
        }
        if let Some(l) = s.size_limit {
            out.size_limits.insert(v.name.clone(), l);
        }
        if let Some(pv) = s.pv {
            out.claims.insert(v.name.clone(), pv);
        }
    }
    Ok(out)
}

/// Re-projects the pod's configMap, secret, downwardAPI and projected volumes from the
/// objects as they are now (atomically: containers see the new files without a restart).
/// Returns the names of the volumes whose content changed.
pub async fn refresh(pod: &Pod, pod_dir: &Path, facts: &NodeFacts, lookup: &dyn ObjectLookup) -> Result<Vec<String>, VolumeError> {
    let mut changed = Vec::new();
    for v in pod.spec.volumes.iter().filter(|v| is_projection(v)) {
        let (_, c) = project(pod, pod_dir, v, facts, lookup).await.map_err(|message| VolumeError { volume: v.name.clone(), message })?;
        if c {
            changed.push(v.name.clone());
        }
    }
    Ok(changed)
}

/// A container's environment (see [`env`]).
pub async fn resolve_env(
    pod: &Pod,
    container: &api::model::Container,
    facts: &NodeFacts,
    lookup: &dyn ObjectLookup,
) -> Result<ResolvedEnv, ConfigError> {
    env::resolve(pod, container, facts, lookup).await
}

/// Unmounts everything below the pod's volume directories and removes them (the pod's
/// other files are the agent's). Safe to call again.
pub fn release(pod_dir: &Path) -> Result<(), ReleaseError> {
    teardown::release(pod_dir)
}

#[cfg(test)]
mod tests;
