//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), as
//! client-go's typed clients (and so kubectl's `create`, `run`, ...) send them.
//!
//! The envelope is the 4 magic bytes `k8s\0` and a `runtime.Unknown` message whose
//! `typeMeta` names the object and whose `raw` holds the object's own message. The object
//! is decoded with the k8s-pb structs and converted to the JSON that Kubernetes' JSON
//! encoding would give (camelCase names, unset optionals and empty lists left out), so
//! the rest of the request goes the way a JSON body does. Fields this conversion does
//! not know are dropped.
//!
//! Go's protobuf encoding writes every non-pointer scalar, zero or not, so a zero value
//! of a field that is a value (not a pointer) in Go is left out, as `omitempty` does in
//! JSON; a pointer field is kept whenever it is present.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat};
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::autoscaling::v1 as autoscaling_v1;
use k8s_pb::api::autoscaling::v2 as autoscaling_v2;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::policy::v1 as policy;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The 4 bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// Whether a (parameter-less, lower-case) media type is Kubernetes protobuf.
pub fn is_protobuf(media: &str) -> bool {
    media.contains("protobuf")
}

/// Decodes a Kubernetes protobuf body into the JSON value of its object, with
/// `apiVersion` and `kind` from the envelope. A kind this server cannot read from
/// protobuf is a 415 naming it; a body that is not an envelope is a 400.
pub fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| ApiError::bad_request("the protobuf body does not start with the Kubernetes magic bytes \"k8s\\x00\""))?;
    let unknown = Unknown::decode(rest).map_err(|e| ApiError::bad_request(format!("error decoding protobuf envelope: {e}")))?;
    let encoding = unknown.content_encoding.as_deref().unwrap_or("");
    if !encoding.is_empty() {
        return Err(ApiError::new(415, "UnsupportedMediaType", format!("protobuf content encoding {encoding:?} is not supported")));
    }
    let tm = unknown.type_meta.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let raw = raw.as_slice();
    let bad = |e: prost::DecodeError| ApiError::bad_request(format!("error decoding protobuf {kind} ({api_version}): {e}"));
    let body = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => namespace(&core::Namespace::decode(raw).map_err(bad)?),
        ("v1", "Pod") => pod(&core::Pod::decode(raw).map_err(bad)?),
        ("v1", "Service") => service(&core::Service::decode(raw).map_err(bad)?),
        ("v1", "ConfigMap") => config_map(&core::ConfigMap::decode(raw).map_err(bad)?),
        ("v1", "Secret") => secret(&core::Secret::decode(raw).map_err(bad)?),
        ("v1", "ServiceAccount") => service_account(&core::ServiceAccount::decode(raw).map_err(bad)?),
        ("apps/v1", "Deployment") => deployment(&apps::Deployment::decode(raw).map_err(bad)?),
        ("autoscaling/v2", "HorizontalPodAutoscaler") => hpa_v2(&autoscaling_v2::HorizontalPodAutoscaler::decode(raw).map_err(bad)?),
        ("autoscaling/v1", "HorizontalPodAutoscaler") => hpa_v1(&autoscaling_v1::HorizontalPodAutoscaler::decode(raw).map_err(bad)?),
        ("batch/v1", "Job") => job(&batch::Job::decode(raw).map_err(bad)?),
        ("batch/v1", "CronJob") => cron_job(&batch::CronJob::decode(raw).map_err(bad)?),
        ("policy/v1", "Eviction") => eviction(&policy::Eviction::decode(raw).map_err(bad)?),
        ("policy/v1", "PodDisruptionBudget") => pod_disruption_budget(&policy::PodDisruptionBudget::decode(raw).map_err(bad)?),
        (_, "DeleteOptions") => delete_options(&meta::DeleteOptions::decode(raw).map_err(bad)?),
        _ => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the server cannot decode {kind:?} (apiVersion {api_version:?}) from application/vnd.kubernetes.protobuf; send it as application/json"
                ),
            ))
        }
    };
    let mut out = Map::new();
    out.insert("apiVersion".into(), Value::String(api_version));
    out.insert("kind".into(), Value::String(kind));
    if let Value::Object(fields) = body {
        out.extend(fields);
    }
    Ok(Value::Object(out))
}

/// A JSON object under construction.
#[derive(Default)]
struct Obj(Map<String, Value>);

/// A value whose zero is "unset" for a Go value field.
trait Zero {
    fn is_zero(&self) -> bool;
}
impl Zero for String {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}
impl Zero for i32 {
    fn is_zero(&self) -> bool {
        *self == 0
    }
}
impl Zero for i64 {
    fn is_zero(&self) -> bool {
        *self == 0
    }
}
impl Zero for bool {
    fn is_zero(&self) -> bool {
        !*self
    }
}

