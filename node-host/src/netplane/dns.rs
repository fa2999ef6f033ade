//! The cluster DNS singleton: every node serves the cluster's names itself (the
//! `cluster-dns` crate over the node's caches of Services and EndpointSlices) on its
//! bridge's gateway address, port 53, and announces that server as its own EndpointSlice
//! of the `kube-system/kube-dns` Service (owned by its Node, so that it goes with it).
//! The control plane gives that Service `internalTrafficPolicy: Local`: a pod's queries to
//! the DNS ClusterIP stay on its own node, as with NodeLocal DNSCache, so that no pod's
//! resolution depends on another node being up. Names outside the cluster's zone go to
//! the resolvers of the node's `/etc/resolv.conf`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api::model::{EndpointConditions, EndpointSlice, EndpointSlicePort, ObjectMeta, OwnerReference};
use api::network::{DNS_NAMESPACE, DNS_SERVICE, DNS_SLICE_MANAGER};
use async_trait::async_trait;
use cluster_dns::{DnsError, DnsServer, Records, ServerConfig};
use futures::stream::BoxStream;
use supervision::{Action, Loop};

use super::world::{changes, changes_of, NetCx, NetWorld};
use crate::agent::MetricsSource;

/// The DNS port, on the node's gateway address.
pub const PORT: u16 = 53;

struct Running {
    server: DnsServer,
    listen: SocketAddr,
}

/// The server, shared by the singleton (across restarts) and the node's shutdown.
pub struct DnsState {
    running: tokio::sync::Mutex<Option<Running>>,
    stopped: AtomicBool,
    metrics: std::sync::Mutex<Option<Arc<cluster_dns::Metrics>>>,
    api: client::Client,
    upstream: Vec<SocketAddr>,
}

/// The name of this node's slice of the DNS Service.
pub fn slice_name(node: &str) -> String {
    format!("{DNS_SERVICE}-{node}")
}

/// The slice announcing this node's server at `ip`.
pub fn slice(node: &api::model::Node, ip: Ipv4Addr) -> EndpointSlice {
    let mut meta = ObjectMeta { name: slice_name(&node.metadata.name), namespace: Some(DNS_NAMESPACE.into()), ..Default::default() };
    meta.labels.insert(api::model::LABEL_SERVICE_NAME.into(), DNS_SERVICE.into());
    meta.labels.insert(api::model::LABEL_MANAGED_BY.into(), DNS_SLICE_MANAGER.into());
    meta.owner_references = vec![OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node.metadata.name.clone(),
        uid: node.metadata.uid.clone(),
        controller: None,
        block_owner_deletion: None,
    }];
    let port = |name: &str, protocol: &str| EndpointSlicePort { name: Some(name.into()), protocol: Some(protocol.into()), port: Some(i32::from(PORT)), app_protocol: None };
    EndpointSlice {
        api_version: "discovery.k8s.io/v1".into(),
        kind: "EndpointSlice".into(),
        metadata: meta,
        address_type: "IPv4".into(),
        endpoints: vec![api::model::Endpoint {
            addresses: vec![ip.to_string()],
            conditions: Some(EndpointConditions { ready: Some(true), serving: Some(true), terminating: Some(false) }),
            node_name: Some(node.metadata.name.clone()),
            ..Default::default()
        }],
        ports: vec![port("dns", "UDP"), port("dns-tcp", "TCP")],
    }
}

impl DnsState {
    /// Forwards to the resolvers of `resolv_conf` (the node's `/etc/resolv.conf`).
    pub fn new(api: client::Client, resolv_conf: &str) -> Self {
        DnsState {
            running: tokio::sync::Mutex::new(None),
            stopped: AtomicBool::new(false),
            metrics: std::sync::Mutex::new(None),
            api,
            upstream: cluster_dns::upstream_from_resolv_conf(resolv_conf),
        }
    }

