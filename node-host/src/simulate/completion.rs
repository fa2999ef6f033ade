//! Pods that run to completion on simulated nodes (as kwok's stages): a pod with
//! restartPolicy `Never` or `OnFailure` runs for a while, then its containers exit with
//! codes a test chooses through the pod's annotations, read when the run ends:
//!
//! - `sim.shoal.io/run-seconds`: how long each run lasts (default 0.3 s, so that Jobs
//!   complete without annotations);
//! - `sim.shoal.io/exit-code`: every container's exit code (default 0);
//! - `sim.shoal.io/exit-code-<container>`: one container's, over the former.
//!
//! `Never`: the pod ends Succeeded (every container exited 0) or Failed, with each
//! container `terminated` (exitCode, reason Completed/Error, startedAt/finishedAt) and
//! Ready/ContainersReady False (PodCompleted), as a kubelet writes it. `OnFailure`: a
//! container that exits non-zero is restarted in place after a back-off shortened for
//! simulation (0.2 s doubling to 2 s): restartCount + 1, `lastState.terminated`, running
//! again; the pod ends Succeeded once a run exits 0. `Always` pods keep running.
//! A pod deleted while it holds finalizers (a Job's tracking finalizer) is reported
//! Failed first, its containers terminated with 137, as a kubelet that killed them would.

use std::time::Duration;

use api::model::{Condition, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, Pod, PodStatus};

pub const RUN_SECONDS: &str = "sim.shoal.io/run-seconds";
pub const EXIT_CODE: &str = "sim.shoal.io/exit-code";
/// Prefix of the per-container exit code annotation.
pub const EXIT_CODE_PREFIX: &str = "sim.shoal.io/exit-code-";
pub const DEFAULT_RUN: Duration = Duration::from_millis(300);

/// How a pod restarts its containers, if it runs to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    Never,
    OnFailure,
}

/// None for `Always` pods (they keep running).
pub fn completion_of(pod: &Pod) -> Option<Completion> {
    match pod.spec.restart_policy.as_deref() {
        Some("Never") => Some(Completion::Never),
        Some("OnFailure") => Some(Completion::OnFailure),
        _ => None,
    }
}

/// How long one run of the pod's containers lasts.
pub fn run_time(pod: &Pod) -> Duration {
    pod.metadata
        .annotations
        .get(RUN_SECONDS)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .unwrap_or(DEFAULT_RUN)
}

/// The exit code of `container` at the end of a run.
pub fn exit_code(pod: &Pod, container: &str) -> i32 {
    let a = &pod.metadata.annotations;
    a.get(&format!("{EXIT_CODE_PREFIX}{container}"))
        .or_else(|| a.get(EXIT_CODE))
        .and_then(|v| v.trim().parse::<i32>().ok())
        .unwrap_or(0)
}

/// The simulated back-off before the n-th restart (n from 0).
pub fn restart_backoff(restarts: i32) -> Duration {
    Duration::from_millis(200u64 << restarts.clamp(0, 4)).min(Duration::from_secs(2))
}

fn terminated(code: i32, started: Option<String>, now: &str, id: Option<String>) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
            started_at: started,
            finished_at: Some(now.into()),
            container_id: id,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn started_at(c: &ContainerStatus) -> Option<String> {
    c.state.as_ref().and_then(|s| s.running.as_ref()).and_then(|r| r.started_at.clone())
}

fn not_ready(conds: &mut [Condition], now: &str) {
    for c in conds.iter_mut().filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady") {
        if c.status != "False" {
            c.status = "False".into();
            c.reason = Some("PodCompleted".into());
            c.last_transition_time = Some(now.into());
        }
    }
}

/// What happened at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    /// The pod is Succeeded or Failed.
    Finished(PodStatus),
    /// OnFailure: containers that failed are restarted after the delay, with this status.
    Restart(Duration, PodStatus),
}

/// The status at the end of a run of `pod` (its latest annotations and status).
pub fn end_of_run(pod: &Pod, how: Completion, now: &str) -> RunEnd {
    let mut st = pod.status.clone().unwrap_or_default();
    let mut all_ok = true;
    let mut backoff = Duration::ZERO;
    let mut restarted = st.clone();
    for (c, r) in st.container_statuses.iter_mut().zip(restarted.container_statuses.iter_mut()) {
        if c.state.as_ref().is_some_and(|s| s.terminated.is_some()) {
            continue;
        }
        let code = exit_code(pod, &c.name);
        let done = terminated(code, started_at(c), now, c.container_id.clone());
        all_ok &= code == 0;
        if how == Completion::OnFailure && code != 0 {
            backoff = backoff.max(restart_backoff(r.restart_count));
            r.last_state = Some(done.clone());
            r.restart_count += 1;
            r.state = Some(ContainerState { running: Some(ContainerStateRunning { started_at: None }), ..Default::default() });
        } else {
            r.state = Some(done.clone());
            r.ready = false;
            r.started = Some(false);
        }
        c.state = Some(done);
        c.ready = false;
        c.started = Some(false);
    }
    if how == Completion::OnFailure && !all_ok {
        return RunEnd::Restart(backoff, restarted);
    }
    st.phase = Some(if all_ok { "Succeeded" } else { "Failed" }.into());
    not_ready(&mut st.conditions, now);
    RunEnd::Finished(st)
}

