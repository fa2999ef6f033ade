//! The proxy's tables as one nf_tables batch (pure): the same transactions as
//! [`crate::proxy::render`]'s scripts, in the same order, as netlink messages; each
//! message names its table (the common one or a Service's shard).

use std::net::Ipv4Addr;

use super::expr::{self, comment_udata, verdict_data, CMP_EQ, CMP_NEQ, FIB_DADDR, IP_DADDR, IP_SADDR, NFT_GOTO, NFT_JUMP, NFT_RETURN, NF_DROP, REG32_01, REG32_02, REG_1};
use super::msg::{Messages, AF_INET, NFNL_SUBSYS_NFTABLES, NLM_F_APPEND, NLM_F_CREATE};
use super::NetlinkError;
use crate::proxy::model::{MARK_MASQ_CHAIN, REJECT_CHAIN};
use crate::proxy::render::{Diff, FullPlan, Observed, ObservedTables, Role, TableSpec, COMMON, NODEPORT_IPS};
use crate::proxy::ruleset::{Protocol, Rule, Ruleset, VerdictMap};

const NEWTABLE: u8 = 0;
const DELTABLE: u8 = 2;
const NEWCHAIN: u8 = 3;
const DELCHAIN: u8 = 5;
const NEWRULE: u8 = 6;
const DELRULE: u8 = 8;
const NEWSET: u8 = 9;
const DELSET: u8 = 11;
const NEWSETELEM: u8 = 12;
const DELSETELEM: u8 = 14;

const SET_MAP: u32 = 0x8;
const SET_TIMEOUT: u32 = 0x10;
const SET_EVAL: u32 = 0x20;
const DATA_VERDICT: u32 = 0xffff_ff00;
/// Datatypes: `ipv4_addr`, and the concatenations `ipv4_addr . inet_proto . inet_service`
/// and `inet_proto . inet_service` (6 bits per member).
const TYPE_IPV4_ADDR: u32 = 7;
const TYPE_ADDR_PROTO_PORT: u32 = (7 << 12) | (12 << 6) | 13;
const TYPE_PROTO_PORT: u32 = (12 << 6) | 13;
/// The set user data `nft` 1.0.6 writes (key byte order, typeof details): the same bytes
/// make the listings the same.
const UDATA_VERDICT_MAP: [u8; 28] = [0, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 3, 8, 0, 4, 13, 0, 0, 0, 1, 0, 6, 4, 0, 0, 0, 0];
const UDATA_ADDR_SET: [u8; 6] = [0, 4, 2, 0, 0, 0];

/// The chain [`TableBatch::settle`] makes and deletes.
const SETTLE_CHAIN: &str = "settle";

/// Elements per message: a message's element list is one attribute (at most 64 KiB).
const ELEMENTS_PER_MESSAGE: usize = 96;

/// A verdict: its code and, for `jump`/`goto`, the chain.
type Verdict<'a> = (i32, Option<&'a str>);

/// What kind of set a `NEWSET` makes.
#[derive(Clone, Copy)]
struct SetKind<'a> {
    flags: u32,
    key_type: u32,
    key_len: u32,
    verdict_map: bool,
    timeout_s: Option<u32>,
    udata: &'a [u8],
}

impl SetKind<'static> {
    /// `type ipv4_addr;`
    const ADDRESSES: Self = SetKind { flags: 0, key_type: TYPE_IPV4_ADDR, key_len: 4, verdict_map: false, timeout_s: None, udata: &UDATA_ADDR_SET };
}

/// A batch under construction for the proxy's tables.
pub struct TableBatch<'s> {
    spec: &'s TableSpec,
    m: Messages,
    set_id: u32,
    /// The table the next messages are for (an index of [`TableSpec::names`]).
    table: usize,
    /// The tables that got a message.
    touched: std::collections::BTreeSet<usize>,
}

