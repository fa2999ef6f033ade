//! The etcd store: the [`Store`] trait on an etcd v3 cluster, for multi-node control
//! planes (`shoal server --store etcd://…`). Every operation is one etcd request; the
//! compare-and-swap writes are etcd transactions, so etcd's revisions are shoal's.
//!
//! [`EtcdStore`] is `Clone`: the etcd-client `Client` inside is a handle on shared
//! gRPC channels, cloned per call because its methods take `&mut self`.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, EventType, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchOptions,
};

use super::{EventKind, KeyValue, LeaseId, ListResult, Revision, Store, StoreError, WatchEvent, WatchStream};

/// How long a watch waits for etcd to report the compaction it is known to hit.
const COMPACTION_REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The etcd-backed [`Store`]. Cheap to clone; `Arc<dyn Store>` works too.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
}

impl EtcdStore {
    /// Connects to an etcd cluster at `endpoints` (`host:port` or `http://host:port`).
    pub async fn connect(endpoints: &[String]) -> Result<Self, StoreError> {
        let opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        let client = Client::connect(endpoints, Some(opts))
            .await
            .map_err(|e| StoreError::Unavailable(format!("connecting to etcd at {endpoints:?}: {e}")))?;
        Ok(Self { client })
    }

    /// A handle for one call (the etcd-client methods take `&mut self`).
    fn client(&self) -> Client {
        self.client.clone()
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        self.client().txn(txn).await.map_err(etcd_err)
    }
}

/// Maps an etcd-client error to the store's error; the caller maps the cases it expects.
fn etcd_err(e: etcd_client::Error) -> StoreError {
    use etcd_client::Error as E;
    match e {
        // gRPC codes (tonic is not a direct dependency): 1 Cancelled, 4 DeadlineExceeded,
        // 14 Unavailable.
        E::GRpcStatus(s) => match s.code() as i32 {
            1 | 4 | 14 => StoreError::Unavailable(format!("etcd: {}", s.message())),
            _ => StoreError::Backend(format!("etcd: {} ({:?})", s.message(), s.code())),
        },
        E::TransportError(e) => StoreError::Unavailable(format!("etcd transport: {e}")),
        E::IoError(e) => StoreError::Unavailable(format!("etcd I/O: {e}")),
        other => StoreError::Backend(format!("etcd: {other}")),
    }
}

/// The gRPC message of an etcd error, if it is one.
fn status_message(e: &etcd_client::Error) -> Option<&str> {
    match e {
        etcd_client::Error::GRpcStatus(s) => Some(s.message()),
        _ => None,
    }
}

fn is_lease_not_found(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::LeaseKeepAliveError(m) => m.contains("lease not found"),
        e => status_message(e).is_some_and(|m| m.contains("requested lease not found")),
    }
}

fn is_compacted(e: &etcd_client::Error) -> bool {
    status_message(e).is_some_and(|m| m.contains("required revision has been compacted"))
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision, StoreError> {
    header.map(|h| h.revision()).ok_or_else(|| StoreError::Backend("etcd response without a header".into()))
}

fn to_kv(kv: &etcd_client::KeyValue) -> Result<KeyValue, StoreError> {
    let key = std::str::from_utf8(kv.key())
        .map_err(|_| StoreError::Backend(format!("etcd key is not UTF-8: {:?}", String::from_utf8_lossy(kv.key()))))?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
        lease: kv.lease(),
    })
}

/// The key a failed conditional transaction read in its `else` branch.
fn failed_txn_current(resp: &TxnResponse) -> Result<Option<KeyValue>, StoreError> {
    for op in resp.op_responses() {
        if let TxnOpResponse::Get(get) = op {
            return get.kvs().first().map(to_kv).transpose();
        }
    }
    Err(StoreError::Backend("etcd transaction failed without the read of its else branch".into()))
}

