//! `nft -f` scripts (pure): the table's fixed skeleton, a full sync that brings any
//! previous contents of the table to the desired [`Ruleset`], and an incremental sync
//! that changes only what differs between two rulesets. Each script is one transaction.
//!
//! Order inside a script: chains and sets exist before the rules and elements that name
//! them; elements and rules that name a chain go before the chain is deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::model::{NodeFacts, MARK_MASQ_CHAIN, REJECT_CHAIN};
use super::ruleset::{is_affinity_set, is_service_chain, Rule, Ruleset, VerdictMap};

/// The table's name and the facts its skeleton depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The `ip` table the proxy owns (e.g. `shoal-proxy`).
    pub table: String,
    /// The packet mark bit that asks for masquerade.
    pub mark: u32,
    pub node: NodeFacts,
}

/// What a listing found in the table before a full sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub chains: BTreeSet<String>,
    /// Set names, with their timeout in seconds when they have one.
    pub sets: BTreeMap<String, Option<u32>>,
}

/// The base chains: name, type, hook, priority (the filter chains run before DNAT, on
/// the destination the client asked for).
pub(crate) const BASE_CHAINS: [(&str, &str, &str, i32); 6] = [
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
];

pub(crate) const HELPER_CHAINS: [&str; 5] = ["services", "masquerading", MARK_MASQ_CHAIN, "endpoints-check", REJECT_CHAIN];

pub(crate) const NODEPORT_IPS: &str = "nodeport-ips";

impl TableSpec {
    fn prefix(&self, verb: &str, object: &str) -> String {
        format!("{verb} {object} ip {} ", self.table)
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

    /// The fixed rules of the skeleton's chains.
    fn skeleton_rules(&self) -> Vec<(&'static str, Vec<String>)> {
        let cidr = self.node.cluster_cidr;
        let mark = format!("{:#x}", self.mark);
        let np = self.nodeport_match();
        vec![
            ("filter-input", vec!["ct state new jump endpoints-check".into()]),
            ("filter-forward", vec!["ct state new jump endpoints-check".into()]),
            ("filter-output", vec!["ct state new jump endpoints-check".into()]),
            ("nat-prerouting", vec!["jump services".into()]),
            ("nat-output", vec!["jump services".into()]),
            (
                "nat-postrouting",
                vec![
                    format!("ip saddr {cidr} ip daddr != {cidr} jump {MARK_MASQ_CHAIN} comment \"pod traffic leaving the cluster network\""),
                    "jump masquerading".into(),
                ],
            ),
            (
                "services",
                vec![
                    format!("ip daddr . meta l4proto . th dport vmap @{}", VerdictMap::ServiceIps.name()),
                    format!("{np} meta l4proto . th dport vmap @{}", VerdictMap::ServiceNodePorts.name()),
                ],
            ),
            ("masquerading", vec![format!("mark and {mark} == 0 return"), format!("mark set mark xor {mark}"), "masquerade fully-random".into()]),
            (MARK_MASQ_CHAIN, vec![format!("mark set mark or {mark}")]),
            (
                "endpoints-check",
                vec![
                    format!("ip daddr . meta l4proto . th dport vmap @{}", VerdictMap::NoEndpointServices.name()),
                    format!("{np} meta l4proto . th dport vmap @{}", VerdictMap::NoEndpointNodePorts.name()),
                ],
            ),
            (REJECT_CHAIN, vec!["meta l4proto tcp reject with tcp reset".into(), "reject".into()]),
        ]
    }

    /// Adds (or keeps) the table, its base and helper chains (flushed) and its maps.
    fn skeleton(&self, out: &mut String, observed: Option<&Observed>) {
        let t = &self.table;
        let _ = writeln!(out, "add table ip {t}");
        for (name, type_, hook, prio) in BASE_CHAINS {
            let _ = writeln!(out, "add chain ip {t} {name} {{ type {type_} hook {hook} priority {prio}; policy accept; }}");
            let _ = writeln!(out, "flush chain ip {t} {name}");
        }
        for name in HELPER_CHAINS {
            let _ = writeln!(out, "add chain ip {t} {name}");
            let _ = writeln!(out, "flush chain ip {t} {name}");
        }
        for map in VerdictMap::ALL {
            let _ = writeln!(out, "add map ip {t} {} {{ type {} : verdict; }}", map.name(), map.key_type());
            let _ = writeln!(out, "flush map ip {t} {}", map.name());
        }
        if self.node.node_ips.is_empty() {
            if observed.is_some_and(|o| o.sets.contains_key(NODEPORT_IPS)) {
                let _ = writeln!(out, "delete set ip {t} {NODEPORT_IPS}");
            }
        } else {
            let ips: Vec<String> = self.node.node_ips.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "add set ip {t} {NODEPORT_IPS} {{ type ipv4_addr; }}");
            let _ = writeln!(out, "flush set ip {t} {NODEPORT_IPS}");
            let _ = writeln!(out, "add element ip {t} {NODEPORT_IPS} {{ {} }}", ips.join(", "));
        }
    }

