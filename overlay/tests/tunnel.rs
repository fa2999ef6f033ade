//! The node overlay on a real kernel (needs root): two nodes in namespaces of their own,
//! joined by an underlay bridge, each running its overlay shell inside its namespace; a
//! pod on node 1 talks TCP to a pod on node 2 and back through the TUN + UDP path, and
//! forged datagrams (unknown sender, spoofed inner source) are dropped and counted.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{Netns, World};
use overlay::netns::netlink::in_netns;
use overlay::tunnel::ipv4::build_packet;
use overlay::tunnel::shell::{ShellOptions, DEFAULT_DEVICE};
use overlay::tunnel::{DropReason, Metrics, DEFAULT_PORT};

/// A TCP listener in `server`'s namespace echoing `len` bytes to a client in `client`'s;
/// returns the address the server saw the client at.
fn tcp_echo(server: &Netns, server_ip: Ipv4Addr, client: &Netns, len: usize) -> SocketAddr {
    let listener = in_netns(&server.path(), || TcpListener::bind((server_ip, 0))).expect("listening in the pod");
    let addr = listener.local_addr().expect("the listener's address");
    let echo = std::thread::spawn(move || -> std::io::Result<SocketAddr> {
        let (mut s, peer) = listener.accept()?;
        let mut buf = vec![0u8; len];
        s.read_exact(&mut buf)?;
        s.write_all(&buf)?;
        Ok(peer)
    });
    let mut c = in_netns(&client.path(), || TcpStream::connect_timeout(&addr, Duration::from_secs(5))).expect("connecting across the overlay");
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("a read timeout");
    let sent: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    c.write_all(&sent).expect("sending through the overlay");
    let mut got = vec![0u8; len];
    c.read_exact(&mut got).expect("the echo through the overlay");
    assert!(got == sent, "the echo differs from what was sent");
    echo.join().expect("the echo thread").expect("the echo server")
}

