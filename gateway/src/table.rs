//! Server-side printing: `meta.k8s.io/v1` Tables with the columns kubectl users know,
//! answered when a client asks with `Accept: application/json;as=Table;...`.

use actix_web::HttpRequest;
use serde_json::{json, Value};

/// Whether the client asked for a Table.
pub fn wants_table(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').next().unwrap_or("").contains("as=Table"))
}

/// (name, type, priority): priority 1 columns show only with `-o wide`.
type Col = (&'static str, &'static str, i64);

fn columns(kind: &str) -> Vec<Col> {
    let name = ("Name", "string", 0);
    let age = ("Age", "string", 0);
    let wl_wide = [("Containers", "string", 1), ("Images", "string", 1), ("Selector", "string", 1)];
    let mut cols = match kind {
        "Pod" => vec![
            name, ("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "string", 0), age,
            ("IP", "string", 1), ("Node", "string", 1), ("Nominated Node", "string", 1), ("Readiness Gates", "string", 1),
        ],
        "Deployment" => vec![name, ("Ready", "string", 0), ("Up-to-date", "integer", 0), ("Available", "integer", 0), age],
        "ReplicaSet" | "ReplicationController" => {
            vec![name, ("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0), age]
        }
        "StatefulSet" => vec![name, ("Ready", "string", 0), age],
        "DaemonSet" => vec![
            name, ("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0), ("Available", "integer", 0), ("Node Selector", "string", 0), age,
        ],
        "Job" => vec![name, ("Status", "string", 0), ("Completions", "string", 0), ("Duration", "string", 0), age],
        "CronJob" => vec![
            name, ("Schedule", "string", 0), ("Timezone", "string", 0), ("Suspend", "boolean", 0),
            ("Active", "integer", 0), ("Last Schedule", "string", 0), age,
        ],
        "Service" => vec![
            name, ("Type", "string", 0), ("Cluster-IP", "string", 0), ("External-IP", "string", 0),
            ("Port(s)", "string", 0), age, ("Selector", "string", 1),
        ],
        "Endpoints" => vec![name, ("Endpoints", "string", 0), age],
        "Node" => vec![
            name, ("Status", "string", 0), ("Roles", "string", 0), age, ("Version", "string", 0),
            ("Internal-IP", "string", 1), ("External-IP", "string", 1), ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1), ("Container-Runtime", "string", 1),
        ],
        "Namespace" => vec![name, ("Status", "string", 0), age],
        "PersistentVolumeClaim" => vec![
            name, ("Status", "string", 0), ("Volume", "string", 0), ("Capacity", "string", 0),
            ("Access Modes", "string", 0), ("StorageClass", "string", 0), age, ("VolumeMode", "string", 1),
        ],
        "HorizontalPodAutoscaler" => vec![
            name, ("Reference", "string", 0), ("Targets", "string", 0), ("MinPods", "string", 0),
            ("MaxPods", "integer", 0), ("Replicas", "integer", 0), age,
        ],
        _ => vec![name, age],
    };
    if matches!(kind, "Deployment" | "ReplicaSet" | "ReplicationController" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob") {
        cols.extend(wl_wide.iter().take(if kind == "StatefulSet" { 2 } else { 3 }));
    }
    cols
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn i(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(x: String) -> String {
    if x.is_empty() {
        "<none>".into()
    } else {
        x
    }
}

/// Kubernetes' short human durations: 45s, 5m10s, 3h, 2d4h, 400d.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 { format!("{m}m") } else { format!("{m}m{}s", secs % 60) }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 { format!("{h}h") } else { format!("{h}h{}m", m % 60) }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        if h % 24 == 0 { format!("{d}d") } else { format!("{d}d{}h", h % 24) }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y{}d", d / 365, d % 365)
    }
}

fn age_of(ts: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => human_duration((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()),
        Err(_) => "<unknown>".into(),
    }
}

fn containers_images(spec: &Value) -> (String, String) {
    let cs = spec.get("containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (names.join(","), images.join(","))
}

/// A label selector (or a plain label map) in the query syntax: `app=web,tier in (a,b)`.
pub fn selector_text(sel: &Value) -> String {
    let mut parts = Vec::new();
    let labels = sel.get("matchLabels").unwrap_or(sel);
    if let Some(m) = labels.as_object() {
        for (k, v) in m {
            if let Some(v) = v.as_str() {
                parts.push(format!("{k}={v}"));
            }
        }
    }
    for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let vals: Vec<&str> = e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let key = s(e, "/key");
        match s(e, "/operator") {
            "In" => parts.push(format!("{key} in ({})", vals.join(","))),
            "NotIn" => parts.push(format!("{key} notin ({})", vals.join(","))),
            "Exists" => parts.push(key.to_string()),
            "DoesNotExist" => parts.push(format!("!{key}")),
            _ => {}
        }
    }
    parts.join(",")
}

fn condition(v: &Value, ty: &str) -> Option<String> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| s(c, "/type") == ty)
        .map(|c| s(c, "/status").to_string())
}

fn pod_status(v: &Value) -> (String, String, String) {
    let statuses = v.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
    let total = v.pointer("/spec/containers").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
    let ready = statuses.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count();
    let restarts: i64 = statuses.iter().map(|c| i(c, "/restartCount")).sum();
    let mut reason = s(v, "/status/phase").to_string();
    if reason.is_empty() {
        reason = "Pending".into();
    }
    if let Some(r) = v.pointer("/status/reason").and_then(Value::as_str) {
        reason = r.to_string();
    }
    for c in &statuses {
        if let Some(w) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = w.to_string();
        } else if let Some(t) = c.pointer("/state/terminated/reason").and_then(Value::as_str) {
            reason = t.to_string();
        }
    }
    if v.pointer("/metadata/deletionTimestamp").is_some() {
        reason = "Terminating".into();
    }
    (format!("{ready}/{total}"), reason, restarts.to_string())
}

