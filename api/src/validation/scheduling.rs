//! Validation of a pod spec's scheduling constraints beyond node affinity: pod affinity
//! and anti-affinity, topology spread constraints and scheduling gates, with upstream's
//! field paths and messages (`pkg/apis/core/validation`).

use std::collections::BTreeSet;

use super::meta::{invalid_each, validate_label_selector};
use super::names::{is_dns1123_label, is_qualified_name};
use super::{FieldError, FieldErrorKind};
use crate::model::{
    LabelSelector, PodAffinityTerm, PodSchedulingGate, PodSpec, TopologySpreadConstraint, WeightedPodAffinityTerm,
};

pub const DO_NOT_SCHEDULE: &str = "DoNotSchedule";
pub const SCHEDULE_ANYWAY: &str = "ScheduleAnyway";
pub const HONOR: &str = "Honor";
pub const IGNORE: &str = "Ignore";
const NOT_POSITIVE_MSG: &str = "must be greater than zero";

/// Everything of this module for one pod spec whose fields are under `path`.
pub fn validate_scheduling(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(a) = &spec.affinity {
        let ap = format!("{path}.affinity");
        if let Some(pa) = &a.pod_affinity {
            let p = format!("{ap}.podAffinity");
            terms(&pa.required_during_scheduling_ignored_during_execution, &pa.preferred_during_scheduling_ignored_during_execution, &p, &mut errs);
        }
        if let Some(pa) = &a.pod_anti_affinity {
            let p = format!("{ap}.podAntiAffinity");
            terms(&pa.required_during_scheduling_ignored_during_execution, &pa.preferred_during_scheduling_ignored_during_execution, &p, &mut errs);
        }
    }
    validate_topology_spread(&spec.topology_spread_constraints, &format!("{path}.topologySpreadConstraints"), &mut errs);
    validate_scheduling_gates(&spec.scheduling_gates, &format!("{path}.schedulingGates"), &mut errs);
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) && !spec.scheduling_gates.is_empty() {
        errs.push(FieldError::new(
            FieldErrorKind::Forbidden,
            format!("{path}.nodeName"),
            "",
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    errs
}

/// On update, scheduling gates may only be removed (`validateOnlyDeletedSchedulingGates`).
pub fn validate_scheduling_gates_update(old: &PodSpec, new: &PodSpec, path: &str) -> Vec<FieldError> {
    new.scheduling_gates
        .iter()
        .enumerate()
        .filter(|(_, g)| !old.scheduling_gates.iter().any(|o| o.name == g.name))
        .map(|(i, g)| {
            FieldError::new(
                FieldErrorKind::Forbidden,
                format!("{path}.schedulingGates[{i}].name"),
                "",
                format!("only deletion is allowed, but found new scheduling gate '{}'", g.name),
            )
        })
        .collect()
}

fn terms(required: &[PodAffinityTerm], preferred: &[WeightedPodAffinityTerm], path: &str, errs: &mut Vec<FieldError>) {
    for (i, t) in required.iter().enumerate() {
        validate_term(t, &format!("{path}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"), errs);
    }
    for (i, w) in preferred.iter().enumerate() {
        let p = format!("{path}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
        if !(1..=100).contains(&w.weight) {
            errs.push(FieldError::invalid(format!("{p}.weight"), w.weight, "must be in the range 1-100"));
        }
        validate_term(&w.pod_affinity_term, &format!("{p}.podAffinityTerm"), errs);
    }
}

/// One `PodAffinityTerm` (`validatePodAffinityTerm`).
fn validate_term(t: &PodAffinityTerm, path: &str, errs: &mut Vec<FieldError>) {
    if let Some(s) = &t.label_selector {
        errs.extend(validate_label_selector(s, &format!("{path}.labelSelector")));
    }
    if let Some(s) = &t.namespace_selector {
        errs.extend(validate_label_selector(s, &format!("{path}.namespaceSelector")));
    }
    for ns in &t.namespaces {
        // Upstream names the field `namespace` here.
        errs.extend(invalid_each(&format!("{path}.namespace"), ns, is_dns1123_label(ns)));
    }
    label_keys(&t.match_label_keys, t.label_selector.as_ref(), &format!("{path}.matchLabelKeys"), errs);
    label_keys(&t.mismatch_label_keys, t.label_selector.as_ref(), &format!("{path}.mismatchLabelKeys"), errs);
    if let Some(sel) = &t.label_selector {
        // A key of matchLabelKeys the selector already constrains (upstream reports it at
        // the term's path, indexed by the key's position).
        let mut seen: BTreeSet<&str> = sel.match_labels.keys().map(String::as_str).collect();
        for e in &sel.match_expressions {
            if let Some(i) = t.match_label_keys.iter().position(|k| *k == e.key) {
                if seen.contains(e.key.as_str()) {
                    errs.push(FieldError::invalid(format!("{path}[{i}]"), &e.key, "exists in both matchLabelKeys and labelSelector"));
                }
            }
            seen.insert(&e.key);
        }
    }
    for (i, k) in t.match_label_keys.iter().enumerate() {
        if t.mismatch_label_keys.contains(k) {
            errs.push(FieldError::invalid(
                format!("{path}.matchLabelKeys[{i}]"),
                k,
                "exists in both matchLabelKeys and mismatchLabelKeys",
            ));
        }
    }
    if t.topology_key.is_empty() {
        errs.push(FieldError::required(format!("{path}.topologyKey"), "can not be empty"));
    }
    errs.extend(invalid_each(&format!("{path}.topologyKey"), &t.topology_key, is_qualified_name(&t.topology_key)));
}

/// matchLabelKeys / mismatchLabelKeys: label names, only beside a labelSelector.
fn label_keys(keys: &[String], selector: Option<&LabelSelector>, path: &str, errs: &mut Vec<FieldError>) {
    if keys.is_empty() {
        return;
    }
    if selector.is_none() {
        errs.push(FieldError::new(FieldErrorKind::Forbidden, path, "", "must not be specified when labelSelector is not set"));
        return;
    }
    for (i, k) in keys.iter().enumerate() {
        errs.extend(invalid_each(&format!("{path}[{i}]"), k, is_qualified_name(k)));
    }
}

/// `validateTopologySpreadConstraints`.
fn validate_topology_spread(constraints: &[TopologySpreadConstraint], path: &str, errs: &mut Vec<FieldError>) {
    for (i, c) in constraints.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(format!("{p}.maxSkew"), c.max_skew, NOT_POSITIVE_MSG));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(format!("{p}.topologyKey"), "can not be empty"));
        }
        let actions = [DO_NOT_SCHEDULE, SCHEDULE_ANYWAY];
        if !actions.contains(&c.when_unsatisfiable.as_str()) {
            errs.push(FieldError::not_supported(format!("{p}.whenUnsatisfiable"), &c.when_unsatisfiable, &actions));
        }
        if let Some(dup) = constraints[i + 1..]
            .iter()
            .find(|o| o.topology_key == c.topology_key && o.when_unsatisfiable == c.when_unsatisfiable)
        {
            errs.push(FieldError::duplicate(
                format!("{p}.{{topologyKey, whenUnsatisfiable}}"),
                format!("{{{}, {}}}", dup.topology_key, dup.when_unsatisfiable),
            ));
        }
        if let Some(m) = c.min_domains {
            if m <= 0 {
                errs.push(FieldError::invalid(format!("{p}.minDomains"), m, NOT_POSITIVE_MSG));
            }
            if c.when_unsatisfiable != DO_NOT_SCHEDULE {
                errs.push(FieldError::invalid(
                    format!("{p}.minDomains"),
                    m,
                    format!("can only use minDomains if whenUnsatisfiable={DO_NOT_SCHEDULE}, not {}", c.when_unsatisfiable),
                ));
            }
        }
        for (field, v) in [("nodeAffinityPolicy", &c.node_affinity_policy), ("nodeTaintsPolicy", &c.node_taints_policy)] {
            if let Some(v) = v.as_deref().filter(|v| ![HONOR, IGNORE].contains(v)) {
                errs.push(FieldError::not_supported(format!("{p}.{field}"), v, &[HONOR, IGNORE]));
            }
        }
        if !c.match_label_keys.is_empty() {
            let mp = format!("{p}.matchLabelKeys");
            match &c.label_selector {
                None => errs.push(FieldError::new(
                    FieldErrorKind::Forbidden,
                    &mp,
                    "",
                    "must not be specified when labelSelector is not set",
                )),
                Some(sel) => {
                    for (j, k) in c.match_label_keys.iter().enumerate() {
                        errs.extend(invalid_each(&format!("{mp}[{j}]"), k, is_qualified_name(k)));
                        if sel.match_labels.contains_key(k) || sel.match_expressions.iter().any(|e| e.key == *k) {
                            errs.push(FieldError::invalid(format!("{mp}[{j}]"), k, "exists in both matchLabelKeys and labelSelector"));
                        }
                    }
                }
            }
        }
        if let Some(sel) = &c.label_selector {
            errs.extend(validate_label_selector(sel, &format!("{p}.labelSelector")));
        }
    }
}

