//! Periodic compaction of store history, as the Kubernetes API server does: at each tick
//! the store is compacted to the revision seen one tick earlier, so watchers always have
//! at least one interval to resume before they get 410 Gone.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{Revision, Store};

/// Runs until the task is dropped. `interval` of zero disables compaction.
pub async fn run(store: Arc<dyn Store>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let mut previous: Option<Revision> = None;
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let current = match store.current_revision().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "compactor cannot read the current revision");
                continue;
            }
        };
        if let Some(rev) = previous.filter(|r| *r > 1) {
            match store.compact(rev).await {
                Ok(()) => tracing::debug!(revision = rev, "store compacted"),
                Err(e) => tracing::warn!(error = %e, revision = rev, "compaction failed"),
            }
        }
        previous = Some(current);
    }
}
