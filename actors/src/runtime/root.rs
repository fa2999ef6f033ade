//! The root supervisor: starts every manager and singleton, restarts them within its
//! restart budget, and ends the process when that budget is spent (only the root may).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::budget::RestartBudget;
use super::messages::{ExitReason, Kill, KillActor, KillChild, SupervisorExited};
use super::tree::Tree;
use crate::controller::Shared;

/// What the root holds of a running supervisor.
pub(crate) struct Handle {
    pub kill: Recipient<Kill>,
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
    handle: Option<Handle>,
    budget: RestartBudget,
}

pub struct Root {
    shared: Arc<Shared>,
    tree: Tree,
    entries: HashMap<String, Entry>,
    order: Vec<String>,
}

impl Root {
    pub(crate) fn new(shared: Arc<Shared>, tree: Tree) -> Self {
        Root { shared, tree, entries: HashMap::new(), order: Vec::new() }
    }

    pub(crate) fn add(&mut self, name: &str, kind: &'static str, starter: Starter) {
        let (limit, window) = (self.shared.config.restart_limit, self.shared.config.restart_window);
        self.tree.add_supervisor(name, kind);
        self.order.push(name.to_string());
        self.entries.insert(
            name.to_string(),
            Entry { starter, arbiter: Arbiter::new(), instance: 0, handle: None, budget: RestartBudget::new(limit, window) },
        );
    }

    fn start_entry(&mut self, name: &str, ctx: &mut Context<Self>) {
        let me = ctx.address().recipient();
        if let Some(e) = self.entries.get_mut(name) {
            e.instance += 1;
            e.handle = Some((e.starter)(e.instance, me, &e.arbiter.handle()));
        }
    }
}

impl Actor for Root {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for name in self.order.clone() {
            self.start_entry(&name, ctx);
        }
    }
}

impl Handler<SupervisorExited> for Root {
    type Result = ();

    fn handle(&mut self, msg: SupervisorExited, ctx: &mut Context<Self>) {
        let Some(e) = self.entries.get_mut(&msg.name) else { return };
        if e.instance != msg.instance || msg.reason == ExitReason::Retired {
            return;
        }
        e.handle = None;
        self.tree.supervisor_restarted(&msg.name);
        if e.budget.allow(Instant::now()) {
            tracing::info!(supervisor = %msg.name, reason = ?msg.reason, "restarting supervisor");
            self.start_entry(&msg.name, ctx);
        } else {
            // Only the root's budget ends the process: the supervision tree cannot recover.
            self.tree.root_escalated();
            tracing::error!(supervisor = %msg.name, "root restart budget spent; the control plane exits");
            std::process::exit(70);
        }
    }
}

impl Handler<KillActor> for Root {
    type Result = ResponseFuture<Result<String, String>>;

    fn handle(&mut self, msg: KillActor, _ctx: &mut Context<Self>) -> Self::Result {
        let Some(handle) = self.entries.get(&msg.supervisor).and_then(|e| e.handle.as_ref()) else {
            let err = format!("no running supervisor {:?}", msg.supervisor);
            return Box::pin(async move { Err(err) });
        };
        match msg.key {
            None => {
                handle.kill.do_send(Kill);
                let name = msg.supervisor.clone();
                Box::pin(async move { Ok(name) })
            }
            Some(key) => {
                let r = handle.kill_child.clone();
                Box::pin(async move { r.send(KillChild { key }).await.map_err(|e| format!("supervisor unavailable: {e}"))? })
            }
        }
    }
}
