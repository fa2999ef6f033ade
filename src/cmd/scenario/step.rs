//! The scenario file: its steps, parsed strictly, and how each is described on the timeline.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// `{"name": "...", "namespace"?: "...", "seed"?: N, "steps": [...]}`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Namespace for every step (default: the CLI's `-n`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Seed for `kill_random_actors` (default: from the clock; printed in the summary).
    #[serde(default)]
    pub seed: Option<u64>,
    pub steps: Vec<Step>,
}

/// One step; `action` names it.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Create or replace the objects of a file (relative to the scenario) or an inline manifest.
    Apply {
        #[serde(default)]
        file: Option<String>,
        #[serde(default)]
        manifest: Option<Value>,
    },
    Scale { deployment: String, replicas: u32 },
    SetImage { deployment: String, container: String, image: String },
    /// `shoal rollout status` with a timeout.
    WaitRollout {
        deployment: String,
        #[serde(default = "default_timeout")]
        timeout_s: f64,
    },
    Undo {
        deployment: String,
        #[serde(default)]
        to_revision: Option<u64>,
    },
    Pause { deployment: String },
    Resume { deployment: String },
    Restart { deployment: String },
    /// One actor (`kind`+`namespace`+`name`), or a manager/singleton (`kind` alone).
    KillActor {
        kind: String,
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        name: Option<String>,
    },
    /// `count` kills of actors picked at random from `GET /debug/actors`.
    KillRandomActors {
        count: u32,
        /// Plurals (`replicasets`), kinds (`ReplicaSet`), `managers`, singleton names; default all.
        #[serde(default)]
        kinds: Option<Vec<String>>,
        #[serde(default)]
        interval_ms: u64,
    },
    /// SIGKILL a process by pid file (relative to the scenario) or exact process name.
    KillProcess {
        #[serde(default)]
        pid_file: Option<String>,
        #[serde(default)]
        name: Option<String>,
    },
    Sleep { ms: u64 },
    /// Poll until `condition` holds, or fail after `timeout_s`.
    Wait {
        condition: Condition,
        #[serde(default = "default_timeout")]
        timeout_s: f64,
    },
    Assert(Box<Assertion>),
}

fn default_timeout() -> f64 {
    60.0
}

/// What a `wait` polls for; every given field must hold. Counts are "at least".
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default)]
    pub deployment: Option<String>,
    /// status.availableReplicas >= N
    #[serde(default)]
    pub available: Option<i64>,
    /// status.readyReplicas >= N
    #[serde(default)]
    pub ready: Option<i64>,
    /// status.updatedReplicas >= N
    #[serde(default)]
    pub updated: Option<i64>,
    /// the rollout is complete by kubectl's rule
    #[serde(default)]
    pub complete: Option<bool>,
    #[serde(default)]
    pub pods: Option<PodCount>,
    /// Nodes with condition Ready=True >= N
    #[serde(default)]
    pub nodes_ready: Option<i64>,
}

/// Pods matching `selector` (not being deleted): `running` in phase Running, `count` in all.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PodCount {
    pub selector: String,
    #[serde(default)]
    pub running: Option<i64>,
    #[serde(default)]
    pub count: Option<i64>,
}

