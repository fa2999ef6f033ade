//! Deployment: rolls a pod template out through ReplicaSets.

pub struct DeploymentController;
