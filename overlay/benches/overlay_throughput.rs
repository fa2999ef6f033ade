//! TCP throughput pod-to-pod across two nodes (iperf3, needs root and the Debian
//! `iperf3` package): through shoal's overlay, through a kernel VXLAN link between the
//! same node namespaces, and over the plain underlay veths (routed, no encapsulation).
//! Prints Gbit/s for each and the overlay's share of VXLAN. Everything lives in the
//! namespaces of [`common::World`]; nothing in the machine's own namespace changes.
//!
//! `cargo bench -p overlay --bench overlay_throughput [-- SECONDS [VARIANT...]]`, where a
//! variant is one of the overlay's I/O modes (`per-packet`, `offload`, `offload-2q`; default: all).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::{Netns, Node, World};
use overlay::tunnel::shell::ShellOptions;

/// An iperf3 server in a pod, killed on drop.
struct Server(Child);

impl Server {
    fn start(pod: &Netns, node: &Node) -> Self {
        let child = pod
            .exec("iperf3", &["-s", "-1", "-B", &node.pod_ip.to_string(), "-p", "5201"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running iperf3 (apt-get install iperf3)");
        std::thread::sleep(Duration::from_millis(300));
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One iperf3 run from node 1's pod to node 2's; Gbit/s received.
fn iperf(world: &World, seconds: u32) -> Result<f64, String> {
    let (n1, n2) = (&world.nodes[0], &world.nodes[1]);
    let _server = Server::start(&n2.pod, n2);
    let out = n1
        .pod
        .exec("iperf3", &["-c", &n2.pod_ip.to_string(), "-p", "5201", "-t", &seconds.to_string(), "-J", "--connect-timeout", "3000"])
        .output()
        .map_err(|e| format!("running iperf3: {e}"))?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("iperf3's output: {e}: {}", String::from_utf8_lossy(&out.stdout)))?;
    if let Some(err) = json.get("error") {
        return Err(format!("iperf3: {err}"));
    }
    let retransmits = json.pointer("/end/sum_sent/retransmits").and_then(|v| v.as_u64()).unwrap_or(0);
    eprintln!("  retransmits: {retransmits}; node 2 {}", udp_errors(&n2.ns));
    json.pointer("/end/sum_received/bits_per_second").and_then(|v| v.as_f64()).map(|b| b / 1e9).ok_or_else(|| "no sum_received in iperf3's output".to_string())
}

/// The UDP counters of a namespace (`/proc/net/snmp`): receive buffer errors mean drops.
fn udp_errors(ns: &Netns) -> String {
    let out = ns.exec("cat", &["/proc/net/snmp"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let udp: Vec<&str> = out.lines().filter(|l| l.starts_with("Udp:")).collect();
    match udp.as_slice() {
        [names, values, ..] => names.split_whitespace().zip(values.split_whitespace()).filter(|(n, _)| n.contains("Errors")).map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

/// Routes each node's peer subnet through `via(peer)` on `dev`, runs iperf3, removes them.
fn routed(world: &World, seconds: u32, dev: &str, via: impl Fn(usize) -> String) -> Result<f64, String> {
    for (i, n) in world.nodes.iter().enumerate() {
        let peer = &world.nodes[1 - i];
        n.ns.ip(&["route", "add", &peer.subnet.to_string(), "via", &via(1 - i), "dev", dev]);
    }
    let r = iperf(world, seconds);
    for (i, n) in world.nodes.iter().enumerate() {
        let _ = common::ip(&["-n", &n.ns.name, "route", "del", &world.nodes[1 - i].subnet.to_string()]);
    }
    r
}

fn vxlan(world: &World, seconds: u32) -> Result<f64, String> {
    for (i, n) in world.nodes.iter().enumerate() {
        let peer = &world.nodes[1 - i];
        n.ns.ip(&["link", "add", "vx0", "type", "vxlan", "id", "42", "local", &n.underlay_ip.to_string(), "remote", &peer.underlay_ip.to_string(), "dstport", "4789", "dev", "eth0"]);
        n.ns.ip(&["addr", "add", &format!("10.250.0.{}/24", i + 1), "dev", "vx0"]);
        n.ns.ip(&["link", "set", "vx0", "up"]);
    }
    let r = routed(world, seconds, "vx0", |peer| format!("10.250.0.{}", peer + 1));
    for n in &world.nodes {
        let _ = common::ip(&["-n", &n.ns.name, "link", "del", "vx0"]);
    }
    r
}

fn overlay(world: &World, seconds: u32, options: ShellOptions) -> Result<f64, String> {
    let workers = std::env::var("OVERLAY_BENCH_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(1);
    let o1 = world.start_overlay(0, options, workers);
    let o2 = world.start_overlay(1, options, workers);
    let r = iperf(world, seconds);
    let (s1, s2) = (o1.metrics.snapshot(), o2.metrics.snapshot());
    eprintln!("  node 1: {s1:?}\n  node 2: {s2:?}");
    o1.stop()?;
    o2.stop()?;
    r
}

fn variants() -> Vec<(&'static str, ShellOptions)> {
    vec![("per-packet", ShellOptions::per_packet()), ("offload", ShellOptions::default()), ("offload-2q", ShellOptions { queues: 2, offload: true })]
}

/// The median of the figures that were measured, and all of them.
fn summary(runs: &[Result<f64, String>]) -> (Option<f64>, String) {
    let mut ok: Vec<f64> = runs.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    ok.sort_by(f64::total_cmp);
    let all = runs.iter().map(|r| r.as_ref().map_or_else(|e| format!("failed ({e})"), |g| format!("{g:.2}"))).collect::<Vec<_>>().join(", ");
    (ok.get(ok.len() / 2).copied(), all)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let seconds: u32 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let wanted: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let rounds: usize = std::env::var("OVERLAY_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let variants: Vec<(&str, ShellOptions)> = variants().into_iter().filter(|(n, _)| wanted.is_empty() || wanted.contains(n)).collect();
    let world = World::new(2);
    let mut figures: Vec<(String, Vec<Result<f64, String>>)> = vec![("plain veth (routed)".into(), vec![]), ("kernel VXLAN".into(), vec![])];
    figures.extend(variants.iter().map(|(n, _)| (format!("shoal overlay ({n})"), vec![])));
    // Rounds interleave the paths, so a busy machine weighs on all of them alike.
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}");
        figures[0].1.push(routed(&world, seconds, "eth0", |peer| world.nodes[peer].underlay_ip.to_string()));
        figures[1].1.push(vxlan(&world, seconds));
        for (i, (_, options)) in variants.iter().enumerate() {
            figures[2 + i].1.push(overlay(&world, seconds, *options));
        }
    }
    println!("TCP pod to pod across two nodes, iperf3 -t {seconds}, median of {rounds} rounds (all rounds):");
    let vxlan = summary(&figures[1].1).0;
    for (name, runs) in &figures {
        let (median, all) = summary(runs);
        let share = match (median, vxlan) {
            (Some(m), Some(v)) if name.starts_with("shoal") => format!("  {:.0}% of VXLAN", 100.0 * m / v),
            _ => String::new(),
        };
        println!("{name:<28} {:>7} Gbit/s{share}   ({all})", median.map_or("-".into(), |m| format!("{m:.2}")));
    }
}
