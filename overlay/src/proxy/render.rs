//! `nft -f` scripts (pure): the proxy's tables and their fixed skeletons, a full sync that
//! brings any previous contents of the tables to the desired [`Ruleset`], and an
//! incremental sync that changes only what differs between two rulesets. Each script is
//! one transaction over every table.
//!
//! The Services are sharded over several tables (`ip shoal-proxy-00` … `-NN`, by a hash
//! of namespace/name) next to one small common table (`ip shoal-proxy`): on commit
//! nf_tables validates every table that got a rule with a jump, `goto` or NAT (or a
//! jump/`goto` map element) *whole*, so a change to one Service validates one shard. Each
//! shard has the NAT base chains (`services`, its `service-ips` / `service-nodeports`
//! maps, its own `mark-for-masquerade`, the per-Service chains and affinity sets); the
//! common table has the filter base chains with the `no-endpoint-*` maps and
//! `reject-chain`, and postrouting's `masquerading` (the mark a shard's chain set is the
//! packet's: it reads it). A new connection goes through the shards' NAT chains until one
//! DNATs it: one or two map lookups per shard.
//!
//! Order inside a script: chains and sets exist before the rules and elements that name
//! them; elements and rules that name a chain go before the chain is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::model::{NodeFacts, MARK_MASQ_CHAIN, REJECT_CHAIN};
use super::ruleset::{is_affinity_set, is_service_chain, service_of, shard_of, Rule, Ruleset, VerdictMap};

/// The proxy's tables and the facts their skeletons depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The common `ip` table (e.g. `shoal-proxy`); the shards are `<table>-00` and on.
    pub table: String,
    /// The packet mark bit that asks for masquerade.
    pub mark: u32,
    pub node: NodeFacts,
    /// The tables' names: [`COMMON`] first, then the shards.
    names: Vec<String>,
}

/// The index of the common table in [`TableSpec::names`].
pub const COMMON: usize = 0;

/// What a listing found in one table before a full sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub chains: BTreeSet<String>,
    /// Set names, with their timeout in seconds when they have one.
    pub sets: BTreeMap<String, Option<u32>>,
}

/// What a listing found of the proxy's tables (this layout's, or another shard count's),
/// by table name; a table that is not there has no entry.
pub type ObservedTables = BTreeMap<String, Observed>;

/// What a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Common,
    Shard,
}

impl Role {
    /// The base chains: name, type, hook, priority (the filter chains run before DNAT, on
    /// the destination the client asked for).
    pub(crate) fn base_chains(self) -> &'static [(&'static str, &'static str, &'static str, i32)] {
        match self {
            Role::Common => &[
                ("filter-input", "filter", "input", -110),
                ("filter-forward", "filter", "forward", -110),
                ("filter-output", "filter", "output", -110),
                ("nat-postrouting", "nat", "postrouting", 100),
            ],
            Role::Shard => &[("nat-prerouting", "nat", "prerouting", -100), ("nat-output", "nat", "output", -100)],
        }
    }

    pub(crate) fn helper_chains(self) -> &'static [&'static str] {
        match self {
            Role::Common => &["masquerading", MARK_MASQ_CHAIN, "endpoints-check", REJECT_CHAIN],
            Role::Shard => &["services", MARK_MASQ_CHAIN],
        }
    }

    pub(crate) fn maps(self) -> [VerdictMap; 2] {
        match self {
            Role::Common => [VerdictMap::NoEndpointServices, VerdictMap::NoEndpointNodePorts],
            Role::Shard => [VerdictMap::ServiceIps, VerdictMap::ServiceNodePorts],
        }
    }

    /// Whether the skeleton has this chain.
    fn has_chain(self, name: &str) -> bool {
        self.base_chains().iter().any(|(c, ..)| *c == name) || self.helper_chains().contains(&name)
    }

    /// Whether the skeleton has this set or map.
    fn has_set(self, name: &str) -> bool {
        name == NODEPORT_IPS || self.maps().iter().any(|m| m.name() == name)
    }
}

pub(crate) const NODEPORT_IPS: &str = "nodeport-ips";

