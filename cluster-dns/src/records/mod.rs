//! The cluster zone as data: Services and EndpointSlices indexed into the names the
//! Kubernetes DNS specification defines, answered without any I/O ([`Records::answer`]).
//!
//! Semantics follow CoreDNS's `kubernetes` plugin (`pods insecure`, TTL 5 s):
//! - `svc.ns.svc.<domain>`: the ClusterIPs; for a headless Service the addresses of its
//!   ready endpoints; for an ExternalName Service a CNAME.
//! - `endpoint.svc.ns.svc.<domain>`: one name per endpoint address, the endpoint's
//!   `hostname` if it has one, else its dashed address (`10-244-1-5`). As in CoreDNS these
//!   exist for every Service with endpoints, headless or not.
//! - `_port._proto.svc.ns.svc.<domain>` and `svc.ns.svc.<domain>`: SRV records.
//! - `<dashed-ip>.ns.pod.<domain>`: the address itself (`pods insecure`).
//! - PTR for ClusterIPs and endpoint addresses; other reverse names are forwarded.
//!
//! A namespace "exists" when at least one Service lives in it, or when it was given to
//! [`Records::with_namespaces`]: CoreDNS asks the API for Namespace objects instead.

mod answer;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use api::model::{EndpointSlice, Service, LABEL_SERVICE_NAME};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{NS, SOA};
use hickory_proto::rr::{Name, RData, Record};

pub use answer::MAX_CNAME_DEPTH;

/// The cluster domain when none is configured.
pub const DEFAULT_DOMAIN: &str = "cluster.local";
/// The TTL of every answer, CoreDNS's default.
pub const TTL: u32 = 5;
/// The schema version answered for `dns-version.<domain>` TXT (the specification's).
pub const DNS_SCHEMA_VERSION: &str = "1.1.0";

/// The response code of an answer from the cluster zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// The name exists (with or without records of the asked type).
    NoError,
    /// The name does not exist.
    NxDomain,
}

impl Rcode {
    /// The wire response code.
    pub fn response_code(self) -> ResponseCode {
        match self {
            Rcode::NoError => ResponseCode::NoError,
            Rcode::NxDomain => ResponseCode::NXDomain,
        }
    }
}

/// Whether a name is answered here or belongs to an upstream server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// In the cluster zone (or a reverse name this zone knows): the answer is final.
    Cluster,
    /// Outside the zone: the query must be forwarded; the answer carries no records.
    Forward,
}

/// What the cluster zone says about one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub scope: Scope,
    pub rcode: Rcode,
    pub answers: Vec<Record>,
    /// The zone's SOA on NXDOMAIN and NODATA, as CoreDNS sends it.
    pub authority: Vec<Record>,
    /// Address records of SRV targets.
    pub additionals: Vec<Record>,
}

impl Answer {
    pub(crate) fn forward() -> Self {
        Answer {
            scope: Scope::Forward,
            rcode: Rcode::NoError,
            answers: Vec::new(),
            authority: Vec::new(),
            additionals: Vec::new(),
        }
    }

    /// True when the query must go upstream.
    pub fn is_forward(&self) -> bool {
        self.scope == Scope::Forward
    }

    /// True for NODATA: the name exists but has no records of the asked type.
    pub fn is_nodata(&self) -> bool {
        self.scope == Scope::Cluster && self.rcode == Rcode::NoError && self.answers.is_empty()
    }
}

/// One port of a Service or a slice, names and protocols lowercased for matching.
/// `number` is `None` for the "no ports" sentinel: addresses still resolve, SRV does not.
#[derive(Debug, Clone)]
struct Port {
    name: String,
    protocol: String,
    number: Option<u16>,
}

#[derive(Debug, Clone)]
enum Kind {
    ClusterIp(Vec<IpAddr>),
    Headless,
    /// The CNAME target; `None` when `externalName` is missing, not a name, or an IP.
    External(Option<Name>),
}

/// One ready endpoint address of a Service.
#[derive(Debug, Clone)]
struct Endpoint {
    ip: IpAddr,
    /// `hostname` or the dashed address, lowercased.
    label: String,
    /// `label.svc.ns.svc.<domain>.`
    fqdn: Name,
    ports: Arc<[Port]>,
}

#[derive(Debug, Clone)]
struct Svc {
    kind: Kind,
    ports: Vec<Port>,
    endpoints: Vec<Endpoint>,
    /// `svc.ns.svc.<domain>.`
    fqdn: Name,
}