fn service_ports(v: &Value) -> String {
    let ports = v.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default();
    let parts: Vec<String> = ports
        .iter()
        .map(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np > 0 => format!("{}:{np}/{proto}", i(p, "/port")),
                _ => format!("{}/{proto}", i(p, "/port")),
            }
        })
        .collect();
    or_none(parts.join(","))
}

fn cells(kind: &str, v: &Value) -> Vec<Value> {
    let name = json!(s(v, "/metadata/name"));
    let age = json!(age_of(s(v, "/metadata/creationTimestamp")));
    let tspec = v.pointer("/spec/template/spec").cloned().unwrap_or(Value::Null);
    let (cn, im) = containers_images(&tspec);
    let sel = or_none(v.pointer("/spec/selector").map(selector_text).unwrap_or_default());
    let mut row = match kind {
        "Pod" => {
            let (ready, status, restarts) = pod_status(v);
            vec![
                name, json!(ready), json!(status), json!(restarts), age,
                json!(or_none(s(v, "/status/podIP").into())), json!(or_none(s(v, "/spec/nodeName").into())),
                json!("<none>"), json!("<none>"),
            ]
        }
        "Deployment" => vec![
            name,
            json!(format!("{}/{}", i(v, "/status/readyReplicas"), v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1))),
            json!(i(v, "/status/updatedReplicas")),
            json!(i(v, "/status/availableReplicas")),
            age,
        ],
        "ReplicaSet" | "ReplicationController" => vec![
            name,
            json!(v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)),
            json!(i(v, "/status/replicas")),
            json!(i(v, "/status/readyReplicas")),
            age,
        ],
        "StatefulSet" => vec![
            name,
            json!(format!("{}/{}", i(v, "/status/readyReplicas"), v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1))),
            age,
        ],
        "DaemonSet" => vec![
            name,
            json!(i(v, "/status/desiredNumberScheduled")),
            json!(i(v, "/status/currentNumberScheduled")),
            json!(i(v, "/status/numberReady")),
            json!(i(v, "/status/updatedNumberScheduled")),
            json!(i(v, "/status/numberAvailable")),
            json!(or_none(v.pointer("/spec/template/spec/nodeSelector").map(selector_text).unwrap_or_default())),
            age,
        ],
        "Job" => {
            let status = if condition(v, "Complete").as_deref() == Some("True") {
                "Complete"
            } else if condition(v, "Failed").as_deref() == Some("True") {
                "Failed"
            } else if v.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                "Suspended"
            } else {
                "Running"
            };
            let completions = v.pointer("/spec/completions").and_then(Value::as_i64).unwrap_or(1);
            let duration = match (s(v, "/status/startTime"), s(v, "/status/completionTime")) {
                ("", _) => String::new(),
                (start, end) => {
                    let st = chrono::DateTime::parse_from_rfc3339(start).ok();
                    let en = if end.is_empty() { Some(chrono::Utc::now().fixed_offset()) } else { chrono::DateTime::parse_from_rfc3339(end).ok() };
                    match (st, en) {
                        (Some(a), Some(b)) => human_duration((b - a).num_seconds()),
                        _ => String::new(),
                    }
                }
            };
            vec![name, json!(status), json!(format!("{}/{completions}", i(v, "/status/succeeded"))), json!(duration), age]
        }
        "CronJob" => {
            let last = s(v, "/status/lastScheduleTime");
            vec![
                name,
                json!(s(v, "/spec/schedule")),
                json!(or_none(s(v, "/spec/timeZone").into())),
                json!(v.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false)),
                json!(v.pointer("/status/active").and_then(Value::as_array).map(Vec::len).unwrap_or(0)),
                json!(if last.is_empty() { "<none>".to_string() } else { age_of(last) }),
                age,
            ]
        }
        "Service" => {
            let ty = match s(v, "/spec/type") { "" => "ClusterIP", t => t };
            let ext: Vec<&str> = v.pointer("/spec/externalIPs").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            let ext = if !ext.is_empty() {
                ext.join(",")
            } else if ty == "LoadBalancer" {
                "<pending>".into()
            } else if ty == "ExternalName" {
                s(v, "/spec/externalName").into()
            } else {
                "<none>".into()
            };
            vec![
                name, json!(ty), json!(or_none(s(v, "/spec/clusterIP").into())), json!(ext), json!(service_ports(v)), age,
                json!(or_none(v.pointer("/spec/selector").map(selector_text).unwrap_or_default())),
            ]
        }
        "Endpoints" => {
            let mut eps = Vec::new();
            for sub in v.get("subsets").and_then(Value::as_array).into_iter().flatten() {
                let ports: Vec<i64> = sub.get("ports").and_then(Value::as_array).into_iter().flatten().map(|p| i(p, "/port")).collect();
                for a in sub.get("addresses").and_then(Value::as_array).into_iter().flatten() {
                    if ports.is_empty() {
                        eps.push(s(a, "/ip").to_string());
                    }
                    for p in &ports {
                        eps.push(format!("{}:{p}", s(a, "/ip")));
                    }
                }
            }
            let shown = if eps.len() > 3 { format!("{} + {} more...", eps[..3].join(","), eps.len() - 3) } else { eps.join(",") };
            vec![name, json!(or_none(shown)), age]
        }
        "Node" => {
            let mut status = match condition(v, "Ready").as_deref() { Some("True") => "Ready", _ => "NotReady" }.to_string();
            if v.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                status.push_str(",SchedulingDisabled");
            }
            let roles: Vec<String> = v
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string))
                .collect();
            let addr = |ty: &str| {
                v.pointer("/status/addresses").and_then(Value::as_array).into_iter().flatten()
                    .find(|a| s(a, "/type") == ty).map(|a| s(a, "/address").to_string()).unwrap_or_else(|| "<none>".into())
            };
            vec![
                name, json!(status), json!(or_none(roles.join(","))), age,
                json!(or_none(s(v, "/status/nodeInfo/kubeletVersion").into())),
                json!(addr("InternalIP")), json!(addr("ExternalIP")),
                json!(or_none(s(v, "/status/nodeInfo/osImage").into())),
                json!(or_none(s(v, "/status/nodeInfo/kernelVersion").into())),
                json!(or_none(s(v, "/status/nodeInfo/containerRuntimeVersion").into())),
            ]
        }
        "Namespace" => {
            let phase = match s(v, "/status/phase") { "" => "Active", p => p };
            vec![name, json!(phase), age]
        }
        "PersistentVolumeClaim" => {
            let modes: Vec<&str> = v.pointer("/status/accessModes").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
                .map(|m| match m { "ReadWriteOnce" => "RWO", "ReadOnlyMany" => "ROX", "ReadWriteMany" => "RWX", "ReadWriteOncePod" => "RWOP", o => o }).collect();
            vec![
                name, json!(match s(v, "/status/phase") { "" => "Pending", p => p }), json!(s(v, "/spec/volumeName")),
                json!(s(v, "/status/capacity/storage")), json!(modes.join(",")),
                json!(or_none(s(v, "/spec/storageClassName").into())), age,
                json!(match s(v, "/spec/volumeMode") { "" => "Filesystem", m => m }),
            ]
        }
        "HorizontalPodAutoscaler" => {
            let reference = format!("{}/{}", s(v, "/spec/scaleTargetRef/kind"), s(v, "/spec/scaleTargetRef/name"));
            let targets: Vec<String> = v.pointer("/spec/metrics").and_then(Value::as_array).into_iter().flatten().map(|m| {
                let res = s(m, "/resource/name");
                match m.pointer("/resource/target/averageUtilization").and_then(Value::as_i64) {
                    Some(u) => format!("{res}: <unknown>/{u}%"),
                    None => format!("{res}: <unknown>"),
                }
            }).collect();
            vec![
                name, json!(reference), json!(or_none(targets.join(", "))),
                json!(v.pointer("/spec/minReplicas").and_then(Value::as_i64).unwrap_or(1).to_string()),
                json!(i(v, "/spec/maxReplicas")), json!(i(v, "/status/currentReplicas")), age,
            ]
        }
        _ => vec![name, age],
    };
    if matches!(kind, "Deployment" | "ReplicaSet" | "ReplicationController" | "DaemonSet" | "Job") {
        row.extend([json!(cn), json!(im), json!(sel)]);
    } else if kind == "StatefulSet" {
        row.extend([json!(cn), json!(im)]);
    } else if kind == "CronJob" {
        let js = v.pointer("/spec/jobTemplate/spec/template/spec").cloned().unwrap_or(Value::Null);
        let (cn, im) = containers_images(&js);
        let sel = or_none(v.pointer("/spec/jobTemplate/spec/selector").map(selector_text).unwrap_or_default());
        row.extend([json!(cn), json!(im), json!(sel)]);
    }
    row
}

