//! nf_tables rule expressions (pure), encoded as `nft` 1.0.6 encodes the same rule
//! (checked against `nft --debug=netlink`), so a table written here lists exactly as one
//! written by `nft -f`. Attribute numbers are the kernel's
//! `include/uapi/linux/netfilter/nf_tables.h`.

use std::net::Ipv4Addr;

use super::msg::Messages;
use crate::ipam::Subnet;
use crate::proxy::ruleset::{Protocol, Rule, MARK_MASQ_CHAIN};

const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;

/// Registers: the verdict, 16-byte `reg 1`, `reg 2`, and 4-byte ones for concatenations.
pub const REG_VERDICT: u32 = 0;
pub const REG_1: u32 = 1;
pub const REG_2: u32 = 2;
pub const REG32_01: u32 = 9;
pub const REG32_02: u32 = 10;

/// Verdict codes (`NF_DROP`, `NF_ACCEPT`, `NFT_JUMP`, `NFT_GOTO`, `NFT_RETURN`).
pub const NF_DROP: i32 = 0;
pub const NFT_JUMP: i32 = -3;
pub const NFT_GOTO: i32 = -4;
pub const NFT_RETURN: i32 = -5;

pub const BASE_NETWORK: u32 = 1;
pub const BASE_TRANSPORT: u32 = 2;
/// Offsets of the addresses in the IPv4 header.
pub const IP_SADDR: u32 = 12;
pub const IP_DADDR: u32 = 16;

pub const CMP_EQ: u32 = 0;
pub const CMP_NEQ: u32 = 1;

pub const META_MARK: u32 = 3;
pub const META_L4PROTO: u32 = 16;

pub const FIB_SADDR: u32 = 1;
pub const FIB_DADDR: u32 = 2;
const FIB_RESULT_ADDRTYPE: u32 = 3;
const RTN_LOCAL: u32 = 2;

const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 0x2;
const NF_NAT_RANGE_PROTO_RANDOM_FULLY: u32 = 0x10;
const NFT_NAT_DNAT: u32 = 1;
const NFPROTO_IPV4: u32 = 2;
const NFT_NG_RANDOM: u32 = 1;
const NFT_DYNSET_OP_UPDATE: u32 = 1;
const IP_CT_NEW: u32 = 8;

/// One expression: its name, then its attributes written by `data`.
fn expr(m: &mut Messages, name: &str, data: impl FnOnce(&mut Messages)) {
    m.nest(NFTA_LIST_ELEM, |m| {
        m.str(NFTA_EXPR_NAME, name);
        m.nest(NFTA_EXPR_DATA, data);
    });
}

/// `NFTA_DATA_VALUE` inside the nest `ty`.
fn data(m: &mut Messages, ty: u16, value: &[u8]) {
    m.nest(ty, |m| m.bytes(NFTA_DATA_VALUE, value));
}

/// A verdict (`NFTA_DATA_VERDICT`) inside the nest `ty`.
pub fn verdict_data(m: &mut Messages, ty: u16, code: i32, chain: Option<&str>) {
    m.nest(ty, |m| {
        m.nest(NFTA_DATA_VERDICT, |m| {
            m.u32(NFTA_VERDICT_CODE, code as u32);
            if let Some(c) = chain {
                m.str(NFTA_VERDICT_CHAIN, c);
            }
        })
    });
}

pub fn payload(m: &mut Messages, base: u32, offset: u32, len: u32, dreg: u32) {
    expr(m, "payload", |m| {
        m.u32(1, dreg);
        m.u32(2, base);
        m.u32(3, offset);
        m.u32(4, len);
    });
}

pub fn cmp(m: &mut Messages, op: u32, value: &[u8]) {
    expr(m, "cmp", |m| {
        m.u32(1, REG_1);
        m.u32(2, op);
        data(m, 3, value);
    });
}

pub fn meta_load(m: &mut Messages, key: u32, dreg: u32) {
    expr(m, "meta", |m| {
        m.u32(2, key);
        m.u32(1, dreg);
    });
}

pub fn meta_set(m: &mut Messages, key: u32) {
    expr(m, "meta", |m| {
        m.u32(2, key);
        m.u32(3, REG_1);
    });
}

