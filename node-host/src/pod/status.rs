//! Pure: a pod's status as kubelet's `generateAPIPodStatus` computes it — phase
//! (`getPhase`), the kubelet-owned conditions with upstream's reasons and messages,
//! container statuses (state, lastState, restartCount, ready, started, image, imageID,
//! containerID), IPs, startTime and QoS class — from the runtime's view of the pod.

use std::collections::HashMap;

use api::model::{
    Condition, Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIp,
    Pod, PodIp, PodStatus,
};

use super::plan::{is_sidecar, Observed, PodRuntime, ProbeView, State};

/// Everything a status is made of.
pub struct StatusInput<'a> {
    pub pod: &'a Pod,
    pub rt: &'a PodRuntime,
    pub probes: &'a dyn Fn(&str) -> ProbeView,
    /// Why a container is waiting (ErrImagePull, CrashLoopBackOff…): name → (reason, message).
    pub waiting: &'a HashMap<String, (String, String)>,
    /// The imageID of a container's image (`name@sha256:…`), by container name.
    pub image_id: &'a dyn Fn(&str) -> String,
    pub pod_ip: Option<String>,
    pub host_ip: String,
    /// The sandbox runs with its network set up.
    pub sandbox_ready: bool,
    /// The pod is being torn down for good (deleted, or failed): no restarts to come.
    pub terminal: bool,
    /// RFC 3339 "now", for transitions and startTime.
    pub now: String,
}

const KUBELET_CONDITIONS: [&str; 5] = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];

pub fn rfc3339(t: std::time::SystemTime) -> String {
    api::time::rfc3339(chrono::DateTime::<chrono::Utc>::from(t))
}

fn terminated(o: &Observed) -> Option<ContainerStateTerminated> {
    let cid = Some(format!("shoal://{}", o.id));
    match &o.state {
        State::Exited { exit_code, started_at, finished_at, reason, message } => Some(ContainerStateTerminated {
            exit_code: *exit_code,
            reason: Some(reason.clone()),
            message: message.clone(),
            started_at: started_at.map(rfc3339),
            finished_at: Some(rfc3339(*finished_at)),
            container_id: cid,
            ..Default::default()
        }),
        State::Unknown => Some(ContainerStateTerminated {
            exit_code: 137,
            reason: Some("ContainerStatusUnknown".into()),
            message: Some("The container could not be located when the pod was terminated".into()),
            container_id: cid,
            ..Default::default()
        }),
        _ => None,
    }
}

fn waiting(reason: &str, message: Option<&str>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message: message.filter(|m| !m.is_empty()).map(String::from) }),
        ..Default::default()
    }
}

fn container_status(i: &StatusInput<'_>, c: &Container, default_waiting: &str) -> ContainerStatus {
    let latest = i.rt.latest(&c.name);
    let memo = i.waiting.get(&c.name);
    let prev_terminated = || i.rt.previous(&c.name).and_then(terminated).map(|t| ContainerState { terminated: Some(t), ..Default::default() });
    let (state, last_state) = match latest.map(|l| &l.state) {
        None | Some(State::Created) => {
            let (r, m) = memo.map(|(r, m)| (r.as_str(), Some(m.as_str()))).unwrap_or((default_waiting, None));
            (waiting(r, m), prev_terminated())
        }
        Some(State::Running { started_at }) => {
            (ContainerState { running: Some(ContainerStateRunning { started_at: Some(rfc3339(*started_at)) }), ..Default::default() }, prev_terminated())
        }
        Some(_) => {
            let t = latest.and_then(terminated).map(|t| ContainerState { terminated: Some(t), ..Default::default() });
            match memo {
                Some((r, m)) if !i.terminal => (waiting(r, Some(m)), t),
                _ => (t.unwrap_or_default(), prev_terminated()),
            }
        }
    };
    let running = latest.is_some_and(|l| l.state.is_running());
    let view = latest.map(|l| (i.probes)(&l.id)).unwrap_or_default();
    ContainerStatus {
        name: c.name.clone(),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ready: running && view.ready,
        restart_count: latest.map(|l| l.attempt as i32).unwrap_or(0),
        image: c.image.clone().unwrap_or_default(),
        image_id: (i.image_id)(&c.name),
        container_id: latest.map(|l| format!("shoal://{}", l.id)),
        started: Some(running && view.started),
        ..Default::default()
    }
}

