//! `shoal run SCENARIO.json`: runs a scripted sequence of operations, faults, waits and
//! assertions against a cluster, printing a timeline.

mod chaos;
mod check;
mod step;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use api::model::{Deployment, Node, Pod, ReplicaSet, Resource};
use client::ListParams;

use crate::cmd::rollout::{self, POLL};
use crate::cmd::{deployments, get_json, Client};
use crate::cmd::{kill, scale, set_image};
use crate::manifest;
use step::{Assertion, Condition, NoDuplicatePods, Step};

pub fn run(client: &Client, path: &Path, default_ns: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let scenario = step::parse(&text).with_context(|| path.display().to_string())?;
    let seed = scenario.seed.unwrap_or_else(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let mut runner = Runner {
        client,
        ns: scenario.namespace.clone().unwrap_or_else(|| default_ns.to_string()),
        dir: path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        start: Instant::now(),
        actor_kills: 0,
        process_kills: 0,
        restarts_baseline: get_json(client, "/debug/actors").map_or_else(|_| check::Restarts::default(), |t| check::Restarts::of(&t)),
        rng: chaos::Rng::new(seed),
    };
    println!("scenario {:?}: {} steps against namespace {}", scenario.name, scenario.steps.len(), runner.ns);
    if let Some(d) = &scenario.description {
        println!("  {d}");
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        let began = Instant::now();
        print!("[{:>9.3}s] step {} {} ... ", runner.start.elapsed().as_secs_f64(), i + 1, step.describe());
        let _ = std::io::stdout().flush();
        let outcome = runner.step(step);
        let took = began.elapsed().as_secs_f64();
        match outcome {
            Ok(detail) if detail.is_empty() => println!("ok ({took:.1}s)"),
            Ok(detail) => println!("ok ({took:.1}s): {detail}"),
            Err(e) => {
                println!("FAILED ({took:.1}s)");
                println!("    {e:#}");
                println!("{}", runner.summary(&scenario.name, i, scenario.steps.len(), seed, false));
                bail!("scenario {:?} failed at step {}", scenario.name, i + 1);
            }
        }
    }
    println!("{}", runner.summary(&scenario.name, scenario.steps.len(), scenario.steps.len(), seed, true));
    Ok(())
}

struct Runner<'a> {
    client: &'a Client,
    ns: String,
    /// Paths in steps are relative to the scenario file.
    dir: PathBuf,
    start: Instant,
    actor_kills: u64,
    process_kills: u64,
    /// The tree's restart figures before this run.
    restarts_baseline: check::Restarts,
    rng: chaos::Rng,
}

/// A Deployment's `spec.selector.matchLabels` as a query selector.
fn selector_of(d: &Value) -> Result<String> {
    let labels = d
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| anyhow!("the deployment has no spec.selector.matchLabels"))?;
    Ok(labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
}

