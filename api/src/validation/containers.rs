//! Validation of the container fields of the full schema: native sidecars (an init
//! container's `restartPolicy`), lifecycle handlers, `envFrom`, security contexts (the
//! pod's and each container's) and gRPC probes, with upstream's messages and paths.

use super::meta::*;
use super::names::*;
use super::{FieldError, FieldErrorKind};
use crate::model::{
    AppArmorProfile, EnvFromSource, GrpcAction, IntOrString, Lifecycle, LifecycleHandler, PodSecurityContext, SeccompProfile,
    SecurityContext,
};

const PROC_MOUNTS: &[&str] = &["Default", "Unmasked"];
const PROFILE_TYPES: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];

/// An init container's `restartPolicy`: only `Always` (a native sidecar); a regular
/// container's must be unset.
pub fn validate_container_restart_policy(policy: Option<&str>, init: bool, p: &str, errs: &mut Vec<FieldError>) {
    let field = format!("{p}.restartPolicy");
    match (policy, init) {
        (None, _) => {}
        (Some(v), true) if v != "Always" => errs.push(FieldError::not_supported(field, v, &["Always"])),
        (Some(_), true) => {}
        (Some(_), false) => errs.push(FieldError::new(
            FieldErrorKind::Forbidden,
            field,
            "",
            "may not be set for non-init containers",
        )),
    }
}

/// `postStart` / `preStop`: exactly one handler each; `sleep` seconds not negative.
pub fn validate_lifecycle(l: &Lifecycle, p: &str, errs: &mut Vec<FieldError>) {
    for (name, h) in [("postStart", &l.post_start), ("preStop", &l.pre_stop)] {
        if let Some(h) = h {
            validate_handler(h, &format!("{p}.{name}"), errs);
        }
    }
    if let Some(s) = l.stop_signal.as_deref() {
        if s.is_empty() {
            errs.push(FieldError::required(format!("{p}.stopSignal"), ""));
        }
    }
}

fn validate_handler(h: &LifecycleHandler, p: &str, errs: &mut Vec<FieldError>) {
    let n = [h.exec.is_some(), h.http_get.is_some(), h.tcp_socket.is_some(), h.sleep.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    match n {
        0 => errs.push(FieldError::required(p, "must specify a handler type")),
        1 => {}
        _ => errs.push(FieldError::new(FieldErrorKind::Forbidden, p, "", "may not specify more than 1 handler type")),
    }
    if let Some(e) = &h.exec {
        if e.command.is_empty() {
            errs.push(FieldError::required(format!("{p}.exec.command"), ""));
        }
    }
    if let Some(g) = &h.http_get {
        errs.extend(validate_port_num_or_name(&g.port, &format!("{p}.httpGet.port")));
        opt_supported(errs, g.scheme.as_deref(), &format!("{p}.httpGet.scheme"), &["HTTP", "HTTPS"]);
    }
    if let Some(t) = &h.tcp_socket {
        errs.extend(validate_port_num_or_name(&t.port, &format!("{p}.tcpSocket.port")));
    }
    if let Some(s) = &h.sleep {
        if s.seconds < 0 {
            errs.push(FieldError::invalid(format!("{p}.sleep.seconds"), s.seconds, "must be non-negative"));
        }
    }
}

/// A probe's `grpc` handler: a port number (names are not accepted).
pub fn validate_grpc(g: &GrpcAction, p: &str, errs: &mut Vec<FieldError>) {
    errs.extend(invalid_each(&format!("{p}.port"), &g.port.to_string(), is_valid_port_num(g.port)));
}

/// `envFrom[]`: exactly one of `configMapRef` / `secretRef`; a prefix that forms valid
/// variable names.
pub fn validate_env_from(list: &[EnvFromSource], p: &str, errs: &mut Vec<FieldError>) {
    for (i, e) in list.iter().enumerate() {
        let ep = format!("{p}.envFrom[{i}]");
        if let Some(prefix) = e.prefix.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(invalid_each(&format!("{ep}.prefix"), prefix, is_env_var_name(prefix)));
        }
        match (&e.config_map_ref, &e.secret_ref) {
            (None, None) => errs.push(FieldError::invalid(&ep, "", "must specify one of: `configMapRef` or `secretRef`")),
            (Some(_), Some(_)) => errs.push(FieldError::invalid(&ep, "", "may not have more than one field specified at a time")),
            (Some(r), None) => name_ref(&r.name, &format!("{ep}.configMapRef.name"), errs),
            (None, Some(r)) => name_ref(&r.name, &format!("{ep}.secretRef.name"), errs),
        }
    }
}

