//! Pure: what one sync of a pod must do, as kubelet's `computePodActions` decides it —
//! from what the runtime shows of the pod (sandbox, containers with their attempts and
//! spec hashes), the pod's spec, the probes' verdicts and the restart back-off. The
//! executor (`pod::sync`) carries the plan out; this module does no I/O.

use std::time::{Duration, SystemTime};

use api::model::{Container, Pod};

use super::backoff::Backoff;
use crate::runtime::Role;

/// What the runtime shows of one container of the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub attempt: u32,
    pub spec_hash: u64,
    pub state: State,
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Created,
    Running { started_at: SystemTime },
    Exited {
        exit_code: i32,
        started_at: Option<SystemTime>,
        finished_at: SystemTime,
        /// `OOMKilled`, `Completed`, `Error`, `StartError`…
        reason: String,
        message: Option<String>,
    },
    /// Gone while nobody watched: counts as a failure.
    Unknown,
}

impl State {
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            State::Exited { exit_code, .. } => Some(*exit_code),
            State::Unknown => Some(128),
            _ => None,
        }
    }
    pub fn is_running(&self) -> bool {
        matches!(self, State::Running { .. })
    }
}

/// What the prober says of one running container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeView {
    /// The startup probe succeeded (or there is none).
    pub started: bool,
    pub ready: bool,
    pub liveness_failed: bool,
    pub startup_failed: bool,
}

/// The pod's view of its runtime.
#[derive(Debug, Clone, Default)]
pub struct PodRuntime {
    /// The sandbox runs.
    pub sandbox: bool,
    /// Every container record of the pod, any attempt.
    pub containers: Vec<Observed>,
}

impl PodRuntime {
    /// The newest attempt of the container called `name`.
    pub fn latest(&self, name: &str) -> Option<&Observed> {
        self.containers.iter().filter(|c| c.name == name && c.role != Role::Sandbox).max_by_key(|c| c.attempt)
    }
    /// The attempt before the newest one (what lastState reports).
    pub fn previous(&self, name: &str) -> Option<&Observed> {
        let latest = self.latest(name)?.attempt;
        self.containers.iter().filter(|c| c.name == name && c.attempt < latest).max_by_key(|c| c.attempt)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    Liveness,
    Startup,
    SpecChanged,
    /// The sandbox is gone: everything in it restarts.
    SandboxGone,
    /// A regular init container failed under restartPolicy Never: the pod fails.
    PodFailed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Kill {
    pub id: String,
    pub name: String,
    pub reason: KillReason,
    /// The `Killing` event's message.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    pub name: String,
    pub role: Role,
    pub attempt: u32,
    /// The exit this start restarts after (its back-off advances).
    pub after_exit: Option<SystemTime>,
    /// The previous attempt ran long enough to forget its back-off.
    pub reset_backoff: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub create_sandbox: bool,
    pub kill: Vec<Kill>,
    /// In order; the executor stops at the first that fails.
    pub start: Vec<Start>,
    /// Containers waiting out a restart back-off: (name, delay), for CrashLoopBackOff.
    pub backing_off: Vec<(String, Duration)>,
    /// Records to remove (older attempts, created-but-never-started ones being replaced).
    pub remove: Vec<String>,
    /// A regular init container failed and may not restart: the pod is Failed.
    pub pod_failed: bool,
    /// Sync again after this long (the end of the earliest back-off).
    pub requeue: Option<Duration>,
}

pub fn restart_policy(pod: &Pod) -> &str {
    pod.spec.restart_policy.as_deref().unwrap_or("Always")
}

/// A native sidecar: an init container with `restartPolicy: Always`.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The back-off key of a container of a pod.
pub fn backoff_key(pod: &Pod, name: &str) -> String {
    format!("{}/{}", pod.metadata.uid, name)
}

/// Whether a container that exited with `code` restarts under `policy`.
pub fn restarts(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// A hash of a container's spec: a change (e.g. a new image) restarts the container.
pub fn spec_hash(c: &Container) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(c).unwrap_or_default().hash(&mut h);
    h.finish()
}

struct Planner<'a> {
    pod: &'a Pod,
    rt: &'a PodRuntime,
    probes: &'a dyn Fn(&str) -> ProbeView,
    backoff: &'a Backoff,
    now: SystemTime,
    plan: Plan,
}

/// What to do in this sync (see the module doc). Termination (deletion) is not planned
/// here: the executor stops everything in order.
pub fn plan(pod: &Pod, rt: &PodRuntime, probes: &dyn Fn(&str) -> ProbeView, backoff: &Backoff, now: SystemTime) -> Plan {
    let mut p = Planner { pod, rt, probes, backoff, now, plan: Plan::default() };
    p.run();
    p.plan
}

impl Planner<'_> {
    fn run(&mut self) {
        let policy = restart_policy(self.pod);
        // Older attempts than the previous one are of no more use.
        for c in &self.rt.containers {
            if let Some(prev) = self.rt.previous(&c.name) {
                if c.attempt < prev.attempt && !c.state.is_running() {
                    self.plan.remove.push(c.id.clone());
                }
            }
        }
        if !self.rt.sandbox {
            let ran = self.rt.containers.iter().any(|c| c.role != Role::Sandbox);
            // Under Never, a pod whose containers ran is not started again in a new sandbox.
            if ran && policy == "Never" {
                return;
            }
            for c in self.rt.containers.iter().filter(|c| c.state.is_running()) {
                self.plan.kill.push(Kill { id: c.id.clone(), name: c.name.clone(), reason: KillReason::SandboxGone, message: format!("Stopping container {}", c.name) });
            }
            self.plan.create_sandbox = true;
        }
        if !self.init_containers(policy) {
            return;
        }
        let containers = self.pod.spec.containers.clone();
        for c in &containers {
            self.container(c, Role::App, policy);
        }
    }

