//! Validation of individual option values, with Docker's wording.
//!
//! Every function is pure (environment lookups are passed in) so they can be
//! unit-tested without a daemon.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A bad option value: `invalid argument "VALUE" for "FLAG" flag: REASON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptError {
    pub flag: &'static str,
    pub value: String,
    pub reason: String,
}

impl OptError {
    pub fn new(flag: &'static str, value: &str, reason: impl Into<String>) -> OptError {
        OptError {
            flag,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for OptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid argument \"{}\" for \"{}\" flag: {}",
            self.value, self.flag, self.reason
        )
    }
}

impl std::error::Error for OptError {}

/// `-e K=V`, `-e K` (taken from our environment when set, else passed as is).
pub fn parse_env(val: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (key, has_value) = match val.split_once('=') {
        Some((k, _)) => (k, true),
        None => (val, false),
    };
    if key.is_empty() {
        return Err(format!("invalid environment variable: {val}"));
    }
    if has_value {
        return Ok(val.to_string());
    }
    if key.chars().any(char::is_whitespace) {
        return Err(format!("invalid environment variable: {val}"));
    }
    Ok(match lookup(key) {
        Some(v) => format!("{key}={v}"),
        None => val.to_string(),
    })
}

/// Lines of an `--env-file`: blank lines and `#` comments are skipped; other
/// lines are handled like `-e`.
pub fn parse_env_file(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if key.chars().any(char::is_whitespace) {
            return Err(format!(
                "variable '{}' contains whitespaces (line {})",
                key.trim(),
                n + 1
            ));
        }
        match parse_env(line, lookup) {
            Ok(v) => out.push(v),
            Err(e) => return Err(format!("{e} (line {})", n + 1)),
        }
    }
    Ok(out)
}

/// `k=v` or `k` (empty value), as for `--label`.
pub fn parse_label(val: &str) -> Result<(String, String), String> {
    let (k, v) = val.split_once('=').unwrap_or((val, ""));
    if k.is_empty() {
        return Err(format!("invalid label '{val}': empty name"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// `k=v` or `k` (empty value), as for `network create -o encrypted` (Docker's map options).
pub fn parse_opt(val: &str) -> Result<(String, String), String> {
    match val.split_once('=').unwrap_or((val, "")) {
        ("", _) => Err(format!("invalid option {val:?}: empty key")),
        (k, v) => Ok((k.to_string(), v.to_string())),
    }
}

/// `k=v` where `=` is required (`-o`, `--aux-address`, `--filter`, ...).
pub fn parse_kv(val: &str) -> Result<(String, String), String> {
    match val.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "invalid key/value pair format: {val} (expected key=value)"
        )),
    }
}

/// `--filter key=value`.
pub fn parse_filter(val: &str) -> Result<(String, String), String> {
    match val.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_lowercase(), v.to_string())),
        _ => Err(format!("bad format of filter (expected name=value): {val}")),
    }
}

/// Collects `--filter` values into the API's `filters` map.
pub fn parse_filters(vals: &[String]) -> Result<HashMap<String, Vec<String>>, OptError> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for v in vals {
        let (k, val) = parse_filter(v).map_err(|e| OptError::new("-f, --filter", v, e))?;
        map.entry(k).or_default().push(val);
    }
    Ok(map)
}

/// `--add-host name:ip` (or `name=ip`); the IP may be in brackets or be the
/// special value `host-gateway`. Returns the daemon form `name:ip`.
pub fn parse_extra_host(val: &str) -> Result<String, String> {
    let (name, ip) = match val.split_once('=') {
        Some(x) => x,
        None => match val.split_once(':') {
            Some(x) => x,
            None => return Err(format!("bad format for add-host: {val:?}")),
        },
    };
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err(format!("bad format for add-host: {val:?}"));
    }
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    if ip != "host-gateway" && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address in add-host: {ip:?}"));
    }
    Ok(format!("{name}:{ip}"))
}

/// `--link name[:alias]`. Returned unchanged (the daemon parses it).
pub fn parse_link(val: &str) -> Result<String, String> {
    let (name, alias) = match val.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (val, None),
    };
    let name = name.strip_prefix('/').unwrap_or(name);
    if name.is_empty() || alias.is_some_and(|a| a.is_empty() || a.contains(':')) {
        return Err(format!(
            "invalid link format: {val} (expected name or name:alias)"
        ));
    }
    Ok(val.to_string())
}

pub fn parse_ipv4(val: &str) -> Result<String, String> {
    val.parse::<Ipv4Addr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("{val} is not an IPv4 address"))
}

pub fn parse_ipv6(val: &str) -> Result<String, String> {
    val.parse::<Ipv6Addr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("{val} is not an IPv6 address"))
}

pub fn parse_ip(val: &str) -> Result<String, String> {
    val.parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("{val} is not an ip address"))
}

/// `--mac-address aa:bb:cc:dd:ee:ff` (also `-` separated), normalised to lower case.
pub fn parse_mac(val: &str) -> Result<String, String> {
    let parts: Vec<&str> = val.split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(format!("{val} is not a valid mac address"));
    }
    Ok(parts.join(":").to_lowercase())
}