/// An OnFailure restart's status once the back-off is over: the restarted containers run
/// from `now`.
pub fn restarted(mut st: PodStatus, now: &str) -> PodStatus {
    for c in &mut st.container_statuses {
        if let Some(r) = c.state.as_mut().and_then(|s| s.running.as_mut()) {
            if r.started_at.is_none() {
                r.started_at = Some(now.into());
            }
        }
        c.ready = true;
        c.started = Some(true);
    }
    st
}

/// The status of a pod whose containers were killed because it was deleted.
pub fn killed(pod: &Pod, now: &str) -> PodStatus {
    let mut st = pod.status.clone().unwrap_or_default();
    for c in &mut st.container_statuses {
        if c.state.as_ref().is_none_or(|s| s.terminated.is_none()) {
            c.state = Some(terminated(137, started_at(c), now, c.container_id.clone()));
            c.ready = false;
            c.started = Some(false);
        }
    }
    st.phase = Some("Failed".into());
    not_ready(&mut st.conditions, now);
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::pods::running_status;
    use serde_json::json;

    fn pod(policy: &str, annotations: serde_json::Value) -> Pod {
        let mut p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "uid": "u", "annotations": annotations},
            "spec": {"restartPolicy": policy, "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}
        }))
        .unwrap();
        p.status = Some(running_status(&p, "10.0.0.1", "10.244.0.2", "t0"));
        p
    }

    #[test]
    fn annotations_choose_the_run_and_the_codes() {
        let p = pod("Never", json!({"sim.shoal.io/run-seconds": "1.5", "sim.shoal.io/exit-code": "3", "sim.shoal.io/exit-code-b": "0"}));
        assert_eq!(run_time(&p), Duration::from_millis(1500));
        assert_eq!((exit_code(&p, "a"), exit_code(&p, "b")), (3, 0));
        let d = pod("Never", json!({}));
        assert_eq!((run_time(&d), exit_code(&d, "a")), (DEFAULT_RUN, 0));
        assert_eq!(completion_of(&pod("Always", json!({}))), None);
    }

    #[test]
    fn never_pods_end_succeeded_or_failed_with_terminated_containers() {
        let RunEnd::Finished(st) = end_of_run(&pod("Never", json!({})), Completion::Never, "t1") else { panic!() };
        assert_eq!(st.phase.as_deref(), Some("Succeeded"));
        let t = st.container_statuses[0].state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref(), t.started_at.as_deref(), t.finished_at.as_deref()), (0, Some("Completed"), Some("t0"), Some("t1")));
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("PodCompleted")));

        let p = pod("Never", json!({"sim.shoal.io/exit-code-a": "42"}));
        let RunEnd::Finished(st) = end_of_run(&p, Completion::Never, "t1") else { panic!() };
        assert_eq!(st.phase.as_deref(), Some("Failed"));
        let t = st.container_statuses[0].state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!((t.exit_code, t.reason.as_deref()), (42, Some("Error")));
    }

    #[test]
    fn on_failure_restarts_in_place_then_succeeds() {
        let p = pod("OnFailure", json!({"sim.shoal.io/exit-code-a": "1"}));
        let RunEnd::Restart(delay, st) = end_of_run(&p, Completion::OnFailure, "t1") else { panic!() };
        assert_eq!(delay, Duration::from_millis(200));
        let a = &st.container_statuses[0];
        assert_eq!(a.restart_count, 1);
        assert_eq!(a.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 1);
        let b = &st.container_statuses[1];
        assert_eq!(b.state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 0, "b finished for good");
        assert_eq!(st.phase.as_deref(), Some("Running"));
        let st = restarted(st, "t2");
        assert_eq!(st.container_statuses[0].state.as_ref().unwrap().running.as_ref().unwrap().started_at.as_deref(), Some("t2"));
        let mut again = p.clone();
        again.metadata.annotations.clear();
        again.status = Some(st);
        let RunEnd::Finished(st) = end_of_run(&again, Completion::OnFailure, "t3") else { panic!() };
        assert_eq!(st.phase.as_deref(), Some("Succeeded"));
        assert_eq!(st.container_statuses[0].restart_count, 1);
        assert_eq!(restart_backoff(10), Duration::from_secs(2));
    }

    #[test]
    fn killed_pods_fail_with_137() {
        let st = killed(&pod("Never", json!({})), "t1");
        assert_eq!(st.phase.as_deref(), Some("Failed"));
        assert_eq!(st.container_statuses[1].state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 137);
    }
}
