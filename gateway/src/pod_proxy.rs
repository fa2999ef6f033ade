//! The pod subresources that the node serves: `pods/log`, `pods/exec`, `pods/attach`,
//! `pods/portforward`. As upstream's pod REST storage, the pod is read, the container
//! chosen (`container` query parameter, or the only one), its node found
//! (`spec.nodeName` → that Node's `InternalIP` and `daemonEndpoints.kubeletEndpoint.Port`),
//! and the request relayed to the node's server (`node-host::server`): logs as streamed
//! HTTP, exec/attach/portforward as a WebSocket whose messages are copied both ways
//! (the subprotocol is whatever the node chose among the client's).

use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use api::model::{ContainerStatus, Node, Pod};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, protocol::CloseFrame};

use crate::error::{from_registry, ApiError};
use crate::metrics::RequestInfo;
use crate::AppState;

/// The kubelet's port, when a Node does not say.
const DEFAULT_KUBELET_PORT: i32 = 10250;

/// Query parameters of a log request that the kubelet understands.
const LOG_PARAMS: &[&str] = &["follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes", "stream"];

fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(req.query_string()).map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn names(list: impl Iterator<Item = String>) -> String {
    list.collect::<Vec<_>>().join(" ")
}

/// The container a request is about (upstream's `LogLocation` / `streamLocation` rules).
pub fn choose_container(pod: &Pod, asked: Option<&str>) -> Result<String, ApiError> {
    let name = &pod.metadata.name;
    match asked.filter(|c| !c.is_empty()) {
        Some(c) => {
            let known = pod.spec.containers.iter().any(|x| x.name == c)
                || pod.spec.init_containers.iter().any(|x| x.name == c)
                || pod.spec.ephemeral_containers.iter().any(|x| x.name == c);
            if known {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!("container {c} is not valid for pod {name}")))
            }
        }
        None => match pod.spec.containers.as_slice() {
            [one] => Ok(one.name.clone()),
            [] => Err(ApiError::bad_request(format!("a container name must be specified for pod {name}"))),
            many => {
                let mut msg = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    names(many.iter().map(|c| c.name.clone()))
                );
                if !pod.spec.init_containers.is_empty() {
                    msg.push_str(&format!(
                        " or one of the init containers: [{}]",
                        names(pod.spec.init_containers.iter().map(|c| c.name.clone()))
                    ));
                }
                Err(ApiError::bad_request(msg))
            }
        },
    }
}

/// Whether the container has logs to read (the kubelet's `validateContainerLogStatus`).
pub fn check_log_status(pod: &Pod, container: &str, previous: bool) -> Result<(), ApiError> {
    let pod_name = &pod.metadata.name;
    let status: Option<&ContainerStatus> = pod.status.as_ref().and_then(|s| {
        s.container_statuses
            .iter()
            .chain(&s.init_container_statuses)
            .chain(&s.ephemeral_container_statuses)
            .find(|c| c.name == container)
    });
    let Some(status) = status else {
        return Err(ApiError::bad_request(format!("container {container:?} in pod {pod_name:?} is waiting to start: ContainerCreating")));
    };
    let state = status.state.clone().unwrap_or_default();
    let last_terminated = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    if previous {
        return match last_terminated {
            Some(_) => Ok(()),
            None => Err(ApiError::bad_request(format!("previous terminated container {container:?} in pod {pod_name:?} not found"))),
        };
    }
    if state.running.is_some() || state.terminated.is_some() || last_terminated.is_some() {
        return Ok(());
    }
    let msg = match state.waiting.and_then(|w| w.reason) {
        Some(r) if r == "ErrImagePull" => "image can't be pulled".to_string(),
        Some(r) if r == "ImagePullBackOff" => "trying and failing to pull image".to_string(),
        Some(r) => r,
        None => return Err(ApiError::bad_request(format!("container {container:?} in pod {pod_name:?} is waiting to start - no logs yet"))),
    };
    Err(ApiError::bad_request(format!("container {container:?} in pod {pod_name:?} is waiting to start: {msg}")))
}

