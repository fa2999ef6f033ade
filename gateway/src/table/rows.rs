//! The cells of one object's row, kind by kind, as upstream's `print<Kind>` functions
//! fill them with `Wide: true` (the server always sends the wide cells; kubectl hides
//! priority-1 columns unless `-o wide`). Every cell list matches [`super::columns::of`].

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::format::{
    access_modes, age, arr, bool_ptr, containers_and_images, host_port, human_duration, i, int, int_or_string, label_selector, labels,
    list_with_more, obj, or, s, selector_string, since, timestamp,
};
use super::pod;

/// The cells of `v`, an object of `kind` in the printers' field layout, at `now`.
pub fn cells(kind: &str, v: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(s(v, "/metadata/name"));
    let age = json!(age(v, now));
    match kind {
        "Pod" => {
            let c = pod::cells(v, now);
            let [ip, node, nominated, gates] = pod::wide_cells(v);
            vec![name, json!(c.ready), json!(c.status), json!(c.restarts), age, json!(ip), json!(node), json!(nominated), json!(gates)]
        }
        "PodDisruptionBudget" => {
            let bound = |p: &str| v.pointer(p).filter(|x| !x.is_null()).map(int_or_string).unwrap_or_else(|| "N/A".into());
            vec![name, json!(bound("/spec/minAvailable")), json!(bound("/spec/maxUnavailable")), json!(i(v, "/status/disruptionsAllowed")), age]
        }
        "ReplicationController" => {
            let (cn, im) = containers_and_images(v.pointer("/spec/template/spec"));
            vec![
                name,
                json!(int(v, "/spec/replicas").unwrap_or(1)),
                json!(i(v, "/status/replicas")),
                json!(i(v, "/status/readyReplicas")),
                age,
                json!(cn),
                json!(im),
                json!(labels(obj(v, "/spec/selector"))),
            ]
        }
        "ReplicaSet" => {
            let (cn, im) = containers_and_images(v.pointer("/spec/template/spec"));
            vec![
                name,
                json!(int(v, "/spec/replicas").unwrap_or(1)),
                json!(i(v, "/status/replicas")),
                json!(i(v, "/status/readyReplicas")),
                age,
                json!(cn),
                json!(im),
                json!(label_selector(v.pointer("/spec/selector"))),
            ]
        }
        "DaemonSet" => {
            let (cn, im) = containers_and_images(v.pointer("/spec/template/spec"));
            vec![
                name,
                json!(i(v, "/status/desiredNumberScheduled")),
                json!(i(v, "/status/currentNumberScheduled")),
                json!(i(v, "/status/numberReady")),
                json!(i(v, "/status/updatedNumberScheduled")),
                json!(i(v, "/status/numberAvailable")),
                json!(labels(obj(v, "/spec/template/spec/nodeSelector"))),
                age,
                json!(cn),
                json!(im),
                json!(label_selector(v.pointer("/spec/selector"))),
            ]
        }
        "Job" => {
            let (cn, im) = containers_and_images(v.pointer("/spec/template/spec"));
            vec![name, json!(job_status(v)), json!(job_completions(v)), json!(job_duration(v, now)), age, json!(cn), json!(im), json!(label_selector(v.pointer("/spec/selector")))]
        }
        "CronJob" => {
            let (cn, im) = containers_and_images(v.pointer("/spec/jobTemplate/spec/template/spec"));
            let last = match timestamp(v, "/status/lastScheduleTime") {
                Some(t) => since(Some(t), now),
                None if v.pointer("/status/lastScheduleTime").is_some_and(|t| !t.is_null()) => "<unknown>".into(),
                None => "<none>".into(),
            };
            vec![
                name,
                json!(s(v, "/spec/schedule")),
                json!(or(s(v, "/spec/timeZone"), "<none>")),
                json!(bool_ptr(v.pointer("/spec/suspend"))),
                json!(arr(v, "/status/active").len()),
                json!(last),
                age,
                json!(cn),
                json!(im),
                json!(label_selector(v.pointer("/spec/jobTemplate/spec/selector"))),
            ]
        }
        "Service" => {
            let ty = or(s(v, "/spec/type"), "ClusterIP");
            let cluster_ip = arr(v, "/spec/clusterIPs").first().and_then(Value::as_str).unwrap_or("<none>");
            vec![name, json!(ty), json!(cluster_ip), json!(service_external_ip(v, &ty)), json!(or(&service_ports(v), "<none>")), age, json!(labels(obj(v, "/spec/selector")))]
        }
        "StatefulSet" => {
            let (cn, im) = containers_and_images(v.pointer("/spec/template/spec"));
            vec![name, json!(format!("{}/{}", i(v, "/status/readyReplicas"), int(v, "/spec/replicas").unwrap_or(1))), age, json!(cn), json!(im)]
        }
        "Endpoints" => vec![name, json!(endpoints(v)), age],
        "Node" => node(v, name, age),
        "Event" => event(v, now),
        "Namespace" => vec![name, json!(or(s(v, "/status/phase"), "Active")), age],
        "Secret" => {
            vec![name, json!(or(s(v, "/type"), "Opaque")), json!(obj(v, "/data").map(|m| m.len()).unwrap_or(0)), age]
        }
        "ServiceAccount" => vec![name, json!(arr(v, "/secrets").len()), age],
        "PersistentVolume" => persistent_volume(v, name, age),
        "PersistentVolumeClaim" => persistent_volume_claim(v, name, age),
        "Deployment" => {
            let (cn, im) = containers_and_images(v.pointer("/spec/template/spec"));
            let selector = selector_string(v.pointer("/spec/selector")).unwrap_or_else(|()| "<invalid>".into());
            vec![
                name,
                json!(format!("{}/{}", i(v, "/status/readyReplicas"), int(v, "/spec/replicas").unwrap_or(1))),
                json!(i(v, "/status/updatedReplicas")),
                json!(i(v, "/status/availableReplicas")),
                age,
                json!(cn),
                json!(im),
                json!(selector),
            ]
        }
        "HorizontalPodAutoscaler" => {
            let reference = format!("{}/{}", s(v, "/spec/scaleTargetRef/kind"), s(v, "/spec/scaleTargetRef/name"));
            let min = int(v, "/spec/minReplicas").map(|m| m.to_string()).unwrap_or_else(|| "<unset>".into());
            vec![name, json!(reference), json!(hpa_targets(v)), json!(min), json!(i(v, "/spec/maxReplicas")), json!(i(v, "/status/currentReplicas")), age]
        }
        "ConfigMap" => {
            let n = obj(v, "/data").map(|m| m.len()).unwrap_or(0) + obj(v, "/binaryData").map(|m| m.len()).unwrap_or(0);
            vec![name, json!(n), age]
        }
        "Lease" => vec![name, json!(s(v, "/spec/holderIdentity")), age],
        "StorageClass" => {
            let default = ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"]
                .iter()
                .any(|a| v.pointer("/metadata/annotations").and_then(|m| m.get(a)).and_then(Value::as_str) == Some("true"));
            let shown = if default { format!("{} (default)", s(v, "/metadata/name")) } else { s(v, "/metadata/name").to_string() };
            vec![
                json!(shown),
                json!(s(v, "/provisioner")),
                json!(or(s(v, "/reclaimPolicy"), "Delete")),
                json!(or(s(v, "/volumeBindingMode"), "Immediate")),
                json!(v.get("allowVolumeExpansion").and_then(Value::as_bool).unwrap_or(false)),
                age,
            ]
        }
        "ControllerRevision" => vec![name, json!(controller_of(v)), json!(i(v, "/revision")), age],
        "EndpointSlice" => {
            let ports: Vec<String> = arr(v, "/ports")
                .iter()
                .map(|p| match (int(p, "/port"), p.get("name").and_then(Value::as_str)) {
                    (Some(n), _) => n.to_string(),
                    (None, Some(n)) => n.to_string(),
                    (None, None) => "*".into(),
                })
                .collect();
            let addresses: Vec<String> =
                arr(v, "/endpoints").iter().flat_map(|e| arr(e, "/addresses").iter().filter_map(Value::as_str).map(String::from)).collect();
            vec![name, json!(s(v, "/addressType")), json!(list_with_more(&ports, 3)), json!(list_with_more(&addresses, 3)), age]
        }
        _ => vec![name, age],
    }
}

