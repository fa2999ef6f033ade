//! The executor of a pod's sync: observes the runtime, carries out the plan (sandbox,
//! volumes, image pulls, container create/start, hooks, kills with grace), terminates
//! deleted pods in order, and writes the status when it changed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use api::model::{Container, Pod};
use client::{DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::json;
use supervision::Action;

use super::backoff::go_duration;
use super::events::{NORMAL, WARNING};
use super::plan::{self, backoff_key, is_sidecar, Observed, PodRuntime, ProbeView, State};
use super::probe::{self, ProberCx, Target};
use super::status::{pod_status, StatusInput};
use super::PodMemory;
use crate::pod::pumps::Pumps;
use crate::agent::{lock, Agent, ContainerInfo, PodInfo};
use crate::bundle::{self, BundleInput, NodeInputs};
use crate::pod::etc_files;
use crate::runtime::{ContainerConfig, ContainerMeta, ContainerStatus, Role, RuntimeError, Sandbox, SandboxConfig};
use crate::volumes::{self, NodeFacts, PodVolumes};
use crate::world::PodCx;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `name_namespace(uid)`, as upstream's `format.Pod`.
pub fn pod_ref(pod: &Pod) -> String {
    format!("{}_{}({})", pod.metadata.name, pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.uid)
}

fn sandbox_id(uid: &str) -> String {
    format!("sb-{uid}")
}

fn container_id(uid: &str, name: &str, attempt: u32) -> String {
    format!("{uid}-{name}-{attempt}")
}

fn key(pod: &Pod) -> String {
    api::model::key_of(pod)
}

fn with_memory<R>(agent: &Agent, uid: &str, f: impl FnOnce(&mut PodMemory) -> R) -> R {
    let mut all = lock(&agent.memory);
    f(all.entry(uid.to_string()).or_default())
}

fn spec_of<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    pod.spec.all_containers().find(|c| c.name == name)
}

/// The pod's grace period: the deletion's, else the spec's, else the agent's default.
fn grace(agent: &Agent, pod: &Pod) -> Duration {
    let s = pod.metadata.deletion_grace_period_seconds.or(pod.spec.termination_grace_period_seconds);
    s.map(|s| Duration::from_secs(s.max(0) as u64)).unwrap_or(agent.opts.default_grace)
}

/// The runtime's view of the pod, with what the agent remembers folded in.
async fn observe(agent: &Agent, pod: &Pod) -> Result<(PodRuntime, Option<Sandbox>), String> {
    let uid = &pod.metadata.uid;
    let records = agent.runtime.list().await.map_err(err)?;
    let sandbox = agent.runtime.sandbox(&sandbox_id(uid)).await.map_err(err)?;
    let mut containers = Vec::new();
    for r in records.into_iter().filter(|r| &r.meta.pod_uid == uid && r.meta.role != Role::Sandbox) {
        let state = match r.status {
            ContainerStatus::Created => match with_memory(agent, uid, |m| m.start_failed.get(&r.id).cloned()) {
                Some((at, msg)) => State::Exited { exit_code: 128, started_at: None, finished_at: at, reason: "StartError".into(), message: Some(msg) },
                None => State::Created,
            },
            ContainerStatus::Running { started_at, .. } => State::Running { started_at },
            ContainerStatus::Exited { exit_code, started_at, finished_at, oom_killed, .. } => {
                let message = termination_message(agent, pod, &r.meta, exit_code).await;
                let reason = if oom_killed {
                    "OOMKilled"
                } else if exit_code == 0 {
                    "Completed"
                } else {
                    "Error"
                };
                State::Exited { exit_code, started_at, finished_at, reason: reason.into(), message }
            }
            ContainerStatus::Unknown => State::Unknown,
        };
        containers.push(Observed { id: r.id, name: r.meta.container_name, role: r.meta.role, attempt: r.meta.attempt, spec_hash: r.meta.spec_hash, state });
    }
    Ok((PodRuntime { sandbox: sandbox.is_some(), containers }, sandbox))
}

fn termination_file(agent: &Agent, uid: &str, name: &str, attempt: u32) -> std::path::PathBuf {
    agent.pod_dir(uid).join("containers").join(name).join(attempt.to_string()).join("termination-log")
}

