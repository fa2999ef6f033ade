//! UDP segmentation offload on the overlay's socket, the syscalls the batched shell
//! needs and tokio does not offer: one `sendmsg` carrying many datagrams to one peer
//! (`UDP_SEGMENT`: the kernel cuts the payload into `segment` sized datagrams, and keeps
//! them as one packet through veths and bridges), and one `recvmsg` returning many
//! datagrams coalesced by the kernel (`UDP_GRO`) with their size.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{self, sockopt, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn};

/// The most datagrams one `UDP_SEGMENT` send may carry (the kernel's `UDP_MAX_SEGMENTS`
/// is 128 on recent kernels, 64 on older ones).
pub const MAX_SEGMENTS: usize = 64;
/// The most payload bytes one send may carry (one skb: 64 KiB less the headers).
pub const MAX_SEND_BYTES: usize = 65_000;

/// Asks the kernel to hand coalesced datagrams to `recv_coalesced` instead of cutting
/// them up before delivery.
pub fn enable_gro(socket: &impl AsFd) -> io::Result<()> {
    socket::setsockopt(socket, sockopt::UdpGroSegment, &true).map_err(io::Error::from)
}

/// Sends `segments` (each `segment` bytes, the last one possibly shorter) as datagrams
/// to `to` with one syscall.
pub fn send_segments(socket: &impl AsRawFd, to: SocketAddrV4, segments: &[IoSlice<'_>], segment: u16) -> io::Result<usize> {
    let addr = SockaddrIn::from(to);
    let cmsg = [ControlMessage::UdpGsoSegments(&segment)];
    socket::sendmsg(socket.as_raw_fd(), segments, &cmsg, MsgFlags::empty(), Some(&addr)).map_err(io::Error::from)
}

/// One received buffer: `len` bytes from `from`, datagrams of `segment` bytes each (the
/// last one possibly shorter); `segment` is `len` when the kernel coalesced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    pub from: SocketAddrV4,
    pub segment: usize,
}

/// Receives one (possibly coalesced) buffer without blocking.
pub fn recv_coalesced(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut iov = [IoSliceMut::new(buf)];
    let mut space = nix::cmsg_space!(i32);
    let msg = socket::recvmsg::<SockaddrIn>(socket.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)?;
    let len = msg.bytes;
    let from = msg.address.map(|a| SocketAddrV4::new(a.ip(), a.port())).unwrap_or_else(|| SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
    let mut segment = len;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::UdpGroSegments(size) = c {
                segment = usize::try_from(size).unwrap_or(len).clamp(1, len.max(1));
            }
        }
    }
    Ok(Received { len, from, segment })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_segmented_send_arrives_coalesced_or_as_datagrams_of_the_segment_size() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_gro(&rx).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = match rx.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let (a, b, c) = ([1u8; 100], [2u8; 100], [3u8; 40]);
        let sent = send_segments(&tx, to, &[IoSlice::new(&a), IoSlice::new(&b), IoSlice::new(&c)], 100).unwrap();
        assert_eq!(sent, 240);
        let mut buf = vec![0u8; 65536];
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while got.len() < 240 && std::time::Instant::now() < deadline {
            match recv_coalesced(&rx, &mut buf) {
                Ok(r) => {
                    assert_eq!(r.from, SocketAddrV4::new(Ipv4Addr::LOCALHOST, tx.local_addr().unwrap().port()));
                    assert!(r.segment == 100 || r.segment == 40, "{r:?}");
                    got.extend_from_slice(&buf[..r.len]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(std::time::Duration::from_millis(5)),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, [&a[..], &b[..], &c[..]].concat());
    }
}
