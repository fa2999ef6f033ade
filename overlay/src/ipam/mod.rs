//! Pod addresses of one node's subnet. [`Pool`] is the sans-I/O core (which address
//! each pod holds, which is next); [`store::DiskStore`] keeps one file per pod so that a
//! restarted agent gives every pod the address it held and never hands one out twice.
//!
//! The subnet's network address, its first address (the bridge's gateway) and its
//! broadcast address are never handed out. Addresses are given round-robin from the last
//! one handed out (as CNI's host-local does), so a freed address is not reused at once.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

pub mod store;

/// An IPv4 subnet such as `10.244.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix_len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("{0:?} is not an IPv4 CIDR (a.b.c.d/n)")]
    BadCidr(String),
    #[error("{0} is too small for pods (at least a /30)")]
    TooSmall(Subnet),
    #[error("no free address left in {0}")]
    Exhausted(Subnet),
    #[error("{ip} is not a pod address of {subnet}")]
    Outside { ip: Ipv4Addr, subnet: Subnet },
    #[error("{ip} is held by pod {holder}")]
    Taken { ip: Ipv4Addr, holder: String },
}

impl Subnet {
    pub fn new(ip: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        (prefix_len <= 32).then(|| Subnet { network: Ipv4Addr::from(u32::from(ip) & Self::mask_of(prefix_len)), prefix_len })
    }

    fn mask_of(prefix_len: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0)
    }

    /// Parses `a.b.c.d/n` (host bits are cleared).
    pub fn parse(s: &str) -> Result<Self, IpamError> {
        let bad = || IpamError::BadCidr(s.to_string());
        let (ip, bits) = s.trim().split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix_len: u8 = bits.parse().map_err(|_| bad())?;
        Self::new(ip, prefix_len).ok_or_else(bad)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix_len) == u32::from(self.network)
    }

    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix_len))
    }

    fn nth(&self, i: u64) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(i as u32))
    }

    /// The bridge's address: the subnet's first address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.nth(1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        self.nth(self.size() - 1)
    }

    /// Whether `ip` may be a pod's: inside, and not network, gateway or broadcast.
    pub fn is_pod_address(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network && ip != self.gateway() && ip != self.broadcast()
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// Which pod holds which address of one subnet.
#[derive(Debug, Clone)]
pub struct Pool {
    subnet: Subnet,
    by_pod: HashMap<String, Ipv4Addr>,
    by_ip: BTreeMap<Ipv4Addr, String>,
    /// The offset last handed out.
    last: u64,
}

/// An address given to a pod; `fresh` when it was not held before (so it must be stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub ip: Ipv4Addr,
    pub fresh: bool,
}

impl Pool {
    pub fn new(subnet: Subnet) -> Result<Self, IpamError> {
        if subnet.prefix_len > 30 {
            return Err(IpamError::TooSmall(subnet));
        }
        Ok(Pool { subnet, by_pod: HashMap::new(), by_ip: BTreeMap::new(), last: 1 })
    }

    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    /// Records an address a pod already holds (read back from disk).
    pub fn restore(&mut self, pod: &str, ip: Ipv4Addr) -> Result<(), IpamError> {
        if !self.subnet.is_pod_address(ip) {
            return Err(IpamError::Outside { ip, subnet: self.subnet });
        }
        match self.by_ip.get(&ip) {
            Some(holder) if holder != pod => return Err(IpamError::Taken { ip, holder: holder.clone() }),
            _ => {}
        }
        if let Some(old) = self.by_pod.insert(pod.to_string(), ip) {
            self.by_ip.remove(&old);
        }
        self.by_ip.insert(ip, pod.to_string());
        let off = u64::from(u32::from(ip) - u32::from(self.subnet.network));
        self.last = self.last.max(off);
        Ok(())
    }

