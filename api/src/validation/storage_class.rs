//! StorageClass validation (upstream's `pkg/apis/storage/validation`): provisioner,
//! parameters, reclaim policy, binding mode, allowed topologies; and the fields an update
//! may not change ([`validate_storage_class_update`]).

use std::collections::BTreeSet;

use super::meta::*;
use super::names::*;
use super::{FieldError, FieldErrorKind};
use crate::model::{StorageClass, TopologySelectorTerm};

pub const CLASS_RECLAIM_POLICIES: &[&str] = &["Delete", "Retain"];
pub const BINDING_MODES: &[&str] = &["Immediate", "WaitForFirstConsumer"];
const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;

pub fn validate_storage_class(sc: &StorageClass) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&sc.metadata, false, NameFormat::Dns1123Subdomain);
    if sc.provisioner.is_empty() {
        errs.push(FieldError::required("provisioner", ""));
    } else {
        errs.extend(invalid_each("provisioner", &sc.provisioner, is_qualified_name(&sc.provisioner.to_ascii_lowercase())));
    }
    if sc.parameters.len() > MAX_PARAMETERS {
        errs.push(FieldError::too_long("parameters", MAX_PARAMETERS));
    }
    let mut size = 0;
    for (k, v) in &sc.parameters {
        if k.is_empty() {
            errs.push(FieldError::invalid("parameters", k, "field can not be empty."));
        }
        size += k.len() + v.len();
    }
    if size > MAX_PARAMETERS_SIZE {
        errs.push(FieldError::too_long("parameters", MAX_PARAMETERS_SIZE));
    }
    opt_supported(&mut errs, sc.reclaim_policy.as_deref(), "reclaimPolicy", CLASS_RECLAIM_POLICIES);
    match sc.volume_binding_mode.as_deref() {
        None => errs.push(FieldError::required("volumeBindingMode", "")),
        m => opt_supported(&mut errs, m, "volumeBindingMode", BINDING_MODES),
    }
    validate_allowed_topologies(&sc.allowed_topologies, "allowedTopologies", &mut errs);
    errs
}

fn validate_allowed_topologies(terms: &[TopologySelectorTerm], p: &str, errs: &mut Vec<FieldError>) {
    let mut seen = Vec::new();
    for (i, t) in terms.iter().enumerate() {
        let tp = format!("{p}[{i}]");
        if t.match_label_expressions.is_empty() {
            errs.push(FieldError::required(format!("{tp}.matchLabelExpressions"), "must contain at least one requirement"));
        }
        let mut keys = BTreeSet::new();
        for (j, r) in t.match_label_expressions.iter().enumerate() {
            let rp = format!("{tp}.matchLabelExpressions[{j}]");
            errs.extend(invalid_each(&format!("{rp}.key"), &r.key, is_qualified_name(&r.key)));
            if !keys.insert(r.key.as_str()) {
                errs.push(FieldError::duplicate(format!("{rp}.key"), &r.key));
            }
            if r.values.is_empty() {
                errs.push(FieldError::required(format!("{rp}.values"), "must specify as least one value"));
            }
            let mut values = BTreeSet::new();
            for (k, v) in r.values.iter().enumerate() {
                errs.extend(invalid_each(&format!("{rp}.values[{k}]"), v, is_label_value(v)));
                if !values.insert(v.as_str()) {
                    errs.push(FieldError::duplicate(format!("{rp}.values[{k}]"), v));
                }
            }
        }
        if seen.contains(&t) {
            errs.push(FieldError::duplicate(&tp, format!("{t:?}")));
        }
        seen.push(t);
    }
}

/// What an update may not change: provisioner, parameters, reclaimPolicy (forbidden) and
/// volumeBindingMode (immutable).
/// An update: the create checks, and upstream's immutable fields (provisioner,
/// parameters, reclaimPolicy, volumeBindingMode).
pub fn validate_storage_class_update(new: &StorageClass, old: &StorageClass) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let forbid = |f: &str| FieldError::new(FieldErrorKind::Forbidden, f, "", format!("updates to {f} are forbidden."));
    if new.parameters != old.parameters {
        errs.push(forbid("parameters"));
    }
    if new.provisioner != old.provisioner {
        errs.push(forbid("provisioner"));
    }
    if new.reclaim_policy != old.reclaim_policy {
        errs.push(forbid("reclaimPolicy"));
    }
    if new.volume_binding_mode != old.volume_binding_mode {
        errs.push(FieldError::invalid(
            "volumeBindingMode",
            new.volume_binding_mode.as_deref().unwrap_or(""),
            "field is immutable",
        ));
    }
    errs.extend(validate_storage_class(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sc(extra: serde_json::Value) -> StorageClass {
        let mut v = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
            "provisioner": "kubernetes.io/no-provisioner", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn fields(errs: &[FieldError]) -> Vec<(&str, FieldErrorKind)> {
        errs.iter().map(|e| (e.field.as_str(), e.kind)).collect()
    }

    #[test]
    fn table_of_cases() {
        use FieldErrorKind::*;
        let term = |k: &str, vs: serde_json::Value| json!({"matchLabelExpressions": [{"key": k, "values": vs}]});
        let cases = vec![
            ("good", json!({}), vec![]),
            ("no provisioner", json!({"provisioner": ""}), vec![("provisioner", Required)]),
            ("bad provisioner", json!({"provisioner": "a b"}), vec![("provisioner", Invalid)]),
            ("bad reclaim", json!({"reclaimPolicy": "Recycle"}), vec![("reclaimPolicy", NotSupported)]),
            ("no binding mode", json!({"volumeBindingMode": null}), vec![("volumeBindingMode", Required)]),
            ("bad binding mode", json!({"volumeBindingMode": "Later"}), vec![("volumeBindingMode", NotSupported)]),
            ("empty parameter key", json!({"parameters": {"": "x"}}), vec![("parameters", Invalid)]),
            ("topology ok", json!({"allowedTopologies": [term("zone", json!(["a", "b"]))]}), vec![]),
            ("topology without values", json!({"allowedTopologies": [term("zone", json!([]))]}),
                vec![("allowedTopologies[0].matchLabelExpressions[0].values", Required)]),
            ("topology duplicate value", json!({"allowedTopologies": [term("zone", json!(["a", "a"]))]}),
                vec![("allowedTopologies[0].matchLabelExpressions[0].values[1]", Duplicate)]),
            ("duplicate terms", json!({"allowedTopologies": [term("zone", json!(["a"])), term("zone", json!(["a"]))]}),
                vec![("allowedTopologies[1]", Duplicate)]),
            ("empty term", json!({"allowedTopologies": [{}]}),
                vec![("allowedTopologies[0].matchLabelExpressions", Required)]),
        ];
        for (name, extra, want) in cases {
            let errs = validate_storage_class(&sc(extra));
            assert_eq!(fields(&errs), want, "{name}: {errs:#?}");
        }
    }

    #[test]
    fn updates_keep_the_immutable_fields() {
        use FieldErrorKind::*;
        let old = sc(json!({"parameters": {"type": "ssd"}}));
        let same_but_expandable = sc(json!({"parameters": {"type": "ssd"}, "allowVolumeExpansion": true}));
        assert_eq!(validate_storage_class_update(&same_but_expandable, &old), vec![]);
        let changed = sc(json!({"provisioner": "other", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"}));
        assert_eq!(
            fields(&validate_storage_class_update(&changed, &old)),
            vec![("parameters", Forbidden), ("provisioner", Forbidden), ("reclaimPolicy", Forbidden), ("volumeBindingMode", Invalid)]
        );
    }
}
