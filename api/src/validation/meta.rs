//! Checks shared by every kind: object metadata, labels, annotations, selectors,
//! quantities, and small numeric rules.

use std::collections::BTreeMap;

use super::names::*;
use super::FieldError;
use crate::model::{LabelSelector, Namespace, ObjectMeta, Quantity};

/// Total size of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

pub const IS_NEGATIVE_MSG: &str = "must be greater than or equal to 0";

/// Which name format a kind requires for `metadata.name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFormat {
    Dns1123Subdomain,
    Dns1123Label,
    Dns1035Label,
}

impl NameFormat {
    pub fn check(self, s: &str) -> Vec<String> {
        match self {
            NameFormat::Dns1123Subdomain => is_dns1123_subdomain(s),
            NameFormat::Dns1123Label => is_dns1123_label(s),
            NameFormat::Dns1035Label => is_dns1035_label(s),
        }
    }
}

/// Reports each message of a format check as an Invalid error on `field`.
pub fn invalid_each(field: &str, value: &str, msgs: Vec<String>) -> Vec<FieldError> {
    msgs.into_iter().map(|m| FieldError::invalid(field, value, m)).collect()
}

/// `metadata`: name (or generateName), namespace presence, labels, annotations,
/// owner references.
pub fn validate_object_meta(meta: &ObjectMeta, namespaced: bool, format: NameFormat) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(g) = meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
        errs.extend(invalid_each("metadata.generateName", g, format.check(&mask_trailing_dash(g))));
    }
    if meta.name.is_empty() {
        if meta.generate_name.as_deref().is_none_or(str::is_empty) {
            errs.push(FieldError::required("metadata.name", "name or generateName is required"));
        }
    } else {
        errs.extend(invalid_each("metadata.name", &meta.name, format.check(&meta.name)));
    }
    match (namespaced, meta.namespace.as_deref()) {
        (true, None | Some("")) => errs.push(FieldError::required("metadata.namespace", "")),
        (true, Some(ns)) => errs.extend(invalid_each("metadata.namespace", ns, is_dns1123_label(ns))),
        (false, Some(ns)) if !ns.is_empty() => errs.push(FieldError::new(
            super::FieldErrorKind::Forbidden,
            "metadata.namespace",
            "",
            "not allowed on this type",
        )),
        _ => {}
    }
    if meta.generation < 0 {
        errs.push(FieldError::invalid("metadata.generation", meta.generation, IS_NEGATIVE_MSG));
    }
    errs.extend(validate_labels(&meta.labels, "metadata.labels"));
    errs.extend(validate_annotations(&meta.annotations, "metadata.annotations"));
    for (i, o) in meta.owner_references.iter().enumerate() {
        let p = format!("metadata.ownerReferences[{i}]");
        if o.api_version.is_empty() {
            errs.push(FieldError::invalid(format!("{p}.apiVersion"), "", "version must not be empty"));
        }
        if o.kind.is_empty() {
            errs.push(FieldError::invalid(format!("{p}.kind"), "", "kind must not be empty"));
        }
        if o.name.is_empty() {
            errs.push(FieldError::invalid(format!("{p}.name"), "", "name must not be empty"));
        }
        if o.uid.is_empty() {
            errs.push(FieldError::invalid(format!("{p}.uid"), "", "uid must not be empty"));
        }
    }
    if meta.owner_references.iter().filter(|o| o.controller == Some(true)).count() > 1 {
        errs.push(FieldError::invalid(
            "metadata.ownerReferences",
            "",
            "Only one reference can have Controller set to true",
        ));
    }
    for (i, f) in meta.finalizers.iter().enumerate() {
        errs.extend(invalid_each(&format!("metadata.finalizers[{i}]"), f, is_qualified_name(f)));
    }
    errs
}

/// Label keys are qualified names, values label values; errors name the map's field.
pub fn validate_labels(labels: &BTreeMap<String, String>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        errs.extend(invalid_each(field, k, is_qualified_name(k)));
        errs.extend(invalid_each(field, v, is_label_value(v)));
    }
    errs
}

