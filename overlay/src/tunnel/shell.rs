//! The overlay's I/O, kept thin around [`Tunnel`]: the TUN device (tun-rs), its address
//! and the route of the cluster CIDR into it (rtnetlink, [`crate::netns::netlink`]), one
//! UDP socket per queue, and the two directions — TUN → core → UDP and UDP → core → TUN:
//! batched with the kernel's offloads on two threads per queue ([`super::offload`], the
//! default), or two tokio tasks doing one read and one send per packet. Everything lives
//! in the network namespace of the thread that calls [`OverlayShell::start`] (a node's);
//! [`OverlayShell::stop`] removes the route and the device.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};

use nix::sys::eventfd::{EfdFlags, EventFd};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tun_rs::{AsyncDevice, DeviceBuilder, SyncDevice};

use super::core::{Action, Peer, PeerError, Tunnel, DEFAULT_PORT, ENCAP_OVERHEAD};
use super::metrics::Metrics;
use super::offload;
use crate::ipam::Subnet;
use crate::netns::netlink::Netlink;
use crate::netns::sysctl;

/// The TUN device's default name.
pub const DEFAULT_DEVICE: &str = "shoal-tun0";
/// The largest IP packet a TUN read or a datagram can hold.
const MAX_PACKET: usize = 65_535;
/// Socket buffers asked for (the machine's `rmem_max`/`wmem_max` cap them; forcing them
/// past it, and a longer TUN queue, measured no better: nothing was dropped before).
const SOCKET_BUFFER: usize = 4 << 20;

/// How one node's overlay is set up.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// The TUN device's name ([`DEFAULT_DEVICE`]).
    pub device: String,
    /// The cluster's pod CIDR, routed into the TUN (this node's subnet is more specific
    /// and stays on the bridge).
    pub cluster: Subnet,
    /// This node's pod subnet.
    pub own: Subnet,
    /// Where the UDP socket listens (the node's underlay address; port [`DEFAULT_PORT`]).
    pub listen: SocketAddrV4,
    /// The MTU of the underlay link; the TUN gets 28 bytes less.
    pub underlay_mtu: u32,
    pub options: ShellOptions,
}

/// How the shell does its I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShellOptions {
    /// TUN queues, each with its own pair of threads or tasks (`IFF_MULTI_QUEUE` when
    /// above 1) and its own socket (`SO_REUSEPORT`).
    pub queues: usize,
    /// Segmentation offloads at both ends on two threads per queue ([`super::offload`]):
    /// superpackets from the TUN cut without a copy, `UDP_SEGMENT` sends batched with
    /// `sendmmsg`, `UDP_GRO` receives batched with `recvmmsg`, TCP packets merged back
    /// into superpackets for the TUN. Off: two tokio tasks, one read and one send per
    /// packet.
    pub offload: bool,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions { queues: 1, offload: true }
    }
}

impl ShellOptions {
    /// One read and one send per packet, one queue (the simplest shell, and the baseline).
    pub fn per_packet() -> Self {
        ShellOptions { queues: 1, offload: false }
    }
}

impl ShellConfig {
    pub fn new(own: Subnet, cluster: Subnet, underlay: Ipv4Addr) -> Self {
        ShellConfig { device: DEFAULT_DEVICE.into(), cluster, own, listen: SocketAddrV4::new(underlay, DEFAULT_PORT), underlay_mtu: 1500, options: ShellOptions::default() }
    }

