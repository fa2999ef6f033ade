//! kubectl's typed-client commands (`create namespace`, `create deployment`, `run`,
//! `create service`, `create job`, `create cronjob`) send their bodies as Kubernetes
//! protobuf (`application/vnd.kubernetes.protobuf`) and do not fall back to JSON: each
//! one must succeed and store the object it described.
//!
//! kubectl is `SHOAL_KUBECTL`, else the repository's .tools/venv, else PATH.

mod harness;

use std::time::Duration;

use harness::{wait_for, Api, Cluster};
use serde_json::{json, Value};


/// Runs kubectl against the cluster; asserts exit 0 and returns stdout.
fn kubectl(cluster: &Cluster, args: &[&str]) -> String {
    cluster.kubectl().ok(args)
}

/// Runs kubectl against the cluster; asserts exit 0 and returns stdout and stderr.
fn kubectl_output(cluster: &Cluster, args: &[&str]) -> (String, String) {
    let r = cluster.kubectl().run(args);
    assert!(r.success(), "{}", r.text());
    (r.stdout, r.stderr)
}

fn get(api: &Api, path: &str) -> Value {
    let (code, v) = api.get(path).expect("GET");
    assert_eq!(code, 200, "GET {path}: {v}");
    v
}

#[test]
fn kubectl_typed_creates_send_protobuf_and_are_stored() {
    let mut cluster = Cluster::embedded();
    cluster.add_simulated_nodes("sim", 1);
    let api = cluster.api();

    // Namespace; the request log shows that the body really is protobuf.
    let (_, log) = kubectl_output(&cluster, &["create", "namespace", "x", "-v=8"]);
    assert!(
        log.lines().any(|l| l.contains("Content-Type") && l.contains("application/vnd.kubernetes.protobuf")),
        "kubectl did not send protobuf:\n{log}"
    );
    let ns = get(&api, "/api/v1/namespaces/x");
    assert_eq!(ns["metadata"]["name"], "x");

    // Deployment, with replicas and a container port; it becomes available.
    kubectl(&cluster, &["-n", "x", "create", "deployment", "d", "--image=hello:v1", "--replicas=2", "--port=8080"]);
    let d = get(&api, "/apis/apps/v1/namespaces/x/deployments/d");
    assert_eq!(d["spec"]["replicas"], 2, "{d}");
    assert_eq!(d["metadata"]["labels"], json!({"app": "d"}), "{d}");
    assert_eq!(d["spec"]["selector"]["matchLabels"], json!({"app": "d"}), "{d}");
    assert_eq!(d["spec"]["template"]["metadata"]["labels"], json!({"app": "d"}), "{d}");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["name"], "hello", "{d}");
    assert_eq!(c["image"], "hello:v1", "{d}");
    assert_eq!(c["ports"][0]["containerPort"], 8080, "{d}");
    wait_for("deployment d to become available", Duration::from_secs(60), || {
        let d = get(&api, "/apis/apps/v1/namespaces/x/deployments/d");
        if d["status"]["availableReplicas"] == 2 {
            Ok(())
        } else {
            Err(d["status"].to_string())
        }
    });

    // Pod.
    kubectl(&cluster, &["-n", "x", "run", "p", "--image=hello:v1"]);
    let p = get(&api, "/api/v1/namespaces/x/pods/p");
    assert_eq!(p["metadata"]["labels"], json!({"run": "p"}), "{p}");
    assert_eq!(p["spec"]["containers"][0]["name"], "p", "{p}");
    assert_eq!(p["spec"]["containers"][0]["image"], "hello:v1", "{p}");

    // Service.
    kubectl(&cluster, &["-n", "x", "create", "service", "clusterip", "s", "--tcp=80:8080"]);
    let s = get(&api, "/api/v1/namespaces/x/services/s");
    assert_eq!(s["spec"]["type"], "ClusterIP", "{s}");
    assert_eq!(s["spec"]["selector"], json!({"app": "s"}), "{s}");
    let port = &s["spec"]["ports"][0];
    assert_eq!(port["name"], "80-8080", "{s}");
    assert_eq!(port["port"], 80, "{s}");
    assert_eq!(port["targetPort"], 8080, "{s}");
    assert_eq!(port["protocol"], "TCP", "{s}");
    assert!(s["spec"]["clusterIP"].as_str().is_some_and(|ip| !ip.is_empty()), "no cluster IP allocated: {s}");

    // Job.
    kubectl(&cluster, &["-n", "x", "create", "job", "j", "--image=hello:v1"]);
    let j = get(&api, "/apis/batch/v1/namespaces/x/jobs/j");
    let spec = &j["spec"]["template"]["spec"];
    assert_eq!(spec["containers"][0]["name"], "j", "{j}");
    assert_eq!(spec["containers"][0]["image"], "hello:v1", "{j}");
    assert_eq!(spec["restartPolicy"], "Never", "{j}");

    // CronJob.
    kubectl(&cluster, &["-n", "x", "create", "cronjob", "c", "--image=hello:v1", "--schedule=*/5 * * * *"]);
    let cj = get(&api, "/apis/batch/v1/namespaces/x/cronjobs/c");
    assert_eq!(cj["spec"]["schedule"], "*/5 * * * *", "{cj}");
    assert_eq!(cj["spec"]["jobTemplate"]["metadata"]["name"], "c", "{cj}");
    let spec = &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(spec["containers"][0]["name"], "c", "{cj}");
    assert_eq!(spec["containers"][0]["image"], "hello:v1", "{cj}");
    assert_eq!(spec["restartPolicy"], "OnFailure", "{cj}");

    // Everything kubectl sees, in one listing.
    let names = kubectl(&cluster, &["-n", "x", "get", "deployments,pods,services,jobs,cronjobs", "-o", "name"]);
    for want in ["deployment.apps/d", "pod/p", "service/s", "job.batch/j", "cronjob.batch/c"] {
        assert!(names.lines().any(|l| l == want), "{want} missing from:\n{names}");
    }
}
