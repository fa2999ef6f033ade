//! The registry writes the verbs make, one function each (a dry run takes the same path
//! through the registry and its admission chain as the real write), and the
//! managed-fields entry of creates and updates.

use actors::registry::{DeleteOptions, Deleted, RegistryError, UpdateScope};
use api::model::Resource;

use crate::error::ApiError;
use crate::patch::apply::{record_update, Writer};
use crate::request::body;
use crate::request::params::Target;
use crate::AppState;

/// Creates `obj`, or with `dry` (dryRun=All) runs every check and admission plugin and
/// writes nothing.
pub(super) async fn create<T: Resource>(state: &AppState, obj: T, dry: bool) -> Result<T, RegistryError> {
    state.registry.create_with(obj, dry).await
}

/// Updates `obj` (its main part or its status), or with `dry` only checks the update.
pub(super) async fn update<T: Resource>(state: &AppState, obj: T, scope: UpdateScope, dry: bool) -> Result<T, RegistryError> {
    state.registry.update_with(obj, scope, dry).await
}

/// Deletes an object as `opts` ask (grace, propagation, preconditions), or with
/// `opts.dry_run` only says what the delete would do.
pub(super) async fn delete<T: Resource>(state: &AppState, target: &Target, opts: &DeleteOptions) -> Result<Deleted<T>, RegistryError> {
    state.registry.delete_opts::<T>(target.ns.as_deref(), target.name(), opts).await
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
