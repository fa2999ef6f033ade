//! Simulated nodes (like kwok): register Nodes, renew their Leases, and report every pod
//! bound to them as Running — all through the HTTP API, with no containers. Pods with
//! restartPolicy Never or OnFailure run to completion as their `sim.shoal.io/*`
//! annotations say (see [`completion`]); every node posts its pods' usage, which their
//! `sim.shoal.io/cpu` and `sim.shoal.io/memory` annotations set (see [`usage`]).

pub mod completion;
mod node;
mod pods;
pub mod usage;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// API server URL, e.g. `http://127.0.0.1:6443`.
    pub server: String,
    /// One simulated node per name.
    pub names: Vec<String>,
    /// InternalIP of the first node; node i gets this address + i.
    pub node_ip_base: Ipv4Addr,
    /// `leaseDurationSeconds`; the lease is renewed every quarter of it (at least 1 s).
    pub lease_seconds: u64,
    /// Capacity (= allocatable) of every node: `cpu`, `memory`, `pods`.
    pub capacity: BTreeMap<String, String>,
    /// Extra labels of every node.
    pub labels: BTreeMap<String, String>,
    /// Tasks writing pod status.
    pub workers: usize,
    /// How often each node posts its usage report (and the window it covers).
    pub usage_interval: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            server: "http://127.0.0.1:6443".into(),
            names: Vec::new(),
            node_ip_base: Ipv4Addr::new(127, 0, 0, 1),
            lease_seconds: 10,
            capacity: BTreeMap::from([
                ("cpu".to_string(), "8".to_string()),
                ("memory".to_string(), "32Gi".to_string()),
                ("pods".to_string(), "110".to_string()),
            ]),
            labels: BTreeMap::new(),
            workers: 16,
            usage_interval: Duration::from_secs(5),
        }
    }
}

impl SimOptions {
    /// How often each node renews its Lease.
    pub fn renew_interval(&self) -> Duration {
        Duration::from_millis((self.lease_seconds * 1000 / 4).max(1000))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("building the API client")]
    Client(#[source] client::Error),
    #[error("registering node {node}")]
    Register {
        node: String,
        #[source]
        source: client::Error,
    },
    #[error("posting the status of node {node}")]
    NodeStatus {
        node: String,
        #[source]
        source: client::Error,
    },
    #[error("renewing the lease of node {node}")]
    Lease {
        node: String,
        #[source]
        source: client::Error,
    },
    #[error("renewing the lease of node {node}: it kept conflicting")]
    LeaseConflict { node: String },
    #[error("no node names given")]
    NoNodes,
}

/// Runs the simulated nodes until the task is dropped (SIGTERM/SIGINT end the process;
/// the leases then lapse and the control plane notices).
pub async fn run_simulated(opts: SimOptions) -> Result<(), SimError> {
    run_simulated_until(opts, std::future::pending()).await
}

/// Like [`run_simulated`], returning once `stop` completes.
pub async fn run_simulated_until(opts: SimOptions, stop: impl Future<Output = ()>) -> Result<(), SimError> {
    if opts.names.is_empty() {
        return Err(SimError::NoNodes);
    }
    let api = client::Client::new(&opts.server).map_err(SimError::Client)?;
    let nodes: Vec<node::SimNode> = opts
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| node::SimNode::new(name, i as u32, &opts))
        .collect();
    for n in &nodes {
        n.register(&api, &opts).await?;
        tracing::info!(node = %n.name, ip = %n.ip, "simulated node registered");
    }
    let nodes = Arc::new(nodes);
    let (mut tasks, caches) = pods::start(&api, nodes.clone(), opts.workers.max(1));
    tasks.push(tokio::spawn(usage::run(api.clone(), nodes.clone(), caches, opts.usage_interval)));
    tokio::select! {
        () = heartbeats(&api, &nodes, &opts) => {}
        () = stop => {}
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// The Lease of every node every renew interval, the Node status every minute.
async fn heartbeats(api: &client::Client, nodes: &[node::SimNode], opts: &SimOptions) {
    let status_every = Duration::from_secs(60);
    let mut since_status = Duration::ZERO;
    let mut tick = tokio::time::interval(opts.renew_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for n in nodes {
            if let Err(e) = n.renew_lease(api, opts).await {
                tracing::warn!(node = %n.name, error = %e, "renewing lease failed");
            }
        }
        if since_status >= status_every {
            since_status = Duration::ZERO;
            for n in nodes {
                if let Err(e) = n.post_status(api, opts).await {
                    tracing::warn!(node = %n.name, error = %e, "posting node status failed");
                }
            }
        }
        since_status += opts.renew_interval();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renew_interval_is_a_quarter_of_the_lease_and_at_least_a_second() {
        let o = |s| SimOptions { lease_seconds: s, ..Default::default() };
        assert_eq!(o(40).renew_interval(), Duration::from_secs(10));
        assert_eq!(o(10).renew_interval(), Duration::from_millis(2500));
        assert_eq!(o(2).renew_interval(), Duration::from_secs(1));
    }
}
