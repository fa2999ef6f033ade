//! The node agent against a real control plane (the gateway over an embedded store, in
//! this process) with the recording fakes as runtime, images and network: what the pods'
//! statuses and events say, in which order the runtime was driven, and that a new agent
//! adopts what the old one started.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::model::{
    Container, ExecAction, Lease, LifecycleHandler, Lifecycle, Node, ObjectMeta, Pod, PodSpec, Probe, Resource, NODE_LEASE_NAMESPACE,
};
use api::model::Event;
use client::{DeleteParams, ListParams, Patch, PatchParams};
use node_host::image::fake::FakeImages;
use node_host::network::fake::FakeNetwork;
use node_host::pod::backoff::BackoffConfig;
use node_host::runtime::fake::{Behaviour, Call, FakeRuntime};
use node_host::{AgentOptions, AgentParts, NodeStats};
use serde_json::json;

const NODE: &str = "n1";

/// The API server in a thread of its own; stops with the process.
fn control_plane(dir: &std::path::Path) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    let data = dir.join("data");
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let store: Arc<dyn actors::store::Store> = Arc::new(actors::store::embedded::EmbeddedStore::open(&data).expect("store"));
            let state = gateway::AppState::new(store);
            gateway::bootstrap(&state.registry).await.expect("bootstrap");
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            tx.send(format!("http://{}", listener.local_addr().unwrap())).unwrap();
            gateway::serve(listener, state, 1, std::future::pending()).await.expect("serve");
        })
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("the API server started")
}

/// The fakes one agent (or two in turn) runs over.
#[derive(Clone)]
struct Fakes {
    runtime: Arc<FakeRuntime>,
    images: Arc<FakeImages>,
    network: Arc<FakeNetwork>,
    stats: Arc<NodeStats>,
}

impl Fakes {
    fn new() -> Self {
        let images = Arc::new(FakeImages::new());
        images.add("busybox:1.36", &["sh"]);
        Fakes { runtime: Arc::new(FakeRuntime::new()), images, network: Arc::new(FakeNetwork::new()), stats: Arc::new(NodeStats::default()) }
    }
}

/// A running agent; stops (and its actix System with it) on drop.
struct Agent {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn options(url: &str, root: &std::path::Path) -> AgentOptions {
    let mut o = AgentOptions::new(url, NODE, Ipv4Addr::new(192, 168, 7, 1), root.to_path_buf());
    o.pod_cidr = Some("10.244.7.0/24".into());
    let fast = BackoffConfig { initial: Duration::from_millis(200), max: Duration::from_millis(3200), reset_after: Duration::from_secs(600) };
    o.restart_backoff = fast;
    o.pull_backoff = fast;
    o.lease_seconds = 8;
    o.status_interval = Duration::from_secs(2);
    o.usage_interval = Duration::from_millis(200);
    o.reserved = BTreeMap::from([("cpu".to_string(), "100m".to_string())]);
    o
}

fn start_agent(url: &str, root: &std::path::Path, f: &Fakes) -> Agent {
    start_agent_with(options(url, root), f)
}

fn start_agent_with(opts: AgentOptions, f: &Fakes) -> Agent {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let parts = AgentParts { runtime: f.runtime.clone(), images: f.images.clone(), network: f.network.clone(), lookup: None, stats: f.stats.clone() };
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            node_host::run_agent(opts, parts, async move {
                let _ = rx.await;
            })
            .await
            .expect("the agent ran");
            actix_rt::System::current().stop();
        })
    });
    Agent { stop: Some(tx), thread: Some(thread) }
}

struct Env {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    url: String,
    api: client::Client,
    fakes: Fakes,
    agent: Option<Agent>,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = control_plane(dir.path());
    let root = dir.path().join("node");
    let fakes = Fakes::new();
    let agent = Some(start_agent(&url, &root, &fakes));
    Env { api: client::Client::new(&url).unwrap(), _dir: dir, root, url, fakes, agent }
}

