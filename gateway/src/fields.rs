//! Field selectors as Kubernetes defines them: per kind, a fixed table of selectable
//! fields (upstream's `*ToSelectableFields` and field label conversion functions), not
//! arbitrary JSON paths. A field outside the kind's table is refused with upstream's
//! "field label not supported" message.

use std::any::Any;

use api::model::{Pod, Resource};
use serde_json::Value;

use crate::error::ApiError;

/// One term of a field selector: `field=value`, `field==value` or `field!=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub field: String,
    pub equals: bool,
    pub value: String,
}

/// The fields `kind` can be selected on.
pub fn supported_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        // Cluster-scoped kinds have no metadata.namespace field upstream.
        "Node" => &["metadata.name", "spec.unschedulable"],
        "Namespace" => &["metadata.name", "status.phase"],
        "PersistentVolume" | "StorageClass" => &["metadata.name"],
        "Job" => &["metadata.name", "metadata.namespace", "status.successful"],
        "ReplicaSet" | "ReplicationController" => &["metadata.name", "metadata.namespace", "status.replicas"],
        "Secret" => &["metadata.name", "metadata.namespace", "type"],
        "Event" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

fn str_at(obj: &Value, ptr: &str) -> String {
    match obj.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn bool_at(obj: &Value, ptr: &str) -> String {
    obj.pointer(ptr).and_then(Value::as_bool).unwrap_or(false).to_string()
}

fn int_at(obj: &Value, ptr: &str) -> String {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0).to_string()
}

/// The value of `field` on an object of `kind` (in its JSON form), as upstream renders it
/// for field selection: booleans as "true"/"false", counts as decimal, absent as "".
/// None when the kind has no such selectable field.
pub fn field_value(kind: &str, obj: &Value, field: &str) -> Option<String> {
    if !supported_fields(kind).contains(&field) {
        return None;
    }
    let v = match (kind, field) {
        (_, "metadata.name") => str_at(obj, "/metadata/name"),
        (_, "metadata.namespace") => str_at(obj, "/metadata/namespace"),
        ("Pod", "spec.hostNetwork") => bool_at(obj, "/spec/hostNetwork"),
        ("Pod", "status.podIP") => match obj.pointer("/status/podIPs/0/ip").and_then(Value::as_str) {
            Some(ip) => ip.to_string(),
            None => str_at(obj, "/status/podIP"),
        },
        ("Node", "spec.unschedulable") => bool_at(obj, "/spec/unschedulable"),
        ("Job", "status.successful") => int_at(obj, "/status/succeeded"),
        ("ReplicaSet" | "ReplicationController", "status.replicas") => int_at(obj, "/status/replicas"),
        ("Event", "source") => {
            // Upstream: the reporting controller, else the legacy source component
            // (events.k8s.io/v1 names them reportingController and deprecatedSource).
            ["/reportingComponent", "/reportingController", "/source/component", "/deprecatedSource/component"]
                .iter()
                .map(|p| str_at(obj, p))
                .find(|v| !v.is_empty())
                .unwrap_or_default()
        }
        ("Event", f) if f.starts_with("involvedObject.") && obj.get("involvedObject").is_none() => {
            // events.k8s.io/v1 calls it `regarding`.
            str_at(obj, &format!("/regarding/{}", &f["involvedObject.".len()..]))
        }
        (_, path) => str_at(obj, &format!("/{}", path.replace('.', "/"))),
    };
    Some(v)
}

