//! The batched shell: the same two directions as the per-packet tasks, each on a thread
//! of its own, with the kernel's segmentation offloads at both ends so that one syscall
//! moves up to 64 KiB, and no copy in user space:
//!
//! - TUN → UDP: each read gives a TCP/UDP superpacket (`IFF_VNET_HDR` +
//!   `TUNSETOFFLOAD`); the core decides it once; [`gso`] writes the headers of the
//!   packets it becomes and leaves the payloads in the read buffer; the reads that are
//!   ready (up to [`READS`]) leave in one `sendmmsg`, each run of packets for one node as
//!   one `UDP_SEGMENT` message gathered from those headers and payloads.
//! - UDP → TUN: one `recvmmsg` fills up to [`RECEIVES`] buffers with coalesced datagrams
//!   (`UDP_GRO`); the core checks each; [`gro`] merges back-to-back TCP packets of a flow
//!   into one superpacket, written with one `writev` of its new headers and the payloads
//!   where they were received.
//!
//! The threads block in `poll` only when there is nothing to do, on their descriptor and
//! the shell's stop event. wireguard-go's `tun_linux.go` and `conn/` batching do the same
//! with a copy on each side.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::EventFd;
use tun_rs::SyncDevice;

use super::core::{Action, Tunnel};
use super::gro;
use super::gso::{self, Layout, Segments};
use super::udp_batch::{self, Message, RecvBatch, SendScratch, MAX_SEGMENTS, MAX_SEND_BYTES};
use super::vnet::{self, VnetHdr};
use super::DropReason;

type Shared = Arc<RwLock<Tunnel>>;

/// The largest IP packet (and the largest coalesced receive).
const MAX_PACKET: usize = 65_535;
/// TUN reads gathered before one `sendmmsg`: as many as are ready, up to this.
pub const READS: usize = 8;
/// Buffers one `recvmmsg` may fill.
pub const RECEIVES: usize = 8;

/// Starts the two threads of one queue.
pub(super) fn spawn(tunnel: &Shared, device: Arc<SyncDevice>, socket: Arc<UdpSocket>, stop: Arc<EventFd>, queue: usize) -> io::Result<Vec<JoinHandle<()>>> {
    let tx = {
        let (t, d, s, stop) = (tunnel.clone(), device.clone(), socket.clone(), stop.clone());
        std::thread::Builder::new().name(format!("overlay-tx-{queue}")).spawn(move || tun_to_udp(&t, &d, &s, &stop))?
    };
    let t = tunnel.clone();
    let rx = std::thread::Builder::new().name(format!("overlay-rx-{queue}")).spawn(move || udp_to_tun(&t, &device, &socket, &stop))?;
    Ok(vec![tx, rx])
}

fn tun_fd(device: &SyncDevice) -> BorrowedFd<'_> {
    // SAFETY: the descriptor belongs to `device`, which the borrow cannot outlive.
    unsafe { BorrowedFd::borrow_raw(device.as_raw_fd()) }
}

/// Waits until `fd` is ready for `events`; false once the shell stops.
fn wait(fd: BorrowedFd<'_>, events: PollFlags, stop: &EventFd) -> bool {
    let mut fds = [PollFd::new(fd, events), PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::NONE) {
        Ok(_) | Err(Errno::EINTR) => fds[1].revents().is_none_or(|r| r.is_empty()),
        Err(e) => {
            tracing::error!(error = %e, "polling the overlay's descriptors; this direction stops");
            false
        }
    }
}

fn stopped(stop: &EventFd) -> bool {
    let mut fds = [PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// One TUN read and what the core made of it.
struct Slot {
    buf: Vec<u8>,
    to: SocketAddrV4,
    /// A single packet of this length (after the virtio header), or `segments`.
    whole: Option<usize>,
    segments: Segments,
}

impl Slot {
    fn new() -> Self {
        Slot { buf: vec![0u8; vnet::LEN + MAX_PACKET], to: SocketAddrV4::new([0, 0, 0, 0].into(), 0), whole: None, segments: Segments::default() }
    }

    /// Decides the `n` bytes read: true when something is to be sent.
    fn prepare(&mut self, tunnel: &Shared, n: usize) -> bool {
        let Some(hdr) = VnetHdr::decode(&self.buf[..n]) else { return false };
        let packet = &mut self.buf[vnet::LEN..n];
        let t = tunnel.read().unwrap_or_else(|p| p.into_inner());
        if hdr.gso_type == vnet::GSO_NONE {
            if hdr.flags & vnet::F_NEEDS_CSUM != 0 && !gso::complete_checksum(packet, hdr.csum_start.into(), hdr.csum_offset.into()) {
                t.metrics().dropped(DropReason::Malformed);
                return false;
            }
            let Action::SendTo(to, bytes) = t.from_tun(packet) else { return false };
            (self.to, self.whole) = (to, Some(bytes.len()));
            return true;
        }
        let layout = match Layout::of(packet, &hdr) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, gso_type = hdr.gso_type, "a superpacket from the TUN");
                t.metrics().dropped(DropReason::Malformed);
                return false;
            }
        };
        // The layout checked that the IP length covers the read: what is sent is all of it.
        let Action::SendTo(to, _) = t.from_tun_burst(packet, layout.segments(), layout.wire_bytes()) else { return false };
        self.to = to;
        drop(t);
        gso::split(&self.buf[vnet::LEN..n], &layout, &mut self.segments);
        self.whole = None;
        true
    }
}

