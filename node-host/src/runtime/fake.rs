//! A recording, in-memory container runtime for tests and simulated nodes: every call is
//! logged in order ([`FakeRuntime::calls`]), containers "run" until signalled, and knobs
//! make a container exit with a code after its start, fail its start, ignore SIGTERM, be
//! OOM-killed, or answer exec requests with a given code.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::sync::broadcast;

use super::{
    ContainerConfig, ContainerMeta, ContainerRecord, ContainerRuntime, ContainerStatus, ExecRequest, Role, RuntimeError, RuntimeEvent,
    Sandbox, SandboxConfig, Usage,
};

/// One call the runtime got, with the container's name (empty for sandboxes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    RunSandbox { id: String },
    RemoveSandbox { id: String },
    Create { id: String, name: String, attempt: u32 },
    Start { id: String, name: String },
    Signal { id: String, name: String, signal: i32 },
    Remove { id: String, name: String },
    Exec { id: String, name: String, argv: Vec<String> },
}

impl Call {
    /// The container's spec name (empty for sandbox calls).
    pub fn name(&self) -> &str {
        match self {
            Call::RunSandbox { .. } | Call::RemoveSandbox { .. } => "",
            Call::Create { name, .. } | Call::Start { name, .. } | Call::Signal { name, .. } | Call::Remove { name, .. } | Call::Exec { name, .. } => name,
        }
    }
}

/// How a container (by its spec name) behaves once started.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Exits with this code this long after each start.
    pub exit: Option<(i32, Duration)>,
    /// Only the first N starts exit (None: every start).
    pub exit_times: Option<u32>,
    /// Its start fails with this message.
    pub fail_start: Option<String>,
    /// SIGTERM does nothing (only SIGKILL ends it).
    pub ignore_sigterm: bool,
    /// The exit is reported as an OOM kill (exit code 137).
    pub oom: bool,
    /// Written to the file mounted at `/dev/termination-log` (or the container's
    /// terminationMessagePath) when it exits.
    pub termination_message: Option<String>,
}

struct Entry {
    meta: ContainerMeta,
    status: ContainerStatus,
    /// Host file behind the termination-message mount.
    termination_file: Option<std::path::PathBuf>,
    usage: Usage,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, Entry>,
    sandboxes: BTreeMap<String, (ContainerMeta, Sandbox)>,
    calls: Vec<Call>,
    behaviour: HashMap<String, Behaviour>,
    starts: HashMap<String, u32>,
    /// (container name, argv[0]) → exit code of exec; the default is 0.
    exec_codes: HashMap<(String, String), i32>,
    next_pid: u32,
    /// When each container (by spec name) was started.
    start_log: Vec<(String, std::time::Instant)>,
    gone_sandboxes: HashSet<String>,
}

/// See the module doc. Cheap to clone (shared state): a second agent over the same fake
/// sees what the first one started.
#[derive(Clone)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<RuntimeEvent>,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime { state: Arc::new(Mutex::new(State { next_pid: 1000, ..Default::default() })), events: broadcast::channel(1024).0 }
    }
}

impl FakeRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// When containers named `name` were started, in order.
    pub fn start_times(&self, name: &str) -> Vec<std::time::Instant> {
        self.lock().start_log.iter().filter(|(n, _)| n == name).map(|(_, t)| *t).collect()
    }

    /// Sets how containers named `name` behave from their next start on.
    pub fn set_behaviour(&self, name: &str, b: Behaviour) {
        self.lock().behaviour.insert(name.to_string(), b);
    }

    /// Exec of `argv0` in containers named `name` exits with `code`.
    pub fn set_exec_code(&self, name: &str, argv0: &str, code: i32) {
        self.lock().exec_codes.insert((name.to_string(), argv0.to_string()), code);
    }

    /// Ends a running container as if its process exited on its own.
    pub fn exit(&self, id: &str, code: i32) {
        let ev = {
            let mut s = self.lock();
            exit_locked(&mut s, id, code, None, false)
        };
        if let Some(ev) = ev {
            let _ = self.events.send(ev);
        }
    }

    /// Kills a sandbox's process behind the agent's back.
    pub fn kill_sandbox(&self, id: &str) {
        let mut s = self.lock();
        s.sandboxes.remove(id);
        s.gone_sandboxes.insert(id.to_string());
    }

    /// Ids of running containers.
    pub fn running(&self) -> Vec<(String, ContainerMeta)> {
        self.lock()
            .containers
            .iter()
            .filter(|(_, e)| matches!(e.status, ContainerStatus::Running { .. }))
            .map(|(id, e)| (id.clone(), e.meta.clone()))
            .collect()
    }

    /// Sets the usage a container reports.
    pub fn set_usage(&self, id: &str, usage: Usage) {
        if let Some(e) = self.lock().containers.get_mut(id) {
            e.usage = usage;
        }
    }

    fn name_of(s: &State, id: &str) -> String {
        s.containers.get(id).map(|e| e.meta.container_name.clone()).unwrap_or_default()
    }
}