/// The termination message of an exited container: its terminationMessagePath file, or
/// (FallbackToLogsOnError, failed, empty file) the last lines of its log. Read once.
async fn termination_message(agent: &Agent, pod: &Pod, meta: &ContainerMeta, exit_code: i32) -> Option<String> {
    let uid = &pod.metadata.uid;
    let id = container_id(uid, &meta.container_name, meta.attempt);
    if let Some(m) = with_memory(agent, uid, |m| m.messages.get(&id).cloned()) {
        return Some(m).filter(|m| !m.is_empty());
    }
    let mut msg = tokio::fs::read(termination_file(agent, uid, &meta.container_name, meta.attempt)).await.ok().map(|b| {
        let b = &b[..b.len().min(4096)];
        String::from_utf8_lossy(b).into_owned()
    });
    let fallback = spec_of(pod, &meta.container_name).and_then(|c| c.termination_message_policy.as_deref()) == Some("FallbackToLogsOnError");
    if fallback && exit_code != 0 && msg.as_deref().is_none_or(str::is_empty) {
        let log = tokio::fs::read(agent.log_path(pod, &meta.container_name, meta.attempt)).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = text.lines().collect();
        let tail: Vec<String> = lines[lines.len().saturating_sub(80)..].iter().map(|l| cri_content(l).to_string()).collect();
        let mut joined = tail.join("\n");
        if joined.len() > 2048 {
            joined = joined[joined.len() - 2048..].to_string();
        }
        msg = Some(joined);
    }
    let m = msg.unwrap_or_default();
    with_memory(agent, uid, |mem| mem.messages.insert(id, m.clone()));
    Some(m).filter(|m| !m.is_empty())
}

/// The content of a CRI log line (`<time> <stream> <P|F> <content>`), or the line itself.
fn cri_content(line: &str) -> &str {
    let mut parts = line.splitn(4, ' ');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("stdout" | "stderr"), Some("P" | "F"), Some(rest)) => rest,
        _ => line,
    }
}

fn probe_views(agent: &Agent, rt: &PodRuntime) -> HashMap<String, ProbeView> {
    let probers = lock(&agent.probers);
    rt.containers
        .iter()
        .filter(|c| c.state.is_running())
        .map(|c| (c.id.clone(), probers.get(&c.id).map(|p| lock(&p.verdicts).view()).unwrap_or_else(probe::no_probes)))
        .collect()
}

