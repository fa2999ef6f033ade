//! The store conformance suite: one set of cases, written once over `Arc<dyn Store>`,
//! run against the embedded store (`embedded::*`) and a real etcd (`etcd::*`). It is the
//! proof that both backends give the same semantics: revisions, compare-and-swap, watch
//! from a revision, leases and compaction. The crash tests at the bottom SIGKILL a writer
//! process (and, for etcd, the server) and check that every acknowledged write survived.

#[path = "support/etcd.rs"]
mod etcd_support;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::store::embedded::EmbeddedStore;
use actors::store::{EventKind, KeyValue, Revision, Store, StoreError, WatchEvent, WatchStream};
use etcd_support::EtcdServer;
use futures::StreamExt;

/// Generates one test per case and backend: `embedded::<case>` and `etcd::<case>`.
/// The embedded store runs on a current-thread runtime (as under actix-rt), etcd on a
/// multi-thread one.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store: std::sync::Arc<dyn actors::store::Store> = std::sync::Arc::new(
                        actors::store::embedded::EmbeddedStore::open(dir.path()).expect("open embedded store"),
                    );
                    super::cases::$case(store).await;
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let server = super::EtcdServer::start().await;
                    let store: std::sync::Arc<dyn actors::store::Store> = std::sync::Arc::new(server.connect().await);
                    super::cases::$case(store).await;
                    drop(server);
                }
            )*
        }
    };
}

conformance!(
    get_create_and_already_exists,
    update_with_current_and_stale_revision,
    delete_with_and_without_precondition,
    revisions_increase_by_one_per_write,
    list_returns_only_the_prefix_sorted_with_revision,
    watch_replays_history_in_order_then_live_events,
    resumed_watch_sees_every_event_exactly_once,
    watch_from_zero_sees_only_new_events,
    watch_from_before_compaction_is_compacted,
    lease_expiry_deletes_attached_keys,
    keep_alive_extends_a_lease,
    revoke_deletes_attached_keys,
    update_keeps_the_lease,
    concurrent_cas_increments_lose_nothing,
);

/// How long a test waits for one watch event before failing.
const EVENT_DEADLINE: Duration = Duration::from_secs(10);

fn kv(key: &str, value: &str, create: Revision, modified: Revision, version: i64, lease: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: value.as_bytes().to_vec(),
        create_revision: create,
        mod_revision: modified,
        version,
        lease,
    }
}

/// What a delete event carries as `kv`: only the key and the delete's revision.
fn tombstone(key: &str, rev: Revision) -> KeyValue {
    kv(key, "", 0, rev, 0, 0)
}

fn put(kv: KeyValue, prev: Option<KeyValue>) -> WatchEvent {
    WatchEvent::new(EventKind::Put, kv, prev)
}

fn del(key: &str, rev: Revision, prev: KeyValue) -> WatchEvent {
    WatchEvent::new(EventKind::Delete, tombstone(key, rev), Some(prev))
}

async fn next_event(stream: &mut WatchStream, what: &str) -> WatchEvent {
    match tokio::time::timeout(EVENT_DEADLINE, stream.next()).await {
        Ok(Some(Ok(ev))) => ev,
        Ok(Some(Err(e))) => panic!("{what}: watch failed: {e}"),
        Ok(None) => panic!("{what}: watch ended"),
        Err(_) => panic!("{what}: no watch event within {EVENT_DEADLINE:?}"),
    }
}

async fn next_events(stream: &mut WatchStream, n: usize, what: &str) -> Vec<WatchEvent> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(next_event(stream, &format!("{what} (event {i} of {n}, got so far: {out:?})")).await);
    }
    out
}

