//! `shoal scale KIND/NAME --replicas N`: read-modify-write of the `/scale` subresource.

use anyhow::{bail, Result};
use api::model::KindInfo;
use client::{Scale, ScaleSpec};

use super::rollout::parse_target;
use super::{display_kind, Client};

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
    set_replicas(client, info, &args.namespace, &name, args.replicas)?;
    println!("{}/{name} scaled", display_kind(info));
    Ok(())
}

/// GETs the object's Scale, sets spec.replicas and PUTs it back, retrying on 409.
pub fn set_replicas(client: &Client, info: &'static KindInfo, ns: &str, name: &str, replicas: u32) -> Result<Scale> {
    let api = client.dynamic(info, Some(ns));
    let replicas = i32::try_from(replicas)?;
    for _ in 0..20 {
        let mut scale = api.get_scale(name)?;
        scale.spec = ScaleSpec { replicas: Some(replicas) };
        match api.replace_scale(name, &scale) {
            Ok(s) => return Ok(s),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("scaling {}/{name}: gave up after repeated conflicts", display_kind(info))
}
