//! A node's pull: ask the control plane for the image's record, fetch the blobs this
//! node lacks by digest (verified as they are written), unpack the layers. Pulls of one
//! name run one at a time (a second caller waits and finds the image there). `sync`
//! brings every image the control plane keeps onto this node, polled every few seconds.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::image::Reference;
use async_trait::async_trait;
use futures::StreamExt;

use super::store::{ImageStore, StoreError};
use super::{ImageService, LocalImage, PullError};

/// How often [`ClusterImages::sync`] polls the control plane's image list.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(5);

/// The node's images: its content store, filled from the control plane.
pub struct ClusterImages {
    store: Arc<ImageStore>,
    client: Option<client::Client>,
    pulls: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn failed(e: impl std::fmt::Display) -> PullError {
    PullError::Failed(e.to_string())
}

/// What a pod's events say when nobody imported the image.
pub fn not_imported(name: &str) -> String {
    format!("image {name:?} is not in the cluster (there is no registry): import it with `shoal image import FILE`")
}

impl ClusterImages {
    /// Images in `store`, pulled through `client` (none: only what is already here).
    pub fn new(store: Arc<ImageStore>, client: Option<client::Client>) -> Self {
        ClusterImages { store, client, pulls: Mutex::new(HashMap::new()) }
    }

    pub fn store(&self) -> &Arc<ImageStore> {
        &self.store
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.pulls.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key.to_string()).or_default().clone()
    }

    async fn fetch_blob(&self, client: &client::Client, digest: &str) -> Result<(), PullError> {
        if self.store.has_blob(digest) {
            return Ok(());
        }
        let mut stream = client.image_blob(digest).await.map_err(failed)?;
        let mut w = self.store.blob_writer(digest).map_err(failed)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(failed)?;
            w.write_all(&chunk).map_err(|e| failed(format!("writing blob {digest}: {e}")))?;
        }
        w.commit().map_err(failed)
    }

    async fn pull_uncached(&self, client: &client::Client, name: &str) -> Result<LocalImage, PullError> {
        let record = client.get_image(name).await.map_err(|e| match e.status() {
            Some(s) if s.code == 404 => PullError::NotFound(not_imported(name)),
            _ => failed(e),
        })?;
        if let Some(img) = self.store.resolve(&record.repo_digest()) {
            if img.names.contains(&record.name) || Reference::parse(name).is_ok_and(|r| r.digest.is_some()) {
                return Ok(img);
            }
        }
        self.fetch_blob(client, &record.manifest_digest).await?;
        let manifest = images::parse_manifest(&self.store.read_blob(&record.manifest_digest).map_err(failed)?).map_err(failed)?;
        for b in manifest.blobs() {
            self.fetch_blob(client, &b.digest).await?;
        }
        let store = self.store.clone();
        let (digest, names) = (record.manifest_digest.clone(), vec![record.name.clone()]);
        tokio::task::spawn_blocking(move || store.add_image(&digest, &names))
            .await
            .map_err(failed)?
            .map_err(|e: StoreError| failed(e))
    }

    /// Pulls every image the control plane keeps that this node lacks; returns how many.
    pub async fn sync_once(&self) -> Result<usize, PullError> {
        let Some(client) = &self.client else { return Ok(0) };
        let list = client.list_images().await.map_err(failed)?;
        let mut pulled = 0;
        for r in list.items {
            let here = self.store.resolve(&r.name).is_some_and(|i| i.repo_digest.ends_with(&r.manifest_digest));
            if !here {
                self.pull(&r.name).await?;
                pulled += 1;
            }
        }
        Ok(pulled)
    }

    /// Runs [`sync_once`](Self::sync_once) every `every` until `stop` resolves; failures
    /// are logged and retried on the next round.
    pub async fn sync(self: Arc<Self>, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            match self.sync_once().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(images = n, "pulled images from the control plane"),
                Err(e) => tracing::warn!(error = %e, "image sync"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[async_trait]
impl ImageService for ClusterImages {
    fn resolve(&self, name: &str) -> Option<LocalImage> {
        self.store.resolve(name)
    }

    async fn pull(&self, name: &str) -> Result<LocalImage, PullError> {
        let key = Reference::parse(name).map_err(|e| failed(e))?.to_string();
        let Some(client) = &self.client else {
            return self.store.resolve(name).ok_or_else(|| PullError::NotFound(not_imported(name)));
        };
        let lock = self.lock_for(&key);
        let _guard = lock.lock().await;
        self.pull_uncached(client, &key).await
    }

    fn list(&self) -> Vec<LocalImage> {
        self.store.list()
    }

    fn mount_rootfs(&self, image: &LocalImage, target: &Path, upper: &Path, work: &Path) -> std::io::Result<()> {
        super::mount::mount_overlay(&image.layers, target, upper, work)
    }
}
