//! The DNS server on real loopback sockets (port 0): cluster names over UDP and TCP,
//! updates, truncation, and forwarding to a fake upstream started by each test.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api::model::{
    Endpoint, EndpointConditions, EndpointSlice, EndpointSlicePort, ObjectMeta, Service, ServicePort,
    ServiceSpec, LABEL_SERVICE_NAME,
};
use cluster_dns::proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use cluster_dns::proto::rr::rdata::A;
use cluster_dns::proto::rr::{Name, RData, Record, RecordType};
use cluster_dns::{upstream_from_resolv_conf, DnsServer, Records, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Every wait in these tests ends here, with a message saying what hung.
const DEADLINE: Duration = Duration::from_secs(5);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("no result within {DEADLINE:?}: {what}"),
    }
}

/// Polls `cond` until it holds or the deadline passes, then shows what was observed.
async fn wait_for<S: std::fmt::Debug>(what: &str, mut observe: impl FnMut() -> S, cond: impl Fn(&S) -> bool) {
    let start = tokio::time::Instant::now();
    loop {
        let seen = observe();
        if cond(&seen) {
            return;
        }
        if start.elapsed() > DEADLINE {
            panic!("{what}: not true within {DEADLINE:?}; last observed: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---- fixtures -------------------------------------------------------------------

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: name.into(), namespace: Some(ns.into()), ..Default::default() }
}

fn service(name: &str, cluster_ip: &str, ports: &[(&str, i32)]) -> Arc<Service> {
    Arc::new(Service {
        metadata: meta("default", name),
        spec: ServiceSpec {
            cluster_ip: Some(cluster_ip.into()),
            ports: ports
                .iter()
                .map(|(n, p)| ServicePort {
                    name: Some((*n).into()),
                    protocol: Some("TCP".into()),
                    port: *p,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    })
}

fn external(name: &str, target: &str) -> Arc<Service> {
    Arc::new(Service {
        metadata: meta("default", name),
        spec: ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some(target.into()),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// A slice of `service` with (address, hostname, ready) endpoints and one `http` port.
fn slice(service: &str, endpoints: &[(&str, Option<&str>, bool)], port: i32) -> Arc<EndpointSlice> {
    let mut metadata = meta("default", &format!("{service}-x1"));
    metadata.labels.insert(LABEL_SERVICE_NAME.into(), service.into());
    Arc::new(EndpointSlice {
        metadata,
        address_type: "IPv4".into(),
        endpoints: endpoints
            .iter()
            .map(|(ip, host, ready)| Endpoint {
                addresses: vec![(*ip).into()],
                hostname: host.map(Into::into),
                conditions: Some(EndpointConditions { ready: Some(*ready), ..Default::default() }),
                ..Default::default()
            })
            .collect(),
        ports: vec![EndpointSlicePort {
            name: Some("http".into()),
            protocol: Some("TCP".into()),
            port: Some(port),
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// `api` (ClusterIP), `web` (headless StatefulSet: web-0, web-1 ready, web-2 not) and
/// `search` (ExternalName leaving the cluster).
fn cluster() -> Records {
    let services = vec![
        service("api", "10.96.0.10", &[("http", 80)]),
        service("web", "None", &[("http", 8080)]),
        external("search", "search.example.com"),
    ];
    let slices = vec![slice(
        "web",
        &[("10.244.1.5", Some("web-0"), true), ("10.244.2.7", Some("web-1"), true), ("10.244.3.9", Some("web-2"), false)],
        8080,
    )];
    Records::build("cluster.local", &services, &slices)
}

async fn start(upstream: Vec<SocketAddr>) -> DnsServer {
    let config = ServerConfig::new(vec!["127.0.0.1:0".parse().unwrap()], upstream)
        .with_upstream_timeout(Duration::from_millis(300));
    let server = within("starting the server", DnsServer::start(config)).await.expect("server starts");
    server.update(cluster());
    server
}

fn addr(server: &DnsServer) -> SocketAddr {
    server.local_addrs()[0]
}

// ---- a raw DNS client -----------------------------------------------------------

fn encode(name: &str, qtype: RecordType, edns_payload: Option<u16>) -> (u16, Vec<u8>) {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        m.set_edns(edns);
    }
    (m.metadata.id, m.to_vec().unwrap())
}

/// One UDP query; returns the decoded answer and its size on the wire.
async fn udp_sized(server: SocketAddr, name: &str, qtype: RecordType, edns: Option<u16>) -> (Message, usize) {
    let (id, bytes) = encode(name, qtype, edns);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&bytes, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    within(&format!("UDP answer for {name} {qtype}"), async {
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.unwrap();
            let m = Message::from_vec(&buf[..n]).unwrap();
            if from == server && m.metadata.id == id {
                return (m, n);
            }
        }
    })
    .await
}

async fn udp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    udp_sized(server, name, qtype, Some(1232)).await.0
}

async fn tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let (id, bytes) = encode(name, qtype, None);
    within(&format!("TCP answer for {name} {qtype}"), async {
        let mut stream = TcpStream::connect(server).await.unwrap();
        stream.write_all(&u16::try_from(bytes.len()).unwrap().to_be_bytes()).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf).unwrap();
        assert_eq!(m.metadata.id, id);
        m
    })
    .await
}

fn ips(records: &[Record]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---- a fake upstream ------------------------------------------------------------

/// Answers every A question with 192.0.2.1 (three addresses for `big.*`, truncated over
/// UDP), `nx.*` with NXDOMAIN; over UDP and TCP on one port; counts the questions.
struct FakeUpstream {
    addr: SocketAddr,
    questions: Arc<AtomicUsize>,
}

async fn fake_upstream() -> FakeUpstream {
    let (udp, tcp) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let questions = Arc::new(AtomicUsize::new(0));
    let seen = questions.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = udp.recv_from(&mut buf).await else { return };
            let Ok(req) = Message::from_vec(&buf[..n]) else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = udp.send_to(&upstream_answer(&req, true).to_vec().unwrap(), from).await;
        }
    });
    let seen = questions.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = tcp.accept().await else { return };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Ok(req) = Message::from_vec(&buf) else { return };
                seen.fetch_add(1, Ordering::SeqCst);
                let out = upstream_answer(&req, false).to_vec().unwrap();
                let _ = stream.write_all(&u16::try_from(out.len()).unwrap().to_be_bytes()).await;
                let _ = stream.write_all(&out).await;
            });
        }
    });
    FakeUpstream { addr, questions }
}

fn upstream_answer(req: &Message, over_udp: bool) -> Message {
    let mut m = Message::response(req.metadata.id, OpCode::Query);
    m.metadata.recursion_available = true;
    let Some(q) = req.queries.first() else { return m };
    m.add_query(q.clone());
    let name = q.name().to_ascii().to_ascii_lowercase();
    if name.starts_with("nx.") {
        m.metadata.response_code = ResponseCode::NXDomain;
        return m;
    }
    let big = name.starts_with("big.");
    if big && over_udp {
        m.metadata.truncation = true;
        return m;
    }
    for i in 0..if big { 3 } else { 1 } {
        m.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A::new(192, 0, 2, 1 + i))));
    }
    m
}

