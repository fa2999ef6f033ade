//! The root supervisor: starts every manager and singleton and restarts them within its
//! restart budget. When that budget is spent the tree cannot heal itself piecemeal, so
//! the root stops every supervisor, waits a back-off (see `backoff`) and starts the whole
//! tree again, rebuilt from the sources. The root never ends the process.

use std::collections::HashMap;
use std::time::Instant;

use actix::prelude::*;

use super::backoff::TreeBackoff;
use super::budget::RestartBudget;
use super::messages::{ExitReason, Kill, KillActor, KillChild, KillError, Retire, SupervisorExited};
use super::tree::{Cause, Tree};
use super::world::BudgetSpec;

/// What the root holds of a running supervisor.
pub(crate) struct Handle {
    pub kill: Recipient<Kill>,
    pub retire: Recipient<Retire>,
    pub kill_child: Recipient<KillChild>,
}

/// Starts one supervisor (instance number, root's address) on the given arbiter and
/// returns its handle.
pub(crate) type Starter = Box<dyn Fn(u64, Recipient<SupervisorExited>, &ArbiterHandle) -> Handle>;

struct Entry {
    starter: Starter,
    /// Each supervisor and its actors run on a thread of their own, so that the kinds
    /// reconcile in parallel; a restarted supervisor comes back on the same thread.
    arbiter: Arbiter,
    instance: u64,
    /// None while the supervisor is stopped or stopping.
    handle: Option<Handle>,
    budget: RestartBudget,
}

pub struct Root {
    spec: BudgetSpec,
    tree: Tree,
    entries: HashMap<String, Entry>,
    order: Vec<String>,
    backoff: TreeBackoff,
    /// When the stopped tree starts again; None while it runs.
    restarting_at: Option<Instant>,
}

impl Root {
    pub(crate) fn new(spec: BudgetSpec, tree: Tree) -> Self {
        Root { spec, tree, entries: HashMap::new(), order: Vec::new(), backoff: TreeBackoff::default(), restarting_at: None }
    }

    pub(crate) fn add(&mut self, name: &str, kind: &'static str, starter: Starter) {
        self.tree.add_supervisor(name, kind);
        self.order.push(name.to_string());
        self.entries.insert(
            name.to_string(),
            Entry {
                starter,
                arbiter: Arbiter::new(),
                instance: 0,
                handle: None,
                budget: RestartBudget::new(self.spec.limit, self.spec.window),
            },
        );
    }

    fn start_entry(&mut self, name: &str, ctx: &mut Context<Self>) {
        let me = ctx.address().recipient();
        if let Some(e) = self.entries.get_mut(name) {
            e.instance += 1;
            e.handle = Some((e.starter)(e.instance, me, &e.arbiter.handle()));
        }
    }

    fn start_all(&mut self, ctx: &mut Context<Self>) {
        for name in self.order.clone() {
            self.start_entry(&name, ctx);
        }
    }

    /// The root's budget is spent: stop every supervisor, start them all after a back-off.
    fn restart_tree(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let wait = self.backoff.next(now);
        for e in self.entries.values_mut() {
            if let Some(h) = e.handle.take() {
                h.retire.do_send(Retire);
            }
        }
        self.restarting_at = Some(now + wait);
        self.tree.tree_stopped(wait);
        tracing::error!(backoff = ?wait, "root restart budget spent; the whole supervision tree restarts after a back-off");
        ctx.run_later(wait, |act, ctx| {
            let spec = act.spec;
            for e in act.entries.values_mut() {
                e.budget = RestartBudget::new(spec.limit, spec.window);
            }
            act.restarting_at = None;
            act.backoff.restarted(Instant::now());
            act.start_all(ctx);
            act.tree.tree_restarted();
            tracing::warn!("supervision tree started again");
        });
    }

    fn running(&self, name: &str) -> Result<&Handle, KillError> {
        if let Some(at) = self.restarting_at {
            return Err(KillError::TreeRestarting(at.saturating_duration_since(Instant::now())));
        }
        match self.entries.get(name) {
            Some(e) => e.handle.as_ref().ok_or_else(|| KillError::AlreadyStopping(name.to_string())),
            None => Err(KillError::UnknownSupervisor(name.to_string(), self.order.join(", "))),
        }
    }
}

impl Actor for Root {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_all(ctx);
    }
}

impl Handler<SupervisorExited> for Root {
    type Result = ();

    fn handle(&mut self, msg: SupervisorExited, ctx: &mut Context<Self>) {
        if self.restarting_at.is_some() {
            // Every supervisor is being stopped; the whole tree starts again later.
            return;
        }
        let Some(e) = self.entries.get_mut(&msg.name) else { return };
        if e.instance != msg.instance || msg.reason == ExitReason::Retired {
            return;
        }
        e.handle = None;
        match msg.reason {
            // Counted when the kill was accepted.
            ExitReason::Killed | ExitReason::Retired => {}
            ExitReason::Crashed => self.tree.supervisor_restarted(&msg.name, Cause::Crashed),
            ExitReason::Escalated => self.tree.supervisor_restarted(&msg.name, Cause::Escalated),
        }
        if e.budget.allow(Instant::now()) {
            tracing::info!(supervisor = %msg.name, reason = ?msg.reason, "restarting supervisor");
            self.start_entry(&msg.name, ctx);
        } else {
            tracing::error!(supervisor = %msg.name, "restart budget of the root spent");
            self.restart_tree(ctx);
        }
    }
}

impl Handler<KillActor> for Root {
    type Result = ResponseFuture<Result<String, KillError>>;

    fn handle(&mut self, msg: KillActor, _ctx: &mut Context<Self>) -> Self::Result {
        if let Err(e) = self.running(&msg.supervisor) {
            return Box::pin(async move { Err(e) });
        }
        match msg.key {
            None => {
                // The supervisor stops: take its handle, so that a second kill before it
                // is restarted is refused instead of counted twice.
                if let Some(h) = self.entries.get_mut(&msg.supervisor).and_then(|e| e.handle.take()) {
                    h.kill.do_send(Kill);
                }
                self.tree.supervisor_restarted(&msg.supervisor, Cause::Killed);
                let name = msg.supervisor.clone();
                Box::pin(async move { Ok(name) })
            }
            Some(key) => {
                let r = self.entries.get(&msg.supervisor).and_then(|e| e.handle.as_ref()).map(|h| h.kill_child.clone());
                Box::pin(async move {
                    match r {
                        Some(r) => r.send(KillChild { key }).await.map_err(|e| KillError::Unavailable(e.to_string()))?,
                        None => Err(KillError::Unavailable(msg.supervisor)),
                    }
                })
            }
        }
    }
}
