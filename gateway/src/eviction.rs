//! `POST /api/v1/namespaces/{ns}/pods/{name}/eviction`: the Eviction subresource
//! (policy/v1 `Eviction`), as upstream's eviction REST storage does it:
//!
//! - a pod that is Pending, Succeeded, Failed or already being deleted is deleted without
//!   consulting any budget;
//! - otherwise the PodDisruptionBudgets of its namespace whose (non-empty) selector
//!   matches it are found: more than one is a 500; none, and the pod is deleted;
//! - with one, an unhealthy pod may go when the budget's `unhealthyPodEvictionPolicy`
//!   allows it (`AlwaysAllow`, or `IfHealthyBudget` with enough healthy pods); else the
//!   budget must have `disruptionsAllowed` > 0 (429 TooManyRequests with a
//!   `DisruptionBudget` cause when not). It is decremented and the pod noted in
//!   `disruptedPods`, written with the budget's resourceVersion (so two concurrent
//!   evictions cannot both spend the last disruption; a conflict re-reads and retries),
//!   and then the pod is deleted, honouring the `deleteOptions.preconditions` and
//!   `gracePeriodSeconds` it carries (a bound pod is kept for its grace period).
//!
//! The answer is 201 Created with a Success Status, as upstream's. `dryRun=All` (query or
//! deleteOptions) checks everything and writes nothing.

use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest};
use api::model::{
    find_condition, Condition, Pod, PodDisruptionBudget, PodDisruptionBudgetStatus, DISRUPTION_ALLOWED,
};
use actors::registry::{DeleteOptions as RegistryDeleteOptions, Preconditions, RegistryError, UpdateScope};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{from_registry, ApiError};
use crate::request::body;
use crate::request::params::{DeleteOptions, WriteParams};
use crate::response::{json_response, ApiResult};
use crate::metrics::RequestInfo;
use crate::AppState;

/// The message of every budget refusal (upstream's).
pub const VIOLATES_BUDGET: &str = "Cannot evict pod as it would violate the pod's disruption budget.";
/// Upstream refuses a budget whose disruptedPods grew this large.
const MAX_DISRUPTED_PODS: usize = 2000;
/// How often a conflicting budget write is retried before giving up with the 409.
const MAX_RETRIES: usize = 8;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Eviction {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: EvictionMeta,
    delete_options: Option<DeleteOptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EvictionMeta {
    name: Option<String>,
    namespace: Option<String>,
}

pub async fn evict(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> ApiResult {
    req.extensions_mut().insert(RequestInfo { verb: "create", resource: "pods" });
    let ns = req.match_info().get("ns").unwrap_or("default").to_string();
    let name = req.match_info().get("name").unwrap_or("").to_string();
    let bytes = body::read(payload).await?;
    let doc: Value = body::parse_document(&bytes, &body::media_type(&req))?;
    let ev: Eviction =
        serde_json::from_value(doc).map_err(|e| ApiError::bad_request(format!("error decoding Eviction: {e}")))?;
    if let Some(kind) = ev.kind.as_deref().filter(|k| !k.is_empty() && *k != "Eviction") {
        return Err(ApiError::bad_request(format!("the kind of the provided object ({kind}) is not Eviction")));
    }
    if let Some(av) = ev.api_version.as_deref() {
        if !matches!(av, "" | "policy/v1" | "policy/v1beta1") {
            return Err(ApiError::bad_request(format!("unsupported apiVersion {av:?} for Eviction")));
        }
    }
    if ev.metadata.name.as_deref().is_some_and(|n| !n.is_empty() && n != name) {
        return Err(ApiError::bad_request("name in URL does not match name in Eviction object"));
    }
    if ev.metadata.namespace.as_deref().is_some_and(|n| !n.is_empty() && n != ns) {
        return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
    }
    let mut params = WriteParams::of(&req)?;
    let options = ev.delete_options.unwrap_or_default();
    params.dry_run.extend(options.dry_run.iter().cloned());
    let dry_run = params.dry_run()?;
    let pre = options.preconditions.map(Preconditions::from).unwrap_or_default();

    let pod: Pod = state.registry.get(Some(&ns), &name).await.map_err(|e| from_registry(e, "", "pods"))?;
    if !can_ignore_budget(&pod) {
        spend_budget(&state, &pod, dry_run).await?;
    }
    let opts = RegistryDeleteOptions { preconditions: pre, grace_period_seconds: options.grace_period_seconds, dry_run, ..Default::default() };
    match state.registry.delete_opts::<Pod>(Some(&ns), &name, &opts).await {
        Ok(_) => {}
        Err(e) => return Err(from_registry(e, "", "pods")),
    }
    json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        &[],
    )
}

/// Pods whose eviction no budget can veto: not running yet, finished, or already going.
fn can_ignore_budget(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    matches!(phase, "Succeeded" | "Failed" | "Pending") || pod.metadata.is_deleting()
}

fn is_ready(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).is_some_and(Condition::is_true)
}

