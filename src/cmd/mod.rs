//! One module per CLI verb.

pub mod apply;
pub mod cluster;
pub mod delete;
pub mod get;
pub mod image;
pub mod node;
pub mod privileges;
pub mod kill;
pub mod logs;
pub mod rollout;
pub mod scale;
pub mod scenario;
pub mod set_image;

use api::model::{Deployment, KindInfo, Resource};
use serde_json::Value;

pub use client::blocking::Client;

/// The Deployments of `ns`, as JSON.
pub fn deployments(client: &Client, ns: &str) -> client::blocking::Api<Value> {
    client.dynamic(Deployment::INFO, Some(ns))
}

/// GET of a path that is no kind's verb (`/debug/actors`), as JSON.
pub fn get_json(client: &Client, path: &str) -> Result<Value, client::Error> {
    let body = client.send(client::Request::get(path).header("Accept", "application/json"))?;
    serde_json::from_slice(&body).map_err(|source| client::Error::Decode { method: "GET", path: path.to_string(), source })
}

/// How kubectl names a kind in its messages: `deployment.apps`, `pod`.
pub fn display_kind(info: &KindInfo) -> String {
    let kind = info.kind.to_ascii_lowercase();
    if info.group.is_empty() {
        kind
    } else {
        format!("{kind}.{}", info.group)
    }
}
