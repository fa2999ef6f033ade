//! The pod subnets of a cluster CIDR as a bitmap (upstream's `cidrset`): the cluster
//! CIDR cut into subnets of one mask size, each free or taken. Pure: the allocator
//! builds it from the stored Nodes on every pass.

use std::net::Ipv4Addr;

use crate::allocator::Cidr;

/// Upstream refuses more than 16 bits between the cluster and the node mask.
pub const MAX_SUBNET_BITS: u8 = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrSetError {
    #[error("node CIDR mask size /{mask} must be longer than the cluster CIDR {cluster}")]
    MaskNotInside { cluster: Cidr, mask: u8 },
    #[error("node CIDR mask size /{mask} cuts {cluster} into more than 2^{MAX_SUBNET_BITS} subnets")]
    MaskTooBig { cluster: Cidr, mask: u8 },
    #[error("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")]
    Full,
}

/// Which subnets of `cluster` (each of `/mask`) are taken.
#[derive(Debug, Clone)]
pub struct CidrSet {
    cluster: Cidr,
    mask: u8,
    used: Vec<bool>,
    free: usize,
}

impl CidrSet {
    pub fn new(cluster: Cidr, mask: u8) -> Result<Self, CidrSetError> {
        if mask <= cluster.prefix() || mask > 32 {
            return Err(CidrSetError::MaskNotInside { cluster, mask });
        }
        if mask - cluster.prefix() > MAX_SUBNET_BITS {
            return Err(CidrSetError::MaskTooBig { cluster, mask });
        }
        let n = 1usize << (mask - cluster.prefix());
        Ok(CidrSet { cluster, mask, used: vec![false; n], free: n })
    }

    /// How many subnets there are.
    pub fn len(&self) -> usize {
        self.used.len()
    }

    pub fn is_empty(&self) -> bool {
        self.used.is_empty()
    }

    /// How many subnets are still free.
    pub fn free(&self) -> usize {
        self.free
    }

    fn subnet(&self, i: usize) -> Cidr {
        let step = 1u32 << (32 - u32::from(self.mask));
        let base = u32::from(self.cluster.network()).wrapping_add(step.wrapping_mul(i as u32));
        Cidr::new(Ipv4Addr::from(base), self.mask).expect("mask checked in new")
    }

    /// The index of `cidr` when it is exactly one of the set's subnets.
    fn index_of(&self, cidr: Cidr) -> Option<usize> {
        if cidr.prefix() != self.mask || !self.cluster.contains(cidr.network()) {
            return None;
        }
        let off = u32::from(cidr.network()) - u32::from(self.cluster.network());
        Some((off >> (32 - u32::from(self.mask))) as usize)
    }

    /// Marks `cidr` taken (a node already holds it). A CIDR outside the set, or of another
    /// size, takes every subnet it overlaps (upstream's `Occupy`); one that covers none
    /// is ignored. Returns whether anything of the set was taken.
    pub fn occupy(&mut self, cidr: Cidr) -> bool {
        if let Some(i) = self.index_of(cidr) {
            self.take(i);
            return true;
        }
        let (lo, hi) = (u64::from(u32::from(cidr.network())), u64::from(u32::from(cidr.network())) + cidr.size());
        let (clo, chi) = (u64::from(u32::from(self.cluster.network())), u64::from(u32::from(self.cluster.network())) + self.cluster.size());
        let (lo, hi) = (lo.max(clo), hi.min(chi));
        if lo >= hi {
            return false;
        }
        let shift = 32 - u32::from(self.mask);
        let first = ((lo - clo) >> shift) as usize;
        let last = ((hi - 1 - clo) >> shift) as usize;
        (first..=last).for_each(|i| self.take(i));
        true
    }

    fn take(&mut self, i: usize) {
        if !self.used[i] {
            self.used[i] = true;
            self.free -= 1;
        }
    }

    /// Takes the lowest free subnet.
    pub fn allocate_next(&mut self) -> Result<Cidr, CidrSetError> {
        let i = self.used.iter().position(|u| !u).ok_or(CidrSetError::Full)?;
        self.take(i);
        Ok(self.subnet(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn masks_are_checked() {
        let cases = [
            ("10.244.0.0/16", 24, Ok(256)),
            ("10.244.0.0/16", 26, Ok(1024)),
            ("10.0.0.0/8", 24, Ok(65536)),
            ("10.244.0.0/24", 28, Ok(16)),
            ("10.244.0.0/16", 16, Err(())),
            ("10.244.0.0/16", 12, Err(())),
            ("10.0.0.0/8", 25, Err(())),
        ];
        for (cluster, mask, want) in cases {
            let got = CidrSet::new(c(cluster), mask).map(|s| s.len()).map_err(|_| ());
            assert_eq!(got, want, "{cluster} /{mask}");
        }
    }

    #[test]
    fn hands_out_the_lowest_free_subnet_and_skips_occupied_ones() {
        let mut s = CidrSet::new(c("10.244.0.0/16"), 24).unwrap();
        assert!(s.occupy(c("10.244.0.0/24")));
        assert!(s.occupy(c("10.244.2.0/24")));
        assert_eq!(s.allocate_next().unwrap().to_string(), "10.244.1.0/24");
        assert_eq!(s.allocate_next().unwrap().to_string(), "10.244.3.0/24");
        assert_eq!(s.free(), 256 - 4);
    }

    #[test]
    fn occupy_covers_overlaps_and_ignores_foreign_ranges() {
        let cases: [(&str, bool, usize); 5] = [
            ("10.244.4.0/24", true, 255),
            ("10.244.4.0/23", true, 254),
            ("10.244.4.128/25", true, 255),
            ("10.0.0.0/8", true, 0),
            ("192.168.0.0/24", false, 256),
        ];
        for (cidr, hit, free) in cases {
            let mut s = CidrSet::new(c("10.244.0.0/16"), 24).unwrap();
            assert_eq!(s.occupy(c(cidr)), hit, "{cidr}");
            assert_eq!(s.free(), free, "{cidr}");
        }
    }

    #[test]
    fn a_full_set_says_so() {
        let mut s = CidrSet::new(c("10.244.0.0/23"), 24).unwrap();
        assert_eq!(s.allocate_next().unwrap().to_string(), "10.244.0.0/24");
        assert_eq!(s.allocate_next().unwrap().to_string(), "10.244.1.0/24");
        assert_eq!(s.allocate_next(), Err(CidrSetError::Full));
    }
}
