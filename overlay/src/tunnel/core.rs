//! The overlay's decisions, sans-I/O (STYLE.md §10): which node a packet read from the
//! TUN goes to, and whether a datagram from the network may be written to the TUN. It
//! holds this node's subnet and the peer table; packets come in as bytes and leave as an
//! [`Action`]; the shell ([`super::shell`]) does the reads and sends. Packet handling
//! takes `&self` (counters are atomic), so both directions can share one `Tunnel`
//! behind a read lock; only peer changes need `&mut self`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use super::ipv4;
use super::metrics::{DropReason, Metrics};
use crate::ipam::Subnet;

/// The Flannel UDP backend's port, the overlay's default.
pub const DEFAULT_PORT: u16 = 8285;
/// The UDP and IPv4 headers the wrapping adds: the TUN's MTU is the underlay's minus this.
pub const ENCAP_OVERHEAD: u32 = 28;

/// Another node as the overlay sees it: where its overlay listens, and its pod subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub underlay: Ipv4Addr,
    pub subnet: Subnet,
}

/// What the caller does with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Send these bytes (the IP packet, TTL decremented) as one UDP datagram.
    SendTo(SocketAddrV4, &'a [u8]),
    /// Write these bytes (the datagram's IP packet) to the TUN.
    WriteTun(&'a [u8]),
    /// Nothing to do; the reason has been counted.
    Drop(DropReason),
}

/// Why a peer is not put in the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    #[error("node {node}: its subnet {subnet} overlaps this node's {own}")]
    OverlapsOwn { node: String, subnet: Subnet, own: Subnet },
    #[error("node {node}: its subnet {subnet} overlaps node {other}'s")]
    OverlapsPeer { node: String, subnet: Subnet, other: String },
    #[error("node {node}: its underlay address {underlay} is node {other}'s too")]
    SameUnderlay { node: String, underlay: Ipv4Addr, other: String },
}

/// This node's overlay: its subnet, the UDP port every node listens on, the peers.
#[derive(Debug)]
pub struct Tunnel {
    own: Subnet,
    port: u16,
    peers: BTreeMap<String, Peer>,
    /// Routes by prefix length, longest first: network → underlay address.
    routes: Vec<(u8, AddrMap<Ipv4Addr>)>,
    /// Underlay address → the subnet that node may send from.
    senders: AddrMap<Subnet>,
    metrics: Arc<Metrics>,
}

/// A map keyed by IPv4 addresses as `u32`, looked up once per packet: a multiplicative
/// hash instead of SipHash (the keys are node addresses from the store, not attacker
/// chosen, so flooding is no concern).
type AddrMap<V> = HashMap<u32, V, BuildHasherDefault<AddrHasher>>;

#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (u64::from(n) ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

fn mask(prefix_len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0)
}

fn overlaps(a: Subnet, b: Subnet) -> bool {
    let shorter = a.prefix_len().min(b.prefix_len());
    u32::from(a.network()) & mask(shorter) == u32::from(b.network()) & mask(shorter)
}

impl Tunnel {
    pub fn new(own: Subnet, port: u16) -> Self {
        Tunnel { own, port, peers: BTreeMap::new(), routes: Vec::new(), senders: AddrMap::default(), metrics: Arc::default() }
    }

    pub fn own_subnet(&self) -> Subnet {
        self.own
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The counters, shared with whoever renders them.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn peers(&self) -> &BTreeMap<String, Peer> {
        &self.peers
    }

    /// Replaces the peer table with `peers`; a peer that conflicts with this node or with
    /// one taken before it (in name order) is left out and returned as an error.
    pub fn set_peers(&mut self, peers: impl IntoIterator<Item = (String, Peer)>) -> Vec<PeerError> {
        let wanted: BTreeMap<String, Peer> = peers.into_iter().collect();
        self.peers.clear();
        let mut refused = Vec::new();
        for (name, peer) in wanted {
            match self.check(&name, peer) {
                Ok(()) => {
                    self.peers.insert(name, peer);
                }
                Err(e) => refused.push(e),
            }
        }
        self.rebuild();
        refused
    }

    /// Adds or changes one peer.
    pub fn upsert(&mut self, name: &str, peer: Peer) -> Result<(), PeerError> {
        self.check(name, peer)?;
        self.peers.insert(name.to_string(), peer);
        self.rebuild();
        Ok(())
    }

    /// Removes one peer; returns whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let had = self.peers.remove(name).is_some();
        self.rebuild();
        had
    }