/// `reg 1 = (reg 1 & mask) ^ xor` (the boolean bitwise operation).
pub fn bitwise(m: &mut Messages, mask: &[u8], xor: &[u8]) {
    expr(m, "bitwise", |m| {
        m.u32(1, REG_1);
        m.u32(2, REG_1);
        m.u32(6, 0);
        m.u32(3, mask.len() as u32);
        data(m, 4, mask);
        data(m, 5, xor);
    });
}

/// `immediate reg 0 <verdict>`.
pub fn verdict(m: &mut Messages, code: i32, chain: Option<&str>) {
    expr(m, "immediate", |m| {
        m.u32(1, REG_VERDICT);
        verdict_data(m, 2, code, chain);
    });
}

pub fn immediate(m: &mut Messages, dreg: u32, value: &[u8]) {
    expr(m, "immediate", |m| {
        m.u32(1, dreg);
        data(m, 2, value);
    });
}

/// A set lookup of `reg 1`; with a map, the verdict register gets the element's verdict.
pub fn lookup(m: &mut Messages, set: &str, verdict_map: bool) {
    expr(m, "lookup", |m| {
        m.u32(2, REG_1);
        m.str(1, set);
        if verdict_map {
            m.u32(3, REG_VERDICT);
        }
    });
}

fn numgen_random(m: &mut Messages, modulus: u32) {
    expr(m, "numgen", |m| {
        m.u32(1, REG_1);
        m.u32(2, modulus);
        m.u32(3, NFT_NG_RANDOM);
        m.u32(4, 0);
    });
}

fn dynset_update(m: &mut Messages, set: &str) {
    expr(m, "dynset", |m| {
        m.u32(4, REG_1);
        m.u32(3, NFT_DYNSET_OP_UPDATE);
        m.str(1, set);
    });
}

fn dnat(m: &mut Messages) {
    expr(m, "nat", |m| {
        m.u32(1, NFT_NAT_DNAT);
        m.u32(2, NFPROTO_IPV4);
        m.u32(3, REG_1);
        m.u32(5, REG_2);
        m.u32(7, NF_NAT_RANGE_PROTO_SPECIFIED);
    });
}

pub fn masquerade_fully_random(m: &mut Messages) {
    expr(m, "masq", |m| m.u32(1, NF_NAT_RANGE_PROTO_RANDOM_FULLY));
}

/// `reject`: type 0 (ICMP unreachable) code 3 (port), or type 1 (TCP reset).
pub fn reject(m: &mut Messages, type_: u32, code: u8) {
    expr(m, "reject", |m| {
        m.u32(1, type_);
        m.bytes(2, &[code]);
    });
}

/// `fib saddr|daddr type local`.
pub fn fib_local(m: &mut Messages, which: u32) {
    expr(m, "fib", |m| {
        m.u32(1, REG_1);
        m.u32(2, FIB_RESULT_ADDRTYPE);
        m.u32(3, which);
    });
    cmp(m, CMP_EQ, &RTN_LOCAL.to_ne_bytes());
}

/// `ct state new`.
pub fn ct_state_new(m: &mut Messages) {
    expr(m, "ct", |m| {
        m.u32(2, 0);
        m.u32(1, REG_1);
    });
    bitwise(m, &IP_CT_NEW.to_ne_bytes(), &[0; 4]);
    cmp(m, CMP_NEQ, &[0; 4]);
}

/// `ip saddr|daddr [!=] CIDR`: whole bytes are compared as they are, other prefixes
/// through a mask (as `nft` does).
pub fn ip_in(m: &mut Messages, offset: u32, net: Subnet, op: u32) {
    let bits = u32::from(net.prefix_len());
    let addr = net.network().octets();
    if bits % 8 == 0 {
        let n = bits / 8;
        payload(m, BASE_NETWORK, offset, n, REG_1);
        cmp(m, op, &addr[..n as usize]);
    } else {
        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0).to_be_bytes();
        payload(m, BASE_NETWORK, offset, 4, REG_1);
        bitwise(m, &mask, &[0; 4]);
        cmp(m, op, &addr);
    }
}

/// `ip saddr|daddr == IP`.
pub fn ip_is(m: &mut Messages, offset: u32, ip: Ipv4Addr) {
    payload(m, BASE_NETWORK, offset, 4, REG_1);
    cmp(m, CMP_EQ, &ip.octets());
}

