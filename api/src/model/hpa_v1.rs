//! autoscaling/v1 HorizontalPodAutoscaler: a view of the stored autoscaling/v2 objects
//! (same store keys), converted both ways as upstream's conversion does.
//!
//! v1 knows one metric, `targetCPUUtilizationPercentage`, which is a v2 `Resource` metric
//! on `cpu` with an `Utilization` target. What v1 cannot say travels in annotations, as
//! upstream keeps it: the other metrics (`autoscaling.alpha.kubernetes.io/metrics`), the
//! behavior (`…/behavior`), the status' metrics (`…/current-metrics`) and conditions
//! (`…/conditions`). Reading through v1 writes them; writing through v1 reads them back
//! into the v2 fields and drops them, so a read-modify-write through v1 keeps every v2
//! field. One difference from upstream: the two metrics annotations hold the metrics in
//! their autoscaling/v2 JSON form, where upstream writes the older autoscaling/v1
//! (v2beta1-shaped) `MetricSpec`; behavior and conditions are upstream's shapes.

use bincode::{Decode, Encode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::*;
use super::hpa::*;
use super::{KindInfo, ObjectMeta};

pub const HORIZONTAL_POD_AUTOSCALER_V1_INFO: KindInfo = KindInfo {
    group: "autoscaling",
    version: "v1",
    kind: "HorizontalPodAutoscaler",
    plural: "horizontalpodautoscalers",
    singular: "horizontalpodautoscaler",
    namespaced: true,
    short_names: &["hpa"],
    categories: &["all"],
    has_status: true,
    has_scale: false,
};

/// v2 metrics other than the CPU utilization target (JSON list of v2 `MetricSpec`).
pub const METRIC_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// The status' metrics (JSON list of v2 `MetricStatus`).
pub const METRIC_STATUSES_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// The status' conditions (JSON list of conditions).
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// The v2 behavior (JSON `HorizontalPodAutoscalerBehavior`).
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct HorizontalPodAutoscalerV1 {
    #[serde(rename = "apiVersion", skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: HorizontalPodAutoscalerSpecV1,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<HorizontalPodAutoscalerStatusV1>,
}

crate::impl_resource!(HorizontalPodAutoscalerV1, HORIZONTAL_POD_AUTOSCALER_V1_INFO);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HorizontalPodAutoscalerSpecV1 {
    pub scale_target_ref: CrossVersionObjectReferenceV1,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    pub max_replicas: i32,
    #[serde(rename = "targetCPUUtilizationPercentage", skip_serializing_if = "Option::is_none")]
    pub target_cpu_utilization_percentage: Option<i32>,
}

/// autoscaling/v1's `CrossVersionObjectReference` (the same fields as v2's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CrossVersionObjectReferenceV1 {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HorizontalPodAutoscalerStatusV1 {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<String>,
    pub current_replicas: i32,
    pub desired_replicas: i32,
    #[serde(rename = "currentCPUUtilizationPercentage", skip_serializing_if = "Option::is_none")]
    pub current_cpu_utilization_percentage: Option<i32>,
}

fn is_cpu_utilization(m: &MetricSpec) -> bool {
    m.type_ == "Resource"
        && m.resource.as_ref().is_some_and(|r| r.name == "cpu" && r.target.average_utilization.is_some())
}

fn cpu_utilization_metric(percent: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget { type_: "Utilization".into(), average_utilization: Some(percent), ..Default::default() },
        }),
        ..Default::default()
    }
}

fn put_json<T: Serialize>(meta: &mut ObjectMeta, key: &str, value: &T) {
    if let Ok(s) = serde_json::to_string(value) {
        meta.annotations.insert(key.to_string(), s);
    }
}

/// Takes an annotation out of `meta` and parses it; a value that does not parse is dropped,
/// as upstream drops it.
fn take_json<T: serde::de::DeserializeOwned>(meta: &mut ObjectMeta, key: &str) -> Option<T> {
    meta.annotations.remove(key).and_then(|s| serde_json::from_str(&s).ok())
}

