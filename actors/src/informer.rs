//! Informers: one shared, read-only mirror of each kind, fed by list + watch on the store.
//!
//! Controllers read from these caches (they may be slightly stale) and write through the
//! registry with resourceVersion preconditions. Each cache knows the store revision it has
//! caught up to, so a controller can wait until it sees its own writes. The cache type is
//! the client crate's, which out-of-process watchers feed over HTTP; this module feeds it
//! from the registry.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use api::model::Resource;
pub use client::cache::{key_of, object_key, Cache, Change, Update};
use crate::registry::{ObjectEvent, Registry, RegistryError};
use crate::store::Revision;

/// The namespace cache as the namespace lifecycle plugin reads it.
#[async_trait::async_trait]
impl crate::admission::NamespaceMirror for Cache<api::model::Namespace> {
    fn namespace(&self, name: &str) -> Option<Arc<api::model::Namespace>> {
        self.get(None, name)
    }
    async fn caught_up(&self, rev: Revision, timeout: Duration) -> bool {
        self.wait_for_revision(rev, timeout).await
    }
}

/// Starts the list + watch loop of one kind on the current tokio runtime; the loop
/// relists after a watch error (e.g. 410 past compaction) and runs until the runtime stops.
pub fn start<T: Resource>(registry: Registry) -> Cache<T> {
    let cache = Cache::<T>::new();
    let feed = cache.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match sync_once(&registry, &feed).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(kind = T::INFO.kind, error = %e, "informer watch failed; relisting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    cache
}

async fn sync_once<T: Resource>(registry: &Registry, cache: &Cache<T>) -> Result<(), RegistryError> {
    let (items, rev) = registry.list::<T>(None).await?;
    cache.replace_all(items, rev.max(1));
    let mut events = registry.watch::<T>(None, rev + 1).await?;
    while let Some(item) = events.next().await {
        let (ev, _prev) = item?;
        let rev = ev.revision();
        let update = match ev {
            ObjectEvent::Added(o) | ObjectEvent::Modified(o) => Update::Applied(o),
            ObjectEvent::Deleted(o) => Update::Deleted(o),
        };
        cache.apply(update, rev);
    }
    Ok(())
}