/// Annotation keys are qualified names (lower-cased, like Kubernetes); total size ≤ 256 KiB.
pub fn validate_annotations(annotations: &BTreeMap<String, String>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        errs.extend(invalid_each(field, k, is_qualified_name(&k.to_ascii_lowercase())));
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(field, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// `matchLabels` and `matchExpressions` (operators and their values).
pub fn validate_label_selector(sel: &LabelSelector, field: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&sel.match_labels, &format!("{field}.matchLabels"));
    for (i, r) in sel.match_expressions.iter().enumerate() {
        let p = format!("{field}.matchExpressions[{i}]");
        match r.operator.as_str() {
            "In" | "NotIn" => {
                if r.values.is_empty() {
                    errs.push(FieldError::required(
                        format!("{p}.values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !r.values.is_empty() {
                    errs.push(FieldError::new(
                        super::FieldErrorKind::Forbidden,
                        format!("{p}.values"),
                        "",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => errs.push(FieldError::invalid(format!("{p}.operator"), other, "not a valid selector operator")),
        }
        errs.extend(invalid_each(&format!("{p}.key"), &r.key, is_qualified_name(&r.key)));
        for (j, v) in r.values.iter().enumerate() {
            errs.extend(invalid_each(&format!("{p}.values[{j}]"), v, is_label_value(v)));
        }
    }
    errs
}

/// `value >= 0`, else Invalid on `field`.
pub fn non_negative(value: i64, field: &str) -> Option<FieldError> {
    (value < 0).then(|| FieldError::invalid(field, value, IS_NEGATIVE_MSG))
}

/// Pushes a non-negative check for an optional field.
pub fn opt_non_negative<T: Into<i64> + Copy>(errs: &mut Vec<FieldError>, value: Option<T>, field: &str) {
    if let Some(v) = value {
        errs.extend(non_negative(v.into(), field));
    }
}

/// Optional enum-like string against its allowed values.
pub fn opt_supported(errs: &mut Vec<FieldError>, value: Option<&str>, field: &str, supported: &[&str]) {
    if let Some(v) = value {
        if !supported.contains(&v) {
            errs.push(FieldError::not_supported(field, v, supported));
        }
    }
}

/// A map of resource quantities: names are qualified names, values parse exactly and
/// are non-negative. Errors name `field[resource]`.
pub fn validate_resource_map(map: &BTreeMap<String, Quantity>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (name, q) in map {
        let p = format!("{field}[{name}]");
        errs.extend(invalid_each(&p, name, is_qualified_name(name)));
        match q.parsed() {
            Err(e) => errs.push(FieldError::invalid(&p, q, e)),
            Ok(v) if v.is_negative() => errs.push(FieldError::invalid(&p, q, IS_NEGATIVE_MSG)),
            Ok(_) => {}
        }
    }
    errs
}

/// Namespace: a DNS-1123 label name, cluster-scoped; finalizers are qualified names.
pub fn validate_namespace(ns: &Namespace) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ns.metadata, false, NameFormat::Dns1123Label);
    if let Some(spec) = &ns.spec {
        for (i, f) in spec.finalizers.iter().enumerate() {
            errs.extend(invalid_each(&format!("spec.finalizers[{i}]"), f, is_qualified_name(f)));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LabelSelectorRequirement, OwnerReference};
    use crate::validation::FieldErrorKind;

    fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
        ObjectMeta { name: name.into(), namespace: ns.map(String::from), ..Default::default() }
    }

    fn only(errs: &[FieldError]) -> (&str, FieldErrorKind) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        (errs[0].field.as_str(), errs[0].kind)
    }

    #[test]
    fn accepts_good_metadata() {
        let mut m = meta("web.example", Some("default"));
        m.labels.insert("app.kubernetes.io/name".into(), "web".into());
        m.annotations.insert("Example.com/Note".into(), "anything goes here!".into());
        assert!(validate_object_meta(&m, true, NameFormat::Dns1123Subdomain).is_empty());
    }

    #[test]
    fn name_required_unless_generate_name() {
        let m = meta("", Some("default"));
        let errs = validate_object_meta(&m, true, NameFormat::Dns1123Subdomain);
        assert_eq!(only(&errs), ("metadata.name", FieldErrorKind::Required));
        let mut m = meta("", Some("default"));
        m.generate_name = Some("web-".into());
        assert!(validate_object_meta(&m, true, NameFormat::Dns1123Subdomain).is_empty());
        m.generate_name = Some("Web-".into());
        let errs = validate_object_meta(&m, true, NameFormat::Dns1123Subdomain);
        assert_eq!(only(&errs), ("metadata.generateName", FieldErrorKind::Invalid));
    }

    #[test]
    fn name_formats() {
        let errs = validate_object_meta(&meta("Web", Some("d")), true, NameFormat::Dns1123Subdomain);
        assert_eq!(only(&errs), ("metadata.name", FieldErrorKind::Invalid));
        let errs = validate_object_meta(&meta("a.b", Some("d")), true, NameFormat::Dns1123Label);
        assert_eq!(only(&errs), ("metadata.name", FieldErrorKind::Invalid));
        let long = "a".repeat(254);
        let errs = validate_object_meta(&meta(&long, Some("d")), true, NameFormat::Dns1123Subdomain);
        assert_eq!(only(&errs), ("metadata.name", FieldErrorKind::Invalid));
    }

    #[test]
    fn namespace_required_for_namespaced_and_forbidden_otherwise() {
        let errs = validate_object_meta(&meta("a", None), true, NameFormat::Dns1123Subdomain);
        assert_eq!(only(&errs), ("metadata.namespace", FieldErrorKind::Required));
        let errs = validate_object_meta(&meta("a", Some("Bad_ns")), true, NameFormat::Dns1123Subdomain);
        assert_eq!(only(&errs), ("metadata.namespace", FieldErrorKind::Invalid));
        let errs = validate_object_meta(&meta("a", Some("x")), false, NameFormat::Dns1123Subdomain);
        assert_eq!(only(&errs), ("metadata.namespace", FieldErrorKind::Forbidden));
    }

    #[test]
    fn bad_label_key_and_value() {
        let mut m = meta("a", Some("d"));
        m.labels.insert("bad key".into(), "ok".into());
        assert_eq!(only(&validate_object_meta(&m, true, NameFormat::Dns1123Subdomain)), ("metadata.labels", FieldErrorKind::Invalid));
        let mut m = meta("a", Some("d"));
        m.labels.insert("ok".into(), "-bad".into());
        assert_eq!(only(&validate_object_meta(&m, true, NameFormat::Dns1123Subdomain)), ("metadata.labels", FieldErrorKind::Invalid));
    }

    #[test]
    fn annotations_size_and_keys() {
        let mut m = meta("a", Some("d"));
        m.annotations.insert("big".into(), "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT));
        assert_eq!(only(&validate_object_meta(&m, true, NameFormat::Dns1123Subdomain)), ("metadata.annotations", FieldErrorKind::TooLong));
        let mut m = meta("a", Some("d"));
        m.annotations.insert("a/b/c".into(), "".into());
        assert_eq!(only(&validate_object_meta(&m, true, NameFormat::Dns1123Subdomain)), ("metadata.annotations", FieldErrorKind::Invalid));
    }

    #[test]
    fn owner_references_single_controller() {
        let mut m = meta("a", Some("d"));
        let o = OwnerReference { api_version: "apps/v1".into(), kind: "ReplicaSet".into(), name: "r".into(), uid: "u".into(), controller: Some(true), block_owner_deletion: None };
        m.owner_references = vec![o.clone(), o];
        assert_eq!(only(&validate_object_meta(&m, true, NameFormat::Dns1123Subdomain)), ("metadata.ownerReferences", FieldErrorKind::Invalid));
    }

    #[test]
    fn selector_operators() {
        let mk = |op: &str, values: &[&str]| LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement { key: "k".into(), operator: op.into(), values: values.iter().map(|s| s.to_string()).collect() }],
        };
        assert!(validate_label_selector(&mk("In", &["a"]), "spec.selector").is_empty());
        assert!(validate_label_selector(&mk("Exists", &[]), "spec.selector").is_empty());
        assert_eq!(only(&validate_label_selector(&mk("In", &[]), "spec.selector")), ("spec.selector.matchExpressions[0].values", FieldErrorKind::Required));
        assert_eq!(only(&validate_label_selector(&mk("DoesNotExist", &["a"]), "spec.selector")), ("spec.selector.matchExpressions[0].values", FieldErrorKind::Forbidden));
        assert_eq!(only(&validate_label_selector(&mk("Gt", &["1"]), "spec.selector")), ("spec.selector.matchExpressions[0].operator", FieldErrorKind::Invalid));
    }

    #[test]
    fn resource_maps() {
        let mut m = BTreeMap::new();
        m.insert("cpu".to_string(), Quantity::from("1.2.3"));
        assert_eq!(only(&validate_resource_map(&m, "r")), ("r[cpu]", FieldErrorKind::Invalid));
        m.insert("cpu".to_string(), Quantity::from("-1"));
        assert_eq!(only(&validate_resource_map(&m, "r")), ("r[cpu]", FieldErrorKind::Invalid));
        m.insert("cpu".to_string(), Quantity::from("250m"));
        assert!(validate_resource_map(&m, "r").is_empty());
    }

    #[test]
    fn namespaces() {
        let ns = Namespace { metadata: meta("team-a", None), ..Default::default() };
        assert!(validate_namespace(&ns).is_empty());
        let ns = Namespace { metadata: meta("team.a", None), ..Default::default() };
        assert_eq!(only(&validate_namespace(&ns)), ("metadata.name", FieldErrorKind::Invalid));
    }
}
