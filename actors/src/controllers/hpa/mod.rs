//! HorizontalPodAutoscaler (autoscaling/v2): hold a workload's metrics at their targets
//! by changing its scale, as Kubernetes' `horizontal.go` does, one supervised actor per
//! HPA.
//!
//! A sync (`reconcileAutoscaler`), at most once per sync period unless the spec changed:
//! read the target's scale (`scale.rs`; AbleToScale False `FailedGetScale` when it has
//! none); a target at zero replicas is left alone (ScalingActive False
//! `ScalingDisabled`), one outside min/max is brought back inside; otherwise every metric
//! proposes a count (`metrics.rs` gathers values from the metrics registry and the
//! target's pods, `replicas.rs` computes as `replica_calculator.go`), the largest wins
//! (all invalid, or some invalid on a way down: no scale, ScalingActive False with the
//! first failure's reason), and `behavior.rs` stabilizes and rate-limits it (AbleToScale
//! and ScalingLimited reasons). The target's `spec.replicas` is written as `/scale`
//! writes it, with a `SuccessfulRescale` event; status records `currentMetrics`,
//! `desiredReplicas`, `lastScaleTime` and the conditions.
//!
//! Recent recommendations and scale events live in the actor's own memory
//! (`Cx::local`), as upstream keeps them in the controller's: a replacement actor seeds
//! them with the current size, so it waits a whole stabilization window before scaling
//! down. Time comes from `ControlConfig::clock`; the sync period, the default scale-down
//! window and the tolerance are `ControlConfig::hpa` (`--hpa-sync-period`,
//! `--hpa-downscale-stabilization`, `--hpa-tolerance`).

pub mod behavior;
pub mod metrics;
pub mod replicas;
pub mod scale;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::controller::{defaults, Action, Children, Cx, ReconcileError, Reconciler};
use crate::registry::{RegistryError, UpdateScope};
use api::model::{Condition, HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus, LabelSelector, MetricStatus};
use behavior::Memory;
use replicas::Calculator;

/// The component HPA events are reported as.
pub const COMPONENT: &str = "horizontal-pod-autoscaler";

/// The HPA controller's tunables (upstream's `--horizontal-pod-autoscaler-*` flags).
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    pub sync_period: Duration,
    /// The scale-down stabilization window of HPAs whose behavior sets none.
    pub downscale_stabilization: Duration,
    pub tolerance: f64,
    pub cpu_initialization_period: Duration,
    pub initial_readiness_delay: Duration,
}

impl Default for HpaConfig {
    fn default() -> Self {
        HpaConfig {
            sync_period: Duration::from_secs_f64(defaults::HPA_SYNC_PERIOD_SECS),
            downscale_stabilization: Duration::from_secs_f64(defaults::HPA_DOWNSCALE_STABILIZATION_SECS),
            tolerance: 0.1,
            cpu_initialization_period: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
        }
    }
}

/// Reconciles HorizontalPodAutoscalers (autoscaling/v2).
pub struct HorizontalPodAutoscalerController;

/// What the actor remembers between syncs.
#[derive(Default)]
struct Local {
    memory: Memory,
    /// When the last sync ran, and for which generation of the spec.
    last_sync: Option<(DateTime<Utc>, i64)>,
}

#[async_trait]
impl Reconciler for HorizontalPodAutoscalerController {
    type Object = HorizontalPodAutoscaler;
    const CHILDREN: Children = Children::Of(&[]);
    fn selector(_: &HorizontalPodAutoscaler) -> Option<LabelSelector> {
        None
    }
    async fn reconcile(&self, obj: Arc<HorizontalPodAutoscaler>, cx: &Cx) -> Result<Action, ReconcileError> {
        if obj.metadata.is_deleting() {
            return Ok(Action::await_change());
        }
        let clock = cx.config().clock.clone();
        let period = cx.config().hpa.sync_period;
        let now = clock.now();
        let generation = obj.metadata.generation;
        // Woken sooner (our own status write, a label change): wait for the period.
        let due = cx.local(|l: &mut Local| match l.last_sync {
            Some((at, g)) if g == generation => {
                let next = at + chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
                (next > now).then(|| (next - now).to_std().unwrap_or_default())
            }
            _ => None,
        });
        if let Some(wait) = due {
            return Ok(Action::requeue(clock.real_delay(wait)));
        }
        cx.local(|l: &mut Local| l.last_sync = Some((now, generation)));
        sync(&obj, now, cx).await?;
        Ok(Action::requeue(clock.real_delay(period)))
    }
}

fn event(cx: &Cx, hpa: &HorizontalPodAutoscaler, type_: &str, reason: &str, message: impl AsRef<str>) {
    cx.event_from(COMPONENT, hpa, type_, reason, message);
}