/// Builds the Table for `kind` from objects (as JSON) and the list's resourceVersion.
pub fn build(kind: &str, objects: &[Value], resource_version: &str) -> Value {
    let defs: Vec<Value> = columns(kind)
        .into_iter()
        .map(|(name, ty, priority)| {
            let mut d = json!({"name": name, "type": ty, "format": "", "description": name, "priority": priority});
            if name == "Name" {
                d["format"] = json!("name");
            }
            d
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            json!({
                "cells": cells(kind, o),
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(Value::Null)},
            })
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": defs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_one_cell_per_column() {
        for kind in ["Pod", "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet", "Job",
                     "CronJob", "Service", "Endpoints", "Node", "Namespace", "PersistentVolumeClaim", "HorizontalPodAutoscaler"] {
            let t = build(kind, &[json!({"metadata": {"name": "x", "creationTimestamp": "2020-01-01T00:00:00Z"}})], "1");
            assert_eq!(t["rows"][0]["cells"].as_array().unwrap().len(), t["columnDefinitions"].as_array().unwrap().len(), "{kind}");
        }
    }

    #[test]
    fn durations_read_like_kubectl() {
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(310), "5m10s");
        assert_eq!(human_duration(3 * 3600), "3h");
        assert_eq!(human_duration(50 * 3600), "2d2h");
    }
}
