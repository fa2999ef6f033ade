//! What the nodes need of the control plane's network configuration, kept in the store:
//! the ConfigMap `kube-system/shoal-network` (cluster CIDR, service range, NodePort range,
//! the DNS address and domain — every node-host reads it at start, so that no node is
//! configured apart from the control plane), and the `kube-system/kube-dns` Service on the
//! service range's tenth address, as kubeadm places CoreDNS's. The DNS Service has no
//! selector: each node serves DNS itself and writes the EndpointSlice of its own server
//! (node-host's `netplane`), owned by its Node so that it goes with it; with
//! `internalTrafficPolicy: Local` a pod asks its own node's server. Created at start,
//! written back when changed, recreated when deleted (checked every few seconds).

use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;

use api::model::{ConfigMap, IntOrString, ObjectMeta, Service, ServicePort};
use api::network::{self, NetworkConfig};

use crate::controller::{Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::{RegistryError, UpdateScope};

const PERIOD: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct ClusterNetwork;

/// The configuration this control plane runs with.
pub fn config(cx: &Cx) -> NetworkConfig {
    let alloc = cx.registry().allocator();
    NetworkConfig {
        cluster_cidr: cx.config().node_ipam.cluster_cidr.to_string(),
        service_cidr: alloc.service_cidr.to_string(),
        node_port_range: alloc.node_ports.to_string(),
        dns_ip: alloc.service_cidr.nth(network::DNS_OFFSET),
        domain: cx.config().cluster_domain.clone(),
        overlay_port: cx.config().overlay_port,
    }
}

fn dns_port(name: &str, protocol: &str) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        protocol: Some(protocol.into()),
        port: 53,
        target_port: Some(IntOrString::Int(53)),
        ..Default::default()
    }
}

/// The DNS Service as this controller creates it.
pub fn dns_service(cfg: &NetworkConfig) -> Service {
    let mut meta = ObjectMeta { name: network::DNS_SERVICE.into(), namespace: Some(network::DNS_NAMESPACE.into()), ..Default::default() };
    meta.labels.insert("k8s-app".into(), "kube-dns".into());
    meta.labels.insert("kubernetes.io/name".into(), "shoal-dns".into());
    let mut s = Service { metadata: meta, ..Default::default() };
    s.spec.type_ = Some("ClusterIP".into());
    s.spec.cluster_ip = Some(cfg.dns_ip.to_string());
    s.spec.cluster_ips = vec![cfg.dns_ip.to_string()];
    s.spec.session_affinity = Some("None".into());
    // Each node serves DNS itself: a pod's queries stay on its node.
    s.spec.internal_traffic_policy = Some("Local".into());
    s.spec.ports = vec![dns_port("dns", "UDP"), dns_port("dns-tcp", "TCP")];
    s
}

/// The ConfigMap as this controller writes it.
pub fn config_map(cfg: &NetworkConfig) -> ConfigMap {
    let meta = ObjectMeta { name: network::CONFIG_NAME.into(), namespace: Some(network::CONFIG_NAMESPACE.into()), ..Default::default() };
    ConfigMap { metadata: meta, data: cfg.to_data(), ..Default::default() }
}

pub async fn reconcile(cx: &Cx) -> Result<(), ReconcileError> {
    let cfg = config(cx);
    let reg = cx.registry();
    match reg.get::<ConfigMap>(Some(network::CONFIG_NAMESPACE), network::CONFIG_NAME).await {
        Err(RegistryError::NotFound { .. }) => match cx.create(config_map(&cfg)).await {
            Ok(_) | Err(RegistryError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        },
        Ok(c) if c.data != cfg.to_data() => {
            cx.modify::<ConfigMap>(Some(network::CONFIG_NAMESPACE), network::CONFIG_NAME, UpdateScope::Main, |c| {
                c.data = cfg.to_data();
                true
            })
            .await?;
        }
        Ok(_) => {}
        Err(e) => return Err(e.into()),
    }
    let wanted = dns_service(&cfg);
    match reg.get::<Service>(Some(network::DNS_NAMESPACE), network::DNS_SERVICE).await {
        Err(RegistryError::NotFound { .. }) => match cx.create(wanted).await {
            Ok(_) => tracing::info!(ip = %cfg.dns_ip, "created the kube-dns Service"),
            Err(RegistryError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        },
        Ok(s) if s.spec.ports != wanted.spec.ports || !s.spec.selector.is_empty() || s.spec.internal_traffic_policy != wanted.spec.internal_traffic_policy => {
            cx.modify::<Service>(Some(network::DNS_NAMESPACE), network::DNS_SERVICE, UpdateScope::Main, |s| {
                s.spec.ports = wanted.spec.ports.clone();
                s.spec.selector.clear();
                s.spec.internal_traffic_policy = wanted.spec.internal_traffic_policy.clone();
                true
            })
            .await?;
        }
        Ok(_) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[async_trait::async_trait]
impl Singleton for ClusterNetwork {
    const NAME: &'static str = "cluster-network";

    /// No cache follows ConfigMaps: the loop runs on its own period.
    fn wakers(_caches: &Caches) -> BoxStream<'static, ()> {
        futures::stream::pending().boxed()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        reconcile(cx).await?;
        Ok(Action::requeue(PERIOD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Validate;
    use std::net::Ipv4Addr;

    fn cfg() -> NetworkConfig {
        NetworkConfig {
            cluster_cidr: "10.244.0.0/16".into(),
            service_cidr: "10.96.0.0/12".into(),
            node_port_range: "30000-32767".into(),
            dns_ip: Ipv4Addr::new(10, 96, 0, 10),
            domain: "cluster.local".into(),
            overlay_port: 8285,
        }
    }

    #[test]
    fn the_dns_service_is_valid_and_selectorless() {
        let s = dns_service(&cfg());
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        assert!(s.spec.selector.is_empty());
        assert_eq!(s.spec.cluster_ip.as_deref(), Some("10.96.0.10"));
        assert_eq!(s.spec.ports.len(), 2);
    }

    #[test]
    fn the_config_map_is_valid_and_reads_back() {
        let c = config_map(&cfg());
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(NetworkConfig::from_data(&c.data), Ok(cfg()));
    }
}
