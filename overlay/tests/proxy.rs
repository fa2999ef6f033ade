//! The service proxy on a real kernel (needs root and the `nft` binary): a "node" network
//! namespace with the pod bridge, "pod" namespaces on it running small TCP servers, and
//! the proxy's table programmed in the node's namespace. Every namespace is created here
//! and removed by a guard, even on failure; nothing touches the machine's own namespace.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::model::{
    ClientIpConfig, Endpoint, EndpointConditions, EndpointSlice, EndpointSlicePort, IntOrString, ObjectMeta, Service, ServicePort, ServiceSpec,
    SessionAffinityConfig, LABEL_SERVICE_NAME,
};
use overlay::ipam::Subnet;
use overlay::netns::netlink::in_netns;
use overlay::netns::VethLinks;
use overlay::proxy::{NftCommand, NodeFacts, Proxy, ProxyConfig, Shared};
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
        World { _root: root, node, pods, proxy: Proxy::new(ProxyConfig::new(Self::node_facts())) }
    }

    fn node_facts() -> NodeFacts {
        NodeFacts { node_name: "n1".into(), node_ips: vec![], cluster_cidr: Subnet::parse("10.244.0.0/16").unwrap(), node_port_range: 30000..=32767 }
    }

    fn facts(&self) -> NodeFacts {
        Self::node_facts()
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

    fn sync<S: Shared<Service> + Sync, E: Shared<EndpointSlice> + Sync>(&mut self, services: &[S], slices: &[E]) -> overlay::proxy::SyncStats {
        let proxy = &mut self.proxy;
        in_netns(&self.node.path(), || proxy.sync(services, slices).map_err(|e| io::Error::other(format!("{e}: {:?}", std::error::Error::source(&e)))))
            .expect("proxy sync")
    }

    fn table(&self) -> Option<Value> {
        in_netns(&self.node.path(), || NftCommand::default().list_tables_json("shoal-proxy").map_err(io::Error::other)).expect("listing the tables")
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
    w.sync::<Service, EndpointSlice>(&[], &[]);
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

/// The table's listing with what differs between equal tables taken out: handles, the
/// order of chains and of map elements (rules keep their order within a chain).
fn normalized(table: &Value) -> BTreeMap<String, Vec<String>> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("handle");
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in table.get("nftables").and_then(Value::as_array).into_iter().flatten() {
        let mut item = item.clone();
        strip(&mut item);
        let in_table = |o: &Value| o.get("table").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(r) = item.get("rule") {
            let chain = r.get("chain").and_then(Value::as_str).unwrap_or_default().to_string();
            out.entry(format!("rules of {}/{chain}", in_table(r))).or_default().push(r.to_string());
        } else if let Some(o) = item.as_object_mut().and_then(|o| o.values_mut().next()) {
            let mut elems: Vec<String> = o.get("elem").and_then(Value::as_array).into_iter().flatten().map(Value::to_string).collect();
            elems.sort();
            if let Some(obj) = o.as_object_mut() {
                obj.remove("elem");
            }
            let mut v = vec![o.to_string()];
            v.extend(elems);
            let name = o.get("name").and_then(Value::as_str).map(|n| format!("{}/{n}", in_table(o))).unwrap_or_else(|| o.to_string());
            out.insert(name, v);
        }
    }
    out
}

fn udp_service(name: &str, ip: &str, port: u16) -> Service {
    let mut s = service(name, ip, port);
    s.spec.ports[0].protocol = Some("UDP".into());
    s.spec.ports[0].name = Some("dns".into());
    s
}

fn udp_slice(service: &str, ips: &[Ipv4Addr], port: u16) -> EndpointSlice {
    let mut s = slice(service, ips);
    s.ports = vec![EndpointSlicePort { name: Some("dns".into()), port: Some(i32::from(port)), protocol: Some("UDP".into()), ..Default::default() }];
    s
}

#[test]
fn incremental_netlink_syncs_leave_the_table_a_full_sync_from_scratch_writes_and_nft_f_writes_the_same() {
    let mut w = World::new("eq", "10.244.13.0/24", 4);
    let ips: Vec<Ipv4Addr> = (0..4).map(|i| w.pod_ip(i)).collect();
    let ip = |i: usize| ips[i];
    let mut np = service("np", "10.96.1.2", 80);
    np.spec.type_ = Some("NodePort".into());
    np.spec.ports[0].node_port = Some(30081);
    let mut local = np.clone();
    local.metadata.name = "local".into();
    local.spec.cluster_ip = Some("10.96.1.3".into());
    local.spec.ports[0].node_port = Some(30082);
    local.spec.external_traffic_policy = Some("Local".into());
    local.spec.external_ips = vec!["192.0.2.9".into()];
    let mut sticky = service("sticky", "10.96.1.4", 80);
    sticky.spec.session_affinity = Some("ClientIP".into());
    sticky.spec.session_affinity_config = Some(SessionAffinityConfig { client_ip: Some(ClientIpConfig { timeout_seconds: Some(60) }) });
    let services = vec![service("web", "10.96.1.1", 80), np.clone(), local.clone(), sticky.clone(), udp_service("dns", "10.96.1.5", 53), service("empty", "10.96.1.6", 80)];
    let slices = vec![slice("web", &[ip(0), ip(1), ip(2)]), slice("np", &[ip(0)]), slice("local", &[ip(1)]), slice("sticky", &[ip(0), ip(1)]), udp_slice("dns", &[ip(2)], 5353)];
    // As a cache hands them out: an object that did not change is the same `Arc`.
    let (services, slices): (Vec<Arc<Service>>, Vec<Arc<EndpointSlice>>) = (services.into_iter().map(Arc::new).collect(), slices.into_iter().map(Arc::new).collect());
    assert!(w.sync(&services, &slices).full);

    // A run of changes, each applied incrementally, found from what changed in the lists.
    let mut s2 = services.clone();
    let mut e2 = slices.clone();
    e2[0] = Arc::new(slice("web", &[ip(0), ip(2), ip(3)]));
    let stats = w.sync(&s2, &e2);
    assert!(!stats.full && stats.by_address, "{stats:?}");
    s2.remove(5);
    s2.push(Arc::new(service("late", "10.96.1.7", 80)));
    e2.push(Arc::new(slice("late", &[ip(3)])));
    assert!(w.sync(&s2, &e2).by_address);
    Arc::make_mut(&mut s2[3]).spec.session_affinity_config = Some(SessionAffinityConfig { client_ip: Some(ClientIpConfig { timeout_seconds: Some(120) }) });
    e2[1] = Arc::new(slice("np", &[]));
    assert!(w.sync(&s2, &e2).by_address);
    s2.remove(1);
    e2.remove(1);
    e2[1] = Arc::new(slice("local", &[ip(1), ip(3)]));
    let stats = w.sync(&s2, &e2);
    assert!(!stats.full && stats.by_address && stats.services_changed == 2, "{stats:?}");
    let incremental = normalized(&w.table().expect("table"));

    w.remove();
    w.proxy = Proxy::new(ProxyConfig::new(w.facts()));
    assert!(w.sync(&s2, &e2).full);
    let scratch = normalized(&w.table().expect("table"));
    assert_eq!(incremental, scratch, "incremental syncs over netlink against one full sync");

    w.remove();
    let mut by_nft = Proxy::with_nft(ProxyConfig::new(w.facts()), NftCommand::default());
    in_netns(&w.node.path(), || by_nft.sync(&s2, &e2).map_err(io::Error::other)).expect("sync through nft -f");
    let scripted = normalized(&w.table().expect("table"));
    assert_eq!(scratch, scripted, "the netlink batch against the nft -f script");
    assert!(scripted.keys().any(|k| k.contains("/affinity-")), "{:?}", scripted.keys().collect::<Vec<_>>());
    w.remove();
}

/// The names of the tables in a listing.
fn table_names(table: &Value) -> Vec<String> {
    items(table, "table").filter_map(|t| t.get("name")?.as_str().map(String::from)).collect()
}

#[test]
fn a_full_sync_over_another_shard_count_and_the_single_table_layout_keeps_only_its_tables_and_remove_takes_all() {
    let mut w = World::new("shard", "10.244.15.0/24", 2);
    w.serve(0);
    let services = [service("web", "10.96.3.1", 80), service("db", "10.96.3.2", 80), service("empty", "10.96.3.3", 80)];
    let slices = [slice("web", &[w.pod_ip(0)]), slice("db", &[w.pod_ip(0)])];
    let mut wide = ProxyConfig::new(w.facts());
    wide.shards = 32;
    w.proxy = Proxy::new(wide);
    assert!(w.sync(&services, &slices).full);
    assert_eq!(table_names(&w.table().expect("tables")).len(), 33);
    // What the single-table layout left in the common table: NAT chains, `services`, a map and a Service's chain.
    let old_layout = "add table ip shoal-proxy
add chain ip shoal-proxy nat-output { type nat hook output priority -100; policy accept; }
add chain ip shoal-proxy services
add chain ip shoal-proxy service-AAAAAAAA-default/old/tcp/http
add map ip shoal-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }
add rule ip shoal-proxy nat-output jump services
add rule ip shoal-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip shoal-proxy service-AAAAAAAA-default/old/tcp/http drop
add element ip shoal-proxy service-ips { 10.96.3.9 . tcp . 80 : goto service-AAAAAAAA-default/old/tcp/http }
";
    in_netns(&w.node.path(), || NftCommand::default().apply_script(old_layout).map_err(io::Error::other)).expect("writing the old layout");

    w.proxy = Proxy::new(ProxyConfig::new(w.facts()));
    assert!(w.sync(&services, &slices).full);
    let over = w.table().expect("tables");
    let mut names = table_names(&over);
    names.sort();
    let want: Vec<String> = std::iter::once("shoal-proxy".to_string()).chain((0..16).map(|i| format!("shoal-proxy-{i:02}"))).collect();
    assert_eq!(names, want, "the other layout's shards are gone");
    assert!(!chains(&over).iter().any(|c| c.contains("/old/")), "{:?}", chains(&over));
    assert_eq!(ask(&w.pods[1].0.path(), SocketAddrV4::new("10.96.3.1".parse().unwrap(), 80)).expect("web through its shard"), "pod-0");
    let refused = ask(&w.pods[1].0.path(), SocketAddrV4::new("10.96.3.3".parse().unwrap(), 80)).expect_err("no endpoint");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused, "{refused}");
    let over = normalized(&over);

    w.remove();
    assert!(w.table().is_none(), "every table is gone");
    w.proxy = Proxy::new(ProxyConfig::new(w.facts()));
    w.sync(&services, &slices);
    assert_eq!(over, normalized(&w.table().expect("tables")), "over leftovers against from scratch");

    // `remove` takes another layout's shards too.
    in_netns(&w.node.path(), || NftCommand::default().apply_script("add table ip shoal-proxy-40\n").map_err(io::Error::other)).expect("a stray shard");
    w.remove();
    assert!(w.table().is_none(), "every table is gone");
}

