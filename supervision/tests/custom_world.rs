//! The supervision runtime outside the control plane: a world of its own (a hand-fed
//! source of pods and a context of its own, as a node-host would have over its client's
//! watcher), with the same panic boundary, restarts, tree and kill verbs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::cache::Change;
use supervision::{ActorCx, Action, BudgetSpec, Children, ControlPlane, HasSource, Reconcile, Source, World};
use api::model::{key_of, LabelSelector, ObjectMeta, Pod};
use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::broadcast;

/// A source fed by hand (a node-host's would be fed by its watcher).
struct Pods {
    objects: Mutex<HashMap<String, Arc<Pod>>>,
    changes: broadcast::Sender<Change<Pod>>,
}

impl Pods {
    fn put(&self, pod: Pod) {
        let new = Arc::new(pod);
        let old = self.objects.lock().unwrap().insert(key_of(new.as_ref()), new.clone());
        let _ = self.changes.send(Change::Applied { new, old });
    }
}

impl Source<Pod> for Pods {
    fn get_key(&self, key: &str) -> Option<Arc<Pod>> {
        self.objects.lock().unwrap().get(key).cloned()
    }
    fn list(&self, ns: Option<&str>) -> Vec<Arc<Pod>> {
        let all = self.objects.lock().unwrap();
        all.values().filter(|p| ns.is_none() || p.metadata.namespace.as_deref() == ns).cloned().collect()
    }
    fn subscribe(&self) -> broadcast::Receiver<Change<Pod>> {
        self.changes.subscribe()
    }
}

struct Node {
    pods: Pods,
}

/// What a pod actor's reconcile gets: here, the node's name.
struct NodeCx {
    node: &'static str,
}

impl ActorCx for NodeCx {
    fn catch_up(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

impl World for Node {
    type Cx = NodeCx;
    fn actor_cx(self: &Arc<Self>) -> NodeCx {
        NodeCx { node: "n1" }
    }
    fn restart_budget(&self) -> BudgetSpec {
        BudgetSpec { limit: 5, window: Duration::from_secs(10) }
    }
    fn wait_synced(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
    fn changes(&self) -> BoxStream<'static, ()> {
        tokio_stream::wrappers::BroadcastStream::new(self.pods.subscribe()).map(|_| ()).boxed()
    }
}

impl HasSource<Pod> for Node {
    fn source(&self) -> &dyn Source<Pod> {
        &self.pods
    }
}

/// "Runs" each pod: records the reconciles; panics once for pods labelled `panic: once`.
#[derive(Clone, Default)]
struct PodRunner {
    runs: Arc<Mutex<HashMap<String, u32>>>,
}

impl PodRunner {
    fn runs(&self, key: &str) -> u32 {
        self.runs.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

#[async_trait]
impl Reconcile for PodRunner {
    type Object = Pod;
    type World = Node;
    type Error = String;
    const CHILDREN: Children<Node> = Children::None;
    fn selector(_: &Pod) -> Option<LabelSelector> {
        None
    }
    async fn reconcile(&self, pod: Arc<Pod>, cx: &NodeCx) -> Result<Action, String> {
        assert_eq!(cx.node, "n1");
        let n = {
            let mut runs = self.runs.lock().unwrap();
            let n = runs.entry(key_of(pod.as_ref())).or_insert(0);
            *n += 1;
            *n
        };
        if n == 1 && pod.metadata.labels.get("panic").map(String::as_str) == Some("once") {
            panic!("container of {} failed to start", pod.metadata.name);
        }
        Ok(Action::await_change())
    }
}

fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: Some("default".into()),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        },
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

#[actix::test]
async fn a_world_of_its_own_gets_one_supervised_actor_per_pod() {
    let node = Arc::new(Node { pods: Pods { objects: Mutex::default(), changes: broadcast::channel(64).0 } });
    let runner = PodRunner::default();
    let handle = ControlPlane::new(node.clone()).manager(runner.clone()).start();
    node.pods.put(pod("a", &[]));
    node.pods.put(pod("b", &[("panic", "once")]));
    wait_for("a run once, b twice (after its crash)", || match (runner.runs("default/a"), runner.runs("default/b")) {
        (a, b) if a >= 1 && b >= 2 => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;

    let before = runner.runs("default/a");
    handle.kill("po", Some("default/a".into())).await.unwrap();
    wait_for("a restarted and run again", || {
        let n = runner.runs("default/a");
        if n > before { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    let tree = handle.tree.to_json();
    assert_eq!(tree["restartsByCause"]["crashed"], 1, "{tree}");
    assert_eq!(tree["restartsByCause"]["killed"], 1, "{tree}");
    assert_eq!(handle.tree.child_count("pods"), 2, "{tree}");
}
