//! The node's content store under `<root>/images/`: blobs by digest
//! (`blobs/sha256/<hex>`, hashed as they are written and refused when the digest is
//! wrong), each layer unpacked once (`layers/<first 16 hex of its diff_id>/`, short so
//! that many layers fit in one overlay mount's options), and the names (`refs.json`:
//! normalised `repository:tag` → manifest digest). Writes go to a temporary name first and
//! are renamed into place, so a crash leaves nothing half-written under a final name, and
//! two writers of the same blob or layer both succeed.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use api::image::Reference;
use images::manifest::{parse_manifest, Manifest};
use images::Sha256Writer;
use oci_spec::image::ImageConfiguration;

use super::unpack::{unpack_layer, UnpackError};
use super::{ImageConfig, LocalImage};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob {expected} arrived with digest {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob {0} is not in the store")]
    MissingBlob(String),
    #[error("{0} is not a sha256 digest")]
    BadDigest(String),
    #[error("manifest {digest}: {reason}")]
    BadImage { digest: String, reason: String },
    #[error("layer {digest}: {source}")]
    Unpack {
        digest: String,
        #[source]
        source: UnpackError,
    },
    #[error("layer {digest} unpacks to diff_id {actual}, its config says {expected}")]
    DiffIdMismatch { digest: String, expected: String, actual: String },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { op, path: path.to_path_buf(), source }
}

/// The content store of one node.
pub struct ImageStore {
    dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Normalised `repository:tag` → manifest digest.
    refs: BTreeMap<String, String>,
    /// Complete images by manifest digest.
    images: HashMap<String, LocalImage>,
}