fn conflict_or_not_found(key: &str, expected: Revision, current: Option<KeyValue>) -> StoreError {
    match current {
        None => StoreError::NotFound { key: key.to_owned() },
        Some(current) => StoreError::Conflict { key: key.to_owned(), expected, current: Some(current) },
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let resp = self.client().get(key, None).await.map_err(etcd_err)?;
        resp.kvs().first().map(to_kv).transpose()
    }

    async fn list(&self, prefix: &str) -> Result<ListResult, StoreError> {
        let resp = self.client().get(prefix, Some(GetOptions::new().with_prefix())).await.map_err(etcd_err)?;
        let kvs = resp.kvs().iter().map(to_kv).collect::<Result<Vec<_>, _>>()?;
        Ok(ListResult { kvs, revision: header_revision(resp.header())? })
    }

    async fn create(&self, key: &str, value: Vec<u8>, lease: Option<LeaseId>) -> Result<Revision, StoreError> {
        let mut put = PutOptions::new();
        if let Some(lease) = lease.filter(|l| *l != 0) {
            put = put.with_lease(lease);
        }
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value, Some(put))]);
        let resp = self.client().txn(txn).await.map_err(|e| match lease {
            Some(l) if is_lease_not_found(&e) => StoreError::LeaseNotFound(l),
            _ => etcd_err(e),
        })?;
        if !resp.succeeded() {
            return Err(StoreError::AlreadyExists { key: key.to_owned() });
        }
        header_revision(resp.header())
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<Revision, StoreError> {
        // `version > 0`: a missing key has mod_revision 0 and must not be created here.
        // `ignore_lease`: an update keeps the key's lease.
        let txn = Txn::new()
            .when([Compare::version(key, CompareOp::Greater, 0), Compare::mod_revision(key, CompareOp::Equal, expected)])
            .and_then([TxnOp::put(key, value, Some(PutOptions::new().with_ignore_lease()))])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            return Err(conflict_or_not_found(key, expected, failed_txn_current(&resp)?));
        }
        header_revision(resp.header())
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue), StoreError> {
        let mut when = vec![Compare::version(key, CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            when.push(Compare::mod_revision(key, CompareOp::Equal, expected));
        }
        let txn = Txn::new()
            .when(when)
            .and_then([TxnOp::delete(key, Some(DeleteOptions::new().with_prev_key()))])
            .or_else([TxnOp::get(key, None)]);
        let resp = self.txn(txn).await?;
        if !resp.succeeded() {
            let current = failed_txn_current(&resp)?;
            return Err(match expected {
                Some(expected) => conflict_or_not_found(key, expected, current),
                None => StoreError::NotFound { key: key.to_owned() },
            });
        }
        let revision = header_revision(resp.header())?;
        for op in resp.op_responses() {
            if let TxnOpResponse::Delete(del) = op {
                return match del.prev_kvs().first() {
                    Some(prev) => Ok((revision, to_kv(prev)?)),
                    // The compare saw the key, so the delete removed it.
                    None => Err(StoreError::Backend(format!("etcd deleted {key} without returning it"))),
                };
            }
        }
        Err(StoreError::Backend("etcd delete transaction returned no delete response".into()))
    }

    async fn watch(&self, prefix: &str, from: Revision) -> Result<WatchStream, StoreError> {
        let start = if from <= 0 { self.current_revision().await? + 1 } else { from };
        let mut client = self.client();
        let opts = WatchOptions::new().with_prefix().with_prev_key().with_start_revision(start);
        let mut stream = client.watch(prefix, Some(opts)).await.map_err(etcd_err)?;

        // etcd reports a compacted start revision asynchronously on the stream; ask the
        // history directly so the caller gets `Compacted` now, as the trait promises.
        if from > 0 {
            let probe = GetOptions::new().with_revision(from).with_keys_only().with_limit(1);
            let probe_key = if prefix.is_empty() { "\0" } else { prefix };
            match client.get(probe_key, Some(probe)).await {
                Ok(_) => {}
                Err(e) if is_compacted(&e) => {
                    // The stream carries the compaction point; wait for it (bounded).
                    let compacted = tokio::time::timeout(COMPACTION_REPORT_TIMEOUT, async {
                        while let Ok(Some(resp)) = stream.message().await {
                            if resp.compact_revision() != 0 {
                                return resp.compact_revision();
                            }
                        }
                        0
                    })
                    .await
                    .unwrap_or(0);
                    return Err(StoreError::Compacted { requested: from, compacted });
                }
                // "future revision": nothing to replay yet, which is fine.
                Err(e) if status_message(&e).is_some_and(|m| m.contains("future revision")) => {}
                Err(e) => return Err(etcd_err(e)),
            }
        }

        let state = EtcdWatch { stream, next: start, buffered: VecDeque::new(), done: false };
        Ok(Box::pin(futures::stream::unfold(state, |mut w| async move {
            let item = w.next_event().await?;
            Some((item, w))
        })))
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        let resp = self
            .client()
            .get(&b"\0"[..], Some(GetOptions::new().with_count_only()))
            .await
            .map_err(etcd_err)?;
        header_revision(resp.header())
    }

    async fn grant_lease(&self, ttl_secs: i64) -> Result<LeaseId, StoreError> {
        let resp = self.client().lease_grant(ttl_secs, None).await.map_err(etcd_err)?;
        if !resp.error().is_empty() {
            return Err(StoreError::Backend(format!("etcd lease grant: {}", resp.error())));
        }
        Ok(resp.id())
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        // One round trip: the client sends a keep-alive and waits for its answer; a TTL of 0
        // in that answer means the lease is gone.
        match self.client().lease_keep_alive(lease).await {
            Ok(_) => Ok(()),
            Err(e) if is_lease_not_found(&e) => Err(StoreError::LeaseNotFound(lease)),
            Err(e) => Err(etcd_err(e)),
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        match self.client().lease_revoke(lease).await {
            Ok(_) => Ok(()),
            Err(e) if is_lease_not_found(&e) => Err(StoreError::LeaseNotFound(lease)),
            Err(e) => Err(etcd_err(e)),
        }
    }

    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        match self.client().compact(revision, None).await {
            Ok(_) => Ok(()),
            // etcd does not say where its compaction point is; it is at least `revision`.
            Err(e) if is_compacted(&e) => Err(StoreError::Compacted { requested: revision, compacted: revision }),
            Err(e) => Err(etcd_err(e)),
        }
    }
}

