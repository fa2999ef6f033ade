//! HorizontalPodAutoscaler (autoscaling/v2) validation.

use super::meta::*;
use super::names::*;
use super::{FieldError, FieldErrorKind};
use crate::model::{HorizontalPodAutoscaler, HorizontalPodAutoscalerV1, HpaScalingRules, MetricIdentifier, MetricSpec, MetricTarget, Quantity};

pub const METRIC_TYPES: &[&str] = &["ContainerResource", "External", "Object", "Pods", "Resource"];
const TARGET_TYPES: &[&str] = &["AverageValue", "Utilization", "Value"];
const MAX_PERIOD_SECONDS: i32 = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;

/// autoscaling/v1 is validated as the v2 object it is stored as (upstream validates the
/// internal form, which v2 mirrors), so errors name v2's fields.
pub fn validate_horizontal_pod_autoscaler_v1(hpa: &HorizontalPodAutoscalerV1) -> Vec<FieldError> {
    validate_horizontal_pod_autoscaler(&HorizontalPodAutoscaler::from(hpa.clone()))
}

pub fn validate_horizontal_pod_autoscaler(hpa: &HorizontalPodAutoscaler) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&hpa.metadata, true, NameFormat::Dns1123Subdomain);
    let s = &hpa.spec;
    let r = &s.scale_target_ref;
    if r.kind.is_empty() {
        errs.push(FieldError::required("spec.scaleTargetRef.kind", ""));
    }
    if r.name.is_empty() {
        errs.push(FieldError::required("spec.scaleTargetRef.name", ""));
    } else {
        errs.extend(invalid_each("spec.scaleTargetRef.name", &r.name, is_dns1123_subdomain(&r.name)));
    }
    let min = s.min_replicas.unwrap_or(1);
    if let Some(m) = s.min_replicas.filter(|m| *m < 1) {
        errs.push(FieldError::invalid("spec.minReplicas", m, "must be greater than or equal to 1"));
    }
    if s.max_replicas < 1 {
        errs.push(FieldError::invalid("spec.maxReplicas", s.max_replicas, "must be greater than 0"));
    } else if s.max_replicas < min {
        errs.push(FieldError::invalid("spec.maxReplicas", s.max_replicas, "must be greater than or equal to `minReplicas`"));
    }
    for (i, m) in s.metrics.iter().enumerate() {
        validate_metric(m, &format!("spec.metrics[{i}]"), &mut errs);
    }
    if let Some(b) = &s.behavior {
        if let Some(up) = &b.scale_up {
            validate_rules(up, "spec.behavior.scaleUp", &mut errs);
        }
        if let Some(down) = &b.scale_down {
            validate_rules(down, "spec.behavior.scaleDown", &mut errs);
        }
    }
    errs
}

