//! One case per kind (and the tricky cells): the object's JSON in, the columns (`*` marks
//! a wide column) and the row's cells out, as upstream's printers produce them.

use api::model::KindInfo;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::super::{build_at, columns, Include, Options};

const NOW: &str = "2026-01-01T00:00:00Z";
/// Five minutes before NOW.
const CREATED: &str = "2025-12-31T23:55:00Z";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW).map(|t| t.with_timezone(&Utc)).expect("NOW parses")
}

fn info(group: &'static str, version: &'static str, kind: &'static str) -> KindInfo {
    KindInfo {
        group,
        version,
        kind,
        plural: "",
        singular: "",
        namespaced: true,
        short_names: &[],
        categories: &[],
        has_status: false,
        has_scale: false,
    }
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": CREATED})
}

struct Case {
    what: &'static str,
    info: KindInfo,
    object: Value,
    columns: &'static [&'static str],
    cells: Value,
}

fn case(what: &'static str, info: KindInfo, object: Value, columns: &'static [&'static str], cells: Value) -> Case {
    Case { what, info, object, columns, cells }
}

const POD_COLUMNS: &[&str] = &["Name", "Ready", "Status", "Restarts", "Age", "*IP", "*Node", "*Nominated Node", "*Readiness Gates"];
const EVENT_COLUMNS: &[&str] = &["Last Seen", "Type", "Reason", "Object", "*Subobject", "*Source", "Message", "*First Seen", "*Count", "*Name"];
const HPA_COLUMNS: &[&str] = &["Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"];
const SERVICE_COLUMNS: &[&str] = &["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "*Selector"];

fn cases() -> Vec<Case> {
    let core = |kind| info("", "v1", kind);
    let apps = |kind| info("apps", "v1", kind);
    let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}});
    vec![
        case(
            "Pod",
            core("Pod"),
            json!({"metadata": meta("web-1"), "spec": {"nodeName": "n1", "containers": [{"name": "a"}]},
                   "status": {"phase": "Running", "podIPs": [{"ip": "10.1.0.4"}],
                              "containerStatuses": [{"name": "a", "ready": true, "restartCount": 2, "state": {"running": {}},
                                                     "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-12-31T23:58:00Z"}}}]}}),
            POD_COLUMNS,
            json!(["web-1", "1/1", "Running", "2 (2m ago)", "5m", "10.1.0.4", "n1", "<none>", "<none>"]),
        ),
        case(
            "Pod initializing",
            core("Pod"),
            json!({"metadata": meta("init"), "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
                   "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i", "restartCount": 0, "state": {"running": {}}}]}}),
            POD_COLUMNS,
            json!(["init", "0/1", "Init:0/1", "0", "5m", "<none>", "<none>", "<none>", "<none>"]),
        ),
        case(
            "Node",
            core("Node"),
            json!({"metadata": {"name": "n1", "creationTimestamp": CREATED,
                                "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"}},
                   "spec": {"unschedulable": true},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "192.168.0.2"}],
                              "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian"}}}),
            &["Name", "Status", "Roles", "Age", "Version", "*Internal-IP", "*External-IP", "*OS-Image", "*Kernel-Version", "*Container-Runtime"],
            json!(["n1", "Ready,SchedulingDisabled", "control-plane,edge,worker", "5m", "v1.37.0", "192.168.0.2", "<none>", "Debian", "<unknown>", "<unknown>"]),
        ),
        case(
            "Node without a Ready condition",
            core("Node"),
            json!({"metadata": {"name": "n2", "creationTimestamp": CREATED}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
            &["Name", "Status", "Roles", "Age", "Version", "*Internal-IP", "*External-IP", "*OS-Image", "*Kernel-Version", "*Container-Runtime"],
            json!(["n2", "NotReady", "<none>", "5m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"]),
        ),
        case(
            "Namespace",
            core("Namespace"),
            json!({"metadata": {"name": "team", "creationTimestamp": CREATED}, "status": {"phase": "Terminating"}}),
            &["Name", "Status", "Age"],
            json!(["team", "Terminating", "5m"]),
        ),
        case(
            "Service ClusterIP",
            core("Service"),
            json!({"metadata": meta("web"), "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "selector": {"tier": "f", "app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}),
            SERVICE_COLUMNS,
            json!(["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,53/UDP", "5m", "app=web,tier=f"]),
        ),
        case(
            "Service NodePort",
            core("Service"),
            json!({"metadata": meta("np"), "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.11"], "externalIPs": ["1.2.3.4"],
                   "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}),
            SERVICE_COLUMNS,
            json!(["np", "NodePort", "10.96.0.11", "1.2.3.4", "80:30080/TCP", "5m", "<none>"]),
        ),
        case(
            "Service LoadBalancer pending",
            core("Service"),
            json!({"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}}),
            SERVICE_COLUMNS,
            json!(["lb", "LoadBalancer", "10.96.0.12", "<pending>", "443:31443/TCP", "5m", "<none>"]),
        ),
        case(
            "Service LoadBalancer with ingress",
            core("Service"),
            json!({"metadata": meta("lb2"), "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.13"], "externalIPs": ["9.9.9.9"]},
                   "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}]}}}),
            SERVICE_COLUMNS,
            json!(["lb2", "LoadBalancer", "10.96.0.13", "5.6.7.8,lb.example.com,9.9.9.9", "<none>", "5m", "<none>"]),
        ),
        case(
            "Service headless ExternalName",
            core("Service"),
            json!({"metadata": meta("ext"), "spec": {"type": "ExternalName", "externalName": "db.example.com"}}),
            SERVICE_COLUMNS,
            json!(["ext", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"]),
        ),
        case(
            "Endpoints",
            core("Endpoints"),
            json!({"metadata": meta("web"), "subsets": [
                {"addresses": [{"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
                {"addresses": [{"ip": "10.1.0.3"}]}]}),
            &["Name", "Endpoints", "Age"],
            json!(["web", "10.1.0.1:80,10.1.0.2:80,10.1.0.1:443 + 2 more...", "5m"]),
        ),
        case("Endpoints without subsets", core("Endpoints"), json!({"metadata": meta("none")}), &["Name", "Endpoints", "Age"], json!(["none", "<none>", "5m"])),
        case(
            "ReplicationController",
            core("ReplicationController"),
            json!({"metadata": meta("rc"), "spec": {"replicas": 3, "selector": {"app": "web"}, "template": template},
                   "status": {"replicas": 3, "readyReplicas": 2}}),
            &["Name", "Desired", "Current", "Ready", "Age", "*Containers", "*Images", "*Selector"],
            json!(["rc", 3, 3, 2, "5m", "web,log", "nginx:1,busybox", "app=web"]),
        ),
        case(
            "ReplicaSet",
            apps("ReplicaSet"),
            json!({"metadata": meta("rs"), "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}}, "template": template},
                   "status": {"replicas": 2, "readyReplicas": 1}}),
            &["Name", "Desired", "Current", "Ready", "Age", "*Containers", "*Images", "*Selector"],
            json!(["rs", 2, 2, 1, "5m", "web,log", "nginx:1,busybox", "app=web,pod-template-hash=abc"]),
        ),
        case(
            "Deployment",
            apps("Deployment"),
            json!({"metadata": meta("web"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
                   "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
            &["Name", "Ready", "Up-to-date", "Available", "Age", "*Containers", "*Images", "*Selector"],
            json!(["web", "2/3", 3, 2, "5m", "web,log", "nginx:1,busybox", "app=web"]),
        ),
        case(
            "StatefulSet",
            apps("StatefulSet"),
            json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template}, "status": {"readyReplicas": 1}}),
            &["Name", "Ready", "Age", "*Containers", "*Images"],
            json!(["db", "1/3", "5m", "web,log", "nginx:1,busybox"]),
        ),
        case(
            "DaemonSet",
            apps("DaemonSet"),
            json!({"metadata": meta("agent"), "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "agent:1"}]}}},
                   "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}}),
            &["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age", "*Containers", "*Images", "*Selector"],
            json!(["agent", 2, 2, 1, 2, 1, "kubernetes.io/os=linux", "5m", "a", "agent:1", "app=agent"]),
        ),
        case(
            "ControllerRevision",
            apps("ControllerRevision"),
            json!({"metadata": {"name": "db-5d4f", "creationTimestamp": CREATED,
                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": true, "uid": "u"}]}, "revision": 2}),
            &["Name", "Controller", "Revision", "Age"],
            json!(["db-5d4f", "statefulset.apps/db", 2, "5m"]),
        ),
        case(
            "Job running",
            info("batch", "v1", "Job"),
            json!({"metadata": meta("pi"), "spec": {"completions": 3, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                   "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
                   "status": {"succeeded": 1, "startTime": "2025-12-31T23:57:00Z"}}),
            &["Name", "Status", "Completions", "Duration", "Age", "*Containers", "*Images", "*Selector"],
            json!(["pi", "Running", "1/3", "3m", "5m", "pi", "perl", "batch.kubernetes.io/controller-uid=u"]),
        ),
        case(
            "Job complete",
            info("batch", "v1", "Job"),
            json!({"metadata": meta("done"), "spec": {"template": {"spec": {"containers": []}}},
                   "status": {"succeeded": 1, "startTime": "2025-12-31T23:56:00Z", "completionTime": "2025-12-31T23:56:42Z",
                              "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}}),
            &["Name", "Status", "Completions", "Duration", "Age", "*Containers", "*Images", "*Selector"],
            json!(["done", "Complete", "1/1", "42s", "5m", "", "", "<none>"]),
        ),
        case(
            "Job suspended and parallel",
            info("batch", "v1", "Job"),
            json!({"metadata": meta("wq"), "spec": {"parallelism": 4, "suspend": true},
                   "status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
            &["Name", "Status", "Completions", "Duration", "Age", "*Containers", "*Images", "*Selector"],
            json!(["wq", "Suspended", "0/1 of 4", "", "5m", "", "", "<none>"]),
        ),
        case(
            "Job failed",
            info("batch", "v1", "Job"),
            json!({"metadata": meta("bad"), "spec": {"completions": 1},
                   "status": {"failed": 2, "conditions": [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}}),
            &["Name", "Status", "Completions", "Duration", "Age", "*Containers", "*Images", "*Selector"],
            json!(["bad", "Failed", "0/1", "", "5m", "", "", "<none>"]),
        ),
        case(
            "CronJob",
            info("batch", "v1", "CronJob"),
            json!({"metadata": meta("nightly"), "spec": {"schedule": "0 3 * * *", "suspend": false,
                   "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "backup:2"}]}}}}},
                   "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": "2025-12-31T23:59:00Z"}}),
            &["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age", "*Containers", "*Images", "*Selector"],
            json!(["nightly", "0 3 * * *", "<none>", "False", 1, "60s", "5m", "b", "backup:2", "<none>"]),
        ),
        case(
            "CronJob never scheduled",
            info("batch", "v1", "CronJob"),
            json!({"metadata": meta("new"), "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC"}}),
            &["Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age", "*Containers", "*Images", "*Selector"],
            json!(["new", "@hourly", "Etc/UTC", "<unset>", 0, "<none>", "5m", "", "", "<none>"]),
        ),
        case(
            "PersistentVolumeClaim bound",
            core("PersistentVolumeClaim"),
            json!({"metadata": meta("data"), "spec": {"volumeName": "pv1", "storageClassName": "fast", "volumeMode": "Filesystem",
                   "resources": {"requests": {"storage": "1Gi"}}},
                   "status": {"phase": "Bound", "capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"]}}),
            &["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age", "*VolumeMode"],
            json!(["data", "Bound", "pv1", "2Gi", "RWO,ROX", "fast", "<unset>", "5m", "Filesystem"]),
        ),
        case(
            "PersistentVolumeClaim pending",
            core("PersistentVolumeClaim"),
            json!({"metadata": {"name": "wait", "creationTimestamp": CREATED, "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
                   "spec": {"resources": {"requests": {"storage": "1Gi"}}, "volumeAttributesClassName": "gold"}, "status": {"phase": "Pending"}}),
            &["Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age", "*VolumeMode"],
            json!(["wait", "Pending", "", "", "", "old", "gold", "5m", "<unset>"]),
        ),
        case(
            "PersistentVolume",
            core("PersistentVolume"),
            json!({"metadata": {"name": "pv1", "creationTimestamp": CREATED},
                   "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany"], "persistentVolumeReclaimPolicy": "Retain",
                            "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "fast", "volumeMode": "Block"},
                   "status": {"phase": "Bound"}}),
            &["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "VolumeAttributesClass", "Reason", "Age", "*VolumeMode"],
            json!(["pv1", "10Gi", "RWX", "Retain", "Bound", "default/data", "fast", "<unset>", "", "5m", "Block"]),
        ),
        case(
            "PersistentVolume being deleted",
            core("PersistentVolume"),
            json!({"metadata": {"name": "pv2", "creationTimestamp": CREATED, "deletionTimestamp": NOW},
                   "spec": {"capacity": {"storage": "1Gi"}, "persistentVolumeReclaimPolicy": "Delete"}, "status": {"phase": "Released", "reason": "gone"}}),
            &["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "VolumeAttributesClass", "Reason", "Age", "*VolumeMode"],
            json!(["pv2", "1Gi", "", "Delete", "Terminating", "", "", "<unset>", "gone", "5m", "<unset>"]),
        ),
        case(
            "StorageClass default",
            info("storage.k8s.io", "v1", "StorageClass"),
            json!({"metadata": {"name": "standard", "creationTimestamp": CREATED, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                   "provisioner": "shoal.dev/local"}),
            &["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"],
            json!(["standard (default)", "shoal.dev/local", "Delete", "Immediate", false, "5m"]),
        ),
        case(
            "StorageClass",
            info("storage.k8s.io", "v1", "StorageClass"),
            json!({"metadata": {"name": "slow", "creationTimestamp": CREATED}, "provisioner": "p", "reclaimPolicy": "Retain",
                   "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true}),
            &["Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"],
            json!(["slow", "p", "Retain", "WaitForFirstConsumer", true, "5m"]),
        ),
        case(
            "HorizontalPodAutoscaler v2",
            info("autoscaling", "v2", "HorizontalPodAutoscaler"),
            json!({"metadata": meta("web"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
                   "metrics": [
                       {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
                       {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
                       {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}]},
                   "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]}}),
            HPA_COLUMNS,
            json!(["web", "Deployment/web", "cpu: 40%/80%, memory: <unknown>/500Mi + 1 more...", "1", 10, 2, "5m"]),
        ),
        case(
            "HorizontalPodAutoscaler v2 without status or minimum",
            info("autoscaling", "v2", "HorizontalPodAutoscaler"),
            json!({"metadata": meta("api"), "spec": {"scaleTargetRef": {"kind": "StatefulSet", "name": "api"}, "maxReplicas": 3,
                   "metrics": [{"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}},
                               {"type": "Object", "object": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]}}),
            HPA_COLUMNS,
            json!(["api", "StatefulSet/api", "<unknown>/30, <unknown>/10 (avg)", "<unset>", 3, 0, "5m"]),
        ),
        case(
            "HorizontalPodAutoscaler v1",
            info("autoscaling", "v1", "HorizontalPodAutoscaler"),
            json!({"metadata": meta("web"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 5,
                   "targetCPUUtilizationPercentage": 75}, "status": {"currentReplicas": 2, "currentCPUUtilizationPercentage": 12}}),
            HPA_COLUMNS,
            json!(["web", "Deployment/web", "cpu: 12%/75%", "2", 5, 2, "5m"]),
        ),
        case(
            "HorizontalPodAutoscaler v1 not yet measured",
            info("autoscaling", "v1", "HorizontalPodAutoscaler"),
            json!({"metadata": meta("web"), "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
                   "targetCPUUtilizationPercentage": 80}}),
            HPA_COLUMNS,
            json!(["web", "Deployment/web", "cpu: <unknown>/80%", "1", 5, 0, "5m"]),
        ),
        case(
            "Lease",
            info("coordination.k8s.io", "v1", "Lease"),
            json!({"metadata": meta("n1"), "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}),
            &["Name", "Holder", "Age"],
            json!(["n1", "n1", "5m"]),
        ),
        case(
            "Event core/v1, repeated",
            core("Event"),
            json!({"metadata": meta("web-1.17a"), "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
                   "reason": "BackOff", "message": "Back-off restarting failed container\n", "type": "Warning", "count": 3,
                   "firstTimestamp": "2025-12-31T23:50:00Z", "lastTimestamp": "2025-12-31T23:59:30Z",
                   "source": {"component": "kubelet", "host": "n1"}}),
            EVENT_COLUMNS,
            json!(["30s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet, n1", "Back-off restarting failed container", "10m", 3, "web-1.17a"]),
        ),
        case(
            "Event core/v1 from a new-style recorder",
            core("Event"),
            json!({"metadata": meta("web.1"), "involvedObject": {"kind": "Deployment", "name": "web"}, "reason": "ScalingReplicaSet",
                   "message": "Scaled up replica set web-abc to 3", "type": "Normal", "eventTime": "2025-12-31T23:58:00.000000Z",
                   "reportingComponent": "deployment-controller"}),
            EVENT_COLUMNS,
            json!(["2m", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller", "Scaled up replica set web-abc to 3", "2m", 1, "web.1"]),
        ),
        case(
            "Event events.k8s.io/v1 with a series",
            info("events.k8s.io", "v1", "Event"),
            json!({"metadata": meta("n.1"), "regarding": {"kind": "Node", "name": "n1"}, "reason": "NodeNotReady", "note": "Node is not ready",
                   "type": "Warning", "eventTime": "2025-12-31T23:40:00.000000Z", "reportingController": "node-controller", "reportingInstance": "cp",
                   "series": {"count": 7, "lastObservedTime": "2025-12-31T23:59:00.000000Z"}}),
            EVENT_COLUMNS,
            json!(["60s", "Warning", "NodeNotReady", "node/n1", "", "node-controller, cp", "Node is not ready", "20m", 7, "n.1"]),
        ),
        case(
            "ConfigMap",
            core("ConfigMap"),
            json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}),
            &["Name", "Data", "Age"],
            json!(["cfg", 3, "5m"]),
        ),
        case(
            "Secret",
            core("Secret"),
            json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "AA==", "tls.key": "AA=="}}),
            &["Name", "Type", "Data", "Age"],
            json!(["tls", "kubernetes.io/tls", 2, "5m"]),
        ),
        case(
            "ServiceAccount",
            core("ServiceAccount"),
            json!({"metadata": meta("default"), "secrets": [{"name": "tok"}]}),
            &["Name", "Secrets", "Age"],
            json!(["default", 1, "5m"]),
        ),
        case(
            "EndpointSlice",
            info("discovery.k8s.io", "v1", "EndpointSlice"),
            json!({"metadata": meta("web-x1"), "addressType": "IPv4", "ports": [{"port": 80}, {"name": "metrics"}, {}, {"port": 9}],
                   "endpoints": [{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.2", "10.1.0.3", "10.1.0.4"]}]}),
            &["Name", "AddressType", "Ports", "Endpoints", "Age"],
            json!(["web-x1", "IPv4", "80,metrics,* + 1 more...", "10.1.0.1,10.1.0.2,10.1.0.3 + 1 more...", "5m"]),
        ),
        case(
            "EndpointSlice empty",
            info("discovery.k8s.io", "v1", "EndpointSlice"),
            json!({"metadata": meta("web-x2"), "addressType": "IPv6"}),
            &["Name", "AddressType", "Ports", "Endpoints", "Age"],
            json!(["web-x2", "IPv6", "<unset>", "<unset>", "5m"]),
        ),
        case(
            "PodDisruptionBudget",
            info("policy", "v1", "PodDisruptionBudget"),
            json!({"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}),
            &["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"],
            json!(["web", "50%", "N/A", 1, "5m"]),
        ),
        case(
            "PodDisruptionBudget by maxUnavailable",
            info("policy", "v1", "PodDisruptionBudget"),
            json!({"metadata": meta("db"), "spec": {"maxUnavailable": 1}}),
            &["Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"],
            json!(["db", "N/A", "1", 0, "5m"]),
        ),
        case("a kind without a printer", info("example.com", "v1", "Widget"), json!({"metadata": meta("w")}), &["Name", "Age"], json!(["w", "5m"])),
    ]
}

#[test]
fn every_kind_prints_upstreams_columns_and_cells() {
    let opts = Options { version: "v1", include: Include::Metadata, no_headers: false };
    for c in cases() {
        let t = build_at(&c.info, std::slice::from_ref(&c.object), &opts, "1", now());
        let columns: Vec<String> = t["columnDefinitions"]
            .as_array()
            .expect("column definitions")
            .iter()
            .map(|d| format!("{}{}", if d["priority"] == 1 { "*" } else { "" }, d["name"].as_str().unwrap_or("?")))
            .collect();
        assert_eq!(columns, c.columns, "{}: columns", c.what);
        assert_eq!(t["rows"][0]["cells"], c.cells, "{}: cells", c.what);
    }
}

#[test]
fn every_column_has_a_description_and_a_cell() {
    for c in cases() {
        let cols = columns::of(c.info.kind);
        assert!(cols.iter().all(|col| !col.description.is_empty()), "{}", c.what);
        let empty = json!({"metadata": {"name": "x"}});
        assert_eq!(super::cells(c.info.kind, &empty, now()).len(), cols.len(), "{}: an empty object still fills every column", c.what);
    }
}
