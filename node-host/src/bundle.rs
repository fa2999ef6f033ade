//! Pure: a pod's container, its image and what the node prepared for it (rootfs,
//! mounts, environment, sandbox namespaces, cgroup, hosts files) → the OCI runtime spec
//! that libcontainer runs. No I/O here, so that every field can be table-tested.
//!
//! Security as containerd and the kubelet set it (`security`), the default seccomp
//! profile (`seccomp`), resources and the OOM score (`resources`); masked and read-only
//! paths as runc's defaults; privileged containers get every capability, no seccomp, no
//! masked paths, a writable `/sys` and the host's devices.

mod resources;
mod seccomp;
mod security;

pub use resources::{linux_resources, oom_score_adj, qos_class, QosClass};
pub use seccomp::default_profile as default_seccomp_profile;
pub use security::{capabilities, user as process_user, ProcessUser, ALL_CAPS, DEFAULT_CAPS};

use std::path::Path;

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDevice, LinuxDeviceCgroupBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxSeccomp, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};

use crate::image::ImageConfig;
use crate::runtime::Sandbox;
use crate::volumes::{MountKind, MountSpec};

/// Everything a container's spec is made of.
pub struct BundleInput<'a> {
    pub pod: &'a api::model::Pod,
    pub container: &'a api::model::Container,
    pub image: &'a ImageConfig,
    /// The mounted root filesystem.
    pub rootfs: &'a Path,
    /// The container's environment from its spec (env, envFrom), resolved; the image's
    /// environment comes first and is overridden by these.
    pub env: &'a [(String, String)],
    pub mounts: &'a [MountSpec],
    pub sandbox: &'a Sandbox,
    /// `linux.cgroupsPath`.
    pub cgroups_path: &'a str,
    /// What the node adds (hosts files, the image's user database, limits).
    pub node: NodeInputs<'a>,
}

/// The node's part of a container's spec; every field may be left at its default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeInputs<'a> {
    /// Host files bind-mounted at `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname`.
    pub hosts: Option<&'a Path>,
    pub resolv_conf: Option<&'a Path>,
    pub hostname: Option<&'a Path>,
    /// Host file bind-mounted at the container's `terminationMessagePath`
    /// (default `/dev/termination-log`).
    pub termination_log: Option<&'a Path>,
    /// The image's `/etc/passwd` and `/etc/group`, to resolve a user or group name.
    pub etc_passwd: Option<&'a str>,
    pub etc_group: Option<&'a str>,
    /// The JSON of the `Localhost` seccomp profile the pod names, as read on the node.
    pub seccomp_localhost: Option<&'a str>,
    /// The node's memory (bytes) for a Burstable container's OOM score.
    pub node_memory: u64,
    /// `pids.max` of the container (the kubelet's `podPidsLimit`).
    pub pids_limit: Option<i64>,
    /// The host's devices, given to privileged containers.
    pub host_devices: &'a [LinuxDevice],
}

/// Where upstream puts the termination message by default.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// Paths masked in every unprivileged container (containerd's defaults).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths mounted read-only in every unprivileged container.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Neither the pod nor the image says what to run (upstream: "no command specified").
    #[error("no command specified")]
    NoCommand,
    #[error("{0}")]
    Spec(String),
    /// The pod's settings cannot be honoured (upstream's `CreateContainerConfigError`:
    /// runAsNonRoot violations, unknown users, missing seccomp profiles).
    #[error("{0}")]
    Config(String),
}

fn spec_err(e: impl std::fmt::Display) -> BundleError {
    BundleError::Spec(e.to_string())
}

/// What the process runs: `command` replaces the image's entrypoint, `args` its cmd
/// (upstream's rules: a `command` without `args` drops the image's cmd).
pub fn argv(container: &api::model::Container, image: &ImageConfig) -> Vec<String> {
    let (entry, cmd) = if container.command.is_empty() {
        (image.entrypoint.clone(), if container.args.is_empty() { image.cmd.clone() } else { container.args.clone() })
    } else {
        (container.command.clone(), container.args.clone())
    };
    entry.into_iter().chain(cmd).collect()
}

