//! What the runtime runs: a `Reconcile` per object of a kind (under a manager) and
//! `Loop`s not tied to one object (singletons), each over a `World`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use super::children::Children;
use super::world::{HasSource, World};
use api::model::{LabelSelector, Resource};

/// What the runtime should do after a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Action {
    /// Reconcile again after this long even if nothing changes (e.g. a deadline).
    pub requeue_after: Option<Duration>,
}

impl Action {
    /// Nothing to do until the object or one of its children changes.
    pub fn await_change() -> Self {
        Action { requeue_after: None }
    }
    pub fn requeue(after: Duration) -> Self {
        Action { requeue_after: Some(after) }
    }
}

/// A controller of one kind: one reconcile per object, run by a supervised actor.
#[async_trait]
pub trait Reconcile: Send + Sync + 'static {
    type Object: Resource;
    type World: HasSource<Self::Object>;
    type Error: std::fmt::Display + Send;
    /// The kinds of children whose changes wake an object.
    const CHILDREN: Children<Self::World>;
    /// The selector used to adopt orphan children (None: no adoption).
    fn selector(obj: &Self::Object) -> Option<LabelSelector>;
    /// Brings the world one step closer to `obj`'s spec; level-triggered, safe to repeat.
    async fn reconcile(&self, obj: Arc<Self::Object>, cx: &<Self::World as World>::Cx) -> Result<Action, Self::Error>;
}

/// A control loop not tied to one object, run by a supervised singleton actor.
#[async_trait]
pub trait Loop: Send + Sync + 'static {
    type World: World;
    type Error: std::fmt::Display + Send;
    /// Name in the supervision tree and in `/debug/actors/{name}/…`.
    const NAME: &'static str;
    /// The shortest time between two passes; changes arriving sooner are coalesced.
    const MIN_INTERVAL: Duration;
    /// What wakes the loop: the changes of the sources it declares (every source of
    /// the world unless it says otherwise).
    fn wakers(world: &Self::World) -> BoxStream<'static, ()> {
        world.changes()
    }
    /// One pass; level-triggered, safe to repeat.
    async fn run_once(&self, cx: &<Self::World as World>::Cx) -> Result<Action, Self::Error>;
}
