//! The supervision runtime: a root supervisor over one manager per kind (each with one
//! actor per object) and singleton control loops. Panics are caught at each actor's
//! boundary and count as crashes; crashed or killed actors are restarted from their
//! sources within an Erlang-style restart budget, and a spent budget escalates — up to
//! the root, which then restarts the whole tree after a back-off and never exits.
//!
//! The runtime is generic over its `World` (where objects come from, what a reconcile
//! gets): the control plane runs it over the store's informer caches
//! (`controller::Shared`), a node-host can run it over its client's watcher caches.

use std::sync::Arc;

use actix::prelude::*;

mod backoff;
mod budget;
mod children;
mod logic;
mod manager;
mod messages;
mod object;
mod root;
mod singleton;
mod tree;
mod world;

pub use budget::RestartBudget;
pub use children::{ChildChange, ChildKind, Children, Significant};
pub use logic::{Action, Loop, Reconcile};
pub use messages::{ExitReason, KillActor, KillError};
pub use root::Root;
pub use tree::{Cause, CauseCounts, Tree};
pub use world::{ActorCx, BudgetSpec, HasSource, Source, World};

use manager::Manager;
use root::Handle;
use singleton::SingletonActor;

/// What the rest of the program holds of a running supervision tree.
#[derive(Clone)]
pub struct ControlHandle {
    pub root: Addr<Root>,
    pub tree: Tree,
}

impl ControlHandle {
    /// Kills one actor. `supervisor` is named as users type it: any spelling of a kind
    /// that kubectl accepts (`Deployment`, `deployment`, `deployments`, `deploy`) names
    /// that kind's manager, and a singleton goes by its name (`scheduler`). `key` is
    /// `namespace/name` (or `name`), None for the supervisor itself.
    pub async fn kill(&self, supervisor: &str, key: Option<String>) -> Result<String, KillError> {
        let names = self.tree.supervisor_names();
        let name = resolve(&names, supervisor).ok_or_else(|| KillError::UnknownSupervisor(supervisor.to_string(), names.join(", ")))?;
        self.root.send(KillActor { supervisor: name, key }).await.map_err(|e| KillError::Unavailable(format!("root supervisor: {e}")))?
    }
}

/// The supervisor among `names` that `typed` names: a supervisor's own name (a kind's
/// plural or a singleton's name, any case), else the plural of the kind it spells.
pub fn resolve(names: &[String], typed: &str) -> Option<String> {
    if let Some(n) = names.iter().find(|n| n.eq_ignore_ascii_case(typed)) {
        return Some(n.clone());
    }
    let plural = api::model::kind_by_name(typed)?.plural;
    names.iter().find(|n| n.as_str() == plural).cloned()
}

/// Builds a supervision tree over the world `W`; `start` must run inside an actix System.
pub struct ControlPlane<W: World> {
    root: Root,
    world: Arc<W>,
    tree: Tree,
}

impl<W: World> ControlPlane<W> {
    pub fn new(world: Arc<W>) -> Self {
        let tree = Tree::default();
        ControlPlane { root: Root::new(world.restart_budget(), tree.clone()), world, tree }
    }

    /// Runs `reconciler` for every object of its kind, under a manager named by the plural.
    pub fn manager<R: Reconcile<World = W>>(mut self, reconciler: R) -> Self {
        let name = <R::Object as api::model::Resource>::INFO.plural;
        let reconciler = Arc::new(reconciler);
        let (world, tree) = (self.world.clone(), self.tree.clone());
        let n = name.to_string();
        self.root.add(
            name,
            "manager",
            Box::new(move |instance, root, arbiter| {
                let (n, reconciler, world, tree) = (n.clone(), reconciler.clone(), world.clone(), tree.clone());
                let addr = Manager::start_in_arbiter(arbiter, move |_| Manager::new(n, instance, reconciler, world, tree, root));
                Handle { kill: addr.clone().recipient(), retire: addr.clone().recipient(), kill_child: addr.recipient() }
            }),
        );
        self
    }

    /// Runs a singleton control loop under the root.
    pub fn singleton<L: Loop<World = W>>(mut self, logic: L) -> Self {
        let logic = Arc::new(logic);
        let world = self.world.clone();
        self.root.add(
            L::NAME,
            "singleton",
            Box::new(move |instance, root, arbiter| {
                let (logic, world) = (logic.clone(), world.clone());
                let addr = SingletonActor::start_in_arbiter(arbiter, move |_| SingletonActor::new(instance, logic, world, root));
                Handle { kill: addr.clone().recipient(), retire: addr.clone().recipient(), kill_child: addr.recipient() }
            }),
        );
        self
    }

    pub fn start(self) -> ControlHandle {
        let tree = self.tree.clone();
        let root = self.root.start();
        ControlHandle { root, tree }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_names_resolve_as_kubectl_resolves_kinds() {
        let names: Vec<String> = ["deployments", "replicasets", "scheduler", "node-lifecycle"].map(String::from).into();
        for typed in ["Deployment", "deployment", "deployments", "deploy", "DEPLOY"] {
            assert_eq!(resolve(&names, typed).as_deref(), Some("deployments"), "{typed}");
        }
        assert_eq!(resolve(&names, "rs").as_deref(), Some("replicasets"));
        assert_eq!(resolve(&names, "Scheduler").as_deref(), Some("scheduler"));
        assert_eq!(resolve(&names, "node-lifecycle").as_deref(), Some("node-lifecycle"));
        // A kind with no manager, and a name that is no kind.
        assert_eq!(resolve(&names, "services"), None);
        assert_eq!(resolve(&names, "widgets"), None);
    }
}
