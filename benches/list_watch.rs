//! Benchmark: LIST and watch fan-out at 10,000 pods on the embedded store.
//!
//! 1. 10,000 Pods are created through the API (no nodes: they stay Pending, and the
//!    server is left to go quiet before anything is timed).
//! 2. LIST of all of them as JSON, as a server-side Table, and paginated (limit=500,
//!    following `continue`), each the median of RUNS runs; the client only reads the
//!    body, it does not parse it.
//! 3. The raw store's list of the same prefix (`/registry/pods/default/`), measured in the
//!    same run: the server holds the embedded store (redb) open with an exclusive lock,
//!    so the server is stopped and the same data directory is opened with
//!    `EmbeddedStore::open`, as benches/api_create.rs does. This measures exactly the
//!    store the server listed from (same file, same pages; the OS page cache is warm from
//!    the server's reads), which a separate etcd could not.
//! 4. The server is started again on that store; 100 watchers open a watch on the pods,
//!    then UPDATES pod updates (merge patches carrying their send time in an annotation,
//!    paced at RATE per second) are made, and every watcher records each event's delivery
//!    latency: from the moment the update was sent to the moment the watcher read the
//!    event line.
//!
//! The raw figure is the store's list alone (bytes out of redb); the same list followed
//! by decoding every value is printed beside it, to show how much of the gap is decoding.
//!
//! Prints figures and ratios (targets: LIST within 2x of the raw store read; fan-out p99
//! < 100 ms); asserts only that every answer is complete.
//!
//! Run: `cargo bench --bench list_watch` (env: PODS=10000 RUNS=5 WATCHERS=100
//! UPDATES=1000 RATE=200).

#[path = "../tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use api::model::Pod;
use actors::store::embedded::EmbeddedStore;
use actors::store::Store;
use client::Request;
use harness::{wait_for, Backend, Cluster};
use serde_json::{json, Value};

const PODS: &str = "/api/v1/namespaces/default/pods";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";
/// A small list whose resourceVersion is the store's current revision.
const REVISION: &str = "/api/v1/namespaces/default/services";
const SENT: &str = "\"bench/sent\":\"";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos()
}

/// GET returning (status, body bytes); the body is read whole but not parsed.
fn get_bytes(api: &harness::Api, path: &str, accept: &str) -> (u16, bytes::Bytes) {
    let req = Request::get(path).header("Accept", accept).timeout(Some(Duration::from_secs(120)));
    let r = api.raw(req).expect("GET");
    (r.code, r.body)
}

