//! `shoal rollout status|history|undo|pause|resume|restart deployment/NAME`, as kubectl does them.

use std::time::{Duration, Instant};

use api::model::{KindInfo, ReplicaSet, Resource};
use client::{ListParams, Patch, PatchParams};
use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::display_kind;
use super::{deployments, Client};

/// The annotation carrying a ReplicaSet's (and its Deployment's) revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";
const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";
const HASH_LABEL: &str = "pod-template-hash";
/// How often status is polled while waiting.
pub const POLL: Duration = Duration::from_millis(100);

#[derive(clap::Subcommand)]
pub enum RolloutCommand {
    /// Wait until the rollout is complete (or print its state once with --watch=false).
    Status {
        /// deployment/NAME, or `deployment NAME`
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// Keep watching until the rollout finishes.
        #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set,
              num_args = 0..=1, default_missing_value = "true")]
        watch: bool,
        /// Give up after this long (`30s`, `2m`, `500ms`; 0 or absent: wait forever).
        #[arg(long)]
        timeout: Option<String>,
    },
    /// List the revisions of a Deployment, or show one with --revision.
    History {
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        #[arg(long, default_value_t = 0)]
        revision: u64,
    },
    /// Roll back to the previous revision, or to --to-revision.
    Undo {
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        #[arg(long, default_value_t = 0)]
        to_revision: u64,
    },
    /// Stop the controller from rolling out template changes.
    Pause {
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Let the controller roll out template changes again.
    Resume {
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
    /// Replace every pod by changing a template annotation.
    Restart {
        #[arg(required = true, num_args = 1..=2)]
        target: Vec<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
}

pub fn run(client: &Client, command: &RolloutCommand) -> Result<()> {
    match command {
        RolloutCommand::Status { target, namespace, watch, timeout } => {
            let name = deployment_name(target)?;
            let timeout = timeout.as_deref().map(parse_duration).transpose()?.filter(|d| !d.is_zero());
            if *watch {
                wait_complete(client, namespace, &name, timeout, |line| println!("{line}"))
            } else {
                let d = deployments(client, namespace).get(&name)?;
                match rollout_state(&d, &name) {
                    RolloutState::Failed(msg) => Err(anyhow!(msg)),
                    RolloutState::Waiting(msg) | RolloutState::Done(msg) => {
                        println!("{msg}");
                        Ok(())
                    }
                }
            }
        }
        RolloutCommand::History { target, namespace, revision } => {
            history(client, namespace, &deployment_name(target)?, *revision)
        }
        RolloutCommand::Undo { target, namespace, to_revision } => {
            println!("{}", undo(client, namespace, &deployment_name(target)?, *to_revision)?);
            Ok(())
        }
        RolloutCommand::Pause { target, namespace } => {
            println!("{}", set_paused(client, namespace, &deployment_name(target)?, true)?);
            Ok(())
        }
        RolloutCommand::Resume { target, namespace } => {
            println!("{}", set_paused(client, namespace, &deployment_name(target)?, false)?);
            Ok(())
        }
        RolloutCommand::Restart { target, namespace } => {
            println!("{}", restart(client, namespace, &deployment_name(target)?)?);
            Ok(())
        }
    }
}


/// Resolves `KIND/NAME` or `KIND NAME` to the kind and the name.
pub fn parse_target(args: &[String]) -> Result<(&'static KindInfo, String)> {
    let (kind, name) = match args {
        [one] => one
            .split_once('/')
            .ok_or_else(|| anyhow!("expected KIND/NAME or KIND NAME, got {one:?}"))?,
        [kind, name] => (kind.as_str(), name.as_str()),
        _ => bail!("expected KIND/NAME or KIND NAME"),
    };
    if name.is_empty() || name.contains('/') {
        bail!("invalid resource name {name:?}");
    }
    let info = api::model::kind_by_name(kind)
        .ok_or_else(|| anyhow!("the server doesn't have a resource type {kind:?}"))?;
    Ok((info, name.to_string()))
}

/// Like [`parse_target`], for commands that only know Deployments.
pub fn deployment_name(args: &[String]) -> Result<String> {
    let (info, name) = parse_target(args)?;
    if info.kind != "Deployment" {
        bail!("no rollout support for {}: only deployments are supported", display_kind(info));
    }
    Ok(name)
}

/// Parses `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num.parse().map_err(|_| anyhow!("invalid duration {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("invalid duration {s:?}: unit must be ms, s, m or h"),
    };
    if !secs.is_finite() || secs < 0.0 {
        bail!("invalid duration {s:?}");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Where a rollout stands, with kubectl's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    Waiting(String),
    Done(String),
    Failed(String),
}

fn int_at(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// kubectl's rule for a Deployment's rollout (`DeploymentStatusViewer`).
pub fn rollout_state(d: &Value, name: &str) -> RolloutState {
    let generation = int_at(d, "/metadata/generation");
    let observed = int_at(d, "/status/observedGeneration");
    if generation > observed {
        return RolloutState::Waiting("Waiting for deployment spec update to be observed...".into());
    }
    let deadline_exceeded = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded");
    if deadline_exceeded {
        return RolloutState::Failed(format!("deployment {name:?} exceeded its progress deadline"));
    }
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let updated = int_at(d, "/status/updatedReplicas");
    let total = int_at(d, "/status/replicas");
    let available = int_at(d, "/status/availableReplicas");
    let waiting = |what: String| RolloutState::Waiting(format!("Waiting for deployment {name:?} rollout to finish: {what}..."));
    if updated < want {
        waiting(format!("{updated} out of {want} new replicas have been updated"))
    } else if total > updated {
        waiting(format!("{} old replicas are pending termination", total - updated))
    } else if available < updated {
        waiting(format!("{available} of {updated} updated replicas are available"))
    } else {
        RolloutState::Done(format!("deployment {name:?} successfully rolled out"))
    }
}

/// Polls the Deployment until its rollout is done; `progress` sees each new message.
pub fn wait_complete(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Option<Duration>,
    mut progress: impl FnMut(&str),
) -> Result<()> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let api = deployments(client, ns);
    let mut last = String::new();
    loop {
        let d = api.get(name)?;
        let (msg, done) = match rollout_state(&d, name) {
            RolloutState::Failed(msg) => bail!(msg),
            RolloutState::Waiting(msg) => (msg, false),
            RolloutState::Done(msg) => (msg, true),
        };
        if msg != last {
            progress(&msg);
            last = msg;
        }
        if done {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            bail!("timed out waiting for the condition (last: {last})");
        }
        std::thread::sleep(POLL);
    }
}

/// A ReplicaSet's revision annotation, if it has a valid one.
pub fn revision_of(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// The ReplicaSets in `rs_list` that the Deployment owns (by uid), sorted by revision.
pub fn owned_replicasets(deploy: &Value, rs_list: &[Value]) -> Vec<Value> {
    let uid = deploy.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("");
    let mut owned: Vec<Value> = rs_list
        .iter()
        .filter(|rs| {
            !uid.is_empty()
                && rs
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .cloned()
        .collect();
    owned.sort_by_key(|rs| revision_of(rs).unwrap_or(0));
    owned
}

/// The Deployment and the ReplicaSets it owns.
pub fn fetch_with_replicasets(client: &Client, ns: &str, name: &str) -> Result<(Value, Vec<Value>)> {
    let deploy = deployments(client, ns).get(name)?;
    let list = client.dynamic(ReplicaSet::INFO, Some(ns)).list(&ListParams::default())?;
    let owned = owned_replicasets(&deploy, &list.items);
    Ok((deploy, owned))
}

fn history(client: &Client, ns: &str, name: &str, revision: u64) -> Result<()> {
    let (_, sets) = fetch_with_replicasets(client, ns, name)?;
    if revision > 0 {
        let rs = sets
            .iter()
            .find(|rs| revision_of(rs) == Some(revision))
            .ok_or_else(|| anyhow!("unable to find the specified revision"))?;
        println!("deployment.apps/{name} with revision #{revision}");
        println!("Pod Template:");
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        for line in serde_saphyr::to_string(&template)?.lines() {
            println!("  {line}");
        }
        return Ok(());
    }
    println!("deployment.apps/{name}");
    print!("{}", history_table(&sets));
    Ok(())
}

/// kubectl's `REVISION  CHANGE-CAUSE` table for sorted ReplicaSets.
pub fn history_table(sets: &[Value]) -> String {
    let mut out = String::from("REVISION  CHANGE-CAUSE\n");
    for rs in sets {
        let Some(rev) = revision_of(rs) else { continue };
        let cause = rs
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(CHANGE_CAUSE_ANNOTATION))
            .and_then(Value::as_str)
            .unwrap_or("<none>");
        out.push_str(&format!("{rev:<10}{cause}\n"));
    }
    out
}

/// What `undo` would do, decided from the Deployment and its ReplicaSets.
#[derive(Debug, PartialEq)]
pub enum Rollback {
    /// The current template already is that revision's.
    Skip(u64),
    /// Write this template into the Deployment.
    To(u64, Value),
}

fn without_hash_label(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(HASH_LABEL);
    }
    t
}

/// kubectl's rollback choice: `to_revision`, or (0) the revision before the newest.
pub fn plan_rollback(deploy: &Value, sets: &[Value], name: &str, to_revision: u64) -> Result<Rollback> {
    if deploy.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        bail!("you cannot rollback a paused deployment; resume it first with 'shoal rollout resume deployment/{name}' and try again");
    }
    let mut revisions: Vec<(u64, &Value)> = sets.iter().filter_map(|rs| revision_of(rs).map(|r| (r, rs))).collect();
    revisions.sort_by_key(|(r, _)| *r);
    let (rev, rs) = if to_revision == 0 {
        if revisions.len() < 2 {
            bail!("no rollout history found for deployment {name:?}");
        }
        revisions[revisions.len() - 2]
    } else {
        *revisions
            .iter()
            .find(|(r, _)| *r == to_revision)
            .ok_or_else(|| anyhow!("unable to find specified revision {to_revision} in history"))?
    };
    let target = without_hash_label(rs.pointer("/spec/template").unwrap_or(&Value::Null));
    let current = without_hash_label(deploy.pointer("/spec/template").unwrap_or(&Value::Null));
    if target == current {
        Ok(Rollback::Skip(rev))
    } else {
        Ok(Rollback::To(rev, target))
    }
}

/// Rolls back client-side (copying the ReplicaSet's template); returns kubectl's message.
pub fn undo(client: &Client, ns: &str, name: &str, to_revision: u64) -> Result<String> {
    for _ in 0..20 {
        let (mut deploy, sets) = fetch_with_replicasets(client, ns, name)?;
        match plan_rollback(&deploy, &sets, name, to_revision)? {
            Rollback::Skip(rev) => {
                return Ok(format!(
                    "deployment.apps/{name} skipped rollback (current template already matches revision {rev})"
                ))
            }
            Rollback::To(_, template) => {
                deploy["spec"]["template"] = template;
                match deployments(client, ns).replace(name, &deploy) {
                    Ok(_) => return Ok(format!("deployment.apps/{name} rolled back")),
                    Err(e) if e.is_conflict() => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    bail!("rolling back deployment {name:?}: gave up after repeated conflicts")
}

/// Sends a JSON merge patch of the Deployment.
fn merge_patch(client: &Client, ns: &str, name: &str, patch: Value) -> Result<Value> {
    Ok(deployments(client, ns).patch(name, &PatchParams::default(), &Patch::Merge(patch))?)
}

pub fn set_paused(client: &Client, ns: &str, name: &str, paused: bool) -> Result<String> {
    merge_patch(client, ns, name, json!({"spec": {"paused": paused}}))?;
    Ok(format!("deployment.apps/{name} {}", if paused { "paused" } else { "resumed" }))
}

pub fn restart(client: &Client, ns: &str, name: &str) -> Result<String> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}});
    merge_patch(client, ns, name, patch)?;
    Ok(format!("deployment.apps/{name} restarted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(gen: i64, observed: i64, want: i64, updated: i64, total: i64, available: i64) -> Value {
        json!({
            "metadata": {"name": "web", "generation": gen, "uid": "u1"},
            "spec": {"replicas": want},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                       "availableReplicas": available},
        })
    }

    #[test]
    fn rollout_state_follows_kubectl_order() {
        let msg = |d: Value| rollout_state(&d, "web");
        assert_eq!(
            msg(deploy(2, 1, 3, 3, 3, 3)),
            RolloutState::Waiting("Waiting for deployment spec update to be observed...".into())
        );
        assert_eq!(
            msg(deploy(2, 2, 3, 1, 4, 3)),
            RolloutState::Waiting(
                "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...".into()
            )
        );
        assert_eq!(
            msg(deploy(2, 2, 3, 3, 4, 3)),
            RolloutState::Waiting(
                "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...".into()
            )
        );
        assert_eq!(
            msg(deploy(2, 2, 3, 3, 3, 2)),
            RolloutState::Waiting(
                "Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...".into()
            )
        );
        assert_eq!(msg(deploy(2, 2, 3, 3, 3, 3)), RolloutState::Done("deployment \"web\" successfully rolled out".into()));
    }

    #[test]
    fn progress_deadline_exceeded_fails() {
        let mut d = deploy(1, 1, 3, 1, 3, 1);
        d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert_eq!(rollout_state(&d, "web"), RolloutState::Failed("deployment \"web\" exceeded its progress deadline".into()));
    }

    fn rs(name: &str, owner: &str, rev: u64, image: &str) -> Value {
        json!({
            "metadata": {"name": name, "ownerReferences": [{"uid": owner}],
                         "annotations": {REVISION_ANNOTATION: rev.to_string()}},
            "spec": {"template": {"metadata": {"labels": {"app": "web", HASH_LABEL: name}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}},
        })
    }

    fn with_template(image: &str) -> Value {
        let mut d = deploy(3, 3, 3, 3, 3, 3);
        d["spec"]["template"] = json!({"metadata": {"labels": {"app": "web"}},
                                       "spec": {"containers": [{"name": "web", "image": image}]}});
        d
    }

    #[test]
    fn owned_sets_are_filtered_by_uid_and_sorted_by_revision() {
        let sets = [rs("b", "u1", 2, "v2"), rs("x", "other", 9, "v9"), rs("a", "u1", 1, "v1")];
        let owned = owned_replicasets(&with_template("v2"), &sets);
        let names: Vec<_> = owned.iter().map(|r| r["metadata"]["name"].as_str().unwrap_or("")).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(history_table(&owned), "REVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n");
    }

    #[test]
    fn undo_defaults_to_the_previous_revision_without_the_hash_label() {
        let sets = [rs("a", "u1", 1, "v1"), rs("b", "u1", 2, "v2")];
        match plan_rollback(&with_template("v2"), &sets, "web", 0).unwrap() {
            Rollback::To(1, t) => {
                assert_eq!(t["spec"]["containers"][0]["image"], "v1");
                assert!(t["metadata"]["labels"].get(HASH_LABEL).is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(plan_rollback(&with_template("v2"), &sets, "web", 2).unwrap(), Rollback::Skip(2));
        assert!(plan_rollback(&with_template("v2"), &sets, "web", 7).is_err());
        assert!(plan_rollback(&with_template("v2"), &sets[..1], "web", 0).is_err());
    }

    #[test]
    fn targets_and_durations_parse() {
        let t = |v: &[&str]| deployment_name(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(t(&["deployment/web"]).unwrap(), "web");
        assert_eq!(t(&["deploy/web"]).unwrap(), "web");
        assert_eq!(t(&["deployments", "web"]).unwrap(), "web");
        assert!(t(&["pods/web"]).is_err());
        assert!(t(&["web"]).is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert!(parse_duration("3d").is_err());
    }
}