// ---- the tests ------------------------------------------------------------------

#[tokio::test]
async fn cluster_ip_service_resolves_over_udp_and_tcp() {
    let server = start(vec![]).await;
    for m in [
        udp(addr(&server), "api.default.svc.cluster.local.", RecordType::A).await,
        tcp(addr(&server), "api.default.svc.cluster.local.", RecordType::A).await,
    ] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(ips(&m.answers), vec![ip("10.96.0.10")]);
        assert_eq!(m.answers[0].ttl, 5);
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn headless_service_resolves_to_its_ready_endpoints() {
    let server = start(vec![]).await;
    let m = udp(addr(&server), "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(ips(&m.answers), vec![ip("10.244.1.5"), ip("10.244.2.7")]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn statefulset_pod_resolves_by_hostname_in_any_case() {
    let server = start(vec![]).await;
    let m = udp(addr(&server), "Web-0.WEB.default.svc.cluster.local", RecordType::A).await;
    assert_eq!(ips(&m.answers), vec![ip("10.244.1.5")]);
    assert_eq!(m.answers[0].name.to_ascii(), "Web-0.WEB.default.svc.cluster.local.", "owner keeps the asked case");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn srv_answers_carry_the_targets_addresses() {
    let server = start(vec![]).await;
    let m = tcp(addr(&server), "_http._tcp.web.default.svc.cluster.local.", RecordType::SRV).await;
    let mut targets: Vec<(String, u16)> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.target.to_ascii(), s.port)),
            _ => None,
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            ("web-0.web.default.svc.cluster.local.".to_owned(), 8080),
            ("web-1.web.default.svc.cluster.local.".to_owned(), 8080)
        ]
    );
    assert_eq!(ips(&m.additionals), vec![ip("10.244.1.5"), ip("10.244.2.7")]);

    let m = udp(addr(&server), "_http._tcp.api.default.svc.cluster.local.", RecordType::SRV).await;
    assert!(matches!(m.answers.as_slice(), [r] if matches!(&r.data, RData::SRV(s)
        if s.port == 80 && s.target.to_ascii() == "api.default.svc.cluster.local.")));
    assert_eq!(ips(&m.additionals), vec![ip("10.96.0.10")]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn ptr_names_cluster_ips_and_endpoints() {
    let server = start(vec![]).await;
    for (reverse, expect) in [
        ("10.0.96.10.in-addr.arpa.", "api.default.svc.cluster.local."),
        ("5.1.244.10.in-addr.arpa.", "web-0.web.default.svc.cluster.local."),
    ] {
        let m = udp(addr(&server), reverse, RecordType::PTR).await;
        assert!(
            matches!(m.answers.as_slice(), [r] if matches!(&r.data, RData::PTR(p) if p.0.to_ascii() == expect)),
            "{reverse}: {m:?}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn missing_names_are_nxdomain_and_missing_types_nodata_both_with_the_soa() {
    let server = start(vec![]).await;
    let nx = udp(addr(&server), "nosuch.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.answers.is_empty());
    assert!(matches!(nx.authorities.as_slice(), [r] if r.record_type() == RecordType::SOA));

    for (name, qtype) in [
        ("api.default.svc.cluster.local.", RecordType::AAAA),
        ("default.svc.cluster.local.", RecordType::A),
        ("svc.cluster.local.", RecordType::A),
    ] {
        let m = udp(addr(&server), name, qtype).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name} {qtype}");
        assert!(m.answers.is_empty(), "{name} {qtype}: {m:?}");
        assert!(matches!(m.authorities.as_slice(), [r] if r.record_type() == RecordType::SOA), "{name} {qtype}");
    }
    let nx = udp(addr(&server), "nosuch.svc.cluster.local.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_update_is_seen_by_the_next_query() {
    let server = start(vec![]).await;
    let name = "late.default.svc.cluster.local.";
    assert_eq!(udp(addr(&server), name, RecordType::A).await.metadata.response_code, ResponseCode::NXDomain);

    let services = vec![service("late", "10.96.7.7", &[("http", 80)])];
    server.update(Records::build("cluster.local", &services, &[]));
    let m = udp(addr(&server), name, RecordType::A).await;
    assert_eq!(ips(&m.answers), vec![ip("10.96.7.7")]);
    // The old zone is gone entirely, not merged.
    let gone = udp(addr(&server), "api.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn names_outside_the_zone_are_forwarded_and_the_answer_relayed() {
    let upstream = fake_upstream().await;
    let server = start(vec![upstream.addr]).await;
    for m in [
        udp(addr(&server), "www.example.com.", RecordType::A).await,
        tcp(addr(&server), "www.example.com.", RecordType::A).await,
    ] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(!m.metadata.authoritative);
        assert_eq!(ips(&m.answers), vec![ip("192.0.2.1")]);
        assert_eq!(m.answers[0].ttl, 60, "the upstream's record, as it sent it");
    }
    let nx = udp(addr(&server), "nx.example.com.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    // A reverse name the cluster does not know goes upstream too.
    let ptr = udp(addr(&server), "1.2.0.192.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(ptr.metadata.response_code, ResponseCode::NoError);
    assert_eq!(upstream.questions.load(Ordering::SeqCst), 4);

    let metrics = server.metrics();
    // Responses are counted once sent, so the client can see one before it is counted.
    let counts = || {
        (metrics.forwarded(), metrics.responses(ResponseCode::NoError), metrics.responses(ResponseCode::NXDomain))
    };
    wait_for("forwarded, NOERROR and NXDOMAIN counted", counts, |c| *c == (4, 3, 1)).await;
    let mut text = String::new();
    metrics.render_prometheus(&mut text);
    assert!(text.contains("shoal_dns_forwarded_queries_total 4"), "{text}");
    assert!(text.contains("shoal_dns_queries_total{rcode=\"NOERROR\"} 3"), "{text}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_gives_servfail() {
    // Bound but never read: queries vanish, as with a dead server.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let server = start(vec![silent.local_addr().unwrap()]).await;
    let m = udp(addr(&server), "www.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let metrics = server.metrics();
    wait_for("failure counted", || (metrics.forward_failures(), metrics.responses(ResponseCode::ServFail)), |s| {
        *s == (1, 1)
    })
    .await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn without_upstream_outside_names_get_servfail_and_cluster_names_still_resolve() {
    let server = start(vec![]).await;
    let m = udp(addr(&server), "www.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = udp(addr(&server), "api.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(ips(&m.answers), vec![ip("10.96.0.10")]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_second_upstream_answers_when_the_first_is_dead() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let upstream = fake_upstream().await;
    let server = start(vec![silent.local_addr().unwrap(), upstream.addr]).await;
    let m = udp(addr(&server), "www.example.com.", RecordType::A).await;
    assert_eq!(ips(&m.answers), vec![ip("192.0.2.1")]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_truncated_upstream_answer_is_fetched_again_over_tcp() {
    let upstream = fake_upstream().await;
    let server = start(vec![upstream.addr]).await;
    let m = udp(addr(&server), "big.example.com.", RecordType::A).await;
    assert!(!m.metadata.truncation);
    assert_eq!(ips(&m.answers), vec![ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3")]);
    assert_eq!(upstream.questions.load(Ordering::SeqCst), 2, "once over UDP, once over TCP");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_external_name_leaving_the_cluster_is_followed_upstream() {
    let upstream = fake_upstream().await;
    let server = start(vec![upstream.addr]).await;
    let m = udp(addr(&server), "search.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(matches!(&m.answers[0].data, RData::CNAME(c) if c.0.to_ascii() == "search.example.com."));
    assert_eq!(ips(&m.answers), vec![ip("192.0.2.1")]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn large_answers_are_truncated_over_udp_and_complete_over_tcp() {
    let server = start(vec![]).await;
    let endpoints: Vec<(String, Option<&str>, bool)> =
        (0..100).map(|i| (format!("10.244.{}.{}", i / 200, i % 200 + 1), None, true)).collect();
    let endpoints: Vec<(&str, Option<&str>, bool)> = endpoints.iter().map(|(a, h, r)| (a.as_str(), *h, *r)).collect();
    let services = vec![service("many", "None", &[("http", 80)])];
    server.update(Records::build("cluster.local", &services, &[slice("many", &endpoints, 80)]));
    let name = "many.default.svc.cluster.local.";

    let (plain, size) = udp_sized(addr(&server), name, RecordType::A, None).await;
    assert!(plain.metadata.truncation, "TC set without EDNS");
    assert!(size <= 512, "{size} bytes over 512");
    assert!(plain.answers.len() < 100);

    let (edns, size) = udp_sized(addr(&server), name, RecordType::A, Some(4096)).await;
    assert!(!edns.metadata.truncation, "fits in 4096 bytes ({size})");
    assert_eq!(edns.answers.len(), 100);

    let full = tcp(addr(&server), name, RecordType::A).await;
    assert!(!full.metadata.truncation);
    assert_eq!(full.answers.len(), 100);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn every_listen_address_serves_and_stop_closes_them() {
    let config = ServerConfig::new(vec!["127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()], vec![]);
    let server = within("starting", DnsServer::start(config)).await.unwrap();
    server.update(cluster());
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0], addrs[1]);
    for a in &addrs {
        assert_eq!(ips(&udp(*a, "api.default.svc.cluster.local.", RecordType::A).await.answers), vec![ip("10.96.0.10")]);
        assert_eq!(ips(&tcp(*a, "api.default.svc.cluster.local.", RecordType::A).await.answers), vec![ip("10.96.0.10")]);
    }
    within("stopping", server.stop()).await.unwrap();
    for a in addrs {
        assert!(TcpStream::connect(a).await.is_err(), "{a} still accepts TCP after stop");
    }
}

#[tokio::test]
async fn forwarding_to_itself_is_refused_at_start() {
    // resolv.conf parsing feeds the upstream list; a server never forwards to itself.
    assert_eq!(upstream_from_resolv_conf("nameserver 127.0.0.1\n"), vec!["127.0.0.1:53".parse::<SocketAddr>().unwrap()]);
    let probe = within("starting", DnsServer::start(ServerConfig::new(vec!["127.0.0.1:0".parse().unwrap()], vec![])))
        .await
        .unwrap();
    let own = probe.local_addrs()[0];
    probe.stop().await.unwrap();
    let config = ServerConfig::new(vec![own], vec![own]).with_upstream_timeout(Duration::from_millis(300));
    let server = within("starting on the same port", DnsServer::start(config)).await.unwrap();
    let m = udp(own, "www.example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "no upstream left, and no loop");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_invalid_domain_is_refused_at_start() {
    let config = ServerConfig::new(vec!["127.0.0.1:0".parse().unwrap()], vec![]).with_domain("");
    assert!(matches!(DnsServer::start(config).await, Err(cluster_dns::DnsError::InvalidDomain { .. })));
}
