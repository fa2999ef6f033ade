//! Cutting a superpacket the TUN gives (the kernel's TSO or USO left undone, up to
//! 64 KiB) into the MTU-sized IPv4 packets the wire carries, sans-I/O: each packet's
//! headers are written to an arena and its payload stays where it is in the read buffer,
//! so that the send gathers headers and payloads without a copy in between. What the
//! kernel's `tcp_gso_segment`/`__udp_gso_segment` would do: sequence numbers advanced,
//! FIN and PSH on the last packet only, CWR on the first only, IP ids counted up, every
//! length and checksum (IPv4 header and the transport's, from scratch) right.

use std::ops::Range;

use super::checksum;
use super::vnet;

/// The most header bytes one packet may have: a 60-byte IPv4 header and a 60-byte TCP one.
pub const MAX_HEADERS: usize = 120;

const TCP: u8 = 6;
const UDP: u8 = 17;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;

/// Why a superpacket cannot be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("not an IPv4 TCP or UDP superpacket of its GSO type")]
    Unsupported,
    #[error("the headers do not fit the packet, or its IP length is not the read's")]
    Truncated,
    #[error("a GSO size of 0")]
    NoSize,
}

/// Where the parts of a superpacket are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub protocol: u8,
    pub ip_len: usize,
    /// The IP and transport headers' length.
    pub headers: usize,
    pub gso_size: usize,
    /// The payload's bytes in all.
    pub payload: usize,
}

impl Layout {
    /// The layout of `packet` (IPv4 header first) that the TUN gave with `hdr`; the
    /// kernel's `hdr_len` is not trusted (it may cover the whole first packet), the
    /// transport header is measured.
    pub fn of(packet: &[u8], hdr: &vnet::VnetHdr) -> Result<Layout, SplitError> {
        let protocol = match hdr.gso_type & !vnet::GSO_ECN {
            vnet::GSO_TCPV4 => TCP,
            vnet::GSO_UDP_L4 => UDP,
            _ => return Err(SplitError::Unsupported),
        };
        if packet.len() < 20 || packet[0] >> 4 != 4 || packet[9] != protocol {
            return Err(SplitError::Unsupported);
        }
        let ip_len = usize::from(packet[0] & 0x0f) * 4;
        let l4 = match protocol {
            TCP => usize::from(packet.get(ip_len + 12).ok_or(SplitError::Truncated)? >> 4) * 4,
            _ => 8,
        };
        let headers = ip_len + l4;
        if ip_len < 20 || (protocol == TCP && l4 < 20) || headers > packet.len() || usize::from(get16(packet, 2)) != packet.len() {
            return Err(SplitError::Truncated);
        }
        if hdr.gso_size == 0 {
            return Err(SplitError::NoSize);
        }
        Ok(Layout { protocol, ip_len, headers, gso_size: usize::from(hdr.gso_size), payload: packet.len() - headers })
    }

    /// How many packets it becomes (at least one).
    pub fn segments(&self) -> usize {
        self.payload.div_ceil(self.gso_size).max(1)
    }

    /// The bytes of all of them, headers included.
    pub fn wire_bytes(&self) -> usize {
        self.payload + self.segments() * self.headers
    }
}

/// The packets one superpacket became: headers in an arena, payloads as ranges of the
/// superpacket. Reused from read to read.
#[derive(Debug, Default)]
pub struct Segments {
    headers: Vec<u8>,
    header_len: usize,
    payloads: Vec<Range<usize>>,
}

impl Segments {
    pub fn len(&self) -> usize {
        self.payloads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty()
    }

    /// Packet `i`'s headers (IP and transport).
    pub fn header(&self, i: usize) -> &[u8] {
        &self.headers[i * self.header_len..(i + 1) * self.header_len]
    }

    /// Where packet `i`'s payload lies in the superpacket.
    pub fn payload(&self, i: usize) -> Range<usize> {
        self.payloads[i].clone()
    }

    /// Packet `i`'s length on the wire.
    pub fn packet_len(&self, i: usize) -> usize {
        self.header_len + self.payloads[i].len()
    }

