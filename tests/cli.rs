//! The CLI against a real server: apply (created / unchanged / configured), get in every
//! output format, delete.

mod harness;

use harness::Cluster;

fn out(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn examples() -> String {
    format!("{}/examples/manifests", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn apply_every_example_then_unchanged_then_configured() {
    let cluster = Cluster::embedded();
    let o = cluster.shoal(&["apply", "-f", &examples()]);
    assert!(o.status.success(), "{}", out(&o));
    let text = out(&o);
    for line in [
        "namespace/demo created",
        "pod/hello created",
        "replicationcontroller/legacy created",
        "replicaset.apps/frontend created",
        "deployment.apps/web created",
        "service/web created",
        "service/web-nodeport created",
        "statefulset.apps/db created",
        "daemonset.apps/node-agent created",
        "job.batch/pi created",
        "cronjob.batch/backup created",
        "persistentvolumeclaim/scratch created",
        "horizontalpodautoscaler.autoscaling/web created",
        "endpoints/external-db created",
        "node/example-node created",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }

    let o = cluster.shoal(&["apply", "-f", &examples()]);
    assert!(o.status.success(), "{}", out(&o));
    let text = out(&o);
    assert!(!text.contains("created") && !text.contains("configured"), "second apply changed something:\n{text}");
    assert_eq!(text.matches("unchanged").count(), 16, "{text}");

    // A changed manifest is configured, and the change is stored.
    let dir = tempfile::tempdir().unwrap();
    let changed = std::fs::read_to_string(format!("{}/deployment.yaml", examples())).unwrap().replace("replicas: 3", "replicas: 5");
    let file = dir.path().join("d.yaml");
    std::fs::write(&file, changed).unwrap();
    let o = cluster.shoal(&["apply", "-f", file.to_str().unwrap()]);
    assert!(out(&o).contains("deployment.apps/web configured"), "{}", out(&o));
    let (_, d) = cluster.api().get("/apis/apps/v1/namespaces/default/deployments/web").unwrap();
    assert_eq!(d["spec"]["replicas"], 5);
    assert_eq!(d["metadata"]["generation"], 2);
}

#[test]
fn get_prints_tables_json_yaml_and_names_and_delete_removes() {
    let cluster = Cluster::embedded();
    let o = cluster.shoal(&["apply", "-f", &format!("{}/deployment.yaml", examples())]);
    assert!(o.status.success(), "{}", out(&o));
    let o = cluster.shoal(&["apply", "-f", &format!("{}/service.yaml", examples())]);
    assert!(o.status.success(), "{}", out(&o));

    let table = out(&cluster.shoal(&["get", "deploy"]));
    let header: Vec<&str> = table.lines().next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"], "{table}");
    assert!(table.lines().nth(1).unwrap_or("").starts_with("web "), "{table}");
    let wide = out(&cluster.shoal(&["get", "deployments", "-o", "wide"]));
    assert!(wide.contains("CONTAINERS") && wide.contains("hello:v1") && wide.contains("app=web"), "{wide}");
    let svc = out(&cluster.shoal(&["get", "svc", "-A"]));
    assert!(svc.starts_with("NAMESPACE"), "{svc}");
    assert!(svc.contains("80:30080/TCP"), "{svc}");

    let json = cluster.shoal(&["get", "deployment", "web", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(v["kind"], "Deployment");
    assert_eq!(v["spec"]["template"]["spec"]["containers"][0]["image"], "hello:v1");
    let yaml = out(&cluster.shoal(&["get", "deployment", "web", "-o", "yaml"]));
    assert!(yaml.contains("kind: Deployment") && yaml.contains("image: hello:v1"), "{yaml}");
    assert_eq!(out(&cluster.shoal(&["get", "deploy", "-o", "name"])).trim(), "deployment.apps/web");

    let o = cluster.shoal(&["get", "widgets"]);
    assert!(!o.status.success());
    assert!(out(&o).contains("doesn't have a resource type"), "{}", out(&o));

    let o = cluster.shoal(&["delete", "deployment", "web"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("deployment.apps \"web\" deleted"));
    let o = cluster.shoal(&["get", "deployment", "web"]);
    assert!(!o.status.success());
    assert!(out(&o).contains("NotFound"), "{}", out(&o));
    let o = cluster.shoal(&["delete", "-f", &format!("{}/service.yaml", examples())]);
    assert!(o.status.success(), "{}", out(&o));
    // Only the API server's own `kubernetes` Service is left.
    let svcs = out(&cluster.shoal(&["get", "svc", "-o", "name"]));
    assert_eq!(svcs.trim(), "service/kubernetes", "{svcs}");
}
