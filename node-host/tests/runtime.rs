//! The libcontainer runtime for real, as root: containers in a pause sandbox, exit codes,
//! containers outliving the agent's runtime handle (and its zygote), exec, OOM kills,
//! shared namespaces, what leaks into a container, and cleanup. Each test builds a
//! busybox root filesystem in a temporary directory; a guard removes every process,
//! mount and cgroup a test made even when it fails. Skipped (passing) when not root.
//!
//! The zygote of each runtime is the `shoal-zygote` program: the test harness is
//! multi-threaded, so a zygote is never forked from it.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use node_host::runtime::cgroups::Layout;
use node_host::runtime::{
    zygote, ContainerConfig, ContainerMeta, ContainerRuntime, ContainerStatus, ExecRequest, LibcontainerRuntime, Role, RuntimeOptions, Sandbox, SandboxConfig,
};
use node_host::bundle::{self, BundleInput, NodeInputs};
use node_host::image::ImageConfig;
use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResourcesBuilder, RootBuilder, Spec};

/// These tests run real containers: without root they fail, saying so (DESIGN.md, "Testing").
fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "this test runs real containers and needs root (namespaces, cgroups, mounts); run it as root");
}

/// One test's world: a temp dir (rootfs, pod dirs, state), a cgroup root, a tokio runtime.
struct World {
    dir: tempfile::TempDir,
    cgroup_root: String,
    tokio: tokio::runtime::Runtime,
}