/// Gate names are qualified names, each listed once.
fn validate_scheduling_gates(gates: &[PodSchedulingGate], path: &str, errs: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for (i, g) in gates.iter().enumerate() {
        let p = format!("{path}[{i}]");
        errs.extend(invalid_each(&p, &g.name, is_qualified_name(&g.name)));
        if !seen.insert(g.name.as_str()) {
            errs.push(FieldError::duplicate(&p, &g.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn spec(v: Value) -> PodSpec {
        let mut base = json!({"containers": [{"name": "c", "image": "i"}]});
        if let (Some(b), Some(extra)) = (base.as_object_mut(), v.as_object()) {
            b.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    fn errors(v: Value) -> Vec<String> {
        validate_scheduling(&spec(v), "spec").iter().map(ToString::to_string).collect()
    }

    fn anti(term: Value) -> Value {
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}})
    }

    fn preferred(weight: i32, term: Value) -> Value {
        json!({"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": weight, "podAffinityTerm": term}]}}})
    }

    fn spread(cs: Value) -> Value {
        json!({"topologySpreadConstraints": cs})
    }

    const REQ: &str = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]";

    #[test]
    fn pod_affinity_terms() {
        let app = json!({"matchLabels": {"app": "web"}});
        let cases: Vec<(&str, Value, Vec<String>)> = vec![
            ("valid", anti(json!({"labelSelector": app, "topologyKey": "kubernetes.io/hostname"})), vec![]),
            (
                "topologyKey required",
                anti(json!({"labelSelector": app, "topologyKey": ""})),
                vec![
                    format!("{REQ}.topologyKey: Required value: can not be empty"),
                    format!("{REQ}.topologyKey: Invalid value: name part must be non-empty"),
                ],
            ),
            (
                "topologyKey a qualified name",
                anti(json!({"labelSelector": app, "topologyKey": "a b"})),
                vec![format!("{REQ}.topologyKey: Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")],
            ),
            (
                "selector operators",
                anti(json!({"labelSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}, "topologyKey": "zone"})),
                vec![format!("{REQ}.labelSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'")],
            ),
            (
                "namespaces are names",
                anti(json!({"labelSelector": app, "namespaces": ["Bad"], "topologyKey": "zone"})),
                vec![format!("{REQ}.namespace: Invalid value: \"Bad\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")],
            ),
            (
                "matchLabelKeys needs a selector",
                anti(json!({"matchLabelKeys": ["app"], "topologyKey": "zone"})),
                vec![format!("{REQ}.matchLabelKeys: Forbidden: must not be specified when labelSelector is not set")],
            ),
            (
                "match and mismatch overlap",
                anti(json!({"labelSelector": app, "matchLabelKeys": ["v"], "mismatchLabelKeys": ["v"], "topologyKey": "zone"})),
                vec![format!("{REQ}.matchLabelKeys[0]: Invalid value: \"v\": exists in both matchLabelKeys and mismatchLabelKeys")],
            ),
            (
                "matchLabelKeys already in the selector",
                anti(json!({"labelSelector": {"matchLabels": {"v": "1"}, "matchExpressions": [{"key": "v", "operator": "Exists"}]},
                            "matchLabelKeys": ["v"], "topologyKey": "zone"})),
                vec![format!("{REQ}[0]: Invalid value: \"v\": exists in both matchLabelKeys and labelSelector")],
            ),
            (
                "weight 1-100",
                preferred(0, json!({"labelSelector": app, "topologyKey": "zone"})),
                vec!["spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: \"0\": must be in the range 1-100".into()],
            ),
            (
                "preferred term path",
                preferred(100, json!({"labelSelector": app})),
                vec![
                    "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey: Required value: can not be empty".into(),
                    "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey: Invalid value: name part must be non-empty".into(),
                ],
            ),
        ];
        for (name, v, want) in cases {
            assert_eq!(errors(v), want, "{name}");
        }
    }

    #[test]
    fn topology_spread_constraints() {
        let c = |extra: Value| {
            let mut base = json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                                  "labelSelector": {"matchLabels": {"app": "web"}}});
            if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            base
        };
        const P: &str = "spec.topologySpreadConstraints[0]";
        let cases: Vec<(&str, Value, Vec<String>)> = vec![
            ("valid", spread(json!([c(json!({"minDomains": 2, "nodeAffinityPolicy": "Honor", "nodeTaintsPolicy": "Ignore", "matchLabelKeys": ["pod-template-hash"]}))])), vec![]),
            ("maxSkew > 0", spread(json!([c(json!({"maxSkew": 0}))])), vec![format!("{P}.maxSkew: Invalid value: \"0\": must be greater than zero")]),
            ("topologyKey required", spread(json!([c(json!({"topologyKey": ""}))])), vec![format!("{P}.topologyKey: Required value: can not be empty")]),
            (
                "whenUnsatisfiable",
                spread(json!([c(json!({"whenUnsatisfiable": "Never"}))])),
                vec![format!("{P}.whenUnsatisfiable: Unsupported value: \"Never\": supported values: \"DoNotSchedule\", \"ScheduleAnyway\"")],
            ),
            (
                "duplicate pair",
                spread(json!([c(json!({})), c(json!({"maxSkew": 2}))])),
                vec![format!("{P}.{{topologyKey, whenUnsatisfiable}}: Duplicate value: \"{{zone, DoNotSchedule}}\"")],
            ),
            ("same key, other action", spread(json!([c(json!({})), c(json!({"whenUnsatisfiable": "ScheduleAnyway"}))])), vec![]),
            (
                "minDomains",
                spread(json!([c(json!({"minDomains": 0, "whenUnsatisfiable": "ScheduleAnyway"}))])),
                vec![
                    format!("{P}.minDomains: Invalid value: \"0\": must be greater than zero"),
                    format!("{P}.minDomains: Invalid value: \"0\": can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"),
                ],
            ),
            (
                "policies",
                spread(json!([c(json!({"nodeTaintsPolicy": "Maybe"}))])),
                vec![format!("{P}.nodeTaintsPolicy: Unsupported value: \"Maybe\": supported values: \"Honor\", \"Ignore\"")],
            ),
            (
                "matchLabelKeys in the selector",
                spread(json!([c(json!({"matchLabelKeys": ["app"]}))])),
                vec![format!("{P}.matchLabelKeys[0]: Invalid value: \"app\": exists in both matchLabelKeys and labelSelector")],
            ),
            (
                "matchLabelKeys without a selector",
                spread(json!([{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "matchLabelKeys": ["app"]}])),
                vec![format!("{P}.matchLabelKeys: Forbidden: must not be specified when labelSelector is not set")],
            ),
            (
                "selector checked",
                spread(json!([c(json!({"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Like"}]}}))])),
                vec![format!("{P}.labelSelector.matchExpressions[0].operator: Invalid value: \"Like\": not a valid selector operator")],
            ),
        ];
        for (name, v, want) in cases {
            assert_eq!(errors(v), want, "{name}");
        }
    }

    #[test]
    fn scheduling_gates() {
        let cases: Vec<(&str, Value, Vec<String>)> = vec![
            ("valid", json!({"schedulingGates": [{"name": "example.com/quota"}, {"name": "b"}]}), vec![]),
            ("qualified names", json!({"schedulingGates": [{"name": ""}]}), vec!["spec.schedulingGates[0]: Invalid value: name part must be non-empty".into()]),
            ("unique", json!({"schedulingGates": [{"name": "a"}, {"name": "a"}]}), vec!["spec.schedulingGates[1]: Duplicate value: \"a\"".into()]),
            (
                "not with nodeName",
                json!({"schedulingGates": [{"name": "a"}], "nodeName": "n1"}),
                vec!["spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared".into()],
            ),
        ];
        for (name, v, want) in cases {
            assert_eq!(errors(v), want, "{name}");
        }
        let old = spec(json!({"schedulingGates": [{"name": "a"}, {"name": "b"}]}));
        let removed = spec(json!({"schedulingGates": [{"name": "b"}]}));
        assert!(validate_scheduling_gates_update(&old, &removed, "spec").is_empty());
        let added = spec(json!({"schedulingGates": [{"name": "b"}, {"name": "c"}]}));
        let errs: Vec<String> = validate_scheduling_gates_update(&old, &added, "spec").iter().map(ToString::to_string).collect();
        assert_eq!(errs, vec!["spec.schedulingGates[1].name: Forbidden: only deletion is allowed, but found new scheduling gate 'c'"]);
    }
}
