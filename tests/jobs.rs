//! Jobs end to end on simulated nodes (pods run to completion as their `sim.shoal.io/*`
//! annotations say): exact counting of an Indexed Job whose every index fails once,
//! backoffLimit, a pod failure policy on exit code 42, activeDeadlineSeconds,
//! suspend/resume, ttlSecondsAfterFinished, 200 actor kills during a run, the
//! documentation's `pi` Job through kubectl, and selector validation.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use harness::{wait_for, Api, Backend, Cluster};
use serde_json::{json, Value};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";
const FINALIZER: &str = "batch.kubernetes.io/job-tracking";

/// A cluster whose Job back-off starts at 200 ms (10 s upstream), with 3 nodes.
fn cluster(extra: &[&str]) -> Cluster {
    let mut args = vec!["--job-backoff-base-ms", "200"];
    args.extend_from_slice(extra);
    let mut c = Cluster::with_args(Backend::Embedded, &args);
    c.add_simulated_nodes("job", 3);
    c
}

fn job(name: &str, spec: Value, annotations: Value) -> Value {
    let mut spec = spec;
    spec["template"] = json!({
        "metadata": {"annotations": annotations},
        "spec": {"restartPolicy": spec.get("restartPolicy").cloned().unwrap_or(json!("Never")),
                 "containers": [{"name": "main", "image": "busybox"}]}
    });
    if let Some(o) = spec.as_object_mut() {
        o.remove("restartPolicy");
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec})
}

fn create(api: &Api, body: &Value) -> Value {
    let (code, v) = api.post(JOBS, body).expect("POST job");
    assert_eq!(code, 201, "{v}");
    v
}

fn get_job(api: &Api, name: &str) -> Value {
    let (code, v) = api.get(&format!("{JOBS}/{name}")).expect("GET job");
    assert_eq!(code, 200, "{v}");
    v
}

fn pods_of(api: &Api, name: &str) -> Vec<Value> {
    let (_, v) = api.get(&format!("{PODS}?labelSelector=batch.kubernetes.io/job-name%3D{name}")).expect("GET pods");
    v["items"].as_array().cloned().unwrap_or_default()
}

fn condition<'a>(job: &'a Value, type_: &str) -> Option<&'a Value> {
    job["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_ && c["status"] == "True")
}