/// Upstream's `setCondition`: a changed status moves `lastTransitionTime`.
pub fn set_condition(conds: &mut Vec<Condition>, type_: &str, status: bool, reason: &str, message: impl Into<String>, now: DateTime<Utc>) {
    let status = if status { "True" } else { "False" }.to_string();
    let message = Some(message.into());
    let reason = Some(reason.to_string());
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(api::time::rfc3339(now));
            }
            c.status = status;
            c.reason = reason;
            c.message = message;
        }
        None => conds.push(Condition {
            type_: type_.into(),
            status,
            reason,
            message,
            last_transition_time: Some(api::time::rfc3339(now)),
            ..Default::default()
        }),
    }
}

/// What the metrics of an HPA proposed.
struct Computed {
    replicas: i32,
    metric: String,
    statuses: Vec<MetricStatus>,
}

fn calculator(cx: &Cx, now: DateTime<Utc>) -> Calculator {
    let c = &cx.config().hpa;
    Calculator {
        tolerance_up: c.tolerance,
        tolerance_down: c.tolerance,
        cpu_initialization_period: c.cpu_initialization_period,
        delay_of_initial_readiness_status: c.initial_readiness_delay,
        now,
    }
}

/// `computeReplicasForMetrics`: the largest proposal, or the first failure when every
/// metric failed or some failed and the others would scale down.
fn compute(
    hpa: &HorizontalPodAutoscaler,
    sc: &scale::Scale,
    conds: &mut Vec<Condition>,
    now: DateTime<Utc>,
    cx: &Cx,
) -> Result<Computed, String> {
    let ns = hpa.metadata.namespace.as_deref().unwrap_or("default");
    let Some(selector) = sc.selector.as_ref() else {
        event(cx, hpa, "Warning", "SelectorRequired", "selector is required");
        set_condition(conds, "ScalingActive", false, "InvalidSelector", "the HPA target's scale is missing a selector", now);
        return Err("selector is required".into());
    };
    let all = cx.caches().pods.list(Some(ns));
    let pods = metrics::selected_pods(&all, selector);
    let specs = if hpa.spec.metrics.is_empty() { metrics::default_metrics() } else { hpa.spec.metrics.clone() };
    let inputs = metrics::Inputs {
        calc: calculator(cx, now),
        namespace: ns,
        spec_replicas: sc.spec_replicas,
        status_replicas: sc.status_replicas,
        pods: &pods,
        metrics: &cx.config().metrics,
    };
    let mut best: Option<(i32, String)> = None;
    let mut statuses = Vec::new();
    let mut failures = Vec::new();
    for m in &specs {
        match metrics::compute(&inputs, m) {
            Ok(p) => {
                statuses.push(p.status);
                if best.as_ref().is_none_or(|(r, _)| p.replicas > *r) {
                    best = Some((p.replicas, p.name));
                }
            }
            Err(f) => {
                event(cx, hpa, "Warning", f.reason, &f.message);
                statuses.push(MetricStatus { type_: String::new(), ..Default::default() });
                failures.push(f);
            }
        }
    }
    statuses.retain(|s| !s.type_.is_empty());
    let replicas = best.as_ref().map_or(0, |b| b.0);
    if let Some(first) = failures.first() {
        if failures.len() >= specs.len() || replicas < sc.spec_replicas {
            set_condition(conds, "ScalingActive", false, first.reason, format!("the HPA was unable to compute the replica count: {}", first.message), now);
            return Err(format!("invalid metrics ({} invalid out of {}), first error is: {}", failures.len(), specs.len(), first.message));
        }
    }
    let (replicas, metric) = best.unwrap_or((sc.spec_replicas, String::new()));
    set_condition(conds, "ScalingActive", true, "ValidMetricFound", format!("the HPA was able to successfully calculate a replica count from {metric}"), now);
    Ok(Computed { replicas, metric, statuses })
}