/// One sync of a pod (see the module doc).
pub async fn sync(cx: &PodCx, pod: Arc<Pod>) -> Result<Action, String> {
    let agent = cx.agent.as_ref();
    let (rt, sandbox) = observe(agent, &pod).await?;
    if pod.metadata.is_deleting() {
        terminate(agent, &pod, &rt).await?;
        let dp = DeleteParams { preconditions: Some(Preconditions { uid: Some(pod.metadata.uid.clone()), resource_version: None }), ..DeleteParams::now() };
        match agent.api.api::<Pod>(pod.metadata.namespace.as_deref()).delete(&pod.metadata.name, &dp).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(format!("deleting pod: {e}")),
        }
        forget(agent, &pod);
        return Ok(Action::await_change());
    }
    let old_phase = pod.status.as_ref().and_then(|s| s.phase.clone());
    if matches!(old_phase.as_deref(), Some("Succeeded" | "Failed")) {
        stop_pod(agent, &pod, &rt, grace(agent, &pod)).await;
        remove_sandbox(agent, &pod).await;
        let (rt, _) = observe(agent, &pod).await?;
        lock(&agent.probers).retain(|id, _| !rt.containers.iter().any(|c| &c.id == id));
        publish(agent, &pod, &rt, None);
        write_status(cx, &pod, &rt, false, true).await?;
        return Ok(Action::await_change());
    }
    let now = SystemTime::now();
    let views = probe_views(agent, &rt);
    let probes = |id: &str| views.get(id).copied().unwrap_or_default();
    let plan = plan::plan(&pod, &rt, &probes, &lock(&agent.restart_backoff), now);
    tracing::debug!(pod = %key(&pod), ?plan, "sync");

    for k in &plan.kill {
        let g = match k.reason {
            plan::KillReason::Liveness => probe_grace(&pod, &k.name, |c| &c.liveness_probe),
            plan::KillReason::Startup => probe_grace(&pod, &k.name, |c| &c.startup_probe),
            _ => None,
        };
        kill_container(agent, &pod, &k.id, &k.name, &k.message, g.unwrap_or_else(|| grace(agent, &pod))).await;
    }
    for id in &plan.remove {
        let _ = agent.runtime.remove(id).await;
    }
    if plan.pod_failed {
        let (rt, _) = observe(agent, &pod).await?;
        stop_pod(agent, &pod, &rt, grace(agent, &pod)).await;
        remove_sandbox(agent, &pod).await;
        let (rt, _) = observe(agent, &pod).await?;
        write_status(cx, &pod, &rt, false, true).await?;
        return Ok(Action::await_change());
    }
    let sandbox = if plan.create_sandbox {
        match create_sandbox(agent, &pod).await {
            Ok(sb) => Some(sb),
            Err(e) => {
                agent.recorder.record(&pod, None, WARNING, "FailedCreatePodSandBox", &format!("Failed to create pod sandbox: {e}")).await;
                write_status(cx, &pod, &rt, false, false).await?;
                return Err(e);
            }
        }
    } else {
        sandbox
    };
    let mut requeue = plan.requeue;
    let pod_ip = pod_ip_of(agent, &pod);
    let Some(sandbox) = sandbox else {
        write_status(cx, &pod, &rt, false, false).await?;
        return Ok(Action::await_change());
    };
    let facts = NodeFacts {
        node_name: agent.opts.node_name.clone(),
        host_ip: agent.opts.node_ip.to_string(),
        pod_ip: pod_ip.map(|i| i.to_string()).unwrap_or_default(),
        pod_ips: Vec::new(),
        host_ips: vec![agent.opts.node_ip.to_string()],
        allocatable: agent.allocatable.clone(),
        local_path_base: agent.opts.local_path_base.clone(),
    };
    let vols = match volumes::prepare(&pod, &agent.pod_dir(&pod.metadata.uid), &facts, agent.lookup.as_ref()).await {
        Ok(v) => v,
        Err(e) => {
            agent.recorder.record(&pod, None, WARNING, "FailedMount", &e.to_string()).await;
            write_status(cx, &pod, &rt, true, false).await?;
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
    };
    for (name, delay) in &plan.backing_off {
        let msg = format!("back-off {} restarting failed container={name} pod={}", go_duration(*delay), pod_ref(&pod));
        let fresh = with_memory(agent, &pod.metadata.uid, |m| m.waiting.insert(name.clone(), ("CrashLoopBackOff".into(), msg.clone())).is_none_or(|(r, _)| r != "CrashLoopBackOff"));
        if fresh {
            agent.recorder.record(&pod, Some(name), WARNING, "BackOff", &format!("Back-off restarting failed container {name} in pod {}", pod_ref(&pod))).await;
        }
    }
    for s in &plan.start {
        let Some(c) = spec_of(&pod, &s.name).cloned() else { continue };
        if s.reset_backoff {
            lock(&agent.restart_backoff).reset(&backoff_key(&pod, &s.name));
        }
        if let Some(at) = s.after_exit {
            lock(&agent.restart_backoff).next(&backoff_key(&pod, &s.name), at, SystemTime::now());
        }
        match start_container(agent, &pod, &sandbox, &c, s.role, s.attempt, &vols, &facts, pod_ip).await {
            Ok(()) => {}
            Err(wait) => {
                requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
                if s.role == Role::Init && !is_sidecar(&c) {
                    break;
                }
            }
        }
    }
    let (rt, _) = observe(agent, &pod).await?;
    ensure_probers(cx, &pod, &rt, pod_ip);
    publish(agent, &pod, &rt, pod_ip);
    write_status(cx, &pod, &rt, true, false).await?;
    // A periodic resync besides the wake-ups (exits, probe verdicts, pod changes), as kubelet's.
    Ok(Action::requeue(requeue.map_or(RESYNC, |r| r.min(RESYNC))))
}

/// How often a pod is synced when nothing wakes it.
const RESYNC: Duration = Duration::from_secs(10);

fn probe_grace(pod: &Pod, name: &str, probe: impl Fn(&Container) -> &Option<Box<api::model::Probe>>) -> Option<Duration> {
    let c = spec_of(pod, name)?;
    probe(c).as_ref()?.termination_grace_period_seconds.map(|s| Duration::from_secs(s.max(0) as u64))
}

async fn create_sandbox(agent: &Agent, pod: &Pod) -> Result<Sandbox, String> {
    let uid = &pod.metadata.uid;
    let id = sandbox_id(uid);
    match agent.runtime.remove_sandbox(&id).await {
        Ok(()) | Err(RuntimeError::NotFound(_)) => {}
        Err(e) => return Err(e.to_string()),
    }
    let pod_dir = agent.pod_dir(uid);
    tokio::fs::create_dir_all(&pod_dir).await.map_err(err)?;
    let host_network = is_host_network(pod);
    let hostname = if host_network { node_hostname() } else { overlay::dns::pod_hostname(pod, &agent.opts.cluster_dns.domain).map_err(err)?.0 };
    let meta = ContainerMeta {
        pod_uid: uid.clone(),
        pod_namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        pod_name: pod.metadata.name.clone(),
        container_name: String::new(),
        role: Role::Sandbox,
        attempt: 0,
        spec_hash: 0,
    };
    let cfg = SandboxConfig { id, meta, hostname, pod_dir, cgroup_parent: format!("pod{uid}"), host_network };
    let sb = agent.runtime.run_sandbox(&cfg).await.map_err(err)?;
    let ip = if host_network { agent.opts.node_ip } else { agent.network.attach(uid, &sb.netns).await.map_err(err)?.ip };
    let files = etc_files::write(&agent.pod_dir(uid), pod, Some(ip), &agent.opts.cluster_dns).map_err(err)?;
    for w in &files.warnings {
        agent.recorder.record(pod, None, WARNING, "DNSConfigForming", w).await;
    }
    Ok(sb)
}