impl<'s> TableBatch<'s> {
    pub fn new(spec: &'s TableSpec, capacity: usize) -> Self {
        TableBatch { spec, m: Messages::batch(capacity), set_id: 0, table: COMMON, touched: Default::default() }
    }

    /// The next messages are for table `t`.
    pub fn on(&mut self, t: usize) -> &mut Self {
        self.table = t;
        self
    }

    /// How many tables the batch changes.
    pub fn tables_touched(&self) -> usize {
        self.touched.len()
    }

    /// The bytes to send, and the sequence number whose acknowledgement means committed.
    pub fn finish(self) -> (Vec<u8>, Option<u32>) {
        self.m.finish_batch()
    }

    fn start(&mut self, msg: u8, flags: u16) {
        self.m.start(NFNL_SUBSYS_NFTABLES, msg, flags, AF_INET);
    }

    fn table_attr(&mut self, ty: u16) {
        self.touched.insert(self.table);
        self.m.str(ty, &self.spec.names()[self.table]);
    }

    pub fn add_table(&mut self) {
        self.start(NEWTABLE, NLM_F_CREATE);
        self.table_attr(1);
        self.m.u32(2, 0);
        self.m.end();
    }

    /// `add table` then `delete table`: gone afterwards, whether it was there or not.
    pub fn delete_table(&mut self) {
        self.add_table();
        self.start(DELTABLE, 0);
        self.table_attr(1);
        self.m.end();
    }

    /// A transaction that changes nothing but commits: an empty chain of the common table
    /// made and deleted (no rule, so nothing to validate).
    pub fn settle(&mut self) {
        self.on(COMMON).add_chain(SETTLE_CHAIN);
        self.delete_chain(SETTLE_CHAIN);
    }

    /// Deletes a table that is not of this layout (another shard count's).
    fn delete_named_table(&mut self, name: &str) {
        self.start(DELTABLE, 0);
        self.m.str(1, name);
        self.m.end();
    }

    /// Every table of the layout and the `observed` others go.
    pub fn delete_all(&mut self, observed: &ObservedTables) {
        for t in 0..self.spec.names().len() {
            self.on(t).delete_table();
        }
        for name in observed.keys().filter(|n| !self.spec.names().contains(n)) {
            self.delete_named_table(name);
        }
    }

    fn base_chain(&mut self, name: &str, type_: &str, hook: &str, prio: i32) {
        let hooknum = match hook {
            "prerouting" => 0,
            "input" => 1,
            "forward" => 2,
            "output" => 3,
            _ => 4,
        };
        self.start(NEWCHAIN, NLM_F_CREATE);
        self.table_attr(1);
        self.m.str(3, name);
        self.m.nest(4, |m| {
            m.u32(1, hooknum);
            m.u32(2, prio as u32);
        });
        self.m.u32(5, 1);
        self.m.str(7, type_);
        self.m.end();
    }

    pub fn add_chain(&mut self, name: &str) {
        self.start(NEWCHAIN, NLM_F_CREATE);
        self.table_attr(1);
        self.m.str(3, name);
        self.m.end();
    }

    pub fn flush_chain(&mut self, name: &str) {
        self.start(DELRULE, 0);
        self.table_attr(1);
        self.m.str(2, name);
        self.m.end();
    }

    pub fn delete_chain(&mut self, name: &str) {
        self.start(DELCHAIN, 0);
        self.table_attr(1);
        self.m.str(3, name);
        self.m.end();
    }

    fn set(&mut self, name: &str, s: SetKind<'_>) {
        self.set_id += 1;
        self.start(NEWSET, NLM_F_CREATE);
        self.table_attr(1);
        self.m.str(2, name);
        self.m.u32(3, s.flags);
        self.m.u32(4, s.key_type);
        self.m.u32(5, s.key_len);
        if s.verdict_map {
            self.m.u32(6, DATA_VERDICT);
            self.m.u32(7, 0);
        }
        self.m.u32(10, self.set_id);
        if let Some(t) = s.timeout_s {
            self.m.u64(11, u64::from(t) * 1000);
        }
        self.m.bytes(13, s.udata);
        self.m.end();
    }

