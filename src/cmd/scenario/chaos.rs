//! Fault injection for scenarios: choosing actors to kill from the supervision tree, and
//! SIGKILLing processes.

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// An actor that can be killed through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victim {
    /// The plural of the manager above it (`replicasets`), or a singleton's or manager's name.
    pub group: String,
    /// The node's `kind` (`ReplicaSet`, `manager`, `scheduler`).
    pub kind: String,
    /// `namespace/name`, `name`, or the manager/singleton name.
    pub name: String,
    /// Directly under the root: a manager or a singleton.
    pub top_level: bool,
    pub kill_path: String,
}

impl Victim {
    pub fn label(&self) -> String {
        if self.top_level {
            self.name.clone()
        } else {
            format!("{}/{}", self.group, self.name)
        }
    }

    /// Whether a `kinds` entry selects this actor: a plural or kind selects object actors,
    /// `managers` selects managers, a singleton's name selects it.
    pub fn matches(&self, filter: &str) -> bool {
        let is_manager = self.kind == "manager";
        if self.top_level {
            if is_manager {
                filter.eq_ignore_ascii_case("managers") || filter.eq_ignore_ascii_case("manager")
            } else {
                filter.eq_ignore_ascii_case(&self.name) || filter.eq_ignore_ascii_case(&self.kind)
            }
        } else {
            filter.eq_ignore_ascii_case(&self.group) || filter.eq_ignore_ascii_case(&self.kind)
        }
    }
}

/// Every actor in the `/debug/actors` tree except the root, with its kill endpoint.
pub fn victims(tree: &Value) -> Vec<Victim> {
    let mut out = Vec::new();
    for top in children(tree) {
        let Some(group) = top.get("name").and_then(Value::as_str) else { continue };
        out.push(Victim {
            group: group.to_string(),
            kind: top.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
            name: group.to_string(),
            top_level: true,
            kill_path: format!("/debug/actors/{group}/kill"),
        });
        collect_below(group, top, &mut out);
    }
    out
}

fn children(v: &Value) -> impl Iterator<Item = &Value> {
    v.get("children").and_then(Value::as_array).into_iter().flatten()
}

fn collect_below(group: &str, parent: &Value, out: &mut Vec<Victim>) {
    for child in children(parent) {
        let Some(name) = child.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else { continue };
        let (ns, short) = name.split_once('/').unwrap_or(("_", name));
        out.push(Victim {
            group: group.to_string(),
            kind: child.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
            name: name.to_string(),
            top_level: false,
            kill_path: format!("/debug/actors/{group}/{ns}/{short}/kill"),
        });
        collect_below(group, child, out);
    }
}

/// xorshift64*: reproducible picks from a printed seed, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// SIGKILLs the pid in `pid_file`, or every process named exactly `name`; returns the pids.
pub fn kill_process(pid_file: Option<&Path>, name: Option<&str>) -> Result<Vec<u32>> {
    let pids: Vec<u32> = match (pid_file, name) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            vec![text.trim().parse().map_err(|_| anyhow!("{}: not a pid: {:?}", file.display(), text.trim()))?]
        }
        (None, Some(name)) => {
            let out = Command::new("pgrep").arg("-x").arg(name).output().context("running pgrep")?;
            String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect()
        }
        (None, None) => bail!("kill_process needs a pid_file or a name"),
    };
    if pids.is_empty() {
        bail!("no process named {:?}", name.unwrap_or(""));
    }
    for pid in &pids {
        let status = Command::new("kill").arg("-9").arg(pid.to_string()).status().context("running kill")?;
        if !status.success() {
            bail!("kill -9 {pid} failed ({status})");
        }
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree() -> Value {
        json!({"name": "root", "kind": "root", "restarts": 0, "children": [
            {"name": "replicasets", "kind": "manager", "restarts": 0, "children": [
                {"name": "default/web-abc", "kind": "ReplicaSet", "restarts": 0, "children": []}]},
            {"name": "nodes", "kind": "manager", "restarts": 0, "children": [
                {"name": "n1", "kind": "Node", "restarts": 0, "children": []}]},
            {"name": "scheduler", "kind": "scheduler", "restarts": 0, "children": []}]})
    }

    #[test]
    fn victims_have_kill_paths() {
        let v = victims(&tree());
        let paths: Vec<&str> = v.iter().map(|v| v.kill_path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/debug/actors/replicasets/kill",
                "/debug/actors/replicasets/default/web-abc/kill",
                "/debug/actors/nodes/kill",
                "/debug/actors/nodes/_/n1/kill",
                "/debug/actors/scheduler/kill",
            ]
        );
    }

    #[test]
    fn kinds_filter_selects_objects_managers_and_singletons() {
        let v = victims(&tree());
        let picked = |f: &str| v.iter().filter(|x| x.matches(f)).map(Victim::label).collect::<Vec<_>>();
        assert_eq!(picked("replicasets"), ["replicasets/default/web-abc"]);
        assert_eq!(picked("ReplicaSet"), ["replicasets/default/web-abc"]);
        assert_eq!(picked("managers"), ["replicasets", "nodes"]);
        assert_eq!(picked("scheduler"), ["scheduler"]);
    }

    #[test]
    fn rng_stays_in_range_and_is_reproducible() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            let x = a.below(5);
            assert!(x < 5);
            assert_eq!(x, b.below(5));
        }
    }
}