/// What an `assert` checks once; every given field must hold. Counts are exact.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Assertion {
    #[serde(default)]
    pub deployment: Option<String>,
    /// spec.replicas and status.replicas == N
    #[serde(default)]
    pub replicas: Option<i64>,
    #[serde(default)]
    pub ready: Option<i64>,
    #[serde(default)]
    pub available: Option<i64>,
    #[serde(default)]
    pub updated: Option<i64>,
    /// The Deployment's revision annotation (number or string).
    #[serde(default)]
    pub revision: Option<Value>,
    /// Owned ReplicaSets with nonzero spec or status replicas.
    #[serde(default)]
    pub replicasets: Option<i64>,
    #[serde(default)]
    pub complete: Option<bool>,
    #[serde(default)]
    pub pods: Option<PodCount>,
    #[serde(default)]
    pub pods_per_node: Option<PodsPerNode>,
    #[serde(default)]
    pub restarts_total: Option<RestartsTotal>,
    /// No controller has more live pods than its replicas (a duplicate), and the live pods number the Deployment's spec.replicas (or `count`).
    #[serde(default)]
    pub no_duplicate_pods: Option<NoDuplicatePods>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PodsPerNode {
    pub selector: String,
    #[serde(default)]
    pub max: Option<i64>,
    #[serde(default)]
    pub min: Option<i64>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RestartsTotal {
    #[serde(default)]
    pub equals: Option<u64>,
    /// The restarts added since the scenario started equal the kills it performed.
    #[serde(default)]
    pub equals_kills: Option<bool>,
}

/// `true` (uses the assertion's `deployment`), or `{deployment?, selector?, count?}`.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum NoDuplicatePods {
    Flag(bool),
    Spec {
        #[serde(default)]
        deployment: Option<String>,
        #[serde(default)]
        selector: Option<String>,
        #[serde(default)]
        count: Option<i64>,
    },
}

/// Reads and checks a scenario file.
pub fn parse(text: &str) -> Result<Scenario> {
    let scenario: Scenario = serde_json::from_str(text).context("invalid scenario")?;
    for (i, step) in scenario.steps.iter().enumerate() {
        step.validate().with_context(|| format!("step {}", i + 1))?;
    }
    Ok(scenario)
}

