//! What the runtime is generic over: where an actor finds its objects (`Source`), and the
//! world a tree runs in (`World`: its sources, its restart budget, and the context each
//! actor's reconciles get). The control plane is one world (`controller::Shared` over the
//! store's informer caches); a node-host is another (its client's watcher caches).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::sync::broadcast;

use client::cache::{Cache, Change};
use api::model::Resource;

/// A read-only, eventually consistent mirror of one kind's objects.
pub trait Source<T>: Send + Sync + 'static {
    /// The object with this `namespace/name` (or `name`) key.
    fn get_key(&self, key: &str) -> Option<Arc<T>>;
    /// Every object (in `ns`, or everywhere when None).
    fn list(&self, ns: Option<&str>) -> Vec<Arc<T>>;
    /// Changes from now on; subscribe before reading, so that nothing falls in between.
    fn subscribe(&self) -> broadcast::Receiver<Change<T>>;
}

impl<T: Resource> Source<T> for Cache<T> {
    fn get_key(&self, key: &str) -> Option<Arc<T>> {
        Cache::get_key(self, key)
    }
    fn list(&self, ns: Option<&str>) -> Vec<Arc<T>> {
        Cache::list(self, ns)
    }
    fn subscribe(&self) -> broadcast::Receiver<Change<T>> {
        Cache::subscribe(self)
    }
}

/// Erlang's restart intensity: at most `limit` restarts within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSpec {
    pub limit: u32,
    pub window: Duration,
}

/// The context one actor's reconciles share (e.g. the revisions it wrote).
pub trait ActorCx: Send + Sync + 'static {
    /// Waits (bounded) until the sources show this actor's own writes; runs before each
    /// reconcile, so that an actor never acts on a view older than what it wrote.
    fn catch_up(&self) -> BoxFuture<'_, ()>;
}

/// Everything the actors of one supervision tree share.
pub trait World: Send + Sync + Sized + 'static {
    /// What a reconcile gets; a restarted actor gets a fresh one.
    type Cx: ActorCx;
    fn actor_cx(self: &Arc<Self>) -> Self::Cx;
    /// The restart budget of every supervisor of the tree.
    fn restart_budget(&self) -> BudgetSpec;
    /// Resolves once every source has had its first list; actors start after it.
    fn wait_synced(&self) -> BoxFuture<'static, ()>;
    /// One item per change of any source: what wakes a loop that declares no sources.
    fn changes(&self) -> BoxStream<'static, ()>;
}

/// A world that has a source of `T`s.
pub trait HasSource<T>: World {
    fn source(&self) -> &dyn Source<T>;
}
