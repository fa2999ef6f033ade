//! Which informer cache holds each kind a manager can run actors for.

use crate::controller::Caches;
use crate::informer::Cache;
use api::model::{Deployment, Namespace, Node, Pod, ReplicaSet, ReplicationController, Resource};

/// A kind with a shared informer cache.
pub trait CachedKind: Resource {
    fn cache(c: &Caches) -> &Cache<Self>;
}

macro_rules! cached {
    ($ty:ty, $field:ident) => {
        impl CachedKind for $ty {
            fn cache(c: &Caches) -> &Cache<Self> {
                &c.$field
            }
        }
    };
}

cached!(Pod, pods);
cached!(ReplicaSet, replicasets);
cached!(ReplicationController, replicationcontrollers);
cached!(Deployment, deployments);
cached!(Node, nodes);
cached!(Namespace, namespaces);
