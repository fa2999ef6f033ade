use std::net::IpAddr;
use std::sync::Arc;

use api::model::{
    Endpoint, EndpointConditions, EndpointSlice, EndpointSlicePort, ObjectMeta, Service, ServicePort,
    ServiceSpec, LABEL_SERVICE_NAME,
};
use hickory_proto::rr::{rdata, Name, RData, Record, RecordType};

use super::*;

fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: name.into(), namespace: Some(ns.into()), ..Default::default() }
}

fn port(name: &str, port: i32) -> ServicePort {
    ServicePort { name: Some(name.into()), protocol: Some("TCP".into()), port, ..Default::default() }
}

fn cluster_ip(ns: &str, name: &str, ips: &[&str], ports: Vec<ServicePort>) -> Arc<Service> {
    Arc::new(Service {
        metadata: meta(ns, name),
        spec: ServiceSpec {
            cluster_ip: ips.first().map(|s| s.to_string()),
            cluster_ips: ips.iter().map(|s| s.to_string()).collect(),
            ports,
            ..Default::default()
        },
        ..Default::default()
    })
}

fn headless(ns: &str, name: &str, ports: Vec<ServicePort>) -> Arc<Service> {
    Arc::new(Service {
        metadata: meta(ns, name),
        spec: ServiceSpec { cluster_ip: Some("None".into()), ports, ..Default::default() },
        ..Default::default()
    })
}

