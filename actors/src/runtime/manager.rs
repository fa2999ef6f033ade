//! One manager per kind: follows the kind's cache, starts one object actor per object,
//! routes changes of the object and of its children to it, retires actors of deleted
//! objects, and restarts crashed or killed actors within its restart budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures::StreamExt;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::budget::RestartBudget;
use super::kinds::CachedKind;
use super::messages::{ChildExited, ExitReason, Kill, KillChild, Retire, SupervisorExited, Wake};
use super::object::ObjectActor;
use super::tree::Tree;
use crate::controller::{Children, Cx, Reconciler, Shared};
use crate::informer::{key_of, Change};
use api::model::{selector, Resource};

/// A change of the managed kind.
struct Own<T>(Result<Change<T>, BroadcastStreamRecvError>);

impl<T: 'static> Message for Own<T> {
    type Result = ();
}

/// A change of a child, reduced to what routing needs.
enum ChildChange {
    /// Wake the owners with these uids; for orphans, the objects in `namespace` whose
    /// selector matches `labels`.
    Touched { owners: Vec<String>, orphan: Option<(String, std::collections::BTreeMap<String, String>)> },
    /// Missed changes: wake everyone.
    Lagged,
}

impl Message for ChildChange {
    type Result = ();
}

fn child_change<C: Resource>(owner_kind: &'static str, item: Result<Change<C>, BroadcastStreamRecvError>) -> Option<ChildChange> {
    let change = match item {
        Ok(c) => c,
        Err(_) => return Some(ChildChange::Lagged),
    };
    let (new, old) = match &change {
        Change::Applied { new, old } => (Some(new.clone()), old.clone()),
        Change::Deleted(o) => (None, Some(o.clone())),
        Change::Resynced => return Some(ChildChange::Lagged),
    };
    let mut owners = Vec::new();
    let mut orphan = None;
    for obj in [new.as_ref(), old.as_ref()].into_iter().flatten() {
        match obj.meta().controller_ref() {
            Some(r) if r.kind == owner_kind => owners.push(r.uid.clone()),
            Some(_) => {}
            None => {
                if orphan.is_none() {
                    orphan = Some((obj.meta().namespace.clone().unwrap_or_default(), obj.meta().labels.clone()));
                }
            }
        }
    }
    if owners.is_empty() && orphan.is_none() {
        return None;
    }
    Some(ChildChange::Touched { owners, orphan })
}

pub(crate) struct Manager<R: Reconciler>
where
    R::Object: CachedKind,
{
    name: String,
    instance: u64,
    reconciler: Arc<R>,
    shared: Arc<Shared>,
    tree: Tree,
    root: Recipient<SupervisorExited>,
    children: HashMap<String, (Addr<ObjectActor<R>>, u64)>,
    uids: HashMap<String, String>,
    budgets: HashMap<String, RestartBudget>,
    next_instance: u64,
    exit: ExitReason,
}

impl<R: Reconciler> Manager<R>
where
    R::Object: CachedKind,
{
    pub(crate) fn new(name: String, instance: u64, reconciler: Arc<R>, shared: Arc<Shared>, tree: Tree, root: Recipient<SupervisorExited>) -> Self {
        Manager {
            name,
            instance,
            reconciler,
            shared,
            tree,
            root,
            children: HashMap::new(),
            uids: HashMap::new(),
            budgets: HashMap::new(),
            next_instance: 0,
            exit: ExitReason::Retired,
        }
    }

    fn wake(&mut self, key: &str, ctx: &mut Context<Self>) {
        match self.children.get(key) {
            Some((addr, _)) => addr.do_send(Wake),
            None => {
                self.spawn_child(key, ctx);
                if let Some((addr, _)) = self.children.get(key) {
                    addr.do_send(Wake);
                }
            }
        }
    }

    fn spawn_child(&mut self, key: &str, ctx: &mut Context<Self>) {
        self.next_instance += 1;
        let cx = Arc::new(Cx::new(self.shared.clone()));
        let actor = ObjectActor::new(key.to_string(), self.next_instance, self.reconciler.clone(), cx, ctx.address().recipient());
        let addr = actor.start();
        self.children.insert(key.to_string(), (addr, self.next_instance));
        self.tree.add_child(&self.name, key, R::Object::INFO.kind);
    }

    fn retire(&mut self, key: &str) {
        if let Some((addr, _)) = self.children.remove(key) {
            addr.do_send(Retire);
        }
        self.tree.remove_child(&self.name, key);
        self.budgets.remove(key);
    }

    /// Makes the actor set match the cache and wakes every actor.
    fn full_sync(&mut self, ctx: &mut Context<Self>) {
        let objects = <R::Object as CachedKind>::cache(&self.shared.caches).list(None);
        let mut live = std::collections::HashSet::new();
        self.uids.clear();
        for obj in &objects {
            let key = key_of(obj.as_ref());
            self.uids.insert(obj.meta().uid.clone(), key.clone());
            live.insert(key);
        }
        let gone: Vec<String> = self.children.keys().filter(|k| !live.contains(*k)).cloned().collect();
        for k in gone {
            self.retire(&k);
        }
        self.tree.retain_children(&self.name, &live);
        for k in live {
            self.wake(&k, ctx);
        }
    }

    fn wake_orphan_adopters(&mut self, namespace: &str, labels: &std::collections::BTreeMap<String, String>, ctx: &mut Context<Self>) {
        let cache = <R::Object as CachedKind>::cache(&self.shared.caches);
        let keys: Vec<String> = cache
            .list(Some(namespace))
            .iter()
            .filter(|o| R::selector(o).map(|s| !s.is_empty() && selector::matches(&s, labels)).unwrap_or(false))
            .map(|o| key_of(o.as_ref()))
            .collect();
        for k in keys {
            self.wake(&k, ctx);
        }
    }

    fn subscribe_children(&self, ctx: &mut Context<Self>) {
        let owner_kind = R::Object::INFO.kind;
        match R::CHILDREN {
            Children::None => {}
            Children::Pods => {
                let rx = self.shared.caches.pods.subscribe();
                ctx.add_stream(BroadcastStream::new(rx).filter_map(move |i| futures::future::ready(child_change(owner_kind, i))));
            }
            Children::ReplicaSets => {
                let rx = self.shared.caches.replicasets.subscribe();
                ctx.add_stream(BroadcastStream::new(rx).filter_map(move |i| futures::future::ready(child_change(owner_kind, i))));
            }
        }
    }
}

