//! Benchmark: how long a pod takes to start on a real single-node cluster (`shoal up`
//! as root, in a network namespace of its own, see `tests/harness/real.rs`), how much of
//! that is the container runtime, and what the node process weighs. Prints figures,
//! asserts nothing about speed.
//!
//! 1. API create → pod Running (phase Running, container state running; seen on a watch)
//!    for a one-container busybox pod whose image is already imported: 100 pods one at a
//!    time, then 50 created back to back (each measured from the first create).
//! 2. The container step alone: create → process running through `LibcontainerRuntime`
//!    (over a zygote, as the node does it), beside `crun run --detach` of the same spec in
//!    the same sandbox, 30 each: is our runtime the slow part of a pod start?
//! 3. The VmRSS of the `shoal up` process (control plane and node agent together) before
//!    the pods and with 100 running.
//!
//! Run: `cargo bench --bench pod_start` (root). Everything the bench makes lives below the
//! cluster's directory and the node's cgroup, so the cluster's drop removes it.

#[path = "../tests/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::real::{require_root, RealCluster};
use harness::{wait_for, Api};
use node_host::bundle::{self, BundleInput, NodeInputs};
use node_host::image::ImageConfig;
use node_host::runtime::cgroups::Layout;
use node_host::runtime::{zygote, ContainerConfig, ContainerMeta, ContainerRuntime, LibcontainerRuntime, Role, RuntimeOptions, SandboxConfig};
use serde_json::json;

const PODS: &str = "/api/v1/namespaces/default/pods";
const SEQUENTIAL: usize = 100;
const BURST: usize = 50;
const RUNTIME_RUNS: usize = 30;

/// What the node's bundle code makes for `sleep 3600` in busybox (the hardened default).
/// A macro: the spec's type is oci-spec's, not a dependency of this package to name.
macro_rules! spec {
    ($rootfs:expr, $sb:expr, $cgroup:expr) => {{
        let c = api::model::Container { name: "c".into(), command: vec!["sleep".into(), "3600".into()], ..Default::default() };
        let mut pod = api::model::Pod::default();
        pod.spec.containers = vec![c.clone()];
        let image = ImageConfig { env: vec!["PATH=/bin".into()], ..Default::default() };
        let input = BundleInput { pod: &pod, container: &c, image: &image, rootfs: $rootfs, env: &[], mounts: &[], sandbox: $sb, cgroups_path: $cgroup, node: NodeInputs::default() };
        bundle::container_spec(&input).expect("the container's spec")
    }};
}

fn main() {
    // Part 2 re-runs this binary as its zygote (a fresh single-threaded process).
    zygote::serve_from_env();
    require_root();
    // On another thread: the namespace's drop kills every process listed in it, and this
    // process is listed when its main thread is the one inside.
    if std::thread::spawn(bench).join().is_err() {
        std::process::exit(1);
    }
}

fn bench() {
    let rc = RealCluster::start("podstart");
    let api = rc.cluster.api();
    let pid = rc.cluster.server_pid().expect("the server's pid");
    let mut running = watch_running(&api);
    std::thread::sleep(Duration::from_secs(2));
    let rss_before = rss_kib(pid);

    let mut seq = Vec::new();
    for i in 0..SEQUENTIAL {
        let name = format!("seq-{i:03}");
        let t = Instant::now();
        create(&api, &name, "seq");
        seq.push(ms(running.wait(&name).duration_since(t)));
    }
    std::thread::sleep(Duration::from_secs(2));
    let rss_100 = rss_kib(pid);
    let seq_delete = delete_all(&rc, "seq");

    let t0 = Instant::now();
    let names: Vec<String> = (0..BURST).map(|i| format!("burst-{i:02}")).collect();
    for n in &names {
        create(&api, n, "burst");
    }
    let created = ms(t0.elapsed());
    let mut burst: Vec<f64> = names.iter().map(|n| ms(running.wait(n).duration_since(t0))).collect();
    let burst_total = burst.iter().copied().fold(0.0, f64::max);
    let burst_delete = delete_all(&rc, "burst");

    let (mut ours, mut theirs, sandbox_ms) = runtime_vs_crun(&rc);

    println!("pod start, API create → Running (busybox:latest, `sleep 3600`, image present, one node):");
    println!("  {SEQUENTIAL} sequential: {}", stats(&mut seq));
    println!("  {BURST} created at once (creates took {created:.0} ms), from the first create: {}; all Running after {burst_total:.0} ms", stats(&mut burst));
    println!("  bulk delete until the API list and the node's pod directories are empty: {SEQUENTIAL} pods {seq_delete:.1} s, {BURST} pods {burst_delete:.1} s");
    println!("container step alone, {RUNTIME_RUNS} sequential in one sandbox (sandbox itself {sandbox_ms:.1} ms):");
    println!("  LibcontainerRuntime create+start → process running: {}", stats(&mut ours));
    println!("  `crun run --detach` of the same spec:                {}", stats(&mut theirs));
    if let (Some(a), Some(b)) = (pct(&ours, 0.5), pct(&theirs, 0.5)) {
        println!("  p50 ratio ours / crun: {:.2}", a / b);
    }
    println!("memory: VmRSS of the `shoal up` process (control plane AND node agent in one process; without the zygote and the containers):");
    println!("  before the pods: {:.1} MiB; at {SEQUENTIAL} running pods: {:.1} MiB ({:+.1} MiB, {:.0} KiB per pod)",
        rss_before as f64 / 1024.0, rss_100 as f64 / 1024.0, (rss_100 as f64 - rss_before as f64) / 1024.0, (rss_100 as f64 - rss_before as f64) / SEQUENTIAL as f64);
}