/// One etcd watch, turned into a stream of [`WatchEvent`]s.
struct EtcdWatch {
    /// Holds the request sender too: dropping it would close the watch.
    stream: etcd_client::WatchStream,
    /// The revision the next event must have at least (for the `Compacted` error).
    next: Revision,
    buffered: VecDeque<WatchEvent>,
    done: bool,
}

impl EtcdWatch {
    async fn next_event(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        loop {
            if let Some(ev) = self.buffered.pop_front() {
                return Some(Ok(ev));
            }
            if self.done {
                return None;
            }
            let resp = match self.stream.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    self.done = true;
                    return Some(Err(StoreError::Unavailable("etcd closed the watch stream".into())));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(etcd_err(e)));
                }
            };
            if resp.compact_revision() != 0 || resp.canceled() {
                self.done = true;
                if !resp.cancel_reason().is_empty() {
                    tracing::debug!(reason = resp.cancel_reason(), "etcd cancelled a watch");
                }
                return Some(Err(StoreError::Compacted { requested: self.next, compacted: resp.compact_revision() }));
            }
            for ev in resp.events() {
                match convert_event(ev) {
                    Ok(ev) => {
                        self.next = ev.revision() + 1;
                        self.buffered.push_back(ev);
                    }
                    Err(e) => {
                        self.done = true;
                        self.buffered.clear();
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

fn convert_event(ev: &etcd_client::Event) -> Result<WatchEvent, StoreError> {
    let kv = ev.kv().ok_or_else(|| StoreError::Backend("etcd watch event without a key".into()))?;
    let kind = match ev.event_type() {
        EventType::Put => EventKind::Put,
        EventType::Delete => EventKind::Delete,
    };
    Ok(WatchEvent::new(kind, to_kv(kv)?, ev.prev_kv().map(to_kv).transpose()?))
}
