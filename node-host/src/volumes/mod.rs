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