async fn sync(hpa: &HorizontalPodAutoscaler, now: DateTime<Utc>, cx: &Cx) -> Result<(), ReconcileError> {
    let ns = hpa.metadata.namespace.as_deref();
    let target = &hpa.spec.scale_target_ref;
    let old = hpa.status.clone().unwrap_or_default();
    let mut status = old.clone();
    status.observed_generation = Some(hpa.metadata.generation);
    let reference = format!("{}/{}/{}", target.kind, ns.unwrap_or_default(), target.name);

    let sc = match scale::get(cx, ns, target) {
        Ok(s) => s,
        Err(e) => {
            event(cx, hpa, "Warning", "FailedGetScale", e.to_string());
            set_condition(&mut status.conditions, "AbleToScale", false, "FailedGetScale", format!("the HPA controller was unable to get the target's current scale: {e}"), now);
            return write_status(hpa, &old, status, cx).await;
        }
    };
    set_condition(&mut status.conditions, "AbleToScale", true, "SucceededGetScale", "the HPA controller was able to get the target's current scale", now);
    let current = sc.spec_replicas;
    cx.local(|l: &mut Local| l.memory.seed(current, now));
    let min = hpa.spec.min_replicas.unwrap_or(1);
    let max = hpa.spec.max_replicas;
    let down_window = cx.config().hpa.downscale_stabilization.as_secs() as i64;
    let rules = hpa.spec.behavior.as_ref().map(|b| behavior::rules_of(b, down_window));

    let mut statuses = old.current_metrics.clone();
    let (desired, reason, rescale) = if current == 0 && min != 0 {
        set_condition(&mut status.conditions, "ScalingActive", false, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero", now);
        (0, String::new(), false)
    } else if current > max {
        (max, "Current number of replicas above Spec.MaxReplicas".to_string(), true)
    } else if current < min {
        (min, "Current number of replicas below Spec.MinReplicas".to_string(), true)
    } else {
        let computed = match compute(hpa, &sc, &mut status.conditions, now, cx) {
            Ok(c) => c,
            Err(e) => {
                event(cx, hpa, "Warning", "FailedComputeMetricsReplicas", format!("failed to compute desired number of replicas based on listed metrics for {reference}: {e}"));
                status.current_replicas = current;
                return write_status(hpa, &old, status, cx).await;
            }
        };
        statuses = computed.statuses;
        let proposed = computed.replicas;
        let reason = if proposed > current {
            format!("{} above target", computed.metric)
        } else if proposed < current {
            "All metrics below target".to_string()
        } else {
            String::new()
        };
        let n = cx.local(|l: &mut Local| match &rules {
            Some((up, down)) => l.memory.normalize_with_behavior(current, proposed, min, max, up, down, now),
            None => l.memory.normalize_plain(current, proposed, min, max, down_window, now),
        });
        set_condition(&mut status.conditions, "AbleToScale", true, n.able_reason, n.able_message, now);
        set_condition(&mut status.conditions, "ScalingLimited", n.limited, n.limited_reason, n.limited_message, now);
        (n.replicas, reason, n.replicas != current)
    };

    let mut desired = desired;
    if rescale {
        if let Err(e) = scale::set(cx, ns, target, desired).await {
            event(cx, hpa, "Warning", "FailedRescale", format!("New size: {desired}; reason: {reason}; error: {e}"));
            set_condition(&mut status.conditions, "AbleToScale", false, "FailedUpdateScale", format!("the HPA controller was unable to update the target scale: {e}"), now);
            status.current_replicas = current;
            status.current_metrics = statuses;
            write_status(hpa, &old, status, cx).await?;
            return Err(e);
        }
        set_condition(&mut status.conditions, "AbleToScale", true, "SucceededRescale", format!("the HPA controller was able to update the target scale to {desired}"), now);
        event(cx, hpa, "Normal", "SuccessfulRescale", format!("New size: {desired}; reason: {reason}"));
        tracing::info!(hpa = %hpa.metadata.name, from = current, to = desired, %reason, "rescaled");
        if let Some((up, down)) = &rules {
            cx.local(|l: &mut Local| l.memory.store_scale_event(current, desired, up, down, now));
        }
        status.last_scale_time = Some(api::time::rfc3339(now));
    } else {
        desired = current;
    }
    status.current_replicas = current;
    status.desired_replicas = desired;
    status.current_metrics = statuses;
    write_status(hpa, &old, status, cx).await
}

/// Writes `status` with Status scope when it differs from what the sync started with.
async fn write_status(hpa: &HorizontalPodAutoscaler, old: &HorizontalPodAutoscalerStatus, status: HorizontalPodAutoscalerStatus, cx: &Cx) -> Result<(), ReconcileError> {
    if *old == status {
        return Ok(());
    }
    let res = cx
        .modify::<HorizontalPodAutoscaler>(hpa.metadata.namespace.as_deref(), &hpa.metadata.name, UpdateScope::Status, |o| {
            if o.metadata.uid != hpa.metadata.uid || o.status.as_ref() == Some(&status) {
                return false;
            }
            o.status = Some(status.clone());
            true
        })
        .await;
    match res {
        Ok(_) | Err(RegistryError::NotFound { .. }) => Ok(()),
        Err(e) => {
            event(cx, hpa, "Warning", "FailedUpdateStatus", e.to_string());
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_move_their_transition_time_only_on_a_change() {
        let t0 = api::time::parse("2026-01-01T00:00:00Z").unwrap();
        let t1 = t0 + chrono::Duration::seconds(30);
        let mut c = Vec::new();
        set_condition(&mut c, "AbleToScale", true, "SucceededGetScale", "a", t0);
        set_condition(&mut c, "AbleToScale", true, "ReadyForNewScale", "b", t1);
        assert_eq!(c[0].last_transition_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(c[0].reason.as_deref(), Some("ReadyForNewScale"));
        set_condition(&mut c, "AbleToScale", false, "FailedGetScale", "c", t1);
        assert_eq!(c[0].last_transition_time.as_deref(), Some("2026-01-01T00:00:30Z"));
        assert_eq!(c.len(), 1);
    }
}
