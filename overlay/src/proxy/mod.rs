//! The service proxy of a node: Services and EndpointSlices in, nftables out in
//! kube-proxy's nftables layout, sharded: the Services over `ip shoal-proxy-00` … `-15`
//! (a change validates one shard), the shared parts in `ip shoal-proxy` (see [`render`]).
//!
//! - [`model`]: Services + slices + node facts → the desired [`Ruleset`] (pure);
//! - [`endpoints`]: which endpoints each Service port uses (pure);
//! - [`fragments`]: each Service's part of the desired state, kept between syncs (pure);
//! - [`render`]: the tables, and `nft -f` scripts — a full sync, an incremental one from a diff (pure);
//! - [`netlink`]: the same transactions as nf_tables netlink batches, sent without `nft`;
//! - [`nft`]: the seam ([`Nft`], [`Change`]), the `nft` binary, a fake;
//! - [`conntrack`]: stale UDP conntrack entries cleared through ctnetlink;
//! - [`Proxy`]: remembers what it applied, syncs incrementally, fully at start and on demand.

pub mod conntrack;
pub mod endpoints;
pub mod fragments;
pub mod model;
pub mod netlink;
pub mod nft;
pub mod render;
pub mod ruleset;
#[cfg(test)]
mod testutil;

use std::time::{Duration, Instant};

use api::model::{EndpointSlice, Service};

pub use conntrack::{stale_udp, Conntrack, ConntrackError, CtNetlink, FakeConntrack, StaleUdp};
pub use fragments::{Fragments, Shared};
pub use model::NodeFacts;
pub use netlink::NetlinkNft;
pub use nft::{Change, FakeNft, Nft, NftCommand, NftError};
pub use render::{Diff, Observed, ObservedTables, TableSpec};
pub use ruleset::{Rule, Ruleset, UdpDest, VerdictMap};

/// The default name of the common table (the shards are `<table>-00` and on).
pub const DEFAULT_TABLE: &str = "shoal-proxy";
/// The default number of shards: a change validates 1/16 of the Services' rules; a new
/// connection goes through at most 16 NAT chains (one or two map lookups each).
pub const DEFAULT_SHARDS: usize = 16;
/// The default masquerade mark bit (kube-proxy's `--masquerade-bit 14`).
pub const DEFAULT_MARK: u32 = 0x4000;

/// How a [`Proxy`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub table: String,
    /// Tables the Services are spread over (at least one).
    pub shards: usize,
    pub mark: u32,
    pub node: NodeFacts,
}

