//! `BridgeNetwork` on a real kernel (needs root): built on a thread that entered a "node"
//! network namespace, it keeps working there from tokio's blocking threads; a pod
//! namespace gets an address, reaches the gateway, and is detached without leftovers.
//! Every namespace is created here and removed by a guard.

use std::path::{Path, PathBuf};
use std::process::Command;

use node_host::network::{BridgeNetwork, BridgeOptions, PodNetwork};

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("shoal-t-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let out = Command::new("ip").args(["netns", "add", &name]).output().expect("running ip (iproute2 is needed)");
        assert!(out.status.success(), "ip netns add {name} (needs root): {}", String::from_utf8_lossy(&out.stderr));
        Netns(name)
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.0)
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip").args(["netns", "exec", &self.0]).args(args).output().expect("running ip netns exec");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Builds the network on a thread inside `ns`, as an agent started in a node's namespace.
fn network_in(ns: &Netns, root: &Path) -> BridgeNetwork {
    let (path, opts) = (ns.path(), BridgeOptions::new(root));
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap();
        // SAFETY: this thread only, a valid namespace fd.
        assert_eq!(unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) }, 0);
        BridgeNetwork::new(opts).unwrap()
    })
    .join()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_gets_an_address_on_the_node_bridge_and_loses_it_on_detach() {
    let root = tempfile::tempdir().unwrap();
    let (node, pod) = (Netns::new("bn-node"), Netns::new("bn-pod"));
    let net = network_in(&node, root.path());
    net.ensure_node("10.244.12.0/24").await.unwrap();
    let a = net.attach("uid-1", &pod.path()).await.unwrap();
    assert_eq!(a.ip.to_string(), "10.244.12.2");
    assert_eq!(net.address("uid-1"), Some(a));
    let (ok, links) = node.run(&["ip", "-o", "link"]);
    assert!(ok && links.contains("shoal0"), "the bridge is in the node's namespace: {links}");
    let own = String::from_utf8_lossy(&Command::new("ip").args(["-o", "link"]).output().unwrap().stdout).into_owned();
    assert!(!own.contains(&overlay::netns::host_veth_name("uid-1")), "nothing in the test's own namespace");
    let (pinged, _) = pod.run(&["/bin/busybox", "ping", "-c", "1", "-W", "2", "10.244.12.1"]);
    assert!(pinged, "the pod reaches its gateway");

    let again = network_in(&node, root.path());
    assert_eq!(again.address("uid-1"), Some(a), "a restarted agent knows the address");
    again.detach("uid-1").await.unwrap();
    assert_eq!(again.address("uid-1"), None);
    let (_, links) = node.run(&["ip", "-o", "link"]);
    assert!(!links.contains("veth"), "{links}");
}
