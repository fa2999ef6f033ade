//! The parts of an image manifest (OCI or docker schema 2) and index a node needs: the
//! config and layer descriptors, and which manifest of an index fits this machine.

use oci_spec::image::{ImageIndex, ImageManifest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// A blob descriptor: what to fetch and how big it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// An image manifest reduced to its config and layers (bottom first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub config: Blob,
    pub layers: Vec<Blob>,
}

impl Manifest {
    /// Config plus layers, as registries and `docker images` count an image's size.
    pub fn size(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }

    /// The blobs the image needs: config, then layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not an image manifest: {0}")]
    Parse(String),
    #[error("not an image index: {0}")]
    Index(String),
    #[error("unsupported manifest media type {0}")]
    MediaType(String),
}

fn blob(d: &oci_spec::image::Descriptor) -> Blob {
    Blob { digest: d.digest().to_string(), size: d.size(), media_type: d.media_type().to_string() }
}

/// Parses an image manifest blob.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    let m = ImageManifest::from_reader(bytes).map_err(|e| ManifestError::Parse(e.to_string()))?;
    if let Some(mt) = m.media_type() {
        let mt = mt.to_string();
        if mt != OCI_MANIFEST && mt != DOCKER_MANIFEST {
            return Err(ManifestError::MediaType(mt));
        }
    }
    Ok(Manifest { config: blob(m.config()), layers: m.layers().iter().map(blob).collect() })
}

/// Whether a descriptor's media type names an index (OCI index or docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// One entry of an index.
#[derive(Debug, Clone)]
pub struct IndexEntry {
    pub blob: Blob,
    /// `io.containerd.image.name`, else `org.opencontainers.image.ref.name`.
    pub names: Vec<String>,
    /// Whether the entry's platform (when it has one) is this machine's.
    pub fits_host: bool,
}

/// Parses an index blob (or `index.json`).
pub fn parse_index(bytes: &[u8]) -> Result<Vec<IndexEntry>, ManifestError> {
    let index = ImageIndex::from_reader(bytes).map_err(|e| ManifestError::Index(e.to_string()))?;
    Ok(index
        .manifests()
        .iter()
        .map(|d| {
            let ann = d.annotations().clone().unwrap_or_default();
            let names = [ann.get("io.containerd.image.name"), ann.get("org.opencontainers.image.ref.name")]
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            let fits_host = d.platform().as_ref().is_none_or(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == host_arch()
            });
            IndexEntry { blob: blob(d), names, fits_host }
        })
        .collect())
}

/// This machine's architecture in Go's spelling (`amd64`, `arm64`).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The media type of a layer by its first bytes (gzip, zstd, else plain tar).
pub fn layer_media_type(first: &[u8]) -> &'static str {
    if first.starts_with(&[0x1f, 0x8b]) {
        LAYER_GZIP
    } else if first.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        LAYER_ZSTD
    } else {
        LAYER_TAR
    }
}

