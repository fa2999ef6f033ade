//! One metric of an HPA: its values gathered from the metrics registry and the target's
//! pods, turned into a replica proposal and the `currentMetrics` entry (upstream's
//! `computeReplicasForMetric` and `computeStatusFor*Metric`). A failure carries the
//! ScalingActive reason upstream gives its kind of metric.

use std::collections::BTreeMap;

use api::model::{
    ContainerResourceMetricStatus, CrossVersionObjectReference, LabelSelector, MetricIdentifier, MetricSpec, MetricStatus, MetricTarget,
    MetricValueStatus, ObjectMetricStatus, Pod, PodsMetricStatus, Quantity, ResourceMetricStatus,
};

use super::replicas::{Calculator, PodMetric, PodMetrics, PodView};
use crate::controllers::parse_time;
use crate::metrics::{CustomKey, MetricsRegistry};

/// What a metric proposes.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub replicas: i32,
    /// How the metric is named in events (`cpu resource utilization (percentage of request)`).
    pub name: String,
    pub status: MetricStatus,
}

/// Why a metric proposes nothing: the ScalingActive reason and the error.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFailure {
    pub reason: &'static str,
    pub message: String,
}

/// Everything a metric is computed from.
pub struct Inputs<'a> {
    pub calc: Calculator,
    pub namespace: &'a str,
    pub spec_replicas: i32,
    pub status_replicas: i32,
    pub pods: &'a [std::sync::Arc<Pod>],
    pub metrics: &'a MetricsRegistry,
}

/// The pod as the replica calculation sees it.
pub fn view(p: &Pod) -> PodView {
    let st = p.status.as_ref();
    let ready = st.and_then(|s| api::model::find_condition(&s.conditions, "Ready")).map(|c| (c.is_true(), parse_time(c.last_transition_time.as_deref())));
    PodView {
        name: p.metadata.name.clone(),
        phase: st.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()),
        deleting: p.metadata.is_deleting(),
        ready,
        start_time: parse_time(st.and_then(|s| s.start_time.as_deref())),
    }
}