async fn wait_for<T>(what: &str, deadline: Duration, mut check: impl AsyncFnMut() -> Result<T, String>) -> T {
    let end = Instant::now() + deadline;
    let mut last = String::from("never checked");
    while Instant::now() < end {
        match check().await {
            Ok(v) => return v,
            Err(s) => last = s,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {deadline:?} waiting for {what}; last: {last}");
}

fn container(name: &str) -> Container {
    Container { name: name.into(), image: Some("busybox:1.36".into()), ..Default::default() }
}

fn pod(name: &str, containers: Vec<Container>) -> Pod {
    let mut p = Pod {
        metadata: ObjectMeta { name: name.into(), namespace: Some("default".into()), ..Default::default() },
        spec: PodSpec { node_name: Some(NODE.into()), containers, ..Default::default() },
        ..Default::default()
    };
    p.set_type_meta();
    p
}

impl Env {
    fn pods(&self) -> client::Api<Pod> {
        self.api.api::<Pod>(Some("default"))
    }

    async fn create(&self, p: Pod) -> Pod {
        self.pods().create(&p).await.expect("creating the pod")
    }

    async fn wait_pod(&self, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
        let pods = self.pods();
        wait_for(what, Duration::from_secs(20), async || match pods.get_opt(name).await {
            Ok(Some(p)) if check(&p) => Ok(p),
            Ok(p) => Err(serde_json::to_string(&p.and_then(|p| p.status)).unwrap()),
            Err(e) => Err(e.to_string()),
        })
        .await
    }

    async fn events(&self, pod: &str) -> Vec<Event> {
        let list = self.api.api::<Event>(Some("default")).list(&ListParams::default()).await.unwrap();
        list.items.into_iter().filter(|e| e.involved_object.name.as_deref() == Some(pod)).collect()
    }

    async fn wait_event(&self, pod: &str, reason: &str, message: &str) -> Event {
        wait_for(&format!("event {reason} {message:?}"), Duration::from_secs(20), async || {
            let evs = self.events(pod).await;
            evs.iter()
                .find(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref().is_some_and(|m| m.contains(message)))
                .cloned()
                .ok_or_else(|| format!("{:?}", evs.iter().map(|e| (e.reason.clone(), e.message.clone())).collect::<Vec<_>>()))
        })
        .await
    }
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn cond(p: &Pod, t: &str) -> String {
    p.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == t)).map(|c| c.status.clone()).unwrap_or_default()
}

fn cstatus<'a>(p: &'a Pod, name: &str) -> Option<&'a api::model::ContainerStatus> {
    let s = p.status.as_ref()?;
    s.container_statuses.iter().chain(&s.init_container_statuses).find(|c| c.name == name)
}

fn waiting_reason(p: &Pod, name: &str) -> String {
    cstatus(p, name).and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone()).unwrap_or_default()
}

fn creates(f: &Fakes) -> usize {
    f.runtime.calls().iter().filter(|c| matches!(c, Call::Create { .. })).count()
}

