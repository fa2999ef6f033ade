//! The control plane shoal runs: every controller and control loop, in one tree.

use std::sync::Arc;

use crate::controller::Shared;
use crate::allocator::repair::AllocationRepair;
use crate::controllers::{DeploymentController, NamespaceController, ReplicaSetController, ReplicationControllerController};
use crate::events::EventTtl;
use crate::gc::GarbageCollector;
use crate::nodelifecycle::NodeLifecycle;
use crate::pod_actor::PodController;
use crate::runtime::ControlPlane;
use crate::scheduler::Scheduler;

/// The standard set of managers and singletons.
pub fn control_plane(shared: Arc<Shared>) -> ControlPlane<Shared> {
    ControlPlane::new(shared)
        .manager(DeploymentController)
        .manager(ReplicaSetController)
        .manager(ReplicationControllerController)
        .manager(PodController)
        .singleton(Scheduler)
        .singleton(NodeLifecycle)
        .singleton(GarbageCollector)
        .manager(NamespaceController)
        .singleton(AllocationRepair::default())
        .singleton(EventTtl::default())
}
