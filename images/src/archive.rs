//! Reads an image archive — an OCI image layout (`oci-layout`, `index.json`, `blobs/`) or a
//! `docker save` tarball (`manifest.json`, with or without the OCI layout Docker ≥ 25 adds)
//! — into verified blobs and the images (names → manifest) it holds.
//!
//! Every `blobs/sha256/<hex>` file is hashed as it is read and refused when its digest is
//! not its name. `index.json` is preferred; when it is broken — `"manifests": null`
//! (moby#47210), manifests without layers (moby#47065), blobs it names missing — and a
//! `manifest.json` is there, the images are read from `manifest.json` instead, and an OCI
//! manifest is written for each (layers plain, gzip or zstd by their magic bytes).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Component, Path};

use api::image::Reference;
use serde::Deserialize;

use crate::digest::{sha256_digest, sha256_hex};
use crate::manifest::{self, Blob, Manifest};

/// An archive's images and every blob they need, verified.
#[derive(Debug, Default)]
pub struct Archive {
    pub images: Vec<ArchiveImage>,
    /// By digest: manifests, configs and layers.
    pub blobs: BTreeMap<String, Vec<u8>>,
}

/// One image of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// Normalised `repository:tag` names (none when the archive names it only by digest).
    pub names: Vec<String>,
    pub manifest_digest: String,
    pub manifest: Manifest,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading the archive: {0}")]
    Read(#[source] std::io::Error),
    #[error("the archive has an unsafe path {0:?} (absolute, or leaving the archive with ..)")]
    UnsafePath(String),
    #[error("the archive is not an image archive: it has neither index.json (an OCI image layout) nor manifest.json (docker save)")]
    NotAnImageArchive,
    #[error("{path} in the archive has digest {actual}, not {expected}")]
    DigestMismatch { path: String, expected: String, actual: String },
    #[error("{what} {digest} named by {by} is not in the archive")]
    Missing { what: &'static str, digest: String, by: String },
    #[error("{what} {digest} has {actual} bytes, {by} says {expected}")]
    SizeMismatch { what: &'static str, digest: String, by: String, expected: u64, actual: u64 },
    #[error("{file} in the archive: {reason}")]
    Invalid { file: String, reason: String },
    #[error("the archive holds no image")]
    Empty,
}

impl ArchiveError {
    /// Whether the bytes are not an image archive at all (a 400), rather than an image
    /// archive whose content is wrong (a 422).
    pub fn is_malformed(&self) -> bool {
        matches!(self, ArchiveError::Read(_) | ArchiveError::UnsafePath(_) | ArchiveError::NotAnImageArchive)
    }
}

/// The archive's regular files and links by cleaned path.
#[derive(Default)]
struct Files {
    files: HashMap<String, Vec<u8>>,
    links: HashMap<String, String>,
}

impl Files {
    /// The path a link chain ends at.
    fn target(&self, path: &str) -> String {
        let mut p = path.to_string();
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }

    fn get(&self, path: &str) -> Option<&Vec<u8>> {
        self.files.get(&self.target(path))
    }
}

/// `path` relative to the archive's root, refusing absolute paths and `..` leaving it.
fn clean(path: &Path) -> Result<String, ArchiveError> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(ArchiveError::UnsafePath(path.display().to_string()));
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(ArchiveError::UnsafePath(path.display().to_string())),
        }
    }
    Ok(parts.join("/"))
}