impl World {
    fn new(name: &str) -> World {
        let dir = tempfile::Builder::new().prefix("shoal-rt-").tempdir_in("/var/tmp").unwrap();
        make_rootfs(&dir.path().join("rootfs"));
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        World { dir, cgroup_root: format!("shoal-test-{}-{name}", std::process::id()), tokio }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn opts(&self) -> RuntimeOptions {
        RuntimeOptions { state_dir: self.path().join("state"), cgroup_root: self.cgroup_root.clone() }
    }

    /// A runtime with a fresh zygote.
    fn runtime(&self) -> LibcontainerRuntime {
        self.runtime_and_zygote().0
    }

    fn runtime_and_zygote(&self) -> (LibcontainerRuntime, u32) {
        let (z, _child) = zygote::spawn_command(Command::new(env!("CARGO_BIN_EXE_shoal-zygote"))).unwrap();
        let pid = z.pid();
        let _g = self.tokio.enter();
        (LibcontainerRuntime::new(z, self.opts()).unwrap(), pid)
    }

    fn sandbox_cfg(&self, id: &str, hostname: &str) -> SandboxConfig {
        SandboxConfig { id: id.into(), meta: meta(id, "", Role::Sandbox), hostname: hostname.into(), pod_dir: self.path().join("pods").join(id), cgroup_parent: format!("pod-{id}"), host_network: false }
    }

    fn container(&self, sb_cfg: &SandboxConfig, sb: &Sandbox, id: &str, args: &[&str]) -> ContainerConfig {
        let spec = spec(&self.path().join("rootfs"), args, sb, &format!("{}/{id}", sb_cfg.cgroup_parent));
        ContainerConfig {
            id: id.into(),
            meta: meta(&sb_cfg.id, id, Role::App),
            bundle: self.path().join("bundles").join(id),
            spec,
            stdout: self.path().join(format!("{id}.out")),
            stderr: self.path().join(format!("{id}.err")),
        }
    }

    fn output(&self, id: &str) -> String {
        std::fs::read_to_string(self.path().join(format!("{id}.out"))).unwrap_or_default()
    }

    fn pod_cgroup(&self, sb_cfg: &SandboxConfig) -> String {
        Layout::detect().unwrap().resolve(&format!("{}/{}", self.cgroup_root, sb_cfg.cgroup_parent))
    }
}

impl Drop for World {
    /// Whatever a test left: processes of its records, mounts below its dir, cgroups.
    fn drop(&mut self) {
        let meta = self.path().join("state/meta");
        for d in std::fs::read_dir(&meta).into_iter().flatten().flatten() {
            if let Ok(text) = std::fs::read_to_string(d.path().join("proc.json")) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    if let Some(pid) = v["pid"].as_i64() {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
                    }
                }
            }
        }
        let root = self.path().to_string_lossy().into_owned();
        for m in mounts_below(&root).into_iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if let Ok(layout) = Layout::detect() {
            let top = layout.resolve(&self.cgroup_root);
            for _ in 0..50 {
                if layout.kill_tree(&top) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn mounts_below(prefix: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(prefix))
        .collect()
}

fn make_rootfs(root: &Path) {
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "www"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for app in ["sh", "echo", "sleep", "cat", "ls", "tail", "hostname", "httpd", "wget", "true", "id", "nc"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(app)).unwrap();
    }
    std::fs::write(root.join("www/hello.txt"), "hello from c1\n").unwrap();
}

fn meta(pod: &str, name: &str, role: Role) -> ContainerMeta {
    ContainerMeta { pod_uid: format!("uid-{pod}"), pod_namespace: "default".into(), pod_name: pod.into(), container_name: name.into(), role, attempt: 0, spec_hash: 0 }
}

/// The spec `bundle` makes for a one-container pod running `args` (the hardened default).
fn spec(rootfs: &Path, args: &[&str], sb: &Sandbox, cgroup: &str) -> Spec {
    let c = api::model::Container { name: "c".into(), command: args.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    spec_for(rootfs, c, None, sb, cgroup, NodeInputs::default())
}

fn spec_for(rootfs: &Path, c: api::model::Container, psc: Option<api::model::PodSecurityContext>, sb: &Sandbox, cgroup: &str, node: NodeInputs<'_>) -> Spec {
    let mut pod = api::model::Pod::default();
    pod.spec.containers = vec![c.clone()];
    pod.spec.security_context = psc.map(Box::new);
    let image = ImageConfig { env: vec!["PATH=/bin".into()], ..Default::default() };
    let input = BundleInput { pod: &pod, container: &c, image: &image, rootfs, env: &[], mounts: &[], sandbox: sb, cgroups_path: cgroup, node };
    bundle::container_spec(&input).unwrap()
}

fn with_memory_limit(mut spec: Spec, bytes: i64) -> Spec {
    let mut linux = spec.linux().clone().unwrap();
    let mem = LinuxMemoryBuilder::default().limit(bytes).swap(bytes).build().unwrap();
    linux.set_resources(Some(LinuxResourcesBuilder::default().memory(mem).build().unwrap()));
    spec.set_linux(Some(linux));
    spec
}

async fn wait_status(rt: &LibcontainerRuntime, id: &str, what: &str, f: impl Fn(&ContainerStatus) -> bool) -> ContainerStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = rt.status(id).await.unwrap();
        if f(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{id}: timed out waiting for {what}, last status {s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn exited(s: &ContainerStatus) -> bool {
    matches!(s, ContainerStatus::Exited { .. })
}

/// What removal must leave: no records, no cgroup, no mount, no process.
fn assert_clean(w: &World, sb_cfg: &SandboxConfig, pids: &[u32]) {
    let layout = Layout::detect().unwrap();
    let pod = w.pod_cgroup(sb_cfg);
    assert!(!layout.exists(&pod), "pod cgroup {pod} left behind: {:?}", layout.dirs(&pod).iter().filter(|d| d.exists()).collect::<Vec<_>>());
    let mounts = mounts_below(&w.path().to_string_lossy());
    assert!(mounts.is_empty(), "mounts left behind: {mounts:?}");
    for pid in pids {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        assert!(state.is_none() || state.as_deref().is_some_and(|s| s.contains(") Z ")), "process {pid} left behind: {state:?}");
    }
    let meta: Vec<_> = std::fs::read_dir(w.path().join("state/meta")).unwrap().flatten().map(|d| d.file_name()).collect();
    assert!(meta.is_empty(), "records left behind: {meta:?}");
}

#[test]
fn a_container_runs_in_its_sandbox_and_reports_its_exit_code() {
    require_root();
    let w = World::new("exit");
    let rt = w.runtime();
    w.tokio.block_on(async {
        let sb_cfg = w.sandbox_cfg("sb1", "pod-a");
        let sb = rt.run_sandbox(&sb_cfg).await.unwrap();
        assert!(rt.sandbox("sb1").await.unwrap().is_some());
        let mut events = rt.events();
        rt.create(&sb, w.container(&sb_cfg, &sb, "c1", &["sh", "-c", "echo hello; echo oops >&2; hostname; exit 3"])).await.unwrap();
        assert_eq!(rt.status("c1").await.unwrap(), ContainerStatus::Created);
        assert!(matches!(rt.create(&sb, w.container(&sb_cfg, &sb, "c1", &["true"])).await, Err(node_host::runtime::RuntimeError::Exists(_))));
        let pid = rt.start("c1").await.unwrap();
        let s = wait_status(&rt, "c1", "exit", exited).await;
        assert!(matches!(s, ContainerStatus::Exited { exit_code: 3, signal: None, oom_killed: false, started_at: Some(_), .. }), "{s:?}");
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.unwrap().unwrap();
        assert_eq!((ev.id.as_str(), ev.meta.container_name.as_str(), ev.status.clone()), ("c1", "c1", s));
        assert_eq!(w.output("c1"), "hello\npod-a\n");
        assert_eq!(std::fs::read_to_string(w.path().join("c1.err")).unwrap(), "oops\n");
        let ids: Vec<_> = rt.list().await.unwrap().into_iter().map(|r| (r.id, r.meta.role)).collect();
        assert_eq!(ids, vec![("c1".to_string(), Role::App), ("sb1".to_string(), Role::Sandbox)]);
        rt.remove("c1").await.unwrap();
        assert!(!w.path().join("bundles/c1").exists(), "the bundle goes with the container");
        rt.remove_sandbox("sb1").await.unwrap();
        assert!(rt.sandbox("sb1").await.unwrap().is_none());
        assert_clean(&w, &sb_cfg, &[pid, sb.pid]);
        // A bad spec fails create with libcontainer's reason and leaves nothing.
        let sb2_cfg = w.sandbox_cfg("sb2", "pod-b");
        let sb2 = rt.run_sandbox(&sb2_cfg).await.unwrap();
        let mut bad = w.container(&sb2_cfg, &sb2, "bad", &["/no/such/binary"]);
        bad.spec.set_root(Some(RootBuilder::default().path("/no/such/rootfs").build().unwrap()));
        let err = rt.create(&sb2, bad).await.unwrap_err();
        assert!(matches!(err, node_host::runtime::RuntimeError::Start(_)), "{err:?}");
        rt.remove_sandbox("sb2").await.unwrap();
        assert!(rt.remove_cgroup_root());
    });
}

#[test]
fn containers_outlive_the_runtime_and_a_new_one_adopts_them() {
    require_root();
    let w = World::new("adopt");
    let sb_cfg = w.sandbox_cfg("sb", "pod-adopt");
    let (sb, pid) = {
        let (rt, zygote_pid) = w.runtime_and_zygote();
        w.tokio.block_on(async {
            let sb = rt.run_sandbox(&sb_cfg).await.unwrap();
            rt.create(&sb, w.container(&sb_cfg, &sb, "c1", &["sleep", "1000"])).await.unwrap();
            let pid = rt.start("c1").await.unwrap();
            // The agent and its zygote die (kill -9).
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygote_pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::fs::read_to_string(format!("/proc/{zygote_pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
                assert!(Instant::now() < deadline, "zygote {zygote_pid} did not die");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (sb, pid)
        })
    };
    // The first runtime and its zygote are gone; the container and sandbox still run.
    let rt = w.runtime();
    w.tokio.block_on(async {
        let list = rt.list().await.unwrap();
        let c1 = list.iter().find(|r| r.id == "c1").unwrap();
        assert!(matches!(c1.status, ContainerStatus::Running { pid: p, .. } if p == pid), "{:?}", c1.status);
        assert_eq!(c1.meta.container_name, "c1");
        assert_eq!(rt.sandbox("sb").await.unwrap(), Some(sb.clone()));
        // No zygote watched it exit: the code is lost.
        rt.signal("c1", libc::SIGKILL).await.unwrap();
        let s = wait_status(&rt, "c1", "not running", |s| !matches!(s, ContainerStatus::Running { .. })).await;
        assert_eq!(s, ContainerStatus::Unknown);
        rt.remove("c1").await.unwrap();
        rt.remove_sandbox("sb").await.unwrap();
        assert_clean(&w, &sb_cfg, &[pid, sb.pid]);
        assert!(rt.remove_cgroup_root());
    });
}

#[test]
fn the_hardened_spec_runs_as_its_user_without_privileges() {
    require_root();
    let w = World::new("hard");
    let rt = w.runtime();
    std::fs::write(w.path().join("hosts"), "127.0.0.1 localhost\n10.0.0.7 pod-hard\n").unwrap();
    // Made world-writable by whoever creates it, as the kubelet does.
    std::fs::write(w.path().join("termination-log"), "").unwrap();
    std::fs::set_permissions(w.path().join("termination-log"), std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    w.tokio.block_on(async {
        let sb_cfg = w.sandbox_cfg("sb", "pod-hard");
        let sb = rt.run_sandbox(&sb_cfg).await.unwrap();
        let script = "id -u; id -G; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; touch /x 2>/dev/null || echo read-only; \
                      unshare -n true 2>/dev/null || echo no-unshare; cat /etc/hosts; echo bye > /dev/termination-log; cat /proc/kcore 2>/dev/null | wc -c; cat /proc/self/oom_score_adj";
        let c = api::model::Container {
            name: "c".into(),
            command: vec!["sh".into(), "-c".into(), script.into()],
            security_context: Some(Box::new(api::model::SecurityContext {
                read_only_root_filesystem: Some(true),
                capabilities: Some(api::model::Capabilities { drop: vec!["ALL".into()], add: vec![] }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let psc = api::model::PodSecurityContext { run_as_user: Some(1000), run_as_group: Some(3000), supplemental_groups: vec![4000], ..Default::default() };
        let hosts = w.path().join("hosts");
        let tlog = w.path().join("termination-log");
        let node = NodeInputs { hosts: Some(&hosts), termination_log: Some(&tlog), ..Default::default() };
        let mut cfg = w.container(&sb_cfg, &sb, "hard", &["true"]);
        cfg.spec = spec_for(&w.path().join("rootfs"), c, Some(psc), &sb, &format!("{}/hard", sb_cfg.cgroup_parent), node);
        rt.create(&sb, cfg).await.unwrap();
        rt.start("hard").await.unwrap();
        let s = wait_status(&rt, "hard", "exit", exited).await;
        assert!(matches!(s, ContainerStatus::Exited { exit_code: 0, .. }), "{s:?}: {}", std::fs::read_to_string(w.path().join("hard.err")).unwrap_or_default());
        let out = w.output("hard");
        let lines: Vec<&str> = out.lines().map(|l| l.trim()).collect();
        assert_eq!(
            lines,
            [
                "1000",
                "3000 4000",
                "CapEff:\t0000000000000000",
                "NoNewPrivs:\t1",
                "Seccomp:\t2",
                "read-only",
                "no-unshare",
                "127.0.0.1 localhost",
                "10.0.0.7 pod-hard",
                "0",
                "1000",
            ],
            "{out}"
        );
        assert_eq!(std::fs::read_to_string(&tlog).unwrap(), "bye\n");
        // libcontainer set the score in its operation child, not in this process.
        assert_ne!(std::fs::read_to_string("/proc/self/oom_score_adj").unwrap().trim(), "1000");
        rt.remove("hard").await.unwrap();
        rt.remove_sandbox("sb").await.unwrap();
        assert_clean(&w, &sb_cfg, &[]);
        assert!(rt.remove_cgroup_root());
    });
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

fn read_all(fd: OwnedFd) -> String {
    use std::io::Read;
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

#[test]
fn exec_runs_in_the_container_and_nothing_of_the_agent_leaks_in() {
    require_root();
    let w = World::new("exec");
    let rt = w.runtime();
    w.tokio.block_on(async {
        let sb_cfg = w.sandbox_cfg("sb", "pod-exec");
        let sb = rt.run_sandbox(&sb_cfg).await.unwrap();
        rt.create(&sb, w.container(&sb_cfg, &sb, "fds", &["ls", "/proc/self/fd"])).await.unwrap();
        rt.start("fds").await.unwrap();
        wait_status(&rt, "fds", "exit", exited).await;
        // 0, 1, 2 and the directory ls itself reads.
        assert_eq!(w.output("fds").split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3"]);

        rt.create(&sb, w.container(&sb_cfg, &sb, "c1", &["sleep", "1000"])).await.unwrap();
        rt.start("c1").await.unwrap();
        let (r, wr) = pipe();
        let (er, ew) = pipe();
        let req = ExecRequest {
            argv: vec!["sh".into(), "-c".into(), "echo out $FOO; hostname; echo bad >&2; exit 7".into()],
            env: vec![("FOO".into(), "bar".into()), ("PATH".into(), "/bin".into())],
            stdin: None,
            stdout: Some(wr),
            stderr: Some(ew),
            tty: false,
        };
        let code = rt.exec("c1", req).await.unwrap();
        assert_eq!(code, 7);
        assert_eq!(read_all(r), "out bar\npod-exec\n");
        assert_eq!(read_all(er), "bad\n");
        let (r, wr) = pipe();
        let req = ExecRequest { argv: vec!["ls".into(), "/proc/self/fd".into()], env: vec![], stdin: None, stdout: Some(wr), stderr: None, tty: false };
        assert_eq!(rt.exec("c1", req).await.unwrap(), 0);
        assert_eq!(read_all(r).split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3"]);
        let err = rt.exec("fds", ExecRequest { argv: vec!["true".into()], env: vec![], stdin: None, stdout: None, stderr: None, tty: false }).await.unwrap_err();
        assert!(err.to_string().contains("not running"), "{err}");
        let usage = rt.usage("c1").await.unwrap();
        assert!(usage.memory_working_set > 0 && usage.cpu_ns > 0, "{usage:?}");
        let pids: Vec<u32> = rt.list().await.unwrap().iter().filter_map(|r| match r.status {
            ContainerStatus::Running { pid, .. } => Some(pid),
            _ => None,
        }).collect();
        rt.remove("c1").await.unwrap();
        rt.remove("fds").await.unwrap();
        rt.remove_sandbox("sb").await.unwrap();
        assert_clean(&w, &sb_cfg, &pids);
        assert!(rt.remove_cgroup_root());
    });
}

#[test]
fn a_container_over_its_memory_limit_is_oom_killed() {
    require_root();
    let w = World::new("oom");
    let rt = w.runtime();
    w.tokio.block_on(async {
        let sb_cfg = w.sandbox_cfg("sb", "pod-oom");
        let sb = rt.run_sandbox(&sb_cfg).await.unwrap();
        let mut c = w.container(&sb_cfg, &sb, "hog", &["tail", "/dev/zero"]);
        c.spec = with_memory_limit(c.spec, 16 << 20);
        rt.create(&sb, c).await.unwrap();
        rt.start("hog").await.unwrap();
        let s = wait_status(&rt, "hog", "exit", exited).await;
        assert!(matches!(s, ContainerStatus::Exited { exit_code: 137, signal: Some(9), oom_killed: true, .. }), "{s:?}");
        rt.remove("hog").await.unwrap();
        rt.remove_sandbox("sb").await.unwrap();
        assert_clean(&w, &sb_cfg, &[]);
        assert!(rt.remove_cgroup_root());
    });
}

#[test]
fn containers_of_one_sandbox_share_hostname_and_localhost() {
    require_root();
    let w = World::new("share");
    let rt = w.runtime();
    w.tokio.block_on(async {
        let sb_cfg = w.sandbox_cfg("sb", "pod-share");
        let sb = rt.run_sandbox(&sb_cfg).await.unwrap();
        rt.create(&sb, w.container(&sb_cfg, &sb, "server", &["sh", "-c", "hostname; exec httpd -f -p 127.0.0.1:8080 -h /www"])).await.unwrap();
        rt.start("server").await.unwrap();
        let fetch = "hostname; for i in $(seq 1 200); do wget -q -O - http://127.0.0.1:8080/hello.txt && exit 0; sleep 0.05; done; exit 1";
        rt.create(&sb, w.container(&sb_cfg, &sb, "client", &["sh", "-c", fetch])).await.unwrap();
        rt.start("client").await.unwrap();
        let s = wait_status(&rt, "client", "exit", exited).await;
        assert!(matches!(s, ContainerStatus::Exited { exit_code: 0, .. }), "{s:?}: {}", w.output("client"));
        assert_eq!(w.output("client"), "pod-share\nhello from c1\n");
        assert_eq!(w.output("server"), "pod-share\n");
        // The host's loopback is not the pod's.
        assert!(std::net::TcpStream::connect_timeout(&"127.0.0.1:8080".parse().unwrap(), Duration::from_millis(200)).is_err());
        // httpd is its pid namespace's init, which ignores an unhandled SIGTERM.
        rt.signal("server", libc::SIGKILL).await.unwrap();
        wait_status(&rt, "server", "exit", exited).await;
        rt.remove("server").await.unwrap();
        rt.remove("client").await.unwrap();
        rt.remove_sandbox("sb").await.unwrap();
        assert_clean(&w, &sb_cfg, &[]);
        assert!(rt.remove_cgroup_root());
    });
}

/// Printed, not asserted: create → running through this runtime, beside `crun run` of the
/// same bundle.
#[test]
fn measure_container_start_against_crun() {
    require_root();
    const N: usize = 20;
    let w = World::new("bench");
    let rt = w.runtime();
    let sb_cfg = w.sandbox_cfg("sb", "pod-bench");
    let (ours, sandbox_ms, sb) = w.tokio.block_on(async {
        let t = Instant::now();
        let sb = rt.run_sandbox(&sb_cfg).await.unwrap();
        let sandbox_ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut ours = Vec::new();
        for i in 0..N {
            let id = format!("b{i}");
            let c = w.container(&sb_cfg, &sb, &id, &["sleep", "1000"]);
            let t = Instant::now();
            rt.create(&sb, c).await.unwrap();
            rt.start(&id).await.unwrap();
            ours.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        for i in 0..N {
            rt.remove(&format!("b{i}")).await.unwrap();
        }
        (ours, sandbox_ms, sb)
    });
    let crun_root = w.path().join("crun");
    let have_crun = Command::new("crun").arg("--version").output().is_ok_and(|o| o.status.success());
    let mut theirs = Vec::new();
    if have_crun {
        // crun 1.8 refuses this machine's hybrid layout (hugetlb is on the cgroup2 mounted
        // beside the v1 hierarchies): it runs in a mount namespace of its own without that
        // mount. Each figure is from `date` before to `date` after one `crun run --detach`.
        let mut script = String::from("umount /sys/fs/cgroup/unified || exit 1\n");
        for i in 0..N {
            let id = format!("crun-{}-{i}", std::process::id());
            let bundle = w.path().join("bundles").join(&id);
            std::fs::create_dir_all(&bundle).unwrap();
            let cgroup = Layout::detect().unwrap().resolve(&format!("{}/{}/{id}", w.cgroup_root, sb_cfg.cgroup_parent));
            spec(&w.path().join("rootfs"), &["sleep", "1000"], &sb, &cgroup).save(bundle.join("config.json")).unwrap();
            let crun = format!("crun --root {} --cgroup-manager cgroupfs", crun_root.display());
            script.push_str(&format!(
                "s=$(date +%s%N); {crun} run --detach --bundle {} {id} </dev/null >/dev/null || exit 1; e=$(date +%s%N); echo $((e - s)); {crun} delete --force {id}\n",
                bundle.display()
            ));
        }
        let out = Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]).stdin(Stdio::null()).output().unwrap();
        assert!(out.status.success(), "crun: {}", String::from_utf8_lossy(&out.stderr));
        theirs = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse::<f64>().ok()).map(|ns| ns / 1e6).collect();
    }
    w.tokio.block_on(async {
        rt.remove_sandbox("sb").await.unwrap();
    });
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return "n/a".to_string();
        }
        format!("p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms", v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
    };
    let mut ours = ours;
    println!("sandbox (pause process + namespace mounts + cgroup): {sandbox_ms:.1} ms");
    println!("container create→running, {N} sequential, libcontainer via zygote: {}", stats(&mut ours));
    println!("container `crun run --detach` of the same spec, {N} sequential: {}", stats(&mut theirs));
    rt.remove_cgroup_root();
}

