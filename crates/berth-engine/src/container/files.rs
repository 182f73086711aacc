//! The container's own /etc/hostname, /etc/hosts and /etc/resolv.conf, rendered from plain
//! inputs (pure functions), written into its directory and bind-mounted over the image's files.

use std::path::Path;

/// `(file name, path inside the container)` for each generated file.
pub const FILES: [(&str, &str); 3] = [
    ("hostname", "/etc/hostname"),
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
];

/// Everything the three files depend on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileInputs {
    pub hostname: String,
    /// `--network host`: the host's own files.
    pub host_mode: bool,
    /// The container's own addresses.
    pub addrs: Vec<String>,
    /// `--add-host` and legacy link entries: (address, names).
    pub extra_hosts: Vec<(String, String)>,
    /// On a user-defined network: resolve through the embedded server at 127.0.0.11.
    pub embedded_dns: bool,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub host_resolv: String,
}

pub fn write(dir: &Path, f: &FileInputs) -> std::io::Result<()> {
    std::fs::write(dir.join("hostname"), format!("{}\n", f.hostname))?;
    std::fs::write(dir.join("hosts"), render_hosts(f))?;
    std::fs::write(dir.join("resolv.conf"), render_resolv(f))
}

pub fn render_hosts(f: &FileInputs) -> String {
    if f.host_mode {
        if let Ok(h) = std::fs::read_to_string("/etc/hosts") {
            return h;
        }
    }
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (ip, names) in &f.extra_hosts {
        s.push_str(&format!("{ip}\t{names}\n"));
    }
    for a in &f.addrs {
        s.push_str(&format!("{a}\t{}\n", f.hostname));
    }
    s
}

fn words<'a>(host: &'a str, key: &str) -> Vec<&'a str> {
    host.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .flat_map(|rest| rest.split_whitespace())
        .collect()
}

pub fn render_resolv(f: &FileInputs) -> String {
    if f.host_mode && f.dns.is_empty() && f.dns_search.is_empty() && f.dns_options.is_empty() {
        return f.host_resolv.clone();
    }
    let mut out = String::new();
    let servers: Vec<String> = if f.embedded_dns {
        vec!["127.0.0.11".into()]
    } else if !f.dns.is_empty() {
        f.dns.clone()
    } else {
        let s: Vec<String> = words(&f.host_resolv, "nameserver")
            .into_iter()
            .filter(|a| !(a.starts_with("127.") || *a == "::1"))
            .map(str::to_string)
            .collect();
        if s.is_empty() {
            vec!["8.8.8.8".into(), "8.8.4.4".into()]
        } else {
            s
        }
    };
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    let search: Vec<String> = if f.dns_search.is_empty() {
        words(&f.host_resolv, "search")
            .into_iter()
            .map(str::to_string)
            .collect()
    } else {
        f.dns_search.clone()
    };
    let search: Vec<String> = search.into_iter().filter(|s| s != ".").collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let mut options: Vec<String> = if f.dns_options.is_empty() {
        words(&f.host_resolv, "options")
            .into_iter()
            .map(str::to_string)
            .collect()
    } else {
        f.dns_options.clone()
    };
    if f.embedded_dns && !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// `name:ip` or `name=ip` (Docker's `--add-host`); `host-gateway` is replaced by `gateway`.
pub fn parse_extra_host(s: &str, gateway: Option<&str>) -> Result<(String, String), String> {
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| format!("invalid argument {s:?} for --add-host: expected host:ip"))?;
    let ip = ip.trim_matches(['[', ']']);
    let ip = if ip == "host-gateway" {
        gateway
            .ok_or_else(|| format!("--add-host {s}: no host gateway is known for this container"))?
            .to_string()
    } else {
        ip.parse::<std::net::IpAddr>()
            .map_err(|_| format!("invalid IP address {ip:?} in --add-host {s}"))?;
        ip.to_string()
    };
    if name.is_empty() {
        return Err(format!(
            "invalid argument {s:?} for --add-host: empty host name"
        ));
    }
    Ok((ip, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FileInputs {
        FileInputs {
            hostname: "web".into(),
            host_resolv: "search lan\nnameserver 127.0.0.53\noptions edns0\n".into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_bridge_drops_loopback_servers_with_fallback() {
        let r = render_resolv(&base());
        assert_eq!(
            r,
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\noptions edns0\n"
        );
    }

    #[test]
    fn user_defined_network_uses_embedded_server_and_ndots0() {
        let f = FileInputs {
            embedded_dns: true,
            dns_search: vec!["corp".into()],
            ..base()
        };
        assert_eq!(
            render_resolv(&f),
            "nameserver 127.0.0.11\nsearch corp\noptions edns0 ndots:0\n"
        );
        let f = FileInputs {
            embedded_dns: true,
            dns_options: vec!["ndots:2".into()],
            ..base()
        };
        assert!(render_resolv(&f).contains("options ndots:2\n"));
    }

    #[test]
    fn dns_flag_replaces_servers() {
        let f = FileInputs {
            dns: vec!["9.9.9.9".into()],
            ..base()
        };
        assert!(render_resolv(&f).starts_with("nameserver 9.9.9.9\n"));
    }

    #[test]
    fn hosts_has_extra_hosts_and_own_address() {
        let f = FileInputs {
            addrs: vec!["172.17.0.2".into()],
            extra_hosts: vec![("10.0.0.9".into(), "db".into())],
            ..base()
        };
        let h = render_hosts(&f);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.9\tdb\n"));
        assert!(h.ends_with("172.17.0.2\tweb\n"));
    }

    #[test]
    fn add_host_forms() {
        assert_eq!(
            parse_extra_host("db:10.0.0.9", None).unwrap(),
            ("10.0.0.9".into(), "db".into())
        );
        assert_eq!(
            parse_extra_host("db=::1", None).unwrap(),
            ("::1".into(), "db".into())
        );
        assert_eq!(
            parse_extra_host("gw:host-gateway", Some("172.17.0.1")).unwrap(),
            ("172.17.0.1".into(), "gw".into())
        );
        assert!(parse_extra_host("db:nope", None)
            .unwrap_err()
            .contains("nope"));
        assert!(parse_extra_host("db", None).is_err());
    }
}
