//! The node's server over `LocalStreams`, spoken to directly: a followed log ends when
//! the container stops; exec over `v4.channel.k8s.io` (no close signal) with stdin,
//! output on its channels and the exit code in the error channel's Status; errors.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use node_host::logs::{LogOptions, LogStream, Writer};
use node_host::server::local::LocalStreams;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

const DEADLINE: Duration = Duration::from_secs(20);

async fn start(streams: Arc<LocalStreams>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(node_host::server::serve(listener, streams, std::future::pending()));
    port
}

async fn http_get(port: u16, path: &str) -> String {
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, c.read_to_end(&mut out)).await.expect("response ended").unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn followed_log_ends_when_the_container_stops() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("0.log");
    Writer::open(&log, LogOptions::default()).unwrap().write(LogStream::Stdout, b"one\n").unwrap();
    let streams = Arc::new(LocalStreams::new());
    streams.add_pod("ns", "p", IpAddr::V4(Ipv4Addr::LOCALHOST));
    streams.add_container("ns", "p", "c", log.clone(), None);
    let port = start(streams.clone()).await;
    let follow = tokio::spawn(http_get(port, "/containerLogs/ns/p/c?follow=true"));
    // Appended while followed, then the container stops: the answer ends with both lines.
    Writer::open(&log, LogOptions::default()).unwrap().write(LogStream::Stdout, b"two\n").unwrap();
    streams.set_running("ns", "p", "c", false);
    let body = follow.await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("one\n") && body.contains("two\n"), "{body}");

    let missing = http_get(port, "/containerLogs/ns/p/nope").await;
    assert!(missing.starts_with("HTTP/1.1 404") && missing.contains("container \"nope\" in pod \"p\" is not available"), "{missing}");
    let prev = http_get(port, "/containerLogs/ns/p/c?previous=true").await;
    assert!(prev.starts_with("HTTP/1.1 400"), "{prev}");
    let bad = http_get(port, "/containerLogs/ns/p/c?tailLines=-3").await;
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
}

#[tokio::test]
async fn exec_over_v4_with_stdin_and_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let streams = Arc::new(LocalStreams::new());
    streams.add_pod("ns", "p", IpAddr::V4(Ipv4Addr::LOCALHOST));
    streams.add_container("ns", "p", "c", dir.path().join("0.log"), None);
    let port = start(streams).await;
    let url = format!(
        "ws://127.0.0.1:{port}/exec/ns/p/c?command=sh&command=-c&command=head%20-c%203%3B%20echo%20E%20%3E%262%3B%20exit%202&stdin=1&stdout=1&stderr=1"
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "v4.channel.k8s.io".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "v4.channel.k8s.io");
    ws.send(Message::Binary(b"\x00abc".to_vec().into())).await.unwrap();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut status = None;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(DEADLINE, ws.next()).await {
        match m {
            Message::Binary(b) => match b.split_first() {
                Some((1, d)) => stdout.extend_from_slice(d),
                Some((2, d)) => stderr.extend_from_slice(d),
                Some((3, d)) => status = Some(serde_json::from_slice::<serde_json::Value>(d).unwrap()),
                _ => {}
            },
            Message::Close(_) => break,
            _ => {}
        }
    }
    assert_eq!(stdout, b"abc");
    assert_eq!(stderr, b"E\n");
    let status = status.expect("a status on the error channel");
    assert_eq!(status["reason"], "NonZeroExitCode", "{status}");
    assert_eq!(status["details"]["causes"][0]["message"], "2", "{status}");
}
