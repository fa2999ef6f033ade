//! The StatefulSet's pods and claims through the registry: claiming pods (adopt matching
//! orphans of its name, release owned pods that stopped matching), and carrying out the
//! planner's steps (claims before their pod, events as upstream words them).

use std::sync::Arc;

use futures::future::join_all;

use api::model::{LabelSelector, PersistentVolumeClaim, Pod, PodTemplateSpec, StatefulSet};

use super::claims::{up_to_date, wanted_refs};
use super::identity::{claims_for, in_range, ordinal_of, update_identity};
use super::plan::{Step, Why};
use crate::controller::{Cx, ReconcileError};
use crate::controllers::{adopt, release};
use crate::registry::{Preconditions, RegistryError, UpdateScope};

/// The set's pods: those it controls whose labels its selector matches and whose name is
/// `<set>-<ordinal>`, and the matching orphans, which it adopts; owned pods that stopped
/// matching are released (upstream's `ClaimPods` with the `isMemberOf` filter).
pub async fn claim(set: &StatefulSet, selector: &LabelSelector, cx: &Cx) -> Result<Vec<Arc<Pod>>, ReconcileError> {
    let uid = &set.metadata.uid;
    let deleting = set.metadata.is_deleting();
    let mut owned = Vec::new();
    for pod in cx.caches().pods.list(set.metadata.namespace.as_deref()) {
        let matches = !selector.is_empty() && selector.matches(&pod.metadata.labels) && ordinal_of(set, &pod).is_some();
        match pod.metadata.controller_ref() {
            Some(r) if r.uid == *uid => {
                if matches {
                    owned.push(pod);
                } else if !deleting {
                    release(cx, uid, pod.as_ref()).await?;
                }
            }
            None if matches && !deleting && !pod.metadata.is_deleting() => {
                adopt(cx, set, pod.as_ref()).await?;
                owned.push(pod);
            }
            _ => {}
        }
    }
    Ok(owned)
}

/// The two templates a pass creates pods from, with their revisions' names.
pub struct Templates<'a> {
    pub current: (&'a PodTemplateSpec, &'a str),
    pub update: (&'a PodTemplateSpec, &'a str),
}

/// Carries out the steps in order; creates that follow each other run together.
pub async fn execute(set: &StatefulSet, steps: Vec<Step>, pods: &[Arc<Pod>], t: &Templates<'_>, cx: &Cx) -> Result<(), ReconcileError> {
    let find = |name: &str| pods.iter().find(|p| p.metadata.name == name).cloned();
    let mut creates: Vec<(i32, bool)> = Vec::new();
    for step in steps {
        if let Step::Create { ordinal, update } = step {
            creates.push((ordinal, update));
            continue;
        }
        create_all(set, std::mem::take(&mut creates), t, cx).await?;
        match step {
            Step::Create { .. } => {}
            Step::CreateClaims { name } => {
                if let Some(ord) = find(&name).and_then(|p| ordinal_of(set, &p)) {
                    create_claims(set, ord, &name, cx).await?;
                }
            }
            Step::Repair { name } => {
                if let Some(p) = find(&name) {
                    repair(set, &p, cx).await?;
                }
            }
            Step::Delete { name, why } => {
                if let Some(p) = find(&name) {
                    delete_pod(set, &p, why, cx).await?;
                }
            }
        }
    }
    create_all(set, creates, t, cx).await
}

/// Creates the pods of these `(ordinal, at the update revision)`, 64 at a time.
async fn create_all(set: &StatefulSet, creates: Vec<(i32, bool)>, t: &Templates<'_>, cx: &Cx) -> Result<(), ReconcileError> {
    for chunk in creates.chunks(64) {
        let results = join_all(chunk.iter().map(|(ord, update)| {
            let (template, rev) = if *update { t.update } else { t.current };
            create_pod(set, template, *ord, rev, cx)
        }))
        .await;
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
    }
    Ok(())
}

fn set_key(set: &StatefulSet) -> String {
    format!("{}/{}", set.metadata.namespace.as_deref().unwrap_or(""), set.metadata.name)
}