/// The budgets whose selector matches the pod; an empty (or missing) selector matches
/// nothing here, unlike in the disruption controller (upstream does the same).
fn matching_budgets(pdbs: Vec<PodDisruptionBudget>, pod: &Pod) -> Vec<PodDisruptionBudget> {
    pdbs.into_iter()
        .filter(|b| {
            b.spec.selector.as_ref().is_some_and(|s| {
                !(s.match_labels.is_empty() && s.match_expressions.is_empty()) && s.matches(&pod.metadata.labels)
            })
        })
        .collect()
}

/// Checks the pod's budget and, unless the pod may go without, spends one disruption on it.
async fn spend_budget(state: &AppState, pod: &Pod, dry_run: bool) -> Result<(), ApiError> {
    let ns = pod.metadata.namespace.as_deref();
    for _ in 0..MAX_RETRIES {
        let (all, _) = state.registry.list::<PodDisruptionBudget>(ns).await.map_err(|e| from_registry(e, "policy", "poddisruptionbudgets"))?;
        let mut budgets = matching_budgets(all, pod);
        let pdb = match budgets.len() {
            0 => return Ok(()),
            1 => budgets.remove(0),
            _ => {
                return Err(ApiError::internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                ))
            }
        };
        let status = pdb.status.clone().unwrap_or_default();
        if !is_ready(pod) {
            let policy = pdb.spec.unhealthy_pod_eviction_policy.as_deref().unwrap_or("IfHealthyBudget");
            let healthy_enough = status.current_healthy >= status.desired_healthy && status.desired_healthy > 0;
            if policy == "AlwaysAllow" || healthy_enough {
                return Ok(());
            }
        }
        let spent = check_and_decrement(&pdb, &pod.metadata.name, &api::time::now_rfc3339())?;
        if dry_run {
            return Ok(());
        }
        let mut updated = pdb;
        updated.status = Some(spent);
        match state.registry.update(updated, UpdateScope::Status).await {
            Ok(_) => return Ok(()),
            Err(RegistryError::Conflict { .. }) => continue,
            Err(e) => return Err(from_registry(e, "policy", "poddisruptionbudgets")),
        }
    }
    Err(ApiError::new(409, "Conflict", "the PodDisruptionBudget changed too often while evicting; please try again"))
}

/// A refusal with upstream's message and a `DisruptionBudget` cause.
fn too_many_requests(cause: String, retry_after: Option<u32>) -> ApiError {
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if let Some(s) = retry_after {
        details["retryAfterSeconds"] = json!(s);
    }
    ApiError { details: Some(details), ..ApiError::new(429, "TooManyRequests", VIOLATES_BUDGET) }
}

