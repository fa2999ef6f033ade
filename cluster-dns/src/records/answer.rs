//! Answering one question from the built zone: the name is parsed as CoreDNS's
//! `parseRequest` does, resolved to targets (`findServices`/`findPods`), then rendered
//! for the asked type; NXDOMAIN and NODATA carry the zone's SOA.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{normalize, Answer, Kind, Port, Rcode, Records, Scope, Zone, DNS_SCHEMA_VERSION, TTL};

/// How many CNAMEs inside the zone are followed before giving up (CoreDNS stops at 8).
pub const MAX_CNAME_DEPTH: usize = 8;

/// TTL of the `dns-version` TXT record (CoreDNS's).
const VERSION_TTL: u32 = 28800;

/// Where a name led: what exists there, before the query type is looked at.
enum Resolved<'a> {
    NxDomain,
    /// The zone apex: SOA and NS live here.
    Apex,
    /// `dns-version.<domain>`: one TXT record.
    Version,
    /// The name exists and owns no records (`svc.<domain>`, `ns.svc.<domain>`…).
    Empty,
    Targets(Vec<Target<'a>>),
}

/// One backend of a name: an address or a CNAME target, with the port and SRV target
/// name it is published under.
struct Target<'a> {
    host: Host<'a>,
    port: Option<u16>,
    /// The SRV target name (`svc.ns.svc.<domain>` or `endpoint.svc.ns.svc.<domain>`).
    srv_name: Option<&'a Name>,
}

#[derive(Clone, Copy)]
enum Host<'a> {
    Ip(IpAddr),
    Name(&'a Name),
}

impl Records {
    /// Answers `qtype` for `name` (any case; trailing dot optional). A name that is not
    /// a valid DNS name is marked [`Scope::Forward`]: it is not in the zone.
    pub fn answer(&self, name: &str, qtype: RecordType) -> Answer {
        let Ok(mut qname) = Name::from_ascii(name) else {
            return Answer::forward();
        };
        qname.set_fqdn(true);
        self.answer_name(&qname, qtype)
    }

    /// As [`Records::answer`], for a parsed name; owner names keep its case.
    pub fn answer_name(&self, qname: &Name, qtype: RecordType) -> Answer {
        let lower = normalize(&qname.to_ascii());
        if is_reverse(&lower) {
            return self.answer_reverse(qname, &lower, qtype);
        }
        let Some(zone) = &self.zone else {
            return Answer::forward();
        };
        let Some(base) = strip_zone(&lower, &zone.domain) else {
            return Answer::forward();
        };
        let labels: Vec<&str> = if base.is_empty() { Vec::new() } else { base.split('.').collect() };
        self.answer_in_zone(zone, qname, &labels, qtype, 0)
    }

    fn answer_in_zone(&self, zone: &Zone, qname: &Name, labels: &[&str], qtype: RecordType, depth: usize) -> Answer {
        let resolved = self.resolve(labels);
        let mut answers = Vec::new();
        let mut additionals = Vec::new();
        match (&resolved, qtype) {
            (Resolved::NxDomain, _) => return negative(zone, Rcode::NxDomain),
            (Resolved::Apex, RecordType::SOA) => answers.push(zone.soa.clone()),
            (Resolved::Apex, RecordType::NS) => answers.push(zone.ns.clone()),
            (Resolved::Version, RecordType::TXT) => answers.push(Record::from_rdata(
                qname.clone(),
                VERSION_TTL,
                RData::TXT(TXT::new(vec![DNS_SCHEMA_VERSION.to_owned()])),
            )),
            (Resolved::Targets(targets), RecordType::A | RecordType::AAAA) => {
                self.addresses(zone, qname, targets, qtype, depth, &mut answers);
            }
            (Resolved::Targets(targets), RecordType::CNAME) => {
                if let Some(target) = targets.iter().find_map(|t| match t.host {
                    Host::Name(n) => Some(n),
                    Host::Ip(_) => None,
                }) {
                    answers.push(Record::from_rdata(qname.clone(), TTL, RData::CNAME(CNAME(target.clone()))));
                }
            }
            (Resolved::Targets(targets), RecordType::SRV) => srv(qname, targets, &mut answers, &mut additionals),
            _ => {}
        }
        if answers.is_empty() {
            return negative(zone, Rcode::NoError);
        }
        Answer { scope: Scope::Cluster, rcode: Rcode::NoError, answers, authority: Vec::new(), additionals }
    }

