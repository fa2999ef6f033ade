//! One supervised actor per pod bound to the node ([`PodWorker`]): each reconcile
//! observes the runtime, plans (`plan`), carries the plan out (`sync`), and writes the
//! pod's status (`status`) and events (`events`); probes run beside it (`probe`). The
//! [`Housekeeping`] loop removes what the runtime holds of pods no longer bound here.

pub mod backoff;
pub mod etc_files;
pub mod events;
pub mod plan;
pub mod probe;
pub mod pumps;
pub mod status;
mod sync;

pub use sync::terminate_removed;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use api::model::{LabelSelector, Pod};
use async_trait::async_trait;
use supervision::{Action, Children, Loop, Reconcile};

use crate::world::{NodeWorld, PodCx};

/// What the runtime does not keep about a pod (lost with the agent, as kubelet's caches).
#[derive(Debug, Default)]
pub struct PodMemory {
    /// Why a container waits: name → (reason, message).
    pub waiting: HashMap<String, (String, String)>,
    /// Containers (by id) whose start failed: when, and why.
    pub start_failed: HashMap<String, (SystemTime, String)>,
    /// Termination messages read after an exit, by container id.
    pub messages: HashMap<String, String>,
    /// imageID by container name.
    pub image_ids: HashMap<String, String>,
    /// When the last image pull of a container failed, by container name.
    pub pull_failed: HashMap<String, SystemTime>,
}

/// The pod actor's logic.
pub struct PodWorker;

#[async_trait]
impl Reconcile for PodWorker {
    type Object = Pod;
    type World = NodeWorld;
    type Error = String;
    const CHILDREN: Children<NodeWorld> = Children::None;
    fn selector(_: &Pod) -> Option<LabelSelector> {
        None
    }
    async fn reconcile(&self, pod: Arc<Pod>, cx: &PodCx) -> Result<Action, String> {
        if cx.agent.is_stopped() {
            return Ok(Action::await_change());
        }
        sync::sync(cx, pod).await
    }
}

/// Removes containers, sandboxes, addresses and directories of pods that are no longer
/// bound to the node (deleted while the agent was down, or force-deleted).
pub struct Housekeeping;

#[async_trait]
impl Loop for Housekeeping {
    type World = NodeWorld;
    type Error = String;
    const NAME: &'static str = "housekeeping";
    const MIN_INTERVAL: Duration = Duration::from_millis(500);
    async fn run_once(&self, cx: &PodCx) -> Result<Action, String> {
        if cx.agent.is_stopped() {
            return Ok(Action::await_change());
        }
        sync::housekeeping(&cx.agent).await?;
        Ok(Action::requeue(Duration::from_secs(2)))
    }
}