fn exit_locked(s: &mut State, id: &str, code: i32, signal: Option<i32>, oom: bool) -> Option<RuntimeEvent> {
    let e = s.containers.get_mut(id)?;
    let ContainerStatus::Running { started_at, .. } = e.status else { return None };
    let behaviour = s.behaviour.get(&e.meta.container_name).cloned().unwrap_or_default();
    if let (Some(msg), Some(path)) = (&behaviour.termination_message, &e.termination_file) {
        let _ = std::fs::write(path, msg);
    }
    e.status = ContainerStatus::Exited { exit_code: code, signal, started_at: Some(started_at), finished_at: SystemTime::now(), oom_killed: oom };
    Some(RuntimeEvent { id: id.to_string(), meta: e.meta.clone(), status: e.status.clone() })
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn run_sandbox(&self, cfg: &SandboxConfig) -> Result<Sandbox, RuntimeError> {
        let mut s = self.lock();
        s.calls.push(Call::RunSandbox { id: cfg.id.clone() });
        if s.sandboxes.contains_key(&cfg.id) {
            return Err(RuntimeError::Exists(cfg.id.clone()));
        }
        s.next_pid += 1;
        let ns = |k: &str| cfg.pod_dir.join("ns").join(k);
        let sb = Sandbox { id: cfg.id.clone(), pid: s.next_pid, netns: ns("net"), ipcns: ns("ipc"), utsns: ns("uts") };
        s.sandboxes.insert(cfg.id.clone(), (cfg.meta.clone(), sb.clone()));
        Ok(sb)
    }

    async fn remove_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        let mut s = self.lock();
        s.calls.push(Call::RemoveSandbox { id: id.to_string() });
        s.sandboxes.remove(id);
        s.gone_sandboxes.remove(id);
        Ok(())
    }

    async fn sandbox(&self, id: &str) -> Result<Option<Sandbox>, RuntimeError> {
        Ok(self.lock().sandboxes.get(id).map(|(_, sb)| sb.clone()))
    }

    async fn create(&self, sandbox: &Sandbox, cfg: ContainerConfig) -> Result<(), RuntimeError> {
        let mut s = self.lock();
        s.calls.push(Call::Create { id: cfg.id.clone(), name: cfg.meta.container_name.clone(), attempt: cfg.meta.attempt });
        if !s.sandboxes.contains_key(&sandbox.id) {
            return Err(RuntimeError::NotFound(sandbox.id.clone()));
        }
        if s.containers.contains_key(&cfg.id) {
            return Err(RuntimeError::Exists(cfg.id.clone()));
        }
        let termination_file = cfg.spec.mounts().as_ref().and_then(|ms| {
            ms.iter().find(|m| m.destination().to_string_lossy().contains("termination")).and_then(|m| m.source().clone())
        });
        s.containers.insert(cfg.id.clone(), Entry { meta: cfg.meta, status: ContainerStatus::Created, termination_file, usage: Usage::default() });
        Ok(())
    }

    async fn start(&self, id: &str) -> Result<u32, RuntimeError> {
        let (pid, exit) = {
            let mut s = self.lock();
            let name = Self::name_of(&s, id);
            s.calls.push(Call::Start { id: id.to_string(), name: name.clone() });
            let b = s.behaviour.get(&name).cloned().unwrap_or_default();
            if let Some(msg) = b.fail_start {
                return Err(RuntimeError::Start(msg));
            }
            let n = {
                let n = s.starts.entry(name.clone()).or_insert(0);
                *n += 1;
                *n
            };
            s.next_pid += 1;
            let pid = s.next_pid;
            let e = s.containers.get_mut(id).ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
            if e.status != ContainerStatus::Created {
                return Err(RuntimeError::Start(format!("container {id} is not in the created state")));
            }
            e.status = ContainerStatus::Running { pid, started_at: SystemTime::now() };
            s.start_log.push((name.clone(), std::time::Instant::now()));
            let exit = b.exit.filter(|_| b.exit_times.is_none_or(|t| n <= t)).map(|(code, after)| (code, after, b.oom));
            (pid, exit)
        };
        if let Some((code, after, oom)) = exit {
            let me = self.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let ev = {
                    let mut s = me.lock();
                    if oom { exit_locked(&mut s, &id, 137, Some(9), true) } else { exit_locked(&mut s, &id, code, None, false) }
                };
                if let Some(ev) = ev {
                    let _ = me.events.send(ev);
                }
            });
        }
        Ok(pid)
    }

    async fn signal(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        let ev = {
            let mut s = self.lock();
            let name = Self::name_of(&s, id);
            s.calls.push(Call::Signal { id: id.to_string(), name: name.clone(), signal });
            if !s.containers.contains_key(id) {
                return Err(RuntimeError::NotFound(id.to_string()));
            }
            let ignore = s.behaviour.get(&name).is_some_and(|b| b.ignore_sigterm);
            match signal {
                9 => exit_locked(&mut s, id, 137, Some(9), false),
                15 if !ignore => exit_locked(&mut s, id, 143, Some(15), false),
                _ => None,
            }
        };
        if let Some(ev) = ev {
            let _ = self.events.send(ev);
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let mut s = self.lock();
        let name = Self::name_of(&s, id);
        s.calls.push(Call::Remove { id: id.to_string(), name });
        match s.containers.get(id) {
            None => Err(RuntimeError::NotFound(id.to_string())),
            Some(e) if matches!(e.status, ContainerStatus::Running { .. }) => Err(RuntimeError::Helper(format!("container {id} is running"))),
            Some(_) => {
                s.containers.remove(id);
                Ok(())
            }
        }
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus, RuntimeError> {
        self.lock().containers.get(id).map(|e| e.status.clone()).ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }

    async fn list(&self) -> Result<Vec<ContainerRecord>, RuntimeError> {
        let s = self.lock();
        let mut out: Vec<ContainerRecord> =
            s.containers.iter().map(|(id, e)| ContainerRecord { id: id.clone(), meta: e.meta.clone(), status: e.status.clone() }).collect();
        for (id, (meta, sb)) in &s.sandboxes {
            let status = ContainerStatus::Running { pid: sb.pid, started_at: SystemTime::UNIX_EPOCH };
            out.push(ContainerRecord { id: id.clone(), meta: ContainerMeta { role: Role::Sandbox, ..meta.clone() }, status });
        }
        Ok(out)
    }

    async fn exec(&self, id: &str, req: ExecRequest) -> Result<i32, RuntimeError> {
        let code = {
            let mut s = self.lock();
            let name = Self::name_of(&s, id);
            s.calls.push(Call::Exec { id: id.to_string(), name: name.clone(), argv: req.argv.clone() });
            match s.containers.get(id) {
                Some(e) if matches!(e.status, ContainerStatus::Running { .. }) => {}
                Some(_) => return Err(RuntimeError::Helper(format!("container {id} is not running"))),
                None => return Err(RuntimeError::NotFound(id.to_string())),
            }
            let argv0 = req.argv.first().cloned().unwrap_or_default();
            s.exec_codes.get(&(name, argv0)).copied().unwrap_or(0)
        };
        if let Some(fd) = req.stdout {
            use std::io::Write;
            let mut f = std::fs::File::from(fd);
            let _ = write!(f, "exec {} exited with {code}", req.argv.join(" "));
        }
        Ok(code)
    }

    async fn usage(&self, id: &str) -> Result<Usage, RuntimeError> {
        self.lock().containers.get(id).map(|e| e.usage).ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }

    fn events(&self) -> broadcast::Receiver<RuntimeEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> ContainerMeta {
        ContainerMeta { pod_uid: "u".into(), pod_namespace: "ns".into(), pod_name: "p".into(), container_name: name.into(), role: Role::App, attempt: 0, spec_hash: 0 }
    }

    #[tokio::test]
    async fn containers_run_until_signalled_and_knobs_make_them_exit() {
        let rt = FakeRuntime::new();
        let sb = rt
            .run_sandbox(&SandboxConfig { id: "sb".into(), meta: meta(""), hostname: "p".into(), pod_dir: "/tmp/x".into(), cgroup_parent: String::new(), host_network: false })
            .await
            .unwrap();
        let cfg = |id: &str, name: &str| ContainerConfig {
            id: id.into(),
            meta: meta(name),
            bundle: "/tmp/b".into(),
            spec: oci_spec::runtime::Spec::default(),
            stdout: "/dev/null".into(),
            stderr: "/dev/null".into(),
        };
        rt.set_behaviour("quick", Behaviour { exit: Some((3, Duration::from_millis(10))), ..Default::default() });
        rt.set_behaviour("stubborn", Behaviour { ignore_sigterm: true, ..Default::default() });
        rt.create(&sb, cfg("a", "quick")).await.unwrap();
        rt.create(&sb, cfg("b", "stubborn")).await.unwrap();
        let mut events = rt.events();
        rt.start("a").await.unwrap();
        rt.start("b").await.unwrap();
        let ev = events.recv().await.unwrap();
        assert_eq!(ev.id, "a");
        assert!(matches!(ev.status, ContainerStatus::Exited { exit_code: 3, .. }));
        rt.signal("b", 15).await.unwrap();
        assert!(matches!(rt.status("b").await.unwrap(), ContainerStatus::Running { .. }));
        rt.signal("b", 9).await.unwrap();
        assert!(matches!(rt.status("b").await.unwrap(), ContainerStatus::Exited { exit_code: 137, signal: Some(9), .. }));
        rt.remove("a").await.unwrap();
        assert_eq!(rt.list().await.unwrap().len(), 2, "b and the sandbox");
        assert!(matches!(rt.calls()[0], Call::RunSandbox { .. }));
    }
}