/// The image of a container, pulled as its pullPolicy says; Err(retry after) when the
/// container must wait (its waiting reason and events recorded).
async fn ensure_image(agent: &Agent, pod: &Pod, c: &Container) -> Result<crate::image::LocalImage, Duration> {
    let uid = &pod.metadata.uid;
    let name = c.image.clone().unwrap_or_default();
    let tagged = name.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/')) || name.contains('@');
    let policy = c.image_pull_policy.clone().unwrap_or_else(|| if !tagged || name.ends_with(":latest") { "Always".into() } else { "IfNotPresent".into() });
    let present = agent.images.resolve(&name);
    let wait = |agent: &Agent, reason: &str, msg: String| with_memory(agent, uid, |m| m.waiting.insert(c.name.clone(), (reason.to_string(), msg)));
    match (policy.as_str(), present) {
        ("Never", None) => {
            let msg = format!("Container image {name:?} is not present with pull policy of Never");
            wait(agent, "ErrImageNeverPull", msg.clone());
            agent.recorder.record(pod, Some(&c.name), WARNING, "ErrImageNeverPull", &msg).await;
            return Err(Duration::from_secs(5));
        }
        ("Never" | "IfNotPresent", Some(img)) => {
            agent.recorder.record(pod, Some(&c.name), NORMAL, "Pulled", &format!("Container image {name:?} already present on machine")).await;
            return Ok(img);
        }
        _ => {}
    }
    let present = agent.images.resolve(&name);
    let bkey = format!("{uid}/image/{name}");
    let now = SystemTime::now();
    if let Some(failed_at) = with_memory(agent, uid, |m| m.pull_failed.get(&c.name).copied()) {
        let backing_off = lock(&agent.pull_backoff).in_backoff(&bkey, failed_at, now);
        if let Some((_, left)) = backing_off {
            let msg = format!("Back-off pulling image {name:?}");
            wait(agent, "ImagePullBackOff", msg.clone());
            agent.recorder.record(pod, Some(&c.name), NORMAL, "BackOff", &msg).await;
            agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", "Error: ImagePullBackOff").await;
            return Err(left);
        }
    }
    agent.recorder.record(pod, Some(&c.name), NORMAL, "Pulling", &format!("Pulling image {name:?}")).await;
    let started = Instant::now();
    match agent.images.pull(&name).await {
        Ok(img) => {
            let d = go_duration(started.elapsed());
            let msg = format!("Successfully pulled image {name:?} in {d} ({d} including waiting). Image size: {} bytes.", img.size_bytes);
            agent.recorder.record(pod, Some(&c.name), NORMAL, "Pulled", &msg).await;
            with_memory(agent, uid, |m| m.pull_failed.remove(&c.name));
            lock(&agent.pull_backoff).reset(&bkey);
            Ok(img)
        }
        Err(_) if present.is_some() => Ok(present.unwrap_or_else(|| unreachable!())),
        Err(e) => {
            let msg = format!("Failed to pull image {name:?}: {e}");
            wait(agent, "ErrImagePull", msg.clone());
            agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", &msg).await;
            agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", "Error: ErrImagePull").await;
            with_memory(agent, uid, |m| m.pull_failed.insert(c.name.clone(), now));
            let mut b = lock(&agent.pull_backoff);
            b.next(&bkey, now, now);
            Err(b.delay(&bkey).unwrap_or(Duration::from_secs(1)))
        }
    }
}