    /// Stops the server and withdraws this node's slice; nothing starts again after.
    pub async fn stop(&self, node: &str) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(r) = self.running.lock().await.take() {
            if let Err(e) = r.server.stop().await {
                tracing::warn!(error = %e, "stopping the DNS server");
            }
        }
        let slices = self.api.api::<EndpointSlice>(Some(DNS_NAMESPACE));
        match tokio::time::timeout(Duration::from_secs(5), slices.delete(&slice_name(node), &Default::default())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.is_not_found() => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "withdrawing the node's DNS endpoint"),
            Err(_) => tracing::warn!("withdrawing the node's DNS endpoint timed out"),
        }
    }

    /// Creates or rewrites this node's slice when the cached one differs.
    async fn announce(&self, world: &NetWorld, node: &api::model::Node, ip: Ipv4Addr) -> Result<(), String> {
        let want = slice(node, ip);
        let api = self.api.api::<EndpointSlice>(Some(DNS_NAMESPACE));
        match world.slices.get(Some(DNS_NAMESPACE), &want.metadata.name) {
            Some(have) if have.endpoints == want.endpoints && have.ports == want.ports && have.metadata.labels == want.metadata.labels && have.metadata.owner_references == want.metadata.owner_references => Ok(()),
            Some(have) => {
                let mut next = want;
                next.metadata.resource_version = have.metadata.resource_version.clone();
                api.replace(&next.metadata.name.clone(), &next).await.map(|_| ()).map_err(|e| format!("updating the DNS EndpointSlice: {e}"))
            }
            None => match api.create(&want).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_already_exists() => Ok(()),
                Err(e) => Err(format!("creating the DNS EndpointSlice: {e}")),
            },
        }
    }
}

impl MetricsSource for DnsState {
    fn render(&self, out: &mut String) {
        if let Some(m) = self.metrics.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            m.render_prometheus(out);
        }
    }
}

pub struct DnsLoop(pub Arc<DnsState>);

#[async_trait]
impl Loop for DnsLoop {
    type World = NetWorld;
    type Error = String;
    const NAME: &'static str = "cluster-dns";
    const MIN_INTERVAL: Duration = Duration::from_millis(50);

    fn wakers(world: &NetWorld) -> BoxStream<'static, ()> {
        changes_of(vec![changes(&world.nodes), changes(&world.services), changes(&world.slices)])
    }

    async fn run_once(&self, cx: &NetCx) -> Result<Action, String> {
        let world = &cx.world;
        let (Some(subnet), Some(node)) = (world.own_subnet(), world.nodes.get(None, &world.facts.node_name)) else {
            return Ok(Action::await_change());
        };
        let gateway = subnet.gateway();
        let listen = SocketAddr::from((gateway, PORT));
        let domain = world.facts.network.domain.clone();
        {
            let mut running = self.0.running.lock().await;
            if self.0.stopped.load(Ordering::SeqCst) {
                return Ok(Action::await_change());
            }
            if running.as_ref().is_some_and(|r| r.listen != listen) {
                if let Some(r) = running.take() {
                    let _ = r.server.stop().await;
                }
            }
            if running.is_none() {
                let config = ServerConfig::new(vec![listen], self.0.upstream.clone()).with_domain(domain.clone());
                match DnsServer::start(config).await {
                    Ok(server) => {
                        tracing::info!(%listen, upstream = ?self.0.upstream, "cluster DNS serving");
                        *self.0.metrics.lock().unwrap_or_else(|p| p.into_inner()) = Some(server.metrics());
                        *running = Some(Running { server, listen });
                    }
                    // The bridge (and its gateway address) comes with the agent's first steps.
                    Err(DnsError::BindUdp { .. } | DnsError::BindTcp { .. }) => return Ok(Action::requeue(Duration::from_millis(200))),
                    Err(e) => return Err(format!("starting the DNS server: {e}")),
                }
            }
            if let Some(r) = running.as_ref() {
                r.server.update(Records::build(&domain, &world.services.list(None), &world.slices.list(None)));
            }
        }
        self.0.announce(world, &node, gateway).await?;
        Ok(Action::await_change())
    }
}
