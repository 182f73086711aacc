//! berth's nftables rules, in berth's own tables only (`inet berth`, `bridge berth`).
//!
//! The rules are fixed; a network is only elements of sets (its bridge in `bridges`, `masq`,
//! `internal`, the pair `bridge . bridge` in `same`, its subnets): per-packet cost does not grow
//! with the number of networks (hash lookups), attaching a container changes nothing, and
//! creating or removing a network is one netlink batch of elements whose cost does not grow
//! either. Per-network chains would: every transaction that adds a rule makes the kernel
//! validate the whole table (every chain reachable from a base chain), and every link the
//! kernel registers or removes walks every chain of an `inet` table.
//!
//! - leaving network X's bridge toward another berth bridge: dropped (isolation both ways);
//! - internal networks: nothing leaves or enters their bridge except bridge-local traffic;
//! - entering a bridge from outside: only replies and DNAT'd (published) connections, unless
//!   the network's gateway mode for that family is `nat-unprotected` (bridge in `open4`/`open6`):
//!   then anything routed to its containers' addresses is let in, as Docker 28 does (isolation
//!   from other berth networks and `--internal` still apply: they are decided first);
//! - containers reach the host itself only for replies and ICMP (no host services except
//!   through published ports, whose DNAT sends them to a container, not to the host);
//! - `masq` bridges are masqueraded toward non-berth interfaces; connections from containers
//!   (sources in `nets4/6`) to published ports are masqueraded too (hairpin), matched by
//!   address because with br_netfilter a hairpinned frame has no input interface there;
//! - published ports: DNAT in prerouting (from outside) and output (from the host itself) for
//!   local destinations, through maps keyed by `[address .] protocol . port` (one element per
//!   published port, no per-port chain, no proxy); hairpin and 127.0.0.1 connections are
//!   masqueraded so replies come back through the host; packets to 127.0.0.0/8 that did not
//!   come from `lo` are dropped before DNAT, so a port published on 127.0.0.1 is never
//!   reachable from the LAN (moby #45610);
//! - networks with ICC off drop IP traffic between their own addresses in the bridge family
//!   (`no_icc4/6`: one interval element `subnet . subnet` per network; no br_netfilter, and
//!   no need for `meta ibrname`, which not every kernel has); legacy links are the exception,
//!   as in Docker: `links4` holds `linker . target . proto . port` for each exposed port of a
//!   link's target, accepted before that drop (and the replies, matched the other way round).
//! - encrypted overlay networks (`overlay/encrypt.rs`): their VXLAN port (4799) may only be
//!   used through the WireGuard TUN device `berth-wg0`, never on the underlay: no plaintext
//!   frame of an encrypted network leaves a host, and none is accepted from the underlay.
//!   Nothing is forwarded into or out of `berth-wg0`: only the host's own VXLAN devices use it
//!   (otherwise a container's packets to a peer's inner address, masqueraded to this host's
//!   inner address, would reach the peer's VXLAN port as if they came from this host).
//! - containers send no VXLAN (UDP 4789, 4799) to other hosts: masqueraded to this host's
//!   address, an overlay peer would take it for this host's underlay traffic and accept frames
//!   injected into its overlay networks.

use super::ports::Published;
use berth_kernel::nf_tables::ruleset::{Change, Family, Key, Op};
use std::fmt::Write;

/// What the firewall needs to know about one bridge network.
#[derive(Debug, Clone, PartialEq)]
pub struct FwNet {
    /// Short id of the network (the firewall guard's bookkeeping).
    pub key: String,
    pub bridge: String,
    pub internal: bool,
    pub masquerade: bool,
    pub icc: bool,
    /// Gateway mode `nat-unprotected` for IPv4 / IPv6: containers reachable by direct routing.
    pub open: [bool; 2],
    pub subnets: Vec<ipnet::IpNet>,
}

