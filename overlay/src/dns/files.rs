//! A pod's `/etc/hosts` and `/etc/resolv.conf`, as the kubelet and containerd write them
//! (kubelet `pkg/kubelet/kubelet_pods.go` `managedHostsFileContent`, `pkg/kubelet/network/dns/dns.go`
//! `GetPodDNS`; containerd's `parseDNSOptions` for the file's layout). Pure functions of
//! the pod, the node's own files and the cluster's DNS settings.

use std::net::{IpAddr, Ipv4Addr};

use api::model::Pod;

/// The default cluster domain (the kubelet's `--cluster-domain`).
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";
/// The default cluster DNS address: the 10th address of the default service range.
pub const DEFAULT_CLUSTER_DNS: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// Upstream's limits (`MaxDNSNameservers`, `MaxDNSSearchPathsExpanded`, `MaxDNSSearchListCharsExpanded`).
pub const MAX_NAMESERVERS: usize = 3;
pub const MAX_SEARCH_PATHS: usize = 32;
pub const MAX_SEARCH_CHARS: usize = 2048;
const MAX_DOMAIN_LEN: usize = 253;
const MAX_HOSTNAME_LEN: usize = 63;

const MANAGED_HEADER: &str = "# Kubernetes-managed hosts file.\n";
const MANAGED_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";

/// The cluster's DNS settings (the kubelet's `--cluster-dns` and `--cluster-domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    /// Nameservers of ClusterFirst pods (empty: ClusterFirst falls back to Default).
    pub servers: Vec<IpAddr>,
    /// The cluster domain (empty: no cluster search paths).
    pub domain: String,
}

impl Default for ClusterDns {
    fn default() -> Self {
        ClusterDns { servers: vec![IpAddr::V4(DEFAULT_CLUSTER_DNS)], domain: DEFAULT_CLUSTER_DOMAIN.into() }
    }
}

