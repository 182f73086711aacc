//! Published ports (`-p`, `-P`): validating requests, choosing host ports, conflicts.
//! Forwarding itself is nftables DNAT through maps (see `firewall::ports`), no proxy process.

use crate::error::{EngineError, Result};
use bollard_stubs::models::HostConfig;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One forwarding in force: host address and port to container address and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub proto: String,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

/// One requested binding: `[host_ip:][host_ports:]container_port/proto`.
#[derive(Debug, Clone, PartialEq)]
pub struct PortRequest {
    pub proto: String,
    pub container_port: u16,
    /// `None`: the network's default (`host_binding_ipv4`, 0.0.0.0), plus `::` for IPv6.
    pub host_ip: Option<IpAddr>,
    /// `None`: any free port of the ephemeral range.
    pub host_ports: Option<(u16, u16)>,
}

fn invalid(m: String) -> EngineError {
    EngineError::Invalid(m)
}

/// `80/tcp` → (80, "tcp").
pub fn parse_key(key: &str) -> Result<(u16, String)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid(format!(
            "invalid proto {proto:?} in port {key:?}: expected tcp, udp or sctp"
        )));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| invalid(format!("invalid container port {key:?}")))?;
    Ok((port, proto))
}

fn parse_host_ports(s: &str, key: &str) -> Result<Option<(u16, u16)>> {
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    let bad = || invalid(format!("invalid host port {s:?} for {key}"));
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a == 0 || b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// All bindings a container asks for: `PortBindings`, and with `-P` every exposed port.
pub fn requests(hc: &HostConfig, exposed: &[String]) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    let bindings = hc.port_bindings.clone().unwrap_or_default();
    let mut keys: Vec<&String> = bindings.keys().collect();
    keys.sort();
    for key in keys {
        let (container_port, proto) = parse_key(key)?;
        for b in bindings[key].clone().unwrap_or_default() {
            let host_ip = match b.host_ip.as_deref().unwrap_or_default() {
                "" => None,
                ip => Some(
                    ip.trim_matches(['[', ']'])
                        .parse()
                        .map_err(|_| invalid(format!("invalid host IP {ip:?} for {key}")))?,
                ),
            };
            let host_ports = parse_host_ports(b.host_port.as_deref().unwrap_or_default(), key)?;
            out.push(PortRequest {
                proto: proto.clone(),
                container_port,
                host_ip,
                host_ports,
            });
        }
    }
    if hc.publish_all_ports == Some(true) {
        for key in exposed {
            let (container_port, proto) = parse_key(key)?;
            if !out
                .iter()
                .any(|r| r.container_port == container_port && r.proto == proto)
            {
                out.push(PortRequest {
                    proto,
                    container_port,
                    host_ip: None,
                    host_ports: None,
                });
            }
        }
    }
    Ok(out)
}

fn overlap(a: &Published, proto: &str, ip: IpAddr, port: u16) -> bool {
    a.proto == proto
        && a.host_port == port
        && a.host_ip.is_ipv4() == ip.is_ipv4()
        && (a.host_ip == ip || a.host_ip.is_unspecified() || ip.is_unspecified())
}

/// What decides host ports: bindings in force, the ephemeral range, and a probe that names
/// a process of the host already bound to a port (`None` when free).
pub struct Allocator<'a> {
    pub taken: &'a [(String, Published)],
    pub range: (u16, u16),
    pub default_ip: Ipv4Addr,
    pub probe: &'a dyn Fn(&str, IpAddr, u16) -> Option<String>,
}

