//! `network ls|create|rm|prune|connect|disconnect` (`inspect` lives in
//! `cmd::inspect`).

use super::{report, status};
use crate::args::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkLsArgs, NetworkRmArgs,
    PruneArgs,
};
use crate::client::Client;
use crate::error::{is_not_found, StatusError};
use crate::opts::{self, parse_filters, Cidr, OptError};
use crate::output::{self, out, outln, Format};
use crate::template::object;
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, Network, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{ListNetworksOptions, PruneNetworksOptions};
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;

pub const NETWORK_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

pub fn network_header() -> Value {
    object(
        [
            ("ID", "NETWORK ID"),
            ("Name", "NAME"),
            ("Driver", "DRIVER"),
            ("Scope", "SCOPE"),
            ("IPv4", "IPV4"),
            ("IPv6", "IPV6"),
            ("Internal", "INTERNAL"),
            ("Labels", "LABELS"),
            ("CreatedAt", "CREATED"),
        ]
        .map(|(k, v)| (k, Value::String(v.to_string()))),
    )
}

/// The `network ls` format context of one network.
pub fn network_row(n: &Network, trunc: bool) -> Value {
    let id = n.id.clone().unwrap_or_default();
    let id = if trunc { output::short_id(&id) } else { id };
    let mut labels: Vec<String> = n
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let created = n
        .created
        .as_deref()
        .and_then(output::parse_rfc3339)
        .map(output::go_time_string)
        .unwrap_or_default();
    object([
        ("ID", Value::String(id)),
        ("Name", Value::String(n.name.clone().unwrap_or_default())),
        (
            "Driver",
            Value::String(n.driver.clone().unwrap_or_default()),
        ),
        ("Scope", Value::String(n.scope.clone().unwrap_or_default())),
        (
            "IPv4",
            Value::String(n.enable_ipv4.unwrap_or(true).to_string()),
        ),
        (
            "IPv6",
            Value::String(n.enable_ipv6.unwrap_or(false).to_string()),
        ),
        (
            "Internal",
            Value::String(n.internal.unwrap_or(false).to_string()),
        ),
        ("Labels", Value::String(labels.join(","))),
        ("CreatedAt", Value::String(created)),
    ])
}

pub async fn ls(c: &Client, a: &NetworkLsArgs) -> anyhow::Result<i32> {
    let filters = parse_filters(&a.filter)?;
    let mut list = c
        .docker
        .list_networks(Some(ListNetworksOptions {
            filters: (!filters.is_empty()).then(|| filters.clone()),
        }))
        .await?;
    list.retain(|n| crate::filter::keep_network(&filters, n));
    list.sort_by(|x, y| {
        output::natural_cmp(
            x.name.as_deref().unwrap_or(""),
            y.name.as_deref().unwrap_or(""),
        )
    });
    let rows: Vec<Value> = list.iter().map(|n| network_row(n, !a.no_trunc)).collect();
    let format = if a.quiet {
        Format::Raw("{{.ID}}".to_string())
    } else {
        Format::from_user(a.format.as_deref(), NETWORK_TABLE)
    };
    out(&output::render_list(&format, &network_header(), &rows)?);
    Ok(0)
}

fn ip_in(subnet: &str, data: &str) -> Result<bool, String> {
    let s = Cidr::parse(subnet).map_err(|e| format!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        Cidr::parse(data)?.addr
    } else {
        match data.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(false),
        }
    };
    Ok(s.contains(ip))
}