impl ImageStore {
    /// Opens (creating) the store at `<root>/images`, `root` being the node's root
    /// directory, and loads the images whose blobs and layers are all there.
    pub fn open(root: &Path) -> Result<ImageStore, StoreError> {
        let dir = root.join("images");
        for sub in ["blobs/sha256", "layers", "tmp"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(io_err("creating", &p))?;
        }
        // Leftovers of writes that a crash interrupted.
        let tmp = dir.join("tmp");
        if let Ok(rd) = fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let _ = remove_any(&e.path());
            }
        }
        let refs_path = dir.join("refs.json");
        let refs: BTreeMap<String, String> = match fs::read(&refs_path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io_err("reading", &refs_path)(e)),
        };
        let store = ImageStore { dir, state: Mutex::new(State::default()) };
        let mut images = HashMap::new();
        for digest in refs.values() {
            if let Ok(img) = store.load_image(digest) {
                images.insert(digest.clone(), img);
            }
        }
        {
            let mut st = store.lock();
            st.refs = refs;
            st.images = images;
            let names = names_by_manifest(&st.refs);
            for (d, img) in st.images.iter_mut() {
                img.names = names.get(d).cloned().unwrap_or_default();
            }
        }
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `<root>/images`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn tmp_path(&self, what: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dir.join("tmp").join(format!("{what}-{}-{n}", std::process::id()))
    }

    /// Where blob `digest` lives.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = images::digest::sha256_hex(digest).ok_or_else(|| StoreError::BadDigest(digest.to_string()))?;
        Ok(self.dir.join("blobs/sha256").join(hex))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Reads a whole blob (manifests and configs; layers are streamed from their file).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest)?;
        fs::read(&p).map_err(|e| if e.kind() == io::ErrorKind::NotFound { StoreError::MissingBlob(digest.to_string()) } else { io_err("reading", &p)(e) })
    }

    /// Starts writing blob `digest`: write its bytes to the writer, then [`BlobWriter::commit`].
    pub fn blob_writer(&self, digest: &str) -> Result<BlobWriter, StoreError> {
        let final_path = self.blob_path(digest)?;
        let tmp = self.tmp_path("blob");
        let f = fs::File::create(&tmp).map_err(io_err("creating", &tmp))?;
        Ok(BlobWriter { expected: digest.to_string(), tmp, final_path, w: Some(Sha256Writer::new(io::BufWriter::new(f))) })
    }

    /// Writes blob `digest` from `bytes`, verified.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let mut w = self.blob_writer(digest)?;
        w.write_all(bytes).map_err(|e| StoreError::Io { op: "writing", path: w.tmp.clone(), source: e })?;
        w.commit()
    }

    /// The directory layer `diff_id` is (or will be) unpacked in.
    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf, StoreError> {
        let hex = images::digest::sha256_hex(diff_id).ok_or_else(|| StoreError::BadDigest(diff_id.to_string()))?;
        Ok(self.dir.join("layers").join(&hex[..16]))
    }

    /// Unpacks layer blob `digest` (whose tar must hash to `diff_id`), unless it already is.
    pub fn unpack(&self, digest: &str, diff_id: &str) -> Result<PathBuf, StoreError> {
        let dest = self.layer_dir(diff_id)?;
        if dest.is_dir() {
            return Ok(dest);
        }
        let blob = self.blob_path(digest)?;
        let f = fs::File::open(&blob).map_err(|e| if e.kind() == io::ErrorKind::NotFound { StoreError::MissingBlob(digest.to_string()) } else { io_err("opening", &blob)(e) })?;
        let tmp = self.tmp_path("layer");
        fs::create_dir(&tmp).map_err(io_err("creating", &tmp))?;
        let result = unpack_layer(f, &tmp).map_err(|source| StoreError::Unpack { digest: digest.to_string(), source });
        let actual = match result {
            Ok(a) => a,
            Err(e) => {
                let _ = remove_any(&tmp);
                return Err(e);
            }
        };
        if actual != diff_id {
            let _ = remove_any(&tmp);
            return Err(StoreError::DiffIdMismatch { digest: digest.to_string(), expected: diff_id.to_string(), actual });
        }
        // The layer directory's own metadata: root's, 0755 (the tar's "./" entry may set it).
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = remove_any(&tmp);
            if !dest.is_dir() {
                return Err(io_err("renaming into", &dest)(e));
            }
        }
        Ok(dest)
    }

    /// Makes the image of manifest `digest` complete (its blobs must be here): unpacks
    /// its layers and names it `names` (normalised `repository:tag`).
    pub fn add_image(&self, digest: &str, names: &[String]) -> Result<LocalImage, StoreError> {
        let (manifest, config) = self.manifest_and_config(digest)?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers.len() {
            return Err(StoreError::BadImage {
                digest: digest.to_string(),
                reason: format!("{} layers but {} diff_ids in its config", manifest.layers.len(), diff_ids.len()),
            });
        }
        for (layer, diff_id) in manifest.layers.iter().zip(diff_ids) {
            self.unpack(&layer.digest, diff_id)?;
        }
        let img = self.load_image(digest)?;
        self.tag(digest, names, img)
    }

    fn tag(&self, digest: &str, names: &[String], img: LocalImage) -> Result<LocalImage, StoreError> {
        let mut st = self.lock();
        let mut changed = false;
        for n in names {
            if st.refs.get(n).map(String::as_str) != Some(digest) {
                st.refs.insert(n.clone(), digest.to_string());
                changed = true;
            }
        }
        if changed {
            let path = self.dir.join("refs.json");
            let tmp = self.tmp_path("refs");
            let bytes = serde_json::to_vec_pretty(&st.refs).unwrap_or_default();
            fs::write(&tmp, bytes).map_err(io_err("writing", &tmp))?;
            fs::rename(&tmp, &path).map_err(io_err("renaming into", &path))?;
        }
        st.images.insert(digest.to_string(), img);
        let by_manifest = names_by_manifest(&st.refs);
        // A name moved to another manifest leaves the old image without it.
        st.images.retain(|d, _| by_manifest.contains_key(d));
        for (d, i) in st.images.iter_mut() {
            i.names = by_manifest.get(d).cloned().unwrap_or_default();
        }
        Ok(with_repo_digest(st.images.get(digest).cloned().unwrap_or_else(|| unreachable_image(digest))))
    }

    fn manifest_and_config(&self, digest: &str) -> Result<(Manifest, ImageConfiguration), StoreError> {
        let bad = |reason: String| StoreError::BadImage { digest: digest.to_string(), reason };
        let manifest = parse_manifest(&self.read_blob(digest)?).map_err(|e| bad(e.to_string()))?;
        let config = ImageConfiguration::from_reader(self.read_blob(&manifest.config.digest)?.as_slice()).map_err(|e| bad(e.to_string()))?;
        Ok((manifest, config))
    }

    /// The image of manifest `digest`, when its blobs and layers are all here.
    fn load_image(&self, digest: &str) -> Result<LocalImage, StoreError> {
        let (manifest, config) = self.manifest_and_config(digest)?;
        let mut layers = Vec::new();
        for diff_id in config.rootfs().diff_ids() {
            let d = self.layer_dir(diff_id)?;
            if !d.is_dir() {
                return Err(StoreError::MissingBlob(diff_id.clone()));
            }
            layers.push(d);
        }
        let c = config.config().clone().unwrap_or_default();
        Ok(LocalImage {
            id: manifest.config.digest.clone(),
            names: Vec::new(),
            repo_digest: String::new(),
            config: ImageConfig {
                user: c.user().clone().filter(|u| !u.is_empty()),
                env: c.env().clone().unwrap_or_default(),
                entrypoint: c.entrypoint().clone().unwrap_or_default(),
                cmd: c.cmd().clone().unwrap_or_default(),
                working_dir: c.working_dir().clone().filter(|w| !w.is_empty()),
                exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
            },
            layers,
            size_bytes: manifest.size(),
        })
        .map(|mut i| {
            i.repo_digest = digest.to_string();
            i
        })
    }

    /// The image a pod's `image:` names: `name:tag` (normalised as docker does), or
    /// `name@sha256:…` (its manifest), or an image id (`sha256:…` of the config).
    pub fn resolve(&self, name: &str) -> Option<LocalImage> {
        let st = self.lock();
        let found = if api::image::is_digest(name) {
            st.images.values().find(|i| i.id == name).cloned()
        } else {
            let r = Reference::parse(name).ok()?;
            let digest = match (&r.digest, r.tagged()) {
                (Some(d), _) => Some(d.clone()),
                (None, Some(t)) => st.refs.get(&t).cloned(),
                (None, None) => None,
            }?;
            st.images.get(&digest).cloned().map(|mut i| {
                if i.names.is_empty() {
                    i.names.push(r.with_digest(&digest));
                }
                i
            })
        };
        found.map(with_repo_digest)
    }

    /// Every complete image that has a name.
    pub fn list(&self) -> Vec<LocalImage> {
        let st = self.lock();
        let mut v: Vec<LocalImage> = st.images.values().cloned().map(with_repo_digest).collect();
        v.sort_by(|a, b| a.names.cmp(&b.names));
        v
    }

    /// Imports an archive (OCI layout or `docker save`) straight into this store.
    pub fn import_archive(&self, r: impl Read) -> Result<Vec<LocalImage>, super::import::ImportError> {
        super::import::import(self, r)
    }
}

