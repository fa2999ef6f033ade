//! TCP throughput pod-to-pod across two nodes (iperf3, needs root and the Debian
//! `iperf3` package): through shoal's overlay, through a kernel VXLAN link between the
//! same node namespaces, and over the plain underlay veths (routed, no encapsulation).
//! Prints Gbit/s and the p50 of small UDP round trips for each, and the overlay's share of
//! VXLAN's throughput and its added latency. Everything lives in the
//! namespaces of [`common::World`]; nothing in the machine's own namespace changes.
//!
//! `cargo bench -p overlay --bench overlay_throughput [-- SECONDS [VARIANT...]]`, where a
//! variant is one of the overlay's I/O modes (`per-packet`, `offload`, `offload-2q`; default: all).

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::UdpSocket;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Netns, Node, World};
use overlay::netns::netlink::in_netns;
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

/// What one path gave: throughput, and the p50 of small UDP round trips.
#[derive(Debug, Clone, Copy)]
struct Figures {
    gbits: f64,
    rtt_p50: Duration,
}

/// Throughput, then latency, from node 1's pod to node 2's.
fn measure(world: &World, seconds: u32) -> Result<Figures, String> {
    let gbits = iperf(world, seconds)?;
    let rtt_p50 = udp_rtt_p50(world, 500)?;
    Ok(Figures { gbits, rtt_p50 })
}

/// The median round trip of `n` 64-byte UDP datagrams, one at a time, from node 1's pod
/// to an echo in node 2's (std sockets made inside the pods' namespaces).
fn udp_rtt_p50(world: &World, n: usize) -> Result<Duration, String> {
    let (n1, n2) = (&world.nodes[0], &world.nodes[1]);
    let echo = in_netns(&n2.pod.path(), || UdpSocket::bind((n2.pod_ip, 0))).map_err(|e| format!("an echo socket: {e}"))?;
    let addr = echo.local_addr().map_err(|e| e.to_string())?;
    echo.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..n {
            let Ok((len, from)) = echo.recv_from(&mut buf) else { return };
            let _ = echo.send_to(&buf[..len], from);
        }
    });
    let client = in_netns(&n1.pod.path(), || UdpSocket::bind((n1.pod_ip, 0))).map_err(|e| format!("a client socket: {e}"))?;
    client.set_read_timeout(Some(Duration::from_secs(1))).map_err(|e| e.to_string())?;
    let mut rtts = Vec::with_capacity(n);
    let mut buf = [0u8; 64];
    for i in 0..n {
        let t = Instant::now();
        client.send_to(&(i as u64).to_be_bytes(), addr).map_err(|e| e.to_string())?;
        if client.recv(&mut buf).is_ok() {
            rtts.push(t.elapsed());
        }
    }
    let _ = echo.join();
    rtts.sort();
    rtts.get(rtts.len() / 2).copied().ok_or_else(|| "no echo came back".to_string())
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