fn name_ref(name: &str, field: &str, errs: &mut Vec<FieldError>) {
    if name.is_empty() {
        errs.push(FieldError::required(field, ""));
    } else {
        errs.extend(invalid_each(field, name, is_dns1123_subdomain(name)));
    }
}

fn id(errs: &mut Vec<FieldError>, v: Option<i64>, field: String) {
    if let Some(v) = v.filter(|v| !(0..=i32::MAX as i64).contains(v)) {
        errs.push(FieldError::invalid(field, v, "must be between 0 and 2147483647, inclusive"));
    }
}

fn seccomp(s: &SeccompProfile, p: &str, errs: &mut Vec<FieldError>) {
    profile(&s.type_, s.localhost_profile.as_deref(), p, errs);
}

fn app_armor(a: &AppArmorProfile, p: &str, errs: &mut Vec<FieldError>) {
    profile(&a.type_, a.localhost_profile.as_deref(), p, errs);
}

fn profile(type_: &str, localhost: Option<&str>, p: &str, errs: &mut Vec<FieldError>) {
    match type_ {
        "" => errs.push(FieldError::required(format!("{p}.type"), "")),
        "Localhost" if localhost.is_none_or(str::is_empty) => errs.push(FieldError::required(
            format!("{p}.localhostProfile"),
            "must be set when profile type is \"Localhost\"",
        )),
        "Localhost" => {}
        t if !PROFILE_TYPES.contains(&t) => errs.push(FieldError::not_supported(format!("{p}.type"), t, PROFILE_TYPES)),
        _ if localhost.is_some() => errs.push(FieldError::invalid(
            format!("{p}.localhostProfile"),
            localhost.unwrap_or(""),
            "can only be set when profile type is \"Localhost\"",
        )),
        _ => {}
    }
}

