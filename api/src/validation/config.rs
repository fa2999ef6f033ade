//! ConfigMap, Secret and ServiceAccount validation (upstream's `ValidateConfigMap`,
//! `ValidateSecret`, `ValidateServiceAccount` and their `…Update`s).

use std::collections::BTreeMap;

use super::meta::*;
use super::names::is_config_map_key;
use super::{FieldError, FieldErrorKind};
use crate::model::{secret_type as st, Bytes, ConfigMap, Secret, ServiceAccount, MAX_SECRET_SIZE};

/// What upstream says of a change to an immutable ConfigMap or Secret.
pub const IMMUTABLE_MSG: &str = "field is immutable when `immutable` is set";

fn forbidden(field: &str, detail: &str) -> FieldError {
    FieldError::new(FieldErrorKind::Forbidden, field, "", detail)
}

fn keys<V>(map: &BTreeMap<String, V>, field: &str, errs: &mut Vec<FieldError>) {
    for k in map.keys() {
        errs.extend(invalid_each(&format!("{field}[{k}]"), k, is_config_map_key(k)));
    }
}

pub fn validate_config_map(cm: &ConfigMap) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&cm.metadata, true, NameFormat::Dns1123Subdomain);
    keys(&cm.data, "data", &mut errs);
    for k in cm.data.keys().filter(|k| cm.binary_data.contains_key(*k)) {
        errs.push(FieldError::invalid(format!("data[{k}]"), k, "duplicate of key present in binaryData"));
    }
    keys(&cm.binary_data, "binaryData", &mut errs);
    let total: usize = cm.data.values().map(String::len).sum::<usize>() + cm.binary_data.values().map(Bytes::len).sum::<usize>();
    if total > MAX_SECRET_SIZE {
        // Upstream reports the whole object (an empty path).
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    errs
}

pub fn validate_config_map_update(new: &ConfigMap, old: &ConfigMap) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(forbidden("immutable", IMMUTABLE_MSG));
        }
        if new.data != old.data {
            errs.push(forbidden("data", IMMUTABLE_MSG));
        }
        if new.binary_data != old.binary_data {
            errs.push(forbidden("binaryData", IMMUTABLE_MSG));
        }
    }
    errs.extend(validate_config_map(new));
    errs
}

/// Go's `json.Unmarshal` into a map: the message it gives for `bytes`, if any.
fn json_object_error(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(serde_json::Value::Object(_)) | Ok(serde_json::Value::Null) => None,
        Ok(v) => {
            let what = match v {
                serde_json::Value::Array(_) => "array",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            };
            Some(format!("json: cannot unmarshal {what} into Go value of type map[string]interface {{}}"))
        }
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".to_string()),
        Err(e) => Some(format!("invalid JSON: {e}")),
    }
}

pub fn validate_secret(s: &Secret) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&s.metadata, true, NameFormat::Dns1123Subdomain);
    keys(&s.data, "data", &mut errs);
    if s.data.values().map(Bytes::len).sum::<usize>() > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let data_key = |k: &str| format!("data[{k}]");
    let required_key = |errs: &mut Vec<FieldError>, k: &str| {
        if !s.data.contains_key(k) {
            errs.push(FieldError::required(data_key(k), ""));
        }
    };
    match s.type_.as_deref().unwrap_or("") {
        st::SERVICE_ACCOUNT_TOKEN => {
            if s.metadata.annotations.get(st::SERVICE_ACCOUNT_NAME_KEY).is_none_or(String::is_empty) {
                errs.push(FieldError::required(format!("metadata.annotations[{}]", st::SERVICE_ACCOUNT_NAME_KEY), ""));
            }
        }
        key_type @ (st::DOCKERCFG | st::DOCKER_CONFIG_JSON) => {
            let key = if key_type == st::DOCKERCFG { st::DOCKERCFG_KEY } else { st::DOCKER_CONFIG_JSON_KEY };
            match s.data.get(key) {
                None => errs.push(FieldError::required(data_key(key), "")),
                Some(b) => {
                    if let Some(msg) = json_object_error(b.as_slice()) {
                        errs.push(FieldError::invalid(data_key(key), "<secret contents redacted>", msg));
                    }
                }
            }
        }
        st::BASIC_AUTH => {
            // Either may be empty, but one of them must be there.
            if !s.data.contains_key(st::BASIC_AUTH_USERNAME_KEY) && !s.data.contains_key(st::BASIC_AUTH_PASSWORD_KEY) {
                errs.push(FieldError::required(data_key(st::BASIC_AUTH_USERNAME_KEY), ""));
                errs.push(FieldError::required(data_key(st::BASIC_AUTH_PASSWORD_KEY), ""));
            }
        }
        st::SSH_AUTH => {
            if s.data.get(st::SSH_AUTH_PRIVATE_KEY).is_none_or(Bytes::is_empty) {
                errs.push(FieldError::required(data_key(st::SSH_AUTH_PRIVATE_KEY), ""));
            }
        }
        st::TLS => {
            required_key(&mut errs, st::TLS_CERT_KEY);
            required_key(&mut errs, st::TLS_PRIVATE_KEY_KEY);
        }
        _ => {}
    }
    errs
}