fn create(api: &Api, name: &str, group: &str) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": group}},
        "spec": {"terminationGracePeriodSeconds": 0,
                 "containers": [{"name": "c", "image": "busybox:latest", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}]}});
    let (code, body) = api.post(PODS, &pod).expect("creating a pod");
    assert_eq!(code, 201, "creating pod {name}: {body}");
}

/// A thread watching pods, sending each pod's name with the instant it was first seen
/// Running with its container started.
fn watch_running(api: &Api) -> Running {
    let w = api.watch(&format!("{PODS}?watch=true"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = HashSet::new();
        while let Some(ev) = w.next(Duration::from_secs(600)) {
            let p = &ev["object"];
            let started = p["status"]["containerStatuses"].as_array().is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c["state"]["running"].is_object()));
            let name = p["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if p["status"]["phase"] == "Running" && started && seen.insert(name.clone()) && tx.send((name, Instant::now())).is_err() {
                return;
            }
        }
    });
    Running { rx, early: HashMap::new() }
}

/// Reports of pods Running, by name, in whatever order they come.
struct Running {
    rx: mpsc::Receiver<(String, Instant)>,
    early: HashMap<String, Instant>,
}

impl Running {
    /// When `name` was seen Running.
    fn wait(&mut self, name: &str) -> Instant {
        if let Some(at) = self.early.remove(name) {
            return at;
        }
        loop {
            let (n, at) = self.rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|e| panic!("pod {name} not Running within 120 s ({e})"));
            if n == name {
                return at;
            }
            self.early.insert(n, at);
        }
    }
}

/// Deletes the group's pods in one request; seconds until they are gone from the API and
/// the node has removed their directories.
fn delete_all(rc: &RealCluster, group: &str) -> f64 {
    let api = rc.cluster.api();
    let t = Instant::now();
    let (code, body) = api.delete(&format!("{PODS}?labelSelector=bench%3D{group}")).expect("deleting the pods");
    assert_eq!(code, 200, "deletecollection: {body}");
    let pods_dir = rc.node_root().join("pods");
    wait_for("the pods to be gone", Duration::from_secs(300), || {
        let (_, l) = api.get(&format!("{PODS}?labelSelector=bench%3D{group}")).map_err(|e| e.to_string())?;
        let left = l["items"].as_array().map_or(usize::MAX, Vec::len);
        let dirs = std::fs::read_dir(&pods_dir).map_or(0, |d| d.count());
        if left == 0 && dirs == 0 { Ok(()) } else { Err(format!("{left} pods, {dirs} pod directories left")) }
    });
    t.elapsed().as_secs_f64()
}

