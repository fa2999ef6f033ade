//! The Internet checksum (RFC 1071) over whole segments, fast enough to run over every
//! byte the batched shell cuts or merges: 32-bit words summed into 64-bit lanes in the
//! machine's byte order (the ones' complement sum does not depend on it, RFC 1071 §2(B)),
//! folded and swapped once at the end. [`super::ipv4::checksum`] stays the plain 20-byte
//! header version.

/// The ones' complement sum of `data` in network order, folded to 16 bits and not
/// complemented: what a checksum field holds is `!sum(..)` over the covered bytes with the
/// field zeroed. An odd last byte counts as the high byte of a word.
pub fn sum(data: &[u8]) -> u16 {
    u16::from_be(fold(native_sum(data)))
}

/// `a + b` in ones' complement arithmetic.
pub fn add(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// The sum of the IPv4 pseudo-header of a TCP or UDP segment: addresses, protocol and
/// the segment's length (its header and payload).
pub fn pseudo_header(src: [u8; 4], dst: [u8; 4], protocol: u8, len: u16) -> u16 {
    let words = [u16::from_be_bytes([src[0], src[1]]), u16::from_be_bytes([src[2], src[3]]), u16::from_be_bytes([dst[0], dst[1]]), u16::from_be_bytes([dst[2], dst[3]]), u16::from(protocol), len];
    fold(words.iter().map(|w| u64::from(*w)).sum())
}

/// The 16-bit words of `data` (in the machine's order) summed without folding. Four
/// lanes over 16-byte blocks, which the compiler turns into vector adds; 64 KiB of input
/// stay far below a lane's overflow.
fn native_sum(data: &[u8]) -> u64 {
    let mut lanes = [0u64; 4];
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(b.chunks_exact(4)) {
            *lane += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
    }
    let mut total = lanes.iter().fold(0u64, |a, l| a + (l & 0xffff_ffff) + (l >> 32));
    let mut rest = blocks.remainder().chunks_exact(2);
    for w in &mut rest {
        total += u64::from(u16::from_ne_bytes([w[0], w[1]]));
    }
    if let [last] = rest.remainder() {
        total += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    total
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 word by word, the reference.
    fn slow(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            s = (s & 0xffff) + (s >> 16);
        }
        s as u16
    }

    fn bytes(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn the_fast_sum_equals_the_word_by_word_one_for_every_length_and_offset() {
        let data = bytes(70_000, 7);
        for len in (0..200).chain([1419, 1420, 1432, 1472, 65_535]) {
            for start in [0, 1, 3] {
                let d = &data[start..start + len];
                assert_eq!(sum(d), slow(d), "{len} bytes from {start}");
            }
        }
        assert_eq!(sum(&[0xff; 65_535]), slow(&[0xff; 65_535]), "all ones does not overflow");
    }

    #[test]
    fn a_stored_checksum_makes_the_sum_all_ones() {
        // The IPv4 header of RFC 1071's usual example (checksum field zeroed).
        let mut h = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7];
        let c = !sum(&h);
        assert_eq!(c, 0xb861);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(sum(&h), 0xffff);
        assert_eq!(super::super::ipv4::checksum(&h), 0);
    }

    #[test]
    fn sums_of_parts_add_up_when_the_parts_have_even_lengths() {
        let d = bytes(3000, 3);
        assert_eq!(add(sum(&d[..1420]), sum(&d[1420..])), sum(&d));
        let pseudo = pseudo_header([10, 244, 1, 2], [10, 244, 2, 3], 6, 1472);
        let mut p = vec![10, 244, 1, 2, 10, 244, 2, 3, 0, 6];
        p.extend_from_slice(&1472u16.to_be_bytes());
        assert_eq!(pseudo, sum(&p));
    }
}