fn validate_metric(m: &MetricSpec, p: &str, errs: &mut Vec<FieldError>) {
    let set = [
        ("containerResource", m.container_resource.is_some()),
        ("external", m.external.is_some()),
        ("object", m.object.is_some()),
        ("pods", m.pods.is_some()),
        ("resource", m.resource.is_some()),
    ];
    let expected = match m.type_.as_str() {
        "ContainerResource" => "containerResource",
        "External" => "external",
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "" => {
            errs.push(FieldError::required(format!("{p}.type"), "must specify a metric source type"));
            return;
        }
        other => {
            errs.push(FieldError::not_supported(format!("{p}.type"), other, METRIC_TYPES));
            return;
        }
    };
    for (name, present) in set {
        if name == expected && !present {
            errs.push(FieldError::required(format!("{p}.{name}"), "must populate information for the given metric source"));
        } else if name != expected && present {
            errs.push(FieldError::new(
                FieldErrorKind::Forbidden,
                format!("{p}.{name}"),
                "",
                "must populate the given metric source only",
            ));
        }
    }
    if let Some(r) = &m.resource {
        if r.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.resource.name"), ""));
        }
        validate_target(&r.target, true, &format!("{p}.resource.target"), errs);
    }
    if let Some(r) = &m.container_resource {
        if r.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.containerResource.name"), ""));
        }
        if r.container.is_empty() {
            errs.push(FieldError::required(format!("{p}.containerResource.container"), ""));
        } else {
            errs.extend(invalid_each(&format!("{p}.containerResource.container"), &r.container, is_dns1123_label(&r.container)));
        }
        validate_target(&r.target, true, &format!("{p}.containerResource.target"), errs);
    }
    if let Some(pm) = &m.pods {
        validate_identifier(&pm.metric, &format!("{p}.pods.metric"), errs);
        validate_target(&pm.target, false, &format!("{p}.pods.target"), errs);
        if pm.target.type_ != "AverageValue" && !pm.target.type_.is_empty() {
            errs.push(FieldError::not_supported(format!("{p}.pods.target.type"), &pm.target.type_, &["AverageValue"]));
        }
    }
    if let Some(o) = &m.object {
        validate_identifier(&o.metric, &format!("{p}.object.metric"), errs);
        validate_target(&o.target, false, &format!("{p}.object.target"), errs);
        if o.described_object.kind.is_empty() {
            errs.push(FieldError::required(format!("{p}.object.describedObject.kind"), ""));
        }
        if o.described_object.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.object.describedObject.name"), ""));
        }
    }
    if let Some(e) = &m.external {
        validate_identifier(&e.metric, &format!("{p}.external.metric"), errs);
        validate_target(&e.target, false, &format!("{p}.external.target"), errs);
    }
}

fn validate_identifier(id: &MetricIdentifier, p: &str, errs: &mut Vec<FieldError>) {
    if id.name.is_empty() {
        errs.push(FieldError::required(format!("{p}.name"), "must specify a metric name"));
    }
    if let Some(sel) = &id.selector {
        errs.extend(validate_label_selector(sel, &format!("{p}.selector")));
    }
}

fn positive_quantity(q: &Quantity, field: &str, errs: &mut Vec<FieldError>) {
    match q.parsed() {
        Err(e) => errs.push(FieldError::invalid(field, q, e)),
        Ok(v) if v.nanos <= 0 => errs.push(FieldError::invalid(field, q, "must be positive")),
        Ok(_) => {}
    }
}

fn validate_target(t: &MetricTarget, utilization_allowed: bool, p: &str, errs: &mut Vec<FieldError>) {
    match t.type_.as_str() {
        "" => errs.push(FieldError::required(format!("{p}.type"), "must specify a metric target type")),
        "Utilization" if !utilization_allowed => {
            errs.push(FieldError::not_supported(format!("{p}.type"), &t.type_, &["AverageValue", "Value"]))
        }
        "Utilization" => {
            if t.average_utilization.is_none() {
                errs.push(FieldError::required(format!("{p}.averageUtilization"), "must set `averageUtilization` when type is Utilization"));
            }
        }
        "Value" => {
            if t.value.is_none() {
                errs.push(FieldError::required(format!("{p}.value"), "must set `value` when type is Value"));
            }
        }
        "AverageValue" => {
            if t.average_value.is_none() {
                errs.push(FieldError::required(format!("{p}.averageValue"), "must set `averageValue` when type is AverageValue"));
            }
        }
        other => errs.push(FieldError::not_supported(format!("{p}.type"), other, TARGET_TYPES)),
    }
    if let Some(u) = t.average_utilization.filter(|u| *u <= 0) {
        errs.push(FieldError::invalid(format!("{p}.averageUtilization"), u, "must be greater than 0"));
    }
    if let Some(v) = &t.value {
        positive_quantity(v, &format!("{p}.value"), errs);
    }
    if let Some(v) = &t.average_value {
        positive_quantity(v, &format!("{p}.averageValue"), errs);
    }
}

