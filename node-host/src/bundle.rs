//! Pure: a pod's container, its image and what the node prepared for it (rootfs,
//! mounts, environment, sandbox namespaces, cgroup) → the OCI runtime spec that
//! libcontainer runs. No I/O here, so that every field can be table-tested.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec,
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
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Neither the pod nor the image says what to run (upstream: "no command specified").
    #[error("no command specified")]
    NoCommand,
    #[error("{0}")]
    Spec(String),
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

/// The OCI spec of one container of the pod.
pub fn container_spec(i: &BundleInput<'_>) -> Result<Spec, BundleError> {
    let args = argv(i.container, i.image);
    if args.is_empty() {
        return Err(BundleError::NoCommand);
    }
    let cwd = i.container.working_dir.clone().or_else(|| i.image.working_dir.clone()).filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    let process = ProcessBuilder::default().args(args).env(environment(i.image, i.env)).cwd(cwd).build().map_err(spec_err)?;
    let mut spec = Spec::default();
    spec.set_hostname(None);
    spec.set_process(Some(process));
    spec.set_root(Some(RootBuilder::default().path(i.rootfs).readonly(false).build().map_err(spec_err)?));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for m in i.mounts {
        mounts.push(oci_mount(m)?);
    }
    spec.set_mounts(Some(mounts));
    let base = spec.linux().clone().unwrap_or_else(|| LinuxBuilder::default().build().unwrap_or_default());
    let mut linux = base;
    linux.set_namespaces(Some(vec![
        namespace(LinuxNamespaceType::Pid, None)?,
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Network, Some(&i.sandbox.netns))?,
        namespace(LinuxNamespaceType::Ipc, Some(&i.sandbox.ipcns))?,
        namespace(LinuxNamespaceType::Uts, Some(&i.sandbox.utsns))?,
    ]));
    linux.set_cgroups_path(Some(i.cgroups_path.into()));
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
}
