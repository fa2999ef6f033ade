//! RollingUpdate: scale the new ReplicaSet up within maxSurge, then the old ones down
//! within maxUnavailable (Kubernetes' `rolling.go`). One kind of step per sync.

use chrono::Utc;

use super::sync::{available, cleanup_history, ensure_new_rs, scale_rs, spec_replicas, NewRs, Sets};
use super::{max_surge_unavailable, replicas_of, status};
use crate::controller::{Action, Cx, ReconcileError};
use api::model::Deployment;

/// A ReplicaSet's size as the planners see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// spec.replicas
    pub spec: i32,
    /// status.availableReplicas
    pub available: i32,
}

/// The size the new ReplicaSet should get (None: leave it): at most `replicas`, and
/// all sets together at most `replicas + max_surge` (`total` = sum of spec.replicas).
pub fn new_rs_scale_up_target(replicas: i32, max_surge: i32, total: i32, new_rs: i32) -> Option<i32> {
    if new_rs == replicas {
        return None;
    }
    if new_rs > replicas {
        return Some(replicas);
    }
    let max_total = replicas + max_surge;
    if total >= max_total {
        return None;
    }
    let up = (max_total - total).min(replicas - new_rs);
    (up > 0).then_some(new_rs + up)
}

/// How many old replicas may go now without availability dropping below
/// `replicas - max_unavailable`, counting the new set's not-yet-available pods as
/// unavailable (Kubernetes' `maxScaledDown`).
pub fn old_rs_scale_down_budget(replicas: i32, max_unavailable: i32, old: &[Counts], new: Counts) -> i32 {
    let all_pods: i32 = old.iter().map(|c| c.spec).sum::<i32>() + new.spec;
    let min_available = replicas - max_unavailable;
    let new_unavailable = (new.spec - new.available).max(0);
    (all_pods - min_available - new_unavailable).max(0)
}

/// New sizes for the old sets (oldest first), as `(index, replicas)` for those that
/// change: first their unhealthy replicas within the budget, then healthy ones as far
/// as availability allows.
pub fn plan_old_scale_down(replicas: i32, max_unavailable: i32, old: &[Counts], new: Counts) -> Vec<(usize, i32)> {
    let budget = old_rs_scale_down_budget(replicas, max_unavailable, old, new);
    if budget <= 0 {
        return Vec::new();
    }
    let mut sizes: Vec<i32> = old.iter().map(|c| c.spec).collect();
    let mut cleaned = 0;
    for (i, c) in old.iter().enumerate() {
        if cleaned >= budget {
            break;
        }
        let unhealthy = sizes[i] - c.available;
        if sizes[i] == 0 || unhealthy <= 0 {
            continue;
        }
        let n = unhealthy.min(budget - cleaned);
        sizes[i] -= n;
        cleaned += n;
    }
    let min_available = replicas - max_unavailable;
    let available_total: i32 = old.iter().map(|c| c.available).sum::<i32>() + new.available;
    if available_total > min_available {
        let total_down = available_total - min_available;
        let mut done = 0;
        for size in sizes.iter_mut() {
            if done >= total_down {
                break;
            }
            if *size == 0 {
                continue;
            }
            let n = (*size).min(total_down - done);
            *size -= n;
            done += n;
        }
    }
    sizes
        .into_iter()
        .enumerate()
        .filter(|(i, s)| *s != old[*i].spec)
        .collect()
}

fn counts(rs: &api::model::ReplicaSet) -> Counts {
    Counts { spec: spec_replicas(rs), available: available(rs) }
}