/// Whether `table` is the common table `common` or a shard of it (`<common>-<digits>`).
pub fn is_proxy_table(common: &str, table: &str) -> bool {
    table == common || table.strip_prefix(common).and_then(|r| r.strip_prefix('-')).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

impl TableSpec {
    /// The common table `table` and `shards` shards (at least one).
    pub fn new(table: impl Into<String>, shards: usize, mark: u32, node: NodeFacts) -> Self {
        let table = table.into();
        let names = std::iter::once(table.clone()).chain((0..shards.max(1)).map(|i| format!("{table}-{i:02}"))).collect();
        TableSpec { table, mark, node, names }
    }

    /// Every table of this layout: [`COMMON`], then the shards.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn shards(&self) -> usize {
        self.names.len() - 1
    }

    /// Whether `table` is one of the proxy's, of this layout or of another shard count.
    pub fn is_ours(&self, table: &str) -> bool {
        is_proxy_table(&self.table, table)
    }

    pub(crate) fn role(t: usize) -> Role {
        if t == COMMON {
            Role::Common
        } else {
            Role::Shard
        }
    }

    /// The table of a per-Service chain or affinity set: its Service's shard.
    pub fn table_of(&self, name: &str) -> usize {
        let (namespace, service) = service_of(name).unwrap_or(("", name));
        1 + shard_of(namespace, service, self.shards())
    }

    /// The table of a map element: the no-endpoint maps are common, the others sit next
    /// to the chain their verdict goes to.
    pub fn element_table(&self, map: VerdictMap, verdict: &str) -> usize {
        match map {
            VerdictMap::NoEndpointServices | VerdictMap::NoEndpointNodePorts => COMMON,
            VerdictMap::ServiceIps | VerdictMap::ServiceNodePorts => self.table_of(verdict.strip_prefix("goto ").unwrap_or(verdict)),
        }
    }

    /// How many tables a [`Diff`] changes.
    pub fn tables_changed(&self, d: &Diff<'_>) -> usize {
        let mut t = BTreeSet::new();
        let elements = d.elements_out.iter().flat_map(|(m, e)| e.iter().map(move |(_, v)| (*m, *v))).chain(d.elements_in.iter().flat_map(|(m, e)| e.iter().map(move |(_, v)| (*m, *v))));
        t.extend(elements.map(|(m, v)| self.element_table(m, v)));
        let objects = d.added_chains.iter().chain(&d.changed_chains).chain(&d.removed_chains).chain(&d.added_sets).chain(&d.removed_sets);
        t.extend(objects.map(|c| self.table_of(c)));
        t.len()
    }

    /// The match of NodePort traffic: every local address but loopback, or the node's
    /// configured addresses.
    fn nodeport_match(&self) -> String {
        if self.node.node_ips.is_empty() {
            "fib daddr type local ip daddr != 127.0.0.0/8".to_string()
        } else {
            format!("ip daddr @{NODEPORT_IPS}")
        }
    }

    /// The fixed rules of a table's skeleton chains.
    fn skeleton_rules(&self, role: Role) -> Vec<(&'static str, Vec<String>)> {
        let cidr = self.node.cluster_cidr;
        let mark = format!("{:#x}", self.mark);
        let np = self.nodeport_match();
        let capture = |by_ip: VerdictMap, by_port: VerdictMap| {
            vec![format!("ip daddr . meta l4proto . th dport vmap @{}", by_ip.name()), format!("{np} meta l4proto . th dport vmap @{}", by_port.name())]
        };
        let mark_masq = (MARK_MASQ_CHAIN, vec![format!("mark set mark or {mark}")]);
        match role {
            Role::Common => vec![
                ("filter-input", vec!["ct state new jump endpoints-check".into()]),
                ("filter-forward", vec!["ct state new jump endpoints-check".into()]),
                ("filter-output", vec!["ct state new jump endpoints-check".into()]),
                (
                    "nat-postrouting",
                    vec![
                        format!("ip saddr {cidr} ip daddr != {cidr} jump {MARK_MASQ_CHAIN} comment \"pod traffic leaving the cluster network\""),
                        "jump masquerading".into(),
                    ],
                ),
                ("masquerading", vec![format!("mark and {mark} == 0 return"), format!("mark set mark xor {mark}"), "masquerade fully-random".into()]),
                mark_masq,
                ("endpoints-check", capture(VerdictMap::NoEndpointServices, VerdictMap::NoEndpointNodePorts)),
                (REJECT_CHAIN, vec!["meta l4proto tcp reject with tcp reset".into(), "reject".into()]),
            ],
            Role::Shard => vec![
                ("nat-prerouting", vec!["jump services".into()]),
                ("nat-output", vec!["jump services".into()]),
                ("services", capture(VerdictMap::ServiceIps, VerdictMap::ServiceNodePorts)),
                mark_masq,
            ],
        }
    }

    /// Adds (or keeps) table `t`, its base and helper chains (flushed) and its maps.
    fn skeleton(&self, out: &mut String, t: usize, observed: Option<&Observed>) {
        let (name, role) = (&self.names[t], Self::role(t));
        let _ = writeln!(out, "add table ip {name}");
        for (chain, type_, hook, prio) in role.base_chains() {
            let _ = writeln!(out, "add chain ip {name} {chain} {{ type {type_} hook {hook} priority {prio}; policy accept; }}");
            let _ = writeln!(out, "flush chain ip {name} {chain}");
        }
        for chain in role.helper_chains() {
            let _ = writeln!(out, "add chain ip {name} {chain}");
            let _ = writeln!(out, "flush chain ip {name} {chain}");
        }
        for map in role.maps() {
            let _ = writeln!(out, "add map ip {name} {} {{ type {} : verdict; }}", map.name(), map.key_type());
            let _ = writeln!(out, "flush map ip {name} {}", map.name());
        }
        if self.node.node_ips.is_empty() {
            if observed.is_some_and(|o| o.sets.contains_key(NODEPORT_IPS)) {
                let _ = writeln!(out, "delete set ip {name} {NODEPORT_IPS}");
            }
        } else {
            let ips: Vec<String> = self.node.node_ips.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "add set ip {name} {NODEPORT_IPS} {{ type ipv4_addr; }}");
            let _ = writeln!(out, "flush set ip {name} {NODEPORT_IPS}");
            let _ = writeln!(out, "add element ip {name} {NODEPORT_IPS} {{ {} }}", ips.join(", "));
        }
    }

    /// A script that makes the tables exactly `want`, whatever they held (`observed`: by
    /// table; tables of another shard count go). Affinity sets that stay keep their entries.
    pub fn full(&self, want: &Ruleset, observed: &ObservedTables) -> String {
        let mut out = String::with_capacity(estimate(want));
        for gone in observed.keys().filter(|t| !self.names.contains(t)) {
            let _ = writeln!(out, "delete table ip {gone}");
        }
        for t in 0..self.names.len() {
            self.skeleton(&mut out, t, observed.get(&self.names[t]));
        }
        let plan = FullPlan::new(self, want, observed);
        for (t, chain) in &plan.flush {
            let _ = writeln!(out, "flush chain ip {} {chain}", self.names[*t]);
        }
        for (t, set) in &plan.delete_sets {
            let _ = writeln!(out, "delete set ip {} {set}", self.names[*t]);
        }
        for (t, chain) in &plan.delete_chains {
            let _ = writeln!(out, "delete chain ip {} {chain}", self.names[*t]);
        }
        for (name, timeout) in &want.affinity_sets {
            self.add_set(&mut out, name, *timeout);
        }
        for (t, chain) in &plan.add_chains {
            let _ = writeln!(out, "add chain ip {} {chain}", self.names[*t]);
        }
        for t in 0..self.names.len() {
            let skeleton = self.skeleton_rules(Self::role(t));
            let skeleton: Vec<(&str, &[String])> = skeleton.iter().map(|(c, r)| (*c, r.as_slice())).collect();
            self.add_rules(&mut out, t, &skeleton);
        }
        self.add_rules_routed(&mut out, want.chains.iter().map(|(c, r)| (c.as_str(), r.as_slice())));
        for map in VerdictMap::ALL {
            self.add_elements(&mut out, map, want.map(map));
        }
        out
    }

    /// A script that turns the tables from `old` (applied before) into `new`, given their
    /// [`Diff`]; empty when they are the same.
    pub fn incremental(&self, d: &Diff<'_>, new: &Ruleset) -> String {
        if d.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        for (map, elements) in &d.elements_out {
            let mut by_table: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
            for (k, v) in elements {
                by_table.entry(self.element_table(*map, v)).or_default().push(k.as_str());
            }
            for (t, keys) in by_table {
                let _ = writeln!(out, "delete element ip {} {} {{ {} }}", self.names[t], map.name(), keys.join(", "));
            }
        }
        for name in d.changed_chains.iter().chain(&d.removed_chains) {
            let _ = writeln!(out, "flush chain ip {} {name}", self.names[self.table_of(name)]);
        }
        for name in &d.removed_chains {
            let _ = writeln!(out, "delete chain ip {} {name}", self.names[self.table_of(name)]);
        }
        for name in &d.removed_sets {
            let _ = writeln!(out, "delete set ip {} {name}", self.names[self.table_of(name)]);
        }
        for (name, timeout) in d.added_sets.iter().filter_map(|s| new.affinity_sets.get_key_value(*s)) {
            self.add_set(&mut out, name, *timeout);
        }
        for name in &d.added_chains {
            let _ = writeln!(out, "add chain ip {} {name}", self.names[self.table_of(name)]);
        }
        self.add_rules_routed(&mut out, d.added_chains.iter().chain(&d.changed_chains).filter_map(|c| new.chains.get(*c).map(|r| (c.as_str(), r.as_slice()))));
        for (map, elements) in &d.elements_in {
            self.add_elements(&mut out, *map, elements.iter().copied());
        }
        out
    }

    fn add_set(&self, out: &mut String, name: &str, timeout: u32) {
        let _ = writeln!(out, "add set ip {} {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}", self.names[self.table_of(name)]);
    }

    /// Rules of per-Service chains, each in its Service's table.
    fn add_rules_routed<'a>(&self, out: &mut String, chains: impl Iterator<Item = (&'a str, &'a [Rule])>) {
        let mut by_table: BTreeMap<usize, Vec<(&str, &[Rule])>> = BTreeMap::new();
        for (c, r) in chains {
            by_table.entry(self.table_of(c)).or_default().push((c, r));
        }
        for (t, chains) in by_table {
            self.add_rules(out, t, &chains);
        }
    }

    /// Rules in block form (`table … { chain … { rule … } }`): each chain's name once.
    fn add_rules<R: std::fmt::Display>(&self, out: &mut String, t: usize, chains: &[(&str, &[R])]) {
        if chains.iter().all(|(_, r)| r.is_empty()) {
            return;
        }
        let _ = writeln!(out, "table ip {} {{", self.names[t]);
        for (name, rules) in chains.iter().filter(|(_, r)| !r.is_empty()) {
            let _ = writeln!(out, "\tchain {name} {{");
            for r in *rules {
                let _ = writeln!(out, "\t\t{r}");
            }
            out.push_str("\t}\n");
        }
        out.push_str("}\n");
    }

    fn add_elements<'a>(&self, out: &mut String, map: VerdictMap, elements: impl Iterator<Item = (&'a String, &'a String)>) {
        let mut lines: BTreeMap<usize, String> = BTreeMap::new();
        for (k, v) in elements {
            let line = lines.entry(self.element_table(map, v)).or_default();
            if !line.is_empty() {
                line.push_str(", ");
            }
            let _ = write!(line, "{k} : {v}");
        }
        for (t, line) in lines {
            let _ = writeln!(out, "add element ip {} {} {{ {line} }}", self.names[t], map.name());
        }
    }

    /// The script that removes every table of the proxy: this layout's and the `observed`
    /// others (already gone is fine).
    pub fn delete(&self, observed: &ObservedTables) -> String {
        let mut out = String::new();
        for t in self.names.iter().chain(observed.keys().filter(|t| !self.names.contains(t))) {
            let _ = write!(out, "add table ip {t}\ndelete table ip {t}\n");
        }
        out
    }
}

