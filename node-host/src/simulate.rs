//! Simulated nodes (like kwok): register Nodes, renew their Leases, and report every pod
//! bound to them as Running — all through the HTTP API, with no containers.

mod client;
mod node;
mod pods;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use client::ApiClient;

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
    /// Threads writing pod status.
    pub workers: usize,
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
    #[error("{method} {path}")]
    Http {
        method: String,
        path: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("{what}: HTTP {status} {body}")]
    Status { what: String, status: u16, body: String },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no node names given")]
    NoNodes,
    #[error("starting thread {name}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the simulated nodes until the process ends (SIGTERM/SIGINT end it; the leases
/// then lapse and the control plane notices).
pub fn run_simulated(opts: SimOptions) -> Result<(), SimError> {
    run_simulated_until(opts, Arc::new(AtomicBool::new(false)))
}

/// Like [`run_simulated`], returning once `stop` is set (checked about once a second).
pub fn run_simulated_until(opts: SimOptions, stop: Arc<AtomicBool>) -> Result<(), SimError> {
    if opts.names.is_empty() {
        return Err(SimError::NoNodes);
    }
    let api = ApiClient::new(&opts.server);
    let nodes: Vec<node::SimNode> = opts
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| node::SimNode::new(name, i as u32, &opts))
        .collect();
    for n in &nodes {
        n.register(&api, &opts)?;
        tracing::info!(node = %n.name, ip = %n.ip, "simulated node registered");
    }
    let nodes = Arc::new(nodes);
    pods::start(api.clone(), nodes.clone(), opts.workers.max(1), stop.clone())?;

    // Heartbeats: the Lease every renew interval, the Node status every minute.
    let renew = opts.renew_interval();
    let status_every = Duration::from_secs(60);
    let mut since_status = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        for n in nodes.iter() {
            if let Err(e) = n.renew_lease(&api, &opts) {
                tracing::warn!(node = %n.name, error = %e, "renewing lease failed");
            }
        }
        if since_status >= status_every {
            since_status = Duration::ZERO;
            for n in nodes.iter() {
                if let Err(e) = n.post_status(&api, &opts) {
                    tracing::warn!(node = %n.name, error = %e, "posting node status failed");
                }
            }
        }
        let mut slept = Duration::ZERO;
        while slept < renew && !stop.load(Ordering::Relaxed) {
            let step = (renew - slept).min(Duration::from_millis(250));
            std::thread::sleep(step);
            slept += step;
        }
        since_status += renew;
    }
    Ok(())
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