/// `meta l4proto P`.
pub fn l4proto(m: &mut Messages, p: Protocol) {
    meta_load(m, META_L4PROTO, REG_1);
    cmp(m, CMP_EQ, &[p.number()]);
}

/// `meta l4proto . th dport` into the registers from `reg`, as a concatenation's tail.
pub fn proto_dport_into(m: &mut Messages, proto_reg: u32, port_reg: u32) {
    meta_load(m, META_L4PROTO, proto_reg);
    payload(m, BASE_TRANSPORT, 2, 2, port_reg);
}

/// The expressions of one per-Service rule.
pub fn rule(m: &mut Messages, r: &Rule) {
    match r {
        Rule::MasqueradeOutsiders { daddr, protocol, dport, cidr } => {
            ip_is(m, IP_DADDR, *daddr);
            l4proto(m, *protocol);
            payload(m, BASE_TRANSPORT, 2, 2, REG_1);
            cmp(m, CMP_EQ, &dport.to_be_bytes());
            ip_in(m, IP_SADDR, *cidr, CMP_NEQ);
            verdict(m, NFT_JUMP, Some(MARK_MASQ_CHAIN));
        }
        Rule::Masquerade => verdict(m, NFT_JUMP, Some(MARK_MASQ_CHAIN)),
        Rule::PodSourceGoto { cidr, chain } => {
            ip_in(m, IP_SADDR, *cidr, CMP_EQ);
            verdict(m, NFT_GOTO, Some(chain));
        }
        Rule::LocalSourceMasquerade => {
            fib_local(m, FIB_SADDR);
            verdict(m, NFT_JUMP, Some(MARK_MASQ_CHAIN));
        }
        Rule::LocalSourceGoto { chain } => {
            fib_local(m, FIB_SADDR);
            verdict(m, NFT_GOTO, Some(chain));
        }
        Rule::Goto { chain } => verdict(m, NFT_GOTO, Some(chain)),
        Rule::AffinityGoto { set, chain } => {
            payload(m, BASE_NETWORK, IP_SADDR, 4, REG_1);
            lookup(m, set, false);
            verdict(m, NFT_GOTO, Some(chain));
        }
        Rule::RandomGoto { modulus, chain } => {
            numgen_random(m, *modulus);
            cmp(m, CMP_EQ, &[0; 4]);
            verdict(m, NFT_GOTO, Some(chain));
        }
        Rule::Hairpin { ip } => {
            ip_is(m, IP_SADDR, *ip);
            verdict(m, NFT_JUMP, Some(MARK_MASQ_CHAIN));
        }
        Rule::RememberClient { set } => {
            payload(m, BASE_NETWORK, IP_SADDR, 4, REG_1);
            dynset_update(m, set);
        }
        Rule::Dnat { protocol, ip, port } => {
            l4proto(m, *protocol);
            immediate(m, REG_1, &ip.octets());
            immediate(m, REG_2, &port.to_be_bytes());
            dnat(m);
        }
    }
}

