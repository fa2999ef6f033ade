//! The seam between the proxy and nf_tables: [`Nft`] applies one [`Change`] to the
//! proxy's tables as one transaction and lists their chains and sets. [`NftCommand`] runs `nft`
//! (Debian's `nftables` package) in the calling thread's network namespace with the
//! change as a script (`nft -f -`); [`super::netlink::NetlinkNft`] sends it as a netlink
//! batch; [`FakeNft`] records the scripts.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::netlink::NetlinkError;
use super::render::{is_proxy_table, Diff, ObservedTables, TableSpec};
use super::ruleset::Ruleset;

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("running {program} (is the nftables package installed?)")]
    Spawn { program: String, #[source] source: std::io::Error },
    #[error("nft {what} failed: {stderr}")]
    Failed { what: String, stderr: String },
    #[error("reading the JSON listing of table {table}")]
    Listing { table: String, #[source] source: serde_json::Error },
    #[error("nf_tables over netlink")]
    Netlink(#[from] NetlinkError),
}

/// One transaction on the proxy's tables.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// The tables become exactly `want`, over what a listing found (empty: no table).
    Full { want: &'a Ruleset, observed: &'a ObservedTables },
    /// The tables (the layout's and the `observed` others) are deleted and made again as `want`.
    Recreate { want: &'a Ruleset, observed: &'a ObservedTables },
    /// Only what `diff` says changed, towards `want`.
    Incremental { diff: &'a Diff<'a>, want: &'a Ruleset },
    /// The tables go, the layout's and the `observed` others (already gone is fine).
    Delete { observed: &'a ObservedTables },
}

impl Change<'_> {
    /// The change as one `nft -f` script (empty: nothing to do).
    pub fn script(&self, spec: &TableSpec) -> String {
        match self {
            Change::Full { want, observed } => spec.full(want, observed),
            Change::Recreate { want, observed } => spec.delete(observed) + &spec.full(want, &ObservedTables::new()),
            Change::Incremental { diff, want } => spec.incremental(diff, want),
            Change::Delete { observed } => spec.delete(observed),
        }
    }

    /// A guess of the bytes the change takes, to allocate once.
    pub fn size_hint(&self) -> usize {
        match self {
            Change::Full { want, .. } | Change::Recreate { want, .. } => 8192 + want.chains.values().map(|r| 160 + r.len() * 360).sum::<usize>() + want.element_count() * 160,
            Change::Incremental { diff, .. } => 4096 + (diff.added_chains.len() + diff.changed_chains.len()) * 1500,
            Change::Delete { .. } => 256,
        }
    }

    /// Whether the change does nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Change::Incremental { diff, .. } if diff.is_empty())
    }
}

/// What the proxy needs of nf_tables.
pub trait Nft: Send + Sync + 'static {
    /// Applies `change` to `spec`'s tables as one transaction; the bytes handed over.
    fn apply(&self, spec: &TableSpec, change: &Change<'_>) -> Result<usize, NftError>;
    /// The chains and sets of every `ip` table that is the proxy's ([`TableSpec::is_ours`]).
    fn observe(&self, spec: &TableSpec) -> Result<ObservedTables, NftError>;
}

/// The real `nft` binary.
#[derive(Debug, Clone)]
pub struct NftCommand {
    pub program: PathBuf,
}

impl Default for NftCommand {
    fn default() -> Self {
        NftCommand { program: PathBuf::from("nft") }
    }
}

impl NftCommand {
    fn run(&self, args: &[&str], stdin: Option<&str>, what: &str) -> Result<String, NftError> {
        let spawn_err = |source| NftError::Spawn { program: self.program.display().to_string(), source };
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A write error means nft exited early; its status and stderr say why.
            let _ = pipe.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(NftError::Failed { what: what.to_string(), stderr: first_lines(&String::from_utf8_lossy(&out.stderr), 12) })
        }
    }

    /// `nft -j list table ip <table>`: the whole table as JSON (for tests and tools).
    pub fn list_json(&self, table: &str) -> Result<Option<Value>, NftError> {
        match self.run(&["-j", "list", "table", "ip", table], None, "list table") {
            Ok(s) => serde_json::from_str(&s).map(Some).map_err(|source| NftError::Listing { table: table.into(), source }),
            Err(NftError::Failed { stderr, .. }) if is_no_such_table(&stderr) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `nft -j list ruleset ip` kept to the proxy's tables (the common table `table` and
    /// its shards, of any count), for tests and tools; `None` when there is none.
    pub fn list_tables_json(&self, table: &str) -> Result<Option<Value>, NftError> {
        let all = self.run(&["-j", "list", "ruleset", "ip"], None, "list ruleset")?;
        let all: Value = serde_json::from_str(&all).map_err(|source| NftError::Listing { table: table.into(), source })?;
        let ours = |item: &Value| {
            item.as_object().and_then(|o| o.iter().next()).is_some_and(|(kind, v)| {
                let name = if kind == "table" { v.get("name") } else { v.get("table") };
                kind == "metainfo" || name.and_then(Value::as_str).is_some_and(|t| is_proxy_table(table, t))
            })
        };
        let items: Vec<Value> = all.get("nftables").and_then(Value::as_array).into_iter().flatten().filter(|i| ours(i)).cloned().collect();
        if !items.iter().any(|i| i.get("table").is_some()) {
            return Ok(None);
        }
        Ok(Some(serde_json::json!({ "nftables": items })))
    }
}

impl NftCommand {
    /// Runs `script` as one transaction (`nft -f -`).
    pub fn apply_script(&self, script: &str) -> Result<(), NftError> {
        self.run(&["-f", "-"], Some(script), "-f (transaction)").map(|_| ())
    }
}

impl Nft for NftCommand {
    fn apply(&self, spec: &TableSpec, change: &Change<'_>) -> Result<usize, NftError> {
        let script = change.script(spec);
        if !script.is_empty() {
            self.apply_script(&script)?;
        }
        Ok(script.len())
    }

    fn observe(&self, spec: &TableSpec) -> Result<ObservedTables, NftError> {
        // Chains and sets only (no rules, no map elements): cheap even for a big table.
        let tables = self.run(&["-j", "list", "tables", "ip"], None, "list tables")?;
        let chains = self.run(&["-j", "list", "chains", "ip"], None, "list chains")?;
        let sets = self.run(&["-j", "-t", "list", "sets", "ip"], None, "list sets")?;
        let parse = |s: &str| serde_json::from_str::<Value>(s).map_err(|source| NftError::Listing { table: spec.table.clone(), source });
        Ok(observed_from(spec, &parse(&tables)?, &parse(&chains)?, &parse(&sets)?))
    }
}

fn is_no_such_table(stderr: &str) -> bool {
    stderr.contains("No such file or directory")
}

fn first_lines(s: &str, n: usize) -> String {
    s.lines().take(n).collect::<Vec<_>>().join("\n")
}

/// The proxy's tables, their chains and sets in `nft -j list tables` / `list chains` /
/// `list sets` output.
pub fn observed_from(spec: &TableSpec, tables: &Value, chains: &Value, sets: &Value) -> ObservedTables {
    let items = |v: &Value, kind: &str| -> Vec<(String, String, Option<u32>)> {
        v.get("nftables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get(kind))
            .filter_map(|o| {
                let table = o.get(if kind == "table" { "name" } else { "table" })?.as_str().filter(|t| spec.is_ours(t))?;
                let timeout = o.get("timeout").and_then(Value::as_u64).and_then(|t| u32::try_from(t).ok());
                Some((table.to_string(), o.get("name")?.as_str()?.to_string(), timeout))
            })
            .collect()
    };
    let mut out = ObservedTables::new();
    for (table, _, _) in items(tables, "table") {
        out.entry(table).or_default();
    }
    for (table, name, _) in items(chains, "chain") {
        out.entry(table).or_default().chains.insert(name);
    }
    for (table, name, timeout) in items(sets, "set") {
        out.entry(table).or_default().sets.insert(name, timeout);
    }
    out
}

/// A recording fake: scripts applied, a table that "exists" once a script ran, and a
/// switch to make the next apply fail.
#[derive(Debug, Clone, Default)]
pub struct FakeNft {
    inner: Arc<Mutex<FakeState>>,
}

#[derive(Debug, Default)]
struct FakeState {
    scripts: Vec<String>,
    observed: ObservedTables,
    fail_next: bool,
}

impl FakeNft {
    pub fn scripts(&self) -> Vec<String> {
        self.lock().scripts.clone()
    }

    pub fn fail_next_apply(&self) {
        self.lock().fail_next = true;
    }

    /// What the next `observe` reports.
    pub fn set_observed(&self, observed: ObservedTables) {
        self.lock().observed = observed;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Nft for FakeNft {
    fn apply(&self, spec: &TableSpec, change: &Change<'_>) -> Result<usize, NftError> {
        let script = change.script(spec);
        let mut s = self.lock();
        s.scripts.push(script.clone());
        if std::mem::take(&mut s.fail_next) {
            return Err(NftError::Failed { what: "-f (fake)".into(), stderr: "injected failure".into() });
        }
        Ok(script.len())
    }

    fn observe(&self, _spec: &TableSpec) -> Result<ObservedTables, NftError> {
        Ok(self.lock().observed.clone())
    }
}
