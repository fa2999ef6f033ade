//! The `kubernetes` Service in `default` (upstream's "kubernetes" service controller in
//! the API server): a ClusterIP Service on the service range's first address (which the
//! allocator keeps for it), port 443 named `https` targeting the API server's port, and
//! an Endpoints object with the API server's address. Created at start, written back when
//! changed, recreated when deleted (checked every few seconds, as upstream's loop does).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;

use api::model::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, IntOrString, ObjectMeta, Service, ServicePort};

use crate::controller::{Action, Caches, Cx, ReconcileError, Singleton};
use crate::registry::{RegistryError, UpdateScope};

pub const NAME: &str = "kubernetes";
pub const NAMESPACE: &str = "default";
const PERIOD: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct KubernetesService;

/// The address Endpoints advertise: the listen address, or loopback for a wildcard one.
pub fn advertised(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    }
}

fn meta() -> ObjectMeta {
    let mut m = ObjectMeta { name: NAME.into(), namespace: Some(NAMESPACE.into()), ..Default::default() };
    m.labels.insert("component".into(), "apiserver".into());
    m.labels.insert("provider".into(), "kubernetes".into());
    m
}

fn wanted_ports(api: SocketAddr) -> Vec<ServicePort> {
    vec![ServicePort {
        name: Some("https".into()),
        protocol: Some("TCP".into()),
        port: 443,
        target_port: Some(IntOrString::Int(i32::from(api.port()))),
        ..Default::default()
    }]
}

/// The Service as this controller creates it.
pub fn service(cluster_ip: Ipv4Addr, api: SocketAddr) -> Service {
    let mut s = Service { metadata: meta(), ..Default::default() };
    s.spec.type_ = Some("ClusterIP".into());
    s.spec.cluster_ip = Some(cluster_ip.to_string());
    s.spec.cluster_ips = vec![cluster_ip.to_string()];
    s.spec.session_affinity = Some("None".into());
    s.spec.ports = wanted_ports(api);
    s
}

fn wanted_subsets(api: SocketAddr) -> Vec<EndpointSubset> {
    vec![EndpointSubset {
        addresses: vec![EndpointAddress { ip: advertised(api).to_string(), ..Default::default() }],
        ports: vec![EndpointPort {
            name: Some("https".into()),
            port: i32::from(api.port()),
            protocol: Some("TCP".into()),
            ..Default::default()
        }],
        ..Default::default()
    }]
}

/// The Endpoints as this controller writes them.
pub fn endpoints(api: SocketAddr) -> Endpoints {
    Endpoints { metadata: meta(), subsets: wanted_subsets(api), ..Default::default() }
}

/// Creates what is missing, puts back ports and addresses that changed.
pub async fn reconcile(cx: &Cx, api: SocketAddr) -> Result<(), ReconcileError> {
    let reg = cx.registry();
    let first = reg.allocator().service_cidr.first_usable();
    match reg.get::<Service>(Some(NAMESPACE), NAME).await {
        Err(RegistryError::NotFound { .. }) => match cx.create(service(first, api)).await {
            Ok(_) => tracing::info!(ip = %first, "created the kubernetes Service"),
            Err(RegistryError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        },
        Ok(s) if s.spec.ports.iter().map(|p| (p.port, &p.target_port)).ne(wanted_ports(api).iter().map(|p| (p.port, &p.target_port))) => {
            cx.modify::<Service>(Some(NAMESPACE), NAME, UpdateScope::Main, |s| {
                s.spec.ports = wanted_ports(api);
                true
            })
            .await?;
        }
        Ok(_) => {}
        Err(e) => return Err(e.into()),
    }
    match reg.get::<Endpoints>(Some(NAMESPACE), NAME).await {
        Err(RegistryError::NotFound { .. }) => match cx.create(endpoints(api)).await {
            Ok(_) | Err(RegistryError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        },
        Ok(e) if e.subsets != wanted_subsets(api) => {
            cx.modify::<Endpoints>(Some(NAMESPACE), NAME, UpdateScope::Main, |e| {
                e.subsets = wanted_subsets(api);
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
impl Singleton for KubernetesService {
    const NAME: &'static str = "kubernetes-service";

    /// No cache follows Services: the loop runs on its own period.
    fn wakers(_caches: &Caches) -> BoxStream<'static, ()> {
        futures::stream::pending().boxed()
    }

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        let Some(api) = cx.config().api_server else {
            return Ok(Action::await_change());
        };
        reconcile(cx, api).await?;
        Ok(Action::requeue(PERIOD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Validate;

    #[test]
    fn service_and_endpoints_point_at_the_api_server() {
        let api: SocketAddr = "0.0.0.0:6443".parse().unwrap();
        let s = service(Ipv4Addr::new(10, 96, 0, 1), api);
        assert_eq!(s.spec.ports[0].target_port, Some(IntOrString::Int(6443)));
        assert_eq!(s.spec.ports[0].port, 443);
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        let e = endpoints(api);
        assert_eq!(e.subsets[0].addresses[0].ip, "127.0.0.1");
        assert!(e.validate().is_empty());
        assert_eq!(advertised("192.0.2.7:1".parse().unwrap()).to_string(), "192.0.2.7");
    }
}