/// Waits until `f` holds for the node's counters, printing them when it never does.
fn wait_for_counter(metrics: &Metrics, what: &str, f: impl Fn(&overlay::tunnel::Snapshot) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !f(&metrics.snapshot()) {
        assert!(Instant::now() < deadline, "{what}: counters {:?}", metrics.snapshot());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `datagram` from `from` (an address of `ns`) to a node's overlay port.
fn send_from(ns: &Netns, from: Ipv4Addr, to: Ipv4Addr, datagram: &[u8]) {
    let socket = in_netns(&ns.path(), || UdpSocket::bind((from, 0))).expect("a forging socket");
    socket.send_to(datagram, SocketAddrV4::new(to, DEFAULT_PORT)).expect("sending a forged datagram");
}

/// A UDP datagram (checksum 0: none, as IPv4 allows) from `src` to `dst:port` with `body`.
fn inner_udp(src: Ipv4Addr, dst: Ipv4Addr, port: u16, body: &[u8]) -> Vec<u8> {
    let mut udp = Vec::with_capacity(8 + body.len());
    udp.extend_from_slice(&4000u16.to_be_bytes());
    udp.extend_from_slice(&port.to_be_bytes());
    udp.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(body);
    build_packet(src, dst, 64, 17, &udp)
}

fn received(socket: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1500];
    socket.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

#[test]
fn pods_on_two_nodes_talk_through_the_per_packet_overlay_and_forged_datagrams_are_dropped() {
    two_nodes(ShellOptions::per_packet());
}

#[test]
fn pods_on_two_nodes_talk_through_the_offloaded_overlay_and_forged_datagrams_are_dropped() {
    two_nodes(ShellOptions::default());
}

#[test]
fn pods_on_two_nodes_talk_through_a_two_queue_overlay_and_forged_datagrams_are_dropped() {
    two_nodes(ShellOptions { queues: 2, offload: true });
}

fn two_nodes(options: ShellOptions) {
    let world = World::new(2);
    let (n1, n2) = (&world.nodes[0], &world.nodes[1]);
    let o1 = world.start_overlay(0, options, 1);
    let o2 = world.start_overlay(1, options, 1);

    // The device, its MTU and the route of the cluster CIDR, in the node's namespace only.
    let link = n1.ns.ip(&["link", "show", DEFAULT_DEVICE]);
    assert!(link.contains("mtu 1472") && link.contains("UP"), "{link}");
    let routes = n1.ns.ip(&["route"]);
    assert!(routes.contains(&format!("10.244.0.0/16 dev {DEFAULT_DEVICE}")), "{routes}");
    assert!(routes.contains("10.244.1.0/24 dev shoal0"), "the own subnet stays on the bridge: {routes}");

    // Pod to pod, both ways, with more than one MTU of data (and the pod's real source).
    let seen = tcp_echo(&n2.pod, n2.pod_ip, &n1.pod, 256 * 1024);
    assert_eq!(seen.ip(), std::net::IpAddr::V4(n1.pod_ip), "no NAT on the way");
    let seen = tcp_echo(&n1.pod, n1.pod_ip, &n2.pod, 64 * 1024);
    assert_eq!(seen.ip(), std::net::IpAddr::V4(n2.pod_ip));
    let (s1, s2) = (o1.metrics.snapshot(), o2.metrics.snapshot());
    assert!(s1.sent_packets > 100 && s2.received_packets > 100, "{s1:?} {s2:?}");
    assert!(s2.sent_packets > 0 && s1.received_packets > 0, "{s1:?} {s2:?}");
    assert_eq!(s2.dropped, [0; 5], "nothing dropped on the honest path: {s2:?}");

    // A listener in pod 2 for forged packets; a correct one shows the forgery reaches it.
    let sink = in_netns(&n2.pod.path(), || UdpSocket::bind((n2.pod_ip, 0))).expect("a sink in pod 2");
    sink.set_read_timeout(Some(Duration::from_millis(500))).expect("a read timeout");
    let port = sink.local_addr().expect("the sink's address").port();
    send_from(&n1.ns, n1.underlay_ip, n2.underlay_ip, &inner_udp(n1.pod_ip, n2.pod_ip, port, b"honest"));
    assert_eq!(received(&sink).as_deref(), Some(&b"honest"[..]), "a well-formed datagram from node 1 is delivered");

    // Node 1 forging a source of node 3's subnet: dropped as spoofed.
    let before = o2.metrics.snapshot();
    send_from(&n1.ns, n1.underlay_ip, n2.underlay_ip, &inner_udp(Ipv4Addr::new(10, 244, 3, 7), n2.pod_ip, port, b"spoofed"));
    wait_for_counter(&o2.metrics, "a spoofed source counted", |s| s.dropped(DropReason::SpoofedSource) == before.dropped(DropReason::SpoofedSource) + 1);
    assert_eq!(received(&sink), None, "the spoofed packet reached the pod");

    // A sender that is no node (an extra address on the underlay bridge): unknown peer.
    world.underlay.ip(&["addr", "add", "192.168.77.99/24", "dev", "br0"]);
    send_from(&world.underlay, Ipv4Addr::new(192, 168, 77, 99), n2.underlay_ip, &inner_udp(n1.pod_ip, n2.pod_ip, port, b"stranger"));
    wait_for_counter(&o2.metrics, "an unknown peer counted", |s| s.dropped(DropReason::UnknownPeer) == before.dropped(DropReason::UnknownPeer) + 1);
    assert_eq!(received(&sink), None, "the stranger's packet reached the pod");

    let mut text = String::new();
    o2.metrics.render_prometheus(&mut text);
    assert!(text.contains("shoal_overlay_dropped_packets_total{reason=\"spoofed_source\"} 1"), "{text}");
    assert!(text.contains("shoal_overlay_dropped_packets_total{reason=\"unknown_peer\"} 1"), "{text}");

    // Stopping removes the device and its route.
    o1.stop().expect("stopping node 1's overlay");
    assert!(!n1.ns.links().contains(&DEFAULT_DEVICE.to_string()), "{:?}", n1.ns.links());
    assert!(!n1.ns.ip(&["route"]).contains("10.244.0.0/16"), "{}", n1.ns.ip(&["route"]));
    o2.stop().expect("stopping node 2's overlay");
    assert!(!n2.ns.links().contains(&DEFAULT_DEVICE.to_string()));

    let names: Vec<String> = world.nodes.iter().flat_map(|n| [n.ns.name.clone(), n.pod.name.clone()]).chain([world.underlay.name.clone()]).collect();
    drop(world);
    let list = common::ip(&["netns", "list"]).expect("ip netns list");
    for n in names {
        assert!(!list.contains(&n), "{n} left behind: {list}");
    }
}
