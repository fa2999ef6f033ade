//! The overlay socket's batched syscalls, which neither tokio nor std offer: one
//! `sendmmsg` carrying several messages, each gathered from many slices and cut by the
//! kernel into datagrams of one size (`UDP_SEGMENT`: they stay one packet through veths
//! and bridges), and one `recvmmsg` filling several buffers, each with the datagrams the
//! kernel coalesced (`UDP_GRO`) and their size. All non-blocking: `WouldBlock` says when
//! to wait.

use std::io::{self, IoSlice};
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{self, sockopt};

/// The most datagrams one `UDP_SEGMENT` send may carry (the kernel's `UDP_MAX_SEGMENTS`
/// is 128 on recent kernels, 64 on older ones).
pub const MAX_SEGMENTS: usize = 64;
/// The most payload bytes one send may carry: one IPv4 packet less its IPv4 and UDP
/// headers.
pub const MAX_SEND_BYTES: usize = 65_535 - 28;
/// Room for one control message of an `int` (and alignment).
const CMSG_WORDS: usize = 4;

/// Asks the kernel to hand coalesced datagrams to [`RecvBatch::recv`] instead of cutting
/// them up before delivery.
pub fn enable_gro(socket: &impl AsFd) -> io::Result<()> {
    socket::setsockopt(socket, sockopt::UdpGroSegment, &true).map_err(io::Error::from)
}

/// One message of a batched send: `parts` gathered into one payload for `to`, sent as
/// one datagram or, with `segment`, cut into datagrams of that many bytes (the last one
/// possibly shorter).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub to: SocketAddrV4,
    pub parts: &'a [IoSlice<'a>],
    pub segment: Option<u16>,
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in { sin_family: libc::AF_INET as libc::sa_family_t, sin_port: a.port().to_be(), sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() }, sin_zero: [0; 8] }
}

/// The kernel's message headers for [`send_batch`], kept from call to call so a send
/// allocates nothing.
#[derive(Default)]
pub struct SendScratch {
    addrs: Vec<libc::sockaddr_in>,
    cmsgs: Vec<[u64; CMSG_WORDS]>,
    hdrs: Vec<libc::mmsghdr>,
}

/// Sends `messages` with one `sendmmsg`; returns how many the kernel took (from the
/// first on). An error means the first one failed; the caller resends the rest.
pub fn send_batch(socket: &impl AsRawFd, messages: &[Message<'_>], scratch: &mut SendScratch) -> io::Result<usize> {
    if messages.is_empty() {
        return Ok(0);
    }
    let SendScratch { addrs, cmsgs, hdrs } = scratch;
    addrs.clear();
    cmsgs.clear();
    hdrs.clear();
    addrs.extend(messages.iter().map(|m| sockaddr(m.to)));
    cmsgs.resize(messages.len(), [0; CMSG_WORDS]);
    for ((m, addr), cmsg) in messages.iter().zip(addrs.iter_mut()).zip(cmsgs.iter_mut()) {
        // SAFETY: a zeroed msghdr is a valid empty one; every pointer set below points
        // into `messages` (IoSlice has iovec's layout) or into `scratch`, which outlive
        // the syscall and do not move before it; the control buffer holds CMSG_SPACE(2).
        let mut h: libc::msghdr = unsafe { mem::zeroed() };
        h.msg_name = (addr as *mut libc::sockaddr_in).cast();
        h.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_iov = m.parts.as_ptr() as *mut libc::iovec;
        h.msg_iovlen = m.parts.len() as _;
        if let Some(segment) = m.segment {
            h.msg_control = cmsg.as_mut_ptr().cast();
            h.msg_controllen = unsafe { libc::CMSG_SPACE(mem::size_of::<u16>() as u32) } as _;
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&h);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(mem::size_of::<u16>() as u32) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), segment);
            }
        }
        hdrs.push(libc::mmsghdr { msg_hdr: h, msg_len: 0 });
    }
    // SAFETY: `hdrs` holds `hdrs.len()` initialised headers whose pointers are valid (above).
    let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// One received buffer: `len` bytes from `from`, datagrams of `segment` bytes each (the
/// last one possibly shorter); `segment` is `len` when the kernel coalesced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    pub from: SocketAddrV4,
    pub segment: usize,
}

/// Buffers for [`RecvBatch::recv`]: `messages` of `size` bytes each, and the kernel's
/// headers for them.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_in>,
    cmsgs: Vec<[u64; CMSG_WORDS]>,
    hdrs: Vec<libc::mmsghdr>,
    got: Vec<Received>,
}