fn read_files<R: Read>(r: R) -> Result<Files, ArchiveError> {
    let mut files = Files::default();
    let mut tar = tar::Archive::new(r);
    for entry in tar.entries().map_err(ArchiveError::Read)? {
        let mut entry = entry.map_err(ArchiveError::Read)?;
        let raw = entry.path().map_err(ArchiveError::Read)?.into_owned();
        let path = clean(&raw)?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let Some(link) = entry.link_name().map_err(ArchiveError::Read)? else { continue };
            let base = if kind.is_symlink() { Path::new(&path).parent().unwrap_or(Path::new("")).join(&link) } else { link.into_owned() };
            let target = clean(&base).map_err(|_| ArchiveError::UnsafePath(format!("{} -> {}", raw.display(), base.display())))?;
            files.links.insert(path, target);
        } else if kind.is_file() || kind == tar::EntryType::Continuous || kind == tar::EntryType::GNUSparse {
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut data).map_err(ArchiveError::Read)?;
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                let actual = sha256_digest(&data);
                if actual[7..] != *hex {
                    let expected = format!("sha256:{hex}");
                    return Err(ArchiveError::DigestMismatch { path, expected, actual });
                }
            }
            files.files.insert(path, data);
        }
    }
    Ok(files)
}

/// Reads an image archive (OCI layout or `docker save`) from `r`.
pub fn read_archive<R: Read>(r: R) -> Result<Archive, ArchiveError> {
    let files = read_files(r)?;
    let has_index = files.get("index.json").is_some();
    let has_docker = files.get("manifest.json").is_some();
    let found = match (has_index, has_docker) {
        (false, false) => return Err(ArchiveError::NotAnImageArchive),
        (true, false) => from_index(&files)?,
        (false, true) => from_docker(&files)?,
        (true, true) => match from_index(&files) {
            Ok(f) if f.usable() => f,
            Ok(f) => from_docker(&files).unwrap_or(f),
            Err(e) => from_docker(&files).map_err(|_| e)?,
        },
    };
    let mut files = files;
    let mut blobs = found.extra;
    for (digest, path) in found.paths {
        let target = files.target(&path);
        if let Some(bytes) = files.files.remove(&target) {
            blobs.insert(digest, bytes);
        }
    }
    if found.images.is_empty() {
        return Err(ArchiveError::Empty);
    }
    Ok(Archive { images: found.images, blobs })
}

/// What one reading (index.json or manifest.json) found.
#[derive(Default)]
struct Found {
    images: Vec<ArchiveImage>,
    /// Blob digest → path in the archive.
    paths: BTreeMap<String, String>,
    /// Blobs written here (manifests made from manifest.json).
    extra: BTreeMap<String, Vec<u8>>,
}

impl Found {
    /// index.json's images are used when there are some and none lost its layers.
    fn usable(&self) -> bool {
        !self.images.is_empty() && self.images.iter().all(|i| !i.manifest.layers.is_empty())
    }

    fn add(&mut self, names: Vec<String>, digest: String, manifest: Manifest) {
        if let Some(existing) = self.images.iter_mut().find(|i| i.manifest_digest == digest) {
            for n in names {
                if !existing.names.contains(&n) {
                    existing.names.push(n);
                }
            }
        } else {
            self.images.push(ArchiveImage { names, manifest_digest: digest, manifest });
        }
    }
}

fn blob_path(digest: &str) -> Option<String> {
    sha256_hex(digest).map(|h| format!("blobs/sha256/{h}"))
}

/// The bytes of blob `b`, checked against its descriptor's size.
fn blob_bytes<'a>(files: &'a Files, b: &Blob, what: &'static str, by: &str) -> Result<(&'a [u8], String), ArchiveError> {
    let missing = || ArchiveError::Missing { what, digest: b.digest.clone(), by: by.to_string() };
    let path = blob_path(&b.digest).ok_or_else(missing)?;
    let bytes = files.get(&path).ok_or_else(missing)?;
    if bytes.len() as u64 != b.size {
        return Err(ArchiveError::SizeMismatch { what, digest: b.digest.clone(), by: by.to_string(), expected: b.size, actual: bytes.len() as u64 });
    }
    Ok((bytes, path))
}

