//! Service proxy sync and connect latency (needs root and `nft`), in namespaces of its
//! own: a node with the pod bridge, five server pods and a client pod. Prints the full
//! sync of 1,000 and 10,000 Services (5 endpoints each), one Service's endpoint changed,
//! one added and one removed among 10,000, and connect latency to Service #1 and #10,000
//! and to the node itself (through every shard's NAT chain without a match). Objects carry
//! resourceVersions, bumped on change, as the API server's do.
//!
//! `cargo bench -p overlay --bench proxy_sync` (`SHOAL_BENCH_SHARDS=N`: another shard count)

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

/// The store's revision: every write takes the next one.
static REVISION: AtomicU64 = AtomicU64::new(1000);

fn next_revision() -> String {
    REVISION.fetch_add(1, Ordering::Relaxed).to_string()
}

fn service(i: u32) -> Service {
    Service {
        metadata: ObjectMeta { name: format!("svc-{i}"), namespace: Some("bench".into()), uid: format!("uid-svc-{i}"), resource_version: next_revision(), ..Default::default() },
        spec: ServiceSpec {
            cluster_ip: Some(cluster_ip(i).to_string()),
            ports: vec![ServicePort { name: Some("http".into()), port: 80, target_port: Some(IntOrString::Int(i32::from(PORT))), ..Default::default() }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn slice(i: u32, ips: &[Ipv4Addr]) -> EndpointSlice {
    let mut metadata =
        ObjectMeta { name: format!("svc-{i}-a"), namespace: Some("bench".into()), uid: format!("uid-slice-{i}"), resource_version: next_revision(), ..Default::default() };
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

/// The Services and slices as a node's cache hands them out: an object that did not
/// change is the same `Arc` sync after sync.
fn world(n: u32, ips: &[Ipv4Addr]) -> (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) {
    ((0..n).map(|i| Arc::new(service(i))).collect(), (0..n).map(|i| Arc::new(slice(i, ips))).collect())
}

fn sync(node: &Path, proxy: &mut Proxy, services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]) -> SyncStats {
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
        if s.full {
            format!("; {} tables", s.tables_changed)
        } else {
            let how = if s.by_address { "by address" } else { "by name" };
            format!("; {} chains and {} elements changed in {} tables; {} Services recomputed, found {how}", s.chains_changed, s.elements_changed, s.tables_changed, s.services_changed)
        }
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

/// Connect latencies taking turns between the addresses (so all see the same load): p50 of each.
fn latencies(client: &Path, to: &[SocketAddrV4], n: usize) -> Vec<Duration> {
    in_netns(client, || {
        let mut all: Vec<Vec<Duration>> = vec![Vec::with_capacity(n); to.len()];
        for _ in 0..20 {
            for a in to {
                connect_once(*a)?;
            }
        }
        for _ in 0..n {
            for (a, l) in to.iter().zip(&mut all) {
                l.push(connect_once(*a)?);
            }
        }
        Ok(all.into_iter().map(|mut l| {
            l.sort();
            l[n / 2]
        }).collect())
    })
    .expect("connecting to the Services")
}

/// One round of connect p50s: the one-shard node's, the sharded node's.
type Round = (Vec<Duration>, Vec<Duration>);

/// A node namespace with the pod bridge, five server pods, a client pod and a server in
/// the node itself (a connection to it is routed through every shard's NAT chains and
/// matches none; pod-to-pod traffic is bridged and meets no IP hook).
struct BenchNode {
    _root: tempfile::TempDir,
    ns: Netns,
    _pods: Vec<Netns>,
    servers: Vec<Ipv4Addr>,
    client: PathBuf,
    gateway: Ipv4Addr,
}

impl BenchNode {
    fn new(tag: &str, pod_cidr: &str) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let ns = Netns::new(&format!("{tag}-node"));
        let net = NodeNet::open(NodeNetConfig::new(root.path()), VethLinks::in_namespace(ns.path()).expect("netlink")).expect("node net");
        let gateway = net.ensure_node(pod_cidr).expect("bridge").gateway();
        let pods: Vec<Netns> = (0..6).map(|i| Netns::new(&format!("{tag}-p{i}"))).collect();
        let ips: Vec<Ipv4Addr> = pods.iter().enumerate().map(|(i, p)| net.attach(&format!("bench-{tag}-{i}"), &p.path()).expect("attach").ip).collect();
        let node_server = in_netns(&ns.path(), || TcpListener::bind((gateway, PORT))).expect("listen in the node");
        let listeners: Vec<TcpListener> = pods[..5].iter().map(|p| in_netns(&p.path(), || TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT))).expect("listen")).collect();
        for l in listeners.into_iter().chain(std::iter::once(node_server)) {
            std::thread::spawn(move || {
                for mut s in l.incoming().flatten() {
                    let _ = s.write_all(b"x");
                }
            });
        }
        let client = pods[5].path();
        BenchNode { _root: root, ns, _pods: pods, servers: ips, client, gateway }
    }

    fn path(&self) -> PathBuf {
        self.ns.path()
    }
}

fn main() {
    let a = BenchNode::new("a", "10.244.12.0/24");
    let (node, ips, gateway, client) = (a.path(), a.servers.clone(), a.gateway, a.client.clone());
    let servers = &ips[..5];
    let facts = NodeFacts { node_name: "bench-node".into(), node_ips: vec![], cluster_cidr: Subnet::parse("10.244.0.0/16").expect("cidr"), node_port_range: 30000..=32767 };
    let mut config = ProxyConfig::new(facts);
    if let Some(n) = std::env::var("SHOAL_BENCH_SHARDS").ok().and_then(|v| v.parse().ok()) {
        config.shards = n;
    }
    println!("{} shards", config.shards);

    for n in [1_000u32, 10_000] {
        let mut proxy = Proxy::new(config.clone());
        let (services, slices) = world(n, servers);
        print(&format!("full sync, {n} Services x 5 endpoints"), &sync(&node, &mut proxy, &services, &slices));
        in_netns(&node, || proxy.remove().map_err(io::Error::other)).expect("remove");
    }

    let mut proxy = Proxy::new(config.clone());
    let (mut services, mut slices) = world(10_000, servers);
    sync(&node, &mut proxy, &services, &slices);
    proxy.resync_next();
    print("full resync over the same 10000 (table kept)", &sync(&node, &mut proxy, &services, &slices));

    let mut changed = servers.to_vec();
    changed[4] = ips[5];
    slices[5_000] = Arc::new(slice(5_000, &changed));
    print("one Service's endpoint changed among 10000", &sync(&node, &mut proxy, &services, &slices));
    services.push(Arc::new(service(10_000)));
    slices.push(Arc::new(slice(10_000, servers)));
    print("one Service added among 10000", &sync(&node, &mut proxy, &services, &slices));
    services.pop();
    slices.pop();
    print("one Service removed among 10001", &sync(&node, &mut proxy, &services, &slices));
    slices[5_000] = Arc::new(slice(5_000, servers));
    print("the endpoint changed back (kernel settled)", &sync(&node, &mut proxy, &services, &slices));
    let mut changed = (*services[7_000]).clone();
    changed.spec.external_ips = vec!["192.0.2.70".into()];
    changed.metadata.resource_version = next_revision();
    services[7_000] = Arc::new(changed);
    print("one Service's object changed among 10000", &sync(&node, &mut proxy, &services, &slices));
    print("nothing changed among 10000", &sync(&node, &mut proxy, &services, &slices));
    // The same lists as new objects (a relist): every Service looked up by name and resourceVersion.
    let (relisted_services, relisted_slices): (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) =
        (services.iter().map(|s| Arc::new((**s).clone())).collect(), slices.iter().map(|s| Arc::new((**s).clone())).collect());
    print("nothing changed, relisted (by resourceVersion)", &sync(&node, &mut proxy, &relisted_services, &relisted_slices));

    let (first, last, pod) = (SocketAddrV4::new(cluster_ip(0), 80), SocketAddrV4::new(cluster_ip(9_999), 80), SocketAddrV4::new(gateway, PORT));
    let l = latencies(&client, &[first, last, pod], 300);
    let diff = (l[1].as_secs_f64() - l[0].as_secs_f64()) / l[0].as_secs_f64() * 100.0;
    println!("connect p50 over 300: Service #1 {:.1?}, Service #10000 {:.1?} ({diff:+.1}%), the node (no Service) {:.1?}", l[0], l[1], l[2]);
    in_netns(&node, || proxy.remove().map_err(io::Error::other)).expect("remove");

    // What the shards cost a new connection: a second node with the same 10,000 Services
    // in one shard, connections taking turns between the two (so both see the same load).
    let b = BenchNode::new("b", "10.244.13.0/24");
    let mut one = Proxy::new(ProxyConfig { shards: 1, ..config.clone() });
    let (b_services, b_slices) = world(10_000, &b.servers[..5]);
    sync(&b.path(), &mut one, &b_services, &b_slices);
    let mut sharded = Proxy::new(config.clone());
    sync(&node, &mut sharded, &services, &slices);
    let b_node = SocketAddrV4::new(b.gateway, PORT);
    let rounds: Vec<Round> =
        (0..7).map(|_| (latencies(&b.client, &[first, last, b_node], 100), latencies(&client, &[first, last, pod], 100))).collect();
    let median = |pick: &dyn Fn(&Round) -> Duration| {
        let mut v: Vec<Duration> = rounds.iter().map(pick).collect();
        v.sort();
        v[v.len() / 2]
    };
    for (what, i) in [("Service #1", 0), ("Service #10000", 1), ("the node (no Service)", 2)] {
        let (one_shard, shards) = (median(&|r| r.0[i]), median(&|r| r.1[i]));
        println!("connect p50 to {what:<22} 1 shard {one_shard:>7.1?}, {} shards {shards:>7.1?} (median of 7 alternating rounds of 100)", config.shards);
    }
    in_netns(&b.path(), || one.remove().map_err(io::Error::other)).expect("remove");
    in_netns(&node, || sharded.remove().map_err(io::Error::other)).expect("remove");
}