    /// The TUN's MTU: the underlay's minus the IPv4 and UDP headers.
    pub fn tun_mtu(&self) -> u32 {
        self.underlay_mtu.saturating_sub(ENCAP_OVERHEAD)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("creating the TUN device {device}")]
    CreateTun { device: String, #[source] source: io::Error },
    #[error("configuring the TUN device {device} (address, up, route to {cluster})")]
    Configure { device: String, cluster: Subnet, #[source] source: io::Error },
    #[error("binding the overlay's UDP socket to {addr}")]
    Bind { addr: SocketAddrV4, #[source] source: io::Error },
    #[error("an MTU of {0} leaves no room for packets")]
    Mtu(u32),
    #[error("removing the TUN device {device} and its route")]
    Remove { device: String, #[source] source: io::Error },
}

/// A running overlay: the device, the sockets, the threads or tasks.
pub struct OverlayShell {
    config: ShellConfig,
    tunnel: Arc<RwLock<Tunnel>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Readable once the threads are to stop.
    stop_threads: Arc<EventFd>,
    threads: Vec<std::thread::JoinHandle<()>>,
    local: SocketAddr,
}

impl OverlayShell {
    /// Creates the device, routes the cluster CIDR into it, binds the sockets and starts
    /// the threads (or the tasks, on the current tokio runtime). Call it from a thread in
    /// the node's network namespace.
    pub async fn start(config: ShellConfig, peers: impl IntoIterator<Item = (String, Peer)>) -> Result<(Self, Vec<PeerError>), ShellError> {
        let mut tunnel = Tunnel::new(config.own, config.listen.port());
        let refused = tunnel.set_peers(peers);
        let device = create_device(&config)?;
        if let Err(source) = configure(&config) {
            drop(device);
            let _ = remove_device(&config.device);
            return Err(ShellError::Configure { device: config.device.clone(), cluster: config.cluster, source });
        }
        let queues = match open_queues(&config, device) {
            Ok(q) => q,
            Err(e) => {
                let _ = remove(&config);
                return Err(e);
            }
        };
        let local = queues[0].1.local_addr().map_err(|source| ShellError::Bind { addr: config.listen, source })?;
        let tunnel = Arc::new(RwLock::new(tunnel));
        let (stop, stopped) = watch::channel(false);
        let stop_threads = match EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK) {
            Ok(e) => Arc::new(e),
            Err(e) => {
                let _ = remove(&config);
                return Err(ShellError::CreateTun { device: config.device.clone(), source: e.into() });
            }
        };
        let mut shell = OverlayShell { config, tunnel, stop, tasks: Vec::new(), stop_threads, threads: Vec::new(), local };
        for (queue, (device, socket)) in queues.into_iter().enumerate() {
            if let Err(source) = shell.spawn(queue, device, socket, &stopped) {
                let device = shell.config.device.clone();
                let _ = shell.stop().await;
                return Err(ShellError::CreateTun { device, source });
            }
        }
        Ok((shell, refused))
    }

    /// The two directions of one queue: threads, or tasks on the current runtime.
    fn spawn(&mut self, queue: usize, device: SyncDevice, socket: std::net::UdpSocket, stopped: &watch::Receiver<bool>) -> io::Result<()> {
        if self.config.options.offload {
            device.set_nonblocking(true)?;
            let threads = offload::spawn(&self.tunnel, Arc::new(device), Arc::new(socket), self.stop_threads.clone(), queue)?;
            self.threads.extend(threads);
        } else {
            let (device, socket) = (Arc::new(AsyncDevice::new(device)?), Arc::new(UdpSocket::from_std(socket)?));
            let (t, s) = (self.tunnel.clone(), stopped.clone());
            self.tasks.push(tokio::spawn(tun_to_udp(t, device.clone(), socket.clone(), s)));
            self.tasks.push(tokio::spawn(udp_to_tun(self.tunnel.clone(), device, socket, stopped.clone())));
        }
        Ok(())
    }

    /// The address the UDP socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.read().metrics()
    }

    /// Replaces the peer table (see [`Tunnel::set_peers`]).
    pub fn set_peers(&self, peers: impl IntoIterator<Item = (String, Peer)>) -> Vec<PeerError> {
        self.write().set_peers(peers)
    }

    pub fn upsert(&self, name: &str, peer: Peer) -> Result<(), PeerError> {
        self.write().upsert(name, peer)
    }

    pub fn remove(&self, name: &str) -> bool {
        self.write().remove(name)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Tunnel> {
        self.tunnel.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tunnel> {
        self.tunnel.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the threads or tasks, waits for them, then removes the route and the device.
    pub async fn stop(mut self) -> Result<(), ShellError> {
        self.signal_stop();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        let threads: Vec<_> = self.threads.drain(..).collect();
        if !threads.is_empty() {
            let _ = tokio::task::spawn_blocking(move || threads.into_iter().for_each(|t| drop(t.join()))).await;
        }
        remove(&self.config).map_err(|source| ShellError::Remove { device: self.config.device.clone(), source })
    }

    fn signal_stop(&self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.stop_threads.write(1) {
            tracing::error!(error = %e, "telling the overlay's threads to stop");
        }
    }
}

impl Drop for OverlayShell {
    /// Without [`OverlayShell::stop`], the threads and tasks still end; the device goes
    /// with its last file descriptor, and its route with it.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

fn create_device(config: &ShellConfig) -> Result<SyncDevice, ShellError> {
    let err = |source| ShellError::CreateTun { device: config.device.clone(), source };
    let mtu = u16::try_from(config.tun_mtu()).map_err(|_| ShellError::Mtu(config.underlay_mtu))?;
    if u32::from(mtu) < 68 {
        return Err(ShellError::Mtu(config.underlay_mtu));
    }
    // Down until configured (tun-rs brings a new device up by default).
    DeviceBuilder::new()
        .name(&config.device)
        .mtu(mtu)
        .enable(false)
        .offload(config.options.offload)
        .multi_queue(config.options.queues > 1)
        .build_sync()
        .map_err(err)
}

/// The device's address (this node's subnet's network address, /32, as Flannel gives
/// it: traffic the node itself sends to other nodes' pods leaves from an address of its
/// own subnet), up, and the cluster CIDR routed into it. Runs on a thread of the node's
/// namespace (so the sysctl is the node's).
fn configure(config: &ShellConfig) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    let link = nl.link(&config.device)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the new TUN device is not there"))?;
    // The overlay carries IPv4 only: no router solicitations or MLD into the TUN.
    sysctl::set(&format!("net/ipv6/conf/{}/disable_ipv6", config.device), "1", false)?;
    nl.add_address(link.index, config.own.network(), 32)?;
    if !link.up {
        nl.set_up(link.index)?;
    }
    nl.add_device_route(link.index, config.cluster.network(), config.cluster.prefix_len())
}

fn remove(config: &ShellConfig) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    if let Some(link) = nl.link(&config.device)? {
        nl.del_device_route(link.index, config.cluster.network(), config.cluster.prefix_len())?;
    }
    remove_device(&config.device)
}

fn remove_device(name: &str) -> io::Result<()> {
    Netlink::open()?.del_link(name).map(|_| ())
}

type Queue = (SyncDevice, std::net::UdpSocket);

/// One TUN queue and one UDP socket per queue: the first queue is the device itself,
/// the others are opened on it (`IFF_MULTI_QUEUE`); the sockets share the port
/// (`SO_REUSEPORT`), so the kernel spreads flows over them.
fn open_queues(config: &ShellConfig, device: SyncDevice) -> Result<Vec<Queue>, ShellError> {
    let n = config.options.queues.max(1);
    let mut devices = Vec::with_capacity(n);
    for _ in 1..n {
        devices.push(device.try_clone().map_err(|source| ShellError::CreateTun { device: config.device.clone(), source })?);
    }
    devices.insert(0, device);
    devices
        .into_iter()
        .map(|d| bind(config.listen, n > 1).map(|s| (d, s)).map_err(|source| ShellError::Bind { addr: config.listen, source }))
        .collect()
}

fn bind(addr: SocketAddrV4, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Best effort: larger buffers absorb bursts; the kernel caps what it grants.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::V4(addr).into())?;
    Ok(socket.into())
}

type Shared = Arc<RwLock<Tunnel>>;

/// Errors after which the next read may well succeed: interruptions, and tun-rs's
/// complaints about one packet (errors without an errno); the kernel's others (the
/// device is gone, EBADFD) are not.
pub(super) fn transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) || matches!(e.raw_os_error(), None | Some(libc::EMSGSIZE) | Some(libc::EINVAL))
}

fn decide<'a>(tunnel: &Shared, f: impl FnOnce(&Tunnel) -> Action<'a>) -> Action<'a> {
    f(&tunnel.read().unwrap_or_else(|p| p.into_inner()))
}

