//! The real kubectl against shoal, end to end: discovery, explain, apply (client- and
//! server-side), get in every format and as a watch, describe, scale, set image, rollout
//! (status, history, undo, pause, resume, restart), patch (strategic, merge, JSON),
//! delete with each cascade, namespaces. Every command's exit code and output are
//! checked.
//!
//! kubectl is the pinned one from scripts/install-deps.sh (`SHOAL_KUBECTL`, set by
//! scripts/test.sh; else the repository's .tools/venv; else PATH).

mod harness;

use harness::kubectl_bin;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::{wait_for, Api, Cluster, Kubectl};
use serde_json::{json, Value};


fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/manifests")
}

/// kubectl for the cluster, after checking that it runs at all.
fn kubectl_for(cluster: &Cluster) -> Kubectl {
    let k = cluster.kubectl();
    let v = k.run(&["version", "--client"]);
    eprintln!("using {} ({})", kubectl_bin().display(), v.stdout.lines().next().unwrap_or("?"));
    assert!(v.success(), "kubectl does not run (scripts/install-deps.sh installs it):\n{}", v.text());
    k
}

/// A cluster with two simulated nodes and kubectl for it.
fn start() -> (Cluster, Kubectl) {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("kc", 2);
    let k = kubectl_for(&cluster);
    (cluster, k)
}

fn fields(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// The row of a table whose first column is `name`.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(fields)
        .find(|f| f.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{table}"))
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";

/// Waits until the Deployment has rolled out `n` available replicas of its current spec.
fn wait_rolled_out(api: &Api, name: &str, n: u64) {
    wait_for(&format!("deployment {name} to have {n} available replicas"), Duration::from_secs(90), || {
        let (_, d) = api.get(&format!("{DEPLOY}/{name}")).map_err(|e| e.to_string())?;
        let s = &d["status"];
        let done = s["observedGeneration"] == d["metadata"]["generation"]
            && s["replicas"].as_u64() == Some(n)
            && s["updatedReplicas"].as_u64() == Some(n)
            && s["readyReplicas"].as_u64() == Some(n)
            && s["availableReplicas"].as_u64() == Some(n);
        if done {
            Ok(())
        } else {
            Err(s.to_string())
        }
    });
}

fn items(api: &Api, path: &str) -> Vec<Value> {
    let (code, l) = api.get(path).expect("list");
    assert_eq!(code, 200, "{path}: {l}");
    l["items"].as_array().cloned().unwrap_or_default()
}

fn names_of(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string()).collect()
}

fn replica_sets(api: &Api, app: &str) -> Vec<Value> {
    items(api, &format!("/apis/apps/v1/namespaces/default/replicasets?labelSelector=app%3D{app}"))
}

fn pods(api: &Api, app: &str) -> Vec<Value> {
    items(api, &format!("/api/v1/namespaces/default/pods?labelSelector=app%3D{app}"))
}

/// The revision numbers `kubectl rollout history` lists.
fn revisions(history: &str) -> Vec<String> {
    history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing a manifest");
    p.display().to_string()
}

fn deployment_yaml() -> String {
    std::fs::read_to_string(examples().join("deployment.yaml")).expect("examples/manifests/deployment.yaml")
}

#[test]
fn api_resources_and_explain_describe_the_kinds() {
    let (_cluster, k) = start();
    let out = k.ok(&["api-resources"]);
    assert_eq!(fields(out.lines().next().unwrap_or("")), ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], "{out}");
    assert_eq!(row(&out, "deployments"), ["deployments", "deploy", "apps/v1", "true", "Deployment"], "{out}");
    assert_eq!(row(&out, "pods"), ["pods", "po", "v1", "true", "Pod"], "{out}");
    assert_eq!(row(&out, "namespaces"), ["namespaces", "ns", "v1", "false", "Namespace"], "{out}");
    assert_eq!(row(&out, "statefulsets"), ["statefulsets", "sts", "apps/v1", "true", "StatefulSet"], "{out}");
    assert_eq!(row(&out, "cronjobs"), ["cronjobs", "cj", "batch/v1", "true", "CronJob"], "{out}");
    let apps = k.ok(&["api-resources", "--api-group=apps", "-o", "name"]);
    for r in ["deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"] {
        assert!(apps.lines().any(|l| l == r), "no {r} in:\n{apps}");
    }

    let out = k.ok(&["explain", "deployment.spec"]);
    assert!(out.contains("KIND:") && out.contains("Deployment"), "{out}");
    assert!(out.contains("FIELD:") && out.contains("spec"), "{out}");
    assert!(out.contains("DESCRIPTION:") && out.contains("FIELDS:"), "{out}");
    for f in ["replicas", "selector", "template", "strategy", "paused", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(f) && l.contains('<')),
            "explain deployment.spec does not list the field {f}:\n{out}"
        );
    }
    for f in ["selector", "template"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(f) && l.contains("-required-")),
            "explain does not mark {f} -required- (the OpenAPI schema's `required`):\n{out}"
        );
    }
    let out = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(out.contains("<integer>"), "{out}");
    let out = k.ok(&["explain", "pods.spec.containers.image"]);
    assert!(out.contains("<string>"), "{out}");
}