impl RecvBatch {
    pub fn new(messages: usize, size: usize) -> Self {
        let messages = messages.max(1);
        RecvBatch {
            bufs: (0..messages).map(|_| vec![0u8; size]).collect(),
            iovs: Vec::with_capacity(messages),
            addrs: vec![sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); messages],
            cmsgs: vec![[0; CMSG_WORDS]; messages],
            hdrs: Vec::with_capacity(messages),
            got: Vec::with_capacity(messages),
        }
    }

    /// Receives what is there (up to one buffer's worth per message) with one
    /// `recvmmsg`, without blocking; returns how many buffers were filled.
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        let RecvBatch { bufs, iovs, addrs, cmsgs, hdrs, got } = self;
        iovs.clear();
        hdrs.clear();
        got.clear();
        iovs.extend(bufs.iter_mut().map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() }));
        for ((iov, addr), cmsg) in iovs.iter_mut().zip(addrs.iter_mut()).zip(cmsgs.iter_mut()) {
            // SAFETY: as in `send_batch`: a zeroed msghdr is valid, and it points only
            // into `self`, which outlives the syscall and does not move before it.
            let mut h: libc::msghdr = unsafe { mem::zeroed() };
            h.msg_name = (addr as *mut libc::sockaddr_in).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            h.msg_iov = iov;
            h.msg_iovlen = 1;
            h.msg_control = cmsg.as_mut_ptr().cast();
            h.msg_controllen = mem::size_of::<[u64; CMSG_WORDS]>() as _;
            hdrs.push(libc::mmsghdr { msg_hdr: h, msg_len: 0 });
        }
        // SAFETY: `hdrs` holds initialised headers pointing at live buffers (above).
        let n = unsafe { libc::recvmmsg(socket.as_raw_fd(), hdrs.as_mut_ptr(), hdrs.len() as libc::c_uint, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for (h, addr) in hdrs.iter().zip(addrs.iter()).take(n as usize) {
            let len = h.msg_len as usize;
            let from = SocketAddrV4::new(Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)), u16::from_be(addr.sin_port));
            got.push(Received { len, from, segment: gro_segment(&h.msg_hdr).map_or(len, |s| s.clamp(1, len.max(1))) });
        }
        Ok(n as usize)
    }

    /// Buffer `i` of the last receive.
    pub fn get(&self, i: usize) -> (Received, &[u8]) {
        let r = self.got[i];
        (r, &self.bufs[i][..r.len])
    }
}

/// The `UDP_GRO` control message's segment size, if the kernel sent one.
fn gro_segment(h: &libc::msghdr) -> Option<usize> {
    // SAFETY: `h` is a header the kernel filled: its control buffer and length are its
    // own, and the CMSG_* macros stay within them.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return usize::try_from(size).ok();
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn v4(s: &UdpSocket) -> SocketAddrV4 {
        match s.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        }
    }

    /// Everything received within 2 s, until `want` bytes: (segment sizes, bytes).
    fn drain(rx: &UdpSocket, from: SocketAddrV4, want: usize) -> (Vec<usize>, Vec<u8>) {
        let mut batch = RecvBatch::new(4, 65_536);
        let (mut sizes, mut got) = (Vec::new(), Vec::new());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while got.len() < want && std::time::Instant::now() < deadline {
            match batch.recv(rx) {
                Ok(n) => {
                    for i in 0..n {
                        let (r, bytes) = batch.get(i);
                        assert_eq!(r.from, from);
                        sizes.push(r.segment);
                        got.extend_from_slice(bytes);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(std::time::Duration::from_millis(5)),
                Err(e) => panic!("{e}"),
            }
        }
        (sizes, got)
    }

    #[test]
    fn a_batch_of_segmented_and_plain_messages_arrives_whole_and_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_gro(&rx).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b, c, d) = ([1u8; 100], [2u8; 100], [3u8; 40], [4u8; 7]);
        let first = [IoSlice::new(&a), IoSlice::new(&b[..50]), IoSlice::new(&b[50..]), IoSlice::new(&c)];
        let second = [IoSlice::new(&d)];
        let messages = [Message { to: v4(&rx), parts: &first, segment: Some(100) }, Message { to: v4(&rx), parts: &second, segment: None }];
        let mut scratch = SendScratch::default();
        assert_eq!(send_batch(&tx, &messages, &mut scratch).unwrap(), 2);
        let (sizes, got) = drain(&rx, v4(&tx), 247);
        assert_eq!(got, [&a[..], &b[..], &c[..], &d[..]].concat());
        assert!(sizes.iter().all(|s| [100, 40, 7].contains(s)), "{sizes:?}");
    }

    #[test]
    fn nothing_to_receive_would_block() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = RecvBatch::new(2, 2048).recv(&rx).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(send_batch(&rx, &[], &mut SendScratch::default()).unwrap(), 0);
    }
}
