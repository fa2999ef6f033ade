//! Validation of a Job's finer controls, as upstream's `pkg/apis/batch/validation`:
//! the pod failure policy, the success policy, per-index back-off, the pod replacement
//! policy and `managedBy`.

use super::meta::*;
use super::names::*;
use super::{FieldError, FieldErrorKind};
use crate::model::JobSpec;

const ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];
const MAX_EXIT_CODES: usize = 255;
const MAX_RULES: usize = 20;

pub fn validate_job_policies(s: &JobSpec, path: &str, errs: &mut Vec<FieldError>) {
    let indexed = s.completion_mode.as_deref() == Some("Indexed");
    if let Some(b) = s.backoff_limit_per_index {
        opt_non_negative(errs, Some(b), &format!("{path}.backoffLimitPerIndex"));
        if !indexed {
            errs.push(FieldError::invalid(
                format!("{path}.backoffLimitPerIndex"),
                b,
                "requires indexed completion mode",
            ));
        }
    }
    if let Some(m) = s.max_failed_indexes {
        let f = format!("{path}.maxFailedIndexes");
        opt_non_negative(errs, Some(m), &f);
        if s.backoff_limit_per_index.is_none() {
            errs.push(FieldError::required(f.clone(), "when maxFailedIndexes is specified"));
        }
        if let Some(c) = s.completions.filter(|c| m > *c) {
            errs.push(FieldError::invalid(f, m, format!("must be less than or equal to completions ({c})")));
        }
    }
    if let Some(p) = &s.pod_failure_policy {
        let pp = format!("{path}.podFailurePolicy");
        if s.template.spec.restart_policy.as_deref() != Some("Never") {
            errs.push(FieldError::invalid(
                format!("{path}.template.spec.restartPolicy"),
                s.template.spec.restart_policy.as_deref().unwrap_or(""),
                "only \"Never\" is supported when podFailurePolicy is specified",
            ));
        }
        if p.rules.len() > MAX_RULES {
            errs.push(FieldError::new(FieldErrorKind::Invalid, format!("{pp}.rules"), p.rules.len(), format!("must have at most {MAX_RULES} items")));
        }
        for (i, r) in p.rules.iter().enumerate() {
            let rp = format!("{pp}.rules[{i}]");
            if !ACTIONS.contains(&r.action.as_str()) {
                errs.push(FieldError::not_supported(format!("{rp}.action"), &r.action, ACTIONS));
            }
            if r.action == "FailIndex" && s.backoff_limit_per_index.is_none() {
                errs.push(FieldError::invalid(
                    format!("{rp}.action"),
                    &r.action,
                    "requires the backoffLimitPerIndex to be set",
                ));
            }
            match (&r.on_exit_codes, r.on_pod_conditions.is_empty()) {
                (Some(_), false) => errs.push(FieldError::invalid(
                    &rp,
                    "",
                    "specifying both OnExitCodes and OnPodConditions is not supported",
                )),
                (None, true) => errs.push(FieldError::invalid(
                    &rp,
                    "",
                    "specifying one of OnExitCodes and OnPodConditions is required",
                )),
                _ => {}
            }
            if let Some(ec) = &r.on_exit_codes {
                let ep = format!("{rp}.onExitCodes");
                if !matches!(ec.operator.as_str(), "In" | "NotIn") {
                    errs.push(FieldError::not_supported(format!("{ep}.operator"), &ec.operator, &["In", "NotIn"]));
                }
                if ec.values.is_empty() {
                    errs.push(FieldError::invalid(format!("{ep}.values"), "", "at least one value is required"));
                } else if ec.values.len() > MAX_EXIT_CODES {
                    errs.push(FieldError::new(FieldErrorKind::Invalid, format!("{ep}.values"), ec.values.len(), format!("must have at most {MAX_EXIT_CODES} items")));
                }
                for (j, v) in ec.values.iter().enumerate() {
                    if j > 0 && ec.values[j - 1] >= *v {
                        errs.push(FieldError::invalid(format!("{ep}.values[{j}]"), v, "must be ordered"));
                    }
                    if *v == 0 && ec.operator == "In" {
                        errs.push(FieldError::invalid(format!("{ep}.values[{j}]"), v, "must not be 0 for the In operator"));
                    }
                }
                if let Some(c) = ec.container_name.as_deref() {
                    let known = s.template.spec.all_containers().any(|k| k.name == c);
                    if !known {
                        errs.push(FieldError::invalid(
                            format!("{ep}.containerName"),
                            c,
                            "must be one of the container or initContainer names in the pod template",
                        ));
                    }
                }
            }
            for (j, c) in r.on_pod_conditions.iter().enumerate() {
                let cp = format!("{rp}.onPodConditions[{j}]");
                if c.type_.is_empty() {
                    errs.push(FieldError::required(format!("{cp}.type"), ""));
                } else {
                    errs.extend(invalid_each(&format!("{cp}.type"), &c.type_, is_qualified_name(&c.type_)));
                }
                opt_supported(errs, c.status.as_deref(), &format!("{cp}.status"), &["False", "True", "Unknown"]);
            }
        }
    }
    if let Some(sp) = &s.success_policy {
        let pp = format!("{path}.successPolicy");
        if !indexed {
            errs.push(FieldError::invalid(format!("{path}.completionMode"), s.completion_mode.as_deref().unwrap_or(""), "requires indexed completion mode"));
        }
        if sp.rules.is_empty() {
            errs.push(FieldError::required(format!("{pp}.rules"), "at least one rules must be specified when the successPolicy is specified"));
        }
        for (i, r) in sp.rules.iter().enumerate() {
            let rp = format!("{pp}.rules[{i}]");
            if r.succeeded_count.is_none() && r.succeeded_indexes.is_none() {
                errs.push(FieldError::required(&rp, "at least one of succeededCount or succeededIndexes must be specified"));
            }
            if let Some(c) = r.succeeded_count {
                if c < 0 {
                    errs.push(FieldError::invalid(format!("{rp}.succeededCount"), c, "must be greater than or equal to 0"));
                } else if let Some(n) = s.completions.filter(|n| c > *n) {
                    errs.push(FieldError::invalid(format!("{rp}.succeededCount"), c, format!("must be less than or equal to {n} (the number of specified completions)")));
                }
            }
            if let Some(ix) = r.succeeded_indexes.as_deref() {
                if let Err(e) = parse_indexes(ix, s.completions.unwrap_or(i32::MAX)) {
                    errs.push(FieldError::invalid(format!("{rp}.succeededIndexes"), ix, format!("error parsing succeededIndexes: {e}")));
                }
            }
        }
    }
    if let Some(r) = s.pod_replacement_policy.as_deref() {
        let f = format!("{path}.podReplacementPolicy");
        if !matches!(r, "Failed" | "TerminatingOrFailed") {
            errs.push(FieldError::not_supported(f, r, &["Failed", "TerminatingOrFailed"]));
        } else if r != "Failed" && s.pod_failure_policy.is_some() {
            errs.push(FieldError::not_supported(f, r, &["Failed"]));
        }
    }
    if let Some(m) = s.managed_by.as_deref() {
        let f = format!("{path}.managedBy");
        if m.len() > 63 {
            errs.push(FieldError::too_long(f, 63));
        } else {
            let (domain, rest) = m.split_once('/').unwrap_or((m, ""));
            if rest.is_empty() || !is_dns1123_subdomain(domain).is_empty() {
                errs.push(FieldError::invalid(f, m, "must be a domain-prefixed path (such as \"acme.io/foo\")"));
            }
        }
    }
}

