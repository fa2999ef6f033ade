//! The StatefulSet's ControllerRevisions through the registry: claiming them (the shared
//! [`history::claim`]), finding or writing the update revision (upstream's
//! `getStatefulSetRevisions`: reuse, bump for a rollback, or create with collision
//! handling), and truncating the history to `revisionHistoryLimit`.

use std::collections::HashSet;
use std::sync::Arc;

use api::model::{ControllerRevision, LabelSelector, Pod, StatefulSet};

use super::identity::pod_revision;
use super::revision::{self, UpdateRevision};
use crate::controller::{Cx, ReconcileError};
use crate::controllers::history;
use crate::registry::RegistryError;

/// Revisions of a set being created with colliding names are retried this many times.
const MAX_COLLISIONS: i32 = 16;

/// The set's revisions, sorted: those it controls that its selector matches, and the
/// matching orphans, which it adopts (unless it is being deleted).
pub async fn claim(set: &StatefulSet, selector: &LabelSelector, cx: &Cx) -> Result<Vec<Arc<ControllerRevision>>, ReconcileError> {
    history::claim(set, selector, cx).await
}

/// The update revision, written if needed, and the collision count it took.
pub async fn update_revision(
    set: &StatefulSet,
    sorted: &[Arc<ControllerRevision>],
    cx: &Cx,
) -> Result<(Arc<ControllerRevision>, i32), ReconcileError> {
    let ns = set.metadata.namespace.as_deref();
    let mut collision = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
    loop {
        match revision::update_revision(set, sorted, collision) {
            UpdateRevision::Latest(r) => return Ok((r, collision)),
            UpdateRevision::Reuse(r, number) => return Ok((history::renumber(&r, number, cx).await?, collision)),
            UpdateRevision::Create(cr) => {
                let name = cr.metadata.name.clone();
                match cx.create(cr.clone()).await {
                    Ok(out) => return Ok((Arc::new(out), collision)),
                    Err(RegistryError::AlreadyExists { .. }) => {
                        let existing: ControllerRevision = cx.registry().get(ns, &name).await?;
                        if history::revision::equal(&existing, &cr) {
                            return Ok((Arc::new(existing), collision));
                        }
                        if collision >= MAX_COLLISIONS {
                            return Err(ReconcileError::Other(format!("revision {name} collides {collision} times")));
                        }
                        collision += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

/// Deletes the oldest revisions beyond `revisionHistoryLimit` that neither a pod nor the
/// status names.
pub async fn truncate(
    set: &StatefulSet,
    sorted: &[Arc<ControllerRevision>],
    pods: &[Arc<Pod>],
    current: &str,
    update: &str,
    cx: &Cx,
) -> Result<(), ReconcileError> {
    let mut live: HashSet<&str> = pods.iter().map(|p| pod_revision(p)).collect();
    live.insert(current);
    live.insert(update);
    let limit = set.spec.revision_history_limit.unwrap_or(10);
    for r in revision::history_to_delete(sorted, &live, limit) {
        history::delete(r, cx).await?;
    }
    Ok(())
}
