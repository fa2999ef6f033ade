//! The node bridge and pod veths on a real kernel (needs root): a "node" network namespace
//! with the bridge, "pod" namespaces attached to it, traffic between them, detach, and an
//! IPAM restart. Every namespace is created here and removed by a guard, even on failure;
//! nothing touches the machine's own namespace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use overlay::netns::netlink::in_netns;
use overlay::netns::{host_veth_name, VethLinks};
use overlay::{NodeNet, NodeNetConfig};

/// A named network namespace (`ip netns add`), deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("shoal-t-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let out = Command::new("ip").args(["netns", "add", &name]).output().expect("running ip (iproute2 is needed)");
        assert!(out.status.success(), "ip netns add {name} (needs root): {}", String::from_utf8_lossy(&out.stderr));
        Netns { name }
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip").arg("-n").arg(&self.name).args(args).output().expect("running ip");
        assert!(out.status.success(), "ip -n {} {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ping(&self, to: Ipv4Addr) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "/bin/busybox", "ping", "-c", "1", "-W", "2", &to.to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

fn links_of(ns: &Netns) -> Vec<String> {
    ns.ip(&["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().split('@').next().unwrap_or("").to_string()))
        .collect()
}

fn tcp_round_trip(server_ns: &Netns, ip: Ipv4Addr, client_ns: &Netns) {
    let listener = in_netns(&server_ns.path(), || TcpListener::bind((ip, 0))).expect("listening in the pod");
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept().expect("accept");
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong").unwrap();
        peer
    });
    let mut c = in_netns(&client_ns.path(), || TcpStream::connect_timeout(&addr, Duration::from_secs(3))).expect("connecting from the other pod");
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
    let peer = server.join().unwrap();
    assert_ne!(peer.ip(), std::net::IpAddr::V4(ip));
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn pods_on_the_node_bridge_reach_each_other_and_leave_nothing_behind() {
    let root = tempfile::tempdir().unwrap();
    let node = Netns::new("node");
    let (pa, pb) = (Netns::new("pa"), Netns::new("pb"));
    let config = NodeNetConfig::new(root.path());
    let net = NodeNet::open(config.clone(), VethLinks::in_namespace(node.path()).unwrap()).unwrap();
    net.ensure_node("10.244.7.0/24").unwrap();
    net.ensure_node("10.244.7.0/24").expect("ensure_node twice is fine");
    assert!(node.ip(&["-4", "addr", "show", "shoal0"]).contains("10.244.7.1/24"), "{}", node.ip(&["addr"]));
    let forward = in_netns(&node.path(), || std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")).unwrap();
    assert_eq!(forward.trim(), "1", "forwarding on in the node's namespace");

    let a = net.attach("pod-a", &pa.path()).unwrap();
    let b = net.attach("pod-b", &pb.path()).unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 244, 7, 2));
    assert_eq!(b.ip, Ipv4Addr::new(10, 244, 7, 3));
    assert_eq!((a.prefix_len, a.gateway), (24, Ipv4Addr::new(10, 244, 7, 1)));
    assert!(pa.ip(&["-4", "addr", "show", "eth0"]).contains("10.244.7.2/24"));
    assert!(pa.ip(&["route"]).contains("default via 10.244.7.1 dev eth0"), "{}", pa.ip(&["route"]));
    assert!(pa.ip(&["link", "show", "lo"]).contains("UP"), "lo is up");
    assert!(node.ip(&["link", "show", &host_veth_name("pod-a")]).contains("master shoal0"));
    assert_eq!(net.attach("pod-a", &pa.path()).unwrap(), a, "attach again: same address, no error");

    assert!(pa.ping(b.ip), "pod a → pod b");
    assert!(pb.ping(a.ip), "pod b → pod a");
    assert!(pa.ping(a.gateway), "pod a → the gateway");
    tcp_round_trip(&pa, a.ip, &pb);
    tcp_round_trip(&pb, b.ip, &pa);

    // A restarted agent: same addresses from disk, nothing handed out twice.
    drop(net);
    let net = NodeNet::open(config, VethLinks::in_namespace(node.path()).unwrap()).unwrap();
    assert_eq!(net.address("pod-a"), Some(a));
    net.ensure_node("10.244.7.0/24").unwrap();
    assert_eq!(net.attach("pod-b", &pb.path()).unwrap(), b, "adopted: same address");
    assert!(pa.ping(b.ip), "still connected after the restart");

    // A new sandbox of pod b (the old one still alive): the address moves to it.
    let pb2 = Netns::new("pb2");
    assert_eq!(net.attach("pod-b", &pb2.path()).unwrap(), b);
    assert!(!links_of(&pb).contains(&"eth0".to_string()), "the old sandbox lost its end");
    assert!(pb2.ping(a.ip), "the new sandbox reaches pod a");

    net.detach("pod-a").unwrap();
    assert!(!links_of(&node).contains(&host_veth_name("pod-a")), "{:?}", links_of(&node));
    assert!(!links_of(&pa).contains(&"eth0".to_string()), "the pod end went with it");
    assert_eq!(net.address("pod-a"), None);
    assert!(!root.path().join("network/ipam/pod-a").exists());
    net.detach("pod-a").expect("detach twice is fine");
    net.detach("pod-b").unwrap();
    assert_eq!(links_of(&node), ["lo", "shoal0"]);
    assert_eq!(std::fs::read_dir(root.path().join("network/ipam")).unwrap().count(), 0);

    let names = [node.name.clone(), pa.name.clone(), pb.name.clone(), pb2.name.clone()];
    drop((node, pa, pb, pb2));
    let list = String::from_utf8_lossy(&Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).into_owned();
    for n in names {
        assert!(!list.contains(&n), "{n} left behind: {list}");
    }
}

#[test]
fn attach_takes_a_few_milliseconds() {
    const N: usize = 30;
    let root = tempfile::tempdir().unwrap();
    let node = Netns::new("bench");
    let pods: Vec<Netns> = (0..N).map(|i| Netns::new(&format!("b{i}"))).collect();
    let net = NodeNet::open(NodeNetConfig::new(root.path()), VethLinks::in_namespace(node.path()).unwrap()).unwrap();
    net.ensure_node("10.244.8.0/24").unwrap();
    let (mut attach, mut detach) = (Vec::new(), Vec::new());
    for (i, p) in pods.iter().enumerate() {
        let t = Instant::now();
        net.attach(&format!("pod-{i}"), &p.path()).unwrap();
        attach.push(t.elapsed());
    }
    for i in 0..N {
        let t = Instant::now();
        net.detach(&format!("pod-{i}")).unwrap();
        detach.push(t.elapsed());
    }
    let (a50, amax) = (p50(attach.clone()), attach.iter().max().copied().unwrap());
    let (d50, dmax) = (p50(detach.clone()), detach.iter().max().copied().unwrap());
    println!("attach over {N} pods: p50 {a50:?}, max {amax:?}; detach: p50 {d50:?}, max {dmax:?}");
    assert_eq!(links_of(&node), ["lo", "shoal0"]);
    assert!(a50 < Duration::from_millis(50), "attach p50 {a50:?}");
}
