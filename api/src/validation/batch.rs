//! Job and CronJob validation.

use super::cron::{validate_schedule, validate_time_zone};
use super::meta::*;
use super::pod::validate_pod_template;
use super::FieldError;
use crate::model::{CronJob, Job, JobSpec};

/// CronJob names leave room for the 11-character suffix of the Jobs they create.
pub const CRON_JOB_NAME_MAX: usize = 52;

pub fn validate_job(job: &Job) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&job.metadata, true, NameFormat::Dns1123Subdomain);
    errs.extend(validate_job_spec(&job.spec, "spec"));
    // Once the registry has given the Job its uid (a stored or about-to-be-stored Job).
    if !job.metadata.uid.is_empty() {
        validate_generated_selector(job, &mut errs);
    }
    errs
}

/// Upstream's `validateGeneratedSelector`: unless `manualSelector`, the template carries
/// the Job's uid and name labels and the selector picks that uid, so that a Job's
/// selector matches its own pods only.
fn validate_generated_selector(job: &Job, errs: &mut Vec<FieldError>) {
    use crate::model::job_keys;
    if job.spec.manual_selector == Some(true) {
        return;
    }
    let labels = &job.spec.template.metadata.labels;
    let uid = job.metadata.uid.as_str();
    for (key, want) in [
        (job_keys::LEGACY_CONTROLLER_UID, uid),
        (job_keys::LEGACY_JOB_NAME, job.metadata.name.as_str()),
        (job_keys::CONTROLLER_UID, uid),
        (job_keys::JOB_NAME, job.metadata.name.as_str()),
    ] {
        let field = format!("spec.template.metadata.labels[{key}]");
        match labels.get(key) {
            None => errs.push(FieldError::required(field, format!("must be '{want}'"))),
            Some(v) if v != want => errs.push(FieldError::invalid(field, v, format!("must be '{want}'"))),
            Some(_) => {}
        }
    }
    match &job.spec.selector {
        None => errs.push(FieldError::required("spec.selector", "")),
        Some(sel) => {
            let expected = [(job_keys::CONTROLLER_UID.to_string(), uid.to_string())].into();
            if !sel.matches(&expected) {
                errs.push(FieldError::invalid("spec.selector", "", "`selector` not auto-generated"));
            }
        }
    }
}

/// Upstream's `ValidateJobSpecUpdate`: what a running Job may not change.
pub fn validate_job_update(new: &Job, old: &Job) -> Vec<FieldError> {
    let mut errs = validate_job(new);
    let (n, o) = (&new.spec, &old.spec);
    let immutable = |errs: &mut Vec<FieldError>, same: bool, field: &str| {
        if !same {
            errs.push(FieldError::invalid(format!("spec.{field}"), "", "field is immutable"));
        }
    };
    immutable(&mut errs, n.selector == o.selector, "selector");
    immutable(&mut errs, n.manual_selector == o.manual_selector, "manualSelector");
    immutable(&mut errs, n.completion_mode == o.completion_mode, "completionMode");
    immutable(&mut errs, n.pod_failure_policy == o.pod_failure_policy, "podFailurePolicy");
    immutable(&mut errs, n.success_policy == o.success_policy, "successPolicy");
    immutable(&mut errs, n.backoff_limit_per_index == o.backoff_limit_per_index, "backoffLimitPerIndex");
    // Elastic Indexed Jobs: completions may follow parallelism when both are equal.
    let elastic = new.is_indexed() && n.completions == n.parallelism && o.completions == o.parallelism;
    immutable(&mut errs, n.completions == o.completions || elastic, "completions");
    // The template may change only while the Job is suspended and has not started.
    let may_change_template = o.suspend == Some(true) && old.status.as_ref().is_none_or(|s| s.start_time.is_none());
    immutable(&mut errs, n.template == o.template || may_change_template, "template");
    errs
}