/// docker/cli `createIPAMConfig`: pairs gateways, ranges and aux addresses
/// with the subnet containing them.
pub fn ipam_config(a: &NetworkCreateArgs) -> Result<Ipam, String> {
    if a.subnet.len() < a.ip_range.len() || a.subnet.len() < a.gateway.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".to_string());
    }
    let mut configs: Vec<IpamConfig> = Vec::new();
    for s in &a.subnet {
        Cidr::parse(s)?;
        for existing in &configs {
            let k = existing.subnet.as_deref().unwrap_or("");
            if ip_in(s, k)? || ip_in(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        configs.push(IpamConfig {
            subnet: Some(s.clone()),
            ..Default::default()
        });
    }
    for r in &a.ip_range {
        Cidr::parse(r)?;
        let mut matched = false;
        for cfg in configs.iter_mut() {
            let s = cfg.subnet.clone().unwrap_or_default();
            if !ip_in(&s, r)? {
                continue;
            }
            if let Some(existing) = &cfg.ip_range {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {existing}) on the same subnet ({s})"
                ));
            }
            cfg.ip_range = Some(r.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in &a.gateway {
        let mut matched = false;
        for cfg in configs.iter_mut() {
            let s = cfg.subnet.clone().unwrap_or_default();
            if !ip_in(&s, g)? {
                continue;
            }
            if let Some(existing) = &cfg.gateway {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {existing}) for the same subnet ({s})"
                ));
            }
            cfg.gateway = Some(g.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    for aux in &a.aux_address {
        let (key, ip) = opts::parse_kv(aux)?;
        let mut matched = false;
        for cfg in configs.iter_mut() {
            let s = cfg.subnet.clone().unwrap_or_default();
            if !ip_in(&s, &ip)? {
                continue;
            }
            cfg.auxiliary_addresses
                .get_or_insert_with(HashMap::new)
                .insert(key.clone(), ip.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {ip}"));
        }
    }
    let mut ipam_opts = HashMap::new();
    for o in &a.ipam_opt {
        let (k, v) = opts::parse_kv(o)?;
        ipam_opts.insert(k, v);
    }
    Ok(Ipam {
        driver: Some(
            a.ipam_driver
                .clone()
                .unwrap_or_else(|| "default".to_string()),
        ),
        config: Some(configs),
        options: (!ipam_opts.is_empty()).then_some(ipam_opts),
    })
}

/// Validates the flags and builds the create request.
pub fn create_request(a: &NetworkCreateArgs) -> Result<NetworkCreateRequest, String> {
    if a.name.is_empty() {
        return Err("network name cannot be empty".to_string());
    }
    let ipam = ipam_config(a)?;
    let mut options = HashMap::new();
    for o in &a.opt {
        let (k, v) =
            opts::parse_opt(o).map_err(|e| OptError::new("-o, --opt", o, e).to_string())?;
        options.insert(k, v);
    }
    let mut labels = HashMap::new();
    for l in &a.label {
        let (k, v) =
            opts::parse_label(l).map_err(|e| OptError::new("--label", l, e).to_string())?;
        labels.insert(k, v);
    }
    Ok(NetworkCreateRequest {
        name: a.name.clone(),
        driver: Some(a.driver.clone()),
        scope: a.scope.clone(),
        internal: Some(a.internal),
        attachable: Some(a.attachable),
        ipam: Some(ipam),
        enable_ipv4: a.ipv4,
        enable_ipv6: a.ipv6,
        options: Some(options),
        labels: Some(labels),
        ..Default::default()
    })
}

pub async fn create(c: &Client, a: &NetworkCreateArgs) -> anyhow::Result<i32> {
    let req = create_request(a).map_err(|e| StatusError::new(1, e))?;
    let r = c.docker.create_network(req).await?;
    if !r.warning.is_empty() {
        eprintln!("WARNING: {}", r.warning);
    }
    outln(&r.id);
    Ok(0)
}

pub async fn rm(c: &Client, a: &NetworkRmArgs) -> anyhow::Result<i32> {
    let mut failed = false;
    for n in &a.networks {
        match c.docker.remove_network(n).await {
            Ok(()) => outln(n),
            Err(e) if a.force && is_not_found(&e) => {}
            Err(e) => report(&mut failed, &e),
        }
    }
    Ok(status(failed))
}

pub async fn prune(c: &Client, a: &PruneArgs) -> anyhow::Result<i32> {
    let filters = parse_filters(&a.filter)?;
    if !a.force
        && !super::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?",
        )
    {
        return Ok(0);
    }
    let r = c
        .docker
        .prune_networks(Some(PruneNetworksOptions {
            filters: (!filters.is_empty()).then_some(filters),
        }))
        .await?;
    let deleted = r.networks_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        let mut s = String::from("Deleted Networks:\n");
        for n in deleted {
            s.push_str(&n);
            s.push('\n');
        }
        outln(&s);
    }
    Ok(0)
}