/// `1,3-5,7`: ascending, non-overlapping intervals below `completions`.
fn parse_indexes(s: &str, completions: i32) -> Result<(), String> {
    let mut last = -1i64;
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: i64 = a.parse().map_err(|_| format!("cannot convert string to integer for index: {a:?}"))?;
        let b: i64 = b.parse().map_err(|_| format!("cannot convert string to integer for index: {b:?}"))?;
        if a > b || a <= last {
            return Err(format!("non-increasing order, previous: {last}, current: {a}"));
        }
        if b >= completions as i64 {
            return Err(format!("too large: {b}"));
        }
        last = b;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(spec: serde_json::Value) -> Vec<String> {
        let mut full = json!({"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "x"}]}}});
        for (k, v) in spec.as_object().unwrap() {
            full[k] = v.clone();
        }
        let s: JobSpec = serde_json::from_value(full).unwrap();
        let mut errs = Vec::new();
        validate_job_policies(&s, "spec", &mut errs);
        errs.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn job_policies() {
        let rule = |r: serde_json::Value| json!({"rules": [r]});
        for (spec, want) in [
            (json!({"backoffLimitPerIndex": 1}), vec!["spec.backoffLimitPerIndex"]),
            (json!({"completionMode": "Indexed", "completions": 4, "backoffLimitPerIndex": 1, "maxFailedIndexes": 2}), vec![]),
            (json!({"completionMode": "Indexed", "completions": 4, "maxFailedIndexes": 2}), vec!["spec.maxFailedIndexes"]),
            (json!({"podFailurePolicy": rule(json!({"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [1, 42]}}))}), vec![]),
            (json!({"podFailurePolicy": rule(json!({"action": "Explode", "onPodConditions": [{"type": "DisruptionTarget"}]}))}), vec!["spec.podFailurePolicy.rules[0].action"]),
            (json!({"podFailurePolicy": rule(json!({"action": "Ignore"}))}), vec!["spec.podFailurePolicy.rules[0]"]),
            (json!({"podFailurePolicy": rule(json!({"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}}))}), vec!["spec.podFailurePolicy.rules[0].action"]),
            (json!({"podFailurePolicy": rule(json!({"action": "Count", "onExitCodes": {"operator": "In", "values": [0, 3, 2]}}))}), vec!["spec.podFailurePolicy.rules[0].onExitCodes.values[0]", "spec.podFailurePolicy.rules[0].onExitCodes.values[2]"]),
            (json!({"podFailurePolicy": rule(json!({"action": "Count", "onExitCodes": {"containerName": "nope", "operator": "NotIn", "values": [0]}}))}), vec!["spec.podFailurePolicy.rules[0].onExitCodes.containerName"]),
            (json!({"podFailurePolicy": rule(json!({"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]})), "podReplacementPolicy": "TerminatingOrFailed"}), vec!["spec.podReplacementPolicy"]),
            (json!({"successPolicy": {"rules": [{"succeededCount": 1}]}}), vec!["spec.completionMode"]),
            (json!({"completionMode": "Indexed", "completions": 5, "successPolicy": {"rules": [{"succeededIndexes": "0,2-3", "succeededCount": 2}]}}), vec![]),
            (json!({"completionMode": "Indexed", "completions": 5, "successPolicy": {"rules": [{"succeededIndexes": "3-1"}, {}]}}), vec!["spec.successPolicy.rules[0].succeededIndexes", "spec.successPolicy.rules[1]"]),
            (json!({"podReplacementPolicy": "Sometimes"}), vec!["spec.podReplacementPolicy"]),
            (json!({"managedBy": "kueue.x-k8s.io/multikueue"}), vec![]),
            (json!({"managedBy": "not a path"}), vec!["spec.managedBy"]),
        ] {
            assert_eq!(fields(spec.clone()), want, "{spec}");
        }
        let mut never = fields(json!({"podFailurePolicy": rule(json!({"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}))}));
        assert!(never.is_empty());
        let s: JobSpec = serde_json::from_value(json!({"podFailurePolicy": rule(json!({"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]})), "template": {"spec": {"restartPolicy": "OnFailure"}}})).unwrap();
        let mut errs = Vec::new();
        validate_job_policies(&s, "spec", &mut errs);
        never = errs.into_iter().map(|e| e.field).collect();
        assert_eq!(never, vec!["spec.template.spec.restartPolicy"]);
    }
}
