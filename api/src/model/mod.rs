//! The object model: Kubernetes-shaped API types, with serde (JSON field names as
//! Kubernetes spells them) for the HTTP edge and bincode derives for the store.

use std::fmt::Debug;

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{de::DeserializeOwned, Serialize};

use crate::field::FieldError;

pub mod meta;
pub use meta::*;

/// Static facts about one kind: where it lives in the REST API and how it is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// API group, "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Lower-case plural used in paths and store keys (unique across kinds).
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Kubernetes categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Whether the kind has a `/status` subresource.
    pub has_status: bool,
    /// Whether the kind has a `/scale` subresource.
    pub has_scale: bool,
}

impl KindInfo {
    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The REST path prefix of the group version: `/api/v1` or `/apis/{group}/{version}`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// `Deployment.apps`, `Pod`: the name used in Status messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Store key prefix holding every object of this kind (all namespaces).
    pub fn key_prefix(&self) -> String {
        format!("/registry/{}/", self.plural)
    }

    /// Store key prefix for one namespace (or the whole kind when `namespace` is None
    /// or the kind is cluster-scoped).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/", self.plural, ns),
            _ => self.key_prefix(),
        }
    }

    /// Store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/{}", self.plural, ns, name),
            _ => format!("/registry/{}/{}", self.plural, name),
        }
    }
}

/// An API object of a known kind. Implemented by every kind with [`impl_resource!`];
/// what validation and defaulting do to it is declared here ([`Validate`],
/// [`ApplyDefaults`]) and implemented in `crate::validation` and `crate::defaults`.
pub trait Resource:
    Serialize
    + DeserializeOwned
    + JsonSchema
    + Encode
    + Decode<()>
    + Clone
    + Default
    + Debug
    + Send
    + Sync
    + Validate
    + ApplyDefaults
    + 'static
{
    const INFO: &'static KindInfo;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// Fills `apiVersion` and `kind` with this kind's values.
    fn set_type_meta(&mut self);
}

/// An object's cache and actor key: `namespace/name` (or `name` for cluster-scoped kinds).
pub fn key_of<T: Resource>(obj: &T) -> String {
    object_key(obj.meta().namespace.as_deref(), &obj.meta().name)
}

/// The key of the object `name` in `ns`: `namespace/name`, or `name` without a namespace.
pub fn object_key(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// Checks an object; every problem is reported with the field it concerns. Implemented
/// for every kind in `crate::validation`.
pub trait Validate {
    fn validate(&self) -> Vec<FieldError>;

    /// Checks an update of `old` into `self` (upstream's `Validate…Update`): by default
    /// what a create checks; kinds with rules about change (immutable fields) override it.
    fn validate_update(&self, _old: &Self) -> Vec<FieldError>
    where
        Self: Sized,
    {
        self.validate()
    }
}

/// Fills the fields the server defaults; idempotent. Implemented for every kind in
/// `crate::defaults` (a kind without defaults implements it with the empty default).
pub trait ApplyDefaults {
    fn apply_defaults(&mut self) {}
}

/// Implements [`Resource`] for a struct with `api_version`, `kind` and `metadata` fields,
/// using its `KindInfo` constant.
#[macro_export]
macro_rules! impl_resource {
    ($ty:ty, $info:expr) => {
        impl $crate::model::Resource for $ty {
            const INFO: &'static $crate::model::KindInfo = &$info;
            fn meta(&self) -> &$crate::model::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut $crate::model::ObjectMeta {
                &mut self.metadata
            }
            fn set_type_meta(&mut self) {
                self.api_version = Self::INFO.api_version();
                self.kind = Self::INFO.kind.to_string();
            }
        }
    };
}

pub mod batch;
pub mod bytes;
pub mod common;
pub mod container;
pub mod controller_revision;
pub mod config;
pub mod daemonset;
pub mod disruption;
pub mod discovery;
pub mod event;
pub mod hpa;
pub mod hpa_v1;
pub mod int_or_string;
pub mod job_policy;
pub mod lease;
pub mod lifecycle;
pub mod namespace;
pub mod node;
pub mod persistent_volume;
pub mod pod;
pub mod pod_runtime;
pub mod pod_scheduling;
pub mod pod_security;
pub mod pod_status;
pub mod quantity;
pub mod selector;
pub mod service;
pub mod stateful;
pub mod storage_class;
pub mod volume_projections;
pub mod volumes;
pub mod workloads;

#[cfg(test)]
mod roundtrip_tests;

pub use batch::*;
pub use bytes::Bytes;
pub use config::*;
pub use common::{find_condition, Condition, LocalObjectReference, ObjectReference};
pub use container::*;
pub use controller_revision::*;
pub use daemonset::*;
pub use disruption::*;
pub use discovery::*;
pub use event::*;
pub use hpa::*;
pub use hpa_v1::*;
pub use int_or_string::IntOrString;
pub use job_policy::*;
pub use lease::*;
pub use lifecycle::*;
pub use namespace::*;
pub use node::*;
pub use persistent_volume::*;
pub use pod::*;
pub use pod_runtime::*;
pub use pod_scheduling::*;
pub use pod_security::*;
pub use pod_status::*;
pub use quantity::{ParsedQuantity, Quantity, QuantityFormat};
pub use selector::{matches, parse_selector_string, LabelSelector, LabelSelectorRequirement};
pub use service::*;
pub use stateful::*;
pub use storage_class::*;
pub use volume_projections::*;
pub use volumes::*;
pub use workloads::*;

pub use crate::kinds::ALL_KINDS;

/// Finds a kind by its kind name (any case), plural, singular or short name:
/// `Deployment`, `deployments`, `deployment`, `deploy`.
pub fn kind_by_name(s: &str) -> Option<&'static KindInfo> {
    let lower = s.to_ascii_lowercase();
    ALL_KINDS.iter().copied().find(|k| {
        k.kind.eq_ignore_ascii_case(&lower)
            || k.plural == lower
            || k.singular == lower
            || k.short_names.contains(&lower.as_str())
    })
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn kind_by_name_accepts_every_spelling() {
        for s in ["Deployment", "deployments", "deployment", "deploy", "DEPLOY"] {
            assert_eq!(kind_by_name(s).map(|k| k.kind), Some("Deployment"), "{s}");
        }
        assert_eq!(kind_by_name("hpa").unwrap().api_version(), "autoscaling/v2");
        assert_eq!(kind_by_name("ep").unwrap().kind, "Endpoints");
        assert_eq!(kind_by_name("no").unwrap().kind, "Node");
        assert_eq!(kind_by_name("cj").unwrap().group, "batch");
        assert!(kind_by_name("widgets").is_none());
    }

    #[test]
    fn plurals_and_short_names_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for k in ALL_KINDS {
            assert!(seen.insert(k.plural), "{}", k.plural);
            for s in k.short_names {
                assert!(seen.insert(s), "{s}");
            }
        }
        assert_eq!(ALL_KINDS.len(), 24);
    }
}