/// The process environment: the image's, then the container's (later names win).
pub fn environment(image: &ImageConfig, env: &[(String, String)]) -> Vec<String> {
    fn put(out: &mut Vec<(String, String)>, k: &str, v: &str) {
        match out.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for kv in &image.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        put(&mut out, k, v);
    }
    if !out.iter().any(|(k, _)| k == "PATH") {
        put(&mut out, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    }
    for (k, v) in env {
        put(&mut out, k, v);
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, BundleError> {
    let mut b = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(p) = path {
        b = b.path(p);
    }
    b.build().map_err(spec_err)
}

fn oci_mount(m: &MountSpec) -> Result<Mount, BundleError> {
    let (typ, source, mut options) = match &m.kind {
        MountKind::Bind => ("bind", m.source.clone(), vec!["rbind".to_string()]),
        MountKind::Tmpfs { size } => {
            let mut o = vec!["nosuid".to_string(), "nodev".to_string()];
            if let Some(s) = size {
                o.push(format!("size={s}"));
            }
            ("tmpfs", "tmpfs".into(), o)
        }
    };
    options.push(if m.read_only { "ro" } else { "rw" }.to_string());
    MountBuilder::default().destination(&m.destination).typ(typ).source(source).options(options).build().map_err(spec_err)
}

fn bind(destination: &str, source: &Path, read_only: bool) -> Result<Mount, BundleError> {
    let opts = vec!["rbind".to_string(), "rprivate".to_string(), if read_only { "ro" } else { "rw" }.to_string()];
    MountBuilder::default().destination(destination).typ("bind").source(source).options(opts).build().map_err(spec_err)
}

fn capability(name: &str) -> Result<Capability, BundleError> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| BundleError::Config(format!("unknown capability {name:?}")))
}

/// Namespaced sysctls a pod may set (the ones that live in its IPC or network namespace).
pub fn namespaced_sysctl(name: &str) -> bool {
    matches!(name, "kernel.shmall" | "kernel.shmmax" | "kernel.shmmni" | "kernel.shm_rmid_forced" | "kernel.msgmax" | "kernel.msgmnb" | "kernel.msgmni" | "kernel.sem")
        || name.starts_with("fs.mqueue.")
        || name.starts_with("net.")
}

/// The seccomp profile the container runs under: the container's `seccompProfile`, else
/// the pod's; `Unconfined` none, `Localhost` the given profile, and `RuntimeDefault` — also
/// when neither says (a hardened default) — the default profile. Privileged: none.
pub fn seccomp(i: &BundleInput<'_>, privileged: bool, caps: &[String]) -> Result<Option<LinuxSeccomp>, BundleError> {
    if privileged {
        return Ok(None);
    }
    let (csc, psc) = security::contexts(i.pod, i.container);
    let profile = csc.and_then(|s| s.seccomp_profile.as_ref()).or_else(|| psc.and_then(|s| s.seccomp_profile.as_ref()));
    match profile.map(|p| p.type_.as_str()) {
        None | Some("RuntimeDefault") => Ok(Some(seccomp::default_profile(caps))),
        Some("Unconfined") => Ok(None),
        Some("Localhost") => {
            let name = profile.and_then(|p| p.localhost_profile.clone()).unwrap_or_default();
            let text = i.node.seccomp_localhost.ok_or_else(|| BundleError::Config(format!("localhost seccomp profile {name:?} not found on the node")))?;
            serde_json::from_str(text).map(Some).map_err(|e| BundleError::Config(format!("localhost seccomp profile {name:?}: {e}")))
        }
        Some(other) => Err(BundleError::Config(format!("unknown seccomp profile type {other:?}"))),
    }
}

/// The OCI spec of one container of the pod.
pub fn container_spec(i: &BundleInput<'_>) -> Result<Spec, BundleError> {
    let args = argv(i.container, i.image);
    if args.is_empty() {
        return Err(BundleError::NoCommand);
    }
    let sc = i.container.security_context.as_deref();
    let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
    let read_only_root = sc.and_then(|s| s.read_only_root_filesystem).unwrap_or(false);
    let tty = i.container.tty.unwrap_or(false);
    let cwd = i.container.working_dir.clone().or_else(|| i.image.working_dir.clone()).filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    let mut env = environment(i.image, i.env);
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }

    let user = security::user(i.pod, i.container, i.image.user.as_deref(), i.node.etc_passwd, i.node.etc_group)?;
    let caps = security::capabilities(privileged, sc.and_then(|s| s.capabilities.as_ref()));
    let cap_set = caps.iter().map(|c| capability(c)).collect::<Result<oci_spec::runtime::Capabilities, _>>()?;
    let linux_caps = LinuxCapabilitiesBuilder::default()
        .bounding(cap_set.clone())
        .effective(cap_set.clone())
        .permitted(cap_set)
        .inheritable(oci_spec::runtime::Capabilities::new())
        .ambient(oci_spec::runtime::Capabilities::new())
        .build()
        .map_err(spec_err)?;
    let process = ProcessBuilder::default()
        .args(args)
        .env(env)
        .cwd(cwd)
        .user(UserBuilder::default().uid(user.uid).gid(user.gid).additional_gids(user.additional_gids.clone()).build().map_err(spec_err)?)
        .capabilities(linux_caps)
        .no_new_privileges(security::no_new_privileges(sc, &caps))
        .oom_score_adj(resources::oom_score_adj(i.pod, i.container, i.node.node_memory))
        // No rlimits: the process inherits the runtime's, as under containerd's CRI.
        .rlimits(vec![])
        .terminal(false)
        .build()
        .map_err(spec_err)?;

    let mut spec = Spec::default();
    spec.set_hostname(None);
    spec.set_process(Some(process));
    spec.set_root(Some(RootBuilder::default().path(i.rootfs).readonly(read_only_root).build().map_err(spec_err)?));

    let mut mounts: Vec<Mount> = spec.mounts().clone().unwrap_or_default();
    if privileged {
        // A privileged container's /sys and cgroups are writable.
        for m in &mut mounts {
            if m.destination() == Path::new("/sys") || m.destination() == Path::new("/sys/fs/cgroup") {
                let opts: Vec<String> = m.options().clone().unwrap_or_default().into_iter().map(|o| if o == "ro" { "rw".into() } else { o }).collect();
                m.set_options(Some(opts));
            }
        }
    }
    for m in i.mounts {
        mounts.push(oci_mount(m)?);
    }
    let mounted = |d: &str| i.mounts.iter().any(|m| m.destination == Path::new(d));
    let etc_files = [("/etc/hosts", i.node.hosts), ("/etc/resolv.conf", i.node.resolv_conf), ("/etc/hostname", i.node.hostname)];
    for (dest, src) in etc_files {
        if let Some(src) = src.filter(|_| !mounted(dest)) {
            mounts.push(bind(dest, src, read_only_root)?);
        }
    }
    if let Some(src) = i.node.termination_log {
        let dest = i.container.termination_message_path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.into());
        if !mounted(&dest) {
            mounts.push(bind(&dest, src, false)?);
        }
    }
    spec.set_mounts(Some(mounts));

    let mut linux = spec.linux().clone().unwrap_or_else(|| LinuxBuilder::default().build().unwrap_or_default());
    linux.set_namespaces(Some(vec![
        namespace(LinuxNamespaceType::Pid, None)?,
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Network, Some(&i.sandbox.netns))?,
        namespace(LinuxNamespaceType::Ipc, Some(&i.sandbox.ipcns))?,
        namespace(LinuxNamespaceType::Uts, Some(&i.sandbox.utsns))?,
    ]));
    linux.set_cgroups_path(Some(i.cgroups_path.into()));
    let mut res = resources::linux_resources(i.container, i.node.pids_limit)?;
    if privileged {
        res.set_devices(Some(vec![LinuxDeviceCgroupBuilder::default().allow(true).access("rwm").build().map_err(spec_err)?]));
        linux.set_devices(Some(i.node.host_devices.to_vec()));
    }
    linux.set_resources(Some(res));
    let unmasked = privileged || sc.and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked");
    if unmasked {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(MASKED_PATHS.iter().map(|p| p.to_string()).collect()));
        linux.set_readonly_paths(Some(READONLY_PATHS.iter().map(|p| p.to_string()).collect()));
    }
    linux.set_seccomp(seccomp(i, privileged, &caps)?);
    let sysctls: std::collections::HashMap<String, String> = i
        .pod
        .spec
        .security_context
        .as_deref()
        .map(|p| p.sysctls.iter().filter(|s| namespaced_sysctl(&s.name)).map(|s| (s.name.clone(), s.value.clone())).collect())
        .unwrap_or_default();
    linux.set_sysctl((!sysctls.is_empty()).then_some(sysctls));
    spec.set_linux(Some(linux));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entry: &[&str], cmd: &[&str]) -> ImageConfig {
        ImageConfig { entrypoint: entry.iter().map(|s| s.to_string()).collect(), cmd: cmd.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    fn container(command: &[&str], args: &[&str]) -> api::model::Container {
        api::model::Container {
            name: "c".into(),
            command: command.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn command_and_args_override_entrypoint_and_cmd_as_upstream() {
        let img = image(&["/entry"], &["default"]);
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&[], &[], &["/entry", "default"]),
            (&[], &["x"], &["/entry", "x"]),
            (&["/bin/sh"], &[], &["/bin/sh"]),
            (&["/bin/sh"], &["-c", "true"], &["/bin/sh", "-c", "true"]),
        ];
        for (cmd, args, want) in cases {
            assert_eq!(argv(&container(cmd, args), &img), *want, "command {cmd:?} args {args:?}");
        }
    }

    #[test]
    fn container_env_overrides_the_image_env_and_path_has_a_default() {
        let img = ImageConfig { env: vec!["A=1".into(), "B=2".into()], ..Default::default() };
        let env = environment(&img, &[("B".into(), "3".into())]);
        assert_eq!(env[0], "A=1");
        assert_eq!(env[1], "B=3");
        assert!(env.iter().any(|e| e.starts_with("PATH=")));
    }

    fn sandbox() -> Sandbox {
        Sandbox { id: "sb".into(), pid: 1, netns: "/ns/net".into(), ipcns: "/ns/ipc".into(), utsns: "/ns/uts".into() }
    }

    /// The spec of a one-container pod whose container is `c` (pod security context `psc`).
    fn spec_of(c: api::model::Container, psc: Option<api::model::PodSecurityContext>, node: NodeInputs<'_>) -> Result<Spec, BundleError> {
        let mut pod = api::model::Pod::default();
        pod.spec.security_context = psc.map(Box::new);
        pod.spec.containers = vec![c.clone()];
        let img = image(&["/bin/sh"], &[]);
        let sb = sandbox();
        container_spec(&BundleInput { pod: &pod, container: &c, image: &img, rootfs: Path::new("/rootfs"), env: &[], mounts: &[], sandbox: &sb, cgroups_path: "pod/c", node })
    }

    fn with_sc(sc: api::model::SecurityContext) -> api::model::Container {
        api::model::Container { name: "c".into(), security_context: Some(Box::new(sc)), ..Default::default() }
    }

    fn caps_of(s: &Spec) -> Vec<String> {
        let mut v: Vec<String> = s.process().as_ref().unwrap().capabilities().as_ref().unwrap().bounding().clone().unwrap_or_default().iter().map(|c| serde_json::to_value(c).unwrap().as_str().unwrap().to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn the_default_spec_is_hardened() {
        let s = spec_of(container(&[], &[]), None, NodeInputs::default()).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.oom_score_adj(), Some(resources::BEST_EFFORT_OOM_SCORE_ADJ));
        assert_eq!(caps_of(&s).len(), DEFAULT_CAPS.len());
        let linux = s.linux().as_ref().unwrap();
        assert!(linux.seccomp().is_some());
        assert_eq!(linux.masked_paths().as_ref().map(|m| m.len()), Some(MASKED_PATHS.len()));
        assert_eq!(linux.readonly_paths().as_ref().map(|m| m.len()), Some(READONLY_PATHS.len()));
        assert_eq!(s.root().as_ref().unwrap().readonly(), Some(false));
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("pod/c")));
        assert!(s.hostname().is_none());
    }

    #[test]
    fn security_contexts_shape_the_spec() {
        use api::model::{Capabilities, SeccompProfile, SecurityContext};
        let privileged = spec_of(with_sc(SecurityContext { privileged: Some(true), ..Default::default() }), None, NodeInputs::default()).unwrap();
        let linux = privileged.linux().as_ref().unwrap();
        assert_eq!(caps_of(&privileged).len(), ALL_CAPS.len());
        assert!(linux.seccomp().is_none() && linux.masked_paths().is_none() && linux.readonly_paths().is_none());
        assert_eq!(privileged.process().as_ref().unwrap().no_new_privileges(), Some(false));
        assert!(linux.resources().as_ref().unwrap().devices().as_ref().is_some_and(|d| d.iter().any(|d| d.allow())));

        let ro = spec_of(with_sc(SecurityContext { read_only_root_filesystem: Some(true), allow_privilege_escalation: Some(true), ..Default::default() }), None, NodeInputs::default()).unwrap();
        assert_eq!(ro.root().as_ref().unwrap().readonly(), Some(true));
        assert_eq!(ro.process().as_ref().unwrap().no_new_privileges(), Some(false));

        let caps = spec_of(with_sc(SecurityContext { capabilities: Some(Capabilities { add: vec!["NET_ADMIN".into()], drop: vec!["ALL".into()] }), ..Default::default() }), None, NodeInputs::default()).unwrap();
        assert_eq!(caps_of(&caps), vec!["CAP_NET_ADMIN"]);
        let bad = spec_of(with_sc(SecurityContext { capabilities: Some(Capabilities { add: vec!["WIZARDRY".into()], drop: vec![] }), ..Default::default() }), None, NodeInputs::default());
        assert!(matches!(bad, Err(BundleError::Config(m)) if m.contains("unknown capability")));

        let profile = |t: &str, name: Option<&str>| SecurityContext { seccomp_profile: Some(SeccompProfile { type_: t.into(), localhost_profile: name.map(str::to_string) }), ..Default::default() };
        let unconfined = spec_of(with_sc(profile("Unconfined", None)), None, NodeInputs::default()).unwrap();
        assert!(unconfined.linux().as_ref().unwrap().seccomp().is_none());
        let local = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let localhost = spec_of(with_sc(profile("Localhost", Some("p.json"))), None, NodeInputs { seccomp_localhost: Some(local), ..Default::default() }).unwrap();
        assert_eq!(localhost.linux().as_ref().unwrap().seccomp().as_ref().map(|s| s.default_action()), Some(oci_spec::runtime::LinuxSeccompAction::ScmpActAllow));
        assert!(matches!(spec_of(with_sc(profile("Localhost", Some("p.json"))), None, NodeInputs::default()), Err(BundleError::Config(_))));

        let psc = api::model::PodSecurityContext { run_as_user: Some(1000), run_as_group: Some(3000), fs_group: Some(2000), run_as_non_root: Some(true), ..Default::default() };
        let user = spec_of(container(&[], &[]), Some(psc), NodeInputs::default()).unwrap();
        let u = user.process().as_ref().unwrap().user().clone();
        assert_eq!((u.uid(), u.gid(), u.additional_gids().clone()), (1000, 3000, Some(vec![2000])));
        let root = spec_of(with_sc(SecurityContext { run_as_non_root: Some(true), ..Default::default() }), None, NodeInputs::default());
        assert!(matches!(root, Err(BundleError::Config(m)) if m == "container has runAsNonRoot and image will run as root"));
    }

    #[test]
    fn node_files_resources_and_sysctls() {
        use api::model::{Quantity, ResourceRequirements, Sysctl};
        let mut c = container(&[], &[]);
        c.termination_message_path = Some("/tmp/msg".into());
        c.tty = Some(true);
        c.resources = Some(ResourceRequirements { limits: [("memory".to_string(), Quantity::new("64Mi")), ("cpu".to_string(), Quantity::new("500m"))].into(), ..Default::default() });
        let node = NodeInputs { hosts: Some(Path::new("/pod/etc-hosts")), resolv_conf: Some(Path::new("/pod/resolv.conf")), termination_log: Some(Path::new("/pod/c/termination-log")), node_memory: 8 << 30, pids_limit: Some(256), ..Default::default() };
        let psc = api::model::PodSecurityContext { sysctls: vec![Sysctl { name: "net.ipv4.ip_unprivileged_port_start".into(), value: "0".into() }, Sysctl { name: "kernel.panic".into(), value: "1".into() }], ..Default::default() };
        let s = spec_of(c, Some(psc), node).unwrap();
        let mounts = s.mounts().clone().unwrap();
        let find = |d: &str| mounts.iter().find(|m| m.destination() == Path::new(d)).map(|m| m.source().clone().unwrap());
        assert_eq!(find("/etc/hosts"), Some("/pod/etc-hosts".into()));
        assert_eq!(find("/etc/resolv.conf"), Some("/pod/resolv.conf".into()));
        assert_eq!(find("/etc/hostname"), None);
        assert_eq!(find("/tmp/msg"), Some("/pod/c/termination-log".into()));
        let p = s.process().as_ref().unwrap();
        assert!(p.env().as_ref().unwrap().contains(&"TERM=xterm".to_string()));
        assert_eq!(p.oom_score_adj(), Some(resources::GUARANTEED_OOM_SCORE_ADJ));
        let linux = s.linux().as_ref().unwrap();
        let r = linux.resources().as_ref().unwrap();
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(64 << 20));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.quota()), Some(50_000));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(256));
        let sysctl = linux.sysctl().clone().unwrap();
        assert_eq!(sysctl.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str), Some("0"));
        assert!(!sysctl.contains_key("kernel.panic"), "a node-wide sysctl is not the pod's");
    }
}
