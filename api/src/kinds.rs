//! The one list of the kinds shoal serves. Everything that must do something for every
//! kind (routes, OpenAPI, namespace deletion, the caches a control plane follows) walks
//! this list, so adding a kind is one line here.

use crate::model::*;

/// Something done once per kind, with the kind as a type: `for_each_kind(&mut v)` calls
/// `v.visit::<Pod>()`, `v.visit::<Deployment>()`, … in [`ALL_KINDS`] order.
pub trait KindVisitor {
    fn visit<T: Resource>(&mut self);
}

macro_rules! kinds {
    (stored: $($ty:ident),* $(,)?; views: $($view:ident),* $(,)?;) => {
        /// Every stored kind, in the order `shoal get all` lists them.
        pub const ALL_KINDS: &[&KindInfo] = &[$(<$ty as Resource>::INFO),*];

        /// Kinds served as another group's view of a stored kind (`events.k8s.io/v1`
        /// Events are core Events): they have routes and schemas, not store keys of their own.
        pub const VIEW_KINDS: &[&KindInfo] = &[$(<$view as Resource>::INFO),*];

        /// Visits every stored kind, then every view.
        pub fn for_each_kind<V: KindVisitor>(v: &mut V) {
            $(v.visit::<$ty>();)*
            $(v.visit::<$view>();)*
        }

        /// Visits the stored kinds only.
        pub fn for_each_stored_kind<V: KindVisitor>(v: &mut V) {
            $(v.visit::<$ty>();)*
        }
    };
}

kinds! {
    stored: Namespace, Node, Pod, Service, Endpoints, ReplicationController, Deployment, ReplicaSet,
        StatefulSet, DaemonSet, Job, CronJob, PersistentVolumeClaim, HorizontalPodAutoscaler, Lease, Event,
        PersistentVolume,
        StorageClass,
        PodDisruptionBudget,
        ConfigMap, Secret, ServiceAccount,
        EndpointSlice,
        ControllerRevision;
    views: EventV1,
        HorizontalPodAutoscalerV1;
}

/// Every kind with routes: the stored kinds, then the views.
pub fn served_kinds() -> impl Iterator<Item = &'static KindInfo> {
    ALL_KINDS.iter().chain(VIEW_KINDS.iter()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names(Vec<&'static str>);
    impl KindVisitor for Names {
        fn visit<T: Resource>(&mut self) {
            self.0.push(T::INFO.kind);
        }
    }

    #[test]
    fn the_visitor_walks_the_same_list_as_the_tables() {
        let mut n = Names(Vec::new());
        for_each_kind(&mut n);
        let table: Vec<&str> = served_kinds().map(|k| k.kind).collect();
        assert_eq!(n.0, table);
        let mut stored = Names(Vec::new());
        for_each_stored_kind(&mut stored);
        assert_eq!(stored.0.len(), ALL_KINDS.len());
    }
}
