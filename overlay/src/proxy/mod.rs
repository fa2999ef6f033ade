//! The service proxy of a node: Services and EndpointSlices in, one nftables table
//! (`ip shoal-proxy`) out, in kube-proxy's nftables layout.
//!
//! - [`model`]: Services + slices + node facts → the desired [`Ruleset`] (pure);
//! - [`endpoints`]: which endpoints each Service port uses (pure);
//! - [`render`]: `nft -f` scripts — a full sync, an incremental one from a diff (pure);
//! - [`nft`]: running `nft` in the current network namespace ([`Nft`], a fake);
//! - [`Proxy`]: remembers what it applied, syncs incrementally, fully at start and on demand.

pub mod endpoints;
pub mod model;
pub mod nft;
pub mod render;
pub mod ruleset;
#[cfg(test)]
mod testutil;

use std::borrow::Borrow;
use std::time::{Duration, Instant};

use api::model::{EndpointSlice, Service};

pub use model::NodeFacts;
pub use nft::{FakeNft, Nft, NftCommand, NftError};
pub use render::{Diff, Observed, TableSpec};
pub use ruleset::{Ruleset, VerdictMap};

/// The table's default name.
pub const DEFAULT_TABLE: &str = "shoal-proxy";
/// The default masquerade mark bit (kube-proxy's `--masquerade-bit 14`).
pub const DEFAULT_MARK: u32 = 0x4000;

/// How a [`Proxy`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub table: String,
    pub mark: u32,
    pub node: NodeFacts,
}