impl ProxyConfig {
    /// The default tables and mark for this node.
    pub fn new(node: NodeFacts) -> Self {
        ProxyConfig { table: DEFAULT_TABLE.to_string(), shards: DEFAULT_SHARDS, mark: DEFAULT_MARK, node }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("listing tables {table}* before a full sync")]
    Observe { table: String, #[source] source: NftError },
    #[error("applying the {kind} sync of tables {table}*")]
    Apply { table: String, kind: &'static str, #[source] source: NftError },
    #[error("removing tables {table}*")]
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
    /// Chains added, refilled and removed; map elements added and removed; tables they
    /// are in (incremental syncs).
    pub chains_changed: usize,
    pub elements_changed: usize,
    pub tables_changed: usize,
    /// The size of the transaction handed to nf_tables (0: nothing to do, nothing sent).
    pub script_bytes: usize,
    /// Computing the desired state and the transaction; applying it.
    pub render: Duration,
    pub apply: Duration,
    /// Services whose rules were recomputed.
    pub services_changed: usize,
    /// They were found from the part of the lists that changed (shared objects), not by
    /// looking up every Service (see [`fragments`]).
    pub by_address: bool,
    /// Stale UDP conntrack entries deleted (flows to endpoints that went).
    pub conntrack_deleted: usize,
}

/// The node's service proxy: owns its tables and keeps them equal to the Services.
pub struct Proxy<N: Nft = NetlinkNft> {
    spec: TableSpec,
    nft: N,
    conntrack: Box<dyn Conntrack>,
    /// What the last successful sync put in the table; `None` until then and after a failure.
    applied: Option<Ruleset>,
    full_due: bool,
    fragments: Fragments,
    /// Two Services claimed one object in the last whole merge: compare whole states.
    overlapping: bool,
    /// The UDP destinations of the last successful sync while `applied` is `None` (after
    /// a failure): stale conntrack entries are found against them.
    last_udp: Option<std::collections::BTreeMap<UdpDest, std::collections::BTreeSet<(std::net::Ipv4Addr, u16)>>>,
}

impl Proxy<NetlinkNft> {
    /// A proxy that programs nf_tables and clears conntrack entries over netlink, in the
    /// calling thread's network namespace.
    pub fn new(config: ProxyConfig) -> Self {
        Self::with_nft(config, NetlinkNft).with_conntrack(CtNetlink)
    }
}

impl<N: Nft> Proxy<N> {
    /// A proxy over `nft`; it clears no conntrack entry until [`Self::with_conntrack`].
    pub fn with_nft(config: ProxyConfig, nft: N) -> Self {
        Proxy {
            spec: TableSpec::new(config.table, config.shards, config.mark, config.node),
            nft,
            conntrack: Box::new(FakeConntrack::default()),
            applied: None,
            full_due: true,
            fragments: Fragments::default(),
            overlapping: false,
            last_udp: None,
        }
    }

    /// Clears stale UDP conntrack entries through `conntrack`.
    pub fn with_conntrack(mut self, conntrack: impl Conntrack) -> Self {
        self.conntrack = Box::new(conntrack);
        self
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

    /// Brings the tables to what `services` and `slices` ask for: in full the first time
    /// (and after [`Self::resync_next`] or a failure), otherwise only what changed. Only
    /// the Services whose object or slices changed since the last sync are recomputed;
    /// lists of `Arc`s (as a cache hands out) are compared by address first.
    pub fn sync<S: Shared<Service>, E: Shared<EndpointSlice>>(&mut self, services: &[S], slices: &[E]) -> Result<SyncStats, ProxyError> {
        let started = Instant::now();
        let full = self.full_due || self.applied.is_none();
        let update = self.fragments.update(services, slices, &self.spec.node, !full);
        let mut stats = SyncStats { services_changed: update.services, by_address: update.by_address, ..Default::default() };
        let prev = self.applied.take();
        let mut old = match prev {
            Some(old) if !self.full_due => old,
            prev => {
                if let Some(p) = prev {
                    self.last_udp = Some(p.udp);
                }
                stats.full = true;
                let (want, overlapping) = self.fragments.merged(services);
                self.overlapping = overlapping;
                let stale = stale_udp(self.last_udp.as_ref(), &want.udp);
                return self.sync_full(want, stale, started, stats);
            }
        };
        if update.services == 0 {
            (stats.chains, stats.elements) = (old.chains.len(), old.element_count());
            stats.render = started.elapsed();
            self.applied = Some(old);
            return Ok(stats);
        }
        // The changed Services' parts alone say what changes, unless two Services claim
        // one object (say, one address): then the whole desired state is compared.
        let mut fast = !update.duplicate && !self.overlapping;
        if fast {
            fragments::remove_from(&mut old, &update.old);
            if fragments::claims_any(&old, &update.new) {
                // Nothing overlapped before: putting the old parts back restores the state.
                fragments::merge_into(&mut old, &update.old);
                fast = false;
            }
        }
        if fast {
            let diff = Diff::between(&update.old, &update.new);
            let stale = stale_udp(Some(&update.old.udp), &update.new.udp);
            if let Err(e) = self.sync_incremental(&diff, &update.new, stale, started, &mut stats) {
                // The table is as it was: so are its UDP destinations.
                fragments::merge_into(&mut old, &update.old);
                self.last_udp = Some(old.udp);
                return Err(e);
            }
            drop(diff);
            fragments::merge_into(&mut old, &update.new);
            self.applied = Some(old);
        } else {
            let (want, overlapping) = self.fragments.merged(services);
            let diff = Diff::between(&old, &want);
            let stale = stale_udp(Some(&old.udp), &want.udp);
            if let Err(e) = self.sync_incremental(&diff, &want, stale, started, &mut stats) {
                drop(diff);
                self.last_udp = Some(old.udp);
                return Err(e);
            }
            drop(diff);
            self.overlapping = overlapping;
            self.applied = Some(want);
        }
        let applied = self.applied.as_ref().expect("just set");
        (stats.chains, stats.elements) = (applied.chains.len(), applied.element_count());
        Ok(stats)
    }

    fn sync_incremental(&mut self, diff: &Diff<'_>, want: &Ruleset, stale: Vec<StaleUdp>, started: Instant, stats: &mut SyncStats) -> Result<(), ProxyError> {
        stats.chains_changed = diff.added_chains.len() + diff.changed_chains.len() + diff.removed_chains.len();
        stats.elements_changed = diff.elements_in.values().map(Vec::len).sum::<usize>() + diff.elements_out.values().map(Vec::len).sum::<usize>();
        stats.tables_changed = self.spec.tables_changed(diff);
        stats.render = started.elapsed();
        let change = Change::Incremental { diff, want };
        if !change.is_empty() {
            let t = Instant::now();
            // On failure `applied` stays `None`: the next sync is a full one.
            stats.script_bytes =
                self.nft.apply(&self.spec, &change).map_err(|source| ProxyError::Apply { table: self.spec.table.clone(), kind: "incremental", source })?;
            stats.apply = t.elapsed();
        }
        stats.conntrack_deleted = self.clear_conntrack(&stale);
        Ok(())
    }

    fn sync_full(&mut self, want: Ruleset, stale: Vec<StaleUdp>, started: Instant, mut stats: SyncStats) -> Result<SyncStats, ProxyError> {
        let table = self.spec.table.clone();
        (stats.chains, stats.elements) = (want.chains.len(), want.element_count());
        let observed = self.nft.observe(&self.spec).map_err(|source| ProxyError::Observe { table: table.clone(), source })?;
        stats.render = started.elapsed();
        stats.tables_changed = self.spec.names().len() + observed.keys().filter(|t| !self.spec.names().contains(t)).count();
        let t = Instant::now();
        match self.nft.apply(&self.spec, &Change::Full { want: &want, observed: &observed }) {
            Ok(bytes) => stats.script_bytes = bytes,
            Err(first) => {
                if observed.is_empty() {
                    return Err(ProxyError::Apply { table, kind: "full", source: first });
                }
                // Leftovers the transaction cannot reuse (say, a chain of another type): start over.
                tracing::warn!(table = %table, error = %first, "full sync over the old tables failed; recreating the tables");
                stats.script_bytes = self
                    .nft
                    .apply(&self.spec, &Change::Recreate { want: &want, observed: &observed })
                    .map_err(|source| ProxyError::Apply { table, kind: "full", source })?;
            }
        }
        stats.conntrack_deleted = self.clear_conntrack(&stale);
        self.last_udp = None;
        self.applied = Some(want);
        self.full_due = false;
        drop((observed, stale));
        release_freed_memory();
        stats.apply = t.elapsed();
        Ok(stats)
    }

    /// Stale entries are cleared after the table changed (no new flow can pick the old
    /// endpoint any more); a failure is logged, not fatal: the flows time out anyway.
    fn clear_conntrack(&self, stale: &[StaleUdp]) -> usize {
        if stale.is_empty() {
            return 0;
        }
        match self.conntrack.clear(stale) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(table = %self.spec.table, error = %e, "clearing stale UDP conntrack entries");
                0
            }
        }
    }

    /// Removes every table of the proxy and everything in them (the proxy stops), those of
    /// another shard count too; already gone is fine.
    pub fn remove(&mut self) -> Result<(), ProxyError> {
        self.applied = None;
        self.full_due = true;
        self.fragments.clear();
        self.last_udp = None;
        // Another shard count's tables are found by listing; this layout's go in any case.
        let observed = self.nft.observe(&self.spec).unwrap_or_else(|e| {
            tracing::warn!(table = %self.spec.table, error = %e, "listing tables before removing them; removing this layout's only");
            ObservedTables::new()
        });
        self.nft.apply(&self.spec, &Change::Delete { observed: &observed }).map(|_| ()).map_err(|source| ProxyError::Remove { table: self.spec.table.clone(), source })
    }
}

/// Hands the allocator's freed small blocks back at once: a full sync frees millions of
/// them (the old desired state), and glibc would otherwise merge them all on the next
/// large allocation, in the next sync (≈30 ms after 10,000 Services).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only reorganises the allocator's free lists.
    unsafe {
        libc::malloc_trim(0);
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
        fake.set_observed(ObservedTables::from([("shoal-proxy".to_string(), Observed::default())]));
        fake.fail_next_apply();
        p.sync::<Service, api::model::EndpointSlice>(&[], &[]).unwrap();
        let scripts = fake.scripts();
        assert_eq!(scripts.len(), 2);
        assert!(scripts[1].starts_with("add table ip shoal-proxy\ndelete table ip shoal-proxy\nadd table ip shoal-proxy-00\ndelete table ip shoal-proxy-00\n"));
        assert!(scripts[1].contains("delete table ip shoal-proxy-15\nadd table ip shoal-proxy\n"), "then made again");
    }

    #[test]
    fn remove_deletes_every_table_and_the_next_sync_is_full() {
        let (mut p, fake) = proxy();
        p.sync::<Service, api::model::EndpointSlice>(&[], &[]).unwrap();
        fake.set_observed(ObservedTables::from([("shoal-proxy-31".to_string(), Observed::default())]));
        p.remove().unwrap();
        let script = fake.scripts().last().unwrap().clone();
        assert!(script.starts_with("add table ip shoal-proxy\ndelete table ip shoal-proxy\nadd table ip shoal-proxy-00\n"), "{script}");
        assert_eq!(script.matches("delete table").count(), 1 + DEFAULT_SHARDS + 1, "the common table, the shards, another layout's shard");
        assert!(script.ends_with("delete table ip shoal-proxy-31\n"));
        assert!(p.sync::<Service, api::model::EndpointSlice>(&[], &[]).unwrap().full);
    }
}
