//! `shoal node`: a node-host — a real one (containers through libcontainer, as root) or
//! simulated ones (`--simulate`, like kwok). `shoal up` runs a real one through
//! [`spawn_local`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};

pub struct NodeOptions<'a> {
    pub server: &'a str,
    pub name: &'a str,
    pub node_ip: Option<Ipv4Addr>,
    pub simulate: bool,
    pub count: Option<u32>,
    pub lease_seconds: u64,
    pub cpu: &'a str,
    pub memory: &'a str,
    pub pods: &'a str,
    pub labels: &'a [String],
    /// Where a real node keeps its state (default /var/lib/shoal/NAME).
    pub root_dir: Option<PathBuf>,
    /// The port of a real node's server (logs, exec, attach, port-forward).
    pub kubelet_port: u16,
    /// Seconds between usage reports.
    pub usage_interval: f64,
}

fn usage_interval(secs: f64) -> Result<std::time::Duration> {
    if !(secs.is_finite() && secs >= 0.1) {
        bail!("--usage-interval must be at least 0.1 seconds, not {secs}");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `NAME`, or `NAME-0` … `NAME-{count-1}` with `--count`.
pub fn node_names(name: &str, count: Option<u32>) -> Vec<String> {
    match count {
        None => vec![name.to_string()],
        Some(n) => (0..n).map(|i| format!("{name}-{i}")).collect(),
    }
}

fn parse_labels(labels: &[String]) -> Result<BTreeMap<String, String>> {
    labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("--label {l:?}: expected KEY=VALUE"))
        })
        .collect()
}

/// Says what the machine lacks for running containers, as one error.
pub fn check_privileges() -> Result<()> {
    let missing = super::privileges::missing();
    if missing.is_empty() {
        return Ok(());
    }
    bail!("this machine cannot run containers: {}", missing.join("; "))
}

/// The address this machine uses to reach `server` (no packet is sent): the node's
/// InternalIP when none is given.
fn address_towards(server: &str) -> Result<Ipv4Addr> {
    let (host, port) = host_port(server).ok_or_else(|| anyhow!("--server {server:?} is not http(s)://HOST[:PORT]"))?;
    let target = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .with_context(|| format!("resolving {host}"))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| anyhow!("{host} has no IPv4 address"))?;
    let sock = std::net::UdpSocket::bind("0.0.0.0:0")?;
    sock.connect(target)?;
    match sock.local_addr()?.ip() {
        IpAddr::V4(ip) => Ok(ip),
        IpAddr::V6(_) => bail!("no IPv4 route towards {host}"),
    }
}

/// `http://HOST:PORT/…` → (HOST, PORT), with the scheme's default port.
fn host_port(url: &str) -> Option<(String, u16)> {
    let (default, rest) = match url.split_once("://")? {
        ("http", r) => (80, r),
        ("https", r) => (443, r),
        _ => return None,
    };
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().ok()?),
        _ => (authority, default),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_string(), port))
}

fn agent_options(server: &str, name: &str, node_ip: Ipv4Addr, root_dir: PathBuf, kubelet_port: u16) -> node_host::AgentOptions {
    // Absolute: pod paths (volumes, logs) derive from it and outlive the working directory.
    let root_dir = std::path::absolute(&root_dir).unwrap_or(root_dir);
    let mut a = node_host::AgentOptions::new(server, name, node_ip, root_dir.clone());
    a.local_path_base = Some(root_dir.join("local-path"));
    a.serve = true;
    a.kubelet_port = kubelet_port;
    a
}

/// Runs a real node on a thread of its own until `stop` fires; the thread ends with it.
pub fn spawn_local(
    node: super::cluster::LocalNode,
    server: &str,
    listen_ip: IpAddr,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<std::thread::JoinHandle<()>> {
    let node_ip = match listen_ip {
        IpAddr::V4(ip) if !ip.is_unspecified() => ip,
        _ => Ipv4Addr::LOCALHOST,
    };
    let opts = node_host::HostOptions::new(agent_options(server, &node.name, node_ip, node.root_dir, node.kubelet_port));
    let zygote = node.zygote;
    std::thread::Builder::new()
        .name("node".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            let stop = async move {
                let _ = stop.await;
            };
            if let Err(e) = system.block_on(node_host::run_host(opts, zygote, stop)) {
                tracing::error!(error = %format!("{:#}", anyhow::Error::from(e)), "the node stopped");
            }
        })
        .context("starting the node's thread")
}

/// Runs until SIGTERM/SIGINT ends the process.
pub fn run(o: NodeOptions<'_>, zygote: Option<node_host::runtime::Zygote>) -> Result<()> {
    if !o.simulate {
        return run_real(o, zygote);
    }
    let mut sim = node_host::SimOptions {
        server: o.server.to_string(),
        names: node_names(o.name, o.count),
        lease_seconds: o.lease_seconds.max(1),
        labels: parse_labels(o.labels)?,
        usage_interval: usage_interval(o.usage_interval)?,
        ..Default::default()
    };
    if let Some(ip) = o.node_ip {
        sim.node_ip_base = ip;
    }
    sim.capacity.insert("cpu".into(), o.cpu.to_string());
    sim.capacity.insert("memory".into(), o.memory.to_string());
    sim.capacity.insert("pods".into(), o.pods.to_string());
    for (k, v) in &sim.capacity {
        api::model::Quantity::parse(v).map_err(|e| anyhow!("--{k} {v:?}: {e}"))?;
    }
    println!("simulating {} node(s) against {}: {}", sim.names.len(), sim.server, sim.names.join(", "));
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(node_host::run_simulated(sim)).context("running simulated nodes")
}

fn run_real(o: NodeOptions<'_>, zygote: Option<node_host::runtime::Zygote>) -> Result<()> {
    if o.count.is_some() {
        bail!("--count needs --simulate: one process runs one real node");
    }
    if let Err(e) = check_privileges() {
        bail!("{e:#}; use --simulate for nodes without containers");
    }
    let zygote = zygote.ok_or_else(|| anyhow!("the container runtime's helper did not start"))?;
    let node_ip = match o.node_ip {
        Some(ip) => ip,
        None => address_towards(o.server)?,
    };
    let root = o.root_dir.clone().unwrap_or_else(|| PathBuf::from("/var/lib/shoal").join(o.name));
    let mut agent = agent_options(o.server, o.name, node_ip, root, o.kubelet_port);
    agent.lease_seconds = o.lease_seconds.max(1);
    agent.labels = parse_labels(o.labels)?;
    agent.usage_interval = usage_interval(o.usage_interval)?;
    println!("node {} ({node_ip}) joining {}", o.name, o.server);
    let system = actix_rt::System::new();
    system.block_on(node_host::run_host(node_host::HostOptions::new(agent), zygote, super::cluster::shutdown_signal())).context("running the node")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_give_host_and_port() {
        assert_eq!(host_port("http://127.0.0.1:6443"), Some(("127.0.0.1".into(), 6443)));
        assert_eq!(host_port("https://api.example/x"), Some(("api.example".into(), 443)));
        assert_eq!(host_port("ftp://x"), None);
        assert_eq!(host_port("127.0.0.1:6443"), None);
    }

    #[test]
    fn count_numbers_the_names() {
        assert_eq!(node_names("sim", None), ["sim"]);
        assert_eq!(node_names("sim", Some(2)), ["sim-0", "sim-1"]);
    }

    #[test]
    fn labels_must_be_key_value() {
        assert_eq!(parse_labels(&["zone=a".into()]).unwrap(), BTreeMap::from([("zone".into(), "a".into())]));
        assert!(parse_labels(&["zone".into()]).is_err());
    }
}
