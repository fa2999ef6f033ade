//! The registry writes the verbs make, one function each: dry run or real write, the
//! namespace admission of creates, and the managed-fields entry of creates and updates.
//! When the registry's dry-run and admission API changes, these are the call sites.

use actors::registry::{Deleted, Preconditions, Propagation, RegistryError, UpdateScope};
use api::model::{Namespace, Resource};

use crate::error::{from_registry, ApiError};
use crate::patch::apply::{record_update, Writer};
use crate::request::body;
use crate::request::params::Target;
use crate::AppState;

/// Creates `obj`, or with `dry` (dryRun=All) only admits, defaults and validates it.
pub(super) async fn create<T: Resource>(state: &AppState, obj: T, dry: bool) -> Result<T, RegistryError> {
    if dry {
        state.registry.prepare_create(obj).await
    } else {
        state.registry.create(obj).await
    }
}

/// Updates `obj` (its main part or its status), or with `dry` only checks the update.
pub(super) async fn update<T: Resource>(state: &AppState, obj: T, scope: UpdateScope, dry: bool) -> Result<T, RegistryError> {
    if dry {
        state.registry.prepare_update(obj, scope).await
    } else {
        state.registry.update(obj, scope).await
    }
}

/// Deletes an object, or with `dry` only says what the delete would do.
pub(super) async fn delete<T: Resource>(
    state: &AppState,
    target: &Target,
    pre: &Preconditions,
    propagation: Propagation,
    dry: bool,
) -> Result<Deleted<T>, RegistryError> {
    let (ns, name) = (target.ns.as_deref(), target.name());
    if dry {
        state.registry.prepare_delete::<T>(ns, name, pre, propagation).await
    } else {
        state.registry.delete_with::<T>(ns, name, pre, propagation).await
    }
}

/// Namespace admission of a create: nothing new goes into a namespace being deleted (403).
pub(super) async fn admit_namespace(state: &AppState, target: &Target) -> Result<(), ApiError> {
    let Some(ns) = target.ns.as_deref() else { return Ok(()) };
    let cached = state.namespaces.as_ref().and_then(|c| c.get(None, ns));
    let terminating = match cached {
        // The mirror is trusted as upstream's admission trusts its informer; it is fresh
        // for this server's own namespace deletes (see `delete`), and a miss asks the store.
        Some(n) => actors::controllers::namespace::is_terminating(&n),
        None => match state.registry.get::<Namespace>(None, ns).await {
            Ok(n) => actors::controllers::namespace::is_terminating(&n),
            Err(e) => return Err(from_registry(e, "", "namespaces")),
        },
    };
    if terminating {
        return Err(ApiError {
            details: Some(serde_json::json!({"name": ns, "kind": "namespaces"})),
            ..ApiError::new(403, "Forbidden", format!("unable to create new content in namespace {ns} because it is being terminated"))
        });
    }
    Ok(())
}

/// Records a create or update by `manager` in the object's managedFields (an `Update`
/// entry owning the fields it changed).
pub(super) fn record_write<T: Resource>(old: Option<&T>, obj: T, manager: &str) -> Result<T, ApiError> {
    let old = old.map(super::to_json).transpose()?;
    let mut doc = super::to_json(&obj)?;
    let now = api::time::now_rfc3339();
    let api_version = T::INFO.api_version();
    record_update(old.as_ref(), &mut doc, &Writer { manager, api_version: &api_version, status: false, now: &now });
    Ok(body::decode_typed::<T>(doc)?.0)
}
