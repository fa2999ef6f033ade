//! Merging the TCP packets that arrive back to back from one flow into one superpacket
//! for the TUN, sans-I/O, as the kernel's GRO would on a NIC: the TUN takes it with a
//! `virtio_net_hdr` (`GSO_TCPV4`, `NEEDS_CSUM`) and the pod's stack receives one packet
//! of up to 64 KiB instead of 45. Only what GRO would merge is merged — IPv4 without
//! options or fragments, the same addresses, ports, TOS, TTL, DF, ACK, window and TCP
//! options, sequence numbers back to back, flags ACK (or ACK+ECE) with PSH only on the
//! last, one payload size with only the last shorter — and only packets whose TCP
//! checksum verifies (the merged one's is left to the kernel, which trusts it). The
//! merged headers are built here; the payloads stay in the receive buffers and the write
//! gathers them.

use super::checksum;
use super::gso::MAX_HEADERS;
use super::vnet;

const TCP: u8 = 6;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const ECE: u8 = 0x40;
/// The largest IPv4 packet.
const MAX_TOTAL: usize = 65_535;
/// The most packets one write gathers (one iovec each, below the kernel's `UIO_MAXIOV`).
pub const MAX_MERGED: usize = 512;

/// One write to the TUN: `count` packets from `first` on, merged when more than one.
#[derive(Debug, Clone, Copy)]
pub struct Write {
    pub first: usize,
    pub count: usize,
    /// The `virtio_net_hdr` and the merged IP and TCP headers (`head_len` bytes); for a
    /// single packet only an empty `virtio_net_hdr` (the packet goes whole).
    pub head: [u8; vnet::LEN + MAX_HEADERS],
    pub head_len: usize,
    /// Where each packet's payload starts (its headers' length) when merged.
    pub payload_at: usize,
}

impl Write {
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len]
    }

    fn single(index: usize) -> Write {
        Write { first: index, count: 1, head: [0; vnet::LEN + MAX_HEADERS], head_len: vnet::LEN, payload_at: 0 }
    }
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A packet that may be merged: its TCP header's length and payload's.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    tcp_len: usize,
    payload: usize,
}

fn candidate(p: &[u8]) -> Option<Candidate> {
    // IPv4 with a 20-byte header, TCP, not a fragment, the length exact.
    if p.len() < 40 || p[0] != 0x45 || p[9] != TCP || get16(p, 6) & 0x3fff != 0 || usize::from(get16(p, 2)) != p.len() {
        return None;
    }
    let tcp_len = usize::from(p[32] >> 4) * 4;
    let flags = p[33];
    if tcp_len < 20 || 20 + tcp_len >= p.len() || flags & !(ACK | PSH | ECE) != 0 || flags & ACK == 0 {
        return None;
    }
    Some(Candidate { tcp_len, payload: p.len() - 20 - tcp_len })
}

fn checksum_valid(p: &[u8]) -> bool {
    let pseudo = checksum::pseudo_header([p[12], p[13], p[14], p[15]], [p[16], p[17], p[18], p[19]], TCP, (p.len() - 20) as u16);
    checksum::add(pseudo, checksum::sum(&p[20..])) == 0xffff
}

/// Whether `next` continues the run that starts with `first` and holds `bytes` payload
/// bytes so far: the same flow and headers, the next sequence number, flags alike.
fn continues(first: &[u8], f: Candidate, next: &[u8], n: Candidate, bytes: usize) -> bool {
    let tcp_end = 20 + f.tcp_len;
    n.tcp_len == f.tcp_len
        && n.payload <= f.payload
        // TOS; DF (flags and fragment offset are 0 for both); TTL and protocol; addresses.
        && first[1] == next[1]
        && first[6] == next[6]
        && first[8..10] == next[8..10]
        && first[12..20] == next[12..20]
        // Ports; ACK number; header length and flags but PSH; window; urgent; options.
        && first[20..24] == next[20..24]
        && first[28..33] == next[28..33]
        && first[33] & !PSH == next[33] & !PSH
        && first[34..36] == next[34..36]
        && first[38..tcp_end] == next[38..tcp_end]
        && get32(next, 24) == get32(first, 24).wrapping_add(bytes as u32)
        && 20 + f.tcp_len + bytes + n.payload <= MAX_TOTAL
}