/// Validates the flags and builds the connect request.
pub fn connect_request(a: &NetworkConnectArgs) -> Result<NetworkConnectRequest, OptError> {
    let ipv4 =
        a.ip.as_ref()
            .map(|ip| opts::parse_ipv4(ip).map_err(|e| OptError::new("--ip", ip, e)))
            .transpose()?;
    let ipv6 = a
        .ip6
        .as_ref()
        .map(|ip| opts::parse_ipv6(ip).map_err(|e| OptError::new("--ip6", ip, e)))
        .transpose()?;
    let mut link_local = Vec::new();
    for ip in &a.link_local_ip {
        link_local.push(opts::parse_ip(ip).map_err(|e| OptError::new("--link-local-ip", ip, e))?);
    }
    let mut links = Vec::new();
    for l in &a.link {
        links.push(
            opts::parse_link(l)
                .map_err(|_| OptError::new("--link", l, format!("bad format for links: {l}")))?,
        );
    }
    let mut driver_opts = HashMap::new();
    for o in &a.driver_opt {
        let (k, v) = opts::parse_kv(o).map_err(|e| OptError::new("--driver-opt", o, e))?;
        driver_opts.insert(k, v);
    }
    let ipam =
        (ipv4.is_some() || ipv6.is_some() || !link_local.is_empty()).then(|| EndpointIpamConfig {
            ipv4_address: ipv4,
            ipv6_address: ipv6,
            link_local_ips: (!link_local.is_empty()).then_some(link_local),
        });
    Ok(NetworkConnectRequest {
        container: a.container.clone(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: ipam,
            links: (!links.is_empty()).then_some(links),
            aliases: (!a.alias.is_empty()).then(|| a.alias.clone()),
            driver_opts: (!driver_opts.is_empty()).then_some(driver_opts),
            gw_priority: a.gw_priority,
            ..Default::default()
        }),
    })
}

pub async fn connect(c: &Client, a: &NetworkConnectArgs) -> anyhow::Result<i32> {
    let req = connect_request(a).map_err(|e| StatusError::new(1, e.to_string()))?;
    c.docker.connect_network(&a.network, req).await?;
    Ok(0)
}

