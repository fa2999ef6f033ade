//! Server-side defaulting: fills the fields Kubernetes fills before an object is stored.
//!
//! The registry calls `Resource::apply_defaults` on create and on main-scope updates,
//! before validation, so every stored object (and every controller reading it) sees
//! the defaulted shape. Every function here is idempotent.

use crate::model::{
    Bytes, EndpointSlice, HorizontalPodAutoscalerV1, Secret,
};
use crate::model::{
    Container, CronJob, EphemeralContainer, HttpGetAction, Lifecycle, ObjectFieldSelector, Volume, DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, HorizontalPodAutoscaler,
    IntOrString, Job, LabelSelector, PersistentVolume, PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec, Probe, ReplicaSet, ReplicationController,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, Service, StatefulSet,
    StatefulSetUpdateStrategy, StorageClass,
};

fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

fn set_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().unwrap_or("").is_empty() {
        *field = Some(value.to_string());
    }
}

/// `Always` for `:latest` or untagged images, `IfNotPresent` otherwise (digests too).
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    // The tag is after the last ':' that follows the last '/' (a registry port is not a tag).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn default_http_get(h: &mut HttpGetAction) {
    set_str(&mut h.path, "/");
    set_str(&mut h.scheme, "HTTP");
}

fn default_probe(p: &mut Probe) {
    set(&mut p.timeout_seconds, 1);
    set(&mut p.period_seconds, 10);
    set(&mut p.success_threshold, 1);
    set(&mut p.failure_threshold, 3);
    if let Some(h) = &mut p.http_get {
        default_http_get(h);
    }
}

fn default_lifecycle(l: &mut Lifecycle) {
    for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
        if let Some(g) = &mut h.http_get {
            default_http_get(g);
        }
    }
}

fn default_field_ref(f: &mut ObjectFieldSelector) {
    set_str(&mut f.api_version, "v1");
}

/// The defaults every container gets, ephemeral ones too (upstream's `SetDefaults_Container`).
#[allow(clippy::too_many_arguments)]
fn default_container_fields(
    image: Option<&str>,
    pull: &mut Option<String>,
    message_path: &mut Option<String>,
    message_policy: &mut Option<String>,
    ports: &mut [crate::model::ContainerPort],
    env: &mut [crate::model::EnvVar],
    probes: [&mut Option<Box<Probe>>; 3],
    lifecycle: Option<&mut Lifecycle>,
) {
    if pull.as_deref().unwrap_or("").is_empty() {
        *pull = Some(default_pull_policy(image.unwrap_or("")).to_string());
    }
    set_str(message_path, "/dev/termination-log");
    set_str(message_policy, "File");
    for p in ports {
        set_str(&mut p.protocol, "TCP");
    }
    for e in env {
        if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            default_field_ref(f);
        }
    }
    for p in probes.into_iter().flatten() {
        default_probe(p);
    }
    if let Some(l) = lifecycle {
        default_lifecycle(l);
    }
}

fn default_container(c: &mut Container) {
    default_container_fields(
        c.image.as_deref(),
        &mut c.image_pull_policy,
        &mut c.termination_message_path,
        &mut c.termination_message_policy,
        &mut c.ports,
        &mut c.env,
        [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe],
        c.lifecycle.as_deref_mut(),
    );
}

fn default_ephemeral_container(c: &mut EphemeralContainer) {
    default_container_fields(
        c.image.as_deref(),
        &mut c.image_pull_policy,
        &mut c.termination_message_path,
        &mut c.termination_message_policy,
        &mut c.ports,
        &mut c.env,
        [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe],
        c.lifecycle.as_deref_mut(),
    );
}

/// Upstream's file mode default of projected files (0644).
pub const DEFAULT_FILE_MODE: i32 = 0o644;

