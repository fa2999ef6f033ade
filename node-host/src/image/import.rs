//! Imports an image archive (OCI layout or `docker save`) into the node's store: every
//! blob verified and written by digest, every layer unpacked once, the names tagged.

use std::io::Read;

use images::{read_archive, ArchiveError};

use super::store::{ImageStore, StoreError};
use super::LocalImage;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the archive from `r` into `store`; returns its images.
pub fn import(store: &ImageStore, r: impl Read) -> Result<Vec<LocalImage>, ImportError> {
    let archive = read_archive(r)?;
    for (digest, bytes) in &archive.blobs {
        store.put_blob(digest, bytes)?;
    }
    let mut out = Vec::new();
    for img in &archive.images {
        out.push(store.add_image(&img.manifest_digest, &img.names)?);
    }
    Ok(out)
}
