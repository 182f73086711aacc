//! berth's nftables rules, in berth's own tables only (`inet berth`, `bridge berth`).
//!
//! Per-packet cost does not grow with the number of networks: the forward chain dispatches on
//! the input and output interface through verdict maps (`net_out`, `net_in`) to one small chain
//! per network, and membership tests use sets. Attaching a container changes no rule at all.
//!
//! - leaving network X's bridge toward another berth bridge: dropped (isolation both ways);
//! - internal networks: nothing leaves or enters their bridge except bridge-local traffic;
//! - entering a bridge from outside: only replies and DNAT'd (published) connections;
//! - `masq` bridges are masqueraded toward non-berth interfaces;
//! - networks with ICC off drop IP traffic between their own addresses in the bridge family
//!   (`no_icc4/6`: one interval element `subnet . subnet` per network; no br_netfilter, and
//!   no need for `meta ibrname`, which not every kernel has).

use std::fmt::Write;

/// What the firewall needs to know about one bridge network.
#[derive(Debug, Clone, PartialEq)]
pub struct FwNet {
    /// Short id used in chain names.
    pub key: String,
    pub bridge: String,
    pub internal: bool,
    pub masquerade: bool,
    pub icc: bool,
    pub subnets: Vec<ipnet::IpNet>,
}

const BASE: &str = r#"table inet berth {
  set bridges { type ifname; }
  set masq { type ifname; }
  map net_out { type ifname : verdict; }
  map net_in { type ifname : verdict; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    iifname vmap @net_out
    oifname vmap @net_in
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    iifname @masq oifname != @bridges masquerade
  }
}
table bridge berth {
  set no_icc4 { type ipv4_addr . ipv4_addr; flags interval; }
  set no_icc6 { type ipv6_addr . ipv6_addr; flags interval; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ip saddr . ip daddr @no_icc4 drop
    ip6 saddr . ip6 daddr @no_icc6 drop
  }
}
"#;

/// Replaces berth's tables (and nothing else) with the rules for `nets`, atomically.
pub fn full(nets: &[FwNet]) -> String {
    let mut s = String::from("table inet berth {}\ndelete table inet berth\ntable bridge berth {}\ndelete table bridge berth\n");
    s.push_str(BASE);
    for n in nets {
        s.push_str(&add(n));
    }
    s
}

fn q(ifname: &str) -> String {
    format!("\"{}\"", ifname.replace('"', ""))
}

/// Adds one network's chains and set elements.
pub fn add(n: &FwNet) -> String {
    let (b, k) = (q(&n.bridge), &n.key);
    let mut s = String::new();
    let _ = writeln!(s, "add element inet berth bridges {{ {b} }}");
    if n.masquerade && !n.internal {
        let _ = writeln!(s, "add element inet berth masq {{ {b} }}");
    }
    let _ = writeln!(s, "add chain inet berth out_{k}");
    let _ = writeln!(s, "add rule inet berth out_{k} oifname {b} accept");
    let _ = writeln!(s, "add rule inet berth out_{k} oifname @bridges drop");
    let _ = writeln!(s, "add chain inet berth in_{k}");
    if n.internal {
        let _ = writeln!(s, "add rule inet berth out_{k} drop");
    } else {
        let _ = writeln!(s, "add rule inet berth in_{k} ct status dnat accept");
    }
    let _ = writeln!(s, "add rule inet berth in_{k} drop");
    let _ = writeln!(s, "add element inet berth net_out {{ {b} : jump out_{k} }}");
    let _ = writeln!(s, "add element inet berth net_in {{ {b} : jump in_{k} }}");
    if !n.icc {
        s.push_str(&icc_elements("add", n));
    }
    s
}

fn icc_elements(verb: &str, n: &FwNet) -> String {
    let mut s = String::new();
    for net in &n.subnets {
        let set = if net.addr().is_ipv4() {
            "no_icc4"
        } else {
            "no_icc6"
        };
        let _ = writeln!(s, "{verb} element bridge berth {set} {{ {net} . {net} }}");
    }
    s
}

/// Removes one network's chains and set elements.
pub fn remove(n: &FwNet) -> String {
    let (b, k) = (q(&n.bridge), &n.key);
    let mut s = String::new();
    let _ = writeln!(s, "delete element inet berth net_out {{ {b} }}");
    let _ = writeln!(s, "delete element inet berth net_in {{ {b} }}");
    let _ = writeln!(s, "delete element inet berth bridges {{ {b} }}");
    if n.masquerade && !n.internal {
        let _ = writeln!(s, "delete element inet berth masq {{ {b} }}");
    }
    for c in ["out", "in"] {
        let _ = writeln!(s, "flush chain inet berth {c}_{k}");
        let _ = writeln!(s, "delete chain inet berth {c}_{k}");
    }
    if !n.icc {
        s.push_str(&icc_elements("delete", n));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(internal: bool, icc: bool) -> FwNet {
        FwNet {
            key: "abc".into(),
            bridge: "br-abc".into(),
            internal,
            masquerade: true,
            icc,
            subnets: vec!["10.1.0.0/24".parse().unwrap()],
        }
    }

    #[test]
    fn add_and_remove_are_symmetric() {
        for (internal, icc) in [(false, true), (true, false)] {
            let n = net(internal, icc);
            let added = add(&n);
            let removed = remove(&n);
            let count = |s: &str, w: &str| s.lines().filter(|l| l.contains(w)).count();
            assert_eq!(
                count(&added, "add element"),
                count(&removed, "delete element")
            );
            assert_eq!(count(&added, "add chain"), count(&removed, "delete chain"));
        }
    }

    #[test]
    fn full_only_touches_berth_tables() {
        let s = full(&[net(false, true)]);
        for line in s
            .lines()
            .filter(|l| l.starts_with("delete") || l.starts_with("flush"))
        {
            assert!(line.contains(" berth"), "{line}");
        }
    }

    #[test]
    fn interface_names_cannot_break_quoting() {
        let mut n = net(false, true);
        n.bridge = "x\" } flush ruleset".into();
        assert!(!add(&n).contains("\" } flush"));
    }
}