const BASE: &str = r#"table inet berth {
  set bridges { type ifname; }
  set masq { type ifname; }
  set internal { type ifname; }
  set same { type ifname . ifname; }
  set open4 { type ifname; }
  set open6 { type ifname; }
  set nets4 { type ipv4_addr; flags interval; }
  set nets6 { type ipv6_addr; flags interval; }
  map ports_ip4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  map ports_any4 { type inet_proto . inet_service : ipv4_addr . inet_service; }
  map ports_ip6 { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
  map ports_any6 { type inet_proto . inet_service : ipv6_addr . inet_service; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ct state established,related accept
    iifname . oifname @same accept
    iifname @bridges ct status dnat accept
    iifname @bridges oifname @bridges drop
    iifname @internal drop
    oifname @internal drop
    oifname @bridges ct status dnat accept
    oifname @open4 meta nfproto ipv4 accept
    oifname @open6 meta nfproto ipv6 accept
    oifname @bridges drop
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname != @bridges accept
    ct state established,related accept
    meta l4proto { icmp, ipv6-icmp } accept
    drop
  }
  chain encrypted_in {
    type filter hook input priority filter - 1; policy accept;
    udp dport 4799 iifname != "berth-wg0" drop
  }
  chain encrypted_out {
    type filter hook output priority filter; policy accept;
    udp dport 4799 oifname != "berth-wg0" drop
  }
  chain encrypted_fwd {
    type filter hook forward priority filter - 1; policy accept;
    oifname "berth-wg0" drop
    iifname "berth-wg0" drop
    iifname @bridges udp dport { 4789, 4799 } drop
  }
  chain guard {
    type filter hook prerouting priority dstnat - 10; policy accept;
    iifname != "lo" ip daddr 127.0.0.0/8 drop
    iifname != "lo" ip6 daddr ::1 drop
  }
  chain ports {
    dnat ip to ip daddr . meta l4proto . th dport map @ports_ip4
    dnat ip to meta l4proto . th dport map @ports_any4
    dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports_ip6
    dnat ip6 to meta l4proto . th dport map @ports_any6
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump ports
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local jump ports
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    iifname @masq oifname != @bridges masquerade
    oifname @bridges ct status dnat ip saddr @nets4 masquerade
    oifname @bridges ct status dnat ip6 saddr @nets6 masquerade
    oifname @bridges ip saddr 127.0.0.0/8 masquerade
    oifname @bridges ip6 saddr ::1 masquerade
  }
}
table bridge berth {
  set no_icc4 { type ipv4_addr . ipv4_addr; flags interval; }
  set no_icc6 { type ipv6_addr . ipv6_addr; flags interval; }
  set links4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; }
  chain forward {
    type filter hook forward priority filter; policy accept;
    ip saddr . ip daddr . meta l4proto . th dport @links4 accept
    ip daddr . ip saddr . meta l4proto . th sport @links4 accept
    ip saddr . ip daddr @no_icc4 drop
    ip6 saddr . ip6 daddr @no_icc6 drop
  }
}
"#;

/// A legacy link's exception to disabled ICC: `linker` may reach `target` on `proto`/`port`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkPass {
    pub linker: std::net::Ipv4Addr,
    pub target: std::net::Ipv4Addr,
    pub proto: String,
    pub port: u16,
}

/// Adds (`verb` = "add") or removes ("delete") legacy-link exceptions.
pub fn link_elements(verb: &str, passes: &[LinkPass]) -> String {
    let mut s = String::new();
    for p in passes {
        let proto = match p.proto.as_str() {
            "udp" => "udp",
            "sctp" => "sctp",
            _ => "tcp",
        };
        let _ = writeln!(
            s,
            "{verb} element bridge berth links4 {{ {} . {} . {proto} . {} }}",
            p.linker, p.target, p.port
        );
    }
    s
}

/// Replaces berth's tables (and nothing else) with the rules for `nets`, the published
/// `ports` and the legacy-link exceptions `links`, atomically.
pub fn full(nets: &[FwNet], ports: &[Published], links: &[LinkPass]) -> String {
    let mut s = String::from("table inet berth {}\ndelete table inet berth\ntable bridge berth {}\ndelete table bridge berth\n");
    s.push_str(BASE);
    for n in nets {
        s.push_str(&script(&add(n)));
    }
    s.push_str(&port_elements("add", ports));
    s.push_str(&link_elements("add", links));
    s
}

