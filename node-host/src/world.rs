//! The node's world for the supervision runtime: the pods bound to this node (a `client`
//! watcher cache with `fieldSelector=spec.nodeName=<node>`, wrapped so that the agent can
//! wake one pod's actor — a probe verdict or a container exit — by re-announcing it), and
//! the context every pod actor gets (the agent, and the revisions it wrote, which the
//! next reconcile waits for).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::model::Pod;
use client::cache::{Cache, Change, Revision};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use supervision::{ActorCx, BudgetSpec, HasSource, Source, World};
use tokio::sync::broadcast;

use crate::agent::Agent;

/// The node's pods: the watcher's cache plus pokes.
pub struct PodSource {
    pub cache: Cache<Pod>,
    tx: broadcast::Sender<Change<Pod>>,
}

impl PodSource {
    /// Wraps `cache`, forwarding its changes on the current tokio runtime.
    pub fn new(cache: Cache<Pod>) -> Arc<Self> {
        let (tx, _) = broadcast::channel(4096);
        let me = Arc::new(PodSource { cache, tx });
        let mut rx = me.cache.subscribe();
        let fwd = me.tx.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(c) => {
                        let _ = fwd.send(c);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = fwd.send(Change::Resynced);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        me
    }

    /// Wakes the actor of the pod with this `namespace/name` key.
    pub fn poke(&self, key: &str) {
        if let Some(p) = self.cache.get_key(key) {
            let _ = self.tx.send(Change::Applied { new: p.clone(), old: Some(p) });
        }
    }
}

impl Source<Pod> for PodSource {
    fn get_key(&self, key: &str) -> Option<Arc<Pod>> {
        self.cache.get_key(key)
    }
    fn list(&self, ns: Option<&str>) -> Vec<Arc<Pod>> {
        self.cache.list(ns)
    }
    fn subscribe(&self) -> broadcast::Receiver<Change<Pod>> {
        self.tx.subscribe()
    }
}

pub struct NodeWorld {
    pub agent: Arc<Agent>,
}

/// What a pod actor's reconciles share.
pub struct PodCx {
    pub agent: Arc<Agent>,
    written: Mutex<Revision>,
}

impl PodCx {
    /// Remembers a resourceVersion this actor wrote.
    pub fn wrote(&self, resource_version: &str) {
        let rev = client::watcher::revision_of(resource_version);
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        *w = (*w).max(rev);
    }
}

impl ActorCx for PodCx {
    fn catch_up(&self) -> BoxFuture<'_, ()> {
        let rev = *self.written.lock().unwrap_or_else(|p| p.into_inner());
        Box::pin(async move {
            if rev > 0 {
                self.agent.pods.cache.wait_for_revision(rev, Duration::from_secs(2)).await;
            }
        })
    }
}

impl World for NodeWorld {
    type Cx = PodCx;
    fn actor_cx(self: &Arc<Self>) -> PodCx {
        PodCx { agent: self.agent.clone(), written: Mutex::new(0) }
    }
    fn restart_budget(&self) -> BudgetSpec {
        self.agent.opts.restart_budget
    }
    fn wait_synced(&self) -> BoxFuture<'static, ()> {
        let cache = self.agent.pods.cache.clone();
        Box::pin(async move { cache.wait_synced().await })
    }
    fn changes(&self) -> BoxStream<'static, ()> {
        tokio_stream::wrappers::BroadcastStream::new(self.agent.pods.subscribe()).map(|_| ()).boxed()
    }
}

impl HasSource<Pod> for NodeWorld {
    fn source(&self) -> &dyn Source<Pod> {
        self.agent.pods.as_ref()
    }
}
