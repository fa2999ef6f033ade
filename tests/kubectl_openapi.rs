//! The real kubectl with its default validation (`--validate=strict`): OpenAPI v2/v3,
//! `kubectl apply` and `kubectl explain`, and `fieldValidation` over plain HTTP.
//!
//! kubectl is `SHOAL_KUBECTL`, else the repository's pinned .tools/venv/bin/kubectl, else
//! the one on PATH; the test fails with a clear message when there is none.

mod harness;

use std::path::{Path, PathBuf};

use harness::kubectl::Run;
use harness::Cluster;
use serde_json::{json, Value};


/// Runs kubectl against the cluster with a discovery/OpenAPI cache of its own.
fn kubectl(cluster: &Cluster, args: &[&str]) -> Run {
    cluster.kubectl().run(args)
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/manifests")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("writing a manifest");
    p.display().to_string()
}

#[test]
fn kubectl_apply_examples_and_explain_with_default_validation() {
    let cluster = Cluster::embedded();
    let dir = examples().display().to_string();

    let first = kubectl(&cluster, &["apply", "-f", &dir]);
    assert!(first.success(), "kubectl apply failed\nstdout:\n{}\nstderr:\n{}", first.stdout, first.stderr);
    assert!(!first.stderr.contains("openapi"), "kubectl complained about OpenAPI:\n{}", first.stderr);
    let lines: Vec<&str> = first.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 14, "expected every example object, got:\n{}", first.stdout);
    for l in &lines {
        assert!(l.ends_with(" created"), "not created: {l}\nstdout:\n{}\nstderr:\n{}", first.stdout, first.stderr);
    }

    // Needs strategic merge patch when anything differs; identical manifests must be unchanged.
    let second = kubectl(&cluster, &["apply", "-f", &dir]);
    assert!(second.success(), "second kubectl apply failed\nstdout:\n{}\nstderr:\n{}", second.stdout, second.stderr);
    assert!(!second.stderr.contains("error calculating patch from openapi"), "{}", second.stderr);
    let lines2: Vec<&str> = second.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines2.len(), lines.len(), "stdout:\n{}", second.stdout);
    for l in &lines2 {
        assert!(l.ends_with(" unchanged"), "changed on a second apply: {l}\nstdout:\n{}\nstderr:\n{}", second.stdout, second.stderr);
    }

    let explain = kubectl(&cluster, &["explain", "deployment.spec.replicas"]);
    assert!(explain.success(), "kubectl explain failed:\n{}\n{}", explain.stdout, explain.stderr);
    assert!(explain.stdout.contains("KIND:") && explain.stdout.contains("Deployment"), "{}", explain.stdout);
    assert!(explain.stdout.contains("replicas") && explain.stdout.contains("<integer>"), "{}", explain.stdout);
    assert!(explain.stdout.contains("DESCRIPTION:") && explain.stdout.contains("desired pods"), "{}", explain.stdout);

    let fields = kubectl(&cluster, &["explain", "pods.spec.containers"]);
    assert!(fields.success(), "{}\n{}", fields.stdout, fields.stderr);
    assert!(fields.stdout.contains("image") && fields.stdout.contains("<[]EnvVar>"), "{}", fields.stdout);
}

#[test]
fn kubectl_apply_rejects_unknown_fields_unless_validation_is_off() {
    let cluster = Cluster::embedded();
    let manifest = write(
        cluster.path(),
        "typo.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\nspec:\n  replicas: 1\n  replicaz: 2\n  selector:\n    matchLabels: {app: typo}\n  template:\n    metadata:\n      labels: {app: typo}\n    spec:\n      containers:\n      - name: c\n        image: hello:v1\n        imagePullPolicee: Never\n",
    );
    let strict = kubectl(&cluster, &["apply", "-f", &manifest]);
    assert!(!strict.success(), "apply with an unknown field succeeded:\n{}", strict.stdout);
    assert!(
        strict.stderr.contains("strict decoding error")
            && strict.stderr.contains(r#"unknown field "spec.replicaz""#)
            && strict.stderr.contains(r#"unknown field "spec.template.spec.containers[0].imagePullPolicee""#),
        "stderr:\n{}",
        strict.stderr
    );
    let (code, _) = cluster.api().get("/apis/apps/v1/namespaces/default/deployments/typo").unwrap();
    assert_eq!(code, 404, "the refused object was stored");

    let lax = kubectl(&cluster, &["apply", "--validate=false", "-f", &manifest]);
    assert!(lax.success(), "apply --validate=false failed:\n{}\n{}", lax.stdout, lax.stderr);
    assert!(lax.stdout.contains("deployment.apps/typo created"), "{}", lax.stdout);
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";

/// A Deployment body with a duplicate `replicas` and an unknown `spec.foo`.
fn body_with_problems(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}"}},
           "spec":{{"replicas":1,"replicas":2,"foo":true,"selector":{{"matchLabels":{{"app":"{name}"}}}},
           "template":{{"metadata":{{"labels":{{"app":"{name}"}}}},"spec":{{"containers":[{{"name":"c","image":"hello:v1"}}]}}}}}}}}"#
    )
}