    /// A script that makes the table exactly `want`, whatever it held (`observed`; `None`:
    /// no table yet). Affinity sets that stay keep their entries.
    pub fn full(&self, want: &Ruleset, observed: Option<&Observed>) -> String {
        let t = &self.table;
        let mut out = String::with_capacity(estimate(want));
        self.skeleton(&mut out, observed);
        let empty = Observed::default();
        let seen = observed.unwrap_or(&empty);
        // The maps are flushed: nothing points at a per-Service chain but other chains.
        for name in seen.chains.iter().filter(|c| is_service_chain(c)) {
            let _ = writeln!(out, "flush chain ip {t} {name}");
        }
        for name in seen.chains.iter().filter(|c| is_service_chain(c) && !want.chains.contains_key(*c)) {
            let _ = writeln!(out, "delete chain ip {t} {name}");
        }
        for (name, timeout) in seen.sets.iter().filter(|(s, _)| is_affinity_set(s)) {
            if want.affinity_sets.get(name).map(|w| Some(*w)) != Some(*timeout) {
                let _ = writeln!(out, "delete set ip {t} {name}");
            }
        }
        let sets: Vec<(&String, &u32)> = want.affinity_sets.iter().collect();
        self.add_sets(&mut out, &sets);
        let chains: Vec<&String> = want.chains.keys().filter(|c| !seen.chains.contains(*c)).collect();
        self.add_chains(&mut out, &chains);
        let skeleton = self.skeleton_rules();
        let skeleton: Vec<(&str, &[String])> = skeleton.iter().map(|(c, r)| (*c, r.as_slice())).collect();
        self.add_rules(&mut out, &skeleton);
        let rules: Vec<(&str, &[Rule])> = want.chains.iter().map(|(c, r)| (c.as_str(), r.as_slice())).collect();
        self.add_rules(&mut out, &rules);
        for map in VerdictMap::ALL {
            self.add_elements(&mut out, map, want.map(map));
        }
        out
    }

