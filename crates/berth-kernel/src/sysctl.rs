//! Per-interface sysctls of the calling thread's network namespace (`/proc/sys/net` follows the
//! namespace of the thread that opens it).

use crate::{KernelError, Result};

/// Turns IPv6 off on interface `name` (no addresses, no routes). A kernel without IPv6 has
/// nothing to turn off.
pub fn disable_ipv6(name: &str) -> Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(KernelError::Netlink {
            op: "disable IPv6".into(),
            message: format!("invalid interface name {name:?}"),
        });
    }
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::write(&path, "1") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !ipv6_present() => Ok(()),
        Err(e) => Err(KernelError::io(format!("write {path}"), e)),
    }
}

/// br_netfilter's switches: whether bridged IPv4/IPv6/ARP frames cross the IP/ARP netfilter
/// hooks (conntrack, iptables/nftables `inet` chains) of the namespace.
const BRIDGE_NF: [&str; 3] = [
    "bridge-nf-call-iptables",
    "bridge-nf-call-ip6tables",
    "bridge-nf-call-arptables",
];

/// br_netfilter's switches in the calling thread's namespace, `(name, on)`; empty when
/// br_netfilter is not loaded (no `/proc/sys/net/bridge`).
pub fn bridge_netfilter() -> Vec<(&'static str, bool)> {
    BRIDGE_NF
        .iter()
        .filter_map(|n| {
            let v = std::fs::read_to_string(format!("/proc/sys/net/bridge/{n}")).ok()?;
            Some((*n, v.trim() != "0"))
        })
        .collect()
}

/// Turns br_netfilter's switches off in the calling thread's namespace, so bridged frames no
/// longer cross conntrack and the IP hooks. Returns the switches it turned off (none when
/// br_netfilter is not loaded or they were off already).
pub fn bridge_netfilter_off() -> Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    for (name, on) in bridge_netfilter() {
        if on {
            let path = format!("/proc/sys/net/bridge/{name}");
            std::fs::write(&path, "0").map_err(|e| KernelError::io(format!("write {path}"), e))?;
            changed.push(name);
        }
    }
    Ok(changed)
}

fn ipv6_present() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_names_that_escape_the_directory() {
        for bad in ["", "..", ".", "a/b"] {
            assert!(disable_ipv6(bad).is_err(), "{bad:?}");
        }
    }
}
