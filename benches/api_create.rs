//! Benchmark: create 10,000 Pods through the HTTP API with 8 concurrent clients, on the
//! embedded store and on etcd, beside the raw put rate of the same store measured in the
//! same run. Prints figures; asserts nothing.
//!
//! The server runs with `--no-controllers`, so that the figures are the gateway's (with
//! controllers, every pending pod also costs scheduler writes).
//!
//! Run: `cargo bench --bench api_create` (env: PODS=10000 CLIENTS=8).

#[path = "../tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::model::{Container, ObjectMeta, Pod, PodSpec};
use actors::store::embedded::EmbeddedStore;
use actors::store::etcd::EtcdStore;
use actors::store::Store;
use harness::{Backend, Cluster};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

fn figures(total: Duration, mut lat: Vec<Duration>) -> Figures {
    lat.sort();
    Figures { rate: lat.len() as f64 / total.as_secs_f64(), p50: percentile(&lat, 0.5), p99: percentile(&lat, 0.99) }
}

/// A pod as the API would store it, encoded as the store sees it.
fn sample_pod_bytes() -> Vec<u8> {
    let pod = Pod {
        metadata: ObjectMeta {
            name: "bench-00000".into(),
            namespace: Some("default".into()),
            uid: "00000000-0000-4000-8000-000000000000".into(),
            creation_timestamp: Some("2026-01-01T00:00:00Z".into()),
            labels: [("app".to_string(), "bench".to_string())].into(),
            ..Default::default()
        },
        spec: PodSpec {
            containers: vec![Container { name: "web".into(), image: Some("hello:v1".into()), ..Default::default() }],
            ..Default::default()
        },
        ..Default::default()
    };
    api::codec::encode(&pod).expect("encode pod")
}

/// Raw store: `n` creates from `clients` concurrent tasks.
async fn raw_puts(store: Arc<dyn Store>, n: usize, clients: usize) -> Figures {
    let value = sample_pod_bytes();
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let store = store.clone();
            let value = value.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                for i in (c..n).step_by(clients) {
                    let t = Instant::now();
                    store.create(&format!("/registry/pods/default/raw-{i:05}"), value.clone(), None).await.expect("raw create");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("raw task"));
    }
    figures(start.elapsed(), lat)
}

/// Through the gateway: `n` POSTs from `clients` threads.
fn api_creates(url: &str, n: usize, clients: usize) -> Figures {
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let api = harness::Api::new(url);
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                for i in (c..n).step_by(clients) {
                    let pod = json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": format!("bench-{i:05}"), "labels": {"app": "bench"}},
                        "spec": {"containers": [{"name": "web", "image": "hello:v1"}]}});
                    let t = Instant::now();
                    let (code, body) = api.post("/api/v1/namespaces/default/pods", &pod).expect("POST pod");
                    assert_eq!(code, 201, "{body}");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().expect("client thread"));
    }
    figures(start.elapsed(), lat)
}

fn report(backend: &str, n: usize, clients: usize, raw: &Figures, api: &Figures) {
    println!("backend {backend}: {n} pod creates, {clients} concurrent clients");
    println!("  raw store puts : {:>9.0} /s   p50 {:>8.2?}   p99 {:>8.2?}", raw.rate, raw.p50, raw.p99);
    println!("  API creates    : {:>9.0} /s   p50 {:>8.2?}   p99 {:>8.2?}", api.rate, api.p50, api.p99);
    println!(
        "  gateway keeps {:.0}% of the raw store rate (target >= 50%); API p99 {:.1} ms (target < 50 ms)",
        100.0 * api.rate / raw.rate,
        api.p99.as_secs_f64() * 1000.0
    );
}

fn main() {
    let n = env_usize("PODS", 10_000);
    let clients = env_usize("CLIENTS", 8);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");

    // Embedded store: raw, then the same through `shoal up`.
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(dir.path()).expect("open embedded store"));
        raw_puts(store, n, clients).await
    });
    let cluster = Cluster::with_args(Backend::Embedded, &["--no-controllers"]);
    let api = api_creates(&cluster.url, n, clients);
    drop(cluster);
    report("embedded (redb)", n, clients, &raw, &api);

    // etcd: raw against one etcd, then `shoal server` on another.
    let raw_etcd = harness::Etcd::start(dir.path());
    let endpoint = format!("http://{}", raw_etcd.client_addr);
    let raw = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(EtcdStore::connect(&[endpoint]).await.expect("connect etcd"));
        raw_puts(store, n, clients).await
    });
    drop(raw_etcd);
    let cluster = Cluster::with_args(Backend::Etcd, &["--no-controllers"]);
    let api = api_creates(&cluster.url, n, clients);
    drop(cluster);
    report("etcd", n, clients, &raw, &api);
}