/// Upstream's `checkAndDecrement`: the budget's status after one more disruption of
/// `pod`, or why there is none to spend.
pub fn check_and_decrement(pdb: &PodDisruptionBudget, pod: &str, now: &str) -> Result<PodDisruptionBudgetStatus, ApiError> {
    let mut s = pdb.status.clone().unwrap_or_default();
    let name = &pdb.metadata.name;
    let forbidden = |why: &str| {
        ApiError::new(403, "Forbidden", format!("poddisruptionbudgets.policy \"{name}\" is forbidden: {why}"))
    };
    if s.observed_generation < pdb.metadata.generation {
        return Err(too_many_requests(format!("The disruption budget {name} is still being processed by the server."), Some(10)));
    }
    if s.disruptions_allowed < 0 {
        return Err(forbidden("pdb disruptions allowed is negative"));
    }
    if s.disrupted_pods.len() > MAX_DISRUPTED_PODS {
        return Err(forbidden("DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
    }
    if s.disruptions_allowed == 0 {
        return Err(too_many_requests(
            format!("The disruption budget {name} needs {} healthy pods and has {} currently", s.desired_healthy, s.current_healthy),
            None,
        ));
    }
    s.disruptions_allowed -= 1;
    if s.disruptions_allowed == 0 {
        if let Some(c) = s.conditions.iter_mut().find(|c| c.type_ == DISRUPTION_ALLOWED) {
            if c.status != "False" {
                c.status = "False".into();
                c.last_transition_time = Some(now.to_string());
            }
            c.reason = Some("InsufficientPods".into());
        }
    }
    s.disrupted_pods.insert(pod.to_string(), now.to_string());
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(status: Value, generation: i64) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default", "generation": generation},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}, "status": status}))
        .unwrap()
    }

    fn status(allowed: i32) -> Value {
        json!({"observedGeneration": 1, "disruptionsAllowed": allowed, "currentHealthy": 2 + allowed, "desiredHealthy": 2,
               "expectedPods": 3, "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods"}]})
    }

    #[test]
    fn spending_the_last_disruption_closes_the_budget() {
        let s = check_and_decrement(&pdb(status(1), 1), "p1", "2030-01-01T00:00:00Z").unwrap();
        assert_eq!(s.disruptions_allowed, 0);
        assert_eq!(s.disrupted_pods.get("p1").map(String::as_str), Some("2030-01-01T00:00:00Z"));
        let c = find_condition(&s.conditions, DISRUPTION_ALLOWED).unwrap();
        assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some("InsufficientPods")));
        let s = check_and_decrement(&pdb(status(2), 1), "p1", "t").unwrap();
        assert_eq!(s.disruptions_allowed, 1);
        assert!(find_condition(&s.conditions, DISRUPTION_ALLOWED).unwrap().is_true());
    }

    #[test]
    fn refusals_as_upstream() {
        let e = check_and_decrement(&pdb(status(0), 1), "p1", "t").unwrap_err();
        assert_eq!((e.code, e.reason, e.message.as_str()), (429, "TooManyRequests", VIOLATES_BUDGET));
        let cause = &e.details.as_ref().unwrap()["causes"][0];
        assert_eq!(cause["reason"], "DisruptionBudget");
        assert_eq!(cause["message"], "The disruption budget web needs 2 healthy pods and has 2 currently");
        let e = check_and_decrement(&pdb(status(1), 2), "p1", "t").unwrap_err();
        assert_eq!(e.code, 429);
        assert_eq!(e.details.as_ref().unwrap()["retryAfterSeconds"], 10);
        let e = check_and_decrement(&pdb(status(-1), 1), "p1", "t").unwrap_err();
        assert_eq!(e.code, 403);
    }

    #[test]
    fn empty_selectors_match_no_pod_here() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p", "labels": {"app": "web"}}})).unwrap();
        let with = |sel: Value| -> PodDisruptionBudget {
            serde_json::from_value(json!({"metadata": {"name": "b"}, "spec": {"selector": sel}})).unwrap()
        };
        let got = matching_budgets(vec![with(json!({})), with(json!(null)), with(json!({"matchLabels": {"app": "web"}})), with(json!({"matchLabels": {"app": "db"}}))], &pod);
        assert_eq!(got.len(), 1);
    }
}
