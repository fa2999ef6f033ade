//! A recording, in-memory image service for tests and simulated nodes: images are
//! "present" or "pullable" by name, a pull can be made to fail, and every pull is logged.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{ImageConfig, ImageService, LocalImage, PullError};

#[derive(Default)]
struct State {
    present: BTreeMap<String, LocalImage>,
    pullable: BTreeMap<String, LocalImage>,
    failures: HashMap<String, String>,
    pulls: Vec<String>,
}

#[derive(Default)]
pub struct FakeImages {
    state: Mutex<State>,
}

/// `busybox` → `docker.io/library/busybox:latest`, as names are normalised upstream.
pub fn normalise(name: &str) -> String {
    let (repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
        _ => (name.to_string(), "latest".to_string()),
    };
    let repo = match repo.split_once('/') {
        None => format!("docker.io/library/{repo}"),
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => repo,
        Some(_) => format!("docker.io/{repo}"),
    };
    format!("{repo}:{tag}")
}

/// An image with a config that runs `cmd`.
pub fn image(name: &str, cmd: &[&str]) -> LocalImage {
    let n = normalise(name);
    let digest = format!("{:064x}", fxhash(&n));
    LocalImage {
        id: format!("sha256:{digest}"),
        names: vec![n.clone(), name.to_string()],
        repo_digest: format!("{}@sha256:{digest}", n.rsplit_once(':').map(|(r, _)| r).unwrap_or(&n)),
        config: ImageConfig { cmd: cmd.iter().map(|s| s.to_string()).collect(), ..Default::default() },
        layers: Vec::new(),
        size_bytes: 1024,
    }
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

impl FakeImages {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `name` present on the node.
    pub fn add(&self, name: &str, cmd: &[&str]) {
        self.lock().present.insert(normalise(name), image(name, cmd));
    }

    /// Makes `name` pullable (not present until pulled).
    pub fn add_pullable(&self, name: &str, cmd: &[&str]) {
        self.lock().pullable.insert(normalise(name), image(name, cmd));
    }

    /// Pulls of `name` fail with `message`.
    pub fn fail_pull(&self, name: &str, message: &str) {
        self.lock().failures.insert(normalise(name), message.to_string());
    }

    /// Names pulled so far, in order.
    pub fn pulls(&self) -> Vec<String> {
        self.lock().pulls.clone()
    }
}

#[async_trait]
impl ImageService for FakeImages {
    fn resolve(&self, name: &str) -> Option<LocalImage> {
        self.lock().present.get(&normalise(name)).cloned()
    }

    async fn pull(&self, name: &str) -> Result<LocalImage, PullError> {
        let n = normalise(name);
        let mut s = self.lock();
        s.pulls.push(name.to_string());
        if let Some(m) = s.failures.get(&n) {
            return Err(PullError::Failed(m.clone()));
        }
        match s.pullable.get(&n).cloned() {
            Some(img) => {
                s.present.insert(n, img.clone());
                Ok(img)
            }
            None => Err(PullError::NotFound(format!(
                "failed to resolve reference \"{n}\": image not found in the cluster; import it with `shoal image import`"
            ))),
        }
    }

    fn list(&self) -> Vec<LocalImage> {
        self.lock().present.values().cloned().collect()
    }

    fn mount_rootfs(&self, _image: &LocalImage, target: &std::path::Path, upper: &std::path::Path, work: &std::path::Path) -> std::io::Result<()> {
        for d in [target, upper, work] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_as_upstream() {
        for (given, want) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("me/app:v1", "docker.io/me/app:v1"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
        ] {
            assert_eq!(normalise(given), want, "{given}");
        }
    }

    #[tokio::test]
    async fn pull_makes_pullable_images_present_and_records_the_pull() {
        let imgs = FakeImages::new();
        imgs.add_pullable("hello:v1", &["/hello"]);
        assert!(imgs.resolve("hello:v1").is_none());
        imgs.pull("hello:v1").await.unwrap();
        assert!(imgs.resolve("docker.io/library/hello:v1").is_some());
        assert!(matches!(imgs.pull("nope").await, Err(PullError::NotFound(_))));
        assert_eq!(imgs.pulls(), ["hello:v1", "nope"]);
    }
}
