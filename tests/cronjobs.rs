//! The CronJob controller end to end, on a control plane whose clock runs 60 times as
//! fast (`--test-clock-speed 60`, a tests-only flag: one simulated minute per second):
//! Jobs on schedule with their names, annotation, owner and `status.active`; Forbid
//! skipping while a Job is active; Replace deleting the running Job; history limits;
//! `kubectl get cronjobs` columns; `kubectl create job --from=cronjob/…`; the Kubernetes
//! documentation's `hello` CronJob; validation of schedules and zones.
//!
//! No Job controller runs on this branch: the tests finish Jobs themselves through the
//! Jobs' `/status` subresource.

mod harness;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::{wait_for, Api, Backend, Cluster};
use serde_json::{json, Value};

const CRONJOBS: &str = "/apis/batch/v1/namespaces/default/cronjobs";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const EVENTS: &str = "/api/v1/namespaces/default/events";
const ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The `hello` CronJob of kubernetes.io's "Running Automated Tasks with a CronJob".
const HELLO: &str = r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command:
            - /bin/sh
            - -c
            - date; echo Hello from the Kubernetes cluster
          restartPolicy: OnFailure
"#;

fn fast_cluster() -> Cluster {
    Cluster::with_args(Backend::Embedded, &["--test-clock-speed", "60"])
}

fn cron_job(name: &str, extra: Value) -> Value {
    let mut spec = json!({
        "schedule": "*/1 * * * *",
        "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]
        }}}}
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name}, "spec": spec})
}

fn create(api: &Api, body: &Value) -> Value {
    let (code, v) = api.post(CRONJOBS, body).expect("POST cronjob");
    assert_eq!(code, 201, "{v}");
    v
}