/// Reads packets from the TUN and sends each to its node.
async fn tun_to_udp(tunnel: Shared, device: Arc<AsyncDevice>, socket: Arc<UdpSocket>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        let n = tokio::select! {
            _ = stop.changed() => return,
            r = device.recv(&mut buf) => match r {
                Ok(n) => n,
                Err(e) if transient(&e) => continue,
                // The device is gone or broken: a loop here would only spin.
                Err(e) => { tracing::error!(error = %e, "reading the TUN device; this direction stops"); return }
            },
        };
        if let Action::SendTo(to, bytes) = decide(&tunnel, |t| t.from_tun(&mut buf[..n])) {
            if let Err(e) = socket.send_to(bytes, to).await {
                tracing::debug!(error = %e, %to, "sending an overlay datagram");
            }
        }
    }
}

/// Receives datagrams from the nodes and writes the accepted ones to the TUN.
async fn udp_to_tun(tunnel: Shared, device: Arc<AsyncDevice>, socket: Arc<UdpSocket>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_PACKET];
    loop {
        let (n, from) = tokio::select! {
            _ = stop.changed() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => { tracing::debug!(error = %e, "receiving an overlay datagram"); continue }
            },
        };
        if let Action::WriteTun(bytes) = decide(&tunnel, |t| t.from_udp(from, &buf[..n])) {
            if let Err(e) = device.send(bytes).await {
                tracing::debug!(error = %e, "writing to the TUN device");
            }
        }
    }
}