fn external(ns: &str, name: &str, target: &str) -> Arc<Service> {
    Arc::new(Service {
        metadata: meta(ns, name),
        spec: ServiceSpec {
            type_: Some("ExternalName".into()),
            external_name: Some(target.into()),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// An endpoint: address, hostname, ready condition.
fn ep(ip: &str, hostname: Option<&str>, ready: Option<bool>) -> Endpoint {
    Endpoint {
        addresses: vec![ip.into()],
        hostname: hostname.map(Into::into),
        conditions: Some(EndpointConditions { ready, ..Default::default() }),
        ..Default::default()
    }
}

fn slice(ns: &str, service: &str, family: &str, endpoints: Vec<Endpoint>, ports: &[(&str, i32)]) -> Arc<EndpointSlice> {
    let mut metadata = meta(ns, &format!("{service}-abcde"));
    metadata.labels.insert(LABEL_SERVICE_NAME.into(), service.into());
    Arc::new(EndpointSlice {
        metadata,
        address_type: family.into(),
        endpoints,
        ports: ports
            .iter()
            .map(|(n, p)| EndpointSlicePort {
                name: Some((*n).into()),
                protocol: Some("TCP".into()),
                port: Some(*p),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

/// A small cluster: a ClusterIP Service, a dual-stack one, a headless StatefulSet
/// Service with one not-ready pod, an ExternalName and a Service in another namespace.
fn cluster() -> Records {
    let services = vec![
        cluster_ip("default", "api", &["10.96.0.10"], vec![port("http", 80), port("metrics", 9090)]),
        cluster_ip("default", "dual", &["10.96.0.20", "fd00:96::20"], vec![port("http", 80)]),
        headless("default", "web", vec![port("http", 8080)]),
        external("default", "search", "search.example.com"),
        external("default", "alias", "api.default.svc.cluster.local"),
        cluster_ip("other", "db", &["10.96.5.5"], vec![port("pg", 5432)]),
        cluster_ip("default", "pending", &[], vec![port("http", 80)]),
        headless("default", "empty", vec![port("http", 80)]),
    ];
    let slices = vec![
        slice(
            "default",
            "web",
            "IPv4",
            vec![
                ep("10.244.1.5", Some("web-0"), Some(true)),
                ep("10.244.2.7", Some("web-1"), None),
                ep("10.244.3.9", Some("web-2"), Some(false)),
            ],
            &[("http", 8080)],
        ),
        slice("default", "api", "IPv4", vec![ep("10.244.1.6", None, Some(true))], &[("http", 8080)]),
        // Same service name, other namespace: must not join default/api.
        slice("other", "api", "IPv4", vec![ep("10.244.9.9", None, Some(true))], &[("http", 8080)]),
    ];
    Records::build("cluster.local", &services, &slices)
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn ips(records: &[Record]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn assert_nodata(a: &Answer) {
    assert_eq!(a.scope, Scope::Cluster, "{a:?}");
    assert_eq!(a.rcode, Rcode::NoError, "{a:?}");
    assert!(a.answers.is_empty(), "{a:?}");
    assert!(a.is_nodata());
    assert!(matches!(a.authority.as_slice(), [r] if r.record_type() == RecordType::SOA), "{a:?}");
}

fn assert_nxdomain(a: &Answer) {
    assert_eq!(a.scope, Scope::Cluster, "{a:?}");
    assert_eq!(a.rcode, Rcode::NxDomain, "{a:?}");
    assert!(a.answers.is_empty(), "{a:?}");
    assert!(matches!(a.authority.as_slice(), [r] if r.record_type() == RecordType::SOA), "{a:?}");
}

#[test]
fn cluster_ip_service_answers_its_cluster_ip_with_ttl_5() {
    let a = cluster().answer("api.default.svc.cluster.local.", RecordType::A);
    assert_eq!(a.scope, Scope::Cluster);
    assert_eq!(a.rcode, Rcode::NoError);
    assert_eq!(ips(&a.answers), vec![ip("10.96.0.10")]);
    assert_eq!(a.answers[0].name, name("api.default.svc.cluster.local."));
    assert_eq!(a.answers[0].ttl, TTL);
    assert!(a.authority.is_empty());
}

#[test]
fn names_match_in_any_case_with_or_without_the_trailing_dot() {
    let records = cluster();
    for q in ["API.Default.SVC.Cluster.Local", "api.default.svc.cluster.local", "Api.default.svc.cluster.local."] {
        let a = records.answer(q, RecordType::A);
        assert_eq!(ips(&a.answers), vec![ip("10.96.0.10")], "{q}");
        // The owner name is the question as asked (0x20-randomising resolvers check it).
        assert!(a.answers[0].name.eq_case(&{
            let mut n = name(q);
            n.set_fqdn(true);
            n
        }));
    }
}

#[test]
fn aaaa_for_an_ipv4_only_service_is_nodata() {
    assert_nodata(&cluster().answer("api.default.svc.cluster.local", RecordType::AAAA));
}

#[test]
fn dual_stack_service_answers_each_family_separately() {
    let records = cluster();
    let a = records.answer("dual.default.svc.cluster.local", RecordType::A);
    assert_eq!(ips(&a.answers), vec![ip("10.96.0.20")]);
    let aaaa = records.answer("dual.default.svc.cluster.local", RecordType::AAAA);
    assert_eq!(ips(&aaaa.answers), vec![ip("fd00:96::20")]);
}

#[test]
fn headless_service_answers_its_ready_endpoints_only() {
    let a = cluster().answer("web.default.svc.cluster.local", RecordType::A);
    // ready: true and ready unset count; ready: false does not.
    assert_eq!(ips(&a.answers), vec![ip("10.244.1.5"), ip("10.244.2.7")]);
}

#[test]
fn headless_service_without_ready_endpoints_is_nxdomain_as_in_coredns() {
    assert_nxdomain(&cluster().answer("empty.default.svc.cluster.local", RecordType::A));
}

#[test]
fn cluster_ip_service_without_an_allocated_ip_is_nodata() {
    assert_nodata(&cluster().answer("pending.default.svc.cluster.local", RecordType::A));
}

#[test]
fn external_name_service_answers_a_cname() {
    let records = cluster();
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
        let a = records.answer("search.default.svc.cluster.local", qtype);
        assert_eq!(a.rcode, Rcode::NoError);
        assert!(
            matches!(a.answers.as_slice(), [r] if r.data == RData::CNAME(rdata::CNAME(name("search.example.com.")))),
            "{qtype}: {a:?}"
        );
    }
    // No SRV for ExternalName Services.
    assert_nodata(&records.answer("search.default.svc.cluster.local", RecordType::SRV));
}

#[test]
fn external_name_inside_the_zone_is_followed() {
    let a = cluster().answer("alias.default.svc.cluster.local", RecordType::A);
    assert_eq!(a.answers.len(), 2, "{a:?}");
    assert_eq!(a.answers[0].data, RData::CNAME(rdata::CNAME(name("api.default.svc.cluster.local."))));
    assert_eq!(a.answers[1].name, name("api.default.svc.cluster.local."));
    assert_eq!(ips(&a.answers), vec![ip("10.96.0.10")]);
}

#[test]
fn external_names_pointing_at_each_other_stop_without_answers() {
    let services = vec![
        external("default", "a", "b.default.svc.cluster.local"),
        external("default", "b", "a.default.svc.cluster.local"),
    ];
    let a = Records::build("cluster.local", &services, &[]).answer("a.default.svc.cluster.local", RecordType::A);
    assert_nodata(&a);
}

#[test]
fn statefulset_pod_hostname_resolves_under_its_service() {
    let records = cluster();
    let a = records.answer("web-0.web.default.svc.cluster.local", RecordType::A);
    assert_eq!(ips(&a.answers), vec![ip("10.244.1.5")]);
    // A not-ready pod has no name, and a pod with a hostname has no dashed name.
    assert_nxdomain(&records.answer("web-2.web.default.svc.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("10-244-1-5.web.default.svc.cluster.local", RecordType::A));
}

#[test]
fn endpoints_without_hostname_resolve_by_dashed_ip() {
    let services = vec![headless("default", "h", vec![port("http", 80)])];
    let slices = vec![slice("default", "h", "IPv4", vec![ep("10.244.1.5", None, Some(true))], &[("http", 80)])];
    let records = Records::build("cluster.local", &services, &slices);
    let a = records.answer("10-244-1-5.h.default.svc.cluster.local", RecordType::A);
    assert_eq!(ips(&a.answers), vec![ip("10.244.1.5")]);
    assert_nxdomain(&records.answer("10-244-1-6.h.default.svc.cluster.local", RecordType::A));
}

#[test]
fn endpoint_names_exist_under_cluster_ip_services_too_as_in_coredns() {
    let a = cluster().answer("10-244-1-6.api.default.svc.cluster.local", RecordType::A);
    assert_eq!(ips(&a.answers), vec![ip("10.244.1.6")]);
}

#[test]
fn ipv6_endpoints_answer_aaaa_under_dashed_names() {
    let services = vec![headless("default", "h6", vec![port("http", 80)])];
    let slices = vec![slice("default", "h6", "IPv6", vec![ep("fd00::5", None, None)], &[("http", 80)])];
    let records = Records::build("cluster.local", &services, &slices);
    assert_eq!(ips(&records.answer("h6.default.svc.cluster.local", RecordType::AAAA).answers), vec![ip("fd00::5")]);
    assert_nodata(&records.answer("h6.default.svc.cluster.local", RecordType::A));
    let by_name = records.answer("fd00--5.h6.default.svc.cluster.local", RecordType::AAAA);
    assert_eq!(ips(&by_name.answers), vec![ip("fd00::5")]);
}

fn srvs(a: &Answer) -> Vec<(u16, u16, u16, String)> {
    let mut out: Vec<_> = a
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.priority, s.weight, s.port, s.target.to_ascii())),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[test]
fn srv_for_a_named_port_of_a_cluster_ip_service_targets_the_service() {
    let a = cluster().answer("_http._tcp.api.default.svc.cluster.local", RecordType::SRV);
    assert_eq!(srvs(&a), vec![(0, 100, 80, "api.default.svc.cluster.local.".to_owned())]);
    assert_eq!(a.additionals.len(), 1);
    assert_eq!(a.additionals[0].name, name("api.default.svc.cluster.local."));
    assert_eq!(ips(&a.additionals), vec![ip("10.96.0.10")]);
}

#[test]
fn srv_port_and_protocol_match_without_underscores_and_in_any_case() {
    let a = cluster().answer("HTTP.TCP.api.default.svc.cluster.local", RecordType::SRV);
    assert_eq!(srvs(&a).len(), 1);
}

#[test]
fn srv_for_a_headless_service_lists_each_endpoint_with_its_address() {
    let a = cluster().answer("_http._tcp.web.default.svc.cluster.local", RecordType::SRV);
    assert_eq!(
        srvs(&a),
        vec![
            (0, 50, 8080, "web-0.web.default.svc.cluster.local.".to_owned()),
            (0, 50, 8080, "web-1.web.default.svc.cluster.local.".to_owned()),
        ]
    );
    let mut extra: Vec<(String, Vec<IpAddr>)> =
        a.additionals.iter().map(|r| (r.name.to_ascii(), ips(std::slice::from_ref(r)))).collect();
    extra.sort();
    assert_eq!(
        extra,
        vec![
            ("web-0.web.default.svc.cluster.local.".to_owned(), vec![ip("10.244.1.5")]),
            ("web-1.web.default.svc.cluster.local.".to_owned(), vec![ip("10.244.2.7")]),
        ]
    );
}

#[test]
fn srv_for_the_service_name_lists_every_port() {
    let a = cluster().answer("api.default.svc.cluster.local", RecordType::SRV);
    assert_eq!(
        srvs(&a),
        vec![
            (0, 50, 80, "api.default.svc.cluster.local.".to_owned()),
            (0, 50, 9090, "api.default.svc.cluster.local.".to_owned()),
        ]
    );
    assert_eq!(a.additionals.len(), 1, "one address record per target: {a:?}");
}

#[test]
fn srv_for_an_unknown_port_or_protocol_is_nxdomain() {
    let records = cluster();
    assert_nxdomain(&records.answer("_grpc._tcp.api.default.svc.cluster.local", RecordType::SRV));
    assert_nxdomain(&records.answer("_http._udp.api.default.svc.cluster.local", RecordType::SRV));
}

#[test]
fn port_less_slices_still_resolve_addresses_but_publish_no_srv() {
    let services = vec![headless("default", "bare", vec![])];
    let slices = vec![slice("default", "bare", "IPv4", vec![ep("10.244.4.4", None, None)], &[])];
    let records = Records::build("cluster.local", &services, &slices);
    assert_eq!(ips(&records.answer("bare.default.svc.cluster.local", RecordType::A).answers), vec![ip("10.244.4.4")]);
    assert_nodata(&records.answer("bare.default.svc.cluster.local", RecordType::SRV));
}

fn ptrs(a: &Answer) -> Vec<String> {
    a.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect()
}

#[test]
fn ptr_for_a_cluster_ip_names_the_service() {
    let a = cluster().answer("10.0.96.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(a.scope, Scope::Cluster);
    assert_eq!(ptrs(&a), vec!["api.default.svc.cluster.local.".to_owned()]);
    let v6 = Name::from(ip("fd00:96::20")).to_ascii();
    assert_eq!(ptrs(&cluster().answer(&v6, RecordType::PTR)), vec!["dual.default.svc.cluster.local.".to_owned()]);
}

#[test]
fn ptr_for_an_endpoint_names_its_hostname_or_dashed_ip() {
    let records = cluster();
    assert_eq!(
        ptrs(&records.answer("5.1.244.10.in-addr.arpa", RecordType::PTR)),
        vec!["web-0.web.default.svc.cluster.local.".to_owned()]
    );
    assert_eq!(
        ptrs(&records.answer("6.1.244.10.IN-ADDR.ARPA", RecordType::PTR)),
        vec!["10-244-1-6.api.default.svc.cluster.local.".to_owned()]
    );
}

#[test]
fn reverse_names_the_zone_does_not_know_are_forwarded() {
    let records = cluster();
    assert!(records.answer("1.1.168.192.in-addr.arpa", RecordType::PTR).is_forward());
    // A not-ready endpoint has no PTR either.
    assert!(records.answer("9.3.244.10.in-addr.arpa", RecordType::PTR).is_forward());
    assert!(records.answer("96.10.in-addr.arpa", RecordType::PTR).is_forward());
    assert!(records.answer("10.0.96.10.in-addr.arpa", RecordType::A).is_forward());
}

#[test]
fn namespace_names_are_nodata_when_the_namespace_exists_else_nxdomain() {
    let records = cluster();
    assert_nodata(&records.answer("default.svc.cluster.local", RecordType::A));
    assert_nodata(&records.answer("other.svc.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("nosuch.svc.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("nosuch.pod.cluster.local", RecordType::A));
    assert_nodata(&records.answer("default.pod.cluster.local", RecordType::A));
}

#[test]
fn with_namespaces_makes_service_less_namespaces_exist() {
    let records = cluster().with_namespaces(["Empty-NS"]);
    assert_nodata(&records.answer("empty-ns.svc.cluster.local", RecordType::A));
    assert_eq!(ips(&records.answer("10-1-2-3.empty-ns.pod.cluster.local", RecordType::A).answers), vec![ip("10.1.2.3")]);
}

#[test]
fn zone_apex_and_the_svc_and_pod_names_are_nodata() {
    let records = cluster();
    for q in ["cluster.local", "svc.cluster.local", "pod.cluster.local"] {
        assert_nodata(&records.answer(q, RecordType::A));
    }
}

#[test]
fn zone_apex_answers_soa_and_ns() {
    let records = cluster();
    let soa = records.answer("cluster.local", RecordType::SOA);
    assert!(matches!(soa.answers.as_slice(), [r] if matches!(&r.data, RData::SOA(s)
        if s.mname == name("ns.dns.cluster.local.") && s.rname == name("hostmaster.cluster.local.") && s.minimum == TTL)));
    let ns = records.answer("cluster.local", RecordType::NS);
    assert!(matches!(ns.answers.as_slice(), [r] if r.data == RData::NS(rdata::NS(name("ns.dns.cluster.local.")))));
}

#[test]
fn other_names_in_the_zone_are_nxdomain() {
    let records = cluster();
    assert_nxdomain(&records.answer("foo.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("nosuch.default.svc.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("db.default.svc.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("a.b.c.d.api.default.svc.cluster.local", RecordType::A));
}

#[test]
fn existing_names_without_the_asked_type_are_nodata() {
    let records = cluster();
    for qtype in [RecordType::MX, RecordType::TXT, RecordType::PTR, RecordType::NS, RecordType::SOA] {
        assert_nodata(&records.answer("api.default.svc.cluster.local", qtype));
    }
    assert_nxdomain(&records.answer("nosuch.default.svc.cluster.local", RecordType::MX));
}

#[test]
fn slices_join_their_service_by_label_and_namespace_only() {
    let records = cluster();
    // other/api does not exist: its slice neither creates it nor joins default/api.
    assert_nxdomain(&records.answer("api.other.svc.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("10-244-9-9.api.default.svc.cluster.local", RecordType::A));
    // A slice without the label belongs to nobody.
    let mut unlabelled = (*slice("default", "h", "IPv4", vec![ep("10.244.1.1", None, None)], &[])).clone();
    unlabelled.metadata.labels.clear();
    let records = Records::build("cluster.local", &[headless("default", "h", vec![])], &[Arc::new(unlabelled)]);
    assert_nxdomain(&records.answer("h.default.svc.cluster.local", RecordType::A));
}

#[test]
fn pod_names_answer_the_dashed_address_like_pods_insecure() {
    let records = cluster();
    let a = records.answer("10-244-1-5.default.pod.cluster.local", RecordType::A);
    assert_eq!(ips(&a.answers), vec![ip("10.244.1.5")]);
    assert_nodata(&records.answer("10-244-1-5.default.pod.cluster.local", RecordType::AAAA));
    let v6 = records.answer("fd00--7.default.pod.cluster.local", RecordType::AAAA);
    assert_eq!(ips(&v6.answers), vec![ip("fd00::7")]);
    assert_nxdomain(&records.answer("not-an-ip.default.pod.cluster.local", RecordType::A));
    assert_nxdomain(&records.answer("10-244-1-5.nosuch.pod.cluster.local", RecordType::A));
}

#[test]
fn names_outside_the_domain_are_forwarded() {
    let records = cluster();
    for q in ["example.com", "xcluster.local", "local", ".", "api.default.svc.cluster.local.example.com"] {
        let a = records.answer(q, RecordType::A);
        assert!(a.is_forward(), "{q}: {a:?}");
        assert!(a.answers.is_empty() && a.authority.is_empty());
    }
}

#[test]
fn dns_version_txt_answers_the_schema_version() {
    let a = cluster().answer("dns-version.cluster.local", RecordType::TXT);
    assert!(matches!(a.answers.as_slice(), [r] if r.data == RData::TXT(rdata::TXT::new(vec!["1.1.0".into()]))));
}

#[test]
fn a_custom_domain_is_served_and_the_default_one_forwarded() {
    let services = vec![cluster_ip("default", "api", &["10.96.0.10"], vec![port("http", 80)])];
    let records = Records::build("Shoal.Internal.", &services, &[]);
    assert_eq!(records.domain(), Some("shoal.internal"));
    assert_eq!(ips(&records.answer("api.default.svc.shoal.internal", RecordType::A).answers), vec![ip("10.96.0.10")]);
    assert!(records.answer("api.default.svc.cluster.local", RecordType::A).is_forward());
    assert_eq!(
        ptrs(&records.answer("10.0.96.10.in-addr.arpa", RecordType::PTR)),
        vec!["api.default.svc.shoal.internal.".to_owned()]
    );
}

#[test]
fn an_invalid_domain_forwards_everything() {
    let services = vec![cluster_ip("default", "api", &["10.96.0.10"], vec![port("http", 80)])];
    let records = Records::build("", &services, &[]);
    assert_eq!(records.domain(), None);
    assert!(records.answer("api.default.svc.cluster.local", RecordType::A).is_forward());
}

#[test]
fn in_zone_sees_label_boundaries() {
    let records = cluster();
    assert!(records.in_zone("Cluster.Local."));
    assert!(records.in_zone("a.svc.cluster.local"));
    assert!(!records.in_zone("xcluster.local"));
}

#[test]
fn serial_is_settable() {
    let a = cluster().with_serial(42).answer("cluster.local", RecordType::SOA);
    assert!(matches!(a.answers.as_slice(), [r] if matches!(&r.data, RData::SOA(s) if s.serial == 42)));
}