impl Obj {
    fn new() -> Self {
        Obj::default()
    }
    /// A Go pointer field: kept whenever present.
    fn opt<T: Clone + Into<Value>>(mut self, key: &str, v: &Option<T>) -> Self {
        if let Some(v) = v {
            self.0.insert(key.into(), v.clone().into());
        }
        self
    }
    /// A Go value field: kept when present and not its zero value.
    fn nz<T: Clone + Into<Value> + Zero>(mut self, key: &str, v: &Option<T>) -> Self {
        if let Some(v) = v {
            if !v.is_zero() {
                self.0.insert(key.into(), v.clone().into());
            }
        }
        self
    }
    fn strs(mut self, key: &str, v: &[String]) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), Value::Array(v.iter().cloned().map(Value::String).collect()));
        }
        self
    }
    fn smap(mut self, key: &str, v: &BTreeMap<String, String>) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), Value::Object(v.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()));
        }
        self
    }
    fn quantities(mut self, key: &str, v: &BTreeMap<String, Quantity>) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), Value::Object(v.iter().map(|(k, q)| (k.clone(), quantity(q))).collect()));
        }
        self
    }
    /// A nested message, kept when present.
    fn msg<T>(mut self, key: &str, v: &Option<T>, f: impl Fn(&T) -> Value) -> Self {
        if let Some(v) = v {
            self.0.insert(key.into(), f(v));
        }
        self
    }
    /// A repeated message, kept when not empty.
    fn list<T>(mut self, key: &str, v: &[T], f: impl Fn(&T) -> Value) -> Self {
        if !v.is_empty() {
            self.0.insert(key.into(), Value::Array(v.iter().map(f).collect()));
        }
        self
    }
    /// A value computed by the caller, kept when `Some`.
    fn val(mut self, key: &str, v: Option<Value>) -> Self {
        if let Some(v) = v {
            self.0.insert(key.into(), v);
        }
        self
    }
    /// The fields of an embedded (inlined) message.
    fn inline(mut self, v: Value) -> Self {
        if let Value::Object(m) = v {
            self.0.extend(m);
        }
        self
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

// ---- apimachinery ----

fn quantity(q: &Quantity) -> Value {
    Value::String(q.string.clone().unwrap_or_default())
}

fn int_or_string(v: &IntOrString) -> Value {
    if v.r#type.unwrap_or(0) == 1 {
        Value::String(v.str_val.clone().unwrap_or_default())
    } else {
        Value::from(v.int_val.unwrap_or(0))
    }
}

/// An IntOrString value field: its zero (int 0 or empty string) is left out.
fn int_or_string_nz(v: &Option<IntOrString>) -> Option<Value> {
    let v = int_or_string(v.as_ref()?);
    match &v {
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_i64() == Some(0) => None,
        _ => Some(v),
    }
}

fn timestamp(seconds: Option<i64>, nanos: Option<i32>, format: SecondsFormat) -> Option<Value> {
    let seconds = seconds.unwrap_or(0);
    let nanos = nanos.unwrap_or(0);
    if seconds == 0 && nanos == 0 {
        // Go's zero time, which Kubernetes' JSON writes as null.
        return None;
    }
    let t = DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0))?;
    Some(Value::String(t.to_rfc3339_opts(format, true)))
}

fn time(t: &meta::Time) -> Option<Value> {
    timestamp(t.seconds, t.nanos, SecondsFormat::Secs)
}

#[allow(dead_code)]
fn micro_time(t: &meta::MicroTime) -> Option<Value> {
    timestamp(t.seconds, t.nanos, SecondsFormat::Micros)
}

fn object_meta(m: &meta::ObjectMeta) -> Value {
    Obj::new()
        .nz("name", &m.name)
        .nz("generateName", &m.generate_name)
        .nz("namespace", &m.namespace)
        .nz("uid", &m.uid)
        .nz("resourceVersion", &m.resource_version)
        .nz("generation", &m.generation)
        .val("creationTimestamp", m.creation_timestamp.as_ref().and_then(time))
        .val("deletionTimestamp", m.deletion_timestamp.as_ref().and_then(time))
        .opt("deletionGracePeriodSeconds", &m.deletion_grace_period_seconds)
        .smap("labels", &m.labels)
        .smap("annotations", &m.annotations)
        .list("ownerReferences", &m.owner_references, owner_reference)
        .strs("finalizers", &m.finalizers)
        .done()
}

fn owner_reference(o: &meta::OwnerReference) -> Value {
    Obj::new()
        .nz("apiVersion", &o.api_version)
        .nz("kind", &o.kind)
        .nz("name", &o.name)
        .nz("uid", &o.uid)
        .opt("controller", &o.controller)
        .opt("blockOwnerDeletion", &o.block_owner_deletion)
        .done()
}

fn label_selector(s: &meta::LabelSelector) -> Value {
    Obj::new()
        .smap("matchLabels", &s.match_labels)
        .list("matchExpressions", &s.match_expressions, |r| {
            Obj::new().nz("key", &r.key).nz("operator", &r.operator).strs("values", &r.values).done()
        })
        .done()
}

fn delete_options(d: &meta::DeleteOptions) -> Value {
    Obj::new()
        .opt("gracePeriodSeconds", &d.grace_period_seconds)
        .msg("preconditions", &d.preconditions, |p| Obj::new().opt("uid", &p.uid).opt("resourceVersion", &p.resource_version).done())
        .opt("orphanDependents", &d.orphan_dependents)
        .opt("propagationPolicy", &d.propagation_policy)
        .strs("dryRun", &d.dry_run)
        .done()
}

// ---- core/v1 ----

fn namespace(n: &core::Namespace) -> Value {
    Obj::new()
        .msg("metadata", &n.metadata, object_meta)
        .msg("spec", &n.spec, |s| Obj::new().strs("finalizers", &s.finalizers).done())
        .done()
}

