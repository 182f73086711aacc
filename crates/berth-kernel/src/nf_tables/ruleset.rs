//! Incremental changes to berth's own tables (`inet berth`, `bridge berth`) as one netlink
//! batch: chains, rules and set elements of one network, without an `nft` process.
//!
//! `nft -f` pays for a process and for fetching the cache it needs (chains, sets, and the
//! elements of interval sets), which grows with the number of networks; a batch costs the same
//! with 1 or 1000 networks present. The kernel applies the batch whole or not at all.
//!
//! Each [`Change`] also prints as the `nft` command that does the same (`Display`), so one
//! description serves both the batch and a full `nft -f` script.

use super::wire::{self, Batch, Elem, Expr, Msg, Verdict, ELEM_INTERVAL_END};
use crate::{KernelError, Result};
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// The family of one of berth's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Inet,
    Bridge,
}

impl Family {
    fn proto(self) -> u8 {
        match self {
            Family::Inet => wire::NFPROTO_INET,
            Family::Bridge => wire::NFPROTO_BRIDGE,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Inet => "inet",
            Family::Bridge => "bridge",
        })
    }
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `oifname "NAME"`
    Oif(String),
    /// `oifname @SET`
    OifIn(String),
    /// `ct status dnat`
    CtDnat,
}

/// A rule: every condition holds → the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub verdict: Verdict,
}

/// A set (or verdict map) element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// An interface name (`type ifname`); with `Some(chain)`, mapped to `jump chain`.
    Ifname(String, Option<String>),
    /// A prefix in an interval set of addresses.
    Net(IpNet),
    /// `net . net` in an interval set of address pairs.
    NetPair(IpNet),
}

/// What to do, in which table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddChain(String),
    AddRule(String, Rule),
    /// Removes every rule of the chain.
    FlushChain(String),
    DeleteChain(String),
    AddElement(String, Key),
    DeleteElement(String, Key),
}

/// One change to table `table` of `family`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub family: Family,
    pub table: &'static str,
    pub op: Op,
}

/// Applies `changes` in order as one transaction in the calling thread's network namespace.
pub fn apply(changes: &[Change]) -> Result<()> {
    super::apply(batch(changes)?)
}

fn batch(changes: &[Change]) -> Result<Batch> {
    let mut b = Batch::new(super::next_seq());
    for c in changes {
        let (fam, table) = (c.family.proto(), c.table);
        let what = c.to_string();
        let chain_msg = |msg, chain: &str, b: &mut Batch| {
            b.add(msg, fam, what.clone(), |buf| {
                wire::put_str(buf, wire::NFTA_CHAIN_TABLE, table);
                wire::put_str(buf, wire::NFTA_CHAIN_NAME, chain);
            })
        };
        match &c.op {
            Op::AddChain(chain) => chain_msg(Msg::NewChain, chain, &mut b),
            Op::DeleteChain(chain) => chain_msg(Msg::DelChain, chain, &mut b),
            Op::FlushChain(chain) => b.add(Msg::DelRule, fam, what, |buf| {
                wire::put_str(buf, wire::NFTA_RULE_TABLE, table);
                wire::put_str(buf, wire::NFTA_RULE_CHAIN, chain);
            }),
            Op::AddRule(chain, rule) => {
                let exprs = exprs(rule)?;
                b.add(Msg::NewRule, fam, what, |buf| {
                    wire::put_str(buf, wire::NFTA_RULE_TABLE, table);
                    wire::put_str(buf, wire::NFTA_RULE_CHAIN, chain);
                    wire::put_exprs(buf, &exprs);
                })
            }
            Op::AddElement(set, key) | Op::DeleteElement(set, key) => {
                let msg = match c.op {
                    Op::AddElement(..) => Msg::NewSetElem,
                    _ => Msg::DelSetElem,
                };
                let elems = elems(key)?;
                b.add(msg, fam, what, |buf| {
                    wire::put_str(buf, wire::NFTA_SET_ELEM_LIST_TABLE, table);
                    wire::put_str(buf, wire::NFTA_SET_ELEM_LIST_SET, set);
                    wire::put_elems(buf, &elems);
                })
            }
        }
    }
    Ok(b)
}

/// An interface name as nf_tables holds it: 16 bytes, NUL-padded.
fn ifname(name: &str) -> Result<Vec<u8>> {
    if name.is_empty() || name.len() >= 16 || name.contains('\0') {
        return Err(KernelError::Netlink {
            op: format!("nf_tables: interface name {name:?}"),
            message: "must be 1 to 15 bytes, without NUL".into(),
        });
    }
    let mut v = name.as_bytes().to_vec();
    v.resize(16, 0);
    Ok(v)
}

