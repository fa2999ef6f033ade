//! What a StatefulSet does next (pure, upstream's `updateStatefulSet` and
//! `updateStatefulSetAfterInvariantEstablished`): given what each ordinal holds, the
//! steps of one pass, in order. OrderedReady ("monotonic") stops at the first step or
//! the first pod not yet Running, Ready and available; Parallel goes on.
//!
//! The pass: replace failed pods, create missing ones (at the current revision below
//! the partition, the update revision above it), fix identities and claims; then
//! delete condemned pods (ordinals past the range), highest first; then, for
//! RollingUpdate, delete up to `maxUnavailable` pods not at the update revision, from
//! the highest ordinal down to the partition, while no more than that is unavailable.

/// A pod's phase as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

/// What the planner knows of one existing pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodView {
    pub name: String,
    pub ordinal: i32,
    /// Its `controller-revision-hash`.
    pub revision: String,
    pub phase: Phase,
    /// Its Ready condition is True.
    pub ready: bool,
    /// Ready for at least `minReadySeconds`.
    pub available: bool,
    pub terminating: bool,
    /// Identity labels, claim volumes and claim owners as they should be.
    pub conforms: bool,
    /// Some of its claims do not exist.
    pub claims_missing: bool,
}

impl PodView {
    fn running_ready(&self) -> bool {
        self.phase == Phase::Running && self.ready
    }

    fn healthy(&self) -> bool {
        self.running_ready() && !self.terminating
    }

    fn finished(&self) -> bool {
        matches!(self.phase, Phase::Failed | Phase::Succeeded)
    }
}

/// The planner's input.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// `spec.ordinals.start`.
    pub start: i32,
    /// One slot per ordinal `start..start+replicas`: the pod, or None.
    pub slots: Vec<Option<PodView>>,
    /// Pods whose ordinal is past the range.
    pub condemned: Vec<PodView>,
    /// Parallel (false) or OrderedReady (true).
    pub monotonic: bool,
    /// `updateStrategy.type` is OnDelete.
    pub on_delete: bool,
    /// Ordinals below this get the current revision when created (upstream's
    /// `newVersionedStatefulSetPod`: start + partition).
    pub current_below: i32,
    /// `rollingUpdate.partition`, as an index into the slots.
    pub partition: i32,
    /// `rollingUpdate.maxUnavailable` resolved (at least 1).
    pub max_unavailable: i32,
    pub update_revision: String,
    /// Ordinals whose claims still belong to an earlier pod of the name (wait for the
    /// garbage collector before creating the pod).
    pub stale_claims: Vec<i32>,
}

/// Why a pod is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// It Failed or Succeeded: it is recreated.
    Failed,
    Succeeded,
    /// Its ordinal is past the range.
    ScaleDown,
    /// It is not at the update revision.
    Update,
}

/// One step of a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the claims, then the pod of `ordinal`, at the update revision or the current one.
    Create { ordinal: i32, update: bool },
    Delete { name: String, why: Why },
    /// Create a Pending pod's missing claims.
    CreateClaims { name: String },
    /// Bring an existing pod's identity labels and claims (and their owners) in line.
    Repair { name: String },
}

