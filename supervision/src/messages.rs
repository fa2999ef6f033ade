//! Messages between supervisors and the actors they supervise.

use actix::prelude::*;

/// Why an actor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// Its supervisor retired it (object deleted, or the supervisor itself is stopping).
    Retired,
    /// Killed through the API (`shoal kill actor`).
    Killed,
    /// A panic in a handler or a reconcile.
    Crashed,
    /// Its own restart budget for a child was spent: it gives up and lets its parent decide.
    Escalated,
}

/// Run the reconcile (again); coalesced while one is running.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Stop now, as a crash would (the supervisor restarts the actor).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kill;

/// Stop quietly: the supervisor asked for it and will not restart it (an object actor
/// whose object is gone, or every supervisor when the root restarts the tree).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

/// An object actor ended (sent to its manager).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChildExited {
    pub key: String,
    pub instance: u64,
    pub reason: ExitReason,
}

/// A manager or singleton ended (sent to the root).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SupervisorExited {
    pub name: String,
    pub instance: u64,
    pub reason: ExitReason,
}

/// Why a kill was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KillError {
    #[error("no actor kind or singleton named {0:?} (running: {1})")]
    UnknownSupervisor(String, String),
    #[error("no actor {key} in {supervisor}")]
    UnknownActor { supervisor: String, key: String },
    #[error("{0} is already stopping; it is restarted shortly")]
    AlreadyStopping(String),
    #[error("the supervision tree is restarting (back-off, next start in {0:?})")]
    TreeRestarting(std::time::Duration),
    #[error("{0} has no child actors")]
    NoChildren(String),
    #[error("supervisor unavailable: {0}")]
    Unavailable(String),
}

/// Kill one object actor of a manager, by `namespace/name` key.
#[derive(Message)]
#[rtype(result = "Result<String, KillError>")]
pub struct KillChild {
    pub key: String,
}

/// Kill one actor anywhere in the tree (routed by the root). `supervisor` is a manager's
/// or singleton's name as the tree shows it; `key` None: the supervisor itself.
#[derive(Message)]
#[rtype(result = "Result<String, KillError>")]
pub struct KillActor {
    pub supervisor: String,
    pub key: Option<String>,
}