#[test]
fn apply_creates_then_leaves_unchanged_then_configures_and_removes_a_dropped_field() {
    let (cluster, k) = start();
    let dir = examples().display().to_string();
    let out = k.ok(&["apply", "-f", &dir]);
    let created = [
        "namespace/demo created",
        "pod/hello created",
        "replicationcontroller/legacy created",
        "replicaset.apps/frontend created",
        "deployment.apps/web created",
        "service/web created",
        "service/web-nodeport created",
        "service/db created",
        "statefulset.apps/db created",
        "daemonset.apps/node-agent created",
        "job.batch/pi created",
        "cronjob.batch/backup created",
        "persistentvolumeclaim/scratch created",
        "horizontalpodautoscaler.autoscaling/web created",
        "endpoints/external-db created",
        "node/example-node created",
    ];
    for line in created {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(out.lines().count(), created.len(), "{out}");

    let out = k.ok(&["apply", "-f", &dir]);
    for line in created {
        let unchanged = line.replace(" created", " unchanged");
        assert!(out.lines().any(|l| l == unchanged), "missing {unchanged:?} in:\n{out}");
    }
    assert!(!out.contains("created") && !out.contains("configured"), "the second apply changed something:\n{out}");

    // Change replicas and drop the env block: configured, and env is gone from the object.
    let tmp = tempfile::tempdir().unwrap();
    let yaml = deployment_yaml();
    assert!(yaml.contains("        env:\n        - name: GREETING\n          value: hello\n"), "the example changed:\n{yaml}");
    let changed = yaml.replace("replicas: 3", "replicas: 5").replace("        env:\n        - name: GREETING\n          value: hello\n", "");
    let file = write(tmp.path(), "deployment.yaml", &changed);
    let out = k.ok(&["apply", "-f", &file]);
    assert_eq!(out.trim(), "deployment.apps/web configured");
    let d = k.json(&["get", "deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 5, "{d}");
    assert_eq!(d["metadata"]["generation"], 2, "{d}");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "web");
    assert!(c.get("env").is_none(), "env was removed from the manifest but is still set: {c}");
    assert_eq!(c["ports"][0]["containerPort"], 8080, "other fields survive: {c}");
    let last = d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].as_str().unwrap_or("");
    assert!(last.contains("\"replicas\":5") && !last.contains("GREETING"), "last-applied-configuration: {last}");
    let out = k.ok(&["apply", "-f", &file]);
    assert_eq!(out.trim(), "deployment.apps/web unchanged");
    drop(cluster);
}

#[test]
fn get_prints_tables_wide_yaml_jsonpath_all_describe_and_watches() {
    let (cluster, k) = start();
    let api = cluster.api();
    let out = k.ok(&["apply", "-f", &examples().join("deployment.yaml").display().to_string()]);
    assert_eq!(out.trim(), "deployment.apps/web created");
    let out = k.ok(&["apply", "-f", &examples().join("service.yaml").display().to_string()]);
    assert!(out.contains("service/web created"), "{out}");
    wait_rolled_out(&api, "web", 3);

    let out = k.ok(&["get", "deployments"]);
    assert_eq!(fields(out.lines().next().unwrap_or("")), ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "{out}");
    assert_eq!(row(&out, "web")[..4], ["web", "3/3", "3", "3"], "{out}");
    let out = k.ok(&["get", "deploy", "web", "-o", "wide"]);
    assert_eq!(
        fields(out.lines().next().unwrap_or("")),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
        "{out}"
    );
    assert_eq!(row(&out, "web")[5..], ["web", "hello:v1", "app=web"], "{out}");
    let out = k.ok(&["get", "pods", "-o", "wide"]);
    let header = fields(out.lines().next().unwrap_or(""));
    assert!(header.starts_with(&["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]), "{out}");
    let pod_rows: Vec<Vec<&str>> = out.lines().skip(1).map(fields).filter(|f| f[0].starts_with("web-")).collect();
    assert_eq!(pod_rows.len(), 3, "{out}");
    for f in &pod_rows {
        assert_eq!((f[1], f[2]), ("1/1", "Running"), "{out}");
        assert!(f[6].starts_with("kc-"), "pod not on a simulated node: {out}");
    }

    let yaml = k.ok(&["get", "deployment", "web", "-o", "yaml"]);
    let d: Value = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("-o yaml is not YAML ({e}):\n{yaml}"));
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "hello:v1");
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "3");
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}"]), "3");
    assert_eq!(k.ok(&["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.containers[0].image}"]), "hello:v1 hello:v1 hello:v1");
    assert_eq!(k.ok(&["get", "deploy", "-o", "name"]).trim(), "deployment.apps/web");

    let all = k.ok(&["get", "all"]);
    for what in ["deployment.apps/web", "replicaset.apps/web-", "pod/web-", "service/web"] {
        assert!(all.contains(what), "get all lacks {what}:\n{all}");
    }

    let out = k.ok(&["describe", "deployment", "web"]);
    for what in ["Name:", "Namespace:", "Selector:", "app=web", "Replicas:", "3 desired | 3 updated | 3 total | 3 available", "StrategyType:", "RollingUpdate", "hello:v1", "NewReplicaSet:"] {
        assert!(out.contains(what), "describe lacks {what:?}:\n{out}");
    }
    let events = out.split("Events:").nth(1).unwrap_or_else(|| panic!("describe has no Events section:\n{out}"));
    assert!(events.contains("ScalingReplicaSet") && events.contains("Scaled up replica set web-"), "no scaling event in:\nEvents:{events}");

    // A watch prints the current pods, then a line for a pod created afterwards.
    let mut watch = k.stream(&["get", "pods", "-w"]);
    for _ in 0..3 {
        watch.until("a web pod", Duration::from_secs(20), |l| l.starts_with("web-"));
    }
    let out = k.ok(&["run", "watched", "--image=hello:v1", "--restart=Never"]);
    assert_eq!(out.trim(), "pod/watched created");
    watch.until("the new pod", Duration::from_secs(20), |l| l.starts_with("watched "));
    watch.until("the new pod Running", Duration::from_secs(30), |l| l.starts_with("watched ") && l.contains("Running"));
}