/// Polls `check` until it returns `Ok`, failing with its last observation at `deadline`.
async fn wait_for<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let end = Instant::now() + deadline;
    loop {
        match check().await {
            Ok(()) => return,
            Err(seen) if Instant::now() > end => panic!("{what}: not true after {deadline:?}; observed: {seen}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

mod cases {
    use super::*;

    pub async fn get_create_and_already_exists(s: Arc<dyn Store>) {
        assert_eq!(s.get("/c/a").await.expect("get missing"), None);
        let rev = s.create("/c/a", b"one".to_vec(), None).await.expect("create");
        assert_eq!(s.get("/c/a").await.expect("get"), Some(kv("/c/a", "one", rev, rev, 1, 0)));
        match s.create("/c/a", b"two".to_vec(), None).await {
            Err(StoreError::AlreadyExists { key }) => assert_eq!(key, "/c/a"),
            other => panic!("second create: expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(s.get("/c/a").await.expect("get"), Some(kv("/c/a", "one", rev, rev, 1, 0)));
        assert_eq!(s.current_revision().await.expect("revision"), rev, "a failed create writes nothing");
        let empty = s.create("/c/empty", Vec::new(), None).await.expect("create empty value");
        assert_eq!(s.get("/c/empty").await.expect("get"), Some(kv("/c/empty", "", empty, empty, 1, 0)));
    }

    pub async fn update_with_current_and_stale_revision(s: Arc<dyn Store>) {
        let r1 = s.create("/u/a", b"v1".to_vec(), None).await.expect("create");
        let r2 = s.update("/u/a", b"v2".to_vec(), r1).await.expect("update at the current revision");
        assert!(r2 > r1);
        let current = kv("/u/a", "v2", r1, r2, 2, 0);
        assert_eq!(s.get("/u/a").await.expect("get"), Some(current.clone()));
        match s.update("/u/a", b"stale".to_vec(), r1).await {
            Err(StoreError::Conflict { key, expected, current: Some(seen) }) => {
                assert_eq!((key.as_str(), expected), ("/u/a", r1));
                assert_eq!(seen, current, "Conflict carries the key as it is now");
            }
            other => panic!("stale update: expected Conflict, got {other:?}"),
        }
        match s.update("/u/missing", b"x".to_vec(), r1).await {
            Err(StoreError::NotFound { key }) => assert_eq!(key, "/u/missing"),
            other => panic!("update of a missing key: expected NotFound, got {other:?}"),
        }
        match s.update("/u/missing", b"x".to_vec(), 0).await {
            Err(StoreError::NotFound { .. }) => {}
            other => panic!("update of a missing key at revision 0 must not create it: {other:?}"),
        }
        assert_eq!(s.get("/u/missing").await.expect("get"), None);
        assert_eq!(s.current_revision().await.expect("revision"), r2, "failed updates write nothing");
        let r3 = s.update("/u/a", b"v3".to_vec(), r2).await.expect("update again");
        assert_eq!(s.get("/u/a").await.expect("get"), Some(kv("/u/a", "v3", r1, r3, 3, 0)));
    }

    pub async fn delete_with_and_without_precondition(s: Arc<dyn Store>) {
        let ra = s.create("/d/a", b"a".to_vec(), None).await.expect("create a");
        let rb = s.create("/d/b", b"b".to_vec(), None).await.expect("create b");
        match s.delete("/d/a", Some(rb)).await {
            Err(StoreError::Conflict { key, expected, current }) => {
                assert_eq!((key.as_str(), expected), ("/d/a", rb));
                assert_eq!(current, Some(kv("/d/a", "a", ra, ra, 1, 0)));
            }
            other => panic!("delete with a stale revision: expected Conflict, got {other:?}"),
        }
        assert!(s.get("/d/a").await.expect("get").is_some(), "a failed delete leaves the key");
        assert_eq!(s.current_revision().await.expect("revision"), rb);

        let (rd, prev) = s.delete("/d/a", Some(ra)).await.expect("delete at the current revision");
        assert_eq!(rd, rb + 1);
        assert_eq!(prev, kv("/d/a", "a", ra, ra, 1, 0), "delete returns the key as it was");
        assert_eq!(s.get("/d/a").await.expect("get"), None);

        let (rd2, prev) = s.delete("/d/b", None).await.expect("unconditional delete");
        assert_eq!((rd2, prev), (rd + 1, kv("/d/b", "b", rb, rb, 1, 0)));
        for (key, expected) in [("/d/b", None), ("/d/b", Some(rb)), ("/d/never", None)] {
            match s.delete(key, expected).await {
                Err(StoreError::NotFound { key: k }) => assert_eq!(k, key),
                other => panic!("delete of missing {key} ({expected:?}): expected NotFound, got {other:?}"),
            }
        }
        assert_eq!(s.current_revision().await.expect("revision"), rd2, "deleting a missing key writes nothing");

        let again = s.create("/d/a", b"again".to_vec(), None).await.expect("re-create");
        assert_eq!(s.get("/d/a").await.expect("get"), Some(kv("/d/a", "again", again, again, 1, 0)));
    }

    pub async fn revisions_increase_by_one_per_write(s: Arc<dyn Store>) {
        let mut last = s.current_revision().await.expect("revision");
        for i in 0..10 {
            let key = format!("/rev/{i}");
            let c = s.create(&key, b"x".to_vec(), None).await.expect("create");
            assert_eq!(c, last + 1, "create {key}");
            let u = s.update(&key, b"y".to_vec(), c).await.expect("update");
            assert_eq!(u, c + 1, "update {key}");
            let got = s.get(&key).await.expect("get").expect("present");
            assert_eq!((got.create_revision, got.mod_revision, got.version), (c, u, 2));
            last = u;
            if i % 2 == 0 {
                let (d, _) = s.delete(&key, Some(u)).await.expect("delete");
                assert_eq!(d, u + 1, "delete {key}");
                last = d;
            }
            assert_eq!(s.current_revision().await.expect("revision"), last);
        }
    }

    pub async fn list_returns_only_the_prefix_sorted_with_revision(s: Arc<dyn Store>) {
        let mut revs = std::collections::HashMap::new();
        for key in ["/l/a/3", "/l/a/1", "/l/ab", "/l/a/2", "/l/b/1", "/l/a"] {
            revs.insert(key, s.create(key, key.as_bytes().to_vec(), None).await.expect("create"));
        }
        let listed = s.list("/l/a/").await.expect("list");
        let want: Vec<KeyValue> = ["/l/a/1", "/l/a/2", "/l/a/3"]
            .iter()
            .map(|k| kv(k, k, revs[k], revs[k], 1, 0))
            .collect();
        assert_eq!(listed.kvs, want);
        let current = s.current_revision().await.expect("revision");
        assert_eq!(listed.revision, current);

        let all = s.list("/l/").await.expect("list all");
        let keys: Vec<&str> = all.kvs.iter().map(|k| k.key.as_str()).collect();
        assert_eq!(keys, ["/l/a", "/l/a/1", "/l/a/2", "/l/a/3", "/l/ab", "/l/b/1"]);

        let none = s.list("/nothing/").await.expect("list empty");
        assert!(none.kvs.is_empty());
        assert_eq!(none.revision, current, "an empty list still reports the revision");

        let whole = s.list("").await.expect("list everything");
        assert_eq!(whole.kvs, all.kvs, "the empty prefix lists every key");
    }

    pub async fn watch_replays_history_in_order_then_live_events(s: Arc<dyn Store>) {
        let r1 = s.create("/w/a", b"a1".to_vec(), None).await.expect("create a");
        let r2 = s.update("/w/a", b"a2".to_vec(), r1).await.expect("update a");
        s.create("/other/x", b"x".to_vec(), None).await.expect("create elsewhere");
        let r4 = s.create("/w/b", b"b1".to_vec(), None).await.expect("create b");
        let (r5, _) = s.delete("/w/a", None).await.expect("delete a");

        let mut w = s.watch("/w/", r1).await.expect("watch from r1");
        let history = next_events(&mut w, 4, "history").await;
        assert_eq!(
            history,
            vec![
                put(kv("/w/a", "a1", r1, r1, 1, 0), None),
                put(kv("/w/a", "a2", r1, r2, 2, 0), Some(kv("/w/a", "a1", r1, r1, 1, 0))),
                put(kv("/w/b", "b1", r4, r4, 1, 0), None),
                del("/w/a", r5, kv("/w/a", "a2", r1, r2, 2, 0)),
            ]
        );

        let r6 = s.update("/w/b", b"b2".to_vec(), r4).await.expect("update b");
        s.create("/other/y", b"y".to_vec(), None).await.expect("create elsewhere");
        let (r8, _) = s.delete("/w/b", Some(r6)).await.expect("delete b");
        let live = next_events(&mut w, 2, "live").await;
        assert_eq!(
            live,
            vec![
                put(kv("/w/b", "b2", r4, r6, 2, 0), Some(kv("/w/b", "b1", r4, r4, 1, 0))),
                del("/w/b", r8, kv("/w/b", "b2", r4, r6, 2, 0)),
            ]
        );

        // A watch starting mid-history begins exactly there.
        let mut mid = s.watch("/w/", r4).await.expect("watch from r4");
        assert_eq!(next_event(&mut mid, "from r4").await.revision(), r4);
        assert_eq!(next_event(&mut mid, "from r4").await.revision(), r5);
    }

    pub async fn resumed_watch_sees_every_event_exactly_once(s: Arc<dyn Store>) {
        // 20 writes before the first watch, 10 while nobody watches, then a sentinel.
        let mut expected: Vec<(Revision, EventKind, String)> = Vec::new();
        async fn write(s: &Arc<dyn Store>, i: usize, expected: &mut Vec<(Revision, EventKind, String)>) {
            let key = format!("/rs/k{}", i % 4);
            let (rev, kind) = match s.get(&key).await.expect("get") {
                None => (s.create(&key, format!("{i}").into_bytes(), None).await.expect("create"), EventKind::Put),
                Some(cur) if i.is_multiple_of(3) => (s.delete(&key, Some(cur.mod_revision)).await.expect("delete").0, EventKind::Delete),
                Some(cur) => (
                    s.update(&key, format!("{i}").into_bytes(), cur.mod_revision).await.expect("update"),
                    EventKind::Put,
                ),
            };
            expected.push((rev, kind, key));
        }
        for i in 0..20 {
            write(&s, i, &mut expected).await;
        }
        let from = expected[0].0;

        let mut first = s.watch("/rs/", from).await.expect("first watch");
        let seen_first = next_events(&mut first, 12, "first watch").await;
        drop(first);
        let last_seen = seen_first.last().map(|e| e.revision()).expect("12 events");

        for i in 20..30 {
            write(&s, i, &mut expected).await;
        }
        let mut second = s.watch("/rs/", last_seen + 1).await.expect("resumed watch");
        let seen_second = next_events(&mut second, 18, "resumed watch").await;

        let sentinel = s.create("/rs/sentinel", Vec::new(), None).await.expect("sentinel");
        let after = next_event(&mut second, "sentinel").await;
        assert_eq!((after.revision(), after.kv.key.as_str()), (sentinel, "/rs/sentinel"), "no extra events before the sentinel");

        let seen: Vec<(Revision, EventKind, String)> = seen_first
            .iter()
            .chain(seen_second.iter())
            .map(|e| (e.revision(), e.kind, e.kv.key.clone()))
            .collect();
        assert_eq!(seen, expected, "both watches together: every event once, in order");
        for pair in seen.windows(2) {
            assert_eq!(pair[1].0, pair[0].0 + 1, "no gaps between revisions");
        }
    }

    pub async fn watch_from_zero_sees_only_new_events(s: Arc<dyn Store>) {
        let old = s.create("/z/old", b"old".to_vec(), None).await.expect("create old");
        s.update("/z/old", b"older".to_vec(), old).await.expect("update old");
        let mut w = s.watch("/z/", 0).await.expect("watch from now");
        let new = s.create("/z/new", b"new".to_vec(), None).await.expect("create new");
        let ev = next_event(&mut w, "first event after watch(0)").await;
        assert_eq!(ev, put(kv("/z/new", "new", new, new, 1, 0), None));
    }

    pub async fn watch_from_before_compaction_is_compacted(s: Arc<dyn Store>) {
        let mut revs = Vec::new();
        for i in 0..5 {
            revs.push(s.create(&format!("/cp/{i}"), b"v".to_vec(), None).await.expect("create"));
        }
        s.compact(revs[2]).await.expect("compact");
        match s.watch("/cp/", revs[1]).await {
            Err(StoreError::Compacted { requested, compacted }) => {
                assert_eq!((requested, compacted), (revs[1], revs[2]));
            }
            Err(e) => panic!("watch from before compaction: expected Compacted, got {e}"),
            Ok(_) => panic!("watch from before compaction: expected Compacted, got a stream"),
        }
        let mut w = s.watch("/cp/", revs[2]).await.expect("watch from the compaction point");
        let evs = next_events(&mut w, 3, "after compaction").await;
        assert_eq!(evs.iter().map(|e| e.revision()).collect::<Vec<_>>(), revs[2..].to_vec());

        let listed = s.list("/cp/").await.expect("list after compaction");
        assert_eq!(listed.kvs.len(), 5, "compaction forgets history, not keys");
        match s.compact(revs[2]).await {
            Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, revs[2]),
            other => panic!("compacting twice at one revision: expected Compacted, got {other:?}"),
        }
    }

    pub async fn lease_expiry_deletes_attached_keys(s: Arc<dyn Store>) {
        let lease = s.grant_lease(2).await.expect("grant");
        let mut w = s.watch("/le/", 0).await.expect("watch");
        let rl = s.create("/le/leased", b"l".to_vec(), Some(lease)).await.expect("create leased");
        let rf = s.create("/le/free", b"f".to_vec(), None).await.expect("create free");
        assert_eq!(s.get("/le/leased").await.expect("get"), Some(kv("/le/leased", "l", rl, rl, 1, lease)));

        wait_for("leased key deleted after expiry", Duration::from_secs(15), || {
            let s = s.clone();
            async move {
                match s.get("/le/leased").await {
                    Ok(None) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        assert_eq!(s.get("/le/free").await.expect("get"), Some(kv("/le/free", "f", rf, rf, 1, 0)));

        let evs = next_events(&mut w, 3, "lease watch").await;
        assert_eq!(evs[0].kv.key, "/le/leased");
        assert_eq!(evs[1].kv.key, "/le/free");
        assert_eq!(evs[2].kind, EventKind::Delete);
        assert_eq!(evs[2].prev, Some(kv("/le/leased", "l", rl, rl, 1, lease)));
        assert_eq!(evs[2].kv, tombstone("/le/leased", evs[2].revision()));
        assert!(evs[2].revision() > rf);

        match s.keep_alive(lease).await {
            Err(StoreError::LeaseNotFound(id)) => assert_eq!(id, lease),
            other => panic!("keep_alive after expiry: expected LeaseNotFound, got {other:?}"),
        }
        match s.create("/le/late", b"x".to_vec(), Some(lease)).await {
            Err(StoreError::LeaseNotFound(id)) => assert_eq!(id, lease),
            other => panic!("create on an expired lease: expected LeaseNotFound, got {other:?}"),
        }
        assert_eq!(s.get("/le/late").await.expect("get"), None);
    }

    pub async fn keep_alive_extends_a_lease(s: Arc<dyn Store>) {
        let lease = s.grant_lease(2).await.expect("grant");
        s.create("/ka/key", b"k".to_vec(), Some(lease)).await.expect("create leased");
        // Keep it alive for well past its TTL.
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            s.keep_alive(lease).await.expect("keep_alive on a live lease");
            assert!(s.get("/ka/key").await.expect("get").is_some(), "key vanished while its lease was kept alive");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        wait_for("key deleted once keep-alives stop", Duration::from_secs(15), || {
            let s = s.clone();
            async move {
                match s.get("/ka/key").await {
                    Ok(None) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        assert!(matches!(s.keep_alive(lease).await, Err(StoreError::LeaseNotFound(id)) if id == lease));
    }

    pub async fn revoke_deletes_attached_keys(s: Arc<dyn Store>) {
        let lease = s.grant_lease(60).await.expect("grant");
        let other = s.grant_lease(60).await.expect("grant another");
        assert_ne!(lease, other);
        s.create("/rv/a", b"a".to_vec(), Some(lease)).await.expect("create a");
        s.create("/rv/b", b"b".to_vec(), Some(lease)).await.expect("create b");
        s.create("/rv/c", b"c".to_vec(), None).await.expect("create c");
        s.create("/rv/d", b"d".to_vec(), Some(other)).await.expect("create d");
        let before = s.current_revision().await.expect("revision");
        let mut w = s.watch("/rv/", 0).await.expect("watch");

        s.revoke_lease(lease).await.expect("revoke");
        assert_eq!(s.get("/rv/a").await.expect("get"), None);
        assert_eq!(s.get("/rv/b").await.expect("get"), None);
        assert!(s.get("/rv/c").await.expect("get").is_some(), "unleased key stays");
        assert!(s.get("/rv/d").await.expect("get").is_some(), "a key on another lease stays");
        let evs = next_events(&mut w, 2, "revoke deletes").await;
        let mut deleted: Vec<&str> = evs.iter().map(|e| e.kv.key.as_str()).collect();
        deleted.sort_unstable();
        assert_eq!(deleted, ["/rv/a", "/rv/b"]);
        assert!(evs.iter().all(|e| e.kind == EventKind::Delete && e.revision() > before && e.prev.is_some()));

        assert!(matches!(s.keep_alive(lease).await, Err(StoreError::LeaseNotFound(id)) if id == lease));
        assert!(matches!(s.revoke_lease(lease).await, Err(StoreError::LeaseNotFound(id)) if id == lease));
        s.keep_alive(other).await.expect("the other lease is alive");
    }

    pub async fn update_keeps_the_lease(s: Arc<dyn Store>) {
        let lease = s.grant_lease(60).await.expect("grant");
        let r1 = s.create("/ul/a", b"1".to_vec(), Some(lease)).await.expect("create");
        let r2 = s.update("/ul/a", b"2".to_vec(), r1).await.expect("update");
        assert_eq!(s.get("/ul/a").await.expect("get"), Some(kv("/ul/a", "2", r1, r2, 2, lease)));
        s.revoke_lease(lease).await.expect("revoke");
        assert_eq!(s.get("/ul/a").await.expect("get"), None, "the updated key still belonged to the lease");
    }

    pub async fn concurrent_cas_increments_lose_nothing(s: Arc<dyn Store>) {
        const TASKS: usize = 8;
        const INCREMENTS: usize = 100;
        let r0 = s.create("/cas/counter", b"0".to_vec(), None).await.expect("create counter");
        let mut handles = Vec::new();
        for _ in 0..TASKS {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                let mut conflicts = 0usize;
                for _ in 0..INCREMENTS {
                    loop {
                        let cur = s.get("/cas/counter").await.expect("get").expect("counter exists");
                        let n: u64 = std::str::from_utf8(&cur.value).expect("utf8").parse().expect("number");
                        match s.update("/cas/counter", (n + 1).to_string().into_bytes(), cur.mod_revision).await {
                            Ok(_) => break,
                            Err(StoreError::Conflict { current: Some(now), .. }) => {
                                assert!(now.mod_revision > cur.mod_revision, "a conflict means someone else wrote");
                                conflicts += 1;
                            }
                            Err(e) => panic!("update failed: {e}"),
                        }
                    }
                }
                conflicts
            }));
        }
        let mut conflicts = 0;
        for h in handles {
            conflicts += h.await.expect("increment task");
        }
        let end = s.get("/cas/counter").await.expect("get").expect("counter exists");
        assert_eq!(end.value, b"800".to_vec(), "{conflicts} conflicts were retried");
        assert_eq!(end.version, (TASKS * INCREMENTS + 1) as i64);
        assert_eq!(end.mod_revision, r0 + (TASKS * INCREMENTS) as i64, "one revision per successful update");
    }
}

// ---------------------------------------------------------------------------------------
// Embedded only: durability across reopen

#[tokio::test]
async fn embedded_reopen_keeps_data_revision_compaction_and_leases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rev, compacted, lease, leased_rev);
    {
        let s = EmbeddedStore::open(dir.path()).expect("open");
        let r1 = s.create("/ro/a", b"a".to_vec(), None).await.expect("create");
        s.update("/ro/a", b"a2".to_vec(), r1).await.expect("update");
        s.create("/ro/b", b"b".to_vec(), None).await.expect("create");
        compacted = s.create("/ro/c", b"c".to_vec(), None).await.expect("create");
        s.delete("/ro/b", None).await.expect("delete");
        s.compact(compacted).await.expect("compact");
        lease = s.grant_lease(60).await.expect("grant");
        leased_rev = s.create("/ro/leased", b"l".to_vec(), Some(lease)).await.expect("create leased");
        rev = s.current_revision().await.expect("revision");
        let mut w = s.watch("/ro/", compacted).await.expect("watch");
        next_event(&mut w, "before reopen").await;
    }
    let s = EmbeddedStore::open(dir.path()).expect("reopen");
    assert_eq!(s.current_revision().await.expect("revision"), rev);
    let listed = s.list("/ro/").await.expect("list");
    let keys: Vec<(&str, &[u8])> = listed.kvs.iter().map(|k| (k.key.as_str(), k.value.as_slice())).collect();
    assert_eq!(keys, [("/ro/a", &b"a2"[..]), ("/ro/c", b"c"), ("/ro/leased", b"l")]);
    assert_eq!(s.get("/ro/leased").await.expect("get"), Some(kv("/ro/leased", "l", leased_rev, leased_rev, 1, lease)));
    match s.watch("/ro/", compacted - 1).await {
        Err(StoreError::Compacted { requested, compacted: c }) => assert_eq!((requested, c), (compacted - 1, compacted)),
        Err(e) => panic!("expected Compacted, got {e}"),
        Ok(_) => panic!("expected Compacted, got a stream"),
    }
    let mut w = s.watch("/ro/", compacted).await.expect("watch from the compaction point");
    let evs = next_events(&mut w, 3, "replay after reopen").await;
    assert_eq!(evs.iter().map(|e| e.revision()).collect::<Vec<_>>(), vec![compacted, compacted + 1, leased_rev]);
    s.keep_alive(lease).await.expect("a surviving lease gets a fresh TTL");
    assert_eq!(s.create("/ro/d", Vec::new(), None).await.expect("create after reopen"), rev + 1);
}

#[tokio::test]
async fn embedded_open_fails_cleanly_while_open_elsewhere_in_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = EmbeddedStore::open(dir.path()).expect("open");
    match EmbeddedStore::open(dir.path()) {
        Err(StoreError::Unavailable(_)) => {}
        Err(e) => panic!("second open: expected Unavailable, got {e}"),
        Ok(_) => panic!("second open of the same store succeeded"),
    }
}

// ---------------------------------------------------------------------------------------
// Crash tests: a writer in another process is SIGKILLed; every acknowledged write survives.

const CRASH_DIR_ENV: &str = "SHOAL_CRASH_CHILD_DIR";
const CRASH_ETCD_ENV: &str = "SHOAL_CRASH_CHILD_ETCD";
const CRASH_DEADLINE: Duration = Duration::from_secs(90);

fn crash_key(n: u64) -> String {
    format!("/crash/k{n:06}")
}

fn crash_value(n: u64) -> Vec<u8> {
    format!("value-{n}-{}", "x".repeat(64)).into_bytes()
}

/// Re-runs this test binary as a writer child that runs only `test_name`.
struct CrashChild {
    child: std::process::Child,
    acks: std::sync::mpsc::Receiver<u64>,
    last: u64,
}

impl CrashChild {
    fn spawn(test_name: &str, env: (&str, &str)) -> Self {
        let exe = std::env::current_exe().expect("current test binary");
        let mut child = Command::new(exe)
            .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
            .env(env.0, env.1)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn crash child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, acks) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest may print "test <name> ... " on the same line as the first ack.
                let ack = line.rfind("ack ").and_then(|i| line[i + 4..].trim().parse::<u64>().ok());
                if let Some(n) = ack {
                    if tx.send(n).is_err() {
                        break;
                    }
                }
            }
        });
        CrashChild { child, acks, last: 0 }
    }

    /// Waits until the child has acknowledged at least `n` writes.
    fn wait_acks(&mut self, n: u64) {
        let end = Instant::now() + CRASH_DEADLINE;
        while self.last < n {
            let left = end.saturating_duration_since(Instant::now());
            match self.acks.recv_timeout(left) {
                Ok(a) => {
                    assert_eq!(a, self.last + 1, "acks come in order");
                    self.last = a;
                }
                Err(e) => panic!("crash child acknowledged only {} of {n} writes ({e:?})", self.last),
            }
        }
    }

    /// SIGKILLs the child and returns the last write it acknowledged.
    fn kill(mut self) -> u64 {
        self.child.kill().expect("SIGKILL the crash child");
        let _ = self.child.wait();
        // Acks already printed before the kill count too.
        while let Ok(a) = self.acks.recv_timeout(Duration::from_millis(200)) {
            assert_eq!(a, self.last + 1, "acks come in order");
            self.last = a;
        }
        self.last
    }
}

impl Drop for CrashChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn check_acked(s: &dyn Store, acked: u64) {
    for n in 1..=acked {
        let got = s.get(&crash_key(n)).await.expect("get after crash");
        match got {
            Some(kv) => assert_eq!(kv.value, crash_value(n), "acked write {n} has the wrong value"),
            None => panic!("acknowledged write {n} of {acked} is missing after the crash"),
        }
    }
}

#[tokio::test]
async fn embedded_crash_keeps_acknowledged_writes() {
    if let Ok(dir) = std::env::var(CRASH_DIR_ENV) {
        let s = EmbeddedStore::open(std::path::Path::new(&dir)).expect("child: open store");
        for n in 1..=1_000_000u64 {
            s.create(&crash_key(n), crash_value(n), None).await.expect("child: write");
            println!("ack {n}");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 tempdir").to_owned();
    let mut child = CrashChild::spawn("embedded_crash_keeps_acknowledged_writes", (CRASH_DIR_ENV, &path));
    child.wait_acks(200);
    let acked = child.kill();
    assert!(acked >= 200);

    let s = EmbeddedStore::open(dir.path()).expect("reopen after SIGKILL");
    check_acked(&s, acked).await;
    let rev = s.current_revision().await.expect("revision");
    assert!(rev >= acked as i64, "revision {rev} below {acked} acknowledged writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_crash_keeps_acknowledged_writes() {
    if let Ok(endpoint) = std::env::var(CRASH_ETCD_ENV) {
        etcd_crash_child(endpoint).await;
        return;
    }
    let mut server = EtcdServer::start().await;
    let mut child = CrashChild::spawn("etcd_crash_keeps_acknowledged_writes", (CRASH_ETCD_ENV, &server.endpoint()));
    child.wait_acks(100);
    server.kill(); // SIGKILL etcd mid-way through the writes
    let at_server_kill = child.last;
    server.restart().await;
    child.wait_acks(at_server_kill.max(100) + 100);
    let acked = child.kill();
    assert!(acked >= 200);

    let s = server.connect().await;
    check_acked(&s, acked).await;
    assert!(server.data_dir().exists());
}

/// The etcd crash child: writes keys in order, retrying across the server's restart.
async fn etcd_crash_child(endpoint: String) {
    let connect = || async {
        loop {
            match actors::store::etcd::EtcdStore::connect(std::slice::from_ref(&endpoint)).await {
                Ok(s) => return s,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    let mut s = connect().await;
    for n in 1..=1_000_000u64 {
        loop {
            match tokio::time::timeout(Duration::from_secs(3), s.create(&crash_key(n), crash_value(n), None)).await {
                Ok(Ok(_)) => break,
                // An attempt that failed on the client may have committed on the server.
                Ok(Err(StoreError::AlreadyExists { .. })) => {
                    match s.get(&crash_key(n)).await {
                        Ok(Some(kv)) if kv.value == crash_value(n) => break,
                        other => panic!("child: {} exists with unexpected content: {other:?}", crash_key(n)),
                    }
                }
                Ok(Err(_)) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    s = connect().await;
                }
            }
        }
        println!("ack {n}");
    }
}
