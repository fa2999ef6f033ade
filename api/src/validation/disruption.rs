//! PodDisruptionBudget validation (upstream's `ValidatePodDisruptionBudgetSpec`): at most
//! one of minAvailable and maxUnavailable, each a non-negative count or a percentage of at
//! most 100%; the selector; the unhealthy-pod eviction policy.

use super::meta::*;
use super::workloads::max_unavailable_rules;
use super::FieldError;
use crate::model::PodDisruptionBudget;

pub const UNHEALTHY_POD_EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

pub fn validate_pod_disruption_budget(pdb: &PodDisruptionBudget) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&pdb.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &pdb.spec;
    if s.min_available.is_some() && s.max_unavailable.is_some() {
        errs.push(FieldError::invalid("spec", "", "minAvailable and maxUnavailable cannot be both set"));
    }
    if let Some(v) = &s.min_available {
        max_unavailable_rules(v, "spec.minAvailable", &mut errs);
    }
    if let Some(v) = &s.max_unavailable {
        max_unavailable_rules(v, "spec.maxUnavailable", &mut errs);
    }
    if let Some(sel) = &s.selector {
        errs.extend(validate_label_selector(sel, "spec.selector"));
    }
    opt_supported(
        &mut errs,
        s.unhealthy_pod_eviction_policy.as_deref(),
        "spec.unhealthyPodEvictionPolicy",
        UNHEALTHY_POD_EVICTION_POLICIES,
    );
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::FieldErrorKind;
    use serde_json::json;

    fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec}))
        .unwrap()
    }

    #[test]
    fn table_of_cases() {
        use FieldErrorKind::*;
        let sel = json!({"matchLabels": {"app": "web"}});
        let cases = vec![
            ("min int", json!({"minAvailable": 2, "selector": sel}), vec![]),
            ("max percent", json!({"maxUnavailable": "25%", "selector": sel}), vec![]),
            ("neither", json!({"selector": sel}), vec![]),
            ("both", json!({"minAvailable": 1, "maxUnavailable": 1}), vec![("spec", Invalid)]),
            ("negative", json!({"minAvailable": -1}), vec![("spec.minAvailable", Invalid)]),
            ("over 100%", json!({"maxUnavailable": "150%"}), vec![("spec.maxUnavailable", Invalid)]),
            ("not a percent", json!({"minAvailable": "half"}), vec![("spec.minAvailable", Invalid)]),
            ("bad policy", json!({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Never"}),
                vec![("spec.unhealthyPodEvictionPolicy", NotSupported)]),
            ("bad selector", json!({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}}),
                vec![("spec.selector.matchExpressions[0].values", Required)]),
        ];
        for (name, spec, want) in cases {
            let errs = validate_pod_disruption_budget(&pdb(spec));
            let got: Vec<_> = errs.iter().map(|e| (e.field.as_str(), e.kind)).collect();
            assert_eq!(got, want, "{name}: {errs:#?}");
        }
    }
}