/// Adds (`verb` = "add") or removes ("delete") the DNAT map elements of published ports.
pub fn port_elements(verb: &str, ports: &[Published]) -> String {
    let mut s = String::new();
    for p in ports {
        let (fam, cip) = if p.host_ip.is_ipv4() {
            ("4", p.container_ip.to_string())
        } else {
            ("6", p.container_ip.to_string())
        };
        let value = if verb == "add" {
            format!(" : {cip} . {}", p.container_port)
        } else {
            String::new()
        };
        if p.host_ip.is_unspecified() {
            let _ = writeln!(
                s,
                "{verb} element inet berth ports_any{fam} {{ {} . {}{value} }}",
                p.proto, p.host_port
            );
        } else {
            let _ = writeln!(
                s,
                "{verb} element inet berth ports_ip{fam} {{ {} . {} . {}{value} }}",
                p.host_ip, p.proto, p.host_port
            );
        }
    }
    s
}

/// A change to `inet berth`.
fn inet(op: Op) -> Change {
    Change {
        family: Family::Inet,
        table: "berth",
        op,
    }
}

/// A change to `bridge berth`.
fn bridge(op: Op) -> Change {
    Change {
        family: Family::Bridge,
        table: "berth",
        op,
    }
}

/// The changes as one `nft -f` script.
pub fn script(changes: &[Change]) -> String {
    changes.iter().map(|c| format!("{c}\n")).collect()
}

/// A network's elements in the sets of `inet berth` (and `bridge berth` with ICC off).
fn elements(add: bool, n: &FwNet) -> Vec<Change> {
    let b = || Key::Ifname(n.bridge.clone());
    let mut v = vec![
        inet(element(add, "bridges", b())),
        inet(element(add, "same", Key::IfnamePair(n.bridge.clone()))),
    ];
    if n.internal {
        v.push(inet(element(add, "internal", b())));
    } else if n.masquerade {
        v.push(inet(element(add, "masq", b())));
    }
    for (open, set) in n.open.iter().zip(["open4", "open6"]) {
        if *open && !n.internal {
            v.push(inet(element(add, set, b())));
        }
    }
    if !n.icc {
        v.extend(icc_elements(add, n));
    }
    v.extend(subnet_elements(add, n));
    v
}

/// Adds one network (one netlink batch: its cost does not depend on how many networks there
/// are).
pub fn add(n: &FwNet) -> Vec<Change> {
    elements(true, n)
}

/// Removes one network.
pub fn remove(n: &FwNet) -> Vec<Change> {
    elements(false, n)
}

/// The network's subnets in `nets4`/`nets6`: container sources of hairpin connections.
fn subnet_elements(add: bool, n: &FwNet) -> Vec<Change> {
    per_subnet(n, ["nets4", "nets6"], |set, net| {
        inet(element(add, set, Key::Net(net)))
    })
}

/// `subnet . subnet` in `no_icc4`/`no_icc6`: traffic within the network dropped when bridged.
fn icc_elements(add: bool, n: &FwNet) -> Vec<Change> {
    per_subnet(n, ["no_icc4", "no_icc6"], |set, net| {
        bridge(element(add, set, Key::NetPair(net)))
    })
}

/// One change per subnet of `n`, in the set for its family (`sets`: IPv4's, IPv6's).
fn per_subnet(
    n: &FwNet,
    sets: [&str; 2],
    change: impl Fn(&str, ipnet::IpNet) -> Change,
) -> Vec<Change> {
    n.subnets
        .iter()
        .map(|net| change(sets[usize::from(!net.addr().is_ipv4())], *net))
        .collect()
}

