//! A small blocking HTTP client for the CLI: JSON in, JSON out, Status errors as messages.

use std::time::Duration;

use api::model::KindInfo;
use anyhow::{anyhow, Context, Result};
use serde_json::Value;

pub struct Client {
    base: String,
    agent: ureq::Agent,
}

/// The `Accept` header asking for a server-side Table.
pub const ACCEPT_TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

impl Client {
    pub fn new(base: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client { base: base.trim_end_matches('/').to_string(), agent }
    }

    /// Sends a request; returns the HTTP status and the body text.
    pub fn send(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>, accept: &str) -> Result<(u16, String)> {
        let url = format!("{}{}", self.base, path);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Accept", accept).call(),
            ("DELETE", None) => self.agent.delete(&url).header("Accept", accept).call(),
            ("DELETE", Some((ct, b))) => {
                self.agent.delete(&url).header("Accept", accept).header("Content-Type", ct).force_send_body().send(&b[..])
            }
            ("POST", Some((ct, b))) => self.agent.post(&url).header("Accept", accept).header("Content-Type", ct).send(&b[..]),
            ("PUT", Some((ct, b))) => self.agent.put(&url).header("Accept", accept).header("Content-Type", ct).send(&b[..]),
            ("PATCH", Some((ct, b))) => self.agent.patch(&url).header("Accept", accept).header("Content-Type", ct).send(&b[..]),
            (m, _) => return Err(anyhow!("unsupported request {m} {path}")),
        };
        let mut resp = resp.with_context(|| format!("cannot reach the shoal API server at {}", self.base))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().with_config().limit(1 << 30).read_to_string().context("reading response")?;
        Ok((status, text))
    }

    /// Sends JSON and expects a 2xx JSON answer; a Status error becomes the error message.
    pub fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        self.json_as(method, path, body, "application/json")
    }

    pub fn json_as(&self, method: &str, path: &str, body: Option<&Value>, accept: &str) -> Result<Value> {
        let payload = body.map(|b| ("application/json", serde_json::to_vec(b).unwrap_or_default()));
        let (status, text) = self.send(method, path, payload, accept)?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            let reason = value.get("reason").and_then(Value::as_str).unwrap_or("Unknown").to_string();
            Err(ApiFailure { code: status, reason, message: status_message(&value, &text) }.into())
        }
    }
}

/// A non-2xx answer from the server, shown as kubectl shows it.
#[derive(Debug)]
pub struct ApiFailure {
    pub code: u16,
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error from server ({}): {}", self.reason, self.message)
    }
}

impl std::error::Error for ApiFailure {}

fn status_message(v: &Value, raw: &str) -> String {
    v.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| raw.trim().to_string())
}

/// `/api/v1/namespaces/{ns}/pods` or `/apis/apps/v1/deployments` (all namespaces / cluster kinds).
pub fn collection_path(info: &KindInfo, ns: Option<&str>) -> String {
    match (info.namespaced, ns) {
        (true, Some(ns)) => format!("{}/namespaces/{}/{}", info.group_version_path(), ns, info.plural),
        _ => format!("{}/{}", info.group_version_path(), info.plural),
    }
}

pub fn item_path(info: &KindInfo, ns: Option<&str>, name: &str) -> String {
    format!("{}/{}", collection_path(info, ns), name)
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