/// Upstream's `getPhase`.
pub fn phase(pod: &Pod, init: &[ContainerStatus], app: &[ContainerStatus], terminal: bool) -> &'static str {
    let st = |list: &[ContainerStatus], name: &str| list.iter().find(|s| s.name == name).cloned();
    let (mut pending_init, mut failed_init) = (0, 0);
    let (mut running, mut waiting, mut stopped, mut succeeded, mut unknown) = (0, 0, 0, 0, 0);
    let term = |s: &Option<ContainerState>| s.as_ref().and_then(|s| s.terminated.clone());
    for c in &pod.spec.init_containers {
        let Some(s) = st(init, &c.name) else {
            pending_init += 1;
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        if is_sidecar(c) {
            if state.running.is_some() && s.started != Some(true) {
                pending_init += 1;
            } else if state.waiting.is_some() && term(&s.last_state).is_none() {
                pending_init += 1;
                waiting += 1;
            }
            continue;
        }
        if state.running.is_some() {
            pending_init += 1;
        } else if let Some(t) = &state.terminated {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if state.waiting.is_some() {
            match term(&s.last_state) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
            unknown += 1;
        }
    }
    for c in &pod.spec.containers {
        let Some(s) = st(app, &c.name) else {
            unknown += 1;
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            if term(&s.last_state).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    let policy = pod.spec.restart_policy.as_deref().unwrap_or("Always");
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    let any_app_started = app.iter().any(|s| s.state.as_ref().is_some_and(|st| st.running.is_some() || st.terminated.is_some()) || s.restart_count > 0);
    if (pending_init > 0 && !any_app_started) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded { "Succeeded" } else { "Failed" };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

/// Upstream's QoS class: Guaranteed, Burstable or BestEffort.
pub fn qos_class(pod: &Pod) -> &'static str {
    let all: Vec<&Container> = pod.spec.all_containers().collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &all {
        let r = c.resources.clone().unwrap_or_default();
        if !r.requests.is_empty() || !r.limits.is_empty() {
            any = true;
        }
        for res in ["cpu", "memory"] {
            let limit = r.limits.get(res);
            let request = r.requests.get(res).or(limit);
            if limit.is_none() || request.map(|q| q.to_string()) != limit.map(|q| q.to_string()) {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

fn condition(old: &[Condition], now: &str, type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> Condition {
    let status = if ok { "True" } else { "False" };
    let since = old.iter().find(|c| c.type_ == type_ && c.status == status).and_then(|c| c.last_transition_time.clone());
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.map(String::from),
        message,
        last_transition_time: Some(since.unwrap_or_else(|| now.to_string())),
        ..Default::default()
    }
}

/// The pod's status (see the module doc).
pub fn pod_status(i: &StatusInput<'_>) -> PodStatus {
    let pod = i.pod;
    let old = pod.status.clone().unwrap_or_default();
    let initialized_before = pod.spec.containers.iter().any(|c| i.rt.latest(&c.name).is_some());
    let init: Vec<ContainerStatus> = pod.spec.init_containers.iter().map(|c| container_status(i, c, "PodInitializing")).collect();
    let app_default = if pod.spec.init_containers.iter().any(|c| !is_sidecar(c)) && !initialized_before { "PodInitializing" } else { "ContainerCreating" };
    let app: Vec<ContainerStatus> = pod.spec.containers.iter().map(|c| container_status(i, c, app_default)).collect();
    let mut phase = phase(pod, &init, &app, i.terminal).to_string();
    if matches!(old.phase.as_deref(), Some("Succeeded" | "Failed")) {
        phase = old.phase.clone().unwrap_or_default();
    }

    let incomplete: Vec<&str> = pod
        .spec
        .init_containers
        .iter()
        .zip(&init)
        .filter(|(c, s)| {
            let st = s.state.clone().unwrap_or_default();
            if is_sidecar(c) {
                !(st.running.is_some() && s.started == Some(true))
            } else {
                !initialized_before && st.terminated.as_ref().is_none_or(|t| t.exit_code != 0)
            }
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let unready: Vec<&str> = pod
        .spec
        .init_containers
        .iter()
        .zip(&init)
        .filter(|(c, s)| is_sidecar(c) && !s.ready)
        .chain(pod.spec.containers.iter().zip(&app).filter(|(_, s)| !s.ready))
        .map(|(c, _)| c.name.as_str())
        .collect();
    let list = |names: &[&str]| format!("[{}]", names.join(" "));
    let now = i.now.as_str();
    let mut conditions: Vec<Condition> = old.conditions.iter().filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str())).cloned().collect();
    let oc = &old.conditions;
    conditions.push(condition(oc, now, "PodReadyToStartContainers", i.sandbox_ready, None, None));
    let succeeded = phase == "Succeeded";
    conditions.push(if succeeded {
        condition(oc, now, "Initialized", true, Some("PodCompleted"), None)
    } else if incomplete.is_empty() {
        condition(oc, now, "Initialized", true, None, None)
    } else {
        condition(oc, now, "Initialized", false, Some("ContainersNotInitialized"), Some(format!("containers with incomplete status: {}", list(&incomplete))))
    });
    let (ready, reason, message) = if succeeded {
        (false, Some("PodCompleted"), None)
    } else if !incomplete.is_empty() {
        (false, Some("ContainersNotInitialized"), Some(format!("containers with incomplete status: {}", list(&incomplete))))
    } else if unready.is_empty() {
        (true, None, None)
    } else {
        (false, Some("ContainersNotReady"), Some(format!("containers with unready status: {}", list(&unready))))
    };
    let (cr_reason, cr_message) = if ready || succeeded || incomplete.is_empty() {
        (reason, message.clone())
    } else {
        (Some("ContainersNotReady"), Some(format!("containers with unready status: {}", list(&unready))))
    };
    conditions.push(condition(oc, now, "Ready", ready, reason, message));
    conditions.push(condition(oc, now, "ContainersReady", ready || (unready.is_empty() && !succeeded), cr_reason, cr_message));
    conditions.push(condition(oc, now, "PodScheduled", true, None, None));

    let pod_ip = i.pod_ip.clone().or_else(|| old.pod_ip.clone());
    PodStatus {
        phase: Some(phase),
        conditions,
        message: old.message.clone(),
        reason: old.reason.clone(),
        nominated_node_name: old.nominated_node_name.clone(),
        host_ip: Some(i.host_ip.clone()),
        host_ips: vec![HostIp { ip: i.host_ip.clone() }],
        pod_ips: pod_ip.iter().map(|ip| PodIp { ip: ip.clone() }).collect(),
        pod_ip,
        start_time: old.start_time.clone().or_else(|| Some(i.now.clone())),
        init_container_statuses: init,
        container_statuses: app,
        qos_class: Some(qos_class(pod).into()),
        ..Default::default()
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;
    use crate::runtime::Role;
    use api::model::{ObjectMeta, PodSpec, Quantity, ResourceRequirements};
    use std::time::{Duration, SystemTime};

    fn ctr(name: &str) -> Container {
        Container { name: name.into(), image: Some("busybox".into()), ..Default::default() }
    }

    fn pod(policy: &str, init: Vec<Container>, app: Vec<Container>) -> Pod {
        Pod {
            metadata: ObjectMeta { name: "p".into(), namespace: Some("default".into()), uid: "uid".into(), ..Default::default() },
            spec: PodSpec { restart_policy: Some(policy.into()), init_containers: init, containers: app, ..Default::default() },
            ..Default::default()
        }
    }

    fn o(name: &str, role: Role, attempt: u32, state: State) -> Observed {
        Observed { id: format!("{name}-{attempt}"), name: name.into(), role, attempt, spec_hash: 0, state }
    }

    fn exited(code: i32) -> State {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        State::Exited { exit_code: code, started_at: Some(t), finished_at: t, reason: if code == 0 { "Completed" } else { "Error" }.into(), message: None }
    }

    fn status_of(pod: &Pod, containers: Vec<Observed>, ready: bool, waiting: &[(&str, &str, &str)]) -> PodStatus {
        let rt = PodRuntime { sandbox: true, containers };
        let probes = move |_: &str| ProbeView { started: true, ready, ..Default::default() };
        let waiting: HashMap<String, (String, String)> = waiting.iter().map(|(n, r, m)| (n.to_string(), (r.to_string(), m.to_string()))).collect();
        pod_status(&StatusInput {
            pod,
            rt: &rt,
            probes: &probes,
            waiting: &waiting,
            image_id: &|_| "docker.io/library/busybox@sha256:00".into(),
            pod_ip: Some("10.244.0.2".into()),
            host_ip: "192.168.1.1".into(),
            sandbox_ready: true,
            terminal: false,
            now: "2026-01-01T00:00:00Z".into(),
        })
    }

    fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn phases_follow_get_phase() {
        let running = State::Running { started_at: SystemTime::now() };
        let p = pod("Always", vec![], vec![ctr("a")]);
        let cases: Vec<(&str, Vec<Observed>, &[(&str, &str, &str)], &str)> = vec![
            ("Always", vec![], &[], "Pending"),
            ("Always", vec![o("a", Role::App, 0, running.clone())], &[], "Running"),
            ("Always", vec![o("a", Role::App, 0, exited(1))], &[("a", "CrashLoopBackOff", "back-off")], "Running"),
            ("OnFailure", vec![o("a", Role::App, 0, exited(0))], &[], "Succeeded"),
            ("Never", vec![o("a", Role::App, 0, exited(1))], &[], "Failed"),
            ("Never", vec![o("a", Role::App, 0, exited(0))], &[], "Succeeded"),
            ("Always", vec![], &[("a", "ErrImagePull", "no")], "Pending"),
        ];
        for (policy, containers, waiting, want) in cases {
            let mut p = p.clone();
            p.spec.restart_policy = Some(policy.into());
            assert_eq!(status_of(&p, containers.clone(), true, waiting).phase.as_deref(), Some(want), "{policy} {containers:?} {waiting:?}");
        }
    }

    #[test]
    fn a_crash_looping_container_waits_with_its_last_termination() {
        let p = pod("Always", vec![], vec![ctr("a")]);
        let msg = "back-off 10s restarting failed container=a pod=p_default(uid)";
        let s = status_of(&p, vec![o("a", Role::App, 0, exited(1)), o("a", Role::App, 1, exited(2))], true, &[("a", "CrashLoopBackOff", msg)]);
        let cs = &s.container_statuses[0];
        assert_eq!(cs.restart_count, 1);
        assert_eq!(cs.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(cs.state.as_ref().unwrap().waiting.as_ref().unwrap().message.as_deref(), Some(msg));
        assert_eq!(cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 2);
        assert_eq!(cs.container_id.as_deref(), Some("shoal://a-1"));
        assert!(!cs.ready);
        assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(cond(&s, "Ready").message.as_deref(), Some("containers with unready status: [a]"));
    }

    #[test]
    fn readiness_drives_ready_and_containers_ready() {
        let p = pod("Always", vec![], vec![ctr("a"), ctr("b")]);
        let running = |n: &str| o(n, Role::App, 0, State::Running { started_at: SystemTime::now() });
        let s = status_of(&p, vec![running("a"), running("b")], true, &[]);
        assert_eq!(cond(&s, "Ready").status, "True");
        assert_eq!(cond(&s, "ContainersReady").status, "True");
        assert_eq!(cond(&s, "PodReadyToStartContainers").status, "True");
        assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.2"));
        assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
        let s = status_of(&p, vec![running("a"), running("b")], false, &[]);
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(cond(&s, "Ready").message.as_deref(), Some("containers with unready status: [a b]"));
        assert_eq!(cond(&s, "ContainersReady").status, "False");
    }

    #[test]
    fn init_containers_keep_the_pod_pending_and_not_initialized() {
        let p = pod("Always", vec![ctr("i1"), ctr("i2")], vec![ctr("a")]);
        let s = status_of(&p, vec![o("i1", Role::Init, 0, exited(0)), o("i2", Role::Init, 0, State::Running { started_at: SystemTime::now() })], true, &[]);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(cond(&s, "Initialized").reason.as_deref(), Some("ContainersNotInitialized"));
        assert_eq!(cond(&s, "Initialized").message.as_deref(), Some("containers with incomplete status: [i2]"));
        let waiting = s.container_statuses[0].state.as_ref().unwrap().waiting.clone().unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("PodInitializing"));
        let never = pod("Never", vec![ctr("i1")], vec![ctr("a")]);
        assert_eq!(status_of(&never, vec![o("i1", Role::Init, 0, exited(1))], true, &[]).phase.as_deref(), Some("Failed"));
    }

    #[test]
    fn qos_classes() {
        let q = |cpu_req: Option<&str>, cpu_lim: Option<&str>, mem: Option<&str>| {
            let mut r = ResourceRequirements::default();
            if let Some(v) = cpu_req {
                r.requests.insert("cpu".into(), Quantity::new(v));
            }
            if let Some(v) = cpu_lim {
                r.limits.insert("cpu".into(), Quantity::new(v));
            }
            if let Some(v) = mem {
                r.limits.insert("memory".into(), Quantity::new(v));
            }
            let mut c = ctr("a");
            c.resources = Some(r);
            qos_class(&pod("Always", vec![], vec![c]))
        };
        assert_eq!(q(None, None, None), "BestEffort");
        assert_eq!(q(Some("1"), None, None), "Burstable");
        assert_eq!(q(None, Some("1"), Some("1Gi")), "Guaranteed");
        assert_eq!(q(Some("500m"), Some("1"), Some("1Gi")), "Burstable");
    }
}
