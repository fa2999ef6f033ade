//! `shoal scale KIND/NAME --replicas N`: read-modify-write of the `/scale` subresource.

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::display_kind;
use super::rollout::parse_target;
use crate::client::{item_path, ApiFailure, Client};

#[derive(clap::Args)]
pub struct ScaleArgs {
    /// deployment/NAME (also replicaset/rs, rc, statefulset/sts), or `KIND NAME`
    #[arg(required = true, num_args = 1..=2)]
    target: Vec<String>,
    #[arg(long)]
    replicas: u32,
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
}

pub fn run(client: &Client, args: &ScaleArgs) -> Result<()> {
    let (info, name) = parse_target(&args.target)?;
    if !info.has_scale {
        bail!("cannot scale {}: it has no scale subresource", display_kind(info));
    }
    set_replicas(client, &item_path(info, Some(&args.namespace), &name), args.replicas)?;
    println!("{}/{name} scaled", display_kind(info));
    Ok(())
}

/// GETs the Scale at `{item}/scale`, sets spec.replicas and PUTs it back, retrying on 409.
pub fn set_replicas(client: &Client, item: &str, replicas: u32) -> Result<Value> {
    let path = format!("{item}/scale");
    for _ in 0..20 {
        let mut scale = client.json("GET", &path, None)?;
        scale["spec"] = json!({"replicas": replicas});
        match client.json("PUT", &path, Some(&scale)) {
            Ok(v) => return Ok(v),
            Err(e) if e.downcast_ref::<ApiFailure>().is_some_and(|f| f.code == 409) => continue,
            Err(e) => return Err(e),
        }
    }
    bail!("scaling {item}: gave up after repeated conflicts")
}
