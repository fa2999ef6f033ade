//! Lease validation: name, holder, and non-negative durations.

use super::meta::*;
use super::FieldError;
use crate::model::Lease;

pub fn validate_lease(lease: &Lease) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&lease.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &lease.spec;
    if let Some(d) = s.lease_duration_seconds {
        if d <= 0 {
            errs.push(FieldError::invalid("spec.leaseDurationSeconds", d, "must be greater than 0"));
        }
    }
    if let Some(t) = s.lease_transitions {
        if t < 0 {
            errs.push(FieldError::invalid("spec.leaseTransitions", t, IS_NEGATIVE_MSG));
        }
    }
    for (field, v) in [("spec.acquireTime", &s.acquire_time), ("spec.renewTime", &s.renew_time)] {
        if let Some(v) = v {
            if chrono::DateTime::parse_from_rfc3339(v).is_err() {
                errs.push(FieldError::invalid(field, v, "must be an RFC 3339 time"));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node-1", "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40, "renewTime": "2026-11-25T01:02:03.000001Z"}
        }))
        .unwrap()
    }

    #[test]
    fn accepts_node_lease() {
        assert_eq!(validate_lease(&lease()), vec![]);
    }

    #[test]
    fn rejects_bad_fields() {
        let mut l = lease();
        l.spec.lease_duration_seconds = Some(0);
        l.spec.lease_transitions = Some(-1);
        l.spec.renew_time = Some("yesterday".into());
        l.metadata.namespace = None;
        let fields: Vec<_> = validate_lease(&l).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["metadata.namespace", "spec.leaseDurationSeconds", "spec.leaseTransitions", "spec.renewTime"]
        );
    }
}