/// One step of a rolling update.
pub async fn step(d: &Deployment, sets: &Sets, cx: &Cx) -> Result<Action, ReconcileError> {
    let (max_surge, max_unavailable) = max_surge_unavailable(d);
    let want = replicas_of(d);
    let old_total: i32 = sets.old.iter().map(|rs| spec_replicas(rs)).sum();
    let initial = new_rs_scale_up_target(want, max_surge, old_total, 0).unwrap_or(0);
    let new = match ensure_new_rs(d, sets, Some(initial), cx).await? {
        NewRs::Ready(rs) => rs,
        NewRs::Wrote { created } => return status::sync(d, sets, created.as_deref(), cx).await,
        NewRs::Missing => return status::sync(d, sets, None, cx).await,
    };

    let total: i32 = sets.all().map(|rs| spec_replicas(rs)).sum();
    if let Some(target) = new_rs_scale_up_target(want, max_surge, total, spec_replicas(&new)) {
        scale_rs(d, &new, target, cx).await?;
        return status::sync(d, sets, None, cx).await;
    }

    let old: Vec<Counts> = sets.old.iter().map(|rs| counts(rs)).collect();
    let plan = plan_old_scale_down(want, max_unavailable, &old, counts(&new));
    if !plan.is_empty() {
        for (i, n) in plan {
            scale_rs(d, &sets.old[i], n, cx).await?;
        }
        return status::sync(d, sets, None, cx).await;
    }

    let (st, _) = status::compute(d, sets, None, Utc::now());
    if status::is_complete(d, &st) && cleanup_history(d, sets, cx).await? {
        return status::sync(d, sets, None, cx).await;
    }
    status::sync(d, sets, None, cx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(spec: i32, available: i32) -> Counts {
        Counts { spec, available }
    }

    #[test]
    fn new_rs_scale_up_target_table() {
        // (replicas, surge, total, new) → target
        let cases = [
            (10, 3, 10, 0, Some(3)),   // start: surge budget
            (10, 3, 13, 3, None),      // budget spent
            (10, 3, 11, 3, Some(5)),   // old scaled down by 2
            (10, 3, 10, 10, None),     // done
            (10, 3, 15, 12, Some(10)), // too big: back to replicas
            (10, 0, 10, 0, None),      // no surge: wait for old to shrink
            (10, 0, 9, 0, Some(1)),
            (3, 1, 0, 0, Some(3)),     // fresh deployment: capped at replicas
            (0, 1, 0, 0, None),
        ];
        for (r, s, t, n, want) in cases {
            assert_eq!(new_rs_scale_up_target(r, s, t, n), want, "{r} {s} {t} {n}");
        }
    }

    #[test]
    fn old_rs_scale_down_table() {
        // Fresh new set (3 surged, none available), old fully available: 13 pods, 8 must
        // stay available, 3 new ones are not: 2 old may go.
        assert_eq!(old_rs_scale_down_budget(10, 2, &[c(10, 10)], c(3, 0)), 2);
        assert_eq!(plan_old_scale_down(10, 2, &[c(10, 10)], c(3, 0)), vec![(0, 8)]);
        // Those 2 gone, the new pods still not available: nothing more may go.
        assert_eq!(old_rs_scale_down_budget(10, 2, &[c(8, 8)], c(3, 0)), 0);
        assert_eq!(plan_old_scale_down(10, 2, &[c(8, 8)], c(3, 0)), vec![]);
        // New pods became available: old shrinks by what availability allows.
        assert_eq!(plan_old_scale_down(10, 2, &[c(10, 10)], c(3, 3)), vec![(0, 5)]);
        // Unhealthy old replicas go first (4), then healthy ones down to min available.
        assert_eq!(plan_old_scale_down(10, 2, &[c(10, 6)], c(3, 3)), vec![(0, 5)]);
        assert_eq!(plan_old_scale_down(10, 2, &[c(10, 6)], c(3, 0)), vec![(0, 8)]);
        // Oldest old set first.
        assert_eq!(plan_old_scale_down(4, 1, &[c(2, 2), c(2, 2)], c(1, 1)), vec![(0, 0)]);
        // maxUnavailable 0 and no surge spent: nothing.
        assert_eq!(plan_old_scale_down(3, 0, &[c(3, 3)], c(0, 0)), vec![]);
        assert_eq!(plan_old_scale_down(3, 0, &[c(3, 3)], c(1, 1)), vec![(0, 2)]);
    }

    #[test]
    fn converged_rollout_plans_no_write() {
        let (replicas, surge, unavailable) = (5, 2, 1);
        assert_eq!(new_rs_scale_up_target(replicas, surge, 5, 5), None);
        assert_eq!(plan_old_scale_down(replicas, unavailable, &[c(0, 0), c(0, 0)], c(5, 5)), vec![]);
        assert_eq!(plan_old_scale_down(replicas, unavailable, &[], c(5, 5)), vec![]);
    }

    /// Drives the planners like successive reconciles (every pod becomes available at
    /// once) and checks the rollout finishes within the surge/unavailable bounds.
    #[test]
    fn rollout_converges_within_bounds() {
        let (replicas, surge, unavailable) = (10, 3, 2);
        let mut old = vec![c(10, 10)];
        let mut new = c(0, 0);
        for _ in 0..50 {
            let total = old[0].spec + new.spec;
            assert!(total <= replicas + surge);
            assert!(old[0].available + new.available >= replicas - unavailable);
            if let Some(t) = new_rs_scale_up_target(replicas, surge, total, new.spec) {
                new = c(t, t);
                continue;
            }
            let plan = plan_old_scale_down(replicas, unavailable, &old, new);
            if plan.is_empty() {
                break;
            }
            for (i, n) in plan {
                old[i] = c(n, n);
            }
        }
        assert_eq!((old[0], new), (c(0, 0), c(10, 10)));
    }
}
