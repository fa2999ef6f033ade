//! The REST verbs, generic over the kind, one file each: a verb binds the path to the
//! request `request` parsed and decoded, and writes through the registry (`write`).

mod apply;
mod create;
mod delete;
mod delete_collection;
mod get;
mod list;
mod patch;
mod replace;
mod scale;
mod status;
mod write;

pub use create::create;
pub use delete::delete;
pub use delete_collection::delete_collection;
pub use get::get;
pub use list::list;
pub use patch::patch;
pub use replace::replace;
pub use scale::{get_scale, patch_scale, replace_scale};
pub use status::{get_status, patch_status, replace_status};

use actix_web::{HttpMessage, HttpRequest};
use actors::registry::RegistryError;
use api::model::Resource;

use crate::error::{from_registry, ApiError};
use crate::metrics::RequestInfo;

/// Names the request's verb and resource for the metrics middleware.
fn tag<T: Resource>(req: &HttpRequest, verb: &'static str) {
    req.extensions_mut().insert(RequestInfo { verb, resource: T::INFO.plural });
}

/// A registry error as this kind's Status.
fn err<T: Resource>(e: RegistryError) -> ApiError {
    from_registry(e, T::INFO.group, T::INFO.plural)
}

/// An object's JSON form (encoding one of the model's types does not fail in practice).
fn to_json<T: Resource>(obj: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(obj).map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use crate::AppState;

    /// The state of a gateway on an embedded store in `dir`, with the standard namespaces.
    pub(crate) async fn state(dir: &std::path::Path) -> AppState {
        let store = actors::store::embedded::EmbeddedStore::open(dir).expect("opening the embedded store");
        let state = AppState::new(Arc::new(store));
        crate::bootstrap(&state.registry).await.expect("creating the standard namespaces");
        state
    }
}