/// One datagram of a send: where to, its length, its slices in the batch's list.
#[derive(Debug, Clone, Copy)]
struct Datagram {
    to: SocketAddrV4,
    len: usize,
    parts: (usize, usize),
}

/// Splits datagrams into runs one `UDP_SEGMENT` send can carry: same node, same size
/// (only the last may be shorter), within the kernel's count and size limits.
fn runs(out: &[Datagram], gso: bool) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < out.len() {
        let first = out[start];
        let (mut end, mut bytes) = (start + 1, first.len);
        while gso && end < out.len() {
            let o = out[end];
            let fits = o.to == first.to && o.len <= first.len && end - start < MAX_SEGMENTS && bytes + o.len <= MAX_SEND_BYTES;
            if !fits {
                break;
            }
            bytes += o.len;
            end += 1;
            if o.len < first.len {
                break;
            }
        }
        runs.push(start..end);
        start = end;
    }
    runs
}

/// TUN → core → UDP, the superpackets that are ready at a time.
fn tun_to_udp(tunnel: &Shared, device: &SyncDevice, socket: &UdpSocket, stop: &EventFd) {
    let mut slots: Vec<Slot> = (0..READS).map(|_| Slot::new()).collect();
    let mut scratch = SendScratch::default();
    let mut gso = true;
    loop {
        let mut k = 0;
        while k < READS {
            match nix::unistd::read(device.as_raw_fd(), &mut slots[k].buf) {
                Ok(n) => k += usize::from(slots[k].prepare(tunnel, n)),
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                // The device is gone or broken: a loop here would only spin.
                Err(e) => {
                    tracing::error!(error = %e, "reading the TUN device; this direction stops");
                    return;
                }
            }
        }
        if k == 0 {
            if !wait(tun_fd(device), PollFlags::POLLIN, stop) {
                return;
            }
            continue;
        }
        if !send(socket, &slots[..k], &mut scratch, &mut gso, stop) {
            return;
        }
    }
}

