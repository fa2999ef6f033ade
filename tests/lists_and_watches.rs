//! Lists and watches as informers and kubectl use them: `limit`/`continue` over a
//! consistent snapshot (and 410 once it expired), `resourceVersionMatch`, per-kind field
//! selectors, watch-list (`sendInitialEvents`), deletecollection, and `kubectl get -w`.

mod harness;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use harness::{wait_for, Cluster};
use serde_json::{json, Value};

const NS: &str = "lw";
const SVC: &str = "/api/v1/namespaces/lw/services";

/// Clusters start one at a time, so that an environment variable meant for one server
/// (the snapshot TTL) reaches no other.
static START: Mutex<()> = Mutex::new(());

fn cluster_with_env(env: &[(&str, &str)]) -> Cluster {
    let _g = START.lock().unwrap_or_else(|p| p.into_inner());
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    let c = Cluster::embedded();
    for (k, _) in env {
        std::env::remove_var(k);
    }
    let (code, body) = c.api().post("/api/v1/namespaces", &json!({"metadata": {"name": NS}})).unwrap();
    assert_eq!(code, 201, "{body}");
    c
}

fn cluster() -> Cluster {
    cluster_with_env(&[])
}

fn svc(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels},
           "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})
}

fn create_services(api: &harness::Api, names: impl IntoIterator<Item = String>, labels: Value) {
    for n in names {
        let (code, body) = api.post(SVC, &svc(&n, labels.clone())).unwrap();
        assert_eq!(code, 201, "{body}");
    }
}

fn names(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect()
}

fn get_ok(api: &harness::Api, path: &str) -> Value {
    let (code, body) = api.get(path).unwrap();
    assert_eq!(code, 200, "GET {path}: {body}");
    body
}

fn enc(s: &str) -> String {
    s.replace('%', "%25").replace('=', "%3D").replace(',', "%2C").replace('!', "%21").replace('+', "%2B")
}

#[test]
fn paging_25_objects_by_10_reads_one_consistent_snapshot() {
    let cluster = cluster();
    let api = cluster.api();
    create_services(&api, (0..25).map(|i| format!("s{i:02}")), json!({"set": "a"}));

    let p1 = get_ok(&api, &format!("{SVC}?limit=10"));
    let rv = p1["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    assert_eq!(names(&p1), (0..10).map(|i| format!("s{i:02}")).collect::<Vec<_>>());
    assert_eq!(p1["metadata"]["remainingItemCount"], 15, "{}", p1["metadata"]);
    let c1 = p1["metadata"]["continue"].as_str().expect("a continue token").to_string();

    // The world changes between pages; the pages do not.
    create_services(&api, ["s05x".to_string(), "s99".to_string()], json!({"set": "a"}));
    for gone in ["s15", "s22"] {
        assert_eq!(api.delete(&format!("{SVC}/{gone}")).unwrap().0, 200);
    }

    let p2 = get_ok(&api, &format!("{SVC}?limit=10&continue={c1}"));
    assert_eq!(names(&p2), (10..20).map(|i| format!("s{i:02}")).collect::<Vec<_>>());
    assert_eq!(p2["metadata"]["resourceVersion"], rv.as_str());
    assert_eq!(p2["metadata"]["remainingItemCount"], 5);
    let c2 = p2["metadata"]["continue"].as_str().expect("a second continue token").to_string();
    let p3 = get_ok(&api, &format!("{SVC}?limit=10&continue={c2}"));
    assert_eq!(names(&p3), (20..25).map(|i| format!("s{i:02}")).collect::<Vec<_>>());
    assert_eq!(p3["metadata"]["resourceVersion"], rv.as_str());
    assert!(p3["metadata"]["continue"].as_str().unwrap_or("").is_empty(), "{}", p3["metadata"]);
    assert!(p3["metadata"].get("remainingItemCount").is_none(), "{}", p3["metadata"]);

    // A fresh list sees the changes.
    let now = names(&get_ok(&api, SVC));
    assert_eq!(now.len(), 25);
    assert!(now.contains(&"s05x".to_string()) && !now.contains(&"s15".to_string()));

    // Selectors apply before paging: 13 objects match, pages of 5.
    create_services(&api, (0..13).map(|i| format!("b{i:02}")), json!({"set": "b"}));
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let mut path = format!("{SVC}?limit=5&labelSelector={}", enc("set=b"));
        if !token.is_empty() {
            path.push_str(&format!("&continue={token}"));
        }
        let p = get_ok(&api, &path);
        pages += 1;
        seen.extend(names(&p));
        token = p["metadata"]["continue"].as_str().unwrap_or("").to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!((pages, seen.len()), (3, 13), "{seen:?}");
    assert!(seen.iter().all(|n| n.starts_with('b')));

    // Tokens are validated.
    let (code, body) = api.get(&format!("{SVC}?limit=10&continue=not-a-token")).unwrap();
    assert_eq!((code, body["reason"].as_str()), (400, Some("BadRequest")), "{body}");
    let (code, body) = api.get(&format!("/api/v1/namespaces/default/services?limit=10&continue={c1}")).unwrap();
    assert_eq!(code, 400, "a token of another collection: {body}");
    let (code, body) = api.get(&format!("{SVC}?limit=10&continue={c1}&resourceVersion=5")).unwrap();
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["message"], "specifying resource version is not allowed when using continue");
}

