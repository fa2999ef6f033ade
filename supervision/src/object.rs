//! One actor per object: runs its controller's reconcile, one at a time, with a panic
//! boundary, error back-off and requeues. A restarted actor starts from the caches (the
//! store's mirror), never from the old actor's memory.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures::FutureExt;

use super::logic::{Action, Reconcile};
use super::messages::{ChildExited, ExitReason, Kill, Retire, Wake};
use super::world::{ActorCx, HasSource, World};
use api::model::Resource;

pub(crate) struct ObjectActor<R: Reconcile> {
    key: String,
    instance: u64,
    reconciler: Arc<R>,
    world: Arc<R::World>,
    cx: Arc<<R::World as World>::Cx>,
    manager: Recipient<ChildExited>,
    busy: bool,
    dirty: bool,
    failures: u32,
    exit: ExitReason,
    retry: Option<SpawnHandle>,
}

/// Error back-off: 100 ms doubling, capped at 30 s; never gives up.
pub(crate) fn backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << failures.min(10).saturating_sub(1));
    Duration::from_millis(ms.min(30_000))
}

/// The text of a panic payload.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

impl<R: Reconcile> ObjectActor<R> {
    pub(crate) fn new(key: String, instance: u64, reconciler: Arc<R>, world: Arc<R::World>, manager: Recipient<ChildExited>) -> Self {
        let cx = Arc::new(world.actor_cx());
        ObjectActor {
            key,
            instance,
            reconciler,
            world,
            cx,
            manager,
            busy: false,
            dirty: false,
            failures: 0,
            exit: ExitReason::Retired,
            retry: None,
        }
    }

    fn start_reconcile(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            self.dirty = true;
            return;
        }
        self.busy = true;
        self.dirty = false;
        if let Some(h) = self.retry.take() {
            ctx.cancel_future(h);
        }
        let (r, world, cx, key) = (self.reconciler.clone(), self.world.clone(), self.cx.clone(), self.key.clone());
        let run = async move {
            cx.catch_up().await;
            let obj = HasSource::<R::Object>::source(world.as_ref()).get_key(&key);
            match obj {
                Some(obj) => r.reconcile(obj, &cx).await,
                None => Ok(Action::await_change()),
            }
        };
        ctx.spawn(AssertUnwindSafe(run).catch_unwind().into_actor(self).map(|res, act, ctx| act.finished(res, ctx)));
    }

    fn finished(&mut self, res: Result<Result<Action, R::Error>, Box<dyn Any + Send>>, ctx: &mut Context<Self>) {
        self.busy = false;
        match res {
            Err(panic) => {
                tracing::error!(kind = R::Object::INFO.kind, key = %self.key, panic = %panic_message(panic.as_ref()), "reconcile panicked; actor crashes");
                self.exit = ExitReason::Crashed;
                ctx.stop();
                return;
            }
            Ok(Ok(action)) => {
                self.failures = 0;
                if let Some(after) = action.requeue_after {
                    self.retry = Some(ctx.run_later(after, |act, ctx| act.start_reconcile(ctx)));
                }
            }
            Ok(Err(e)) => {
                self.failures += 1;
                let wait = backoff(self.failures);
                tracing::warn!(kind = R::Object::INFO.kind, key = %self.key, error = %e, retry_in = ?wait, "reconcile failed");
                self.retry = Some(ctx.run_later(wait, |act, ctx| act.start_reconcile(ctx)));
            }
        }
        if self.dirty {
            self.start_reconcile(ctx);
        }
    }
}

impl<R: Reconcile> Actor for ObjectActor<R> {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.manager.do_send(ChildExited { key: self.key.clone(), instance: self.instance, reason: self.exit });
    }
}

impl<R: Reconcile> Handler<Wake> for ObjectActor<R> {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.start_reconcile(ctx);
    }
}

impl<R: Reconcile> Handler<Kill> for ObjectActor<R> {
    type Result = ();
    fn handle(&mut self, _: Kill, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Killed;
        ctx.stop();
    }
}

impl<R: Reconcile> Handler<Retire> for ObjectActor<R> {
    type Result = ();
    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.exit = ExitReason::Retired;
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100ms_and_caps_at_30s() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(800));
        assert_eq!(backoff(40), Duration::from_secs(30));
    }
}
