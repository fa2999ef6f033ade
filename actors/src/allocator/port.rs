//! The NodePort range.

/// An inclusive port range such as `30000-32767`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// Parses `first-last` (or a single port).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: u16 = a.trim().parse().map_err(|_| format!("{s:?} is not a port range (first-last)"))?;
        let last: u16 = b.trim().parse().map_err(|_| format!("{s:?} is not a port range (first-last)"))?;
        if first == 0 || last < first {
            return Err(format!("{s:?} is not a port range (first-last)"));
        }
        Ok(PortRange { first, last })
    }

    pub fn contains(&self, port: i32) -> bool {
        port >= i32::from(self.first) && port <= i32::from(self.last)
    }

    pub fn size(&self) -> u64 {
        u64::from(self.last - self.first) + 1
    }

    pub fn nth(&self, offset: u64) -> i32 {
        i32::from(self.first) + offset as i32
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_range() {
        let r = PortRange::parse("30000-32767").unwrap();
        assert_eq!(r.size(), 2768);
        assert!(r.contains(30000) && r.contains(32767) && !r.contains(29999) && !r.contains(32768));
        assert_eq!(r.nth(80), 30080);
        assert!(PortRange::parse("32767-30000").is_err());
        assert!(PortRange::parse("x").is_err());
    }
}
