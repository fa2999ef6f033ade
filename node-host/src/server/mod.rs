//! The node's server (the kubelet's port 10250): the API server proxies `kubectl logs`,
//! `exec`, `attach`, `cp` and `port-forward` here, to the node that runs the pod.
//!
//! - `GET /containerLogs/{ns}/{pod}/{container}?follow&previous&sinceSeconds&sinceTime&timestamps&tailLines&limitBytes&stream`
//!   answers the CRI log file as text (streamed with `follow`);
//! - `GET|POST /exec/{ns}/{pod}/{container}?command=…&stdin&stdout&stderr&tty` and
//!   `/attach/{ns}/{pod}/{container}?…` upgrade to a WebSocket speaking
//!   `v5.channel.k8s.io` or `v4.channel.k8s.io` (`channel`, `exec`);
//! - `GET|POST /portForward/{ns}/{pod}` upgrades to a WebSocket carrying SPDY
//!   (`SPDY/3.1+portforward.k8s.io`, `portforward`).
//!
//! What it needs of the agent is the [`Streams`] trait; [`local::LocalStreams`] runs host
//! processes instead, for tests. Start it with [`serve`] on a listener bound to the
//! node's address, port [`DEFAULT_PORT`], and report that port in the Node's
//! `status.daemonEndpoints.kubeletEndpoint.Port` (with the address as its `InternalIP`).

pub mod channel;
pub mod exec;
pub mod fdio;
pub mod metrics;
pub mod local;
pub mod portforward;
pub mod spdy;
pub mod streams;

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::logs::reader::{stream_logs, ReadOptions, StreamFilter};
pub use streams::{Attach, ContainerRef, ContainerUsage, LogFile, StreamError, Streams};

/// `GET /metrics/resource`: the kubelet's resource metrics (what metrics-server scrapes).
async fn resource_metrics(State(st): State<AppState>) -> Response {
    let body = metrics::render(&st.streams.usage().await);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// The kubelet's port.
pub const DEFAULT_PORT: u16 = 10250;

#[derive(Clone)]
struct AppState {
    streams: Arc<dyn Streams>,
}

/// `GET /metrics`: the node's own figures (overlay, service proxy, DNS).
async fn node_metrics(State(st): State<AppState>) -> Response {
    let body = st.streams.metrics().await;
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// The routes, for a caller that serves them itself.
pub fn router(streams: Arc<dyn Streams>) -> Router {
    Router::new()
        .route("/containerLogs/{ns}/{pod}/{container}", get(container_logs))
        .route("/exec/{ns}/{pod}/{container}", get(exec).post(exec))
        .route("/attach/{ns}/{pod}/{container}", get(attach).post(attach))
        .route("/portForward/{ns}/{pod}", get(port_forward).post(port_forward))
        .route("/metrics/resource", get(resource_metrics))
        .route("/metrics", get(node_metrics))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState { streams })
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    streams: Arc<dyn Streams>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(streams)).with_graceful_shutdown(shutdown).await
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], msg.into()).into_response()
}

impl IntoResponse for StreamError {
    fn into_response(self) -> Response {
        let status = match &self {
            StreamError::NotFound(_) => StatusCode::NOT_FOUND,
            StreamError::BadRequest(_) => StatusCode::BAD_REQUEST,
            StreamError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self.to_string())
    }
}

/// Parses the log query (kubelet's `PodLogOptions` as query parameters); `previous` aside.
pub fn log_options(query: &str) -> Result<(ReadOptions, bool), String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| e.to_string())?;
    let mut o = ReadOptions::default();
    let mut previous = false;
    let bool_of = |v: &str| matches!(v, "1" | "true" | "True" | "TRUE" | "t" | "T");
    let mut since_seconds = None;
    for (k, v) in pairs {
        match k.as_str() {
            "follow" => o.follow = bool_of(&v),
            "previous" => previous = bool_of(&v),
            "timestamps" => o.timestamps = bool_of(&v),
            "tailLines" => o.tail = Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(format!("invalid tailLines {v:?}"))? as usize),
            "limitBytes" => o.limit_bytes = Some(v.parse::<i64>().ok().filter(|n| *n > 0).ok_or(format!("invalid limitBytes {v:?}"))? as u64),
            "sinceSeconds" => since_seconds = Some(v.parse::<i64>().ok().filter(|n| *n > 0).ok_or(format!("invalid sinceSeconds {v:?}"))?),
            "sinceTime" => {
                let t = DateTime::parse_from_rfc3339(&v).map_err(|_| format!("invalid sinceTime {v:?}"))?;
                o.since = Some(t.with_timezone(&Utc));
            }
            "stream" => {
                o.stream = match v.as_str() {
                    "All" | "" => StreamFilter::All,
                    "Stdout" => StreamFilter::Stdout,
                    "Stderr" => StreamFilter::Stderr,
                    other => return Err(format!("invalid stream {other:?}")),
                }
            }
            _ => {}
        }
    }
    if let Some(s) = since_seconds {
        o.since = Some(Utc::now() - chrono::Duration::seconds(s));
    }
    Ok((o, previous))
}

