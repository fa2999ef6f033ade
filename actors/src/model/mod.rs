//! The object model: Kubernetes-shaped API types, with serde (JSON field names as
//! Kubernetes spells them) for the HTTP edge and bincode derives for the store.

use std::fmt::Debug;

use bincode::{Decode, Encode};
use serde::{de::DeserializeOwned, Serialize};

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

/// An API object of a known kind. Implemented by every kind with [`impl_resource!`].
pub trait Resource:
    Serialize + DeserializeOwned + Encode + Decode<()> + Clone + Default + Debug + Send + Sync + 'static
{
    const INFO: &'static KindInfo;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// Fills `apiVersion` and `kind` with this kind's values.
    fn set_type_meta(&mut self);
    /// Checks the object; every problem is reported with the field it concerns.
    fn validate(&self) -> Vec<crate::validation::FieldError>;
    /// Fills the fields the server defaults (see `crate::defaults`); idempotent.
    fn apply_defaults(&mut self) {}
}

/// Implements [`Resource`] for a struct with `api_version`, `kind` and `metadata` fields,
/// using its `KindInfo` constant, a `validate` function `fn(&T) -> Vec<FieldError>` and
/// optionally a defaults function `fn(&mut T)`.
#[macro_export]
macro_rules! impl_resource {
    ($ty:ty, $info:expr, $validate:path $(, $defaults:path)?) => {
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
            fn validate(&self) -> Vec<$crate::validation::FieldError> {
                $validate(self)
            }
            $(
                fn apply_defaults(&mut self) {
                    $defaults(self)
                }
            )?
        }
    };
}

pub mod batch;
pub mod common;
pub mod daemonset;
pub mod event;
pub mod hpa;
pub mod int_or_string;
pub mod lease;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod quantity;
pub mod selector;
pub mod service;
pub mod stateful;
pub mod workloads;

#[cfg(test)]
mod roundtrip_tests;

pub use batch::*;
pub use common::{find_condition, Condition, ObjectReference};
pub use daemonset::*;
pub use event::*;
pub use hpa::*;
pub use int_or_string::IntOrString;
pub use lease::*;
pub use namespace::*;
pub use node::*;
pub use pod::*;
pub use quantity::{ParsedQuantity, Quantity, QuantityFormat};
pub use selector::{matches, parse_selector_string, LabelSelector, LabelSelectorRequirement};
pub use service::*;
pub use stateful::*;
pub use workloads::*;

/// Every kind shoal serves, in the order `shoal get all` lists them.
pub const ALL_KINDS: &[&KindInfo] = &[
    &NAMESPACE_INFO,
    &NODE_INFO,
    &POD_INFO,
    &SERVICE_INFO,
    &ENDPOINTS_INFO,
    &REPLICATION_CONTROLLER_INFO,
    &DEPLOYMENT_INFO,
    &REPLICA_SET_INFO,
    &STATEFUL_SET_INFO,
    &DAEMON_SET_INFO,
    &JOB_INFO,
    &CRON_JOB_INFO,
    &PERSISTENT_VOLUME_CLAIM_INFO,
    &HORIZONTAL_POD_AUTOSCALER_INFO,
    &LEASE_INFO,
    &EVENT_INFO,
];

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
        assert_eq!(ALL_KINDS.len(), 16);
    }
}