#[test]
fn scale_set_image_rollout_status_history_and_undo() {
    let (cluster, k) = start();
    let api = cluster.api();
    k.ok(&["apply", "-f", &examples().join("deployment.yaml").display().to_string()]);
    wait_rolled_out(&api, "web", 3);

    assert_eq!(k.ok(&["scale", "deployment", "web", "--replicas=5"]).trim(), "deployment.apps/web scaled");
    wait_rolled_out(&api, "web", 5);
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"]), "5");

    assert_eq!(k.ok(&["set", "image", "deployment/web", "web=hello:v2"]).trim(), "deployment.apps/web image updated");
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert!(out.contains("deployment \"web\" successfully rolled out"), "{out}");
    wait_rolled_out(&api, "web", 5);
    let images: Vec<Value> = pods(&api, "web").iter().map(|p| p["spec"]["containers"][0]["image"].clone()).collect();
    assert!(images.len() >= 5 && images.iter().all(|i| i == "hello:v2"), "pods after the rollout: {images:?}");

    let history = k.ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains("REVISION"), "{history}");
    assert_eq!(revisions(&history), ["1", "2"], "{history}");
    let rev2 = k.ok(&["rollout", "history", "deployment/web", "--revision=2"]);
    assert!(rev2.contains("hello:v2"), "{rev2}");
    let rev1 = k.ok(&["rollout", "history", "deployment/web", "--revision=1"]);
    assert!(rev1.contains("hello:v1"), "{rev1}");

    assert_eq!(k.ok(&["rollout", "undo", "deployment/web"]).trim(), "deployment.apps/web rolled back");
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]), "hello:v1");
    let history = k.ok(&["rollout", "history", "deployment/web"]);
    assert_eq!(revisions(&history), ["2", "3"], "revision 1 comes back as 3:\n{history}");
    assert_eq!(replica_sets(&api, "web").len(), 2, "the rollback reuses the first ReplicaSet");

    let out = k.fails(&["rollout", "undo", "deployment/web", "--to-revision=9"]);
    assert!(out.contains("unable to find specified revision"), "{out}");
}