/// `host:port` of the node that runs the pod.
async fn node_address(state: &AppState, pod: &Pod) -> Result<String, ApiError> {
    let node_name = pod
        .spec
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {} does not have a host assigned", pod.metadata.name)))?;
    let node: Node = state.registry.get(None, node_name).await.map_err(|e| from_registry(e, "", "nodes"))?;
    let status = node.status.unwrap_or_default();
    let ip = status
        .addresses
        .iter()
        .find(|a| a.type_ == "InternalIP")
        .or_else(|| status.addresses.first())
        .map(|a| a.address.clone())
        .ok_or_else(|| ApiError::internal(format!("node {node_name} has no address")))?;
    let port = status
        .daemon_endpoints
        .and_then(|d| d.kubelet_endpoint)
        .map(|e| e.port)
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Ok(if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") })
}

async fn read_pod(state: &AppState, req: &HttpRequest) -> Result<Pod, ApiError> {
    let ns = req.match_info().get("ns").unwrap_or("default");
    let name = req.match_info().get("name").unwrap_or("");
    state.registry.get(Some(ns), name).await.map_err(|e| from_registry(e, "", "pods"))
}

fn encode_query(pairs: &[(String, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn positive(pairs: &[(String, String)], name: &str, min: i64) -> Result<(), ApiError> {
    if let Some(v) = param(pairs, name) {
        let ok = v.parse::<i64>().is_ok_and(|n| n >= min);
        if !ok {
            let bound = if min == 0 { "greater than or equal to 0" } else { "greater than 0" };
            return Err(ApiError::new(422, "Invalid", format!("PodLogOptions \"\" is invalid: {name}: Invalid value: {v}: must be {bound}")));
        }
    }
    Ok(())
}

/// `GET /api/v1/namespaces/{ns}/pods/{name}/log`.
pub async fn log(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    req.extensions_mut().insert(RequestInfo { verb: "get", resource: "pods" });
    let pairs = query_pairs(&req)?;
    positive(&pairs, "tailLines", 0)?;
    positive(&pairs, "limitBytes", 1)?;
    positive(&pairs, "sinceSeconds", 1)?;
    if param(&pairs, "sinceSeconds").is_some() && param(&pairs, "sinceTime").is_some() {
        return Err(ApiError::new(422, "Invalid", "PodLogOptions \"\" is invalid: []: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"));
    }
    let pod = read_pod(&state, &req).await?;
    let container = choose_container(&pod, param(&pairs, "container"))?;
    let addr = node_address(&state, &pod).await?;
    let previous = param(&pairs, "previous").is_some_and(|v| v == "true" || v == "1");
    check_log_status(&pod, &container, previous)?;
    let forward: Vec<(String, String)> = pairs.iter().filter(|(k, _)| LOG_PARAMS.contains(&k.as_str())).cloned().collect();
    let url = format!(
        "http://{addr}/containerLogs/{}/{}/{container}?{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name,
        encode_query(&forward)
    );
    let resp = reqwest::get(&url).await.map_err(|e| ApiError::internal(format!("Get \"{url}\": {e}")))?;
    let code = resp.status().as_u16();
    if code != 200 {
        let body = resp.text().await.unwrap_or_default();
        let reason = match code {
            400 => "BadRequest",
            404 => "NotFound",
            _ => "InternalError",
        };
        return Err(ApiError::new(code, reason, body.trim_end().to_string()));
    }
    Ok(HttpResponse::Ok().content_type("text/plain").streaming(resp.bytes_stream()))
}

/// `…/exec`, `…/attach` (`GET` or `POST`, upgraded to a WebSocket).
pub async fn exec(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    remote_command(state, req, body, "exec").await
}

pub async fn attach(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    remote_command(state, req, body, "attach").await
}

async fn remote_command(state: web::Data<AppState>, req: HttpRequest, body: web::Payload, what: &str) -> Result<HttpResponse, ApiError> {
    req.extensions_mut().insert(RequestInfo { verb: "create", resource: "pods" });
    let pairs = query_pairs(&req)?;
    let pod = read_pod(&state, &req).await?;
    let container = choose_container(&pod, param(&pairs, "container"))?;
    let addr = node_address(&state, &pod).await?;
    let forward: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "container").collect();
    let url = format!(
        "ws://{addr}/{what}/{}/{}/{container}?{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name,
        encode_query(&forward)
    );
    relay(&req, body, url).await
}

/// `…/portforward` (`GET` or `POST`, upgraded to a WebSocket).
pub async fn portforward(state: web::Data<AppState>, req: HttpRequest, body: web::Payload) -> Result<HttpResponse, ApiError> {
    req.extensions_mut().insert(RequestInfo { verb: "create", resource: "pods" });
    let pod = read_pod(&state, &req).await?;
    let addr = node_address(&state, &pod).await?;
    let url = format!(
        "ws://{addr}/portForward/{}/{}?{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name,
        req.query_string()
    );
    relay(&req, body, url).await
}

/// Opens the node's WebSocket with the client's subprotocols, then answers the client's
/// upgrade with the one the node chose and copies messages both ways.
async fn relay(req: &HttpRequest, body: web::Payload, url: String) -> Result<HttpResponse, ApiError> {
    let protocols = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("Upgrade request required"))?;
    let mut node_req = url.as_str().into_client_request().map_err(|e| ApiError::internal(e.to_string()))?;
    node_req.headers_mut().insert(
        "sec-websocket-protocol",
        protocols.parse().map_err(|_| ApiError::bad_request("invalid Sec-WebSocket-Protocol"))?,
    );
    let config = tungstenite::protocol::WebSocketConfig::default().max_message_size(Some(1 << 24)).max_frame_size(Some(1 << 24));
    let (node, resp) = match tokio_tungstenite::connect_async_with_config(node_req, Some(config), true).await {
        Ok(c) => c,
        Err(tungstenite::Error::Http(r)) => {
            let code = r.status().as_u16();
            let body = r.body().as_ref().map(|b| String::from_utf8_lossy(b).trim_end().to_string()).unwrap_or_default();
            return Err(ApiError::new(code, if code == 404 { "NotFound" } else { "BadRequest" }, body));
        }
        Err(e) => return Err(ApiError::internal(format!("error dialing backend: {e}"))),
    };
    let chosen = resp.headers().get("sec-websocket-protocol").cloned();
    let (mut response, mut session, stream) =
        actix_ws::handle(req, body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(p) = chosen {
        if let Ok(v) = actix_web::http::header::HeaderValue::from_bytes(p.as_bytes()) {
            response.headers_mut().insert(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL, v);
        }
    }
    let (mut to_node, mut from_node) = node.split();
    let mut stream = stream.max_frame_size(1 << 24);
    let mut pong_session = session.clone();
    // Client → node.
    actix_rt::spawn(async move {
        while let Some(Ok(msg)) = stream.recv().await {
            let m = match msg {
                actix_ws::Message::Binary(b) => tungstenite::Message::Binary(b),
                actix_ws::Message::Text(t) => tungstenite::Message::Text(t.to_string().into()),
                actix_ws::Message::Ping(p) => {
                    let _ = pong_session.pong(&p).await;
                    continue;
                }
                actix_ws::Message::Close(reason) => {
                    let frame = reason.map(|r| CloseFrame { code: u16::from(r.code).into(), reason: r.description.unwrap_or_default().into() });
                    let _ = to_node.send(tungstenite::Message::Close(frame)).await;
                    break;
                }
                _ => continue,
            };
            if to_node.send(m).await.is_err() {
                break;
            }
        }
        let _ = to_node.close().await;
    });
    // Node → client.
    actix_rt::spawn(async move {
        while let Some(Ok(msg)) = from_node.next().await {
            let sent = match msg {
                tungstenite::Message::Binary(b) => session.binary(b).await,
                tungstenite::Message::Text(t) => session.text(t.as_str().to_string()).await,
                tungstenite::Message::Close(frame) => {
                    let reason = frame.map(|f| actix_ws::CloseReason {
                        code: u16::from(f.code).into(),
                        description: Some(f.reason.as_str().to_string()).filter(|s| !s.is_empty()),
                    });
                    let _ = session.close(reason).await;
                    return;
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
        let _ = session.close(None).await;
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::{Container, ContainerState, ContainerStateRunning, ContainerStateWaiting, PodStatus};

    fn pod(containers: &[&str], init: &[&str]) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = "web".into();
        p.spec.containers = containers.iter().map(|n| Container { name: n.to_string(), ..Default::default() }).collect();
        p.spec.init_containers = init.iter().map(|n| Container { name: n.to_string(), ..Default::default() }).collect();
        p
    }

    #[test]
    fn container_choice_as_upstream() {
        let cases: Vec<(Pod, Option<&str>, Result<&str, &str>)> = vec![
            (pod(&["a"], &[]), None, Ok("a")),
            (pod(&["a", "b"], &[]), Some("b"), Ok("b")),
            (pod(&["a", "b"], &["i"]), Some("i"), Ok("i")),
            (pod(&["a", "b"], &[]), None, Err("a container name must be specified for pod web, choose one of: [a b]")),
            (pod(&["a", "b"], &["i"]), None, Err("a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i]")),
            (pod(&["a"], &[]), Some("zz"), Err("container zz is not valid for pod web")),
        ];
        for (p, asked, want) in cases {
            let got = choose_container(&p, asked).map_err(|e| e.message.clone());
            assert_eq!(got.as_deref().map_err(String::as_str), want);
        }
    }

    #[test]
    fn log_status_as_the_kubelet() {
        let with = |state: ContainerState| {
            let mut p = pod(&["a"], &[]);
            p.status = Some(PodStatus {
                container_statuses: vec![ContainerStatus { name: "a".into(), state: Some(state), ..Default::default() }],
                ..Default::default()
            });
            p
        };
        let running = with(ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() });
        assert!(check_log_status(&running, "a", false).is_ok());
        assert_eq!(
            check_log_status(&running, "a", true).unwrap_err().message,
            "previous terminated container \"a\" in pod \"web\" not found"
        );
        let waiting = with(ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some("ContainerCreating".into()), ..Default::default() }),
            ..Default::default()
        });
        assert_eq!(
            check_log_status(&waiting, "a", false).unwrap_err().message,
            "container \"a\" in pod \"web\" is waiting to start: ContainerCreating"
        );
    }
}
