//! The pod failure policy (upstream's `pod_failure_policy.go`): the first rule whose exit
//! codes or pod conditions match a failed pod decides what its failure means.

use api::model::{ContainerStatus, Pod, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule};

/// What a matched rule asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fail the whole Job at once (reason PodFailurePolicy).
    FailJob,
    /// Do not count the failure (nor towards backoffLimit).
    Ignore,
    /// Count the failure as usual.
    Count,
    /// Fail the pod's index (Indexed jobs with backoffLimitPerIndex).
    FailIndex,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "FailJob" => Action::FailJob,
            "Ignore" => Action::Ignore,
            "Count" => Action::Count,
            "FailIndex" => Action::FailIndex,
            _ => return None,
        })
    }
}

/// The verdict on one failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub action: Option<Action>,
    /// Whether the failure counts (towards `status.failed` and the limits).
    pub count: bool,
    /// For FailJob: the Job's failure message.
    pub fail_job_message: Option<String>,
}

/// Upstream's `matchPodFailurePolicy`: rules in order, the first match wins; no match
/// counts the failure.
pub fn verdict(policy: &PodFailurePolicy, pod: &Pod) -> Verdict {
    let (ns, name) = (pod.metadata.namespace.as_deref().unwrap_or("default"), pod.metadata.name.as_str());
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(action) = Action::parse(&rule.action) else { continue };
        let Some(cause) = matching_cause(rule, pod) else { continue };
        let message = match cause {
            Cause::ExitCode { container, code } => {
                format!("Container {container} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {i}", rule.action)
            }
            Cause::Condition(t) => format!("Pod {ns}/{name} has condition {t} matching {} rule at index {i}", rule.action),
        };
        return Verdict {
            action: Some(action),
            count: action != Action::Ignore,
            fail_job_message: (action == Action::FailJob).then_some(message),
        };
    }
    Verdict { action: None, count: true, fail_job_message: None }
}

enum Cause {
    ExitCode { container: String, code: i32 },
    Condition(String),
}

fn matching_cause(rule: &PodFailurePolicyRule, pod: &Pod) -> Option<Cause> {
    let st = pod.status.as_ref()?;
    if let Some(req) = &rule.on_exit_codes {
        let all = st.container_statuses.iter().chain(st.init_container_statuses.iter());
        return all.filter_map(|c| exit_code_match(req, c)).next();
    }
    for pattern in &rule.on_pod_conditions {
        let want = pattern.status.as_deref().unwrap_or("True");
        if st.conditions.iter().any(|c| c.type_ == pattern.type_ && c.status == want) {
            return Some(Cause::Condition(pattern.type_.clone()));
        }
    }
    None
}

/// A terminated container with a non-zero exit code (0 never matches) that the operator
/// accepts.
fn exit_code_match(req: &PodFailurePolicyOnExitCodesRequirement, c: &ContainerStatus) -> Option<Cause> {
    if req.container_name.as_deref().is_some_and(|n| n != c.name) {
        return None;
    }
    let code = c.state.as_ref()?.terminated.as_ref()?.exit_code;
    let listed = req.values.contains(&code);
    let ok = code != 0 && match req.operator.as_str() {
        "In" => listed,
        "NotIn" => !listed,
        _ => false,
    };
    ok.then(|| Cause::ExitCode { container: c.name.clone(), code })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed_pod(exit: i32, conditions: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns"},
            "status": {"phase": "Failed", "conditions": conditions,
                       "containerStatuses": [{"name": "main", "state": {"terminated": {"exitCode": exit}}}]}
        }))
        .unwrap()
    }

    fn policy(v: serde_json::Value) -> PodFailurePolicy {
        serde_json::from_value(json!({ "rules": v })).unwrap()
    }

    #[test]
    fn exit_code_rules_in_order() {
        let p = policy(json!([
            {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [1]}},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [0, 42]}},
        ]));
        let v = verdict(&p, &failed_pod(42, json!([])));
        assert_eq!(v.action, Some(Action::FailJob));
        assert_eq!(
            v.fail_job_message.as_deref(),
            Some("Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1")
        );
        assert_eq!(verdict(&p, &failed_pod(1, json!([]))), Verdict { action: Some(Action::Ignore), count: false, fail_job_message: None });
        assert_eq!(verdict(&p, &failed_pod(3, json!([]))).action, Some(Action::Count));
        assert_eq!(verdict(&p, &failed_pod(0, json!([]))).action, None, "exit 0 never matches");
    }

    #[test]
    fn condition_rules_default_to_status_true() {
        let p = policy(json!([{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]));
        let mut pod = failed_pod(137, json!([{"type": "DisruptionTarget", "status": "True"}]));
        assert_eq!(verdict(&p, &pod).action, Some(Action::Ignore));
        pod.status.as_mut().unwrap().conditions[0].status = "False".into();
        assert_eq!(verdict(&p, &pod), Verdict { action: None, count: true, fail_job_message: None });
    }
}