impl From<HorizontalPodAutoscaler> for HorizontalPodAutoscalerV1 {
    fn from(h: HorizontalPodAutoscaler) -> Self {
        let mut metadata = h.metadata;
        let spec = h.spec;
        let target_cpu = spec
            .metrics
            .iter()
            .find(|m| is_cpu_utilization(m))
            .and_then(|m| m.resource.as_ref()?.target.average_utilization);
        let others: Vec<&MetricSpec> = spec.metrics.iter().filter(|m| !is_cpu_utilization(m)).collect();
        if !others.is_empty() {
            put_json(&mut metadata, METRIC_SPECS_ANNOTATION, &others);
        }
        if let Some(b) = &spec.behavior {
            put_json(&mut metadata, BEHAVIOR_ANNOTATION, b);
        }
        let status = h.status.map(|s| {
            if !s.current_metrics.is_empty() {
                put_json(&mut metadata, METRIC_STATUSES_ANNOTATION, &s.current_metrics);
            }
            if !s.conditions.is_empty() {
                put_json(&mut metadata, CONDITIONS_ANNOTATION, &s.conditions);
            }
            let current_cpu = s
                .current_metrics
                .iter()
                .filter(|m| m.type_ == "Resource")
                .filter_map(|m| m.resource.as_ref())
                .find(|r| r.name == "cpu")
                .and_then(|r| r.current.average_utilization);
            HorizontalPodAutoscalerStatusV1 {
                observed_generation: s.observed_generation,
                last_scale_time: s.last_scale_time,
                current_replicas: s.current_replicas,
                desired_replicas: s.desired_replicas,
                current_cpu_utilization_percentage: current_cpu,
            }
        });
        HorizontalPodAutoscalerV1 {
            api_version: HORIZONTAL_POD_AUTOSCALER_V1_INFO.api_version(),
            kind: "HorizontalPodAutoscaler".into(),
            metadata,
            spec: HorizontalPodAutoscalerSpecV1 {
                scale_target_ref: CrossVersionObjectReferenceV1 {
                    api_version: spec.scale_target_ref.api_version,
                    kind: spec.scale_target_ref.kind,
                    name: spec.scale_target_ref.name,
                },
                min_replicas: spec.min_replicas,
                max_replicas: spec.max_replicas,
                target_cpu_utilization_percentage: target_cpu,
            },
            status,
        }
    }
}

impl From<HorizontalPodAutoscalerV1> for HorizontalPodAutoscaler {
    fn from(h: HorizontalPodAutoscalerV1) -> Self {
        let mut metadata = h.metadata;
        // Upstream's order: the annotation's metrics, then the CPU target.
        let mut metrics: Vec<MetricSpec> = take_json(&mut metadata, METRIC_SPECS_ANNOTATION).unwrap_or_default();
        metrics.retain(|m| !is_cpu_utilization(m) || h.spec.target_cpu_utilization_percentage.is_none());
        if let Some(p) = h.spec.target_cpu_utilization_percentage {
            metrics.push(cpu_utilization_metric(p));
        }
        let behavior = take_json(&mut metadata, BEHAVIOR_ANNOTATION);
        let current: Option<Vec<MetricStatus>> = take_json(&mut metadata, METRIC_STATUSES_ANNOTATION);
        let conditions: Option<Vec<Condition>> = take_json(&mut metadata, CONDITIONS_ANNOTATION);
        let status = h.status.map(|s| {
            let current_metrics = current.unwrap_or_else(|| {
                s.current_cpu_utilization_percentage
                    .map(|p| {
                        vec![MetricStatus {
                            type_: "Resource".into(),
                            resource: Some(ResourceMetricStatus {
                                name: "cpu".into(),
                                current: MetricValueStatus { average_utilization: Some(p), ..Default::default() },
                            }),
                            ..Default::default()
                        }]
                    })
                    .unwrap_or_default()
            });
            HorizontalPodAutoscalerStatus {
                observed_generation: s.observed_generation,
                last_scale_time: s.last_scale_time,
                current_replicas: s.current_replicas,
                desired_replicas: s.desired_replicas,
                current_metrics,
                conditions: conditions.unwrap_or_default(),
            }
        });
        HorizontalPodAutoscaler {
            api_version: HORIZONTAL_POD_AUTOSCALER_INFO.api_version(),
            kind: "HorizontalPodAutoscaler".into(),
            metadata,
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: h.spec.scale_target_ref.api_version,
                    kind: h.spec.scale_target_ref.kind,
                    name: h.spec.scale_target_ref.name,
                },
                min_replicas: h.spec.min_replicas,
                max_replicas: h.spec.max_replicas,
                metrics,
                behavior,
            },
            status,
        }
    }
}

