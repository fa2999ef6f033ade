//! The garbage collector: deletes dependents whose owners are gone, and carries out
//! Orphan and Foreground deletes (the `orphan` and `foregroundDeletion` finalizers).
//!
//! One pass reads every tracked kind from the caches into a flat list of [`Entry`]s, plans
//! with the pure [`plan`], and then carries out each [`Step`] through `Cx`. A step that
//! rests on "this owner is gone" is checked against the store first, because the caches
//! may lag behind (an owner created a moment ago may not be in them yet).

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;

use crate::controller::{for_each_cached_kind, Action, CachedKind, CachedKindVisitor, Caches, Cx, ReconcileError, Singleton};
use api::model::{KindInfo, ObjectMeta, OwnerReference};
use crate::registry::{Preconditions, Propagation, RegistryError, UpdateScope, FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

/// How soon to look again while deletes are in progress.
const PENDING_REQUEUE: Duration = Duration::from_secs(1);

/// The kinds the collector knows, as owners and as dependents: every cached kind.
fn tracked_kinds() -> Vec<Box<dyn TrackedKind>> {
    struct Collect(Vec<Box<dyn TrackedKind>>);
    impl CachedKindVisitor for Collect {
        fn visit<T: CachedKind>(&mut self) {
            self.0.push(Box::new(Tracked::<T>(PhantomData)));
        }
    }
    let mut all = Collect(Vec::new());
    for_each_cached_kind(&mut all);
    all.0
}

/// The garbage-collector singleton.
pub struct GarbageCollector;

#[async_trait]
impl Singleton for GarbageCollector {
    const NAME: &'static str = "garbage-collector";
    const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

    async fn run_once(&self, cx: &Cx) -> Result<Action, ReconcileError> {
        let kinds = tracked_kinds();
        let entries: Vec<Entry> = kinds.iter().flat_map(|k| k.entries(cx.caches())).collect();
        let infos: Vec<&'static KindInfo> = kinds.iter().map(|k| k.info()).collect();
        let plan = plan(&entries, &infos);
        let exec = Executor { cx, kinds: &kinds };
        let mut failed_owners: HashSet<String> = HashSet::new();
        let mut failures = 0usize;
        for step in &plan.steps {
            if let Step::RemoveFinalizer { target, .. } = step {
                if failed_owners.contains(&target.uid) {
                    continue; // its dependents are not all handled yet
                }
            }
            if let Err(e) = exec.run(step).await {
                tracing::warn!(?step, error = %e, "garbage collection step failed; will retry");
                failures += 1;
                if let Some(owner) = step.owner_uid() {
                    failed_owners.insert(owner.to_string());
                }
            }
        }
        if failures > 0 || plan.waiting || !plan.steps.is_empty() {
            Ok(Action::requeue(PENDING_REQUEUE))
        } else {
            Ok(Action::await_change())
        }
    }
}

// ---------------------------------------------------------------------------------------
// The pure part: which dependents to delete or strip, which finalizers to remove.

/// What the collector needs to know about one object.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub kind: &'static KindInfo,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
    pub owners: Vec<OwnerReference>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl Entry {
    fn from_meta(kind: &'static KindInfo, meta: &ObjectMeta) -> Self {
        Entry {
            kind,
            namespace: if kind.namespaced { meta.namespace.clone() } else { None },
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            owners: meta.owner_references.clone(),
            deleting: meta.is_deleting(),
            finalizers: meta.finalizers.clone(),
        }
    }

    fn target(&self) -> Target {
        Target { kind: self.kind, namespace: self.namespace.clone(), name: self.name.clone(), uid: self.uid.clone() }
    }

    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }
}

/// One object, by kind, place, name and uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub kind: &'static KindInfo,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

/// One write the collector wants to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Every owner of `target` seems gone: delete it (Background), once the store agrees.
    Collect { target: Target },
    /// Some owners of `target` seem gone: drop the references to those that the store
    /// agrees are gone.
    DropDangling { target: Target, uids: Vec<String> },
    /// `owner` is being deleted with Orphan: drop it from `target`'s ownerReferences.
    Orphan { target: Target, owner: String },
    /// `owner` is being deleted with Foreground: delete `target`, with Foreground too when
    /// it has dependents of its own.
    DeleteDependent { target: Target, owner: String, propagation: Propagation },
    /// `target`'s dependents are handled: remove its GC finalizer (completing its delete
    /// when it was the last finalizer).
    RemoveFinalizer { target: Target, finalizer: &'static str },
}

