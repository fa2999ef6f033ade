//! What a plugin answers: why it refused a write (`AdmissionError`), and what it took
//! for one (`Reservation`). A leaf of `admission`, so that what plugins call into (the
//! allocator) can name these without depending on the chain.

use async_trait::async_trait;

use api::codec::CodecError;
use api::model::KindInfo;
use api::validation::FieldError;

use crate::store::{Store, StoreError};

/// Why a plugin refused a write.
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// 422: the object is invalid in a way only a plugin can tell (e.g. a taken address).
    #[error("{kind} \"{name}\" is invalid: {}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "))]
    Invalid { kind: String, name: String, errors: Vec<FieldError> },
    /// 403: refused by policy (`resource` as Kubernetes names it: `pods`, `deployments.apps`).
    #[error("{resource} \"{name}\" is forbidden: {reason}")]
    Forbidden { resource: String, name: String, reason: String },
    /// 404: something the write needs is not there (the namespace of a create).
    #[error("{resource} \"{name}\" not found")]
    Missing { resource: String, name: String },
    /// The store failed while a plugin read or took something.
    #[error("admission: {0}")]
    Store(#[from] StoreError),
    /// A value a plugin read from the store is unreadable.
    #[error("admission: unreadable stored value")]
    Codec(#[from] CodecError),
}

pub type Result<T, E = AdmissionError> = std::result::Result<T, E>;

/// How Kubernetes names a kind's resource in messages: `pods`, `deployments.apps`.
pub fn resource_name(info: &KindInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_string()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

/// Something a plugin took for one write, to keep or give back once the write's outcome
/// is known.
#[async_trait]
pub trait Reservation: Send {
    /// The write was stored (`committed`) or not (failed, refused or a dry run).
    async fn settle(self: Box<Self>, store: &dyn Store, committed: bool);
}
