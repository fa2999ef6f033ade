//! The workload controllers: ReplicaSet/ReplicationController and Deployment reconcilers.