/// Creates and starts one container; Err(retry after) when it has to wait.
#[allow(clippy::too_many_arguments)]
async fn start_container(
    agent: &Agent,
    pod: &Pod,
    sandbox: &Sandbox,
    c: &Container,
    role: Role,
    attempt: u32,
    vols: &PodVolumes,
    facts: &NodeFacts,
    pod_ip: Option<std::net::Ipv4Addr>,
) -> Result<(), Duration> {
    let uid = &pod.metadata.uid;
    let retry = Duration::from_secs(1);
    let image = ensure_image(agent, pod, c).await?;
    with_memory(agent, uid, |m| m.image_ids.insert(c.name.clone(), image.repo_digest.clone()));
    let config_error = |agent: &Agent, reason: &str, msg: String| {
        with_memory(agent, uid, |m| m.waiting.insert(c.name.clone(), (reason.to_string(), msg)));
    };
    let env = volumes::resolve_env(pod, c, facts, agent.lookup.as_ref()).await.and_then(|env| {
        let mounts = volumes::container_mounts(c, vols, &env.vars)?;
        Ok((env, mounts))
    });
    let (env, mounts) = match env {
        Ok((env, m)) => {
            for w in &env.warnings {
                agent.recorder.record(pod, Some(&c.name), WARNING, &w.reason, &w.message).await;
            }
            (env.vars, m)
        }
        Err(e) => {
            config_error(agent, "CreateContainerConfigError", e.to_string());
            agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", &format!("Error: {e}")).await;
            return Err(retry);
        }
    };
    let dir = agent.pod_dir(uid).join("containers").join(&c.name).join(attempt.to_string());
    let term = termination_file(agent, uid, &c.name, attempt);
    let prepared = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(&term, b"").await?;
        let logs = Pumps::files(&agent.opts.root_dir, pod, &c.name, attempt)?;
        agent.images.mount_rootfs(&image, &dir.join("rootfs"), &dir.join("upper"), &dir.join("work"))?;
        Ok::<_, std::io::Error>(logs)
    };
    let logs = match prepared.await {
        Ok(l) => l,
        Err(e) => {
            config_error(agent, "CreateContainerError", e.to_string());
            agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", &format!("Error: {e}")).await;
            return Err(retry);
        }
    };
    let files = etc_files::paths(&agent.pod_dir(uid));
    if !files.hosts.exists() {
        if let Err(e) = etc_files::write(&agent.pod_dir(uid), pod, pod_ip, &agent.opts.cluster_dns) {
            config_error(agent, "CreateContainerError", e.to_string());
            return Err(retry);
        }
    }
    let rootfs = dir.join("rootfs");
    let etc_passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).ok();
    let etc_group = std::fs::read_to_string(rootfs.join("etc/group")).ok();
    let node = NodeInputs {
        hosts: Some(&files.hosts),
        resolv_conf: Some(&files.resolv_conf),
        hostname: Some(&files.hostname),
        termination_log: Some(&term),
        etc_passwd: etc_passwd.as_deref(),
        etc_group: etc_group.as_deref(),
        node_memory: agent.node_memory,
        ..Default::default()
    };
    let cgroups_path = format!("pod{uid}/{}", container_id(uid, &c.name, attempt));
    let input = BundleInput { pod, container: c, image: &image.config, rootfs: &rootfs, env: &env, mounts: &mounts, sandbox, cgroups_path: &cgroups_path, node };
    let spec = match bundle::container_spec(&input) {
        Ok(s) => s,
        Err(e) => {
            config_error(agent, "CreateContainerError", e.to_string());
            agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", &format!("Error: {e}")).await;
            return Err(retry);
        }
    };
    let id = container_id(uid, &c.name, attempt);
    let meta = ContainerMeta {
        pod_uid: uid.clone(),
        pod_namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        pod_name: pod.metadata.name.clone(),
        container_name: c.name.clone(),
        role,
        attempt,
        spec_hash: plan::spec_hash(c),
    };
    let cfg = ContainerConfig { id: id.clone(), meta, bundle: dir.clone(), spec, stdout: logs.stdout_fifo.clone(), stderr: logs.stderr_fifo.clone() };
    if let Err(e) = agent.runtime.create(sandbox, cfg).await {
        config_error(agent, "CreateContainerError", e.to_string());
        agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", &format!("Error: {e}")).await;
        return Err(retry);
    }
    agent.pumps.ensure(&id, &logs);
    agent.recorder.record(pod, Some(&c.name), NORMAL, "Created", &format!("Created container: {}", c.name)).await;
    if let Err(e) = agent.runtime.start(&id).await {
        with_memory(agent, uid, |m| {
            m.start_failed.insert(id.clone(), (SystemTime::now(), e.to_string()));
            m.waiting.remove(&c.name);
        });
        agent.recorder.record(pod, Some(&c.name), WARNING, "Failed", &format!("Error: {e}")).await;
        return Err(retry);
    }
    with_memory(agent, uid, |m| m.waiting.remove(&c.name));
    agent.recorder.record(pod, Some(&c.name), NORMAL, "Started", &format!("Started container {}", c.name)).await;
    if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
        let t = Target { runtime: agent.runtime.clone(), container_id: id.clone(), container: c.clone(), pod_ip };
        if let Err(msg) = probe::run_handler(&t, h, grace(agent, pod), pod, "PostStart").await {
            agent.recorder.record(pod, Some(&c.name), WARNING, "FailedPostStartHook", &msg).await;
            kill_container(agent, pod, &id, &c.name, "FailedPostStartHook", grace(agent, pod)).await;
            return Err(retry);
        }
    }
    Ok(())
}

