//! A small blocking HTTP client for the API server: JSON in, (status, JSON) out.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::Value;

use super::SimError;

#[derive(Clone)]
pub struct ApiClient {
    base: String,
    agent: ureq::Agent,
}

fn agent(timeout: Option<Duration>, per_read: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_per_read(per_read)
        .max_idle_connections(256)
        .max_idle_connections_per_host(64)
        .build()
        .into()
}

impl ApiClient {
    pub fn new(base: &str) -> Self {
        ApiClient { base: base.trim_end_matches('/').to_string(), agent: agent(Some(Duration::from_secs(30)), None) }
    }

    fn finish(&self, method: &str, path: &str, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<(u16, Value), SimError> {
        let mut r = r.map_err(|e| SimError::Http { method: method.to_string(), path: path.to_string(), source: Box::new(e) })?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(|e| SimError::Http { method: method.to_string(), path: path.to_string(), source: Box::new(e) })?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    pub fn get(&self, path: &str) -> Result<(u16, Value), SimError> {
        self.finish("GET", path, self.agent.get(format!("{}{path}", self.base)).call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), SimError> {
        let r = self.agent.post(format!("{}{path}", self.base)).header("Content-Type", "application/json").send(body.to_string());
        self.finish("POST", path, r)
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<(u16, Value), SimError> {
        let r = self.agent.put(format!("{}{path}", self.base)).header("Content-Type", "application/json").send(body.to_string());
        self.finish("PUT", path, r)
    }

    /// JSON merge patch (RFC 7386).
    pub fn merge_patch(&self, path: &str, body: &Value) -> Result<(u16, Value), SimError> {
        let r = self
            .agent
            .patch(format!("{}{path}", self.base))
            .header("Content-Type", "application/merge-patch+json")
            .send(body.to_string());
        self.finish("PATCH", path, r)
    }

    pub fn delete(&self, path: &str) -> Result<(u16, Value), SimError> {
        self.finish("DELETE", path, self.agent.delete(format!("{}{path}", self.base)).call())
    }

    /// Opens a watch and calls `on_event` for every event line until the stream ends
    /// (Ok) or fails (Err). `on_event` returns false to stop early.
    pub fn watch(&self, path: &str, mut on_event: impl FnMut(Value) -> bool) -> Result<(), SimError> {
        let http = |e: ureq::Error| SimError::Http { method: "GET".into(), path: path.to_string(), source: Box::new(e) };
        // No overall timeout; bookmarks arrive every second, so a silent minute means a dead peer.
        let resp = agent(None, Some(Duration::from_secs(60))).get(format!("{}{path}", self.base)).call().map_err(http)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(SimError::Status { what: format!("watch {path}"), status, body: String::new() });
        }
        let mut lines = BufReader::new(resp.into_body().into_reader());
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if !on_event(v) {
                            return Ok(());
                        }
                    }
                }
                Err(e) => return Err(SimError::Io { what: format!("reading watch {path}"), source: e }),
            }
        }
    }
}
