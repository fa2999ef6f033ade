//! Configuration kinds of core/v1: ConfigMap, Secret (bytes in the store, base64 in
//! JSON; `stringData` is write-only and merged into `data` by defaulting) and
//! ServiceAccount.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bytes::Bytes;
use super::common::*;
use super::{KindInfo, ObjectMeta};

pub const CONFIG_MAP_INFO: KindInfo = KindInfo {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    namespaced: true,
    short_names: &["cm"],
    categories: &[],
    has_status: false,
    has_scale: false,
};

pub const SECRET_INFO: KindInfo = KindInfo {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    singular: "secret",
    namespaced: true,
    short_names: &[],
    categories: &[],
    has_status: false,
    has_scale: false,
};

pub const SERVICE_ACCOUNT_INFO: KindInfo = KindInfo {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    namespaced: true,
    short_names: &["sa"],
    categories: &[],
    has_status: false,
    has_scale: false,
};

/// The most a ConfigMap's or Secret's data may hold, in bytes (upstream's `MaxSecretSize`).
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// Secret types and the keys their validation requires (upstream's `SecretType*`).
pub mod secret_type {
    pub const OPAQUE: &str = "Opaque";
    pub const SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";
    pub const DOCKERCFG: &str = "kubernetes.io/dockercfg";
    pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
    pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
    pub const SSH_AUTH: &str = "kubernetes.io/ssh-auth";
    pub const TLS: &str = "kubernetes.io/tls";
    pub const BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";

    /// The annotation naming a token Secret's ServiceAccount.
    pub const SERVICE_ACCOUNT_NAME_KEY: &str = "kubernetes.io/service-account.name";
    pub const DOCKERCFG_KEY: &str = ".dockercfg";
    pub const DOCKER_CONFIG_JSON_KEY: &str = ".dockerconfigjson";
    pub const BASIC_AUTH_USERNAME_KEY: &str = "username";
    pub const BASIC_AUTH_PASSWORD_KEY: &str = "password";
    pub const SSH_AUTH_PRIVATE_KEY: &str = "ssh-privatekey";
    pub const TLS_CERT_KEY: &str = "tls.crt";
    pub const TLS_PRIVATE_KEY_KEY: &str = "tls.key";
}

/// The ServiceAccount every namespace gets, and that pods naming none run as.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct ConfigMap {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    /// UTF-8 values; keys are config-map keys (`[-._a-zA-Z0-9]+`), none also in `binaryData`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Values that need not be UTF-8 (base64 in JSON).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, Bytes>,
    /// Once true, `data` and `binaryData` cannot change and `immutable` cannot go back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

crate::impl_resource!(ConfigMap, CONFIG_MAP_INFO);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct Secret {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, Bytes>,
    /// Write-only convenience: merged into `data` (overriding its keys) when written,
    /// never stored or returned.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// Defaults to `Opaque`; cannot change after create.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

crate::impl_resource!(Secret, SECRET_INFO);

impl Secret {
    /// The Secret's type, `Opaque` when unset.
    pub fn secret_type(&self) -> &str {
        self.type_.as_deref().filter(|t| !t.is_empty()).unwrap_or(secret_type::OPAQUE)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema, Encode, Decode)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceAccount {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    /// Secrets pods running as this account may use (deprecated upstream for tokens).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ObjectReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}

crate::impl_resource!(ServiceAccount, SERVICE_ACCOUNT_INFO);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use serde_json::json;

    #[test]
    fn secret_data_is_base64_in_json_and_bytes_in_the_store() {
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": "s"}, "data": {"k": "dmFsdWU="}, "type": "Opaque"
        }))
        .unwrap();
        assert_eq!(s.data["k"].as_slice(), b"value");
        let back: Secret = decode(&encode(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(serde_json::to_value(&back).unwrap()["data"]["k"], "dmFsdWU=");
    }

    #[test]
    fn config_map_round_trips() {
        let v = json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"a": "b"}, "binaryData": {"bin": "AAE="}, "immutable": true
        });
        let c: ConfigMap = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&c).unwrap(), v);
        let sa: ServiceAccount = serde_json::from_value(json!({
            "metadata": {"name": "default"}, "imagePullSecrets": [{"name": "reg"}], "automountServiceAccountToken": false
        }))
        .unwrap();
        assert_eq!(sa.image_pull_secrets[0].name, "reg");
    }
}
