//! Pod and pod-template validation: containers, ports, resources, probes, volumes,
//! scheduling constraints.

use std::collections::{BTreeMap, BTreeSet};

use super::meta::*;
use super::names::*;
use super::containers::*;
use super::pod_runtime::{forbid_ephemeral_containers, validate_pod_runtime};
use super::{FieldError, FieldErrorKind};
use crate::model::{
    Container, NodeSelectorRequirement, Pod, PodSpec, PodTemplateSpec, Probe, Toleration, Volume,
};

pub const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
pub const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
pub const TOLERATION_OPERATORS: &[&str] = &["Equal", "Exists"];
pub const TAINT_EFFECTS: &[&str] = &["NoExecute", "NoSchedule", "PreferNoSchedule"];
const NODE_SELECTOR_OPERATORS: &[&str] = &["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"];

/// Pod: metadata (DNS-1123 subdomain name) and spec.
pub fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    let mut errs = validate_object_meta(&pod.metadata, true, NameFormat::Dns1123Subdomain);
    errs.extend(validate_pod_spec(&pod.spec, "spec"));
    errs
}

/// A pod update: the create checks, and scheduling gates may only be removed.
pub fn validate_pod_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = validate_pod(new);
    errs.extend(super::scheduling::validate_scheduling_gates_update(&old.spec, &new.spec, "spec"));
    errs
}

/// A pod template (`spec.template`): its labels and annotations, and its pod spec under
/// `{path}.spec`.
pub fn validate_pod_template(t: &PodTemplateSpec, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(&t.metadata.labels, &format!("{path}.metadata.labels"));
    errs.extend(validate_annotations(&t.metadata.annotations, &format!("{path}.metadata.annotations")));
    errs.extend(validate_pod_spec(&t.spec, &format!("{path}.spec")));
    errs
}