/// A container's `securityContext`.
pub fn validate_security_context(s: &SecurityContext, p: &str, errs: &mut Vec<FieldError>) {
    id(errs, s.run_as_user, format!("{p}.runAsUser"));
    id(errs, s.run_as_group, format!("{p}.runAsGroup"));
    opt_supported(errs, s.proc_mount.as_deref(), &format!("{p}.procMount"), PROC_MOUNTS);
    if let Some(sc) = &s.seccomp_profile {
        seccomp(sc, &format!("{p}.seccompProfile"), errs);
    }
    if let Some(a) = &s.app_armor_profile {
        app_armor(a, &format!("{p}.appArmorProfile"), errs);
    }
    if s.privileged == Some(true) && s.allow_privilege_escalation == Some(false) {
        errs.push(FieldError::invalid(
            p,
            "",
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    if let Some(c) = &s.capabilities {
        for (name, list) in [("add", &c.add), ("drop", &c.drop)] {
            for (i, cap) in list.iter().enumerate() {
                if cap.is_empty() {
                    errs.push(FieldError::required(format!("{p}.capabilities.{name}[{i}]"), ""));
                }
            }
        }
    }
}

/// The pod's `securityContext`.
pub fn validate_pod_security_context(s: &PodSecurityContext, p: &str, errs: &mut Vec<FieldError>) {
    id(errs, s.run_as_user, format!("{p}.runAsUser"));
    id(errs, s.run_as_group, format!("{p}.runAsGroup"));
    id(errs, s.fs_group, format!("{p}.fsGroup"));
    for (i, g) in s.supplemental_groups.iter().enumerate() {
        id(errs, Some(*g), format!("{p}.supplementalGroups[{i}]"));
    }
    opt_supported(errs, s.fs_group_change_policy.as_deref(), &format!("{p}.fsGroupChangePolicy"), &["Always", "OnRootMismatch"]);
    opt_supported(errs, s.supplemental_groups_policy.as_deref(), &format!("{p}.supplementalGroupsPolicy"), &["Merge", "Strict"]);
    opt_supported(errs, s.se_linux_change_policy.as_deref(), &format!("{p}.seLinuxChangePolicy"), &["MountOption", "Recursive"]);
    if let Some(sc) = &s.seccomp_profile {
        seccomp(sc, &format!("{p}.seccompProfile"), errs);
    }
    if let Some(a) = &s.app_armor_profile {
        app_armor(a, &format!("{p}.appArmorProfile"), errs);
    }
    for (i, sy) in s.sysctls.iter().enumerate() {
        if sy.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.sysctls[{i}].name"), ""));
        }
    }
}

/// A probe or service target port: a number 1–65535 or an IANA_SVC_NAME.
pub fn validate_port_num_or_name(port: &IntOrString, field: &str) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) => invalid_each(field, &n.to_string(), is_valid_port_num(*n)),
        IntOrString::String(s) if s.is_empty() => vec![FieldError::required(field, "")],
        IntOrString::String(s) => invalid_each(field, s, is_iana_svc_name(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Capabilities, ConfigMapEnvSource, ExecAction, SleepAction};

    fn run<F: Fn(&mut Vec<FieldError>)>(f: F) -> Vec<String> {
        let mut errs = Vec::new();
        f(&mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn sidecars_and_restart_policies() {
        for (policy, init, want) in [
            (Some("Always"), true, ""),
            (Some("OnFailure"), true, "c.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\""),
            (Some("Always"), false, "c.restartPolicy: Forbidden: may not be set for non-init containers"),
            (None, false, ""),
        ] {
            let got = run(|e| validate_container_restart_policy(policy, init, "c", e));
            assert_eq!(got.join("; "), want, "{policy:?} {init}");
        }
    }

    #[test]
    fn lifecycle_handlers_need_exactly_one_action() {
        let exec = || Some(ExecAction { command: vec!["true".into()] });
        let cases = [
            (LifecycleHandler::default(), "l.preStop: Required value: must specify a handler type"),
            (
                LifecycleHandler { exec: exec(), sleep: Some(SleepAction { seconds: 1 }), ..Default::default() },
                "l.preStop: Forbidden: may not specify more than 1 handler type",
            ),
            (LifecycleHandler { sleep: Some(SleepAction { seconds: -1 }), ..Default::default() }, "l.preStop.sleep.seconds: Invalid value: \"-1\": must be non-negative"),
            (LifecycleHandler { exec: exec(), ..Default::default() }, ""),
        ];
        for (h, want) in cases {
            let l = Lifecycle { pre_stop: Some(h), ..Default::default() };
            assert_eq!(run(|e| validate_lifecycle(&l, "l", e)).join("; "), want);
        }
    }

    #[test]
    fn env_from_needs_one_source_and_a_valid_prefix() {
        let cm = || Some(ConfigMapEnvSource { name: "cfg".into(), ..Default::default() });
        let cases = [
            (EnvFromSource::default(), "c.envFrom[0]: Invalid value: must specify one of: `configMapRef` or `secretRef`"),
            (EnvFromSource { config_map_ref: cm(), prefix: Some("1-".into()), ..Default::default() }, "c.envFrom[0].prefix: Invalid value"),
            (EnvFromSource { config_map_ref: cm(), prefix: Some("APP_".into()), ..Default::default() }, ""),
        ];
        for (e, want) in cases {
            let got = run(|errs| validate_env_from(std::slice::from_ref(&e), "c", errs)).join("; ");
            assert!(got.starts_with(want) && (want.is_empty() == got.is_empty()), "{got} vs {want}");
        }
    }

    #[test]
    fn security_contexts() {
        let cases = [
            (SecurityContext { run_as_user: Some(-1), ..Default::default() }, "s.runAsUser: Invalid value: \"-1\": must be between 0 and 2147483647, inclusive"),
            (SecurityContext { proc_mount: Some("Weird".into()), ..Default::default() }, "s.procMount: Unsupported value: \"Weird\""),
            (
                SecurityContext { seccomp_profile: Some(SeccompProfile { type_: "Localhost".into(), localhost_profile: None }), ..Default::default() },
                "s.seccompProfile.localhostProfile: Required value",
            ),
            (
                SecurityContext { app_armor_profile: Some(AppArmorProfile { type_: "Strict".into(), localhost_profile: None }), ..Default::default() },
                "s.appArmorProfile.type: Unsupported value: \"Strict\"",
            ),
            (
                SecurityContext { capabilities: Some(Capabilities { add: vec!["NET_ADMIN".into()], drop: vec!["ALL".into()] }), run_as_non_root: Some(true), ..Default::default() },
                "",
            ),
        ];
        for (s, want) in cases {
            let got = run(|e| validate_security_context(&s, "s", e)).join("; ");
            assert!(got.starts_with(want) && (want.is_empty() == got.is_empty()), "{got} vs {want}");
        }
        let pod = PodSecurityContext { fs_group: Some(-5), supplemental_groups: vec![1, -2], ..Default::default() };
        let got = run(|e| validate_pod_security_context(&pod, "spec.securityContext", e));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[1].starts_with("spec.securityContext.supplementalGroups[1]"), "{got:?}");
    }
}
