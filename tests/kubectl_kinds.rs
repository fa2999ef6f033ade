//! The configuration and discovery kinds with the pinned kubectl, end to end: ConfigMap,
//! Secret, ServiceAccount, EndpointSlice, the autoscaling/v1 HorizontalPodAutoscaler and
//! the `kubernetes` Service — kubectl's generators (`create configmap|secret|
//! serviceaccount`, which send protobuf), get/describe/apply/delete, `stringData`, an
//! immutable ConfigMap refusing an update, the default ServiceAccount of a new namespace,
//! and an autoscaling/v1 manifest under kubectl's strict validation.

mod harness;

use std::time::Duration;

use harness::{wait_for, Cluster, Kubectl};
use serde_json::Value;

/// A self-signed test certificate (P-256, CN web.example.com, valid for 100 years) and
/// its key: `kubectl create secret tls` checks that the two belong together.
const TEST_CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBjDCCATGgAwIBAgIUPjm/uDlg6KXT1Iebf4wMVgCiE0owCgYIKoZIzj0EAwIw\nGjEYMBYGA1UEAwwPd2ViLmV4YW1wbGUuY29tMCAXDTI2MTIwMTE4MjQzM1oYDzIx\nMjYxMTA3MTgyNDMzWjAaMRgwFgYDVQQDDA93ZWIuZXhhbXBsZS5jb20wWTATBgcq\nhkjOPQIBBggqhkjOPQMBBwNCAAS6z5xYJ1SeBmnkJr2bOSh/ielqP1QWTemxu1Dq\nH4UCvKh4iubQOidOZ6h6fJCYEzGloVjziuaWdPkfGid5ZjoDo1MwUTAdBgNVHQ4E\nFgQUfttpAOEfwEC9m9gKs7euqLL3LDMwHwYDVR0jBBgwFoAUfttpAOEfwEC9m9gK\ns7euqLL3LDMwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAzMvz\noDhEZzycuTgzNVP5LtoLzYRK0TL5mDIiOhrX4a0CIQCP4G4L6VMOErAFqBLj6krb\nCdEyddkzPiufO/bS6Cfv9A==\n-----END CERTIFICATE-----\n";
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLW4Ne8yLDm0YWqbi\npbn9l4D2YGxE9XGPBsnua+bl+fOhRANCAAS6z5xYJ1SeBmnkJr2bOSh/ielqP1QW\nTemxu1DqH4UCvKh4iubQOidOZ6h6fJCYEzGloVjziuaWdPkfGid5ZjoD\n-----END PRIVATE KEY-----\n";

fn start() -> (Cluster, Kubectl) {
    let cluster = Cluster::embedded();
    let k = cluster.kubectl();
    let v = k.run(&["version", "--client"]);
    assert!(v.success(), "kubectl does not run (scripts/install-deps.sh installs it):\n{}", v.text());
    (cluster, k)
}

fn write(cluster: &Cluster, name: &str, text: &str) -> String {
    let p = cluster.path().join(name);
    std::fs::write(&p, text).expect("write manifest");
    p.display().to_string()
}

#[test]
fn configmaps_from_literals_and_files_and_immutability() {
    let (cluster, k) = start();
    let file = write(&cluster, "app.properties", "color=blue\nsize=3\n");
    k.ok(&["create", "configmap", "app", "--from-literal=a=b", &format!("--from-file={file}")]);
    let cm = k.json(&["get", "cm", "app", "-o", "json"]);
    assert_eq!(cm["data"]["a"], "b");
    assert_eq!(cm["data"]["app.properties"], "color=blue\nsize=3\n");
    let described = k.ok(&["describe", "configmap", "app"]);
    assert!(described.contains("app.properties") && described.contains("color=blue"), "{described}");
    assert!(k.ok(&["get", "configmaps"]).contains("app"));

    let manifest = write(
        &cluster,
        "frozen.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\ndata:\n  k: v1\nbinaryData:\n  bin: AAE=\nimmutable: true\n",
    );
    k.ok(&["apply", "-f", &manifest]);
    let frozen = k.json(&["get", "configmap", "frozen", "-o", "json"]);
    assert_eq!(frozen["binaryData"]["bin"], "AAE=");
    // Changing the data of an immutable ConfigMap is a 422 naming the field.
    let (code, status) = cluster.api().modify("/api/v1/namespaces/default/configmaps/frozen", |c| c["data"]["k"] = "v2".into()).expect("put");
    assert_eq!(code, 422, "{status}");
    assert!(status["message"].as_str().unwrap().contains("field is immutable when `immutable` is set"), "{status}");
    let out = k.fails(&["patch", "configmap", "frozen", "-p", r#"{"immutable":false}"#]);
    assert!(out.contains("immutable: Forbidden"), "{out}");
    // A key in both data and binaryData is refused as upstream refuses it.
    let dup = write(&cluster, "dup.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\ndata:\n  k: v\nbinaryData:\n  k: AAE=\n");
    let out = k.fails(&["apply", "-f", &dup]);
    assert!(out.contains("duplicate of key present in binaryData"), "{out}");
    // More than 1 MiB of data is refused by validation (the body itself is under the 3 MiB limit).
    let big = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                                 "data": {"blob": "x".repeat(1024 * 1024 + 1)}});
    let (code, status) = cluster.api().post("/api/v1/namespaces/default/configmaps", &big).expect("post");
    assert_eq!(code, 422, "{status}");
    assert!(status["message"].as_str().unwrap().contains("Too long: must have at most 1048576 bytes"), "{status}");
    k.ok(&["delete", "configmap", "app", "frozen"]);
    assert!(!k.ok(&["get", "cm"]).contains("frozen"));
}

