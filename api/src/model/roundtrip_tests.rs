//! Every kind survives JSON → type → bincode envelope → type → the same JSON.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

use super::*;
use crate::codec::{decode, encode};

fn round_trip<T: Resource + PartialEq>(manifest: Value) {
    let typed: T = serde_json::from_value(manifest.clone()).expect("manifest parses");
    let bytes = encode(&typed).expect("encodes");
    let back: T = decode(&bytes).expect("decodes");
    assert_eq!(back, typed, "bincode round trip changed the value");
    let again = serde_json::to_value(&back).unwrap();
    assert_eq!(again, manifest, "JSON differs after the round trip");
    // Everything that passes JSON → type also validates cleanly in these manifests.
    assert_eq!(back.validate(), vec![], "{}", T::INFO.kind);
}

fn typed<T: DeserializeOwned + Serialize>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn template() -> Value {
    json!({
        "metadata": {"labels": {"app": "web", "tier": "frontend"}, "annotations": {"example.com/owner": "team-a"}},
        "spec": {
            "containers": [{
                "name": "web",
                "image": "hello:v2",
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/hello"],
                "args": ["--port", "8080"],
                "workingDir": "/srv",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                    {"name": "CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"containerName": "web", "resource": "limits.cpu", "divisor": "1m"}}}
                ],
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1.5Gi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "config", "mountPath": "/etc/hello", "readOnly": true}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"}, "periodSeconds": 5, "failureThreshold": 3},
                "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 10, "timeoutSeconds": 2},
                "startupProbe": {"exec": {"command": ["cat", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 30, "successThreshold": 1}
            }],
            "volumes": [
                {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "config", "configMap": {"name": "hello-config", "items": [{"key": "app.conf", "path": "app.conf"}], "defaultMode": 420}}
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoExecute", "tolerationSeconds": 300}]
        }
    })
}

#[test]
fn namespace_round_trips() {
    round_trip::<Namespace>(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a", "uid": "7d3c", "resourceVersion": "12", "labels": {"team": "a"},
                     "creationTimestamp": "2026-11-25T01:02:03Z"},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    }));
}

#[test]
fn pod_round_trips() {
    round_trip::<Pod>(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-7d9f-abcde", "namespace": "default", "uid": "0b1c", "resourceVersion": "42",
            "labels": {"app": "web", "pod-template-hash": "7d9f"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f", "uid": "aa11", "controller": true, "blockOwnerDeletion": true}],
            "finalizers": ["shoal.io/node-cleanup"]
        },
        "spec": {
            "initContainers": [{"name": "migrate", "image": "hello:v2", "command": ["/bin/migrate"]}],
            "containers": [{
                "name": "web", "image": "hello:v2",
                "ports": [{"name": "http", "containerPort": 8080, "hostPort": 30080, "protocol": "TCP"}],
                "env": [{"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token", "optional": true}}}],
                "resources": {"requests": {"cpu": "100m", "memory": "1e6", "ephemeral-storage": "2Gi"}, "limits": {"cpu": "500m"}},
                "volumeMounts": [{"name": "cache", "mountPath": "/cache", "subPath": "web"}, {"name": "claim", "mountPath": "/var/lib/data"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "httpHeaders": [{"name": "X-Probe", "value": "1"}]}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
            }],
            "volumes": [
                {"name": "cache", "emptyDir": {}},
                {"name": "claim", "persistentVolumeClaim": {"claimName": "data-web-0"}},
                {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
                {"name": "tls", "secret": {"secretName": "web-tls", "optional": false}}
            ],
            "restartPolicy": "Always",
            "nodeName": "node-1",
            "hostname": "web-0",
            "subdomain": "web",
            "hostNetwork": false,
            "schedulerName": "default-scheduler",
            "priority": 1000,
            "serviceAccountName": "default",
            "dnsPolicy": "ClusterFirst",
            "affinity": {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a", "b"]},
                        {"key": "gpu", "operator": "DoesNotExist"},
                        {"key": "cores", "operator": "Gt", "values": ["4"]}
                    ]},
                    {"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["node-9"]}]}
                ]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 50, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
                ]
            }},
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}, {"key": "spot", "operator": "Equal", "value": "true"}]
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True", "lastProbeTime": "2026-11-25T01:02:05Z", "lastTransitionTime": "2026-11-25T01:02:04Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-25T01:02:00Z"}
            ],
            "hostIP": "192.168.1.10",
            "podIP": "10.244.1.5",
            "podIPs": [{"ip": "10.244.1.5"}],
            "startTime": "2026-11-25T01:02:01Z",
            "initContainerStatuses": [{"name": "migrate", "ready": true, "restartCount": 0, "image": "hello:v2", "imageID": "sha256:ab",
                "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-11-25T01:02:01Z", "finishedAt": "2026-11-25T01:02:02Z", "containerID": "shoal://m1"}}}],
            "containerStatuses": [{
                "name": "web", "ready": true, "restartCount": 2, "image": "hello:v2", "imageID": "sha256:ab",
                "containerID": "shoal://c1", "started": true,
                "state": {"running": {"startedAt": "2026-11-25T01:02:03Z"}},
                "lastState": {"terminated": {"exitCode": 137, "signal": 9, "reason": "OOMKilled", "message": "out of memory"}}
            }],
            "qosClass": "Burstable",
            "reason": "Evicted",
            "message": "node pressure"
        }
    }));
}

