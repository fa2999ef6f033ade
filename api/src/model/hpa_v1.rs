//! autoscaling/v1 HorizontalPodAutoscaler: a view of the stored autoscaling/v2 objects
//! (same store keys), converted both ways as upstream's conversion does.
//!
//! v1 knows one metric, `targetCPUUtilizationPercentage`, which is a v2 `Resource` metric
//! on `cpu` with an `Utilization` target. What v1 cannot say travels in annotations, as
//! upstream keeps it: the other metrics (`autoscaling.alpha.kubernetes.io/metrics`), the
//! behavior (`…/behavior`), the status' metrics (`…/current-metrics`) and conditions
//! (`…/conditions`). Reading through v1 writes them; writing through v1 reads them back
//! into the v2 fields and drops them, so a read-modify-write through v1 keeps every v2
//! field. The annotations hold what upstream writes there: the metrics in autoscaling/v1's
//! own (v2beta1-shaped, never served) `MetricSpec`/`MetricStatus` JSON ([`annotation`]),
//! the behavior as v2's, the conditions as v1's `HorizontalPodAutoscalerCondition`. One
//! difference: the status' metrics annotation is left out when
//! `currentCPUUtilizationPercentage` alone says the same, so a v1 object round-trips.

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

/// The v2 status metrics that `currentCPUUtilizationPercentage` stands for.
fn cpu_utilization_status(percent: Option<i32>) -> Vec<MetricStatus> {
    percent
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
        let others: Vec<annotation::MetricSpec> =
            spec.metrics.iter().filter(|m| !is_cpu_utilization(m)).map(annotation::MetricSpec::from).collect();
        if !others.is_empty() {
            put_json(&mut metadata, METRIC_SPECS_ANNOTATION, &others);
        }
        if let Some(b) = &spec.behavior {
            put_json(&mut metadata, BEHAVIOR_ANNOTATION, b);
        }
        let status = h.status.map(|s| {
            let current_cpu = s
                .current_metrics
                .iter()
                .filter(|m| m.type_ == "Resource")
                .filter_map(|m| m.resource.as_ref())
                .find(|r| r.name == "cpu")
                .and_then(|r| r.current.average_utilization);
            // Upstream writes the annotation whenever there are current metrics; it is
            // left out here when `currentCPUUtilizationPercentage` alone says the same,
            // so that a v1 object round-trips unchanged.
            if !s.current_metrics.is_empty() && s.current_metrics != cpu_utilization_status(current_cpu) {
                let current: Vec<annotation::MetricStatus> = s.current_metrics.iter().map(annotation::MetricStatus::from).collect();
                put_json(&mut metadata, METRIC_STATUSES_ANNOTATION, &current);
            }
            if !s.conditions.is_empty() {
                put_json(&mut metadata, CONDITIONS_ANNOTATION, &s.conditions);
            }
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
        let mut metrics: Vec<MetricSpec> = take_json::<Vec<annotation::MetricSpec>>(&mut metadata, METRIC_SPECS_ANNOTATION)
            .unwrap_or_default()
            .into_iter()
            .map(MetricSpec::from)
            .collect();
        metrics.retain(|m| !is_cpu_utilization(m) || h.spec.target_cpu_utilization_percentage.is_none());
        if let Some(p) = h.spec.target_cpu_utilization_percentage {
            metrics.push(cpu_utilization_metric(p));
        }
        let behavior = take_json(&mut metadata, BEHAVIOR_ANNOTATION);
        let current: Option<Vec<MetricStatus>> = take_json::<Vec<annotation::MetricStatus>>(&mut metadata, METRIC_STATUSES_ANNOTATION)
            .map(|v| v.into_iter().map(MetricStatus::from).collect());
        let conditions: Option<Vec<Condition>> = take_json(&mut metadata, CONDITIONS_ANNOTATION);
        let status = h.status.map(|s| {
            let current_metrics = current.unwrap_or_else(|| cpu_utilization_status(s.current_cpu_utilization_percentage));
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

/// autoscaling/v1's metric types, which only ever appear in the annotations: the older
/// (v2beta1) shape, with the target's kind implied by which field is set.
pub mod annotation {
    use serde::{Deserialize, Serialize};

    use crate::model::hpa as v2;
    use crate::model::{LabelSelector, Quantity};

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct MetricSpec {
        #[serde(rename = "type")]
        pub type_: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub object: Option<ObjectMetricSource>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub pods: Option<PodsMetricSource>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub resource: Option<ResourceMetricSource>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub container_resource: Option<ContainerResourceMetricSource>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub external: Option<ExternalMetricSource>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ObjectMetricSource {
        pub target: v2::CrossVersionObjectReference,
        pub metric_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_value: Option<Quantity>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub average_value: Option<Quantity>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct PodsMetricSource {
        pub metric_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_average_value: Option<Quantity>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ResourceMetricSource {
        pub name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_average_utilization: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_average_value: Option<Quantity>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ContainerResourceMetricSource {
        pub name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_average_utilization: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_average_value: Option<Quantity>,
        pub container: String,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ExternalMetricSource {
        pub metric_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub metric_selector: Option<LabelSelector>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_value: Option<Quantity>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub target_average_value: Option<Quantity>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct MetricStatus {
        #[serde(rename = "type")]
        pub type_: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub object: Option<ObjectMetricStatus>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub pods: Option<PodsMetricStatus>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub resource: Option<ResourceMetricStatus>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub container_resource: Option<ContainerResourceMetricStatus>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub external: Option<ExternalMetricStatus>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ObjectMetricStatus {
        pub target: v2::CrossVersionObjectReference,
        pub metric_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_value: Option<Quantity>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub average_value: Option<Quantity>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct PodsMetricStatus {
        pub metric_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_average_value: Option<Quantity>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub selector: Option<LabelSelector>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ResourceMetricStatus {
        pub name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_average_utilization: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_average_value: Option<Quantity>,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ContainerResourceMetricStatus {
        pub name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_average_utilization: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_average_value: Option<Quantity>,
        pub container: String,
    }

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    pub struct ExternalMetricStatus {
        pub metric_name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub metric_selector: Option<LabelSelector>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_value: Option<Quantity>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current_average_value: Option<Quantity>,
    }

    fn identifier(name: &str, selector: &Option<LabelSelector>) -> v2::MetricIdentifier {
        v2::MetricIdentifier { name: name.to_string(), selector: selector.clone() }
    }

    /// A target from a value and an average value: `AverageValue` when the average is
    /// set, else `Value` (upstream's rule for Object and External metrics).
    fn value_target(value: &Option<Quantity>, average: &Option<Quantity>) -> v2::MetricTarget {
        v2::MetricTarget {
            type_: if average.is_some() { "AverageValue" } else { "Value" }.into(),
            value: value.clone(),
            average_value: average.clone(),
            average_utilization: None,
        }
    }

    /// A Resource target: `Utilization` when a percentage is set, else `AverageValue`.
    fn resource_target(utilization: Option<i32>, average: &Option<Quantity>) -> v2::MetricTarget {
        v2::MetricTarget {
            type_: if utilization.is_some() { "Utilization" } else { "AverageValue" }.into(),
            value: None,
            average_value: average.clone(),
            average_utilization: utilization,
        }
    }

    impl From<&v2::MetricSpec> for MetricSpec {
        fn from(m: &v2::MetricSpec) -> Self {
            MetricSpec {
                type_: m.type_.clone(),
                object: m.object.as_ref().map(|o| ObjectMetricSource {
                    target: o.described_object.clone(),
                    metric_name: o.metric.name.clone(),
                    target_value: o.target.value.clone(),
                    selector: o.metric.selector.clone(),
                    average_value: o.target.average_value.clone(),
                }),
                pods: m.pods.as_ref().map(|p| PodsMetricSource {
                    metric_name: p.metric.name.clone(),
                    target_average_value: p.target.average_value.clone(),
                    selector: p.metric.selector.clone(),
                }),
                resource: m.resource.as_ref().map(|r| ResourceMetricSource {
                    name: r.name.clone(),
                    target_average_utilization: r.target.average_utilization,
                    target_average_value: r.target.average_value.clone(),
                }),
                container_resource: m.container_resource.as_ref().map(|r| ContainerResourceMetricSource {
                    name: r.name.clone(),
                    target_average_utilization: r.target.average_utilization,
                    target_average_value: r.target.average_value.clone(),
                    container: r.container.clone(),
                }),
                external: m.external.as_ref().map(|e| ExternalMetricSource {
                    metric_name: e.metric.name.clone(),
                    metric_selector: e.metric.selector.clone(),
                    target_value: e.target.value.clone(),
                    target_average_value: e.target.average_value.clone(),
                }),
            }
        }
    }

    impl From<MetricSpec> for v2::MetricSpec {
        fn from(m: MetricSpec) -> Self {
            v2::MetricSpec {
                type_: m.type_,
                object: m.object.map(|o| v2::ObjectMetricSource {
                    described_object: o.target,
                    target: value_target(&o.target_value, &o.average_value),
                    metric: identifier(&o.metric_name, &o.selector),
                }),
                pods: m.pods.map(|p| v2::PodsMetricSource {
                    metric: identifier(&p.metric_name, &p.selector),
                    target: v2::MetricTarget {
                        type_: "AverageValue".into(),
                        average_value: p.target_average_value,
                        ..Default::default()
                    },
                }),
                resource: m.resource.map(|r| v2::ResourceMetricSource {
                    target: resource_target(r.target_average_utilization, &r.target_average_value),
                    name: r.name,
                }),
                container_resource: m.container_resource.map(|r| v2::ContainerResourceMetricSource {
                    target: resource_target(r.target_average_utilization, &r.target_average_value),
                    name: r.name,
                    container: r.container,
                }),
                external: m.external.map(|e| v2::ExternalMetricSource {
                    metric: identifier(&e.metric_name, &e.metric_selector),
                    target: value_target(&e.target_value, &e.target_average_value),
                }),
            }
        }
    }

    impl From<&v2::MetricStatus> for MetricStatus {
        fn from(m: &v2::MetricStatus) -> Self {
            MetricStatus {
                type_: m.type_.clone(),
                object: m.object.as_ref().map(|o| ObjectMetricStatus {
                    target: o.described_object.clone(),
                    metric_name: o.metric.name.clone(),
                    current_value: o.current.value.clone(),
                    selector: o.metric.selector.clone(),
                    average_value: o.current.average_value.clone(),
                }),
                pods: m.pods.as_ref().map(|p| PodsMetricStatus {
                    metric_name: p.metric.name.clone(),
                    current_average_value: p.current.average_value.clone(),
                    selector: p.metric.selector.clone(),
                }),
                resource: m.resource.as_ref().map(|r| ResourceMetricStatus {
                    name: r.name.clone(),
                    current_average_utilization: r.current.average_utilization,
                    current_average_value: r.current.average_value.clone(),
                }),
                container_resource: m.container_resource.as_ref().map(|r| ContainerResourceMetricStatus {
                    name: r.name.clone(),
                    current_average_utilization: r.current.average_utilization,
                    current_average_value: r.current.average_value.clone(),
                    container: r.container.clone(),
                }),
                external: m.external.as_ref().map(|e| ExternalMetricStatus {
                    metric_name: e.metric.name.clone(),
                    metric_selector: e.metric.selector.clone(),
                    current_value: e.current.value.clone(),
                    current_average_value: e.current.average_value.clone(),
                }),
            }
        }
    }

    impl From<MetricStatus> for v2::MetricStatus {
        fn from(m: MetricStatus) -> Self {
            let current = |value: Option<Quantity>, average_value: Option<Quantity>, average_utilization: Option<i32>| {
                v2::MetricValueStatus { value, average_value, average_utilization }
            };
            v2::MetricStatus {
                type_: m.type_,
                object: m.object.map(|o| v2::ObjectMetricStatus {
                    metric: identifier(&o.metric_name, &o.selector),
                    current: current(o.current_value, o.average_value, None),
                    described_object: o.target,
                }),
                pods: m.pods.map(|p| v2::PodsMetricStatus {
                    metric: identifier(&p.metric_name, &p.selector),
                    current: current(None, p.current_average_value, None),
                }),
                resource: m.resource.map(|r| v2::ResourceMetricStatus {
                    current: current(None, r.current_average_value, r.current_average_utilization),
                    name: r.name,
                }),
                container_resource: m.container_resource.map(|r| v2::ContainerResourceMetricStatus {
                    current: current(None, r.current_average_value, r.current_average_utilization),
                    name: r.name,
                    container: r.container,
                }),
                external: m.external.map(|e| v2::ExternalMetricStatus {
                    metric: identifier(&e.metric_name, &e.metric_selector),
                    current: current(e.current_value, e.current_average_value, None),
                }),
            }
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
        // Upstream's v1 shape: `targetAverageValue`, not a v2 `target`.
        let others: serde_json::Value = serde_json::from_str(&ann[METRIC_SPECS_ANNOTATION]).unwrap();
        assert_eq!(others, json!([{"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}}]));
        assert!(ann.contains_key(BEHAVIOR_ANNOTATION));
        assert!(ann.contains_key(CONDITIONS_ANNOTATION));
        // The status' only metric is what currentCPUUtilizationPercentage says.
        assert!(!ann.contains_key(METRIC_STATUSES_ANNOTATION));
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
    fn every_metric_kind_survives_the_v1_annotations() {
        let metrics: Vec<MetricSpec> = serde_json::from_value(json!([
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
            {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main"}, "metric": {"name": "hits"},
                                          "target": {"type": "Value", "value": "2k"}}},
            {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "a"}}},
                                              "target": {"type": "AverageValue", "averageValue": "30"}}},
            {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "app",
                                                                "target": {"type": "Utilization", "averageUtilization": 50}}}
        ]))
        .unwrap();
        let mut h = v2();
        h.spec.metrics = metrics.clone();
        let back = HorizontalPodAutoscaler::from(HorizontalPodAutoscalerV1::from(h));
        assert_eq!(back.spec.metrics, metrics);
        // A status annotation written by upstream reads back into v2.
        let v1: HorizontalPodAutoscalerV1 = serde_json::from_value(json!({
            "metadata": {"name": "web", "annotations": {METRIC_STATUSES_ANNOTATION:
                r#"[{"type":"Pods","pods":{"metricName":"qps","currentAverageValue":"7"}}]"#}},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
            "status": {"currentReplicas": 1, "desiredReplicas": 1}
        }))
        .unwrap();
        let h = HorizontalPodAutoscaler::from(v1);
        let s = h.status.unwrap();
        assert_eq!(s.current_metrics[0].pods.as_ref().unwrap().metric.name, "qps");
        assert_eq!(s.current_metrics[0].pods.as_ref().unwrap().current.average_value, Some("7".into()));
        assert!(h.metadata.annotations.is_empty());
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