/// A pod spec whose fields are reported under `path` (`spec`, `spec.template.spec`, …).
pub fn validate_pod_spec(spec: &PodSpec, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let volumes = validate_volumes(&spec.volumes, &format!("{path}.volumes"), &mut errs);

    if spec.containers.is_empty() {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut names = BTreeSet::new();
    let mut ports_in_use: BTreeMap<(i32, String), ()> = BTreeMap::new();
    let mut host_ports_in_use: BTreeSet<(i32, String)> = BTreeSet::new();
    let groups = [("initContainers", &spec.init_containers, false), ("containers", &spec.containers, true)];
    for (list_name, list, shares_network) in groups {
        for (i, c) in list.iter().enumerate() {
            let p = format!("{path}.{list_name}[{i}]");
            if c.name.is_empty() {
                errs.push(FieldError::required(format!("{p}.name"), ""));
            } else {
                errs.extend(invalid_each(&format!("{p}.name"), &c.name, is_dns1123_label(&c.name)));
                if !names.insert(c.name.clone()) {
                    errs.push(FieldError::duplicate(format!("{p}.name"), &c.name));
                }
            }
            validate_container(c, &p, &volumes, &mut errs);
            validate_container_restart_policy(c.restart_policy.as_deref(), !shares_network, &p, &mut errs);
            if shares_network {
                for (j, port) in c.ports.iter().enumerate() {
                    let proto = port.protocol.clone().unwrap_or_else(|| "TCP".into());
                    let key = (port.container_port, proto.clone());
                    if ports_in_use.insert(key, ()).is_some() {
                        errs.push(FieldError::new(
                            FieldErrorKind::Duplicate,
                            format!("{p}.ports[{j}].containerPort"),
                            port.container_port,
                            format!(
                                "port {}/{proto} is already declared in this pod; all containers of a pod share one network stack",
                                port.container_port
                            ),
                        ));
                    }
                    if let Some(hp) = port.host_port.filter(|h| *h != 0) {
                        if !host_ports_in_use.insert((hp, proto)) {
                            errs.push(FieldError::duplicate(format!("{p}.ports[{j}].hostPort"), hp));
                        }
                    }
                }
            }
        }
    }

    opt_supported(&mut errs, spec.restart_policy.as_deref(), &format!("{path}.restartPolicy"), RESTART_POLICIES);
    opt_non_negative(&mut errs, spec.termination_grace_period_seconds, &format!("{path}.terminationGracePeriodSeconds"));
    if let Some(d) = spec.active_deadline_seconds {
        if d <= 0 {
            errs.push(FieldError::invalid(format!("{path}.activeDeadlineSeconds"), d, "must be between 1 and 2147483647, inclusive"));
        }
    }
    opt_supported(
        &mut errs,
        spec.dns_policy.as_deref(),
        &format!("{path}.dnsPolicy"),
        &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
    );
    errs.extend(validate_labels(&spec.node_selector, &format!("{path}.nodeSelector")));
    if let Some(n) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        errs.extend(invalid_each(&format!("{path}.nodeName"), n, is_dns1123_subdomain(n)));
    }
    if let Some(h) = spec.hostname.as_deref().filter(|n| !n.is_empty()) {
        errs.extend(invalid_each(&format!("{path}.hostname"), h, is_dns1123_label(h)));
    }
    if let Some(s) = spec.subdomain.as_deref().filter(|n| !n.is_empty()) {
        errs.extend(invalid_each(&format!("{path}.subdomain"), s, is_dns1123_label(s)));
    }
    if let Some(sa) = spec.service_account_name.as_deref().filter(|n| !n.is_empty()) {
        errs.extend(invalid_each(&format!("{path}.serviceAccountName"), sa, is_dns1123_subdomain(sa)));
    }
    if let Some(na) = spec.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()) {
        let ap = format!("{path}.affinity.nodeAffinity");
        if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
            let rp = format!("{ap}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
            if req.node_selector_terms.is_empty() {
                errs.push(FieldError::required(&rp, "must have at least one node selector term"));
            }
            for (i, t) in req.node_selector_terms.iter().enumerate() {
                validate_node_selector_term(&t.match_expressions, &t.match_fields, &format!("{rp}[{i}]"), &mut errs);
            }
        }
        for (i, pref) in na.preferred_during_scheduling_ignored_during_execution.iter().enumerate() {
            let pp = format!("{ap}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
            if !(1..=100).contains(&pref.weight) {
                errs.push(FieldError::invalid(format!("{pp}.weight"), pref.weight, "must be in the range 1-100"));
            }
            let t = &pref.preference;
            validate_node_selector_term(&t.match_expressions, &t.match_fields, &format!("{pp}.preference"), &mut errs);
        }
    }
    for (i, t) in spec.tolerations.iter().enumerate() {
        validate_toleration(t, &format!("{path}.tolerations[{i}]"), &mut errs);
    }
    if let Some(sc) = &spec.security_context {
        validate_pod_security_context(sc, &format!("{path}.securityContext"), &mut errs);
    }
    validate_pod_runtime(spec, path, &mut errs);
    forbid_ephemeral_containers(spec, path, &mut errs);
    errs.extend(super::scheduling::validate_scheduling(spec, path));
    errs
}

fn validate_volumes(volumes: &[Volume], path: &str, errs: &mut Vec<FieldError>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if v.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        } else {
            errs.extend(invalid_each(&format!("{p}.name"), &v.name, is_dns1123_label(&v.name)));
            if !names.insert(v.name.clone()) {
                errs.push(FieldError::duplicate(format!("{p}.name"), &v.name));
            }
        }
        let n = volume_source_count(v);
        if n == 0 {
            errs.push(FieldError::required(&p, "must specify a volume type"));
        } else if n > 1 {
            errs.push(FieldError::new(FieldErrorKind::Forbidden, &p, "", "may not specify more than 1 volume type"));
        }
        if let Some(hp) = &v.host_path {
            if hp.path.is_empty() {
                errs.push(FieldError::required(format!("{p}.hostPath.path"), ""));
            }
            opt_supported(
                errs,
                hp.type_.as_deref(),
                &format!("{p}.hostPath.type"),
                &["", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"],
            );
        }
        if let Some(pvc) = &v.persistent_volume_claim {
            if pvc.claim_name.is_empty() {
                errs.push(FieldError::required(format!("{p}.persistentVolumeClaim.claimName"), ""));
            }
        }
        if let Some(ed) = &v.empty_dir {
            opt_supported(errs, ed.medium.as_deref(), &format!("{p}.emptyDir.medium"), &["", "Memory"]);
            if let Some(q) = &ed.size_limit {
                match q.parsed() {
                    Err(e) => errs.push(FieldError::invalid(format!("{p}.emptyDir.sizeLimit"), q, e)),
                    Ok(v) if v.is_negative() => {
                        errs.push(FieldError::invalid(format!("{p}.emptyDir.sizeLimit"), q, IS_NEGATIVE_MSG))
                    }
                    Ok(_) => {}
                }
            }
        }
        if let Some(cm) = &v.config_map {
            if cm.name.as_deref().is_none_or(str::is_empty) {
                errs.push(FieldError::required(format!("{p}.configMap.name"), ""));
            }
        }
    }
    names
}