#[test]
fn replication_controller_round_trips() {
    round_trip::<ReplicationController>(json!({
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "web", "namespace": "default", "generation": 3},
        "spec": {"replicas": 3, "minReadySeconds": 5, "selector": {"app": "web", "tier": "frontend"}, "template": template()},
        "status": {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 3,
                   "conditions": [{"type": "ReplicaFailure", "status": "False", "lastTransitionTime": "2026-11-25T01:00:00Z"}]}
    }));
}

#[test]
fn replica_set_round_trips() {
    round_trip::<ReplicaSet>(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-7d9f", "namespace": "default", "labels": {"app": "web"},
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {
            "replicas": 2, "minReadySeconds": 3,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "edge"]}]},
            "template": template()
        },
        "status": {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1, "observedGeneration": 1}
    }));
}

#[test]
fn deployment_round_trips() {
    round_trip::<Deployment>(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "generation": 4, "annotations": {"kubernetes.io/change-cause": "v2"}},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}, {"key": "canary", "operator": "DoesNotExist"}]},
            "template": template(),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "minReadySeconds": 5, "revisionHistoryLimit": 10, "paused": false, "progressDeadlineSeconds": 600
        },
        "status": {
            "observedGeneration": 4, "replicas": 5, "updatedReplicas": 2, "readyReplicas": 4, "availableReplicas": 4, "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True", "lastUpdateTime": "2026-11-25T01:00:00Z", "lastTransitionTime": "2026-11-25T01:00:00Z", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."},
                {"type": "Progressing", "status": "True", "lastUpdateTime": "2026-11-25T01:05:00Z", "lastTransitionTime": "2026-11-25T01:00:00Z", "reason": "ReplicaSetUpdated"}
            ],
            "collisionCount": 1
        }
    }));
}

#[test]
fn stateful_set_round_trips() {
    round_trip::<StatefulSet>(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "serviceName": "db", "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(),
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": {"app": "db"}},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local", "resources": {"requests": {"storage": "10Gi"}}}
            }],
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1, "maxUnavailable": "50%"}},
            "revisionHistoryLimit": 5, "minReadySeconds": 2,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Delete"},
            "ordinals": {"start": 1}
        },
        "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1, "availableReplicas": 3,
                   "currentRevision": "db-5c4f", "updateRevision": "db-6d7a", "collisionCount": 0}
    }));
}

#[test]
fn daemon_set_round_trips() {
    round_trip::<DaemonSet>(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "log-agent", "namespace": "kube-system"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0}},
            "minReadySeconds": 0, "revisionHistoryLimit": 3
        },
        "status": {"currentNumberScheduled": 3, "numberMisscheduled": 0, "desiredNumberScheduled": 3, "numberReady": 2,
                   "observedGeneration": 1, "updatedNumberScheduled": 3, "numberAvailable": 2, "numberUnavailable": 1}
    }));
}

#[test]
fn job_round_trips() {
    let mut t = template();
    t["spec"]["restartPolicy"] = json!("OnFailure");
    round_trip::<Job>(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {
            "parallelism": 2, "completions": 5, "backoffLimit": 4, "activeDeadlineSeconds": 600, "ttlSecondsAfterFinished": 100,
            "completionMode": "NonIndexed", "suspend": false, "manualSelector": true,
            "selector": {"matchLabels": {"app": "web"}},
            "template": t
        },
        "status": {"active": 2, "succeeded": 3, "failed": 1, "ready": 2, "startTime": "2026-11-25T01:00:00Z",
                   "conditions": [{"type": "Complete", "status": "False", "lastProbeTime": "2026-11-25T01:01:00Z", "lastTransitionTime": "2026-11-25T01:01:00Z"}]}
    }));
}

#[test]
fn cron_job_round_trips() {
    let mut t = template();
    t["spec"]["restartPolicy"] = json!("Never");
    round_trip::<CronJob>(json!({
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": "report", "namespace": "default"},
        "spec": {
            "schedule": "*/15 9-17 * * MON-FRI", "timeZone": "Etc/UTC", "startingDeadlineSeconds": 120,
            "concurrencyPolicy": "Forbid", "suspend": false, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"cron": "report"}}, "spec": {"backoffLimit": 2, "template": t}}
        },
        "status": {"active": [{"apiVersion": "batch/v1", "kind": "Job", "namespace": "default", "name": "report-2938475", "uid": "c0ffee"}],
                   "lastScheduleTime": "2026-11-25T09:15:00Z", "lastSuccessfulTime": "2026-11-25T09:00:40Z"}
    }));
}