    fn add_map(&mut self, map: VerdictMap) {
        let (ty, len) = match map {
            VerdictMap::ServiceIps | VerdictMap::NoEndpointServices => (TYPE_ADDR_PROTO_PORT, 12),
            VerdictMap::ServiceNodePorts | VerdictMap::NoEndpointNodePorts => (TYPE_PROTO_PORT, 8),
        };
        self.set(map.name(), SetKind { flags: SET_MAP, key_type: ty, key_len: len, verdict_map: true, timeout_s: None, udata: &UDATA_VERDICT_MAP });
    }

    /// An affinity set: `type ipv4_addr; flags dynamic,timeout; timeout Ns`.
    pub fn add_affinity_set(&mut self, name: &str, timeout_s: u32) {
        self.set(name, SetKind { flags: SET_TIMEOUT | SET_EVAL, timeout_s: Some(timeout_s), ..SetKind::ADDRESSES });
    }

    pub fn delete_set(&mut self, name: &str) {
        self.start(DELSET, 0);
        self.table_attr(1);
        self.m.str(2, name);
        self.m.end();
    }

    pub fn flush_set(&mut self, name: &str) {
        self.start(DELSETELEM, 0);
        self.table_attr(1);
        self.m.str(2, name);
        self.m.end();
    }

    /// One rule appended to `chain`: its expressions written by `exprs`.
    fn rule_with(&mut self, chain: &str, comment: Option<&str>, exprs: impl FnOnce(&mut Messages)) {
        self.start(NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
        self.table_attr(1);
        self.m.str(2, chain);
        self.m.nest(4, exprs);
        if let Some(c) = comment {
            self.m.bytes(7, &comment_udata(c));
        }
        self.m.end();
    }

    pub fn add_rule(&mut self, chain: &str, r: &Rule) {
        self.rule_with(chain, r.comment(), |m| expr::rule(m, r));
    }

    /// Elements `key : verdict` (in `nft` syntax, as the [`Ruleset`] keeps them).
    pub fn add_elements<'a>(&mut self, map: VerdictMap, elements: impl IntoIterator<Item = (&'a String, &'a String)>) -> Result<(), NetlinkError> {
        let parsed: Vec<(Vec<u8>, Verdict<'_>)> =
            elements.into_iter().map(|(k, v)| Ok((element_key(map, k)?, element_verdict(v)?))).collect::<Result<_, NetlinkError>>()?;
        for chunk in parsed.chunks(ELEMENTS_PER_MESSAGE) {
            self.elements_message(NEWSETELEM, NLM_F_CREATE, map.name(), chunk.iter().map(|(k, v)| (k.as_slice(), Some(*v))));
        }
        Ok(())
    }

    pub fn delete_elements<'a>(&mut self, map: VerdictMap, keys: impl IntoIterator<Item = &'a String>) -> Result<(), NetlinkError> {
        let parsed: Vec<Vec<u8>> = keys.into_iter().map(|k| element_key(map, k)).collect::<Result<_, NetlinkError>>()?;
        for chunk in parsed.chunks(ELEMENTS_PER_MESSAGE) {
            self.elements_message(DELSETELEM, 0, map.name(), chunk.iter().map(|k| (k.as_slice(), None)));
        }
        Ok(())
    }

