//! Manifests that use the full Kubernetes 1.37 schema, applied with the pinned kubectl
//! under strict field validation (its default), read back with `kubectl get -o json`:
//! every field sent comes back unchanged (server defaults may be added, nothing is
//! dropped). A Job with podFailurePolicy, successPolicy and per-index back-off; a
//! Deployment with a native sidecar, lifecycle hooks, security contexts, envFrom,
//! topology spread constraints and projected / downwardAPI volumes.

mod harness;

use harness::Cluster;
use serde_json::{json, Value};

/// Every field of `sent` is in `got` with the same value (`got` may have more).
fn missing_or_changed(sent: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, got) {
        (Value::Object(s), Value::Object(g)) => {
            for (k, sv) in s {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => missing_or_changed(sv, gv, &p, out),
                    None => out.push(format!("{p}: dropped")),
                }
            }
        }
        (Value::Array(s), Value::Array(g)) if s.len() == g.len() => {
            for (i, (sv, gv)) in s.iter().zip(g).enumerate() {
                missing_or_changed(sv, gv, &format!("{path}[{i}]"), out);
            }
        }
        (s, g) if s != g => out.push(format!("{path}: sent {s}, got {g}")),
        _ => {}
    }
}

fn job() -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "indexed", "namespace": "default"},
        "spec": {
            "completionMode": "Indexed", "completions": 4, "parallelism": 2,
            "backoffLimitPerIndex": 1, "maxFailedIndexes": 2,
            "podReplacementPolicy": "Failed",
            "podFailurePolicy": {"rules": [
                {"action": "FailIndex", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
            ]},
            "successPolicy": {"rules": [{"succeededIndexes": "0-2", "succeededCount": 2}]},
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "exit 0"]}]
            }}
        }
    })
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "sidecar", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "sidecar"}},
            "template": {
                "metadata": {"labels": {"app": "sidecar"}},
                "spec": {
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": [{
                        "name": "log-shipper", "image": "busybox:1.36", "restartPolicy": "Always",
                        "command": ["sh", "-c", "tail -F /var/log/app.log"],
                        "volumeMounts": [{"name": "logs", "mountPath": "/var/log"}]
                    }],
                    "containers": [{
                        "name": "app", "image": "nginx:1.27",
                        "envFrom": [{"configMapRef": {"name": "app-config", "optional": true}, "prefix": "APP_"}],
                        "lifecycle": {
                            "postStart": {"exec": {"command": ["sh", "-c", "echo started"]}},
                            "preStop": {"sleep": {"seconds": 5}}
                        },
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
                        "readinessProbe": {"grpc": {"port": 9000}},
                        "volumeMounts": [
                            {"name": "logs", "mountPath": "/var/log"},
                            {"name": "podinfo", "mountPath": "/etc/podinfo"},
                            {"name": "all-in-one", "mountPath": "/projected", "readOnly": true}
                        ]
                    }],
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": {"app": "sidecar"}}
                    }],
                    "volumes": [
                        {"name": "logs", "emptyDir": {}},
                        {"name": "podinfo", "downwardAPI": {"items": [
                            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}
                        ]}},
                        {"name": "all-in-one", "projected": {"sources": [
                            {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                            {"configMap": {"name": "app-config", "optional": true, "items": [{"key": "k", "path": "k"}]}},
                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600, "audience": "api"}}
                        ]}}
                    ]
                }
            }
        }
    })
}

#[test]
fn full_schema_manifests_apply_strictly_and_read_back_unchanged() {
    let cluster = Cluster::embedded();
    let k = cluster.kubectl();
    for (manifest, resource) in [(job(), "job/indexed"), (deployment(), "deployment/sidecar")] {
        let text = manifest.to_string();
        let run = k.run_with_stdin(&["apply", "--validate=strict", "-f", "-"], Some(&text));
        assert!(run.success(), "kubectl apply {resource} under strict validation:\n{}", run.text());
        let got = k.json(&["get", resource, "-n", "default", "-o", "json"]);
        let mut problems = Vec::new();
        missing_or_changed(&manifest["spec"], &got["spec"], "spec", &mut problems);
        assert!(problems.is_empty(), "{resource} did not read back unchanged:\n{}", problems.join("\n"));
    }
    // Strict decoding still refuses what upstream's schema does not have.
    let mut bad = deployment();
    bad["metadata"]["name"] = json!("typo");
    bad["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["slep"] = json!({"seconds": 1});
    let run = k.run_with_stdin(&["apply", "--validate=strict", "-f", "-"], Some(&bad.to_string()));
    assert!(!run.success(), "an unknown field was accepted:\n{}", run.text());
    assert!(
        run.text().contains("spec.template.spec.containers[0].lifecycle.preStop.slep"),
        "the refusal names the unknown field:\n{}",
        run.text()
    );
}