impl Allocator<'_> {
    fn conflict(&self, done: &[Published], proto: &str, ip: IpAddr, port: u16) -> Option<String> {
        if let Some((c, _)) = self.taken.iter().find(|(_, p)| overlap(p, proto, ip, port)) {
            return Some(format!("container {}", crate::ids::short(c)));
        }
        if done.iter().any(|p| overlap(p, proto, ip, port)) {
            return Some("another binding of the same container".into());
        }
        (self.probe)(proto, ip, port)
    }

    /// Chooses host ports for every request; all or nothing.
    pub fn allocate(
        &self,
        reqs: &[PortRequest],
        ip4: Option<IpAddr>,
        ip6: Option<IpAddr>,
    ) -> Result<Vec<Published>> {
        let mut done: Vec<Published> = Vec::new();
        for r in reqs {
            let host_ips: Vec<IpAddr> = match r.host_ip {
                Some(ip) => vec![ip],
                None => {
                    let mut v = vec![IpAddr::V4(self.default_ip)];
                    if ip6.is_some() && self.default_ip.is_unspecified() {
                        v.push(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
                    }
                    v
                }
            };
            let (lo, hi) = r.host_ports.unwrap_or(self.range);
            let mut chosen = None;
            let mut last_conflict = None;
            for port in lo..=hi {
                let clash = host_ips
                    .iter()
                    .find_map(|ip| self.conflict(&done, &r.proto, *ip, port));
                match clash {
                    None => {
                        chosen = Some(port);
                        break;
                    }
                    Some(holder) => last_conflict = Some(holder),
                }
            }
            let Some(port) = chosen else {
                let shown = if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                };
                return Err(EngineError::Conflict(match last_conflict {
                    Some(h) if lo == hi => format!(
                        "Bind for {}:{shown}/{} failed: port is already allocated by {h}",
                        fmt_ip(host_ips[0]),
                        r.proto
                    ),
                    _ => format!(
                        "no free host port in {shown}/{} for container port {}",
                        r.proto, r.container_port
                    ),
                }));
            };
            for ip in host_ips {
                let target = if ip.is_ipv4() { ip4 } else { ip6 };
                let Some(container_ip) = target else {
                    if r.host_ip.is_some() {
                        return Err(invalid(format!(
                            "cannot publish {}:{port}: the container has no {} address",
                            fmt_ip(ip),
                            if ip.is_ipv4() { "IPv4" } else { "IPv6" }
                        )));
                    }
                    continue;
                };
                done.push(Published {
                    proto: r.proto.clone(),
                    host_ip: ip,
                    host_port: port,
                    container_ip,
                    container_port: r.container_port,
                });
            }
        }
        Ok(done)
    }
}

pub fn fmt_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    }
}

