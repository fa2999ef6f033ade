//! One manager per kind: follows the kind's source, starts one object actor per object,
//! routes changes of the object and of its children to it, retires actors of deleted
//! objects, and restarts crashed or killed actors within its restart budget.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures::StreamExt;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use super::budget::RestartBudget;
use super::children::ChildChange;
use super::logic::Reconcile;
use super::messages::{ChildExited, ExitReason, Kill, KillChild, KillError, Retire, SupervisorExited, Wake};
use super::object::ObjectActor;
use super::tree::{Cause, Tree};
use super::world::{HasSource, Source, World};
use client::cache::{key_of, Change};
use api::model::{selector, Resource};

/// A change of the managed kind.
struct Own<T>(Result<Change<T>, BroadcastStreamRecvError>);

impl<T: 'static> Message for Own<T> {
    type Result = ();
}

/// A change of a child, as a message to the manager.
struct Child(ChildChange);

impl Message for Child {
    type Result = ();
}

/// A running object actor.
struct Running<R: Reconcile> {
    addr: Addr<ObjectActor<R>>,
    instance: u64,
    /// A kill was accepted (and counted); the actor is stopping.
    killed: bool,
}

pub(crate) struct Manager<R: Reconcile> {
    name: String,
    instance: u64,
    reconciler: Arc<R>,
    world: Arc<R::World>,
    tree: Tree,
    root: Recipient<SupervisorExited>,
    children: HashMap<String, Running<R>>,
    uids: HashMap<String, String>,
    budgets: HashMap<String, RestartBudget>,
    next_instance: u64,
    exit: ExitReason,
}

impl<R: Reconcile> Manager<R> {
    pub(crate) fn new(name: String, instance: u64, reconciler: Arc<R>, world: Arc<R::World>, tree: Tree, root: Recipient<SupervisorExited>) -> Self {
        Manager {
            name,
            instance,
            reconciler,
            world,
            tree,
            root,
            children: HashMap::new(),
            uids: HashMap::new(),
            budgets: HashMap::new(),
            next_instance: 0,
            exit: ExitReason::Retired,
        }
    }

    fn source(&self) -> &dyn Source<R::Object> {
        HasSource::<R::Object>::source(self.world.as_ref())
    }

    fn wake(&mut self, key: &str, ctx: &mut Context<Self>) {
        if !self.children.contains_key(key) {
            self.spawn_child(key, ctx);
        }
        if let Some(c) = self.children.get(key) {
            c.addr.do_send(Wake);
        }
    }

    fn spawn_child(&mut self, key: &str, ctx: &mut Context<Self>) {
        self.next_instance += 1;
        let actor = ObjectActor::new(key.to_string(), self.next_instance, self.reconciler.clone(), self.world.clone(), ctx.address().recipient());
        let addr = actor.start();
        self.children.insert(key.to_string(), Running { addr, instance: self.next_instance, killed: false });
        self.tree.add_child(&self.name, key, R::Object::INFO.kind);
    }

    fn retire(&mut self, key: &str) {
        if let Some(c) = self.children.remove(key) {
            c.addr.do_send(Retire);
        }
        self.tree.remove_child(&self.name, key);
        self.budgets.remove(key);
    }

    /// Makes the actor set match the source and wakes every actor.
    fn full_sync(&mut self, ctx: &mut Context<Self>) {
        let objects = self.source().list(None);
        let mut live = HashSet::new();
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

    fn wake_orphan_adopters(&mut self, namespace: &str, labels: &BTreeMap<String, String>, ctx: &mut Context<Self>) {
        let keys: Vec<String> = self
            .source()
            .list(Some(namespace))
            .iter()
            .filter(|o| R::selector(o).map(|s| !s.is_empty() && selector::matches(&s, labels)).unwrap_or(false))
            .map(|o| key_of(o.as_ref()))
            .collect();
        for k in keys {
            self.wake(&k, ctx);
        }
    }
}

impl<R: Reconcile> Actor for Manager<R> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.tree.add_supervisor(&self.name, "manager");
        // Subscribe before reading the sources, so that no change falls in between.
        let own = self.source().subscribe();
        ctx.add_stream(BroadcastStream::new(own).map(Own));
        let owner_kind = R::Object::INFO.kind;
        for kind in R::CHILDREN.kinds() {
            ctx.add_stream(kind.follow(self.world.as_ref(), owner_kind).map(Child));
        }
        let synced = self.world.wait_synced();
        ctx.spawn(synced.into_actor(self).map(|_, act, ctx| act.full_sync(ctx)));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        for (_, c) in self.children.drain() {
            c.addr.do_send(Retire);
        }
        self.root.do_send(SupervisorExited { name: self.name.clone(), instance: self.instance, reason: self.exit });
    }
}

impl<R: Reconcile> StreamHandler<Own<R::Object>> for Manager<R> {
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

impl<R: Reconcile> StreamHandler<Child> for Manager<R> {
    fn handle(&mut self, item: Child, ctx: &mut Context<Self>) {
        match item.0 {
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

impl<R: Reconcile> Handler<ChildExited> for Manager<R> {
    type Result = ();

    fn handle(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        if self.children.get(&msg.key).map(|c| c.instance) != Some(msg.instance) || msg.reason == ExitReason::Retired {
            return;
        }
        let Some(gone) = self.children.remove(&msg.key) else { return };
        // A kill was counted when it was accepted; anything else is a crash.
        if !gone.killed {
            self.tree.child_restarted(&self.name, &msg.key, Cause::Crashed);
        }
        if self.source().get_key(&msg.key).is_none() {
            // The object is gone: nothing to restart.
            self.tree.remove_child(&self.name, &msg.key);
            return;
        }
        let spec = self.world.restart_budget();
        let budget = self.budgets.entry(msg.key.clone()).or_insert_with(|| RestartBudget::new(spec.limit, spec.window));
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

impl<R: Reconcile> Handler<Kill> for Manager<R> {
    type Result = ();
    fn handle(&mut self, _: Kill, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Killed;
        ctx.stop();
    }
}

impl<R: Reconcile> Handler<Retire> for Manager<R> {
    type Result = ();
    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Retired;
        ctx.stop();
    }
}

impl<R: Reconcile> Handler<KillChild> for Manager<R> {
    type Result = Result<String, KillError>;
    fn handle(&mut self, msg: KillChild, _ctx: &mut Context<Self>) -> Self::Result {
        let label = format!("{}/{}", self.name, msg.key);
        match self.children.get_mut(&msg.key) {
            Some(c) if c.killed => Err(KillError::AlreadyStopping(label)),
            Some(c) => {
                c.killed = true;
                c.addr.do_send(Kill);
                self.tree.child_restarted(&self.name, &msg.key, Cause::Killed);
                Ok(label)
            }
            None => Err(KillError::UnknownActor { supervisor: self.name.clone(), key: msg.key }),
        }
    }
}