/// A rule comment as `nft` keeps it (`NFTA_RULE_USERDATA`: TLV type 0, with the NUL).
pub fn comment_udata(c: &str) -> Vec<u8> {
    let mut v = vec![0, u8::try_from(c.len() + 1).unwrap_or(u8::MAX)];
    v.extend_from_slice(c.as_bytes());
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::netlink::msg::attrs;

    /// Expressions as (name, [(attribute, value or nested bytes)]).
    type Decoded = Vec<(String, Vec<(u16, Vec<u8>)>)>;

    /// The expressions `f` writes.
    fn decode(f: impl FnOnce(&mut Messages)) -> Decoded {
        let mut m = Messages::with_capacity(256);
        f(&mut m);
        let bytes = m.into_bytes();
        attrs(&bytes)
            .map(|(ty, elem)| {
                assert_eq!(ty, NFTA_LIST_ELEM);
                let mut it = attrs(elem);
                let (_, name) = it.next().unwrap();
                let (_, data) = it.next().unwrap();
                let name = String::from_utf8(name[..name.len() - 1].to_vec()).unwrap();
                (name, attrs(data).map(|(t, v)| (t, v.to_vec())).collect())
            })
            .collect()
    }

    fn names(e: &Decoded) -> Vec<&str> {
        e.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// A nested data value's bytes (`NFTA_DATA_VALUE` inside).
    fn value(v: &[u8]) -> Vec<u8> {
        attrs(v).next().unwrap().1.to_vec()
    }

    #[test]
    fn masquerade_outsiders_matches_daddr_proto_port_and_a_16_bit_prefix_by_two_bytes() {
        let r = Rule::MasqueradeOutsiders {
            daddr: "10.96.0.10".parse().unwrap(),
            protocol: Protocol::Tcp,
            dport: 80,
            cidr: Subnet::parse("10.244.0.0/16").unwrap(),
        };
        let e = decode(|m| rule(m, &r));
        assert_eq!(names(&e), ["payload", "cmp", "meta", "cmp", "payload", "cmp", "payload", "cmp", "immediate"]);
        assert_eq!(e[0].1, [(1, 1u32.to_be_bytes().to_vec()), (2, vec![0, 0, 0, 1]), (3, vec![0, 0, 0, 16]), (4, vec![0, 0, 0, 4])]);
        assert_eq!(value(&e[1].1[2].1), [10, 96, 0, 10]);
        assert_eq!(value(&e[3].1[2].1), [6], "tcp: one byte");
        assert_eq!(value(&e[5].1[2].1), [0, 80], "the port, big-endian");
        assert_eq!(e[6].1[3], (4, vec![0, 0, 0, 2]), "two bytes of the source address");
        assert_eq!(e[7].1[1], (2, vec![0, 0, 0, 1]), "!=");
        assert_eq!(value(&e[7].1[2].1), [10, 244]);
    }

    #[test]
    fn a_prefix_off_byte_boundaries_is_masked() {
        let e = decode(|m| ip_in(m, IP_SADDR, Subnet::parse("10.96.0.0/12").unwrap(), CMP_EQ));
        assert_eq!(names(&e), ["payload", "bitwise", "cmp"]);
        assert_eq!(value(&e[1].1[4].1), [255, 240, 0, 0]);
        assert_eq!(value(&e[2].1[2].1), [10, 96, 0, 0]);
    }

    #[test]
    fn goto_carries_the_chain_name_in_a_verdict() {
        let e = decode(|m| rule(m, &Rule::RandomGoto { modulus: 5, chain: "endpoint-x".into() }));
        assert_eq!(names(&e), ["numgen", "cmp", "immediate"]);
        assert_eq!(e[0].1[1], (2, vec![0, 0, 0, 5]));
        let verdict: Vec<(u16, Vec<u8>)> = attrs(&e[2].1[1].1).flat_map(|(_, v)| attrs(v).map(|(t, v)| (t, v.to_vec())).collect::<Vec<_>>()).collect();
        assert_eq!(verdict, [(1, (-4i32).to_be_bytes().to_vec()), (2, b"endpoint-x\0".to_vec())]);
    }

    #[test]
    fn dnat_loads_address_and_port_then_nats_with_a_port() {
        let e = decode(|m| rule(m, &Rule::Dnat { protocol: Protocol::Udp, ip: "10.244.12.6".parse().unwrap(), port: 8080 }));
        assert_eq!(names(&e), ["meta", "cmp", "immediate", "immediate", "nat"]);
        assert_eq!(value(&e[1].1[2].1), [17]);
        assert_eq!(value(&e[3].1[1].1), [0x1f, 0x90]);
        assert_eq!(e[4].1.last().unwrap(), &(7, vec![0, 0, 0, 2]), "NF_NAT_RANGE_PROTO_SPECIFIED");
    }

    #[test]
    fn affinity_looks_up_and_updates_the_source_address() {
        assert_eq!(names(&decode(|m| rule(m, &Rule::AffinityGoto { set: "a".into(), chain: "c".into() }))), ["payload", "lookup", "immediate"]);
        let e = decode(|m| rule(m, &Rule::RememberClient { set: "a".into() }));
        assert_eq!(names(&e), ["payload", "dynset"]);
        assert_eq!(e[1].1, [(4, vec![0, 0, 0, 1]), (3, vec![0, 0, 0, 1]), (1, b"a\0".to_vec())]);
    }

    #[test]
    fn comments_are_type_0_with_the_nul() {
        assert_eq!(comment_udata("ab"), [0, 3, b'a', b'b', 0]);
    }
}
