//! Images without a registry, end to end: `examples/images/build.sh` builds busybox.tar,
//! `shoal image import` hands it to the control plane, `shoal image ls` shows it, and a
//! node's pull into its own store gives an image whose rootfs mounts (overlayfs, as root)
//! and holds /bin/busybox.

mod harness;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harness::Cluster;
use node_host::image::{ClusterImages, ImageService, ImageStore, PullError};

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = node_host::image::mount::unmount(&self.0);
    }
}

#[test]
fn an_imported_image_is_listed_and_a_node_pulls_and_mounts_it() {
    let cluster = Cluster::embedded();
    // Built once per target directory, as for every test with real pods.
    let busybox = harness::real::example_images().join("busybox.tar");

    let o = cluster.shoal(&["image", "import", busybox.to_str().unwrap()]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("imported busybox:latest sha256:"), "{}", out(&o));
    let o = cluster.shoal(&["image", "ls"]);
    assert!(o.status.success(), "{}", out(&o));
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(listed.lines().any(|l| l.starts_with("busybox:latest ")), "{listed}");

    // A bad archive is a Status error the CLI prints.
    let junk = cluster.path().join("junk.tar");
    std::fs::write(&junk, b"not an archive").unwrap();
    let o = cluster.shoal(&["image", "import", junk.to_str().unwrap()]);
    assert!(!o.status.success() && out(&o).contains("BadRequest"), "{}", out(&o));

    let rt = tokio::runtime::Runtime::new().unwrap();
    let node = tempfile::tempdir().unwrap();
    let store = Arc::new(ImageStore::open(node.path()).unwrap());
    let images = Arc::new(ClusterImages::new(store, Some(client::Client::new(&cluster.url).unwrap())));
    assert!(images.resolve("busybox").is_none(), "nothing on the node before the pull");
    // Two pulls at once: one fetches, the other finds it there.
    let (a, b) = rt.block_on(async { tokio::join!(images.pull("busybox"), images.pull("docker.io/library/busybox:latest")) });
    let (a, b) = (a.expect("pull"), b.expect("second pull"));
    assert_eq!(a.id, b.id);
    assert!(a.names.contains(&"docker.io/library/busybox:latest".to_string()), "{:?}", a.names);
    assert!(a.repo_digest.starts_with("docker.io/library/busybox@sha256:"), "{}", a.repo_digest);
    assert_eq!(images.list().len(), 1);

    let c = tempfile::tempdir().unwrap();
    let rootfs = c.path().join("rootfs");
    images.mount_rootfs(&a, &rootfs, &c.path().join("upper"), &c.path().join("work")).expect("mounting the rootfs (needs root and overlayfs)");
    let _m = Unmount(rootfs.clone());
    assert!(rootfs.join("bin/busybox").is_file(), "/bin/busybox in the rootfs");
    assert_eq!(std::fs::read_link(rootfs.join("bin/sh")).unwrap(), Path::new("busybox"));

    // A name nobody imported says how to import it.
    match rt.block_on(images.pull("nobody-imported:v9")) {
        Err(PullError::NotFound(m)) => assert!(m.contains("shoal image import"), "{m}"),
        other => panic!("expected NotFound, got {other:?}"),
    }

    // A node that joins later gets every image from the sync, without a pod asking.
    let later = tempfile::tempdir().unwrap();
    let later_images = ClusterImages::new(Arc::new(ImageStore::open(later.path()).unwrap()), Some(client::Client::new(&cluster.url).unwrap()));
    assert_eq!(rt.block_on(later_images.sync_once()).expect("sync"), 1);
    assert_eq!(later_images.resolve("busybox:latest").map(|i| i.id), Some(a.id.clone()));
    assert_eq!(rt.block_on(later_images.sync_once()).expect("second sync"), 0);
}
