//! Images without a registry: a content store on each node (blobs by digest, layers
//! unpacked once and shared through overlayfs), filled from OCI layout archives and
//! `docker save` tarballs that the control plane keeps and every node pulls.

use std::path::PathBuf;

pub mod import;
pub mod mount;
pub mod pull;
pub mod store;
pub mod unpack;

pub use pull::ClusterImages;
pub use store::ImageStore;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The parts of an image's config that a container's process starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
    pub exposed_ports: Vec<String>,
}

/// An image present on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalImage {
    /// `sha256:…` of the config blob (what `imageID` reports).
    pub id: String,
    /// Normalised names (`docker.io/library/busybox:latest`) and the name as imported.
    pub names: Vec<String>,
    /// `name@sha256:…` of the manifest.
    pub repo_digest: String,
    pub config: ImageConfig,
    /// Unpacked layer directories, bottom layer first.
    pub layers: Vec<PathBuf>,
    pub size_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Nothing by that name anywhere in the cluster.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// The node's images.
#[async_trait]
pub trait ImageService: Send + Sync + 'static {
    /// The image by the name a pod spec gives, if it is on this node.
    fn resolve(&self, name: &str) -> Option<LocalImage>;
    /// Fetches the image from the cluster into this node's store.
    async fn pull(&self, name: &str) -> Result<LocalImage, PullError>;
    /// What Node status lists.
    fn list(&self) -> Vec<LocalImage>;
    /// Mounts a writable root filesystem of `image` at `target` (overlayfs: the image's
    /// layers below, `upper` and `work` for the container's writes).
    fn mount_rootfs(&self, image: &LocalImage, target: &std::path::Path, upper: &std::path::Path, work: &std::path::Path) -> std::io::Result<()>;
}

pub mod fake;
#[cfg(test)]
mod tests;