#[test]
fn an_expired_continue_token_is_410_with_a_token_to_go_on_inconsistently() {
    let cluster = cluster_with_env(&[("SHOAL_CONTINUE_TTL_SECS", "1")]);
    let api = cluster.api();
    create_services(&api, (0..6).map(|i| format!("e{i}")), json!({}));
    let p1 = get_ok(&api, &format!("{SVC}?limit=2"));
    let c1 = p1["metadata"]["continue"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1500));
    let (code, body) = api.get(&format!("{SVC}?limit=2&continue={c1}")).unwrap();
    assert_eq!(code, 410, "{body}");
    assert_eq!(body["reason"], "Expired");
    assert_eq!(
        body["message"],
        "The provided continue parameter is too old to display a consistent list result. You can start a new list \
         without the continue parameter, or use the continue token in this response to retrieve the remainder of the \
         results. Continuing with the provided token results in an inconsistent list - objects that were created, \
         modified, or deleted between the time the first chunk was returned and now may show up in the list."
    );
    // The token in the Status continues after the last key served, at the latest revision.
    let again = body["metadata"]["continue"].as_str().expect("an inconsistent continue token").to_string();
    create_services(&api, ["a-first".to_string(), "e9".to_string()], json!({}));
    let mut rest = Vec::new();
    let mut token = again;
    while !token.is_empty() {
        let p = get_ok(&api, &format!("{SVC}?limit=2&continue={token}"));
        rest.extend(names(&p));
        token = p["metadata"]["continue"].as_str().unwrap_or("").to_string();
    }
    assert_eq!(rest, ["e2", "e3", "e4", "e5", "e9"]);
}