impl ClusterDns {
    /// The settings for a service range: its 10th address as the nameserver.
    pub fn for_service_range(network: Ipv4Addr, domain: &str) -> Self {
        ClusterDns { servers: vec![IpAddr::V4(Ipv4Addr::from(u32::from(network).wrapping_add(10)))], domain: domain.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("pod Hostname {0:?} is not a valid DNS label")]
    BadHostname(String),
    #[error("pod Subdomain {0:?} is not a valid DNS label")]
    BadSubdomain(String),
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_HOSTNAME_LEN
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Cuts a hostname to 63 characters, then drops trailing `-` and `.` (upstream's
/// `truncatePodHostnameIfNeeded`).
fn truncate_hostname(h: &str) -> String {
    if h.len() <= MAX_HOSTNAME_LEN {
        return h.to_string();
    }
    h[..MAX_HOSTNAME_LEN].trim_end_matches(['-', '.']).to_string()
}

/// The pod's hostname and, with a subdomain, its domain (`sub.ns.svc.cluster.local`):
/// `spec.hostnameOverride`, else `spec.hostname`, else the pod's name (cut to 63).
pub fn pod_hostname(pod: &Pod, cluster_domain: &str) -> Result<(String, Option<String>), DnsError> {
    let spec = &pod.spec;
    if let Some(o) = spec.hostname_override.as_deref().filter(|o| !o.is_empty()) {
        return Ok((o.to_string(), None));
    }
    let hostname = match spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        Some(h) if !is_dns_label(h) => return Err(DnsError::BadHostname(h.into())),
        Some(h) => h.to_string(),
        None => pod.metadata.name.clone(),
    };
    let domain = match spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
        Some(s) if !is_dns_label(s) => return Err(DnsError::BadSubdomain(s.into())),
        Some(s) => Some(format!("{s}.{}.svc.{cluster_domain}", pod.metadata.namespace.as_deref().unwrap_or("default"))),
        None => None,
    };
    Ok((truncate_hostname(&hostname), domain))
}

fn host_network(pod: &Pod) -> bool {
    pod.spec.host_network.unwrap_or(false)
}

fn host_alias_entries(pod: &Pod) -> String {
    if pod.spec.host_aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for a in &pod.spec.host_aliases {
        for h in &a.hostnames {
            out.push_str(&format!("{}\t{h}\n", a.ip));
        }
    }
    out
}

/// The pod's `/etc/hosts`. A hostNetwork pod gets the node's file (`node_hosts`) under a
/// header; any other pod the localhost lines and a line per pod IP with its hostname
/// (and FQDN when it has a subdomain). `hostAliases` are appended to both.
pub fn hosts_file(pod: &Pod, pod_ips: &[IpAddr], cluster_domain: &str, node_hosts: &str) -> Result<String, DnsError> {
    if host_network(pod) {
        return Ok(format!("{MANAGED_HEADER_HOST_NETWORK}{node_hosts}{}", host_alias_entries(pod)));
    }
    let (hostname, domain) = pod_hostname(pod, cluster_domain)?;
    let mut out = String::from(MANAGED_HEADER);
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        match &domain {
            Some(d) => out.push_str(&format!("{ip}\t{hostname}.{d}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&host_alias_entries(pod));
    Ok(out)
}

/// What a resolv.conf holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
    /// Upstream's `DNSConfigForming` warnings (limits exceeded), for a pod event.
    pub warnings: Vec<String>,
}

impl ResolvConf {
    /// Parses a resolv.conf as the kubelet does: nameservers accumulate, the last
    /// `search` and the last `options` line win, trailing dots of search paths go.
    pub fn parse(text: &str) -> ResolvConf {
        let mut r = ResolvConf::default();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => r.nameservers.extend(fields.next().map(str::to_string)),
                Some("search") => r.searches = fields.map(|s| s.trim_end_matches('.').to_string()).collect(),
                Some("options") => r.options = fields.map(str::to_string).collect(),
                _ => {}
            }
        }
        r
    }

    /// The file (containerd's layout: search, nameservers, options).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|s| seen.insert(s.clone())).collect()
}

/// Options merged as upstream's `mergeDNSOptions`: by name, the pod's `dnsConfig` wins
/// (kept in first-seen order, where upstream's map has none).
fn merge_options(existing: &[String], extra: &[api::model::PodDnsConfigOption]) -> Vec<String> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut put = |name: String, value: Option<String>| match out.iter_mut().find(|(n, _)| *n == name) {
        Some(e) => e.1 = value,
        None => out.push((name, value)),
    };
    for o in existing {
        match o.split_once(':') {
            Some((n, v)) => put(n.to_string(), Some(v.to_string())),
            None => put(o.clone(), None),
        }
    }
    for o in extra {
        put(o.name.clone().unwrap_or_default(), o.value.clone());
    }
    out.into_iter().map(|(n, v)| match v.filter(|v| !v.is_empty()) {
        Some(v) => format!("{n}:{v}"),
        None => n,
    })
    .collect()
}

fn fit_limits(mut r: ResolvConf) -> ResolvConf {
    if r.nameservers.len() > MAX_NAMESERVERS {
        r.nameservers.truncate(MAX_NAMESERVERS);
        r.warnings.push(format!(
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
            r.nameservers.join(" ")
        ));
    }
    let mut exceeded = false;
    if r.searches.len() > MAX_SEARCH_PATHS {
        r.searches.truncate(MAX_SEARCH_PATHS);
        exceeded = true;
    }
    let before = r.searches.len();
    r.searches.retain(|s| s.len() <= MAX_DOMAIN_LEN);
    exceeded |= r.searches.len() != before;
    while r.searches.join(" ").len() > MAX_SEARCH_CHARS {
        r.searches.pop();
        exceeded = true;
    }
    if exceeded {
        r.warnings.push(format!(
            "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
            r.searches.join(" ")
        ));
    }
    r
}

