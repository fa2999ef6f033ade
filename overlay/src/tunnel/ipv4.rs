//! The few IPv4 header fields the overlay decides on (addresses, TTL, lengths), read
//! without trusting the bytes, and the TTL decrement with the header checksum updated
//! incrementally (RFC 1624) so a forwarded packet needs no full recomputation.

use std::net::Ipv4Addr;

/// The length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// The offset of the TTL byte; it shares a 16-bit word with the protocol byte.
const TTL_OFFSET: usize = 8;
const CHECKSUM_OFFSET: usize = 10;

/// What the overlay reads from a packet's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// The header's length in bytes (IHL × 4).
    pub header_len: usize,
    /// The packet's length as the header states it (never more than the bytes at hand).
    pub total_len: usize,
}

/// Why bytes are not an IPv4 packet the overlay forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{0} bytes are shorter than an IPv4 header")]
    TooShort(usize),
    #[error("IP version {0}, not 4")]
    NotIpv4(u8),
    #[error("header length {0} is below 20 bytes or beyond the packet")]
    BadHeaderLength(usize),
    #[error("total length {total} does not fit the {have} bytes received")]
    BadTotalLength { total: usize, have: usize },
    #[error("the header checksum does not match")]
    BadChecksum,
}

fn word(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

fn addr(p: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3])
}

/// Reads the header of `packet`, checking version and lengths (not the checksum).
pub fn parse(packet: &[u8]) -> Result<Header, HeaderError> {
    if packet.len() < MIN_HEADER_LEN {
        return Err(HeaderError::TooShort(packet.len()));
    }
    let version = packet[0] >> 4;
    if version != 4 {
        return Err(HeaderError::NotIpv4(version));
    }
    let header_len = usize::from(packet[0] & 0x0f) * 4;
    if header_len < MIN_HEADER_LEN || header_len > packet.len() {
        return Err(HeaderError::BadHeaderLength(header_len));
    }
    let total_len = usize::from(word(packet, 2));
    if total_len < header_len || total_len > packet.len() {
        return Err(HeaderError::BadTotalLength { total: total_len, have: packet.len() });
    }
    Ok(Header { src: addr(packet, 12), dst: addr(packet, 16), ttl: packet[TTL_OFFSET], header_len, total_len })
}

/// As [`parse`], and the header checksum must be right (for packets from the network).
pub fn parse_checked(packet: &[u8]) -> Result<Header, HeaderError> {
    let h = parse(packet)?;
    if checksum(&packet[..h.header_len]) != 0 {
        return Err(HeaderError::BadChecksum);
    }
    Ok(h)
}

/// The Internet checksum (RFC 1071) of `bytes`: 0 over a header whose checksum is right;
/// over a header with its checksum field zeroed, the value to store there.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    !fold(sum)
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// RFC 1624, eqn. 3: the checksum after one 16-bit word of the summed data changed from
/// `old` to `new`: HC' = ~(~HC + ~m + m').
pub fn adjust_checksum(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!checksum) + u32::from(!old) + u32::from(new))
}

/// Decrements the TTL of a parsed packet in place and updates its checksum; the TTL must
/// be above 0 (the caller drops packets whose TTL would reach 0). Bytes too short for a
/// header are left alone.
pub fn decrement_ttl(packet: &mut [u8]) {
    if packet.len() < MIN_HEADER_LEN {
        return;
    }
    let old = word(packet, TTL_OFFSET);
    let new = old.wrapping_sub(0x0100);
    packet[TTL_OFFSET..TTL_OFFSET + 2].copy_from_slice(&new.to_be_bytes());
    let sum = adjust_checksum(word(packet, CHECKSUM_OFFSET), old, new);
    packet[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_be_bytes());
}

/// A minimal IPv4 packet (UDP, no options) for tests and tools: `payload` after a
/// header with a right checksum.
pub fn build_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = MIN_HEADER_LEN + payload.len();
    let mut p = vec![0u8; MIN_HEADER_LEN];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40; // don't fragment
    p[TTL_OFFSET] = ttl;
    p[9] = protocol;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&p);
    p[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ttl: u8) -> Vec<u8> {
        build_packet(Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 2, 3), ttl, 17, b"hello")
    }

    #[test]
    fn a_built_packet_parses_and_its_checksum_verifies() {
        let p = sample(64);
        let h = parse_checked(&p).unwrap();
        assert_eq!((h.src, h.dst, h.ttl, h.header_len, h.total_len), (Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 2, 3), 64, 20, 25));
    }

    #[test]
    fn the_incremental_update_equals_a_full_recomputation_for_every_ttl() {
        for ttl in 1..=255u8 {
            let mut p = sample(ttl);
            p[9] = ttl.wrapping_mul(7); // vary the word's other byte (protocol) too
            p[10..12].copy_from_slice(&[0, 0]);
            let sum = checksum(&p[..20]);
            p[10..12].copy_from_slice(&sum.to_be_bytes());
            decrement_ttl(&mut p);
            assert_eq!(p[8], ttl - 1);
            assert_eq!(checksum(&p[..20]), 0, "checksum after ttl {ttl} → {}", ttl - 1);
        }
    }

    #[test]
    fn rfc_1624_example_keeps_the_ones_complement_right() {
        // RFC 1624 §4: the 0x0000 ↔ 0xffff ambiguity of eqn. 2 does not arise with eqn. 3.
        assert_eq!(adjust_checksum(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(parse(&[0x45; 10]), Err(HeaderError::TooShort(10)));
        let mut v6 = sample(64);
        v6[0] = 0x60;
        assert_eq!(parse(&v6), Err(HeaderError::NotIpv4(6)));
        let mut ihl = sample(64);
        ihl[0] = 0x44;
        assert_eq!(parse(&ihl), Err(HeaderError::BadHeaderLength(16)));
        ihl[0] = 0x4f;
        assert_eq!(parse(&ihl), Err(HeaderError::BadHeaderLength(60)));
        let mut long = sample(64);
        long[2..4].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(parse(&long), Err(HeaderError::BadTotalLength { total: 100, have: 25 }));
        long[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(parse(&long), Err(HeaderError::BadTotalLength { total: 10, have: 25 }));
        let mut bad = sample(64);
        bad[15] ^= 1;
        assert!(parse(&bad).is_ok(), "parse does not check the checksum");
        assert_eq!(parse_checked(&bad), Err(HeaderError::BadChecksum));
    }
}
