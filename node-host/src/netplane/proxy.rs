//! The service-proxy singleton: on every change of the Services or EndpointSlices (changes
//! arriving together coalesced, as kube-proxy's `minSyncPeriod`), it brings the node's
//! nftables table to them through `overlay::proxy::Proxy` — only what changed, or all of it
//! at start, after a failure and every [`RESYNC_PERIOD`] (outside hands may have touched
//! the table). The sync blocks (netlink, `nft`), so it runs on a blocking thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::BoxStream;
use overlay::proxy::{NodeFacts, Proxy, ProxyConfig, SyncStats};
use supervision::{Action, Loop};

use super::world::{changes, changes_of, Facts, NetCx, NetWorld};
use crate::agent::MetricsSource;

/// How often the table is rewritten in full even if nothing changed (kube-proxy: 30 s).
pub const RESYNC_PERIOD: Duration = Duration::from_secs(30);

struct Inner {
    proxy: Option<Proxy>,
    last_full: Option<Instant>,
    stopped: bool,
}

/// The proxy and its figures, shared by the singleton (across restarts) and the shutdown.
pub struct ProxyState {
    inner: Arc<Mutex<Inner>>,
    full_syncs: AtomicU64,
    partial_syncs: AtomicU64,
    failures: AtomicU64,
    last: Mutex<SyncStats>,
}

impl ProxyState {
    pub fn new(facts: &Facts) -> Self {
        let node = NodeFacts {
            node_name: facts.node_name.clone(),
            // NodePorts on every local address (kube-proxy's default `--nodeport-addresses`).
            node_ips: Vec::new(),
            cluster_cidr: facts.cluster,
            node_port_range: facts.node_ports.clone(),
        };
        let inner = Inner { proxy: Some(Proxy::new(ProxyConfig::new(node))), last_full: None, stopped: false };
        ProxyState {
            inner: Arc::new(Mutex::new(inner)),
            full_syncs: AtomicU64::new(0),
            partial_syncs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last: Mutex::new(SyncStats::default()),
        }
    }

    /// Removes the table; nothing is synced after.
    pub async fn stop(&self) {
        let inner = self.inner.clone();
        let removed = tokio::task::spawn_blocking(move || {
            let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
            g.stopped = true;
            g.proxy.take().map(|mut p| p.remove())
        })
        .await;
        if let Ok(Some(Err(e))) = removed {
            tracing::warn!(error = %e, "removing the service proxy's table");
        }
    }
}

impl MetricsSource for ProxyState {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = writeln!(out, "# HELP shoal_proxy_syncs_total Syncs of the service proxy's nftables table.");
        let _ = writeln!(out, "# TYPE shoal_proxy_syncs_total counter");
        let _ = writeln!(out, "shoal_proxy_syncs_total{{kind=\"full\"}} {}", self.full_syncs.load(Ordering::Relaxed));
        let _ = writeln!(out, "shoal_proxy_syncs_total{{kind=\"partial\"}} {}", self.partial_syncs.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP shoal_proxy_sync_failures_total Syncs that failed (the next one is full).");
        let _ = writeln!(out, "# TYPE shoal_proxy_sync_failures_total counter");
        let _ = writeln!(out, "shoal_proxy_sync_failures_total {}", self.failures.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP shoal_proxy_last_sync_seconds Duration of the last sync.");
        let _ = writeln!(out, "# TYPE shoal_proxy_last_sync_seconds gauge");
        let _ = writeln!(out, "shoal_proxy_last_sync_seconds {}", (last.render + last.apply).as_secs_f64());
        let _ = writeln!(out, "# HELP shoal_proxy_chains Per-Service chains in the table.");
        let _ = writeln!(out, "# TYPE shoal_proxy_chains gauge");
        let _ = writeln!(out, "shoal_proxy_chains {}", last.chains);
    }
}

pub struct ProxyLoop(pub Arc<ProxyState>);

#[async_trait]
impl Loop for ProxyLoop {
    type World = NetWorld;
    type Error = String;
    const NAME: &'static str = "service-proxy";
    const MIN_INTERVAL: Duration = Duration::from_millis(50);

    fn wakers(world: &NetWorld) -> BoxStream<'static, ()> {
        changes_of(vec![changes(&world.services), changes(&world.slices)])
    }

    async fn run_once(&self, cx: &NetCx) -> Result<Action, String> {
        let services = cx.world.services.list(None);
        let slices = cx.world.slices.list(None);
        let inner = self.0.inner.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
            if g.stopped {
                return None;
            }
            let due = g.last_full.is_none_or(|t| t.elapsed() >= RESYNC_PERIOD);
            let proxy = g.proxy.as_mut()?;
            if due {
                proxy.resync_next();
            }
            let result = proxy.sync(&services, &slices);
            if result.as_ref().is_ok_and(|s| s.full) {
                g.last_full = Some(Instant::now());
            }
            Some((result, g.last_full))
        })
        .await
        .map_err(|e| format!("the sync thread: {e}"))?;
        let Some((result, last_full)) = outcome else {
            return Ok(Action::await_change());
        };
        match result {
            Ok(stats) => {
                let counter = if stats.full { &self.0.full_syncs } else { &self.0.partial_syncs };
                counter.fetch_add(1, Ordering::Relaxed);
                if stats.script_bytes > 0 {
                    tracing::debug!(full = stats.full, chains = stats.chains, changed = stats.chains_changed + stats.elements_changed, took = ?(stats.render + stats.apply), "service proxy synced");
                }
                *self.0.last.lock().unwrap_or_else(|p| p.into_inner()) = stats;
            }
            Err(e) => {
                self.0.failures.fetch_add(1, Ordering::Relaxed);
                return Err(anyhow_chain(&e));
            }
        }
        let next = last_full.map_or(RESYNC_PERIOD, |t| RESYNC_PERIOD.saturating_sub(t.elapsed()));
        Ok(Action::requeue(next.max(Duration::from_secs(1))))
    }
}

/// The error and its sources on one line.
fn anyhow_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
