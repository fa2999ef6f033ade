//! Stale UDP conntrack entries, as kube-proxy clears them: UDP has no end of flow, so an
//! entry DNATed to an endpoint that went keeps sending the client's packets there until
//! it times out. [`stale_udp`] says which (pure, from the UDP destinations of two
//! rulesets); [`CtNetlink`] lists the entries through ctnetlink and deletes those.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use super::netlink::msg::{attrs, replies, Messages, AF_INET, NFNL_SUBSYS_CTNETLINK, NLM_F_ACK, NLM_F_DUMP};
use super::netlink::{Conn, NetlinkError};
use super::ruleset::UdpDest;

const IPCTNL_MSG_CT_GET: u8 = 1;
const IPCTNL_MSG_CT_DELETE: u8 = 2;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const IPPROTO_UDP: u8 = 17;

/// UDP conntrack entries to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StaleUdp {
    /// Flows to `dest` DNATed to `endpoint`, which it no longer uses.
    Endpoint { dest: UdpDest, endpoint: (Ipv4Addr, u16) },
    /// Every flow to `dest`: it lost its last endpoint, or got its first (entries made
    /// while it had none were not DNATed and would keep its packets from the endpoints).
    Destination { dest: UdpDest },
}

/// What changed between the UDP destinations of the last sync (`None`: none yet, so
/// nothing is known to be stale) and the new ones.
pub fn stale_udp(old: Option<&BTreeMap<UdpDest, BTreeSet<(Ipv4Addr, u16)>>>, new: &BTreeMap<UdpDest, BTreeSet<(Ipv4Addr, u16)>>) -> Vec<StaleUdp> {
    let Some(old) = old else { return Vec::new() };
    let empty = BTreeSet::new();
    let mut out = Vec::new();
    for (dest, eps) in old {
        let now = new.get(dest).unwrap_or(&empty);
        out.extend(eps.difference(now).map(|ep| StaleUdp::Endpoint { dest: *dest, endpoint: *ep }));
        if !eps.is_empty() && now.is_empty() {
            out.push(StaleUdp::Destination { dest: *dest });
        }
    }
    for (dest, eps) in new {
        if !eps.is_empty() && old.get(dest).is_none_or(BTreeSet::is_empty) {
            out.push(StaleUdp::Destination { dest: *dest });
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ConntrackError {
    #[error("listing conntrack entries")]
    List(#[source] NetlinkError),
    #[error("deleting {count} conntrack entries")]
    Delete { count: usize, #[source] source: NetlinkError },
}

/// Clears conntrack entries (the seam; [`FakeConntrack`] records).
pub trait Conntrack: Send + Sync + 'static {
    /// Deletes the entries `stale` names; how many went.
    fn clear(&self, stale: &[StaleUdp]) -> Result<usize, ConntrackError>;
}

/// One IPv4 conntrack entry, as ctnetlink lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub proto: u8,
    /// The original direction: client → the address it asked for.
    pub orig_src: (Ipv4Addr, u16),
    pub orig_dst: (Ipv4Addr, u16),
    /// The reply's source: the endpoint after DNAT.
    pub reply_src: (Ipv4Addr, u16),
    pub zone: Option<u16>,
}

impl Entry {
    fn matches(&self, s: &StaleUdp) -> bool {
        if self.proto != IPPROTO_UDP {
            return false;
        }
        let to = |dest: &UdpDest| match *dest {
            UdpDest::Ip(ip, port) => self.orig_dst == (ip, port),
            UdpDest::NodePort(port) => self.orig_dst.1 == port,
        };
        match s {
            StaleUdp::Endpoint { dest, endpoint } => to(dest) && self.reply_src == *endpoint && self.reply_src != self.orig_dst,
            StaleUdp::Destination { dest } => to(dest),
        }
    }
}

/// ctnetlink in the calling thread's network namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct CtNetlink;

impl CtNetlink {
    /// Every IPv4 entry of the conntrack table.
    pub fn list(&self) -> Result<Vec<Entry>, NetlinkError> {
        let conn = Conn::open()?;
        let mut m = Messages::with_capacity(32);
        m.start(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_INET);
        m.end();
        conn.send(&m.into_bytes())?;
        let mut out = Vec::new();
        conn.recv_dump(|r| out.extend(parse_entry(r.attrs())))?;
        Ok(out)
    }

    /// Deletes `entries` (by their original tuple); already gone counts as done.
    pub fn delete(&self, entries: &[Entry]) -> Result<usize, NetlinkError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let conn = Conn::open()?;
        let mut m = Messages::with_capacity(entries.len() * 96);
        for e in entries {
            m.start(NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, AF_INET);
            m.nest(CTA_TUPLE_ORIG, |m| {
                m.nest(CTA_TUPLE_IP, |m| {
                    m.bytes(CTA_IP_V4_SRC, &e.orig_src.0.octets());
                    m.bytes(CTA_IP_V4_DST, &e.orig_dst.0.octets());
                });
                m.nest(CTA_TUPLE_PROTO, |m| {
                    m.bytes(CTA_PROTO_NUM, &[e.proto]);
                    m.bytes(CTA_PROTO_SRC_PORT, &e.orig_src.1.to_be_bytes());
                    m.bytes(CTA_PROTO_DST_PORT, &e.orig_dst.1.to_be_bytes());
                });
            });
            if let Some(z) = e.zone {
                m.bytes(CTA_ZONE, &z.to_be_bytes());
            }
            m.end();
        }
        conn.send(&m.into_bytes())?;
        // ctnetlink handles the messages inside `sendmsg`: every answer is queued.
        let mut deleted = 0;
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        loop {
            buf.clear();
            match conn.sock().recv(&mut buf, libc::MSG_DONTWAIT) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(NetlinkError::Recv(e)),
            }
            for r in replies(&buf) {
                match r.error() {
                    Some((0, _)) => deleted += 1,
                    Some((e, _)) if -e == libc::ENOENT => {}
                    Some((e, seq)) => return Err(NetlinkError::Refused { seq, errno: io::Error::from_raw_os_error(-e), message: r.error_message().unwrap_or_default() }),
                    None => {}
                }
            }
        }
        Ok(deleted)
    }
}

impl Conntrack for CtNetlink {
    fn clear(&self, stale: &[StaleUdp]) -> Result<usize, ConntrackError> {
        let entries = self.list().map_err(ConntrackError::List)?;
        let doomed: Vec<Entry> = entries.into_iter().filter(|e| stale.iter().any(|s| e.matches(s))).collect();
        self.delete(&doomed).map_err(|source| ConntrackError::Delete { count: doomed.len(), source })
    }
}

/// Protocol, source and destination of one direction.
type Tuple = (u8, (Ipv4Addr, u16), (Ipv4Addr, u16));

/// The tuple of a nested `CTA_TUPLE_*`.
fn parse_tuple(buf: &[u8]) -> Option<Tuple> {
    let (mut src, mut dst, mut proto, mut sport, mut dport) = (None, None, None, 0, 0);
    for (ty, v) in attrs(buf) {
        match ty {
            CTA_TUPLE_IP => {
                for (t, a) in attrs(v) {
                    let ip = <[u8; 4]>::try_from(a).ok().map(Ipv4Addr::from);
                    match t {
                        CTA_IP_V4_SRC => src = ip,
                        CTA_IP_V4_DST => dst = ip,
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (t, a) in attrs(v) {
                    let port = <[u8; 2]>::try_from(a).map(u16::from_be_bytes).unwrap_or(0);
                    match t {
                        CTA_PROTO_NUM => proto = a.first().copied(),
                        CTA_PROTO_SRC_PORT => sport = port,
                        CTA_PROTO_DST_PORT => dport = port,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some((proto?, (src?, sport), (dst?, dport)))
}

fn parse_entry<'a>(top: impl Iterator<Item = (u16, &'a [u8])>) -> Option<Entry> {
    let (mut orig, mut reply, mut zone) = (None, None, None);
    for (ty, v) in top {
        match ty {
            CTA_TUPLE_ORIG => orig = parse_tuple(v),
            CTA_TUPLE_REPLY => reply = parse_tuple(v),
            CTA_ZONE => zone = <[u8; 2]>::try_from(v).ok().map(u16::from_be_bytes).filter(|z| *z != 0),
            _ => {}
        }
    }
    let (proto, orig_src, orig_dst) = orig?;
    let (_, reply_src, _) = reply?;
    Some(Entry { proto, orig_src, orig_dst, reply_src, zone })
}

/// A recording fake: what it was asked to clear.
#[derive(Debug, Clone, Default)]
pub struct FakeConntrack {
    asked: Arc<Mutex<Vec<StaleUdp>>>,
}

impl FakeConntrack {
    pub fn asked(&self) -> Vec<StaleUdp> {
        self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Conntrack for FakeConntrack {
    fn clear(&self, stale: &[StaleUdp]) -> Result<usize, ConntrackError> {
        self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(stale);
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn a_removed_endpoint_and_a_destination_losing_its_last_one_are_stale() {
        let svc = UdpDest::Ip(ip("10.96.0.10"), 53);
        let np = UdpDest::NodePort(30053);
        let old = BTreeMap::from([(svc, BTreeSet::from([(ip("10.244.1.2"), 5353), (ip("10.244.1.3"), 5353)])), (np, BTreeSet::from([(ip("10.244.1.2"), 5353)]))]);
        let new = BTreeMap::from([(svc, BTreeSet::from([(ip("10.244.1.3"), 5353)])), (np, BTreeSet::new())]);
        assert_eq!(
            stale_udp(Some(&old), &new),
            [
                StaleUdp::Endpoint { dest: svc, endpoint: (ip("10.244.1.2"), 5353) },
                StaleUdp::Endpoint { dest: np, endpoint: (ip("10.244.1.2"), 5353) },
                StaleUdp::Destination { dest: np },
            ]
        );
        assert!(stale_udp(Some(&new), &new).is_empty());
        assert!(stale_udp(None, &new).is_empty(), "the first sync knows no history");
        assert_eq!(stale_udp(Some(&new), &old), [StaleUdp::Destination { dest: np }], "a first endpoint: flows made without one go");
    }

    #[test]
    fn entries_match_by_original_destination_and_the_endpoint_that_answers() {
        let e = Entry { proto: 17, orig_src: (ip("10.244.1.9"), 40000), orig_dst: (ip("10.96.0.10"), 53), reply_src: (ip("10.244.1.2"), 5353), zone: None };
        let svc = UdpDest::Ip(ip("10.96.0.10"), 53);
        assert!(e.matches(&StaleUdp::Endpoint { dest: svc, endpoint: (ip("10.244.1.2"), 5353) }));
        assert!(!e.matches(&StaleUdp::Endpoint { dest: svc, endpoint: (ip("10.244.1.3"), 5353) }));
        assert!(e.matches(&StaleUdp::Destination { dest: svc }));
        assert!(!e.matches(&StaleUdp::Destination { dest: UdpDest::NodePort(30053) }));
        assert!(!Entry { proto: 6, ..e }.matches(&StaleUdp::Destination { dest: svc }), "TCP flows end by themselves");
    }
}