fn create_pods(url: &str, n: usize, clients: usize) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let api = harness::Api::new(url);
            std::thread::spawn(move || {
                for i in (c..n).step_by(clients) {
                    let pod = json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": format!("bench-{i:05}"), "labels": {"app": "bench", "shard": format!("s{}", i % 10)}},
                        "spec": {"containers": [{"name": "web", "image": "hello:v1",
                                 "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}}}]}});
                    let (code, body) = api.post(PODS, &pod).expect("POST pod");
                    assert_eq!(code, 201, "{body}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
    start.elapsed()
}

/// Waits until the list resourceVersion stops moving for two seconds (controllers done).
fn wait_quiet(api: &harness::Api) {
    let mut last = String::new();
    let mut since = Instant::now();
    wait_for("the server to go quiet", Duration::from_secs(120), || {
        let (_, l) = api.get(REVISION).map_err(|e| e.to_string())?;
        let rv = l["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
        if rv != last {
            last = rv.clone();
            since = Instant::now();
        }
        if since.elapsed() >= Duration::from_secs(2) {
            Ok(())
        } else {
            std::thread::sleep(Duration::from_millis(200));
            Err(format!("resourceVersion still moving: {rv}"))
        }
    });
}

struct Lists {
    json: Duration,
    json_bytes: usize,
    table: Duration,
    table_bytes: usize,
    paged: Duration,
    pages: usize,
    paginated: bool,
}

fn time_lists(url: &str, n: usize, runs: usize) -> Lists {
    let api = harness::Api::new(url);
    let full = PODS;

    let mut json_times = Vec::new();
    let mut json_bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (code, body) = get_bytes(&api, full, "application/json");
        json_times.push(t.elapsed());
        assert_eq!(code, 200);
        json_bytes = body.len();
    }
    let (_, body) = get_bytes(&api, full, "application/json");
    let v: Value = serde_json::from_slice(&body).expect("JSON list");
    assert_eq!(v["items"].as_array().map(Vec::len), Some(n), "the JSON list is incomplete");

    let mut table_times = Vec::new();
    let mut table_bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (code, body) = get_bytes(&api, full, TABLE);
        table_times.push(t.elapsed());
        assert_eq!(code, 200);
        table_bytes = body.len();
    }
    let (_, body) = get_bytes(&api, full, TABLE);
    let v: Value = serde_json::from_slice(&body).expect("Table");
    assert_eq!(v["kind"], "Table", "asked for a Table, got {}", v["kind"]);
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(n), "the Table is incomplete");

    let mut paged_times = Vec::new();
    let mut pages = 0;
    let mut paginated = true;
    for _ in 0..runs {
        let t = Instant::now();
        let mut token: Option<String> = None;
        let mut count = 0;
        pages = 0;
        loop {
            let url = match &token {
                Some(c) => format!("{full}?limit=500&continue={c}"),
                None => format!("{full}?limit=500"),
            };
            let (code, body) = get_bytes(&api, &url, "application/json");
            assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
            // Only the small metadata is needed here; parsing the page is part of paging.
            let v: Value = serde_json::from_slice(&body).expect("a page");
            let items = v["items"].as_array().map(Vec::len).unwrap_or(0);
            paginated &= items <= 500;
            count += items;
            pages += 1;
            token = v["metadata"]["continue"].as_str().filter(|s| !s.is_empty()).map(str::to_string);
            if token.is_none() {
                break;
            }
            assert!(pages < 1000, "pagination does not end");
        }
        paged_times.push(t.elapsed());
        assert_eq!(count, n, "the paginated list saw {count} pods");
    }
    Lists {
        json: median(json_times),
        json_bytes,
        table: median(table_times),
        table_bytes,
        paged: median(paged_times),
        pages,
        paginated,
    }
}

/// The raw store's list of the pods' prefix (median), its bytes, and the median of the
/// same list followed by decoding every value into a Pod (what any server must do first).
fn raw_list(data_dir: &std::path::Path, n: usize, runs: usize) -> (Duration, usize, Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let store = EmbeddedStore::open(data_dir).expect("opening the server's embedded store");
        let mut times = Vec::new();
        let mut decoded = Vec::new();
        let mut bytes = 0;
        for _ in 0..runs + 1 {
            let t = Instant::now();
            let l = store.list("/registry/pods/default/").await.expect("raw list");
            times.push(t.elapsed());
            assert_eq!(l.kvs.len(), n, "the store holds {} pods", l.kvs.len());
            bytes = l.kvs.iter().map(|kv| kv.value.len()).sum();
            let t = Instant::now();
            let l = store.list("/registry/pods/default/").await.expect("raw list");
            let pods: Vec<Pod> = l.kvs.iter().map(|kv| api::codec::decode(&kv.value).expect("decoding a stored pod")).collect();
            decoded.push(t.elapsed());
            assert_eq!(pods.len(), n);
        }
        // The first reads after opening are dropped; the server's lists were warm too.
        times.remove(0);
        decoded.remove(0);
        (median(times), bytes, median(decoded))
    })
}

/// One watcher: reads event lines, and for each one carrying a send time, records
/// now - sent. Ends after `expect` such events or when the stream ends.
fn watcher(url: String, path: String, expect: usize, ready: Arc<Barrier>) -> std::thread::JoinHandle<Vec<Duration>> {
    std::thread::spawn(move || {
        // A client (and runtime) per watcher, as each watcher had its own connection.
        let api = harness::Api::new(&url);
        let mut lines = api.client().lines(Request::get(path), Duration::from_secs(600)).expect("opening a watch");
        ready.wait();
        let mut lat = Vec::with_capacity(expect);
        while lat.len() < expect {
            let Some(Ok(line)) = lines.next() else { break };
            let got = now_ns();
            let line = String::from_utf8_lossy(&line);
            if let Some(i) = line.find(SENT) {
                let rest = &line[i + SENT.len()..];
                if let Some(sent) = rest.split('"').next().and_then(|s| s.parse::<u128>().ok()) {
                    lat.push(Duration::from_nanos(got.saturating_sub(sent) as u64));
                }
            }
        }
        lat
    })
}

struct FanOut {
    watchers: usize,
    updates: usize,
    delivered: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    write_p50: Duration,
    write_p99: Duration,
    elapsed: Duration,
}

fn fan_out(url: &str, n: usize, watchers: usize, updates: usize, rate: usize) -> FanOut {
    let api = harness::Api::new(url);
    let (_, l) = api.get(REVISION).expect("list");
    let rv = l["metadata"]["resourceVersion"].as_str().expect("list resourceVersion").to_string();
    let ready = Arc::new(Barrier::new(watchers + 1));
    let handles: Vec<_> =
        (0..watchers).map(|_| watcher(url.to_string(), format!("{PODS}?watch=true&resourceVersion={rv}"), updates, ready.clone())).collect();
    ready.wait();
    std::thread::sleep(Duration::from_millis(500));

    // Two writers, paced so the total is `rate` updates per second.
    let writers = 2;
    let interval = Duration::from_secs_f64(writers as f64 / rate as f64);
    let start = Instant::now();
    let writer_handles: Vec<_> = (0..writers)
        .map(|w| {
            let api = harness::Api::new(url);
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut next = Instant::now();
                for u in (w..updates).step_by(writers) {
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    next += interval;
                    let name = format!("bench-{:05}", (u * 7919) % n);
                    let body = json!({"metadata": {"annotations": {"bench/sent": now_ns().to_string()}}}).to_string();
                    let t = Instant::now();
                    let (code, b) = api.send("PATCH", &format!("{PODS}/{name}"), "application/merge-patch+json", body.as_bytes()).expect("PATCH");
                    assert_eq!(code, 200, "{b}");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut writes: Vec<Duration> = writer_handles.into_iter().flat_map(|h| h.join().expect("writer")).collect();
    let mut all = Vec::new();
    for h in handles {
        let lat = h.join().expect("watcher");
        assert_eq!(lat.len(), updates, "a watcher saw {} of {updates} updates", lat.len());
        all.extend(lat);
    }
    let elapsed = start.elapsed();
    all.sort();
    writes.sort();
    FanOut {
        watchers,
        updates,
        delivered: all.len(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        max: *all.last().unwrap_or(&Duration::ZERO),
        write_p50: percentile(&writes, 0.5),
        write_p99: percentile(&writes, 0.99),
        elapsed,
    }
}

fn main() {
    let n = env_usize("PODS", 10_000);
    let runs = env_usize("RUNS", 5);
    let watchers = env_usize("WATCHERS", 100);
    let updates = env_usize("UPDATES", 1000);
    let rate = env_usize("RATE", 200);

    let mut cluster = Cluster::start(Backend::Embedded);
    let created = create_pods(&cluster.url, n, 8);
    wait_quiet(&cluster.api());
    let lists = time_lists(&cluster.url, n, runs);

    cluster.kill_server();
    let (raw, raw_bytes, raw_decoded) = raw_list(&cluster.path().join("data"), n, runs);

    cluster.restart_server();
    wait_quiet(&cluster.api());
    let fan = fan_out(&cluster.url, n, watchers, updates, rate);

    println!("list/watch at {n} pods (embedded store), median of {runs} runs");
    println!("  created {n} pods through the API in {:.1} s", created.as_secs_f64());
    println!("  raw store list          : {:>8.1} ms   ({:.1} MB of values)", ms(raw), raw_bytes as f64 / 1e6);
    println!("  raw list + decode       : {:>8.1} ms   (bincode -> Pod for every value)", ms(raw_decoded));
    let ratio = |d: Duration| d.as_secs_f64() / raw.as_secs_f64();
    println!(
        "  LIST as JSON            : {:>8.1} ms   ({:.1} MB)   {:.2}x the raw store read (target <= 2x)",
        ms(lists.json),
        lists.json_bytes as f64 / 1e6,
        ratio(lists.json)
    );
    println!(
        "  LIST as Table           : {:>8.1} ms   ({:.1} MB)   {:.2}x",
        ms(lists.table),
        lists.table_bytes as f64 / 1e6,
        ratio(lists.table)
    );
    println!(
        "  LIST limit=500 pages    : {:>8.1} ms   ({} pages{})   {:.2}x",
        ms(lists.paged),
        lists.pages,
        if lists.paginated { "" } else { "; the server ignored limit" },
        ratio(lists.paged)
    );
    println!(
        "watch fan-out: {} watchers, {} pod updates at {rate}/s, {} deliveries in {:.1} s",
        fan.watchers,
        fan.updates,
        fan.delivered,
        fan.elapsed.as_secs_f64()
    );
    println!(
        "  delivery latency (send -> read by a watcher): p50 {:.1} ms   p99 {:.1} ms (target < 100 ms)   max {:.1} ms",
        ms(fan.p50),
        ms(fan.p99),
        ms(fan.max)
    );
    println!("  update request latency  : p50 {:.1} ms   p99 {:.1} ms", ms(fan.write_p50), ms(fan.write_p99));
}
