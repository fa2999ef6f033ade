//! `shoal node`: a node-host. Only `--simulate` exists until the data-plane issues land.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anyhow::{anyhow, Context, Result};

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

/// Runs until SIGTERM/SIGINT ends the process.
pub fn run(o: NodeOptions<'_>) -> Result<()> {
    if !o.simulate {
        eprintln!("real nodes arrive with the data-plane issues; use --simulate");
        std::process::exit(2);
    }
    let mut sim = node_host::SimOptions {
        server: o.server.to_string(),
        names: node_names(o.name, o.count),
        lease_seconds: o.lease_seconds.max(1),
        labels: parse_labels(o.labels)?,
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

#[cfg(test)]
mod tests {
    use super::*;

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
