//! Optimistic concurrency through the HTTP API: racing read-modify-write clients lose no
//! update, and a stale write gets 409.

mod harness;

use harness::{Api, Backend, Cluster};
use serde_json::{json, Value};

const PATH: &str = "/api/v1/namespaces/default/services/counter";

fn increment(api: &Api) -> u32 {
    let mut conflicts = 0;
    loop {
        let (code, mut obj) = api.get(PATH).expect("GET");
        assert_eq!(code, 200, "{obj}");
        let n: u64 = obj["metadata"]["annotations"]["count"].as_str().unwrap_or("0").parse().unwrap_or(0);
        obj["metadata"]["annotations"]["count"] = Value::String((n + 1).to_string());
        let (code, body) = api.put(PATH, &obj).expect("PUT");
        match code {
            200 => return conflicts,
            409 => conflicts += 1,
            other => panic!("PUT answered {other}: {body}"),
        }
    }
}

fn two_writers_lose_nothing(backend: Backend) {
    let cluster = Cluster::start(backend);
    let api = cluster.api();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "counter", "annotations": {"count": "0"}},
        "spec": {"clusterIP": "None", "ports": [{"port": 80}]}
    });
    assert_eq!(api.post("/api/v1/namespaces/default/services", &svc).unwrap().0, 201);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let api = api.clone();
            std::thread::spawn(move || (0..500).map(|_| increment(&api)).sum::<u32>())
        })
        .collect();
    let conflicts: u32 = handles.into_iter().map(|h| h.join().expect("writer thread")).sum();
    let (_, obj) = api.get(PATH).unwrap();
    assert_eq!(obj["metadata"]["annotations"]["count"], "1000", "lost updates ({conflicts} conflicts retried)");

    // A write carrying an old resourceVersion is refused.
    let mut stale = obj.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let (code, status) = api.put(PATH, &stale).unwrap();
    assert_eq!(code, 409, "{status}");
    assert_eq!(status["reason"], "Conflict");
}

#[test]
fn two_writers_500_increments_each_end_at_1000_on_embedded() {
    two_writers_lose_nothing(Backend::Embedded);
}

#[test]
fn two_writers_500_increments_each_end_at_1000_on_etcd() {
    two_writers_lose_nothing(Backend::Etcd);
}