async fn wait_exit(agent: &Agent, id: &str, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        match agent.runtime.status(id).await {
            Ok(ContainerStatus::Running { .. }) => {}
            _ => return true,
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Stops a running container as kubelet does: `Killing` event, preStop hook, SIGTERM,
/// SIGKILL once `grace` has passed.
async fn kill_container(agent: &Agent, pod: &Pod, id: &str, name: &str, message: &str, grace: Duration) {
    // Upstream's minimumGracePeriodInSeconds.
    let grace = grace.max(Duration::from_secs(2));
    let start = Instant::now();
    if !matches!(agent.runtime.status(id).await, Ok(ContainerStatus::Running { .. })) {
        lock(&agent.probers).remove(id);
        return;
    }
    agent.recorder.record(pod, Some(name), NORMAL, "Killing", message).await;
    if let Some(c) = spec_of(pod, name) {
        if let Some(h) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) {
            let pod_ip = pod_ip_of(agent, &pod);
            let t = Target { runtime: agent.runtime.clone(), container_id: id.to_string(), container: c.clone(), pod_ip };
            if let Err(msg) = probe::run_handler(&t, h, grace, pod, "PreStop").await {
                agent.recorder.record(pod, Some(name), WARNING, "FailedPreStopHook", &msg).await;
            }
        }
    }
    lock(&agent.probers).remove(id);
    let left = grace.saturating_sub(start.elapsed());
    let _ = agent.runtime.signal(id, 15).await;
    if !wait_exit(agent, id, left).await {
        let _ = agent.runtime.signal(id, 9).await;
        wait_exit(agent, id, Duration::from_secs(2)).await;
    }
}

/// Stops every running container in order: app containers together, then sidecars in
/// reverse order, then anything else.
async fn stop_pod(agent: &Agent, pod: &Pod, rt: &PodRuntime, grace: Duration) {
    let running = |name: &str| rt.latest(name).filter(|o| o.state.is_running()).map(|o| o.id.clone());
    let stop = |id: String, name: String| async move { kill_container(agent, pod, &id, &name, &format!("Stopping container {name}"), grace).await };
    let apps: Vec<_> = pod.spec.containers.iter().filter_map(|c| running(&c.name).map(|id| stop(id, c.name.clone()))).collect();
    futures::future::join_all(apps).await;
    for c in pod.spec.init_containers.iter().rev().filter(|c| is_sidecar(c)) {
        if let Some(id) = running(&c.name) {
            stop(id, c.name.clone()).await;
        }
    }
    for o in rt.containers.iter().filter(|o| o.state.is_running()) {
        stop(o.id.clone(), o.name.clone()).await;
    }
}

fn is_host_network(pod: &Pod) -> bool {
    pod.spec.host_network == Some(true)
}

/// The pod's address: the node's for a `hostNetwork` pod, else the one its veth holds.
fn pod_ip_of(agent: &Agent, pod: &Pod) -> Option<std::net::Ipv4Addr> {
    if is_host_network(pod) {
        return Some(agent.opts.node_ip);
    }
    agent.network.address(&pod.metadata.uid).map(|a| a.ip)
}

/// The node's hostname (what a `hostNetwork` pod sees).
fn node_hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default()
}

/// Removes the sandbox and frees the pod's address.
async fn remove_sandbox(agent: &Agent, pod: &Pod) {
    let _ = agent.runtime.remove_sandbox(&sandbox_id(&pod.metadata.uid)).await;
    let _ = agent.network.detach(&pod.metadata.uid).await;
}

/// Everything of a deleted pod goes: containers stopped in order, removed, the
/// sandbox, the address, the pod's directory.
async fn terminate(agent: &Agent, pod: &Pod, rt: &PodRuntime) -> Result<(), String> {
    stop_pod(agent, pod, rt, grace(agent, pod)).await;
    for o in &rt.containers {
        match agent.runtime.remove(&o.id).await {
            Ok(()) | Err(RuntimeError::NotFound(_)) => {}
            Err(e) => return Err(format!("removing container {}: {e}", o.id)),
        }
    }
    remove_sandbox(agent, pod).await;
    remove_pod_dir(&agent.pod_dir(&pod.metadata.uid)).map_err(|e| format!("removing the pod's directory: {e}"))
}