/// An IP network `a.b.c.d/n` or `x::/n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address: {s}"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("invalid CIDR address: {s}"))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| format!("invalid CIDR address: {s}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("invalid CIDR address: {s}"));
        }
        Ok(Cidr { addr, prefix })
    }

    fn bits(addr: IpAddr) -> (u128, u8) {
        match addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        }
    }

    fn mask(&self) -> u128 {
        let (_, width) = Self::bits(self.addr);
        if self.prefix == 0 {
            return 0;
        }
        let all: u128 = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !((1u128 << (width - self.prefix)) - 1)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let m = self.mask();
        (Self::bits(ip).0 & m) == (Self::bits(self.addr).0 & m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOME" => Some("/root".to_string()),
            _ => None,
        }
    }

    #[test]
    fn env_forms() {
        assert_eq!(parse_env("A=1", &env), Ok("A=1".to_string()));
        assert_eq!(parse_env("A=", &env), Ok("A=".to_string()));
        assert_eq!(parse_env("A=b=c", &env), Ok("A=b=c".to_string()));
        assert_eq!(parse_env("HOME", &env), Ok("HOME=/root".to_string()));
        assert_eq!(parse_env("UNSET", &env), Ok("UNSET".to_string()));
        assert_eq!(
            parse_env("=x", &env),
            Err("invalid environment variable: =x".to_string())
        );
        assert!(parse_env("", &env).is_err());
    }

    #[test]
    fn env_file() {
        let content = "# comment\n\nA=1\n  B=two words\nHOME\n";
        assert_eq!(
            parse_env_file(content, &env),
            Ok(vec![
                "A=1".to_string(),
                "B=two words".to_string(),
                "HOME=/root".to_string()
            ])
        );
        assert!(parse_env_file("BAD KEY=1\n", &env).is_err());
    }

    #[test]
    fn labels_and_kv() {
        assert_eq!(parse_label("a=b"), Ok(("a".into(), "b".into())));
        assert_eq!(parse_label("flag"), Ok(("flag".into(), String::new())));
        assert!(parse_label("=x").is_err());
        assert_eq!(parse_kv("mtu=1400"), Ok(("mtu".into(), "1400".into())));
        assert!(parse_kv("mtu").is_err());
        assert_eq!(parse_filter("name=web"), Ok(("name".into(), "web".into())));
        assert!(parse_filter("name").is_err());
    }

    #[test]
    fn filters_collect() {
        let m = parse_filters(&["name=a".into(), "name=b".into(), "label=x=y".into()])
            .unwrap_or_default();
        assert_eq!(m.get("name"), Some(&vec!["a".to_string(), "b".to_string()]));
        assert_eq!(m.get("label"), Some(&vec!["x=y".to_string()]));
        let e = parse_filters(&["oops".into()]).err();
        assert_eq!(e.map(|e| e.value), Some("oops".to_string()));
    }

    #[test]
    fn add_host_forms() {
        assert_eq!(parse_extra_host("db:10.0.0.2"), Ok("db:10.0.0.2".into()));
        assert_eq!(parse_extra_host("db=10.0.0.2"), Ok("db:10.0.0.2".into()));
        assert_eq!(parse_extra_host("v6:::1"), Ok("v6:::1".into()));
        assert_eq!(parse_extra_host("v6=[::1]"), Ok("v6:::1".into()));
        assert_eq!(
            parse_extra_host("gw:host-gateway"),
            Ok("gw:host-gateway".into())
        );
        assert!(parse_extra_host("nohost").is_err());
        assert!(parse_extra_host("db:notanip").is_err());
        assert!(parse_extra_host(":1.2.3.4").is_err());
    }

    #[test]
    fn link_forms() {
        assert_eq!(parse_link("db"), Ok("db".into()));
        assert_eq!(parse_link("db:alias"), Ok("db:alias".into()));
        assert_eq!(parse_link("/db:alias"), Ok("/db:alias".into()));
        assert!(parse_link("").is_err());
        assert!(parse_link("db:").is_err());
        assert!(parse_link(":alias").is_err());
        assert!(parse_link("a:b:c").is_err());
    }

    #[test]
    fn ips_and_macs() {
        assert_eq!(parse_ipv4("10.0.0.2"), Ok("10.0.0.2".into()));
        assert!(parse_ipv4("::1").is_err());
        assert_eq!(parse_ipv6("fd00::0002"), Ok("fd00::2".into()));
        assert!(parse_ipv6("10.0.0.1").is_err());
        assert_eq!(
            parse_mac("02:42:AC:11:00:02"),
            Ok("02:42:ac:11:00:02".into())
        );
        assert_eq!(
            parse_mac("02-42-ac-11-00-02"),
            Ok("02:42:ac:11:00:02".into())
        );
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("zz:42:ac:11:00:02").is_err());
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.1.0.0/16").unwrap_or(Cidr {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix: 0,
        });
        assert!(c.contains(
            "10.1.2.3"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert!(!c.contains(
            "10.2.0.1"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        ));
        assert!(Cidr::parse("10.1.0.0/33").is_err());
        assert!(Cidr::parse("10.1.0.0").is_err());
        let v6 = Cidr::parse("fd00:1::/64").unwrap();
        assert!(v6.contains("fd00:1::5".parse().unwrap()));
        assert!(!v6.contains("fd00:2::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
    }
}
