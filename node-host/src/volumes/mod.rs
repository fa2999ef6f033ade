//! Pod volumes on the node: materialises a pod's volumes below its directory (emptyDir,
//! configMap, secret, downwardAPI, projected, hostPath, persistentVolumeClaim), turns a
//! container's volumeMounts into OCI mounts (subPath, readOnly), and resolves its
//! environment (env, envFrom).

use std::path::PathBuf;

use async_trait::async_trait;

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
#[async_trait]
pub trait ObjectLookup: Send + Sync + 'static {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<api::model::ConfigMap>, client::Error>;
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<api::model::Secret>, client::Error>;
    async fn pvc(&self, namespace: &str, name: &str) -> Result<Option<api::model::PersistentVolumeClaim>, client::Error>;
    async fn pv(&self, name: &str) -> Result<Option<api::model::PersistentVolume>, client::Error>;
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
    pub volumes: std::collections::BTreeMap<String, (PathBuf, MountKind)>,
}

/// What the downward API and `fieldRef` env read that is not in the pod object.
#[derive(Debug, Clone, Default)]
pub struct NodeFacts {
    pub node_name: String,
    pub host_ip: String,
    pub pod_ip: String,
}

/// Sets up every volume of `pod` below `pod_dir/volumes/`.
pub async fn prepare(pod: &api::model::Pod, pod_dir: &std::path::Path, _lookup: &dyn ObjectLookup) -> Result<PodVolumes, VolumeError> {
    let mut out = PodVolumes::default();
    for v in &pod.spec.volumes {
        let err = |message: String| VolumeError { volume: v.name.clone(), message };
        if v.empty_dir.is_some() {
            let dir = pod_dir.join("volumes").join("empty-dir").join(&v.name);
            tokio::fs::create_dir_all(&dir).await.map_err(|e| err(e.to_string()))?;
            out.volumes.insert(v.name.clone(), (dir, MountKind::Bind));
        } else {
            return Err(err("this volume type is not supported on this node yet".into()));
        }
    }
    Ok(out)
}

/// A container's `volumeMounts` as mounts.
pub fn container_mounts(container: &api::model::Container, vols: &PodVolumes) -> Result<Vec<MountSpec>, ConfigError> {
    container
        .volume_mounts
        .iter()
        .map(|m| {
            let (source, kind) = vols.volumes.get(&m.name).ok_or_else(|| ConfigError(format!("volume {:?} not found", m.name)))?;
            Ok(MountSpec { destination: m.mount_path.clone().into(), source: source.clone(), kind: kind.clone(), read_only: m.read_only.unwrap_or(false) })
        })
        .collect()
}

/// A container's environment from `env` (and later `envFrom`), in order.
pub async fn resolve_env(
    _pod: &api::model::Pod,
    container: &api::model::Container,
    _facts: &NodeFacts,
    _lookup: &dyn ObjectLookup,
) -> Result<Vec<(String, String)>, ConfigError> {
    container
        .env
        .iter()
        .map(|e| match (&e.value, &e.value_from) {
            (_, Some(_)) => Err(ConfigError(format!("env {:?}: valueFrom is not supported on this node yet", e.name))),
            (v, None) => Ok((e.name.clone(), v.clone().unwrap_or_default())),
        })
        .collect()
}
