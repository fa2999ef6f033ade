//! Which endpoints a Service port sends to, from its EndpointSlices (pure): the port
//! number of each endpoint comes from its slice's port of the Service port's name
//! (named target ports are resolved per pod that way), ready endpoints are used, and
//! serving-terminating ones only when none is ready — as kube-proxy's
//! `CategorizeEndpoints` does, for all endpoints and for this node's alone.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use api::model::{EndpointSlice, LABEL_SERVICE_NAME};

/// One endpoint of one Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// On this node (the endpoint's `nodeName`).
    pub local: bool,
    pub ready: bool,
    /// Ready or, for a terminating endpoint, still answering.
    pub serving: bool,
    pub terminating: bool,
}

/// The endpoints for each traffic policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chosen {
    /// For `Cluster` policy: every node's.
    pub cluster: Vec<Backend>,
    /// For `Local` policy: this node's only.
    pub local: Vec<Backend>,
}

impl Chosen {
    /// Any usable endpoint at all (on any node).
    pub fn any(&self) -> bool {
        !self.cluster.is_empty() || !self.local.is_empty()
    }
}

/// The IPv4 slices of each Service, by `(namespace, service name)` (the
/// `kubernetes.io/service-name` label).
pub fn slices_by_service<'a>(slices: impl IntoIterator<Item = &'a EndpointSlice>) -> HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>> {
    let mut by: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for s in slices {
        if let Some(key) = slice_service(s) {
            by.entry(key).or_default().push(s);
        }
    }
    by
}

/// The Service an IPv4 slice belongs to, `(namespace, service name)`; `None` for other slices.
pub fn slice_service(s: &EndpointSlice) -> Option<(&str, &str)> {
    if s.address_type != "IPv4" {
        return None;
    }
    let service = s.metadata.labels.get(LABEL_SERVICE_NAME)?;
    Some((s.metadata.namespace.as_deref().unwrap_or("default"), service.as_str()))
}

/// Every endpoint of the Service port named `port_name` (`""` when unnamed) with
/// `protocol` (`TCP`, `UDP`, `SCTP`), once each, in address order.
pub fn backends(slices: &[&EndpointSlice], port_name: &str, protocol: &str, node: &str) -> Vec<Backend> {
    let mut out = BTreeSet::new();
    for slice in slices {
        let Some(port) = slice_port(slice, port_name, protocol) else { continue };
        for ep in &slice.endpoints {
            let conditions = ep.conditions.clone().unwrap_or_default();
            // Unset `ready` and `serving` mean ready (discovery/v1); `serving` defaults to `ready`.
            let ready = conditions.ready.unwrap_or(true);
            let serving = conditions.serving.unwrap_or(ready);
            let terminating = conditions.terminating.unwrap_or(false);
            let local = ep.node_name.as_deref() == Some(node);
            // Every address of an endpoint is one pod's; kube-proxy uses the first.
            let Some(ip) = ep.addresses.first().and_then(|a| a.parse::<Ipv4Addr>().ok()) else { continue };
            out.insert(Backend { ip, port, local, ready, serving, terminating });
        }
    }
    dedup_by_address(out.into_iter().collect())
}

/// The slice's port for the Service port (names and protocols equal; a slice port's
/// name defaults to `""`, its protocol to `TCP`).
fn slice_port(slice: &EndpointSlice, port_name: &str, protocol: &str) -> Option<u16> {
    slice
        .ports
        .iter()
        .find(|p| p.name.as_deref().unwrap_or("") == port_name && p.protocol.as_deref().unwrap_or("TCP").eq_ignore_ascii_case(protocol))
        .and_then(|p| p.port)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
}

/// One entry per `ip:port` (two slices may list the same endpoint while it moves): the
/// most usable one is kept.
fn dedup_by_address(mut v: Vec<Backend>) -> Vec<Backend> {
    v.sort_by_key(|b| (b.ip, b.port, !b.ready, !b.serving));
    v.dedup_by_key(|b| (b.ip, b.port));
    v
}

/// Ready endpoints, or serving-terminating ones when none is ready; for all nodes and
/// for this node alone.
pub fn categorize(all: &[Backend]) -> Chosen {
    Chosen { cluster: usable(all.iter()), local: usable(all.iter().filter(|b| b.local)) }
}

