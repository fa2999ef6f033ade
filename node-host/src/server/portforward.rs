//! `/portForward/{ns}/{pod}`: what kubectl 1.37 speaks — SPDY/3.1 tunnelled through a
//! WebSocket (subprotocol `SPDY/3.1+portforward.k8s.io`, each binary message a piece of
//! the SPDY byte stream; the API server relays it). Per forwarded connection the client
//! opens two streams with the same `requestID` and `port` headers, `streamType: error`
//! and `streamType: data`; once both are there the node connects to the pod's IP and
//! port and copies bytes both ways on the data stream; a failure is written on the error
//! stream; both are closed (FIN) when the connection ends, as the kubelet's SPDY handler.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::ws::{Message, WebSocket};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::spdy::{self, Decoder, Encoder, Frame};

/// The subprotocol of SPDY tunnelled over WebSocket (client-go's tunnelling dialer).
pub const SPDY_TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

/// The two streams of one forwarded connection, as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: u16,
}

pub async fn run_spdy_tunnel(socket: WebSocket, pod: String, ip: IpAddr) {
    let (mut sink, mut source) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Frame>(256);
    let writer = tokio::spawn(async move {
        let mut enc = Encoder::default();
        while let Some(f) = rx.recv().await {
            let bytes = enc.encode(&f);
            if !bytes.is_empty() && sink.send(Message::Binary(Bytes::from(bytes))).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut dec = Decoder::default();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // Data stream id → where its bytes go (None: the client finished sending).
    let mut inputs: HashMap<u32, mpsc::UnboundedSender<Option<Bytes>>> = HashMap::new();
    'conn: while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Binary(b) => dec.push(&b),
            Message::Close(_) => break,
            _ => continue,
        }
        loop {
            let frame = match dec.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "port-forward: bad SPDY input");
                    let _ = tx.send(Frame::GoAway { last_good: 0, status: 1 }).await;
                    break 'conn;
                }
            };
            match frame {
                Frame::SynStream { stream_id, headers, .. } => {
                    let kind = Frame::header(&headers, "streamtype").unwrap_or("").to_string();
                    let port = Frame::header(&headers, "port").and_then(|p| p.parse::<u16>().ok());
                    let request = Frame::header(&headers, "requestid").unwrap_or("").to_string();
                    let (Some(port), "error" | "data") = (port, kind.as_str()) else {
                        let _ = tx.send(Frame::SynReply { stream_id, headers: vec![], fin: true }).await;
                        let _ = tx.send(Frame::RstStream { stream_id, status: spdy::REFUSED_STREAM }).await;
                        continue;
                    };
                    let _ = tx.send(Frame::SynReply { stream_id, headers: vec![], fin: false }).await;
                    let pair = pairs.entry(request.clone()).or_default();
                    pair.port = port;
                    if kind == "error" {
                        pair.error = Some(stream_id);
                    } else {
                        pair.data = Some(stream_id);
                    }
                    if let (Some(error), Some(data)) = (pair.error, pair.data) {
                        let port = pair.port;
                        pairs.remove(&request);
                        let (in_tx, in_rx) = mpsc::unbounded_channel();
                        inputs.insert(data, in_tx);
                        tokio::spawn(forward(tx.clone(), pod.clone(), SocketAddr::new(ip, port), error, data, in_rx));
                    }
                }
                Frame::Data { stream_id, fin, data } => {
                    if let Some(input) = inputs.get(&stream_id) {
                        if !data.is_empty() {
                            let _ = input.send(Some(data));
                        }
                        if fin {
                            let _ = input.send(None);
                        }
                    }
                }
                Frame::RstStream { stream_id, .. } => {
                    inputs.remove(&stream_id);
                }
                Frame::Ping(id) => {
                    let _ = tx.send(Frame::Ping(id)).await;
                }
                Frame::GoAway { .. } => break 'conn,
                Frame::SynReply { .. } | Frame::Other => {}
            }
        }
    }
    drop(inputs);
    drop(tx);
    let _ = writer.await;
}

/// One forwarded connection.
async fn forward(
    tx: mpsc::Sender<Frame>,
    pod: String,
    addr: SocketAddr,
    error: u32,
    data: u32,
    mut input: mpsc::UnboundedReceiver<Option<Bytes>>,
) {
    let fin = |stream_id| Frame::Data { stream_id, fin: true, data: Bytes::new() };
    let conn = match TcpStream::connect(addr).await {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("error forwarding port {} to pod {pod}, uid : failed to connect to {addr}: {e}", addr.port());
            let _ = tx.send(Frame::Data { stream_id: error, fin: false, data: Bytes::from(msg) }).await;
            let _ = tx.send(fin(error)).await;
            let _ = tx.send(fin(data)).await;
            return;
        }
    };
    let (mut rd, mut wr) = conn.into_split();
    let to_pod = async move {
        while let Some(Some(bytes)) = input.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    };
    let from_pod = {
        let tx = tx.clone();
        async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Frame::Data { stream_id: data, fin: false, data: Bytes::copy_from_slice(&buf[..n]) }).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx.send(fin(data)).await;
        }
    };
    // The connection is over when the pod's side is done (the client may never close its side).
    let writer = tokio::spawn(to_pod);
    from_pod.await;
    writer.abort();
    let _ = tx.send(fin(error)).await;
}