fn exprs(rule: &Rule) -> Result<Vec<Expr>> {
    let mut out = Vec::new();
    for m in &rule.matches {
        match m {
            Match::Oif(name) => out.extend([Expr::OifName, Expr::Eq(ifname(name)?)]),
            Match::OifIn(set) => out.extend([Expr::OifName, Expr::Lookup(set.clone())]),
            // IPS_DST_NAT (bit 5) in host order, as nft encodes it.
            Match::CtDnat => out.extend([
                Expr::CtStatus,
                Expr::Bitwise {
                    mask: 0x20u32.to_ne_bytes().to_vec(),
                    xor: vec![0; 4],
                },
                Expr::Ne(vec![0; 4]),
            ]),
        }
    }
    out.push(Expr::Verdict(rule.verdict.clone()));
    Ok(out)
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The first address after `net`, if there is one.
fn after(net: &IpNet) -> Option<IpAddr> {
    match net.broadcast() {
        IpAddr::V4(a) => u32::from(a).checked_add(1).map(|n| IpAddr::V4(n.into())),
        IpAddr::V6(a) => u128::from(a).checked_add(1).map(|n| IpAddr::V6(n.into())),
    }
}

/// The kernel elements of `key`: an interval is its start and, flagged, the address after its
/// end (none when it reaches the last address); a concatenation of ranges is one element with a
/// closing key.
fn elems(key: &Key) -> Result<Vec<Elem>> {
    let elem = |key: Vec<u8>| Elem {
        key,
        key_end: None,
        flags: 0,
        verdict: None,
    };
    Ok(match key {
        Key::Ifname(name, jump) => vec![Elem {
            verdict: jump.clone().map(Verdict::Jump),
            ..elem(ifname(name)?)
        }],
        Key::Net(net) => {
            let net = net.trunc();
            let mut v = vec![elem(octets(net.network()))];
            if let Some(end) = after(&net) {
                v.push(Elem {
                    flags: ELEM_INTERVAL_END,
                    ..elem(octets(end))
                });
            }
            v
        }
        Key::NetPair(net) => {
            let (first, last) = (octets(net.network()), octets(net.broadcast()));
            vec![Elem {
                key_end: Some([last.clone(), last].concat()),
                ..elem([first.clone(), first].concat())
            }]
        }
    })
}

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', ""))
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.matches {
            match m {
                Match::Oif(name) => write!(f, "oifname {} ", q(name))?,
                Match::OifIn(set) => write!(f, "oifname @{set} ")?,
                Match::CtDnat => f.write_str("ct status dnat ")?,
            }
        }
        match &self.verdict {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Jump(chain) => write!(f, "jump {chain}"),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Ifname(name, None) => f.write_str(&q(name)),
            Key::Ifname(name, Some(chain)) => write!(f, "{} : jump {chain}", q(name)),
            Key::Net(net) => write!(f, "{}", net.trunc()),
            Key::NetPair(net) => write!(f, "{net} . {net}"),
        }
    }
}

/// The `nft` command doing the same.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = format!("{} {}", self.family, self.table);
        match &self.op {
            Op::AddChain(c) => write!(f, "add chain {t} {c}"),
            Op::AddRule(c, r) => write!(f, "add rule {t} {c} {r}"),
            Op::FlushChain(c) => write!(f, "flush chain {t} {c}"),
            Op::DeleteChain(c) => write!(f, "delete chain {t} {c}"),
            Op::AddElement(s, k) => write!(f, "add element {t} {s} {{ {k} }}"),
            Op::DeleteElement(s, Key::Ifname(name, _)) => {
                write!(f, "delete element {t} {s} {{ {} }}", q(name))
            }
            Op::DeleteElement(s, k) => write!(f, "delete element {t} {s} {{ {k} }}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(op: Op) -> Change {
        Change {
            family: Family::Inet,
            table: "berth",
            op,
        }
    }

    #[test]
    fn changes_print_as_nft_commands() {
        let rule = Rule {
            matches: vec![Match::CtDnat],
            verdict: Verdict::Accept,
        };
        let jump = Key::Ifname("br-x".into(), Some("out_x".into()));
        let lines: Vec<String> = [
            change(Op::AddRule("in_x".into(), rule)),
            change(Op::AddElement("net_out".into(), jump.clone())),
            change(Op::DeleteElement("net_out".into(), jump)),
            change(Op::AddElement(
                "nets4".into(),
                Key::Net("10.1.0.0/24".parse().unwrap()),
            )),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            lines,
            [
                "add rule inet berth in_x ct status dnat accept",
                "add element inet berth net_out { \"br-x\" : jump out_x }",
                "delete element inet berth net_out { \"br-x\" }",
                "add element inet berth nets4 { 10.1.0.0/24 }",
            ]
        );
    }

    #[test]
    fn intervals_are_a_start_and_a_flagged_end() {
        let v = elems(&Key::Net("10.120.250.0/24".parse().unwrap())).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].key, [10, 120, 250, 0]);
        assert_eq!(
            (v[1].key.as_slice(), v[1].flags),
            (&[10, 120, 251, 0][..], 1)
        );
        // An interval reaching the last address has no end element.
        let v = elems(&Key::Net("255.255.255.0/24".parse().unwrap())).unwrap();
        assert_eq!(v.len(), 1);
        let p = elems(&Key::NetPair("10.5.0.0/24".parse().unwrap())).unwrap();
        assert_eq!(p[0].key, [10, 5, 0, 0, 10, 5, 0, 0]);
        assert_eq!(
            p[0].key_end.as_deref(),
            Some(&[10, 5, 0, 255, 10, 5, 0, 255][..])
        );
    }

    #[test]
    fn bad_interface_names_are_refused_before_sending() {
        for bad in ["", "0123456789abcdef", "a\0b"] {
            let c = change(Op::AddElement(
                "bridges".into(),
                Key::Ifname(bad.into(), None),
            ));
            assert!(batch(&[c]).is_err(), "{bad:?}");
        }
        let ok = change(Op::AddElement(
            "bridges".into(),
            Key::Ifname("br-0123456789a".into(), None),
        ));
        assert!(batch(&[ok]).is_ok());
    }
}
