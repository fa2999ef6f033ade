//! The control plane shoal runs: every controller and control loop, in one tree.

use std::sync::Arc;

use crate::controller::{ControlLoop, Controller, Shared};
use crate::allocator::repair::AllocationRepair;
use crate::controllers::{DaemonSetController, DeploymentController, NamespaceController, ReplicaSetController, ReplicationControllerController};
use crate::controllers::{DisruptionController, EndpointsController, LocalPathProvisioner, VolumeBinder};
use crate::controllers::{ClusterNetwork, KubernetesService, NodeIpam, ServiceAccountsController, StatefulSetController};
use crate::controllers::{JobController, JobPodFinalizers};
use crate::controllers::{CronJobController, HorizontalPodAutoscalerController};
use crate::events::EventTtl;
use crate::gc::GarbageCollector;
use crate::nodelifecycle::NodeLifecycle;
use crate::pod_actor::PodController;
use supervision::ControlPlane;
use crate::scheduler::Scheduler;

/// The standard set of managers and singletons.
pub fn control_plane(shared: Arc<Shared>) -> ControlPlane<Shared> {
    ControlPlane::new(shared)
        .manager(Controller(DeploymentController))
        .manager(Controller(DaemonSetController))
        .manager(Controller(ReplicaSetController))
        .manager(Controller(ReplicationControllerController))
        .manager(Controller(StatefulSetController))
        .manager(Controller(PodController))
        .singleton(ControlLoop(Scheduler))
        .singleton(ControlLoop(NodeLifecycle))
        .singleton(ControlLoop(GarbageCollector))
        .manager(Controller(NamespaceController))
        .singleton(ControlLoop(AllocationRepair::default()))
        .singleton(ControlLoop(EventTtl::default()))
        .singleton(ControlLoop(VolumeBinder::default()))
        .singleton(ControlLoop(LocalPathProvisioner))
        .singleton(ControlLoop(DisruptionController::default()))
        .singleton(ControlLoop(ServiceAccountsController))
        .singleton(ControlLoop(KubernetesService))
        .singleton(ControlLoop(ClusterNetwork))
        .manager(Controller(EndpointsController))
        .singleton(ControlLoop(NodeIpam::default()))
        .manager(Controller(JobController))
        .singleton(ControlLoop(JobPodFinalizers))
        .manager(Controller(CronJobController))
        .manager(Controller(HorizontalPodAutoscalerController))
}
