//! `shoal kill actor KIND/NAMESPACE/NAME` (one actor) and `shoal kill actor KIND` (a manager
//! or a singleton), through `POST /debug/actors/…/kill`.

use anyhow::{bail, Result};
use serde_json::Value;

use super::Client;

#[derive(clap::Subcommand)]
pub enum KillCommand {
    /// Kill an actor: `replicasets/default/web-abc`, `nodes/_/n1` (or `nodes/n1`), or a whole
    /// kind's manager or a singleton by its name (`replicasets`, `scheduler`). KIND is any
    /// spelling kubectl accepts (`ReplicaSet`, `replicaset`, `replicasets`, `rs`).
    Actor { target: String },
}

pub fn run(client: &Client, command: &KillCommand) -> Result<()> {
    let KillCommand::Actor { target } = command;
    let answer = kill_actor(client, &kill_path(target)?)?;
    println!("{}", serde_json::to_string(&answer)?);
    Ok(())
}

/// The kill endpoint for `KIND`, `KIND/NAME` (cluster-scoped) or `KIND/NAMESPACE/NAME`.
pub fn kill_path(target: &str) -> Result<String> {
    let parts: Vec<&str> = target.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("expected KIND, KIND/NAME or KIND/NAMESPACE/NAME, got {target:?}");
    }
    Ok(match parts[..] {
        [kind] => format!("/debug/actors/{kind}/kill"),
        [kind, name] => format!("/debug/actors/{kind}/_/{name}/kill"),
        [kind, ns, name] => format!("/debug/actors/{kind}/{ns}/{name}/kill"),
        _ => bail!("expected KIND, KIND/NAME or KIND/NAMESPACE/NAME, got {target:?}"),
    })
}

/// POSTs to a kill endpoint; returns the server's answer (`{"killed": …}`).
pub fn kill_actor(client: &Client, path: &str) -> Result<Value, client::Error> {
    let body = client.send(client::Request::new("POST", path).body("application/json", "{}"))?;
    serde_json::from_slice(&body).map_err(|source| client::Error::Decode { method: "POST", path: path.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_paths() {
        assert_eq!(kill_path("replicasets/default/web-abc").unwrap(), "/debug/actors/replicasets/default/web-abc/kill");
        assert_eq!(kill_path("nodes/n1").unwrap(), "/debug/actors/nodes/_/n1/kill");
        assert_eq!(kill_path("scheduler").unwrap(), "/debug/actors/scheduler/kill");
        assert!(kill_path("a//b").is_err());
        assert!(kill_path("a/b/c/d").is_err());
    }
}
