//! Writes OCI image layout archives (plus docker's `manifest.json`, so `docker load`
//! reads them too), deterministically: same inputs, same bytes. Used by the example
//! images (`examples/images/build.sh`) and by tests.

use std::io::{self, Write};
use std::path::Path;

use api::image::Reference;
use serde_json::{json, Value};

use crate::archive::write_manifest;
use crate::digest::sha256_digest;
use crate::manifest::{self, Blob, Manifest};

/// One layer: its blob as stored (plain, gzip or zstd) and the digest of its tar.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    /// `sha256:` of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
}

impl Layer {
    /// An uncompressed layer.
    pub fn plain(tar: Vec<u8>) -> Layer {
        let diff_id = sha256_digest(&tar);
        Layer { blob: tar, diff_id }
    }
}

/// What to put in an image: names, the `config` section of its config, its layers.
#[derive(Debug, Clone, Default)]
pub struct ImageSpec {
    pub names: Vec<String>,
    /// `Env`, `Entrypoint`, `Cmd`, `WorkingDir`, `User`, `ExposedPorts`… as in the spec.
    pub config: Value,
    pub layers: Vec<Layer>,
}

/// The blobs and manifest of one image.
pub struct Built {
    pub manifest_digest: String,
    pub manifest: Manifest,
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// The config, layers and manifest blobs of `spec`.
pub fn build(spec: &ImageSpec) -> Built {
    let config = json!({
        "architecture": manifest::host_arch(),
        "os": "linux",
        "config": spec.config,
        "rootfs": {"type": "layers", "diff_ids": spec.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let blob = |bytes: &[u8], media_type: &str| Blob { digest: sha256_digest(bytes), size: bytes.len() as u64, media_type: media_type.into() };
    let m = Manifest {
        config: blob(&config, manifest::OCI_CONFIG),
        layers: spec.layers.iter().map(|l| blob(&l.blob, manifest::layer_media_type(&l.blob))).collect(),
    };
    let mbytes = write_manifest(&m);
    let manifest_digest = sha256_digest(&mbytes);
    let mut blobs = vec![(manifest_digest.clone(), mbytes), (m.config.digest.clone(), config)];
    blobs.extend(spec.layers.iter().zip(&m.layers).map(|(l, b)| (b.digest.clone(), l.blob.clone())));
    Built { manifest_digest, manifest: m, blobs }
}

fn file_header(path: &str, size: u64, mode: u32) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path)?;
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

fn append(b: &mut tar::Builder<impl Write>, path: &str, data: &[u8]) -> io::Result<()> {
    b.append(&file_header(path, data.len() as u64, 0o644)?, data)
}

/// Writes an OCI layout archive holding `images` to `out`.
pub fn write_archive(images: &[ImageSpec], out: impl Write) -> io::Result<()> {
    let built: Vec<Built> = images.iter().map(build).collect();
    let mut blobs = std::collections::BTreeMap::new();
    let mut index = Vec::new();
    let mut docker = Vec::new();
    for (spec, b) in images.iter().zip(&built) {
        for (d, bytes) in &b.blobs {
            blobs.insert(d.clone(), bytes);
        }
        let desc = |name: Option<&Reference>| {
            let mut d = json!({"mediaType": manifest::OCI_MANIFEST, "digest": b.manifest_digest, "size": b.blobs[0].1.len()});
            if let Some(r) = name {
                d["annotations"] = json!({
                    "io.containerd.image.name": r.to_string(),
                    "org.opencontainers.image.ref.name": r.tag.clone().unwrap_or_default(),
                });
            }
            d
        };
        let refs: Vec<Reference> = spec.names.iter().filter_map(|n| Reference::parse(n).ok()).collect();
        if refs.is_empty() {
            index.push(desc(None));
        }
        index.extend(refs.iter().map(|r| desc(Some(r))));
        let path = |d: &str| format!("blobs/sha256/{}", &d[7..]);
        docker.push(json!({
            "Config": path(&b.manifest.config.digest),
            "RepoTags": refs.iter().map(Reference::familiar).collect::<Vec<_>>(),
            "Layers": b.manifest.layers.iter().map(|l| path(&l.digest)).collect::<Vec<_>>(),
        }));
    }
    let mut tar = tar::Builder::new(out);
    for (d, bytes) in &blobs {
        append(&mut tar, &format!("blobs/sha256/{}", &d[7..]), bytes)?;
    }
    let index = json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": index});
    append(&mut tar, "index.json", &serde_json::to_vec(&index)?)?;
    append(&mut tar, "manifest.json", &serde_json::to_vec(&Value::Array(docker))?)?;
    append(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.into_inner()?.flush()
}

/// A layer tar of the tree under `dir` (paths relative to it, sorted; owner root; mtime
/// 0; symlinks kept as links; hard links within the tree kept as links).
pub fn layer_from_dir(dir: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    tar.follow_symlinks(false);
    let mut seen: std::collections::HashMap<(u64, u64), String> = Default::default();
    let mut stack = vec![dir.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(d) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&d)?.collect::<Result<Vec<_>, _>>()?.into_iter().map(|e| e.path()).collect();
        children.sort();
        for c in children.into_iter().rev() {
            if std::fs::symlink_metadata(&c)?.is_dir() {
                stack.push(c.clone());
            }
            paths.push(c);
        }
    }
    paths.sort();
    for p in paths {
        let rel = p.strip_prefix(dir).map_err(io::Error::other)?.to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = seen.get(&key) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                h.set_mode(meta.mode() & 0o7777);
                h.set_mtime(0);
                tar.append_link(&mut h, &rel, first)?;
                continue;
            }
            seen.insert(key, rel.clone());
        }
        tar.append_path_with_name(&p, &rel)?;
    }
    tar.into_inner()
}