    /// A script that turns the table from `old` (applied before) into `new`, given their
    /// [`Diff`]; empty when they are the same.
    pub fn incremental(&self, d: &Diff<'_>, new: &Ruleset) -> String {
        if d.is_empty() {
            return String::new();
        }
        let t = &self.table;
        let mut out = String::new();
        for (map, keys) in &d.elements_out {
            if !keys.is_empty() {
                let _ = writeln!(out, "{}{} {{ {} }}", self.prefix("delete", "element"), map.name(), keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "));
            }
        }
        for name in d.changed_chains.iter().chain(&d.removed_chains) {
            let _ = writeln!(out, "flush chain ip {t} {name}");
        }
        for name in &d.removed_chains {
            let _ = writeln!(out, "delete chain ip {t} {name}");
        }
        for name in &d.removed_sets {
            let _ = writeln!(out, "delete set ip {t} {name}");
        }
        let sets: Vec<(&String, &u32)> = d.added_sets.iter().filter_map(|s| new.affinity_sets.get_key_value(*s)).collect();
        self.add_sets(&mut out, &sets);
        self.add_chains(&mut out, &d.added_chains);
        let rules: Vec<(&str, &[Rule])> =
            d.added_chains.iter().chain(&d.changed_chains).filter_map(|c| new.chains.get(*c).map(|r| (c.as_str(), r.as_slice()))).collect();
        self.add_rules(&mut out, &rules);
        for (map, elements) in &d.elements_in {
            self.add_elements(&mut out, *map, elements.iter().copied());
        }
        out
    }

    fn add_sets(&self, out: &mut String, sets: &[(&String, &u32)]) {
        for (name, timeout) in sets {
            let _ = writeln!(out, "add set ip {} {name} {{ type ipv4_addr; flags dynamic,timeout; timeout {timeout}s; }}", self.table);
        }
    }

    fn add_chains(&self, out: &mut String, chains: &[&String]) {
        for name in chains {
            let _ = writeln!(out, "add chain ip {} {name}", self.table);
        }
    }

    /// Rules in block form (`table … { chain … { rule … } }`): each chain's name once.
    fn add_rules<R: std::fmt::Display>(&self, out: &mut String, chains: &[(&str, &[R])]) {
        if chains.iter().all(|(_, r)| r.is_empty()) {
            return;
        }
        let _ = writeln!(out, "table ip {} {{", self.table);
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
        let mut line = String::new();
        for (k, v) in elements {
            if !line.is_empty() {
                line.push_str(", ");
            }
            let _ = write!(line, "{k} : {v}");
        }
        if !line.is_empty() {
            let _ = writeln!(out, "{}{} {{ {line} }}", self.prefix("add", "element"), map.name());
        }
    }

    /// The script that removes the table (and everything in it).
    pub fn delete(&self) -> String {
        format!("add table ip {t}\ndelete table ip {t}\n", t = self.table)
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
    /// Keys to delete from each map (gone, or with another verdict).
    pub elements_out: BTreeMap<VerdictMap, Vec<&'a String>>,
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
            let out: Vec<&String> =
                before.into_iter().flatten().filter(|(k, v)| after.and_then(|a| a.get(*k)) != Some(*v)).map(|(k, _)| k).collect();
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
        TableSpec { table: "shoal-proxy".into(), mark: 0x4000, node: node() }
    }

    fn two_services() -> Ruleset {
        desired(
            &[service("web", "10.96.0.10", 80), affinity(service("db", "10.96.0.11", 5432), 60)],
            &[slice("web", 8080, &[("10.244.1.2", "n1"), ("10.244.1.3", "n2")]), slice("db", 5432, &[("10.244.1.4", "n1")])],
            &node(),
        )
    }

    fn pos(script: &str, needle: &str) -> usize {
        script.find(needle).unwrap_or_else(|| panic!("{needle:?} not in\n{script}"))
    }

    #[test]
    fn a_full_sync_on_a_fresh_table_builds_chains_before_rules_and_elements() {
        let want = two_services();
        let s = spec().full(&want, None);
        assert!(s.starts_with("add table ip shoal-proxy\n"));
        for line in [
            "add chain ip shoal-proxy nat-prerouting { type nat hook prerouting priority -100; policy accept; }",
            "add chain ip shoal-proxy nat-postrouting { type nat hook postrouting priority 100; policy accept; }",
            "add map ip shoal-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }",
            "\t\tip daddr . meta l4proto . th dport vmap @service-ips",
            "\t\tfib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports",
            "\t\tip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 jump mark-for-masquerade",
            "\t\tmark set mark or 0x4000",
            "\t\tmasquerade fully-random",
        ] {
            assert!(s.contains(line), "{line:?} missing in\n{s}");
        }
        assert!(!s.contains("delete "), "nothing to delete on a fresh table");
        let chain = want.chains.keys().next().unwrap();
        assert!(pos(&s, &format!("add chain ip shoal-proxy {chain}\n")) < pos(&s, "table ip shoal-proxy {"));
        assert!(pos(&s, "add set ip shoal-proxy affinity-") < pos(&s, "table ip shoal-proxy {"));
        assert!(pos(&s, "table ip shoal-proxy {") < pos(&s, "add element ip shoal-proxy service-ips { 10.96.0.10 . tcp . 80 : goto service-"));
    }

    #[test]
    fn a_full_sync_over_an_old_table_removes_what_is_not_wanted() {
        let want = two_services();
        let kept_set = want.affinity_sets.keys().next().unwrap().clone();
        let mut observed = Observed::default();
        observed.chains.extend(["services".to_string(), "service-OLD-ns/gone/tcp/80".into(), want.chains.keys().next().unwrap().clone()]);
        observed.sets.insert(kept_set.clone(), Some(60));
        observed.sets.insert("affinity-OLD-ns/gone/tcp/80__10.0.0.1/80".into(), Some(60));
        let s = spec().full(&want, Some(&observed));
        assert!(s.contains("flush chain ip shoal-proxy service-OLD-ns/gone/tcp/80\n"));
        assert!(pos(&s, "flush chain ip shoal-proxy service-OLD") < pos(&s, "delete chain ip shoal-proxy service-OLD-ns/gone/tcp/80\n"));
        assert!(s.contains("delete set ip shoal-proxy affinity-OLD-ns/gone/tcp/80__10.0.0.1/80\n"));
        assert!(!s.contains(&format!("delete set ip shoal-proxy {kept_set}\n")), "a set that stays keeps its clients");
        assert!(!s.contains(&format!("add chain ip shoal-proxy {}\n", want.chains.keys().next().unwrap())), "an existing chain is only flushed");
        observed.sets.insert(kept_set.clone(), Some(10));
        assert!(spec().full(&want, Some(&observed)).contains(&format!("delete set ip shoal-proxy {kept_set}\n")), "another timeout: made again");
    }

    #[test]
    fn an_unchanged_ruleset_needs_no_script() {
        let (a, b) = (two_services(), two_services());
        let d = Diff::between(&a, &b);
        assert!(d.is_empty());
        assert_eq!(spec().incremental(&d, &b), "");
    }

    #[test]
    fn a_new_endpoint_refills_one_service_chain_and_adds_one_endpoint_chain() {
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
    }

    #[test]
    fn a_removed_service_loses_its_element_before_its_chains() {
        let old = two_services();
        let new = desired(&[service("web", "10.96.0.10", 80)], &[slice("web", 8080, &[("10.244.1.2", "n1"), ("10.244.1.3", "n2")])], &node());
        let d = Diff::between(&old, &new);
        assert_eq!(d.removed_chains.len(), 2, "db's service and endpoint chains");
        assert_eq!(d.removed_sets.len(), 1);
        let s = spec().incremental(&d, &new);
        let element = pos(&s, "delete element ip shoal-proxy service-ips { 10.96.0.11 . tcp . 5432 }");
        let removed = d.removed_chains[0];
        assert!(element < pos(&s, &format!("flush chain ip shoal-proxy {removed}\n")));
        assert!(pos(&s, &format!("flush chain ip shoal-proxy {removed}\n")) < pos(&s, &format!("delete chain ip shoal-proxy {removed}\n")));
        assert!(pos(&s, "delete chain") < pos(&s, "delete set"), "rules naming the set go first");
        assert!(!s.contains("add "), "{s}");
    }

    #[test]
    fn losing_every_endpoint_swaps_the_element_for_a_reject() {
        let old = desired(&[service("web", "10.96.0.10", 80)], &[slice("web", 8080, &[("10.244.1.2", "n1")])], &node());
        let new = desired::<_, api::model::EndpointSlice>(&[service("web", "10.96.0.10", 80)], &[], &node());
        let d = Diff::between(&old, &new);
        let s = spec().incremental(&d, &new);
        assert!(s.contains("delete element ip shoal-proxy service-ips { 10.96.0.10 . tcp . 80 }"));
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
    fn node_addresses_restrict_node_ports_to_a_set() {
        let mut spec = spec();
        spec.node.node_ips = vec!["192.168.50.2".parse().unwrap()];
        let s = spec.full(&Ruleset::default(), None);
        assert!(s.contains("add element ip shoal-proxy nodeport-ips { 192.168.50.2 }"));
        assert!(s.contains("\t\tip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports"));
        assert!(!s.contains("fib daddr"));
    }
}
