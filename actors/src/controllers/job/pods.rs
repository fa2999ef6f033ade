//! The pods a Job creates from its template (upstream's `manageJob` pod creation and
//! `indexed_job_utils.go`): the tracking finalizer, the controller reference, and for
//! Indexed Jobs the index annotation and label, `JOB_COMPLETION_INDEX`, the hostname
//! `<job>-<index>` and the per-index failure counts.

use api::model::{job_keys, EnvVar, EnvVarSource, Job, ObjectFieldSelector, ObjectMeta, Pod};

use crate::controllers::controller_ref_of;

/// Longest generated-name prefix (the registry adds 5 random characters to 63).
const MAX_GENERATE_NAME: usize = 58;

/// Failure counts a new pod of an index inherits (backoffLimitPerIndex).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexFailures {
    pub counted: i32,
    pub ignored: i32,
}

/// A pod to create: its index (Indexed Jobs) and inherited failure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewPod {
    pub index: Option<i32>,
    pub failures: Option<IndexFailures>,
}

fn generate_name(job: &str, index: Option<i32>) -> String {
    let suffix = match index {
        Some(i) => format!("-{i}-"),
        None => "-".to_string(),
    };
    let keep = MAX_GENERATE_NAME.saturating_sub(suffix.len()).min(job.len());
    let mut end = keep;
    while !job.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &job[..end])
}

/// The pod for `new` from `job`'s template.
pub fn pod_for(job: &Job, new: NewPod) -> Pod {
    let t = &job.spec.template;
    let mut meta = ObjectMeta {
        generate_name: Some(generate_name(&job.metadata.name, new.index)),
        namespace: job.metadata.namespace.clone(),
        labels: t.metadata.labels.clone(),
        annotations: t.metadata.annotations.clone(),
        finalizers: t.metadata.finalizers.clone(),
        owner_references: vec![controller_ref_of(job)],
        ..Default::default()
    };
    if !meta.finalizers.iter().any(|f| f == job_keys::TRACKING_FINALIZER) {
        meta.finalizers.push(job_keys::TRACKING_FINALIZER.to_string());
    }
    let mut spec = t.spec.clone();
    if let Some(i) = new.index {
        meta.annotations.insert(job_keys::COMPLETION_INDEX.into(), i.to_string());
        meta.labels.insert(job_keys::COMPLETION_INDEX.into(), i.to_string());
        spec.hostname = Some(format!("{}-{i}", job.metadata.name));
        let env = EnvVar {
            name: job_keys::COMPLETION_INDEX_ENV.into(),
            value: None,
            value_from: Some(Box::new(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: format!("metadata.annotations['{}']", job_keys::COMPLETION_INDEX),
                }),
                ..Default::default()
            })),
        };
        for c in spec.init_containers.iter_mut().chain(spec.containers.iter_mut()) {
            if !c.env.iter().any(|e| e.name == env.name) {
                c.env.push(env.clone());
            }
        }
        if let Some(f) = new.failures {
            meta.annotations.insert(job_keys::INDEX_FAILURE_COUNT.into(), f.counted.to_string());
            if f.ignored > 0 {
                meta.annotations.insert(job_keys::INDEX_IGNORED_FAILURE_COUNT.into(), f.ignored.to_string());
            }
        }
    }
    Pod { metadata: meta, spec, ..Default::default() }
}

/// The failure counts a pod carries (absent: 0).
pub fn failures_of(pod: &Pod) -> IndexFailures {
    let get = |k: &str| pod.metadata.annotations.get(k).and_then(|v| v.parse::<i32>().ok()).unwrap_or(0).max(0);
    IndexFailures { counted: get(job_keys::INDEX_FAILURE_COUNT), ignored: get(job_keys::INDEX_IGNORED_FAILURE_COUNT) }
}

pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.iter().any(|f| f == job_keys::TRACKING_FINALIZER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(mode: &str) -> Job {
        let mut j: Job = serde_json::from_value(json!({
            "metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
            "spec": {"completionMode": mode, "completions": 3,
                     "template": {"metadata": {"labels": {"app": "pi"}},
                                  "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "perl"}]}}}
        }))
        .unwrap();
        j.generate_selector();
        j
    }

    #[test]
    fn indexed_pods_carry_their_index_everywhere() {
        let p = pod_for(&job("Indexed"), NewPod { index: Some(2), failures: Some(IndexFailures { counted: 1, ignored: 0 }) });
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-2-"));
        assert_eq!(p.metadata.annotations[job_keys::COMPLETION_INDEX], "2");
        assert_eq!(p.metadata.labels[job_keys::COMPLETION_INDEX], "2");
        assert_eq!(p.metadata.labels[job_keys::CONTROLLER_UID], "u1");
        assert_eq!(p.metadata.labels[job_keys::LEGACY_JOB_NAME], "pi");
        assert_eq!(p.spec.hostname.as_deref(), Some("pi-2"));
        let env = &p.spec.containers[0].env[0];
        assert_eq!(env.name, "JOB_COMPLETION_INDEX");
        assert_eq!(
            env.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path,
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
        assert_eq!(failures_of(&p), IndexFailures { counted: 1, ignored: 0 });
        assert!(has_tracking_finalizer(&p));
        let r = p.metadata.controller_ref().unwrap();
        assert_eq!((r.kind.as_str(), r.api_version.as_str(), r.uid.as_str()), ("Job", "batch/v1", "u1"));
    }

    #[test]
    fn non_indexed_pods_and_long_names() {
        let p = pod_for(&job("NonIndexed"), NewPod { index: None, failures: None });
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-"));
        assert!(p.spec.containers[0].env.is_empty());
        assert_eq!(p.spec.hostname, None);
        let long = "a".repeat(63);
        assert_eq!(generate_name(&long, Some(12)).len(), MAX_GENERATE_NAME);
        assert!(generate_name(&long, Some(12)).ends_with("-12-"));
    }
}