/// Per-source volume defaults (`SetDefaults_*VolumeSource` upstream).
fn default_volume(v: &mut Volume) {
    if let Some(s) = &mut v.secret {
        set(&mut s.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(c) = &mut v.config_map {
        set(&mut c.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(d) = &mut v.downward_api {
        set(&mut d.default_mode, DEFAULT_FILE_MODE);
        for f in &mut d.items {
            if let Some(r) = &mut f.field_ref {
                default_field_ref(r);
            }
        }
    }
    if let Some(p) = &mut v.projected {
        set(&mut p.default_mode, DEFAULT_FILE_MODE);
        for src in &mut p.sources {
            if let Some(d) = &mut src.downward_api {
                for f in &mut d.items {
                    if let Some(r) = &mut f.field_ref {
                        default_field_ref(r);
                    }
                }
            }
            if let Some(t) = &mut src.service_account_token {
                set(&mut t.expiration_seconds, 3600);
            }
        }
    }
    if let Some(h) = &mut v.host_path {
        set(&mut h.type_, String::new());
    }
    if let Some(i) = &mut v.iscsi {
        set_str(&mut i.iscsi_interface, "default");
    }
    if let Some(r) = &mut v.rbd {
        set_str(&mut r.pool, "rbd");
        set_str(&mut r.user, "admin");
        set_str(&mut r.keyring, "/etc/ceph/keyring");
    }
    if let Some(a) = &mut v.azure_disk {
        set_str(&mut a.caching_mode, "ReadWrite");
        set_str(&mut a.fs_type, "ext4");
        set(&mut a.read_only, false);
        set_str(&mut a.kind, "Shared");
    }
    if let Some(s) = &mut v.scale_io {
        set_str(&mut s.storage_mode, "ThinProvisioned");
        set_str(&mut s.fs_type, "xfs");
    }
}

/// Everything of a pod spec's defaults except `restartPolicy` (a Job's template must
/// choose its own).
fn default_pod_spec_common(s: &mut PodSpec) {
    set(&mut s.termination_grace_period_seconds, 30);
    set_str(&mut s.dns_policy, "ClusterFirst");
    set_str(&mut s.scheduler_name, "default-scheduler");
    set(&mut s.security_context, Default::default());
    set(&mut s.enable_service_links, true);
    // `serviceAccount` is the deprecated spelling of `serviceAccountName`; upstream keeps
    // them equal (the old field fills the new one when only it is given).
    if s.service_account_name.as_deref().unwrap_or("").is_empty() {
        if let Some(old) = s.service_account.as_deref().filter(|o| !o.is_empty()) {
            s.service_account_name = Some(old.to_string());
        }
    }
    if let Some(name) = s.service_account_name.as_deref().filter(|n| !n.is_empty()) {
        if s.service_account.as_deref() != Some(name) {
            s.service_account = Some(name.to_string());
        }
    }
    for c in s.init_containers.iter_mut().chain(s.containers.iter_mut()) {
        default_container(c);
    }
    for c in &mut s.ephemeral_containers {
        default_ephemeral_container(c);
    }
    for v in &mut s.volumes {
        default_volume(v);
    }
}

pub fn default_pod_spec(s: &mut PodSpec) {
    set_str(&mut s.restart_policy, "Always");
    default_pod_spec_common(s);
}

pub fn default_pod(p: &mut Pod) {
    default_pod_spec(&mut p.spec);
}

/// The pod template of every workload kind (restartPolicy `Always`).
pub fn default_pod_template(t: &mut PodTemplateSpec) {
    default_pod_spec(&mut t.spec);
}

pub fn default_replica_set(rs: &mut ReplicaSet) {
    set(&mut rs.spec.replicas, 1);
    default_pod_template(&mut rs.spec.template);
}

pub fn default_replication_controller(rc: &mut ReplicationController) {
    set(&mut rc.spec.replicas, 1);
    if let Some(t) = &mut rc.spec.template {
        if rc.spec.selector.is_empty() {
            rc.spec.selector = t.metadata.labels.clone();
        }
        if rc.metadata.labels.is_empty() {
            rc.metadata.labels = t.metadata.labels.clone();
        }
        default_pod_template(t);
    }
}

pub fn default_deployment(d: &mut Deployment) {
    set(&mut d.spec.replicas, 1);
    let strategy = d.spec.strategy.get_or_insert_with(DeploymentStrategy::default);
    set_str(&mut strategy.type_, "RollingUpdate");
    if strategy.type_.as_deref() == Some("RollingUpdate") {
        let ru = strategy.rolling_update.get_or_insert_with(RollingUpdateDeployment::default);
        set(&mut ru.max_unavailable, IntOrString::from("25%"));
        set(&mut ru.max_surge, IntOrString::from("25%"));
    }
    set(&mut d.spec.revision_history_limit, 10);
    set(&mut d.spec.progress_deadline_seconds, 600);
    default_pod_template(&mut d.spec.template);
}

pub fn default_stateful_set(s: &mut StatefulSet) {
    set(&mut s.spec.replicas, 1);
    set_str(&mut s.spec.pod_management_policy, "OrderedReady");
    let us = s.spec.update_strategy.get_or_insert_with(StatefulSetUpdateStrategy::default);
    set_str(&mut us.type_, "RollingUpdate");
    if us.type_.as_deref() == Some("RollingUpdate") {
        let ru = us.rolling_update.get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
        set(&mut ru.partition, 0);
    }
    set(&mut s.spec.revision_history_limit, 10);
    default_pod_template(&mut s.spec.template);
}

pub fn default_daemon_set(d: &mut DaemonSet) {
    let us = d.spec.update_strategy.get_or_insert_with(DaemonSetUpdateStrategy::default);
    set_str(&mut us.type_, "RollingUpdate");
    if us.type_.as_deref() == Some("RollingUpdate") {
        let ru = us.rolling_update.get_or_insert_with(RollingUpdateDaemonSet::default);
        set(&mut ru.max_unavailable, IntOrString::Int(1));
        set(&mut ru.max_surge, IntOrString::Int(0));
    }
    set(&mut d.spec.revision_history_limit, 10);
    default_pod_template(&mut d.spec.template);
}

pub fn default_job_spec(s: &mut crate::model::JobSpec) {
    // A work queue (parallelism without completions) keeps completions unset.
    if s.completions.is_none() && s.parallelism.is_none() {
        s.completions = Some(1);
    }
    set(&mut s.parallelism, 1);
    set(&mut s.backoff_limit, if s.backoff_limit_per_index.is_some() { i32::MAX } else { 6 });
    set_str(&mut s.completion_mode, "NonIndexed");
    set(&mut s.suspend, false);
    set(&mut s.manual_selector, false);
    if let Some(p) = &mut s.pod_failure_policy {
        for r in &mut p.rules {
            for c in &mut r.on_pod_conditions {
                set_str(&mut c.status, "True");
            }
        }
    }
    let replacement = if s.pod_failure_policy.is_some() { "Failed" } else { "TerminatingOrFailed" };
    set_str(&mut s.pod_replacement_policy, replacement);
    default_pod_spec_common(&mut s.template.spec);
}

pub fn default_job(j: &mut Job) {
    default_job_spec(&mut j.spec);
}

pub fn default_cron_job(c: &mut CronJob) {
    set_str(&mut c.spec.concurrency_policy, "Allow");
    set(&mut c.spec.suspend, false);
    set(&mut c.spec.successful_jobs_history_limit, 3);
    set(&mut c.spec.failed_jobs_history_limit, 1);
    default_job_spec(&mut c.spec.job_template.spec);
}

pub fn default_service(s: &mut Service) {
    set_str(&mut s.spec.type_, "ClusterIP");
    set_str(&mut s.spec.session_affinity, "None");
    if s.spec.session_affinity.as_deref() == Some("ClientIP") {
        let cfg = s.spec.session_affinity_config.get_or_insert_with(Default::default);
        set(&mut cfg.client_ip.get_or_insert_with(Default::default).timeout_seconds, 10800);
    }
    for p in &mut s.spec.ports {
        set_str(&mut p.protocol, "TCP");
        if p.target_port.is_none() || p.target_port == Some(IntOrString::Int(0)) {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
}

pub fn default_hpa(h: &mut HorizontalPodAutoscaler) {
    set(&mut h.spec.min_replicas, 1);
}

/// PersistentVolume: reclaim policy `Retain`, volume mode `Filesystem`, phase `Pending`.
pub fn default_persistent_volume(pv: &mut PersistentVolume) {
    set_str(&mut pv.spec.persistent_volume_reclaim_policy, "Retain");
    set_str(&mut pv.spec.volume_mode, "Filesystem");
    let status = pv.status.get_or_insert_with(Default::default);
    set_str(&mut status.phase, "Pending");
}

/// PersistentVolumeClaim: volume mode `Filesystem`, phase `Pending`.
pub fn default_persistent_volume_claim(pvc: &mut PersistentVolumeClaim) {
    set_str(&mut pvc.spec.volume_mode, "Filesystem");
    let status = pvc.status.get_or_insert_with(Default::default);
    set_str(&mut status.phase, "Pending");
}

/// StorageClass: reclaim policy `Delete`, binding mode `Immediate`.
pub fn default_storage_class(sc: &mut StorageClass) {
    set_str(&mut sc.reclaim_policy, "Delete");
    set_str(&mut sc.volume_binding_mode, "Immediate");
}

/// Secret: `type` Opaque; `stringData` merged into `data` (its keys win), then dropped:
/// it is write-only, as upstream's conversion makes it.
pub fn default_secret(s: &mut Secret) {
    set_str(&mut s.type_, crate::model::secret_type::OPAQUE);
    for (k, v) in std::mem::take(&mut s.string_data) {
        s.data.insert(k, Bytes(v.into_bytes()));
    }
}

/// EndpointSlice ports: name `""`, protocol TCP.
pub fn default_endpoint_slice(s: &mut EndpointSlice) {
    for p in &mut s.ports {
        set(&mut p.name, String::new());
        set_str(&mut p.protocol, "TCP");
    }
}

/// autoscaling/v1 (upstream's v1 defaults): minReplicas 1.
pub fn default_hpa_v1(h: &mut HorizontalPodAutoscalerV1) {
    set(&mut h.spec.min_replicas, 1);
}

/// An RC's selector as a `LabelSelector` (after defaulting it equals the template labels).
pub fn rc_selector(rc: &ReplicationController) -> LabelSelector {
    LabelSelector::from_map(&rc.spec.selector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApplyDefaults, ContainerPort, ServicePort};

    fn container(image: &str) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            ports: vec![ContainerPort { container_port: 80, ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("localhost:5000/nginx:v2", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
        ] {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    #[test]
    fn pod_defaults() {
        let mut p = Pod::default();
        p.spec.containers = vec![container("hello:v1")];
        p.apply_defaults();
        assert_eq!(p.spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(p.spec.termination_grace_period_seconds, Some(30));
        assert_eq!(p.spec.dns_policy.as_deref(), Some("ClusterFirst"));
        assert_eq!(p.spec.scheduler_name.as_deref(), Some("default-scheduler"));
        assert_eq!(p.spec.containers[0].image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(p.spec.containers[0].ports[0].protocol.as_deref(), Some("TCP"));
        let once = p.clone();
        p.apply_defaults();
        assert_eq!(p, once, "defaulting is idempotent");
    }

    #[test]
    fn full_schema_pod_defaults_follow_upstream() {
        let json = serde_json::json!({
            "spec": {
                "serviceAccount": "old",
                "containers": [{
                    "name": "c", "image": "x:1",
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "lifecycle": {"preStop": {"httpGet": {"port": 80}}}
                }],
                "ephemeralContainers": [{"name": "dbg", "image": "busybox"}],
                "volumes": [
                    {"name": "s", "secret": {"secretName": "s"}},
                    {"name": "c", "configMap": {"name": "c"}},
                    {"name": "d", "downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                    {"name": "p", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}},
                    {"name": "i", "iscsi": {"targetPortal": "t", "iqn": "q", "lun": 0}},
                    {"name": "r", "rbd": {"monitors": ["m"], "image": "i"}},
                    {"name": "a", "azureDisk": {"diskName": "d", "diskURI": "u"}},
                    {"name": "o", "scaleIO": {"gateway": "g", "system": "s", "secretRef": {"name": "x"}}}
                ]
            }
        });
        let mut p: Pod = serde_json::from_value(json).unwrap();
        p.apply_defaults();
        let s = &p.spec;
        assert_eq!(s.enable_service_links, Some(true));
        assert_eq!(s.security_context, Some(Default::default()));
        assert_eq!(s.service_account_name.as_deref(), Some("old"));
        let c = &s.containers[0];
        assert_eq!(c.termination_message_path.as_deref(), Some("/dev/termination-log"));
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
        let f = c.env[0].value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
        assert_eq!(f.api_version.as_deref(), Some("v1"));
        let h = c.lifecycle.as_ref().unwrap().pre_stop.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!((h.path.as_deref(), h.scheme.as_deref()), (Some("/"), Some("HTTP")));
        let e = &s.ephemeral_containers[0];
        assert_eq!(e.image_pull_policy.as_deref(), Some("Always"));
        assert_eq!(e.termination_message_policy.as_deref(), Some("File"));
        let v = &s.volumes;
        assert_eq!(v[0].secret.as_ref().unwrap().default_mode, Some(420));
        assert_eq!(v[1].config_map.as_ref().unwrap().default_mode, Some(420));
        let d = v[2].downward_api.as_ref().unwrap();
        assert_eq!(d.default_mode, Some(420));
        assert_eq!(d.items[0].field_ref.as_ref().unwrap().api_version.as_deref(), Some("v1"));
        let pr = v[3].projected.as_ref().unwrap();
        assert_eq!(pr.default_mode, Some(420));
        assert_eq!(pr.sources[0].service_account_token.as_ref().unwrap().expiration_seconds, Some(3600));
        assert_eq!(v[4].iscsi.as_ref().unwrap().iscsi_interface.as_deref(), Some("default"));
        let r = v[5].rbd.as_ref().unwrap();
        assert_eq!((r.pool.as_deref(), r.user.as_deref(), r.keyring.as_deref()), (Some("rbd"), Some("admin"), Some("/etc/ceph/keyring")));
        let a = v[6].azure_disk.as_ref().unwrap();
        assert_eq!((a.caching_mode.as_deref(), a.fs_type.as_deref(), a.kind.as_deref(), a.read_only), (Some("ReadWrite"), Some("ext4"), Some("Shared"), Some(false)));
        let o = v[7].scale_io.as_ref().unwrap();
        assert_eq!((o.storage_mode.as_deref(), o.fs_type.as_deref()), (Some("ThinProvisioned"), Some("xfs")));
        let once = p.clone();
        p.apply_defaults();
        assert_eq!(p, once, "defaulting is idempotent");
    }

    #[test]
    fn job_defaults_follow_the_failure_policy_and_index_mode() {
        for (spec, completions, backoff, replacement) in [
            (serde_json::json!({}), Some(1), 6, "TerminatingOrFailed"),
            (serde_json::json!({"parallelism": 3}), None, 6, "TerminatingOrFailed"),
            (
                serde_json::json!({"completionMode": "Indexed", "completions": 4, "backoffLimitPerIndex": 1}),
                Some(4),
                i32::MAX,
                "TerminatingOrFailed",
            ),
            (
                serde_json::json!({"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}),
                Some(1),
                6,
                "Failed",
            ),
        ] {
            let mut j: Job = serde_json::from_value(serde_json::json!({ "spec": spec })).unwrap();
            j.apply_defaults();
            assert_eq!(j.spec.completions, completions, "{spec}");
            assert_eq!(j.spec.backoff_limit, Some(backoff), "{spec}");
            assert_eq!(j.spec.pod_replacement_policy.as_deref(), Some(replacement), "{spec}");
            assert_eq!(j.spec.manual_selector, Some(false));
            if let Some(p) = &j.spec.pod_failure_policy {
                assert_eq!(p.rules[0].on_pod_conditions[0].status.as_deref(), Some("True"));
            }
        }
    }

    #[test]
    fn explicit_values_are_kept() {
        let mut p = Pod::default();
        p.spec.restart_policy = Some("Never".into());
        p.spec.termination_grace_period_seconds = Some(0);
        let mut c = container("x:latest");
        c.image_pull_policy = Some("Never".into());
        p.spec.containers = vec![c];
        default_pod(&mut p);
        assert_eq!(p.spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(p.spec.termination_grace_period_seconds, Some(0));
        assert_eq!(p.spec.containers[0].image_pull_policy.as_deref(), Some("Never"));
    }

    #[test]
    fn deployment_defaults() {
        let mut d = Deployment::default();
        d.apply_defaults();
        assert_eq!(d.spec.replicas, Some(1));
        let s = d.spec.strategy.as_ref().unwrap();
        assert_eq!(s.type_.as_deref(), Some("RollingUpdate"));
        let ru = s.rolling_update.as_ref().unwrap();
        assert_eq!(ru.max_surge, Some(IntOrString::from("25%")));
        assert_eq!(ru.max_unavailable, Some(IntOrString::from("25%")));
        assert_eq!(d.spec.revision_history_limit, Some(10));
        assert_eq!(d.spec.progress_deadline_seconds, Some(600));
        assert_eq!(d.spec.template.spec.restart_policy.as_deref(), Some("Always"));

        let mut r = Deployment::default();
        r.spec.strategy = Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None });
        default_deployment(&mut r);
        assert!(r.spec.strategy.unwrap().rolling_update.is_none());
    }

    #[test]
    fn replica_set_and_rc_defaults() {
        let mut rs = ReplicaSet::default();
        rs.apply_defaults();
        assert_eq!(rs.spec.replicas, Some(1));

        let mut rc = ReplicationController::default();
        let mut t = PodTemplateSpec::default();
        t.metadata.labels.insert("app".into(), "web".into());
        rc.spec.template = Some(t);
        rc.apply_defaults();
        assert_eq!(rc.spec.replicas, Some(1));
        assert_eq!(rc.spec.selector.get("app").map(String::as_str), Some("web"));
        assert!(rc_selector(&rc).matches(&rc.spec.template.as_ref().unwrap().metadata.labels));
    }

    #[test]
    fn service_defaults() {
        let mut s = Service::default();
        s.spec.ports = vec![ServicePort { port: 80, ..Default::default() }];
        s.apply_defaults();
        assert_eq!(s.spec.type_.as_deref(), Some("ClusterIP"));
        assert_eq!(s.spec.session_affinity.as_deref(), Some("None"));
        assert_eq!(s.spec.ports[0].protocol.as_deref(), Some("TCP"));
        assert_eq!(s.spec.ports[0].target_port, Some(IntOrString::Int(80)));
    }

    #[test]
    fn job_and_cron_job_defaults() {
        let mut j = Job::default();
        j.apply_defaults();
        assert_eq!(j.spec.completions, Some(1));
        assert_eq!(j.spec.parallelism, Some(1));
        assert_eq!(j.spec.backoff_limit, Some(6));
        assert_eq!(j.spec.completion_mode.as_deref(), Some("NonIndexed"));
        assert_eq!(j.spec.suspend, Some(false));
        assert_eq!(j.spec.template.spec.restart_policy, None, "a job's template chooses its own");

        let mut c = CronJob::default();
        c.apply_defaults();
        assert_eq!(c.spec.concurrency_policy.as_deref(), Some("Allow"));
        assert_eq!(c.spec.successful_jobs_history_limit, Some(3));
        assert_eq!(c.spec.failed_jobs_history_limit, Some(1));
        assert_eq!(c.spec.job_template.spec.backoff_limit, Some(6));
    }

    #[test]
    fn workload_and_hpa_defaults() {
        let mut s = StatefulSet::default();
        s.apply_defaults();
        assert_eq!(s.spec.replicas, Some(1));
        assert_eq!(s.spec.pod_management_policy.as_deref(), Some("OrderedReady"));
        let mut d = DaemonSet::default();
        d.apply_defaults();
        let ru = d.spec.update_strategy.unwrap().rolling_update.unwrap();
        assert_eq!(ru.max_unavailable, Some(IntOrString::Int(1)));
        let mut h = HorizontalPodAutoscaler::default();
        h.apply_defaults();
        assert_eq!(h.spec.min_replicas, Some(1));
    }

    #[test]
    fn secret_string_data_merges_into_data_and_type_defaults() {
        let mut s: Secret = serde_json::from_value(serde_json::json!({
            "data": {"a": "b2xk", "keep": "eA=="}, "stringData": {"a": "new", "b": "two"}
        }))
        .unwrap();
        s.apply_defaults();
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert!(s.string_data.is_empty());
        assert_eq!(s.data["a"].as_slice(), b"new");
        assert_eq!(s.data["b"].as_slice(), b"two");
        assert_eq!(s.data["keep"].as_slice(), b"x");
        let v = serde_json::to_value(&s).unwrap();
        assert!(v.get("stringData").is_none());
        let mut tls = Secret { type_: Some("kubernetes.io/tls".into()), ..Default::default() };
        tls.apply_defaults();
        assert_eq!(tls.type_.as_deref(), Some("kubernetes.io/tls"));
    }
}

/// Which defaults each kind gets (none: the trait's empty default).
macro_rules! defaulted {
    ($($ty:ident $(=> $f:ident)?),* $(,)?) => {
        $(impl crate::model::ApplyDefaults for crate::model::$ty {
            $(fn apply_defaults(&mut self) {
                $f(self)
            })?
        })*
    };
}

defaulted! {
    CronJob => default_cron_job,
    DaemonSet => default_daemon_set,
    Deployment => default_deployment,
    Endpoints,
    Event,
    EventV1,
    HorizontalPodAutoscaler => default_hpa,
    Job => default_job,
    Lease,
    Namespace,
    Node,
    PersistentVolumeClaim => default_persistent_volume_claim,
    PersistentVolume => default_persistent_volume,
    StorageClass => default_storage_class,
    PodDisruptionBudget,
    Pod => default_pod,
    ReplicaSet => default_replica_set,
    ReplicationController => default_replication_controller,
    Service => default_service,
    StatefulSet => default_stateful_set,
    ConfigMap,
    Secret => default_secret,
    ServiceAccount,
    EndpointSlice => default_endpoint_slice,
    ControllerRevision,
    HorizontalPodAutoscalerV1 => default_hpa_v1,
}
