//! The control plane shoal runs: every controller and control loop, in one tree.

use std::sync::Arc;

use crate::controller::Shared;
use crate::gc::GarbageCollector;
use crate::pod_actor::PodController;
use crate::runtime::ControlPlane;

/// The standard set of managers and singletons.
pub fn control_plane(shared: Arc<Shared>) -> ControlPlane {
    ControlPlane::new(shared).manager(PodController).singleton(GarbageCollector)
}