#[derive(Debug, Clone)]
struct Zone {
    /// Lowercase, no trailing dot: `cluster.local`.
    domain: String,
    soa: Record,
    ns: Record,
}

/// The whole cluster zone, built once per change of Services or EndpointSlices and then
/// only read. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Records {
    /// `None` when the domain is not a valid DNS name: then every name is forwarded.
    zone: Option<Zone>,
    namespaces: BTreeSet<String>,
    /// Keyed by lowercase (namespace, name).
    services: HashMap<(String, String), Svc>,
    reverse: HashMap<IpAddr, Vec<Name>>,
}

impl Records {
    /// Indexes `services` and the `slices` that belong to them (label
    /// `kubernetes.io/service-name`, same namespace) under `domain`.
    pub fn build(domain: &str, services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]) -> Records {
        let Some(zone) = Zone::new(domain, 1) else {
            tracing::warn!(domain, "cluster domain is not a valid DNS name; every query will be forwarded");
            return Records::unzoned();
        };
        let mut records = Records {
            zone: None,
            namespaces: BTreeSet::new(),
            services: HashMap::new(),
            reverse: HashMap::new(),
        };
        let mut by_service: HashMap<(String, String), Vec<&EndpointSlice>> = HashMap::new();
        for slice in slices {
            let Some(svc) = slice.metadata.labels.get(LABEL_SERVICE_NAME) else { continue };
            let key = (namespace_of(&slice.metadata.namespace), svc.to_ascii_lowercase());
            by_service.entry(key).or_default().push(slice);
        }
        for service in services {
            let namespace = namespace_of(&service.metadata.namespace);
            let name = service.metadata.name.to_ascii_lowercase();
            records.namespaces.insert(namespace.clone());
            let Ok(fqdn) = Name::from_ascii(format!("{name}.{namespace}.svc.{}.", zone.domain)) else {
                tracing::warn!(%namespace, %name, "service name is not a DNS label; no records");
                continue;
            };
            let key = (namespace, name);
            let own_slices = by_service.get(&key).map(Vec::as_slice).unwrap_or_default();
            let svc = Svc::new(service, fqdn, own_slices, &key, &zone.domain);
            if let Kind::ClusterIp(ips) = &svc.kind {
                for ip in ips {
                    records.reverse.entry(*ip).or_default().push(svc.fqdn.clone());
                }
            }
            records.services.insert(key, svc);
        }
        // A ClusterIP answers one PTR; keep the same one whatever the input order.
        for names in records.reverse.values_mut() {
            names.sort();
            names.truncate(1);
        }
        // Endpoint PTRs only where no ClusterIP claims the address, as CoreDNS looks them up.
        let mut endpoint_ptrs: HashMap<IpAddr, Vec<Name>> = HashMap::new();
        for svc in records.services.values() {
            for ep in &svc.endpoints {
                if records.reverse.contains_key(&ep.ip) {
                    continue;
                }
                let names = endpoint_ptrs.entry(ep.ip).or_default();
                if !names.contains(&ep.fqdn) {
                    names.push(ep.fqdn.clone());
                }
            }
        }
        for names in endpoint_ptrs.values_mut() {
            names.sort();
        }
        records.reverse.extend(endpoint_ptrs);
        records.zone = Some(zone);
        records
    }

    /// A zone without any Service.
    pub fn empty(domain: &str) -> Records {
        Records::build(domain, &[], &[])
    }

    /// Marks namespaces as existing even without Services (NODATA instead of NXDOMAIN for
    /// `ns.svc.<domain>`, and pod names answered in them).
    pub fn with_namespaces<I, S>(mut self, namespaces: I) -> Records
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.namespaces.extend(namespaces.into_iter().map(|n| n.as_ref().to_ascii_lowercase()));
        self
    }

    /// Sets the SOA serial (1 by default).
    pub fn with_serial(mut self, serial: u32) -> Records {
        if let Some(zone) = &self.zone {
            if let Some(z) = Zone::new(&zone.domain, serial) {
                self.zone = Some(z);
            }
        }
        self
    }

    /// The cluster domain, lowercase and without the trailing dot; `None` if it was invalid.
    pub fn domain(&self) -> Option<&str> {
        self.zone.as_ref().map(|z| z.domain.as_str())
    }

    /// True when `name` (any case, trailing dot optional) is the domain or below it.
    pub fn in_zone(&self, name: &str) -> bool {
        let Some(zone) = &self.zone else { return false };
        let name = normalize(name);
        name == zone.domain || name.strip_suffix(zone.domain.as_str()).is_some_and(|rest| rest.ends_with('.'))
    }

    fn unzoned() -> Records {
        Records {
            zone: None,
            namespaces: BTreeSet::new(),
            services: HashMap::new(),
            reverse: HashMap::new(),
        }
    }
}

