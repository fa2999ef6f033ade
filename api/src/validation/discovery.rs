//! EndpointSlice validation (upstream's pkg/apis/discovery/validation): the address
//! type, endpoints whose addresses fit it, and ports.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::meta::*;
use super::names::*;
use super::FieldError;
use crate::model::{EndpointSlice, ADDRESS_TYPES};

const MAX_TOPOLOGY_LABELS: usize = 16;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 100;
const MAX_ENDPOINTS: usize = 1000;
const PORT_PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

/// Upstream's `ValidateNonSpecialIP`: an endpoint may not be unspecified, loopback or
/// link-local.
fn non_special_ip(ip: IpAddr, raw: &str, field: &str, errs: &mut Vec<FieldError>) {
    if ip.is_unspecified() {
        errs.push(FieldError::invalid(field, raw, format!("may not be unspecified ({raw})")));
    }
    if ip.is_loopback() {
        errs.push(FieldError::invalid(field, raw, "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
    }
    let link_local_unicast = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local_unicast {
        errs.push(FieldError::invalid(field, raw, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
    }
    let link_local_multicast = match ip {
        IpAddr::V4(v4) => v4.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v6) => (v6.segments()[0] & 0xff0f) == 0xff02,
    };
    if link_local_multicast {
        errs.push(FieldError::invalid(field, raw, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"));
    }
}

fn address(address_type: &str, a: &str, field: &str, errs: &mut Vec<FieldError>) {
    match address_type {
        "IPv4" => match a.parse::<IpAddr>() {
            Ok(ip @ IpAddr::V4(_)) => non_special_ip(ip, a, field, errs),
            _ => errs.push(FieldError::invalid(field, a, "must be a valid IPv4 address")),
        },
        "IPv6" => match a.parse::<IpAddr>() {
            Ok(ip @ IpAddr::V6(_)) => non_special_ip(ip, a, field, errs),
            _ => errs.push(FieldError::invalid(field, a, "must be a valid IPv6 address")),
        },
        "FQDN" => {
            if a.is_empty() {
                errs.push(FieldError::required(field, ""));
            } else if let Some((value, msg)) = fqdn_error(a) {
                errs.push(FieldError::invalid(field, value, msg));
            }
        }
        // Unknown types are refused on addressType; their addresses are not checked.
        _ => {}
    }
}

pub fn validate_endpoint_slice(s: &EndpointSlice) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&s.metadata, true, NameFormat::Dns1123Subdomain);
    if s.address_type.is_empty() {
        errs.push(FieldError::required("addressType", ""));
    } else if !ADDRESS_TYPES.contains(&s.address_type.as_str()) {
        errs.push(FieldError::not_supported("addressType", &s.address_type, ADDRESS_TYPES));
    }
    if s.endpoints.len() > MAX_ENDPOINTS {
        errs.push(FieldError::too_many("endpoints", s.endpoints.len(), MAX_ENDPOINTS));
    } else {
        for (i, e) in s.endpoints.iter().enumerate() {
            let p = format!("endpoints[{i}]");
            let ap = format!("{p}.addresses");
            if e.addresses.is_empty() {
                errs.push(FieldError::required(&ap, "must contain at least 1 address"));
            } else if e.addresses.len() > MAX_ADDRESSES {
                errs.push(FieldError::too_many(&ap, e.addresses.len(), MAX_ADDRESSES));
            }
            for (j, a) in e.addresses.iter().enumerate() {
                address(&s.address_type, a, &format!("{ap}[{j}]"), &mut errs);
            }
            let tp = format!("{p}.deprecatedTopology");
            if e.deprecated_topology.len() > MAX_TOPOLOGY_LABELS {
                errs.push(FieldError::too_many(&tp, e.deprecated_topology.len(), MAX_TOPOLOGY_LABELS));
            }
            errs.extend(validate_labels(&e.deprecated_topology, &tp));
            if let Some(h) = &e.hostname {
                errs.extend(invalid_each(&format!("{p}.hostname"), h, is_dns1123_label(h)));
            }
            if let Some(n) = e.node_name.as_deref().filter(|n| !n.is_empty()) {
                errs.extend(invalid_each(&format!("{p}.nodeName"), n, is_dns1123_subdomain(n)));
            }
        }
    }
    if s.ports.len() > MAX_PORTS {
        errs.push(FieldError::too_many("ports", s.ports.len(), MAX_PORTS));
        return errs;
    }
    let mut names = BTreeSet::new();
    for (i, port) in s.ports.iter().enumerate() {
        let p = format!("ports[{i}]");
        let name = port.name.as_deref().unwrap_or("");
        if !name.is_empty() {
            errs.extend(invalid_each(&format!("{p}.name"), name, is_dns1123_label(name)));
        }
        if !names.insert(name) {
            errs.push(FieldError::duplicate(format!("{p}.name"), name));
        }
        match port.protocol.as_deref() {
            None => errs.push(FieldError::required(format!("{p}.protocol"), "")),
            Some(proto) if !PORT_PROTOCOLS.contains(&proto) => {
                errs.push(FieldError::not_supported(format!("{p}.protocol"), proto, PORT_PROTOCOLS))
            }
            Some(_) => {}
        }
        if let Some(ap) = &port.app_protocol {
            errs.extend(invalid_each(&format!("{p}.appProtocol"), ap, is_qualified_name(ap)));
        }
    }
    errs
}

pub fn validate_endpoint_slice_update(new: &EndpointSlice, old: &EndpointSlice) -> Vec<FieldError> {
    let mut errs = validate_endpoint_slice(new);
    if new.address_type != old.address_type {
        errs.push(FieldError::invalid("addressType", &new.address_type, "field is immutable"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ApplyDefaults;
    use serde_json::json;

    fn slice(v: serde_json::Value) -> EndpointSlice {
        let mut s: EndpointSlice = serde_json::from_value(v).unwrap();
        s.metadata.name = "web-abc".into();
        s.metadata.namespace = Some("default".into());
        s.apply_defaults();
        s
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| format!("{}:{:?}", e.field, e.kind)).collect()
    }

    #[test]
    fn addresses_fit_the_address_type() {
        let cases = [
            (json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}]}), vec![]),
            (json!({"addressType": "IPv6", "endpoints": [{"addresses": ["fd00::1"]}]}), vec![]),
            (json!({"addressType": "FQDN", "endpoints": [{"addresses": ["web.example.com"]}]}), vec![]),
            (json!({"endpoints": []}), vec!["addressType:Required"]),
            (json!({"addressType": "IP", "endpoints": []}), vec!["addressType:NotSupported"]),
            (json!({"addressType": "IPv4", "endpoints": [{"addresses": []}]}), vec!["endpoints[0].addresses:Required"]),
            (json!({"addressType": "IPv4", "endpoints": [{"addresses": ["fd00::1"]}]}), vec!["endpoints[0].addresses[0]:Invalid"]),
            (json!({"addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"]}]}), vec!["endpoints[0].addresses[0]:Invalid"]),
            (json!({"addressType": "IPv4", "endpoints": [{"addresses": ["169.254.1.1"]}]}), vec!["endpoints[0].addresses[0]:Invalid"]),
            (json!({"addressType": "IPv6", "endpoints": [{"addresses": ["10.0.0.1"]}]}), vec!["endpoints[0].addresses[0]:Invalid"]),
            (json!({"addressType": "FQDN", "endpoints": [{"addresses": ["localhost"]}]}), vec!["endpoints[0].addresses[0]:Invalid"]),
            (json!({"addressType": "FQDN", "endpoints": [{"addresses": ["Bad_Name.com"]}]}), vec!["endpoints[0].addresses[0]:Invalid"]),
            (
                json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"], "hostname": "Web_1"}]}),
                vec!["endpoints[0].hostname:Invalid"],
            ),
        ];
        for (v, want) in cases {
            assert_eq!(fields(&validate_endpoint_slice(&slice(v.clone()))), want, "{v}");
        }
        let many: Vec<String> = (0..101).map(|i| format!("10.0.{}.{}", i / 200, i % 200 + 1)).collect();
        let s = slice(json!({"addressType": "IPv4", "endpoints": [{"addresses": many}]}));
        assert_eq!(fields(&validate_endpoint_slice(&s)), ["endpoints[0].addresses:TooMany"]);
    }

    #[test]
    fn ports_are_named_once_with_a_known_protocol() {
        let s = slice(json!({"addressType": "IPv4", "endpoints": [], "ports": [
            {"name": "http", "port": 80}, {"name": "http", "port": 81}, {"name": "x", "protocol": "ICMP"},
            {"name": "Bad_Name"}, {"name": "y", "appProtocol": "kubernetes.io/h2c"}, {"name": "z", "appProtocol": "bad proto"}
        ]}));
        assert_eq!(s.ports[0].protocol.as_deref(), Some("TCP"), "defaulted");
        assert_eq!(
            fields(&validate_endpoint_slice(&s)),
            ["ports[1].name:Duplicate", "ports[2].protocol:NotSupported", "ports[3].name:Invalid", "ports[5].appProtocol:Invalid"]
        );
    }

    #[test]
    fn the_address_type_cannot_change() {
        let old = slice(json!({"addressType": "IPv4", "endpoints": []}));
        let new = slice(json!({"addressType": "IPv6", "endpoints": []}));
        assert_eq!(fields(&validate_endpoint_slice_update(&new, &old)), ["addressType:Invalid"]);
    }
}
