//! Builders of Services and EndpointSlices for the proxy's unit tests.

use api::model::{
    ClientIpConfig, Endpoint, EndpointConditions, EndpointSlice, EndpointSlicePort, IntOrString, ObjectMeta, Service, ServicePort, ServiceSpec,
    SessionAffinityConfig, LABEL_SERVICE_NAME,
};

use super::model::NodeFacts;
use crate::ipam::Subnet;

pub fn node() -> NodeFacts {
    NodeFacts {
        node_name: "n1".into(),
        node_ips: vec![],
        cluster_cidr: Subnet::parse("10.244.0.0/16").expect("cidr"),
        node_port_range: 30000..=32767,
    }
}

pub fn service(name: &str, ip: &str, port: i32) -> Service {
    Service {
        metadata: ObjectMeta { name: name.into(), namespace: Some("ns".into()), ..Default::default() },
        spec: ServiceSpec {
            cluster_ip: Some(ip.into()),
            ports: vec![ServicePort { name: Some("http".into()), port, target_port: Some(IntOrString::String("web".into())), ..Default::default() }],
            ..Default::default()
        },
        ..Default::default()
    }
}

pub fn node_port(mut s: Service, np: i32) -> Service {
    s.spec.type_ = Some("NodePort".into());
    s.spec.ports[0].node_port = Some(np);
    s
}

pub fn affinity(mut s: Service, timeout: i32) -> Service {
    s.spec.session_affinity = Some("ClientIP".into());
    s.spec.session_affinity_config = Some(SessionAffinityConfig { client_ip: Some(ClientIpConfig { timeout_seconds: Some(timeout) }) });
    s
}

/// A slice of `service` with port `http` → `port` and ready endpoints `(ip, node)`.
pub fn slice(service: &str, port: i32, endpoints: &[(&str, &str)]) -> EndpointSlice {
    let mut metadata = ObjectMeta { name: format!("{service}-abc"), namespace: Some("ns".into()), ..Default::default() };
    metadata.labels.insert(LABEL_SERVICE_NAME.into(), service.into());
    EndpointSlice {
        metadata,
        address_type: "IPv4".into(),
        endpoints: endpoints
            .iter()
            .map(|(ip, node)| Endpoint {
                addresses: vec![(*ip).into()],
                conditions: Some(EndpointConditions { ready: Some(true), serving: Some(true), terminating: Some(false) }),
                node_name: Some((*node).into()),
                ..Default::default()
            })
            .collect(),
        ports: vec![EndpointSlicePort { name: Some("http".into()), port: Some(port), protocol: Some("TCP".into()), ..Default::default() }],
        ..Default::default()
    }
}
