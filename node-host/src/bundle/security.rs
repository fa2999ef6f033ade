//! A container's security settings as the OCI spec takes them: the user (pod and
//! container `securityContext`, else the image's `User`, names resolved from the
//! image's `/etc/passwd` and `/etc/group`), the `runAsNonRoot` check, capabilities
//! (containerd's default set, then drop, then add; all of them when privileged), and
//! whether privilege escalation is allowed.

use api::model::{Capabilities, Container, Pod, PodSecurityContext, SecurityContext};

use super::BundleError;

/// containerd's (and Docker's) default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux knows (what a privileged container gets).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
    "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/// The process's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// The container's setting, else the pod's.
fn pick<T: Copy>(c: Option<&SecurityContext>, p: Option<&PodSecurityContext>, fc: impl Fn(&SecurityContext) -> Option<T>, fp: impl Fn(&PodSecurityContext) -> Option<T>) -> Option<T> {
    c.and_then(fc).or_else(|| p.and_then(fp))
}

pub fn contexts<'a>(pod: &'a Pod, c: &'a Container) -> (Option<&'a SecurityContext>, Option<&'a PodSecurityContext>) {
    (c.security_context.as_deref(), pod.spec.security_context.as_deref())
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

fn passwd_entries(passwd: &str) -> Vec<PasswdEntry> {
    passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry { name: f.first()?.to_string(), uid: f.get(2)?.parse().ok()?, gid: f.get(3)?.parse().ok()? })
        })
        .collect()
}

/// (name, gid, members) of each `/etc/group` line.
fn group_entries(group: &str) -> Vec<(String, u32, Vec<String>)> {
    group
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect()
}

