//! ReplicationController, ReplicaSet, Deployment, StatefulSet and DaemonSet validation.

use super::meta::*;
use super::names::*;
use super::pod::validate_pod_template;
use super::storage::validate_pvc_spec;
use super::{FieldError, FieldErrorKind};
use crate::model::{
    DaemonSet, Deployment, IntOrString, LabelSelector, PodTemplateSpec, ReplicaSet, ReplicationController,
    StatefulSet,
};

const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

/// A required, non-empty, valid selector that selects the template's labels.
pub fn validate_selector_and_template(
    selector: Option<&LabelSelector>,
    template: &PodTemplateSpec,
    what: &str,
    errs: &mut Vec<FieldError>,
) {
    match selector {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) if sel.is_empty() => {
            errs.push(FieldError::invalid("spec.selector", "", format!("empty selector is invalid for {what}")))
        }
        Some(sel) => {
            let before = errs.len();
            errs.extend(validate_label_selector(sel, "spec.selector"));
            if errs.len() == before && !sel.matches(&template.metadata.labels) {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    format_labels(&template.metadata.labels),
                    SELECTOR_MISMATCH,
                ));
            }
        }
    }
}

fn format_labels(l: &std::collections::BTreeMap<String, String>) -> String {
    l.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// A template for long-running pods: validated, and `restartPolicy` must be `Always`.
pub fn validate_always_template(t: &PodTemplateSpec, errs: &mut Vec<FieldError>) {
    errs.extend(validate_pod_template(t, "spec.template"));
    if let Some(rp) = t.spec.restart_policy.as_deref() {
        if rp != "Always" && super::pod::RESTART_POLICIES.contains(&rp) {
            errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", rp, &["Always"]));
        }
    }
}

/// `IntOrString` that is a non-negative int or a `NN%` percentage.
pub fn validate_positive_int_or_percent(v: &IntOrString, field: &str) -> Vec<FieldError> {
    match v {
        IntOrString::Int(i) => non_negative((*i).into(), field).into_iter().collect(),
        IntOrString::String(s) => match v.percent() {
            Some(Ok(p)) if p >= 0 && s.strip_suffix('%').is_some_and(|d| d.bytes().all(|c| c.is_ascii_digit())) => vec![],
            _ => vec![FieldError::invalid(field, s, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")],
        },
    }
}

fn is_more_than_100_percent(v: &IntOrString) -> bool {
    matches!(v.percent(), Some(Ok(p)) if p > 100)
}

fn is_zero(v: &IntOrString) -> bool {
    match v {
        IntOrString::Int(i) => *i == 0,
        IntOrString::String(_) => matches!(v.percent(), Some(Ok(0))),
    }
}

pub(crate) fn max_unavailable_rules(v: &IntOrString, field: &str, errs: &mut Vec<FieldError>) {
    let bad = validate_positive_int_or_percent(v, field);
    if bad.is_empty() && is_more_than_100_percent(v) {
        errs.push(FieldError::invalid(field, v, "must not be greater than 100%"));
    }
    errs.extend(bad);
}

pub fn validate_replication_controller(rc: &ReplicationController) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&rc.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &rc.spec;
    opt_non_negative(&mut errs, s.replicas, "spec.replicas");
    opt_non_negative(&mut errs, s.min_ready_seconds, "spec.minReadySeconds");
    if s.selector.is_empty() {
        errs.push(FieldError::required("spec.selector", ""));
    } else {
        errs.extend(validate_labels(&s.selector, "spec.selector"));
    }
    match &s.template {
        None => errs.push(FieldError::required("spec.template", "")),
        Some(t) => {
            if !s.selector.is_empty() && !LabelSelector::from_map(&s.selector).matches(&t.metadata.labels) {
                errs.push(FieldError::invalid(
                    "spec.template.metadata.labels",
                    format_labels(&t.metadata.labels),
                    SELECTOR_MISMATCH,
                ));
            }
            validate_always_template(t, &mut errs);
        }
    }
    errs
}

pub fn validate_replica_set(rs: &ReplicaSet) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&rs.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &rs.spec;
    opt_non_negative(&mut errs, s.replicas, "spec.replicas");
    opt_non_negative(&mut errs, s.min_ready_seconds, "spec.minReadySeconds");
    validate_selector_and_template(s.selector.as_ref(), &s.template, "replicaset", &mut errs);
    validate_always_template(&s.template, &mut errs);
    errs
}

pub fn validate_deployment(d: &Deployment) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&d.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &d.spec;
    opt_non_negative(&mut errs, s.replicas, "spec.replicas");
    validate_selector_and_template(s.selector.as_ref(), &s.template, "deployment", &mut errs);
    validate_always_template(&s.template, &mut errs);
    if let Some(st) = &s.strategy {
        match st.type_.as_deref() {
            None | Some("RollingUpdate") => {
                if let Some(ru) = &st.rolling_update {
                    let (mu, ms) = ("spec.strategy.rollingUpdate.maxUnavailable", "spec.strategy.rollingUpdate.maxSurge");
                    if let Some(v) = &ru.max_unavailable {
                        max_unavailable_rules(v, mu, &mut errs);
                    }
                    if let Some(v) = &ru.max_surge {
                        errs.extend(validate_positive_int_or_percent(v, ms));
                    }
                    if let (Some(u), Some(sg)) = (&ru.max_unavailable, &ru.max_surge) {
                        if is_zero(u) && is_zero(sg) {
                            errs.push(FieldError::invalid(mu, u, "may not be 0 when `maxSurge` is 0"));
                        }
                    }
                }
            }
            Some("Recreate") => {
                if st.rolling_update.is_some() {
                    errs.push(FieldError::new(
                        FieldErrorKind::Forbidden,
                        "spec.strategy.rollingUpdate",
                        "",
                        "may not be specified when strategy `type` is 'Recreate'",
                    ));
                }
            }
            Some(other) => {
                errs.push(FieldError::not_supported("spec.strategy.type", other, &["Recreate", "RollingUpdate"]))
            }
        }
    }
    opt_non_negative(&mut errs, s.min_ready_seconds, "spec.minReadySeconds");
    opt_non_negative(&mut errs, s.revision_history_limit, "spec.revisionHistoryLimit");
    if let Some(pd) = s.progress_deadline_seconds {
        if pd < 0 {
            errs.push(FieldError::invalid("spec.progressDeadlineSeconds", pd, IS_NEGATIVE_MSG));
        } else if pd <= s.min_ready_seconds.unwrap_or(0) {
            errs.push(FieldError::invalid(
                "spec.progressDeadlineSeconds",
                pd,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

pub fn validate_stateful_set(ss: &StatefulSet) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ss.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &ss.spec;
    opt_non_negative(&mut errs, s.replicas, "spec.replicas");
    validate_selector_and_template(s.selector.as_ref(), &s.template, "statefulset", &mut errs);
    // Each volumeClaimTemplate becomes a volume of every pod, so mounts may name it.
    let mut template = s.template.clone();
    for claim in &s.volume_claim_templates {
        if !template.spec.volumes.iter().any(|v| v.name == claim.metadata.name) {
            template.spec.volumes.push(crate::model::Volume {
                name: claim.metadata.name.clone(),
                persistent_volume_claim: Some(crate::model::PersistentVolumeClaimVolumeSource {
                    claim_name: claim.metadata.name.clone(),
                    read_only: None,
                }),
                ..Default::default()
            });
        }
    }
    validate_always_template(&template, &mut errs);
    if let Some(svc) = s.service_name.as_deref().filter(|n| !n.is_empty()) {
        errs.extend(invalid_each("spec.serviceName", svc, is_dns1123_label(svc)));
    }
    opt_supported(&mut errs, s.pod_management_policy.as_deref(), "spec.podManagementPolicy", &["OrderedReady", "Parallel"]);
    if let Some(us) = &s.update_strategy {
        match us.type_.as_deref() {
            None | Some("RollingUpdate") => {
                if let Some(ru) = &us.rolling_update {
                    opt_non_negative(&mut errs, ru.partition, "spec.updateStrategy.rollingUpdate.partition");
                    if let Some(mu) = &ru.max_unavailable {
                        let f = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                        max_unavailable_rules(mu, f, &mut errs);
                        if is_zero(mu) {
                            errs.push(FieldError::invalid(f, mu, "must be greater than 0"));
                        }
                    }
                }
            }
            Some("OnDelete") => {
                if us.rolling_update.is_some() {
                    errs.push(FieldError::new(
                        FieldErrorKind::Forbidden,
                        "spec.updateStrategy.rollingUpdate",
                        "",
                        "only allowed for updateStrategy 'RollingUpdate'",
                    ));
                }
            }
            Some(other) => errs.push(FieldError::not_supported("spec.updateStrategy.type", other, &["OnDelete", "RollingUpdate"])),
        }
    }
    opt_non_negative(&mut errs, s.revision_history_limit, "spec.revisionHistoryLimit");
    opt_non_negative(&mut errs, s.min_ready_seconds, "spec.minReadySeconds");
    if let Some(p) = &s.persistent_volume_claim_retention_policy {
        let allowed = &["Delete", "Retain"];
        opt_supported(&mut errs, p.when_deleted.as_deref(), "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", allowed);
        opt_supported(&mut errs, p.when_scaled.as_deref(), "spec.persistentVolumeClaimRetentionPolicy.whenScaled", allowed);
    }
    if let Some(o) = &s.ordinals {
        errs.extend(non_negative(o.start.into(), "spec.ordinals.start"));
    }
    for (i, pvc) in s.volume_claim_templates.iter().enumerate() {
        let p = format!("spec.volumeClaimTemplates[{i}]");
        if pvc.metadata.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.metadata.name"), ""));
        } else {
            errs.extend(invalid_each(&format!("{p}.metadata.name"), &pvc.metadata.name, is_dns1123_label(&pvc.metadata.name)));
        }
        errs.extend(validate_pvc_spec(&pvc.spec, &format!("{p}.spec")));
    }
    errs
}

pub fn validate_daemon_set(ds: &DaemonSet) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&ds.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &ds.spec;
    validate_selector_and_template(s.selector.as_ref(), &s.template, "daemonset", &mut errs);
    validate_always_template(&s.template, &mut errs);
    if let Some(us) = &s.update_strategy {
        match us.type_.as_deref() {
            None | Some("RollingUpdate") => {
                if let Some(ru) = &us.rolling_update {
                    let (mu, ms) = ("spec.updateStrategy.rollingUpdate.maxUnavailable", "spec.updateStrategy.rollingUpdate.maxSurge");
                    if let Some(v) = &ru.max_unavailable {
                        max_unavailable_rules(v, mu, &mut errs);
                    }
                    if let Some(v) = &ru.max_surge {
                        max_unavailable_rules(v, ms, &mut errs);
                    }
                    let zero = |v: &Option<IntOrString>| v.as_ref().is_some_and(is_zero);
                    if zero(&ru.max_unavailable) && (ru.max_surge.is_none() || zero(&ru.max_surge)) {
                        errs.push(FieldError::invalid(mu, 0, "cannot be 0 when maxSurge is 0"));
                    }
                }
            }
            Some("OnDelete") => {}
            Some(other) => errs.push(FieldError::not_supported("spec.updateStrategy.type", other, &["OnDelete", "RollingUpdate"])),
        }
    }
    opt_non_negative(&mut errs, s.min_ready_seconds, "spec.minReadySeconds");
    opt_non_negative(&mut errs, s.revision_history_limit, "spec.revisionHistoryLimit");
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use serde_json::json;

    fn pod_template() -> serde_json::Value {
        json!({
            "metadata": {"labels": {"app": "web", "tier": "fe"}},
            "spec": {"containers": [{"name": "web", "image": "hello:v1", "ports": [{"containerPort": 80}]}]}
        })
    }

    fn deployment() -> Deployment {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]},
                "template": pod_template(),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                "minReadySeconds": 5, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600
            }
        }))
        .unwrap()
    }

    fn only(errs: Vec<FieldError>, field: &str, kind: FieldErrorKind) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].field.as_str(), errs[0].kind), (field, kind), "{errs:#?}");
    }

    #[test]
    fn accepts_good_deployment() {
        assert_eq!(validate_deployment(&deployment()), vec![]);
    }

    #[test]
    fn deployment_replicas_non_negative() {
        let mut d = deployment();
        d.spec.replicas = Some(-1);
        only(validate_deployment(&d), "spec.replicas", FieldErrorKind::Invalid);
    }

    #[test]
    fn deployment_selector_required_non_empty_and_matching() {
        let mut d = deployment();
        d.spec.selector = None;
        only(validate_deployment(&d), "spec.selector", FieldErrorKind::Required);
        let mut d = deployment();
        d.spec.selector = Some(LabelSelector::default());
        only(validate_deployment(&d), "spec.selector", FieldErrorKind::Invalid);
        let mut d = deployment();
        d.spec.template.metadata.labels.insert("app".into(), "db".into());
        let errs = validate_deployment(&d);
        assert_eq!(errs[0].detail, SELECTOR_MISMATCH);
        only(errs, "spec.template.metadata.labels", FieldErrorKind::Invalid);
        let mut d = deployment();
        d.spec.selector.as_mut().unwrap().match_expressions[0].values.clear();
        only(validate_deployment(&d), "spec.selector.matchExpressions[0].values", FieldErrorKind::Required);
    }

    #[test]
    fn deployment_template_is_validated_with_prefix() {
        let mut d = deployment();
        d.spec.template.spec.containers[0].image = None;
        only(validate_deployment(&d), "spec.template.spec.containers[0].image", FieldErrorKind::Required);
        let mut d = deployment();
        d.spec.template.spec.restart_policy = Some("Never".into());
        only(validate_deployment(&d), "spec.template.spec.restartPolicy", FieldErrorKind::NotSupported);
    }

    #[test]
    fn deployment_strategy_rules() {
        let mut d = deployment();
        d.spec.strategy.as_mut().unwrap().type_ = Some("BlueGreen".into());
        only(validate_deployment(&d), "spec.strategy.type", FieldErrorKind::NotSupported);
        let mut d = deployment();
        d.spec.strategy.as_mut().unwrap().type_ = Some("Recreate".into());
        only(validate_deployment(&d), "spec.strategy.rollingUpdate", FieldErrorKind::Forbidden);
        let mut d = deployment();
        let ru = d.spec.strategy.as_mut().unwrap().rolling_update.as_mut().unwrap();
        ru.max_surge = Some(IntOrString::Int(0));
        ru.max_unavailable = Some("0%".into());
        only(validate_deployment(&d), "spec.strategy.rollingUpdate.maxUnavailable", FieldErrorKind::Invalid);
        let mut d = deployment();
        d.spec.strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().max_unavailable = Some("150%".into());
        only(validate_deployment(&d), "spec.strategy.rollingUpdate.maxUnavailable", FieldErrorKind::Invalid);
        let mut d = deployment();
        d.spec.strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().max_surge = Some(IntOrString::Int(-1));
        only(validate_deployment(&d), "spec.strategy.rollingUpdate.maxSurge", FieldErrorKind::Invalid);
        let mut d = deployment();
        d.spec.strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().max_surge = Some("lots".into());
        only(validate_deployment(&d), "spec.strategy.rollingUpdate.maxSurge", FieldErrorKind::Invalid);
    }

    #[test]
    fn deployment_history_and_deadlines() {
        let mut d = deployment();
        d.spec.revision_history_limit = Some(-2);
        only(validate_deployment(&d), "spec.revisionHistoryLimit", FieldErrorKind::Invalid);
        let mut d = deployment();
        d.spec.progress_deadline_seconds = Some(5);
        only(validate_deployment(&d), "spec.progressDeadlineSeconds", FieldErrorKind::Invalid);
    }

    fn replica_set() -> ReplicaSet {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": pod_template()}
        }))
        .unwrap()
    }

    #[test]
    fn replica_set_rules() {
        assert_eq!(validate_replica_set(&replica_set()), vec![]);
        let mut rs = replica_set();
        rs.spec.selector = Some(LabelSelector::default());
        only(validate_replica_set(&rs), "spec.selector", FieldErrorKind::Invalid);
        let mut rs = replica_set();
        rs.spec.replicas = Some(-5);
        only(validate_replica_set(&rs), "spec.replicas", FieldErrorKind::Invalid);
        let mut rs = replica_set();
        rs.spec.template.metadata.labels.clear();
        only(validate_replica_set(&rs), "spec.template.metadata.labels", FieldErrorKind::Invalid);
    }

    fn rc() -> ReplicationController {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"app": "web"}, "template": pod_template()}
        }))
        .unwrap()
    }

    #[test]
    fn replication_controller_rules() {
        assert_eq!(validate_replication_controller(&rc()), vec![]);
        let mut r = rc();
        r.spec.selector.insert("app".into(), "other".into());
        only(validate_replication_controller(&r), "spec.template.metadata.labels", FieldErrorKind::Invalid);
        let mut r = rc();
        r.spec.selector.clear();
        only(validate_replication_controller(&r), "spec.selector", FieldErrorKind::Required);
        let mut r = rc();
        r.spec.template = None;
        only(validate_replication_controller(&r), "spec.template", FieldErrorKind::Required);
    }

    fn sts() -> StatefulSet {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default"},
            "spec": {
                "serviceName": "db", "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": pod_template(),
                "podManagementPolicy": "Parallel",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"}
            }
        }))
        .unwrap()
    }

    #[test]
    fn stateful_set_rules() {
        assert_eq!(validate_stateful_set(&sts()), vec![]);
        let mut s = sts();
        s.spec.pod_management_policy = Some("Random".into());
        only(validate_stateful_set(&s), "spec.podManagementPolicy", FieldErrorKind::NotSupported);
        let mut s = sts();
        s.spec.update_strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().partition = Some(-1);
        only(validate_stateful_set(&s), "spec.updateStrategy.rollingUpdate.partition", FieldErrorKind::Invalid);
        let mut s = sts();
        s.spec.volume_claim_templates[0].spec.access_modes.clear();
        only(validate_stateful_set(&s), "spec.volumeClaimTemplates[0].spec.accessModes", FieldErrorKind::Required);
        let mut s = sts();
        s.spec.selector = None;
        only(validate_stateful_set(&s), "spec.selector", FieldErrorKind::Required);
        let mut s = sts();
        s.spec.persistent_volume_claim_retention_policy.as_mut().unwrap().when_deleted = Some("Keep".into());
        only(validate_stateful_set(&s), "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", FieldErrorKind::NotSupported);
    }

    fn ds() -> DaemonSet {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": pod_template(),
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
            }
        }))
        .unwrap()
    }

    #[test]
    fn daemon_set_rules() {
        assert_eq!(validate_daemon_set(&ds()), vec![]);
        let mut d = ds();
        d.spec.update_strategy.as_mut().unwrap().type_ = Some("Surge".into());
        only(validate_daemon_set(&d), "spec.updateStrategy.type", FieldErrorKind::NotSupported);
        let mut d = ds();
        d.spec.update_strategy.as_mut().unwrap().rolling_update.as_mut().unwrap().max_unavailable = Some(IntOrString::Int(0));
        only(validate_daemon_set(&d), "spec.updateStrategy.rollingUpdate.maxUnavailable", FieldErrorKind::Invalid);
        let mut d = ds();
        d.spec.selector = Some(LabelSelector::default());
        only(validate_daemon_set(&d), "spec.selector", FieldErrorKind::Invalid);
        let mut d = ds();
        d.spec.min_ready_seconds = Some(-1);
        only(validate_daemon_set(&d), "spec.minReadySeconds", FieldErrorKind::Invalid);
    }
}
