//! Validating a `network create` request into a [`NetworkRec`]. Pure: every check happens
//! before anything is created, and every error names the offending value.

use super::ipam::{overlaps, pick_subnet, Pool};
use super::{
    NetworkRec, Subnet, GW_MODES, OPT_BRIDGE_NAME, OPT_GW_MODE4, OPT_GW_MODE6, OPT_HOST_BINDING,
    OPT_ICC, OPT_MASQ, OPT_MTU,
};
use crate::error::{EngineError, Result};
use bollard_stubs::models::NetworkCreateRequest;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What already exists: other networks' subnets and bridge names, and host routes.
pub struct Taken<'a> {
    pub networks: &'a [NetworkRec],
    pub host_routes: &'a [IpNet],
}

fn invalid(m: String) -> EngineError {
    EngineError::Invalid(m)
}

/// Docker's network name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphanumeric())
        && c.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

pub fn build(
    req: &NetworkCreateRequest,
    id: &str,
    taken: &Taken,
    pools: &[Pool],
) -> Result<NetworkRec> {
    let name = req.name.trim();
    if !valid_name(name) {
        return Err(invalid(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    if taken.networks.iter().any(|n| n.name == name) {
        return Err(EngineError::Conflict(format!(
            "network with name {name} already exists"
        )));
    }
    let driver = req
        .driver
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "bridge".into());
    match driver.as_str() {
        "bridge" => {}
        "host" | "null" => {
            return Err(EngineError::Invalid(format!("only one instance of \"{driver}\" network is allowed")))
        }
        "overlay" => {
            return Err(EngineError::NotImplemented(
                "overlay networks need a cluster store: start berthd with --cluster-store (not implemented by berth yet)".into(),
            ))
        }
        other => return Err(EngineError::NotFound(format!("plugin \"{other}\" not found"))),
    }
    let options = req.options.clone().unwrap_or_default();
    validate_options(&options)?;
    let bridge = match options.get(OPT_BRIDGE_NAME) {
        Some(b) => b.clone(),
        None => format!("br-{}", &id[..12]),
    };
    if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ', '"']) {
        return Err(invalid(format!(
            "invalid bridge name {bridge:?}: must be 1-15 characters without '/', ' ' or '\"'"
        )));
    }
    if let Some(other) = taken.networks.iter().find(|n| n.bridge == bridge) {
        return Err(EngineError::Conflict(format!(
            "bridge name {bridge} is already used by network {}",
            other.name
        )));
    }
    let enable_ipv6 = req.enable_ipv6.unwrap_or(false);
    let mut subnets = Vec::new();
    for c in req
        .ipam
        .as_ref()
        .and_then(|i| i.config.clone())
        .unwrap_or_default()
    {
        subnets.push(subnet_from(&c)?);
    }
    if subnets.iter().any(|s| s.subnet.addr().is_ipv6()) && !enable_ipv6 {
        return Err(invalid("an IPv6 subnet was given without --ipv6".into()));
    }
    for (i, s) in subnets.iter().enumerate() {
        if subnets[..i].iter().any(|o| overlaps(&o.subnet, &s.subnet)) {
            return Err(invalid(format!(
                "subnet {} overlaps another subnet of this request",
                s.subnet
            )));
        }
        if let Some(o) = taken
            .networks
            .iter()
            .find(|n| n.subnets.iter().any(|x| overlaps(&x.subnet, &s.subnet)))
        {
            return Err(EngineError::Conflict(format!(
                "invalid pool request: subnet {} overlaps with network {} ({})",
                s.subnet,
                o.name,
                o.subnets
                    .iter()
                    .map(|x| x.subnet.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut used: Vec<IpNet> = taken
        .networks
        .iter()
        .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
        .collect();
    used.extend(taken.host_routes.iter().copied());
    if !subnets.iter().any(|s| s.subnet.addr().is_ipv4()) {
        let s = pick_subnet(pools, &used).map_err(|e| EngineError::Conflict(e.to_string()))?;
        subnets.insert(
            0,
            Subnet {
                subnet: s,
                gateway: None,
                ip_range: None,
                aux: BTreeMap::new(),
            },
        );
    }
    if enable_ipv6 && !subnets.iter().any(|s| s.subnet.addr().is_ipv6()) {
        subnets.push(Subnet {
            subnet: ula_for(id),
            gateway: None,
            ip_range: None,
            aux: BTreeMap::new(),
        });
    }
    for s in &mut subnets {
        if s.gateway.is_none() {
            s.gateway = Some(first_host(&s.subnet));
        }
    }
    Ok(NetworkRec {
        id: id.to_string(),
        name: name.to_string(),
        driver,
        created: crate::ids::now(),
        builtin: false,
        internal: req.internal.unwrap_or(false),
        attachable: req.attachable.unwrap_or(false),
        enable_ipv6,
        options,
        labels: req.labels.clone().unwrap_or_default(),
        subnets,
        bridge,
    })
}

fn validate_options(options: &std::collections::HashMap<String, String>) -> Result<()> {
    for (k, v) in options {
        match k.as_str() {
            OPT_ICC | OPT_MASQ if !matches!(v.as_str(), "true" | "false" | "1" | "0") => {
                return Err(invalid(format!(
                    "invalid value {v:?} for option {k}: expected true or false"
                )));
            }
            OPT_MTU => match v.parse::<u32>() {
                Ok(m) if (68..=65535).contains(&m) => {}
                _ => {
                    return Err(invalid(format!(
                        "invalid value {v:?} for option {k}: expected an MTU between 68 and 65535"
                    )))
                }
            },
            OPT_GW_MODE4 | OPT_GW_MODE6 => match v.as_str() {
                m if GW_MODES.contains(&m) => {}
                "routed" | "isolated" => {
                    return Err(invalid(format!(
                        "option {k}={v} is not supported by berth: use nat or nat-unprotected"
                    )))
                }
                _ => {
                    return Err(invalid(format!(
                        "invalid value {v:?} for option {k}: expected nat or nat-unprotected"
                    )))
                }
            },
            OPT_HOST_BINDING if v.parse::<std::net::Ipv4Addr>().is_err() => {
                return Err(invalid(format!(
                    "invalid value {v:?} for option {k}: expected an IPv4 address"
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_net(s: &str, what: &str) -> Result<IpNet> {
    let n: IpNet = s.parse().map_err(|_| {
        invalid(format!(
            "invalid {what} {s:?}: not a CIDR address such as 10.1.0.0/24"
        ))
    })?;
    if n.trunc() != n {
        return Err(invalid(format!(
            "invalid {what} {s}: it should be {}",
            n.trunc()
        )));
    }
    Ok(n)
}

fn subnet_from(c: &bollard_stubs::models::IpamConfig) -> Result<Subnet> {
    let subnet = match c.subnet.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_net(s, "subnet")?,
        None => return Err(invalid("an IPAM configuration needs a subnet".into())),
    };
    let inside = |a: IpAddr, what: &str| {
        if subnet.contains(&a) {
            Ok(a)
        } else {
            Err(invalid(format!("{what} {a} is not in subnet {subnet}")))
        }
    };
    let gateway = match c.gateway.as_deref().filter(|s| !s.is_empty()) {
        Some(g) => Some(inside(
            g.parse()
                .map_err(|_| invalid(format!("invalid gateway address {g:?}")))?,
            "gateway",
        )?),
        None => None,
    };
    let ip_range = match c.ip_range.as_deref().filter(|s| !s.is_empty()) {
        Some(r) => {
            let r = parse_net(r, "ip-range")?;
            if !subnet.contains(&r) {
                return Err(invalid(format!("ip-range {r} is not in subnet {subnet}")));
            }
            Some(r)
        }
        None => None,
    };
    let mut aux = BTreeMap::new();
    for (k, v) in c.auxiliary_addresses.clone().unwrap_or_default() {
        let a = v
            .parse()
            .map_err(|_| invalid(format!("invalid aux-address {k}={v:?}")))?;
        aux.insert(k.clone(), inside(a, &format!("aux-address {k}"))?);
    }
    Ok(Subnet {
        subnet,
        gateway,
        ip_range,
        aux,
    })
}

fn first_host(n: &IpNet) -> IpAddr {
    match n {
        IpNet::V4(v) => IpAddr::V4((u32::from(v.network()) + 1).into()),
        IpNet::V6(v) => IpAddr::V6((u128::from(v.network()) + 1).into()),
    }
}

/// A unique-local /64 derived from the network id (for `--ipv6` without a subnet).
fn ula_for(id: &str) -> IpNet {
    let b = hex::decode(&id[..10]).unwrap_or_else(|_| vec![0; 5]);
    let addr = std::net::Ipv6Addr::new(
        0xfd00 | b[0] as u16,
        (b[1] as u16) << 8 | b[2] as u16,
        (b[3] as u16) << 8 | b[4] as u16,
        0,
        0,
        0,
        0,
        0,
    );
    IpNet::new(IpAddr::V6(addr), 64).expect("/64 is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{Ipam, IpamConfig};

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn req(name: &str, subnet: Option<&str>, gw: Option<&str>) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.into(),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: subnet.map(Into::into),
                    gateway: gw.map(Into::into),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn taken<'a>(nets: &'a [NetworkRec], routes: &'a [IpNet]) -> Taken<'a> {
        Taken {
            networks: nets,
            host_routes: routes,
        }
    }

    #[test]
    fn explicit_subnet_and_default_gateway() {
        let n = build(
            &req("a", Some("10.5.0.0/24"), None),
            ID,
            &taken(&[], &[]),
            &super::super::ipam::default_pools(),
        )
        .unwrap();
        assert_eq!(n.subnets[0].gateway, Some("10.5.0.1".parse().unwrap()));
        assert_eq!(n.bridge, "br-0123456789ab");
    }

    #[test]
    fn bad_inputs_name_the_value() {
        let p = super::super::ipam::default_pools();
        let e = build(
            &req("a", Some("10.5.0.0/33"), None),
            ID,
            &taken(&[], &[]),
            &p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("10.5.0.0/33"), "{e}");
        let e = build(
            &req("a", Some("10.5.0.0/24"), Some("10.6.0.1")),
            ID,
            &taken(&[], &[]),
            &p,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("gateway 10.6.0.1 is not in subnet 10.5.0.0/24"),
            "{e}"
        );
        let e = build(
            &req("a", Some("10.5.0.7/24"), None),
            ID,
            &taken(&[], &[]),
            &p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("it should be 10.5.0.0/24"), "{e}");
        let e = build(&req("-x", None, None), ID, &taken(&[], &[]), &p).unwrap_err();
        assert!(e.to_string().contains("-x"));
    }

    #[test]
    fn overlap_and_duplicate_name_refused() {
        let p = super::super::ipam::default_pools();
        let a = build(
            &req("a", Some("10.5.0.0/16"), None),
            ID,
            &taken(&[], &[]),
            &p,
        )
        .unwrap();
        let id2 = "f".repeat(64);
        let e = build(
            &req("b", Some("10.5.3.0/24"), None),
            &id2,
            &taken(std::slice::from_ref(&a), &[]),
            &p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("overlaps with network a"), "{e}");
        let e = build(
            &req("a", None, None),
            &id2,
            &taken(std::slice::from_ref(&a), &[]),
            &p,
        )
        .unwrap_err();
        assert!(e.to_string().contains("already exists"));
    }

    #[test]
    fn automatic_subnet_avoids_host_routes() {
        let p = super::super::ipam::default_pools();
        let routes: Vec<IpNet> = vec!["172.17.0.0/16".parse().unwrap()];
        let n = build(&req("a", None, None), ID, &taken(&[], &routes), &p);
        // a request without subnet has an IpamConfig without subnet: refused; without config it picks.
        assert!(n.is_err());
        let r = NetworkCreateRequest {
            name: "a".into(),
            ..Default::default()
        };
        let n = build(&r, ID, &taken(&[], &routes), &p).unwrap();
        assert_eq!(n.subnets[0].subnet.to_string(), "172.18.0.0/16");
    }

    #[test]
    fn ipv6_gets_a_ula_subnet() {
        let r = NetworkCreateRequest {
            name: "a".into(),
            enable_ipv6: Some(true),
            ..Default::default()
        };
        let n = build(
            &r,
            ID,
            &taken(&[], &[]),
            &super::super::ipam::default_pools(),
        )
        .unwrap();
        assert_eq!(n.subnets.len(), 2);
        assert!(n.subnets[1].subnet.addr().is_ipv6());
        assert!(
            n.subnets[1]
                .subnet
                .to_string()
                .starts_with("fd01:2345:6789::"),
            "{}",
            n.subnets[1].subnet
        );
    }
}