#[test]
fn resource_version_match_rules() {
    let cluster = cluster();
    let api = cluster.api();
    create_services(&api, (0..4).map(|i| format!("r{i}")), json!({}));

    let invalid = |query: &str, needle: &str| {
        let (code, body) = api.get(&format!("{SVC}?{query}")).unwrap();
        assert_eq!(code, 422, "{query}: {body}");
        assert_eq!(body["details"]["kind"], "ListOptions", "{body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{query}: {body}");
    };
    invalid("resourceVersionMatch=NotOlderThan", "resourceVersionMatch is forbidden unless resourceVersion is provided");
    invalid("resourceVersion=0&resourceVersionMatch=Exact", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"");
    invalid("resourceVersion=1&resourceVersionMatch=Newest", "Unsupported value: \"Newest\"");
    invalid("sendInitialEvents=true", "sendInitialEvents is forbidden for list");

    let full = get_ok(&api, SVC);
    let rv: i64 = full["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    // NotOlderThan an existing revision: the latest list.
    let l = get_ok(&api, &format!("{SVC}?resourceVersion={rv}&resourceVersionMatch=NotOlderThan"));
    assert!(l["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap() >= rv);
    assert_eq!(names(&l).len(), 4);
    get_ok(&api, &format!("{SVC}?resourceVersion=0"));
    // NotOlderThan the future: waits, then 504 like upstream.
    let t = Instant::now();
    let (code, body) = api.get(&format!("{SVC}?resourceVersion={}&resourceVersionMatch=NotOlderThan", rv + 1_000_000)).unwrap();
    assert_eq!((code, body["reason"].as_str()), (504, Some("Timeout")), "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("Too large resource version"), "{body}");
    assert!(t.elapsed() >= Duration::from_secs(2));

    // Exact at the revision of a kept snapshot: the same objects, however the store moved on.
    let p1 = get_ok(&api, &format!("{SVC}?limit=2"));
    let snap_rv = p1["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    create_services(&api, ["r9".to_string()], json!({}));
    let exact = get_ok(&api, &format!("{SVC}?limit=2&resourceVersion={snap_rv}&resourceVersionMatch=Exact"));
    assert_eq!(exact["metadata"]["resourceVersion"], snap_rv.as_str());
    assert_eq!(names(&exact), ["r0", "r1"]);
    let exact_all = get_ok(&api, &format!("{SVC}?resourceVersion={snap_rv}&resourceVersionMatch=Exact"));
    assert_eq!(names(&exact_all), ["r0", "r1", "r2", "r3"]);
    // Exact at an old revision nobody keeps: 410 Expired.
    let (code, body) = api.get(&format!("{SVC}?resourceVersion=2&resourceVersionMatch=Exact")).unwrap();
    assert_eq!((code, body["reason"].as_str()), (410, Some("Expired")), "{body}");
}

fn add_pod(api: &harness::Api, name: &str, node: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "fs"}},
                     "spec": {"nodeName": node, "containers": [{"name": "c", "image": "hello:v1"}]}});
    let (code, body) = api.post("/api/v1/namespaces/lw/pods", &pod).unwrap();
    assert_eq!(code, 201, "{body}");
}

#[test]
fn field_selectors_on_pods_list_and_watch() {
    let mut cluster = cluster();
    cluster.add_simulated_nodes("fs", 2);
    let api = cluster.api();
    add_pod(&api, "a", "fs-0");
    add_pod(&api, "b", "fs-0");
    add_pod(&api, "c", "fs-1");
    const PODS: &str = "/api/v1/namespaces/lw/pods";
    wait_for("pods on simulated nodes Running", Duration::from_secs(30), || {
        let l = get_ok(&api, PODS);
        let running = l["items"].as_array().unwrap().iter().filter(|p| p["status"]["phase"] == "Running").count();
        if running == 3 { Ok(()) } else { Err(l.to_string()) }
    });
    let sel = |fs: &str| {
        let mut n = names(&get_ok(&api, &format!("{PODS}?fieldSelector={}", enc(fs))));
        n.sort();
        n
    };
    assert_eq!(sel("spec.nodeName=fs-0"), ["a", "b"]);
    assert_eq!(sel("spec.nodeName==fs-1"), ["c"]);
    assert_eq!(sel("spec.nodeName!=fs-0"), ["c"]);
    assert_eq!(sel("status.phase=Running"), ["a", "b", "c"]);
    assert!(sel("status.phase!=Running").is_empty());
    assert_eq!(sel("status.phase=Running,spec.nodeName=fs-1"), ["c"]);
    assert_eq!(sel("metadata.name=b"), ["b"]);
    assert_eq!(sel("spec.hostNetwork=false").len(), 3);
    // All namespaces.
    let all = names(&get_ok(&api, &format!("/api/v1/pods?fieldSelector={}", enc("spec.nodeName=fs-1"))));
    assert_eq!(all, ["c"]);

    let (code, body) = api.get(&format!("{PODS}?fieldSelector={}", enc("spec.foo=bar"))).unwrap();
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["message"], "field label not supported: spec.foo");
    let (code, body) = api.get(&format!("/api/v1/nodes?fieldSelector={}", enc("metadata.namespace=x"))).unwrap();
    assert_eq!(code, 400, "{body}");
    let nodes = names(&get_ok(&api, &format!("/api/v1/nodes?fieldSelector={}", enc("metadata.name=fs-1,spec.unschedulable=false"))));
    assert_eq!(nodes, ["fs-1"]);

    // The same selector on a watch.
    let w = api.watch(&format!("{PODS}?watch=true&fieldSelector={}", enc("spec.nodeName=fs-1")));
    let first = w.next(Duration::from_secs(10)).expect("initial event");
    assert_eq!((first["type"].as_str(), first["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("c")));
    add_pod(&api, "e", "fs-0");
    add_pod(&api, "f", "fs-1");
    let ev = w.next(Duration::from_secs(10)).expect("an event for f");
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("f")), "{ev}");
}

#[test]
fn watch_list_sends_initial_events_then_a_bookmark_then_changes() {
    let cluster = cluster();
    let api = cluster.api();
    create_services(&api, (0..3).map(|i| format!("w{i}")), json!({}));

    // Upstream's parameter rules.
    for (q, field) in [
        ("watch=true&sendInitialEvents=true&allowWatchBookmarks=true", "resourceVersionMatch"),
        ("watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan", "allowWatchBookmarks"),
        ("watch=true&resourceVersionMatch=NotOlderThan", "resourceVersionMatch"),
    ] {
        let (code, body) = api.get(&format!("{SVC}?{q}")).unwrap();
        assert_eq!(code, 422, "{q}: {body}");
        assert_eq!(body["details"]["causes"][0]["field"], field, "{q}: {body}");
    }

    let w = api.watch(&format!(
        "{SVC}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    ));
    let mut initial = Vec::new();
    let end_rv = loop {
        let ev = w.next(Duration::from_secs(10)).expect("watch-list event");
        match ev["type"].as_str().unwrap() {
            "ADDED" => initial.push(ev["object"]["metadata"]["name"].as_str().unwrap().to_string()),
            "BOOKMARK" => {
                assert_eq!(ev["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true", "{ev}");
                break ev["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap();
            }
            other => panic!("unexpected {other}: {ev}"),
        }
    };
    assert_eq!(initial, ["w0", "w1", "w2"]);
    create_services(&api, ["w3".to_string()], json!({}));
    let live = loop {
        let ev = w.next(Duration::from_secs(10)).expect("live event");
        if ev["type"] != "BOOKMARK" {
            break ev;
        }
    };
    assert_eq!((live["type"].as_str(), live["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("w3")));
    assert!(live["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap() > end_rv);

    // sendInitialEvents=false from "now": only changes.
    let w = api.watch(&format!(
        "{SVC}?watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan&resourceVersion=0"
    ));
    create_services(&api, ["w4".to_string()], json!({}));
    let ev = w.next(Duration::from_secs(10)).expect("live event");
    assert_eq!(ev["object"]["metadata"]["name"], "w4", "{ev}");
}

#[test]
fn deletecollection_deletes_what_the_selector_matches() {
    let cluster = cluster();
    let api = cluster.api();
    create_services(&api, (0..4).map(|i| format!("del{i}")), json!({"del": "yes"}));
    create_services(&api, (0..2).map(|i| format!("keep{i}")), json!({"del": "no"}));
    let (code, body) = api
        .send(
            "DELETE",
            &format!("{SVC}?labelSelector={}", enc("del=yes")),
            "application/json",
            br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#,
        )
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kind"], "ServiceList");
    let mut deleted = names(&body);
    deleted.sort();
    assert_eq!(deleted, ["del0", "del1", "del2", "del3"]);
    assert_eq!(names(&get_ok(&api, SVC)), ["keep0", "keep1"]);
    // A field selector, and a bad propagation policy.
    let (code, body) = api.delete(&format!("{SVC}?fieldSelector={}", enc("metadata.name=keep1"))).unwrap();
    assert_eq!((code, names(&body)), (200, vec!["keep1".to_string()]), "{body}");
    let (code, _) = api.delete(&format!("{SVC}?propagationPolicy=Sideways")).unwrap();
    assert_eq!(code, 422);
    assert_eq!(names(&get_ok(&api, SVC)), ["keep0"]);
}

#[test]
fn table_watch_events_carry_one_row() {
    let cluster = cluster();
    let api = cluster.api();
    let (_, list) = api.get_with(SVC, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").unwrap();
    assert_eq!(list["kind"], "Table");
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let watch = api.watch_with(
        &format!("{SVC}?watch=true&resourceVersion={rv}"),
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    );
    create_services(&api, ["t1".to_string()], json!({}));
    let ev = watch.next(Duration::from_secs(10)).expect("a table event");
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["kind"], "Table", "{ev}");
    assert_eq!(ev["object"]["rows"].as_array().unwrap().len(), 1);
    assert_eq!(ev["object"]["rows"][0]["cells"][0], "t1");
}

#[test]
fn kubectl_get_pods_watch_prints_a_new_pod() {
    let cluster = cluster();
    let api = cluster.api();
    // Pods without a node (there are none to schedule them on) stay as they are: the pod
    // actor would delete a pod bound to a node that does not exist before kubectl lists it.
    let pending_pod = |name: &str| {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                         "spec": {"containers": [{"name": "c", "image": "hello:v1"}]}});
        let (code, body) = api.post("/api/v1/namespaces/lw/pods", &pod).unwrap();
        assert_eq!(code, 201, "{body}");
    };
    // A pod that exists before kubectl starts: kubectl prints it once its list is done,
    // so a pod created after that line can only reach kubectl through the watch.
    pending_pod("kw-before");
    let mut watch = cluster.kubectl().stream(&["get", "pods", "-n", NS, "-w", "--output-watch-events", "--request-timeout=0"]);
    let added = |name: &'static str| move |l: &str| l.split_whitespace().take(2).eq(["ADDED", name]);
    watch.until("the listed pod", Duration::from_secs(20), added("kw-before"));
    pending_pod("kw");
    watch.until("the pod created after the list", Duration::from_secs(20), added("kw"));
    let header = &watch.seen()[0];
    assert!(header.starts_with("EVENT") && header.contains("NAME") && header.contains("STATUS"), "{:?}", watch.seen());
}