pub async fn disconnect(c: &Client, a: &NetworkDisconnectArgs) -> anyhow::Result<i32> {
    c.docker
        .disconnect_network(
            &a.network,
            NetworkDisconnectRequest {
                container: a.container.clone(),
                force: Some(a.force),
            },
        )
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create_args(
        subnets: &[&str],
        gateways: &[&str],
        ranges: &[&str],
        aux: &[&str],
    ) -> NetworkCreateArgs {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        NetworkCreateArgs {
            driver: "bridge".into(),
            subnet: v(subnets),
            gateway: v(gateways),
            ip_range: v(ranges),
            aux_address: v(aux),
            name: "n1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn ipam_pairs_with_subnets() {
        let a = create_args(
            &["10.1.0.0/16", "fd00:1::/64"],
            &["fd00:1::1", "10.1.0.1"],
            &["10.1.5.0/24"],
            &["router=10.1.0.2"],
        );
        let ipam = ipam_config(&a).unwrap();
        let cfg = ipam.config.unwrap();
        assert_eq!(cfg.len(), 2);
        assert_eq!(cfg[0].subnet.as_deref(), Some("10.1.0.0/16"));
        assert_eq!(cfg[0].gateway.as_deref(), Some("10.1.0.1"));
        assert_eq!(cfg[0].ip_range.as_deref(), Some("10.1.5.0/24"));
        assert_eq!(
            cfg[0]
                .auxiliary_addresses
                .as_ref()
                .and_then(|m| m.get("router"))
                .map(String::as_str),
            Some("10.1.0.2")
        );
        assert_eq!(cfg[1].gateway.as_deref(), Some("fd00:1::1"));
        assert_eq!(ipam.driver.as_deref(), Some("default"));
    }

    #[test]
    fn ipam_errors_match_docker() {
        let e = |s: &[&str], g: &[&str], r: &[&str]| {
            ipam_config(&create_args(s, g, r, &[])).unwrap_err()
        };
        assert_eq!(
            e(&[], &["1.2.3.4"], &[]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            e(&["10.0.0.0/8"], &["1.2.3.4"], &[]),
            "no matching subnet for gateway 1.2.3.4"
        );
        assert_eq!(
            e(&["10.0.0.0/8", "10.1.0.0/16"], &[], &[]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(e(&["10.0.0/8"], &[], &[]), "invalid CIDR address: 10.0.0/8");
        assert_eq!(
            e(&["10.0.0.0/8"], &[], &["11.0.0.0/24"]),
            "no matching subnet for range 11.0.0.0/24"
        );
    }

    #[test]
    fn create_request_fields() {
        let mut a = create_args(&["10.1.0.0/16"], &[], &[], &[]);
        a.internal = true;
        a.ipv6 = Some(true);
        a.opt = vec!["com.docker.network.driver.mtu=1400".into()];
        a.label = vec!["team=net".into()];
        let r = create_request(&a).unwrap();
        assert_eq!(r.name, "n1");
        assert_eq!(r.driver.as_deref(), Some("bridge"));
        assert_eq!(r.internal, Some(true));
        assert_eq!(r.enable_ipv6, Some(true));
        assert_eq!(r.enable_ipv4, None);
        assert_eq!(
            r.options
                .unwrap()
                .get("com.docker.network.driver.mtu")
                .map(String::as_str),
            Some("1400")
        );
        // A bare key has an empty value, as in Docker (`-o encrypted`).
        a.opt = vec!["encrypted".into()];
        let r = create_request(&a).unwrap();
        assert_eq!(
            r.options.unwrap().get("encrypted").map(String::as_str),
            Some("")
        );
        a.opt = vec!["=x".into()];
        assert!(create_request(&a).unwrap_err().contains("\"=x\""));
    }

    #[test]
    fn network_ls_table() {
        let nets = [
            Network {
                id: Some("9a8b7c6d5e4f00000000".into()),
                name: Some("host".into()),
                driver: Some("host".into()),
                scope: Some("local".into()),
                ..Default::default()
            },
            Network {
                id: Some("1c2f3e4d5a6b00000000".into()),
                name: Some("bridge".into()),
                driver: Some("bridge".into()),
                scope: Some("local".into()),
                ..Default::default()
            },
        ];
        let rows: Vec<Value> = nets.iter().map(|n| network_row(n, true)).collect();
        let f = Format::from_user(None, NETWORK_TABLE);
        let text = output::render_list(&f, &network_header(), &rows).unwrap();
        assert_eq!(
            text,
            "NETWORK ID     NAME      DRIVER    SCOPE\n\
             9a8b7c6d5e4f   host      host      local\n\
             1c2f3e4d5a6b   bridge    bridge    local\n"
        );
        let f = Format::from_user(Some("{{.Name}} {{.Driver}}"), NETWORK_TABLE);
        assert_eq!(
            output::render_list(&f, &network_header(), &rows).unwrap(),
            "host host\nbridge bridge\n"
        );
    }

    #[test]
    fn connect_request_fields() {
        let a = NetworkConnectArgs {
            ip: Some("10.1.0.9".into()),
            ip6: None,
            alias: vec!["db".into()],
            link: vec![],
            link_local_ip: vec![],
            driver_opt: vec![],
            gw_priority: None,
            network: "n1".into(),
            container: "c1".into(),
        };
        let r = connect_request(&a).unwrap();
        assert_eq!(r.container, "c1");
        let ep = r.endpoint_config.unwrap();
        assert_eq!(ep.aliases, Some(vec!["db".to_string()]));
        assert_eq!(
            ep.ipam_config.and_then(|i| i.ipv4_address).as_deref(),
            Some("10.1.0.9")
        );
        let bad = NetworkConnectArgs {
            ip: Some("::1".into()),
            ..a
        };
        assert_eq!(connect_request(&bad).unwrap_err().value, "::1");
    }
}
