//! OCI image archives without a registry: reading an OCI image layout or a `docker save`
//! tarball into verified blobs and the names that point at them (`archive`), the parts of
//! a manifest a node needs (`manifest`), and writing an OCI layout (`write`) for the
//! example images and tests. Shared by the gateway (which keeps the blobs) and node-host
//! (which unpacks them).

pub mod archive;
pub mod digest;
pub mod manifest;
pub mod write;

pub use archive::{read_archive, Archive, ArchiveError, ArchiveImage};
pub use digest::{sha256_digest, Sha256Writer};
pub use manifest::{parse_manifest, Blob, Manifest, ManifestError};
