//! Server-side defaulting: fills the fields Kubernetes fills before an object is stored.
//!
//! The registry calls `Resource::apply_defaults` on create and on main-scope updates,
//! before validation, so every stored object (and every controller reading it) sees
//! the defaulted shape. Every function here is idempotent.

use crate::model::{
    Container, CronJob, DaemonSet, DaemonSetUpdateStrategy, Deployment, DeploymentStrategy, HorizontalPodAutoscaler,
    IntOrString, Job, LabelSelector, Pod, PodSpec, PodTemplateSpec, Probe, ReplicaSet, ReplicationController,
    RollingUpdateDaemonSet, RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, Service, StatefulSet,
    StatefulSetUpdateStrategy,
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

fn default_probe(p: &mut Probe) {
    set(&mut p.timeout_seconds, 1);
    set(&mut p.period_seconds, 10);
    set(&mut p.success_threshold, 1);
    set(&mut p.failure_threshold, 3);
    if let Some(h) = &mut p.http_get {
        set_str(&mut h.path, "/");
        set_str(&mut h.scheme, "HTTP");
    }
}

fn default_container(c: &mut Container) {
    if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
        c.image_pull_policy = Some(default_pull_policy(c.image.as_deref().unwrap_or("")).to_string());
    }
    for p in &mut c.ports {
        set_str(&mut p.protocol, "TCP");
    }
    for p in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_probe(p);
    }
}

/// Everything of a pod spec's defaults except `restartPolicy` (a Job's template must
/// choose its own).
fn default_pod_spec_common(s: &mut PodSpec) {
    set(&mut s.termination_grace_period_seconds, 30);
    set_str(&mut s.dns_policy, "ClusterFirst");
    set_str(&mut s.scheduler_name, "default-scheduler");
    for c in s.init_containers.iter_mut().chain(s.containers.iter_mut()) {
        default_container(c);
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
    set(&mut s.completions, 1);
    set(&mut s.parallelism, 1);
    set(&mut s.backoff_limit, 6);
    set_str(&mut s.completion_mode, "NonIndexed");
    set(&mut s.suspend, false);
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
    PersistentVolumeClaim,
    Pod => default_pod,
    ReplicaSet => default_replica_set,
    ReplicationController => default_replication_controller,
    Service => default_service,
    StatefulSet => default_stateful_set,
}