    fn elements_message<'a>(&mut self, msg: u8, flags: u16, set: &str, elements: impl Iterator<Item = (&'a [u8], Option<Verdict<'a>>)>) {
        self.start(msg, flags);
        self.table_attr(1);
        self.m.str(2, set);
        self.m.nest(3, |m| {
            for (key, verdict) in elements {
                m.nest(1, |m| {
                    m.nest(1, |m| m.bytes(1, key));
                    if let Some((code, chain)) = verdict {
                        verdict_data(m, 2, code, chain);
                    }
                });
            }
        });
        self.m.end();
    }

    /// The skeleton of table `t`: the table, its base and helper chains (flushed), maps
    /// (flushed), the NodePort address set; as [`TableSpec`]'s script does.
    fn skeleton(&mut self, t: usize, observed: Option<&Observed>) {
        let role = TableSpec::role(t);
        self.on(t).add_table();
        for (name, type_, hook, prio) in role.base_chains() {
            self.base_chain(name, type_, hook, *prio);
            self.flush_chain(name);
        }
        for name in role.helper_chains() {
            self.add_chain(name);
            self.flush_chain(name);
        }
        for map in role.maps() {
            self.add_map(map);
            self.flush_set(map.name());
        }
        if self.spec.node.node_ips.is_empty() {
            if observed.is_some_and(|o| o.sets.contains_key(NODEPORT_IPS)) {
                self.delete_set(NODEPORT_IPS);
            }
        } else {
            self.set(NODEPORT_IPS, SetKind::ADDRESSES);
            self.flush_set(NODEPORT_IPS);
            let keys: Vec<[u8; 4]> = self.spec.node.node_ips.iter().map(Ipv4Addr::octets).collect();
            for chunk in keys.chunks(ELEMENTS_PER_MESSAGE) {
                self.elements_message(NEWSETELEM, NLM_F_CREATE, NODEPORT_IPS, chunk.iter().map(|k| (k.as_slice(), None)));
            }
        }
    }

    /// `ip daddr . meta l4proto . th dport vmap @map` and the NodePort one.
    fn capture_rules(&mut self, chain: &str, by_ip: VerdictMap, by_port: VerdictMap) {
        self.rule_with(chain, None, |m| {
            expr::payload(m, expr::BASE_NETWORK, IP_DADDR, 4, REG_1);
            expr::proto_dport_into(m, REG32_01, REG32_02);
            expr::lookup(m, by_ip.name(), true);
        });
        let spec = self.spec;
        self.rule_with(chain, None, |m| {
            nodeport_match(spec, m);
            expr::proto_dport_into(m, REG_1, REG32_01);
            expr::lookup(m, by_port.name(), true);
        });
    }

    fn mark_for_masquerade(&mut self) {
        let mark = self.spec.mark;
        self.rule_with(MARK_MASQ_CHAIN, None, |m| {
            expr::meta_load(m, expr::META_MARK, REG_1);
            expr::bitwise(m, &(!mark).to_ne_bytes(), &mark.to_ne_bytes());
            expr::meta_set(m, expr::META_MARK);
        });
    }

    /// The skeleton's rules of table `t`.
    fn skeleton_rules(&mut self, t: usize) {
        self.on(t);
        if TableSpec::role(t) == Role::Shard {
            for chain in ["nat-prerouting", "nat-output"] {
                self.rule_with(chain, None, |m| expr::verdict(m, NFT_JUMP, Some("services")));
            }
            self.capture_rules("services", VerdictMap::ServiceIps, VerdictMap::ServiceNodePorts);
            self.mark_for_masquerade();
            return;
        }
        let mark = self.spec.mark;
        let cidr = self.spec.node.cluster_cidr;
        for chain in ["filter-input", "filter-forward", "filter-output"] {
            self.rule_with(chain, None, |m| {
                expr::ct_state_new(m);
                expr::verdict(m, NFT_JUMP, Some("endpoints-check"));
            });
        }
        self.rule_with("nat-postrouting", Some("pod traffic leaving the cluster network"), |m| {
            expr::ip_in(m, IP_SADDR, cidr, CMP_EQ);
            expr::ip_in(m, IP_DADDR, cidr, CMP_NEQ);
            expr::verdict(m, NFT_JUMP, Some(MARK_MASQ_CHAIN));
        });
        self.rule_with("nat-postrouting", None, |m| expr::verdict(m, NFT_JUMP, Some("masquerading")));
        self.rule_with("masquerading", None, |m| {
            expr::meta_load(m, expr::META_MARK, REG_1);
            expr::bitwise(m, &mark.to_ne_bytes(), &[0; 4]);
            expr::cmp(m, CMP_EQ, &[0; 4]);
            expr::verdict(m, NFT_RETURN, None);
        });
        self.rule_with("masquerading", None, |m| {
            expr::meta_load(m, expr::META_MARK, REG_1);
            expr::bitwise(m, &u32::MAX.to_ne_bytes(), &mark.to_ne_bytes());
            expr::meta_set(m, expr::META_MARK);
        });
        self.rule_with("masquerading", None, expr::masquerade_fully_random);
        self.mark_for_masquerade();
        self.capture_rules("endpoints-check", VerdictMap::NoEndpointServices, VerdictMap::NoEndpointNodePorts);
        self.rule_with(REJECT_CHAIN, None, |m| {
            expr::l4proto(m, Protocol::Tcp);
            expr::reject(m, 1, 0);
        });
        self.rule_with(REJECT_CHAIN, None, |m| expr::reject(m, 0, 3));
    }

    /// Elements of `map`, each in its table.
    fn add_elements_routed<'a>(&mut self, map: VerdictMap, elements: impl IntoIterator<Item = (&'a String, &'a String)>) -> Result<(), NetlinkError> {
        let mut by_table: std::collections::BTreeMap<usize, Vec<(&String, &String)>> = Default::default();
        for (k, v) in elements {
            by_table.entry(self.spec.element_table(map, v)).or_default().push((k, v));
        }
        for (t, elements) in by_table {
            self.on(t).add_elements(map, elements)?;
        }
        Ok(())
    }

    /// The full sync: the tables become exactly `want` over what `observed` found; as
    /// [`TableSpec::full`].
    pub fn full(&mut self, want: &Ruleset, observed: &ObservedTables) -> Result<(), NetlinkError> {
        for gone in observed.keys().filter(|t| !self.spec.names().contains(t)) {
            self.delete_named_table(gone);
        }
        for t in 0..self.spec.names().len() {
            let seen = observed.get(&self.spec.names()[t]);
            self.skeleton(t, seen);
        }
        let plan = FullPlan::new(self.spec, want, observed);
        for (t, name) in &plan.flush {
            self.on(*t).flush_chain(name);
        }
        for (t, name) in &plan.delete_sets {
            self.on(*t).delete_set(name);
        }
        for (t, name) in &plan.delete_chains {
            self.on(*t).delete_chain(name);
        }
        for (name, timeout) in &want.affinity_sets {
            let t = self.spec.table_of(name);
            self.on(t).add_affinity_set(name, *timeout);
        }
        for (t, name) in &plan.add_chains {
            self.on(*t).add_chain(name);
        }
        for t in 0..self.spec.names().len() {
            self.skeleton_rules(t);
        }
        for (chain, rules) in &want.chains {
            let t = self.spec.table_of(chain);
            self.on(t);
            for r in rules {
                self.add_rule(chain, r);
            }
        }
        for map in VerdictMap::ALL {
            self.add_elements_routed(map, want.map(map))?;
        }
        Ok(())
    }

    /// From the tables as `old` left them to `new`, given their diff; as [`TableSpec::incremental`].
    pub fn incremental(&mut self, d: &Diff<'_>, new: &Ruleset) -> Result<(), NetlinkError> {
        for (map, elements) in &d.elements_out {
            let mut by_table: std::collections::BTreeMap<usize, Vec<&String>> = Default::default();
            for (k, v) in elements {
                by_table.entry(self.spec.element_table(*map, v)).or_default().push(k);
            }
            for (t, keys) in by_table {
                self.on(t).delete_elements(*map, keys)?;
            }
        }
        for name in d.changed_chains.iter().chain(&d.removed_chains) {
            let t = self.spec.table_of(name);
            self.on(t).flush_chain(name);
        }
        for name in &d.removed_chains {
            let t = self.spec.table_of(name);
            self.on(t).delete_chain(name);
        }
        for name in &d.removed_sets {
            let t = self.spec.table_of(name);
            self.on(t).delete_set(name);
        }
        for (name, timeout) in d.added_sets.iter().filter_map(|s| new.affinity_sets.get_key_value(*s)) {
            let t = self.spec.table_of(name);
            self.on(t).add_affinity_set(name, *timeout);
        }
        for name in &d.added_chains {
            let t = self.spec.table_of(name);
            self.on(t).add_chain(name);
        }
        for name in d.added_chains.iter().chain(&d.changed_chains) {
            let t = self.spec.table_of(name);
            self.on(t);
            for r in new.chains.get(*name).into_iter().flatten() {
                self.add_rule(name, r);
            }
        }
        for (map, elements) in &d.elements_in {
            self.add_elements_routed(*map, elements.iter().copied())?;
        }
        Ok(())
    }
}