impl Zone {
    fn new(domain: &str, serial: u32) -> Option<Zone> {
        let domain = normalize(domain);
        if domain.is_empty() {
            return None;
        }
        let apex = Name::from_ascii(format!("{domain}.")).ok()?;
        let mname = Name::from_ascii(format!("ns.dns.{domain}.")).ok()?;
        let rname = Name::from_ascii(format!("hostmaster.{domain}.")).ok()?;
        let soa = SOA::new(mname.clone(), rname, serial, 7200, 1800, 86400, TTL);
        Some(Zone {
            soa: Record::from_rdata(apex.clone(), TTL, RData::SOA(soa)),
            ns: Record::from_rdata(apex, TTL, RData::NS(NS(mname))),
            domain,
        })
    }
}

impl Svc {
    fn new(
        service: &Service,
        fqdn: Name,
        slices: &[&EndpointSlice],
        key: &(String, String),
        domain: &str,
    ) -> Svc {
        let spec = &service.spec;
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            let target = spec
                .external_name
                .as_deref()
                .filter(|n| !n.is_empty() && n.parse::<IpAddr>().is_err())
                .and_then(|n| Name::from_ascii(n).ok())
                .map(|mut n| {
                    n.set_fqdn(true);
                    n
                });
            Kind::External(target)
        } else if spec.cluster_ip.as_deref() == Some("None")
            || spec.cluster_ips.first().map(String::as_str) == Some("None")
        {
            Kind::Headless
        } else {
            let ips: Vec<IpAddr> = if spec.cluster_ips.is_empty() {
                spec.cluster_ip.iter().filter_map(|ip| ip.parse().ok()).collect()
            } else {
                spec.cluster_ips.iter().filter_map(|ip| ip.parse().ok()).collect()
            };
            Kind::ClusterIp(ips)
        };
        let ports = spec
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.as_deref().unwrap_or("").to_ascii_lowercase(),
                protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                number: u16::try_from(p.port).ok().filter(|n| *n != 0),
            })
            .collect();
        let mut endpoints = Vec::new();
        for slice in slices {
            endpoints.extend(slice_endpoints(slice, key, domain));
        }
        Svc { kind, ports, endpoints, fqdn }
    }
}

/// The ready endpoint addresses of one slice, with the slice's ports.
fn slice_endpoints(slice: &EndpointSlice, (namespace, service): &(String, String), domain: &str) -> Vec<Endpoint> {
    if slice.address_type != "IPv4" && slice.address_type != "IPv6" {
        return Vec::new(); // FQDN slices name no address CoreDNS would answer.
    }
    let ports: Arc<[Port]> = if slice.ports.is_empty() {
        Arc::from(vec![Port { name: String::new(), protocol: String::new(), number: None }])
    } else {
        slice
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.as_deref().unwrap_or("").to_ascii_lowercase(),
                protocol: p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase(),
                number: p.port.and_then(|n| u16::try_from(n).ok()).filter(|n| *n != 0),
            })
            .collect()
    };
    let mut out = Vec::new();
    for ep in &slice.endpoints {
        if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
            continue;
        }
        for addr in &ep.addresses {
            let Ok(ip) = addr.parse::<IpAddr>() else { continue };
            let label = match ep.hostname.as_deref().filter(|h| !h.is_empty()) {
                Some(h) => h.to_ascii_lowercase(),
                None => dashed(ip),
            };
            let Ok(fqdn) = Name::from_ascii(format!("{label}.{service}.{namespace}.svc.{domain}.")) else {
                tracing::warn!(%namespace, %service, %label, "endpoint name is not a DNS label; skipped");
                continue;
            };
            out.push(Endpoint { ip, label, fqdn, ports: ports.clone() });
        }
    }
    out
}

/// `10.244.1.5` → `10-244-1-5`, `fd00::1` → `fd00--1`, as CoreDNS writes endpoint names.
pub fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

fn namespace_of(ns: &Option<String>) -> String {
    ns.as_deref().filter(|n| !n.is_empty()).unwrap_or("default").to_ascii_lowercase()
}

/// Lowercase without the trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