/// Normalised names from annotations or RepoTags; a bare tag (`latest`, what
/// `org.opencontainers.image.ref.name` often holds) names no repository and is skipped.
fn normalise_names(raw: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for n in raw {
        if !n.contains('/') && !n.contains(':') {
            continue;
        }
        if let Ok(r) = Reference::parse(n) {
            if r.digest.is_none() {
                if let Some(t) = r.tagged() {
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
            }
        }
    }
    out
}

fn from_index(files: &Files) -> Result<Found, ArchiveError> {
    let bytes = files.get("index.json").ok_or(ArchiveError::NotAnImageArchive)?;
    let entries = manifest::parse_index(bytes).map_err(|e| ArchiveError::Invalid { file: "index.json".into(), reason: e.to_string() })?;
    let mut found = Found::default();
    for entry in entries {
        add_entry(files, &mut found, entry, "index.json", 0)?;
    }
    Ok(found)
}

fn add_entry(files: &Files, found: &mut Found, entry: manifest::IndexEntry, by: &str, depth: u8) -> Result<(), ArchiveError> {
    let names = normalise_names(&entry.names);
    if manifest::is_index(&entry.blob.media_type) {
        if depth > 4 {
            return Err(ArchiveError::Invalid { file: by.into(), reason: "indexes nested too deep".into() });
        }
        let (bytes, path) = blob_bytes(files, &entry.blob, "index", by)?;
        let inner = manifest::parse_index(bytes).map_err(|e| ArchiveError::Invalid { file: path.clone(), reason: e.to_string() })?;
        // A multi-platform index: the manifest for this machine whose blob was saved.
        let pick = inner
            .into_iter()
            .find(|e| e.fits_host && !manifest::is_index(&e.blob.media_type) && blob_path(&e.blob.digest).is_some_and(|p| files.get(&p).is_some()));
        let Some(mut pick) = pick else {
            return Err(ArchiveError::Missing { what: "manifest for this platform", digest: entry.blob.digest.clone(), by: path });
        };
        found.paths.insert(entry.blob.digest.clone(), path.clone());
        pick.names = entry.names.clone();
        return add_entry(files, found, pick, &path, depth + 1);
    }
    let (bytes, path) = blob_bytes(files, &entry.blob, "manifest", by)?;
    let m = manifest::parse_manifest(bytes).map_err(|e| ArchiveError::Invalid { file: path.clone(), reason: e.to_string() })?;
    for (i, b) in m.blobs().enumerate() {
        let what = if i == 0 { "config" } else { "layer" };
        let (_, p) = blob_bytes(files, b, what, &format!("manifest {}", entry.blob.digest))?;
        found.paths.insert(b.digest.clone(), p);
    }
    found.paths.insert(entry.blob.digest.clone(), path);
    found.add(names, entry.blob.digest, m);
    Ok(())
}

/// One entry of docker's `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn from_docker(files: &Files) -> Result<Found, ArchiveError> {
    let bytes = files.get("manifest.json").ok_or(ArchiveError::NotAnImageArchive)?;
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(bytes).map_err(|e| ArchiveError::Invalid { file: "manifest.json".into(), reason: e.to_string() })?;
    let mut found = Found::default();
    for e in entries {
        let named = |p: &str, what: &'static str| -> Result<(String, Blob), ArchiveError> {
            let path = clean(Path::new(p))?;
            let data = files.get(&path).ok_or_else(|| ArchiveError::Missing { what, digest: p.to_string(), by: "manifest.json".into() })?;
            let media_type = if what == "config" { manifest::OCI_CONFIG } else { manifest::layer_media_type(data) };
            Ok((path, Blob { digest: sha256_digest(data), size: data.len() as u64, media_type: media_type.into() }))
        };
        let (config_path, config) = named(&e.config, "config")?;
        found.paths.insert(config.digest.clone(), config_path);
        let mut layers = Vec::new();
        for l in &e.layers {
            let (path, blob) = named(l, "layer")?;
            found.paths.insert(blob.digest.clone(), path);
            layers.push(blob);
        }
        let m = Manifest { config, layers };
        let bytes = write_manifest(&m);
        let digest = sha256_digest(&bytes);
        found.extra.insert(digest.clone(), bytes);
        found.add(normalise_names(&e.repo_tags.unwrap_or_default()), digest, m);
    }
    Ok(found)
}