/// Splits a selector on commas that are not escaped with a backslash.
fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> Result<String, ApiError> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(ApiError::bad_request(format!("invalid field selector: invalid escape sequence \"\\{e}\""))),
                None => return Err(ApiError::bad_request("invalid field selector: unterminated escape sequence")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Parses a `fieldSelector` for `kind`: a 400 for a malformed term, and for a field the
/// kind does not support ("field label not supported: spec.foo", as upstream).
pub fn parse(kind: &str, selector: &str) -> Result<Vec<Requirement>, ApiError> {
    let mut reqs = Vec::new();
    for term in split_terms(selector) {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        let (field, equals, value) = if let Some((k, v)) = term.split_once("!=") {
            (k, false, v)
        } else if let Some((k, v)) = term.split_once("==") {
            (k, true, v)
        } else if let Some((k, v)) = term.split_once('=') {
            (k, true, v)
        } else {
            return Err(ApiError::bad_request(format!("invalid selector: '{selector}'; can't understand '{term}'")));
        };
        let field = field.trim().to_string();
        if !supported_fields(kind).contains(&field.as_str()) {
            return Err(ApiError::bad_request(format!("field label not supported: {field}")));
        }
        reqs.push(Requirement { field, equals, value: unescape(value.trim())? });
    }
    Ok(reqs)
}

/// The value of `field` read from the typed object, where that needs no JSON form: the
/// metadata fields of every kind, and every selectable field of a Pod (the kind node
/// agents watch by `spec.nodeName`, each of them over every pod change). None: ask the
/// JSON form. Renders exactly as [`field_value`] does.
pub fn typed_field_value<T: Resource>(obj: &T, field: &str) -> Option<String> {
    if !supported_fields(T::INFO.kind).contains(&field) {
        return None;
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match field {
        "metadata.name" => return Some(obj.meta().name.clone()),
        "metadata.namespace" => return Some(text(&obj.meta().namespace)),
        _ => {}
    }
    let pod = (obj as &dyn Any).downcast_ref::<Pod>()?;
    let status = pod.status.as_ref();
    Some(match field {
        "spec.nodeName" => text(&pod.spec.node_name),
        "spec.restartPolicy" => text(&pod.spec.restart_policy),
        "spec.schedulerName" => text(&pod.spec.scheduler_name),
        "spec.serviceAccountName" => text(&pod.spec.service_account_name),
        "spec.hostNetwork" => pod.spec.host_network.unwrap_or(false).to_string(),
        "status.phase" => status.map(|s| text(&s.phase)).unwrap_or_default(),
        "status.nominatedNodeName" => status.map(|s| text(&s.nominated_node_name)).unwrap_or_default(),
        "status.podIP" => match status {
            Some(s) => s.pod_ips.first().map(|ip| ip.ip.clone()).unwrap_or_else(|| text(&s.pod_ip)),
            None => String::new(),
        },
        _ => return None,
    })
}

/// Whether a typed object of `T`'s kind meets every requirement; the object is turned
/// into JSON only when a field needs it, and then once.
pub fn matches_typed<T: Resource>(obj: &T, reqs: &[Requirement]) -> bool {
    let mut json: Option<Value> = None;
    reqs.iter().all(|r| {
        let got = typed_field_value(obj, &r.field).unwrap_or_else(|| {
            let v = json.get_or_insert_with(|| serde_json::to_value(obj).unwrap_or(Value::Null));
            field_value(T::INFO.kind, v, &r.field).unwrap_or_default()
        });
        (got == r.value) == r.equals
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_fields_read_like_upstream() {
        let pod = json!({
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                     "serviceAccountName": "sa"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.244.0.5"}], "podIP": "10.244.0.5"},
        });
        assert_eq!(field_value("Pod", &pod, "spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(field_value("Pod", &pod, "status.phase").as_deref(), Some("Running"));
        assert_eq!(field_value("Pod", &pod, "status.podIP").as_deref(), Some("10.244.0.5"));
        assert_eq!(field_value("Pod", &pod, "spec.hostNetwork").as_deref(), Some("false"));
        assert_eq!(field_value("Pod", &pod, "status.nominatedNodeName").as_deref(), Some(""));
        assert_eq!(field_value("Pod", &pod, "metadata.namespace").as_deref(), Some("default"));
        assert_eq!(field_value("Pod", &pod, "spec.containers"), None);
    }

    #[test]
    fn typed_pod_fields_read_as_the_json_form_does() {
        let pods: Vec<Pod> = [
            json!({"metadata": {"name": "p", "namespace": "default"},
                   "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                            "serviceAccountName": "sa", "hostNetwork": true, "containers": [{"name": "c"}]},
                   "status": {"phase": "Running", "podIPs": [{"ip": "10.244.0.5"}], "podIP": "10.244.0.9",
                              "nominatedNodeName": "n2"}}),
            json!({"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c"}]}}),
            json!({"metadata": {"name": "r"}, "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "10.0.0.1"}}),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
        for pod in &pods {
            let v = serde_json::to_value(pod).unwrap();
            for f in supported_fields("Pod") {
                assert_eq!(typed_field_value(pod, f), field_value("Pod", &v, f), "{f} of {v}");
            }
            assert_eq!(typed_field_value(pod, "spec.containers"), None);
        }
        let reqs = parse("Pod", "spec.nodeName=n1,status.phase!=Failed").unwrap();
        assert!(matches_typed(&pods[0], &reqs) && !matches_typed(&pods[1], &reqs));
        // Kinds without a typed reader fall back to the JSON form.
        let node: api::model::Node =
            serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}})).unwrap();
        assert!(matches_typed(&node, &parse("Node", "spec.unschedulable=true,metadata.name=n").unwrap()));
    }

    #[test]
    fn kind_specific_fields() {
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        assert_eq!(field_value("Node", &node, "spec.unschedulable").as_deref(), Some("true"));
        assert_eq!(field_value("Node", &node, "metadata.namespace"), None);
        let job = json!({"metadata": {"name": "j"}, "status": {"succeeded": 3}});
        assert_eq!(field_value("Job", &job, "status.successful").as_deref(), Some("3"));
        let rs = json!({"metadata": {"name": "r"}, "status": {}});
        assert_eq!(field_value("ReplicaSet", &rs, "status.replicas").as_deref(), Some("0"));
        assert_eq!(field_value("ReplicationController", &rs, "status.replicas").as_deref(), Some("0"));
        let ns = json!({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}});
        assert_eq!(field_value("Namespace", &ns, "status.phase").as_deref(), Some("Terminating"));
        assert_eq!(field_value("Deployment", &rs, "status.replicas"), None);
        let pv = json!({"metadata": {"name": "pv0"}, "status": {"phase": "Bound"}});
        assert_eq!(field_value("PersistentVolume", &pv, "metadata.name").as_deref(), Some("pv0"));
        assert_eq!(field_value("PersistentVolume", &pv, "metadata.namespace"), None);
        assert_eq!(field_value("StorageClass", &pv, "metadata.namespace"), None);
        assert_eq!(field_value("PodDisruptionBudget", &pv, "metadata.namespace").as_deref(), Some(""));
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "type": "Normal",
                        "source": {"component": "kubelet"}});
        assert_eq!(field_value("Event", &ev, "involvedObject.kind").as_deref(), Some("Pod"));
        assert_eq!(field_value("Event", &ev, "source").as_deref(), Some("kubelet"));
        let ev1 = json!({"regarding": {"kind": "Pod", "name": "p"}, "reportingController": "kubelet"});
        assert_eq!(field_value("Event", &ev1, "involvedObject.name").as_deref(), Some("p"));
        assert_eq!(field_value("Event", &ev1, "source").as_deref(), Some("kubelet"));
        let secret = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls"});
        assert_eq!(field_value("Secret", &secret, "type").as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(field_value("ConfigMap", &secret, "type"), None);
    }

    #[test]
    fn parsing_operators_escapes_and_unsupported_fields() {
        let reqs = parse("Pod", "spec.nodeName=n1,status.phase!=Failed,metadata.name==a\\,b").unwrap();
        assert_eq!(
            reqs,
            vec![
                Requirement { field: "spec.nodeName".into(), equals: true, value: "n1".into() },
                Requirement { field: "status.phase".into(), equals: false, value: "Failed".into() },
                Requirement { field: "metadata.name".into(), equals: true, value: "a,b".into() },
            ]
        );
        let e = parse("Pod", "spec.foo=bar").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (400, "field label not supported: spec.foo"));
        assert_eq!(parse("Service", "spec.nodeName=x").unwrap_err().code, 400);
        assert_eq!(parse("Pod", "nonsense").unwrap_err().code, 400);
        let pod = |phase: &str| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "a,b"}, "spec": {"nodeName": "n1", "containers": []},
                                          "status": {"phase": phase}}))
            .unwrap()
        };
        assert!(matches_typed(&pod("Running"), &reqs));
        assert!(!matches_typed(&pod("Failed"), &reqs));
    }
}