/// How many sources a volume names (upstream allows exactly one).
fn volume_source_count(v: &Volume) -> usize {
    [
        v.empty_dir.is_some(),
        v.host_path.is_some(),
        v.persistent_volume_claim.is_some(),
        v.config_map.is_some(),
        v.secret.is_some(),
        v.projected.is_some(),
        v.downward_api.is_some(),
        v.aws_elastic_block_store.is_some(),
        v.azure_disk.is_some(),
        v.azure_file.is_some(),
        v.cephfs.is_some(),
        v.cinder.is_some(),
        v.csi.is_some(),
        v.ephemeral.is_some(),
        v.fc.is_some(),
        v.flex_volume.is_some(),
        v.flocker.is_some(),
        v.gce_persistent_disk.is_some(),
        v.git_repo.is_some(),
        v.glusterfs.is_some(),
        v.image.is_some(),
        v.iscsi.is_some(),
        v.nfs.is_some(),
        v.photon_persistent_disk.is_some(),
        v.portworx_volume.is_some(),
        v.quobyte.is_some(),
        v.rbd.is_some(),
        v.scale_io.is_some(),
        v.storageos.is_some(),
        v.vsphere_volume.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count()
}

fn validate_container(c: &Container, p: &str, volumes: &BTreeSet<String>, errs: &mut Vec<FieldError>) {
    if c.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
        errs.push(FieldError::required(format!("{p}.image"), ""));
    }
    opt_supported(errs, c.image_pull_policy.as_deref(), &format!("{p}.imagePullPolicy"), PULL_POLICIES);

    let mut port_names = BTreeSet::new();
    for (j, port) in c.ports.iter().enumerate() {
        let pp = format!("{p}.ports[{j}]");
        if let Some(name) = port.name.as_deref() {
            errs.extend(invalid_each(&format!("{pp}.name"), name, is_iana_svc_name(name)));
            if !port_names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(format!("{pp}.containerPort"), ""));
        } else {
            errs.extend(invalid_each(&format!("{pp}.containerPort"), &port.container_port.to_string(), is_valid_port_num(port.container_port)));
        }
        if let Some(hp) = port.host_port.filter(|h| *h != 0) {
            errs.extend(invalid_each(&format!("{pp}.hostPort"), &hp.to_string(), is_valid_port_num(hp)));
        }
        validate_protocol(port.protocol.as_deref(), &format!("{pp}.protocol"), errs);
        if let Some(ip) = port.host_ip.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(invalid_each(&format!("{pp}.hostIP"), ip, is_valid_ip(ip)));
        }
    }

    let mut env_names = BTreeSet::new();
    for (j, e) in c.env.iter().enumerate() {
        let ep = format!("{p}.env[{j}]");
        if e.name.is_empty() {
            errs.push(FieldError::required(format!("{ep}.name"), ""));
        } else {
            errs.extend(invalid_each(&format!("{ep}.name"), &e.name, is_env_var_name(&e.name)));
        }
        env_names.insert(e.name.clone());
        if let Some(from) = &e.value_from {
            let n = [
                from.field_ref.is_some(),
                from.resource_field_ref.is_some(),
                from.config_map_key_ref.is_some(),
                from.secret_key_ref.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
                errs.push(FieldError::invalid(
                    format!("{ep}.valueFrom"),
                    "",
                    "may not be specified when `value` is not empty",
                ));
            }
            if n == 0 {
                errs.push(FieldError::invalid(format!("{ep}.valueFrom"), "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
            } else if n > 1 {
                errs.push(FieldError::invalid(format!("{ep}.valueFrom"), "", "may not have more than one field specified at a time"));
            }
        }
    }

    if let Some(r) = &c.resources {
        let rp = format!("{p}.resources");
        errs.extend(validate_resource_map(&r.limits, &format!("{rp}.limits")));
        errs.extend(validate_resource_map(&r.requests, &format!("{rp}.requests")));
        for (name, req) in &r.requests {
            let (Some(limit), Ok(rq)) = (r.limits.get(name), req.parsed()) else { continue };
            if let Ok(lq) = limit.parsed() {
                if rq > lq {
                    errs.push(FieldError::invalid(
                        format!("{rp}.requests[{name}]"),
                        req,
                        format!("must be less than or equal to {name} limit of {limit}"),
                    ));
                }
            }
        }
    }

    let mut mount_paths = BTreeSet::new();
    for (j, m) in c.volume_mounts.iter().enumerate() {
        let mp = format!("{p}.volumeMounts[{j}]");
        if m.name.is_empty() {
            errs.push(FieldError::required(format!("{mp}.name"), ""));
        } else if !volumes.contains(&m.name) {
            errs.push(FieldError::invalid(format!("{mp}.name"), &m.name, "must match the name of a volume"));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(format!("{mp}.mountPath"), ""));
        } else if !mount_paths.insert(m.mount_path.clone()) {
            errs.push(FieldError::invalid(format!("{mp}.mountPath"), &m.mount_path, "must be unique"));
        }
        if let Some(sp) = m.sub_path.as_deref() {
            if sp.starts_with('/') || sp.split('/').any(|s| s == "..") {
                errs.push(FieldError::invalid(format!("{mp}.subPath"), sp, "must be a relative path without '..'"));
            }
        }
    }

    validate_env_from(&c.env_from, p, errs);
    if let Some(l) = c.lifecycle.as_deref() {
        validate_lifecycle(l, &format!("{p}.lifecycle"), errs);
    }
    if let Some(sc) = c.security_context.as_deref() {
        validate_security_context(sc, &format!("{p}.securityContext"), errs);
    }
    opt_supported(
        errs,
        c.termination_message_policy.as_deref(),
        &format!("{p}.terminationMessagePolicy"),
        &["FallbackToLogsOnError", "File"],
    );
    for (name, probe, single_success) in [
        ("livenessProbe", &c.liveness_probe, true),
        ("readinessProbe", &c.readiness_probe, false),
        ("startupProbe", &c.startup_probe, true),
    ] {
        if let Some(probe) = probe {
            validate_probe(probe, &format!("{p}.{name}"), single_success, errs);
        }
    }
}