    pub fn clear(&mut self) {
        self.headers.clear();
        self.payloads.clear();
    }
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Cuts `packet` (laid out as `layout` says; its IPv4 header final, TTL included) into
/// `out`.
pub fn split(packet: &[u8], layout: &Layout, out: &mut Segments) {
    out.clear();
    let Layout { protocol, ip_len, headers, gso_size, .. } = *layout;
    out.header_len = headers;
    let (src, dst) = (addr(packet, 12), addr(packet, 16));
    let id = get16(packet, 4);
    let (seq, flags) = if protocol == TCP { (u32::from_be_bytes([packet[ip_len + 4], packet[ip_len + 5], packet[ip_len + 6], packet[ip_len + 7]]), packet[ip_len + 13]) } else { (0, 0) };
    let n = layout.segments();
    out.headers.reserve(n * headers);
    for i in 0..n {
        let start = headers + i * gso_size;
        let end = (start + gso_size).min(packet.len());
        let payload = &packet[start..end];
        let at = out.headers.len();
        out.headers.extend_from_slice(&packet[..headers]);
        let h = &mut out.headers[at..];
        // The IPv4 header: this packet's length and id, its own checksum.
        put16(h, 2, (headers + payload.len()) as u16);
        put16(h, 4, id.wrapping_add(i as u16));
        put16(h, 10, 0);
        let ip_sum = !checksum::sum(&h[..ip_len]);
        put16(h, 10, ip_sum);
        let l4_len = (headers - ip_len + payload.len()) as u16;
        let l4 = &mut h[ip_len..headers];
        let field = if protocol == TCP {
            l4[4..8].copy_from_slice(&seq.wrapping_add((i * gso_size) as u32).to_be_bytes());
            let mut f = flags;
            if i + 1 < n {
                f &= !(FIN | PSH);
            }
            if i > 0 {
                f &= !CWR;
            }
            l4[13] = f;
            16
        } else {
            put16(l4, 4, l4_len);
            6
        };
        put16(l4, field, 0);
        let s = checksum::add(checksum::add(checksum::pseudo_header(src, dst, protocol, l4_len), checksum::sum(l4)), checksum::sum(payload));
        let mut c = !s;
        if protocol == UDP && c == 0 {
            c = 0xffff;
        }
        put16(l4, field, c);
        out.payloads.push(start..end);
    }
}

/// Completes the transport checksum of a single packet the TUN gave with `NEEDS_CSUM`:
/// the field `csum_offset` bytes past `csum_start` holds the pseudo-header's sum; the
/// sum from `csum_start` to the end, complemented, goes there. False when the offsets do
/// not fit the packet.
pub fn complete_checksum(packet: &mut [u8], csum_start: usize, csum_offset: usize) -> bool {
    let at = csum_start + csum_offset;
    if at + 2 > packet.len() {
        return false;
    }
    let mut c = !checksum::sum(&packet[csum_start..]);
    if c == 0 && packet.get(9) == Some(&UDP) {
        c = 0xffff;
    }
    put16(packet, at, c);
    true
}

fn addr(p: &[u8], at: usize) -> [u8; 4] {
    [p[at], p[at + 1], p[at + 2], p[at + 3]]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tunnel::ipv4;

    /// A TCP/IPv4 packet with `payload`, checksums right, 12 bytes of options.
    pub(crate) fn tcp_packet(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut tcp = vec![0u8; 32];
        tcp[..4].copy_from_slice(&[0x13, 0x89, 0xc0, 0x01]);
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&77u32.to_be_bytes());
        tcp[12] = 8 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&500u16.to_be_bytes());
        tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3]);
        tcp.extend_from_slice(payload);
        let mut p = ipv4::build_packet([10, 244, 1, 2].into(), [10, 244, 2, 3].into(), 64, TCP, &tcp);
        let s = checksum::add(checksum::pseudo_header([10, 244, 1, 2], [10, 244, 2, 3], TCP, tcp.len() as u16), checksum::sum(&p[20..]));
        put16(&mut p, 36, !s);
        p
    }

    /// Whether a whole packet's transport checksum verifies.
    pub(crate) fn l4_valid(p: &[u8]) -> bool {
        let ihl = usize::from(p[0] & 0xf) * 4;
        checksum::add(checksum::pseudo_header(addr(p, 12), addr(p, 16), p[9], (p.len() - ihl) as u16), checksum::sum(&p[ihl..])) == 0xffff
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn gso(gso_type: u8, size: u16) -> vnet::VnetHdr {
        vnet::VnetHdr { flags: vnet::F_NEEDS_CSUM, gso_type, hdr_len: 0, gso_size: size, csum_start: 20, csum_offset: 16 }
    }

    fn assemble(packet: &[u8], s: &Segments, i: usize) -> Vec<u8> {
        [s.header(i), &packet[s.payload(i)]].concat()
    }

    #[test]
    fn a_tcp_superpacket_becomes_packets_a_receiver_accepts() {
        let data = payload(3 * 1420 + 100);
        let sp = tcp_packet(1000, 0x18 | FIN | CWR, &data); // ACK PSH FIN CWR
        let layout = Layout::of(&sp, &gso(vnet::GSO_TCPV4 | vnet::GSO_ECN, 1420)).unwrap();
        assert_eq!((layout.ip_len, layout.headers, layout.segments()), (20, 52, 4));
        assert_eq!(layout.wire_bytes(), data.len() + 4 * 52);
        let mut s = Segments::default();
        split(&sp, &layout, &mut s);
        assert_eq!(s.len(), 4);
        let mut joined = Vec::new();
        for i in 0..4 {
            let p = assemble(&sp, &s, i);
            assert_eq!(p.len(), s.packet_len(i));
            let h = ipv4::parse_checked(&p).expect("a right IPv4 header");
            assert_eq!(h.total_len, p.len());
            assert_eq!(get16(&p, 4), get16(&sp, 4).wrapping_add(i as u16), "ids count up");
            assert!(l4_valid(&p), "segment {i}'s TCP checksum");
            assert_eq!(u32::from_be_bytes(p[24..28].try_into().unwrap()), 1000 + 1420 * i as u32);
            let f = p[33];
            assert_eq!(f & (FIN | PSH) != 0, i == 3, "FIN and PSH on the last only: {f:#x}");
            assert_eq!(f & CWR != 0, i == 0, "CWR on the first only: {f:#x}");
            assert_eq!(&p[40..52], &sp[40..52], "options kept");
            joined.extend_from_slice(&p[52..]);
        }
        assert_eq!(joined, data);
    }

    #[test]
    fn a_udp_superpacket_gets_its_lengths_and_checksums() {
        let data = payload(2 * 1000 + 1);
        let mut udp = vec![0u8; 8];
        udp[..4].copy_from_slice(&[0x10, 0, 0x20, 0]);
        udp.extend_from_slice(&data);
        let sp = ipv4::build_packet([10, 244, 1, 2].into(), [10, 244, 2, 3].into(), 64, UDP, &udp);
        let layout = Layout::of(&sp, &gso(vnet::GSO_UDP_L4, 1000)).unwrap();
        let mut s = Segments::default();
        split(&sp, &layout, &mut s);
        assert_eq!(s.len(), 3);
        for i in 0..3 {
            let p = assemble(&sp, &s, i);
            assert_eq!(usize::from(get16(&p, 24)), p.len() - 20);
            assert!(l4_valid(&p), "segment {i}");
        }
        assert_eq!(s.packet_len(2), 20 + 8 + 1);
    }

    #[test]
    fn what_cannot_be_cut_is_refused() {
        let sp = tcp_packet(1, 0x10, &payload(3000));
        assert_eq!(Layout::of(&sp, &gso(vnet::GSO_UDP_L4, 1000)), Err(SplitError::Unsupported));
        assert_eq!(Layout::of(&sp, &gso(vnet::GSO_TCPV6, 1000)), Err(SplitError::Unsupported));
        assert_eq!(Layout::of(&sp, &gso(vnet::GSO_TCPV4, 0)), Err(SplitError::NoSize));
        assert_eq!(Layout::of(&sp[..40], &gso(vnet::GSO_TCPV4, 1000)), Err(SplitError::Truncated));
        assert_eq!(Layout::of(&sp[..sp.len() - 1], &gso(vnet::GSO_TCPV4, 1000)), Err(SplitError::Truncated), "the IP length says more");
    }

    #[test]
    fn a_partial_checksum_is_completed() {
        let mut p = tcp_packet(5, 0x18, b"hello there");
        let partial = checksum::pseudo_header([10, 244, 1, 2], [10, 244, 2, 3], TCP, (p.len() - 20) as u16);
        put16(&mut p, 36, partial);
        assert!(!l4_valid(&p));
        assert!(complete_checksum(&mut p, 20, 16));
        assert!(l4_valid(&p));
        assert!(!complete_checksum(&mut p, 20, 60));
    }
}
