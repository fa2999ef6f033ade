//! PersistentVolumeClaim validation.

use super::meta::*;
use super::names::*;
use super::{FieldError, FieldErrorKind};
use crate::model::{PersistentVolumeClaim, PersistentVolumeClaimSpec};

pub const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];

pub fn validate_persistent_volume_claim(pvc: &PersistentVolumeClaim) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&pvc.metadata, true, NameFormat::Dns1123Subdomain);
    errs.extend(validate_pvc_spec(&pvc.spec, "spec"));
    errs
}

/// A claim spec under `path` (`spec`, or `spec.volumeClaimTemplates[i].spec`).
pub fn validate_pvc_spec(spec: &PersistentVolumeClaimSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let am = format!("{path}.accessModes");
    if spec.access_modes.is_empty() {
        errs.push(FieldError::required(&am, "at least 1 access mode is required"));
    }
    for m in &spec.access_modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(&am, m, ACCESS_MODES));
        }
    }
    if spec.access_modes.iter().any(|m| m == "ReadWriteOncePod") && spec.access_modes.len() > 1 {
        errs.push(FieldError::new(
            FieldErrorKind::Forbidden,
            &am,
            "",
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    let storage = spec.resources.as_ref().and_then(|r| r.requests.get("storage"));
    match storage {
        None => errs.push(FieldError::required(format!("{path}.resources[storage]"), "")),
        Some(q) => match q.parsed() {
            Err(e) => errs.push(FieldError::invalid(format!("{path}.resources[storage]"), q, e)),
            Ok(v) if v.nanos <= 0 => {
                errs.push(FieldError::invalid(format!("{path}.resources[storage]"), q, "must be greater than zero"))
            }
            Ok(_) => {}
        },
    }
    if let Some(r) = &spec.resources {
        let mut rest = r.requests.clone();
        rest.remove("storage");
        errs.extend(validate_resource_map(&rest, &format!("{path}.resources.requests")));
        errs.extend(validate_resource_map(&r.limits, &format!("{path}.resources.limits")));
    }
    if let Some(sc) = spec.storage_class_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(invalid_each(&format!("{path}.storageClassName"), sc, is_dns1123_subdomain(sc)));
    }
    opt_supported(&mut errs, spec.volume_mode.as_deref(), &format!("{path}.volumeMode"), &["Block", "Filesystem"]);
    if let Some(sel) = &spec.selector {
        errs.extend(validate_label_selector(sel, &format!("{path}.selector")));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Quantity;

    fn pvc() -> PersistentVolumeClaim {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
                     "storageClassName": "local", "volumeMode": "Filesystem"}
        }))
        .unwrap()
    }

    fn only(errs: Vec<FieldError>, field: &str, kind: FieldErrorKind) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].field.as_str(), errs[0].kind), (field, kind));
    }

    #[test]
    fn accepts_good_claim() {
        assert_eq!(validate_persistent_volume_claim(&pvc()), vec![]);
    }

    #[test]
    fn access_modes_required_and_supported() {
        let mut p = pvc();
        p.spec.access_modes.clear();
        only(validate_persistent_volume_claim(&p), "spec.accessModes", FieldErrorKind::Required);
        let mut p = pvc();
        p.spec.access_modes = vec!["ReadWriteSometimes".into()];
        only(validate_persistent_volume_claim(&p), "spec.accessModes", FieldErrorKind::NotSupported);
        let mut p = pvc();
        p.spec.access_modes = vec!["ReadWriteOncePod".into(), "ReadOnlyMany".into()];
        only(validate_persistent_volume_claim(&p), "spec.accessModes", FieldErrorKind::Forbidden);
    }

    #[test]
    fn storage_request_required_and_valid() {
        let mut p = pvc();
        p.spec.resources = None;
        only(validate_persistent_volume_claim(&p), "spec.resources[storage]", FieldErrorKind::Required);
        let mut p = pvc();
        p.spec.resources.as_mut().unwrap().requests.insert("storage".into(), Quantity::from("5GB"));
        only(validate_persistent_volume_claim(&p), "spec.resources[storage]", FieldErrorKind::Invalid);
        let mut p = pvc();
        p.spec.resources.as_mut().unwrap().requests.insert("storage".into(), Quantity::from("0"));
        only(validate_persistent_volume_claim(&p), "spec.resources[storage]", FieldErrorKind::Invalid);
    }

    #[test]
    fn volume_mode_supported() {
        let mut p = pvc();
        p.spec.volume_mode = Some("Raw".into());
        only(validate_persistent_volume_claim(&p), "spec.volumeMode", FieldErrorKind::NotSupported);
    }
}