#[test]
fn rollout_pause_resume_and_restart() {
    let (cluster, k) = start();
    let api = cluster.api();
    k.ok(&["apply", "-f", &examples().join("deployment.yaml").display().to_string()]);
    wait_rolled_out(&api, "web", 3);

    assert_eq!(k.ok(&["rollout", "pause", "deployment/web"]).trim(), "deployment.apps/web paused");
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.paused}"]), "true");
    let out = k.fails(&["rollout", "pause", "deployment/web"]);
    assert!(out.contains("already paused"), "{out}");
    k.ok(&["set", "image", "deployment/web", "web=hello:v2"]);
    // The controller has seen the new template once observedGeneration catches up; only
    // then does "no new ReplicaSet" mean it chose not to roll.
    wait_for("the paused Deployment's controller to observe the new template", Duration::from_secs(30), || {
        let (_, d) = api.get(&format!("{DEPLOY}/web")).map_err(|e| e.to_string())?;
        let progressing = d["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
            .map(|c| c["reason"].clone());
        if d["status"]["observedGeneration"] == d["metadata"]["generation"] && progressing == Some(json!("DeploymentPaused")) {
            Ok(())
        } else {
            Err(d["status"].to_string())
        }
    });
    assert_eq!(replica_sets(&api, "web").len(), 1, "a paused Deployment started a rollout");
    // Still one revision: nothing to roll back to.
    let out = k.fails(&["rollout", "undo", "deployment/web"]);
    assert!(out.contains("no rollout history found"), "{out}");

    assert_eq!(k.ok(&["rollout", "resume", "deployment/web"]).trim(), "deployment.apps/web resumed");
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(replica_sets(&api, "web").len(), 2);

    assert_eq!(k.ok(&["rollout", "restart", "deployment/web"]).trim(), "deployment.apps/web restarted");
    let at = k.ok(&["get", "deployment", "web", "-o", r"jsonpath={.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}"]);
    assert!(!at.trim().is_empty(), "no restartedAt annotation on the template");
    let out = k.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    assert_eq!(replica_sets(&api, "web").len(), 3, "a restart rolls out a new ReplicaSet");
    wait_rolled_out(&api, "web", 3);
    assert_eq!(revisions(&k.ok(&["rollout", "history", "deployment/web"])), ["1", "2", "3"]);
}