/// The user and group a container runs as, and its supplementary groups, as runc
/// resolves them: numeric ids as given, names from the image's files; a uid without a
/// group takes its passwd entry's group (else 0); the user's groups in `/etc/group`,
/// then `supplementalGroups` and `fsGroup`, are supplementary.
pub fn user(pod: &Pod, c: &Container, image_user: Option<&str>, passwd: Option<&str>, group: Option<&str>) -> Result<ProcessUser, BundleError> {
    let (csc, psc) = contexts(pod, c);
    let run_as_user = pick(csc, psc, |s| s.run_as_user, |s| s.run_as_user);
    let run_as_group = pick(csc, psc, |s| s.run_as_group, |s| s.run_as_group);
    let non_root = pick(csc, psc, |s| s.run_as_non_root, |s| s.run_as_non_root).unwrap_or(false);
    let users = passwd.map(passwd_entries).unwrap_or_default();
    let groups = group.map(group_entries).unwrap_or_default();
    let image_user = image_user.filter(|u| !u.is_empty());
    let (user_part, group_part) = match image_user {
        Some(u) => match u.split_once(':') {
            Some((a, b)) => (Some(a), Some(b)),
            None => (Some(u), None),
        },
        None => (None, None),
    };
    let id = |v: i64| u32::try_from(v).map_err(|_| BundleError::Spec(format!("invalid user or group id {v}")));
    let mut name: Option<String> = None;
    let uid = match run_as_user {
        Some(u) => id(u)?,
        None => match user_part {
            None => 0,
            Some(u) => match u.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    if non_root {
                        return Err(BundleError::Config(format!("container has runAsNonRoot and image has non-numeric user ({u}), cannot verify user is non-root")));
                    }
                    let e = users.iter().find(|e| e.name == u).ok_or_else(|| BundleError::Config(format!("unable to find user {u}: no matching entries in passwd file")))?;
                    name = Some(e.name.clone());
                    e.uid
                }
            },
        },
    };
    if non_root && uid == 0 {
        return Err(BundleError::Config(match run_as_user {
            Some(_) => "container's runAsUser breaks non-root policy".into(),
            None => "container has runAsNonRoot and image will run as root".into(),
        }));
    }
    let entry = users.iter().find(|e| e.uid == uid);
    if name.is_none() {
        name = entry.map(|e| e.name.clone());
    }
    let gid = match run_as_group {
        Some(g) => id(g)?,
        None => match group_part.filter(|_| run_as_user.is_none()) {
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => groups.iter().find(|(n, _, _)| n == g).map(|(_, gid, _)| *gid).ok_or_else(|| BundleError::Config(format!("unable to find group {g}: no matching entries in group file")))?,
            },
            None => entry.map(|e| e.gid).unwrap_or(0),
        },
    };
    let mut additional: Vec<u32> = Vec::new();
    if let Some(n) = &name {
        additional.extend(groups.iter().filter(|(_, g, m)| *g != gid && m.iter().any(|x| x == n)).map(|(_, g, _)| *g));
    }
    if let Some(p) = psc {
        for g in &p.supplemental_groups {
            additional.push(id(*g)?);
        }
        if let Some(fs) = p.fs_group {
            additional.push(id(fs)?);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    additional.retain(|g| seen.insert(*g));
    Ok(ProcessUser { uid, gid, additional_gids: additional })
}

/// `CAP_X` for `X`, `x` or `CAP_X`; `ALL` stays `ALL`.
pub fn normalise_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// The capability set: privileged → all; else the default set, minus `drop` (`ALL`
/// drops everything), plus `add` (`ALL` adds everything), as containerd computes it.
pub fn capabilities(privileged: bool, caps: Option<&Capabilities>) -> Vec<String> {
    if privileged {
        return ALL_CAPS.iter().map(|c| c.to_string()).collect();
    }
    let add: Vec<String> = caps.map(|c| c.add.iter().map(|s| normalise_cap(s)).collect()).unwrap_or_default();
    let drop: Vec<String> = caps.map(|c| c.drop.iter().map(|s| normalise_cap(s)).collect()).unwrap_or_default();
    let mut out: Vec<String> = if drop.iter().any(|d| d == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).filter(|c| !drop.contains(c)).collect()
    };
    if add.iter().any(|a| a == "ALL") {
        return ALL_CAPS.iter().map(|c| c.to_string()).filter(|c| !drop.contains(c) || drop.iter().all(|d| d == "ALL")).collect();
    }
    for a in add {
        if !out.contains(&a) && !drop.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// `no_new_privs`: set unless privilege escalation is allowed. Allowed when the container
/// says so, and by default only when it is privileged or has `CAP_SYS_ADMIN` (the API
/// refuses `allowPrivilegeEscalation: false` for those). Upstream's kubelet leaves it
/// unset by default; a hardened default sets it.
pub fn no_new_privileges(sc: Option<&SecurityContext>, caps: &[String]) -> bool {
    match sc.and_then(|s| s.allow_privilege_escalation) {
        Some(allow) => !allow,
        None => {
            let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
            !(privileged || caps.iter().any(|c| c == "CAP_SYS_ADMIN"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nnobody:x:65534:65534::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,other\nnogroup:x:65534:\n";

    fn pod(psc: Option<PodSecurityContext>) -> Pod {
        let mut p = Pod::default();
        p.spec.security_context = psc.map(Box::new);
        p
    }

    fn container(sc: Option<SecurityContext>) -> Container {
        Container { name: "c".into(), security_context: sc.map(Box::new), ..Default::default() }
    }

    #[test]
    fn users_resolve_as_runc_does() {
        let user_sc = |u: i64| Some(SecurityContext { run_as_user: Some(u), ..Default::default() });
        type Case<'a> = (Option<PodSecurityContext>, Option<SecurityContext>, Option<&'a str>, Result<(u32, u32, Vec<u32>), &'a str>);
        let cases: Vec<Case> = vec![
            (None, None, None, Ok((0, 0, vec![]))),
            (None, None, Some("www"), Ok((33, 33, vec![50]))),
            (None, None, Some("33"), Ok((33, 33, vec![50]))),
            (None, None, Some("1000"), Ok((1000, 0, vec![]))),
            (None, None, Some("1000:www"), Ok((1000, 33, vec![]))),
            (None, None, Some("www:nogroup"), Ok((33, 65534, vec![50]))),
            (None, None, Some("ghost"), Err("unable to find user ghost")),
            (None, user_sc(7), Some("www"), Ok((7, 0, vec![]))),
            (Some(PodSecurityContext { run_as_user: Some(5), run_as_group: Some(6), supplemental_groups: vec![100, 101], fs_group: Some(2000), ..Default::default() }), None, None, Ok((5, 6, vec![100, 101, 2000]))),
            (Some(PodSecurityContext { run_as_user: Some(5), ..Default::default() }), user_sc(9), None, Ok((9, 0, vec![]))),
            (None, Some(SecurityContext { run_as_non_root: Some(true), ..Default::default() }), None, Err("image will run as root")),
            (None, Some(SecurityContext { run_as_non_root: Some(true), ..Default::default() }), Some("www"), Err("non-numeric user (www)")),
            (None, Some(SecurityContext { run_as_non_root: Some(true), run_as_user: Some(0), ..Default::default() }), None, Err("runAsUser breaks non-root policy")),
            (Some(PodSecurityContext { run_as_non_root: Some(true), ..Default::default() }), None, Some("1000"), Ok((1000, 0, vec![]))),
        ];
        for (psc, sc, image_user, want) in cases {
            let got = user(&pod(psc.clone()), &container(sc.clone()), image_user, Some(PASSWD), Some(GROUP));
            match (got, want) {
                (Ok(u), Ok((uid, gid, extra))) => assert_eq!((u.uid, u.gid, u.additional_gids), (uid, gid, extra), "{psc:?} {sc:?} {image_user:?}"),
                (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{e} vs {msg}"),
                (got, want) => panic!("{psc:?} {sc:?} {image_user:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn capabilities_drop_then_add_from_the_default_set() {
        let caps = |add: &[&str], drop: &[&str]| Capabilities { add: add.iter().map(|s| s.to_string()).collect(), drop: drop.iter().map(|s| s.to_string()).collect() };
        assert_eq!(capabilities(false, None).len(), DEFAULT_CAPS.len());
        let c = capabilities(false, Some(&caps(&["NET_ADMIN"], &["CHOWN", "cap_kill"])));
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()) && !c.contains(&"CAP_CHOWN".to_string()) && !c.contains(&"CAP_KILL".to_string()));
        assert_eq!(capabilities(false, Some(&caps(&["NET_BIND_SERVICE"], &["ALL"]))), vec!["CAP_NET_BIND_SERVICE"]);
        assert_eq!(capabilities(false, Some(&caps(&["ALL"], &[]))).len(), ALL_CAPS.len());
        assert_eq!(capabilities(true, Some(&caps(&[], &["ALL"]))).len(), ALL_CAPS.len());
    }

    #[test]
    fn no_new_privs_unless_escalation_is_allowed() {
        let sc = |allow: Option<bool>, privileged: Option<bool>| SecurityContext { allow_privilege_escalation: allow, privileged, ..Default::default() };
        let default_caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
        assert!(no_new_privileges(None, &default_caps));
        assert!(no_new_privileges(Some(&sc(Some(false), None)), &default_caps));
        assert!(!no_new_privileges(Some(&sc(Some(true), None)), &default_caps));
        assert!(!no_new_privileges(Some(&sc(None, Some(true))), &default_caps));
        assert!(!no_new_privileges(None, &["CAP_SYS_ADMIN".to_string()]));
    }
}