/// The pod's resolv.conf from its `dnsPolicy` and `dnsConfig`:
/// - `ClusterFirst` (the default; `Default` for a hostNetwork pod) and
///   `ClusterFirstWithHostNet`: the cluster's nameservers, the search paths
///   `<ns>.svc.<domain> svc.<domain> <domain>` followed by the node's, `options ndots:5`;
/// - `Default`: the node's file (`node_resolv`; None: no resolver file, so
///   `nameserver 127.0.0.1` and `search .` as the kubelet does);
/// - `None`: only what `dnsConfig` says;
///
/// then `dnsConfig`'s nameservers, searches and options merged in, and upstream's limits.
pub fn resolv_conf(pod: &Pod, cluster: &ClusterDns, node_resolv: Option<&str>) -> ResolvConf {
    let host = node_resolv.map(ResolvConf::parse).unwrap_or_default();
    let policy = pod.spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let cluster_first = match policy {
        "None" => None,
        "ClusterFirstWithHostNet" => Some(true),
        "Default" => Some(false),
        // ClusterFirst, and what validation would have refused.
        _ => Some(!host_network(pod)),
    };
    let mut r = match cluster_first {
        None => ResolvConf::default(),
        Some(true) if !cluster.servers.is_empty() => {
            let mut searches = Vec::new();
            if !cluster.domain.is_empty() {
                let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
                searches = vec![format!("{ns}.svc.{}", cluster.domain), format!("svc.{}", cluster.domain), cluster.domain.clone()];
            }
            searches.extend(host.searches.iter().cloned());
            ResolvConf {
                nameservers: cluster.servers.iter().map(ToString::to_string).collect(),
                searches: dedup(searches),
                options: vec!["ndots:5".into()],
                warnings: Vec::new(),
            }
        }
        Some(_) if node_resolv.is_none() => ResolvConf { nameservers: vec!["127.0.0.1".into()], searches: vec![".".into()], ..Default::default() },
        Some(_) => host,
    };
    if let Some(c) = &pod.spec.dns_config {
        r.nameservers = dedup(r.nameservers.into_iter().chain(c.nameservers.iter().cloned()).collect());
        r.searches = dedup(r.searches.into_iter().chain(c.searches.iter().cloned()).collect());
        r.options = merge_options(&r.options, &c.options);
    }
    fit_limits(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{HostAlias, PodDnsConfig, PodDnsConfigOption};

    fn pod(name: &str, ns: &str, f: impl FnOnce(&mut Pod)) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = name.into();
        p.metadata.namespace = Some(ns.into());
        f(&mut p);
        p
    }

    const LOCAL: &str = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n";

    #[test]
    fn hosts_files_as_the_kubelet_writes_them() {
        let ip: Vec<IpAddr> = vec!["10.244.1.5".parse().unwrap()];
        let long = "a".repeat(62) + "-b";
        let aliases = vec![
            HostAlias { ip: "10.1.2.3".into(), hostnames: vec!["foo.local".into(), "bar.local".into()] },
            HostAlias { ip: "10.1.2.4".into(), hostnames: vec!["baz".into()] },
        ];
        let cases: Vec<(&str, Pod, &[IpAddr], String)> = vec![
            ("the pod's name", pod("web-1", "default", |_| {}), &ip, format!("{LOCAL}10.244.1.5\tweb-1\n")),
            ("spec.hostname", pod("web-1", "default", |p| p.spec.hostname = Some("box".into())), &ip, format!("{LOCAL}10.244.1.5\tbox\n")),
            (
                "hostname and subdomain: the FQDN",
                pod("web-1", "shop", |p| {
                    p.spec.hostname = Some("box".into());
                    p.spec.subdomain = Some("sub".into());
                }),
                &ip,
                format!("{LOCAL}10.244.1.5\tbox.sub.shop.svc.cluster.local\tbox\n"),
            ),
            ("a long name is cut to 63 without a trailing dash", pod(&long, "default", |_| {}), &ip, format!("{LOCAL}10.244.1.5\t{}\n", "a".repeat(62))),
            ("no IP yet", pod("web-1", "default", |_| {}), &[], LOCAL.to_string()),
            (
                "hostAliases",
                pod("web-1", "default", |p| p.spec.host_aliases = aliases.clone()),
                &ip,
                format!("{LOCAL}10.244.1.5\tweb-1\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\n10.1.2.3\tbar.local\n10.1.2.4\tbaz\n"),
            ),
            (
                "hostNetwork: the node's file",
                pod("web-1", "default", |p| {
                    p.spec.host_network = Some(true);
                    p.spec.host_aliases = vec![aliases[1].clone()];
                }),
                &ip,
                "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost node\n\n# Entries added by HostAliases.\n10.1.2.4\tbaz\n".to_string(),
            ),
        ];
        for (what, p, ips, want) in cases {
            assert_eq!(hosts_file(&p, ips, "cluster.local", "127.0.0.1 localhost node\n").unwrap(), want, "{what}");
        }
        let bad = pod("web-1", "default", |p| p.spec.hostname = Some("Not_A_Label".into()));
        assert_eq!(hosts_file(&bad, &ip, "cluster.local", ""), Err(DnsError::BadHostname("Not_A_Label".into())));
    }

    const NODE_RESOLV: &str = "# generated\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example. example.com\noptions timeout:2 attempts:3\n";

    fn opt(name: &str, value: Option<&str>) -> PodDnsConfigOption {
        PodDnsConfigOption { name: Some(name.into()), value: value.map(str::to_string) }
    }

    #[test]
    fn resolv_conf_follows_the_dns_policy_and_merges_dns_config() {
        let cluster = ClusterDns::default();
        let cases: Vec<(&str, Pod, Option<&str>, &str)> = vec![
            (
                "ClusterFirst (the default)",
                pod("p", "shop", |_| {}),
                Some(NODE_RESOLV),
                "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example example.com\nnameserver 10.96.0.10\noptions ndots:5\n",
            ),
            ("Default: the node's file", pod("p", "shop", |p| p.spec.dns_policy = Some("Default".into())), Some(NODE_RESOLV),
             "search corp.example example.com\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:2 attempts:3\n"),
            ("Default without a node file", pod("p", "shop", |p| p.spec.dns_policy = Some("Default".into())), None, "search .\nnameserver 127.0.0.1\n"),
            ("ClusterFirst on the host network is Default", pod("p", "shop", |p| p.spec.host_network = Some(true)), Some("nameserver 192.0.2.53\n"), "nameserver 192.0.2.53\n"),
            (
                "ClusterFirstWithHostNet",
                pod("p", "shop", |p| {
                    p.spec.host_network = Some(true);
                    p.spec.dns_policy = Some("ClusterFirstWithHostNet".into());
                }),
                Some(""),
                "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
            ),
            (
                "None: only dnsConfig",
                pod("p", "shop", |p| {
                    p.spec.dns_policy = Some("None".into());
                    p.spec.dns_config = Some(Box::new(PodDnsConfig {
                        nameservers: vec!["1.1.1.1".into()],
                        searches: vec!["a.example".into()],
                        options: vec![opt("ndots", Some("2")), opt("edns0", None)],
                    }));
                }),
                Some(NODE_RESOLV),
                "search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n",
            ),
            (
                "ClusterFirst merged with dnsConfig (duplicates once, the pod's options win)",
                pod("p", "shop", |p| {
                    p.spec.dns_config = Some(Box::new(PodDnsConfig {
                        nameservers: vec!["10.96.0.10".into(), "1.1.1.1".into()],
                        searches: vec!["cluster.local".into(), "b.example".into()],
                        options: vec![opt("ndots", Some("1")), opt("single-request", None)],
                    }));
                }),
                Some(""),
                "search shop.svc.cluster.local svc.cluster.local cluster.local b.example\nnameserver 10.96.0.10\nnameserver 1.1.1.1\noptions ndots:1 single-request\n",
            ),
        ];
        for (what, p, node, want) in cases {
            let r = resolv_conf(&p, &cluster, node);
            assert_eq!(r.render(), want, "{what}");
            assert!(r.warnings.is_empty(), "{what}: {:?}", r.warnings);
        }
    }

    #[test]
    fn resolv_conf_limits_warn_as_upstream() {
        let p = pod("p", "shop", |p| {
            p.spec.dns_policy = Some("None".into());
            p.spec.dns_config = Some(Box::new(PodDnsConfig {
                nameservers: vec!["1.1.1.1".into(), "1.1.1.2".into(), "1.1.1.3".into(), "1.1.1.4".into()],
                searches: (0..40).map(|i| format!("s{i}.example")).collect(),
                options: vec![],
            }));
        });
        let r = resolv_conf(&p, &ClusterDns::default(), None);
        assert_eq!(r.nameservers.len(), 3);
        assert_eq!(r.searches.len(), 32);
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings[0].starts_with("Nameserver limits were exceeded"), "{:?}", r.warnings);
        assert!(r.warnings[1].starts_with("Search Line limits were exceeded"), "{:?}", r.warnings);
    }

    #[test]
    fn cluster_dns_defaults_to_the_tenth_service_address() {
        assert_eq!(ClusterDns::default().servers, vec![IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10))]);
        assert_eq!(ClusterDns::for_service_range(Ipv4Addr::new(10, 100, 0, 0), "k.local").servers, vec![IpAddr::V4(Ipv4Addr::new(10, 100, 0, 10))]);
    }
}
