//! The batched shell: the same two directions as the per-packet tasks, but with the
//! kernel's segmentation offloads at both ends, so that one syscall moves up to 64 KiB.
//! TUN reads give TCP/UDP superpackets (`IFF_VNET_HDR` + `TUNSETOFFLOAD`) that tun-rs
//! cuts into MTU-sized IP packets; the core decides each one; runs of packets for the
//! same node leave in one `UDP_SEGMENT` send. Coalesced datagrams (`UDP_GRO`) are cut
//! apart, decided one by one by the core, and written to the TUN merged again by
//! tun-rs's GRO table. wireguard-go's `tun_linux.go` and Tailscale's batching do the same.

use std::io::{self, IoSlice};
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};

use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tun_rs::{AsyncDevice, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use super::core::{Action, Tunnel};
use super::shell::transient;
use super::udp_batch::{self, MAX_SEGMENTS, MAX_SEND_BYTES};

type Shared = Arc<RwLock<Tunnel>>;

/// The largest IP packet (and the largest coalesced receive).
const MAX_PACKET: usize = 65_535;
/// Headroom tun-rs needs before each packet it writes (the virtio header).
const HEADROOM: usize = VIRTIO_NET_HDR_LEN;
/// Packets gathered before one write to the TUN: a few coalesced receives.
const WRITE_BATCH: usize = 4 * MAX_SEGMENTS;

/// One packet the core sent: where, and how many bytes of its buffer.
#[derive(Debug, Clone, Copy)]
struct Out {
    to: SocketAddrV4,
    index: usize,
    len: usize,
}

/// Splits decided packets into runs one `UDP_SEGMENT` send can carry: same node, same
/// size (only the last may be shorter), within the kernel's count and size limits.
fn runs(out: &[Out]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < out.len() {
        let first = out[start];
        let (mut end, mut bytes) = (start + 1, first.len);
        while end < out.len() {
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

/// TUN → core → UDP, a superpacket at a time.
pub(super) async fn tun_to_udp(tunnel: Shared, device: Arc<AsyncDevice>, socket: Arc<UdpSocket>, mut stop: watch::Receiver<bool>, mtu: usize) {
    let mut original = vec![0u8; HEADROOM + MAX_PACKET];
    let mut bufs = vec![vec![0u8; mtu.max(1500) + 64]; IDEAL_BATCH_SIZE];
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut out = Vec::with_capacity(IDEAL_BATCH_SIZE);
    let mut gso = true;
    loop {
        let n = tokio::select! {
            _ = stop.changed() => return,
            r = device.recv_multiple(&mut original, &mut bufs, &mut sizes, 0) => match r {
                Ok(n) => n,
                Err(e) if transient(&e) => continue,
                // The device is gone or broken: a loop here would only spin.
                Err(e) => { tracing::error!(error = %e, "reading the TUN device; this direction stops"); return }
            },
        };
        decide_from_tun(&tunnel, &mut bufs[..n], &sizes[..n], &mut out);
        for run in runs(&out) {
            gso = send_run(&socket, &bufs, &out[run], gso).await;
        }
    }
}

fn decide_from_tun(tunnel: &Shared, bufs: &mut [Vec<u8>], sizes: &[usize], out: &mut Vec<Out>) {
    out.clear();
    let t = tunnel.read().unwrap_or_else(|p| p.into_inner());
    for (index, (buf, &size)) in bufs.iter_mut().zip(sizes).enumerate() {
        let Some(packet) = buf.get_mut(..size) else { continue };
        if let Action::SendTo(to, bytes) = t.from_tun(packet) {
            out.push(Out { to, index, len: bytes.len() });
        }
    }
}

/// Sends one run; returns whether segmentation offload still works.
async fn send_run(socket: &UdpSocket, bufs: &[Vec<u8>], run: &[Out], mut gso: bool) -> bool {
    let to = run[0].to;
    if run.len() > 1 && gso {
        let slices: Vec<IoSlice<'_>> = run.iter().map(|o| IoSlice::new(&bufs[o.index][..o.len])).collect();
        let segment = u16::try_from(run[0].len).unwrap_or(u16::MAX);
        match socket.async_io(Interest::WRITABLE, || udp_batch::send_segments(socket, to, &slices, segment)).await {
            Ok(_) => return true,
            // EIO: the route's device cannot segment; send one by one from now on.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                tracing::info!("UDP segmentation offload refused; sending datagrams one by one");
                gso = false;
            }
            Err(e) => {
                tracing::debug!(error = %e, %to, "sending overlay datagrams");
                return true;
            }
        }
    }
    for o in run {
        if let Err(e) = socket.send_to(&bufs[o.index][..o.len], o.to).await {
            tracing::debug!(error = %e, to = %o.to, "sending an overlay datagram");
        }
    }
    gso
}

/// UDP → core → TUN, coalesced receives at a time.
pub(super) async fn udp_to_tun(tunnel: Shared, device: Arc<AsyncDevice>, socket: Arc<UdpSocket>, mut stop: watch::Receiver<bool>) {
    if let Err(e) = udp_batch::enable_gro(socket.as_ref()) {
        tracing::info!(error = %e, "UDP_GRO refused; datagrams arrive one by one");
    }
    let mut rbuf = vec![0u8; MAX_PACKET];
    let mut bufs: Vec<Vec<u8>> = (0..WRITE_BATCH).map(|_| Vec::with_capacity(HEADROOM + MAX_PACKET)).collect();
    let mut gro = GROTable::default();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = socket.readable() => if let Err(e) = r { tracing::error!(error = %e, "waiting on the overlay socket; this direction stops"); return },
        }
        let k = receive_batch(&tunnel, &socket, &mut rbuf, &mut bufs);
        if k > 0 {
            if let Err(e) = device.send_multiple(&mut gro, &mut bufs[..k], HEADROOM).await {
                tracing::debug!(error = %e, "writing to the TUN device");
            }
        }
    }
}

/// Drains the socket into `bufs` (each accepted packet after `HEADROOM` bytes) until it
/// would block or the batch is full; returns how many packets are ready.
fn receive_batch(tunnel: &Shared, socket: &UdpSocket, rbuf: &mut [u8], bufs: &mut [Vec<u8>]) -> usize {
    let mut k = 0;
    while k + MAX_SEGMENTS <= bufs.len() {
        let r = match socket.try_io(Interest::READABLE, || udp_batch::recv_coalesced(socket, rbuf)) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                tracing::debug!(error = %e, "receiving overlay datagrams");
                break;
            }
        };
        let t = tunnel.read().unwrap_or_else(|p| p.into_inner());
        for datagram in rbuf[..r.len].chunks(r.segment) {
            if let Action::WriteTun(bytes) = t.from_udp(SocketAddr::V4(r.from), datagram) {
                let b = &mut bufs[k];
                b.clear();
                b.resize(HEADROOM, 0);
                b.extend_from_slice(bytes);
                k += 1;
                if k == bufs.len() {
                    break;
                }
            }
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn out(node: u8, len: usize) -> Out {
        Out { to: SocketAddrV4::new(Ipv4Addr::new(192, 168, 77, node), 8285), index: 0, len }
    }

    #[test]
    fn runs_keep_one_node_and_one_size_with_a_shorter_last() {
        let o = [out(2, 1400), out(2, 1400), out(2, 600), out(2, 1400), out(3, 1400), out(3, 1400), out(2, 1400), out(2, 1500)];
        assert_eq!(runs(&o), vec![0..3, 3..4, 4..6, 6..7, 7..8]);
        assert!(runs(&[]).is_empty());
    }

    #[test]
    fn runs_respect_the_kernels_limits() {
        let many: Vec<Out> = (0..150).map(|_| out(2, 100)).collect();
        let r = runs(&many);
        assert_eq!(r[0], 0..MAX_SEGMENTS);
        assert!(r.iter().all(|r| r.len() <= MAX_SEGMENTS));
        let big: Vec<Out> = (0..60).map(|_| out(2, 1472)).collect();
        assert!(runs(&big).iter().all(|r| r.len() * 1472 <= MAX_SEND_BYTES), "{:?}", runs(&big));
    }
}