impl Runner<'_> {
    fn summary(&self, name: &str, done: usize, total: usize, seed: u64, ok: bool) -> String {
        let verdict = if ok { "passed".to_string() } else { format!("FAILED at step {}", done + 1) };
        let restarts = match get_json(self.client, "/debug/actors") {
            Ok(t) => check::Restarts::of(&t).since(&self.restarts_baseline).describe(),
            Err(e) => format!("restarts unknown: {e:#}"),
        };
        format!(
            "scenario {name:?} {verdict}: {done} of {total} steps ok in {:.3}s; {} actor kills, {} process kills; {restarts} (seed {seed})",
            self.start.elapsed().as_secs_f64(),
            self.actor_kills,
            self.process_kills
        )
    }

    /// Runs one step; `Ok` carries a detail for the timeline, `Err` what was observed.
    fn step(&mut self, step: &Step) -> Result<String> {
        let ns = self.ns.clone();
        match step {
            Step::Apply { file, manifest } => self.apply(file.as_deref(), manifest.as_ref()),
            Step::Scale { deployment, replicas } => {
                scale::set_replicas(self.client, Deployment::INFO, &ns, deployment, *replicas)?;
                Ok(String::new())
            }
            Step::SetImage { deployment, container, image } => {
                set_image::set_images(
                    self.client,
                    Deployment::INFO,
                    Some(&ns),
                    deployment,
                    &[(container.clone(), image.clone())],
                )?;
                Ok(String::new())
            }
            Step::WaitRollout { deployment, timeout_s } => {
                rollout::wait_complete(self.client, &ns, deployment, Some(Duration::from_secs_f64(*timeout_s)), |_| {})?;
                Ok(String::new())
            }
            Step::Undo { deployment, to_revision } => {
                rollout::undo(self.client, &ns, deployment, to_revision.unwrap_or(0))
            }
            Step::Pause { deployment } => rollout::set_paused(self.client, &ns, deployment, true),
            Step::Resume { deployment } => rollout::set_paused(self.client, &ns, deployment, false),
            Step::Restart { deployment } => rollout::restart(self.client, &ns, deployment),
            Step::KillActor { kind, namespace, name } => {
                let target = match name {
                    Some(n) => format!("{kind}/{}/{n}", namespace.as_deref().unwrap_or("_")),
                    None => kind.clone(),
                };
                let answer = kill::kill_actor(self.client, &kill::kill_path(&target)?)?;
                self.actor_kills += 1;
                Ok(answer.get("killed").and_then(Value::as_str).map_or_else(|| answer.to_string(), |k| format!("killed {k}")))
            }
            Step::KillRandomActors { count, kinds, interval_ms } => {
                self.kill_random(*count, kinds.as_deref(), Duration::from_millis(*interval_ms))
            }
            Step::KillProcess { pid_file, name } => {
                let pid_file = pid_file.as_ref().map(|p| self.dir.join(p));
                let pids = chaos::kill_process(pid_file.as_deref(), name.as_deref())?;
                self.process_kills += pids.len() as u64;
                Ok(format!("killed pid {pids:?}"))
            }
            Step::Sleep { ms } => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(String::new())
            }
            Step::Wait { condition, timeout_s } => self.wait(condition, Duration::from_secs_f64(*timeout_s)),
            Step::Assert(a) => {
                let unmet = self.assert(a)?;
                if unmet.is_empty() {
                    Ok(String::new())
                } else {
                    bail!("observed: {}", unmet.join("; "))
                }
            }
        }
    }

    fn apply(&self, file: Option<&str>, inline: Option<&Value>) -> Result<String> {
        let docs: Vec<(&'static api::model::KindInfo, Value)> = match (file, inline) {
            (Some(f), _) => manifest::load(&self.dir.join(f))?.into_iter().map(|d| (d.info, d.value)).collect(),
            (None, Some(v)) => {
                let text = serde_json::to_string(v)?;
                manifest::parse_text(&text, "inline manifest")?
                    .into_iter()
                    .map(|v| {
                        let av = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
                        let info = manifest::kind_of(av, kind)
                            .ok_or_else(|| anyhow!("no kind {kind:?} in version {av:?} is known to shoal"))?;
                        Ok((info, v))
                    })
                    .collect::<Result<_>>()?
            }
            (None, None) => bail!("apply needs a file or a manifest"),
        };
        let mut done = Vec::new();
        for (info, value) in docs {
            let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            let outcome = self.create_or_replace(info, value).with_context(|| format!("{}/{name}", info.plural))?;
            done.push(format!("{}/{name} {outcome}", crate::cmd::display_kind(info)));
        }
        Ok(done.join(", "))
    }

    /// POST when absent, otherwise PUT over the live object's resourceVersion (retried on 409).
    fn create_or_replace(&self, info: &'static api::model::KindInfo, mut value: Value) -> Result<&'static str> {
        let ns = info.namespaced.then(|| {
            value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(&self.ns).to_string()
        });
        if let Some(ns) = &ns {
            value["metadata"]["namespace"] = Value::String(ns.clone());
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let api = self.client.dynamic(info, ns.as_deref());
        for _ in 0..20 {
            match api.get(&name) {
                Err(e) if e.is_not_found() => {
                    match api.create(&value) {
                        Ok(_) => return Ok("created"),
                        Err(e) if e.is_conflict() => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
                Ok(current) => {
                    let mut body = value.clone();
                    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
                    match api.replace(&name, &body) {
                        Ok(_) => return Ok("configured"),
                        Err(e) if e.is_conflict() => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        bail!("gave up after repeated conflicts")
    }

    fn kill_random(&mut self, count: u32, kinds: Option<&[String]>, interval: Duration) -> Result<String> {
        let mut by_group: BTreeMap<String, u32> = BTreeMap::new();
        let mut paused = Duration::ZERO;
        for i in 0..count {
            if i > 0 && !interval.is_zero() {
                std::thread::sleep(interval);
            }
            let mut attempts = 0;
            loop {
                attempts += 1;
                let tree = get_json(self.client, "/debug/actors").context("listing actors")?;
                let candidates: Vec<chaos::Victim> = chaos::victims(&tree)
                    .into_iter()
                    .filter(|v| kinds.is_none_or(|ks| ks.iter().any(|k| v.matches(k))))
                    .collect();
                if candidates.is_empty() {
                    if attempts >= 20 {
                        let which = kinds.map_or_else(|| "any kind".to_string(), |k| k.join(","));
                        bail!("no actors of {which} to kill in /debug/actors (after {i} kills)");
                    }
                    std::thread::sleep(POLL);
                    continue;
                }
                let victim = &candidates[self.rng.below(candidates.len())];
                match kill::kill_actor(self.client, &victim.kill_path) {
                    Ok(_) => {
                        self.actor_kills += 1;
                        let group = if victim.top_level && victim.kind == "manager" { "managers" } else { &victim.group };
                        *by_group.entry(group.to_string()).or_default() += 1;
                        break;
                    }
                    // Gone between the listing and the kill (stopped or already restarting).
                    Err(e) if e.is_not_found() && attempts < 20 => continue,
                    // The root is restarting the whole tree: kills resume when it is back.
                    Err(e) if e.code() == Some(503) => {
                        paused += self.wait_tree_running().with_context(|| format!("after {i} kills"))?;
                        attempts = 0;
                    }
                    Err(e) => return Err(e).with_context(|| format!("killing {} after {i} kills", victim.label())),
                }
            }
        }
        // A last kill that spent the root's budget leaves the tree in back-off: the step
        // ends when the tree runs again, so that what follows measures from there.
        paused += self.wait_tree_running()?;
        let spread: Vec<String> = by_group.iter().map(|(g, n)| format!("{g} {n}")).collect();
        Ok(format!("{count} kills ({}); {:.1}s paused while the tree restarted", spread.join(", "), paused.as_secs_f64()))
    }

    /// Waits until the supervision tree is not in a restart back-off; returns how long.
    fn wait_tree_running(&self) -> Result<Duration> {
        let began = Instant::now();
        // The longest back-off is 30 s.
        let deadline = began + Duration::from_secs(45);
        loop {
            let tree = get_json(self.client, "/debug/actors").context("reading /debug/actors")?;
            if tree.get("state").and_then(Value::as_str) != Some("backoff") {
                return Ok(began.elapsed());
            }
            if Instant::now() >= deadline {
                bail!("the supervision tree is still in back-off after 45 s: {tree}");
            }
            std::thread::sleep(POLL);
        }
    }

    fn wait(&self, c: &Condition, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let unmet = self.unmet_condition(c)?;
            if unmet.is_empty() {
                return Ok(String::new());
            }
            if Instant::now() >= deadline {
                bail!("timed out; observed: {}", unmet.join("; "));
            }
            std::thread::sleep(POLL);
        }
    }

    fn pods(&self, selector: &str) -> Result<Vec<Value>> {
        let lp = ListParams::default().labels(selector);
        Ok(self.client.dynamic(Pod::INFO, Some(&self.ns)).list(&lp)?.items)
    }

    fn nodes(&self) -> Result<Vec<Value>> {
        Ok(self.client.dynamic(Node::INFO, None).list(&ListParams::default())?.items)
    }

    /// What of `c` does not hold yet; API errors count as "not yet", a failed rollout is fatal.
    fn unmet_condition(&self, c: &Condition) -> Result<Vec<String>> {
        let mut unmet = Vec::new();
        if let Some(name) = &c.deployment {
            match deployments(self.client, &self.ns).get(name) {
                Ok(d) => unmet.extend(check::deployment_wait(c, name, &d).map_err(|fatal| anyhow!(fatal))?),
                Err(e) => unmet.push(format!("deployment {name}: {e:#}")),
            }
        }
        if let Some(p) = &c.pods {
            match self.pods(&p.selector) {
                Ok(pods) => unmet.extend(check::pod_counts(p, &pods, false)),
                Err(e) => unmet.push(format!("pods {}: {e:#}", p.selector)),
            }
        }
        if let Some(want) = c.nodes_ready {
            match self.nodes() {
                Ok(nodes) => {
                    let got = check::ready_nodes(&nodes);
                    if got < want {
                        unmet.push(format!("{got} of {} nodes ready, want >= {want}", nodes.len()));
                    }
                }
                Err(e) => unmet.push(format!("nodes: {e:#}")),
            }
        }
        Ok(unmet)
    }

    /// What of `a` does not hold; API errors fail the step.
    fn assert(&self, a: &Assertion) -> Result<Vec<String>> {
        let mut unmet = Vec::new();
        let mut deploy = None;
        if let Some(name) = &a.deployment {
            let (d, sets) = rollout::fetch_with_replicasets(self.client, &self.ns, name)?;
            unmet.extend(check::deployment_assert(a, name, &d, &sets));
            deploy = Some(d);
        }
        if let Some(p) = &a.pods {
            unmet.extend(check::pod_counts(p, &self.pods(&p.selector)?, true));
        }
        if let Some(p) = &a.pods_per_node {
            unmet.extend(check::pods_per_node(p, &self.pods(&p.selector)?, &self.nodes()?));
        }
        if let Some(r) = &a.restarts_total {
            let tree = get_json(self.client, "/debug/actors").context("reading /debug/actors")?;
            let now = check::Restarts::of(&tree);
            if let Some(want) = r.equals {
                if now.total != want {
                    unmet.push(format!("restarts total {}, want {want}", now.total));
                }
            }
            if r.equals_kills == Some(true) {
                // Every kill restarts exactly one actor; a supervisor that spent its budget
                // is restarted once more by the root (an escalation, counted apart).
                let added = now.since(&self.restarts_baseline);
                if added.total != self.actor_kills + added.escalated || added.killed != self.actor_kills {
                    unmet.push(format!(
                        "{}, want {} kill restarts and a total of kills + escalations",
                        added.describe(),
                        self.actor_kills
                    ));
                }
            }
        }
        if let Some(nd) = &a.no_duplicate_pods {
            let (deployment, selector, count) = match nd {
                NoDuplicatePods::Flag(false) => (None, None, None),
                NoDuplicatePods::Flag(true) => (a.deployment.clone(), None, None),
                NoDuplicatePods::Spec { deployment, selector, count } => {
                    (deployment.clone().or_else(|| a.deployment.clone()), selector.clone(), *count)
                }
            };
            let d = match (&deployment, &deploy) {
                (Some(name), Some(d)) if a.deployment.as_ref() == Some(name) => Some(d.clone()),
                (Some(name), _) => Some(deployments(self.client, &self.ns).get(name)?),
                (None, _) => None,
            };
            if d.is_some() || selector.is_some() {
                let selector = match (selector, &d) {
                    (Some(s), _) => s,
                    (None, Some(d)) => selector_of(d)?,
                    (None, None) => unreachable!("checked above"),
                };
                let want = match (count, &d) {
                    (Some(n), _) => n,
                    (None, Some(d)) => d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
                    (None, None) => bail!("no_duplicate_pods with only a selector needs a count"),
                };
                let what = deployment.map_or_else(|| format!("pods {selector}"), |n| format!("deployment {n}"));
                let owners = self.client.dynamic(ReplicaSet::INFO, Some(&self.ns)).list(&ListParams::default())?.items;
                unmet.extend(check::no_duplicate_pods(&what, &self.pods(&selector)?, &owners, want));
            }
        }
        Ok(unmet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_scenarios_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios");
        for name in ["rollout.json", "chaos.json", "chaos-1000.json"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let s = step::parse(&text).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert!(!s.steps.is_empty());
        }
    }
}