/// The steps of one pass, in the order they are to be carried out.
pub fn plan(inp: &Input) -> Vec<Step> {
    let mut steps = Vec::new();
    let mono = inp.monotonic;
    // The first pod (or missing pod) that is not healthy, replicas first, then condemned
    // pods from the lowest ordinal: the one pod OrderedReady may delete while unhealthy.
    let first_unhealthy: Option<i32> = inp
        .slots
        .iter()
        .enumerate()
        .find(|(_, s)| !s.as_ref().is_some_and(PodView::healthy))
        .map(|(i, _)| inp.start + i as i32)
        .or_else(|| {
            let mut c: Vec<&PodView> = inp.condemned.iter().filter(|p| !p.healthy()).collect();
            c.sort_by_key(|p| p.ordinal);
            c.first().map(|p| p.ordinal)
        });

    for (i, slot) in inp.slots.iter().enumerate() {
        let ordinal = inp.start + i as i32;
        match slot {
            Some(p) if p.finished() && !p.terminating => {
                let why = if p.phase == Phase::Failed { Why::Failed } else { Why::Succeeded };
                steps.push(Step::Delete { name: p.name.clone(), why });
                if mono {
                    return steps;
                }
            }
            None => {
                if inp.stale_claims.contains(&ordinal) {
                    return steps;
                }
                steps.push(Step::Create { ordinal, update: ordinal >= inp.current_below });
                if mono {
                    return steps;
                }
            }
            Some(p) => {
                if p.phase == Phase::Pending && p.claims_missing {
                    steps.push(Step::CreateClaims { name: p.name.clone() });
                }
                if mono && (p.terminating || !p.running_ready() || !p.available) {
                    return steps;
                }
                if !p.conforms {
                    steps.push(Step::Repair { name: p.name.clone() });
                }
            }
        }
    }

    let mut condemned: Vec<&PodView> = inp.condemned.iter().collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(p.ordinal));
    // Claims of condemned pods get their owners (whenScaled: Delete) before the pods go.
    for p in &condemned {
        if !p.conforms && !p.terminating {
            steps.push(Step::Repair { name: p.name.clone() });
        }
    }
    for p in condemned {
        if p.terminating {
            if mono {
                return steps;
            }
            continue;
        }
        let first = first_unhealthy == Some(p.ordinal);
        if mono && (!p.running_ready() || !p.available) && !first {
            return steps;
        }
        steps.push(Step::Delete { name: p.name.clone(), why: Why::ScaleDown });
        if mono {
            return steps;
        }
    }

    if inp.on_delete {
        return steps;
    }
    let unavailable = inp.slots.iter().filter(|s| !s.as_ref().is_some_and(PodView::healthy)).count() as i32;
    let mut budget = inp.max_unavailable.max(1) - unavailable;
    let floor = inp.partition.max(0) as usize;
    for slot in inp.slots.iter().skip(floor).rev() {
        if budget <= 0 {
            break;
        }
        if let Some(p) = slot {
            if p.revision != inp.update_revision && !p.terminating {
                steps.push(Step::Delete { name: p.name.clone(), why: Why::Update });
                budget -= 1;
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(ordinal: i32, rev: &str) -> Option<PodView> {
        Some(PodView {
            name: format!("web-{ordinal}"),
            ordinal,
            revision: rev.into(),
            phase: Phase::Running,
            ready: true,
            available: true,
            terminating: false,
            conforms: true,
            claims_missing: false,
        })
    }

    fn pending(ordinal: i32, rev: &str) -> Option<PodView> {
        ready(ordinal, rev).map(|p| PodView { phase: Phase::Pending, ready: false, available: false, ..p })
    }

    fn input(slots: Vec<Option<PodView>>, monotonic: bool) -> Input {
        Input { slots, monotonic, max_unavailable: 1, update_revision: "new".into(), ..Default::default() }
    }

    fn create(ordinal: i32) -> Step {
        Step::Create { ordinal, update: true }
    }

    fn delete(ordinal: i32, why: Why) -> Step {
        Step::Delete { name: format!("web-{ordinal}"), why }
    }

    #[test]
    fn ordered_ready_creates_one_pod_after_the_ready_ones() {
        assert_eq!(plan(&input(vec![None, None, None], true)), [create(0)]);
        assert_eq!(plan(&input(vec![ready(0, "new"), None, None], true)), [create(1)]);
        assert!(plan(&input(vec![pending(0, "new"), None, None], true)).is_empty(), "waits for web-0");
        let mut not_available = ready(0, "new");
        not_available.as_mut().unwrap().available = false;
        assert!(plan(&input(vec![not_available, None], true)).is_empty(), "waits out minReadySeconds");
        let mut terminating = ready(0, "new");
        terminating.as_mut().unwrap().terminating = true;
        assert!(plan(&input(vec![terminating, None], true)).is_empty());
        assert!(plan(&input(vec![ready(0, "new"), ready(1, "new")], true)).is_empty(), "converged: nothing to do");
    }

    #[test]
    fn parallel_creates_every_missing_pod_at_once() {
        assert_eq!(plan(&input(vec![None, pending(1, "new"), None], false)), [create(0), create(2)]);
    }

    #[test]
    fn start_ordinal_and_partition_pick_the_revision_of_a_new_pod() {
        let mut inp = input(vec![None, None, None], false);
        inp.start = 5;
        inp.current_below = 7;
        assert_eq!(
            plan(&inp),
            [Step::Create { ordinal: 5, update: false }, Step::Create { ordinal: 6, update: false }, Step::Create { ordinal: 7, update: true }]
        );
    }

    #[test]
    fn a_failed_pod_is_deleted_for_recreation() {
        let mut failed = ready(0, "new");
        failed.as_mut().unwrap().phase = Phase::Failed;
        assert_eq!(plan(&input(vec![failed.clone(), None], true)), [delete(0, Why::Failed)]);
        let mut gone = failed.clone();
        gone.as_mut().unwrap().terminating = true;
        assert!(plan(&input(vec![gone, None], true)).is_empty(), "waits until the failed pod is gone");
        let mut done = ready(1, "new");
        done.as_mut().unwrap().phase = Phase::Succeeded;
        assert_eq!(plan(&input(vec![failed, done, None], false)), [delete(0, Why::Failed), delete(1, Why::Succeeded), create(2)]);
    }

    #[test]
    fn ordered_scale_down_deletes_the_highest_ordinal_first_one_at_a_time() {
        let mut inp = input(vec![ready(0, "new"), ready(1, "new")], true);
        inp.condemned = [2, 4, 3].into_iter().filter_map(|o| ready(o, "new")).collect();
        assert_eq!(plan(&inp), [delete(4, Why::ScaleDown)]);
        inp.condemned[1].terminating = true;
        assert!(plan(&inp).is_empty(), "waits for web-4 to be gone");
        inp.monotonic = false;
        assert_eq!(plan(&inp), [delete(3, Why::ScaleDown), delete(2, Why::ScaleDown)]);
    }

    #[test]
    fn ordered_scale_down_waits_for_unhealthy_pods_unless_the_condemned_one_is_the_first() {
        let mut inp = input(vec![ready(0, "new")], true);
        inp.condemned = vec![ready(1, "new").unwrap(), pending(2, "new").unwrap()];
        // web-2 is the first unhealthy pod: it may go.
        assert_eq!(plan(&inp), [delete(2, Why::ScaleDown)]);
        inp.condemned[0] = pending(1, "new").unwrap();
        // web-1 and web-2 are unhealthy, and web-2 is not the first unhealthy pod: wait.
        assert!(plan(&inp).is_empty());
        // A healthy condemned pod goes whatever the others are.
        inp.condemned[1] = ready(2, "new").unwrap();
        assert_eq!(plan(&inp), [delete(2, Why::ScaleDown)]);
    }

    #[test]
    fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
        let mut inp = input(vec![ready(0, "old"), ready(1, "old"), ready(2, "old"), ready(3, "old")], true);
        assert_eq!(plan(&inp), [delete(3, Why::Update)]);
        inp.slots[3] = None;
        assert_eq!(plan(&inp), [create(3)], "the updated pod is created before the next goes");
        inp.slots[3] = pending(3, "new");
        assert!(plan(&inp).is_empty(), "one unavailable pod spends maxUnavailable 1");
        inp.slots[3] = ready(3, "new");
        inp.partition = 2;
        assert_eq!(plan(&inp), [delete(2, Why::Update)]);
        inp.slots[2] = ready(2, "new");
        assert!(plan(&inp).is_empty(), "ordinals below the partition keep their revision");
    }

    #[test]
    fn max_unavailable_deletes_several_at_once() {
        let mut inp = input(vec![ready(0, "old"), ready(1, "old"), ready(2, "old"), ready(3, "old")], false);
        inp.max_unavailable = 2;
        assert_eq!(plan(&inp), [delete(3, Why::Update), delete(2, Why::Update)]);
        inp.slots[3] = pending(3, "new");
        assert_eq!(plan(&inp), [delete(2, Why::Update)]);
    }

    #[test]
    fn on_delete_never_deletes_for_an_update() {
        let mut inp = input(vec![ready(0, "old"), ready(1, "old")], true);
        inp.on_delete = true;
        assert!(plan(&inp).is_empty());
    }

    #[test]
    fn claims_and_identity_are_repaired_and_stale_claims_wait() {
        let mut inp = input(vec![ready(0, "new"), None], true);
        inp.slots[0].as_mut().unwrap().conforms = false;
        assert_eq!(plan(&inp), [Step::Repair { name: "web-0".into() }, create(1)]);
        inp.stale_claims = vec![1];
        assert_eq!(plan(&inp), [Step::Repair { name: "web-0".into() }], "web-1 waits for its old claim to go");
        let mut inp = input(vec![pending(0, "new")], true);
        inp.slots[0].as_mut().unwrap().claims_missing = true;
        assert_eq!(plan(&inp), [Step::CreateClaims { name: "web-0".into() }]);
    }
}