/// Stored as the v2 object it converts to, so both versions read and write the same keys.
impl Encode for HorizontalPodAutoscalerV1 {
    fn encode<E: bincode::enc::Encoder>(&self, encoder: &mut E) -> Result<(), bincode::error::EncodeError> {
        HorizontalPodAutoscaler::from(self.clone()).encode(encoder)
    }
}

impl<C> Decode<C> for HorizontalPodAutoscalerV1 {
    fn decode<D: bincode::de::Decoder<Context = C>>(decoder: &mut D) -> Result<Self, bincode::error::DecodeError> {
        HorizontalPodAutoscaler::decode(decoder).map(HorizontalPodAutoscalerV1::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};
    use serde_json::json;

    fn v2() -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}}
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}
            },
            "status": {
                "currentReplicas": 3, "desiredReplicas": 4,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 85}}}],
                "conditions": [{"type": "AbleToScale", "status": "True"}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn v1_reads_cpu_and_keeps_the_rest_in_annotations() {
        let v1: HorizontalPodAutoscalerV1 = decode(&encode(&v2()).unwrap()).unwrap();
        assert_eq!(v1.spec.target_cpu_utilization_percentage, Some(70));
        assert_eq!(v1.status.as_ref().unwrap().current_cpu_utilization_percentage, Some(85));
        let ann = &v1.metadata.annotations;
        assert_eq!(ann["team"], "a");
        let others: Vec<MetricSpec> = serde_json::from_str(&ann[METRIC_SPECS_ANNOTATION]).unwrap();
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].resource.as_ref().unwrap().name, "memory");
        assert!(ann.contains_key(BEHAVIOR_ANNOTATION));
        assert!(ann.contains_key(CONDITIONS_ANNOTATION));
        assert!(ann.contains_key(METRIC_STATUSES_ANNOTATION));
    }

    #[test]
    fn v1_written_back_restores_every_v2_field() {
        let v1 = HorizontalPodAutoscalerV1::from(v2());
        let back: HorizontalPodAutoscaler = decode(&encode(&v1).unwrap()).unwrap();
        let orig = v2();
        // Upstream's order puts the CPU target after the other metrics.
        assert_eq!(back.spec.metrics, vec![orig.spec.metrics[1].clone(), orig.spec.metrics[0].clone()]);
        assert_eq!(back.spec.behavior, orig.spec.behavior);
        assert_eq!(back.status, orig.status);
        assert_eq!(back.metadata.annotations, orig.metadata.annotations);
    }

    #[test]
    fn a_plain_v1_object_becomes_a_cpu_metric() {
        let v1: HorizontalPodAutoscalerV1 = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}
        }))
        .unwrap();
        let h = HorizontalPodAutoscaler::from(v1.clone());
        assert_eq!(h.spec.metrics, vec![cpu_utilization_metric(50)]);
        assert!(h.metadata.annotations.is_empty());
        assert_eq!(HorizontalPodAutoscalerV1::from(h).spec, v1.spec);
        // A changed CPU target through v1 wins over a stale one in the annotation.
        let mut v1 = HorizontalPodAutoscalerV1::from(v2());
        v1.spec.target_cpu_utilization_percentage = Some(40);
        let h = HorizontalPodAutoscaler::from(v1);
        let cpu: Vec<_> = h.spec.metrics.iter().filter(|m| is_cpu_utilization(m)).collect();
        assert_eq!(cpu.len(), 1);
        assert_eq!(cpu[0].resource.as_ref().unwrap().target.average_utilization, Some(40));
    }
}