    /// A and AAAA: addresses of the asked family; a CNAME inside the zone is followed
    /// (and kept only when it leads somewhere), one leaving the zone is returned as is.
    fn addresses(
        &self,
        zone: &Zone,
        qname: &Name,
        targets: &[Target<'_>],
        qtype: RecordType,
        depth: usize,
        answers: &mut Vec<Record>,
    ) {
        let mut seen = HashSet::new();
        for target in targets {
            match target.host {
                Host::Ip(IpAddr::V4(ip)) if qtype == RecordType::A => {
                    if seen.insert(IpAddr::V4(ip)) {
                        answers.push(Record::from_rdata(qname.clone(), TTL, RData::A(A(ip))));
                    }
                }
                Host::Ip(IpAddr::V6(ip)) if qtype == RecordType::AAAA => {
                    if seen.insert(IpAddr::V6(ip)) {
                        answers.push(Record::from_rdata(qname.clone(), TTL, RData::AAAA(AAAA(ip))));
                    }
                }
                Host::Ip(_) => {}
                Host::Name(target) => {
                    if target.eq_ignore_root(qname) {
                        continue; // x CNAME x
                    }
                    let cname = Record::from_rdata(qname.clone(), TTL, RData::CNAME(CNAME(target.clone())));
                    let lower = normalize(&target.to_ascii());
                    match strip_zone(&lower, &zone.domain) {
                        Some(base) if depth < MAX_CNAME_DEPTH => {
                            let labels: Vec<&str> = if base.is_empty() { Vec::new() } else { base.split('.').collect() };
                            let next = self.answer_in_zone(zone, target, &labels, qtype, depth + 1);
                            if !next.answers.is_empty() {
                                answers.push(cname);
                                answers.extend(next.answers);
                            }
                        }
                        Some(_) => {}
                        None => answers.push(cname),
                    }
                }
            }
        }
    }

    /// What exists at `labels` (the name below the zone, leftmost label first).
    fn resolve(&self, labels: &[&str]) -> Resolved<'_> {
        let Some((&kind, rest)) = labels.split_last() else {
            return Resolved::Apex;
        };
        if labels == ["dns-version"] {
            return Resolved::Version;
        }
        if kind != "svc" && kind != "pod" {
            return Resolved::NxDomain;
        }
        let Some((&namespace, rest)) = rest.split_last() else {
            return Resolved::Empty;
        };
        if !self.namespaces.contains(namespace) {
            return Resolved::NxDomain;
        }
        let Some((&service, rest)) = rest.split_last() else {
            return Resolved::Empty;
        };
        if kind == "pod" {
            return match rest {
                [] => match undash(service) {
                    Some(ip) => Resolved::Targets(vec![Target { host: Host::Ip(ip), port: None, srv_name: None }]),
                    None => Resolved::NxDomain,
                },
                _ => Resolved::NxDomain,
            };
        }
        let (endpoint, port, protocol) = match rest {
            [] => (None, None, None),
            [endpoint] => (Some(*endpoint), None, None),
            [port, protocol] => (None, Some(strip_underscore(port)), Some(strip_underscore(protocol))),
            _ => return Resolved::NxDomain,
        };
        self.find_service(namespace, service, endpoint, port, protocol)
    }

    fn find_service(
        &self,
        namespace: &str,
        service: &str,
        endpoint: Option<&str>,
        port: Option<&str>,
        protocol: Option<&str>,
    ) -> Resolved<'_> {
        let Some(svc) = self.services.get(&(namespace.to_owned(), service.to_owned())) else {
            return Resolved::NxDomain;
        };
        let matches = |p: &Port| port.is_none_or(|q| q == p.name) && protocol.is_none_or(|q| q == p.protocol);
        let mut targets = Vec::new();
        match (&svc.kind, endpoint) {
            (Kind::External(target), None) => {
                let Some(target) = target else {
                    return Resolved::NxDomain;
                };
                targets.push(Target { host: Host::Name(target), port: None, srv_name: Some(&svc.fqdn) });
            }
            (Kind::External(_), Some(_)) => return Resolved::NxDomain,
            (Kind::ClusterIp(ips), None) => {
                let mut matched = false;
                for p in svc.ports.iter().filter(|p| matches(p)) {
                    matched = true;
                    for ip in ips {
                        targets.push(Target { host: Host::Ip(*ip), port: p.number, srv_name: Some(&svc.fqdn) });
                    }
                }
                if !matched {
                    return Resolved::NxDomain;
                }
            }
            // A headless Service, or an endpoint name under any Service.
            (Kind::Headless, _) | (Kind::ClusterIp(_), Some(_)) => {
                for ep in &svc.endpoints {
                    if endpoint.is_some_and(|e| e != ep.label) {
                        continue;
                    }
                    for p in ep.ports.iter().filter(|p| matches(p)) {
                        targets.push(Target { host: Host::Ip(ep.ip), port: p.number, srv_name: Some(&ep.fqdn) });
                    }
                }
                if targets.is_empty() {
                    return Resolved::NxDomain;
                }
            }
        }
        Resolved::Targets(targets)
    }

    fn answer_reverse(&self, qname: &Name, lower: &str, qtype: RecordType) -> Answer {
        if qtype != RecordType::PTR {
            return Answer::forward();
        }
        let Some(names) = reverse_ip(lower).and_then(|ip| self.reverse.get(&ip)) else {
            return Answer::forward();
        };
        let answers = names
            .iter()
            .map(|n| Record::from_rdata(qname.clone(), TTL, RData::PTR(PTR(n.clone()))))
            .collect();
        Answer { scope: Scope::Cluster, rcode: Rcode::NoError, answers, authority: Vec::new(), additionals: Vec::new() }
    }
}