fn element(add: bool, set: &str, key: Key) -> Op {
    if add {
        Op::AddElement(set.to_string(), key)
    } else {
        Op::DeleteElement(set.to_string(), key)
    }
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
            open: [!internal, false],
            subnets: vec!["10.1.0.0/24".parse().unwrap()],
        }
    }

    #[test]
    fn add_and_remove_are_symmetric() {
        for (internal, icc) in [(false, true), (true, false)] {
            let n = net(internal, icc);
            let added = script(&add(&n));
            let removed = script(&remove(&n));
            let count = |s: &str, w: &str| s.lines().filter(|l| l.contains(w)).count();
            assert_eq!(
                count(&added, "add element"),
                count(&removed, "delete element")
            );
        }
    }

    #[test]
    fn a_network_prints_as_the_nft_script_it_stands_for() {
        let mut n = net(false, false);
        n.subnets.push("fd00:1::/64".parse().unwrap());
        assert_eq!(
            script(&add(&n)),
            r#"add element inet berth bridges { "br-abc" }
add element inet berth same { "br-abc" . "br-abc" }
add element inet berth masq { "br-abc" }
add element inet berth open4 { "br-abc" }
add element bridge berth no_icc4 { 10.1.0.0/24 . 10.1.0.0/24 }
add element bridge berth no_icc6 { fd00:1::/64 . fd00:1::/64 }
add element inet berth nets4 { 10.1.0.0/24 }
add element inet berth nets6 { fd00:1::/64 }
"#
        );
        assert_eq!(
            script(&remove(&n)),
            script(&add(&n)).replace("add element", "delete element")
        );
        n.internal = true;
        let internal = script(&add(&n));
        assert!(internal.contains("internal { \"br-abc\" }"), "{internal}");
        assert!(!internal.contains("masq"), "{internal}");
        assert!(
            !internal.contains("open4"),
            "internal wins over nat-unprotected: {internal}"
        );
    }

    #[test]
    fn full_only_touches_berth_tables() {
        let s = full(&[net(false, true)], &[], &[]);
        for line in s
            .lines()
            .filter(|l| l.starts_with("delete") || l.starts_with("flush"))
        {
            assert!(line.contains(" berth"), "{line}");
        }
    }

    #[test]
    fn port_elements_add_and_delete_match() {
        let p = |ip: &str, cip: &str| Published {
            proto: "tcp".into(),
            host_ip: ip.parse().unwrap(),
            host_port: 8080,
            container_ip: cip.parse().unwrap(),
            container_port: 80,
        };
        let ports = [
            p("0.0.0.0", "172.17.0.2"),
            p("127.0.0.1", "172.17.0.2"),
            p("::", "fd00::2"),
        ];
        let add = port_elements("add", &ports);
        assert!(
            add.contains("ports_any4 { tcp . 8080 : 172.17.0.2 . 80 }"),
            "{add}"
        );
        assert!(
            add.contains("ports_ip4 { 127.0.0.1 . tcp . 8080 : 172.17.0.2 . 80 }"),
            "{add}"
        );
        assert!(
            add.contains("ports_any6 { tcp . 8080 : fd00::2 . 80 }"),
            "{add}"
        );
        let del = port_elements("delete", &ports);
        assert!(
            del.contains("delete element inet berth ports_ip4 { 127.0.0.1 . tcp . 8080 }"),
            "{del}"
        );
    }

    #[test]
    fn link_passes_are_elements_of_links4() {
        let p = LinkPass {
            linker: "172.17.0.3".parse().unwrap(),
            target: "172.17.0.2".parse().unwrap(),
            proto: "tcp".into(),
            port: 80,
        };
        let s = full(&[], &[], std::slice::from_ref(&p));
        assert!(
            s.contains("add element bridge berth links4 { 172.17.0.3 . 172.17.0.2 . tcp . 80 }"),
            "{s}"
        );
        assert_eq!(
            link_elements("delete", &[p]),
            "delete element bridge berth links4 { 172.17.0.3 . 172.17.0.2 . tcp . 80 }\n"
        );
    }

    #[test]
    fn interface_names_cannot_break_quoting() {
        let mut n = net(false, true);
        n.bridge = "x\" } flush ruleset".into();
        assert!(!script(&add(&n)).contains("\" } flush"));
    }
}