fn exec_probe(cmd: &str, period: i32, failure: i32) -> Option<Box<Probe>> {
    Some(Box::new(Probe {
        exec: Some(ExecAction { command: vec![cmd.into()] }),
        period_seconds: Some(period),
        failure_threshold: Some(failure),
        ..Default::default()
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_runs_with_its_ip_conditions_statuses_and_events_and_the_node_registers() {
    let e = env();
    e.create(pod("web", vec![container("a"), container("b")])).await;
    let p = e.wait_pod("web", "Running and Ready", |p| phase(p) == "Running" && cond(p, "Ready") == "True").await;
    let s = p.status.clone().unwrap();
    assert_eq!(s.pod_ip.as_deref(), Some("10.244.7.2"));
    assert_eq!(s.pod_ips.len(), 1);
    assert_eq!(s.host_ip.as_deref(), Some("192.168.7.1"));
    assert!(s.start_time.is_some());
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    for t in ["PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"] {
        assert_eq!(cond(&p, t), "True", "{t}");
    }
    let a = cstatus(&p, "a").unwrap();
    assert!(a.ready && a.started == Some(true));
    assert_eq!(a.restart_count, 0);
    assert!(a.state.as_ref().unwrap().running.as_ref().unwrap().started_at.is_some());
    assert!(a.container_id.as_deref().unwrap().starts_with("shoal://"));
    assert!(a.image_id.starts_with("docker.io/library/busybox@sha256:"), "{}", a.image_id);
    assert_eq!(a.image, "busybox:1.36");

    let ev = e.wait_event("web", "Started", "Started container a").await;
    assert_eq!(ev.source.as_ref().unwrap().component.as_deref(), Some("kubelet"));
    assert_eq!(ev.source.as_ref().unwrap().host.as_deref(), Some(NODE));
    assert_eq!(ev.involved_object.field_path.as_deref(), Some("spec.containers{a}"));
    e.wait_event("web", "Created", "Created container: b").await;
    e.wait_event("web", "Pulled", "Container image \"busybox:1.36\" already present on machine").await;

    // The node server's view.
    let info = wait_for("the pod in the node's stats", Duration::from_secs(5), async || {
        e.fakes.stats.pod("default", "web").filter(|p| p.containers.len() == 2).ok_or("missing".to_string())
    })
    .await;
    assert_eq!(info.ip, Some(Ipv4Addr::new(10, 244, 7, 2)));
    let a = e.fakes.stats.container("default", "web", "a", false).unwrap();
    assert!(a.log_path.ends_with(format!("default_web_{}/a/0.log", p.metadata.uid)), "{:?}", a.log_path);
    e.fakes.runtime.set_usage(&a.id, node_host::runtime::Usage { cpu_ns: 5, memory_working_set: 1 << 20 });
    wait_for("usage read", Duration::from_secs(5), async || {
        let u = e.fakes.stats.pod("default", "web").map(|p| p.usage()).unwrap_or_default();
        if u.memory_working_set == 1 << 20 { Ok(()) } else { Err(format!("{u:?}")) }
    })
    .await;

    // The Node, its Lease and its status.
    let node = e.api.api::<Node>(None).get(NODE).await.unwrap();
    assert_eq!(node.metadata.labels["kubernetes.io/hostname"], NODE);
    assert_eq!(node.metadata.labels["kubernetes.io/os"], "linux");
    assert!(node.metadata.labels.contains_key("kubernetes.io/arch"));
    let st = node.status.unwrap();
    let ready = st.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("True", Some("KubeletReady")));
    assert!(st.conditions.iter().any(|c| c.type_ == "MemoryPressure" && c.reason.as_deref() == Some("KubeletHasSufficientMemory")));
    assert_eq!(st.capacity["pods"].as_str(), "110");
    let cores: i128 = st.capacity["cpu"].parsed().unwrap().milli_value();
    assert_eq!(st.allocatable["cpu"].parsed().unwrap().milli_value(), cores - 100);
    assert!(st.capacity.contains_key("memory") && st.capacity.contains_key("ephemeral-storage"));
    let info = st.node_info.unwrap();
    assert!(!info.kernel_version.is_empty() && info.container_runtime_version.starts_with("shoal://"));
    assert_eq!(st.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port, 10250);
    assert!(st.images.iter().any(|i| i.names.iter().any(|n| n.contains("busybox"))));
    assert!(st.addresses.iter().any(|a| a.type_ == "InternalIP" && a.address == "192.168.7.1"));
    let lease = e.api.api::<Lease>(Some(NODE_LEASE_NAMESPACE)).get(NODE).await.unwrap();
    assert_eq!(lease.spec.holder_identity.as_deref(), Some(NODE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_container_reaches_crash_loop_back_off_with_growing_gaps() {
    let e = env();
    e.fakes.runtime.set_behaviour("c", Behaviour { exit: Some((1, Duration::from_millis(30))), ..Default::default() });
    e.create(pod("crash", vec![container("c")])).await;
    let p = e
        .wait_pod("crash", "restartCount 4 in CrashLoopBackOff", |p| {
            cstatus(p, "c").is_some_and(|c| c.restart_count >= 4) && waiting_reason(p, "c") == "CrashLoopBackOff"
        })
        .await;
    let c = cstatus(&p, "c").unwrap();
    let msg = c.state.as_ref().unwrap().waiting.as_ref().unwrap().message.clone().unwrap();
    assert!(msg.starts_with("back-off ") && msg.contains(&format!("restarting failed container=c pod=crash_default({})", p.metadata.uid)), "{msg}");
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert_eq!(phase(&p), "Running", "Always: restarting counts as Running");
    assert_eq!(cond(&p, "Ready"), "False");
    let starts = e.fakes.runtime.start_times("c");
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 4, "{gaps:?}");
    // First restart at once, then 200 ms, 400 ms, 800 ms…
    assert!(gaps[2] > gaps[1] + Duration::from_millis(100) && gaps[3] > gaps[2] + Duration::from_millis(200), "gaps grow: {gaps:?}");
    e.wait_event("crash", "BackOff", "Back-off restarting failed container c in pod crash_default").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_fails_on_a_failed_container_and_on_failure_succeeds_on_exit_zero() {
    let e = env();
    e.fakes.runtime.set_behaviour("bad", Behaviour { exit: Some((3, Duration::from_millis(20))), termination_message: Some("it broke".into()), ..Default::default() });
    e.fakes.runtime.set_behaviour("good", Behaviour { exit: Some((0, Duration::from_millis(20))), ..Default::default() });
    let mut never = pod("never", vec![container("bad")]);
    never.spec.restart_policy = Some("Never".into());
    e.create(never).await;
    let mut ok = pod("onfailure", vec![container("good")]);
    ok.spec.restart_policy = Some("OnFailure".into());
    e.create(ok).await;
    let p = e.wait_pod("never", "Failed", |p| phase(p) == "Failed").await;
    let t = cstatus(&p, "bad").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref(), t.message.as_deref()), (3, Some("Error"), Some("it broke")));
    let p = e.wait_pod("onfailure", "Succeeded", |p| phase(p) == "Succeeded").await;
    let t = cstatus(&p, "good").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(cond(&p, "Ready"), "False");
    assert_eq!(e.fakes.runtime.start_times("bad").len(), 1);
    assert_eq!(e.fakes.runtime.start_times("good").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_in_order_and_sidecars_start_before_and_stop_after_the_app() {
    let e = env();
    for n in ["init1", "init2"] {
        e.fakes.runtime.set_behaviour(n, Behaviour { exit: Some((0, Duration::from_millis(50))), ..Default::default() });
    }
    let mut p = pod("inits", vec![container("app")]);
    let mut side = container("side");
    side.restart_policy = Some("Always".into());
    p.spec.init_containers = vec![container("init1"), side, container("init2")];
    p.metadata.finalizers = vec!["test.shoal.io/hold".into()];
    e.create(p).await;
    let p = e.wait_pod("inits", "Running with everything started", |p| phase(p) == "Running" && cond(p, "Ready") == "True").await;
    assert_eq!(cond(&p, "Initialized"), "True");
    let order: Vec<String> = e.fakes.runtime.calls().iter().filter_map(|c| match c {
        Call::Start { name, .. } => Some(name.clone()),
        _ => None,
    }).collect();
    assert_eq!(order, ["init1", "side", "init2", "app"]);
    let init1 = cstatus(&p, "init1").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!(init1.reason.as_deref(), Some("Completed"));
    assert!(cstatus(&p, "side").unwrap().state.as_ref().unwrap().running.is_some(), "the sidecar keeps running");

    e.pods().delete("inits", &DeleteParams::default()).await.unwrap();
    let uid = p.metadata.uid.clone();
    wait_for("the pod torn down", Duration::from_secs(20), async || {
        if e.fakes.network.calls().contains(&format!("detach {uid}")) { Ok(()) } else { Err(format!("{:?}", e.fakes.network.calls())) }
    })
    .await;
    let signals: Vec<String> = e.fakes.runtime.calls().iter().filter_map(|c| match c {
        Call::Signal { name, signal: 15, .. } => Some(name.clone()),
        _ => None,
    }).collect();
    assert_eq!(signals, ["app", "side"], "the sidecar stops after the app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_failure_keeps_the_pod_unready_and_liveness_failure_restarts() {
    let e = env();
    e.fakes.runtime.set_exec_code("unready", "check", 1);
    e.fakes.runtime.set_exec_code("dying", "alive", 1);
    let mut a = container("unready");
    a.readiness_probe = exec_probe("check", 1, 1);
    let mut b = container("dying");
    b.liveness_probe = exec_probe("alive", 1, 2);
    e.create(pod("probed", vec![a, b])).await;
    let p = e.wait_pod("probed", "dying restarted", |p| cstatus(p, "dying").is_some_and(|c| c.restart_count >= 1)).await;
    assert_eq!(cond(&p, "Ready"), "False");
    assert_eq!(cond(&p, "ContainersReady"), "False");
    let msg = p.status.as_ref().unwrap().conditions.iter().find(|c| c.type_ == "Ready").unwrap().message.clone().unwrap();
    assert!(msg.contains("unready"), "{msg}");
    assert!(!cstatus(&p, "unready").unwrap().ready);
    assert_eq!(phase(&p), "Running");
    e.wait_event("probed", "Unhealthy", "Readiness probe failed: ").await;
    e.wait_event("probed", "Unhealthy", "Liveness probe failed: ").await;
    e.wait_event("probed", "Killing", "Container dying failed liveness probe, will be restarted").await;
    // Once the probe passes, the pod is Ready.
    e.fakes.runtime.set_exec_code("unready", "check", 0);
    e.fakes.runtime.set_exec_code("dying", "alive", 0);
    e.wait_pod("probed", "Ready once the probes pass", |p| cond(p, "Ready") == "True").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_runs_pre_stop_before_sigterm_removes_everything_and_deletes_the_pod() {
    let e = env();
    let mut c = container("web");
    c.lifecycle = Some(Box::new(Lifecycle { pre_stop: Some(LifecycleHandler { exec: Some(ExecAction { command: vec!["drain".into()] }), ..Default::default() }), ..Default::default() }));
    let mut stubborn = container("stubborn");
    stubborn.name = "stubborn".into();
    e.fakes.runtime.set_behaviour("stubborn", Behaviour { ignore_sigterm: true, ..Default::default() });
    let mut p = pod("bye", vec![c, stubborn]);
    p.metadata.finalizers = vec!["test.shoal.io/hold".into()];
    let created = e.create(p).await;
    e.wait_pod("bye", "Running", |p| phase(p) == "Running").await;
    let uid = created.metadata.uid.clone();
    assert!(e.root.join("pods").join(&uid).exists());
    // A short grace: "stubborn" ignores SIGTERM and is killed when it runs out.
    e.pods().delete("bye", &DeleteParams { grace_period_seconds: Some(1), ..Default::default() }).await.unwrap();
    wait_for("the network detached", Duration::from_secs(20), async || {
        if e.fakes.network.calls().contains(&format!("detach {uid}")) { Ok(()) } else { Err(format!("{:?}", e.fakes.network.calls())) }
    })
    .await;
    let calls = e.fakes.runtime.calls();
    let at = |pred: &dyn Fn(&Call) -> bool| calls.iter().position(pred).unwrap_or_else(|| panic!("missing call in {calls:?}"));
    let pre_stop = at(&|c| matches!(c, Call::Exec { argv, .. } if argv == &["drain".to_string()]));
    let term = at(&|c| matches!(c, Call::Signal { name, signal: 15, .. } if name == "web"));
    let kill = at(&|c| matches!(c, Call::Signal { name, signal: 9, .. } if name == "stubborn"));
    let removed = at(&|c| matches!(c, Call::Remove { name, .. } if name == "web"));
    let sandbox = calls.iter().rposition(|c| matches!(c, Call::RemoveSandbox { .. })).unwrap();
    assert!(pre_stop < term && term < removed && kill < removed && removed < sandbox, "{calls:?}");
    assert!(!calls.iter().any(|c| matches!(c, Call::Signal { name, signal: 9, .. } if name == "web")), "web stopped on SIGTERM");
    wait_for("the pod's directory removed", Duration::from_secs(5), async || {
        if e.root.join("pods").join(&uid).exists() { Err("still there".to_string()) } else { Ok(()) }
    })
    .await;
    e.wait_event("bye", "Killing", "Stopping container web").await;
    // The agent deleted with grace 0: only the test's finalizer holds the object now.
    e.pods().patch("bye", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"finalizers": null}}))).await.unwrap();
    wait_for("the pod gone", Duration::from_secs(10), async || match e.pods().get_opt("bye").await {
        Ok(None) => Ok(()),
        other => Err(format!("{:?}", other.map(|p| p.map(|p| p.metadata.deletion_timestamp)))),
    })
    .await;
    assert!(e.fakes.runtime.running().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_agent_adopts_running_containers_and_catches_up() {
    let mut e = env();
    e.create(pod("keep", vec![container("a")])).await;
    e.create(pod("drop", vec![container("a")])).await;
    let before = e.wait_pod("keep", "Running", |p| phase(p) == "Running" && cond(p, "Ready") == "True").await;
    e.wait_pod("drop", "Running", |p| phase(p) == "Running").await;
    let creates_before = creates(&e.fakes);
    drop(e.agent.take());
    // Meanwhile: one pod force-deleted, one pod added.
    e.pods().delete("drop", &DeleteParams::now()).await.unwrap();
    e.create(pod("new", vec![container("a")])).await;
    e.agent = Some(start_agent(&e.url, &e.root, &e.fakes));
    e.wait_pod("new", "the new pod Running", |p| phase(p) == "Running").await;
    wait_for("the dropped pod's containers removed", Duration::from_secs(20), async || {
        let left: Vec<_> = e.fakes.runtime.running().into_iter().filter(|(_, m)| m.pod_name == "drop").collect();
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) }
    })
    .await;
    assert_eq!(creates(&e.fakes), creates_before + 1, "only the new pod's container was created");
    let after = e.pods().get("keep").await.unwrap();
    let (b, a) = (before.status.unwrap(), after.status.unwrap());
    assert_eq!(a.pod_ip, b.pod_ip, "same IP");
    assert_eq!(a.container_statuses[0].container_id, b.container_statuses[0].container_id, "same container");
    assert_eq!(a.container_statuses[0].restart_count, 0);
    assert_eq!(a.phase.as_deref(), Some("Running"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_images_wait_with_upstreams_reasons() {
    let e = env();
    let mut never = container("c");
    never.image = Some("ghost:v1".into());
    never.image_pull_policy = Some("Never".into());
    e.create(pod("neverpull", vec![never])).await;
    let mut pulled = container("c");
    pulled.image = Some("ghost:v2".into());
    e.create(pod("pullfail", vec![pulled])).await;
    let mut ok = container("c");
    ok.image = Some("hello:v1".into());
    e.fakes.images.add_pullable("hello:v1", &["/hello"]);
    e.create(pod("pullok", vec![ok])).await;

    let p = e.wait_pod("neverpull", "ErrImageNeverPull", |p| waiting_reason(p, "c") == "ErrImageNeverPull").await;
    let w = cstatus(&p, "c").unwrap().state.clone().unwrap().waiting.unwrap();
    assert_eq!(w.message.as_deref(), Some("Container image \"ghost:v1\" is not present with pull policy of Never"));
    assert_eq!(phase(&p), "Pending");
    e.wait_pod("pullfail", "ErrImagePull", |p| waiting_reason(p, "c") == "ErrImagePull").await;
    let p = e.wait_pod("pullfail", "ImagePullBackOff", |p| waiting_reason(p, "c") == "ImagePullBackOff").await;
    let w = cstatus(&p, "c").unwrap().state.clone().unwrap().waiting.unwrap();
    assert_eq!(w.message.as_deref(), Some("Back-off pulling image \"ghost:v2\""));
    e.wait_event("pullfail", "Failed", "Failed to pull image \"ghost:v2\": ").await;
    e.wait_event("pullfail", "Failed", "import it with `shoal image import`").await;
    e.wait_pod("pullok", "Running after a pull", |p| phase(p) == "Running").await;
    e.wait_event("pullok", "Pulling", "Pulling image \"hello:v1\"").await;
    e.wait_event("pullok", "Pulled", "Successfully pulled image \"hello:v1\" in ").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_image_restarts_the_container() {
    let e = env();
    e.fakes.images.add("busybox:1.37", &["sh"]);
    e.create(pod("img", vec![container("a")])).await;
    e.wait_pod("img", "Running", |p| phase(p) == "Running" && cond(p, "Ready") == "True").await;
    e.pods().patch("img", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"containers": [{"name": "a", "image": "busybox:1.37"}]}}))).await.unwrap();
    let p = e.wait_pod("img", "restarted on the new image", |p| cstatus(p, "a").is_some_and(|c| c.image == "busybox:1.37" && c.restart_count == 1 && c.ready)).await;
    assert_eq!(phase(&p), "Running");
    e.wait_event("img", "Killing", "Container a definition changed, will be restarted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_is_written_only_when_it_changes() {
    let e = env();
    e.create(pod("calm", vec![container("a")])).await;
    let p = e.wait_pod("calm", "Running and Ready", |p| phase(p) == "Running" && cond(p, "Ready") == "True").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = e.pods().get("calm").await.unwrap();
    assert_eq!(later.metadata.resource_version, p.metadata.resource_version, "no writes while nothing changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_gates_readiness_and_liveness() {
    let e = env();
    e.fakes.runtime.set_exec_code("slow", "boot", 1);
    let mut c = container("slow");
    c.startup_probe = exec_probe("boot", 1, 30);
    c.readiness_probe = exec_probe("check", 1, 1);
    e.create(pod("starting", vec![c])).await;
    e.wait_event("starting", "Unhealthy", "Startup probe failed: ").await;
    let p = e.pods().get("starting").await.unwrap();
    let s = cstatus(&p, "slow").unwrap();
    assert_eq!((s.started, s.ready), (Some(false), false));
    let readiness_runs = |f: &Fakes| f.runtime.calls().iter().filter(|c| matches!(c, Call::Exec { argv, .. } if argv[0] == "check")).count();
    assert_eq!(readiness_runs(&e.fakes), 0, "readiness waits for the startup probe");
    e.fakes.runtime.set_exec_code("slow", "boot", 0);
    let p = e.wait_pod("starting", "started and ready", |p| cond(p, "Ready") == "True").await;
    assert_eq!(cstatus(&p, "slow").unwrap().started, Some(true));
    assert!(readiness_runs(&e.fakes) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_post_start_hook_kills_and_restarts_the_container() {
    let e = env();
    e.fakes.runtime.set_exec_code("hooked", "hook", 1);
    let mut c = container("hooked");
    c.lifecycle = Some(Box::new(Lifecycle { post_start: Some(LifecycleHandler { exec: Some(ExecAction { command: vec!["hook".into()] }), ..Default::default() }), ..Default::default() }));
    e.create(pod("hook", vec![c])).await;
    let ev = e.wait_event("hook", "FailedPostStartHook", "Exec lifecycle hook ([hook]) for Container \"hooked\" in Pod \"hook_default(").await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    e.wait_pod("hook", "restarted", |p| cstatus(p, "hooked").is_some_and(|c| c.restart_count >= 1)).await;
    assert!(e.fakes.runtime.calls().iter().any(|c| matches!(c, Call::Signal { name, signal: 15, .. } if name == "hooked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_kills_mount_and_config_errors_and_a_lost_sandbox_are_reported() {
    let e = env();
    e.fakes.runtime.set_behaviour("hog", Behaviour { exit: Some((137, Duration::from_millis(20))), oom: true, ..Default::default() });
    let mut oom = pod("oom", vec![container("hog")]);
    oom.spec.restart_policy = Some("Never".into());
    e.create(oom).await;

    let mut mount = pod("mount", vec![container("a")]);
    mount.spec.volumes = vec![api::model::Volume {
        name: "cfg".into(),
        config_map: Some(api::model::ConfigMapVolumeSource { name: Some("missing".into()), ..Default::default() }),
        ..Default::default()
    }];
    e.create(mount).await;

    let mut env_pod = container("a");
    env_pod.env = vec![api::model::EnvVar {
        name: "PASSWORD".into(),
        value_from: Some(Box::new(api::model::EnvVarSource {
            secret_key_ref: Some(api::model::KeySelector { name: "missing".into(), key: "k".into(), optional: None }),
            ..Default::default()
        })),
        ..Default::default()
    }];
    e.create(pod("config", vec![env_pod])).await;
    e.create(pod("phoenix", vec![container("a")])).await;

    let p = e.wait_pod("oom", "Failed", |p| phase(p) == "Failed").await;
    let t = cstatus(&p, "hog").unwrap().state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));

    e.wait_event("mount", "FailedMount", "MountVolume.SetUp failed for volume \"cfg\"").await;
    let p = e.wait_pod("mount", "waiting in ContainerCreating", |p| waiting_reason(p, "a") == "ContainerCreating").await;
    assert_eq!(phase(&p), "Pending");

    e.wait_pod("config", "CreateContainerConfigError", |p| waiting_reason(p, "a") == "CreateContainerConfigError").await;

    let p = e.wait_pod("phoenix", "Running", |p| phase(p) == "Running").await;
    let ip = p.status.as_ref().unwrap().pod_ip.clone();
    e.fakes.runtime.kill_sandbox(&format!("sb-{}", p.metadata.uid));
    e.fakes.stats.pods(); // the node server's view stays readable meanwhile
    let p = e.wait_pod("phoenix", "restarted in a new sandbox", |p| cstatus(p, "a").is_some_and(|c| c.restart_count == 1 && c.ready)).await;
    assert_eq!(p.status.as_ref().unwrap().pod_ip, ip, "the pod keeps its address");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_removed_from_the_api_is_still_stopped_gracefully() {
    let e = env();
    let mut c = container("web");
    c.lifecycle = Some(Box::new(Lifecycle { pre_stop: Some(LifecycleHandler { exec: Some(ExecAction { command: vec!["drain".into()] }), ..Default::default() }), ..Default::default() }));
    let created = e.create(pod("gone", vec![c])).await;
    e.wait_pod("gone", "Running", |p| phase(p) == "Running").await;
    e.pods().delete("gone", &DeleteParams::now()).await.unwrap();
    let uid = created.metadata.uid.clone();
    wait_for("the pod torn down", Duration::from_secs(20), async || {
        let dir_gone = !e.root.join("pods").join(&uid).exists();
        if e.fakes.network.calls().contains(&format!("detach {uid}")) && e.fakes.runtime.running().is_empty() && dir_gone {
            Ok(())
        } else {
            Err(format!("{:?}", e.fakes.network.calls()))
        }
    })
    .await;
    let calls = e.fakes.runtime.calls();
    let pre_stop = calls.iter().position(|c| matches!(c, Call::Exec { argv, .. } if argv == &["drain".to_string()])).expect("preStop ran");
    let term = calls.iter().position(|c| matches!(c, Call::Signal { signal: 15, .. })).expect("SIGTERM sent");
    assert!(pre_stop < term, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_given_pod_cidr_the_agent_waits_for_the_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let url = control_plane(dir.path());
    let api = client::Client::new(&url).unwrap();
    let fakes = Fakes::new();
    let mut opts = options(&url, &dir.path().join("node"));
    opts.pod_cidr = None;
    let _agent = start_agent_with(opts, &fakes);
    let nodes = api.api::<Node>(None);
    wait_for("the Node registered", Duration::from_secs(20), async || match nodes.get_opt(NODE).await {
        Ok(Some(_)) => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    assert!(fakes.network.calls().is_empty(), "no network before the node has a pod CIDR");
    nodes.patch(NODE, &PatchParams::default(), &Patch::Merge(json!({"spec": {"podCIDR": "10.244.9.0/24", "podCIDRs": ["10.244.9.0/24"]}}))).await.unwrap();
    let pods = api.api::<Pod>(Some("default"));
    pods.create(&pod("late", vec![container("a")])).await.unwrap();
    wait_for("the pod Running on the allocated subnet", Duration::from_secs(20), async || match pods.get("late").await {
        Ok(p) if p.status.as_ref().and_then(|s| s.pod_ip.as_deref()) == Some("10.244.9.2") => Ok(()),
        other => Err(format!("{:?}", other.map(|p| p.status.and_then(|s| s.pod_ip)))),
    })
    .await;
    assert_eq!(fakes.network.calls()[0], "ensure_node 10.244.9.0/24");
}
