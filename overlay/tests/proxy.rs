//! The service proxy on a real kernel (needs root and the `nft` binary): a "node" network
//! namespace with the pod bridge, "pod" namespaces on it running small TCP servers, and
//! the proxy's table programmed in the node's namespace. Every namespace is created here
//! and removed by a guard, even on failure; nothing touches the machine's own namespace.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use api::model::{
    ClientIpConfig, Endpoint, EndpointConditions, EndpointSlice, EndpointSlicePort, IntOrString, ObjectMeta, Service, ServicePort, ServiceSpec,
    SessionAffinityConfig, LABEL_SERVICE_NAME,
};
use overlay::ipam::Subnet;
use overlay::netns::netlink::in_netns;
use overlay::netns::VethLinks;
use overlay::proxy::{NftCommand, NodeFacts, Proxy, ProxyConfig};
use overlay::{Address, NodeNet, NodeNetConfig};
use serde_json::Value;

const NODE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
const SERVER_PORT: u16 = 8080;

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

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip").arg("-n").arg(&self.name).args(args).output().expect("running ip");
        assert!(out.status.success(), "ip -n {} {args:?}: {}", self.name, String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// A node namespace with the bridge and an uplink (`eth0` holding the node's
/// address and the default route; a veth whose peer stays in the node), pods on the bridge, and the node's proxy.
struct World {
    _root: tempfile::TempDir,
    node: Netns,
    pods: Vec<(Netns, Address)>,
    proxy: Proxy,
}

impl World {
    fn new(tag: &str, subnet: &str, pods: usize) -> World {
        let nft = Command::new("nft").arg("--version").output();
        assert!(nft.is_ok_and(|o| o.status.success()), "the nft binary is needed (Debian package nftables)");
        let root = tempfile::tempdir().unwrap();
        let node = Netns::new(&format!("{tag}-node"));
        // No dummy driver on every kernel: a veth pair with both ends in the node.
        node.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]);
        node.ip(&["addr", "add", &format!("{NODE_IP}/24"), "dev", "eth0"]);
        node.ip(&["link", "set", "eth0", "up"]);
        node.ip(&["link", "set", "eth0-peer", "up"]);
        node.ip(&["link", "set", "lo", "up"]);
        node.ip(&["route", "add", "default", "dev", "eth0"]);
        let net = NodeNet::open(NodeNetConfig::new(root.path()), VethLinks::in_namespace(node.path()).unwrap()).unwrap();
        net.ensure_node(subnet).unwrap();
        let pods = (0..pods)
            .map(|i| {
                let ns = Netns::new(&format!("{tag}-p{i}"));
                let addr = net.attach(&format!("{tag}-pod-{i}"), &ns.path()).unwrap();
                (ns, addr)
            })
            .collect();
        let facts = NodeFacts {
            node_name: "n1".into(),
            node_ips: vec![],
            cluster_cidr: Subnet::parse("10.244.0.0/16").unwrap(),
            node_port_range: 30000..=32767,
        };
        World { _root: root, node, pods, proxy: Proxy::new(ProxyConfig::new(facts)) }
    }

    fn pod_ip(&self, i: usize) -> Ipv4Addr {
        self.pods[i].1.ip
    }

    /// A server in pod `i` answering every connection with the pod's index.
    fn serve(&self, i: usize) {
        let listener = in_netns(&self.pods[i].0.path(), || TcpListener::bind((Ipv4Addr::UNSPECIFIED, SERVER_PORT))).expect("listening in the pod");
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let _ = s.write_all(format!("pod-{i}").as_bytes());
            }
        });
    }

    fn sync(&mut self, services: &[Service], slices: &[EndpointSlice]) -> overlay::proxy::SyncStats {
        let proxy = &mut self.proxy;
        in_netns(&self.node.path(), || proxy.sync(services, slices).map_err(|e| io::Error::other(format!("{e}: {:?}", std::error::Error::source(&e)))))
            .expect("proxy sync")
    }

    fn table(&self) -> Option<Value> {
        in_netns(&self.node.path(), || NftCommand::default().list_json("shoal-proxy").map_err(io::Error::other)).expect("listing the table")
    }

    fn remove(&mut self) {
        let proxy = &mut self.proxy;
        in_netns(&self.node.path(), || proxy.remove().map_err(io::Error::other)).expect("removing the table");
    }
}

