//! ControllerRevision validation (upstream's `ValidateControllerRevision` and
//! `ValidateControllerRevisionUpdate`): a DNS-subdomain name, `data` present, `revision`
//! not negative; `data` never changes once written (only `revision` may be bumped).

use super::meta::*;
use super::FieldError;
use crate::model::ControllerRevision;

pub fn validate_controller_revision(cr: &ControllerRevision) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&cr.metadata, true, NameFormat::Dns1123Subdomain);
    if cr.data.is_empty() {
        errs.push(FieldError::required("data", "data is mandatory"));
    }
    errs.extend(non_negative(cr.revision, "revision"));
    errs
}

pub fn validate_controller_revision_update(new: &ControllerRevision, old: &ControllerRevision) -> Vec<FieldError> {
    let mut errs = validate_controller_revision(new);
    if new.data_value() != old.data_value() {
        errs.push(FieldError::invalid("data", "", "field is immutable"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FieldErrorKind;

    fn cr() -> ControllerRevision {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-7d4b9c8f5", "namespace": "default"},
            "data": {"spec": {"template": {"$patch": "replace"}}}, "revision": 1
        }))
        .unwrap()
    }

    #[test]
    fn data_is_required_and_revision_not_negative() {
        assert_eq!(validate_controller_revision(&cr()), vec![]);
        let mut c = cr();
        c.data.clear();
        c.revision = -1;
        let errs = validate_controller_revision(&c);
        let fields: Vec<(&str, FieldErrorKind)> = errs.iter().map(|e| (e.field.as_str(), e.kind)).collect();
        assert_eq!(fields, [("data", FieldErrorKind::Required), ("revision", FieldErrorKind::Invalid)]);
    }

    #[test]
    fn data_is_immutable_and_revision_may_change() {
        let old = cr();
        let mut bumped = cr();
        bumped.revision = 5;
        assert_eq!(validate_controller_revision_update(&bumped, &old), vec![]);
        let mut changed = cr();
        changed.data = r#"{"spec":{}}"#.into();
        let errs = validate_controller_revision_update(&changed, &old);
        assert_eq!(errs.len(), 1);
        assert_eq!((errs[0].field.as_str(), errs[0].kind), ("data", FieldErrorKind::Invalid));
        assert!(errs[0].to_string().contains("field is immutable"), "{}", errs[0]);
    }
}
