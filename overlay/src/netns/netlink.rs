//! A small synchronous rtnetlink client: one `NETLINK_ROUTE` socket, bound to the network
//! namespace it was opened in, and the few requests the node bridge and the pod veths
//! need (links, addresses, the default route). A socket opened in a namespace keeps
//! working on that namespace whatever thread uses it later, so a pod's namespace is
//! entered only for the instant it takes to open one ([`in_netns`]).

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

/// Runs `f` on a thread that has joined the network namespace at `path` (a file such as
/// `/proc/PID/ns/net` or `/run/netns/NAME`); the caller's own threads never move.
pub fn in_netns<R: Send>(path: &Path, f: impl FnOnce() -> io::Result<R> + Send) -> io::Result<R> {
    let ns = File::open(path).map_err(|e| io::Error::new(e.kind(), format!("opening network namespace {}: {e}", path.display())))?;
    in_netns_file(&ns, f).map_err(|e| io::Error::new(e.kind(), format!("in network namespace {}: {e}", path.display())))
}

/// As [`in_netns`], with the namespace as an open file.
pub fn in_netns_file<R: Send>(ns: &File, f: impl FnOnce() -> io::Result<R> + Send) -> io::Result<R> {
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns on this thread only, with a valid open namespace fd.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .map_err(|_| io::Error::other("network namespace thread panicked"))?
    })
}

/// The calling thread's own network namespace, as a file that keeps naming it.
pub fn current_netns() -> io::Result<File> {
    File::open("/proc/thread-self/ns/net")
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub up: bool,
    pub master: Option<u32>,
}

pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

/// Whether an error is the kernel's "it is not there".
pub fn is_not_found(e: &io::Error) -> bool {
    matches!(errno(e), Some(libc::ENODEV) | Some(libc::ENOENT) | Some(libc::ESRCH))
}

/// Whether an error is the kernel's "it is already there".
pub fn is_exists(e: &io::Error) -> bool {
    errno(e) == Some(libc::EEXIST)
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { socket, seq: 0, buf: vec![0; 64 * 1024] })
    }

    /// A socket in the network namespace `ns`.
    pub fn open_in(ns: &File) -> io::Result<Self> {
        in_netns_file(ns, Self::open)
    }

    /// Sends one request and collects the replies (all parts of a dump), failing with the
    /// kernel's errno when it refuses.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off < n {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("decoding a netlink reply: {e}")))?;
                let len = reply.header.length as usize;
                let ours = reply.header.sequence_number == self.seq;
                match reply.payload {
                    _ if !ours => {}
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(io::Error::from_raw_os_error(-e.raw_code())),
                    NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(m) => {
                        replies.push(m);
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
    }

    fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, NLM_F_ACK | flags).map(|_| ())
    }

    /// The link called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(Link {
                    index: l.header.index,
                    up: l.header.flags.contains(LinkFlags::Up),
                    master: l.attributes.iter().find_map(|a| match a {
                        LinkAttribute::Controller(i) => Some(*i),
                        _ => None,
                    }),
                }),
                _ => None,
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How many links have `master` as their bridge.
    pub fn ports(&mut self, master: u32) -> io::Result<usize> {
        let replies = self.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
        Ok(replies
            .iter()
            .filter(|r| match r {
                RouteNetlinkMessage::NewLink(l) => l.attributes.iter().any(|a| matches!(a, LinkAttribute::Controller(i) if *i == master)),
                _ => false,
            })
            .count())
    }

    /// Creates a bridge (up).
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.ack(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Creates a veth pair in one request: `host` on this socket's namespace, enslaved to
    /// `master` and up; its peer `peer` created directly in the namespace of `peer_ns` (down).
    pub fn add_veth(&mut self, host: &str, master: u32, peer: &str, peer_ns: &File, mtu: Option<u32>) -> io::Result<()> {
        // The peer is brought up from inside its namespace: up at creation, it would be
        // opened before the pair is linked, which veth refuses (ENOTCONN).
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::Controller(master));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
            p.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth), LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p)))]));
        self.ack(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Turns hairpin mode on for a bridge port (a pod reaching itself through a Service).
    pub fn set_hairpin(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(true)])),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(m), 0)
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.ack(RouteNetlinkMessage::SetLink(m), 0)
    }

    /// Deletes a link (a veth's peer goes with it); "not there" counts as done.
    pub fn del_link(&mut self, name: &str) -> io::Result<bool> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.ack(RouteNetlinkMessage::DelLink(m), 0) {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The IPv4 addresses (with prefix lengths) of the link `index`.
    pub fn addresses(&mut self, index: u32) -> io::Result<Vec<(Ipv4Addr, u8)>> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        let replies = self.request(RouteNetlinkMessage::GetAddress(m), NLM_F_DUMP)?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == index => {
                    let ip = a.attributes.iter().find_map(|at| match at {
                        AddressAttribute::Local(std::net::IpAddr::V4(ip)) | AddressAttribute::Address(std::net::IpAddr::V4(ip)) => Some(*ip),
                        _ => None,
                    })?;
                    Some((ip, a.header.prefix_len))
                }
                _ => None,
            })
            .collect())
    }

    /// Adds `ip/prefix` to the link `index` (with its broadcast address); an address
    /// already there counts as done.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(ip.into()));
        m.attributes.push(AddressAttribute::Address(ip.into()));
        if prefix < 31 {
            let host = u32::MAX >> prefix;
            m.attributes.push(AddressAttribute::Broadcast(Ipv4Addr::from(u32::from(ip) | host)));
        }
        match self.ack(RouteNetlinkMessage::NewAddress(m), NLM_F_CREATE | NLM_F_EXCL) {
            Err(e) if is_exists(&e) => Ok(()),
            other => other,
        }
    }

    /// A route to `network/prefix` straight out of link `index` (no gateway, scope link),
    /// as a TUN device needs.
    fn device_route(index: u32, network: Ipv4Addr, prefix: u8) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = prefix;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Link;
        m.header.kind = RouteType::Unicast;
        m.attributes.push(RouteAttribute::Destination(RouteAddress::Inet(network)));
        m.attributes.push(RouteAttribute::Oif(index));
        m
    }

    /// Adds the route to `network/prefix` out of link `index`; one already there counts as done.
    pub fn add_device_route(&mut self, index: u32, network: Ipv4Addr, prefix: u8) -> io::Result<()> {
        match self.ack(RouteNetlinkMessage::NewRoute(Self::device_route(index, network, prefix)), NLM_F_CREATE | NLM_F_EXCL) {
            Err(e) if is_exists(&e) => Ok(()),
            other => other,
        }
    }

    /// Deletes the route to `network/prefix` out of link `index`; returns whether it was there.
    pub fn del_device_route(&mut self, index: u32, network: Ipv4Addr, prefix: u8) -> io::Result<bool> {
        match self.ack(RouteNetlinkMessage::DelRoute(Self::device_route(index, network, prefix)), 0) {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds the default route via `gateway` out of link `index`; one already there counts as done.
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> io::Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = 0;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(index));
        match self.ack(RouteNetlinkMessage::NewRoute(m), NLM_F_CREATE | NLM_F_EXCL) {
            Err(e) if is_exists(&e) => Ok(()),
            other => other,
        }
    }
}