#[test]
fn service_round_trips() {
    round_trip::<Service>(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http", "nodePort": 30080},
                {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": 9090, "nodePort": 30090, "appProtocol": "http"}
            ],
            "clusterIP": "10.96.0.15", "clusterIPs": ["10.96.0.15"], "externalIPs": ["192.168.1.100"],
            "sessionAffinity": "ClientIP", "publishNotReadyAddresses": true,
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster", "externalTrafficPolicy": "Local"
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.200"}]}}
    }));
}

#[test]
fn endpoints_round_trip() {
    round_trip::<Endpoints>(json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "subsets": [{
            "addresses": [{"ip": "10.244.1.5", "hostname": "web-0", "nodeName": "node-1",
                           "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-0", "uid": "0b1c"}}],
            "notReadyAddresses": [{"ip": "10.244.2.9", "nodeName": "node-2"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "TCP"}]
        }]
    }));
}

#[test]
fn node_round_trips() {
    round_trip::<Node>(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "disk": "ssd"}},
        "spec": {
            "podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"], "providerID": "shoal://node-1", "unschedulable": false,
            "taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": "2026-11-25T01:00:00Z"},
                       {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "3800m", "memory": "7.5Gi", "pods": "110"},
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-25T01:10:00Z", "lastTransitionTime": "2026-11-25T01:00:00Z", "reason": "KubeletReady", "message": "shoal node is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.8.0", "osImage": "Debian",
                         "containerRuntimeVersion": "shoal://0.1.0", "kubeletVersion": "v0.1.0", "kubeProxyVersion": "v0.1.0",
                         "operatingSystem": "linux", "architecture": "amd64"}
        }
    }));
}

#[test]
fn persistent_volume_claim_round_trips() {
    round_trip::<PersistentVolumeClaim>(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-db-0", "namespace": "default"},
        "spec": {
            "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "resources": {"requests": {"storage": "10Gi"}, "limits": {"storage": "20Gi"}},
            "storageClassName": "local", "volumeName": "pv-1", "volumeMode": "Filesystem",
            "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["fast"]}]}
        },
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}
    }));
}

#[test]
fn horizontal_pod_autoscaler_round_trips() {
    round_trip::<HorizontalPodAutoscaler>(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2, "maxReplicas": 10,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "web", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                {"type": "Pods", "pods": {"metric": {"name": "requests_per_second", "selector": {"matchLabels": {"verb": "GET"}}}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
                {"type": "Object", "object": {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": "web"}, "metric": {"name": "hits"}, "target": {"type": "Value", "value": "10k"}}},
                {"type": "External", "external": {"metric": {"name": "queue_depth"}, "target": {"type": "Value", "value": "30"}}}
            ],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 300}
            }
        },
        "status": {
            "observedGeneration": 1, "lastScaleTime": "2026-11-25T01:00:00Z", "currentReplicas": 3, "desiredReplicas": 4,
            "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75, "averageValue": "150m"}}}],
            "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2026-11-25T01:00:00Z", "reason": "ReadyForNewScale"}]
        }
    }));
}

#[test]
fn unknown_fields_are_dropped_without_error() {
    let pod: Pod = typed(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "frobnicate": "/x"},
        "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": true, "wibble": 1}}], "sharePrawns": true},
        "extra": 1
    }));
    let v = serde_json::to_value(&pod).unwrap();
    assert_eq!(v, json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": true}}]}
    }));
}

#[test]
fn numeric_quantities_become_strings() {
    let node: Node = typed(json!({"metadata": {"name": "n"}, "status": {"capacity": {"cpu": 4, "memory": "8Gi"}}}));
    assert_eq!(node.status.as_ref().unwrap().capacity["cpu"], Quantity::from("4"));
    assert_eq!(serde_json::to_value(&node).unwrap()["status"]["capacity"]["cpu"], json!("4"));
}

#[test]
fn every_kind_sets_its_type_meta() {
    let mut d = Deployment::default();
    d.set_type_meta();
    assert_eq!((d.api_version.as_str(), d.kind.as_str()), ("apps/v1", "Deployment"));
    let mut h = HorizontalPodAutoscaler::default();
    h.set_type_meta();
    assert_eq!(h.api_version, "autoscaling/v2");
    let mut e = Endpoints::default();
    e.set_type_meta();
    assert_eq!((e.api_version.as_str(), e.kind.as_str()), ("v1", "Endpoints"));
}