impl<R: Reconciler> Actor for Manager<R>
where
    R::Object: CachedKind,
{
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tree.add_supervisor(&self.name, "manager");
        // Subscribe before reading the caches, so that no change falls in between.
        let own = <R::Object as CachedKind>::cache(&self.shared.caches).subscribe();
        ctx.add_stream(BroadcastStream::new(own).map(Own));
        self.subscribe_children(ctx);
        let caches = self.shared.caches.clone();
        ctx.spawn(async move { caches.wait_synced().await }.into_actor(self).map(|_, act, ctx| act.full_sync(ctx)));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        for (_, (addr, _)) in self.children.drain() {
            addr.do_send(Retire);
        }
        self.root.do_send(SupervisorExited { name: self.name.clone(), instance: self.instance, reason: self.exit });
    }
}

impl<R: Reconciler> StreamHandler<Own<R::Object>> for Manager<R>
where
    R::Object: CachedKind,
{
    fn handle(&mut self, item: Own<R::Object>, ctx: &mut Context<Self>) {
        match item.0 {
            Ok(Change::Applied { new, .. }) => {
                let key = key_of(new.as_ref());
                self.uids.insert(new.meta().uid.clone(), key.clone());
                self.wake(&key, ctx);
            }
            Ok(Change::Deleted(old)) => {
                self.uids.remove(&old.meta().uid);
                self.retire(&key_of(old.as_ref()));
            }
            Ok(Change::Resynced) | Err(_) => self.full_sync(ctx),
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl<R: Reconciler> StreamHandler<ChildChange> for Manager<R>
where
    R::Object: CachedKind,
{
    fn handle(&mut self, item: ChildChange, ctx: &mut Context<Self>) {
        match item {
            ChildChange::Lagged => self.full_sync(ctx),
            ChildChange::Touched { owners, orphan } => {
                for uid in owners {
                    if let Some(key) = self.uids.get(&uid).cloned() {
                        self.wake(&key, ctx);
                    }
                }
                if let Some((ns, labels)) = orphan {
                    self.wake_orphan_adopters(&ns, &labels, ctx);
                }
            }
        }
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl<R: Reconciler> Handler<ChildExited> for Manager<R>
where
    R::Object: CachedKind,
{
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        if self.children.get(&msg.key).map(|(_, i)| *i) != Some(msg.instance) || msg.reason == ExitReason::Retired {
            return;
        }
        self.children.remove(&msg.key);
        if <R::Object as CachedKind>::cache(&self.shared.caches).get_key(&msg.key).is_none() {
            // The object is gone: nothing to restart.
            self.tree.remove_child(&self.name, &msg.key);
            return;
        }
        self.tree.child_restarted(&self.name, &msg.key);
        let (limit, window) = (self.shared.config.restart_limit, self.shared.config.restart_window);
        let budget = self.budgets.entry(msg.key.clone()).or_insert_with(|| RestartBudget::new(limit, window));
        if budget.allow(Instant::now()) {
            tracing::info!(manager = %self.name, key = %msg.key, reason = ?msg.reason, "restarting actor");
            self.wake(&msg.key, ctx);
        } else {
            tracing::error!(manager = %self.name, key = %msg.key, "restart budget spent; escalating to the root supervisor");
            self.tree.supervisor_escalated(&self.name);
            self.exit = ExitReason::Escalated;
            ctx.stop();
        }
    }
}

impl<R: Reconciler> Handler<Kill> for Manager<R>
where
    R::Object: CachedKind,
{
    type Result = ();
    fn handle(&mut self, _: Kill, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Killed;
        ctx.stop();
    }
}

impl<R: Reconciler> Handler<KillChild> for Manager<R>
where
    R::Object: CachedKind,
{
    type Result = Result<String, String>;
    fn handle(&mut self, msg: KillChild, _ctx: &mut Context<Self>) -> Self::Result {
        match self.children.get(&msg.key) {
            Some((addr, _)) => {
                addr.do_send(Kill);
                Ok(format!("{}/{}", self.name, msg.key))
            }
            None => Err(format!("no actor {} in {}", msg.key, self.name)),
        }
    }
}
