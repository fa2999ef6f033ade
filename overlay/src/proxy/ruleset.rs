//! The part of the proxy's table that follows the Services: per-Service chains, the
//! elements of the four verdict maps and the affinity sets (the fixed skeleton is
//! rendered apart, in [`super::render`]). Plain data, compared to find what a sync changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use crate::ipam::Subnet;

/// The chain every masquerade goes through: it sets the mark `masquerading` looks for.
pub const MARK_MASQ_CHAIN: &str = "mark-for-masquerade";

/// The verdict maps of the table, keyed by destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VerdictMap {
    /// `ip . proto . port` of ClusterIPs and external IPs → `goto` a Service's chain.
    ServiceIps,
    /// `proto . port` of NodePorts (on any local address) → `goto` a Service's chain.
    ServiceNodePorts,
    /// `ip . proto . port` of Services without usable endpoints → `goto reject-chain` or `drop`.
    NoEndpointServices,
    /// `proto . port` of NodePorts without usable endpoints → `goto reject-chain` or `drop`.
    NoEndpointNodePorts,
}

impl VerdictMap {
    pub const ALL: [VerdictMap; 4] =
        [VerdictMap::ServiceIps, VerdictMap::ServiceNodePorts, VerdictMap::NoEndpointServices, VerdictMap::NoEndpointNodePorts];

    /// The map's name in the table.
    pub fn name(self) -> &'static str {
        match self {
            VerdictMap::ServiceIps => "service-ips",
            VerdictMap::ServiceNodePorts => "service-nodeports",
            VerdictMap::NoEndpointServices => "no-endpoint-services",
            VerdictMap::NoEndpointNodePorts => "no-endpoint-nodeports",
        }
    }

    /// The map's key type as `nft` spells it.
    pub fn key_type(self) -> &'static str {
        match self {
            VerdictMap::ServiceIps | VerdictMap::NoEndpointServices => "ipv4_addr . inet_proto . inet_service",
            VerdictMap::ServiceNodePorts | VerdictMap::NoEndpointNodePorts => "inet_proto . inet_service",
        }
    }
}

/// A Service port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// From the API's spelling (`TCP`, `UDP`, `SCTP`, any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// As `nft` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

/// One rule of a per-Service chain: the few shapes kube-proxy's layout uses. [`fmt::Display`]
/// gives its `nft` syntax; [`super::netlink`] encodes the same expressions `nft` would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `ip daddr D P dport N ip saddr != CIDR jump mark-for-masquerade`: ClusterIP traffic
    /// from outside the pod network.
    MasqueradeOutsiders { daddr: Ipv4Addr, protocol: Protocol, dport: u16, cidr: Subnet },
    /// `jump mark-for-masquerade`
    Masquerade,
    /// `ip saddr CIDR goto C comment "short-circuit pod traffic"`
    PodSourceGoto { cidr: Subnet, chain: String },
    /// `fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`
    LocalSourceMasquerade,
    /// `fib saddr type local goto C comment "short-circuit local traffic"`
    LocalSourceGoto { chain: String },
    /// `goto C`
    Goto { chain: String },
    /// `ip saddr @SET goto C`: a client seen recently goes to the same endpoint.
    AffinityGoto { set: String, chain: String },
    /// `numgen random mod N == 0 goto C`
    RandomGoto { modulus: u32, chain: String },
    /// `ip saddr IP jump mark-for-masquerade`: an endpoint reaching itself.
    Hairpin { ip: Ipv4Addr },
    /// `update @SET { ip saddr }`
    RememberClient { set: String },
    /// `meta l4proto P dnat to IP:PORT`
    Dnat { protocol: Protocol, ip: Ipv4Addr, port: u16 },
}

impl Rule {
    /// The comment `nft` keeps with the rule.
    pub fn comment(&self) -> Option<&'static str> {
        match self {
            Rule::PodSourceGoto { .. } => Some("short-circuit pod traffic"),
            Rule::LocalSourceMasquerade => Some("masquerade local traffic"),
            Rule::LocalSourceGoto { .. } => Some("short-circuit local traffic"),
            _ => None,
        }
    }

    /// The set the rule names, if any.
    pub fn set(&self) -> Option<&str> {
        match self {
            Rule::AffinityGoto { set, .. } | Rule::RememberClient { set } => Some(set),
            _ => None,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::MasqueradeOutsiders { daddr, protocol, dport, cidr } => {
                write!(f, "ip daddr {daddr} {} dport {dport} ip saddr != {cidr} jump {MARK_MASQ_CHAIN}", protocol.name())?
            }
            Rule::Masquerade => write!(f, "jump {MARK_MASQ_CHAIN}")?,
            Rule::PodSourceGoto { cidr, chain } => write!(f, "ip saddr {cidr} goto {chain}")?,
            Rule::LocalSourceMasquerade => write!(f, "fib saddr type local jump {MARK_MASQ_CHAIN}")?,
            Rule::LocalSourceGoto { chain } => write!(f, "fib saddr type local goto {chain}")?,
            Rule::Goto { chain } => write!(f, "goto {chain}")?,
            Rule::AffinityGoto { set, chain } => write!(f, "ip saddr @{set} goto {chain}")?,
            Rule::RandomGoto { modulus, chain } => write!(f, "numgen random mod {modulus} == 0 goto {chain}")?,
            Rule::Hairpin { ip } => write!(f, "ip saddr {ip} jump {MARK_MASQ_CHAIN}")?,
            Rule::RememberClient { set } => write!(f, "update @{set} {{ ip saddr }}")?,
            Rule::Dnat { protocol, ip, port } => write!(f, "meta l4proto {} dnat to {ip}:{port}", protocol.name())?,
        }
        match self.comment() {
            Some(c) => write!(f, " comment \"{c}\""),
            None => Ok(()),
        }
    }
}