fn milli(q: &Quantity) -> Option<i64> {
    q.parsed().ok().map(|p| p.milli_value().clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

fn quantity_of_milli(m: i64) -> Quantity {
    if m % 1000 == 0 {
        Quantity::new((m / 1000).to_string())
    } else {
        Quantity::new(format!("{m}m"))
    }
}

/// The pods' requests of `resource` (milli), summed over containers and native
/// sidecars, or over `container` alone (upstream's `calculatePodRequests`).
pub fn requests(pods: &[std::sync::Arc<Pod>], resource: &str, container: Option<&str>) -> Result<BTreeMap<String, i64>, String> {
    let mut out = BTreeMap::new();
    for p in pods {
        let sidecars = p.spec.init_containers.iter().filter(|c| c.restart_policy.as_deref() == Some("Always"));
        let mut sum = 0i64;
        for c in p.spec.containers.iter().chain(sidecars) {
            if container.is_some_and(|n| n != c.name) {
                continue;
            }
            match c.resources.as_ref().and_then(|r| r.requests.get(resource)).and_then(milli) {
                Some(v) => sum = sum.saturating_add(v),
                None => return Err(format!("missing request for {resource} in container {} of Pod {}", c.name, p.metadata.name)),
            }
        }
        out.insert(p.metadata.name.clone(), sum);
    }
    Ok(out)
}

/// The pods' usage of `resource` from their nodes' reports (one container's with
/// `container`; a pod whose report lacks it has no metric).
fn resource_metrics(i: &Inputs, resource: &str, container: Option<&str>) -> Result<PodMetrics, String> {
    let mut out = PodMetrics::new();
    for p in i.pods {
        let Some(s) = i.metrics.pod(i.namespace, &p.metadata.name) else { continue };
        if s.uid != p.metadata.uid && !s.uid.is_empty() {
            continue;
        }
        let usage = match container {
            Some(c) => match s.containers.iter().find(|u| u.name == c) {
                Some(u) => u.usage,
                None => continue,
            },
            None if s.containers.is_empty() => continue,
            None => s.total(),
        };
        let Some(value) = usage.milli_value(resource) else {
            return Err(format!("resource {resource:?} is not reported by nodes (only cpu and memory)"));
        };
        out.insert(p.metadata.name.clone(), PodMetric { value, timestamp: s.timestamp, window: s.window });
    }
    if out.is_empty() {
        return Err("no metrics returned from resource metrics API".into());
    }
    Ok(out)
}

/// The pods' values of a custom metric.
fn pods_metrics(i: &Inputs, id: &MetricIdentifier) -> Result<PodMetrics, String> {
    let mut out = PodMetrics::new();
    for p in i.pods {
        let key = CustomKey { namespace: Some(i.namespace.into()), resource: "pods".into(), name: p.metadata.name.clone(), metric: id.name.clone() };
        let Some(s) = i.metrics.custom(&key, id.selector.as_ref()) else { continue };
        let Some(value) = milli(&s.value) else { continue };
        out.insert(p.metadata.name.clone(), PodMetric { value, timestamp: s.timestamp, window: s.window.unwrap_or_default() });
    }
    if out.is_empty() {
        return Err("no metrics returned from custom metrics API".into());
    }
    Ok(out)
}

/// The plural of a described object's kind (`Service` → `services`).
pub fn resource_of(kind: &str) -> String {
    api::served_kinds().find(|k| k.kind == kind).map(|k| k.plural.to_string()).unwrap_or_else(|| format!("{}s", kind.to_lowercase()))
}

fn object_value(i: &Inputs, obj: &CrossVersionObjectReference, id: &MetricIdentifier) -> Result<i64, String> {
    let plural = resource_of(&obj.kind);
    let namespaced = api::served_kinds().find(|k| k.kind == obj.kind).is_none_or(|k| k.namespaced);
    let key = CustomKey { namespace: namespaced.then(|| i.namespace.to_string()), resource: plural.clone(), name: obj.name.clone(), metric: id.name.clone() };
    let s = i.metrics.custom(&key, id.selector.as_ref()).ok_or_else(|| format!("no metric {:?} for {plural}/{}", id.name, obj.name))?;
    milli(&s.value).ok_or_else(|| format!("metric value {:?} is not a quantity", s.value.0))
}

fn fail(reason: &'static str, message: String) -> MetricFailure {
    MetricFailure { reason, message }
}

fn target_milli(t: &MetricTarget, which: &str) -> Option<i64> {
    match which {
        "AverageValue" => t.average_value.as_ref().and_then(milli),
        _ => t.value.as_ref().and_then(milli),
    }
    .filter(|v| *v > 0)
}

/// The proposal of one metric.
pub fn compute(i: &Inputs, m: &MetricSpec) -> Result<Proposal, MetricFailure> {
    let views: Vec<PodView> = i.pods.iter().map(|p| view(p)).collect();
    match m.type_.as_str() {
        "Resource" | "ContainerResource" => {
            let (name, container, target, reason) = match (&m.resource, &m.container_resource) {
                (Some(r), _) if m.type_ == "Resource" => (r.name.clone(), None, &r.target, "FailedGetResourceMetric"),
                (_, Some(r)) => (r.name.clone(), Some(r.container.clone()), &r.target, "FailedGetContainerResourceMetric"),
                _ => return Err(fail("InvalidMetricSourceType", format!("metric of type {} has no source", m.type_))),
            };
            let c = container.as_deref();
            let status = |current: MetricValueStatus| match c {
                None => MetricStatus { type_: "Resource".into(), resource: Some(ResourceMetricStatus { name: name.clone(), current }), ..Default::default() },
                Some(c) => MetricStatus {
                    type_: "ContainerResource".into(),
                    container_resource: Some(ContainerResourceMetricStatus { name: name.clone(), container: c.into(), current }),
                    ..Default::default()
                },
            };
            let what = match c {
                None => format!("{name} resource"),
                Some(c) => format!("{name} container resource {c}"),
            };
            if let Some(target_pct) = target.average_utilization.filter(|_| target.type_ != "AverageValue") {
                let metrics = resource_metrics(i, &name, c).map_err(|e| fail(reason, format!("failed to get {name} utilization: unable to get metrics for resource {name}: {e}")))?;
                let requests = requests(i.pods, &name, c).map_err(|e| fail(reason, format!("failed to get {name} utilization: {e}")))?;
                let (replicas, util, raw) = i
                    .calc
                    .resource_replicas(i.spec_replicas, target_pct, &name, &views, metrics, &requests)
                    .map_err(|e| fail(reason, format!("failed to get {name} utilization: {e}")))?;
                let current = MetricValueStatus { average_utilization: Some(util), average_value: Some(quantity_of_milli(raw)), value: None };
                return Ok(Proposal { replicas, name: format!("{what} utilization (percentage of request)"), status: status(current) });
            }
            let Some(target_avg) = target_milli(target, "AverageValue") else {
                return Err(fail(reason, "invalid resource metric source: neither a utilization target nor a value target was set".into()));
            };
            let metrics = resource_metrics(i, &name, c).map_err(|e| fail(reason, format!("failed to get {name} usage: unable to get metrics for resource {name}: {e}")))?;
            let (replicas, usage) = i
                .calc
                .plain_replicas(i.spec_replicas, target_avg, &name, &views, metrics)
                .map_err(|e| fail(reason, format!("failed to get {name} usage: {e}")))?;
            let current = MetricValueStatus { average_value: Some(quantity_of_milli(usage)), ..Default::default() };
            Ok(Proposal { replicas, name: format!("{what}"), status: status(current) })
        }
        "Pods" => {
            let Some(pm) = &m.pods else { return Err(fail("InvalidMetricSourceType", "metric of type Pods has no source".into())) };
            let reason = "FailedGetPodsMetric";
            let Some(target) = target_milli(&pm.target, "AverageValue") else {
                return Err(fail(reason, "invalid pods metric source: an averageValue target must be set".into()));
            };
            let metrics = pods_metrics(i, &pm.metric).map_err(|e| fail(reason, format!("unable to get metric {}: {e}", pm.metric.name)))?;
            let (replicas, usage) = i
                .calc
                .plain_replicas(i.spec_replicas, target, "", &views, metrics)
                .map_err(|e| fail(reason, format!("failed to get pods metric value: {e}")))?;
            let status = MetricStatus {
                type_: "Pods".into(),
                pods: Some(PodsMetricStatus { metric: pm.metric.clone(), current: MetricValueStatus { average_value: Some(quantity_of_milli(usage)), ..Default::default() } }),
                ..Default::default()
            };
            Ok(Proposal { replicas, name: format!("pods metric {}", pm.metric.name), status })
        }
        "Object" => {
            let Some(o) = &m.object else { return Err(fail("InvalidMetricSourceType", "metric of type Object has no source".into())) };
            let reason = "FailedGetObjectMetric";
            let usage = object_value(i, &o.described_object, &o.metric).map_err(|e| fail(reason, format!("unable to get metric {}: {e}", o.metric.name)))?;
            let mk = |current: MetricValueStatus| MetricStatus {
                type_: "Object".into(),
                object: Some(ObjectMetricStatus { metric: o.metric.clone(), current, described_object: o.described_object.clone() }),
                ..Default::default()
            };
            let name = format!("{} metric {}", o.described_object.kind, o.metric.name);
            if o.target.type_ == "AverageValue" {
                let Some(t) = target_milli(&o.target, "AverageValue") else {
                    return Err(fail(reason, "invalid object metric source: an averageValue target must be positive".into()));
                };
                let (replicas, avg) = i.calc.per_pod_replicas(i.status_replicas, t, usage);
                return Ok(Proposal { replicas, name, status: mk(MetricValueStatus { average_value: Some(quantity_of_milli(avg)), ..Default::default() }) });
            }
            let Some(t) = target_milli(&o.target, "Value") else {
                return Err(fail(reason, "invalid object metric source: neither a value target nor an average value target was set".into()));
            };
            let replicas = i
                .calc
                .ratio_replicas(i.spec_replicas, usage as f64 / t as f64, &views)
                .map_err(|e| fail(reason, format!("failed to get object metric value: {e}")))?;
            Ok(Proposal { replicas, name, status: mk(MetricValueStatus { value: Some(quantity_of_milli(usage)), ..Default::default() }) })
        }
        "External" => Err(fail("FailedGetExternalMetric", "unable to get external metric: external.metrics.k8s.io is not served".into())),
        other => Err(fail("InvalidMetricSourceType", format!("unknown metric source type {other:?}"))),
    }
}

/// The metrics an HPA without any uses: CPU at 80% of requests (upstream's default).
pub fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
        type_: "Resource".into(),
        resource: Some(api::model::ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget { type_: "Utilization".into(), average_utilization: Some(80), ..Default::default() },
        }),
        ..Default::default()
    }]
}

/// The pods of `selector` in the namespace, from the cache.
pub fn selected_pods(pods: &[std::sync::Arc<Pod>], selector: &LabelSelector) -> Vec<std::sync::Arc<Pod>> {
    pods.iter().filter(|p| selector.matches(&p.metadata.labels)).cloned().collect()
}