/// Removes a pod's directory: volumes released (unmounted) first, then whatever else is
/// still mounted below it (a container's root filesystem); never removes through a mount,
/// which would delete a volume's data.
fn remove_pod_dir(dir: &std::path::Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    volumes::release(dir).map_err(|e| e.to_string())?;
    let mounted = volumes::teardown::mounts_below(dir).map_err(|e| e.to_string())?;
    for m in &mounted {
        volumes::teardown::unmount(m).map_err(|e| format!("unmounting {}: {e}", m.display()))?;
    }
    if let Some(m) = volumes::teardown::mounts_below(dir).map_err(|e| e.to_string())?.first() {
        return Err(format!("{} is still mounted", m.display()));
    }
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
        _ => Ok(()),
    }
}

fn forget(agent: &Agent, pod: &Pod) {
    let uid = &pod.metadata.uid;
    lock(&agent.memory).remove(uid);
    lock(&agent.restart_backoff).forget_prefix(&format!("{uid}/"));
    lock(&agent.pull_backoff).forget_prefix(&format!("{uid}/"));
    agent.recorder.forget(uid);
    agent.stats.remove(pod.metadata.namespace.as_deref().unwrap_or("default"), &pod.metadata.name);
}

/// Starts probers for running containers that have none; drops those of stopped ones.
fn ensure_probers(cx: &PodCx, pod: &Arc<Pod>, rt: &PodRuntime, pod_ip: Option<std::net::Ipv4Addr>) {
    let agent = &cx.agent;
    let ours: BTreeSet<&str> = rt.containers.iter().map(|c| c.id.as_str()).collect();
    let running: Vec<&Observed> = rt.containers.iter().filter(|c| c.state.is_running()).collect();
    let mut probers = lock(&agent.probers);
    probers.retain(|id, _| !ours.contains(id.as_str()) || running.iter().any(|r| &r.id == id));
    for o in running {
        if probers.contains_key(&o.id) {
            continue;
        }
        let Some(c) = spec_of(pod, &o.name) else { continue };
        let t = Target { runtime: agent.runtime.clone(), container_id: o.id.clone(), container: c.clone(), pod_ip };
        let (pods, k) = (agent.pods.clone(), key(pod));
        let pcx = ProberCx { recorder: agent.recorder.clone(), pod: pod.clone(), poke: Arc::new(move || pods.poke(&k)) };
        if let Some(p) = probe::start(t, pcx) {
            probers.insert(o.id.clone(), p);
        }
    }
}

/// Log pumps for the running containers (adopted ones too), finished for exited ones.
fn pump_logs(agent: &Agent, pod: &Pod, rt: &PodRuntime) {
    for o in &rt.containers {
        let running = o.state.is_running();
        if running && !agent.pumps.has(&o.id) {
            match Pumps::files(&agent.opts.root_dir, pod, &o.name, o.attempt) {
                Ok(logs) => agent.pumps.ensure(&o.id, &logs),
                Err(e) => tracing::warn!(container = %o.id, error = %e, "opening a container's log FIFOs failed"),
            }
        } else if !running && agent.pumps.has(&o.id) {
            agent.pumps.finish(&o.id, Pumps::files(&agent.opts.root_dir, pod, &o.name, o.attempt).ok());
        }
    }
}

/// What the node server reads of the pod.
fn publish(agent: &Agent, pod: &Pod, rt: &PodRuntime, ip: Option<std::net::Ipv4Addr>) {
    pump_logs(agent, pod, rt);
    let mut containers: Vec<ContainerInfo> = rt
        .containers
        .iter()
        .map(|o| ContainerInfo { name: o.name.clone(), id: o.id.clone(), attempt: o.attempt, running: o.state.is_running(), log_path: agent.log_path(pod, &o.name, o.attempt), usage: None })
        .collect();
    containers.sort_by(|a, b| (a.name.as_str(), a.attempt).cmp(&(b.name.as_str(), b.attempt)));
    agent.stats.set(PodInfo {
        uid: pod.metadata.uid.clone(),
        namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone(),
        ip,
        containers,
        usage_at: None,
    });
}

