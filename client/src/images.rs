//! The control plane's image endpoints (`/apis/images.shoal.io/v1`): import an archive,
//! list the images, read one image's record, stream a blob by digest.

use std::time::Duration;

use api::image::{ImageImport, ImageList, ImageRecord, PATH};
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::Error;
use crate::http::{Client, Request};

/// An archive upload may take a while; a blob download has no overall deadline.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// The path of image `name` (`busybox`, `docker.io/library/busybox:latest`, `busybox@sha256:…`).
pub fn image_path(name: &str) -> String {
    format!("{PATH}/images/{name}")
}

/// The path of blob `digest`.
pub fn blob_path(digest: &str) -> String {
    format!("{PATH}/blobs/{digest}")
}

impl Client {
    /// Uploads an OCI layout archive or a `docker save` tarball; answers what it held.
    pub async fn import_images(&self, archive: Vec<u8>) -> Result<ImageImport, Error> {
        let path = format!("{PATH}/imports");
        let req = Request::new("POST", path.clone())
            .header("Accept", "application/json")
            .body("application/x-tar", archive)
            .timeout(Some(IMPORT_TIMEOUT));
        let body = self.send(req).await?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode { method: "POST", path, source })
    }

    /// Every image the control plane keeps.
    pub async fn list_images(&self) -> Result<ImageList, Error> {
        self.json::<(), _>("GET", &format!("{PATH}/images"), "", None).await
    }

    /// The record of image `name`; a 404 [`Error::Api`] when nobody imported it.
    pub async fn get_image(&self, name: &str) -> Result<ImageRecord, Error> {
        self.json::<(), _>("GET", &image_path(name), "", None).await
    }

    /// The bytes of blob `digest`, as they arrive (not verified here: the caller hashes).
    pub async fn image_blob(&self, digest: &str) -> Result<impl Stream<Item = Result<Bytes, Error>> + Send + 'static, Error> {
        let path = blob_path(digest);
        let resp = self.raw_stream(Request::get(path.clone())).await?;
        Ok(resp.bytes_stream().map(move |r| r.map_err(|source| Error::Read { method: "GET", path: path.clone(), source })))
    }
}
