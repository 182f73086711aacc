//! Incremental changes to berth's own tables (`inet berth`, `bridge berth`) as one netlink
//! batch: the set elements of one network, without an `nft` process.
//!
//! `nft -f` pays for a process and for fetching the cache it needs (chains, sets, and the
//! elements of interval sets), which grows with the number of networks; a batch of elements
//! costs the same with 1 or 1000 networks present. The kernel applies the batch whole or not at
//! all.
//!
//! Each [`Change`] also prints as the `nft` command that does the same (`Display`), so one
//! description serves both the batch and a full `nft -f` script.

use super::wire::{self, Batch, Elem, Msg, ELEM_INTERVAL_END};
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

/// A set element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// An interface name (`type ifname`).
    Ifname(String),
    /// `name . name` (`type ifname . ifname`).
    IfnamePair(String),
    /// A prefix in an interval set of addresses.
    Net(IpNet),
    /// `net . net` in an interval set of address pairs.
    NetPair(IpNet),
}

/// What to do, in which table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
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
        let (msg, set, key) = match &c.op {
            Op::AddElement(set, key) => (Msg::NewSetElem, set, key),
            Op::DeleteElement(set, key) => (Msg::DelSetElem, set, key),
        };
        let elems = elems(key)?;
        b.add(msg, fam, what, |buf| {
            wire::put_str(buf, wire::NFTA_SET_ELEM_LIST_TABLE, table);
            wire::put_str(buf, wire::NFTA_SET_ELEM_LIST_SET, set);
            wire::put_elems(buf, &elems);
        });
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
    };
    Ok(match key {
        Key::Ifname(name) => vec![elem(ifname(name)?)],
        Key::IfnamePair(name) => vec![elem([ifname(name)?, ifname(name)?].concat())],
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

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Ifname(name) => f.write_str(&q(name)),
            Key::IfnamePair(name) => write!(f, "{} . {}", q(name), q(name)),
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
            Op::AddElement(s, k) => write!(f, "add element {t} {s} {{ {k} }}"),
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
        let lines: Vec<String> = [
            change(Op::AddElement("bridges".into(), Key::Ifname("br-x".into()))),
            change(Op::DeleteElement(
                "same".into(),
                Key::IfnamePair("br-x".into()),
            )),
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
                "add element inet berth bridges { \"br-x\" }",
                "delete element inet berth same { \"br-x\" . \"br-x\" }",
                "add element inet berth nets4 { 10.1.0.0/24 }",
            ]
        );
        let pair = elems(&Key::IfnamePair("br-x".into())).unwrap();
        assert_eq!(pair[0].key.len(), 32);
        assert_eq!(&pair[0].key[16..20], b"br-x");
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
            let c = change(Op::AddElement("bridges".into(), Key::Ifname(bad.into())));
            assert!(batch(&[c]).is_err(), "{bad:?}");
        }
        let ok = change(Op::AddElement(
            "bridges".into(),
            Key::Ifname("br-0123456789a".into()),
        ));
        assert!(batch(&[ok]).is_ok());
    }
}