/// A link's packets and average packet size each way (a GSO/GRO packet counts once, so
/// the averages are the superpackets' sizes), and its drops.
fn link_stats(ns: &Netns, dev: &str) -> String {
    let out = ns.ip(&["-s", "-j", "link", "show", dev]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let way = |w: &str| {
        let s = &json[0]["stats64"][w];
        let (p, b, d) = (s["packets"].as_u64().unwrap_or(0), s["bytes"].as_u64().unwrap_or(0), s["dropped"].as_u64().unwrap_or(0));
        format!("{w} {p} × {} B, {d} dropped", b.checked_div(p).unwrap_or(0))
    };
    format!("{} / {}", way("rx"), way("tx"))
}

/// Routes each node's peer subnet through `via(peer)` on `dev`, runs iperf3, removes them.
fn routed(world: &World, seconds: u32, dev: &str, via: impl Fn(usize) -> String) -> Result<Figures, String> {
    for (i, n) in world.nodes.iter().enumerate() {
        let peer = &world.nodes[1 - i];
        n.ns.ip(&["route", "add", &peer.subnet.to_string(), "via", &via(1 - i), "dev", dev]);
    }
    let r = measure(world, seconds);
    for (i, n) in world.nodes.iter().enumerate() {
        let _ = common::ip(&["-n", &n.ns.name, "route", "del", &world.nodes[1 - i].subnet.to_string()]);
    }
    r
}

fn vxlan(world: &World, seconds: u32) -> Result<Figures, String> {
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

fn overlay(world: &World, seconds: u32, options: ShellOptions) -> Result<Figures, String> {
    let workers = std::env::var("OVERLAY_BENCH_WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(1);
    let o1 = world.start_overlay(0, options, workers);
    let o2 = world.start_overlay(1, options, workers);
    let r = measure(world, seconds);
    let (s1, s2) = (o1.metrics.snapshot(), o2.metrics.snapshot());
    eprintln!("  node 1: {s1:?}\n  node 2: {s2:?}");
    for n in &world.nodes {
        let (tun, eth) = (link_stats(&n.ns, overlay::tunnel::shell::DEFAULT_DEVICE), link_stats(&n.ns, "eth0"));
        eprintln!("  {}: TUN {tun}; underlay eth0 {eth}", n.name);
    }
    o1.stop()?;
    o2.stop()?;
    r
}

fn variants() -> Vec<(&'static str, ShellOptions)> {
    vec![("per-packet", ShellOptions::per_packet()), ("offload", ShellOptions::default()), ("offload-2q", ShellOptions { queues: 2, offload: true })]
}

fn median<T: Copy>(mut v: Vec<T>, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) -> Option<T> {
    v.sort_by(cmp);
    v.get(v.len() / 2).copied()
}

/// The medians of the rounds that worked (throughput, latency), and every round.
fn summary(runs: &[Result<Figures, String>]) -> (Option<f64>, Option<Duration>, String) {
    let ok: Vec<Figures> = runs.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let gbits = median(ok.iter().map(|f| f.gbits).collect(), f64::total_cmp);
    let rtt = median(ok.iter().map(|f| f.rtt_p50).collect(), Duration::cmp);
    let all = runs
        .iter()
        .map(|r| r.as_ref().map_or_else(|e| format!("failed ({e})"), |f| format!("{:.2} Gbit/s {:.0} µs", f.gbits, f.rtt_p50.as_secs_f64() * 1e6)))
        .collect::<Vec<_>>()
        .join(", ");
    (gbits, rtt, all)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let seconds: u32 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let wanted: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let rounds: usize = std::env::var("OVERLAY_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let variants: Vec<(&str, ShellOptions)> = variants().into_iter().filter(|(n, _)| wanted.is_empty() || wanted.contains(n)).collect();
    let world = World::new(2);
    let mut figures: Vec<(String, Vec<Result<Figures, String>>)> = vec![("plain veth (routed)".into(), vec![]), ("kernel VXLAN".into(), vec![])];
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
    println!("pod to pod across two nodes: TCP (iperf3 -t {seconds}) and UDP round trip p50; median of {rounds} rounds (every round):");
    let (vx_gbits, vx_rtt, _) = summary(&figures[1].1);
    for (name, runs) in &figures {
        let (gbits, rtt, all) = summary(runs);
        let share = match (gbits, vx_gbits, rtt, vx_rtt) {
            (Some(g), Some(v), Some(r), Some(vr)) if name.starts_with("shoal") => {
                format!("  {:.0}% of VXLAN, {:+.0} µs", 100.0 * g / v, (r.as_secs_f64() - vr.as_secs_f64()) * 1e6)
            }
            _ => String::new(),
        };
        let g = gbits.map_or("-".into(), |g| format!("{g:.2}"));
        let r = rtt.map_or("-".into(), |r| format!("{:.0}", r.as_secs_f64() * 1e6));
        println!("{name:<28} {g:>6} Gbit/s {r:>5} µs{share}   ({all})");
    }
}
