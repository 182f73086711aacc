//! The redirect that lets containers run their own DNS server on port 53.
//!
//! Containers on user-defined networks resolve through `nameserver 127.0.0.11`, and a resolver
//! only ever asks port 53. If berth's server held 127.0.0.11:53, a container's own server could
//! not bind 0.0.0.0:53 (EADDRINUSE). So, as Docker does, berth's server binds 127.0.0.11 on a
//! random port and the container's namespace rewrites port 53 to it. Unlike Docker's DNAT this
//! is stateless: the query's destination port and the answer's source port are rewritten in the
//! output hook (every packet on loopback passes it), before conntrack, so no conntrack entry is
//! made per query and the container's conntrack stays unused.
//!
//! ```text
//! table ip berth-dns {
//!   chain out {
//!     type filter hook output priority raw; policy accept;
//!     ip daddr 127.0.0.11 udp dport 53 udp dport set PORT
//!     ip saddr 127.0.0.11 udp sport PORT udp sport set 53
//!     ip daddr 127.0.0.11 tcp dport 53 tcp dport set PORT
//!     ip saddr 127.0.0.11 tcp sport PORT tcp sport set 53
//!   }
//! }
//! ```

use super::wire::{self, Base, Batch, Expr, Msg, NFPROTO_IPV4, NF_INET_LOCAL_OUT};
use crate::{KernelError, Result};
use std::net::Ipv4Addr;

/// The table berth owns in each container's namespace.
pub const TABLE: &str = "berth-dns";
const CHAIN: &str = "out";
/// `NF_IP_PRI_RAW`: before conntrack (-200), so conntrack sees the rewritten ports only.
const PRIORITY_RAW: i32 = -300;
const UDP: u8 = 17;
const TCP: u8 = 6;

/// In the calling thread's network namespace, makes UDP and TCP to `addr`:53 reach `addr`:`port`
/// and the answers come back from port 53. Replaces what an earlier call put there, atomically.
///
/// A namespace seen for the first time gets the table in one transaction that creates it
/// (~1 ms). Only if it exists already (berthd restarted and serves a running container again)
/// is it replaced by "add; delete; add" in one transaction: a deletion makes the kernel wait
/// for an RCU grace period (~10 ms), which the common case should not pay.
pub fn redirect_port_53(addr: Ipv4Addr, port: u16) -> Result<()> {
    match super::apply(batch(addr, port, false)) {
        Err(KernelError::Sys {
            source: nix::errno::Errno::EEXIST,
            ..
        }) => super::apply(batch(addr, port, true)),
        other => other,
    }
}

fn batch(addr: Ipv4Addr, port: u16, replace: bool) -> Batch {
    let mut b = Batch::new(super::next_seq());
    let table = |buf: &mut Vec<u8>| wire::put_str(buf, wire::NFTA_TABLE_NAME, TABLE);
    let v4 = NFPROTO_IPV4;
    if replace {
        b.add(Msg::NewTable, v4, format!("add table {TABLE}"), table);
        b.add(Msg::DelTable, v4, format!("flush table {TABLE}"), table);
    }
    b.add(
        Msg::NewTableExcl,
        v4,
        format!("create table {TABLE}"),
        table,
    );
    b.add(
        Msg::NewChain,
        NFPROTO_IPV4,
        format!("add chain {CHAIN}"),
        |buf| {
            wire::put_str(buf, wire::NFTA_CHAIN_TABLE, TABLE);
            wire::put_str(buf, wire::NFTA_CHAIN_NAME, CHAIN);
            wire::nest(buf, wire::NFTA_CHAIN_HOOK, |h| {
                wire::put_be32(h, wire::NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_OUT);
                wire::put_be32(h, wire::NFTA_HOOK_PRIORITY, PRIORITY_RAW as u32);
            });
            wire::put_be32(buf, wire::NFTA_CHAIN_POLICY, 1); // NF_ACCEPT
            wire::put_str(buf, wire::NFTA_CHAIN_TYPE, "filter");
        },
    );
    for (proto, name, csum_offset) in [(UDP, "udp", 6), (TCP, "tcp", 16)] {
        for rule in rules(addr, port, proto, csum_offset) {
            b.add(
                Msg::NewRule,
                NFPROTO_IPV4,
                format!("add {name} rule"),
                |buf| {
                    wire::put_str(buf, wire::NFTA_RULE_TABLE, TABLE);
                    wire::put_str(buf, wire::NFTA_RULE_CHAIN, CHAIN);
                    wire::put_exprs(buf, &rule);
                },
            );
        }
    }
    b
}

/// The query rule (to `addr`:53 → `port`) and the answer rule (from `addr`:`port` → 53).
fn rules(addr: Ipv4Addr, port: u16, proto: u8, csum_offset: u32) -> [Vec<Expr>; 2] {
    let rewrite = |addr_offset: u32, port_offset: u32, from: u16, to: u16| {
        vec![
            Expr::Load {
                base: Base::Network,
                offset: addr_offset,
                len: 4,
            },
            Expr::Eq(addr.octets().to_vec()),
            Expr::L4Proto,
            Expr::Eq(vec![proto]),
            Expr::Load {
                base: Base::Transport,
                offset: port_offset,
                len: 2,
            },
            Expr::Eq(from.to_be_bytes().to_vec()),
            Expr::Immediate(to.to_be_bytes().to_vec()),
            Expr::Write {
                base: Base::Transport,
                offset: port_offset,
                len: 2,
                csum_offset,
            },
        ]
    };
    // IPv4 daddr at 16, saddr at 12; TCP/UDP sport at 0, dport at 2.
    [rewrite(16, 2, 53, port), rewrite(12, 0, port, 53)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transaction_replacing_the_table_with_a_chain_and_four_rules() {
        let fresh = batch(Ipv4Addr::new(127, 0, 0, 11), 40001, false);
        assert_eq!(fresh.sent.len(), 6, "create table, chain, four rules");
        let b = batch(Ipv4Addr::new(127, 0, 0, 11), 40001, true);
        let what: Vec<&str> = b.sent.iter().map(|(_, w)| w.as_str()).collect();
        assert_eq!(
            what,
            [
                "add table berth-dns",
                "flush table berth-dns",
                "create table berth-dns",
                "add chain out",
                "add udp rule",
                "add udp rule",
                "add tcp rule",
                "add tcp rule"
            ]
        );
        let (bytes, _) = b.finish();
        // Every message is acknowledged or refused: the parser finds none in a request.
        assert!(wire::parse_acks(&bytes).is_empty());
        // The port appears big-endian (0x9c41) in the query rule's immediate and the answer
        // rule's comparison.
        let needle = 40001u16.to_be_bytes();
        let hits = bytes.windows(2).filter(|w| *w == needle).count();
        assert!(hits >= 4, "port bytes found {hits} times");
    }

    #[test]
    fn parse_acks_never_panics_on_truncated_or_garbage_input() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = wire::parse_acks(&junk);
        }
        // A well-formed error message: len 36, type NLMSG_ERROR, seq 7, error -EEXIST.
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&(-17i32).to_ne_bytes());
        m.extend_from_slice(&[0; 16]);
        assert_eq!(wire::parse_acks(&m), [wire::Ack { seq: 7, error: -17 }]);
    }
}