fn wait_condition(api: &Api, name: &str, type_: &str, deadline: Duration) -> Value {
    wait_for(&format!("job {name} {type_}"), deadline, || {
        let j = get_job(api, name);
        if condition(&j, type_).is_some() { Ok(j) } else { Err(format!("status {}", j["status"])) }
    })
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn merge_patch(api: &Api, path: &str, patch: Value) {
    let (code, v) = api.send("PATCH", path, "application/merge-patch+json", patch.to_string().as_bytes()).expect("PATCH");
    assert_eq!(code, 200, "{v}");
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

fn holds_finalizer(p: &Value) -> bool {
    p["metadata"]["finalizers"].as_array().is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

#[test]
fn indexed_job_whose_every_index_fails_once_counts_exactly_ten_successes() {
    let c = cluster(&[]);
    let api = c.api();
    let spec = json!({"completions": 10, "parallelism": 3, "completionMode": "Indexed", "backoffLimitPerIndex": 1});
    create(&api, &job("ten", spec, json!({"sim.shoal.io/run-seconds": "0.8"})));
    // The first pod of every index (failure count 0) is told to fail while it runs.
    let mut doomed = BTreeSet::new();
    let mut most_active = 0;
    let done = wait_for("job ten Complete", Duration::from_secs(90), || {
        let pods = pods_of(&api, "ten");
        let active = pods.iter().filter(|p| !matches!(phase(p), "Succeeded" | "Failed") && p["metadata"]["deletionTimestamp"].is_null()).count();
        most_active = most_active.max(active);
        for p in &pods {
            let a = &p["metadata"]["annotations"];
            let name = p["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if a["batch.kubernetes.io/job-index-failure-count"] == "0" && phase(p) != "Failed" && doomed.insert(name.clone()) {
                merge_patch(&api, &format!("{PODS}/{name}"), json!({"metadata": {"annotations": {"sim.shoal.io/exit-code": "1"}}}));
            }
        }
        let j = get_job(&api, "ten");
        if condition(&j, "Complete").is_some() { Ok(j) } else { Err(format!("status {}", j["status"])) }
    });
    let st = &done["status"];
    assert_eq!(n(&st["succeeded"]), 10, "{st}");
    assert_eq!(n(&st["failed"]), 10, "one failure per index: {st}");
    assert_eq!(st["completedIndexes"], "0-9", "{st}");
    assert_eq!(st["failedIndexes"], "", "{st}");
    assert_eq!(n(&st["active"]), 0);
    assert!(condition(&done, "SuccessCriteriaMet").is_some_and(|c| c["reason"] == "CompletionsReached"), "{st}");
    assert!(st["completionTime"].is_string() && st["startTime"].is_string(), "{st}");
    assert!(most_active <= 3, "parallelism 3, saw {most_active} active pods");
    let pods = pods_of(&api, "ten");
    let mut per_index: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for p in &pods {
        let ix = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str().unwrap_or("?").to_string();
        assert_eq!(p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"], ix.as_str());
        assert_eq!(p["spec"]["hostname"], format!("ten-{ix}"));
        assert_eq!(p["spec"]["containers"][0]["env"][0]["name"], "JOB_COMPLETION_INDEX");
        assert_eq!(p["metadata"]["labels"]["batch.kubernetes.io/controller-uid"], done["metadata"]["uid"]);
        assert_eq!(p["metadata"]["labels"]["job-name"], "ten");
        assert!(!holds_finalizer(p), "every pod was counted and let go: {}", p["metadata"]);
        per_index.entry(ix).or_default().push(phase(p));
    }
    assert_eq!(per_index.len(), 10, "{per_index:?}");
    for (ix, phases) in &per_index {
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(sorted, ["Failed", "Succeeded"], "index {ix}");
    }
    let (_, evs) = api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dten").unwrap();
    let reasons: Vec<&str> = evs["items"].as_array().map(|a| a.iter().filter_map(|e| e["reason"].as_str()).collect()).unwrap_or_default();
    assert!(reasons.contains(&"Completed") && reasons.contains(&"SuccessfulCreate"), "{reasons:?}");
}

#[test]
fn backoff_limit_fails_the_job_and_on_exit_code_42_the_policy_fails_it_at_once() {
    let c = cluster(&[]);
    let api = c.api();
    create(&api, &job("limit", json!({"backoffLimit": 2}), json!({"sim.shoal.io/exit-code": "1"})));
    let spec = json!({"completions": 4, "parallelism": 2, "backoffLimit": 6,
                      "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}});
    create(&api, &job("policy", spec, json!({"sim.shoal.io/exit-code": "42"})));

    let j = wait_condition(&api, "limit", "Failed", Duration::from_secs(60));
    let failed = condition(&j, "Failed").unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded", "{j}");
    assert_eq!(failed["message"], "Job has reached the specified backoff limit");
    assert!(condition(&j, "FailureTarget").is_some(), "the interim condition came first: {}", j["status"]);
    assert_eq!(n(&j["status"]["failed"]), 3, "backoffLimit 2: the third failure fails the job: {}", j["status"]);
    assert_eq!(pods_of(&api, "limit").len(), 3);
    // The pod's exit state is the kubelet's.
    let p = &pods_of(&api, "limit")[0];
    let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!((n(&t["exitCode"]), t["reason"].as_str()), (1, Some("Error")), "{t}");
    assert!(t["startedAt"].is_string() && t["finishedAt"].is_string(), "{t}");

    let j = wait_condition(&api, "policy", "Failed", Duration::from_secs(30));
    let failed = condition(&j, "Failed").unwrap();
    assert_eq!(failed["reason"], "PodFailurePolicy", "{j}");
    let msg = failed["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("Container main for pod default/policy-") && msg.ends_with("failed with exit code 42 matching FailJob rule at index 0"), "{msg}");
    assert!(pods_of(&api, "policy").len() <= 2, "no retries after FailJob");

    // OnFailure: one pod restarts in place until its restarts reach the limit (then the
    // Job deletes it).
    let onfail = json!({"backoffLimit": 2, "restartPolicy": "OnFailure"});
    create(&api, &job("restarts", onfail, json!({"sim.shoal.io/exit-code": "1", "sim.shoal.io/run-seconds": "0.1"})));
    let mut names = BTreeSet::new();
    let mut restarts = 0;
    let j = wait_for("job restarts Failed", Duration::from_secs(30), || {
        for p in pods_of(&api, "restarts") {
            names.insert(p["metadata"]["name"].as_str().unwrap_or_default().to_string());
            restarts = restarts.max(n(&p["status"]["containerStatuses"][0]["restartCount"]));
        }
        let j = get_job(&api, "restarts");
        if condition(&j, "Failed").is_some() { Ok(j) } else { Err(format!("status {}", j["status"])) }
    });
    assert_eq!(condition(&j, "Failed").unwrap()["reason"], "BackoffLimitExceeded");
    assert_eq!(names.len(), 1, "OnFailure restarts in place: {names:?}");
    assert!(restarts >= 1, "restartCount seen: {restarts}");
}

#[test]
fn active_deadline_suspend_resume_and_ttl() {
    let c = cluster(&[]);
    let api = c.api();
    create(&api, &job("deadline", json!({"activeDeadlineSeconds": 2, "parallelism": 2, "completions": 2}), json!({"sim.shoal.io/run-seconds": "60"})));
    create(&api, &job("later", json!({"suspend": true, "completions": 2}), json!({})));
    create(&api, &job("paused", json!({"completions": 4, "parallelism": 2}), json!({"sim.shoal.io/run-seconds": "3"})));
    create(&api, &job("brief", json!({"ttlSecondsAfterFinished": 1}), json!({})));

    // Suspended from the start: no pods, no startTime.
    let j = wait_condition(&api, "later", "Suspended", Duration::from_secs(20));
    assert_eq!(condition(&j, "Suspended").unwrap()["reason"], "JobSuspended");
    assert!(j["status"]["startTime"].is_null(), "{}", j["status"]);
    assert!(pods_of(&api, "later").is_empty());

    // Suspended while running: its pods go and count as nothing.
    wait_for("paused to run 2 pods", Duration::from_secs(20), || {
        let j = get_job(&api, "paused");
        if n(&j["status"]["active"]) == 2 { Ok(()) } else { Err(format!("{}", j["status"])) }
    });
    merge_patch(&api, &format!("{JOBS}/paused"), json!({"spec": {"suspend": true}}));
    wait_for("paused to have no active pods", Duration::from_secs(20), || {
        let j = get_job(&api, "paused");
        let st = &j["status"];
        if condition(&j, "Suspended").is_some() && n(&st["active"]) == 0 && n(&st["terminating"]) == 0 { Ok(()) } else { Err(format!("{st}")) }
    });
    let j = get_job(&api, "paused");
    assert_eq!((n(&j["status"]["failed"]), n(&j["status"]["succeeded"])), (0, 0), "{}", j["status"]);

    let j = wait_condition(&api, "deadline", "Failed", Duration::from_secs(20));
    assert_eq!(condition(&j, "Failed").unwrap()["reason"], "DeadlineExceeded", "{j}");
    assert_eq!(condition(&j, "Failed").unwrap()["message"], "Job was active longer than specified deadline");
    assert_eq!(n(&j["status"]["active"]), 0);
    assert!(pods_of(&api, "deadline").iter().all(|p| phase(p) == "Failed"), "its pods were stopped");

    for name in ["later", "paused"] {
        merge_patch(&api, &format!("{JOBS}/{name}"), json!({"spec": {"suspend": false}}));
    }
    for (name, want) in [("later", 2), ("paused", 4)] {
        let j = wait_condition(&api, name, "Complete", Duration::from_secs(60));
        assert_eq!(n(&j["status"]["succeeded"]), want, "{}", j["status"]);
        let s = j["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Suspended").cloned().unwrap_or_default();
        assert_eq!((s["status"].as_str(), s["reason"].as_str()), (Some("False"), Some("JobResumed")), "{s}");
    }

    // ttlSecondsAfterFinished: the finished Job goes, with its pods.
    wait_for("brief to be deleted after its TTL", Duration::from_secs(30), || {
        let (code, v) = api.get(&format!("{JOBS}/brief")).map_err(|e| e.to_string())?;
        let pods = pods_of(&api, "brief").len();
        if code == 404 && pods == 0 { Ok(()) } else { Err(format!("{code} {}, {pods} pods", v["status"])) }
    });
}

#[test]
fn two_hundred_actor_kills_during_a_run_change_nothing() {
    let c = cluster(&["--restart-limit", "100000"]);
    let api = c.api();
    create(&api, &job("chaos", json!({"completions": 40, "parallelism": 5}), json!({"sim.shoal.io/run-seconds": "0.2"})));
    let spec = json!({"completions": 20, "parallelism": 4, "completionMode": "Indexed"});
    create(&api, &job("chaos-indexed", spec, json!({"sim.shoal.io/run-seconds": "0.2"})));
    let mut kills = 0;
    let mut attempts = 0;
    while kills < 200 && attempts < 5000 {
        attempts += 1;
        let path = match attempts % 5 {
            0 => "/debug/actors/jobs/kill".to_string(),
            1 | 3 => "/debug/actors/jobs/default/chaos-indexed/kill".to_string(),
            _ => "/debug/actors/jobs/default/chaos/kill".to_string(),
        };
        if let Ok((200, _)) = api.post(&path, &json!({})) {
            kills += 1;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(kills, 200, "kills accepted");
    for (name, want) in [("chaos", 40), ("chaos-indexed", 20)] {
        let j = wait_condition(&api, name, "Complete", Duration::from_secs(120));
        let st = &j["status"];
        assert_eq!((n(&st["succeeded"]), n(&st["failed"])), (want, 0), "{name}: {st}");
        let pods = pods_of(&api, name);
        let succeeded: Vec<&Value> = pods.iter().filter(|p| phase(p) == "Succeeded").collect();
        // A create in flight when its actor was killed can still land after the restarted
        // actor has looked, so a completion may have run twice (upstream documents the same:
        // "the same program may sometimes be started twice"); it is counted once.
        assert!(succeeded.len() as i64 >= want, "{name}: {} succeeded pods", succeeded.len());
        if name == "chaos" {
            println!("{name}: {} succeeded pods for {want} completions", succeeded.len());
        } else {
            let ix: BTreeSet<i64> = succeeded
                .iter()
                .filter_map(|p| p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str()?.parse().ok())
                .collect();
            assert_eq!(ix, (0..want).collect::<BTreeSet<_>>(), "{name}");
            println!("{name}: {} succeeded pods for {want} indexes", succeeded.len());
        }
        assert!(pods.iter().all(|p| !holds_finalizer(p)), "{name}: a pod kept its tracking finalizer");
        let unc = &st["uncountedTerminatedPods"];
        assert!(unc["succeeded"].as_array().is_none_or(|a| a.is_empty()) && unc["failed"].as_array().is_none_or(|a| a.is_empty()), "{unc}");
    }
    assert_eq!(get_job(&api, "chaos-indexed")["status"]["completedIndexes"], "0-19");
    let (_, tree) = api.get("/debug/actors").unwrap();
    assert!(n(&tree["restartsByCause"]["killed"]) >= 200, "{tree}");
}

#[test]
fn the_documentations_pi_job_applies_and_completes_through_kubectl() {
    let c = cluster(&[]);
    let k = c.kubectl();
    let manifest = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl",  "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
"#;
    let r = k.run_with_stdin(&["apply", "-f", "-"], Some(manifest));
    assert!(r.success(), "{}", r.text());
    let r = k.run(&["wait", "--for=condition=complete", "job/pi", "--timeout=60s"]);
    assert!(r.success(), "{}", r.text());
    let r = k.run(&["get", "jobs"]);
    assert!(r.success(), "{}", r.text());
    let header: Vec<&str> = r.stdout.lines().next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], "{}", r.stdout);
    let row: Vec<&str> = r.stdout.lines().nth(1).unwrap_or_default().split_whitespace().collect();
    assert_eq!(&row[..3], ["pi", "Complete", "1/1"], "{}", r.stdout);
    let r = k.run(&["get", "pods", "--selector=batch.kubernetes.io/job-name=pi", "-o", "jsonpath={.items[*].status.phase}"]);
    assert_eq!(r.stdout.trim(), "Succeeded", "{}", r.text());
}

#[test]
fn selectors_are_generated_and_manual_ones_validated() {
    let c = Cluster::embedded();
    let api = c.api();
    let mut bad = job("manual", json!({"manualSelector": true}), json!({}));
    bad["spec"]["template"]["metadata"]["labels"] = json!({"app": "x"});
    let (code, st) = api.post(JOBS, &bad).unwrap();
    assert_eq!(code, 422, "{st}");
    assert!(st["details"]["causes"].as_array().unwrap().iter().any(|c| c["field"] == "spec.selector"), "{st}");

    let mut wrong = job("wrong", json!({}), json!({}));
    wrong["spec"]["template"]["metadata"]["labels"] = json!({"controller-uid": "not-mine"});
    let (code, st) = api.post(JOBS, &wrong).unwrap();
    assert_eq!(code, 422, "{st}");
    assert!(st["details"]["causes"].as_array().unwrap().iter().any(|c| c["field"] == "spec.template.metadata.labels[controller-uid]"), "{st}");

    let j = create(&api, &job("auto", json!({"suspend": true}), json!({})));
    let uid = j["metadata"]["uid"].as_str().unwrap();
    assert_eq!(j["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"], uid);
    assert_eq!(j["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"], "auto");
    let (code, st) = api.send("PATCH", &format!("{JOBS}/auto"), "application/merge-patch+json",
        json!({"spec": {"selector": {"matchLabels": {"x": "y"}}}}).to_string().as_bytes()).unwrap();
    assert_eq!(code, 422, "the selector is immutable: {st}");
}