/// One connection from `ns` to `to`: what the server said.
fn ask(ns: &Path, to: SocketAddrV4) -> io::Result<String> {
    in_netns(ns, || {
        let mut s = TcpStream::connect_timeout(&SocketAddr::V4(to), Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut answer = String::new();
        s.read_to_string(&mut answer)?;
        Ok(answer)
    })
}

fn service(name: &str, ip: &str, port: u16) -> Service {
    Service {
        metadata: ObjectMeta { name: name.into(), namespace: Some("default".into()), ..Default::default() },
        spec: ServiceSpec {
            cluster_ip: Some(ip.into()),
            ports: vec![ServicePort { name: Some("http".into()), port: i32::from(port), target_port: Some(IntOrString::String("web".into())), ..Default::default() }],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn slice(service: &str, ips: &[Ipv4Addr]) -> EndpointSlice {
    let mut metadata = ObjectMeta { name: format!("{service}-x1"), namespace: Some("default".into()), ..Default::default() };
    metadata.labels.insert(LABEL_SERVICE_NAME.into(), service.into());
    EndpointSlice {
        metadata,
        address_type: "IPv4".into(),
        endpoints: ips
            .iter()
            .map(|ip| Endpoint {
                addresses: vec![ip.to_string()],
                conditions: Some(EndpointConditions { ready: Some(true), serving: Some(true), terminating: Some(false) }),
                node_name: Some("n1".into()),
                ..Default::default()
            })
            .collect(),
        ports: vec![EndpointSlicePort { name: Some("http".into()), port: Some(i32::from(SERVER_PORT)), protocol: Some("TCP".into()), ..Default::default() }],
        ..Default::default()
    }
}

/// Names of the table's chains.
fn chains(table: &Value) -> Vec<String> {
    items(table, "chain").filter_map(|c| c.get("name")?.as_str().map(String::from)).collect()
}

/// The elements of one map, as JSON text (enough to look for an address).
fn map_text(table: &Value, name: &str) -> String {
    items(table, "map").filter(|m| m.get("name").and_then(Value::as_str) == Some(name)).map(|m| m.get("elem").map(Value::to_string).unwrap_or_default()).collect()
}

fn items<'a>(table: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    table.get("nftables").and_then(Value::as_array).into_iter().flatten().filter_map(move |o| o.get(kind))
}

fn tally(ns: &Path, to: SocketAddrV4, n: usize) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let answer = ask(ns, to).unwrap_or_else(|e| panic!("connecting to {to}: {e}"));
        *seen.entry(answer).or_insert(0) += 1;
    }
    seen
}

#[test]
fn cluster_ip_spreads_over_every_endpoint_and_a_removed_endpoint_or_service_leaves_no_rule() {
    let mut w = World::new("cip", "10.244.9.0/24", 4);
    for i in 0..3 {
        w.serve(i);
    }
    let client = w.pods[3].0.path();
    let vip = SocketAddrV4::new("10.96.0.10".parse().unwrap(), 80);
    let all = [w.pod_ip(0), w.pod_ip(1), w.pod_ip(2)];
    let stats = w.sync(&[service("web", "10.96.0.10", 80)], &[slice("web", &all)]);
    assert!(stats.full);

    let seen = tally(&client, vip, 100);
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["pod-0", "pod-1", "pod-2"], "every endpoint answers at least once in 100: {seen:?}");

    // An endpoint goes: its chain goes, the others keep answering.
    let stats = w.sync(&[service("web", "10.96.0.10", 80)], &[slice("web", &[w.pod_ip(0), w.pod_ip(2)])]);
    assert!(!stats.full);
    assert_eq!(stats.chains_changed, 2, "the service chain refilled, one endpoint chain removed");
    let table = w.table().expect("the table exists");
    let gone = format!("__{}/{SERVER_PORT}", w.pod_ip(1));
    assert!(!chains(&table).iter().any(|c| c.ends_with(&gone)), "{:?}", chains(&table));
    assert_eq!(chains(&table).iter().filter(|c| c.starts_with("endpoint-")).count(), 2);
    let seen = tally(&client, vip, 30);
    assert!(!seen.contains_key("pod-1"), "{seen:?}");

    // The Service goes: no chain and no element of it stay.
    w.sync(&[], &[]);
    let table = w.table().expect("the table stays, empty");
    assert!(!chains(&table).iter().any(|c| c.contains("/web/")), "{:?}", chains(&table));
    assert!(!map_text(&table, "service-ips").contains("10.96.0.10"));
    assert!(ask(&client, vip).is_err(), "nothing answers on the ClusterIP any more");

    w.remove();
    assert!(w.table().is_none(), "the table is gone");
}