impl Step {
    /// Rejects steps whose fields parse but make no sense together.
    pub fn validate(&self) -> Result<()> {
        match self {
            Step::Apply { file, manifest } if file.is_some() == manifest.is_some() => {
                bail!("apply needs exactly one of `file` and `manifest`")
            }
            Step::KillActor { namespace, name, .. } if namespace.is_some() && name.is_none() => {
                bail!("kill_actor with a namespace needs a name")
            }
            Step::KillProcess { pid_file, name } if pid_file.is_some() == name.is_some() => {
                bail!("kill_process needs exactly one of `pid_file` and `name`")
            }
            Step::Wait { condition, timeout_s } => {
                if *condition == Condition::default() {
                    bail!("wait needs a condition");
                }
                let deployment_fields = condition.available.is_some()
                    || condition.ready.is_some()
                    || condition.updated.is_some()
                    || condition.complete.is_some();
                if deployment_fields && condition.deployment.is_none() {
                    bail!("wait: available/ready/updated/complete need `deployment`");
                }
                if !timeout_s.is_finite() || *timeout_s < 0.0 {
                    bail!("wait: invalid timeout_s");
                }
                Ok(())
            }
            Step::Assert(a) => {
                if **a == Assertion::default() {
                    bail!("assert needs something to check");
                }
                let deployment_fields = a.replicas.is_some()
                    || a.ready.is_some()
                    || a.available.is_some()
                    || a.updated.is_some()
                    || a.revision.is_some()
                    || a.replicasets.is_some()
                    || a.complete.is_some()
                    || a.no_duplicate_pods == Some(NoDuplicatePods::Flag(true));
                if deployment_fields && a.deployment.is_none() {
                    bail!("assert: deployment fields need `deployment`");
                }
                if let Some(NoDuplicatePods::Spec { deployment: None, selector: None, .. }) = &a.no_duplicate_pods {
                    if a.deployment.is_none() {
                        bail!("assert: no_duplicate_pods needs a deployment or a selector");
                    }
                }
                if let Some(r) = &a.restarts_total {
                    if r.equals.is_none() && r.equals_kills != Some(true) {
                        bail!("assert: restarts_total needs `equals` or `equals_kills: true`");
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The words after `step N` on the timeline.
    pub fn describe(&self) -> String {
        match self {
            Step::Apply { file: Some(f), .. } => format!("apply {f}"),
            Step::Apply { manifest, .. } => {
                let names = manifest_names(manifest.as_ref().unwrap_or(&Value::Null));
                format!("apply {}", if names.is_empty() { "inline manifest".into() } else { names.join(", ") })
            }
            Step::Scale { deployment, replicas } => format!("scale {deployment} -> {replicas}"),
            Step::SetImage { deployment, container, image } => format!("set_image {deployment} {container}={image}"),
            Step::WaitRollout { deployment, timeout_s } => format!("wait_rollout {deployment} (timeout {timeout_s}s)"),
            Step::Undo { deployment, to_revision: Some(r) } => format!("undo {deployment} to revision {r}"),
            Step::Undo { deployment, .. } => format!("undo {deployment}"),
            Step::Pause { deployment } => format!("pause {deployment}"),
            Step::Resume { deployment } => format!("resume {deployment}"),
            Step::Restart { deployment } => format!("restart {deployment}"),
            Step::KillActor { kind, namespace, name } => match name {
                Some(n) => format!("kill_actor {kind}/{}/{n}", namespace.as_deref().unwrap_or("_")),
                None => format!("kill_actor {kind}"),
            },
            Step::KillRandomActors { count, kinds, interval_ms } => format!(
                "kill_random_actors {count} of {} every {interval_ms}ms",
                kinds.as_ref().map_or_else(|| "all kinds".to_string(), |k| k.join(","))
            ),
            Step::KillProcess { pid_file: Some(p), .. } => format!("kill_process pid_file {p}"),
            Step::KillProcess { name, .. } => format!("kill_process {}", name.as_deref().unwrap_or("")),
            Step::Sleep { ms } => format!("sleep {ms}ms"),
            Step::Wait { condition, timeout_s } => format!("wait {} (timeout {timeout_s}s)", describe_condition(condition)),
            Step::Assert(a) => format!("assert {}", describe_assertion(a)),
        }
    }
}

fn manifest_names(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(manifest_names).collect(),
        Value::Object(_) if v.get("items").is_some() => manifest_names(&v["items"]),
        Value::Object(_) => vec![format!(
            "{}/{}",
            v.get("kind").and_then(Value::as_str).unwrap_or("?").to_ascii_lowercase(),
            v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?")
        )],
        _ => Vec::new(),
    }
}

fn describe_condition(c: &Condition) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &c.deployment {
        let mut p = format!("deployment {d}");
        if c.complete == Some(true) {
            p.push_str(" complete");
        }
        for (what, n) in [("available", c.available), ("ready", c.ready), ("updated", c.updated)] {
            if let Some(n) = n {
                p.push_str(&format!(" {what}>={n}"));
            }
        }
        parts.push(p);
    }
    if let Some(p) = &c.pods {
        parts.push(describe_pods(p, ">="));
    }
    if let Some(n) = c.nodes_ready {
        parts.push(format!("nodes_ready>={n}"));
    }
    parts.join(", ")
}

fn describe_pods(p: &PodCount, op: &str) -> String {
    let mut s = format!("pods {}", p.selector);
    if let Some(n) = p.running {
        s.push_str(&format!(" running{op}{n}"));
    }
    if let Some(n) = p.count {
        s.push_str(&format!(" count{op}{n}"));
    }
    s
}

fn describe_assertion(a: &Assertion) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &a.deployment {
        let mut p = format!("deployment {d}");
        for (what, n) in [
            ("replicas", a.replicas),
            ("ready", a.ready),
            ("available", a.available),
            ("updated", a.updated),
            ("replicasets", a.replicasets),
        ] {
            if let Some(n) = n {
                p.push_str(&format!(" {what}={n}"));
            }
        }
        if let Some(r) = &a.revision {
            p.push_str(&format!(" revision={}", revision_string(r)));
        }
        if a.complete == Some(true) {
            p.push_str(" complete");
        }
        parts.push(p);
    }
    if let Some(p) = &a.pods {
        parts.push(describe_pods(p, "="));
    }
    if let Some(p) = &a.pods_per_node {
        let bound = |b: Option<i64>| b.map_or_else(|| "-".to_string(), |n| n.to_string());
        parts.push(format!("pods_per_node {} in [{}, {}]", p.selector, bound(p.min), bound(p.max)));
    }
    if let Some(r) = &a.restarts_total {
        match r.equals {
            Some(n) => parts.push(format!("restarts_total={n}")),
            None => parts.push("restarts_total=kills".into()),
        }
    }
    if a.no_duplicate_pods.is_some() {
        parts.push("no_duplicate_pods".into());
    }
    parts.join(", ")
}

/// A revision given as `3` or `"3"`, as the annotation's text.
pub fn revision_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_action_parses() {
        let text = json!({"name": "t", "steps": [
            {"action": "apply", "file": "../manifests/deployment.yaml"},
            {"action": "apply", "manifest": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}},
            {"action": "scale", "deployment": "web", "replicas": 20},
            {"action": "set_image", "deployment": "web", "container": "web", "image": "hello:v2"},
            {"action": "wait_rollout", "deployment": "web", "timeout_s": 30},
            {"action": "undo", "deployment": "web"},
            {"action": "undo", "deployment": "web", "to_revision": 1},
            {"action": "pause", "deployment": "web"},
            {"action": "resume", "deployment": "web"},
            {"action": "kill_actor", "kind": "replicasets", "namespace": "default", "name": "web-1"},
            {"action": "kill_actor", "kind": "scheduler"},
            {"action": "kill_random_actors", "count": 50, "interval_ms": 40},
            {"action": "kill_random_actors", "count": 5, "kinds": ["pods", "managers"]},
            {"action": "kill_process", "pid_file": "node.pid"},
            {"action": "sleep", "ms": 100},
            {"action": "wait", "condition": {"deployment": "web", "available": 20}, "timeout_s": 5},
            {"action": "wait", "condition": {"pods": {"selector": "app=web", "running": 20}}},
            {"action": "wait", "condition": {"nodes_ready": 5}},
            {"action": "assert", "deployment": "web", "revision": 3, "replicas": 20},
            {"action": "assert", "restarts_total": {"equals_kills": true}},
            {"action": "assert", "deployment": "web", "no_duplicate_pods": true},
            {"action": "assert", "no_duplicate_pods": {"selector": "app=web", "count": 20}},
            {"action": "assert", "pods_per_node": {"selector": "app=web", "max": 6, "min": 2}},
        ]})
        .to_string();
        let s = parse(&text).unwrap();
        assert_eq!(s.steps.len(), 23);
        assert_eq!(s.steps[2], Step::Scale { deployment: "web".into(), replicas: 20 });
        assert_eq!(s.steps[2].describe(), "scale web -> 20");
        assert_eq!(s.steps[1].describe(), "apply namespace/a");
        match &s.steps[15] {
            Step::Wait { condition, timeout_s } => {
                assert_eq!(condition.available, Some(20));
                assert_eq!(*timeout_s, 5.0);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(s.steps[18].describe(), "assert deployment web replicas=20 revision=3");
    }

    #[test]
    fn mistakes_are_rejected() {
        let bad = [
            json!({"action": "scale", "deployment": "web", "replica": 2}),
            json!({"action": "explode"}),
            json!({"action": "apply"}),
            json!({"action": "wait", "condition": {}}),
            json!({"action": "wait", "condition": {"available": 3}}),
            json!({"action": "wait", "condition": {"deployment": "web", "availble": 3}}),
            json!({"action": "assert"}),
            json!({"action": "assert", "revision": 2}),
            json!({"action": "kill_process"}),
            json!({"action": "assert", "restarts_total": {}}),
        ];
        for step in bad {
            let text = json!({"name": "t", "steps": [step]}).to_string();
            assert!(parse(&text).is_err(), "accepted {step}");
        }
    }
}
