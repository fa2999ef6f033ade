//! ControllerRevision history shared by the StatefulSet and DaemonSet controllers: what a
//! revision holds (`revision.rs`, pure) and the registry calls on revisions — claiming
//! those an owner's selector matches (adopting orphans), renumbering one (a rollback
//! gives an old revision the next number) and deleting one.

pub mod revision;

use std::sync::Arc;

use api::model::{ControllerRevision, LabelSelector, Resource};

use crate::controller::{Cx, ReconcileError};
use crate::controllers::adopt;
use crate::registry::{Preconditions, RegistryError, UpdateScope};

/// The owner's revisions, sorted ([`revision::sort`]): those it controls that its
/// selector matches, and the matching orphans, which it adopts (unless it or the orphan
/// is being deleted).
pub async fn claim<O: Resource>(owner: &O, selector: &LabelSelector, cx: &Cx) -> Result<Vec<Arc<ControllerRevision>>, ReconcileError> {
    let meta = owner.meta();
    let mut owned = Vec::new();
    for cr in cx.caches().controllerrevisions.list(meta.namespace.as_deref()) {
        if selector.is_empty() || !selector.matches(&cr.metadata.labels) {
            continue;
        }
        match cr.metadata.controller_ref() {
            Some(r) if r.uid == meta.uid => owned.push(cr),
            None if !meta.is_deleting() && !cr.metadata.is_deleting() => {
                adopt(cx, owner, cr.as_ref()).await?;
                owned.push(cr);
            }
            _ => {}
        }
    }
    revision::sort(&mut owned);
    Ok(owned)
}

/// Gives `cr` the revision `number` (a no-op when it has it already).
pub async fn renumber(cr: &ControllerRevision, number: i64, cx: &Cx) -> Result<Arc<ControllerRevision>, ReconcileError> {
    let uid = cr.metadata.uid.clone();
    let out = cx
        .modify::<ControllerRevision>(cr.metadata.namespace.as_deref(), &cr.metadata.name, UpdateScope::Main, |c| {
            if c.metadata.uid != uid || c.revision == number {
                return false;
            }
            c.revision = number;
            true
        })
        .await?;
    Ok(Arc::new(out))
}

/// Deletes `cr`; one already gone, or replaced by another of its name, counts as deleted.
pub async fn delete(cr: &ControllerRevision, cx: &Cx) -> Result<(), ReconcileError> {
    let pre = Preconditions { uid: Some(cr.metadata.uid.clone()), resource_version: None };
    match cx.delete::<ControllerRevision>(cr.metadata.namespace.as_deref(), &cr.metadata.name, &pre).await {
        Ok(_) | Err(RegistryError::NotFound { .. } | RegistryError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