fn validate_rules(r: &HpaScalingRules, p: &str, errs: &mut Vec<FieldError>) {
    if let Some(w) = r.stabilization_window_seconds {
        if !(0..=MAX_STABILIZATION_WINDOW_SECONDS).contains(&w) {
            errs.push(FieldError::invalid(
                format!("{p}.stabilizationWindowSeconds"),
                w,
                format!("must be between 0 and {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    opt_supported(errs, r.select_policy.as_deref(), &format!("{p}.selectPolicy"), &["Disabled", "Max", "Min"]);
    for (i, pol) in r.policies.iter().enumerate() {
        let pp = format!("{p}.policies[{i}]");
        if pol.type_ != "Pods" && pol.type_ != "Percent" {
            errs.push(FieldError::not_supported(format!("{pp}.type"), &pol.type_, &["Percent", "Pods"]));
        }
        if pol.value <= 0 {
            errs.push(FieldError::invalid(format!("{pp}.value"), pol.value, "must be greater than zero"));
        }
        if !(1..=MAX_PERIOD_SECONDS).contains(&pol.period_seconds) {
            errs.push(FieldError::invalid(
                format!("{pp}.periodSeconds"),
                pol.period_seconds,
                format!("must be between 1 and {MAX_PERIOD_SECONDS}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hpa() -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
                    {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "100"}}}
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}
            }
        }))
        .unwrap()
    }

    fn only(errs: Vec<FieldError>, field: &str, kind: FieldErrorKind) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].field.as_str(), errs[0].kind), (field, kind));
    }

    #[test]
    fn accepts_good_hpa() {
        assert_eq!(validate_horizontal_pod_autoscaler(&hpa()), vec![]);
    }

    #[test]
    fn target_ref_required() {
        let mut h = hpa();
        h.spec.scale_target_ref.kind.clear();
        only(validate_horizontal_pod_autoscaler(&h), "spec.scaleTargetRef.kind", FieldErrorKind::Required);
        let mut h = hpa();
        h.spec.scale_target_ref.name.clear();
        only(validate_horizontal_pod_autoscaler(&h), "spec.scaleTargetRef.name", FieldErrorKind::Required);
    }

    #[test]
    fn replica_bounds() {
        let mut h = hpa();
        h.spec.min_replicas = Some(0);
        only(validate_horizontal_pod_autoscaler(&h), "spec.minReplicas", FieldErrorKind::Invalid);
        let mut h = hpa();
        h.spec.max_replicas = 1;
        only(validate_horizontal_pod_autoscaler(&h), "spec.maxReplicas", FieldErrorKind::Invalid);
    }

    #[test]
    fn metric_types_and_targets() {
        let mut h = hpa();
        h.spec.metrics[0].type_ = "Magic".into();
        only(validate_horizontal_pod_autoscaler(&h), "spec.metrics[0].type", FieldErrorKind::NotSupported);
        let mut h = hpa();
        h.spec.metrics[0].type_ = "External".into();
        let errs = validate_horizontal_pod_autoscaler(&h);
        assert!(errs.iter().any(|e| e.field == "spec.metrics[0].external" && e.kind == FieldErrorKind::Required));
        assert!(errs.iter().any(|e| e.field == "spec.metrics[0].resource" && e.kind == FieldErrorKind::Forbidden));
        let mut h = hpa();
        h.spec.metrics[0].resource.as_mut().unwrap().target.average_utilization = None;
        only(validate_horizontal_pod_autoscaler(&h), "spec.metrics[0].resource.target.averageUtilization", FieldErrorKind::Required);
        let mut h = hpa();
        h.spec.metrics[1].pods.as_mut().unwrap().target.average_value = Some(Quantity::from("-3"));
        only(validate_horizontal_pod_autoscaler(&h), "spec.metrics[1].pods.target.averageValue", FieldErrorKind::Invalid);
    }

    #[test]
    fn behavior_policies() {
        let mut h = hpa();
        h.spec.behavior.as_mut().unwrap().scale_down.as_mut().unwrap().policies[0].period_seconds = 0;
        only(validate_horizontal_pod_autoscaler(&h), "spec.behavior.scaleDown.policies[0].periodSeconds", FieldErrorKind::Invalid);
    }
}