/// The NodePort match: `fib daddr type local ip daddr != 127.0.0.0/8`, or the node's addresses.
fn nodeport_match(spec: &TableSpec, m: &mut Messages) {
    if spec.node.node_ips.is_empty() {
        expr::fib_local(m, FIB_DADDR);
        expr::payload(m, expr::BASE_NETWORK, IP_DADDR, 1, REG_1);
        expr::cmp(m, CMP_NEQ, &[127]);
    } else {
        expr::payload(m, expr::BASE_NETWORK, IP_DADDR, 4, REG_1);
        expr::lookup(m, NODEPORT_IPS, false);
    }
}

/// A map key in `nft` syntax (`10.96.0.10 . tcp . 80`, `tcp . 30080`) as the kernel
/// keeps it: each member in 4-byte registers (address, protocol byte, port big-endian).
pub fn element_key(map: VerdictMap, key: &str) -> Result<Vec<u8>, NetlinkError> {
    let bad = || NetlinkError::Element { key: key.to_string() };
    let parts: Vec<&str> = key.split(" . ").collect();
    let (ip, proto, port) = match (map, parts.as_slice()) {
        (VerdictMap::ServiceIps | VerdictMap::NoEndpointServices, [ip, proto, port]) => (Some(ip.parse::<Ipv4Addr>().map_err(|_| bad())?), proto, port),
        (VerdictMap::ServiceNodePorts | VerdictMap::NoEndpointNodePorts, [proto, port]) => (None, proto, port),
        _ => return Err(bad()),
    };
    let proto = Protocol::parse(proto).ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let mut k = Vec::with_capacity(12);
    if let Some(ip) = ip {
        k.extend_from_slice(&ip.octets());
    }
    k.extend_from_slice(&[proto.number(), 0, 0, 0]);
    k.extend_from_slice(&port.to_be_bytes());
    k.extend_from_slice(&[0, 0]);
    Ok(k)
}

/// A map verdict in `nft` syntax: `goto CHAIN` or `drop`.
fn element_verdict(v: &str) -> Result<Verdict<'_>, NetlinkError> {
    match v.strip_prefix("goto ") {
        Some(chain) => Ok((NFT_GOTO, Some(chain))),
        None if v == "drop" => Ok((NF_DROP, None)),
        None => Err(NetlinkError::Element { key: v.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_padded_to_registers_and_verdicts_parse() {
        assert_eq!(element_key(VerdictMap::ServiceIps, "10.96.0.10 . tcp . 80").unwrap(), [10, 96, 0, 10, 6, 0, 0, 0, 0, 80, 0, 0]);
        assert_eq!(element_key(VerdictMap::NoEndpointNodePorts, "udp . 30053").unwrap(), [17, 0, 0, 0, 0x75, 0x65, 0, 0]);
        assert!(element_key(VerdictMap::ServiceIps, "udp . 30053").is_err());
        assert_eq!(element_verdict("goto reject-chain").unwrap(), (NFT_GOTO, Some("reject-chain")));
        assert_eq!(element_verdict("drop").unwrap(), (NF_DROP, None));
        assert!(element_verdict("accept").is_err());
    }
}
