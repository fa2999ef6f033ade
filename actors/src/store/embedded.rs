//! The embedded store: etcd's data model on one redb file, for single-node clusters
//! (`shoal up`, `shoal server --data-dir`) and for tests, with no etcd to run.
//!
//! Writes go to one writer thread that drains every pending request into a single
//! durable write transaction (group commit), so concurrent writers share fsyncs. Reads
//! use redb read transactions from the caller. Watches replay the `log` table and then
//! follow a broadcast of committed events. Leases are timed by the writer thread.
//!
//! Tables: `kv` (key → revisions, lease, value), `log` (revision → event), `meta`
//! (current and compact revision), `leases` (id → TTL) and `lease_keys` (id ++ key).
//!
//! [`EmbeddedStore`] is `Clone` (an `Arc` inside); clones share one database. The
//! writer thread stops and the file is closed once the last clone and every watch
//! stream are dropped.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::{broadcast, oneshot};

use super::{EventKind, KeyValue, LeaseId, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const LEASES: TableDefinition<i64, i64> = TableDefinition::new("leases");
/// Key: lease id (8 bytes, big endian) followed by the key's bytes.
const LEASE_KEYS: TableDefinition<&[u8], ()> = TableDefinition::new("lease_keys");

const META_REVISION: &str = "revision";
const META_COMPACT: &str = "compact";

/// The file inside the store directory.
const FILE_NAME: &str = "shoal.redb";
/// Most requests folded into one write transaction.
const MAX_BATCH: usize = 1024;
/// Committed batches a watcher may fall behind before it re-reads the log.
const BROADCAST_CAPACITY: usize = 1024;
/// redb's page cache (its default is 1 GiB): the working set of a cluster's objects fits
/// in far less, and the rest of the memory belongs to the control plane.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Log entries read per replay step of a watch.
const REPLAY_CHUNK: usize = 512;

/// The redb-backed [`Store`]. Cheap to clone; `Arc<dyn Store>` works too.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Arc<Database>,
    /// `None` only while dropping.
    requests: Option<mpsc::Sender<Request>>,
    events: broadcast::Sender<Arc<Vec<WatchEvent>>>,
    writer: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel ends the writer loop; joining makes sure the last batch is
        // committed (and the file lock released, once watch streams are gone) on return.
        self.requests.take();
        if let Some(handle) = self.writer.take() {
            if handle.join().is_err() {
                tracing::error!(path = %self.path.display(), "embedded store writer thread panicked");
            }
        }
    }
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store in `dir`, which holds a single redb file.
    /// Leases that survived a restart get a fresh TTL, as etcd does after a leader change.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("creating store dir {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::Unavailable(format!("{} is already open by another process", path.display()))
            }
            e => StoreError::Backend(format!("opening {}: {e}", path.display())),
        })?;
        let db = Arc::new(db);
        let state = WriterState::load(&db).map_err(db_err)?;
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (tx, rx) = mpsc::channel();
        let writer = Writer { db: db.clone(), rx, events: events.clone(), state };
        let handle = std::thread::Builder::new()
            .name("shoal-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Backend(format!("spawning store writer thread: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                requests: Some(tx),
                events,
                writer: Some(handle),
                path,
            }),
        })
    }

    async fn call(&self, op: Op) -> Result<Reply, StoreError> {
        let (reply, rx) = oneshot::channel();
        let tx = self.inner.requests.as_ref().ok_or_else(writer_gone)?;
        tx.send(Request { op, reply }).map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Backend(format!("store read task failed: {e}")))?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("embedded store writer has stopped".into())
}

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(format!("redb: {}", e.into()))
}

