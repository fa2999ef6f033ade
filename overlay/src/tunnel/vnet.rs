//! The `virtio_net_hdr` the TUN device puts before every packet it gives, and expects
//! before every packet it is given, once `IFF_VNET_HDR` is on: whether the packet is a
//! superpacket to be cut (`gso_type`, `gso_size`) and whether its transport checksum is
//! still to be computed (`NEEDS_CSUM`, from `csum_start`, stored `csum_offset` further).
//! Legacy virtio: the fields are in the machine's byte order (the kernel's
//! `tun16_to_cpu` without `TUNSETVNETBE`).

/// The header's length (without `num_buffers`).
pub const LEN: usize = 10;

/// `flags`: the checksum from `csum_start` on is not computed yet (`CHECKSUM_PARTIAL`).
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum has been checked (`CHECKSUM_UNNECESSARY`).
pub const F_DATA_VALID: u8 = 2;

/// `gso_type`: one packet.
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_UDP: u8 = 3;
pub const GSO_TCPV6: u8 = 4;
pub const GSO_UDP_L4: u8 = 5;
/// `gso_type` bit: the first segment carries CWR.
pub const GSO_ECN: u8 = 0x80;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header in front of `bytes` (which must be at least [`LEN`] long).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let b = bytes.get(..LEN)?;
        let w = |at: usize| u16::from_ne_bytes([b[at], b[at + 1]]);
        Some(VnetHdr { flags: b[0], gso_type: b[1], hdr_len: w(2), gso_size: w(4), csum_start: w(6), csum_offset: w(8) })
    }

    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        for (at, v) in [(2, self.hdr_len), (4, self.gso_size), (6, self.csum_start), (8, self.csum_offset)] {
            b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_round_trips_and_zero_is_a_plain_packet() {
        let h = VnetHdr { flags: F_NEEDS_CSUM, gso_type: GSO_TCPV4, hdr_len: 52, gso_size: 1420, csum_start: 20, csum_offset: 16 };
        assert_eq!(VnetHdr::decode(&h.encode()), Some(h));
        assert_eq!(VnetHdr::decode(&[0; LEN]), Some(VnetHdr::default()));
        assert_eq!(VnetHdr::decode(&[0; 9]), None);
    }
}
