//! Upstream prints the internal form of an object, whatever version was asked for. Two
//! kinds shoal serves in a second shape are brought to the shape the printers read here:
//! events.k8s.io/v1 Events (to core/v1's field names) and autoscaling/v1
//! HorizontalPodAutoscalers (to v2's `metrics`, as upstream's conversion does with
//! `targetCPUUtilizationPercentage` and `currentCPUUtilizationPercentage`).

use std::borrow::Cow;

use api::model::KindInfo;
use serde_json::{json, Map, Value};

/// The object in the field layout the printers read.
pub fn for_printing<'a>(info: &KindInfo, v: &'a Value) -> Cow<'a, Value> {
    match (info.group, info.version, info.kind) {
        ("events.k8s.io", _, "Event") => Cow::Owned(event_from_events_v1(v)),
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => Cow::Owned(hpa_from_v1(v)),
        _ => Cow::Borrowed(v),
    }
}

/// events.k8s.io/v1 → core/v1 names: `regarding` → `involvedObject`, `note` →
/// `message`, `deprecated*` → the legacy fields, `reportingController` →
/// `reportingComponent`.
fn event_from_events_v1(v: &Value) -> Value {
    let mut out = Map::new();
    let renames = [
        ("regarding", "involvedObject"),
        ("note", "message"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("reportingController", "reportingComponent"),
    ];
    for (k, val) in v.as_object().into_iter().flatten() {
        let name = renames.iter().find(|(from, _)| from == k).map(|(_, to)| *to).unwrap_or(k.as_str());
        out.insert(name.to_string(), val.clone());
    }
    Value::Object(out)
}

/// autoscaling/v1 → the v2 metric layout: a CPU utilization target and its current value.
fn hpa_from_v1(v: &Value) -> Value {
    let mut out = v.clone();
    if let Some(target) = v.pointer("/spec/targetCPUUtilizationPercentage").filter(|t| !t.is_null()) {
        out["spec"]["metrics"] =
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]);
    }
    if let Some(current) = v.pointer("/status/currentCPUUtilizationPercentage").filter(|t| !t.is_null()) {
        out["status"]["currentMetrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{EVENT_V1_INFO, HorizontalPodAutoscaler, Resource};

    #[test]
    fn events_v1_fields_take_core_names() {
        let v = json!({"regarding": {"kind": "Pod", "name": "p"}, "note": "hi", "deprecatedCount": 3, "reason": "R"});
        let c = for_printing(&EVENT_V1_INFO, &v);
        assert_eq!(c["involvedObject"]["name"], "p");
        assert_eq!(c["message"], "hi");
        assert_eq!(c["count"], 3);
        assert_eq!(c["reason"], "R");
    }

    #[test]
    fn other_kinds_print_as_they_are() {
        let v = json!({"spec": {"metrics": []}});
        assert!(matches!(for_printing(HorizontalPodAutoscaler::INFO, &v), Cow::Borrowed(_)));
    }
}