impl PartialEq<str> for Rule {
    fn eq(&self, other: &str) -> bool {
        let text = self.to_string();
        text == other
    }
}

impl PartialEq<&str> for Rule {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

/// What the Services ask of the table: every per-Service chain with its rules, every map
/// element (key → verdict, in `nft` syntax), every affinity set with its timeout in
/// seconds, and the UDP destinations whose stale conntrack entries a change must clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub chains: BTreeMap<String, Vec<Rule>>,
    pub maps: BTreeMap<VerdictMap, BTreeMap<String, String>>,
    pub affinity_sets: BTreeMap<String, u32>,
    /// Each UDP destination of a Service (with or without endpoints) → the endpoints it
    /// DNATs to; not part of the table, compared to clear stale conntrack entries.
    pub udp: BTreeMap<UdpDest, BTreeSet<(Ipv4Addr, u16)>>,
}

/// Where a client sends UDP traffic for a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UdpDest {
    /// A ClusterIP or external IP, and the Service port.
    Ip(Ipv4Addr, u16),
    /// A NodePort, on any local address.
    NodePort(u16),
}

impl Ruleset {
    /// The elements of one map (empty when it has none).
    pub fn map(&self, map: VerdictMap) -> impl Iterator<Item = (&String, &String)> {
        self.maps.get(&map).into_iter().flatten()
    }

    pub fn insert_element(&mut self, map: VerdictMap, key: String, verdict: String) {
        self.maps.entry(map).or_default().insert(key, verdict);
    }

    /// The number of map elements of every map.
    pub fn element_count(&self) -> usize {
        self.maps.values().map(BTreeMap::len).sum()
    }
}

/// Chain-name prefixes of the per-Service objects (kube-proxy's, so the layout reads the same).
pub const CLUSTER_PREFIX: &str = "service-";
pub const LOCAL_PREFIX: &str = "local-";
pub const EXTERNAL_PREFIX: &str = "external-";
pub const ENDPOINT_PREFIX: &str = "endpoint-";
pub const AFFINITY_PREFIX: &str = "affinity-";

/// Longest name `nft` takes is 255 bytes; keep a margin.
const NAME_MAX: usize = 240;

/// One port of one Service, as it names its chains: `namespace/name/protocol/port`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The port's name, or its number when it has none.
    pub port: String,
}

impl ServicePortName {
    fn base(&self) -> String {
        format!("{}/{}/{}/{}", self.namespace, self.name, self.protocol, self.port)
    }

    /// A chain of the Service port (`prefix` is one of the `*_PREFIX` constants).
    pub fn chain(&self, prefix: &str) -> String {
        hashed(prefix, &self.base())
    }

    /// The chain of one endpoint of the Service port.
    pub fn endpoint_chain(&self, ip: std::net::Ipv4Addr, port: u16) -> String {
        hashed(ENDPOINT_PREFIX, &format!("{}__{ip}/{port}", self.base()))
    }

    /// The affinity set of one endpoint (client addresses recently sent to it).
    pub fn affinity_set(&self, ip: std::net::Ipv4Addr, port: u16) -> String {
        hashed(AFFINITY_PREFIX, &format!("{}__{ip}/{port}", self.base()))
    }
}

/// Whether a chain name is one of the per-Service chains (they all hold a `/`; the
/// skeleton's names never do).
pub fn is_service_chain(name: &str) -> bool {
    name.contains('/')
}

