//! Asking upstream servers about names outside the cluster zone: each upstream in turn,
//! over UDP with a timeout, again over TCP when the UDP answer is truncated.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::serialize::binary::DecodeError;
use hickory_proto::ProtoError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The UDP payload size advertised upstream (the DNS flag day 2020 value).
const UPSTREAM_UDP_PAYLOAD: u16 = 1232;
/// Receive buffer for upstream UDP answers; larger than the advertised size, for
/// servers that ignore it.
const UDP_RECV_BUFFER: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    #[error("no upstream server configured")]
    NoUpstream,
    #[error("encoding the upstream query")]
    Encode {
        #[source]
        source: ProtoError,
    },
    #[error("upstream {upstream} did not answer within {timeout:?}")]
    Timeout { upstream: SocketAddr, timeout: Duration },
    #[error("querying upstream {upstream}")]
    Io {
        upstream: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("decoding the TCP answer of upstream {upstream}")]
    Decode {
        upstream: SocketAddr,
        #[source]
        source: DecodeError,
    },
}

/// Asks `upstreams` in order until one answers `query`; returns that answer (whatever
/// its response code) or the last failure.
pub(crate) async fn forward(
    upstreams: &[SocketAddr],
    timeout: Duration,
    query: &Query,
    recursion_desired: bool,
    dnssec_ok: bool,
) -> Result<Message, ForwardError> {
    let mut request = Message::query();
    request.metadata.recursion_desired = recursion_desired;
    request.add_query(query.clone());
    let mut edns = Edns::new();
    edns.set_max_payload(UPSTREAM_UDP_PAYLOAD).set_dnssec_ok(dnssec_ok);
    request.set_edns(edns);
    let bytes = request.to_vec().map_err(|source| ForwardError::Encode { source })?;
    let id = request.metadata.id;

    let mut last = ForwardError::NoUpstream;
    for &upstream in upstreams {
        let attempt = async {
            let answer = exchange_udp(upstream, &bytes, id, query).await?;
            if !answer.metadata.truncation {
                return Ok(answer);
            }
            tracing::debug!(%upstream, "truncated UDP answer; asking again over TCP");
            match exchange_tcp(upstream, &bytes, id, query).await {
                Ok(full) => Ok(full),
                Err(error) => {
                    // Relay the truncated answer: the client retries over TCP itself.
                    tracing::debug!(%upstream, %error, "TCP retry failed; relaying the truncated answer");
                    Ok(answer)
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => last = e,
            Err(_) => last = ForwardError::Timeout { upstream, timeout },
        }
        tracing::debug!(%upstream, error = %last, "upstream failed");
    }
    Err(last)
}

/// One UDP exchange on a connected socket; datagrams that are not the answer (wrong id,
/// wrong question, garbage) are ignored until the caller's timeout.
async fn exchange_udp(upstream: SocketAddr, bytes: &[u8], id: u16, query: &Query) -> Result<Message, ForwardError> {
    let io_err = |source| ForwardError::Io { upstream, source };
    let local: SocketAddr = match upstream.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(io_err)?;
    socket.connect(upstream).await.map_err(io_err)?;
    socket.send(bytes).await.map_err(io_err)?;
    let mut buf = vec![0u8; UDP_RECV_BUFFER];
    loop {
        let n = socket.recv(&mut buf).await.map_err(io_err)?;
        match Message::from_vec(&buf[..n]) {
            Ok(answer) if answers(&answer, id, query) => return Ok(answer),
            Ok(_) => tracing::debug!(%upstream, "ignoring an unrelated datagram"),
            Err(error) => tracing::debug!(%upstream, %error, "ignoring an undecodable datagram"),
        }
    }
}

/// One TCP exchange: two-byte length prefix each way (RFC 1035 4.2.2).
async fn exchange_tcp(upstream: SocketAddr, bytes: &[u8], id: u16, query: &Query) -> Result<Message, ForwardError> {
    let io_err = |source| ForwardError::Io { upstream, source };
    let len = u16::try_from(bytes.len())
        .map_err(|_| io_err(io::Error::new(io::ErrorKind::InvalidInput, "query longer than 65535 bytes")))?;
    let mut stream = TcpStream::connect(upstream).await.map_err(io_err)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(io_err)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.map_err(io_err)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.map_err(io_err)?;
    let answer = Message::from_vec(&buf).map_err(|source| ForwardError::Decode { upstream, source })?;
    if !answers(&answer, id, query) {
        return Err(io_err(io::Error::new(io::ErrorKind::InvalidData, "TCP answer to another question")));
    }
    Ok(answer)
}

/// Whether `answer` is the response to our query (id, and the question echoed back).
fn answers(answer: &Message, id: u16, query: &Query) -> bool {
    answer.metadata.id == id
        && answer.metadata.message_type == MessageType::Response
        && answer.queries.first().is_some_and(|q| {
            q.query_type() == query.query_type() && q.name().eq_ignore_root(query.name())
        })
}

/// The `nameserver` addresses of a resolv.conf, on port 53, in order. Lines that do not
/// parse (and IPv6 addresses with a zone, `fe80::1%eth0`) are skipped.
pub fn upstream_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_become_port_53_upstreams_in_order() {
        let text = "# generated\nsearch default.svc.cluster.local svc.cluster.local\n\
                    nameserver 10.0.0.2\n  nameserver\t2001:db8::53 # trailing comment\n\
                    ;nameserver 10.9.9.9\n# nameserver 10.8.8.8\nnameserver fe80::1%eth0\n\
                    nameserver not-an-ip\nnameserver\noptions ndots:5\nnameserver 10.0.0.3\n";
        let expect: Vec<SocketAddr> =
            vec!["10.0.0.2:53".parse().unwrap(), "[2001:db8::53]:53".parse().unwrap(), "10.0.0.3:53".parse().unwrap()];
        assert_eq!(upstream_from_resolv_conf(text), expect);
    }

    #[test]
    fn empty_resolv_conf_has_no_upstream() {
        assert!(upstream_from_resolv_conf("").is_empty());
    }
}