    fn check(&self, name: &str, peer: Peer) -> Result<(), PeerError> {
        if overlaps(peer.subnet, self.own) {
            return Err(PeerError::OverlapsOwn { node: name.into(), subnet: peer.subnet, own: self.own });
        }
        for (other, p) in self.peers.iter().filter(|(n, _)| n.as_str() != name) {
            if overlaps(peer.subnet, p.subnet) {
                return Err(PeerError::OverlapsPeer { node: name.into(), subnet: peer.subnet, other: other.clone() });
            }
            if peer.underlay == p.underlay {
                return Err(PeerError::SameUnderlay { node: name.into(), underlay: peer.underlay, other: other.clone() });
            }
        }
        Ok(())
    }

    fn rebuild(&mut self) {
        let mut by_len: BTreeMap<u8, AddrMap<Ipv4Addr>> = BTreeMap::new();
        for p in self.peers.values() {
            by_len.entry(p.subnet.prefix_len()).or_default().insert(u32::from(p.subnet.network()), p.underlay);
        }
        self.routes = by_len.into_iter().rev().collect();
        self.senders = self.peers.values().map(|p| (u32::from(p.underlay), p.subnet)).collect();
    }

    /// The underlay address of the node whose subnet holds `dst`.
    pub fn route(&self, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let d = u32::from(dst);
        self.routes.iter().find_map(|(len, nets)| nets.get(&(d & mask(*len))).copied())
    }

