//! Watch through the HTTP API: resuming from the last seen resourceVersion sees every
//! event exactly once, in order; filtered watches; bookmarks; 410 past compaction.

mod harness;

use std::time::Duration;

use harness::{Backend, Cluster};
use serde_json::{json, Value};

const NS: &str = "/api/v1/namespaces/default";

fn svc(name: &str, tier: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"tier": tier}},
           "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})
}

/// Waits for the API server's own `kubernetes` Service in `default`, which the control
/// plane creates at start: tests that count or watch Services there begin after it.
fn wait_kubernetes_service(api: &harness::Api) {
    harness::wait_for("the kubernetes Service", Duration::from_secs(20), || match api.get(&format!("{NS}/services/kubernetes")) {
        Ok((200, _)) => Ok(()),
        other => Err(format!("{other:?}")),
    });
}

fn rv(v: &Value) -> i64 {
    v["object"]["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(-1)
}

fn resumed_watches_see_every_event_once(backend: Backend) {
    let cluster = Cluster::start(backend);
    let api = cluster.api();
    wait_kubernetes_service(&api);
    let (_, list) = api.get(&format!("{NS}/services")).unwrap();
    let start = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();

    // 30 writes: creates, updates, deletes.
    let mut expected: Vec<(String, String)> = Vec::new();
    for i in 0..10 {
        let name = format!("s{i}");
        let (code, _) = api.post(&format!("{NS}/services"), &svc(&name, "web")).unwrap();
        assert_eq!(code, 201);
        expected.push(("ADDED".into(), name));
    }
    for i in 0..10 {
        let name = format!("s{i}");
        let (_, mut o) = api.get(&format!("{NS}/services/{name}")).unwrap();
        o["metadata"]["annotations"] = json!({"touched": "yes"});
        assert_eq!(api.put(&format!("{NS}/services/{name}"), &o).unwrap().0, 200);
        expected.push(("MODIFIED".into(), name));
    }
    for i in 0..10 {
        let name = format!("s{i}");
        assert_eq!(api.delete(&format!("{NS}/services/{name}")).unwrap().0, 200);
        expected.push(("DELETED".into(), name));
    }

    // First watch from the start: read 13 events, then hang up.
    let first = api.watch(&format!("{NS}/services?watch=true&resourceVersion={start}"));
    let mut seen: Vec<Value> = (0..13).map(|_| first.next(Duration::from_secs(10)).expect("event on first watch")).collect();
    drop(first);
    // Second watch resumed from the last event seen.
    let last = rv(seen.last().unwrap());
    let second = api.watch(&format!("{NS}/services?watch=true&resourceVersion={last}"));
    while seen.len() < expected.len() {
        seen.push(second.next(Duration::from_secs(10)).expect("event on resumed watch"));
    }
    assert!(second.next(Duration::from_millis(300)).is_none(), "an event was delivered twice");

    let got: Vec<(String, String)> = seen
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_string(), e["object"]["metadata"]["name"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, expected);
    let revs: Vec<i64> = seen.iter().map(rv).collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "revisions not strictly increasing: {revs:?}");
}

#[test]
fn resumed_watch_sees_every_event_exactly_once_on_embedded() {
    resumed_watches_see_every_event_once(Backend::Embedded);
}

#[test]
fn resumed_watch_sees_every_event_exactly_once_on_etcd() {
    resumed_watches_see_every_event_once(Backend::Etcd);
}

#[test]
fn label_filtered_watch_turns_relabels_into_added_and_deleted() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    api.post(&format!("{NS}/services"), &svc("a", "web")).unwrap();
    // No resourceVersion: current objects first, as ADDED.
    let w = api.watch(&format!("{NS}/services?watch=true&labelSelector=tier%3Dweb&allowWatchBookmarks=true"));
    let e = w.next(Duration::from_secs(10)).unwrap();
    assert_eq!((e["type"].as_str(), e["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("a")));
    api.post(&format!("{NS}/services"), &svc("b", "db")).unwrap();
    let (_, mut a) = api.get(&format!("{NS}/services/a")).unwrap();
    a["metadata"]["labels"]["tier"] = json!("db");
    api.put(&format!("{NS}/services/a"), &a).unwrap();
    let mut types = Vec::new();
    while let Some(e) = w.next(Duration::from_secs(3)) {
        let t = e["type"].as_str().unwrap().to_string();
        if t == "BOOKMARK" {
            assert!(e["object"]["metadata"]["resourceVersion"].as_str().is_some());
            types.push(t);
            break;
        }
        types.push(format!("{t} {}", e["object"]["metadata"]["name"].as_str().unwrap()));
    }
    assert_eq!(types, vec!["DELETED a".to_string(), "BOOKMARK".to_string()]);
}

#[test]
fn label_selector_lists_filter_with_set_based_requirements() {
    let cluster = Cluster::embedded();
    let api = cluster.api();
    wait_kubernetes_service(&api);
    for (n, t) in [("a", "web"), ("b", "db"), ("c", "cache")] {
        assert_eq!(api.post(&format!("{NS}/services"), &svc(n, t)).unwrap().0, 201);
    }
    let names = |q: &str| -> Vec<String> {
        let (code, l) = api.get(&format!("{NS}/services?labelSelector={q}")).unwrap();
        assert_eq!(code, 200, "{l}");
        l["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names("tier%3Dweb"), vec!["a"]);
    assert_eq!(names("tier%20in%20(web,db)"), vec!["a", "b"]);
    // notin and != also match objects without the label, such as the `kubernetes` Service.
    assert_eq!(names("tier%20notin%20(web,db)"), vec!["c", "kubernetes"]);
    assert_eq!(names("tier!%3Dcache"), vec!["a", "b", "kubernetes"]);
    assert_eq!(names("!tier"), vec!["kubernetes"]);
    // All-namespaces list (the three and the `kubernetes` Service; `kube-system` holds the
    // cluster DNS Service, made by another loop at its own pace).
    let (_, l) = api.get("/api/v1/services").unwrap();
    let outside = l["items"].as_array().unwrap().iter().filter(|i| i["metadata"]["namespace"] != "kube-system").count();
    assert_eq!(outside, 4, "{l}");
}

#[test]
fn watch_from_a_compacted_revision_gets_410_expired() {
    let mut cluster = Cluster::embedded();
    // Restart with a one-second compaction interval.
    cluster.set_server_args(&["--compact-interval", "1"]);
    cluster.restart_server();
    let api = cluster.api();
    for i in 0..5 {
        api.post(&format!("{NS}/services"), &svc(&format!("c{i}"), "web")).unwrap();
    }
    let err = harness::wait_for("revision 2 to be compacted", Duration::from_secs(20), || {
        let w = api.watch(&format!("{NS}/services?watch=true&resourceVersion=2"));
        match w.next(Duration::from_secs(2)) {
            Some(e) if e["type"] == "ERROR" => Ok(e),
            other => {
                // Keep writing so that compaction has something to move past.
                let _ = api.post(&format!("{NS}/services"), &svc(&format!("x{}", rand_suffix()), "web"));
                Err(format!("{other:?}"))
            }
        }
    });
    assert_eq!(err["object"]["code"], 410, "{err}");
    assert_eq!(err["object"]["reason"], "Expired");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}
