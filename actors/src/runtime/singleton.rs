//! An actor running a `Singleton` control loop (scheduler, node lifecycle, garbage
//! collector): woken by any change of the caches, coalesced, with a panic boundary.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix::prelude::*;
use futures::{FutureExt, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use super::messages::{ExitReason, Kill, KillChild, SupervisorExited, Wake};
use super::object::{backoff, panic_message};
use crate::controller::{Action, Cx, ReconcileError, Shared, Singleton};

pub(crate) struct SingletonActor<S: Singleton> {
    instance: u64,
    logic: Arc<S>,
    cx: Arc<Cx>,
    root: Recipient<SupervisorExited>,
    busy: bool,
    dirty: bool,
    failures: u32,
    exit: ExitReason,
    retry: Option<SpawnHandle>,
    /// A pass scheduled `S::MIN_INTERVAL` after the last one; changes meanwhile wait for it.
    coalescing: Option<SpawnHandle>,
}

/// Any change in any cache.
struct Poke;

impl<S: Singleton> SingletonActor<S> {
    pub(crate) fn new(instance: u64, logic: Arc<S>, shared: Arc<Shared>, root: Recipient<SupervisorExited>) -> Self {
        SingletonActor {
            instance,
            logic,
            cx: Arc::new(Cx::new(shared)),
            root,
            busy: false,
            dirty: false,
            failures: 0,
            exit: ExitReason::Retired,
            retry: None,
            coalescing: None,
        }
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        if self.busy || self.coalescing.is_some() {
            self.dirty = true;
            return;
        }
        self.busy = true;
        self.dirty = false;
        if let Some(h) = self.retry.take() {
            ctx.cancel_future(h);
        }
        let (logic, cx) = (self.logic.clone(), self.cx.clone());
        let pass = async move {
            cx.catch_up().await;
            logic.run_once(&cx).await
        };
        ctx.spawn(AssertUnwindSafe(pass).catch_unwind().into_actor(self).map(|res, act, ctx| act.finished(res, ctx)));
    }

    fn finished(&mut self, res: Result<Result<Action, ReconcileError>, Box<dyn Any + Send>>, ctx: &mut Context<Self>) {
        self.busy = false;
        match res {
            Err(panic) => {
                tracing::error!(singleton = S::NAME, panic = %panic_message(panic.as_ref()), "control loop panicked; actor crashes");
                self.exit = ExitReason::Crashed;
                ctx.stop();
                return;
            }
            Ok(Ok(action)) => {
                self.failures = 0;
                if let Some(after) = action.requeue_after {
                    self.retry = Some(ctx.run_later(after, |act, ctx| act.run(ctx)));
                }
            }
            Ok(Err(e)) => {
                self.failures += 1;
                let wait = backoff(self.failures);
                tracing::warn!(singleton = S::NAME, error = %e, retry_in = ?wait, "control loop pass failed");
                self.retry = Some(ctx.run_later(wait, |act, ctx| act.run(ctx)));
            }
        }
        if self.dirty {
            // Coalesce the changes that arrived during the pass into one later pass.
            self.dirty = false;
            self.coalescing = Some(ctx.run_later(S::MIN_INTERVAL, |act, ctx| {
                act.coalescing = None;
                act.run(ctx)
            }));
        }
    }
}

impl<S: Singleton> Actor for SingletonActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let c = &self.cx.shared.caches;
        let pokes = futures::stream::select_all(vec![
            BroadcastStream::new(c.pods.subscribe()).map(|_| Poke).boxed(),
            BroadcastStream::new(c.nodes.subscribe()).map(|_| Poke).boxed(),
            BroadcastStream::new(c.replicasets.subscribe()).map(|_| Poke).boxed(),
            BroadcastStream::new(c.replicationcontrollers.subscribe()).map(|_| Poke).boxed(),
            BroadcastStream::new(c.deployments.subscribe()).map(|_| Poke).boxed(),
            BroadcastStream::new(c.leases.subscribe()).map(|_| Poke).boxed(),
            BroadcastStream::new(c.namespaces.subscribe()).map(|_| Poke).boxed(),
        ]);
        ctx.add_stream(pokes);
        let caches = c.clone();
        ctx.spawn(async move { caches.wait_synced().await }.into_actor(self).map(|_, act, ctx| act.run(ctx)));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.root.do_send(SupervisorExited { name: S::NAME.to_string(), instance: self.instance, reason: self.exit });
    }
}

impl<S: Singleton> StreamHandler<Poke> for SingletonActor<S> {
    fn handle(&mut self, _: Poke, ctx: &mut Context<Self>) {
        self.run(ctx);
    }
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl<S: Singleton> Handler<Wake> for SingletonActor<S> {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.run(ctx);
    }
}

impl<S: Singleton> Handler<Kill> for SingletonActor<S> {
    type Result = ();
    fn handle(&mut self, _: Kill, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Killed;
        ctx.stop();
    }
}

impl<S: Singleton> Handler<KillChild> for SingletonActor<S> {
    type Result = Result<String, String>;
    fn handle(&mut self, msg: KillChild, _ctx: &mut Context<Self>) -> Self::Result {
        Err(format!("{} has no child actor {}", S::NAME, msg.key))
    }
}