    /// The pod's address: the one it holds, else the next free one after the last handed out.
    pub fn allocate(&mut self, pod: &str) -> Result<Lease, IpamError> {
        if let Some(ip) = self.by_pod.get(pod) {
            return Ok(Lease { ip: *ip, fresh: false });
        }
        let size = self.subnet.size();
        // Offsets 2..size-1 are pod addresses (0 network, 1 gateway, size-1 broadcast).
        let usable = size - 3;
        let from = if self.last < 2 { usable - 1 } else { self.last - 2 };
        for step in 1..=usable {
            let off = 2 + (from + step) % usable;
            let ip = self.subnet.nth(off);
            if !self.by_ip.contains_key(&ip) {
                self.last = off;
                self.by_pod.insert(pod.to_string(), ip);
                self.by_ip.insert(ip, pod.to_string());
                return Ok(Lease { ip, fresh: true });
            }
        }
        Err(IpamError::Exhausted(self.subnet))
    }

    /// Frees the pod's address; returns it.
    pub fn release(&mut self, pod: &str) -> Option<Ipv4Addr> {
        let ip = self.by_pod.remove(pod)?;
        self.by_ip.remove(&ip);
        Some(ip)
    }

    pub fn get(&self, pod: &str) -> Option<Ipv4Addr> {
        self.by_pod.get(pod).copied()
    }

    pub fn len(&self) -> usize {
        self.by_pod.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pod.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_parse_and_reserve_network_gateway_broadcast() {
        let s = Subnet::parse("10.244.1.7/24").unwrap();
        assert_eq!(s.to_string(), "10.244.1.0/24");
        assert_eq!(s.gateway(), ip("10.244.1.1"));
        assert_eq!(s.broadcast(), ip("10.244.1.255"));
        let cases = [("10.244.1.0", false), ("10.244.1.1", false), ("10.244.1.2", true), ("10.244.1.254", true), ("10.244.1.255", false), ("10.244.2.5", false)];
        for (a, want) in cases {
            assert_eq!(s.is_pod_address(ip(a)), want, "{a}");
        }
        for bad in ["10.244.1.0", "10.244.1.0/33", "x/24", "10.244.1.0/"] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Pool::new(Subnet::parse("10.0.0.0/31").unwrap()).unwrap_err(), IpamError::TooSmall(Subnet::parse("10.0.0.0/31").unwrap()));
    }

    #[test]
    fn a_pod_keeps_its_address_and_two_pods_never_share_one() {
        let mut p = Pool::new(Subnet::parse("10.244.1.0/24").unwrap()).unwrap();
        let a = p.allocate("a").unwrap();
        assert_eq!(a, Lease { ip: ip("10.244.1.2"), fresh: true });
        assert_eq!(p.allocate("a").unwrap(), Lease { ip: a.ip, fresh: false });
        assert_eq!(p.allocate("b").unwrap().ip, ip("10.244.1.3"));
    }

    #[test]
    fn freed_addresses_come_back_only_after_the_others() {
        let mut p = Pool::new(Subnet::parse("10.0.0.0/29").unwrap()).unwrap();
        // Pod addresses .2 … .6.
        let got: Vec<Ipv4Addr> = ["a", "b", "c"].iter().map(|n| p.allocate(n).unwrap().ip).collect();
        assert_eq!(got, [ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4")]);
        assert_eq!(p.release("a"), Some(ip("10.0.0.2")));
        assert_eq!(p.allocate("d").unwrap().ip, ip("10.0.0.5"));
        assert_eq!(p.allocate("e").unwrap().ip, ip("10.0.0.6"));
        assert_eq!(p.allocate("f").unwrap().ip, ip("10.0.0.2"), "wraps around to the freed one");
        assert_eq!(p.allocate("g"), Err(IpamError::Exhausted(p.subnet())));
        assert_eq!(p.release("nobody"), None);
    }

    #[test]
    fn restore_refuses_what_cannot_be_a_pods_and_doubles() {
        let mut p = Pool::new(Subnet::parse("10.244.1.0/24").unwrap()).unwrap();
        p.restore("a", ip("10.244.1.9")).unwrap();
        let cases = [
            ("b", "10.244.1.1", "gateway"),
            ("b", "10.244.1.255", "broadcast"),
            ("b", "10.244.2.9", "another subnet"),
            ("b", "10.244.1.9", "held by a"),
        ];
        for (pod, a, why) in cases {
            assert!(p.restore(pod, ip(a)).is_err(), "{why}");
        }
        assert_eq!(p.allocate("a").unwrap(), Lease { ip: ip("10.244.1.9"), fresh: false });
        assert_eq!(p.allocate("c").unwrap().ip, ip("10.244.1.10"), "continues after the restored ones");
    }
}
