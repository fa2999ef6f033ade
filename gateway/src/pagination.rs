//! Paginated lists (`limit` + `continue`) over a consistent snapshot.
//!
//! The first page of a paginated LIST reads the whole (filtered) list once, at one store
//! revision, and keeps it here; the continue token names that snapshot (and the offset of
//! the next page), so every later page comes from the same revision however the store
//! changes meanwhile. Snapshots live at most a TTL (`SHOAL_CONTINUE_TTL_SECS`, default
//! 300 s, like etcd's default compaction window) and the cache is bounded in bytes
//! (`SHOAL_CONTINUE_CACHE_BYTES`, default 256 MiB) with least-recently-used eviction. A
//! token whose snapshot is gone gets 410 Expired, as upstream answers a continue token
//! whose revision was compacted, together with a token that continues the list
//! inconsistently (at the latest revision, after the last key served).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::ApiError;

/// Default lifetime of a snapshot.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Default bound on the bytes all snapshots hold together.
pub const DEFAULT_MAX_BYTES: usize = 256 << 20;

/// Upstream's message for a continue token whose list can no longer be continued
/// consistently (`inconsistentContinue` in apiserver's etcd3 store).
pub const INCONSISTENT_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. \
You can start a new list without the continue parameter, or use the continue token in this response to retrieve the \
remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were \
created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// One object of a listed collection: its key within the collection (`ns/name` or
/// `name`, which sorts like the store key) and its JSON encoding.
#[derive(Debug, Clone)]
pub struct Item {
    pub key: String,
    pub json: Bytes,
}

/// A filtered list read at one revision.
#[derive(Debug)]
pub struct Snapshot {
    pub rev: i64,
    /// The collection: the store prefix listed.
    pub prefix: String,
    /// The label and field selectors the list was filtered with.
    pub selector: String,
    pub items: Vec<Item>,
}

impl Snapshot {
    fn size(&self) -> usize {
        self.items.iter().map(|i| i.json.len() + i.key.len() + 32).sum::<usize>() + self.prefix.len() + self.selector.len()
    }
}

/// What a continue token carries. `rv == -1` means "continue after `start` at the latest
/// revision" (the token handed out with a 410, as upstream does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub v: String,
    pub rv: i64,
    /// Snapshot id (0 for `rv == -1`).
    pub id: u64,
    /// Index of the next item in the snapshot.
    pub off: usize,
    /// Key of the last item served.
    pub start: String,
    /// The collection (store prefix).
    pub p: String,
}

const TOKEN_VERSION: &str = "shoal.continue/v1";

impl Token {
    pub fn new(rv: i64, id: u64, off: usize, start: String, prefix: String) -> Self {
        Token { v: TOKEN_VERSION.into(), rv, id, off, start, p: prefix }
    }