/// An OCI image manifest for `m` (compact JSON, fields in the spec's order).
pub fn write_manifest(m: &Manifest) -> Vec<u8> {
    let desc = |b: &Blob| serde_json::json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size});
    let v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_MANIFEST,
        "config": desc(&m.config),
        "layers": m.layers.iter().map(desc).collect::<Vec<_>>(),
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::{layer_from_dir, write_archive, ImageSpec, Layer};

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name as a hostile archive would.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
        tar_of(files)
    }

    fn image(name: &str) -> ImageSpec {
        ImageSpec {
            names: vec![name.into()],
            config: serde_json::json!({"Cmd": ["sh"]}),
            layers: vec![Layer::plain(layer(&[("bin/sh", b"#!")]))],
        }
    }

    fn oci(images: &[ImageSpec]) -> Vec<u8> {
        let mut out = Vec::new();
        write_archive(images, &mut out).unwrap();
        out
    }

    /// The archive's files, so a test can break one and pack them again.
    fn unpack(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut a = tar::Archive::new(archive);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let mut d = Vec::new();
                e.read_to_end(&mut d).unwrap();
                (e.path().unwrap().display().to_string(), d)
            })
            .collect()
    }

    fn repack(files: &[(String, Vec<u8>)]) -> Vec<u8> {
        let v: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
        tar_of(&v)
    }

    #[test]
    fn an_oci_layout_gives_its_images_and_verified_blobs() {
        let a = read_archive(oci(&[image("busybox"), image("me/hello:v1")]).as_slice()).unwrap();
        let names: Vec<_> = a.images.iter().flat_map(|i| i.names.clone()).collect();
        assert_eq!(names, ["docker.io/library/busybox:latest", "docker.io/me/hello:v1"]);
        // Both names have the same config and layer, so the same manifest: one image.
        assert_eq!(a.images.len(), 1);
        for (d, bytes) in &a.blobs {
            assert_eq!(&sha256_digest(bytes), d);
        }
        let img = &a.images[0];
        assert!(a.blobs.contains_key(&img.manifest_digest) && a.blobs.contains_key(&img.manifest.config.digest));
        assert_eq!(img.manifest.layers[0].media_type, manifest::LAYER_TAR);
    }

    #[test]
    fn layers_are_typed_by_their_magic_bytes() {
        use std::io::Write;
        let tar = layer(&[("a", b"1")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(manifest::layer_media_type(&gz), manifest::LAYER_GZIP);
        assert_eq!(manifest::layer_media_type(&[0x28, 0xb5, 0x2f, 0xfd, 0]), manifest::LAYER_ZSTD);
        assert_eq!(manifest::layer_media_type(&tar), manifest::LAYER_TAR);
    }

    #[test]
    fn a_legacy_docker_save_is_read_from_manifest_json() {
        let l = layer(&[("etc/hostname", b"x")]);
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cfg_name = format!("{}.json", &sha256_digest(config)[7..]);
        let manifest = format!(r#"[{{"Config":"{cfg_name}","RepoTags":["busybox:latest"],"Layers":["abc/layer.tar"]}}]"#);
        let archive = tar_of(&[(&cfg_name, config), ("abc/layer.tar", &l), ("manifest.json", manifest.as_bytes())]);
        let a = read_archive(archive.as_slice()).unwrap();
        let img = &a.images[0];
        assert_eq!(img.names, ["docker.io/library/busybox:latest"]);
        assert_eq!(img.manifest.layers[0].digest, sha256_digest(&l));
        // The manifest written for it is a blob like any other, and parses back.
        let m = manifest::parse_manifest(&a.blobs[&img.manifest_digest]).unwrap();
        assert_eq!(m, img.manifest);
    }

    #[test]
    fn a_broken_index_json_falls_back_to_manifest_json() {
        let good = oci(&[image("busybox:latest")]);
        let files = unpack(&good);
        let broken_indexes: [&[u8]; 2] = [
            // moby#47210: "manifests": null.
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":null}"#,
            // Not JSON at all.
            b"{",
        ];
        for broken in broken_indexes {
            let mut f = files.clone();
            for (p, d) in f.iter_mut() {
                if p == "index.json" {
                    *d = broken.to_vec();
                }
            }
            let a = read_archive(repack(&f).as_slice()).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(broken)));
            assert_eq!(a.images[0].names, ["docker.io/library/busybox:latest"]);
            assert_eq!(a.images[0].manifest.layers.len(), 1);
            // Without manifest.json the broken index is the error.
            f.retain(|(p, _)| p != "manifest.json");
            let e = read_archive(repack(&f).as_slice()).unwrap_err();
            assert!(matches!(e, ArchiveError::Invalid { ref file, .. } if file == "index.json"), "{e}");
        }
        // moby#47065: a manifest with no layers, while manifest.json lists them.
        let hollow = ImageSpec { layers: vec![], ..image("busybox:latest") };
        let built = crate::write::build(&hollow);
        let mut f: Vec<(String, Vec<u8>)> = files.into_iter().filter(|(p, _)| p != "index.json").collect();
        for (d, b) in &built.blobs {
            f.push((format!("blobs/sha256/{}", &d[7..]), b.clone()));
        }
        let index = serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":manifest::OCI_MANIFEST,"digest":built.manifest_digest,"size":built.blobs[0].1.len(),
            "annotations":{"io.containerd.image.name":"docker.io/library/busybox:latest"}}]});
        f.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
        let a = read_archive(repack(&f).as_slice()).unwrap();
        assert_eq!(a.images[0].manifest.layers.len(), 1);
    }

    #[test]
    fn wrong_archives_are_refused_naming_what_is_wrong() {
        let good = unpack(&oci(&[image("busybox")]));
        // A blob whose content is not its digest.
        let mut tampered = good.clone();
        let blob = tampered.iter_mut().find(|(p, _)| p.starts_with("blobs/")).unwrap();
        blob.1.push(b'!');
        let e = read_archive(repack(&tampered).as_slice()).unwrap_err();
        assert!(matches!(e, ArchiveError::DigestMismatch { .. }) && !e.is_malformed(), "{e}");
        // A blob missing.
        let mut missing = good.clone();
        let layer_digest = read_archive(oci(&[image("busybox")]).as_slice()).unwrap().images[0].manifest.layers[0].digest.clone();
        missing.retain(|(p, _)| !p.ends_with(&layer_digest[7..]));
        missing.retain(|(p, _)| p != "manifest.json");
        let e = read_archive(repack(&missing).as_slice()).unwrap_err();
        assert!(matches!(e, ArchiveError::Missing { what: "layer", .. }), "{e}");
        assert!(e.to_string().contains(&layer_digest), "{e}");
        // Path traversal and absolute paths.
        for bad in ["../index.json", "blobs/../../x", "/etc/passwd"] {
            let e = read_archive(tar_of(&[(bad, b"{}")]).as_slice()).unwrap_err();
            assert!(matches!(e, ArchiveError::UnsafePath(_)) && e.is_malformed(), "{bad}: {e}");
        }
        // Not an image archive, not a tar.
        let e = read_archive(tar_of(&[("README", b"hi")]).as_slice()).unwrap_err();
        assert!(matches!(e, ArchiveError::NotAnImageArchive) && e.is_malformed());
        let e = read_archive(&b"this is not a tar file at all, and it is long enough to fill a header block or so"[..].repeat(8)[..]).unwrap_err();
        assert!(e.is_malformed(), "{e}");
    }

    #[test]
    fn written_archives_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/busybox"), b"elf").unwrap();
        std::os::unix::fs::symlink("busybox", dir.path().join("bin/sh")).unwrap();
        let a = layer_from_dir(dir.path()).unwrap();
        let b = layer_from_dir(dir.path()).unwrap();
        assert_eq!(a, b);
        let spec = ImageSpec { layers: vec![Layer::plain(a)], ..image("busybox") };
        assert_eq!(oci(std::slice::from_ref(&spec)), oci(&[spec]));
    }
}