    fn start(&mut self, c: &Container, role: Role, latest: Option<&Observed>, after_exit: Option<SystemTime>) {
        let attempt = match latest {
            None => 0,
            Some(l) if l.state == State::Created => {
                self.plan.remove.push(l.id.clone());
                l.attempt
            }
            Some(l) => l.attempt + 1,
        };
        let reset_backoff = matches!(latest.map(|l| &l.state), Some(State::Exited { started_at: Some(s), finished_at, .. })
            if finished_at.duration_since(*s).unwrap_or_default() >= self.backoff.config().reset_after);
        self.plan.start.push(Start { name: c.name.clone(), role, attempt, after_exit, reset_backoff });
    }

    /// Restarts an exited container unless it is backing off; true when it was started.
    fn restart_exited(&mut self, c: &Container, role: Role, latest: &Observed) -> bool {
        let finished = match &latest.state {
            State::Exited { finished_at, started_at, .. } => {
                let ran = started_at.map(|s| finished_at.duration_since(s).unwrap_or_default()).unwrap_or_default();
                if ran >= self.backoff.config().reset_after {
                    self.start(c, role, Some(latest), None);
                    return true;
                }
                *finished_at
            }
            _ => self.now,
        };
        let key = backoff_key(self.pod, &c.name);
        match self.backoff.in_backoff(&key, finished, self.now) {
            Some((delay, left)) => {
                self.plan.backing_off.push((c.name.clone(), delay));
                self.plan.requeue = Some(self.plan.requeue.map_or(left, |r| r.min(left)));
                false
            }
            None => {
                self.start(c, role, Some(latest), Some(finished));
                true
            }
        }
    }

    /// A running container that must go: liveness or startup failure, or a changed spec.
    fn check_running(&mut self, c: &Container, latest: &Observed, policy: &str) {
        let view = (self.probes)(&latest.id);
        let (reason, mut message, mut restart) = if latest.spec_hash != spec_hash(c) {
            (KillReason::SpecChanged, format!("Container {} definition changed", c.name), true)
        } else if view.liveness_failed {
            (KillReason::Liveness, format!("Container {} failed liveness probe", c.name), policy != "Never")
        } else if view.startup_failed {
            (KillReason::Startup, format!("Container {} failed startup probe", c.name), policy != "Never")
        } else {
            return;
        };
        if latest.role == Role::Init {
            restart = true; // sidecars always restart
        }
        if restart {
            message.push_str(", will be restarted");
        }
        self.plan.kill.push(Kill { id: latest.id.clone(), name: c.name.clone(), reason, message });
        if restart {
            self.start(c, latest.role, Some(latest), None);
        }
    }