/// SRV records for targets with a port, weighted evenly as CoreDNS does
/// (`floor(100 / n)`, at least 1), with the targets' addresses as additionals.
fn srv(qname: &Name, targets: &[Target<'_>], answers: &mut Vec<Record>, additionals: &mut Vec<Record>) {
    let addressed: Vec<(&Name, IpAddr, Option<u16>)> = targets
        .iter()
        .filter_map(|t| match (t.host, t.srv_name) {
            (Host::Ip(ip), Some(name)) => Some((name, ip, t.port)),
            _ => None,
        })
        .collect();
    let weight = u16::try_from(100 / addressed.len().max(1)).unwrap_or(1).max(1);
    let mut seen_srv = HashSet::new();
    let mut seen_addr = HashSet::new();
    for (name, ip, port) in addressed {
        let Some(port) = port else { continue };
        if seen_srv.insert((name, port)) {
            let srv = SRV::new(0, weight, port, name.clone());
            answers.push(Record::from_rdata(qname.clone(), TTL, RData::SRV(srv)));
        }
        if seen_addr.insert((name, ip)) {
            let data = match ip {
                IpAddr::V4(ip) => RData::A(A(ip)),
                IpAddr::V6(ip) => RData::AAAA(AAAA(ip)),
            };
            additionals.push(Record::from_rdata(name.clone(), TTL, data));
        }
    }
}

/// NXDOMAIN or NODATA, with the SOA in the authority section.
fn negative(zone: &Zone, rcode: Rcode) -> Answer {
    Answer {
        scope: Scope::Cluster,
        rcode,
        answers: Vec::new(),
        authority: vec![zone.soa.clone()],
        additionals: Vec::new(),
    }
}

/// The part of `name` below `domain` (`""` for the apex), or `None` outside it.
fn strip_zone<'a>(name: &'a str, domain: &str) -> Option<&'a str> {
    if name == domain {
        return Some("");
    }
    name.strip_suffix(domain)?.strip_suffix('.')
}

fn strip_underscore(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

/// `10-244-1-5` → 10.244.1.5, `fd00--1` → fd00::1 (CoreDNS's rule: three dashes and no
/// `--` is IPv4, anything else is tried as IPv6).
fn undash(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3 && !label.contains("--") {
        label.replace('-', ".").parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        label.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    }
}

fn is_reverse(name: &str) -> bool {
    ["in-addr.arpa", "ip6.arpa"]
        .iter()
        .any(|zone| strip_zone(name, zone).is_some())
}

/// The address a complete reverse name stands for; `None` for partial names.
fn reverse_ip(name: &str) -> Option<IpAddr> {
    if let Some(base) = strip_zone(name, "in-addr.arpa") {
        let mut octets = [0u8; 4];
        let labels: Vec<&str> = base.split('.').collect();
        if labels.len() != 4 {
            return None;
        }
        for (i, label) in labels.iter().rev().enumerate() {
            if label.is_empty() || label.len() > 3 || !label.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            octets[i] = label.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    let base = strip_zone(name, "ip6.arpa")?;
    let nibbles: Vec<&str> = base.split('.').collect();
    if nibbles.len() != 32 {
        return None;
    }
    let mut value: u128 = 0;
    for nibble in nibbles.iter().rev() {
        let [c] = nibble.as_bytes() else { return None };
        let digit = char::from(*c).to_digit(16)?;
        value = (value << 4) | u128::from(digit);
    }
    Some(IpAddr::V6(Ipv6Addr::from(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undash_reads_both_families_and_rejects_garbage() {
        assert_eq!(undash("10-244-1-5"), Some("10.244.1.5".parse().unwrap()));
        assert_eq!(undash("fd00--1"), Some("fd00::1".parse().unwrap()));
        assert_eq!(undash("web-0"), None);
        assert_eq!(undash("10-244-1-500"), None);
    }

    #[test]
    fn reverse_ip_reads_complete_names_only() {
        assert_eq!(reverse_ip("5.1.244.10.in-addr.arpa"), Some("10.244.1.5".parse().unwrap()));
        assert_eq!(reverse_ip("244.10.in-addr.arpa"), None);
        assert_eq!(reverse_ip("x.1.244.10.in-addr.arpa"), None);
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let name = Name::from(v6).to_ascii().to_ascii_lowercase();
        assert_eq!(reverse_ip(name.trim_end_matches('.')), Some(v6));
        assert_eq!(reverse_ip("0.0.d.f.ip6.arpa"), None);
    }

    #[test]
    fn strip_zone_needs_a_label_boundary() {
        assert_eq!(strip_zone("cluster.local", "cluster.local"), Some(""));
        assert_eq!(strip_zone("a.b.cluster.local", "cluster.local"), Some("a.b"));
        assert_eq!(strip_zone("xcluster.local", "cluster.local"), None);
        assert_eq!(strip_zone("example.com", "cluster.local"), None);
    }
}
