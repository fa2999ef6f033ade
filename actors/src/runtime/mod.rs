//! The supervision runtime: a root supervisor over one manager per kind (each with one
//! actor per object) and singleton control loops. Panics are caught at each actor's
//! boundary and count as crashes; crashed or killed actors are restarted from the
//! caches within an Erlang-style restart budget, and a spent budget escalates.

use std::sync::Arc;

use actix::prelude::*;

mod budget;
mod kinds;
mod manager;
mod messages;
mod object;
mod root;
mod singleton;
mod tree;

pub use budget::RestartBudget;
pub use kinds::CachedKind;
pub use messages::{ExitReason, KillActor};
pub use root::Root;
pub use tree::Tree;

use crate::controller::{Reconciler, Shared, Singleton};
use manager::Manager;
use root::Handle;
use singleton::SingletonActor;

/// What the rest of the program holds of a running control plane.
#[derive(Clone)]
pub struct ControlHandle {
    pub root: Addr<Root>,
    pub tree: Tree,
}

impl ControlHandle {
    /// Kills one actor: `supervisor` is a kind's plural (`replicasets`) or a singleton's
    /// name (`scheduler`); `key` is `namespace/name` (or `name`), None for the supervisor.
    pub async fn kill(&self, supervisor: &str, key: Option<String>) -> Result<String, String> {
        self.root
            .send(KillActor { supervisor: supervisor.to_string(), key })
            .await
            .map_err(|e| format!("root supervisor unavailable: {e}"))?
    }
}

/// Builds the supervision tree; `start` must run inside an actix System.
pub struct ControlPlane {
    root: Root,
    shared: Arc<Shared>,
    tree: Tree,
}

impl ControlPlane {
    pub fn new(shared: Arc<Shared>) -> Self {
        let tree = Tree::default();
        ControlPlane { root: Root::new(shared.clone(), tree.clone()), shared, tree }
    }

    /// Runs `reconciler` for every object of its kind, under a manager named by the plural.
    pub fn manager<R: Reconciler>(mut self, reconciler: R) -> Self
    where
        R::Object: CachedKind,
    {
        let name = <R::Object as api::model::Resource>::INFO.plural;
        let reconciler = Arc::new(reconciler);
        let (shared, tree) = (self.shared.clone(), self.tree.clone());
        let n = name.to_string();
        self.root.add(
            name,
            "manager",
            Box::new(move |instance, root, arbiter| {
                let (n, reconciler, shared, tree) = (n.clone(), reconciler.clone(), shared.clone(), tree.clone());
                let addr = Manager::start_in_arbiter(arbiter, move |_| Manager::new(n, instance, reconciler, shared, tree, root));
                Handle { kill: addr.clone().recipient(), kill_child: addr.recipient() }
            }),
        );
        self
    }

    /// Runs a singleton control loop under the root.
    pub fn singleton<S: Singleton>(mut self, logic: S) -> Self {
        let logic = Arc::new(logic);
        let shared = self.shared.clone();
        self.root.add(
            S::NAME,
            "singleton",
            Box::new(move |instance, root, arbiter| {
                let (logic, shared) = (logic.clone(), shared.clone());
                let addr = SingletonActor::start_in_arbiter(arbiter, move |_| SingletonActor::new(instance, logic, shared, root));
                Handle { kill: addr.clone().recipient(), kill_child: addr.recipient() }
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
