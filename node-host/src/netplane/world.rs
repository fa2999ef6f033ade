//! The world of the node's network singletons: watcher caches of every Node (the
//! overlay's peers), Service and EndpointSlice (the proxy's and the DNS server's input),
//! and the facts of this node and cluster they all need.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use api::model::{EndpointSlice, Node, Service};
use api::network::NetworkConfig;
use client::cache::Cache;
use client::ListParams;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use overlay::ipam::Subnet;
use supervision::{ActorCx, BudgetSpec, World};

use super::NetPlaneOptions;

/// This node and the cluster's ranges, parsed once.
#[derive(Debug, Clone)]
pub struct Facts {
    pub node_name: String,
    pub node_ip: Ipv4Addr,
    pub cluster: Subnet,
    pub node_ports: RangeInclusive<u16>,
    pub network: NetworkConfig,
}

impl Facts {
    pub fn new(opts: &NetPlaneOptions) -> Result<Facts, String> {
        let cluster = Subnet::parse(&opts.network.cluster_cidr).map_err(|e| format!("clusterCIDR {}: {e}", opts.network.cluster_cidr))?;
        let (lo, hi) = api::network::parse_port_range(&opts.network.node_port_range)?;
        Ok(Facts { node_name: opts.node_name.clone(), node_ip: opts.node_ip, cluster, node_ports: lo..=hi, network: opts.network.clone() })
    }
}

pub struct NetWorld {
    pub facts: Facts,
    pub nodes: Cache<Node>,
    pub services: Cache<Service>,
    pub slices: Cache<EndpointSlice>,
    budget: BudgetSpec,
}

impl NetWorld {
    /// Starts one watcher per kind (cluster-wide) on the current tokio runtime.
    pub fn start(api: &client::Client, facts: Facts, budget: BudgetSpec) -> (NetWorld, Vec<tokio::task::JoinHandle<()>>) {
        let (nodes, w1) = client::watcher::start(api.api::<Node>(None), ListParams::default(), 1024);
        let (services, w2) = client::watcher::start(api.api::<Service>(None), ListParams::default(), 4096);
        let (slices, w3) = client::watcher::start(api.api::<EndpointSlice>(None), ListParams::default(), 4096);
        (NetWorld { facts, nodes, services, slices, budget }, vec![w1, w2, w3])
    }

    /// This node's pod subnet, once the control plane has given it one.
    pub fn own_subnet(&self) -> Option<Subnet> {
        let n = self.nodes.get(None, &self.facts.node_name)?;
        Subnet::parse(n.spec.pod_cidr.as_deref()?).ok()
    }
}

/// One stream item per change of any of these caches.
pub fn changes_of(streams: Vec<BoxStream<'static, ()>>) -> BoxStream<'static, ()> {
    futures::stream::select_all(streams).boxed()
}

pub fn changes<T: api::Resource>(cache: &Cache<T>) -> BoxStream<'static, ()> {
    tokio_stream::wrappers::BroadcastStream::new(cache.subscribe()).map(|_| ()).boxed()
}

/// The singletons keep their own state; their context carries nothing.
pub struct NetCx {
    pub world: Arc<NetWorld>,
}

impl ActorCx for NetCx {
    fn catch_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

impl World for NetWorld {
    type Cx = NetCx;
    fn actor_cx(self: &Arc<Self>) -> NetCx {
        NetCx { world: self.clone() }
    }
    fn restart_budget(&self) -> BudgetSpec {
        self.budget
    }
    fn wait_synced(&self) -> BoxFuture<'static, ()> {
        let (n, s, e) = (self.nodes.clone(), self.services.clone(), self.slices.clone());
        Box::pin(async move {
            n.wait_synced().await;
            s.wait_synced().await;
            e.wait_synced().await;
        })
    }
    fn changes(&self) -> BoxStream<'static, ()> {
        changes_of(vec![changes(&self.nodes), changes(&self.services), changes(&self.slices)])
    }
}
