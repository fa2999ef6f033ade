//! The supervision runtime on a real embedded store: one actor per object, panics caught
//! and restarted, kills through the handle, restart budgets escalating to the root.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actors::controller::{Action, Caches, Children, ControlConfig, Cx, ReconcileError, Reconciler, Shared};
use api::model::{LabelSelector, Namespace, ObjectMeta, PodTemplateSpec, ReplicaSet, ReplicaSetSpec};
use actors::registry::Registry;
use supervision::{ControlHandle, ControlPlane};
use actors::store::embedded::EmbeddedStore;
use async_trait::async_trait;
use serde_json::Value;

/// Counts reconciles per object; panics once for objects labelled `panic: once`.
#[derive(Clone, Default)]
struct Counting {
    seen: Arc<Mutex<HashMap<String, u32>>>,
}

impl Counting {
    fn count(&self, key: &str) -> u32 {
        self.seen.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Reconciler for Counting {
    type Object = ReplicaSet;
    const CHILDREN: Children = Children::None;
    fn selector(_: &ReplicaSet) -> Option<LabelSelector> {
        None
    }
    async fn reconcile(&self, rs: Arc<ReplicaSet>, _cx: &Cx) -> Result<Action, ReconcileError> {
        let key = format!("default/{}", rs.metadata.name);
        let n = {
            let mut seen = self.seen.lock().unwrap();
            let n = seen.entry(key).or_insert(0);
            *n += 1;
            *n
        };
        if n == 1 && rs.metadata.labels.get("panic").map(String::as_str) == Some("once") {
            panic!("reconcile of {} blew up", rs.metadata.name);
        }
        Ok(Action::await_change())
    }
}

fn rs(name: &str, labels: &[(&str, &str)]) -> ReplicaSet {
    let sel: std::collections::BTreeMap<String, String> = [("app".to_string(), name.to_string())].into();
    let mut template = PodTemplateSpec::default();
    template.metadata.labels = sel.clone();
    template.spec.containers = vec![api::model::Container { name: "c".into(), image: Some("x".into()), ..Default::default() }];
    ReplicaSet {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: Some("default".into()),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        },
        spec: ReplicaSetSpec { replicas: Some(0), selector: Some(LabelSelector::from_map(&sel)), template, ..Default::default() },
        ..Default::default()
    }
}

async fn wait_for(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let end = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < end {
        match check() {
            Ok(()) => return,
            Err(s) => last = s,
        }
        actix::clock::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}; last: {last}");
}

fn manager_node(tree: &Value, name: &str) -> Value {
    tree["children"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap_or(Value::Null)
}

fn child_restarts(tree: &Value, manager: &str, key: &str) -> u64 {
    manager_node(tree, manager)["children"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == key))
        .and_then(|c| c["restarts"].as_u64())
        .unwrap_or(0)
}

async fn start(dir: &std::path::Path, limit: u32) -> (Registry, Counting, ControlHandle) {
    let store = Arc::new(EmbeddedStore::open(dir).unwrap());
    let registry = Registry::new(store);
    // Creates need their namespace.
    let default = Namespace { metadata: ObjectMeta { name: "default".into(), ..Default::default() }, ..Default::default() };
    match registry.create(default).await {
        Ok(_) | Err(actors::registry::RegistryError::AlreadyExists { .. }) => {}
        Err(e) => panic!("creating the default namespace: {e}"),
    }
    let caches = Caches::start(&registry);
    let config = ControlConfig { restart_limit: limit, restart_window: Duration::from_secs(30), ..Default::default() };
    let shared = Arc::new(Shared { registry: registry.clone(), caches, config });
    let counting = Counting::default();
    let handle = ControlPlane::new(shared).manager(actors::controller::Controller(counting.clone())).start();
    (registry, counting, handle)
}

#[actix::test]
async fn one_actor_per_object_and_a_panic_is_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, counting, handle) = start(dir.path(), 5).await;
    registry.create(rs("a", &[])).await.unwrap();
    registry.create(rs("b", &[("panic", "once")])).await.unwrap();
    wait_for("both reconciled, b twice (after its crash)", || {
        match (counting.count("default/a"), counting.count("default/b")) {
            (a, b) if a >= 1 && b >= 2 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let tree = handle.tree.to_json();
    assert_eq!(manager_node(&tree, "replicasets")["actors"], 2, "{tree}");
    assert_eq!(child_restarts(&tree, "replicasets", "default/b"), 1, "{tree}");
    assert_eq!(child_restarts(&tree, "replicasets", "default/a"), 0, "{tree}");
    assert_eq!(tree["totalRestarts"], 1);

    // Deleting the object retires its actor.
    registry.delete::<ReplicaSet>(Some("default"), "a", &Default::default()).await.unwrap();
    wait_for("a's actor to leave the tree", || {
        let n = manager_node(&handle.tree.to_json(), "replicasets")["actors"].as_u64().unwrap_or(0);
        if n == 1 { Ok(()) } else { Err(format!("{n} actors")) }
    })
    .await;
}

#[actix::test]
async fn killed_actors_and_managers_restart_and_rebuild_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, counting, handle) = start(dir.path(), 5).await;
    registry.create(rs("a", &[])).await.unwrap();
    wait_for("a reconciled", || if counting.count("default/a") >= 1 { Ok(()) } else { Err("0".into()) }).await;

    let before = counting.count("default/a");
    handle.kill("replicasets", Some("default/a".into())).await.unwrap();
    wait_for("a restarted and reconciled again", || {
        let n = counting.count("default/a");
        if n > before { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    assert_eq!(child_restarts(&handle.tree.to_json(), "replicasets", "default/a"), 1);

    let before = counting.count("default/a");
    handle.kill("replicasets", None).await.unwrap();
    wait_for("manager restarted and a reconciled again", || {
        let tree = handle.tree.to_json();
        let restarts = manager_node(&tree, "replicasets")["restarts"].as_u64().unwrap_or(0);
        let n = counting.count("default/a");
        if restarts == 1 && n > before { Ok(()) } else { Err(format!("manager restarts {restarts}, count {n}: {tree}")) }
    })
    .await;
    assert_eq!(handle.tree.to_json()["totalRestarts"], 2);
    assert!(handle.kill("replicasets", Some("default/none".into())).await.is_err());
    assert!(handle.kill("nothing", None).await.is_err());
}

#[actix::test]
async fn a_spent_restart_budget_escalates_to_the_manager_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, counting, handle) = start(dir.path(), 3).await;
    registry.create(rs("a", &[])).await.unwrap();
    wait_for("a reconciled", || if counting.count("default/a") >= 1 { Ok(()) } else { Err("0".into()) }).await;
    // Three restarts fit the budget; the fourth kill escalates.
    for i in 1..=4u64 {
        let before = counting.count("default/a");
        handle.kill("replicasets", Some("default/a".into())).await.unwrap();
        wait_for("the actor to come back", || {
            if counting.count("default/a") > before { Ok(()) } else { Err(format!("kill {i}")) }
        })
        .await;
    }
    let tree = handle.tree.to_json();
    let m = manager_node(&tree, "replicasets");
    assert_eq!(m["escalations"], 1, "{tree}");
    assert_eq!(m["restarts"], 1, "{tree}");
    assert_eq!(tree["totalRestarts"], 5, "4 actor restarts + 1 manager restart: {tree}");
}

#[actix::test]
async fn a_spent_root_budget_restarts_the_whole_tree_after_a_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, counting, handle) = start(dir.path(), 1).await;
    registry.create(rs("a", &[])).await.unwrap();
    wait_for("a reconciled", || if counting.count("default/a") >= 1 { Ok(()) } else { Err("0".into()) }).await;

    // The root allows one restart of the manager; the second kill spends its budget.
    // Kinds go by any name kubectl accepts.
    let before_kill = counting.count("default/a");
    handle.kill("ReplicaSet", None).await.unwrap();
    // The restarted manager rebuilds its actors from the cache and reconciles `a` again:
    // only then is it running, and the next kill is accepted.
    wait_for("the restarted manager to reconcile a again", || {
        let n = counting.count("default/a");
        if n > before_kill { Ok(()) } else { Err(format!("{n} reconciles")) }
    })
    .await;
    assert_eq!(manager_node(&handle.tree.to_json(), "replicasets")["restarts"], 1, "{}", handle.tree.to_json());
    handle.kill("rs", None).await.unwrap_or_else(|e| panic!("second kill refused ({e}): {}", handle.tree.to_json()));
    let stopped_at = Instant::now();
    wait_for("the tree in back-off", || {
        let t = handle.tree.to_json();
        if t["state"] == "backoff" { Ok(()) } else { Err(t.to_string()) }
    })
    .await;
    assert_eq!(handle.tree.to_json()["treeBackoffMs"], 1000);
    let refused = handle.kill("replicasets", None).await;
    assert!(matches!(refused, Err(supervision::KillError::TreeRestarting(_))), "{refused:?}");

    // After the back-off the whole tree starts again and rebuilds from the store.
    let before = counting.count("default/a");
    wait_for("the tree running again and a reconciled", || {
        let t = handle.tree.to_json();
        if t["state"] == "running" && t["treeRestarts"] == 1 && counting.count("default/a") > before {
            Ok(())
        } else {
            Err(t.to_string())
        }
    })
    .await;
    assert!(stopped_at.elapsed() >= Duration::from_millis(900), "started again after {:?}", stopped_at.elapsed());
    let tree = handle.tree.to_json();
    assert_eq!(tree["escalations"], 1, "{tree}");
    assert_eq!(tree["totalRestarts"], 2, "two kills, counted once each: {tree}");
    assert_eq!(tree["restartsByCause"]["killed"], 2, "{tree}");
    // Budgets are fresh: the restarted tree takes kills again.
    handle.kill("replicasets", Some("default/a".into())).await.unwrap();
    assert!(matches!(handle.kill("widgets", None).await, Err(supervision::KillError::UnknownSupervisor(..))));
}
