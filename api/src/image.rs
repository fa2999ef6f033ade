//! Image references as docker normalises them, and the JSON shapes of the control plane's
//! image endpoints (`/apis/images.shoal.io/v1/…`): not Kubernetes kinds, shoal's own.

use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// The API group of the image endpoints.
pub const GROUP: &str = "images.shoal.io";
/// `images.shoal.io/v1`.
pub const API_VERSION: &str = "images.shoal.io/v1";
/// Path prefix of the image endpoints.
pub const PATH: &str = "/apis/images.shoal.io/v1";

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";

/// A parsed image reference in docker's normalised form: `docker.io/library/busybox`,
/// with a tag (`latest` when neither a tag nor a digest is given) and/or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Domain and path, e.g. `docker.io/library/busybox`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: {0:?} is empty")]
    Empty(String),
    #[error("invalid reference format: repository name must be lowercase: {0:?}")]
    Uppercase(String),
    #[error("invalid reference format: {0:?}")]
    Invalid(String),
    #[error("invalid reference format: bad digest in {0:?}")]
    Digest(String),
}

impl Reference {
    /// Parses `name` as docker does (`ParseNormalizedNamed`, then `TagNameOnly`):
    /// `busybox`, `busybox:latest` and `docker.io/library/busybox:latest` are one image.
    pub fn parse(name: &str) -> Result<Reference, ReferenceError> {
        let s = name.trim();
        if s.is_empty() {
            return Err(ReferenceError::Empty(name.to_string()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !is_digest(d) {
                    return Err(ReferenceError::Digest(name.to_string()));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/' (a port has a '/' after it).
        let (path, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            if !is_tag(t) {
                return Err(ReferenceError::Invalid(name.to_string()));
            }
        }
        let (domain, remainder) = split_domain(path);
        if remainder.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(name.to_string()));
        }
        if remainder.is_empty() || !remainder.split('/').all(is_path_component) || !is_domain(&domain) {
            return Err(ReferenceError::Invalid(name.to_string()));
        }
        let repository = format!("{domain}/{remainder}");
        if repository.len() > 255 {
            return Err(ReferenceError::Invalid(name.to_string()));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference { repository, tag, digest })
    }

    /// `repository:tag`, when there is a tag.
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.repository))
    }

    /// `repository@digest` for `digest`.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}@{digest}", self.repository)
    }

    /// The short form docker prints: `busybox:latest` for `docker.io/library/busybox:latest`.
    pub fn familiar(&self) -> String {
        let repo = self
            .repository
            .strip_prefix("docker.io/library/")
            .or_else(|| self.repository.strip_prefix("docker.io/"))
            .unwrap_or(&self.repository);
        let mut out = repo.to_string();
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(d);
        }
        out
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn split_domain(path: &str) -> (String, String) {
    let (domain, remainder) = match path.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" || first.chars().any(|c| c.is_ascii_uppercase()) => {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), path.to_string()),
    };
    let domain = if domain == LEGACY_DEFAULT_DOMAIN { DEFAULT_DOMAIN.to_string() } else { domain };
    let remainder = if domain == DEFAULT_DOMAIN && !remainder.contains('/') { format!("{OFFICIAL_REPO_PREFIX}{remainder}") } else { remainder };
    (domain, remainder)
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_domain(d: &str) -> bool {
    let host = match d.rsplit_once(':') {
        Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return false,
        None => d,
    };
    !host.is_empty() && host.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty() && b.len() <= 128 && (b[0].is_ascii_alphanumeric() || b[0] == b'_') && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// One image the control plane keeps: a name and what it points at. Stored (bincode) at
/// `/registry/images.shoal.io/images/<name>`, served as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "camelCase")]
pub struct ImageRecord {
    /// Normalised `repository:tag` (`docker.io/library/busybox:latest`).
    pub name: String,
    /// `sha256:…` of the image manifest.
    pub manifest_digest: String,
    /// `sha256:…` of the config blob (the image id).
    pub config_digest: String,
    /// Sum of the manifest's config and layer sizes.
    pub size_bytes: u64,
    /// Blobs the image needs, manifest first, then config and layers.
    #[serde(default)]
    pub blobs: Vec<String>,
}

impl ImageRecord {
    /// `repository@manifest_digest`.
    pub fn repo_digest(&self) -> String {
        match Reference::parse(&self.name) {
            Ok(r) => r.with_digest(&self.manifest_digest),
            Err(_) => format!("{}@{}", self.name, self.manifest_digest),
        }
    }
}

/// `GET /apis/images.shoal.io/v1/images`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageList {
    pub kind: String,
    pub api_version: String,
    pub items: Vec<ImageRecord>,
}

impl ImageList {
    pub fn new(items: Vec<ImageRecord>) -> Self {
        ImageList { kind: "ImageList".into(), api_version: API_VERSION.into(), items }
    }
}

/// The answer to `POST /apis/images.shoal.io/v1/imports`: what the archive held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageImport {
    pub kind: String,
    pub api_version: String,
    pub images: Vec<ImageRecord>,
    /// Manifests of the archive that no name points at (`repository@digest` needs no tag).
    #[serde(default)]
    pub untagged: Vec<String>,
}

impl ImageImport {
    pub fn new(images: Vec<ImageRecord>, untagged: Vec<String>) -> Self {
        ImageImport { kind: "ImageImport".into(), api_version: API_VERSION.into(), images, untagged }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_normalise_as_docker_does() {
        let cases: &[(&str, &str, &str)] = &[
            ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
            ("busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
            ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
            ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
            ("library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
            ("hello:v1", "docker.io/library/hello:v1", "hello:v1"),
            ("me/app:v2", "docker.io/me/app:v2", "me/app:v2"),
            ("localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest"),
            ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
            ("localhost/a_b__c-d.e", "localhost/a_b__c-d.e:latest", "localhost/a_b__c-d.e:latest"),
        ];
        for (input, canonical, familiar) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *canonical, "{input}");
            assert_eq!(r.familiar(), *familiar, "{input}");
        }
        let r = Reference::parse(&format!("busybox@{D}")).unwrap();
        assert_eq!((r.repository.as_str(), r.tag.as_deref(), r.digest.as_deref()), ("docker.io/library/busybox", None, Some(D)));
        let r = Reference::parse(&format!("busybox:1@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1"));
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in ["", "Busybox", "busybox:", "busy box", "a//b", "-a", "busybox@sha256:12", "busybox:-x", "a/b/", ":tag"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