fn usable<'a>(candidates: impl Iterator<Item = &'a Backend> + Clone) -> Vec<Backend> {
    let ready: Vec<Backend> = candidates.clone().filter(|b| b.ready).copied().collect();
    if !ready.is_empty() {
        return ready;
    }
    candidates.filter(|b| b.serving && b.terminating).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Endpoint, EndpointConditions, EndpointSlicePort, ObjectMeta};

    fn ep(ip: &str, node: &str, ready: Option<bool>, serving: Option<bool>, terminating: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec![ip.into()],
            conditions: Some(EndpointConditions { ready, serving, terminating }),
            node_name: Some(node.into()),
            ..Default::default()
        }
    }

    fn slice(name: &str, ports: &[(&str, i32)], endpoints: Vec<Endpoint>) -> EndpointSlice {
        let mut metadata = ObjectMeta { name: name.into(), namespace: Some("ns".into()), ..Default::default() };
        metadata.labels.insert(LABEL_SERVICE_NAME.into(), "web".into());
        EndpointSlice {
            metadata,
            address_type: "IPv4".into(),
            endpoints,
            ports: ports.iter().map(|(n, p)| EndpointSlicePort { name: Some((*n).into()), port: Some(*p), ..Default::default() }).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ports_come_from_each_slice_by_the_service_ports_name() {
        // Two pods resolve the named target port differently: two slices.
        let a = slice("web-a", &[("http", 8080)], vec![ep("10.244.1.2", "n1", Some(true), None, None)]);
        let b = slice("web-b", &[("http", 9090), ("metrics", 9100)], vec![ep("10.244.2.2", "n2", Some(true), None, None)]);
        let got = backends(&[&a, &b], "http", "TCP", "n1");
        assert_eq!(got.iter().map(|b| (b.ip.to_string(), b.port, b.local)).collect::<Vec<_>>(), [("10.244.1.2".into(), 8080, true), ("10.244.2.2".into(), 9090, false)]);
        assert_eq!(backends(&[&a, &b], "metrics", "TCP", "n1").len(), 1);
        assert!(backends(&[&a, &b], "http", "UDP", "n1").is_empty(), "protocol must match");
        assert!(backends(&[&a, &b], "other", "TCP", "n1").is_empty());
    }

    #[test]
    fn ready_endpoints_win_and_terminating_ones_are_the_fallback() {
        let all = backends(
            &[&slice(
                "web-a",
                &[("", 80)],
                vec![
                    ep("10.244.1.2", "n1", Some(false), Some(true), Some(true)),
                    ep("10.244.1.3", "n2", Some(true), None, None),
                    ep("10.244.1.4", "n1", Some(false), Some(false), Some(true)),
                    ep("10.244.1.5", "n1", Some(false), None, None),
                ],
            )],
            "",
            "TCP",
            "n1",
        );
        let chosen = categorize(&all);
        assert_eq!(chosen.cluster.iter().map(|b| b.ip.to_string()).collect::<Vec<_>>(), ["10.244.1.3"]);
        assert_eq!(chosen.local.iter().map(|b| b.ip.to_string()).collect::<Vec<_>>(), ["10.244.1.2"], "serving-terminating when no local one is ready");
        let none_ready: Vec<Backend> = all.iter().filter(|b| !b.ready).copied().collect();
        assert_eq!(categorize(&none_ready).cluster.len(), 1);
        assert!(!categorize(&all[2..3]).any(), "not serving: unusable");
    }

    #[test]
    fn unset_conditions_mean_ready_and_duplicates_collapse() {
        let mut e = ep("10.244.1.2", "n1", None, None, None);
        e.conditions = None;
        let a = slice("web-a", &[("", 80)], vec![e.clone()]);
        let b = slice("web-b", &[("", 80)], vec![ep("10.244.1.2", "n1", Some(false), None, None)]);
        let got = backends(&[&a, &b], "", "TCP", "n1");
        assert_eq!(got.len(), 1);
        assert!(got[0].ready, "the ready copy is kept");
    }

    #[test]
    fn slices_are_grouped_by_service_and_only_ipv4() {
        let a = slice("web-a", &[("", 80)], vec![]);
        let mut v6 = slice("web-b", &[("", 80)], vec![]);
        v6.address_type = "IPv6".into();
        let mut unlabeled = slice("x", &[], vec![]);
        unlabeled.metadata.labels.clear();
        let by = slices_by_service([&a, &v6, &unlabeled]);
        assert_eq!(by.len(), 1);
        assert_eq!(by[&("ns", "web")].len(), 1);
    }
}