/// Computes the status and writes it (status subresource, merge patch) when it changed.
async fn write_status(cx: &PodCx, pod: &Pod, rt: &PodRuntime, sandbox_ready: bool, terminal: bool) -> Result<(), String> {
    let agent = &cx.agent;
    let views = probe_views(agent, rt);
    let probes = |id: &str| views.get(id).copied().unwrap_or_default();
    let (waiting, image_ids) = with_memory(agent, &pod.metadata.uid, |m| (m.waiting.clone(), m.image_ids.clone()));
    let image_id = |name: &str| {
        image_ids.get(name).cloned().unwrap_or_else(|| {
            spec_of(pod, name).and_then(|c| c.image.as_deref()).and_then(|i| agent.images.resolve(i)).map(|i| i.repo_digest).unwrap_or_default()
        })
    };
    let pod_ip = pod_ip_of(agent, pod).map(|ip| ip.to_string());
    let status = pod_status(&StatusInput {
        pod,
        rt,
        probes: &probes,
        waiting: &waiting,
        image_id: &image_id,
        pod_ip,
        host_ip: agent.opts.node_ip.to_string(),
        sandbox_ready: sandbox_ready && rt.sandbox,
        terminal,
        now: api::time::now_rfc3339(),
    });
    if pod.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let patch = json!({ "status": status });
    let api = agent.api.api::<Pod>(pod.metadata.namespace.as_deref());
    match api.patch_status(&pod.metadata.name, &PatchParams::default(), &Patch::Merge(patch)).await {
        Ok(p) => {
            cx.wrote(&p.metadata.resource_version);
            Ok(())
        }
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(format!("writing the status: {e}")),
    }
}

/// A pod removed from the API while its containers run (force-deleted, or deleted without
/// a grace period): stopped as kubelet stops it, from the last version the agent saw —
/// preStop hooks, SIGTERM, its grace period, SIGKILL — then everything of it removed.
/// The caller has put the pod's uid in `agent.removing` (so that housekeeping leaves it be).
pub async fn terminate_removed(agent: Arc<Agent>, pod: Arc<Pod>) {
    let uid = pod.metadata.uid.clone();
    match observe(&agent, &pod).await {
        Ok((rt, _)) if !rt.containers.is_empty() || rt.sandbox => {
            tracing::info!(pod = %key(&pod), "pod removed from the API: stopping its containers");
            if let Err(e) = terminate(&agent, &pod, &rt).await {
                tracing::warn!(pod = %key(&pod), error = %e, "tearing down a removed pod; housekeeping will finish it");
            }
        }
        _ => {}
    }
    forget(&agent, &pod);
    lock(&agent.removing).remove(&uid);
}

/// Removes runtime state of pods that are no longer bound to this node.
pub async fn housekeeping(agent: &Agent) -> Result<(), String> {
    use supervision::Source as _;
    let mut live: BTreeSet<String> = agent.pods.list(None).iter().map(|p| p.metadata.uid.clone()).collect();
    live.extend(lock(&agent.removing).iter().cloned());
    let records = agent.runtime.list().await.map_err(err)?;
    // A pod is reaped on a pass after the one that first found it gone, so that a removal
    // being handled gracefully (`terminate_removed`) wins the race.
    let now = Instant::now();
    let ripe: BTreeSet<String> = {
        let mut suspects = lock(&agent.suspects);
        let gone_now: BTreeSet<&String> = records.iter().map(|r| &r.meta.pod_uid).filter(|u| !live.contains(*u)).collect();
        suspects.retain(|u, _| gone_now.contains(u));
        for u in gone_now {
            suspects.entry(u.clone()).or_insert(now);
        }
        suspects.iter().filter(|(_, t)| now.duration_since(**t) >= Duration::from_secs(1)).map(|(u, _)| u.clone()).collect()
    };
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for r in &records {
        if live.contains(&r.meta.pod_uid) || !ripe.contains(&r.meta.pod_uid) {
            continue;
        }
        gone.insert(r.meta.pod_uid.clone());
        if r.meta.role == Role::Sandbox {
            continue;
        }
        if matches!(r.status, ContainerStatus::Running { .. }) {
            let _ = agent.runtime.signal(&r.id, 9).await;
            wait_exit(agent, &r.id, Duration::from_secs(2)).await;
        }
        let _ = agent.runtime.remove(&r.id).await;
        lock(&agent.probers).remove(&r.id);
    }
    for uid in gone {
        tracing::info!(pod_uid = %uid, "removing what is left of a pod that is gone");
        let _ = agent.runtime.remove_sandbox(&sandbox_id(&uid)).await;
        let _ = agent.network.detach(&uid).await;
        if let Err(e) = remove_pod_dir(&agent.pod_dir(&uid)) {
            tracing::warn!(pod_uid = %uid, error = %e, "removing the directory of a pod that is gone");
        }
        lock(&agent.memory).remove(&uid);
        lock(&agent.suspects).remove(&uid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_lines_give_their_content() {
        assert_eq!(cri_content("2026-01-01T00:00:00.000000000Z stderr F boom"), "boom");
        assert_eq!(cri_content("plain line"), "plain line");
    }
}
