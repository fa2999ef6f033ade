//! Service and Endpoints validation.

use std::collections::BTreeSet;

use super::meta::*;
use super::names::*;
use super::containers::validate_port_num_or_name;
use super::pod::PROTOCOLS;
use super::{FieldError, FieldErrorKind};
use crate::model::{Endpoints, Service};

pub const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn validate_protocol(p: Option<&str>, field: &str, errs: &mut Vec<FieldError>) {
    match p {
        None => {}
        Some("") => errs.push(FieldError::required(field, "")),
        Some(v) if !PROTOCOLS.contains(&v) => errs.push(FieldError::not_supported(field, v, PROTOCOLS)),
        Some(_) => {}
    }
}

/// Service: a DNS-1035 label name (Kubernetes' rule for Services), ports, type, IPs.
pub fn validate_service(svc: &Service) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&svc.metadata, true, NameFormat::Dns1035Label);
    let s = &svc.spec;
    let ty = s.type_.as_deref().unwrap_or("ClusterIP");
    if !SERVICE_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported("spec.type", ty, SERVICE_TYPES));
    }
    let cluster_ip = s.cluster_ip.as_deref().unwrap_or("");
    let headless = cluster_ip == "None";
    if ty == "ExternalName" {
        match s.external_name.as_deref() {
            None | Some("") => errs.push(FieldError::required("spec.externalName", "")),
            Some(n) => errs.extend(invalid_each("spec.externalName", n, is_dns1123_subdomain(n.trim_end_matches('.')))),
        }
        if !cluster_ip.is_empty() {
            errs.push(FieldError::new(FieldErrorKind::Forbidden, "spec.clusterIP", cluster_ip, "may not be set for ExternalName services"));
        }
    } else if s.ports.is_empty() && !headless {
        errs.push(FieldError::required("spec.ports", ""));
    }
    if !cluster_ip.is_empty() && !headless {
        errs.extend(invalid_each("spec.clusterIP", cluster_ip, is_valid_ip(cluster_ip)));
    }
    if headless && (ty == "NodePort" || ty == "LoadBalancer") {
        errs.push(FieldError::invalid("spec.clusterIP", "None", format!("may not be set to 'None' for {ty} services")));
    }
    for (i, ip) in s.cluster_ips.iter().enumerate() {
        if ip != "None" {
            errs.extend(invalid_each(&format!("spec.clusterIPs[{i}]"), ip, is_valid_ip(ip)));
        }
    }
    if let (Some(first), false) = (s.cluster_ips.first(), cluster_ip.is_empty()) {
        if first != cluster_ip {
            errs.push(FieldError::invalid("spec.clusterIPs[0]", first, "must be same as `clusterIP`"));
        }
    }
    for (i, ip) in s.external_ips.iter().enumerate() {
        errs.extend(invalid_each(&format!("spec.externalIPs[{i}]"), ip, is_valid_ip(ip)));
    }

    let mut names = BTreeSet::new();
    let mut port_protos = BTreeSet::new();
    let mut node_ports = BTreeSet::new();
    let many = s.ports.len() > 1;
    for (i, p) in s.ports.iter().enumerate() {
        let pp = format!("spec.ports[{i}]");
        port_name(p.name.as_deref(), many, &pp, &mut names, &mut errs);
        errs.extend(invalid_each(&format!("{pp}.port"), &p.port.to_string(), is_valid_port_num(p.port)));
        validate_protocol(p.protocol.as_deref(), &format!("{pp}.protocol"), &mut errs);
        if let Some(tp) = &p.target_port {
            errs.extend(validate_port_num_or_name(tp, &format!("{pp}.targetPort")));
        }
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        if !port_protos.insert((p.port, proto.clone())) {
            errs.push(FieldError::duplicate(&pp, format!("{}/{proto}", p.port)));
        }
        if let Some(np) = p.node_port.filter(|n| *n != 0) {
            if ty == "ClusterIP" || ty == "ExternalName" {
                errs.push(FieldError::new(
                    FieldErrorKind::Forbidden,
                    format!("{pp}.nodePort"),
                    np,
                    format!("may not be used when `type` is '{ty}'"),
                ));
            } else {
                errs.extend(invalid_each(&format!("{pp}.nodePort"), &np.to_string(), is_valid_port_num(np)));
                if !node_ports.insert((np, proto)) {
                    errs.push(FieldError::duplicate(format!("{pp}.nodePort"), np));
                }
            }
        }
    }
    errs.extend(validate_labels(&s.selector, "spec.selector"));
    opt_supported(&mut errs, s.session_affinity.as_deref(), "spec.sessionAffinity", &["ClientIP", "None"]);
    for (i, f) in s.ip_families.iter().enumerate() {
        if f != "IPv4" && f != "IPv6" {
            errs.push(FieldError::not_supported(format!("spec.ipFamilies[{i}]"), f, &["IPv4", "IPv6"]));
        } else if s.ip_families[..i].contains(f) {
            errs.push(FieldError::duplicate(format!("spec.ipFamilies[{i}]"), f));
        }
    }
    if s.ip_families.len() > 2 {
        errs.push(FieldError::invalid("spec.ipFamilies", "", "may specify no more than two IP families"));
    }
    opt_supported(
        &mut errs,
        s.ip_family_policy.as_deref(),
        "spec.ipFamilyPolicy",
        &["PreferDualStack", "RequireDualStack", "SingleStack"],
    );
    opt_supported(&mut errs, s.internal_traffic_policy.as_deref(), "spec.internalTrafficPolicy", &["Cluster", "Local"]);
    if let Some(etp) = s.external_traffic_policy.as_deref() {
        if etp != "Cluster" && etp != "Local" {
            errs.push(FieldError::not_supported("spec.externalTrafficPolicy", etp, &["Cluster", "Local"]));
        } else if ty != "NodePort" && ty != "LoadBalancer" {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            ));
        }
    }
    errs
}

