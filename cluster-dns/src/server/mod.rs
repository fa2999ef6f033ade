//! The I/O shell around [`Records`]: UDP and TCP listeners (hickory-server), an atomic
//! swap of the zone on update, and forwarding of every other name to upstream servers.

mod forward;
mod handler;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use hickory_server::net::NetError;
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

use crate::metrics::Metrics;
use crate::records::{Records, DEFAULT_DOMAIN};

pub use forward::upstream_from_resolv_conf;

/// How long an upstream server gets to answer before the next one is tried.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP client may stay idle between queries before it is disconnected.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;
/// Attempts at finding a port free for both UDP and TCP when asked for port 0.
const BIND_ATTEMPTS: usize = 16;

/// Where to listen, where to forward, and which domain to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Each address is served over UDP and TCP on the same port; port 0 picks one.
    pub listen: Vec<SocketAddr>,
    /// Tried in order for names outside the cluster zone; none means SERVFAIL.
    pub upstream: Vec<SocketAddr>,
    /// The cluster domain (`cluster.local`).
    pub domain: String,
    /// How long each upstream gets per query.
    pub upstream_timeout: Duration,
}

impl ServerConfig {
    /// A configuration for the default domain, `cluster.local`.
    pub fn new(listen: Vec<SocketAddr>, upstream: Vec<SocketAddr>) -> ServerConfig {
        ServerConfig {
            listen,
            upstream,
            domain: DEFAULT_DOMAIN.to_owned(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
        }
    }

    /// The same, for another cluster domain.
    pub fn with_domain(mut self, domain: impl Into<String>) -> ServerConfig {
        self.domain = domain.into();
        self
    }

    /// The same, with another per-upstream timeout.
    pub fn with_upstream_timeout(mut self, timeout: Duration) -> ServerConfig {
        self.upstream_timeout = timeout;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cluster domain {domain:?} is not a valid DNS name")]
    InvalidDomain { domain: String },
    #[error("no listen address configured")]
    NoListenAddress,
    #[error("binding UDP {addr}")]
    BindUdp {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("binding TCP {addr}")]
    BindTcp {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("stopping the DNS listeners")]
    Stop {
        #[source]
        source: NetError,
    },
}

/// What the listeners share: the current zone, the upstreams and the counters.
pub(crate) struct Shared {
    records: RwLock<Arc<Records>>,
    upstream: Vec<SocketAddr>,
    upstream_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl Shared {
    /// The zone as it is now; an update after this call does not change it.
    pub(crate) fn records(&self) -> Arc<Records> {
        self.records.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A running cluster DNS server. Dropping it aborts the listeners; [`DnsServer::stop`]
/// shuts them down and waits for them.
pub struct DnsServer {
    server: Server<handler::Handler>,
    addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
}

impl DnsServer {
    /// Binds every listen address (UDP and TCP on one port) and starts serving an empty
    /// zone; call [`DnsServer::update`] with the cluster's records.
    pub async fn start(config: ServerConfig) -> Result<DnsServer, DnsError> {
        let records = Records::empty(&config.domain);
        if records.domain().is_none() {
            return Err(DnsError::InvalidDomain { domain: config.domain });
        }
        if config.listen.is_empty() {
            return Err(DnsError::NoListenAddress);
        }
        let mut sockets = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            sockets.push(bind_pair(*addr).await?);
        }
        let addrs: Vec<SocketAddr> = sockets.iter().map(|(addr, _, _)| *addr).collect();
        // Forwarding to ourselves would loop until every query timed out.
        let upstream: Vec<SocketAddr> = config
            .upstream
            .iter()
            .copied()
            .filter(|u| {
                let own = addrs.contains(u);
                if own {
                    tracing::warn!(upstream = %u, "ignoring an upstream that is this server");
                }
                !own
            })
            .collect();
        let shared = Arc::new(Shared {
            records: RwLock::new(Arc::new(records)),
            upstream,
            upstream_timeout: config.upstream_timeout,
            metrics: Arc::new(Metrics::default()),
        });
        let mut server = Server::new(handler::Handler::new(shared.clone()));
        for (_, udp, tcp) in sockets {
            server.register_socket(udp);
            server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        }
        tracing::info!(addrs = ?addrs, domain = %config.domain, "cluster DNS listening");
        Ok(DnsServer { server, addrs, shared })
    }

    /// The bound addresses, one per configured listen address (UDP and TCP share it).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Replaces the zone. A query in flight finishes on the zone it started with; the
    /// next one sees only the new zone.
    pub fn update(&self, records: Records) {
        let records = Arc::new(records);
        *self.shared.records.write().unwrap_or_else(PoisonError::into_inner) = records;
    }

    /// The zone being served.
    pub fn records(&self) -> Arc<Records> {
        self.shared.records()
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Stops accepting queries and waits for the listeners to finish.
    pub async fn stop(mut self) -> Result<(), DnsError> {
        self.server.shutdown_gracefully().await.map_err(|source| DnsError::Stop { source })
    }
}

/// A UDP socket and a TCP listener on the same address and port.
async fn bind_pair(addr: SocketAddr) -> Result<(SocketAddr, UdpSocket, TcpListener), DnsError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let udp = UdpSocket::bind(addr).await.map_err(|source| DnsError::BindUdp { addr, source })?;
        let bound = udp.local_addr().map_err(|source| DnsError::BindUdp { addr, source })?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((bound, udp, tcp)),
            // The port the kernel gave UDP is taken for TCP: try another one.
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse && attempt < BIND_ATTEMPTS => {}
            Err(source) => return Err(DnsError::BindTcp { addr: bound, source }),
        }
    }
}
