//! An N-node cluster of real nodes, each in a network namespace of its own, wired to an
//! underlay namespace (DESIGN.md, "Networks"): the underlay holds a bridge `br0` with
//! `10.250.0.1/24` — the nodes' router and the address of the control plane (on etcd)
//! and of the test itself, whose thread moves into the underlay for good — and every node
//! gets `eth0` with `10.250.0.(10+i)/24` and a default route through it. The nodes are
//! `shoal node` processes started inside their namespaces; the cluster's overlay, service
//! proxy and DNS run there as they would on machines. On drop (and on panic) the
//! processes, the containers (through their cgroups), the mounts and the namespaces go.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use node_host::runtime::cgroups::Layout;

use super::netns::Netns;
use super::real::example_images;
use super::{shoal_bin, wait_for, Backend, Cluster};

/// The underlay's own address (router, control plane, test client).
pub const UNDERLAY_IP: &str = "10.250.0.1";

/// One node: its namespace, address and process.
pub struct NodeHost {
    pub name: String,
    pub ip: String,
    pub ns: Netns,
    pub root: PathBuf,
    process: Option<Child>,
}

impl NodeHost {
    /// Runs `program args` inside the node's network namespace (not in a pod).
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--net={}", self.ns.path().display()))
            .arg("--")
            .arg(program)
            .args(args)
            .output()
            .expect("running nsenter")
    }
}

pub struct MultiCluster {
    pub cluster: Cluster,
    pub nodes: Vec<NodeHost>,
    /// Dropped last: the test's thread lives in it.
    underlay: Netns,
}

fn run(program: &str, args: &[&str]) {
    let o = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(o.status.success(), "{program} {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr).trim());
}

impl MultiCluster {
    /// `count` real nodes, Ready, with the example images imported.
    pub fn start(tag: &str, count: usize) -> MultiCluster {
        super::real::require_root();
        let images = example_images();
        let mut underlay = Netns::create(&format!("{tag}u"));
        underlay.enter();
        run("ip", &["link", "add", "br0", "type", "bridge"]);
        run("ip", &["addr", "add", &format!("{UNDERLAY_IP}/24"), "dev", "br0"]);
        run("ip", &["link", "set", "br0", "up"]);
        let cluster = Cluster::listening_on(Backend::Etcd, &[], &format!("{UNDERLAY_IP}:0"));
        let mut nodes = Vec::new();
        for i in 0..count {
            let ns = Netns::create(&format!("{tag}{i}"));
            let ip = format!("10.250.0.{}", 10 + i);
            let port = format!("vn{i}");
            run("ip", &["link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name]);
            run("ip", &["link", "set", &port, "master", "br0", "up"]);
            run("ip", &["-n", &ns.name, "addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            run("ip", &["-n", &ns.name, "link", "set", "eth0", "up"]);
            run("ip", &["-n", &ns.name, "route", "add", "default", "via", UNDERLAY_IP]);
            let name = format!("m{}-{}-{i}", std::process::id(), super::real::next_id());
            let root = cluster.path().join("nodes").join(&name);
            nodes.push(NodeHost { name, ip, ns, root, process: None });
        }
        let mut mc = MultiCluster { cluster, nodes, underlay };
        let files: Vec<String> = ["busybox.tar", "hello-v1.tar", "hello-v2.tar"].iter().map(|f| images.join(f).display().to_string()).collect();
        let mut args = vec!["image", "import"];
        args.extend(files.iter().map(String::as_str));
        let o = mc.cluster.shoal(&args);
        assert!(o.status.success(), "shoal image import: {}", String::from_utf8_lossy(&o.stderr));
        for i in 0..count {
            mc.start_node(i);
        }
        for i in 0..count {
            mc.wait_ready(i);
        }
        mc
    }

    /// Starts node `i`'s `shoal node` process (again).
    pub fn start_node(&mut self, i: usize) {
        let url = self.cluster.url.clone();
        let n = &mut self.nodes[i];
        let child = Command::new("nsenter")
            .arg(format!("--net={}", n.ns.path().display()))
            .arg("--")
            .arg(shoal_bin())
            .args(["node", "--server", &url, "--name", &n.name, "--node-ip", &n.ip, "--root-dir"])
            .arg(&n.root)
            .env("SHOAL_LOG", std::env::var("SHOAL_NODE_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting shoal node in its namespace");
        n.process = Some(child);
    }

    /// Stops node `i`'s process with SIGTERM (a clean stop) and waits for it.
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].process.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn wait_ready(&self, i: usize) {
        let api = self.cluster.api();
        let path = format!("/api/v1/nodes/{}", self.nodes[i].name);
        wait_for("a real node to be Ready", Duration::from_secs(90), || {
            let (code, n) = api.get(&path).map_err(|e| e.to_string())?;
            let ready = n["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
            if ready { Ok(()) } else { Err(format!("{code}: {}", n["status"]["conditions"])) }
        });
    }
}

impl Drop for MultiCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.process.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.cluster.kill_server();
        if let Ok(layout) = Layout::detect() {
            for n in &self.nodes {
                let top = layout.resolve(&format!("shoal/{}", n.name));
                for _ in 0..100 {
                    if layout.kill_tree(&top) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        for m in node_host::volumes::teardown::mounts_below(self.cluster.path()).unwrap_or_default() {
            let _ = node_host::volumes::teardown::unmount(&m);
        }
        // The nodes' namespaces go with `self.nodes`, then the underlay's.
        self.nodes.clear();
        let _ = &self.underlay;
    }
}