    fn drop(&self, reason: DropReason) -> Action<'static> {
        self.metrics.dropped(reason);
        Action::Drop(reason)
    }

    /// A packet read from the TUN: to the node that holds its destination, TTL
    /// decremented in place.
    pub fn from_tun<'a>(&self, packet: &'a mut [u8]) -> Action<'a> {
        match self.forward(packet) {
            Ok((to, len)) => {
                self.metrics.sent(len);
                Action::SendTo(to, &packet[..len])
            }
            Err(reason) => self.drop(reason),
        }
    }

    /// A superpacket read from the TUN (a TSO or USO burst the shell cuts into `packets`
    /// packets of `bytes` in all, [`super::gso`]): decided once for all of them as
    /// [`Tunnel::from_tun`] decides one packet — they share the header, whose TTL is
    /// decremented here before the cutting copies it — and counted as what leaves.
    pub fn from_tun_burst<'a>(&self, superpacket: &'a mut [u8], packets: usize, bytes: usize) -> Action<'a> {
        match self.forward(superpacket) {
            Ok((to, len)) => {
                self.metrics.sent_many(packets, bytes);
                Action::SendTo(to, &superpacket[..len])
            }
            Err(reason) => {
                self.metrics.dropped_many(reason, packets);
                Action::Drop(reason)
            }
        }
    }

    /// The decision on a packet from the TUN: where to, and its length (TTL decremented).
    fn forward(&self, packet: &mut [u8]) -> Result<(SocketAddrV4, usize), DropReason> {
        let h = ipv4::parse(packet).map_err(|_| DropReason::Malformed)?;
        if self.own.contains(h.dst) {
            return Err(DropReason::NoRoute);
        }
        let underlay = self.route(h.dst).ok_or(DropReason::NoRoute)?;
        if h.ttl <= 1 {
            return Err(DropReason::TtlExceeded);
        }
        ipv4::decrement_ttl(&mut packet[..h.total_len]);
        Ok((SocketAddrV4::new(underlay, self.port), h.total_len))
    }

    /// A datagram from `src`: its payload goes to the TUN only when `src` is a known node,
    /// the inner source lies in that node's subnet and the inner destination in ours.
    pub fn from_udp<'a>(&self, src: SocketAddr, datagram: &'a [u8]) -> Action<'a> {
        let Some(subnet) = self.sender(src) else { return self.drop(DropReason::UnknownPeer) };
        match self.accept(subnet, datagram) {
            Ok(packet) => {
                self.metrics.received(packet.len());
                Action::WriteTun(packet)
            }
            Err(reason) => self.drop(reason),
        }
    }

    /// Datagrams from one sender (a coalesced receive), each decided as
    /// [`Tunnel::from_udp`] decides one, with the sender looked up once and the counters
    /// updated once: `write` gets every packet to write to the TUN, in order.
    pub fn from_udp_many<'a>(&self, src: SocketAddr, datagrams: impl IntoIterator<Item = &'a [u8]>, mut write: impl FnMut(&'a [u8])) {
        let Some(subnet) = self.sender(src) else {
            self.metrics.dropped_many(DropReason::UnknownPeer, datagrams.into_iter().count());
            return;
        };
        let (mut packets, mut bytes) = (0, 0);
        for d in datagrams {
            match self.accept(subnet, d) {
                Ok(packet) => {
                    packets += 1;
                    bytes += packet.len();
                    write(packet);
                }
                Err(reason) => self.metrics.dropped(reason),
            }
        }
        self.metrics.received_many(packets, bytes);
    }

    /// The subnet the node at `src` may send from, if it is a node.
    fn sender(&self, src: SocketAddr) -> Option<Subnet> {
        let SocketAddr::V4(src) = src else { return None };
        self.senders.get(&u32::from(*src.ip())).copied()
    }

    /// The packet a datagram from the node owning `subnet` carries, if it may enter.
    fn accept<'a>(&self, subnet: Subnet, datagram: &'a [u8]) -> Result<&'a [u8], DropReason> {
        let h = ipv4::parse_checked(datagram).map_err(|_| DropReason::Malformed)?;
        if !subnet.contains(h.src) {
            return Err(DropReason::SpoofedSource);
        }
        if !self.own.contains(h.dst) {
            return Err(DropReason::NoRoute);
        }
        Ok(&datagram[..h.total_len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::ipv4::build_packet;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Subnet {
        Subnet::parse(s).unwrap()
    }

    fn peer(underlay: &str, subnet: &str) -> Peer {
        Peer { underlay: ip(underlay), subnet: net(subnet) }
    }

    /// Node 1 (10.244.1.0/24) with nodes 2 and 3 as peers.
    fn node1() -> Tunnel {
        let mut t = Tunnel::new(net("10.244.1.0/24"), DEFAULT_PORT);
        let refused = t.set_peers([("node-2".to_string(), peer("192.168.77.2", "10.244.2.0/24")), ("node-3".to_string(), peer("192.168.77.3", "10.244.3.0/24"))]);
        assert!(refused.is_empty(), "{refused:?}");
        t
    }

    fn packet(src: &str, dst: &str, ttl: u8) -> Vec<u8> {
        build_packet(ip(src), ip(dst), ttl, 17, b"payload")
    }

    fn from(addr: &str) -> SocketAddr {
        SocketAddr::new(ip(addr).into(), DEFAULT_PORT)
    }

    #[test]
    fn a_packet_for_a_peers_subnet_goes_to_that_peer_with_its_ttl_decremented() {
        let t = node1();
        let mut p = packet("10.244.1.2", "10.244.3.9", 64);
        let Action::SendTo(to, bytes) = t.from_tun(&mut p) else { panic!("not sent") };
        assert_eq!(to, SocketAddrV4::new(ip("192.168.77.3"), 8285));
        let h = ipv4::parse_checked(bytes).expect("a valid packet with a right checksum");
        assert_eq!((h.src, h.dst, h.ttl), (ip("10.244.1.2"), ip("10.244.3.9"), 63));
        assert_eq!(&bytes[20..], b"payload");
        let s = t.metrics().snapshot();
        assert_eq!((s.sent_packets, s.sent_bytes), (1, 27));
    }

    #[test]
    fn a_datagram_from_a_peer_with_a_source_in_its_subnet_is_written_to_the_tun() {
        let t = node1();
        let p = packet("10.244.2.7", "10.244.1.2", 63);
        assert_eq!(t.from_udp(from("192.168.77.2"), &p), Action::WriteTun(&p[..]));
        let s = t.metrics().snapshot();
        assert_eq!((s.received_packets, s.received_bytes), (1, 27));
        let any_port = SocketAddr::new(ip("192.168.77.2").into(), 40000);
        assert!(matches!(t.from_udp(any_port, &p), Action::WriteTun(_)), "the sender's port is not checked");
    }

    #[test]
    fn a_datagram_with_an_inner_source_outside_the_senders_subnet_is_spoofed() {
        let t = node1();
        for src in ["10.244.3.7", "10.244.1.9", "8.8.8.8"] {
            let p = packet(src, "10.244.1.2", 63);
            assert_eq!(t.from_udp(from("192.168.77.2"), &p), Action::Drop(DropReason::SpoofedSource), "inner source {src}");
        }
        assert_eq!(t.metrics().snapshot().dropped(DropReason::SpoofedSource), 3);
        assert_eq!(t.metrics().snapshot().received_packets, 0);
    }

    #[test]
    fn a_datagram_from_an_unknown_sender_is_dropped() {
        let t = node1();
        let p = packet("10.244.2.7", "10.244.1.2", 63);
        assert_eq!(t.from_udp(from("192.168.77.9"), &p), Action::Drop(DropReason::UnknownPeer));
        let v6: SocketAddr = "[fd00::2]:8285".parse().unwrap();
        assert_eq!(t.from_udp(v6, &p), Action::Drop(DropReason::UnknownPeer));
        assert_eq!(t.metrics().snapshot().dropped(DropReason::UnknownPeer), 2);
    }

    #[test]
    fn a_removed_peer_is_unknown_and_unrouted() {
        let mut t = node1();
        assert!(t.remove("node-2"));
        assert!(!t.remove("node-2"));
        let p = packet("10.244.2.7", "10.244.1.2", 63);
        assert_eq!(t.from_udp(from("192.168.77.2"), &p), Action::Drop(DropReason::UnknownPeer));
        let mut out = packet("10.244.1.2", "10.244.2.7", 64);
        assert_eq!(t.from_tun(&mut out), Action::Drop(DropReason::NoRoute));
    }

    #[test]
    fn a_datagram_for_another_subnet_is_not_relayed() {
        let t = node1();
        let p = packet("10.244.2.7", "10.244.3.2", 63);
        assert_eq!(t.from_udp(from("192.168.77.2"), &p), Action::Drop(DropReason::NoRoute));
    }

    #[test]
    fn packets_to_the_own_subnet_or_to_no_node_are_not_tunnelled() {
        let t = node1();
        for dst in ["10.244.1.5", "10.244.9.1", "192.168.77.2", "1.1.1.1"] {
            let mut p = packet("10.244.1.2", dst, 64);
            assert_eq!(t.from_tun(&mut p), Action::Drop(DropReason::NoRoute), "to {dst}");
        }
        assert_eq!(t.metrics().snapshot().dropped(DropReason::NoRoute), 4);
        assert_eq!(t.metrics().snapshot().sent_packets, 0);
    }

    #[test]
    fn a_packet_whose_ttl_would_reach_zero_is_dropped() {
        let t = node1();
        for ttl in [0, 1] {
            let mut p = packet("10.244.1.2", "10.244.2.3", ttl);
            assert_eq!(t.from_tun(&mut p), Action::Drop(DropReason::TtlExceeded));
        }
        let mut p = packet("10.244.1.2", "10.244.2.3", 2);
        let Action::SendTo(_, bytes) = t.from_tun(&mut p) else { panic!("ttl 2 is sent") };
        assert_eq!(bytes[8], 1);
    }

    #[test]
    fn malformed_packets_are_dropped_both_ways() {
        let t = node1();
        let good = packet("10.244.1.2", "10.244.2.3", 64);
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0x45], good[..19].to_vec()];
        let mut v6 = good.clone();
        v6[0] = 0x65;
        cases.push(v6);
        let mut long = good.clone();
        long[3] = 200;
        cases.push(long);
        for mut c in cases.clone() {
            let shown = format!("{c:?}");
            assert_eq!(t.from_tun(&mut c), Action::Drop(DropReason::Malformed), "{shown}");
        }
        let mut bad_sum = packet("10.244.2.7", "10.244.1.2", 63);
        bad_sum[10] ^= 0xff;
        cases.push(bad_sum);
        for c in &cases {
            assert_eq!(t.from_udp(from("192.168.77.2"), c), Action::Drop(DropReason::Malformed), "{c:?}");
        }
        assert_eq!(t.metrics().snapshot().dropped(DropReason::Malformed), 11);
    }

    #[test]
    fn trailing_bytes_beyond_the_total_length_are_not_forwarded() {
        let t = node1();
        let mut p = packet("10.244.1.2", "10.244.2.3", 64);
        let len = p.len();
        p.extend_from_slice(&[0xee; 6]);
        let Action::SendTo(_, bytes) = t.from_tun(&mut p) else { panic!("not sent") };
        assert_eq!(bytes.len(), len);
    }

    #[test]
    fn conflicting_peers_are_refused_and_the_rest_taken() {
        let mut t = Tunnel::new(net("10.244.1.0/24"), DEFAULT_PORT);
        let refused = t.set_peers([
            ("a".to_string(), peer("192.168.77.2", "10.244.2.0/24")),
            ("b".to_string(), peer("192.168.77.3", "10.244.2.128/25")),
            ("c".to_string(), peer("192.168.77.2", "10.244.4.0/24")),
            ("d".to_string(), peer("192.168.77.5", "10.244.0.0/16")),
            ("e".to_string(), peer("192.168.77.6", "10.244.6.0/24")),
        ]);
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert!(matches!(refused[0], PeerError::OverlapsPeer { ref node, .. } if node == "b"));
        assert!(matches!(refused[1], PeerError::SameUnderlay { ref node, .. } if node == "c"));
        assert!(matches!(refused[2], PeerError::OverlapsOwn { ref node, .. } if node == "d"));
        assert_eq!(t.peers().keys().collect::<Vec<_>>(), ["a", "e"]);
        assert_eq!(t.route(ip("10.244.6.20")), Some(ip("192.168.77.6")));
        // A peer may move (new address or subnet) without conflicting with itself.
        t.upsert("a", peer("192.168.77.12", "10.244.2.0/24")).unwrap();
        assert_eq!(t.route(ip("10.244.2.20")), Some(ip("192.168.77.12")));
        let p = packet("10.244.2.7", "10.244.1.2", 63);
        assert_eq!(t.from_udp(from("192.168.77.2"), &p), Action::Drop(DropReason::UnknownPeer), "the old address is forgotten");
        assert!(t.upsert("f", peer("192.168.77.7", "10.244.6.0/23")).is_err());
    }

    #[test]
    fn a_burst_is_decided_once_and_counted_as_its_packets() {
        let t = node1();
        let mut p = packet("10.244.1.2", "10.244.3.9", 64);
        let Action::SendTo(to, bytes) = t.from_tun_burst(&mut p, 45, 66_000) else { panic!("not sent") };
        assert_eq!((to.ip(), bytes[8]), (&ip("192.168.77.3"), 63));
        let mut lost = packet("10.244.1.2", "10.244.9.9", 64);
        assert_eq!(t.from_tun_burst(&mut lost, 3, 4000), Action::Drop(DropReason::NoRoute));
        let s = t.metrics().snapshot();
        assert_eq!((s.sent_packets, s.sent_bytes, s.dropped(DropReason::NoRoute)), (45, 66_000, 3));
    }

    #[test]
    fn many_datagrams_from_one_sender_are_each_checked_and_counted_once() {
        let t = node1();
        let good = packet("10.244.2.7", "10.244.1.2", 63);
        let spoofed = packet("10.244.3.7", "10.244.1.2", 63);
        let mut written = Vec::new();
        t.from_udp_many(from("192.168.77.2"), [&good[..], &spoofed[..], &good[..]], |p| written.push(p.len()));
        assert_eq!(written, [27, 27]);
        t.from_udp_many(from("192.168.77.9"), [&good[..], &good[..]], |_| panic!("from no node"));
        let s = t.metrics().snapshot();
        assert_eq!((s.received_packets, s.received_bytes), (2, 54));
        assert_eq!((s.dropped(DropReason::SpoofedSource), s.dropped(DropReason::UnknownPeer)), (1, 2));
    }

    #[test]
    fn the_longest_prefix_wins() {
        let mut t = Tunnel::new(net("10.244.1.0/24"), 9000);
        t.upsert("wide", peer("192.168.77.2", "10.245.0.0/16")).unwrap();
        t.upsert("narrow", peer("192.168.77.3", "10.246.1.0/24")).unwrap();
        assert_eq!(t.route(ip("10.245.3.3")), Some(ip("192.168.77.2")));
        assert_eq!(t.route(ip("10.246.1.3")), Some(ip("192.168.77.3")));
        let mut p = packet("10.244.1.2", "10.246.1.3", 64);
        assert!(matches!(t.from_tun(&mut p), Action::SendTo(to, _) if to.port() == 9000));
    }
}