pub fn validate_secret_update(new: &Secret, old: &Secret) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if new.type_ != old.type_ {
        errs.push(FieldError::invalid("type", new.type_.as_deref().unwrap_or(""), "field is immutable"));
    }
    if old.immutable == Some(true) {
        if new.immutable != Some(true) {
            errs.push(forbidden("immutable", IMMUTABLE_MSG));
        }
        // stringData was merged into data before validation.
        if new.data != old.data {
            errs.push(forbidden("data", IMMUTABLE_MSG));
        }
    }
    errs.extend(validate_secret(new));
    errs
}

pub fn validate_service_account(sa: &ServiceAccount) -> Vec<FieldError> {
    validate_object_meta(&sa.metadata, true, NameFormat::Dns1123Subdomain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(v: serde_json::Value) -> ConfigMap {
        let mut c: ConfigMap = serde_json::from_value(v).unwrap();
        c.metadata.name = "c".into();
        c.metadata.namespace = Some("default".into());
        c
    }

    fn secret(type_: &str, data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: crate::model::ObjectMeta { name: "s".into(), namespace: Some("default".into()), ..Default::default() },
            type_: Some(type_.into()),
            data: data.iter().map(|(k, v)| (k.to_string(), Bytes::from(*v))).collect(),
            ..Default::default()
        }
    }

    fn fields(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| format!("{}:{:?}", e.field, e.kind)).collect()
    }

    #[test]
    fn config_map_keys_duplicates_and_size() {
        assert!(validate_config_map(&cm(json!({"data": {"a.b_c-D": "x"}, "binaryData": {"bin": "AA=="}}))).is_empty());
        let cases = [
            (json!({"data": {"a/b": "x"}}), vec!["data[a/b]:Invalid"]),
            (json!({"data": {"..x": "x"}}), vec!["data[..x]:Invalid"]),
            (json!({"data": {".": "x"}}), vec!["data[.]:Invalid"]),
            (json!({"data": {"k": "x"}, "binaryData": {"k": "AA=="}}), vec!["data[k]:Invalid"]),
            (json!({"binaryData": {"a b": "AA=="}}), vec!["binaryData[a b]:Invalid"]),
            (json!({"data": {"big": "x".repeat(MAX_SECRET_SIZE + 1)}}), vec![":TooLong"]),
        ];
        for (v, want) in cases {
            assert_eq!(fields(&validate_config_map(&cm(v.clone()))), want, "{v:.80}");
        }
        let e = validate_config_map(&cm(json!({"data": {"k": "x"}, "binaryData": {"k": "AA=="}})));
        assert_eq!(e[0].to_string(), "data[k]: Invalid value: \"k\": duplicate of key present in binaryData");
    }

    #[test]
    fn an_immutable_config_map_keeps_its_data_and_its_flag() {
        let old = cm(json!({"data": {"a": "1"}, "immutable": true}));
        assert!(validate_config_map_update(&old.clone(), &old).is_empty());
        let changed = cm(json!({"data": {"a": "2"}, "immutable": true}));
        let errs = validate_config_map_update(&changed, &old);
        assert_eq!(errs[0].to_string(), "data: Forbidden: field is immutable when `immutable` is set");
        let unset = cm(json!({"data": {"a": "1"}, "immutable": false}));
        assert_eq!(fields(&validate_config_map_update(&unset, &old)), ["immutable:Forbidden"]);
        // A mutable one may become immutable and change on the way.
        let mutable = cm(json!({"data": {"a": "1"}}));
        assert!(validate_config_map_update(&changed, &mutable).is_empty());
    }

    #[test]
    fn typed_secrets_need_their_keys() {
        let cases: Vec<(Secret, Vec<&str>)> = vec![
            (secret("Opaque", &[]), vec![]),
            (secret(st::TLS, &[("tls.crt", "c")]), vec!["data[tls.key]:Required"]),
            (secret(st::TLS, &[]), vec!["data[tls.crt]:Required", "data[tls.key]:Required"]),
            (secret(st::TLS, &[("tls.crt", "c"), ("tls.key", "k")]), vec![]),
            (secret(st::DOCKER_CONFIG_JSON, &[]), vec!["data[.dockerconfigjson]:Required"]),
            (secret(st::DOCKER_CONFIG_JSON, &[(".dockerconfigjson", "{not json")]), vec!["data[.dockerconfigjson]:Invalid"]),
            (secret(st::DOCKER_CONFIG_JSON, &[(".dockerconfigjson", "[1]")]), vec!["data[.dockerconfigjson]:Invalid"]),
            (secret(st::DOCKER_CONFIG_JSON, &[(".dockerconfigjson", r#"{"auths":{}}"#)]), vec![]),
            (secret(st::DOCKERCFG, &[(".dockercfg", "{}")]), vec![]),
            (secret(st::DOCKERCFG, &[]), vec!["data[.dockercfg]:Required"]),
            (secret(st::BASIC_AUTH, &[]), vec!["data[username]:Required", "data[password]:Required"]),
            (secret(st::BASIC_AUTH, &[("password", "")]), vec![]),
            (secret(st::SSH_AUTH, &[("ssh-privatekey", "")]), vec!["data[ssh-privatekey]:Required"]),
            (secret(st::SSH_AUTH, &[("ssh-privatekey", "k")]), vec![]),
            (
                secret(st::SERVICE_ACCOUNT_TOKEN, &[]),
                vec!["metadata.annotations[kubernetes.io/service-account.name]:Required"],
            ),
            (secret("example.com/custom", &[("bad/key", "")]), vec!["data[bad/key]:Invalid"]),
        ];
        for (s, want) in cases {
            assert_eq!(fields(&validate_secret(&s)), want, "{:?}", s.type_);
        }
        let mut sat = secret(st::SERVICE_ACCOUNT_TOKEN, &[]);
        sat.metadata.annotations.insert(st::SERVICE_ACCOUNT_NAME_KEY.into(), "default".into());
        assert!(validate_secret(&sat).is_empty());
        let big = secret("Opaque", &[("k", &"x".repeat(MAX_SECRET_SIZE + 1))]);
        assert_eq!(fields(&validate_secret(&big)), ["data:TooLong"]);
    }

    #[test]
    fn secret_type_is_immutable_and_immutable_secrets_keep_data() {
        let old = secret("Opaque", &[("a", "1")]);
        let retyped = secret(st::BASIC_AUTH, &[("username", "u")]);
        assert_eq!(fields(&validate_secret_update(&retyped, &old)), ["type:Invalid"]);
        let mut frozen = old.clone();
        frozen.immutable = Some(true);
        let mut changed = secret("Opaque", &[("a", "2")]);
        changed.immutable = Some(true);
        assert_eq!(fields(&validate_secret_update(&changed, &frozen)), ["data:Forbidden"]);
        assert_eq!(fields(&validate_secret_update(&old, &frozen)), ["immutable:Forbidden"]);
    }
}