/// The ephemeral port range of berthd's namespace (Docker uses the same).
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::PortBinding;
    use std::collections::HashMap;

    fn hc(bindings: &[(&str, &str, &str)]) -> HostConfig {
        let mut m: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for (k, ip, port) in bindings {
            m.entry(k.to_string())
                .or_insert(Some(vec![]))
                .as_mut()
                .unwrap()
                .push(PortBinding {
                    host_ip: Some(ip.to_string()),
                    host_port: Some(port.to_string()),
                });
        }
        HostConfig {
            port_bindings: Some(m),
            ..Default::default()
        }
    }

    fn free(_: &str, _: IpAddr, _: u16) -> Option<String> {
        None
    }

    fn alloc<'a>(
        taken: &'a [(String, Published)],
        probe: &'a dyn Fn(&str, IpAddr, u16) -> Option<String>,
    ) -> Allocator<'a> {
        Allocator {
            taken,
            range: (40000, 40002),
            default_ip: Ipv4Addr::UNSPECIFIED,
            probe,
        }
    }

    const C4: &str = "172.17.0.2";

    #[test]
    fn parses_every_form() {
        let r = requests(
            &hc(&[
                ("80/tcp", "", "8080"),
                ("53/udp", "127.0.0.1", ""),
                ("90/tcp", "", "8000-8010"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.iter().find(|x| x.proto == "udp").unwrap().host_ip,
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            r.iter()
                .find(|x| x.container_port == 90)
                .unwrap()
                .host_ports,
            Some((8000, 8010))
        );
        assert!(requests(&hc(&[("80/xyz", "", "1")]), &[])
            .unwrap_err()
            .to_string()
            .contains("xyz"));
        assert!(requests(&hc(&[("80/tcp", "nope", "1")]), &[])
            .unwrap_err()
            .to_string()
            .contains("nope"));
        assert!(requests(&hc(&[("80/tcp", "", "9-3")]), &[])
            .unwrap_err()
            .to_string()
            .contains("9-3"));
    }

    #[test]
    fn publish_all_uses_exposed_ports() {
        let h = HostConfig {
            publish_all_ports: Some(true),
            ..Default::default()
        };
        let r = requests(&h, &["80/tcp".into(), "53/udp".into()]).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|x| x.host_ports.is_none()));
    }

    #[test]
    fn conflicts_name_the_holder() {
        let taken = vec![(
            "abcdef0123456789".to_string(),
            Published {
                proto: "tcp".into(),
                host_ip: "0.0.0.0".parse().unwrap(),
                host_port: 8080,
                container_ip: C4.parse().unwrap(),
                container_port: 80,
            },
        )];
        let reqs = requests(&hc(&[("80/tcp", "127.0.0.1", "8080")]), &[]).unwrap();
        let e = alloc(&taken, &free)
            .allocate(&reqs, Some(C4.parse().unwrap()), None)
            .unwrap_err();
        assert!(
            e.to_string().contains(
                "127.0.0.1:8080/tcp failed: port is already allocated by container abcdef012345"
            ),
            "{e}"
        );
        // Same port on udp is fine.
        let reqs = requests(&hc(&[("80/udp", "", "8080")]), &[]).unwrap();
        assert!(alloc(&taken, &free)
            .allocate(&reqs, Some(C4.parse().unwrap()), None)
            .is_ok());
        // A host process.
        let busy =
            |_: &str, _: IpAddr, p: u16| (p == 9000).then(|| "process 42 (nginx)".to_string());
        let reqs = requests(&hc(&[("80/tcp", "", "9000")]), &[]).unwrap();
        let e = alloc(&[], &busy)
            .allocate(&reqs, Some(C4.parse().unwrap()), None)
            .unwrap_err();
        assert!(e.to_string().contains("process 42 (nginx)"), "{e}");
    }

    #[test]
    fn random_ports_skip_taken_and_exhaust_cleanly() {
        let reqs = vec![
            PortRequest {
                proto: "tcp".into(),
                container_port: 80,
                host_ip: None,
                host_ports: None
            };
            3
        ];
        let got = alloc(&[], &free)
            .allocate(&reqs, Some(C4.parse().unwrap()), None)
            .unwrap();
        assert_eq!(
            got.iter().map(|p| p.host_port).collect::<Vec<_>>(),
            vec![40000, 40001, 40002]
        );
        let reqs = vec![
            PortRequest {
                proto: "tcp".into(),
                container_port: 80,
                host_ip: None,
                host_ports: None
            };
            4
        ];
        assert!(alloc(&[], &free)
            .allocate(&reqs, Some(C4.parse().unwrap()), None)
            .is_err());
    }

    #[test]
    fn default_binding_covers_ipv6_when_the_container_has_it() {
        let reqs = requests(&hc(&[("80/tcp", "", "8080")]), &[]).unwrap();
        let got = alloc(&[], &free)
            .allocate(
                &reqs,
                Some(C4.parse().unwrap()),
                Some("fd00::2".parse().unwrap()),
            )
            .unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[1].host_ip.is_ipv6());
        let reqs = requests(&hc(&[("80/tcp", "::1", "8080")]), &[]).unwrap();
        assert!(alloc(&[], &free)
            .allocate(&reqs, Some(C4.parse().unwrap()), None)
            .unwrap_err()
            .to_string()
            .contains("no IPv6"));
    }
}
