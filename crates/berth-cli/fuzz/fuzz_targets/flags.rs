//! Feeds arbitrary text to the CLI's flag-value parsers: `-p/--publish`, `--expose`, port
//! ranges, the `PORTS` column, and the option values of `run` and `network create/connect`
//! (`--subnet`/`--ip-range`/`--gateway` CIDRs, `-o`/`--aux-address` key=value, `--ip`, `--ip6`,
//! `--mac-address`, `--add-host`, `--link`, `--label`, `-e`, `--env-file`, `--filter`).
//! Nothing may panic, and what a parser accepts must be well-formed.
//!
//! berth-cli is a binary crate, so its (pure, std-only) parser modules are compiled in here
//! directly. Not reachable this way: the `--network name=N,ip=...` advanced syntax, which lives
//! in `cmd/run.rs` next to code that needs the whole crate.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/opts.rs"]
mod opts;
#[allow(dead_code)]
#[path = "../../src/ports.rs"]
mod ports;

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn check_port_key(k: &str) {
    let (port, proto) = k.split_once('/').expect("port/proto");
    assert!(port.parse::<u16>().is_ok(), "{k}");
    assert!(matches!(proto, "tcp" | "udp" | "sctp"), "{k}");
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();

    if let Ok((a, b)) = ports::parse_port_range(s) {
        assert!(a <= b, "{s}: {a}-{b}");
    }
    if let Ok(v) = ports::parse_publish(s) {
        assert!(!v.is_empty(), "{s}");
        for m in &v {
            check_port_key(&m.port);
            assert!(
                m.host_ip.is_empty() || m.host_ip.parse::<IpAddr>().is_ok(),
                "{s}: {m:?}"
            );
            assert!(
                m.host_port.is_empty() || ports::parse_port_range(&m.host_port).is_ok(),
                "{s}: {m:?}"
            );
        }
    }
    if let Ok(v) = ports::parse_expose(s) {
        assert!(!v.is_empty(), "{s}");
        v.iter().for_each(|k| check_port_key(k));
    }

    // The PORTS column: entries made from the input bytes.
    let summary: Vec<ports::SummaryPort> = data
        .chunks(6)
        .take(16)
        .map(|c| {
            let b = |i: usize| c.get(i).copied().unwrap_or(0);
            ports::SummaryPort {
                ip: match b(0) % 4 {
                    0 => String::new(),
                    1 => "0.0.0.0".into(),
                    2 => "::".into(),
                    _ => "127.0.0.1".into(),
                },
                private_port: u16::from_le_bytes([b(1), b(2) % 4]),
                public_port: u16::from_le_bytes([b(3), b(4)]),
                typ: ["tcp", "udp", "sctp", ""][b(5) as usize % 4].into(),
            }
        })
        .collect();
    let _ = ports::displayable_ports(&summary);

    if let Ok(c) = opts::Cidr::parse(s) {
        assert!(c.prefix <= if c.addr.is_ipv4() { 32 } else { 128 }, "{s}");
        assert!(c.contains(c.addr), "{s}");
        let other: IpAddr = if c.addr.is_ipv4() {
            Ipv6Addr::LOCALHOST.into()
        } else {
            Ipv4Addr::LOCALHOST.into()
        };
        assert!(!c.contains(other), "{s}");
    }
    if let Ok((k, v)) = opts::parse_kv(s) {
        assert!(!k.is_empty());
        assert_eq!(format!("{k}={v}"), s);
    }
    if let Ok((k, _)) = opts::parse_label(s) {
        assert!(!k.is_empty());
    }
    let _ = opts::parse_filter(s);
    if let Ok(ip) = opts::parse_ipv4(s) {
        assert!(ip.parse::<Ipv4Addr>().is_ok());
    }
    if let Ok(ip) = opts::parse_ipv6(s) {
        assert!(ip.parse::<Ipv6Addr>().is_ok());
    }
    if let Ok(ip) = opts::parse_ip(s) {
        assert!(ip.parse::<IpAddr>().is_ok());
    }
    if let Ok(mac) = opts::parse_mac(s) {
        assert_eq!(mac.len(), 17, "{s}");
        assert_eq!(mac, mac.to_lowercase());
    }
    if let Ok(h) = opts::parse_extra_host(s) {
        assert!(h.contains(':'), "{s}: {h}");
    }
    let _ = opts::parse_link(s);
    let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
    if let Ok(e) = opts::parse_env(s, &lookup) {
        assert!(!e.is_empty());
    }
    let _ = opts::parse_env_file(s, &lookup);
    let vals: Vec<String> = s.split(',').map(str::to_string).collect();
    let _ = opts::parse_filters(&vals);
});
