//! Service proxy sync and connect latency (needs root and `nft`), in namespaces of its
//! own: a node with the pod bridge, five server pods and a client pod. Prints the full
//! sync of 1,000 and 10,000 Services (5 endpoints each), one Service changed and one
//! added among 10,000, and connect latency to Service #1 and #10,000.
//!
//! `cargo bench -p overlay --bench proxy_sync`

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use api::model::{Endpoint, EndpointConditions, EndpointSlice, EndpointSlicePort, IntOrString, ObjectMeta, Service, ServicePort, ServiceSpec, LABEL_SERVICE_NAME};
use overlay::ipam::Subnet;
use overlay::netns::netlink::in_netns;
use overlay::netns::VethLinks;
use overlay::proxy::{NodeFacts, Proxy, ProxyConfig, SyncStats};
use overlay::{NodeNet, NodeNetConfig};

const PORT: u16 = 8080;

struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Self {
        let name = format!("shoal-b-{}-{tag}", std::process::id());
        let out = Command::new("ip").args(["netns", "add", &name]).output().expect("running ip");
        assert!(out.status.success(), "ip netns add {name} (needs root): {}", String::from_utf8_lossy(&out.stderr));
        Netns(name)
    }

    fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn cluster_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + 1 + i)
}

fn service(i: u32) -> Service {
    Service {
        metadata: ObjectMeta { name: format!("svc-{i}"), namespace: Some("bench".into()), ..Default::default() },
        spec: ServiceSpec {
            cluster_ip: Some(cluster_ip(i).to_string()),
            ports: vec![ServicePort { name: Some("http".into()), port: 80, target_port: Some(IntOrString::Int(i32::from(PORT))), ..Default::default() }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn slice(i: u32, ips: &[Ipv4Addr]) -> EndpointSlice {
    let mut metadata = ObjectMeta { name: format!("svc-{i}-a"), namespace: Some("bench".into()), ..Default::default() };
    metadata.labels.insert(LABEL_SERVICE_NAME.into(), format!("svc-{i}"));
    EndpointSlice {
        metadata,
        address_type: "IPv4".into(),
        endpoints: ips
            .iter()
            .map(|ip| Endpoint {
                addresses: vec![ip.to_string()],
                conditions: Some(EndpointConditions { ready: Some(true), ..Default::default() }),
                node_name: Some("bench-node".into()),
                ..Default::default()
            })
            .collect(),
        ports: vec![EndpointSlicePort { name: Some("http".into()), port: Some(i32::from(PORT)), protocol: Some("TCP".into()), ..Default::default() }],
        ..Default::default()
    }
}

fn world(n: u32, ips: &[Ipv4Addr]) -> (Vec<Service>, Vec<EndpointSlice>) {
    ((0..n).map(service).collect(), (0..n).map(|i| slice(i, ips)).collect())
}

fn sync(node: &Path, proxy: &mut Proxy, services: &[Service], slices: &[EndpointSlice]) -> SyncStats {
    in_netns(node, || proxy.sync(services, slices).map_err(|e| io::Error::other(format!("{e}: {:?}", std::error::Error::source(&e))))).expect("sync")
}

fn print(what: &str, s: &SyncStats) {
    println!(
        "{what:<44} {:>9.1?} total  (render {:>8.1?}, apply {:>9.1?}; {} chains, {} elements, batch {} KiB{})",
        s.render + s.apply,
        s.render,
        s.apply,
        s.chains,
        s.elements,
        s.script_bytes / 1024,
        if s.full { String::new() } else { format!("; {} chains and {} elements changed", s.chains_changed, s.elements_changed) }
    );
}

fn connect_once(to: SocketAddrV4) -> io::Result<Duration> {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&SocketAddr::V4(to), Duration::from_secs(3))?;
    let elapsed = t.elapsed();
    let mut b = [0u8; 1];
    let _ = s.read(&mut b);
    Ok(elapsed)
}

/// Connect latencies alternating between the two addresses (so both see the same load): p50 of each.
fn latencies(client: &Path, a: SocketAddrV4, b: SocketAddrV4, n: usize) -> (Duration, Duration) {
    in_netns(client, || {
        let (mut la, mut lb) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            connect_once(a)?;
            connect_once(b)?;
        }
        for _ in 0..n {
            la.push(connect_once(a)?);
            lb.push(connect_once(b)?);
        }
        la.sort();
        lb.sort();
        Ok((la[n / 2], lb[n / 2]))
    })
    .expect("connecting to the Services")
}

fn main() {
    let root = tempfile::tempdir().expect("tempdir");
    let node = Netns::new("node");
    let net = NodeNet::open(NodeNetConfig::new(root.path()), VethLinks::in_namespace(node.path()).expect("netlink")).expect("node net");
    net.ensure_node("10.244.12.0/24").expect("bridge");
    let pods: Vec<Netns> = (0..6).map(|i| Netns::new(&format!("p{i}"))).collect();
    let ips: Vec<Ipv4Addr> = pods.iter().enumerate().map(|(i, p)| net.attach(&format!("bench-{i}"), &p.path()).expect("attach").ip).collect();
    let (servers, client) = (&ips[..5], pods[5].path());
    for p in &pods[..5] {
        let l = in_netns(&p.path(), || TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT))).expect("listen");
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let _ = s.write_all(b"x");
            }
        });
    }
    let facts = NodeFacts { node_name: "bench-node".into(), node_ips: vec![], cluster_cidr: Subnet::parse("10.244.0.0/16").expect("cidr"), node_port_range: 30000..=32767 };

    for n in [1_000u32, 10_000] {
        let mut proxy = Proxy::new(ProxyConfig::new(facts.clone()));
        let (services, slices) = world(n, servers);
        print(&format!("full sync, {n} Services x 5 endpoints"), &sync(&node.path(), &mut proxy, &services, &slices));
        in_netns(&node.path(), || proxy.remove().map_err(io::Error::other)).expect("remove");
    }

    let mut proxy = Proxy::new(ProxyConfig::new(facts));
    let (mut services, mut slices) = world(10_000, servers);
    sync(&node.path(), &mut proxy, &services, &slices);
    proxy.resync_next();
    print("full resync over the same 10000 (table kept)", &sync(&node.path(), &mut proxy, &services, &slices));

    let mut changed = servers.to_vec();
    changed[4] = ips[5];
    slices[5_000] = slice(5_000, &changed);
    print("one Service's endpoint changed among 10000", &sync(&node.path(), &mut proxy, &services, &slices));
    services.push(service(10_000));
    slices.push(slice(10_000, servers));
    print("one Service added among 10000", &sync(&node.path(), &mut proxy, &services, &slices));
    services.pop();
    slices.pop();
    print("one Service removed among 10001", &sync(&node.path(), &mut proxy, &services, &slices));
    slices[5_000] = slice(5_000, servers);
    sync(&node.path(), &mut proxy, &services, &slices);

    let (first, last) = (SocketAddrV4::new(cluster_ip(0), 80), SocketAddrV4::new(cluster_ip(9_999), 80));
    let (l1, l10k) = latencies(&client, first, last, 300);
    let diff = (l10k.as_secs_f64() - l1.as_secs_f64()) / l1.as_secs_f64() * 100.0;
    println!("connect p50 over 300: Service #1 {l1:.1?}, Service #10000 {l10k:.1?} ({diff:+.1}%)");
    in_netns(&node.path(), || proxy.remove().map_err(io::Error::other)).expect("remove");
}