/// Plans the writes of `packets` (IP packets, in arrival order) into `out`: runs of
/// packets that continue one another become one merged write, everything else goes
/// whole, and the order of the packets is kept.
pub fn plan(packets: &[&[u8]], out: &mut Vec<Write>) {
    out.clear();
    let mut i = 0;
    while i < packets.len() {
        let first = packets[i];
        let Some(f) = candidate(first).filter(|_| first[33] & PSH == 0) else {
            out.push(Write::single(i));
            i += 1;
            continue;
        };
        let (mut end, mut bytes, mut verified) = (i + 1, f.payload, false);
        while end < packets.len() && end - i < MAX_MERGED {
            let next = packets[end];
            let Some(n) = candidate(next) else { break };
            if !continues(first, f, next, n, bytes) {
                break;
            }
            // Only packets whose checksum holds are merged (the kernel trusts the merged one).
            if !verified {
                if !checksum_valid(first) {
                    break;
                }
                verified = true;
            }
            if !checksum_valid(next) {
                break;
            }
            bytes += n.payload;
            end += 1;
            if n.payload < f.payload || next[33] & PSH != 0 {
                break;
            }
        }
        if end - i == 1 {
            out.push(Write::single(i));
        } else {
            out.push(merged(packets, i, end, f, bytes));
        }
        i = end;
    }
}