/// The Service (`namespace`, `name`) a per-Service chain or affinity set belongs to, read
/// back from its name (`prefix` + hash + `-` + `namespace/name/…`, see [`hashed`]; a cut
/// name keeps both: they are DNS labels, at most 63 bytes each); `None` for other names.
pub fn service_of(name: &str) -> Option<(&str, &str)> {
    let rest = [CLUSTER_PREFIX, LOCAL_PREFIX, EXTERNAL_PREFIX, ENDPOINT_PREFIX, AFFINITY_PREFIX].iter().find_map(|p| name.strip_prefix(p))?;
    let mut parts = rest.get(HASH_LEN + 1..)?.splitn(3, '/');
    let (namespace, service) = (parts.next()?, parts.next()?);
    parts.next()?;
    Some((namespace, service))
}

/// The shard (`0..shards`) of a Service: a stable hash of `namespace/name`, so every
/// object of one Service lands in one shard, sync after sync.
pub fn shard_of(namespace: &str, name: &str, shards: usize) -> usize {
    let h = fnv1a(namespace.bytes().chain(std::iter::once(b'/')).chain(name.bytes()));
    // The remainder is below `shards`, a usize.
    (h % shards.max(1) as u64) as usize
}

/// Whether a set name is an affinity set.
pub fn is_affinity_set(name: &str) -> bool {
    name.starts_with(AFFINITY_PREFIX)
}

/// `prefix` + 8 characters of a hash of `base` + `-` + `base`, cut to [`NAME_MAX`]: the
/// hash keeps cut names unique and tells apart names that differ in one digit.
fn hashed(prefix: &str, base: &str) -> String {
    let mut name = format!("{prefix}{}-{base}", base32_hash(base));
    if name.len() > NAME_MAX {
        // The base is ASCII (names, protocols, digits, dots, slashes): any cut is a char boundary.
        name.truncate(NAME_MAX - 3);
        name.push_str("...");
    }
    name
}

/// The length of the hash in names.
const HASH_LEN: usize = 8;

/// 40 bits of FNV-1a 64 of `s` in base32 (RFC 4648 alphabet): [`HASH_LEN`] characters.
fn base32_hash(s: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let h = fnv1a(s.bytes());
    (0..HASH_LEN).map(|i| ALPHABET[((h >> (i * 5)) & 31) as usize] as char).collect()
}

fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spn() -> ServicePortName {
        ServicePortName { namespace: "ns1".into(), name: "web".into(), protocol: "tcp".into(), port: "http".into() }
    }

    #[test]
    fn chain_names_carry_a_hash_and_the_service_port() {
        let c = spn().chain(CLUSTER_PREFIX);
        assert!(c.starts_with("service-") && c.ends_with("-ns1/web/tcp/http"), "{c}");
        assert_eq!(c.len(), "service-".len() + 8 + "-ns1/web/tcp/http".len());
        assert!(is_service_chain(&c));
        let e = spn().endpoint_chain("10.244.1.5".parse().unwrap(), 8080);
        assert!(e.starts_with("endpoint-") && e.ends_with("-ns1/web/tcp/http__10.244.1.5/8080"), "{e}");
        assert_ne!(spn().endpoint_chain("10.244.1.5".parse().unwrap(), 80), spn().endpoint_chain("10.244.1.6".parse().unwrap(), 80));
        assert!(is_affinity_set(&spn().affinity_set("10.244.1.5".parse().unwrap(), 80)));
        assert!(!is_service_chain("services") && !is_service_chain("nat-prerouting"));
    }

    #[test]
    fn every_name_of_a_service_port_names_its_service() {
        let ip = "10.244.1.5".parse().unwrap();
        for name in [spn().chain(CLUSTER_PREFIX), spn().chain(LOCAL_PREFIX), spn().chain(EXTERNAL_PREFIX), spn().endpoint_chain(ip, 80), spn().affinity_set(ip, 80)] {
            assert_eq!(service_of(&name), Some(("ns1", "web")), "{name}");
        }
        let long = ServicePortName { namespace: "n".repeat(63), name: "s".repeat(63), protocol: "tcp".into(), port: "p".repeat(100) };
        let cut = long.endpoint_chain(ip, 80);
        assert!(cut.ends_with("..."));
        assert_eq!(service_of(&cut), Some(("n".repeat(63).as_str(), "s".repeat(63).as_str())));
        assert_eq!(service_of("services"), None);
        assert_eq!(service_of("mark-for-masquerade"), None);
        assert!((0..100).map(|i| shard_of("ns", &format!("svc-{i}"), 16)).all(|s| s < 16));
        assert_eq!(shard_of("ns", "web", 16), shard_of("ns", "web", 16));
    }

    #[test]
    fn long_names_are_cut_but_stay_unique() {
        let (a, b) = (hashed(ENDPOINT_PREFIX, &format!("{}a", "x".repeat(300))), hashed(ENDPOINT_PREFIX, &format!("{}b", "x".repeat(300))));
        assert_eq!(a.len(), NAME_MAX);
        assert!(a.ends_with("..."));
        assert_ne!(a, b);
    }
}