fn job_condition(v: &Value, ty: &str) -> bool {
    arr(v, "/status/conditions").iter().find(|c| s(c, "/type") == ty).is_some_and(|c| s(c, "/status") == "True")
}

fn job_status(v: &Value) -> &'static str {
    if job_condition(v, "Complete") {
        "Complete"
    } else if job_condition(v, "Failed") {
        "Failed"
    } else if v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null()) {
        "Terminating"
    } else if job_condition(v, "Suspended") {
        "Suspended"
    } else if job_condition(v, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_completions(v: &Value) -> String {
    let succeeded = i(v, "/status/succeeded");
    match int(v, "/spec/completions") {
        Some(c) => format!("{succeeded}/{c}"),
        None => match i(v, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

fn job_duration(v: &Value, now: DateTime<Utc>) -> String {
    match (timestamp(v, "/status/startTime"), timestamp(v, "/status/completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    }
}

/// `loadBalancerStatusStringer` (wide): the ingress IPs or hostnames, sorted, once each.
fn load_balancer(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = arr(v, "/status/loadBalancer/ingress")
        .iter()
        .filter_map(|i| [s(i, "/ip"), s(i, "/hostname")].into_iter().find(|x| !x.is_empty()).map(String::from))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn service_external_ip(v: &Value, ty: &str) -> String {
    let external: Vec<String> = arr(v, "/spec/externalIPs").iter().filter_map(Value::as_str).map(String::from).collect();
    match ty {
        "ClusterIP" | "NodePort" => or(&external.join(","), "<none>"),
        "LoadBalancer" => {
            let mut all = load_balancer(v);
            all.extend(external);
            or(&all.join(","), "<pending>")
        }
        "ExternalName" => s(v, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

/// `makePortString`: `80/TCP`, `80:30080/TCP`, comma-separated.
fn service_ports(v: &Value) -> String {
    let ports: Vec<String> = arr(v, "/spec/ports")
        .iter()
        .map(|p| {
            let proto = or(s(p, "/protocol"), "TCP");
            match i(p, "/nodePort") {
                np if np > 0 => format!("{}:{np}/{proto}", i(p, "/port")),
                _ => format!("{}/{proto}", i(p, "/port")),
            }
        })
        .collect();
    ports.join(",")
}

/// `formatEndpoints`: `ip:port` for every port of every subset (the bare IP for a subset
/// without ports), the first three, then ` + N more...`; `<none>` without subsets.
fn endpoints(v: &Value) -> String {
    let subsets = arr(v, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut count = 0;
    for ss in subsets {
        let addresses = arr(ss, "/addresses");
        let ports = arr(ss, "/ports");
        if ports.is_empty() {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| s(a, "/ip").to_string()));
            continue;
        }
        for p in ports {
            count += addresses.len();
            list.extend(addresses.iter().map(|a| host_port(s(a, "/ip"), i(p, "/port"))));
        }
    }
    if count > MAX {
        return format!("{} + {} more...", list[..MAX].join(","), count - MAX);
    }
    list.join(",")
}

fn node(v: &Value, name: Value, age: Value) -> Vec<Value> {
    let conditions = arr(v, "/status/conditions");
    let mut status: Vec<String> = match conditions.iter().rev().find(|c| s(c, "/type") == "Ready") {
        Some(c) if s(c, "/status") == "True" => vec!["Ready".into()],
        Some(_) => vec!["NotReady".into()],
        None => vec!["Unknown".into()],
    };
    if v.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = Vec::new();
    for (k, val) in obj(v, "/metadata/labels").into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/").filter(|r| !r.is_empty()) {
            roles.push(role.to_string());
        } else if k == "kubernetes.io/role" && val.as_str().is_some_and(|r| !r.is_empty()) {
            roles.push(val.as_str().unwrap_or_default().to_string());
        }
    }
    roles.sort();
    roles.dedup();
    let address = |ty: &str| {
        arr(v, "/status/addresses").iter().find(|a| s(a, "/type") == ty).map(|a| s(a, "/address").to_string()).unwrap_or_else(|| "<none>".into())
    };
    vec![
        name,
        json!(status.join(",")),
        json!(or(&roles.join(","), "<none>")),
        age,
        json!(s(v, "/status/nodeInfo/kubeletVersion")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(or(s(v, "/status/nodeInfo/osImage"), "<unknown>")),
        json!(or(s(v, "/status/nodeInfo/kernelVersion"), "<unknown>")),
        json!(or(s(v, "/status/nodeInfo/containerRuntimeVersion"), "<unknown>")),
    ]
}

/// `printEvent` (wide): LAST SEEN from the series, the last or the first timestamp or
/// the event time; OBJECT as `kind/name` in lower case; SOURCE as `component, host`
/// (the reporting controller and instance when the legacy source is empty).
fn event(v: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first = match timestamp(v, "/firstTimestamp") {
        Some(t) => since(Some(t), now),
        None => since(timestamp(v, "/eventTime"), now),
    };
    let mut last = match timestamp(v, "/lastTimestamp") {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = i(v, "/count");
    if v.get("series").is_some_and(|x| !x.is_null()) {
        last = since(timestamp(v, "/series/lastObservedTime"), now);
        count = i(v, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(v, "/involvedObject/kind").to_lowercase();
    let target = match s(v, "/involvedObject/name") {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = or(s(v, "/source/component"), s(v, "/reportingComponent"));
    let instance = or(s(v, "/source/host"), s(v, "/reportingInstance"));
    let source = if instance.is_empty() { component } else { format!("{component}, {instance}") };
    vec![
        json!(last),
        json!(s(v, "/type")),
        json!(s(v, "/reason")),
        json!(target),
        json!(s(v, "/involvedObject/fieldPath")),
        json!(source),
        json!(s(v, "/message").trim()),
        json!(first),
        json!(count),
        json!(s(v, "/metadata/name")),
    ]
}

/// `helper.GetPersistentVolumeClass` / `GetPersistentVolumeClaimClass`: the beta
/// annotation first, then `spec.storageClassName`.
fn storage_class(v: &Value) -> String {
    let beta = v.pointer("/metadata/annotations").and_then(|m| m.get("volume.beta.kubernetes.io/storage-class")).and_then(Value::as_str);
    beta.unwrap_or_else(|| s(v, "/spec/storageClassName")).to_string()
}

fn deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null())
}

fn persistent_volume(v: &Value, name: Value, age: Value) -> Vec<Value> {
    let claim = match v.pointer("/spec/claimRef").filter(|c| !c.is_null()) {
        Some(c) => format!("{}/{}", s(c, "/namespace"), s(c, "/name")),
        None => String::new(),
    };
    let phase = if deleting(v) { "Terminating".to_string() } else { s(v, "/status/phase").to_string() };
    vec![
        name,
        json!(or(s(v, "/spec/capacity/storage"), "0")),
        json!(access_modes(arr(v, "/spec/accessModes"))),
        json!(s(v, "/spec/persistentVolumeReclaimPolicy")),
        json!(phase),
        json!(claim),
        json!(storage_class(v)),
        json!(or(s(v, "/spec/volumeAttributesClassName"), "<unset>")),
        json!(s(v, "/status/reason")),
        age,
        json!(or(s(v, "/spec/volumeMode"), "<unset>")),
    ]
}

fn persistent_volume_claim(v: &Value, name: Value, age: Value) -> Vec<Value> {
    let phase = if deleting(v) { "Terminating".to_string() } else { s(v, "/status/phase").to_string() };
    let bound = !s(v, "/spec/volumeName").is_empty();
    let (capacity, modes) =
        if bound { (or(s(v, "/status/capacity/storage"), "0"), access_modes(arr(v, "/status/accessModes"))) } else { (String::new(), String::new()) };
    vec![
        name,
        json!(phase),
        json!(s(v, "/spec/volumeName")),
        json!(capacity),
        json!(modes),
        json!(storage_class(v)),
        json!(or(s(v, "/spec/volumeAttributesClassName"), "<unset>")),
        age,
        json!(or(s(v, "/spec/volumeMode"), "<unset>")),
    ]
}

/// `formatHPAMetrics`: per metric `current/target` (`cpu: 40%/80%`,
/// `cpu: <unknown>/80%`, `500m/1 (avg)` …), the first two, then ` + N more...`.
fn hpa_targets(v: &Value) -> String {
    let specs = arr(v, "/spec/metrics");
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses = arr(v, "/status/currentMetrics");
    let quantity = |x: Option<&Value>| match x {
        Some(Value::String(q)) => q.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "<nil>".into(),
    };
    let mut list: Vec<String> = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let status = statuses.get(n);
        let current = |source: &str, field: &str| {
            status.and_then(|st| st.get(source)).filter(|x| !x.is_null()).map(|x| quantity(x.pointer(&format!("/current/{field}"))))
        };
        let text = match s(spec, "/type") {
            ty @ ("External" | "Object") => {
                let source = if ty == "External" { "external" } else { "object" };
                match spec.pointer(&format!("/{source}/target/averageValue")).filter(|x| !x.is_null()) {
                    Some(target) => {
                        let now = status
                            .and_then(|st| st.get(source))
                            .and_then(|x| x.pointer("/current/averageValue"))
                            .filter(|x| !x.is_null())
                            .map(|x| quantity(Some(x)))
                            .unwrap_or_else(|| "<unknown>".into());
                        format!("{now}/{} (avg)", quantity(Some(target)))
                    }
                    None => {
                        let now = current(source, "value").unwrap_or_else(|| "<unknown>".into());
                        format!("{now}/{}", quantity(spec.pointer(&format!("/{source}/target/value"))))
                    }
                }
            }
            "Pods" => {
                let now = current("pods", "averageValue").unwrap_or_else(|| "<unknown>".into());
                format!("{now}/{}", quantity(spec.pointer("/pods/target/averageValue")))
            }
            ty @ ("Resource" | "ContainerResource") => {
                let source = if ty == "Resource" { "resource" } else { "containerResource" };
                let resource = s(spec, &format!("/{source}/name"));
                match spec.pointer(&format!("/{source}/target/averageValue")).filter(|x| !x.is_null()) {
                    Some(target) => {
                        let now = current(source, "averageValue").unwrap_or_else(|| "<unknown>".into());
                        format!("{resource}: {now}/{}", quantity(Some(target)))
                    }
                    None => {
                        let now = status
                            .and_then(|st| st.get(source))
                            .and_then(|x| int(x, "/current/averageUtilization"))
                            .map(|u| format!("{u}%"))
                            .unwrap_or_else(|| "<unknown>".into());
                        let target = int(spec, &format!("/{source}/target/averageUtilization")).map(|u| format!("{u}%")).unwrap_or_else(|| "<auto>".into());
                        format!("{resource}: {now}/{target}")
                    }
                }
            }
            _ => "<unknown type>".into(),
        };
        list.push(text);
    }
    const MAX: usize = 2;
    if list.len() > MAX {
        return format!("{} + {} more...", list[..MAX].join(", "), list.len() - MAX);
    }
    list.join(", ")
}

/// `kind.group/name` (lower case) of the owner that is the controller, `<none>` without one.
fn controller_of(v: &Value) -> String {
    let Some(owner) = arr(v, "/metadata/ownerReferences").iter().find(|o| o.get("controller").and_then(Value::as_bool) == Some(true)) else {
        return "<none>".into();
    };
    let group = s(owner, "/apiVersion").rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let kind = s(owner, "/kind");
    let name = s(owner, "/name");
    match (kind, group) {
        ("", "") => name.to_string(),
        (k, "") => format!("{}/{name}", k.to_lowercase()),
        (k, g) => format!("{}.{}/{name}", k.to_lowercase(), g.to_lowercase()),
    }
}

#[cfg(test)]
mod tests;
