//! Deployment: rolls a pod template out through ReplicaSets (Kubernetes'
//! `pkg/controller/deployment`). A short dispatcher: deleting → status only; paused →
//! resize only; a resize → proportional scaling; else the strategy's next step.

pub mod hash;
pub mod recreate;
pub mod rollback;
pub mod rolling;
pub mod status;
pub mod sync;

use std::sync::Arc;

use async_trait::async_trait;

use crate::controller::{Action, ChildKind, Children, Cx, ReconcileError, Reconciler};
use api::model::{Deployment, IntOrString, LabelSelector, ReplicaSet};

/// Reconciles Deployments (apps/v1).
pub struct DeploymentController;

pub fn replicas_of(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1)
}

pub fn is_recreate(d: &Deployment) -> bool {
    d.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate")
}

/// `(maxSurge, maxUnavailable)` resolved against spec.replicas: surge rounds up,
/// unavailable down, both 0 → unavailable 1, unavailable at most replicas; `(0, 0)` for Recreate.
pub fn max_surge_unavailable(d: &Deployment) -> (i32, i32) {
    if is_recreate(d) {
        return (0, 0);
    }
    let replicas = replicas_of(d);
    let ru = d.spec.strategy.as_ref().and_then(|s| s.rolling_update.as_ref());
    let quarter = IntOrString::from("25%");
    let surge_v = ru.and_then(|r| r.max_surge.clone()).unwrap_or_else(|| quarter.clone());
    let unavail_v = ru.and_then(|r| r.max_unavailable.clone()).unwrap_or(quarter);
    let surge = surge_v.resolve(replicas, true).unwrap_or(0).max(0);
    let mut unavailable = unavail_v.resolve(replicas, false).unwrap_or(0).max(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable.min(replicas.max(0)))
}

#[async_trait]
impl Reconciler for DeploymentController {
    type Object = Deployment;
    const CHILDREN: Children = Children::Of(&[ChildKind::of::<ReplicaSet>()]);

    fn selector(obj: &Deployment) -> Option<LabelSelector> {
        obj.spec.selector.clone()
    }

    async fn reconcile(&self, obj: Arc<Deployment>, cx: &Cx) -> Result<Action, ReconcileError> {
        let d = obj.as_ref();
        let owned = sync::claim_sets(d, cx).await?;
        let sets = sync::split_sets(d, owned);
        if d.metadata.is_deleting() {
            return status::sync(d, &sets, None, cx).await;
        }
        if d.spec.paused.unwrap_or(false) {
            // No rollout while paused; a resize still applies.
            let active = sets.all().filter(|rs| sync::spec_replicas(rs) > 0).count();
            if (sync::is_scaling_event(d, &sets) || active <= 1) && sync::scale(d, &sets, cx).await? {
                return status::sync(d, &sets, None, cx).await;
            }
            if let sync::NewRs::Wrote { .. } = sync::ensure_new_rs(d, &sets, None, cx).await? {
                return status::sync(d, &sets, None, cx).await;
            }
            sync::cleanup_history(d, &sets, cx).await?;
            return status::sync(d, &sets, None, cx).await;
        }
        if sync::is_scaling_event(d, &sets) && sync::scale(d, &sets, cx).await? {
            return status::sync(d, &sets, None, cx).await;
        }
        if is_recreate(d) {
            recreate::step(d, &sets, cx).await
        } else {
            rolling::step(d, &sets, cx).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{DeploymentStrategy, RollingUpdateDeployment};

    fn deployment(replicas: i32, surge: Option<IntOrString>, unavailable: Option<IntOrString>) -> Deployment {
        let mut d = Deployment::default();
        d.spec.replicas = Some(replicas);
        d.spec.strategy = Some(DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment { max_surge: surge, max_unavailable: unavailable }),
        });
        d
    }

    #[test]
    fn surge_and_unavailable_resolution() {
        let p = |s: &str| Some(IntOrString::from(s));
        let cases = [
            (deployment(10, None, None), (3, 2)),
            (deployment(10, p("25%"), p("25%")), (3, 2)),
            (deployment(1, p("25%"), p("25%")), (1, 0)),
            (deployment(3, Some(0.into()), Some(0.into())), (0, 1)),
            (deployment(2, Some(1.into()), Some(5.into())), (1, 2)),
            (deployment(10, p("0%"), p("50%")), (0, 5)),
        ];
        for (d, want) in cases {
            assert_eq!(max_surge_unavailable(&d), want, "{:?}", d.spec.strategy);
        }
        let mut r = deployment(3, None, None);
        r.spec.strategy.as_mut().unwrap().type_ = Some("Recreate".into());
        assert_eq!(max_surge_unavailable(&r), (0, 0));
    }
}