/// `[]byte` values: base64 in JSON.
fn byte_map(m: &BTreeMap<String, Vec<u8>>) -> Option<Value> {
    use base64::Engine;
    (!m.is_empty()).then(|| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(base64::engine::general_purpose::STANDARD.encode(v))))
                .collect(),
        )
    })
}

fn config_map(c: &core::ConfigMap) -> Value {
    Obj::new()
        .msg("metadata", &c.metadata, object_meta)
        .opt("immutable", &c.immutable)
        .smap("data", &c.data)
        .val("binaryData", byte_map(&c.binary_data))
        .done()
}

fn secret(s: &core::Secret) -> Value {
    Obj::new()
        .msg("metadata", &s.metadata, object_meta)
        .opt("immutable", &s.immutable)
        .val("data", byte_map(&s.data))
        .smap("stringData", &s.string_data)
        .nz("type", &s.r#type)
        .done()
}

fn object_reference(o: &core::ObjectReference) -> Value {
    Obj::new()
        .nz("kind", &o.kind)
        .nz("namespace", &o.namespace)
        .nz("name", &o.name)
        .nz("uid", &o.uid)
        .nz("apiVersion", &o.api_version)
        .nz("resourceVersion", &o.resource_version)
        .nz("fieldPath", &o.field_path)
        .done()
}

fn service_account(sa: &core::ServiceAccount) -> Value {
    Obj::new()
        .msg("metadata", &sa.metadata, object_meta)
        .list("secrets", &sa.secrets, object_reference)
        .list("imagePullSecrets", &sa.image_pull_secrets, |r| Obj::new().nz("name", &r.name).done())
        .opt("automountServiceAccountToken", &sa.automount_service_account_token)
        .done()
}

fn pod(p: &core::Pod) -> Value {
    Obj::new().msg("metadata", &p.metadata, object_meta).msg("spec", &p.spec, pod_spec).done()
}

fn pod_template(t: &core::PodTemplateSpec) -> Value {
    Obj::new().msg("metadata", &t.metadata, object_meta).msg("spec", &t.spec, pod_spec).done()
}

fn pod_spec(s: &core::PodSpec) -> Value {
    Obj::new()
        .list("volumes", &s.volumes, volume)
        .list("initContainers", &s.init_containers, container)
        .list("containers", &s.containers, container)
        .nz("restartPolicy", &s.restart_policy)
        .opt("terminationGracePeriodSeconds", &s.termination_grace_period_seconds)
        .opt("activeDeadlineSeconds", &s.active_deadline_seconds)
        .nz("dnsPolicy", &s.dns_policy)
        .smap("nodeSelector", &s.node_selector)
        .nz("serviceAccountName", &s.service_account_name)
        .nz("serviceAccount", &s.service_account)
        .opt("automountServiceAccountToken", &s.automount_service_account_token)
        .nz("nodeName", &s.node_name)
        .nz("hostNetwork", &s.host_network)
        .list("imagePullSecrets", &s.image_pull_secrets, |r| Obj::new().nz("name", &r.name).done())
        .nz("hostname", &s.hostname)
        .nz("subdomain", &s.subdomain)
        .nz("schedulerName", &s.scheduler_name)
        .list("tolerations", &s.tolerations, toleration)
        .nz("priorityClassName", &s.priority_class_name)
        .opt("priority", &s.priority)
        .opt("enableServiceLinks", &s.enable_service_links)
        .done()
}

fn toleration(t: &core::Toleration) -> Value {
    Obj::new()
        .nz("key", &t.key)
        .nz("operator", &t.operator)
        .nz("value", &t.value)
        .nz("effect", &t.effect)
        .opt("tolerationSeconds", &t.toleration_seconds)
        .done()
}

fn container(c: &core::Container) -> Value {
    Obj::new()
        .nz("name", &c.name)
        .nz("image", &c.image)
        .strs("command", &c.command)
        .strs("args", &c.args)
        .nz("workingDir", &c.working_dir)
        .list("ports", &c.ports, |p| {
            Obj::new()
                .nz("name", &p.name)
                .nz("hostPort", &p.host_port)
                .nz("containerPort", &p.container_port)
                .nz("protocol", &p.protocol)
                .nz("hostIP", &p.host_ip)
                .done()
        })
        .list("env", &c.env, |e| Obj::new().nz("name", &e.name).nz("value", &e.value).done())
        .val("resources", c.resources.as_ref().and_then(resources))
        .list("volumeMounts", &c.volume_mounts, |m| {
            Obj::new()
                .nz("name", &m.name)
                .nz("readOnly", &m.read_only)
                .nz("mountPath", &m.mount_path)
                .nz("subPath", &m.sub_path)
                .done()
        })
        .msg("livenessProbe", &c.liveness_probe, probe)
        .msg("readinessProbe", &c.readiness_probe, probe)
        .msg("startupProbe", &c.startup_probe, probe)
        .nz("terminationMessagePath", &c.termination_message_path)
        .nz("terminationMessagePolicy", &c.termination_message_policy)
        .nz("imagePullPolicy", &c.image_pull_policy)
        .nz("stdin", &c.stdin)
        .nz("stdinOnce", &c.stdin_once)
        .nz("tty", &c.tty)
        .done()
}

/// Resource requirements; an empty one (as Go always writes it) is left out.
fn resources(r: &core::ResourceRequirements) -> Option<Value> {
    if r.limits.is_empty() && r.requests.is_empty() {
        return None;
    }
    Some(Obj::new().quantities("limits", &r.limits).quantities("requests", &r.requests).done())
}

fn probe(p: &core::Probe) -> Value {
    let handler = p.handler.as_ref().map(|h| {
        Obj::new()
            .msg("exec", &h.exec, |e| Obj::new().strs("command", &e.command).done())
            .msg("httpGet", &h.http_get, |g| {
                Obj::new()
                    .nz("path", &g.path)
                    .val("port", g.port.as_ref().map(int_or_string))
                    .nz("host", &g.host)
                    .nz("scheme", &g.scheme)
                    .list("httpHeaders", &g.http_headers, |h| Obj::new().nz("name", &h.name).opt("value", &h.value).done())
                    .done()
            })
            .msg("tcpSocket", &h.tcp_socket, |t| {
                Obj::new().val("port", t.port.as_ref().map(int_or_string)).nz("host", &t.host).done()
            })
            .done()
    });
    Obj::new()
        .inline(handler.unwrap_or(Value::Null))
        .nz("initialDelaySeconds", &p.initial_delay_seconds)
        .nz("timeoutSeconds", &p.timeout_seconds)
        .nz("periodSeconds", &p.period_seconds)
        .nz("successThreshold", &p.success_threshold)
        .nz("failureThreshold", &p.failure_threshold)
        .opt("terminationGracePeriodSeconds", &p.termination_grace_period_seconds)
        .done()
}

fn key_to_path(k: &core::KeyToPath) -> Value {
    Obj::new().nz("key", &k.key).nz("path", &k.path).opt("mode", &k.mode).done()
}

fn volume(v: &core::Volume) -> Value {
    let source = v.volume_source.as_ref().map(|s| {
        Obj::new()
            .msg("hostPath", &s.host_path, |h| Obj::new().nz("path", &h.path).opt("type", &h.r#type).done())
            .msg("emptyDir", &s.empty_dir, |e| {
                Obj::new().nz("medium", &e.medium).msg("sizeLimit", &e.size_limit, quantity).done()
            })
            .msg("secret", &s.secret, |s| {
                Obj::new()
                    .nz("secretName", &s.secret_name)
                    .list("items", &s.items, key_to_path)
                    .opt("defaultMode", &s.default_mode)
                    .opt("optional", &s.optional)
                    .done()
            })
            .msg("persistentVolumeClaim", &s.persistent_volume_claim, |p| {
                Obj::new().nz("claimName", &p.claim_name).nz("readOnly", &p.read_only).done()
            })
            .msg("configMap", &s.config_map, |c| {
                let name = c.local_object_reference.as_ref().and_then(|r| r.name.clone());
                Obj::new()
                    .nz("name", &name)
                    .list("items", &c.items, key_to_path)
                    .opt("defaultMode", &c.default_mode)
                    .opt("optional", &c.optional)
                    .done()
            })
            .done()
    });
    Obj::new().nz("name", &v.name).inline(source.unwrap_or(Value::Null)).done()
}

fn service(s: &core::Service) -> Value {
    Obj::new().msg("metadata", &s.metadata, object_meta).msg("spec", &s.spec, service_spec).done()
}

fn service_spec(s: &core::ServiceSpec) -> Value {
    Obj::new()
        .list("ports", &s.ports, |p| {
            Obj::new()
                .nz("name", &p.name)
                .nz("protocol", &p.protocol)
                .opt("appProtocol", &p.app_protocol)
                .nz("port", &p.port)
                .val("targetPort", int_or_string_nz(&p.target_port))
                .nz("nodePort", &p.node_port)
                .done()
        })
        .smap("selector", &s.selector)
        .nz("clusterIP", &s.cluster_ip)
        .strs("clusterIPs", &s.cluster_ips)
        .nz("type", &s.r#type)
        .strs("externalIPs", &s.external_ips)
        .nz("sessionAffinity", &s.session_affinity)
        .nz("externalName", &s.external_name)
        .nz("externalTrafficPolicy", &s.external_traffic_policy)
        .nz("publishNotReadyAddresses", &s.publish_not_ready_addresses)
        .strs("ipFamilies", &s.ip_families)
        .opt("ipFamilyPolicy", &s.ip_family_policy)
        .opt("internalTrafficPolicy", &s.internal_traffic_policy)
        .done()
}

// ---- apps/v1 ----

fn deployment(d: &apps::Deployment) -> Value {
    Obj::new().msg("metadata", &d.metadata, object_meta).msg("spec", &d.spec, deployment_spec).done()
}

fn deployment_spec(s: &apps::DeploymentSpec) -> Value {
    Obj::new()
        .opt("replicas", &s.replicas)
        .msg("selector", &s.selector, label_selector)
        .msg("template", &s.template, pod_template)
        .msg("strategy", &s.strategy, |st| {
            Obj::new()
                .nz("type", &st.r#type)
                .msg("rollingUpdate", &st.rolling_update, |r| {
                    Obj::new()
                        .val("maxUnavailable", r.max_unavailable.as_ref().map(int_or_string))
                        .val("maxSurge", r.max_surge.as_ref().map(int_or_string))
                        .done()
                })
                .done()
        })
        .nz("minReadySeconds", &s.min_ready_seconds)
        .opt("revisionHistoryLimit", &s.revision_history_limit)
        .nz("paused", &s.paused)
        .opt("progressDeadlineSeconds", &s.progress_deadline_seconds)
        .done()
}

// ---- batch/v1 ----

fn job(j: &batch::Job) -> Value {
    Obj::new().msg("metadata", &j.metadata, object_meta).msg("spec", &j.spec, job_spec).done()
}

fn job_spec(s: &batch::JobSpec) -> Value {
    Obj::new()
        .opt("parallelism", &s.parallelism)
        .opt("completions", &s.completions)
        .opt("activeDeadlineSeconds", &s.active_deadline_seconds)
        .opt("backoffLimit", &s.backoff_limit)
        .opt("backoffLimitPerIndex", &s.backoff_limit_per_index)
        .opt("maxFailedIndexes", &s.max_failed_indexes)
        .msg("selector", &s.selector, label_selector)
        .opt("manualSelector", &s.manual_selector)
        .msg("template", &s.template, pod_template)
        .opt("ttlSecondsAfterFinished", &s.ttl_seconds_after_finished)
        .opt("completionMode", &s.completion_mode)
        .opt("suspend", &s.suspend)
        .opt("podReplacementPolicy", &s.pod_replacement_policy)
        .opt("managedBy", &s.managed_by)
        .done()
}

fn cron_job(c: &batch::CronJob) -> Value {
    Obj::new()
        .msg("metadata", &c.metadata, object_meta)
        .msg("spec", &c.spec, |s| {
            Obj::new()
                .nz("schedule", &s.schedule)
                .opt("timeZone", &s.time_zone)
                .opt("startingDeadlineSeconds", &s.starting_deadline_seconds)
                .nz("concurrencyPolicy", &s.concurrency_policy)
                .opt("suspend", &s.suspend)
                .msg("jobTemplate", &s.job_template, |t| {
                    Obj::new().msg("metadata", &t.metadata, object_meta).msg("spec", &t.spec, job_spec).done()
                })
                .opt("successfulJobsHistoryLimit", &s.successful_jobs_history_limit)
                .opt("failedJobsHistoryLimit", &s.failed_jobs_history_limit)
                .done()
        })
        .done()
}

// ---- policy/v1 ----

// ---- autoscaling (what `kubectl autoscale` sends: v2, falling back to v1) ----

fn cross_version_ref_v2(r: &autoscaling_v2::CrossVersionObjectReference) -> Value {
    Obj::new().nz("kind", &r.kind).nz("name", &r.name).nz("apiVersion", &r.api_version).done()
}

fn metric_target(t: &autoscaling_v2::MetricTarget) -> Value {
    Obj::new()
        .nz("type", &t.r#type)
        .msg("value", &t.value, quantity)
        .msg("averageValue", &t.average_value, quantity)
        .opt("averageUtilization", &t.average_utilization)
        .done()
}

fn metric_identifier(m: &autoscaling_v2::MetricIdentifier) -> Value {
    Obj::new().nz("name", &m.name).msg("selector", &m.selector, label_selector).done()
}

fn metric_spec(m: &autoscaling_v2::MetricSpec) -> Value {
    Obj::new()
        .nz("type", &m.r#type)
        .msg("object", &m.object, |o| {
            Obj::new()
                .msg("describedObject", &o.described_object, cross_version_ref_v2)
                .msg("target", &o.target, metric_target)
                .msg("metric", &o.metric, metric_identifier)
                .done()
        })
        .msg("pods", &m.pods, |p| Obj::new().msg("metric", &p.metric, metric_identifier).msg("target", &p.target, metric_target).done())
        .msg("resource", &m.resource, |r| Obj::new().nz("name", &r.name).msg("target", &r.target, metric_target).done())
        .msg("containerResource", &m.container_resource, |r| {
            Obj::new().nz("name", &r.name).msg("target", &r.target, metric_target).nz("container", &r.container).done()
        })
        .msg("external", &m.external, |e| {
            Obj::new().msg("metric", &e.metric, metric_identifier).msg("target", &e.target, metric_target).done()
        })
        .done()
}

fn scaling_rules(r: &autoscaling_v2::HpaScalingRules) -> Value {
    Obj::new()
        .opt("stabilizationWindowSeconds", &r.stabilization_window_seconds)
        .opt("selectPolicy", &r.select_policy)
        .list("policies", &r.policies, |p| {
            Obj::new().nz("type", &p.r#type).opt("value", &p.value).opt("periodSeconds", &p.period_seconds).done()
        })
        .done()
}

fn hpa_v2(h: &autoscaling_v2::HorizontalPodAutoscaler) -> Value {
    Obj::new()
        .msg("metadata", &h.metadata, object_meta)
        .msg("spec", &h.spec, |s| {
            Obj::new()
                .msg("scaleTargetRef", &s.scale_target_ref, cross_version_ref_v2)
                .opt("minReplicas", &s.min_replicas)
                .opt("maxReplicas", &s.max_replicas)
                .list("metrics", &s.metrics, metric_spec)
                .msg("behavior", &s.behavior, |b| {
                    Obj::new().msg("scaleUp", &b.scale_up, scaling_rules).msg("scaleDown", &b.scale_down, scaling_rules).done()
                })
                .done()
        })
        .done()
}

fn hpa_v1(h: &autoscaling_v1::HorizontalPodAutoscaler) -> Value {
    Obj::new()
        .msg("metadata", &h.metadata, object_meta)
        .msg("spec", &h.spec, |s| {
            Obj::new()
                .msg("scaleTargetRef", &s.scale_target_ref, |r| {
                    Obj::new().nz("kind", &r.kind).nz("name", &r.name).nz("apiVersion", &r.api_version).done()
                })
                .opt("minReplicas", &s.min_replicas)
                .opt("maxReplicas", &s.max_replicas)
                .opt("targetCPUUtilizationPercentage", &s.target_cpu_utilization_percentage)
                .done()
        })
        .done()
}

fn eviction(e: &policy::Eviction) -> Value {
    Obj::new()
        .msg("metadata", &e.metadata, object_meta)
        .msg("deleteOptions", &e.delete_options, delete_options)
        .done()
}

/// What `kubectl create poddisruptionbudget` sends. minAvailable, maxUnavailable,
/// selector and unhealthyPodEvictionPolicy are pointers in Go: kept whenever present.
fn pod_disruption_budget(p: &policy::PodDisruptionBudget) -> Value {
    Obj::new()
        .msg("metadata", &p.metadata, object_meta)
        .msg("spec", &p.spec, |s| {
            Obj::new()
                .msg("minAvailable", &s.min_available, int_or_string)
                .msg("maxUnavailable", &s.max_unavailable, int_or_string)
                .msg("selector", &s.selector, label_selector)
                .opt("unhealthyPodEvictionPolicy", &s.unhealthy_pod_eviction_policy)
                .done()
        })
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;
    use serde_json::json;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = Unknown {
            type_meta: Some(TypeMeta { api_version: Some(api_version.into()), kind: Some(kind.into()) }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = MAGIC.to_vec();
        out.extend(u.encode_to_vec());
        out
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    /// Empty metadata fields, as Go writes every value field.
    fn meta(name: &str, labels: &[(&str, &str)]) -> meta::ObjectMeta {
        meta::ObjectMeta {
            name: s(name),
            generate_name: s(""),
            namespace: s(""),
            uid: s(""),
            resource_version: s(""),
            generation: Some(0),
            creation_timestamp: Some(meta::Time { seconds: Some(0), nanos: Some(0) }),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    fn container(name: &str, image: &str) -> core::Container {
        core::Container {
            name: s(name),
            image: s(image),
            working_dir: s(""),
            ports: vec![core::ContainerPort {
                name: s(""),
                host_port: Some(0),
                container_port: Some(8080),
                protocol: s(""),
                host_ip: s(""),
            }],
            env: vec![core::EnvVar { name: s("MODE"), value: s("fast"), value_from: None }],
            resources: Some(core::ResourceRequirements {
                limits: [("cpu".to_string(), Quantity { string: s("500m") })].into(),
                ..Default::default()
            }),
            readiness_probe: Some(core::Probe {
                handler: Some(core::ProbeHandler {
                    http_get: Some(core::HttpGetAction {
                        path: s("/healthz"),
                        port: Some(IntOrString { r#type: Some(1), int_val: Some(0), str_val: s("http") }),
                        host: s(""),
                        scheme: s("HTTP"),
                        http_headers: vec![],
                    }),
                    ..Default::default()
                }),
                initial_delay_seconds: Some(0),
                period_seconds: Some(5),
                ..Default::default()
            }),
            termination_message_path: s(""),
            image_pull_policy: s("IfNotPresent"),
            stdin: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn deployment_decodes_to_kubernetes_json() {
        let d = apps::Deployment {
            metadata: Some(meta("web", &[("app", "web")])),
            spec: Some(apps::DeploymentSpec {
                replicas: Some(2),
                selector: Some(meta::LabelSelector {
                    match_labels: [("app".to_string(), "web".to_string())].into(),
                    match_expressions: vec![meta::LabelSelectorRequirement {
                        key: s("tier"),
                        operator: s("In"),
                        values: vec!["a".into(), "b".into()],
                    }],
                }),
                template: Some(core::PodTemplateSpec {
                    metadata: Some(meta("", &[("app", "web")])),
                    spec: Some(core::PodSpec {
                        containers: vec![container("hello", "hello:v1")],
                        volumes: vec![core::Volume {
                            name: s("scratch"),
                            volume_source: Some(core::VolumeSource {
                                empty_dir: Some(core::EmptyDirVolumeSource::default()),
                                ..Default::default()
                            }),
                        }],
                        restart_policy: s(""),
                        dns_policy: s(""),
                        service_account_name: s(""),
                        node_name: s(""),
                        host_network: Some(false),
                        termination_grace_period_seconds: Some(0),
                        ..Default::default()
                    }),
                }),
                strategy: Some(apps::DeploymentStrategy {
                    r#type: s("RollingUpdate"),
                    rolling_update: Some(apps::RollingUpdateDeployment {
                        max_unavailable: Some(IntOrString { r#type: Some(0), int_val: Some(1), str_val: s("") }),
                        max_surge: Some(IntOrString { r#type: Some(1), int_val: Some(0), str_val: s("25%") }),
                    }),
                }),
                min_ready_seconds: Some(0),
                paused: Some(false),
                ..Default::default()
            }),
            status: Some(Default::default()),
        };
        let v = decode(&envelope("apps/v1", "Deployment", d.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 2,
                    "selector": {
                        "matchLabels": {"app": "web"},
                        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
                    },
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "volumes": [{"name": "scratch", "emptyDir": {}}],
                            "containers": [{
                                "name": "hello",
                                "image": "hello:v1",
                                "ports": [{"containerPort": 8080}],
                                "env": [{"name": "MODE", "value": "fast"}],
                                "resources": {"limits": {"cpu": "500m"}},
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                                    "periodSeconds": 5
                                },
                                "imagePullPolicy": "IfNotPresent"
                            }],
                            "terminationGracePeriodSeconds": 0
                        }
                    },
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}}
                }
            })
        );
        // Its JSON reads as shoal's own Deployment.
        let (_d, unknown): (api::model::Deployment, _) = crate::request::body::decode_typed(v).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
    }

    #[test]
    fn service_job_cronjob_namespace_and_times() {
        let svc = core::Service {
            metadata: Some(meta("s", &[])),
            spec: Some(core::ServiceSpec {
                ports: vec![core::ServicePort {
                    name: s("80-8080"),
                    protocol: s("TCP"),
                    port: Some(80),
                    target_port: Some(IntOrString { r#type: Some(0), int_val: Some(8080), str_val: s("") }),
                    node_port: Some(0),
                    app_protocol: None,
                }],
                selector: [("app".to_string(), "s".to_string())].into(),
                cluster_ip: s(""),
                r#type: s("ClusterIP"),
                session_affinity: s(""),
                external_name: s(""),
                ..Default::default()
            }),
            status: None,
        };
        let v = decode(&envelope("v1", "Service", svc.encode_to_vec())).unwrap();
        assert_eq!(
            v["spec"],
            json!({"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                   "selector": {"app": "s"}, "type": "ClusterIP"})
        );

        let job_spec = batch::JobSpec {
            backoff_limit: Some(0),
            completions: Some(3),
            template: Some(core::PodTemplateSpec {
                metadata: None,
                spec: Some(core::PodSpec {
                    containers: vec![core::Container { name: s("j"), image: s("hello:v1"), ..Default::default() }],
                    restart_policy: s("Never"),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let j = batch::Job { metadata: Some(meta("j", &[])), spec: Some(job_spec.clone()), status: None };
        let v = decode(&envelope("batch/v1", "Job", j.encode_to_vec())).unwrap();
        assert_eq!(
            v["spec"],
            json!({"completions": 3, "backoffLimit": 0,
                   "template": {"spec": {"containers": [{"name": "j", "image": "hello:v1"}], "restartPolicy": "Never"}}})
        );

        let c = batch::CronJob {
            metadata: Some(meta("c", &[])),
            spec: Some(batch::CronJobSpec {
                schedule: s("*/5 * * * *"),
                concurrency_policy: s(""),
                successful_jobs_history_limit: Some(3),
                job_template: Some(batch::JobTemplateSpec { metadata: Some(meta("c", &[])), spec: Some(job_spec) }),
                ..Default::default()
            }),
            status: None,
        };
        let v = decode(&envelope("batch/v1", "CronJob", c.encode_to_vec())).unwrap();
        assert_eq!(v["kind"], "CronJob");
        assert_eq!(v["spec"]["schedule"], "*/5 * * * *");
        assert_eq!(v["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(v["spec"]["jobTemplate"]["metadata"], json!({"name": "c"}));
        assert_eq!(v["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"], "Never");
        assert!(v["spec"].get("concurrencyPolicy").is_none());

        let mut m = meta("x", &[]);
        m.creation_timestamp = Some(meta::Time { seconds: Some(1_700_000_000), nanos: Some(0) });
        m.finalizers = vec!["f".into()];
        m.owner_references = vec![meta::OwnerReference {
            api_version: s("v1"),
            kind: s("Thing"),
            name: s("t"),
            uid: s("u"),
            controller: Some(true),
            block_owner_deletion: None,
        }];
        let ns = core::Namespace { metadata: Some(m), spec: Some(Default::default()), status: Some(Default::default()) };
        let v = decode(&envelope("v1", "Namespace", ns.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "x", "creationTimestamp": "2023-11-14T22:13:20Z",
                                "ownerReferences": [{"apiVersion": "v1", "kind": "Thing", "name": "t", "uid": "u", "controller": true}],
                                "finalizers": ["f"]},
                   "spec": {}})
        );
        let mt = meta::MicroTime { seconds: Some(1_700_000_000), nanos: Some(123_456_000) };
        assert_eq!(micro_time(&mt), Some(json!("2023-11-14T22:13:20.123456Z")));
    }

    #[test]
    fn eviction_and_delete_options() {
        let e = policy::Eviction {
            metadata: Some(meta("p", &[])),
            delete_options: Some(meta::DeleteOptions { grace_period_seconds: Some(0), ..Default::default() }),
        };
        let v = decode(&envelope("policy/v1", "Eviction", e.encode_to_vec())).unwrap();
        assert_eq!(v, json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}, "deleteOptions": {"gracePeriodSeconds": 0}}));
        let d = meta::DeleteOptions { propagation_policy: s("Foreground"), ..Default::default() };
        let v = decode(&envelope("meta.k8s.io/v1", "DeleteOptions", d.encode_to_vec())).unwrap();
        assert_eq!(v["propagationPolicy"], "Foreground");
    }

    #[test]
    fn pod_disruption_budget_keeps_its_pointer_fields() {
        let pdb = policy::PodDisruptionBudget {
            metadata: Some(meta("web", &[])),
            spec: Some(policy::PodDisruptionBudgetSpec {
                min_available: Some(IntOrString { r#type: Some(0), int_val: Some(0), str_val: s("") }),
                selector: Some(meta::LabelSelector {
                    match_labels: [("app".to_string(), "web".to_string())].into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        };
        let v = decode(&envelope("policy/v1", "PodDisruptionBudget", pdb.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                   "spec": {"minAvailable": 0, "selector": {"matchLabels": {"app": "web"}}}})
        );
    }

    #[test]
    fn config_maps_secrets_and_service_accounts() {
        let c = core::ConfigMap {
            metadata: Some(meta("c", &[])),
            data: [("a".to_string(), "b".to_string())].into(),
            binary_data: [("bin".to_string(), vec![0u8, 1])].into(),
            immutable: None,
        };
        let v = decode(&envelope("v1", "ConfigMap", c.encode_to_vec())).unwrap();
        assert_eq!(v, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}, "binaryData": {"bin": "AAE="}}));
        let sec = core::Secret {
            metadata: Some(meta("s", &[])),
            data: [("tls.crt".to_string(), b"cert".to_vec())].into(),
            string_data: [("x".to_string(), "y".to_string())].into(),
            r#type: s("kubernetes.io/tls"),
            immutable: Some(true),
        };
        let v = decode(&envelope("v1", "Secret", sec.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "immutable": true,
                   "data": {"tls.crt": "Y2VydA=="}, "stringData": {"x": "y"}, "type": "kubernetes.io/tls"})
        );
        let sa = core::ServiceAccount {
            metadata: Some(meta("robot", &[])),
            image_pull_secrets: vec![core::LocalObjectReference { name: s("reg") }],
            automount_service_account_token: Some(false),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "ServiceAccount", sa.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"},
                   "imagePullSecrets": [{"name": "reg"}], "automountServiceAccountToken": false})
        );
    }

    #[test]
    fn horizontal_pod_autoscalers_as_kubectl_autoscale_sends_them() {
        let target = autoscaling_v2::CrossVersionObjectReference { kind: s("Deployment"), name: s("web"), api_version: s("apps/v1") };
        let h = autoscaling_v2::HorizontalPodAutoscaler {
            metadata: Some(meta("web", &[])),
            spec: Some(autoscaling_v2::HorizontalPodAutoscalerSpec {
                scale_target_ref: Some(target),
                max_replicas: Some(5),
                metrics: vec![autoscaling_v2::MetricSpec {
                    r#type: s("Resource"),
                    resource: Some(autoscaling_v2::ResourceMetricSource {
                        name: s("cpu"),
                        target: Some(autoscaling_v2::MetricTarget { r#type: s("Utilization"), average_utilization: Some(70), ..Default::default() }),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: None,
        };
        let v = decode(&envelope("autoscaling/v2", "HorizontalPodAutoscaler", h.encode_to_vec())).unwrap();
        assert_eq!(
            v["spec"],
            json!({"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}, "maxReplicas": 5,
                   "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]})
        );
        let h1 = autoscaling_v1::HorizontalPodAutoscaler {
            metadata: Some(meta("web", &[])),
            spec: Some(autoscaling_v1::HorizontalPodAutoscalerSpec {
                scale_target_ref: Some(autoscaling_v1::CrossVersionObjectReference { kind: s("Deployment"), name: s("web"), api_version: None }),
                min_replicas: Some(2),
                max_replicas: Some(5),
                target_cpu_utilization_percentage: Some(60),
            }),
            status: None,
        };
        let v = decode(&envelope("autoscaling/v1", "HorizontalPodAutoscaler", h1.encode_to_vec())).unwrap();
        assert_eq!(v["spec"]["targetCPUUtilizationPercentage"], 60);
        assert_eq!(v["spec"]["minReplicas"], 2);
    }

    #[test]
    fn unsupported_kinds_and_garbage() {
        let e = decode(&envelope("v1", "PersistentVolumeClaim", vec![])).unwrap_err();
        assert_eq!(e.code, 415);
        assert!(e.message.contains("PersistentVolumeClaim"), "{}", e.message);
        assert_eq!(decode(b"{\"a\":1}").unwrap_err().code, 400);
        assert_eq!(decode(b"k8s\0\xff\xff\xff").unwrap_err().code, 400);
        // Through the body parser.
        let ns = core::Namespace { metadata: Some(meta("y", &[])), ..Default::default() };
        let v = crate::request::body::parse_document(&envelope("v1", "Namespace", ns.encode_to_vec()), "application/vnd.kubernetes.protobuf").unwrap();
        assert_eq!(v["metadata"]["name"], "y");
    }
}