#[test]
fn patch_strategic_merge_and_json() {
    let (cluster, k) = start();
    k.ok(&["apply", "-f", &examples().join("deployment.yaml").display().to_string()]);
    let containers = |k: &Kubectl| -> Vec<(String, String)> {
        let d = k.json(&["get", "deployment", "web"]);
        let mut c: Vec<(String, String)> = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap().to_string(), c["image"].as_str().unwrap_or("").to_string()))
            .collect();
        c.sort();
        c
    };

    // Strategic merge (the default): containers merge by name.
    let out = k.ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"hello:v1"}]}}}}"#]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    assert_eq!(containers(&k), [("sidecar".into(), "hello:v1".into()), ("web".into(), "hello:v1".into())]);
    let out = k.ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"hello:v2"}]}}}}"#]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    assert_eq!(containers(&k), [("sidecar".into(), "hello:v1".into()), ("web".into(), "hello:v2".into())]);
    let d = k.json(&["get", "deployment", "web"]);
    let web = d["spec"]["template"]["spec"]["containers"].as_array().unwrap().iter().find(|c| c["name"] == "web").unwrap().clone();
    assert_eq!(web["env"][0]["name"], "GREETING", "strategic merge kept the other fields of the merged container: {web}");
    let out = k.ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    assert_eq!(containers(&k), [("web".into(), "hello:v2".into())]);

    // JSON merge patch: a list is replaced whole.
    let out = k.ok(&[
        "patch", "deployment", "web", "--type=merge", "-p",
        r#"{"metadata":{"labels":{"patched":"merge"}},"spec":{"template":{"spec":{"containers":[{"name":"only","image":"hello:v1"}]}}}}"#,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    assert_eq!(containers(&k), [("only".into(), "hello:v1".into())]);
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.metadata.labels.patched}"]), "merge");

    // JSON patch.
    let out = k.ok(&[
        "patch", "deployment", "web", "--type=json", "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":2},{"op":"add","path":"/metadata/labels/json","value":"yes"}]"#,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas} {.metadata.labels.json}"]), "2 yes");
    let out = k.fails(&["patch", "deployment", "web", "--type=json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":7},{"op":"replace","path":"/spec/replicas","value":7}]"#]);
    assert!(out.contains("Error from server") || out.contains("request is invalid"), "{out}");
    assert_eq!(k.ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"]), "2");

    // A patch that changes nothing is reported as such (the object is not rewritten).
    // Wait for the rollout first, so that no controller writes the object meanwhile.
    wait_rolled_out(&cluster.api(), "web", 2);
    let out = k.ok(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"replicas":2}}"#]);
    assert_eq!(out.trim(), "deployment.apps/web patched (no change)");
    // An invalid result is refused.
    let out = k.fails(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"replicas":-1}}"#]);
    assert!(out.contains("Invalid") && out.contains("spec.replicas"), "{out}");
}