/// Creates the pod's missing claims (a claim being deleted stops the pod: it would bind
/// nothing).
async fn create_claims(set: &StatefulSet, ordinal: i32, pod: &str, cx: &Cx) -> Result<(), ReconcileError> {
    let ns = set.metadata.namespace.as_deref();
    for (_, claim) in claims_for(set, ordinal) {
        let name = claim.metadata.name.clone();
        match cx.caches().persistentvolumeclaims.get(ns, &name) {
            Some(c) if c.metadata.is_deleting() => {
                return Err(ReconcileError::Other(format!("pvc {name} is being deleted")));
            }
            Some(_) => {}
            None => match cx.create(claim).await {
                Ok(_) => cx.event(set, "Normal", "SuccessfulCreate", format!("create Claim {name} Pod {pod} in StatefulSet {} success", set.metadata.name)),
                Err(RegistryError::AlreadyExists { .. }) => {}
                Err(e) => {
                    cx.event(set, "Warning", "FailedCreate", format!("create Claim {name} for Pod {pod} in StatefulSet {} failed error: {e}", set.metadata.name));
                    return Err(e.into());
                }
            },
        }
    }
    Ok(())
}

/// Gives the pod's claims the owners the retention policy asks for.
async fn fix_claim_owners(set: &StatefulSet, pod: &Pod, cx: &Cx) -> Result<(), ReconcileError> {
    let Some(ord) = ordinal_of(set, pod) else { return Ok(()) };
    let scaled_down = !in_range(set, ord);
    for (_, claim) in claims_for(set, ord) {
        let res = cx
            .modify::<PersistentVolumeClaim>(claim.metadata.namespace.as_deref(), &claim.metadata.name, UpdateScope::Main, |c| {
                if up_to_date(c, set, pod, scaled_down) {
                    return false;
                }
                c.metadata.owner_references = wanted_refs(c, set, pod, scaled_down);
                true
            })
            .await;
        match res {
            Ok(_) | Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn create_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str, cx: &Cx) -> Result<(), ReconcileError> {
    let pod = super::identity::new_pod(set, template, ordinal, revision);
    let name = pod.metadata.name.clone();
    create_claims(set, ordinal, &name, cx).await?;
    match cx.create(pod).await {
        Ok(created) => {
            cx.event(set, "Normal", "SuccessfulCreate", format!("create Pod {name} in StatefulSet {} successful", set.metadata.name));
            fix_claim_owners(set, &created, cx).await
        }
        // The cache had not shown it yet; the next pass sees it.
        Err(RegistryError::AlreadyExists { .. }) => Ok(()),
        Err(e) => {
            cx.event(set, "Warning", "FailedCreate", format!("create Pod {name} in StatefulSet {} failed error: {e}", set.metadata.name));
            Err(e.into())
        }
    }
}

/// Brings an existing pod's identity labels in line, creates its missing claims and
/// fixes their owners (upstream's `UpdateStatefulPod`; a live pod's volumes cannot change).
async fn repair(set: &StatefulSet, pod: &Pod, cx: &Cx) -> Result<(), ReconcileError> {
    let uid = pod.metadata.uid.clone();
    let res = cx
        .modify::<Pod>(pod.metadata.namespace.as_deref(), &pod.metadata.name, UpdateScope::Main, |p| {
            p.metadata.uid == uid && !p.metadata.is_deleting() && update_identity(set, p)
        })
        .await;
    match res {
        Ok(_) => {}
        Err(RegistryError::NotFound { .. }) => return Ok(()),
        Err(e) => {
            cx.event(set, "Warning", "FailedUpdate", format!("update Pod {} in StatefulSet {} failed error: {e}", pod.metadata.name, set.metadata.name));
            return Err(e.into());
        }
    }
    if let Some(ord) = ordinal_of(set, pod) {
        if in_range(set, ord) {
            create_claims(set, ord, &pod.metadata.name, cx).await?;
        }
    }
    fix_claim_owners(set, pod, cx).await
}

async fn delete_pod(set: &StatefulSet, pod: &Pod, why: Why, cx: &Cx) -> Result<(), ReconcileError> {
    let name = &pod.metadata.name;
    match why {
        Why::Failed => cx.event(set, "Warning", "RecreatingFailedPod", format!("StatefulSet {} is recreating failed Pod {name}", set_key(set))),
        Why::Succeeded => {
            cx.event(set, "Normal", "RecreatingTerminatedPod", format!("StatefulSet {} is recreating terminated Pod {name}", set_key(set)))
        }
        Why::ScaleDown | Why::Update => {}
    }
    let pre = Preconditions { uid: Some(pod.metadata.uid.clone()), resource_version: None };
    match cx.delete::<Pod>(pod.metadata.namespace.as_deref(), name, &pre).await {
        Ok(_) | Err(RegistryError::Conflict { .. }) => {
            cx.event(set, "Normal", "SuccessfulDelete", format!("delete Pod {name} in StatefulSet {} successful", set.metadata.name));
            Ok(())
        }
        Err(e) => {
            cx.event(set, "Warning", "FailedDelete", format!("delete Pod {name} in StatefulSet {} failed error: {e}", set.metadata.name));
            Err(e.into())
        }
    }
}