    /// One app container (or a sidecar once the pod is initialized).
    fn container(&mut self, c: &Container, role: Role, policy: &str) {
        let latest = self.rt.latest(&c.name).cloned();
        match &latest {
            None => self.start(c, role, None, None),
            Some(l) if l.state == State::Created => self.start(c, role, Some(l), None),
            Some(l) if l.state.is_running() => {
                if !self.plan.create_sandbox {
                    self.check_running(c, l, policy);
                } else {
                    self.start(c, role, Some(l), None);
                }
            }
            Some(l) => {
                let code = l.state.exit_code().unwrap_or(0);
                let policy = if role == Role::Init { "Always" } else { policy };
                if restarts(policy, code) {
                    self.restart_exited(c, role, l);
                }
            }
        }
    }

    /// Init containers; true once the pod is initialized (app containers may run).
    fn init_containers(&mut self, policy: &str) -> bool {
        let app_started = self.pod.spec.containers.iter().any(|c| self.rt.latest(&c.name).is_some());
        let inits = self.pod.spec.init_containers.clone();
        for c in &inits {
            let latest = self.rt.latest(&c.name).cloned();
            if is_sidecar(c) {
                let started = latest.as_ref().is_some_and(|l| l.state.is_running() && (self.probes)(&l.id).started);
                self.container(c, Role::Init, policy);
                if !started && !app_started {
                    return false;
                }
                continue;
            }
            if app_started && !self.plan.create_sandbox {
                continue;
            }
            match latest.as_ref().map(|l| &l.state) {
                Some(State::Exited { exit_code: 0, .. }) if !self.plan.create_sandbox => continue,
                None => self.start(c, Role::Init, None, None),
                Some(State::Created) => self.start(c, Role::Init, latest.as_ref(), None),
                Some(State::Running { .. }) if self.plan.create_sandbox => self.start(c, Role::Init, latest.as_ref(), None),
                Some(State::Running { .. }) => {}
                Some(State::Exited { exit_code: 0, .. }) => self.start(c, Role::Init, latest.as_ref(), None),
                Some(_) if policy == "Never" => {
                    self.plan.pod_failed = true;
                    for r in self.rt.containers.iter().filter(|r| r.state.is_running()) {
                        self.plan.kill.push(Kill { id: r.id.clone(), name: r.name.clone(), reason: KillReason::PodFailed, message: format!("Stopping container {}", r.name) });
                    }
                }
                Some(_) => {
                    if let Some(l) = &latest {
                        self.restart_exited(c, Role::Init, l);
                    }
                }
            }
            return false;
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;
    use crate::pod::backoff::BackoffConfig;
    use api::model::{ObjectMeta, PodSpec};

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn ctr(name: &str) -> Container {
        Container { name: name.into(), image: Some("busybox".into()), ..Default::default() }
    }

    fn sidecar(name: &str) -> Container {
        Container { restart_policy: Some("Always".into()), ..ctr(name) }
    }

    fn pod(policy: &str, init: Vec<Container>, app: Vec<Container>) -> Pod {
        Pod {
            metadata: ObjectMeta { name: "p".into(), namespace: Some("default".into()), uid: "uid".into(), ..Default::default() },
            spec: PodSpec { restart_policy: Some(policy.into()), init_containers: init, containers: app, ..Default::default() },
            ..Default::default()
        }
    }

    fn obs(pod: &Pod, name: &str, attempt: u32, state: State) -> Observed {
        let c = pod.spec.all_containers().find(|c| c.name == name).unwrap();
        let role = if pod.spec.init_containers.iter().any(|i| i.name == name) { Role::Init } else { Role::App };
        Observed { id: format!("{name}-{attempt}"), name: name.into(), role, attempt, spec_hash: spec_hash(c), state }
    }

    fn running() -> State {
        State::Running { started_at: t(0) }
    }

    fn exited(code: i32, at: u64) -> State {
        State::Exited { exit_code: code, started_at: Some(t(at.saturating_sub(1))), finished_at: t(at), reason: "Error".into(), message: None }
    }

    fn healthy(_: &str) -> ProbeView {
        ProbeView { started: true, ready: true, ..Default::default() }
    }

    fn starts(p: &Plan) -> Vec<(String, u32)> {
        p.start.iter().map(|s| (s.name.clone(), s.attempt)).collect()
    }

    fn backoff() -> Backoff {
        Backoff::new(BackoffConfig { initial: Duration::from_secs(10), max: Duration::from_secs(300), reset_after: Duration::from_secs(600) })
    }

    #[test]
    fn a_new_pod_gets_a_sandbox_then_its_first_init_container_or_all_its_containers() {
        let b = backoff();
        let p = pod("Always", vec![], vec![ctr("a"), ctr("b")]);
        let plan = plan(&p, &PodRuntime::default(), &healthy, &b, t(0));
        assert!(plan.create_sandbox);
        assert_eq!(starts(&plan), [("a".into(), 0), ("b".into(), 0)]);

        let p = pod("Always", vec![ctr("i1"), ctr("i2")], vec![ctr("a")]);
        let plan = super::plan(&p, &PodRuntime::default(), &healthy, &b, t(0));
        assert_eq!(starts(&plan), [("i1".into(), 0)], "one init container at a time");
    }

    #[test]
    fn init_containers_run_in_order_and_app_containers_wait_for_them() {
        let b = backoff();
        let p = pod("Always", vec![ctr("i1"), ctr("i2")], vec![ctr("a")]);
        let cases: Vec<(Vec<Observed>, Vec<(String, u32)>, &str)> = vec![
            (vec![obs(&p, "i1", 0, running())], vec![], "i1 runs: wait"),
            (vec![obs(&p, "i1", 0, exited(0, 5))], vec![("i2".into(), 0)], "i1 done: i2"),
            (vec![obs(&p, "i1", 0, exited(0, 5)), obs(&p, "i2", 0, exited(0, 6))], vec![("a".into(), 0)], "all done: app"),
            (vec![obs(&p, "i1", 0, exited(1, 5))], vec![("i1".into(), 1)], "i1 failed: restarted (first restart immediate)"),
        ];
        for (containers, want, what) in cases {
            let rt = PodRuntime { sandbox: true, containers };
            assert_eq!(starts(&plan(&p, &rt, &healthy, &b, t(10))), want, "{what}");
        }
    }

    #[test]
    fn a_failed_init_container_under_never_fails_the_pod() {
        let p = pod("Never", vec![ctr("i1")], vec![ctr("a")]);
        let rt = PodRuntime { sandbox: true, containers: vec![obs(&p, "i1", 0, exited(2, 5))] };
        let plan = plan(&p, &rt, &healthy, &backoff(), t(10));
        assert!(plan.pod_failed);
        assert!(plan.start.is_empty());
    }

    #[test]
    fn restart_policy_decides_which_exits_restart() {
        let b = backoff();
        for (policy, code, restart) in
            [("Always", 0, true), ("Always", 1, true), ("OnFailure", 0, false), ("OnFailure", 1, true), ("Never", 1, false), ("Never", 0, false)]
        {
            let p = pod(policy, vec![], vec![ctr("a")]);
            let rt = PodRuntime { sandbox: true, containers: vec![obs(&p, "a", 0, exited(code, 5))] };
            let plan = plan(&p, &rt, &healthy, &b, t(10));
            assert_eq!(!plan.start.is_empty(), restart, "{policy} exit {code}");
        }
    }

    #[test]
    fn a_crashing_container_waits_out_its_backoff() {
        let mut b = backoff();
        let p = pod("Always", vec![], vec![ctr("a")]);
        b.next(&backoff_key(&p, "a"), t(5), t(5));
        let rt = PodRuntime { sandbox: true, containers: vec![obs(&p, "a", 0, obs_exit_at(7)), obs(&p, "a", 1, exited(1, 8))] };
        let plan = plan(&p, &rt, &healthy, &b, t(10));
        assert!(plan.start.is_empty());
        assert_eq!(plan.backing_off, [("a".to_string(), Duration::from_secs(10))]);
        assert_eq!(plan.requeue, Some(Duration::from_secs(8)));
        assert!(plan.remove.is_empty(), "attempt 0 is the previous one: kept for lastState");
        let later = super::plan(&p, &rt, &healthy, &b, t(18));
        assert_eq!(starts(&later), [("a".into(), 2)]);
        assert_eq!(later.start[0].after_exit, Some(t(8)));
    }

    fn obs_exit_at(at: u64) -> State {
        exited(1, at)
    }

    #[test]
    fn old_attempts_are_removed() {
        let p = pod("Always", vec![], vec![ctr("a")]);
        let rt = PodRuntime { sandbox: true, containers: vec![obs(&p, "a", 0, exited(1, 1)), obs(&p, "a", 1, exited(1, 2)), obs(&p, "a", 2, running())] };
        assert_eq!(plan(&p, &rt, &healthy, &backoff(), t(10)).remove, ["a-0"]);
    }

    #[test]
    fn liveness_failure_or_a_changed_spec_kills_and_restarts_a_running_container() {
        let b = backoff();
        let p = pod("Always", vec![], vec![ctr("a")]);
        let rt = PodRuntime { sandbox: true, containers: vec![obs(&p, "a", 0, running())] };
        let failing = |_: &str| ProbeView { started: true, liveness_failed: true, ..Default::default() };
        let plan = plan(&p, &rt, &failing, &b, t(10));
        assert_eq!(plan.kill[0].message, "Container a failed liveness probe, will be restarted");
        assert_eq!(starts(&plan), [("a".into(), 1)]);

        let mut changed = p.clone();
        changed.spec.containers[0].image = Some("busybox:2".into());
        let plan = super::plan(&changed, &rt, &healthy, &b, t(10));
        assert_eq!(plan.kill[0].reason, KillReason::SpecChanged);
        assert_eq!(plan.kill[0].message, "Container a definition changed, will be restarted");
        assert_eq!(starts(&plan), [("a".into(), 1)]);

        let never = pod("Never", vec![], vec![ctr("a")]);
        let rt = PodRuntime { sandbox: true, containers: vec![obs(&never, "a", 0, running())] };
        let plan = super::plan(&never, &rt, &failing, &b, t(10));
        assert_eq!(plan.kill[0].message, "Container a failed liveness probe");
        assert!(plan.start.is_empty());
    }

    #[test]
    fn sidecars_start_in_order_before_app_containers_and_keep_running() {
        let b = backoff();
        let p = pod("Never", vec![sidecar("s1"), ctr("i"), sidecar("s2")], vec![ctr("a")]);
        let not_started = |_: &str| ProbeView::default();
        let cases: Vec<(Vec<Observed>, &dyn Fn(&str) -> ProbeView, Vec<(String, u32)>, &str)> = vec![
            (vec![], &healthy, vec![("s1".into(), 0)], "first sidecar first"),
            (vec![obs(&p, "s1", 0, running())], &not_started, vec![], "s1 not started (startup probe): wait"),
            (vec![obs(&p, "s1", 0, running())], &healthy, vec![("i".into(), 0)], "then the init container"),
            (vec![obs(&p, "s1", 0, running()), obs(&p, "i", 0, exited(0, 3))], &healthy, vec![("s2".into(), 0)], "then s2"),
            (
                vec![obs(&p, "s1", 0, running()), obs(&p, "i", 0, exited(0, 3)), obs(&p, "s2", 0, running())],
                &healthy,
                vec![("a".into(), 0)],
                "then the app",
            ),
            (
                vec![obs(&p, "s1", 0, exited(1, 5)), obs(&p, "i", 0, exited(0, 3)), obs(&p, "s2", 0, running()), obs(&p, "a", 0, running())],
                &healthy,
                vec![("s1".into(), 1)],
                "a sidecar restarts even under Never",
            ),
        ];
        for (containers, probes, want, what) in cases {
            let rt = PodRuntime { sandbox: true, containers };
            assert_eq!(starts(&plan(&p, &rt, probes, &b, t(10))), want, "{what}");
        }
    }

    #[test]
    fn a_lost_sandbox_restarts_everything_but_not_a_finished_never_pod() {
        let b = backoff();
        let p = pod("Always", vec![], vec![ctr("a")]);
        let rt = PodRuntime { sandbox: false, containers: vec![obs(&p, "a", 0, running())] };
        let plan = plan(&p, &rt, &healthy, &b, t(10));
        assert!(plan.create_sandbox);
        assert_eq!(plan.kill.len(), 1);
        assert_eq!(starts(&plan), [("a".into(), 1)]);
        let never = pod("Never", vec![], vec![ctr("a")]);
        let rt = PodRuntime { sandbox: false, containers: vec![obs(&never, "a", 0, exited(0, 3))] };
        assert_eq!(super::plan(&never, &rt, &healthy, &b, t(10)), Plan::default());
    }
}