#[test]
fn server_side_apply_reports_conflicts_and_forces_them() {
    let (_cluster, k) = start();
    let tmp = tempfile::tempdir().unwrap();
    let original = write(tmp.path(), "web.yaml", &deployment_yaml());
    let changed = write(tmp.path(), "web4.yaml", &deployment_yaml().replace("replicas: 3", "replicas: 4"));

    let out = k.ok(&["apply", "--server-side", "-f", &original]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let out = k.ok(&["apply", "--server-side", "-f", &original]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let d = k.json(&["get", "deployment", "web", "--show-managed-fields"]);
    let managers = d["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    assert!(
        managers.iter().any(|m| m["manager"] == "kubectl" && m["operation"] == "Apply" && m["fieldsType"] == "FieldsV1"),
        "no Apply entry for kubectl in managedFields: {managers:?}"
    );
    let generation = d["metadata"]["generation"].clone();

    // Another manager changing a field kubectl owns: a conflict, and nothing changes.
    let out = k.fails(&["apply", "--server-side", "--field-manager=other", "-f", &changed]);
    assert!(out.contains("conflict"), "{out}");
    assert!(out.contains(".spec.replicas") && out.contains("\"kubectl\""), "the conflict names the field and its manager: {out}");
    let d = k.json(&["get", "deployment", "web"]);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], generation, "a refused apply changed the spec");

    // Forced: the field changes hands.
    let out = k.ok(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", &changed]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let d = k.json(&["get", "deployment", "web", "--show-managed-fields"]);
    assert_eq!(d["spec"]["replicas"], 4);
    let managers = d["metadata"]["managedFields"].as_array().cloned().unwrap_or_default();
    let other = managers.iter().find(|m| m["manager"] == "other").unwrap_or_else(|| panic!("no entry for other: {managers:?}"));
    assert_eq!(other["operation"], "Apply");
    assert!(other["fieldsV1"].to_string().contains("f:replicas"), "other does not own spec.replicas: {other}");
    let kubectl = managers.iter().find(|m| m["manager"] == "kubectl").unwrap_or_else(|| panic!("no entry for kubectl: {managers:?}"));
    assert!(!kubectl["fieldsV1"].to_string().contains("f:replicas"), "kubectl still owns spec.replicas: {kubectl}");

    // Now kubectl's original manifest conflicts with "other".
    let out = k.fails(&["apply", "--server-side", "-f", &original]);
    assert!(out.contains("conflict") && out.contains("\"other\""), "{out}");
}

#[test]
fn delete_cascades_in_background_and_foreground_and_orphans() {
    let (cluster, k) = start();
    let api = cluster.api();
    k.ok(&["apply", "-f", &examples().join("deployment.yaml").display().to_string()]);
    wait_rolled_out(&api, "web", 3);
    let rs = names_of(&replica_sets(&api, "web"));
    assert_eq!(rs.len(), 1);

    // Orphan: the Deployment goes, its ReplicaSet and pods stay, no longer owned.
    assert_eq!(k.ok(&["delete", "deployment", "web", "--cascade=orphan"]).trim(), "deployment.apps \"web\" deleted from default namespace");
    let out = k.fails(&["get", "deployment", "web"]);
    assert!(out.contains("NotFound") || out.contains("not found"), "{out}");
    std::thread::sleep(Duration::from_secs(2));
    let sets = replica_sets(&api, "web");
    assert_eq!(names_of(&sets), rs, "the orphaned ReplicaSet was deleted");
    assert!(sets[0]["metadata"]["ownerReferences"].as_array().is_none_or(Vec::is_empty), "still owned: {}", sets[0]["metadata"]);
    assert_eq!(pods(&api, "web").len(), 3, "the orphaned ReplicaSet's pods were deleted");
    let table = k.ok(&["get", "rs"]);
    assert_eq!(row(&table, &rs[0])[..4], [rs[0].as_str(), "3", "3", "3"], "{table}");

    // Background (the default): the ReplicaSet goes at once, its pods after it.
    assert_eq!(k.ok(&["delete", "replicaset", &rs[0]]).trim(), format!("replicaset.apps \"{}\" deleted from default namespace", rs[0]));
    wait_for("the orphaned ReplicaSet's pods to be deleted", Duration::from_secs(60), || {
        let left = pods(&api, "web");
        if left.is_empty() { Ok(()) } else { Err(format!("{:?}", names_of(&left))) }
    });

    // Foreground: kubectl returns once the Deployment is gone, and it goes only after its
    // ReplicaSets and their pods.
    assert_eq!(k.ok(&["create", "deployment", "web2", "--image=hello:v1", "--replicas=2"]).trim(), "deployment.apps/web2 created");
    wait_rolled_out(&api, "web2", 2);
    assert_eq!(k.ok(&["delete", "deployment", "web2", "--cascade=foreground", "--timeout=60s"]).trim(), "deployment.apps \"web2\" deleted from default namespace");
    assert_eq!(replica_sets(&api, "web2").len(), 0, "the Deployment went before its ReplicaSet");
    assert_eq!(pods(&api, "web2").len(), 0, "the Deployment went before its pods");

    // Deleting from a manifest, and what is already gone.
    let out = k.fails(&["delete", "deployment", "web2"]);
    assert!(out.contains("NotFound") && out.contains("web2"), "{out}");
    let out = k.ok(&["delete", "deployment", "web2", "--ignore-not-found"]);
    assert_eq!(out.trim(), "");
}

#[test]
fn create_and_delete_namespace_waits_until_it_is_gone() {
    let (cluster, k) = start();
    let api = cluster.api();
    assert_eq!(k.ok(&["create", "namespace", "x"]).trim(), "namespace/x created");
    let out = k.ok(&["get", "namespace", "x"]);
    assert_eq!(row(&out, "x")[..2], ["x", "Active"], "{out}");
    let out = k.fails(&["create", "namespace", "x"]);
    assert!(out.contains("AlreadyExists"), "{out}");
    assert_eq!(k.ok(&["create", "deployment", "d", "-n", "x", "--image=hello:v1"]).trim(), "deployment.apps/d created");
    assert!(k.ok(&["get", "deploy", "-n", "x"]).contains("d "), "deployment not listed in x");

    let start = Instant::now();
    assert_eq!(k.ok(&["delete", "namespace", "x", "--timeout=90s"]).trim(), "namespace \"x\" deleted");
    eprintln!("namespace x deleted in {:?}", start.elapsed());
    // kubectl waited for the namespace to disappear, and its contents went with it.
    let out = k.fails(&["get", "namespace", "x"]);
    assert!(out.contains("NotFound") && out.contains("\"x\""), "{out}");
    assert!(items(&api, "/apis/apps/v1/namespaces/x/deployments").is_empty(), "deployment d survived its namespace");
    assert!(items(&api, "/api/v1/namespaces/x/pods").is_empty(), "pods survived their namespace");
    let out = k.fails(&["create", "deployment", "e", "-n", "x", "--image=hello:v1"]);
    assert!(out.contains("NotFound") || out.contains("not found"), "created in a deleted namespace: {out}");
}
