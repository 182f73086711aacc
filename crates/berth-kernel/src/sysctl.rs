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