/// Endpoints: addresses are IPs, ports valid and named when there are several.
pub fn validate_endpoints(ep: &Endpoints) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ep.metadata, true, NameFormat::Dns1123Subdomain);
    for (i, ss) in ep.subsets.iter().enumerate() {
        let sp = format!("subsets[{i}]");
        for (list, addrs) in [("addresses", &ss.addresses), ("notReadyAddresses", &ss.not_ready_addresses)] {
            for (j, a) in addrs.iter().enumerate() {
                let ap = format!("{sp}.{list}[{j}]");
                if a.ip.is_empty() {
                    errs.push(FieldError::required(format!("{ap}.ip"), ""));
                } else {
                    errs.extend(invalid_each(&format!("{ap}.ip"), &a.ip, is_valid_ip(&a.ip)));
                }
                if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty()) {
                    errs.extend(invalid_each(&format!("{ap}.hostname"), h, is_dns1123_label(h)));
                }
                if let Some(n) = a.node_name.as_deref().filter(|n| !n.is_empty()) {
                    errs.extend(invalid_each(&format!("{ap}.nodeName"), n, is_dns1123_subdomain(n)));
                }
            }
        }
        let mut names = BTreeSet::new();
        let many = ss.ports.len() > 1;
        for (j, p) in ss.ports.iter().enumerate() {
            let pp = format!("{sp}.ports[{j}]");
            port_name(p.name.as_deref(), many, &pp, &mut names, &mut errs);
            errs.extend(invalid_each(&format!("{pp}.port"), &p.port.to_string(), is_valid_port_num(p.port)));
            validate_protocol(p.protocol.as_deref(), &format!("{pp}.protocol"), &mut errs);
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IntOrString, ServicePort};
    use serde_json::json;

    fn svc() -> Service {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "clusterIP": "10.96.0.10",
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                               {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"}],
                     "sessionAffinity": "None", "externalTrafficPolicy": "Local", "ipFamilies": ["IPv4"],
                     "ipFamilyPolicy": "SingleStack"}
        }))
        .unwrap()
    }

    fn only(errs: Vec<FieldError>, field: &str, kind: FieldErrorKind) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].field.as_str(), errs[0].kind), (field, kind));
    }

    #[test]
    fn accepts_good_service() {
        assert_eq!(validate_service(&svc()), vec![]);
    }

    #[test]
    fn service_name_is_dns1035_label() {
        let mut s = svc();
        s.metadata.name = "1web".into();
        only(validate_service(&s), "metadata.name", FieldErrorKind::Invalid);
        let mut s = svc();
        s.metadata.name = "web.example".into();
        only(validate_service(&s), "metadata.name", FieldErrorKind::Invalid);
    }

    #[test]
    fn ports_required_unless_headless_or_external_name() {
        let mut s = svc();
        s.spec.ports.clear();
        only(validate_service(&s), "spec.ports", FieldErrorKind::Required);
        let mut s = svc();
        s.spec.ports.clear();
        s.spec.type_ = None;
        s.spec.external_traffic_policy = None;
        s.spec.cluster_ip = Some("None".into());
        assert_eq!(validate_service(&s), vec![]);
        let mut s = Service::default();
        s.metadata.name = "ext".into();
        s.metadata.namespace = Some("default".into());
        s.spec.type_ = Some("ExternalName".into());
        s.spec.external_name = Some("db.example.com".into());
        assert_eq!(validate_service(&s), vec![]);
        s.spec.external_name = None;
        only(validate_service(&s), "spec.externalName", FieldErrorKind::Required);
    }

    #[test]
    fn port_rules() {
        let mut s = svc();
        s.spec.ports[0].port = 0;
        only(validate_service(&s), "spec.ports[0].port", FieldErrorKind::Invalid);
        let mut s = svc();
        s.spec.ports[1].target_port = Some(IntOrString::Int(70000));
        only(validate_service(&s), "spec.ports[1].targetPort", FieldErrorKind::Invalid);
        let mut s = svc();
        s.spec.ports[0].target_port = Some("Not_A_Name".into());
        only(validate_service(&s), "spec.ports[0].targetPort", FieldErrorKind::Invalid);
        let mut s = svc();
        s.spec.ports[0].node_port = Some(70000);
        only(validate_service(&s), "spec.ports[0].nodePort", FieldErrorKind::Invalid);
        let mut s = svc();
        s.spec.ports[1].protocol = Some("ICMP".into());
        only(validate_service(&s), "spec.ports[1].protocol", FieldErrorKind::NotSupported);
        let mut s = svc();
        s.spec.ports[1].name = None;
        only(validate_service(&s), "spec.ports[1].name", FieldErrorKind::Required);
        let mut s = svc();
        s.spec.ports[1].name = Some("http".into());
        only(validate_service(&s), "spec.ports[1].name", FieldErrorKind::Duplicate);
        let mut s = svc();
        s.spec.ports.push(ServicePort { name: Some("again".into()), port: 80, ..Default::default() });
        only(validate_service(&s), "spec.ports[2]", FieldErrorKind::Duplicate);
    }

    #[test]
    fn type_and_cluster_ip() {
        let mut s = svc();
        s.spec.type_ = Some("Magic".into());
        let errs = validate_service(&s);
        assert!(errs.iter().any(|e| e.field == "spec.type" && e.kind == FieldErrorKind::NotSupported), "{errs:?}");
        let mut s = svc();
        s.spec.cluster_ip = Some("10.96.0.300".into());
        only(validate_service(&s), "spec.clusterIP", FieldErrorKind::Invalid);
        let mut s = svc();
        s.spec.cluster_ip = Some("fd00::10".into());
        assert_eq!(validate_service(&s), vec![]);
        let mut s = svc();
        s.spec.type_ = Some("ClusterIP".into());
        s.spec.external_traffic_policy = None;
        only(validate_service(&s), "spec.ports[0].nodePort", FieldErrorKind::Forbidden);
    }

    fn endpoints() -> Endpoints {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "10.244.1.5", "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "default"}}],
                         "notReadyAddresses": [{"ip": "10.244.2.7"}],
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
        }))
        .unwrap()
    }

    #[test]
    fn endpoints_rules() {
        assert_eq!(validate_endpoints(&endpoints()), vec![]);
        let mut e = endpoints();
        e.subsets[0].addresses[0].ip = "nope".into();
        only(validate_endpoints(&e), "subsets[0].addresses[0].ip", FieldErrorKind::Invalid);
        let mut e = endpoints();
        e.subsets[0].ports[0].port = 0;
        only(validate_endpoints(&e), "subsets[0].ports[0].port", FieldErrorKind::Invalid);
    }
}

/// A Service or Endpoints port name: required when there are several ports, a DNS-1123
/// label, unique among its siblings.
fn port_name(name: Option<&str>, many: bool, path: &str, seen: &mut BTreeSet<String>, errs: &mut Vec<FieldError>) {
    match name {
        None | Some("") if many => errs.push(FieldError::required(format!("{path}.name"), "")),
        None | Some("") => {}
        Some(n) => {
            errs.extend(invalid_each(&format!("{path}.name"), n, is_dns1123_label(n)));
            if !seen.insert(n.to_string()) {
                errs.push(FieldError::duplicate(format!("{path}.name"), n));
            }
        }
    }
}