/// A UDP server in `ns` answering each datagram with `name`.
fn serve_udp(ns: &Path, port: u16, name: &'static str) {
    let sock = in_netns(ns, || std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))).expect("binding in the pod");
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((_, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(name.as_bytes(), from);
        }
    });
}

#[test]
fn a_udp_flow_to_a_removed_endpoint_loses_its_conntrack_entry_and_moves_to_the_next_one() {
    use overlay::proxy::CtNetlink;
    let mut w = World::new("ct", "10.244.14.0/24", 3);
    serve_udp(&w.pods[0].0.path(), 5353, "pod-0");
    serve_udp(&w.pods[1].0.path(), 5353, "pod-1");
    let vip = SocketAddrV4::new("10.96.2.1".parse().unwrap(), 53);
    let services = [udp_service("dns", "10.96.2.1", 53)];
    w.sync(&services, &[udp_slice("dns", &[w.pod_ip(0)], 5353)]);

    // One client socket: the same 5-tuple, so the same conntrack entry, for every datagram.
    let client = in_netns(&w.pods[2].0.path(), || {
        let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        Ok(s)
    })
    .expect("client socket");
    let ask = |s: &std::net::UdpSocket| -> String {
        s.send_to(b"?", vip).expect("sending");
        let mut buf = [0u8; 64];
        let (n, _) = s.recv_from(&mut buf).expect("an answer through the Service");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(ask(&client), "pod-0");
    let to_pod0 = |w: &World| {
        let entries = in_netns(&w.node.path(), || CtNetlink.list().map_err(io::Error::other)).expect("listing conntrack");
        entries.iter().filter(|e| e.proto == 17 && e.orig_dst == (*vip.ip(), 53) && e.reply_src == (w.pod_ip(0), 5353)).count()
    };
    assert_eq!(to_pod0(&w), 1, "the flow is DNATed to pod 0");

    let stats = w.sync(&services, &[udp_slice("dns", &[w.pod_ip(1)], 5353)]);
    assert!(!stats.full);
    assert_eq!(stats.conntrack_deleted, 1, "{stats:?}");
    assert_eq!(to_pod0(&w), 0, "the entry to the removed endpoint is gone");
    assert_eq!(ask(&client), "pod-1", "the same flow now reaches the remaining endpoint");

    // The last endpoint goes: every entry to the Service goes.
    let stats = w.sync(&services, &[udp_slice("dns", &[], 5353)]);
    assert_eq!(stats.conntrack_deleted, 1, "{stats:?}");
    w.remove();
}
