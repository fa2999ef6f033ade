//! A single-node cluster with a real node (`shoal up` running containers), inside a
//! network namespace of the test's own. The example images are built once per test run
//! (`examples/images/build.sh`, under a lock, in the shared target directory) and
//! imported on the cluster's first start. On drop, everything the node made goes: the
//! server, every process in the node's cgroups, every mount below the cluster's
//! directory, the namespace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use node_host::runtime::cgroups::Layout;

use super::netns::Netns;
use super::{wait_for, Cluster};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A number no other cluster of this test process has (node names).
pub fn next_id() -> u32 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Tests with real nodes need root (namespaces, cgroups, mounts): they fail without it,
/// saying so (DESIGN.md, "Testing"), instead of passing without running.
pub fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "this test runs real containers and needs root (namespaces, cgroups, mounts); run it as root");
}

fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// `busybox.tar`, `hello-v1.tar`, `hello-v2.tar`, built by `examples/images/build.sh`
/// (one build at a time across the test processes; cargo makes repeats cheap).
pub fn example_images() -> PathBuf {
    let base = target_dir().join("example-images");
    let out = base.join("out");
    std::fs::create_dir_all(&out).expect("creating the example images' directory");
    let lock = std::fs::File::create(base.join("lock")).expect("creating the images' lock file");
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e).expect("locking the example images");
    let repo = env!("CARGO_MANIFEST_DIR");
    let o = Command::new(format!("{repo}/examples/images/build.sh"))
        .arg(&out)
        .env("CARGO_TARGET_DIR", base.join("target"))
        .output()
        .expect("running examples/images/build.sh");
    assert!(o.status.success(), "build.sh failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    out
}

/// A running cluster with one real node, in a namespace of its own.
pub struct RealCluster {
    pub cluster: Cluster,
    pub node: String,
    /// The `shoal node` process, when the node runs apart from the control plane.
    node_process: Option<std::process::Child>,
    ns: Netns,
}

impl RealCluster {
    /// Starts it (the calling thread moves into the namespace for good) and waits until
    /// the node is Ready and the example images are in the cluster.
    pub fn start(tag: &str) -> RealCluster {
        Self::with_args(tag, &[])
    }

    pub fn with_args(tag: &str, args: &[&str]) -> RealCluster {
        let images = example_images();
        let mut ns = Netns::create(tag);
        ns.enter();
        let node = format!("n{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let images = images.display().to_string();
        let mut all = vec!["--node-name", &node, "--import-images", &images];
        all.extend_from_slice(args);
        let cluster = Cluster::with_real_node(&all);
        let rc = RealCluster { cluster, node, node_process: None, ns };
        rc.wait_ready();
        rc
    }

    /// The control plane (`shoal up --no-node`) and the node as a `shoal node` process of
    /// its own, so that the node can be killed and started alone.
    pub fn with_separate_node(tag: &str) -> RealCluster {
        let images = example_images();
        let mut ns = Netns::create(tag);
        ns.enter();
        let node = format!("n{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let images = images.display().to_string();
        let cluster = Cluster::with_args(super::Backend::Embedded, &["--import-images", &images]);
        let mut rc = RealCluster { cluster, node, node_process: None, ns };
        rc.start_node();
        rc
    }

    /// Starts the `shoal node` process (again) and waits until the node is Ready.
    pub fn start_node(&mut self) {
        let root = self.node_root();
        let child = Command::new(super::shoal_bin())
            .args(["node", "--server", &self.cluster.url, "--name", &self.node, "--node-ip", "127.0.0.1", "--root-dir"])
            .arg(&root)
            .env("SHOAL_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("starting shoal node");
        self.node_process = Some(child);
        self.wait_ready();
    }

    /// SIGKILLs the `shoal node` process (its containers live on).
    pub fn kill_node(&mut self) {
        if let Some(mut c) = self.node_process.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn wait_ready(&self) {
        let api = self.cluster.api();
        let path = format!("/api/v1/nodes/{}", self.node);
        wait_for("the real node to be Ready", Duration::from_secs(60), || {
            let (code, n) = api.get(&path).map_err(|e| e.to_string())?;
            let ready = n["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            if ready { Ok(()) } else { Err(format!("{code}: {}", n["status"]["conditions"])) }
        });
        wait_for("the example images to be imported", Duration::from_secs(60), || {
            let o = self.cluster.shoal(&["image", "ls"]);
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            if ["busybox:latest", "hello:v1", "hello:v2"].iter().all(|i| out.lines().any(|l| l.starts_with(i))) { Ok(()) } else { Err(out) }
        });
    }

    pub fn path(&self) -> &Path {
        self.cluster.path()
    }

    /// The node's state directory.
    pub fn node_root(&self) -> PathBuf {
        self.cluster.path().join("data").join("node")
    }

    /// The cgroup directories of `rel` (below the node's pod cgroup root) that exist.
    pub fn cgroup_dirs(&self, rel: &str) -> Vec<PathBuf> {
        let Ok(layout) = Layout::detect() else { return Vec::new() };
        layout.dirs(&layout.resolve(&format!("shoal/{}/{rel}", self.node))).into_iter().filter(|d| d.exists()).collect()
    }

    /// Kills the server process, SIGKILL (its containers live on, to be adopted).
    pub fn kill_server(&mut self) {
        self.cluster.kill_server();
    }

    /// Starts the server again on the same store and node directory.
    pub fn restart_server(&mut self) {
        self.cluster.restart_server();
        self.wait_ready();
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        self.kill_node();
        self.cluster.kill_server();
        // Containers outlive the agent by design: stop them through their cgroups.
        if let Ok(layout) = Layout::detect() {
            let top = layout.resolve(&format!("shoal/{}", self.node));
            for _ in 0..100 {
                if layout.kill_tree(&top) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Deepest first.
        for m in node_host::volumes::teardown::mounts_below(self.cluster.path()).unwrap_or_default() {
            let _ = node_host::volumes::teardown::unmount(&m);
        }
        let _ = &self.ns;
    }
}
