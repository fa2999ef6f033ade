//! The image endpoints (`/apis/images.shoal.io/v1`; not Kubernetes kinds, shoal's own,
//! in the same REST style): there is no registry, so the control plane keeps what was
//! imported and the nodes fetch from it.
//!
//! - `POST …/imports` (body: an OCI layout archive or a `docker save` tarball) → 201 and an
//!   `ImageImport` listing the names and digests it held; 400 when the body is no image
//!   archive, 422 when its content is wrong (a digest, a missing blob), 413 over the cap.
//! - `GET …/images` → `ImageList`; `GET …/images/<name>` → one `ImageRecord` (any
//!   spelling: `busybox`, `docker.io/library/busybox:latest`, `busybox@sha256:…`).
//! - `GET …/blobs/sha256:<hex>` → the blob's bytes, streamed chunk by chunk.

pub mod store;

use actix_web::{web, HttpRequest, HttpResponse};
use api::image::{ImageImport, ImageList, ImageRecord, Reference, PATH};
use futures::{stream, StreamExt};

use crate::error::ApiError;
use crate::AppState;
use store::{ImageKeys, KeepError};
#[cfg(test)]
use store::CHUNK;

#[cfg(test)]
mod tests;

/// Largest archive accepted, unless the app is given other [`ImageLimits`].
pub const MAX_ARCHIVE: usize = 512 * 1024 * 1024;

/// Limits of the image endpoints (app data; [`MAX_ARCHIVE`] when absent).
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_archive: usize,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(&format!("{PATH}/imports"), web::post().to(import));
    cfg.route(&format!("{PATH}/images"), web::get().to(list));
    cfg.route(&format!("{PATH}/images/{{name:.+}}"), web::get().to(get));
    cfg.route(&format!("{PATH}/blobs/{{digest}}"), web::get().to(blob));
}

fn keys(state: &AppState) -> ImageKeys {
    ImageKeys::new(state.registry.store().clone())
}

fn kept(e: KeepError) -> ApiError {
    match e {
        KeepError::Store(actors::store::StoreError::Unavailable(m)) => ApiError::new(503, "ServiceUnavailable", m),
        e => ApiError::internal(e.to_string()),
    }
}

fn invalid(message: String) -> ApiError {
    let mut e = ApiError::new(422, "Invalid", message.clone());
    e.details = Some(serde_json::json!({"group": api::image::GROUP, "kind": "imports", "causes": [{"reason": "FieldValueInvalid", "message": message}]}));
    e
}

async fn read_capped(req: &HttpRequest, mut payload: web::Payload, cap: usize) -> Result<Vec<u8>, ApiError> {
    let declared = req.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err(ApiError::too_large(cap));
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        if buf.len() + chunk.len() > cap {
            return Err(ApiError::too_large(cap));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

async fn import(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let cap = req.app_data::<web::Data<ImageLimits>>().map_or(MAX_ARCHIVE, |l| l.max_archive);
    let body = read_capped(&req, payload, cap).await?;
    if body.is_empty() {
        return Err(ApiError::bad_request("the request has no body: send an OCI image layout archive or a docker save tarball"));
    }
    let archive = web::block(move || images::read_archive(body.as_slice()))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| if e.is_malformed() { ApiError::bad_request(e.to_string()) } else { invalid(e.to_string()) })?;
    let keys = keys(&state);
    for (digest, bytes) in &archive.blobs {
        keys.put_blob(digest, bytes).await.map_err(kept)?;
    }
    let mut records = Vec::new();
    let mut untagged = Vec::new();
    for img in &archive.images {
        let blobs = std::iter::once(img.manifest_digest.clone()).chain(img.manifest.blobs().map(|b| b.digest.clone())).collect::<Vec<_>>();
        if img.names.is_empty() {
            untagged.push(img.manifest_digest.clone());
        }
        for name in &img.names {
            let record = ImageRecord {
                name: name.clone(),
                manifest_digest: img.manifest_digest.clone(),
                config_digest: img.manifest.config.digest.clone(),
                size_bytes: img.manifest.size(),
                blobs: blobs.clone(),
            };
            keys.put_image(&record).await.map_err(kept)?;
            records.push(record);
        }
    }
    Ok(HttpResponse::Created().json(ImageImport::new(records, untagged)))
}

async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items = keys(&state).images().await.map_err(kept)?;
    Ok(HttpResponse::Ok().json(ImageList::new(items)))
}

fn not_imported(name: &str) -> ApiError {
    let mut e = ApiError::not_found(format!("images.{} {name:?} not found: import it with `shoal image import FILE`", api::image::GROUP));
    e.details = Some(serde_json::json!({"name": name, "group": api::image::GROUP, "kind": "images"}));
    e
}

async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let r = Reference::parse(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let keys = keys(&state);
    let found = match (&r.digest, r.tagged()) {
        (Some(d), _) => keys.images().await.map_err(kept)?.into_iter().find(|i| &i.manifest_digest == d && i.name.starts_with(&format!("{}:", r.repository))),
        (None, Some(t)) => keys.image(&t).await.map_err(kept)?,
        (None, None) => None,
    };
    match found {
        Some(rec) => Ok(HttpResponse::Ok().json(rec)),
        None => Err(not_imported(&r.to_string())),
    }
}

async fn blob(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let digest = path.into_inner();
    if !api::image::is_digest(&digest) {
        return Err(ApiError::bad_request(format!("{digest:?} is not a digest (sha256:<64 hex digits>)")));
    }
    let keys = keys(&state);
    let Some(meta) = keys.blob_meta(&digest).await.map_err(kept)? else {
        return Err(ApiError::not_found(format!("blob {digest} not found")));
    };
    let chunks = stream::iter(0..meta.chunks).then(move |n| {
        let (keys, digest) = (keys.clone(), digest.clone());
        async move {
            match keys.chunk(&digest, n).await {
                Ok(Some(c)) => Ok(web::Bytes::from(c)),
                Ok(None) => Err(actix_web::error::ErrorInternalServerError(format!("chunk {n} of blob {digest} is missing"))),
                Err(e) => Err(actix_web::error::ErrorInternalServerError(e.to_string())),
            }
        }
    });
    Ok(HttpResponse::Ok().content_type("application/octet-stream").no_chunking(meta.size).streaming(chunks))
}