/// What a full sync removes and adds over the tables it found, by table index; shared
/// by the script and the netlink batch.
pub(crate) struct FullPlan<'a> {
    /// Per-Service chains and leftovers (chains the skeleton has not): flushed first.
    pub flush: Vec<(usize, &'a String)>,
    /// Affinity sets not wanted there (or with another timeout) and leftover sets and
    /// maps; deleted before the chains (a leftover map's elements name chains).
    pub delete_sets: Vec<(usize, &'a String)>,
    /// Chains flushed above that are not wanted in that table.
    pub delete_chains: Vec<(usize, &'a String)>,
    /// Wanted per-Service chains their table does not have yet.
    pub add_chains: Vec<(usize, &'a String)>,
}

impl<'a> FullPlan<'a> {
    pub fn new(spec: &TableSpec, want: &'a Ruleset, observed: &'a ObservedTables) -> Self {
        let mut plan = FullPlan { flush: Vec::new(), delete_sets: Vec::new(), delete_chains: Vec::new(), add_chains: Vec::new() };
        for (t, name) in spec.names.iter().enumerate() {
            let role = TableSpec::role(t);
            let Some(seen) = observed.get(name) else { continue };
            let wanted_here = |c: &String| is_service_chain(c) && want.chains.contains_key(c) && spec.table_of(c) == t;
            for chain in seen.chains.iter().filter(|c| !role.has_chain(c)) {
                plan.flush.push((t, chain));
                if !wanted_here(chain) {
                    plan.delete_chains.push((t, chain));
                }
            }
            for (set, timeout) in &seen.sets {
                let stays = if is_affinity_set(set) {
                    spec.table_of(set) == t && want.affinity_sets.get(set).map(|w| Some(*w)) == Some(*timeout)
                } else {
                    role.has_set(set)
                };
                if !stays {
                    plan.delete_sets.push((t, set));
                }
            }
        }
        for chain in want.chains.keys() {
            let t = spec.table_of(chain);
            if !observed.get(&spec.names[t]).is_some_and(|o| o.chains.contains(chain)) {
                plan.add_chains.push((t, chain));
            }
        }
        plan
    }
}

/// A rough size of a full script, to allocate once.
fn estimate(rs: &Ruleset) -> usize {
    rs.chains.values().map(|r| 96 + r.len() * 120).sum::<usize>() + rs.element_count() * 96 + 8192
}

/// What differs between two rulesets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff<'a> {
    pub added_chains: Vec<&'a String>,
    /// Kept, with other rules: flushed and refilled.
    pub changed_chains: Vec<&'a String>,
    pub removed_chains: Vec<&'a String>,
    /// New, or with another timeout (then also in `removed_sets`).
    pub added_sets: Vec<&'a String>,
    pub removed_sets: Vec<&'a String>,
    /// Elements to delete from each map (gone, or with another verdict): key and the old
    /// verdict (which says the element's table).
    pub elements_out: BTreeMap<VerdictMap, Vec<(&'a String, &'a String)>>,
    /// Elements to add to each map (new, or with another verdict).
    pub elements_in: BTreeMap<VerdictMap, Vec<(&'a String, &'a String)>>,
}

impl<'a> Diff<'a> {
    pub fn between(old: &'a Ruleset, new: &'a Ruleset) -> Self {
        let mut d = Diff::default();
        d.sets(old, new);
        d.chains(old, new);
        for map in VerdictMap::ALL {
            let (before, after) = (old.maps.get(&map), new.maps.get(&map));
            let out: Vec<(&String, &String)> = before.into_iter().flatten().filter(|(k, v)| after.and_then(|a| a.get(*k)) != Some(*v)).collect();
            let inn: Vec<(&String, &String)> = after.into_iter().flatten().filter(|(k, v)| before.and_then(|b| b.get(*k)) != Some(*v)).collect();
            if !out.is_empty() {
                d.elements_out.insert(map, out);
            }
            if !inn.is_empty() {
                d.elements_in.insert(map, inn);
            }
        }
        d
    }

    fn sets(&mut self, old: &'a Ruleset, new: &'a Ruleset) {
        for (name, timeout) in &old.affinity_sets {
            if new.affinity_sets.get(name) != Some(timeout) {
                self.removed_sets.push(name);
            }
        }
        for (name, timeout) in &new.affinity_sets {
            if old.affinity_sets.get(name) != Some(timeout) {
                self.added_sets.push(name);
            }
        }
    }

    /// A chain whose rules name a set made again (new timeout) is refilled too: a set
    /// that rules point at cannot be deleted.
    fn chains(&mut self, old: &'a Ruleset, new: &'a Ruleset) {
        let remade: Vec<&str> = self.added_sets.iter().filter(|s| old.affinity_sets.contains_key(**s)).map(|s| s.as_str()).collect();
        for (name, rules) in &new.chains {
            match old.chains.get(name) {
                None => self.added_chains.push(name),
                Some(before) if before != rules || names_any(rules, &remade) => self.changed_chains.push(name),
                Some(_) => {}
            }
        }
        self.removed_chains = old.chains.keys().filter(|c| !new.chains.contains_key(*c)).collect();
    }

    pub fn is_empty(&self) -> bool {
        self.added_chains.is_empty()
            && self.changed_chains.is_empty()
            && self.removed_chains.is_empty()
            && self.added_sets.is_empty()
            && self.removed_sets.is_empty()
            && self.elements_out.is_empty()
            && self.elements_in.is_empty()
    }
}

fn names_any(rules: &[Rule], sets: &[&str]) -> bool {
    !sets.is_empty() && rules.iter().any(|r| r.set().is_some_and(|s| sets.contains(&s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::model::desired;
    use crate::proxy::testutil::*;

    fn spec() -> TableSpec {
        TableSpec::new("shoal-proxy", 4, 0x4000, node())
    }

    fn two_services() -> Ruleset {
        desired(
            &[service("web", "10.96.0.10", 80), affinity(service("db", "10.96.0.11", 5432), 60)],
            &[slice("web", 8080, &[("10.244.1.2", "n1"), ("10.244.1.3", "n2")]), slice("db", 5432, &[("10.244.1.4", "n1")])],
            &node(),
        )
    }

    /// The table of a per-Service chain or set.
    fn table(name: &str) -> String {
        let spec = spec();
        spec.names()[spec.table_of(name)].clone()
    }

    fn pos(script: &str, needle: &str) -> usize {
        script.find(needle).unwrap_or_else(|| panic!("{needle:?} not in\n{script}"))
    }

    #[test]
    fn the_tables_are_one_common_and_the_shards_and_a_service_keeps_its_shard() {
        let spec = spec();
        assert_eq!(spec.names(), ["shoal-proxy", "shoal-proxy-00", "shoal-proxy-01", "shoal-proxy-02", "shoal-proxy-03"]);
        assert!(spec.is_ours("shoal-proxy") && spec.is_ours("shoal-proxy-17"));
        assert!(!spec.is_ours("shoal-proxy-x") && !spec.is_ours("shoal-proxy-") && !spec.is_ours("other"));
        let want = two_services();
        let web: Vec<&String> = want.chains.keys().filter(|c| c.contains("/web/")).collect();
        assert!(web.len() == 3 && web.iter().all(|c| spec.table_of(c) == spec.table_of(web[0])) && spec.table_of(web[0]) != COMMON);
        let (key, verdict) = want.map(VerdictMap::ServiceIps).next().unwrap();
        assert_eq!(spec.element_table(VerdictMap::ServiceIps, verdict), spec.table_of(verdict.strip_prefix("goto ").unwrap()), "{key}");
        assert_eq!(spec.element_table(VerdictMap::NoEndpointServices, "goto reject-chain"), COMMON);
    }

    #[test]
    fn a_full_sync_on_fresh_tables_builds_chains_before_rules_and_elements() {
        let want = two_services();
        let s = spec().full(&want, &ObservedTables::new());
        assert!(s.starts_with("add table ip shoal-proxy\n"));
        for line in [
            "add chain ip shoal-proxy-00 nat-prerouting { type nat hook prerouting priority -100; policy accept; }",
            "add chain ip shoal-proxy-03 nat-output { type nat hook output priority -100; policy accept; }",
            "add chain ip shoal-proxy nat-postrouting { type nat hook postrouting priority 100; policy accept; }",
            "add chain ip shoal-proxy filter-forward { type filter hook forward priority -110; policy accept; }",
            "add map ip shoal-proxy-02 service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }",
            "add map ip shoal-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }",
            "\t\tip daddr . meta l4proto . th dport vmap @service-ips",
            "\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
            "\t\tip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 jump mark-for-masquerade",
            "\t\tmark set mark or 0x4000",
            "\t\tmasquerade fully-random",
        ] {
            assert!(s.contains(line), "{line:?} missing in\n{s}");
        }
        assert!(!s.contains("add map ip shoal-proxy service-ips") && !s.contains("add chain ip shoal-proxy-00 filter-"), "each table has its own part");
        assert!(!s.contains("delete "), "nothing to delete on a fresh table");
        let chain = want.chains.keys().next().unwrap();
        let t = table(chain);
        assert!(pos(&s, &format!("add chain ip {t} {chain}\n")) < pos(&s, &format!("table ip {t} {{\n\tchain {chain}")));
        let set = want.affinity_sets.keys().next().unwrap();
        assert!(pos(&s, &format!("add set ip {} {set} ", table(set))) < pos(&s, "table ip shoal-proxy {"));
        let web = want.chains.keys().find(|c| c.starts_with("service-") && c.contains("/web/")).unwrap();
        assert!(pos(&s, "table ip shoal-proxy {") < pos(&s, &format!("add element ip {} service-ips {{ 10.96.0.10 . tcp . 80 : goto {web}", table(web))));
    }

    #[test]
    fn a_full_sync_over_old_tables_removes_what_is_not_wanted() {
        let want = two_services();
        let kept_set = want.affinity_sets.keys().next().unwrap().clone();
        let kept_chain = want.chains.keys().next().unwrap().clone();
        let (st, ct) = (table(&kept_set), table(&kept_chain));
        let gone_chain = "service-OLDOLDOL-ns/gone/tcp/80".to_string();
        let gone_set = "affinity-OLDOLDOL-ns/gone/tcp/80__10.0.0.1/80".to_string();
        let mut observed = ObservedTables::new();
        observed.entry(table(&gone_chain)).or_default().chains.extend(["services".to_string(), gone_chain.clone()]);
        observed.entry(ct.clone()).or_default().chains.insert(kept_chain.clone());
        observed.entry(st.clone()).or_default().sets.insert(kept_set.clone(), Some(60));
        observed.entry(table(&gone_set)).or_default().sets.insert(gone_set.clone(), Some(60));
        let s = spec().full(&want, &observed);
        let gt = table(&gone_chain);
        assert!(pos(&s, &format!("flush chain ip {gt} {gone_chain}\n")) < pos(&s, &format!("delete chain ip {gt} {gone_chain}\n")));
        assert!(s.contains(&format!("delete set ip {} {gone_set}\n", table(&gone_set))));
        assert!(!s.contains(&format!("delete set ip {st} {kept_set}\n")), "a set that stays keeps its clients");
        assert!(!s.contains(&format!("add chain ip {ct} {kept_chain}\n")), "an existing chain is only flushed");
        observed.entry(st.clone()).or_default().sets.insert(kept_set.clone(), Some(10));
        assert!(spec().full(&want, &observed).contains(&format!("delete set ip {st} {kept_set}\n")), "another timeout: made again");
    }

    #[test]
    fn a_full_sync_over_another_layout_deletes_its_extra_tables_and_leftovers() {
        let want = two_services();
        let chain = want.chains.keys().next().unwrap().clone();
        let mut observed = ObservedTables::new();
        // The single-table layout: NAT chains, `services` and the Services' chains and maps in the common table.
        let old = observed.entry("shoal-proxy".into()).or_default();
        old.chains.extend(["nat-prerouting", "services", "filter-input", "reject-chain"].map(String::from));
        old.chains.insert(chain.clone());
        old.sets.extend([("service-ips".to_string(), None), ("no-endpoint-services".to_string(), None)]);
        observed.insert("shoal-proxy-07".into(), Observed::default());
        let s = spec().full(&want, &observed);
        assert!(s.starts_with("delete table ip shoal-proxy-07\n"), "{s}");
        for line in ["flush chain ip shoal-proxy nat-prerouting", "delete chain ip shoal-proxy nat-prerouting", "delete chain ip shoal-proxy services"] {
            assert!(s.contains(&format!("{line}\n")), "{line:?} missing in\n{s}");
        }
        assert!(pos(&s, "delete set ip shoal-proxy service-ips\n") < pos(&s, &format!("delete chain ip shoal-proxy {chain}\n")), "the map naming it goes first");
        assert!(s.contains(&format!("add chain ip {} {chain}\n", table(&chain))), "made again in its shard");
        assert!(!s.contains("delete chain ip shoal-proxy filter-input") && !s.contains("delete set ip shoal-proxy no-endpoint-services"));
        let gone = spec().delete(&observed);
        assert!(gone.contains("delete table ip shoal-proxy\n") && gone.contains("delete table ip shoal-proxy-03\n") && gone.contains("delete table ip shoal-proxy-07\n"));
    }

    #[test]
    fn an_unchanged_ruleset_needs_no_script() {
        let (a, b) = (two_services(), two_services());
        let d = Diff::between(&a, &b);
        assert!(d.is_empty());
        assert_eq!(spec().incremental(&d, &b), "");
    }

    #[test]
    fn a_new_endpoint_refills_one_service_chain_and_adds_one_endpoint_chain_in_its_shard() {
        let old = two_services();
        let new = desired(
            &[service("web", "10.96.0.10", 80), affinity(service("db", "10.96.0.11", 5432), 60)],
            &[slice("web", 8080, &[("10.244.1.2", "n1"), ("10.244.1.3", "n2"), ("10.244.1.9", "n2")]), slice("db", 5432, &[("10.244.1.4", "n1")])],
            &node(),
        );
        let d = Diff::between(&old, &new);
        assert_eq!(d.added_chains.len(), 1);
        assert!(d.added_chains[0].ends_with("__10.244.1.9/8080"));
        assert_eq!(d.changed_chains.len(), 1);
        assert!(d.changed_chains[0].starts_with("service-") && d.changed_chains[0].contains("/web/"));
        assert!(d.removed_chains.is_empty() && d.elements_in.is_empty() && d.elements_out.is_empty());
        let s = spec().incremental(&d, &new);
        assert_eq!(s.lines().filter(|l| l.starts_with("flush chain")).count(), 1);
        assert!(s.contains("numgen random mod 3 == 0 goto endpoint-"));
        assert!(!s.contains("/db/"), "the other service is untouched:\n{s}");
        let t = table(d.changed_chains[0]);
        assert!(s.lines().filter(|l| l.contains(" ip shoal-proxy")).all(|l| l.contains(&format!(" ip {t} ")) || l == format!("table ip {t} {{")), "one table only:\n{s}");
    }

    #[test]
    fn a_removed_service_loses_its_element_before_its_chains() {
        let old = two_services();
        let new = desired(&[service("web", "10.96.0.10", 80)], &[slice("web", 8080, &[("10.244.1.2", "n1"), ("10.244.1.3", "n2")])], &node());
        let d = Diff::between(&old, &new);
        assert_eq!(d.removed_chains.len(), 2, "db's service and endpoint chains");
        assert_eq!(d.removed_sets.len(), 1);
        let s = spec().incremental(&d, &new);
        let removed = d.removed_chains[0];
        let t = table(removed);
        let element = pos(&s, &format!("delete element ip {t} service-ips {{ 10.96.0.11 . tcp . 5432 }}"));
        assert!(element < pos(&s, &format!("flush chain ip {t} {removed}\n")));
        assert!(pos(&s, &format!("flush chain ip {t} {removed}\n")) < pos(&s, &format!("delete chain ip {t} {removed}\n")));
        assert!(pos(&s, "delete chain") < pos(&s, "delete set"), "rules naming the set go first");
        assert!(!s.contains("add "), "{s}");
    }

    #[test]
    fn losing_every_endpoint_swaps_the_element_for_a_reject_in_the_common_table() {
        let old = desired(&[service("web", "10.96.0.10", 80)], &[slice("web", 8080, &[("10.244.1.2", "n1")])], &node());
        let new = desired::<_, api::model::EndpointSlice>(&[service("web", "10.96.0.10", 80)], &[], &node());
        let d = Diff::between(&old, &new);
        let s = spec().incremental(&d, &new);
        let t = table(old.chains.keys().next().unwrap());
        assert!(s.contains(&format!("delete element ip {t} service-ips {{ 10.96.0.10 . tcp . 80 }}")));
        assert!(s.contains("add element ip shoal-proxy no-endpoint-services { 10.96.0.10 . tcp . 80 : goto reject-chain }"));
        assert_eq!(s.lines().filter(|l| l.starts_with("delete chain")).count(), 2);
    }

    #[test]
    fn a_new_affinity_timeout_remakes_the_sets_and_refills_the_chains_naming_them() {
        let make = |t| desired(&[affinity(service("db", "10.96.0.11", 5432), t)], &[slice("db", 5432, &[("10.244.1.4", "n1")])], &node());
        let (old, new) = (make(60), make(120));
        let d = Diff::between(&old, &new);
        assert_eq!((d.removed_sets.len(), d.added_sets.len()), (1, 1));
        assert_eq!(d.changed_chains.len(), 2, "the service chain and the endpoint chain name the set");
        let s = spec().incremental(&d, &new);
        assert!(pos(&s, "flush chain") < pos(&s, "delete set") && pos(&s, "delete set") < pos(&s, "add set"));
        assert!(s.contains("timeout 120s;"));
    }

    #[test]
    fn node_addresses_restrict_node_ports_to_a_set_in_every_table() {
        let mut spec = spec();
        spec.node.node_ips = vec!["192.168.50.2".parse().unwrap()];
        let s = spec.full(&Ruleset::default(), &ObservedTables::new());
        assert!(s.contains("add element ip shoal-proxy nodeport-ips { 192.168.50.2 }"));
        assert!(s.contains("add element ip shoal-proxy-03 nodeport-ips { 192.168.50.2 }"));
        assert!(s.contains("\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"));
        assert!(s.contains("\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports"));
        assert!(!s.contains("fib daddr"));
    }
}
