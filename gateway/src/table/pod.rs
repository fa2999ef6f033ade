//! A Pod's READY, STATUS and RESTARTS cells, computed as upstream's `printPod` computes
//! them: init-container progress (`Init:0/2`, `Init:CrashLoopBackOff`,
//! `Init:ExitCode:1`), native sidecars (restartable init containers count as containers),
//! waiting and terminated reasons (`ErrImagePull`, `Completed`, `Signal:9`),
//! `SchedulingGated`, `NotReady`, `Terminating`, `Unknown` for a pod of a lost node, and
//! the restart count with the age of the last restart (`3 (5m ago)`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::format::{arr, human_duration, i, s, timestamp};

/// The computed cells of one Pod.
#[derive(Debug, PartialEq)]
pub struct PodCells {
    pub ready: String,
    pub status: String,
    pub restarts: String,
}

fn condition_true(pod: &Value, ty: &str) -> bool {
    arr(pod, "/status/conditions").iter().find(|c| s(c, "/type") == ty).is_some_and(|c| s(c, "/status") == "True")
}

fn any_condition_true(pod: &Value, ty: &str) -> bool {
    arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == ty && s(c, "/status") == "True")
}

/// The later of two optional times.
fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `ExitCode:N` or `Signal:N` for a terminated state without a reason.
fn exit_text(terminated: &Value) -> String {
    match i(terminated, "/signal") {
        0 => format!("ExitCode:{}", i(terminated, "/exitCode")),
        sig => format!("Signal:{sig}"),
    }
}

/// READY, STATUS and RESTARTS of a Pod at `now`.
pub fn cells(pod: &Value, now: DateTime<Utc>) -> PodCells {
    let phase = s(pod, "/status/phase");
    let mut reason = phase.to_string();
    if !s(pod, "/status/reason").is_empty() {
        reason = s(pod, "/status/reason").to_string();
    }
    if arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated") {
        reason = "SchedulingGated".into();
    }

    let init_specs = arr(pod, "/spec/initContainers");
    let sidecar = |name: &str| init_specs.iter().any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always");
    let total = arr(pod, "/spec/containers").len() + init_specs.iter().filter(|c| s(c, "/restartPolicy") == "Always").count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut last_restart = None;
    let mut last_sidecar_restart = None;

    let mut initializing = false;
    for (n, c) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        let finished = timestamp(c, "/lastState/terminated/finishedAt");
        restarts += i(c, "/restartCount");
        last_restart = later(last_restart, finished);
        let is_sidecar = sidecar(s(c, "/name"));
        if is_sidecar {
            sidecar_restarts += i(c, "/restartCount");
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let terminated = c.pointer("/state/terminated");
        let waiting_reason = s(c, "/state/waiting/reason");
        if terminated.is_some_and(|t| i(t, "/exitCode") == 0) {
            continue;
        }
        if is_sidecar && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = match terminated {
            Some(t) if s(t, "/reason").is_empty() => format!("Init:{}", exit_text(t)),
            Some(t) => format!("Init:{}", s(t, "/reason")),
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => format!("Init:{waiting_reason}"),
            None => format!("Init:{n}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += i(c, "/restartCount");
            last_restart = later(last_restart, timestamp(c, "/lastState/terminated/finishedAt"));
            let waiting = s(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = if s(t, "/reason").is_empty() { exit_text(t) } else { s(t, "/reason").to_string() };
            } else if c.get("ready").and_then(Value::as_bool) == Some(true) && c.pointer("/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if any_condition_true(pod, "Ready") { "Running".into() } else { "NotReady".into() };
        }
    }

    if pod.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        if s(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".into();
        }
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    PodCells { ready: format!("{ready}/{total}"), status: reason, restarts }
}

/// The wide cells: IP (the first of `podIPs`), NODE, NOMINATED NODE, READINESS GATES
/// (`true/total` of the pod's readiness gates, `<none>` without any).
pub fn wide_cells(pod: &Value) -> [String; 4] {
    let ip = arr(pod, "/status/podIPs").first().map(|p| s(p, "/ip")).unwrap_or("");
    let gates = arr(pod, "/spec/readinessGates");
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(pod, "/status/conditions");
        let met = gates
            .iter()
            .filter(|g| conditions.iter().find(|c| s(c, "/type") == s(g, "/conditionType")).is_some_and(|c| s(c, "/status") == "True"))
            .count();
        format!("{met}/{}", gates.len())
    };
    let none = |x: &str| if x.is_empty() { "<none>".to_string() } else { x.to_string() };
    [none(ip), none(s(pod, "/spec/nodeName")), none(s(pod, "/status/nominatedNodeName")), gates]
}