impl ProxyConfig {
    /// The default table and mark for this node.
    pub fn new(node: NodeFacts) -> Self {
        ProxyConfig { table: DEFAULT_TABLE.to_string(), mark: DEFAULT_MARK, node }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("reading table {table} before a full sync")]
    Observe { table: String, #[source] source: NftError },
    #[error("applying the {kind} sync of table {table}")]
    Apply { table: String, kind: &'static str, #[source] source: NftError },
    #[error("removing table {table}")]
    Remove { table: String, #[source] source: NftError },
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// A full sync (at start, on demand, after a failure) rather than an incremental one.
    pub full: bool,
    /// Per-Service chains and map elements of the desired state.
    pub chains: usize,
    pub elements: usize,
    /// Chains added, refilled and removed; map elements added and removed (incremental syncs).
    pub chains_changed: usize,
    pub elements_changed: usize,
    /// The size of the script handed to `nft` (0: nothing to do, `nft` not run).
    pub script_bytes: usize,
    /// Computing the desired state and the script; running `nft`.
    pub render: Duration,
    pub apply: Duration,
}

/// The node's service proxy: owns one table and keeps it equal to the Services.
pub struct Proxy<N: Nft = NftCommand> {
    spec: TableSpec,
    nft: N,
    /// What the last successful sync put in the table; `None` until then and after a failure.
    applied: Option<Ruleset>,
    full_due: bool,
}

impl Proxy<NftCommand> {
    /// A proxy that runs the `nft` binary in the calling thread's network namespace.
    pub fn new(config: ProxyConfig) -> Self {
        Self::with_nft(config, NftCommand::default())
    }
}

impl<N: Nft> Proxy<N> {
    pub fn with_nft(config: ProxyConfig, nft: N) -> Self {
        Proxy { spec: TableSpec { table: config.table, mark: config.mark, node: config.node }, nft, applied: None, full_due: true }
    }

    pub fn table(&self) -> &str {
        &self.spec.table
    }

    /// The state the table was last brought to.
    pub fn applied(&self) -> Option<&Ruleset> {
        self.applied.as_ref()
    }

    /// Makes the next sync a full one (a periodic resync, or after outside changes).
    pub fn resync_next(&mut self) {
        self.full_due = true;
    }

    /// Brings the table to what `services` and `slices` ask for: in full the first time
    /// (and after [`Self::resync_next`] or a failure), otherwise only what changed.
    pub fn sync<S: Borrow<Service>, E: Borrow<EndpointSlice>>(&mut self, services: &[S], slices: &[E]) -> Result<SyncStats, ProxyError> {
        let started = Instant::now();
        let want = model::desired(services, slices, &self.spec.node);
        let mut stats = SyncStats { chains: want.chains.len(), elements: want.element_count(), ..Default::default() };
        match self.applied.take().filter(|_| !self.full_due) {
            Some(old) => self.sync_incremental(old, want, started, stats),
            None => {
                stats.full = true;
                self.sync_full(want, started, stats)
            }
        }
    }

    fn sync_incremental(&mut self, old: Ruleset, want: Ruleset, started: Instant, mut stats: SyncStats) -> Result<SyncStats, ProxyError> {
        let diff = Diff::between(&old, &want);
        stats.chains_changed = diff.added_chains.len() + diff.changed_chains.len() + diff.removed_chains.len();
        stats.elements_changed = diff.elements_in.values().map(Vec::len).sum::<usize>() + diff.elements_out.values().map(Vec::len).sum::<usize>();
        let script = self.spec.incremental(&diff, &want);
        drop(diff);
        stats.render = started.elapsed();
        stats.script_bytes = script.len();
        if !script.is_empty() {
            let t = Instant::now();
            // On failure `applied` stays `None`: the next sync is a full one.
            self.nft.apply(&script).map_err(|source| ProxyError::Apply { table: self.spec.table.clone(), kind: "incremental", source })?;
            stats.apply = t.elapsed();
        }
        self.applied = Some(want);
        Ok(stats)
    }

    fn sync_full(&mut self, want: Ruleset, started: Instant, mut stats: SyncStats) -> Result<SyncStats, ProxyError> {
        let table = self.spec.table.clone();
        let observed = self.nft.observe(&table).map_err(|source| ProxyError::Observe { table: table.clone(), source })?;
        let script = self.spec.full(&want, observed.as_ref());
        stats.render = started.elapsed();
        stats.script_bytes = script.len();
        let t = Instant::now();
        if let Err(first) = self.nft.apply(&script) {
            if observed.is_none() {
                return Err(ProxyError::Apply { table, kind: "full", source: first });
            }
            // Leftovers the script cannot reuse (say, a chain of another type): start over.
            tracing::warn!(table = %table, error = %first, "full sync over the old table failed; recreating the table");
            let script = self.spec.delete() + &self.spec.full(&want, None);
            stats.script_bytes = script.len();
            self.nft.apply(&script).map_err(|source| ProxyError::Apply { table, kind: "full", source })?;
        }
        stats.apply = t.elapsed();
        self.applied = Some(want);
        self.full_due = false;
        Ok(stats)
    }

    /// Removes the table and everything in it (the proxy stops); already gone is fine.
    pub fn remove(&mut self) -> Result<(), ProxyError> {
        self.applied = None;
        self.full_due = true;
        self.nft.apply(&self.spec.delete()).map_err(|source| ProxyError::Remove { table: self.spec.table.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn proxy() -> (Proxy<FakeNft>, FakeNft) {
        let fake = FakeNft::default();
        (Proxy::with_nft(ProxyConfig::new(node()), fake.clone()), fake)
    }

    #[test]
    fn the_first_sync_is_full_then_only_changes_are_sent() {
        let (mut p, fake) = proxy();
        let services = [service("web", "10.96.0.10", 80)];
        let slices = [slice("web", 8080, &[("10.244.1.2", "n1")])];
        let s = p.sync(&services, &slices).unwrap();
        assert!(s.full && s.script_bytes > 0);
        assert_eq!((s.chains, s.elements), (2, 1));
        assert!(fake.scripts()[0].starts_with("add table ip shoal-proxy"));

        let s = p.sync(&services, &slices).unwrap();
        assert!(!s.full);
        assert_eq!(s.script_bytes, 0);
        assert_eq!(fake.scripts().len(), 1, "nothing changed: nft is not run");

        let slices = [slice("web", 8080, &[("10.244.1.2", "n1"), ("10.244.1.3", "n1")])];
        let s = p.sync(&services, &slices).unwrap();
        assert_eq!((s.full, s.chains_changed, s.elements_changed), (false, 2, 0));
        assert!(!fake.scripts()[1].contains("add table"));
    }

    #[test]
    fn a_failed_sync_is_followed_by_a_full_one() {
        let (mut p, fake) = proxy();
        let services = [service("web", "10.96.0.10", 80)];
        p.sync::<_, api::model::EndpointSlice>(&services, &[]).unwrap();
        fake.fail_next_apply();
        assert!(matches!(p.sync(&services, &[slice("web", 80, &[("10.244.1.2", "n1")])]), Err(ProxyError::Apply { kind: "incremental", .. })));
        assert!(p.applied().is_none());
        assert!(p.sync(&services, &[slice("web", 80, &[("10.244.1.2", "n1")])]).unwrap().full);
        p.resync_next();
        assert!(p.sync(&services, &[slice("web", 80, &[("10.244.1.2", "n1")])]).unwrap().full, "on demand");
    }

    #[test]
    fn a_full_sync_over_an_unusable_table_recreates_it() {
        let (mut p, fake) = proxy();
        fake.set_observed(Some(Observed::default()));
        fake.fail_next_apply();
        p.sync::<Service, api::model::EndpointSlice>(&[], &[]).unwrap();
        let scripts = fake.scripts();
        assert_eq!(scripts.len(), 2);
        assert!(scripts[1].starts_with("add table ip shoal-proxy\ndelete table ip shoal-proxy\nadd table ip shoal-proxy\n"));
    }

    #[test]
    fn remove_deletes_the_table_and_the_next_sync_is_full() {
        let (mut p, fake) = proxy();
        p.sync::<Service, api::model::EndpointSlice>(&[], &[]).unwrap();
        p.remove().unwrap();
        assert_eq!(fake.scripts().last().unwrap(), "add table ip shoal-proxy\ndelete table ip shoal-proxy\n");
        assert!(p.sync::<Service, api::model::EndpointSlice>(&[], &[]).unwrap().full);
    }
}