/// Sends what `slots` hold; false once the shell stops.
fn send(socket: &UdpSocket, slots: &[Slot], scratch: &mut SendScratch, gso: &mut bool, stop: &EventFd) -> bool {
    let mut parts: Vec<IoSlice<'_>> = Vec::with_capacity(slots.iter().map(|s| 2 * s.segments.len().max(1)).sum());
    let mut datagrams: Vec<Datagram> = Vec::with_capacity(parts.capacity());
    for s in slots {
        let body = &s.buf[vnet::LEN..];
        if let Some(len) = s.whole {
            datagrams.push(Datagram { to: s.to, len, parts: (parts.len(), parts.len() + 1) });
            parts.push(IoSlice::new(&body[..len]));
            continue;
        }
        for i in 0..s.segments.len() {
            datagrams.push(Datagram { to: s.to, len: s.segments.packet_len(i), parts: (parts.len(), parts.len() + 2) });
            parts.push(IoSlice::new(s.segments.header(i)));
            parts.push(IoSlice::new(&body[s.segments.payload(i)]));
        }
    }
    let runs = runs(&datagrams, *gso);
    let mut messages: Vec<Message<'_>> = runs.iter().map(|r| message(&datagrams, &parts, r.clone())).collect();
    let mut at = 0;
    while at < messages.len() {
        match udp_batch::send_batch(socket, &messages[at..], scratch) {
            Ok(n) => at += n.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !wait(socket.as_fd(), PollFlags::POLLOUT, stop) {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EIO: the route's device cannot segment; datagrams one by one from now on.
            Err(e) if e.raw_os_error() == Some(libc::EIO) && *gso => {
                tracing::info!("UDP segmentation offload refused; sending datagrams one by one");
                *gso = false;
                let rest = runs[at].start;
                messages.truncate(at);
                messages.extend((rest..datagrams.len()).map(|d| message(&datagrams, &parts, d..d + 1)));
            }
            Err(e) => {
                tracing::debug!(error = %e, to = %messages[at].to, "sending overlay datagrams");
                at += 1;
            }
        }
    }
    true
}

fn message<'a>(datagrams: &[Datagram], parts: &'a [IoSlice<'a>], run: std::ops::Range<usize>) -> Message<'a> {
    let (first, last) = (datagrams[run.start], datagrams[run.end - 1]);
    let segment = (run.len() > 1).then(|| u16::try_from(first.len).unwrap_or(u16::MAX));
    Message { to: first.to, parts: &parts[first.parts.0..last.parts.1], segment }
}

/// UDP → core → TUN, what one `recvmmsg` gives at a time.
fn udp_to_tun(tunnel: &Shared, device: &SyncDevice, socket: &UdpSocket, stop: &EventFd) {
    if let Err(e) = udp_batch::enable_gro(socket) {
        tracing::info!(error = %e, "UDP_GRO refused; datagrams arrive one by one");
    }
    let mut batch = RecvBatch::new(RECEIVES, MAX_PACKET + 1);
    let mut writes = Vec::new();
    loop {
        let n = match batch.recv(socket) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !wait(socket.as_fd(), PollFlags::POLLIN, stop) {
                    return;
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::debug!(error = %e, "receiving overlay datagrams");
                if stopped(stop) {
                    return;
                }
                continue;
            }
        };
        let mut packets: Vec<&[u8]> = Vec::with_capacity(n * MAX_SEGMENTS);
        {
            let t = tunnel.read().unwrap_or_else(|p| p.into_inner());
            for i in 0..n {
                let (r, bytes) = batch.get(i);
                t.from_udp_many(SocketAddr::V4(r.from), bytes.chunks(r.segment), |p| packets.push(p));
            }
        }
        gro::plan(&packets, &mut writes);
        for w in &writes {
            if let Err(e) = write_tun(device, &packets, w) {
                if e == Errno::EBADFD {
                    tracing::error!(error = %e, "writing to the TUN device; this direction stops");
                    return;
                }
                tracing::debug!(error = %e, "writing to the TUN device");
            }
        }
    }
}

/// One write: a packet after an empty virtio header, or merged headers and the payloads.
fn write_tun(device: &SyncDevice, packets: &[&[u8]], w: &gro::Write) -> nix::Result<usize> {
    let fd = tun_fd(device);
    if w.count == 1 {
        return nix::sys::uio::writev(fd, &[IoSlice::new(w.head()), IoSlice::new(packets[w.first])]);
    }
    let mut iov = Vec::with_capacity(w.count + 1);
    iov.push(IoSlice::new(w.head()));
    iov.extend(packets[w.first..w.first + w.count].iter().map(|p| IoSlice::new(&p[w.payload_at..])));
    nix::sys::uio::writev(fd, &iov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn out(node: u8, len: usize) -> Datagram {
        Datagram { to: SocketAddrV4::new(Ipv4Addr::new(192, 168, 77, node), 8285), len, parts: (0, 1) }
    }

    #[test]
    fn runs_keep_one_node_and_one_size_with_a_shorter_last() {
        let o = [out(2, 1400), out(2, 1400), out(2, 600), out(2, 1400), out(3, 1400), out(3, 1400), out(2, 1400), out(2, 1500)];
        assert_eq!(runs(&o, true), vec![0..3, 3..4, 4..6, 6..7, 7..8]);
        assert_eq!(runs(&o, false).len(), o.len(), "without segmentation offload, one by one");
        assert!(runs(&[], true).is_empty());
    }

    #[test]
    fn runs_respect_the_kernels_limits() {
        let many: Vec<Datagram> = (0..150).map(|_| out(2, 100)).collect();
        let r = runs(&many, true);
        assert_eq!(r[0], 0..MAX_SEGMENTS);
        assert!(r.iter().all(|r| r.len() <= MAX_SEGMENTS));
        let big: Vec<Datagram> = (0..60).map(|_| out(2, 1472)).collect();
        let r = runs(&big, true);
        assert!(r.iter().all(|r| r.len() * 1472 <= MAX_SEND_BYTES), "{r:?}");
        assert_eq!(r[0].len(), 44, "as many as fit in one IPv4 packet");
    }
}