fn get(api: &Api, path: &str) -> Value {
    let (code, v) = api.get(path).expect("GET");
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

/// The Jobs whose controller is the CronJob with this uid, oldest name first.
fn jobs_of(api: &Api, uid: &str) -> Vec<Value> {
    let mut jobs: Vec<Value> = get(api, JOBS)["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|j| {
            j["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|rs| rs.iter().any(|r| r["uid"] == uid && r["controller"] == true))
        })
        .collect();
    jobs.sort_by_key(|j| j["metadata"]["name"].as_str().unwrap_or_default().to_string());
    jobs
}

fn names(jobs: &[Value]) -> Vec<String> {
    jobs.iter().map(|j| j["metadata"]["name"].as_str().unwrap_or_default().to_string()).collect()
}

fn active_names(cj: &Value) -> BTreeSet<String> {
    cj["status"]["active"].as_array().map(|a| a.iter().filter_map(|r| r["name"].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Finishes a Job the way a Job controller would, through `/status`.
fn finish(api: &Api, job: &str, condition: &str) {
    let path = format!("{JOBS}/{job}/status");
    let (code, v) = api
        .modify(&path, |j| {
            let t = j["metadata"]["annotations"][ANNOTATION].as_str().unwrap_or("2026-01-01T00:00:00Z").to_string();
            j["status"] = json!({
                "startTime": t,
                "conditions": [{"type": condition, "status": "True", "lastTransitionTime": t}],
            });
            if condition == "Complete" {
                j["status"]["completionTime"] = json!(t);
                j["status"]["succeeded"] = json!(1);
            } else {
                j["status"]["failed"] = json!(1);
            }
        })
        .expect("PUT job status");
    assert_eq!(code, 200, "{v}");
}

fn events_with_reason(api: &Api, name: &str, reason: &str) -> Vec<Value> {
    get(api, &format!("{EVENTS}?fieldSelector=involvedObject.name={name}"))["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

#[test]
fn the_hello_example_creates_jobs_every_minute() {
    // No nodes: the Jobs' pods stay Pending, so every Job stays active until the test
    // finishes one (simulated nodes would run them to completion in 0.3 s).
    let c = fast_cluster();
    let api = c.api();
    let k = c.kubectl();
    let out = k.run_with_stdin(&["apply", "-f", "-"], Some(HELLO));
    assert!(out.success(), "{}", out.text());
    let cj = get(&api, &format!("{CRONJOBS}/hello"));
    let uid = cj["metadata"]["uid"].as_str().unwrap().to_string();
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
    assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
    assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);

    let jobs = wait_for("three Jobs of hello", Duration::from_secs(30), || {
        let js = jobs_of(&api, &uid);
        if js.len() >= 3 { Ok(js) } else { Err(format!("{:?}", names(&js))) }
    });
    // Names are hello-<minutes since the epoch>: one per minute (a reconcile later than a
    // whole simulated minute starts only the latest time, as upstream), each annotated
    // with its scheduled time, which is that minute.
    let minutes: Vec<i64> = names(&jobs).iter().map(|n| n.strip_prefix("hello-").and_then(|m| m.parse().ok()).expect(n)).collect();
    for w in minutes.windows(2) {
        assert!(w[1] > w[0], "one Job per minute: {minutes:?}");
    }
    for (j, m) in jobs.iter().zip(&minutes) {
        let at = j["metadata"]["annotations"][ANNOTATION].as_str().expect("scheduled-timestamp annotation");
        let t = chrono::DateTime::parse_from_rfc3339(at).expect(at);
        assert_eq!(t.timestamp(), m * 60, "{at}");
        let r = &j["metadata"]["ownerReferences"][0];
        assert_eq!((r["kind"].as_str(), r["name"].as_str(), r["blockOwnerDeletion"].as_bool()), (Some("CronJob"), Some("hello"), Some(true)));
        assert_eq!(j["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:1.28");
    }
    // Allow: no Job finishes here, so all of them stay active.
    let cj = wait_for("status.active lists the Jobs", Duration::from_secs(10), || {
        let cj = get(&api, &format!("{CRONJOBS}/hello"));
        let active = active_names(&cj);
        if names(&jobs).iter().all(|n| active.contains(n)) { Ok(cj) } else { Err(format!("{active:?}")) }
    });
    assert!(cj["status"]["lastScheduleTime"].is_string(), "{}", cj["status"]);
    let r = &cj["status"]["active"][0];
    assert_eq!((r["kind"].as_str(), r["apiVersion"].as_str(), r["namespace"].as_str()), (Some("Job"), Some("batch/v1"), Some("default")));
    assert!(!events_with_reason(&api, "hello", "SuccessfulCreate").is_empty());

    // A finished Job leaves the active list and sets lastSuccessfulTime.
    let first = names(&jobs)[0].clone();
    finish(&api, &first, "Complete");
    wait_for("the finished Job leaves status.active", Duration::from_secs(10), || {
        let cj = get(&api, &format!("{CRONJOBS}/hello"));
        if !active_names(&cj).contains(&first) && cj["status"]["lastSuccessfulTime"].is_string() { Ok(()) } else { Err(cj["status"].to_string()) }
    });

    // kubectl get cronjobs: upstream's columns, ACTIVE counting the running Jobs.
    let table = k.ok(&["get", "cronjobs"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"], "{table}");
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with("hello") && row.contains("* * * * *") && row.contains("<none>") && row.contains("False"), "{table}");

    // Suspending stops new Jobs: the count holds while the clock moves on by minutes.
    let (code, v) = api.modify(&format!("{CRONJOBS}/hello"), |cj| cj["spec"]["suspend"] = json!(true)).unwrap();
    assert_eq!(code, 200, "{v}");
    let before = jobs_of(&api, &uid).len();
    // A Job of a different, unsuspended CronJob marks the passing of time.
    let tick = create(&api, &cron_job("tick", json!({})));
    let tick_uid = tick["metadata"]["uid"].as_str().unwrap().to_string();
    wait_for("three minutes to pass", Duration::from_secs(30), || {
        let n = jobs_of(&api, &tick_uid).len();
        if n >= 3 { Ok(()) } else { Err(n.to_string()) }
    });
    let after = jobs_of(&api, &uid).len();
    assert!(after <= before + 1, "suspended hello kept creating Jobs: {before} → {after}");
}

#[test]
fn forbid_skips_while_a_job_is_active() {
    let c = fast_cluster();
    let api = c.api();
    let cj = create(&api, &cron_job("single", json!({"concurrencyPolicy": "Forbid"})));
    let uid = cj["metadata"]["uid"].as_str().unwrap().to_string();
    let first = wait_for("the first Job", Duration::from_secs(20), || {
        let js = jobs_of(&api, &uid);
        js.first().map(|j| j["metadata"]["name"].as_str().unwrap_or_default().to_string()).ok_or_else(|| "none".to_string())
    });
    // The controller has seen a later time and skipped it: JobAlreadyActive.
    wait_for("a JobAlreadyActive event", Duration::from_secs(20), || {
        if events_with_reason(&api, "single", "JobAlreadyActive").is_empty() { Err("none yet".into()) } else { Ok(()) }
    });
    assert_eq!(names(&jobs_of(&api, &uid)), [first.clone()], "Forbid must not start a second Job");
    // Once the Job is done, the next time starts a new one.
    finish(&api, &first, "Complete");
    let second = wait_for("a second Job after the first finished", Duration::from_secs(20), || {
        let ns = names(&jobs_of(&api, &uid));
        ns.into_iter().find(|n| *n != first).ok_or_else(|| "none".to_string())
    });
    let cj = wait_for("status.active holds only the new Job", Duration::from_secs(10), || {
        let cj = get(&api, &format!("{CRONJOBS}/single"));
        if active_names(&cj) == BTreeSet::from([second.clone()]) { Ok(cj) } else { Err(cj["status"].to_string()) }
    });
    assert!(cj["status"]["lastSuccessfulTime"].is_string());
}

#[test]
fn replace_deletes_the_running_job() {
    let c = fast_cluster();
    let api = c.api();
    let cj = create(&api, &cron_job("fresh", json!({"concurrencyPolicy": "Replace"})));
    let uid = cj["metadata"]["uid"].as_str().unwrap().to_string();
    let first = wait_for("the first Job", Duration::from_secs(20), || {
        names(&jobs_of(&api, &uid)).into_iter().next().ok_or_else(|| "none".to_string())
    });
    wait_for("the first Job replaced by a newer one", Duration::from_secs(20), || {
        let (code, _) = api.get(&format!("{JOBS}/{first}")).map_err(|e| e.to_string())?;
        let cj = get(&api, &format!("{CRONJOBS}/fresh"));
        let active = active_names(&cj);
        if code == 404 && active.len() == 1 && !active.contains(&first) { Ok(()) } else { Err(format!("{code} {active:?}")) }
    });
    assert!(!events_with_reason(&api, "fresh", "SuccessfulDelete").is_empty());
}

#[test]
fn history_limits_prune_the_oldest_finished_jobs() {
    let c = fast_cluster();
    let api = c.api();
    let cj = create(&api, &cron_job("kept", json!({"successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1})));
    let uid = cj["metadata"]["uid"].as_str().unwrap().to_string();
    // Finish every Job as it appears: the first two fail, the rest succeed.
    let mut finished: Vec<String> = Vec::new();
    wait_for("six finished Jobs", Duration::from_secs(40), || {
        for n in names(&jobs_of(&api, &uid)) {
            if !finished.contains(&n) {
                finish(&api, &n, if finished.len() < 2 { "Failed" } else { "Complete" });
                finished.push(n);
            }
        }
        if finished.len() >= 6 { Ok(()) } else { Err(format!("{finished:?}")) }
    });
    let (failed, succeeded) = finished.split_at(2);
    let want: BTreeSet<String> = [failed[1].clone()].into_iter().chain(succeeded[succeeded.len() - 2..].iter().cloned()).collect();
    wait_for("only the newest failed Job and the two newest succeeded ones left", Duration::from_secs(20), || {
        let left: BTreeSet<String> = names(&jobs_of(&api, &uid)).into_iter().filter(|n| finished.contains(n)).collect();
        if left == want { Ok(()) } else { Err(format!("left {left:?}, want {want:?}")) }
    });
}

#[test]
fn kubectl_tables_create_from_and_validation() {
    let c = Cluster::start(Backend::Embedded);
    let api = c.api();
    let k = c.kubectl();
    // A suspended CronJob in Tokyo time whose last run was five minutes ago (written
    // through /status: the clock here is the real one).
    create(&api, &cron_job("report", json!({"schedule": "@hourly", "timeZone": "Asia/Tokyo", "suspend": true})));
    let five_ago = api::time::rfc3339(chrono::Utc::now() - chrono::Duration::minutes(5));
    let (code, v) = api
        .modify(&format!("{CRONJOBS}/report/status"), |cj| cj["status"] = json!({"lastScheduleTime": five_ago}))
        .unwrap();
    assert_eq!(code, 200, "{v}");
    let table = k.ok(&["get", "cronjobs", "report"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    // Five minutes and the second or two this took: "5m" or "5m1s", as upstream's
    // HumanDuration writes them.
    assert_eq!(&row[..5], ["report", "@hourly", "Asia/Tokyo", "True", "0"], "{table}");
    assert!(row.get(5).is_some_and(|age| age.starts_with("5m")), "{table}");
    let wide = k.ok(&["get", "cronjobs", "report", "-o", "wide"]);
    assert!(wide.lines().next().unwrap_or_default().contains("CONTAINERS") && wide.contains("busybox"), "{wide}");

    // kubectl create job --from=cronjob/report: a Job from the template, owned by the CronJob.
    let out = k.ok(&["create", "job", "--from=cronjob/report", "report-manual"]);
    assert!(out.contains("job.batch/report-manual created"), "{out}");
    let j = get(&api, &format!("{JOBS}/report-manual"));
    assert_eq!(j["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
    assert_eq!(j["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(j["spec"]["template"]["spec"]["containers"][0]["image"], "busybox");
    // The controller sees a Job it did not create.
    wait_for("an UnexpectedJob event", Duration::from_secs(20), || {
        if events_with_reason(&api, "report", "UnexpectedJob").is_empty() { Err("none yet".into()) } else { Ok(()) }
    });

    // Validation as upstream: a 422 naming the field.
    for (extra, field) in [
        (json!({"schedule": "61 * * * *"}), "spec.schedule"),
        (json!({"schedule": "TZ=UTC * * * * *"}), "spec.schedule"),
        (json!({"schedule": "0 0 L * *"}), "spec.schedule"),
        (json!({"timeZone": "Mars/Olympus"}), "spec.timeZone"),
        (json!({"timeZone": "Local"}), "spec.timeZone"),
        (json!({"concurrencyPolicy": "Sometimes"}), "spec.concurrencyPolicy"),
        (json!({"startingDeadlineSeconds": -1}), "spec.startingDeadlineSeconds"),
    ] {
        let (code, v) = api.post(CRONJOBS, &cron_job("bad", extra.clone())).unwrap();
        assert_eq!(code, 422, "{extra}: {v}");
        let causes = v["details"]["causes"].as_array().cloned().unwrap_or_default();
        assert!(causes.iter().any(|c| c["field"] == field), "{extra}: {v}");
    }
    let out = k.fails(&["create", "cronjob", "bad", "--image=busybox", "--schedule=* * * *"]);
    assert!(out.contains("spec.schedule"), "{out}");
}