/// Part 2: create → running through our runtime, then `crun run` of the same spec, both
/// in one sandbox below the node's cgroup; returns both series (ms) and the sandbox's time.
fn runtime_vs_crun(rc: &RealCluster) -> (Vec<f64>, Vec<f64>, f64) {
    let dir = rc.path().join("bench-runtime");
    let rootfs = dir.join("rootfs");
    make_rootfs(&rootfs);
    let cgroup_root = format!("shoal/{}/bench-runtime", rc.node);
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let exe = std::env::current_exe().expect("this bench's executable");
    let (z, _child) = zygote::spawn_command(Command::new(exe)).expect("starting the zygote");
    let rt = {
        let _g = tokio.enter();
        LibcontainerRuntime::new(z, RuntimeOptions { state_dir: dir.join("state"), cgroup_root: cgroup_root.clone() }).expect("the runtime")
    };
    let sb_cfg = SandboxConfig { id: "sb".into(), meta: meta("", Role::Sandbox), hostname: "bench".into(), pod_dir: dir.join("pods/sb"), cgroup_parent: "pod-sb".into(), host_network: false };
    let t = Instant::now();
    let sb = tokio.block_on(rt.run_sandbox(&sb_cfg)).expect("the sandbox");
    let sandbox_ms = ms(t.elapsed());

    let mut ours = Vec::new();
    tokio.block_on(async {
        for i in 0..RUNTIME_RUNS {
            let id = format!("lc{i}");
            let cfg = ContainerConfig {
                id: id.clone(),
                meta: meta(&id, Role::App),
                bundle: dir.join("bundles").join(&id),
                spec: spec!(&rootfs, &sb, &format!("pod-sb/{id}")),
                stdout: dir.join(format!("{id}.out")),
                stderr: dir.join(format!("{id}.err")),
            };
            let t = Instant::now();
            rt.create(&sb, cfg).await.expect("creating a container");
            rt.start(&id).await.expect("starting a container");
            ours.push(ms(t.elapsed()));
        }
        for i in 0..RUNTIME_RUNS {
            rt.remove(&format!("lc{i}")).await.expect("removing a container");
        }
    });

    // crun 1.8 refuses a hybrid cgroup layout (a cgroup2 mounted beside the v1
    // hierarchies, as on this machine): it runs in a mount namespace without that mount.
    // Each figure is `date` before and after one `crun run --detach`.
    let layout = Layout::detect().expect("the cgroup layout");
    let crun = format!("crun --root {} --cgroup-manager cgroupfs", dir.join("crun").display());
    let mut script = String::from("if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi\n");
    for i in 0..RUNTIME_RUNS {
        let id = format!("crun{i}");
        let bundle = dir.join("bundles").join(&id);
        std::fs::create_dir_all(&bundle).expect("a bundle directory");
        spec!(&rootfs, &sb, &layout.resolve(&format!("{cgroup_root}/pod-sb/{id}"))).save(bundle.join("config.json")).expect("writing config.json");
        script.push_str(&format!(
            "s=$(date +%s%N); {crun} run --detach --bundle {} {id} </dev/null >/dev/null || exit 1; e=$(date +%s%N); echo $((e - s)); {crun} delete --force {id}\n",
            bundle.display()
        ));
    }
    let out = Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]).stdin(Stdio::null()).output().expect("running crun");
    if !out.status.success() {
        eprintln!("crun failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let theirs = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse::<f64>().ok()).map(|ns| ns / 1e6).collect();

    tokio.block_on(rt.remove_sandbox("sb")).expect("removing the sandbox");
    rt.remove_cgroup_root();
    (ours, theirs, sandbox_ms)
}

fn meta(name: &str, role: Role) -> ContainerMeta {
    ContainerMeta { pod_uid: "uid-bench".into(), pod_namespace: "default".into(), pod_name: "bench".into(), container_name: name.into(), role, attempt: 0, spec_hash: 0 }
}

/// A root filesystem of the machine's static busybox.
fn make_rootfs(root: &Path) {
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(root.join(d)).expect("a rootfs directory");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copying /bin/busybox (a static busybox)");
    for app in ["sh", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(app)).expect("a busybox link");
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of a sorted series.
fn pct(v: &[f64], p: f64) -> Option<f64> {
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len().max(1)) - 1;
    v.get(i).copied()
}

fn stats(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    match (pct(v, 0.5), pct(v, 0.99), v.last()) {
        (Some(a), Some(b), Some(c)) => format!("p50 {a:.1} ms, p99 {b:.1} ms, max {c:.1} ms (n={})", v.len()),
        _ => "n/a".into(),
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}