impl Step {
    /// The owner whose finalizer waits on this step, if any.
    fn owner_uid(&self) -> Option<&str> {
        match self {
            Step::Orphan { owner, .. } | Step::DeleteDependent { owner, .. } => Some(owner),
            _ => None,
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub steps: Vec<Step>,
    /// Some owner waits for dependents that are already being deleted.
    pub waiting: bool,
}

/// Where an owner reference points, as far as the caches know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// An object of that kind and name with that uid is there.
    Present,
    /// No such object (or one with another uid): probably gone, to be confirmed.
    Missing,
    /// A kind the collector does not track: never acted upon.
    Untracked,
}

/// The API group of an `apiVersion` ("apps/v1" → "apps", "v1" → "").
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// The tracked kind an owner reference names.
fn kind_of(r: &OwnerReference, kinds: &[&'static KindInfo]) -> Option<&'static KindInfo> {
    let group = group_of(&r.api_version);
    kinds.iter().copied().find(|k| k.kind == r.kind && k.group == group)
}

/// Where an owner reference of an object in `namespace` points (owners live in the
/// dependent's namespace, or are cluster-scoped).
fn owner_namespace(kind: &KindInfo, dependent_ns: Option<&str>) -> Option<String> {
    if kind.namespaced {
        dependent_ns.map(str::to_string)
    } else {
        None
    }
}

/// Decides what to do, from a snapshot of every tracked object. Pure: the caller confirms
/// "gone" against the store before acting on it.
pub(crate) fn plan(entries: &[Entry], kinds: &[&'static KindInfo]) -> Plan {
    let by_name: HashMap<(&str, Option<&str>, &str), &Entry> =
        entries.iter().map(|e| ((e.kind.plural, e.namespace.as_deref(), e.name.as_str()), e)).collect();
    let mut dependents: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for e in entries {
        for r in &e.owners {
            dependents.entry(r.uid.as_str()).or_default().push(e);
        }
    }
    let resolve = |dep: &Entry, r: &OwnerReference| -> Owner {
        let Some(kind) = kind_of(r, kinds) else { return Owner::Untracked };
        let ns = owner_namespace(kind, dep.namespace.as_deref());
        match by_name.get(&(kind.plural, ns.as_deref(), r.name.as_str())) {
            Some(o) if o.uid == r.uid => Owner::Present,
            _ => Owner::Missing,
        }
    };

    let mut out = Plan::default();
    // (a) Dependents with dangling owner references.
    for e in entries.iter().filter(|e| !e.deleting && !e.owners.is_empty()) {
        let missing: Vec<String> =
            e.owners.iter().filter(|r| resolve(e, r) == Owner::Missing).map(|r| r.uid.clone()).collect();
        if missing.is_empty() {
            continue;
        }
        if missing.len() == e.owners.len() {
            out.steps.push(Step::Collect { target: e.target() });
        } else {
            out.steps.push(Step::DropDangling { target: e.target(), uids: missing });
        }
    }
    // (b) and (c) Owners being deleted with Orphan or Foreground.
    for owner in entries.iter().filter(|e| e.deleting) {
        let deps: &[&Entry] = dependents.get(owner.uid.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        if owner.has_finalizer(ORPHAN_FINALIZER) {
            for d in deps {
                out.steps.push(Step::Orphan { target: d.target(), owner: owner.uid.clone() });
            }
            out.steps.push(Step::RemoveFinalizer { target: owner.target(), finalizer: ORPHAN_FINALIZER });
        } else if owner.has_finalizer(FOREGROUND_FINALIZER) {
            if deps.is_empty() {
                out.steps.push(Step::RemoveFinalizer { target: owner.target(), finalizer: FOREGROUND_FINALIZER });
                continue;
            }
            out.waiting = true;
            for d in deps.iter().filter(|d| !d.deleting) {
                let has_own = dependents.get(d.uid.as_str()).is_some_and(|v| !v.is_empty());
                let propagation = if has_own { Propagation::Foreground } else { Propagation::Background };
                out.steps.push(Step::DeleteDependent { target: d.target(), owner: owner.uid.clone(), propagation });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The I/O part: one tracked kind behind a small object-safe trait.

/// What the collector does with one kind, type-erased so that kinds sit in one list.
#[async_trait]
trait TrackedKind: Send + Sync {
    fn info(&self) -> &'static KindInfo;
    /// Every cached object of the kind.
    fn entries(&self, caches: &Caches) -> Vec<Entry>;
    /// The uid of the cached object with this name, if any.
    fn cached_uid(&self, caches: &Caches, ns: Option<&str>, name: &str) -> Option<String>;
    /// The object as stored now (None: not found).
    async fn stored(&self, cx: &Cx, ns: Option<&str>, name: &str) -> Result<Option<(Entry, String)>, RegistryError>;
    /// Deletes with these preconditions; "already gone" is success.
    async fn delete(&self, cx: &Cx, ns: Option<&str>, name: &str, pre: &Preconditions) -> Result<(), RegistryError>;
    /// Read-modify-write of the metadata (Main scope); "already gone" is success.
    async fn edit(
        &self,
        cx: &Cx,
        ns: Option<&str>,
        name: &str,
        change: &mut (dyn for<'m> FnMut(&'m mut ObjectMeta) -> bool + Send),
    ) -> Result<(), RegistryError>;
}

/// One cached kind, as the collector sees it.
struct Tracked<T>(PhantomData<fn() -> T>);

fn gone_is_ok(r: Result<(), RegistryError>) -> Result<(), RegistryError> {
    match r {
        Err(RegistryError::NotFound { .. }) => Ok(()),
        other => other,
    }
}

#[async_trait]
impl<T: CachedKind> TrackedKind for Tracked<T> {
    fn info(&self) -> &'static KindInfo {
        T::INFO
    }

    fn entries(&self, caches: &Caches) -> Vec<Entry> {
        T::cache(caches).list(None).iter().map(|o| Entry::from_meta(T::INFO, o.meta())).collect()
    }

    fn cached_uid(&self, caches: &Caches, ns: Option<&str>, name: &str) -> Option<String> {
        T::cache(caches).get(ns, name).map(|o| o.meta().uid.clone())
    }

    async fn stored(&self, cx: &Cx, ns: Option<&str>, name: &str) -> Result<Option<(Entry, String)>, RegistryError> {
        match cx.registry().get::<T>(ns, name).await {
            Ok(o) => Ok(Some((Entry::from_meta(T::INFO, o.meta()), o.meta().resource_version.clone()))),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, cx: &Cx, ns: Option<&str>, name: &str, pre: &Preconditions) -> Result<(), RegistryError> {
        cx.delete::<T>(ns, name, pre).await.map(|_| ())
    }

    async fn edit(
        &self,
        cx: &Cx,
        ns: Option<&str>,
        name: &str,
        change: &mut (dyn for<'m> FnMut(&'m mut ObjectMeta) -> bool + Send),
    ) -> Result<(), RegistryError> {
        gone_is_ok(cx.modify::<T>(ns, name, UpdateScope::Main, |o: &mut T| change(o.meta_mut())).await.map(|_| ()))
    }
}

/// Carries out steps, confirming against the store what the caches only suggest.
struct Executor<'a> {
    cx: &'a Cx,
    kinds: &'a [Box<dyn TrackedKind>],
}

impl Executor<'_> {
    fn ops(&self, kind: &KindInfo) -> &dyn TrackedKind {
        self.kinds
            .iter()
            .find(|k| k.info().plural == kind.plural)
            .map(|k| k.as_ref())
            .expect("targets are always of a tracked kind")
    }

    async fn run(&self, step: &Step) -> Result<(), RegistryError> {
        match step {
            Step::Collect { target } | Step::DropDangling { target, .. } => self.collect(target).await,
            Step::Orphan { target, owner } => {
                let ops = self.ops(target.kind);
                ops.edit(self.cx, target.namespace.as_deref(), &target.name, &mut |m: &mut ObjectMeta| {
                    if m.uid != target.uid || !m.owner_references.iter().any(|r| r.uid == *owner) {
                        return false;
                    }
                    m.owner_references.retain(|r| r.uid != *owner);
                    true
                })
                .await
            }
            Step::DeleteDependent { target, owner, propagation } => self.delete_dependent(target, owner, *propagation).await,
            Step::RemoveFinalizer { target, finalizer } => {
                let ops = self.ops(target.kind);
                ops.edit(self.cx, target.namespace.as_deref(), &target.name, &mut |m: &mut ObjectMeta| {
                    if m.uid != target.uid || !m.is_deleting() || !m.finalizers.iter().any(|f| f == finalizer) {
                        return false;
                    }
                    m.finalizers.retain(|f| f != finalizer);
                    true
                })
                .await
            }
        }
    }

    /// Whether the owner a reference names exists: the cache first, then the store.
    async fn owner_exists(&self, r: &OwnerReference, dependent_ns: Option<&str>) -> Result<bool, RegistryError> {
        let infos: Vec<&'static KindInfo> = self.kinds.iter().map(|k| k.info()).collect();
        let Some(kind) = kind_of(r, &infos) else { return Ok(true) };
        let ops = self.ops(kind);
        let ns = owner_namespace(kind, dependent_ns);
        if ops.cached_uid(self.cx.caches(), ns.as_deref(), &r.name).as_deref() == Some(r.uid.as_str()) {
            return Ok(true);
        }
        Ok(ops.stored(self.cx, ns.as_deref(), &r.name).await?.is_some_and(|(o, _)| o.uid == r.uid))
    }

    /// Rule (a), from a fresh read: delete the dependent when all its owners are gone,
    /// else drop the references to the gone ones.
    async fn collect(&self, target: &Target) -> Result<(), RegistryError> {
        let ops = self.ops(target.kind);
        let ns = target.namespace.as_deref();
        let Some((fresh, rv)) = ops.stored(self.cx, ns, &target.name).await? else { return Ok(()) };
        if fresh.uid != target.uid || fresh.deleting || fresh.owners.is_empty() {
            return Ok(());
        }
        let mut gone: Vec<String> = Vec::new();
        for r in &fresh.owners {
            if !self.owner_exists(r, ns).await? {
                gone.push(r.uid.clone());
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        if gone.len() == fresh.owners.len() {
            tracing::info!(kind = target.kind.kind, ns, name = %target.name, "deleting: all owners are gone");
            let pre = Preconditions { uid: Some(fresh.uid.clone()), resource_version: Some(rv) };
            return ops.delete(self.cx, ns, &target.name, &pre).await;
        }
        ops.edit(self.cx, ns, &target.name, &mut |m: &mut ObjectMeta| {
            if m.uid != target.uid {
                return false;
            }
            let before = m.owner_references.len();
            m.owner_references.retain(|r| !gone.contains(&r.uid));
            m.owner_references.len() != before
        })
        .await
    }

    /// Rule (c): delete one dependent of an owner that is being deleted in the foreground.
    async fn delete_dependent(&self, target: &Target, owner: &str, propagation: Propagation) -> Result<(), RegistryError> {
        let ops = self.ops(target.kind);
        let ns = target.namespace.as_deref();
        let Some((fresh, rv)) = ops.stored(self.cx, ns, &target.name).await? else { return Ok(()) };
        if fresh.uid != target.uid || fresh.deleting || !fresh.owners.iter().any(|r| r.uid == owner) {
            return Ok(());
        }
        let mut pre = Preconditions { uid: Some(fresh.uid.clone()), resource_version: Some(rv) };
        if let Some(fin) = propagation.finalizer() {
            // Cx deletes with Background propagation; putting the finalizer on first makes
            // the delete below a Foreground one (it then only stamps a deletionTimestamp).
            ops.edit(self.cx, ns, &target.name, &mut |m: &mut ObjectMeta| {
                if m.uid != target.uid || m.is_deleting() || m.finalizers.iter().any(|f| f == fin) {
                    return false;
                }
                m.finalizers.push(fin.to_string());
                true
            })
            .await?;
            pre.resource_version = None; // our own edit moved it on
        }
        tracing::info!(kind = target.kind.kind, ns, name = %target.name, owner, ?propagation, "deleting dependent of a foreground delete");
        ops.delete(self.cx, ns, &target.name, &pre).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Deployment, Node, Pod, ReplicaSet, ReplicationController, Resource};

    fn pod_info() -> &'static KindInfo {
        <Pod as Resource>::INFO
    }
    fn rs_info() -> &'static KindInfo {
        <ReplicaSet as Resource>::INFO
    }
    fn deploy_info() -> &'static KindInfo {
        <Deployment as Resource>::INFO
    }
    fn kinds() -> Vec<&'static KindInfo> {
        vec![pod_info(), rs_info(), deploy_info(), <ReplicationController as Resource>::INFO]
    }

    fn obj(kind: &'static KindInfo, name: &str, uid: &str) -> Entry {
        Entry {
            kind,
            namespace: Some("default".into()),
            name: name.into(),
            uid: uid.into(),
            owners: vec![],
            deleting: false,
            finalizers: vec![],
        }
    }

    fn owned_by(mut e: Entry, owner: &Entry) -> Entry {
        e.owners.push(OwnerReference {
            api_version: owner.kind.api_version(),
            kind: owner.kind.kind.into(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        });
        e
    }

    fn deleting(mut e: Entry, finalizer: &str) -> Entry {
        e.deleting = true;
        e.finalizers.push(finalizer.into());
        e
    }

    #[test]
    fn converged_objects_cause_no_steps() {
        let d = obj(deploy_info(), "web", "d1");
        let rs = owned_by(obj(rs_info(), "web-1", "r1"), &d);
        let p = owned_by(obj(pod_info(), "web-1-a", "p1"), &rs);
        let lone = obj(pod_info(), "lone", "p2");
        assert_eq!(plan(&[d, rs, p, lone], &kinds()), Plan::default());
    }

    #[test]
    fn dependent_whose_only_owner_is_gone_is_collected() {
        let gone = obj(rs_info(), "old", "r-gone");
        let p = owned_by(obj(pod_info(), "p", "p1"), &gone);
        let out = plan(&[p.clone()], &kinds());
        assert_eq!(out.steps, vec![Step::Collect { target: p.target() }]);
    }

    #[test]
    fn owner_with_the_same_name_but_another_uid_counts_as_gone() {
        let old = obj(rs_info(), "web", "r-old");
        let new = obj(rs_info(), "web", "r-new");
        let p = owned_by(obj(pod_info(), "p", "p1"), &old);
        let out = plan(&[new, p.clone()], &kinds());
        assert_eq!(out.steps, vec![Step::Collect { target: p.target() }]);
    }

    #[test]
    fn only_dangling_references_are_dropped_when_another_owner_lives() {
        let live = obj(rs_info(), "live", "r1");
        let gone = obj(rs_info(), "gone", "r2");
        let p = owned_by(owned_by(obj(pod_info(), "p", "p1"), &live), &gone);
        let out = plan(&[live, p.clone()], &kinds());
        assert_eq!(out.steps, vec![Step::DropDangling { target: p.target(), uids: vec!["r2".into()] }]);
    }

    #[test]
    fn owners_of_untracked_kinds_are_never_acted_upon() {
        let mut p = obj(pod_info(), "p", "p1");
        p.owners.push(OwnerReference {
            api_version: "example.com/v1".into(),
            kind: "Widget".into(),
            name: "w".into(),
            uid: "w1".into(),
            ..Default::default()
        });
        assert_eq!(plan(&[p], &kinds()), Plan::default());
    }

    #[test]
    fn dependents_already_being_deleted_are_left_alone() {
        let gone = obj(rs_info(), "old", "r-gone");
        let p = deleting(owned_by(obj(pod_info(), "p", "p1"), &gone), "example.com/hold");
        assert_eq!(plan(&[p], &kinds()), Plan::default());
    }

    #[test]
    fn orphaning_owner_strips_every_dependent_then_drops_its_finalizer() {
        let rs = deleting(obj(rs_info(), "web", "r1"), ORPHAN_FINALIZER);
        let a = owned_by(obj(pod_info(), "a", "p1"), &rs);
        let b = owned_by(obj(pod_info(), "b", "p2"), &rs);
        let out = plan(&[rs.clone(), a.clone(), b.clone()], &kinds());
        assert_eq!(
            out.steps,
            vec![
                Step::Orphan { target: a.target(), owner: "r1".into() },
                Step::Orphan { target: b.target(), owner: "r1".into() },
                Step::RemoveFinalizer { target: rs.target(), finalizer: ORPHAN_FINALIZER },
            ]
        );
        assert!(!out.waiting);
    }

    #[test]
    fn orphaning_owner_without_dependents_just_drops_its_finalizer() {
        let rs = deleting(obj(rs_info(), "web", "r1"), ORPHAN_FINALIZER);
        let out = plan(&[rs.clone()], &kinds());
        assert_eq!(out.steps, vec![Step::RemoveFinalizer { target: rs.target(), finalizer: ORPHAN_FINALIZER }]);
    }

    #[test]
    fn foreground_owner_deletes_dependents_recursively_and_waits() {
        let d = deleting(obj(deploy_info(), "web", "d1"), FOREGROUND_FINALIZER);
        let rs = owned_by(obj(rs_info(), "web-1", "r1"), &d);
        let empty_rs = owned_by(obj(rs_info(), "web-0", "r0"), &d);
        let p = owned_by(obj(pod_info(), "web-1-a", "p1"), &rs);
        let out = plan(&[d, rs.clone(), empty_rs.clone(), p], &kinds());
        assert!(out.waiting);
        assert_eq!(
            out.steps,
            vec![
                Step::DeleteDependent { target: rs.target(), owner: "d1".into(), propagation: Propagation::Foreground },
                Step::DeleteDependent {
                    target: empty_rs.target(),
                    owner: "d1".into(),
                    propagation: Propagation::Background
                },
            ]
        );
    }

    #[test]
    fn foreground_owner_waits_for_dependents_that_are_being_deleted() {
        let rs = deleting(obj(rs_info(), "web", "r1"), FOREGROUND_FINALIZER);
        let p = deleting(owned_by(obj(pod_info(), "a", "p1"), &rs), "example.com/hold");
        let out = plan(&[rs, p], &kinds());
        assert!(out.waiting);
        assert!(out.steps.is_empty(), "{:?}", out.steps);
    }

    #[test]
    fn foreground_owner_without_dependents_drops_its_finalizer() {
        let rs = deleting(obj(rs_info(), "web", "r1"), FOREGROUND_FINALIZER);
        let out = plan(&[rs.clone()], &kinds());
        assert_eq!(out.steps, vec![Step::RemoveFinalizer { target: rs.target(), finalizer: FOREGROUND_FINALIZER }]);
        assert!(!out.waiting);
    }

    #[test]
    fn owners_being_deleted_without_gc_finalizers_are_not_touched() {
        let rs = deleting(obj(rs_info(), "web", "r1"), "example.com/hold");
        let p = owned_by(obj(pod_info(), "a", "p1"), &rs);
        assert_eq!(plan(&[rs, p], &kinds()), Plan::default());
    }

    #[test]
    fn cluster_scoped_owners_are_looked_up_without_a_namespace() {
        let node = Entry { namespace: None, ..obj(<Node as Resource>::INFO, "n1", "n-uid") };
        let p = owned_by(obj(pod_info(), "p", "p1"), &node);
        let mut kinds = kinds();
        kinds.push(<Node as Resource>::INFO);
        assert_eq!(plan(&[node, p], &kinds), Plan::default());
    }

    #[test]
    fn api_group_distinguishes_kinds() {
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
        let r = OwnerReference { api_version: "v1".into(), kind: "ReplicaSet".into(), ..Default::default() };
        assert_eq!(kind_of(&r, &kinds()), None);
    }
}