/// The row conditions upstream sets on finished pods (`Completed`), if any.
pub fn row_conditions(pod: &Value) -> Option<Value> {
    match s(pod, "/status/phase") {
        "Succeeded" => Some(json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])),
        "Failed" => Some(json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(now: DateTime<Utc>, ago: i64) -> String {
        (now - TimeDelta::seconds(ago)).to_rfc3339()
    }

    fn running(name: &str, ready: bool) -> Value {
        json!({"name": name, "ready": ready, "restartCount": 0, "state": {"running": {"startedAt": "2020-01-01T00:00:00Z"}}})
    }

    #[test]
    fn status_ready_and_restarts_match_print_pod() {
        let now = Utc::now();
        let cases: Vec<(&str, Value, (&str, &str, String))> = vec![
            ("a new pod is Pending", json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}}), ("0/1", "Pending", "0".into())),
            (
                "a running ready pod",
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                       "status": {"phase": "Running", "containerStatuses": [running("a", true), running("b", true)]}}),
                ("2/2", "Running", "0".into()),
            ),
            (
                "an image that cannot be pulled",
                json!({"spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Pending", "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull"}}}]}}),
                ("0/1", "ErrImagePull", "0".into()),
            ),
            (
                "a crash loop counts restarts and says when the last was",
                json!({"spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": false, "restartCount": 5,
                           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                           "lastState": {"terminated": {"exitCode": 1, "finishedAt": at(now, 300)}}}]}}),
                ("0/1", "CrashLoopBackOff", "5 (5m ago)".into()),
            ),
            (
                "the first of two init containers is running",
                json!({"spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
                       "status": {"phase": "Pending",
                           "initContainerStatuses": [{"name": "i1", "ready": false, "restartCount": 0, "state": {"running": {}}},
                                                     {"name": "i2", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}],
                           "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}}),
                ("0/1", "Init:0/2", "0".into()),
            ),
            (
                "the second init container runs after the first completed",
                json!({"spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
                       "status": {"phase": "Pending",
                           "initContainerStatuses": [{"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                                                     {"name": "i2", "restartCount": 0, "state": {"running": {}}}]}}),
                ("0/1", "Init:1/2", "0".into()),
            ),
            (
                "an init container in a crash loop",
                json!({"spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
                       "status": {"phase": "Pending",
                           "initContainerStatuses": [{"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
                ("0/1", "Init:CrashLoopBackOff", "3".into()),
            ),
            (
                "an init container that failed without a reason",
                json!({"spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
                       "status": {"phase": "Pending",
                           "initContainerStatuses": [{"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]}}),
                ("0/1", "Init:ExitCode:2", "0".into()),
            ),
            (
                "an init container killed by a signal",
                json!({"spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
                       "status": {"phase": "Pending",
                           "initContainerStatuses": [{"name": "i1", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]}}),
                ("0/1", "Init:Signal:9", "0".into()),
            ),
            (
                "a started native sidecar counts as a ready container",
                json!({"spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "a"}]},
                       "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                           "initContainerStatuses": [{"name": "proxy", "started": true, "ready": true, "restartCount": 1,
                               "lastState": {"terminated": {"exitCode": 1, "finishedAt": at(now, 60)}}, "state": {"running": {}}}],
                           "containerStatuses": [running("a", true)]}}),
                ("2/2", "Running", "1 (60s ago)".into()),
            ),
            (
                "a gated pod",
                json!({"spec": {"containers": [{"name": "a"}], "schedulingGates": [{"name": "g"}]},
                       "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}),
                ("0/1", "SchedulingGated", "0".into()),
            ),
            (
                "a completed container beside a running one, pod not ready",
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}],
                           "containerStatuses": [running("a", true), {"name": "b", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
                ("1/2", "NotReady", "0".into()),
            ),
            (
                "a completed container beside a running one, pod ready",
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
                       "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [running("a", true), {"name": "b", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
                ("1/2", "Running", "0".into()),
            ),
            (
                "a container that exited without a reason",
                json!({"spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Failed", "containerStatuses": [{"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}]}}),
                ("0/1", "ExitCode:3", "0".into()),
            ),
            (
                "a finished pod",
                json!({"spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
                ("0/1", "Completed", "0".into()),
            ),
            (
                "a pod being deleted",
                json!({"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Running", "containerStatuses": [running("a", true)]}}),
                ("1/1", "Terminating", "0".into()),
            ),
            (
                "a finished pod being deleted keeps its phase",
                json!({"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Failed"}}),
                ("0/1", "Failed", "0".into()),
            ),
            (
                "a pod of a lost node being deleted",
                json!({"metadata": {"deletionTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"containers": [{"name": "a"}]},
                       "status": {"phase": "Running", "reason": "NodeLost"}}),
                ("0/1", "Unknown", "0".into()),
            ),
            (
                "an evicted pod shows the status reason",
                json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Failed", "reason": "Evicted"}}),
                ("0/1", "Evicted", "0".into()),
            ),
        ];
        for (what, pod, (ready, status, restarts)) in cases {
            let got = cells(&pod, now);
            assert_eq!(got, PodCells { ready: ready.into(), status: status.into(), restarts }, "{what}");
        }
    }

    #[test]
    fn wide_cells_show_ip_node_nomination_and_gates() {
        let pod = json!({"spec": {"nodeName": "n1", "readinessGates": [{"conditionType": "lb"}, {"conditionType": "dns"}]},
                         "status": {"podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}], "nominatedNodeName": "n2",
                                    "conditions": [{"type": "lb", "status": "True"}, {"type": "dns", "status": "False"}]}});
        assert_eq!(wide_cells(&pod), ["10.0.0.9", "n1", "n2", "1/2"]);
        assert_eq!(wide_cells(&json!({})), ["<none>", "<none>", "<none>", "<none>"]);
        assert!(row_conditions(&json!({"status": {"phase": "Succeeded"}})).is_some());
        assert!(row_conditions(&json!({"status": {"phase": "Running"}})).is_none());
    }
}
