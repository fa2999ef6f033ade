//! An actor running a `Loop` (scheduler, node lifecycle, garbage collector): woken by
//! changes of the sources the loop declares, coalesced, with a panic boundary.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix::prelude::*;
use futures::{FutureExt, StreamExt};

use super::logic::{Action, Loop};
use super::messages::{ExitReason, Kill, KillChild, KillError, Retire, SupervisorExited, Wake};
use super::object::{backoff, panic_message};
use super::world::{ActorCx, World};

pub(crate) struct SingletonActor<S: Loop> {
    instance: u64,
    logic: Arc<S>,
    world: Arc<S::World>,
    cx: Arc<<S::World as World>::Cx>,
    root: Recipient<SupervisorExited>,
    busy: bool,
    dirty: bool,
    failures: u32,
    exit: ExitReason,
    retry: Option<SpawnHandle>,
    /// A pass scheduled `S::MIN_INTERVAL` after the last one; changes meanwhile wait for it.
    coalescing: Option<SpawnHandle>,
}

/// A change in a source the loop follows.
struct Poke;

impl<S: Loop> SingletonActor<S> {
    pub(crate) fn new(instance: u64, logic: Arc<S>, world: Arc<S::World>, root: Recipient<SupervisorExited>) -> Self {
        let cx = Arc::new(world.actor_cx());
        SingletonActor {
            instance,
            logic,
            world,
            cx,
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

    fn finished(&mut self, res: Result<Result<Action, S::Error>, Box<dyn Any + Send>>, ctx: &mut Context<Self>) {
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

impl<S: Loop> Actor for SingletonActor<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.add_stream(S::wakers(&self.world).map(|_| Poke));
        let synced = self.world.wait_synced();
        ctx.spawn(synced.into_actor(self).map(|_, act, ctx| act.run(ctx)));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.root.do_send(SupervisorExited { name: S::NAME.to_string(), instance: self.instance, reason: self.exit });
    }
}

impl<S: Loop> StreamHandler<Poke> for SingletonActor<S> {
    fn handle(&mut self, _: Poke, ctx: &mut Context<Self>) {
        self.run(ctx);
    }
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl<S: Loop> Handler<Wake> for SingletonActor<S> {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.run(ctx);
    }
}

impl<S: Loop> Handler<Kill> for SingletonActor<S> {
    type Result = ();
    fn handle(&mut self, _: Kill, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Killed;
        ctx.stop();
    }
}

impl<S: Loop> Handler<KillChild> for SingletonActor<S> {
    type Result = Result<String, KillError>;
    fn handle(&mut self, _: KillChild, _ctx: &mut Context<Self>) -> Self::Result {
        Err(KillError::NoChildren(S::NAME.to_string()))
    }
}

impl<S: Loop> Handler<Retire> for SingletonActor<S> {
    type Result = ();
    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Retired;
        ctx.stop();
    }
}