fn unexpected(reply: Reply) -> StoreError {
    StoreError::Backend(format!("embedded store writer sent an unexpected reply: {reply:?}"))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        // A point read is a few page lookups: short enough to run on the caller.
        let txn = self.inner.db.begin_read().map_err(db_err)?;
        let kv = txn.open_table(KV).map_err(db_err)?;
        match kv.get(key).map_err(db_err)? {
            Some(v) => Ok(Some(decode_record(key, v.value())?)),
            None => Ok(None),
        }
    }

    async fn list(&self, prefix: &str) -> Result<ListResult, StoreError> {
        let prefix = prefix.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let revision = read_meta(&txn.open_table(META).map_err(db_err)?, META_REVISION)?;
            let kv = txn.open_table(KV).map_err(db_err)?;
            let mut kvs = Vec::new();
            for entry in kv.range::<&str>(prefix.as_str()..).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                let key = k.value();
                if !key.starts_with(prefix.as_str()) {
                    break;
                }
                kvs.push(decode_record(key, v.value())?);
            }
            Ok(ListResult { kvs, revision })
        })
        .await
    }

    async fn create(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Revision, StoreError> {
        match self.call(Op::Create { key: key.to_owned(), value, lease }).await? {
            Reply::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision, StoreError> {
        match self.call(Op::Update { key: key.to_owned(), value, expected }).await? {
            Reply::Revision(r) => Ok(r),
            other => Err(unexpected(other)),
        }
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue), StoreError> {
        match self.call(Op::Delete { key: key.to_owned(), expected }).await? {
            Reply::Deleted(r, kv) => Ok((r, kv)),
            other => Err(unexpected(other)),
        }
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        // Subscribe before reading the current revision: every commit after this point
        // reaches the receiver, every commit before it is in the log.
        let live = self.inner.events.subscribe();
        let (current, compacted) = self
            .blocking(|db| {
                let txn = db.begin_read().map_err(db_err)?;
                let meta = txn.open_table(META).map_err(db_err)?;
                Ok((read_meta(&meta, META_REVISION)?, read_meta(&meta, META_COMPACT)?))
            })
            .await?;
        let next = if from <= 0 { current + 1 } else { from };
        if next < compacted {
            return Err(StoreError::Compacted { requested: from, compacted });
        }
        let watcher = Watcher {
            db: self.inner.db.clone(),
            prefix: prefix.to_owned(),
            live,
            next,
            replay_until: current,
            buffered: VecDeque::new(),
            done: false,
        };
        Ok(Box::pin(futures::stream::unfold(watcher, |mut w| async move {
            let item = w.next_event().await?;
            Some((item, w))
        })))
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let txn = self.inner.db.begin_read().map_err(db_err)?;
        let meta = txn.open_table(META).map_err(db_err)?;
        read_meta(&meta, META_REVISION)
    }

    async fn grant_lease(&self, ttl_secs: i64) -> Result<LeaseId, StoreError> {
        match self.call(Op::Grant { ttl: ttl_secs }).await? {
            Reply::Lease(id) => Ok(id),
            other => Err(unexpected(other)),
        }
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        match self.call(Op::KeepAlive { id: lease }).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        match self.call(Op::Revoke { id: lease }).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        match self.call(Op::Compact { revision }).await? {
            Reply::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Watch streams

struct Watcher {
    db: Arc<Database>,
    prefix: String,
    live: broadcast::Receiver<Arc<Vec<WatchEvent>>>,
    /// Every revision below `next` has been delivered or filtered out.
    next: Revision,
    /// The log holds everything up to here that the receiver may not have.
    replay_until: Revision,
    buffered: VecDeque<WatchEvent>,
    done: bool,
}

impl Watcher {
    async fn next_event(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        loop {
            if let Some(ev) = self.buffered.pop_front() {
                return Some(Ok(ev));
            }
            if self.done {
                return None;
            }
            if self.next <= self.replay_until {
                if let Err(e) = self.replay_chunk().await {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => {
                    for ev in batch.iter() {
                        if ev.revision() < self.next {
                            continue; // already replayed from the log
                        }
                        self.next = ev.revision() + 1;
                        if ev.kv.key.starts_with(self.prefix.as_str()) {
                            self.buffered.push_back(ev.clone());
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Fell behind the broadcast: the log has the missed range.
                    let db = self.db.clone();
                    match tokio::task::spawn_blocking(move || {
                        let txn = db.begin_read().map_err(db_err)?;
                        read_meta(&txn.open_table(META).map_err(db_err)?, META_REVISION)
                    })
                    .await
                    {
                        Ok(Ok(current)) => {
                            tracing::debug!(missed, from = self.next, to = current, "watch lagged; re-reading the log");
                            self.replay_until = current;
                        }
                        Ok(Err(e)) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                        Err(e) => {
                            self.done = true;
                            return Some(Err(StoreError::Backend(format!("watch log read failed: {e}"))));
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(StoreError::Unavailable("embedded store closed".into())));
                }
            }
        }
    }

    /// Reads the next chunk of the log in `[next, replay_until]` into the buffer.
    async fn replay_chunk(&mut self) -> Result<(), StoreError> {
        let (db, prefix, from, until) = (self.db.clone(), self.prefix.clone(), self.next, self.replay_until);
        let (events, next) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let txn = db.begin_read().map_err(db_err)?;
            let compacted = read_meta(&txn.open_table(META).map_err(db_err)?, META_COMPACT)?;
            if from < compacted {
                return Err(StoreError::Compacted { requested: from, compacted });
            }
            let log = txn.open_table(LOG).map_err(db_err)?;
            let mut events = Vec::new();
            let mut next = from;
            for entry in log.range(from..=until).map_err(db_err)?.take(REPLAY_CHUNK) {
                let (rev, bytes) = entry.map_err(db_err)?;
                let ev = decode_event(bytes.value())?;
                if ev.revision() != rev.value() {
                    return Err(StoreError::Backend(format!("log entry {} holds revision {}", rev.value(), ev.revision())));
                }
                next = rev.value() + 1;
                if ev.kv.key.starts_with(prefix.as_str()) {
                    events.push(ev);
                }
            }
            if next == from {
                // Nothing left in the range (revisions without events cannot happen, but do
                // not spin if they did).
                next = until + 1;
            }
            Ok((events, next))
        })
        .await
        .map_err(|e| StoreError::Backend(format!("watch log read failed: {e}")))??;
        self.buffered.extend(events);
        self.next = next;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The writer thread

enum Op {
    Create { key: String, value: Vec<u8>, lease: Option<LeaseId> },
    Update { key: String, value: Vec<u8>, expected: Revision },
    Delete { key: String, expected: Option<Revision> },
    Grant { ttl: i64 },
    KeepAlive { id: LeaseId },
    Revoke { id: LeaseId },
    Compact { revision: Revision },
}

#[derive(Debug)]
enum Reply {
    Revision(Revision),
    Deleted(Revision, KeyValue),
    Lease(LeaseId),
    Done,
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Reply, StoreError>>,
}

#[derive(Clone)]
struct LeaseState {
    ttl: i64,
    deadline: Instant,
}

/// What the writer keeps in memory; copied before a batch and restored if it fails.
#[derive(Clone)]
struct WriterState {
    revision: Revision,
    compacted: Revision,
    leases: HashMap<LeaseId, LeaseState>,
}

impl WriterState {
    /// Creates the tables if needed and loads the revisions and leases.
    fn load(db: &Database) -> Result<Self, redb::Error> {
        let txn = db.begin_write()?;
        let state = {
            let meta = txn.open_table(META)?;
            txn.open_table(KV)?;
            txn.open_table(LOG)?;
            txn.open_table(LEASE_KEYS)?;
            let leases = txn.open_table(LEASES)?;
            let now = Instant::now();
            let mut map = HashMap::new();
            for entry in leases.iter()? {
                let (id, ttl) = entry?;
                let ttl = ttl.value();
                map.insert(id.value(), LeaseState { ttl, deadline: now + ttl_duration(ttl) });
            }
            let revision = meta.get(META_REVISION)?.map(|v| v.value()).unwrap_or(0);
            let compacted = meta.get(META_COMPACT)?.map(|v| v.value()).unwrap_or(0);
            WriterState { revision, compacted, leases: map }
        };
        txn.commit()?;
        Ok(state)
    }
}

fn ttl_duration(ttl: i64) -> Duration {
    Duration::from_secs(ttl.max(1) as u64)
}

struct Writer {
    db: Arc<Database>,
    rx: mpsc::Receiver<Request>,
    events: broadcast::Sender<Arc<Vec<WatchEvent>>>,
    state: WriterState,
}

/// One batch's view of the tables, open inside the write transaction.
struct Tables<'t> {
    kv: redb::Table<'t, &'static str, &'static [u8]>,
    log: redb::Table<'t, i64, &'static [u8]>,
    meta: redb::Table<'t, &'static str, i64>,
    leases: redb::Table<'t, i64, i64>,
    lease_keys: redb::Table<'t, &'static [u8], ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, redb::Error> {
        Ok(Self {
            kv: txn.open_table(KV)?,
            log: txn.open_table(LOG)?,
            meta: txn.open_table(META)?,
            leases: txn.open_table(LEASES)?,
            lease_keys: txn.open_table(LEASE_KEYS)?,
        })
    }
}

/// Collects a batch's effects: committed events and whether anything must be written.
#[derive(Default)]
struct BatchOut {
    events: Vec<WatchEvent>,
    dirty: bool,
}

impl Writer {
    fn run(mut self) {
        loop {
            let first = match self.next_deadline() {
                Some(deadline) => match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(r) => Some(r),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(r) => Some(r),
                    Err(_) => break,
                },
            };
            let mut batch: Vec<Request> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            self.run_batch(batch);
        }
        tracing::debug!("embedded store writer stopped");
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.state.leases.values().map(|l| l.deadline).min()
    }

    /// Applies every request of the batch in one write transaction, commits it durably,
    /// then publishes the events and answers each request.
    fn run_batch(&mut self, batch: Vec<Request>) {
        let saved = self.state.clone();
        let mut out = BatchOut::default();
        let mut results = Vec::with_capacity(batch.len());
        let outcome = (|| -> Result<(), redb::Error> {
            let txn = self.db.begin_write()?;
            {
                let mut t = Tables::open(&txn)?;
                self.expire_leases(&mut t, &mut out)?;
                for req in &batch {
                    results.push(self.apply(&mut t, &req.op, &mut out)?);
                }
                if out.dirty {
                    t.meta.insert(META_REVISION, self.state.revision)?;
                    t.meta.insert(META_COMPACT, self.state.compacted)?;
                }
            }
            if out.dirty {
                txn.commit()?;
            } else {
                txn.abort()?;
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => {
                if !out.events.is_empty() {
                    // No receivers is fine: nobody is watching.
                    let _ = self.events.send(Arc::new(out.events));
                }
                for (req, result) in batch.into_iter().zip(results) {
                    let _ = req.reply.send(result);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = batch.len(), "embedded store write transaction failed");
                self.state = saved;
                for req in batch {
                    let _ = req.reply.send(Err(StoreError::Backend(format!("redb write failed: {e}"))));
                }
                // A broken disk fails every batch; do not spin on due lease expiries.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Applies one request. The outer error fails the whole batch (storage trouble); the
    /// inner one is this request's answer and wrote nothing.
    fn apply(&mut self, t: &mut Tables<'_>, op: &Op, out: &mut BatchOut) -> Result<Result<Reply, StoreError>, redb::Error> {
        Ok(match op {
            Op::Create { key, value, lease } => {
                let lease = lease.unwrap_or(0);
                if lease != 0 && !self.lease_alive(lease) {
                    return Ok(Err(StoreError::LeaseNotFound(lease)));
                }
                if t.kv.get(key.as_str())?.is_some() {
                    return Ok(Err(StoreError::AlreadyExists { key: key.clone() }));
                }
                let rev = self.bump(out);
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: rev,
                    mod_revision: rev,
                    version: 1,
                    lease,
                };
                put_kv(t, &kv)?;
                if lease != 0 {
                    t.lease_keys.insert(lease_key(lease, key).as_slice(), ())?;
                }
                log_event(t, WatchEvent::new(EventKind::Put, kv, None), out)?;
                Ok(Reply::Revision(rev))
            }
            Op::Update { key, value, expected } => {
                let Some(current) = read_kv(t, key)? else {
                    return Ok(Err(StoreError::NotFound { key: key.clone() }));
                };
                let current = match current {
                    Ok(c) => c,
                    Err(e) => return Ok(Err(e)),
                };
                if current.mod_revision != *expected {
                    return Ok(Err(StoreError::Conflict { key: key.clone(), expected: *expected, current: Some(current) }));
                }
                let rev = self.bump(out);
                let kv = KeyValue {
                    value: value.clone(),
                    mod_revision: rev,
                    version: current.version + 1,
                    ..current.clone()
                };
                put_kv(t, &kv)?;
                log_event(t, WatchEvent::new(EventKind::Put, kv, Some(current)), out)?;
                Ok(Reply::Revision(rev))
            }
            Op::Delete { key, expected } => {
                let Some(current) = read_kv(t, key)? else {
                    return Ok(Err(StoreError::NotFound { key: key.clone() }));
                };
                let current = match current {
                    Ok(c) => c,
                    Err(e) => return Ok(Err(e)),
                };
                if let Some(expected) = expected {
                    if current.mod_revision != *expected {
                        return Ok(Err(StoreError::Conflict { key: key.clone(), expected: *expected, current: Some(current) }));
                    }
                }
                let rev = self.delete_key(t, current.clone(), out)?;
                Ok(Reply::Deleted(rev, current))
            }
            Op::Grant { ttl } => {
                let ttl = (*ttl).max(1);
                let id = loop {
                    let id = (rand::random::<u64>() >> 1) as i64;
                    if id != 0 && !self.state.leases.contains_key(&id) {
                        break id;
                    }
                };
                t.leases.insert(id, ttl)?;
                out.dirty = true;
                self.state.leases.insert(id, LeaseState { ttl, deadline: Instant::now() + ttl_duration(ttl) });
                Ok(Reply::Lease(id))
            }
            Op::KeepAlive { id } => match self.state.leases.get_mut(id) {
                Some(l) if l.deadline > Instant::now() => {
                    l.deadline = Instant::now() + ttl_duration(l.ttl);
                    Ok(Reply::Done)
                }
                _ => Err(StoreError::LeaseNotFound(*id)),
            },
            Op::Revoke { id } => {
                if !self.lease_alive(*id) {
                    return Ok(Err(StoreError::LeaseNotFound(*id)));
                }
                self.drop_lease(t, *id, out)?;
                Ok(Reply::Done)
            }
            Op::Compact { revision } => {
                let revision = *revision;
                if revision <= self.state.compacted {
                    return Ok(Err(StoreError::Compacted { requested: revision, compacted: self.state.compacted }));
                }
                if revision > self.state.revision {
                    return Ok(Err(StoreError::Backend(format!(
                        "cannot compact at revision {revision}: it is newer than the current revision {}",
                        self.state.revision
                    ))));
                }
                t.log.retain_in(..revision, |_, _| false)?;
                self.state.compacted = revision;
                out.dirty = true;
                Ok(Reply::Done)
            }
        })
    }

    fn lease_alive(&self, id: LeaseId) -> bool {
        self.state.leases.get(&id).is_some_and(|l| l.deadline > Instant::now())
    }

    fn bump(&mut self, out: &mut BatchOut) -> Revision {
        self.state.revision += 1;
        out.dirty = true;
        self.state.revision
    }

    /// Deletes a key that exists, at a new revision.
    fn delete_key(&mut self, t: &mut Tables<'_>, current: KeyValue, out: &mut BatchOut) -> Result<Revision, redb::Error> {
        let rev = self.bump(out);
        t.kv.remove(current.key.as_str())?;
        if current.lease != 0 {
            t.lease_keys.remove(lease_key(current.lease, &current.key).as_slice())?;
        }
        let tombstone = KeyValue {
            key: current.key.clone(),
            value: Vec::new(),
            create_revision: 0,
            mod_revision: rev,
            version: 0,
            lease: 0,
        };
        log_event(t, WatchEvent::new(EventKind::Delete, tombstone, Some(current)), out)?;
        Ok(rev)
    }

    /// Forgets a lease and deletes its keys, one revision per key.
    fn drop_lease(&mut self, t: &mut Tables<'_>, id: LeaseId, out: &mut BatchOut) -> Result<(), redb::Error> {
        let prefix = id.to_be_bytes();
        let mut keys = Vec::new();
        for entry in t.lease_keys.range::<&[u8]>(prefix.as_slice()..)? {
            let (k, _) = entry?;
            let k = k.value();
            if !k.starts_with(&prefix) {
                break;
            }
            match std::str::from_utf8(&k[prefix.len()..]) {
                Ok(key) => keys.push(key.to_owned()),
                Err(_) => tracing::error!(lease = id, "lease_keys holds a key that is not UTF-8; skipping it"),
            }
        }
        for key in keys {
            match read_kv(t, &key)? {
                Some(Ok(kv)) if kv.lease == id => {
                    self.delete_key(t, kv, out)?;
                }
                Some(Err(e)) => tracing::error!(lease = id, key, error = %e, "cannot decode a leased key; leaving it"),
                _ => {
                    t.lease_keys.remove(lease_key(id, &key).as_slice())?;
                }
            }
        }
        t.leases.remove(id)?;
        self.state.leases.remove(&id);
        out.dirty = true;
        Ok(())
    }

    fn expire_leases(&mut self, t: &mut Tables<'_>, out: &mut BatchOut) -> Result<(), redb::Error> {
        let now = Instant::now();
        let mut expired: Vec<LeaseId> =
            self.state.leases.iter().filter(|(_, l)| l.deadline <= now).map(|(id, _)| *id).collect();
        expired.sort_unstable();
        for id in expired {
            tracing::debug!(lease = id, "lease expired");
            self.drop_lease(t, id, out)?;
        }
        Ok(())
    }
}

fn lease_key(lease: LeaseId, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + key.len());
    k.extend_from_slice(&lease.to_be_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

fn read_kv(t: &Tables<'_>, key: &str) -> Result<Option<Result<KeyValue, StoreError>>, redb::Error> {
    Ok(t.kv.get(key)?.map(|v| decode_record(key, v.value())))
}

fn put_kv(t: &mut Tables<'_>, kv: &KeyValue) -> Result<(), redb::Error> {
    t.kv.insert(kv.key.as_str(), encode_record(kv).as_slice())?;
    Ok(())
}

fn log_event(t: &mut Tables<'_>, ev: WatchEvent, out: &mut BatchOut) -> Result<(), redb::Error> {
    t.log.insert(ev.revision(), encode_event(&ev).as_slice())?;
    out.events.push(ev);
    Ok(())
}

fn read_meta(meta: &impl ReadableTable<&'static str, i64>, name: &str) -> Result<i64, StoreError> {
    Ok(meta.get(name).map_err(db_err)?.map(|v| v.value()).unwrap_or(0))
}

// ---------------------------------------------------------------------------------------
// Encoding of stored records (little endian, length-prefixed)

/// `kv` table value: create, mod, version, lease, then the value bytes.
fn encode_record(kv: &KeyValue) -> Vec<u8> {
    let mut b = Vec::with_capacity(32 + kv.value.len());
    for n in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
        b.extend_from_slice(&n.to_le_bytes());
    }
    b.extend_from_slice(&kv.value);
    b
}

fn decode_record(key: &str, bytes: &[u8]) -> Result<KeyValue, StoreError> {
    let mut r = Reader { buf: bytes, what: "kv record" };
    Ok(KeyValue {
        key: key.to_owned(),
        create_revision: r.i64()?,
        mod_revision: r.i64()?,
        version: r.i64()?,
        lease: r.i64()?,
        value: r.rest().to_vec(),
    })
}

fn encode_full_kv(b: &mut Vec<u8>, kv: &KeyValue) {
    b.extend_from_slice(&(kv.key.len() as u32).to_le_bytes());
    b.extend_from_slice(kv.key.as_bytes());
    for n in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
        b.extend_from_slice(&n.to_le_bytes());
    }
    b.extend_from_slice(&(kv.value.len() as u32).to_le_bytes());
    b.extend_from_slice(&kv.value);
}

/// `log` table value: kind, the key after the change, then the optional previous key.
fn encode_event(ev: &WatchEvent) -> Vec<u8> {
    let mut b = Vec::with_capacity(64 + ev.kv.key.len() * 2 + ev.kv.value.len());
    b.push(match ev.kind {
        EventKind::Put => 0,
        EventKind::Delete => 1,
    });
    encode_full_kv(&mut b, &ev.kv);
    match &ev.prev {
        Some(prev) => {
            b.push(1);
            encode_full_kv(&mut b, prev);
        }
        None => b.push(0),
    }
    b
}

fn decode_event(bytes: &[u8]) -> Result<WatchEvent, StoreError> {
    let mut r = Reader { buf: bytes, what: "log entry" };
    let kind = match r.u8()? {
        0 => EventKind::Put,
        1 => EventKind::Delete,
        k => return Err(r.corrupt(&format!("unknown event kind {k}"))),
    };
    let kv = r.full_kv()?;
    let prev = match r.u8()? {
        0 => None,
        1 => Some(r.full_kv()?),
        f => return Err(r.corrupt(&format!("bad prev flag {f}"))),
    };
    Ok(WatchEvent::new(kind, kv, prev))
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, why: &str) -> StoreError {
        StoreError::Backend(format!("corrupt {}: {why}", self.what))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.buf.len() < n {
            return Err(self.corrupt("truncated"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_le_bytes(a))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn full_kv(&mut self) -> Result<KeyValue, StoreError> {
        let key_len = self.u32()? as usize;
        let key = std::str::from_utf8(self.take(key_len)?).map_err(|_| self.corrupt("key is not UTF-8"))?.to_owned();
        let create_revision = self.i64()?;
        let mod_revision = self.i64()?;
        let version = self.i64()?;
        let lease = self.i64()?;
        let value_len = self.u32()? as usize;
        let value = self.take(value_len)?.to_vec();
        Ok(KeyValue { key, value, create_revision, mod_revision, version, lease })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_encoding_round_trips() {
        let kv = KeyValue { key: "/a".into(), value: b"v".to_vec(), create_revision: 3, mod_revision: 7, version: 2, lease: 9 };
        let ev = WatchEvent::new(EventKind::Put, kv.clone(), Some(KeyValue { value: vec![], ..kv.clone() }));
        assert_eq!(decode_event(&encode_event(&ev)).expect("decodes"), ev);
        assert_eq!(decode_record("/a", &encode_record(&kv)).expect("decodes"), kv);
    }

    /// More committed batches than the broadcast holds, while the watcher is not polled.
    async fn overflow_broadcast(store: &EmbeddedStore) -> Vec<Revision> {
        let mut revs = Vec::new();
        for i in 0..BROADCAST_CAPACITY + 50 {
            revs.push(store.create(&format!("/lag/{i:05}"), Vec::new(), None).await.expect("create"));
        }
        revs
    }

    #[tokio::test]
    async fn a_lagging_watch_rereads_the_log_without_gaps_or_duplicates() {
        use futures::StreamExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let mut w = store.watch("/lag/", 0).await.expect("watch");
        let revs = overflow_broadcast(&store).await;
        for want in &revs {
            let ev = w.next().await.expect("stream open").expect("event");
            assert_eq!(ev.revision(), *want);
        }
        let last = store.create("/lag/last", Vec::new(), None).await.expect("create");
        assert_eq!(w.next().await.expect("stream open").expect("event").revision(), last);
    }

    #[tokio::test]
    async fn a_watch_that_falls_behind_past_compaction_ends_with_compacted() {
        use futures::StreamExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = EmbeddedStore::open(dir.path()).expect("open");
        let mut w = store.watch("/lag/", 0).await.expect("watch");
        let revs = overflow_broadcast(&store).await;
        let current = *revs.last().expect("writes");
        store.compact(current).await.expect("compact");
        match w.next().await {
            Some(Err(StoreError::Compacted { requested, compacted })) => {
                assert_eq!((requested, compacted), (revs[0], current));
            }
            other => panic!("expected Compacted, got {other:?}"),
        }
        assert!(w.next().await.is_none(), "the stream ends after Compacted");
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let kv = KeyValue { key: "/a".into(), value: b"v".to_vec(), create_revision: 3, mod_revision: 7, version: 2, lease: 0 };
        let bytes = encode_event(&WatchEvent::new(EventKind::Delete, kv, None));
        for cut in 0..bytes.len() {
            assert!(decode_event(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_record("/a", &[0u8; 31]).is_err());
    }
}
