//! IPv4 CIDR arithmetic for the Service ClusterIP range.

use std::net::Ipv4Addr;

/// An IPv4 range such as `10.96.0.0/12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` (host bits are cleared).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, bits) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| format!("{s:?}: {ip:?} is not an IPv4 address"))?;
        let prefix: u8 = bits.parse().map_err(|_| format!("{s:?}: bad prefix length"))?;
        if !(1..=30).contains(&prefix) {
            return Err(format!("{s:?}: the prefix length must be between 1 and 30"));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Cidr { base: u32::from(ip) & mask, prefix })
    }

    /// Number of addresses in the range, the network and broadcast addresses included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(ip) & mask == self.base
    }

    /// Whether `ip` may be handed out: inside the range, not the network or broadcast address.
    pub fn is_usable(&self, ip: Ipv4Addr) -> bool {
        let off = u64::from(u32::from(ip).wrapping_sub(self.base));
        self.contains(ip) && off != 0 && off != self.size() - 1
    }

    /// The address at `offset` from the network address.
    pub fn nth(&self, offset: u64) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(offset as u32))
    }

    /// The prefix length (`12` in `10.96.0.0/12`).
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The network address (`10.96.0.0` in `10.96.0.0/12`).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    /// The range of `prefix` bits starting at `ip` (host bits are cleared); `prefix` in 1..=32.
    pub fn new(ip: Ipv4Addr, prefix: u8) -> Option<Self> {
        if !(1..=32).contains(&prefix) {
            return None;
        }
        let mask = if prefix == 32 { u32::MAX } else { u32::MAX << (32 - prefix) };
        Some(Cidr { base: u32::from(ip) & mask, prefix })
    }

    /// The first usable address (`10.96.0.1`), reserved for the `kubernetes` Service.
    pub fn first_usable(&self) -> Ipv4Addr {
        self.nth(1)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds_the_service_range() {
        let c = Cidr::parse("10.96.0.0/12").unwrap();
        assert_eq!(c.size(), 1 << 20);
        assert!(c.is_usable("10.96.0.10".parse().unwrap()));
        assert!(c.is_usable("10.111.255.254".parse().unwrap()));
        assert!(!c.is_usable("10.96.0.0".parse().unwrap()), "network address");
        assert!(!c.is_usable("10.111.255.255".parse().unwrap()), "broadcast address");
        assert!(!c.is_usable("10.112.0.1".parse().unwrap()));
        assert_eq!(c.first_usable().to_string(), "10.96.0.1");
        assert_eq!(Cidr::parse("10.96.3.7/24").unwrap().to_string(), "10.96.3.0/24");
        assert!(Cidr::parse("10.96.0.0").is_err());
        assert!(Cidr::parse("10.96.0.0/31").is_err());
    }
}