    pub fn encode(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes a token for the collection `prefix`; errors are upstream's 400
    /// "invalid continue token: ...".
    pub fn decode(s: &str, prefix: &str) -> Result<Token, ApiError> {
        let bad = |why: &str| ApiError::bad_request(format!("invalid continue token: {why}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|e| bad(&format!("continue key is not valid: {e}")))?;
        let t: Token = serde_json::from_slice(&bytes).map_err(|e| bad(&format!("continue key is not valid: {e}")))?;
        if t.v != TOKEN_VERSION {
            return Err(bad(&format!("got token version {:?}, expected {TOKEN_VERSION:?}", t.v)));
        }
        if t.p != prefix {
            return Err(bad("continue key is not valid: the token belongs to another collection"));
        }
        if t.rv == 0 || t.rv < -1 {
            return Err(bad(&format!("incorrect encoded start resourceVersion (version {})", t.rv)));
        }
        Ok(t)
    }
}

/// The 410 Expired answer for a token whose snapshot is gone, carrying a token that
/// continues the list at the latest revision after the last key served.
pub fn expired_response(old: &Token) -> HttpResponse {
    let fresh = Token::new(-1, 0, 0, old.start.clone(), old.p.clone());
    let body = json!({
        "kind": "Status", "apiVersion": "v1",
        "metadata": {"continue": fresh.encode()},
        "status": "Failure", "message": INCONSISTENT_CONTINUE, "reason": "Expired", "code": 410,
    });
    HttpResponse::Gone().content_type("application/json").body(body.to_string())
}

struct Entry {
    snap: Arc<Snapshot>,
    created: Instant,
    last_used: u64,
    size: usize,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    tick: u64,
    bytes: usize,
    entries: HashMap<u64, Entry>,
}

/// The snapshot cache: TTL plus a byte budget with LRU eviction.
pub struct Snapshots {
    ttl: Duration,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

impl Snapshots {
    pub fn new(ttl: Duration, max_bytes: usize) -> Self {
        Snapshots { ttl, max_bytes, inner: Mutex::new(Inner { next_id: 1, ..Default::default() }) }
    }

    /// Settings from the environment (`SHOAL_CONTINUE_TTL_SECS`, `SHOAL_CONTINUE_CACHE_BYTES`).
    pub fn from_env() -> Self {
        let num = |k: &str| std::env::var(k).ok().and_then(|v| v.trim().parse::<u64>().ok());
        let ttl = num("SHOAL_CONTINUE_TTL_SECS").map(Duration::from_secs).unwrap_or(DEFAULT_TTL);
        let max = num("SHOAL_CONTINUE_CACHE_BYTES").map(|b| b as usize).unwrap_or(DEFAULT_MAX_BYTES);
        Self::new(ttl, max)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a snapshot; returns its id.
    pub fn insert(&self, snap: Snapshot) -> u64 {
        self.insert_at(snap, Instant::now())
    }

    pub fn insert_at(&self, snap: Snapshot, now: Instant) -> u64 {
        let size = snap.size();
        let mut g = self.lock();
        Self::expire(&mut g, self.ttl, now);
        // Make room: least recently used first. A snapshot larger than the whole budget
        // is still kept (alone), so that its list can be paged.
        while g.bytes + size > self.max_bytes && !g.entries.is_empty() {
            let oldest = g.entries.iter().min_by_key(|(_, e)| e.last_used).map(|(id, _)| *id);
            if let Some(id) = oldest {
                Self::drop_entry(&mut g, id);
            }
        }
        let id = g.next_id;
        g.next_id += 1;
        g.tick += 1;
        let tick = g.tick;
        g.bytes += size;
        g.entries.insert(id, Entry { snap: Arc::new(snap), created: now, last_used: tick, size });
        id
    }

    /// The snapshot `id`, if it is still kept.
    pub fn get(&self, id: u64) -> Option<Arc<Snapshot>> {
        self.get_at(id, Instant::now())
    }

    pub fn get_at(&self, id: u64, now: Instant) -> Option<Arc<Snapshot>> {
        let mut g = self.lock();
        Self::expire(&mut g, self.ttl, now);
        g.tick += 1;
        let tick = g.tick;
        let e = g.entries.get_mut(&id)?;
        e.last_used = tick;
        Some(e.snap.clone())
    }

    /// A kept snapshot of `prefix` with `selector` at exactly `rev` (for
    /// `resourceVersionMatch=Exact`).
    pub fn find(&self, rev: i64, prefix: &str, selector: &str) -> Option<(u64, Arc<Snapshot>)> {
        let mut g = self.lock();
        Self::expire(&mut g, self.ttl, Instant::now());
        g.entries
            .iter()
            .find(|(_, e)| e.snap.rev == rev && e.snap.prefix == prefix && e.snap.selector == selector)
            .map(|(id, e)| (*id, e.snap.clone()))
    }

    pub fn remove(&self, id: u64) {
        Self::drop_entry(&mut self.lock(), id);
    }

    /// Number of snapshots and bytes held.
    pub fn usage(&self) -> (usize, usize) {
        let g = self.lock();
        (g.entries.len(), g.bytes)
    }

    fn drop_entry(g: &mut Inner, id: u64) {
        if let Some(e) = g.entries.remove(&id) {
            g.bytes -= e.size;
        }
    }

    fn expire(g: &mut Inner, ttl: Duration, now: Instant) {
        let old: Vec<u64> =
            g.entries.iter().filter(|(_, e)| now.saturating_duration_since(e.created) >= ttl).map(|(id, _)| *id).collect();
        for id in old {
            Self::drop_entry(g, id);
        }
    }
}

/// The process-wide snapshot cache (settings read from the environment at first use,
/// i.e. when the server serves its first paginated list).
pub fn cache() -> &'static Snapshots {
    static CACHE: OnceLock<Snapshots> = OnceLock::new();
    CACHE.get_or_init(Snapshots::from_env)
}

/// One page of a list.
pub struct Page {
    pub rev: i64,
    pub items: Vec<Item>,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// Cuts the page starting at `off` out of the kept snapshot `id` (all of the rest when
/// `limit` is None). When the last page is served and `release` is set, the snapshot is
/// dropped: a finished list needs it no more.
pub fn paginate(cache: &Snapshots, snap: &Snapshot, id: u64, off: usize, limit: Option<usize>, release: bool) -> Page {
    let total = snap.items.len();
    let off = off.min(total);
    let end = match limit {
        Some(l) => off.saturating_add(l.max(1)).min(total),
        None => total,
    };
    let items = snap.items[off..end].to_vec();
    if end >= total {
        if release {
            cache.remove(id);
        }
        return Page { rev: snap.rev, items, continue_token: None, remaining: None };
    }
    let start = items.last().map(|i| i.key.clone()).unwrap_or_default();
    let token = Token::new(snap.rev, id, end, start, snap.prefix.clone());
    Page { rev: snap.rev, items, continue_token: Some(token.encode()), remaining: Some((total - end) as i64) }
}

fn paginate_owned(cache: &Snapshots, snap: Snapshot, end: usize, items: Vec<Item>) -> Page {
    let total = snap.items.len();
    let (rev, prefix) = (snap.rev, snap.prefix.clone());
    let id = cache.insert(snap);
    let start = items.last().map(|i| i.key.clone()).unwrap_or_default();
    let token = Token::new(rev, id, end, start, prefix);
    Page { rev, items, continue_token: Some(token.encode()), remaining: Some((total - end) as i64) }
}

/// A fresh list cut into its first page; the snapshot is kept only if more pages remain.
pub fn first_page(cache: &Snapshots, snap: Snapshot, limit: Option<usize>) -> Page {
    let total = snap.items.len();
    match limit {
        Some(l) if l < total => {
            let l = l.max(1);
            let items = snap.items[..l].to_vec();
            paginate_owned(cache, snap, l, items)
        }
        _ => Page { rev: snap.rev, items: snap.items, continue_token: None, remaining: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(n: usize, rev: i64) -> Snapshot {
        Snapshot {
            rev,
            prefix: "/registry/pods/default/".into(),
            selector: String::new(),
            items: (0..n).map(|i| Item { key: format!("default/p{i:02}"), json: Bytes::from(vec![b'x'; 100]) }).collect(),
        }
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let t = Token::new(42, 7, 10, "default/p09".into(), "/registry/pods/default/".into());
        assert_eq!(Token::decode(&t.encode(), "/registry/pods/default/").unwrap(), t);
        assert_eq!(Token::decode("!!!not base64", "/registry/pods/default/").unwrap_err().code, 400);
        let junk = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"{\"a\":1}");
        assert_eq!(Token::decode(&junk, "/registry/pods/default/").unwrap_err().code, 400);
        // A token of another collection is refused.
        assert_eq!(Token::decode(&t.encode(), "/registry/services/default/").unwrap_err().code, 400);
    }

    #[test]
    fn pages_come_from_one_snapshot_and_the_last_page_frees_it() {
        let cache = Snapshots::new(DEFAULT_TTL, DEFAULT_MAX_BYTES);
        let p1 = first_page(&cache, snap(25, 5), Some(10));
        assert_eq!((p1.items.len(), p1.remaining), (10, Some(15)));
        let t = Token::decode(p1.continue_token.as_deref().unwrap(), "/registry/pods/default/").unwrap();
        assert_eq!((t.rv, t.off, t.start.as_str()), (5, 10, "default/p09"));
        let s = cache.get(t.id).unwrap();
        let p2 = paginate(&cache, &s, t.id, t.off, Some(10), true);
        assert_eq!((p2.items[0].key.as_str(), p2.remaining), ("default/p10", Some(5)));
        let t2 = Token::decode(p2.continue_token.as_deref().unwrap(), "/registry/pods/default/").unwrap();
        assert_eq!(t2.id, t.id);
        let p3 = paginate(&cache, &cache.get(t2.id).unwrap(), t2.id, t2.off, Some(10), true);
        assert_eq!((p3.items.len(), p3.continue_token, p3.remaining), (5, None, None));
        assert!(cache.get(t.id).is_none());
        assert_eq!(cache.usage(), (0, 0));
        // A list that fits in one page keeps nothing.
        let p = first_page(&cache, snap(3, 6), Some(10));
        assert_eq!((p.items.len(), p.continue_token), (3, None));
        assert_eq!(cache.usage().0, 0);
    }

    #[test]
    fn snapshots_expire_after_the_ttl() {
        let cache = Snapshots::new(Duration::from_secs(60), DEFAULT_MAX_BYTES);
        let t0 = Instant::now();
        let id = cache.insert_at(snap(5, 1), t0);
        assert!(cache.get_at(id, t0 + Duration::from_secs(59)).is_some());
        assert!(cache.get_at(id, t0 + Duration::from_secs(60)).is_none());
        assert_eq!(cache.usage(), (0, 0));
    }

    #[test]
    fn the_byte_budget_evicts_the_least_recently_used() {
        let one = snap(10, 1).size();
        let cache = Snapshots::new(DEFAULT_TTL, one * 2);
        let a = cache.insert(snap(10, 1));
        let b = cache.insert(snap(10, 2));
        assert!(cache.get(a).is_some()); // a is now more recent than b
        let c = cache.insert(snap(10, 3));
        assert!(cache.get(b).is_none());
        assert!(cache.get(a).is_some() && cache.get(c).is_some());
        assert_eq!(cache.usage(), (2, one * 2));
        // Exact lookup by revision.
        assert_eq!(cache.find(3, "/registry/pods/default/", "").map(|(_, s)| s.rev), Some(3));
        assert!(cache.find(2, "/registry/pods/default/", "").is_none());
    }

    #[test]
    fn the_expired_answer_carries_an_inconsistent_continue_token() {
        let t = Token::new(42, 7, 10, "default/p09".into(), "/registry/pods/default/".into());
        let resp = expired_response(&t);
        assert_eq!(resp.status().as_u16(), 410);
    }
}