#[test]
fn secrets_generators_string_data_and_typed_rules() {
    let (cluster, k) = start();
    k.ok(&["create", "secret", "generic", "creds", "--from-literal=user=admin", "--from-literal=pass=s3cret"]);
    let s = k.json(&["get", "secret", "creds", "-o", "json"]);
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"]["user"], "YWRtaW4=");
    let cert = write(&cluster, "tls.crt", TEST_CERT);
    let key = write(&cluster, "tls.key", TEST_KEY);
    k.ok(&["create", "secret", "tls", "web-tls", &format!("--cert={cert}"), &format!("--key={key}")]);
    let tls = k.json(&["get", "secret", "web-tls", "-o", "json"]);
    assert_eq!(tls["type"], "kubernetes.io/tls");
    assert!(tls["data"]["tls.crt"].is_string() && tls["data"]["tls.key"].is_string(), "{tls}");
    k.ok(&["create", "secret", "docker-registry", "reg", "--docker-server=registry.example.com", "--docker-username=u", "--docker-password=p"]);
    let reg = k.json(&["get", "secret", "reg", "-o", "json"]);
    assert_eq!(reg["type"], "kubernetes.io/dockerconfigjson");
    assert!(reg["data"][".dockerconfigjson"].is_string());
    // Field selector on type.
    let list = k.json(&["get", "secrets", "--field-selector", "type=kubernetes.io/dockerconfigjson", "-o", "json"]);
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|i| i["metadata"]["name"].as_str()).collect();
    assert_eq!(names, ["reg"]);

    // stringData is merged into data on write and never returned.
    let m = write(
        &cluster,
        "sd.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sd\ndata:\n  a: b2xk\n  keep: eA==\nstringData:\n  a: new\n  b: two\n",
    );
    k.ok(&["apply", "-f", &m]);
    let sd = k.json(&["get", "secret", "sd", "-o", "json"]);
    assert!(sd.get("stringData").is_none(), "{sd}");
    assert_eq!(sd["data"]["a"], "bmV3");
    assert_eq!(sd["data"]["b"], "dHdv");
    assert_eq!(sd["data"]["keep"], "eA==");
    assert!(k.ok(&["describe", "secret", "sd"]).contains("keep"));

    // Typed rules and the immutable type.
    let bad = write(&cluster, "bad.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\ntype: kubernetes.io/tls\ndata:\n  tls.crt: eA==\n");
    let out = k.fails(&["apply", "-f", &bad]);
    assert!(out.contains("data[tls.key]: Required value"), "{out}");
    let basic = write(&cluster, "basic.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: basic\ntype: kubernetes.io/basic-auth\nstringData:\n  username: u\n");
    k.ok(&["apply", "-f", &basic]);
    let out = k.fails(&["patch", "secret", "basic", "-p", r#"{"type":"Opaque"}"#]);
    assert!(out.contains("type: Invalid value") && out.contains("field is immutable"), "{out}");
    k.ok(&["delete", "secret", "creds", "reg", "sd", "basic", "web-tls"]);
}

#[test]
fn service_accounts_default_in_every_namespace_and_on_pods() {
    let (cluster, k) = start();
    k.ok(&["create", "namespace", "team-a"]);
    wait_for("the default ServiceAccount in team-a", Duration::from_secs(20), || {
        let r = k.run(&["get", "sa", "default", "-n", "team-a"]);
        if r.success() { Ok(()) } else { Err(r.text()) }
    });
    // Deleted, it comes back.
    k.ok(&["delete", "serviceaccount", "default", "-n", "team-a"]);
    wait_for("the default ServiceAccount to be recreated", Duration::from_secs(20), || {
        let r = k.run(&["get", "sa", "default", "-n", "team-a", "-o", "json"]);
        if r.success() { Ok(()) } else { Err(r.text()) }
    });
    k.ok(&["create", "serviceaccount", "robot", "-n", "team-a"]);
    assert!(k.ok(&["describe", "sa", "robot", "-n", "team-a"]).contains("robot"));
    let m = write(&cluster, "sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\nimagePullSecrets:\n- name: reg\nautomountServiceAccountToken: false\n");
    k.ok(&["apply", "-f", &m, "-n", "team-a"]);
    let b = k.json(&["get", "sa", "builder", "-n", "team-a", "-o", "json"]);
    assert_eq!(b["imagePullSecrets"][0]["name"], "reg");
    k.ok(&["delete", "sa", "builder", "robot", "-n", "team-a"]);

    k.ok(&["run", "web", "--image=nginx", "-n", "team-a"]);
    let pod = k.json(&["get", "pod", "web", "-n", "team-a", "-o", "json"]);
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    assert_eq!(pod["spec"]["serviceAccount"], "default");
}

#[test]
fn endpoint_slices_hpa_v1_and_the_kubernetes_service() {
    let (cluster, k) = start();
    let slice = write(
        &cluster,
        "slice.yaml",
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\n  labels:\n    kubernetes.io/service-name: web\naddressType: IPv4\nendpoints:\n- addresses: [\"10.1.0.5\"]\n  conditions:\n    ready: true\n  nodeName: node-1\nports:\n- name: http\n  port: 80\n",
    );
    k.ok(&["apply", "-f", &slice]);
    let s = k.json(&["get", "endpointslices", "web-abc", "-o", "json"]);
    assert_eq!(s["ports"][0]["protocol"], "TCP");
    assert!(k.ok(&["describe", "endpointslice", "web-abc"]).contains("10.1.0.5"));
    let bad = write(&cluster, "bad-slice.yaml", "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: bad\naddressType: IPv4\nendpoints:\n- addresses: [\"fd00::1\"]\n");
    let out = k.fails(&["apply", "-f", &bad]);
    assert!(out.contains("endpoints[0].addresses[0]") && out.contains("must be a valid IPv4 address"), "{out}");
    k.ok(&["delete", "endpointslice", "web-abc"]);

    // autoscaling/v1 under strict validation, read back through both versions.
    let hpa = write(
        &cluster,
        "hpa.yaml",
        "apiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  minReplicas: 2\n  maxReplicas: 5\n  targetCPUUtilizationPercentage: 60\n",
    );
    k.ok(&["apply", "--validate=strict", "-f", &hpa]);
    // kubectl expands the short name `hpa` to the preferred version; the full resource
    // name keeps v1.
    let v1 = k.json(&["get", "horizontalpodautoscalers.v1.autoscaling", "web", "-o", "json"]);
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 60);
    let v2 = k.json(&["get", "horizontalpodautoscalers.v2.autoscaling", "web", "-o", "json"]);
    assert_eq!(v2["spec"]["metrics"][0]["resource"]["name"], "cpu");
    assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 60);
    assert!(k.ok(&["get", "hpa.v1.autoscaling"]).contains("web"));
    let versions = k.ok(&["api-versions"]);
    assert!(versions.contains("autoscaling/v1") && versions.contains("autoscaling/v2"), "{versions}");
    let explained = k.ok(&["explain", "horizontalpodautoscalers.spec.targetCPUUtilizationPercentage", "--api-version=autoscaling/v1"]);
    assert!(explained.contains("targetCPUUtilizationPercentage"), "{explained}");
    k.ok(&["delete", "-f", &hpa]);
    // `kubectl autoscale` sends an autoscaling/v2 object as protobuf.
    k.ok(&["create", "deployment", "api", "--image=nginx"]);
    k.ok(&["autoscale", "deployment", "api", "--max=4", "--cpu-percent=70"]);
    let auto = k.json(&["get", "horizontalpodautoscalers.v1.autoscaling", "api", "-o", "json"]);
    assert_eq!(auto["spec"]["targetCPUUtilizationPercentage"], 70);
    assert_eq!(auto["spec"]["maxReplicas"], 4);

    // The kubernetes Service, on the range's first address, recreated when deleted.
    let svc: Value = wait_for("the kubernetes Service", Duration::from_secs(20), || {
        let r = k.run(&["get", "svc", "kubernetes", "-o", "json"]);
        if r.success() { serde_json::from_str(&r.stdout).map_err(|e| e.to_string()) } else { Err(r.text()) }
    });
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["name"], "https");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    let ep = k.json(&["get", "endpoints", "kubernetes", "-o", "json"]);
    let port = ep["subsets"][0]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(svc["spec"]["ports"][0]["targetPort"].as_u64(), Some(port));
    assert!(k.ok(&["get", "svc", "kubernetes"]).contains("10.96.0.1"));
    k.ok(&["delete", "svc", "kubernetes"]);
    wait_for("the kubernetes Service to be recreated", Duration::from_secs(20), || {
        let r = k.run(&["get", "svc", "kubernetes", "-o", "json"]);
        if r.success() { Ok(()) } else { Err(r.text()) }
    });
}