/// A job spec under `path` (`spec`, or `spec.jobTemplate.spec` of a CronJob).
pub fn validate_job_spec(s: &JobSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    opt_non_negative(&mut errs, s.parallelism, &format!("{path}.parallelism"));
    opt_non_negative(&mut errs, s.completions, &format!("{path}.completions"));
    opt_non_negative(&mut errs, s.backoff_limit, &format!("{path}.backoffLimit"));
    opt_non_negative(&mut errs, s.active_deadline_seconds, &format!("{path}.activeDeadlineSeconds"));
    opt_non_negative(&mut errs, s.ttl_seconds_after_finished, &format!("{path}.ttlSecondsAfterFinished"));
    match s.completion_mode.as_deref() {
        None | Some("NonIndexed") => {}
        Some("Indexed") => {
            if s.completions.is_none() {
                errs.push(FieldError::required(
                    format!("{path}.completions"),
                    "when completion mode is Indexed",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.completionMode"),
            other,
            &["Indexed", "NonIndexed"],
        )),
    }
    match &s.selector {
        None => {
            if s.manual_selector == Some(true) {
                errs.push(FieldError::required(format!("{path}.selector"), "when `manualSelector` is true"));
            }
        }
        Some(sel) => {
            let before = errs.len();
            errs.extend(validate_label_selector(sel, &format!("{path}.selector")));
            if errs.len() == before && !sel.matches(&s.template.metadata.labels) {
                errs.push(FieldError::invalid(
                    format!("{path}.template.metadata.labels"),
                    "",
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    errs.extend(validate_pod_template(&s.template, &format!("{path}.template")));
    let rp = format!("{path}.template.spec.restartPolicy");
    match s.template.spec.restart_policy.as_deref() {
        Some("OnFailure" | "Never") => {}
        None => errs.push(FieldError::required(rp, "must be OnFailure or Never for a Job")),
        Some(other) if super::pod::RESTART_POLICIES.contains(&other) => {
            errs.push(FieldError::not_supported(rp, other, &["OnFailure", "Never"]))
        }
        // Unknown values are already reported by the pod spec checks.
        Some(_) => {}
    }
    super::job_policy::validate_job_policies(s, path, &mut errs);
    errs
}

pub fn validate_cron_job(cj: &CronJob) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&cj.metadata, true, NameFormat::Dns1123Subdomain);
    if cj.metadata.name.len() > CRON_JOB_NAME_MAX {
        errs.push(FieldError::invalid(
            "metadata.name",
            &cj.metadata.name,
            format!("must be no more than {CRON_JOB_NAME_MAX} characters"),
        ));
    }
    let s = &cj.spec;
    if s.schedule.is_empty() {
        errs.push(FieldError::required("spec.schedule", ""));
    } else {
        errs.extend(validate_schedule(&s.schedule, "spec.schedule"));
    }
    errs.extend(validate_time_zone(s.time_zone.as_deref(), "spec.timeZone"));
    opt_supported(&mut errs, s.concurrency_policy.as_deref(), "spec.concurrencyPolicy", &["Allow", "Forbid", "Replace"]);
    opt_non_negative(&mut errs, s.starting_deadline_seconds, "spec.startingDeadlineSeconds");
    opt_non_negative(&mut errs, s.successful_jobs_history_limit, "spec.successfulJobsHistoryLimit");
    opt_non_negative(&mut errs, s.failed_jobs_history_limit, "spec.failedJobsHistoryLimit");
    let jt = &s.job_template;
    errs.extend(validate_labels(&jt.metadata.labels, "spec.jobTemplate.metadata.labels"));
    errs.extend(validate_annotations(&jt.metadata.annotations, "spec.jobTemplate.metadata.annotations"));
    errs.extend(validate_job_spec(&jt.spec, "spec.jobTemplate.spec"));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::FieldErrorKind;
    use serde_json::json;

    fn template() -> serde_json::Value {
        json!({"metadata": {"labels": {"job": "pi"}},
               "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "busybox", "command": ["sh", "-c", "echo 3.14"]}]}})
    }

    fn job() -> Job {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {"parallelism": 2, "completions": 4, "backoffLimit": 3, "ttlSecondsAfterFinished": 60,
                     "completionMode": "Indexed", "template": template()}
        }))
        .unwrap()
    }

    fn cron_job() -> CronJob {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "nightly", "namespace": "default"},
            "spec": {"schedule": "30 2 * * mon-fri", "timeZone": "Europe/Paris", "concurrencyPolicy": "Forbid",
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                     "jobTemplate": {"spec": {"backoffLimit": 2, "template": template()}}}
        }))
        .unwrap()
    }

    fn only(errs: Vec<FieldError>, field: &str, kind: FieldErrorKind) {
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].field.as_str(), errs[0].kind), (field, kind));
    }

    #[test]
    fn accepts_good_job_and_cron_job() {
        assert_eq!(validate_job(&job()), vec![]);
        assert_eq!(validate_cron_job(&cron_job()), vec![]);
    }

    #[test]
    fn job_counts_non_negative() {
        for (set, field) in [
            (Box::new(|j: &mut Job| j.spec.parallelism = Some(-1)) as Box<dyn Fn(&mut Job)>, "spec.parallelism"),
            (Box::new(|j: &mut Job| j.spec.completions = Some(-1)), "spec.completions"),
            (Box::new(|j: &mut Job| j.spec.backoff_limit = Some(-1)), "spec.backoffLimit"),
        ] {
            let mut j = job();
            set(&mut j);
            only(validate_job(&j), field, FieldErrorKind::Invalid);
        }
    }

    #[test]
    fn job_restart_policy() {
        let mut j = job();
        j.spec.template.spec.restart_policy = Some("Always".into());
        only(validate_job(&j), "spec.template.spec.restartPolicy", FieldErrorKind::NotSupported);
        let mut j = job();
        j.spec.template.spec.restart_policy = None;
        only(validate_job(&j), "spec.template.spec.restartPolicy", FieldErrorKind::Required);
    }

    #[test]
    fn job_indexed_needs_completions_and_selector_must_match() {
        let mut j = job();
        j.spec.completions = None;
        only(validate_job(&j), "spec.completions", FieldErrorKind::Required);
        let mut j = job();
        j.spec.manual_selector = Some(true);
        only(validate_job(&j), "spec.selector", FieldErrorKind::Required);
        let mut j = job();
        j.spec.selector = Some(crate::model::LabelSelector::from_map(&[("job".to_string(), "other".to_string())].into()));
        only(validate_job(&j), "spec.template.metadata.labels", FieldErrorKind::Invalid);
    }

    #[test]
    fn generated_selector_needs_the_uid_labels_unless_manual() {
        let mut j = job();
        j.spec.selector = None;
        j.metadata.uid = "u1".into();
        j.generate_selector();
        assert_eq!(validate_job(&j), vec![]);
        assert_eq!(j.spec.selector.as_ref().unwrap().match_labels["batch.kubernetes.io/controller-uid"], "u1");
        assert_eq!(j.spec.template.metadata.labels["job-name"], "pi");
        let mut wrong = j.clone();
        wrong.spec.template.metadata.labels.insert("controller-uid".into(), "other".into());
        only(validate_job(&wrong), "spec.template.metadata.labels[controller-uid]", FieldErrorKind::Invalid);
        let mut wrong = j.clone();
        wrong.spec.selector = Some(crate::model::LabelSelector::from_map(&[("job".to_string(), "pi".to_string())].into()));
        only(validate_job(&wrong), "spec.selector", FieldErrorKind::Invalid);
        let mut manual = job();
        manual.metadata.uid = "u1".into();
        manual.spec.manual_selector = Some(true);
        manual.spec.selector = Some(crate::model::LabelSelector::from_map(&[("job".to_string(), "pi".to_string())].into()));
        manual.generate_selector();
        assert_eq!(validate_job(&manual), vec![], "a manual selector is the user's");
        assert!(!manual.spec.template.metadata.labels.contains_key("controller-uid"));
    }

    #[test]
    fn job_update_keeps_the_selector_and_template_but_not_suspend() {
        let mut old = job();
        old.metadata.uid = "u1".into();
        old.generate_selector();
        let mut new = old.clone();
        new.spec.suspend = Some(true);
        new.spec.parallelism = Some(5);
        assert_eq!(validate_job_update(&new, &old), vec![]);
        let mut new = old.clone();
        new.spec.selector.as_mut().unwrap().match_labels.insert("x".into(), "y".into());
        assert!(validate_job_update(&new, &old).iter().any(|e| e.field == "spec.selector"));
        let mut new = old.clone();
        new.spec.template.spec.containers[0].image = Some("other".into());
        only(validate_job_update(&new, &old), "spec.template", FieldErrorKind::Invalid);
    }

    #[test]
    fn cron_job_schedule() {
        let mut c = cron_job();
        c.spec.schedule = String::new();
        only(validate_cron_job(&c), "spec.schedule", FieldErrorKind::Required);
        let mut c = cron_job();
        c.spec.schedule = "61 * * * *".into();
        only(validate_cron_job(&c), "spec.schedule", FieldErrorKind::Invalid);
        let mut c = cron_job();
        c.spec.schedule = "@daily".into();
        assert_eq!(validate_cron_job(&c), vec![]);
    }

    #[test]
    fn cron_job_policies_and_template() {
        let mut c = cron_job();
        c.spec.concurrency_policy = Some("Sometimes".into());
        only(validate_cron_job(&c), "spec.concurrencyPolicy", FieldErrorKind::NotSupported);
        let mut c = cron_job();
        c.spec.job_template.spec.template.spec.containers[0].image = None;
        only(validate_cron_job(&c), "spec.jobTemplate.spec.template.spec.containers[0].image", FieldErrorKind::Required);
        let mut c = cron_job();
        c.metadata.name = "a".repeat(53);
        only(validate_cron_job(&c), "metadata.name", FieldErrorKind::Invalid);
        let mut c = cron_job();
        c.spec.starting_deadline_seconds = Some(-10);
        only(validate_cron_job(&c), "spec.startingDeadlineSeconds", FieldErrorKind::Invalid);
    }
}
