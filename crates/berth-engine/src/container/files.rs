//! The container's own /etc/hostname, /etc/hosts and /etc/resolv.conf, written into its
//! directory and bind-mounted over the image's files at start.

use super::record::Container;
use std::path::Path;

/// `(file name, path inside the container)` for each generated file.
pub const FILES: [(&str, &str); 3] = [
    ("hostname", "/etc/hostname"),
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// Writes the three files for `c` into `dir`. `addrs` are the container's own addresses.
pub fn write(
    dir: &Path,
    c: &Container,
    addrs: &[String],
    host_resolv: &str,
) -> std::io::Result<()> {
    let hostname = c.config.hostname.clone().unwrap_or_default();
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let hosts = if c.network_mode() == "host" {
        std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| hosts_file(&hostname, addrs))
    } else {
        hosts_file(&hostname, addrs)
    };
    std::fs::write(dir.join("hosts"), hosts)?;
    let resolv = if c.network_mode() == "host" {
        host_resolv.to_string()
    } else {
        resolv_without_loopback(host_resolv)
    };
    std::fs::write(dir.join("resolv.conf"), resolv)
}

pub fn hosts_file(hostname: &str, addrs: &[String]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for a in addrs {
        s.push_str(&format!("{a}\t{hostname}\n"));
    }
    s
}

/// The host's resolv.conf without loopback nameservers (unreachable from a container's own
/// namespace); Google's public servers if nothing is left, as Docker does.
pub fn resolv_without_loopback(host: &str) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or_default();
            if addr.starts_with("127.") || addr == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_dropped_with_fallback() {
        let r = resolv_without_loopback("search lan\nnameserver 127.0.0.53\n");
        assert_eq!(r, "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        let r = resolv_without_loopback("nameserver 10.0.0.2\nnameserver ::1\n");
        assert_eq!(r, "nameserver 10.0.0.2\n");
    }

    #[test]
    fn hosts_has_own_address_and_name() {
        let h = hosts_file("web", &["172.17.0.2".into()]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("172.17.0.2\tweb\n"));
    }
}
