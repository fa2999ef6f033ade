//! A two-node world in network namespaces of its own (DESIGN.md, "Networks"), shared by
//! the overlay's test and benchmark: an underlay namespace holding a bridge, one
//! namespace per node joined to it by a veth (192.168.77.N/24), in each node the pod
//! bridge `shoal0` on 10.244.N.0/24 and one pod namespace on it (through
//! [`overlay::NodeNet`]), and the overlay shell of each node run on a thread that has
//! entered that node's namespace. Every namespace is removed on drop, also on panic; the
//! machine's own namespace is never touched.

#![allow(dead_code)]

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use overlay::ipam::Subnet;
use overlay::netns::VethLinks;
use overlay::tunnel::shell::{OverlayShell, ShellConfig, ShellOptions};
use overlay::tunnel::{Metrics, Peer};
use overlay::{NodeNet, NodeNetConfig};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A named network namespace with `lo` up, deleted on drop.
pub struct Netns {
    pub name: String,
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("running ip (iproute2 is needed): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Netns {
    pub fn create(tag: &str) -> Self {
        let name = format!("shoal-t-ov-{}-{}-{tag}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        ip(&["netns", "add", &name]).expect("creating a network namespace (needs root: CAP_SYS_ADMIN and CAP_NET_ADMIN)");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n NAME ARGS`, which must succeed.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs a command inside the namespace (`ip netns exec`).
    pub fn exec(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }

    /// Moves the calling thread into the namespace for good (threads made for it only).
    pub fn enter_this_thread(&self) {
        let target = File::open(self.path()).expect("opening a test namespace");
        nix::sched::setns(target.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("entering a test namespace");
    }

    /// The names of the links in the namespace.
    pub fn links(&self) -> Vec<String> {
        self.ip(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_string()))
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("removing test namespace {}: {e}", self.name);
        }
    }
}

/// One node: its namespace, its pod's namespace and addresses.
pub struct Node {
    pub name: String,
    pub underlay_ip: Ipv4Addr,
    pub subnet: Subnet,
    pub pod_ip: Ipv4Addr,
    pub pod: Netns,
    pub ns: Netns,
    _net: NodeNet<VethLinks>,
}

/// The world: underlay, nodes, pods. Fields drop in order: nodes (pods first) before
/// the underlay.
pub struct World {
    pub nodes: Vec<Node>,
    pub underlay: Netns,
    _root: tempfile::TempDir,
}

pub const CLUSTER: &str = "10.244.0.0/16";

impl World {
    /// `n` nodes, node i (from 1) at 192.168.77.i with subnet 10.244.i.0/24.
    pub fn new(n: u8) -> Self {
        let root = tempfile::tempdir().expect("a temporary directory");
        let underlay = Netns::create("ul");
        underlay.ip(&["link", "add", "br0", "type", "bridge"]);
        underlay.ip(&["link", "set", "br0", "up"]);
        let nodes = (1..=n).map(|i| Node::new(i, &underlay, root.path().join(format!("node-{i}")))).collect();
        World { nodes, underlay, _root: root }
    }

    /// Every node but `i` as a peer of node `i`.
    pub fn peers_of(&self, i: usize) -> Vec<(String, Peer)> {
        self.nodes.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, n)| (n.name.clone(), Peer { underlay: n.underlay_ip, subnet: n.subnet })).collect()
    }

    /// Starts node `i`'s overlay on a thread of its own inside the node's namespace.
    pub fn start_overlay(&self, i: usize, options: ShellOptions, workers: usize) -> RunningOverlay {
        let node = &self.nodes[i];
        let mut config = ShellConfig::new(node.subnet, Subnet::parse(CLUSTER).expect("cluster CIDR"), node.underlay_ip);
        config.options = options;
        RunningOverlay::start(&node.ns, config, self.peers_of(i), workers)
    }
}

impl Node {
    fn new(i: u8, underlay: &Netns, root: PathBuf) -> Self {
        let name = format!("node-{i}");
        let ns = Netns::create(&name);
        let underlay_ip = Ipv4Addr::new(192, 168, 77, i);
        let port = format!("ul{i}");
        underlay.ip(&["link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name]);
        underlay.ip(&["link", "set", &port, "master", "br0", "up"]);
        ns.ip(&["addr", "add", &format!("{underlay_ip}/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        let subnet = Subnet::parse(&format!("10.244.{i}.0/24")).expect("a node subnet");
        let net = NodeNet::open(NodeNetConfig::new(root), VethLinks::in_namespace(ns.path()).expect("the node's namespace")).expect("the node network");
        net.ensure_node(&subnet.to_string()).expect("the node bridge");
        let pod = Netns::create(&format!("pod-{i}"));
        let addr = net.attach(&format!("pod-{i}"), &pod.path()).expect("the pod's veth");
        Node { name, underlay_ip, subnet, pod_ip: addr.ip, pod, ns, _net: net }
    }
}

/// A node's overlay running on its own thread (and tokio runtime) in the node's
/// namespace; stopped (device and route removed) on [`RunningOverlay::stop`] or drop.
pub struct RunningOverlay {
    pub metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl RunningOverlay {
    fn start(ns: &Netns, config: ShellConfig, peers: Vec<(String, Peer)>, workers: usize) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let path = ns.path();
        let thread = std::thread::spawn(move || {
            let target = File::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
            nix::sched::setns(target.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| format!("entering the node's namespace: {e}"))?;
            // Worker threads are made from this thread, so they are in the node's namespace too.
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers.max(1)).enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let (shell, refused) = match OverlayShell::start(config, peers).await {
                    Ok(s) => s,
                    Err(e) => {
                        let msg = format!("starting the overlay: {:?}", anyhow_chain(&e));
                        let _ = ready_tx.send(Err(msg.clone()));
                        return Err(msg);
                    }
                };
                assert!(refused.is_empty(), "{refused:?}");
                let _ = ready_tx.send(Ok(shell.metrics()));
                let _ = stop_rx.await;
                shell.stop().await.map_err(|e| anyhow_chain(&e))
            })
        });
        let metrics = ready_rx.recv().expect("the overlay thread died").unwrap_or_else(|e| panic!("{e}"));
        RunningOverlay { metrics, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// Stops the overlay and waits until its device and route are removed.
    pub fn stop(mut self) -> Result<(), String> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| "the overlay thread panicked".to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningOverlay {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!("stopping an overlay: {e}");
        }
    }
}

/// An error and its sources on one line.
pub fn anyhow_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