fn validate_protocol(proto: Option<&str>, field: &str, errs: &mut Vec<FieldError>) {
    match proto {
        None => {}
        Some("") => errs.push(FieldError::required(field, "")),
        Some(v) if !PROTOCOLS.contains(&v) => errs.push(FieldError::not_supported(field, v, PROTOCOLS)),
        Some(_) => {}
    }
}

fn validate_probe(probe: &Probe, p: &str, single_success: bool, errs: &mut Vec<FieldError>) {
    let handlers = [probe.exec.is_some(), probe.http_get.is_some(), probe.tcp_socket.is_some(), probe.grpc.is_some()];
    match handlers.iter().filter(|h| **h).count() {
        0 => errs.push(FieldError::required(p, "must specify a handler type")),
        1 => {}
        _ => errs.push(FieldError::new(FieldErrorKind::Forbidden, p, "", "may not specify more than 1 handler type")),
    }
    if let Some(e) = &probe.exec {
        if e.command.is_empty() {
            errs.push(FieldError::required(format!("{p}.exec.command"), ""));
        }
    }
    if let Some(h) = &probe.http_get {
        errs.extend(validate_port_num_or_name(&h.port, &format!("{p}.httpGet.port")));
        opt_supported(errs, h.scheme.as_deref(), &format!("{p}.httpGet.scheme"), &["HTTP", "HTTPS"]);
    }
    if let Some(t) = &probe.tcp_socket {
        errs.extend(validate_port_num_or_name(&t.port, &format!("{p}.tcpSocket.port")));
    }
    if let Some(g) = &probe.grpc {
        validate_grpc(g, &format!("{p}.grpc"), errs);
    }
    for (name, v) in [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        opt_non_negative(errs, v, &format!("{p}.{name}"));
    }
    if single_success {
        if let Some(s) = probe.success_threshold.filter(|s| *s != 1) {
            errs.push(FieldError::invalid(format!("{p}.successThreshold"), s, "must be 1"));
        }
    }
}