async fn container_logs(
    State(st): State<AppState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Response {
    let (opts, previous) = match log_options(q.as_deref().unwrap_or("")) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let target = ContainerRef { namespace: ns, pod, container };
    let file = match st.streams.log_file(&target, previous).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    if !file.path.exists() {
        // Nothing written yet: an empty log, as the kubelet answers for a fresh container.
        if !opts.follow {
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response();
        }
        if let Some(dir) = file.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::OpenOptions::new().create(true).append(true).open(&file.path);
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let streams = st.streams.clone();
    let id = file.container_id.clone();
    let path = file.path.clone();
    let opts = ReadOptions { follow: opts.follow && !previous, ..opts };
    tokio::spawn(async move {
        let running = || {
            let streams = streams.clone();
            let id = id.clone();
            async move { streams.running(&id).await }
        };
        if let Err(e) = stream_logs(&path, &opts, running, tx).await {
            tracing::debug!(error = %e, path = %path.display(), "reading container log");
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], Body::from_stream(body)).into_response()
}

/// A WebSocket upgrade, or the 400 that says one is needed.
struct Upgrade(WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(|u| Upgrade(u.max_message_size(1 << 24).max_frame_size(1 << 24)))
            .map_err(|_| error(StatusCode::BAD_REQUEST, "Upgrade request required: this endpoint speaks WebSocket (v5.channel.k8s.io, v4.channel.k8s.io, SPDY/3.1+portforward.k8s.io)"))
    }
}

fn channel_version(ws: &WebSocketUpgrade) -> Option<channel::Version> {
    ws.selected_protocol().and_then(|p| p.to_str().ok()).and_then(channel::Version::of)
}

async fn exec(
    State(st): State<AppState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    Upgrade(ws): Upgrade,
) -> Response {
    remote_command(st, ContainerRef { namespace: ns, pod, container }, q, ws, true)
}

async fn attach(
    State(st): State<AppState>,
    Path((ns, pod, container)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    Upgrade(ws): Upgrade,
) -> Response {
    remote_command(st, ContainerRef { namespace: ns, pod, container }, q, ws, false)
}

fn remote_command(st: AppState, target: ContainerRef, q: Option<String>, ws: WebSocketUpgrade, is_exec: bool) -> Response {
    let opts = match exec::StreamOptions::parse(q.as_deref().unwrap_or(""), is_exec) {
        Ok(o) => o,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let ws = ws.protocols(channel::PROTOCOLS);
    let Some(version) = channel_version(&ws) else {
        return error(StatusCode::BAD_REQUEST, format!("no supported subprotocol: this endpoint speaks {}", channel::PROTOCOLS.join(", ")));
    };
    let streams = st.streams.clone();
    ws.on_upgrade(move |socket| async move {
        if is_exec {
            exec::run_exec(socket, version, streams, target, opts).await
        } else {
            exec::run_attach(socket, version, streams, target, opts).await
        }
    })
}

async fn port_forward(State(st): State<AppState>, Path((ns, pod)): Path<(String, String)>, Upgrade(ws): Upgrade) -> Response {
    let ws = ws.protocols([portforward::SPDY_TUNNEL]);
    if ws.selected_protocol().is_none() {
        return error(StatusCode::BAD_REQUEST, format!("no supported subprotocol: this endpoint speaks {}", portforward::SPDY_TUNNEL));
    }
    let ip = match st.streams.pod_ip(&ns, &pod).await {
        Ok(ip) => ip,
        Err(e) => return e.into_response(),
    };
    ws.on_upgrade(move |socket| portforward::run_spdy_tunnel(socket, pod, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_query() {
        let (o, prev) = log_options("follow=true&tailLines=10&timestamps=true&limitBytes=5&previous=true&stream=Stderr").unwrap();
        assert!(o.follow && o.timestamps && prev);
        assert_eq!((o.tail, o.limit_bytes, o.stream), (Some(10), Some(5), StreamFilter::Stderr));
        let (o, _) = log_options("sinceTime=2026-01-01T00:00:00Z").unwrap();
        assert_eq!(o.since.unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert!(log_options("tailLines=-1").is_err());
        assert!(log_options("stream=stdin").is_err());
        let (o, _) = log_options("sinceSeconds=60").unwrap();
        assert!(o.since.unwrap() < Utc::now());
    }
}