/// `repo_digest` holds the bare manifest digest inside the store; outside it is
/// `repository@digest`.
fn with_repo_digest(mut i: LocalImage) -> LocalImage {
    if !i.repo_digest.contains('@') {
        let repo = i.names.first().and_then(|n| Reference::parse(n).ok()).map(|r| r.repository);
        if let Some(repo) = repo {
            i.repo_digest = format!("{repo}@{}", i.repo_digest);
        }
    }
    i
}

fn unreachable_image(digest: &str) -> LocalImage {
    LocalImage { id: String::new(), names: Vec::new(), repo_digest: digest.to_string(), config: ImageConfig::default(), layers: Vec::new(), size_bytes: 0 }
}

fn names_by_manifest(refs: &BTreeMap<String, String>) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for (n, d) in refs {
        m.entry(d.clone()).or_default().push(n.clone());
    }
    m
}

fn remove_any(p: &Path) -> io::Result<()> {
    if fs::symlink_metadata(p)?.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    }
}

/// A blob being written: hashed on the way, renamed into place by [`commit`](Self::commit)
/// only when its digest is the one asked for.
pub struct BlobWriter {
    expected: String,
    tmp: PathBuf,
    final_path: PathBuf,
    w: Option<Sha256Writer<io::BufWriter<fs::File>>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.as_mut().ok_or_else(|| io::Error::other("blob already committed"))?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.as_mut().map_or(Ok(()), |w| w.flush())
    }
}

impl BlobWriter {
    /// Checks the digest and moves the blob into place.
    pub fn commit(mut self) -> Result<(), StoreError> {
        let (expected, tmp, final_path) = (self.expected.clone(), self.tmp.clone(), self.final_path.clone());
        let Some(w) = self.w.take() else { return Ok(()) };
        let (actual, _, buf) = w.finish();
        let flushed = buf.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
        if let Err(e) = flushed {
            let _ = fs::remove_file(&tmp);
            return Err(io_err("writing", &tmp)(e));
        }
        if actual != expected {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::DigestMismatch { expected, actual });
        }
        fs::rename(&tmp, &final_path).map_err(io_err("renaming into", &final_path))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // Not committed (an error on the way): the temporary file goes.
        if self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