pub(crate) fn validate_node_selector_term(
    exprs: &[NodeSelectorRequirement],
    fields: &[NodeSelectorRequirement],
    p: &str,
    errs: &mut Vec<FieldError>,
) {
    for (j, r) in exprs.iter().enumerate() {
        let rp = format!("{p}.matchExpressions[{j}]");
        errs.extend(invalid_each(&format!("{rp}.key"), &r.key, is_qualified_name(&r.key)));
        match r.operator.as_str() {
            "In" | "NotIn" if r.values.is_empty() => errs.push(FieldError::required(
                format!("{rp}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !r.values.is_empty() => errs.push(FieldError::new(
                FieldErrorKind::Forbidden,
                format!("{rp}.values"),
                "",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "Gt" | "Lt" => {
                if r.values.len() != 1 {
                    errs.push(FieldError::required(format!("{rp}.values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"));
                } else if r.values[0].parse::<i64>().is_err() {
                    errs.push(FieldError::invalid(format!("{rp}.values[0]"), &r.values[0], "must be an integer"));
                }
            }
            op if !NODE_SELECTOR_OPERATORS.contains(&op) => {
                errs.push(FieldError::not_supported(format!("{rp}.operator"), op, NODE_SELECTOR_OPERATORS))
            }
            _ => {}
        }
    }
    for (j, r) in fields.iter().enumerate() {
        let rp = format!("{p}.matchFields[{j}]");
        if r.key != "metadata.name" {
            errs.push(FieldError::invalid(format!("{rp}.key"), &r.key, "not a valid field selector key"));
        }
        if r.operator != "In" && r.operator != "NotIn" {
            errs.push(FieldError::not_supported(format!("{rp}.operator"), &r.operator, &["In", "NotIn"]));
        } else if r.values.len() != 1 {
            errs.push(FieldError::required(format!("{rp}.values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"));
        }
    }
}

fn validate_toleration(t: &Toleration, p: &str, errs: &mut Vec<FieldError>) {
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() {
        errs.extend(invalid_each(&format!("{p}.key"), key, is_qualified_name(key)));
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            if key.is_empty() {
                errs.push(FieldError::invalid(format!("{p}.operator"), t.operator.as_deref().unwrap_or(""), "operator must be Exists when `key` is empty, which means \"match all values and all keys\""));
            }
            let v = t.value.as_deref().unwrap_or("");
            errs.extend(invalid_each(&format!("{p}.value"), v, is_label_value(v)));
        }
        "Exists" => {
            if let Some(v) = t.value.as_deref().filter(|v| !v.is_empty()) {
                errs.push(FieldError::invalid(format!("{p}.value"), v, "value must be empty when `operator` is 'Exists'"));
            }
        }
        other => errs.push(FieldError::not_supported(format!("{p}.operator"), other, TOLERATION_OPERATORS)),
    }
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
        errs.push(FieldError::not_supported(format!("{p}.effect"), effect, TAINT_EFFECTS));
    }
    if t.toleration_seconds.is_some() && effect != "NoExecute" {
        errs.push(FieldError::invalid(
            format!("{p}.effect"),
            effect,
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn container(name: &str) -> Container {
        Container { name: name.into(), image: Some("hello:v1".into()), ..Default::default() }
    }

    #[test]
    fn a_pod_update_may_remove_scheduling_gates_but_not_add_them() {
        let gated = |names: &[&str]| {
            let mut p = good_pod();
            p.spec.scheduling_gates = names.iter().map(|n| PodSchedulingGate { name: n.to_string() }).collect();
            p
        };
        assert!(gated(&[]).validate_update(&gated(&["example.com/a"])).is_empty());
        let errs = gated(&["example.com/a", "example.com/b"]).validate_update(&gated(&["example.com/a"]));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].field, "spec.schedulingGates[1].name");
        // The create checks still run on an update.
        let mut bad = good_pod();
        bad.spec.containers.clear();
        assert!(!bad.validate_update(&good_pod()).is_empty());
    }

    pub(crate) fn good_pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "initContainers": [{"name": "init", "image": "busybox", "command": ["true"]}],
                "containers": [{
                    "name": "web", "image": "hello:v1",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "env": [{"name": "MODE", "value": "prod"}, {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
                    "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 3}
                }],
                "volumes": [{"name": "data", "emptyDir": {}}],
                "restartPolicy": "Always",
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
                                {"operator": "Exists"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}, {"key": "cores", "operator": "Gt", "values": ["2"]}]}
                ]}}}
            }
        }))
        .unwrap()
    }

    fn errs_of(p: &Pod) -> Vec<(String, FieldErrorKind)> {
        validate_pod(p).into_iter().map(|e| (e.field, e.kind)).collect()
    }

    fn assert_only(p: &Pod, field: &str, kind: FieldErrorKind) {
        let errs = validate_pod(p);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!((errs[0].field.as_str(), errs[0].kind), (field, kind), "{errs:#?}");
    }

    #[test]
    fn accepts_a_realistic_pod() {
        assert_eq!(errs_of(&good_pod()), vec![]);
    }

    #[test]
    fn containers_required() {
        let mut p = good_pod();
        p.spec.containers.clear();
        assert_only(&p, "spec.containers", FieldErrorKind::Required);
    }

    #[test]
    fn container_name_must_be_label_and_unique() {
        let mut p = good_pod();
        p.spec.containers[0].name = "Web".into();
        assert_only(&p, "spec.containers[0].name", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.containers.push(container("init"));
        assert_only(&p, "spec.containers[1].name", FieldErrorKind::Duplicate);
        let mut p = good_pod();
        p.spec.containers[0].name.clear();
        assert_only(&p, "spec.containers[0].name", FieldErrorKind::Required);
    }

    #[test]
    fn image_required() {
        let mut p = good_pod();
        p.spec.containers[0].image = None;
        assert_only(&p, "spec.containers[0].image", FieldErrorKind::Required);
    }

    #[test]
    fn port_ranges_and_protocol() {
        let mut p = good_pod();
        p.spec.containers[0].ports[0].container_port = 70000;
        assert_only(&p, "spec.containers[0].ports[0].containerPort", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.containers[0].ports[0].host_port = Some(-1);
        assert_only(&p, "spec.containers[0].ports[0].hostPort", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.containers[0].ports[0].protocol = Some("HTTP".into());
        assert_only(&p, "spec.containers[0].ports[0].protocol", FieldErrorKind::NotSupported);
    }

    #[test]
    fn same_port_twice_in_one_pod_is_duplicate() {
        let mut p = good_pod();
        let mut c = container("sidecar");
        c.ports.push(ContainerPort { container_port: 8080, ..Default::default() });
        p.spec.containers.push(c);
        let errs = validate_pod(&p);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert_eq!(errs[0].field, "spec.containers[1].ports[0].containerPort");
        assert_eq!(errs[0].kind, FieldErrorKind::Duplicate);
        assert!(errs[0].detail.contains("share one network stack"));
        // The same container declaring it twice, and UDP next to TCP is fine.
        let mut p = good_pod();
        p.spec.containers[0].ports.push(ContainerPort { container_port: 8080, protocol: Some("UDP".into()), ..Default::default() });
        assert_eq!(errs_of(&p), vec![]);
        p.spec.containers[0].ports.push(ContainerPort { container_port: 8080, ..Default::default() });
        assert_only(&p, "spec.containers[0].ports[2].containerPort", FieldErrorKind::Duplicate);
    }

    #[test]
    fn port_names() {
        let mut p = good_pod();
        p.spec.containers[0].ports.push(ContainerPort { name: Some("http".into()), container_port: 9090, ..Default::default() });
        assert_only(&p, "spec.containers[0].ports[1].name", FieldErrorKind::Duplicate);
        let mut p = good_pod();
        p.spec.containers[0].ports[0].name = Some("a-very-long-port-name".into());
        assert_only(&p, "spec.containers[0].ports[0].name", FieldErrorKind::Invalid);
    }

    #[test]
    fn resources_parse_and_requests_within_limits() {
        let mut p = good_pod();
        p.spec.containers[0].resources.as_mut().unwrap().requests.insert("cpu".into(), Quantity::from("1.2.3"));
        assert_only(&p, "spec.containers[0].resources.requests[cpu]", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.containers[0].resources.as_mut().unwrap().limits.insert("memory".into(), Quantity::from("-1"));
        let errs = errs_of(&p);
        assert!(errs.contains(&("spec.containers[0].resources.limits[memory]".into(), FieldErrorKind::Invalid)), "{errs:?}");
        let mut p = good_pod();
        p.spec.containers[0].resources.as_mut().unwrap().requests.insert("cpu".into(), Quantity::from("2"));
        assert_only(&p, "spec.containers[0].resources.requests[cpu]", FieldErrorKind::Invalid);
    }

    #[test]
    fn restart_policy_supported() {
        let mut p = good_pod();
        p.spec.restart_policy = Some("Sometimes".into());
        assert_only(&p, "spec.restartPolicy", FieldErrorKind::NotSupported);
    }

    #[test]
    fn volumes_unique_and_mounts_resolve() {
        let mut p = good_pod();
        p.spec.volumes.push(Volume { name: "data".into(), empty_dir: Some(Default::default()), ..Default::default() });
        assert_only(&p, "spec.volumes[1].name", FieldErrorKind::Duplicate);
        let mut p = good_pod();
        p.spec.containers[0].volume_mounts[0].name = "nope".into();
        assert_only(&p, "spec.containers[0].volumeMounts[0].name", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.volumes[0].host_path = Some(HostPathVolumeSource { path: "/x".into(), type_: None });
        assert_only(&p, "spec.volumes[0]", FieldErrorKind::Forbidden);
    }

    #[test]
    fn probe_ports() {
        let mut p = good_pod();
        p.spec.containers[0].readiness_probe.as_mut().unwrap().http_get.as_mut().unwrap().port = IntOrString::Int(0);
        assert_only(&p, "spec.containers[0].readinessProbe.httpGet.port", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.containers[0].liveness_probe.as_mut().unwrap().tcp_socket.as_mut().unwrap().port = "http--port".into();
        assert_only(&p, "spec.containers[0].livenessProbe.tcpSocket.port", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.containers[0].liveness_probe.as_mut().unwrap().success_threshold = Some(2);
        assert_only(&p, "spec.containers[0].livenessProbe.successThreshold", FieldErrorKind::Invalid);
        let mut p = good_pod();
        p.spec.containers[0].startup_probe = Some(Box::default());
        assert_only(&p, "spec.containers[0].startupProbe", FieldErrorKind::Required);
    }

    #[test]
    fn tolerations() {
        let mut p = good_pod();
        p.spec.tolerations[0].operator = Some("Like".into());
        assert_only(&p, "spec.tolerations[0].operator", FieldErrorKind::NotSupported);
        let mut p = good_pod();
        p.spec.tolerations[0].effect = Some("NoRun".into());
        assert_only(&p, "spec.tolerations[0].effect", FieldErrorKind::NotSupported);
        let mut p = good_pod();
        p.spec.tolerations[1].value = Some("x".into());
        assert_only(&p, "spec.tolerations[1].value", FieldErrorKind::Invalid);
    }

    #[test]
    fn node_affinity_operators() {
        let mut p = good_pod();
        let term = &mut p.spec.affinity.as_mut().unwrap().node_affinity.as_mut().unwrap()
            .required_during_scheduling_ignored_during_execution.as_mut().unwrap().node_selector_terms[0];
        term.match_expressions[0].operator = "Within".into();
        assert_only(&p, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", FieldErrorKind::NotSupported);
        let mut p = good_pod();
        let term = &mut p.spec.affinity.as_mut().unwrap().node_affinity.as_mut().unwrap()
            .required_during_scheduling_ignored_during_execution.as_mut().unwrap().node_selector_terms[0];
        term.match_expressions[1].values = vec!["two".into()];
        assert_only(&p, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values[0]", FieldErrorKind::Invalid);
    }

    #[test]
    fn env_names() {
        let mut p = good_pod();
        p.spec.containers[0].env[0].name = "1BAD".into();
        assert_only(&p, "spec.containers[0].env[0].name", FieldErrorKind::Invalid);
    }

    #[test]
    fn template_prefix_is_used() {
        let mut t = PodTemplateSpec { metadata: Default::default(), spec: good_pod().spec };
        t.spec.containers[0].image = None;
        let errs = validate_pod_template(&t, "spec.template");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.template.spec.containers[0].image");
    }
}
