//! The store: the only truth in shoal. One trait, two backends (embedded redb, etcd).
//!
//! Semantics follow etcd's: every write bumps one cluster-wide revision; a key remembers
//! the revision that created it and the one that last modified it; watches replay every
//! change from a revision, in order and without gaps, until that revision is compacted.

use std::any::Any;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::Stream;

pub mod embedded;
pub mod etcd;

/// A cluster-wide revision: strictly increasing, one per write.
pub type Revision = i64;
/// A lease handle; keys attached to a lease vanish when it expires or is revoked.
pub type LeaseId = i64;

/// One key with its value and revisions, as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of the last write to the key (its `resourceVersion`).
    pub mod_revision: Revision,
    /// Number of writes since creation (1 after create).
    pub version: i64,
    /// Lease the key is attached to, 0 for none.
    pub lease: LeaseId,
}

/// The result of a prefix list: the keys in key order and the revision they were read at.
#[derive(Debug, Clone, Default)]
pub struct ListResult {
    pub kvs: Vec<KeyValue>,
    pub revision: Revision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    /// For `Put`: the key after the write. For `Delete`: the key with an empty value and
    /// `mod_revision` set to the revision of the delete.
    pub kv: KeyValue,
    /// The key's previous state (always present for `Delete`, present for updating `Put`s).
    pub prev: Option<KeyValue>,
    /// What a reader made of this event (the registry's decoded objects), shared by every
    /// clone of the event: when one store change reaches many watchers, it is decoded once.
    pub memo: Memo,
}

impl WatchEvent {
    pub fn new(kind: EventKind, kv: KeyValue, prev: Option<KeyValue>) -> Self {
        WatchEvent { kind, kv, prev, memo: Memo::default() }
    }

    /// Revision at which this change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// A slot shared by the clones of one [`WatchEvent`], where a reader leaves what it made
/// of the event for the others. It holds a cache, not data: two events are equal whatever
/// their memos hold.
#[derive(Clone, Default)]
pub struct Memo(Arc<Mutex<Option<Arc<dyn Any + Send + Sync>>>>);

impl Memo {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<dyn Any + Send + Sync>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What was stored, if it is a `V`.
    pub fn get<V: Any + Send + Sync>(&self) -> Option<Arc<V>> {
        self.slot().clone().and_then(|v| v.downcast::<V>().ok())
    }

    /// Stores `value`, replacing what was there.
    pub fn set<V: Any + Send + Sync>(&self, value: Arc<V>) {
        *self.slot() = Some(value);
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.slot().is_some() { "Memo(set)" } else { "Memo(empty)" })
    }
}

impl PartialEq for Memo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Memo {}

pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, StoreError>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {key} already exists")]
    AlreadyExists { key: String },
    #[error("key {key} not found")]
    NotFound { key: String },
    /// The precondition on the modification revision failed; `current` is the key as it is now.
    #[error("key {key} was modified: expected revision {expected}, found {}", current.as_ref().map(|c| c.mod_revision).unwrap_or(0))]
    Conflict { key: String, expected: Revision, current: Option<KeyValue> },
    #[error("revision {requested} has been compacted (oldest kept: {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    #[error("lease {0} not found or expired")]
    LeaseNotFound(LeaseId),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store backend error: {0}")]
    Backend(String),
}

/// What every backend gives. Implementations are cheap to clone behind an `Arc`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Reads every key starting with `prefix`, in key order, at one revision.
    async fn list(&self, prefix: &str) -> Result<ListResult, StoreError>;

    /// Creates `key` if absent (optionally attached to a lease); returns the write's revision.
    /// Fails with `AlreadyExists` if the key exists.
    async fn create(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Revision, StoreError>;

    /// Replaces `key`'s value if its `mod_revision` is still `expected`.
    /// Fails with `NotFound` if absent, `Conflict` (carrying the current key) otherwise.
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision, StoreError>;

    /// Deletes `key`, if `expected` is given only when its `mod_revision` still equals it.
    /// Returns the revision of the delete and the key as it was.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue), StoreError>;

    /// Streams every change under `prefix` with revision >= `from`, in revision order, with
    /// no gaps, then live changes. `from == 0` means "changes after now".
    /// Fails with `Compacted` if `from` is older than the compaction point; a stream that
    /// falls behind past compaction ends with a `Compacted` error.
    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError>;

    /// The revision of the latest write.
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// Grants a lease that expires `ttl_secs` after its last keep-alive.
    async fn grant_lease(&self, ttl_secs: i64) -> Result<LeaseId, StoreError>;

    /// Renews a lease. Fails with `LeaseNotFound` once it has expired.
    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Revokes a lease and deletes the keys attached to it.
    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Forgets history older than `revision`: watches from before it get `Compacted`.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;
}
