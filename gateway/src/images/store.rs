//! Where the control plane keeps images: in the store, so that every API server on the
//! same etcd (and every node, joining whenever) sees them.
//!
//! - `/registry/images.shoal.io/blobs/<digest>/<n>`: the blob's bytes in chunks of
//!   [`CHUNK`] (etcd refuses values over 1.5 MiB), `n` zero-padded to six digits.
//! - `/registry/images.shoal.io/blobmeta/<digest>`: size and chunk count, written after
//!   the last chunk: a blob without it is incomplete and is written again.
//! - `/registry/images.shoal.io/images/<repository:tag>`: the [`ImageRecord`].

use std::sync::Arc;

use actors::store::{Store, StoreError};
use api::image::ImageRecord;
use bincode::{Decode, Encode};

/// Bytes per stored chunk.
pub const CHUNK: usize = 1024 * 1024;
pub const PREFIX: &str = "/registry/images.shoal.io/";

/// A blob's bookkeeping key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct BlobMeta {
    pub size: u64,
    pub chunks: u32,
}

fn meta_key(digest: &str) -> String {
    format!("{PREFIX}blobmeta/{digest}")
}

fn chunk_key(digest: &str, n: u32) -> String {
    format!("{PREFIX}blobs/{digest}/{n:06}")
}

fn image_key(name: &str) -> String {
    format!("{PREFIX}images/{name}")
}

#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored value at {key}: {source}")]
    Codec {
        key: String,
        #[source]
        source: api::codec::CodecError,
    },
}

/// Writes `key` whatever is there.
async fn put(store: &dyn Store, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
    loop {
        match store.create(key, value.clone(), None).await {
            Ok(_) => return Ok(()),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        let Some(cur) = store.get(key).await? else { continue };
        if cur.value == value {
            return Ok(());
        }
        match store.update(key, value.clone(), cur.mod_revision).await {
            Ok(_) => return Ok(()),
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The image keys of one store.
#[derive(Clone)]
pub struct ImageKeys {
    store: Arc<dyn Store>,
}

impl ImageKeys {
    pub fn new(store: Arc<dyn Store>) -> Self {
        ImageKeys { store }
    }

    pub async fn blob_meta(&self, digest: &str) -> Result<Option<BlobMeta>, KeepError> {
        let key = meta_key(digest);
        match self.store.get(&key).await? {
            None => Ok(None),
            Some(kv) => api::codec::decode(&kv.value).map(Some).map_err(|source| KeepError::Codec { key, source }),
        }
    }

    /// Stores a blob (already verified) unless it is there.
    pub async fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), KeepError> {
        if self.blob_meta(digest).await?.is_some_and(|m| m.size == bytes.len() as u64) {
            return Ok(());
        }
        let mut chunks = 0u32;
        for (n, c) in bytes.chunks(CHUNK).enumerate() {
            put(self.store.as_ref(), &chunk_key(digest, n as u32), c.to_vec()).await?;
            chunks += 1;
        }
        let meta = BlobMeta { size: bytes.len() as u64, chunks };
        let key = meta_key(digest);
        let value = api::codec::encode(&meta).map_err(|source| KeepError::Codec { key: key.clone(), source })?;
        put(self.store.as_ref(), &key, value).await?;
        Ok(())
    }

    /// Chunk `n` of blob `digest`.
    pub async fn chunk(&self, digest: &str, n: u32) -> Result<Option<Vec<u8>>, KeepError> {
        Ok(self.store.get(&chunk_key(digest, n)).await?.map(|kv| kv.value))
    }

    pub async fn put_image(&self, record: &ImageRecord) -> Result<(), KeepError> {
        let key = image_key(&record.name);
        let value = api::codec::encode(record).map_err(|source| KeepError::Codec { key: key.clone(), source })?;
        put(self.store.as_ref(), &key, value).await?;
        Ok(())
    }

    pub async fn image(&self, name: &str) -> Result<Option<ImageRecord>, KeepError> {
        let key = image_key(name);
        match self.store.get(&key).await? {
            None => Ok(None),
            Some(kv) => api::codec::decode(&kv.value).map(Some).map_err(|source| KeepError::Codec { key, source }),
        }
    }

    /// Every image, by name.
    pub async fn images(&self) -> Result<Vec<ImageRecord>, KeepError> {
        let list = self.store.list(&format!("{PREFIX}images/")).await?;
        list.kvs
            .iter()
            .map(|kv| api::codec::decode(&kv.value).map_err(|source| KeepError::Codec { key: kv.key.clone(), source }))
            .collect()
    }
}