#[test]
fn field_validation_strict_warn_and_ignore_over_http() {
    let cluster = Cluster::embedded();
    let api = cluster.api();

    // Strict: 400 listing the duplicate and the unknown field; nothing stored.
    let (code, status, _) = api
        .send_with_warnings("POST", &format!("{DEPLOY}?fieldValidation=Strict"), "application/json", body_with_problems("strict").as_bytes())
        .unwrap();
    assert_eq!(code, 400, "{status}");
    assert_eq!(status["reason"], "BadRequest", "{status}");
    let msg = status["message"].as_str().unwrap_or("");
    assert!(msg.contains("strict decoding error"), "{msg}");
    assert!(msg.contains(r#"duplicate field "spec.replicas""#), "{msg}");
    assert!(msg.contains(r#"unknown field "spec.foo""#), "{msg}");
    assert_eq!(api.get(&format!("{DEPLOY}/strict")).unwrap().0, 404);

    // Strict in YAML too.
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: yml\n  name: yml\nspec:\n  selector: {matchLabels: {app: yml}}\n  template:\n    metadata: {labels: {app: yml}}\n    spec: {containers: [{name: c, image: 'hello:v1'}]}\n";
    let (code, status, _) =
        api.send_with_warnings("POST", &format!("{DEPLOY}?fieldValidation=Strict"), "application/yaml", yaml.as_bytes()).unwrap();
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap_or("").contains(r#"duplicate field "metadata.name""#), "{status}");

    // Warn (also the default): created, one Warning per problem, the last duplicate wins.
    for (name, query) in [("warn", "?fieldValidation=Warn"), ("default", "")] {
        let (code, obj, warnings) =
            api.send_with_warnings("POST", &format!("{DEPLOY}{query}"), "application/json", body_with_problems(name).as_bytes()).unwrap();
        assert_eq!(code, 201, "{obj}");
        assert_eq!(obj["spec"]["replicas"], 2);
        assert!(warnings.iter().any(|w| w.contains(r#"duplicate field \"spec.replicas\""#)), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains(r#"unknown field \"spec.foo\""#)), "{warnings:?}");
    }

    // Ignore: created, no warnings.
    let (code, obj, warnings) = api
        .send_with_warnings("POST", &format!("{DEPLOY}?fieldValidation=Ignore"), "application/json", body_with_problems("ignore").as_bytes())
        .unwrap();
    assert_eq!(code, 201, "{obj}");
    assert!(warnings.is_empty(), "{warnings:?}");

    // PUT honours it as well.
    let (code, status, _) = api
        .send_with_warnings("PUT", &format!("{DEPLOY}/ignore?fieldValidation=Strict"), "application/json", body_with_problems("ignore").as_bytes())
        .unwrap();
    assert_eq!(code, 400, "{status}");
    assert!(status["message"].as_str().unwrap_or("").contains(r#"unknown field "spec.foo""#), "{status}");

    // A directive that does not exist is refused.
    let (code, _, _) = api
        .send_with_warnings("POST", &format!("{DEPLOY}?fieldValidation=Loud"), "application/json", body_with_problems("loud").as_bytes())
        .unwrap();
    assert_eq!(code, 400);
}

#[test]
fn openapi_documents_are_served() {
    let cluster = Cluster::embedded();
    let api = cluster.api();

    let (code, root) = api.get("/openapi/v3").unwrap();
    assert_eq!(code, 200);
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().expect("apps/v1 in /openapi/v3").to_string();
    assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
    let (code, apps) = api.get(&url).unwrap();
    assert_eq!(code, 200);
    assert_eq!(apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["kind"], "Deployment");
    let core_url = root["paths"]["api/v1"]["serverRelativeURL"].as_str().unwrap().to_string();
    let (_, core) = api.get(&core_url).unwrap();
    assert!(core["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["x-kubernetes-patch-merge-key"] == json!("name"));

    let (code, v2) = api.get_with("/openapi/v2", "application/json").unwrap();
    assert_eq!(code, 200);
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"].get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").is_some());
    let (code, _) = api.get_with("/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf").unwrap();
    assert_eq!(code, 406);
    let (code, v): (u16, Value) = api.get_with("/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json").unwrap();
    assert_eq!(code, 200, "{v}");
}