/// The write of `packets[first..end]` as one superpacket of `bytes` payload bytes.
fn merged(packets: &[&[u8]], first: usize, end: usize, f: Candidate, bytes: usize) -> Write {
    let headers = 20 + f.tcp_len;
    let mut w = Write { first, count: end - first, head: [0; vnet::LEN + MAX_HEADERS], head_len: vnet::LEN + headers, payload_at: headers };
    let hdr = vnet::VnetHdr { flags: vnet::F_NEEDS_CSUM, gso_type: vnet::GSO_TCPV4, hdr_len: headers as u16, gso_size: f.payload as u16, csum_start: 20, csum_offset: 16 };
    w.head[..vnet::LEN].copy_from_slice(&hdr.encode());
    let h = &mut w.head[vnet::LEN..vnet::LEN + headers];
    h.copy_from_slice(&packets[first][..headers]);
    h[2..4].copy_from_slice(&((headers + bytes) as u16).to_be_bytes());
    h[10..12].copy_from_slice(&[0, 0]);
    let ip_sum = !checksum::sum(&h[..20]);
    h[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    // The last packet's flags (its PSH); the pseudo-header's sum where the checksum goes,
    // for the kernel to complete (CHECKSUM_PARTIAL).
    h[33] = packets[end - 1][33];
    let pseudo = checksum::pseudo_header([h[12], h[13], h[14], h[15]], [h[16], h[17], h[18], h[19]], TCP, (f.tcp_len + bytes) as u16);
    h[36..38].copy_from_slice(&pseudo.to_be_bytes());
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tunnel::gso::tests::{l4_valid, tcp_packet};

    const SIZE: usize = 1420;

    fn flow(from_seq: u32, sizes: &[usize], last_flags: u8) -> Vec<Vec<u8>> {
        let mut seq = from_seq;
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let flags = if i + 1 == sizes.len() { last_flags } else { ACK };
                let p = tcp_packet(seq, flags, &vec![i as u8; n]);
                seq += n as u32;
                p
            })
            .collect()
    }

    fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
        v.iter().map(Vec::as_slice).collect()
    }

    /// What the TUN would be given: the merged packet with its checksum completed.
    fn written(packets: &[&[u8]], w: &Write) -> (vnet::VnetHdr, Vec<u8>) {
        let hdr = vnet::VnetHdr::decode(w.head()).unwrap();
        if w.count == 1 {
            return (hdr, packets[w.first].to_vec());
        }
        let mut p = w.head()[vnet::LEN..].to_vec();
        for q in &packets[w.first..w.first + w.count] {
            p.extend_from_slice(&q[w.payload_at..]);
        }
        assert!(crate::tunnel::gso::complete_checksum(&mut p, hdr.csum_start.into(), hdr.csum_offset.into()));
        (hdr, p)
    }

    #[test]
    fn a_run_of_one_flow_becomes_one_superpacket_with_the_last_flags() {
        let v = flow(1, &[SIZE, SIZE, SIZE, 300], ACK | PSH);
        let p = refs(&v);
        let mut out = Vec::new();
        plan(&p, &mut out);
        assert_eq!(out.len(), 1);
        let (hdr, sp) = written(&p, &out[0]);
        assert_eq!((hdr.gso_type, hdr.gso_size, hdr.hdr_len, hdr.flags), (vnet::GSO_TCPV4, SIZE as u16, 52, vnet::F_NEEDS_CSUM));
        assert_eq!(sp.len(), 52 + 3 * SIZE + 300);
        assert!(crate::tunnel::ipv4::parse_checked(&sp).is_ok());
        assert!(l4_valid(&sp));
        assert_eq!(sp[33], ACK | PSH);
        assert_eq!(&sp[24..28], &p[0][24..28], "the first sequence number");
    }

    #[test]
    fn runs_end_at_psh_a_short_packet_a_gap_or_another_flow() {
        let mut v = flow(1, &[SIZE, SIZE], ACK | PSH); // 0-1: ends with PSH
        v.extend(flow(1 + 2 * SIZE as u32, &[SIZE, 100, SIZE], ACK)); // 2-3 (short), 4 alone… 
        v.extend(flow(9_999_999, &[SIZE, SIZE], ACK)); // 5-6: a gap before
        let mut other = tcp_packet(1 + 5 * SIZE as u32, ACK, &[1; SIZE]);
        other[21] ^= 1; // another source port (checksum no longer right either)
        v.push(other); // 7
        let syn = tcp_packet(0, 0x02, &[]); // 8: not a candidate
        v.push(syn);
        let p = refs(&v);
        let mut out = Vec::new();
        plan(&p, &mut out);
        let spans: Vec<(usize, usize)> = out.iter().map(|w| (w.first, w.count)).collect();
        assert_eq!(spans, [(0, 2), (2, 2), (4, 1), (5, 2), (7, 1), (8, 1)]);
        for w in &out {
            let (hdr, sp) = written(&p, w);
            if w.count > 1 {
                assert!(l4_valid(&sp), "{w:?}");
            } else {
                assert_eq!(hdr, vnet::VnetHdr::default(), "a single packet goes as it came");
            }
        }
    }

    #[test]
    fn a_packet_whose_checksum_is_wrong_is_not_merged() {
        let mut v = flow(1, &[SIZE, SIZE, SIZE], ACK);
        v[1][60] ^= 0xff;
        let p = refs(&v);
        let mut out = Vec::new();
        plan(&p, &mut out);
        let spans: Vec<(usize, usize)> = out.iter().map(|w| (w.first, w.count)).collect();
        assert_eq!(spans, [(0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn a_merge_stays_within_64_kib() {
        let v = flow(1, &[SIZE; 60], ACK);
        let p = refs(&v);
        let mut out = Vec::new();
        plan(&p, &mut out);
        assert!(out.len() == 2 && out.iter().all(|w| 52 + w.count * SIZE <= MAX_TOTAL), "{:?}", out.iter().map(|w| w.count).collect::<Vec<_>>());
        assert_eq!(out[0].count + out[1].count, 60);
    }
}