#[test]
fn a_service_without_endpoints_refuses_at_once_and_a_pod_reaches_itself_through_its_service() {
    let mut w = World::new("rej", "10.244.10.0/24", 2);
    w.serve(0);
    let services = [service("empty", "10.96.0.20", 80), service("self", "10.96.0.21", 80)];
    w.sync(&services, &[slice("self", &[w.pod_ip(0)])]);

    let started = Instant::now();
    let err = ask(&w.pods[1].0.path(), SocketAddrV4::new("10.96.0.20".parse().unwrap(), 80)).expect_err("no endpoint: no answer");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once, not a timeout: {:?}", started.elapsed());

    // Hairpin: pod 0 → its own Service → pod 0, masqueraded so the answer comes back through the node.
    let answer = ask(&w.pods[0].0.path(), SocketAddrV4::new("10.96.0.21".parse().unwrap(), 80)).expect("the pod reaches itself");
    assert_eq!(answer, "pod-0");

    // Endpoints arrive: the same ClusterIP now answers.
    w.sync(&services, &[slice("self", &[w.pod_ip(0)]), slice("empty", &[w.pod_ip(0)])]);
    assert_eq!(ask(&w.pods[1].0.path(), SocketAddrV4::new("10.96.0.20".parse().unwrap(), 80)).unwrap(), "pod-0");
    w.remove();
}

#[test]
fn node_ports_answer_on_the_node_address_and_affinity_keeps_a_client_on_one_endpoint() {
    let mut w = World::new("np", "10.244.11.0/24", 3);
    w.serve(0);
    w.serve(1);
    let mut web = service("web", "10.96.0.30", 80);
    web.spec.type_ = Some("NodePort".into());
    web.spec.ports[0].node_port = Some(30080);
    let mut sticky = service("sticky", "10.96.0.31", 80);
    sticky.spec.session_affinity = Some("ClientIP".into());
    sticky.spec.session_affinity_config = Some(SessionAffinityConfig { client_ip: Some(ClientIpConfig { timeout_seconds: Some(600) }) });
    let both = [w.pod_ip(0), w.pod_ip(1)];
    w.sync(&[web, sticky], &[slice("web", &both), slice("sticky", &both)]);

    let node_port = SocketAddrV4::new(NODE_IP, 30080);
    let from_pod = tally(&w.pods[2].0.path(), node_port, 40);
    assert_eq!(from_pod.len(), 2, "a pod reaches both endpoints through the NodePort: {from_pod:?}");
    let from_node = ask(&w.node.path(), node_port).expect("the node itself reaches its NodePort");
    assert!(from_node.starts_with("pod-"), "{from_node}");

    let sticky_seen = tally(&w.pods[2].0.path(), SocketAddrV4::new("10.96.0.31".parse().unwrap(), 80), 20);
    assert_eq!(sticky_seen.len(), 1, "ClientIP affinity: one endpoint for one client: {sticky_seen:?}");
    w.remove();
}
