//! Attaching containers to bridge networks and detaching them: address allocation, the veth
//! pair, and the endpoint record. An attach is all-or-nothing.

use super::dataplane::Attachment;
use super::{EndpointRec, NetworkRec};
use crate::container::Container;
use crate::error::{EngineError, Result};
use crate::store::Kind;
use crate::Engine;
use bollard_stubs::models::EndpointSettings;
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::Path;

/// The MAC Docker derives from an IPv4 address: 02:42 followed by the address's bytes.
pub fn mac_for(ip: Option<IpAddr>, id: &str) -> [u8; 6] {
    match ip {
        Some(IpAddr::V4(v4)) => {
            let o = v4.octets();
            [0x02, 0x42, o[0], o[1], o[2], o[3]]
        }
        _ => {
            let b = hex::decode(&id[..8]).unwrap_or_else(|_| vec![0; 4]);
            [0x02, 0x42, b[0], b[1], b[2], b[3]]
        }
    }
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    <[u8; 6]>::try_from(parts).ok()
}

pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// How an endpoint is wired: its veth pair into `netns`, addresses, default routes (none on
/// internal networks).
pub(crate) fn attachment(net: &NetworkRec, ep: &EndpointRec, netns: &Path) -> Attachment {
    let gw = |v4: bool| {
        net.subnets
            .iter()
            .filter_map(|s| s.gateway)
            .find(|g| g.is_ipv4() == v4)
    };
    let has = |v4: bool| ep.addrs.iter().any(|a| a.addr().is_ipv4() == v4);
    let route = |v4: bool| {
        if net.internal || !has(v4) {
            None
        } else {
            gw(v4)
        }
    };
    Attachment {
        netns: netns.to_path_buf(),
        host_if: ep.host_if.clone(),
        bridge: net.bridge.clone(),
        ifname: ep.ifname.clone(),
        mac: parse_mac(&ep.mac).unwrap_or_default(),
        mtu: net.mtu(),
        addrs: ep.addrs.clone(),
        gw4: route(true).and_then(|g| if let IpAddr::V4(v) = g { Some(v) } else { None }),
        gw6: route(false).and_then(|g| if let IpAddr::V6(v) = g { Some(v) } else { None }),
    }
}

/// Addresses asked for in the endpoint settings (`--ip`, `--ip6`).
fn requested(settings: &EndpointSettings) -> Result<Vec<IpAddr>> {
    let ipam = settings.ipam_config.clone().unwrap_or_default();
    let mut out = Vec::new();
    for (what, v) in [("--ip", ipam.ipv4_address), ("--ip6", ipam.ipv6_address)] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            out.push(
                v.parse()
                    .map_err(|_| EngineError::Invalid(format!("invalid {what} address {v:?}")))?,
            );
        }
    }
    Ok(out)
}

/// Checks endpoint settings against the network before anything is created.
pub fn validate(net: &NetworkRec, settings: &EndpointSettings) -> Result<()> {
    let wanted = requested(settings)?;
    if !wanted.is_empty() && (net.is_default_bridge() || net.subnets.is_empty()) {
        return Err(EngineError::Invalid(format!(
            "user specified IP address is supported only when connecting to networks with user configured subnets (network {})",
            net.name
        )));
    }
    for a in wanted {
        if !net.subnets.iter().any(|s| s.subnet.contains(&a)) {
            return Err(EngineError::Invalid(format!(
                "address {a} does not belong to any subnet of network {}",
                net.name
            )));
        }
    }
    if let Some(m) = settings.mac_address.as_deref().filter(|m| !m.is_empty()) {
        if parse_mac(m).is_none() {
            return Err(EngineError::Invalid(format!("invalid MAC address {m:?}")));
        }
    }
    Ok(())
}

impl Engine {
    /// Allocates addresses for `c` on `net` and records the endpoint (nothing in the kernel yet).
    fn allocate_endpoint(
        &self,
        c: &Container,
        net: &NetworkRec,
        settings: &EndpointSettings,
        ifname: &str,
    ) -> Result<EndpointRec> {
        let wanted = requested(settings)?;
        let mut inner = self.networks.lock();
        let subnets = inner
            .alloc
            .get_mut(&net.id)
            .ok_or_else(|| EngineError::NotFound(format!("network {} not found", net.name)))?;
        let mut got: Vec<(usize, IpAddr)> = Vec::new();
        let mut fail = None;
        for (i, s) in subnets.iter_mut().enumerate() {
            let want = wanted.iter().find(|a| s.contains(**a));
            let r = match want {
                Some(a) => s.reserve(*a, &net.name).map(|_| *a),
                None if s.subnet.addr().is_ipv6() && !net.enable_ipv6 => continue,
                None => s.allocate(&net.name),
            };
            match r {
                Ok(a) => got.push((i, a)),
                Err(e) => {
                    fail = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = fail {
            for (i, a) in got {
                subnets[i].release(a);
            }
            return Err(EngineError::Conflict(e.to_string()));
        }
        let addrs: Vec<IpNet> = got
            .iter()
            .map(|(i, a)| {
                IpNet::new(*a, subnets[*i].subnet.prefix_len()).expect("prefix from subnet")
            })
            .collect();
        let endpoint_id = crate::ids::new_id();
        let v4 = addrs.iter().map(|a| a.addr()).find(IpAddr::is_ipv4);
        let mac = settings
            .mac_address
            .as_deref()
            .and_then(parse_mac)
            .unwrap_or_else(|| mac_for(v4, &endpoint_id));
        let ep = EndpointRec {
            network_id: net.id.clone(),
            container_id: c.id.clone(),
            host_if: format!("veth{}", &endpoint_id[..7]),
            endpoint_id,
            ifname: ifname.to_string(),
            mac: format_mac(&mac),
            addrs,
            aliases: settings.aliases.clone().unwrap_or_default(),
        };
        if let Err(e) = self.store.put(Kind::Endpoints, &ep.key(), &ep) {
            let subnets = inner.alloc.get_mut(&net.id).expect("checked above");
            for a in &ep.addrs {
                subnets.iter_mut().for_each(|s| {
                    if s.contains(a.addr()) {
                        s.release(a.addr())
                    }
                });
            }
            return Err(e.into());
        }
        inner.endpoints.push(ep.clone());
        Ok(ep)
    }

    /// An overlay endpoint: the address must also be claimed cluster-wide; an address another
    /// host holds is marked taken here and the next one tried. (Published once attached.)
    async fn allocate_overlay_endpoint(
        &self,
        c: &Container,
        net: &NetworkRec,
        settings: &EndpointSettings,
        ifname: &str,
    ) -> Result<EndpointRec> {
        for _ in 0..64 {
            let ep = self.allocate_endpoint(c, net, settings, ifname)?;
            match self.overlay_claim(net, &ep).await {
                Ok(true) => return Ok(ep),
                Ok(false) => {
                    let _ = self.release_endpoint(&ep);
                    let mut inner = self.networks.lock();
                    if let Some(subnets) = inner.alloc.get_mut(&net.id) {
                        for a in &ep.addrs {
                            subnets
                                .iter_mut()
                                .filter(|s| s.contains(a.addr()))
                                .for_each(|s| {
                                    let _ = s.reserve(a.addr(), &net.name);
                                });
                        }
                    }
                    if let Some(w) = requested(settings)?
                        .into_iter()
                        .find(|w| ep.addrs.iter().any(|a| a.addr() == *w))
                    {
                        return Err(EngineError::Conflict(format!(
                            "address {w} is already in use on network {}",
                            net.name
                        )));
                    }
                }
                Err(e) => {
                    let _ = self.release_endpoint(&ep);
                    return Err(e);
                }
            }
        }
        Err(EngineError::Conflict(format!(
            "no available addresses on network {}",
            net.name
        )))
    }

    /// Forgets an endpoint: releases its addresses and deletes its record.
    fn release_endpoint(&self, ep: &EndpointRec) -> Result<()> {
        let mut inner = self.networks.lock();
        if let Some(subnets) = inner.alloc.get_mut(&ep.network_id) {
            for a in &ep.addrs {
                subnets.iter_mut().for_each(|s| {
                    if s.contains(a.addr()) {
                        s.release(a.addr())
                    }
                });
            }
        }
        inner.endpoints.retain(|e| e.endpoint_id != ep.endpoint_id);
        inner.leaving.remove(&ep.endpoint_id);
        self.store
            .delete(Kind::Endpoints, &ep.key())
            .map_err(Into::into)
    }

    /// Attaches a running sandbox to one network as `ifname`. All or nothing.
    pub(crate) async fn attach_one(
        &self,
        c: &Container,
        netns: &Path,
        net: &NetworkRec,
        settings: &EndpointSettings,
        ifname: &str,
    ) -> Result<EndpointRec> {
        if !net.is_bridge() {
            return Err(EngineError::Invalid(format!(
                "network {} ({}) cannot be attached to",
                net.name, net.driver
            )));
        }
        let mut phases = crate::timing::Phases::new("attach");
        let ep = if net.is_overlay() {
            self.allocate_overlay_endpoint(c, net, settings, ifname)
                .await?
        } else {
            self.allocate_endpoint(c, net, settings, ifname)?
        };
        phases.mark("allocate");
        let a = attachment(net, &ep, netns);
        crate::crash::point("attach");
        let attached = self.dataplane.attach(&a).await;
        crate::crash::point("attach");
        phases.mark("kernel");
        phases.done(&ep.endpoint_id);
        if let Err(e) = attached {
            if net.is_overlay() {
                self.overlay_withdraw(&ep).await;
            }
            let _ = self.release_endpoint(&ep);
            return Err(EngineError::Internal(format!(
                "attach to network {}: {e}",
                net.name
            )));
        }
        if net.is_overlay() {
            if let Err(e) = self.overlay_publish(c, net, &ep).await {
                self.detach_endpoints(std::slice::from_ref(&ep)).await;
                return Err(e);
            }
        }
        Ok(ep)
    }

    /// Attaches a container's sandbox to all its networks (in order, eth0 first).
    pub(crate) async fn attach_all(&self, c: &Container, netns: &Path) -> Result<Vec<EndpointRec>> {
        let mut done = Vec::new();
        // The network of NetworkMode is eth0, the others follow.
        let primary = self
            .networks
            .resolve(c.network_mode())
            .map(|n| n.name)
            .unwrap_or_default();
        let mut order: Vec<_> = c.endpoints.iter().collect();
        order.sort_by_key(|(name, _)| **name != primary);
        for (i, (name, settings)) in order.into_iter().enumerate() {
            let r = match self.networks.resolve(name) {
                Ok(net) => {
                    self.attach_one(c, netns, &net, settings, &format!("eth{i}"))
                        .await
                }
                Err(e) => Err(e),
            };
            match r {
                Ok(ep) => done.push(ep),
                Err(e) => {
                    self.detach_endpoints(&done).await;
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Removes endpoints: veth, addresses, records. Best effort; every error is logged.
    pub(crate) async fn detach_endpoints(&self, eps: &[EndpointRec]) -> Vec<String> {
        let mut errors = Vec::new();
        for ep in eps {
            self.overlay_withdraw(ep).await;
            // Our own deletion: the link guard must not "repair" it.
            self.own_deletions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(ep.host_if.clone());
            if let Err(e) = self.dataplane.remove_link(&ep.host_if).await {
                errors.push(format!("remove {}: {e}", ep.host_if));
            }
            if let Err(e) = self.release_endpoint(ep) {
                errors.push(e.to_string());
            }
        }
        for e in &errors {
            tracing::warn!("detach: {e}");
        }
        errors
    }

    pub(crate) async fn detach_container(&self, id: &str) -> Vec<String> {
        let eps = self.networks.endpoints_of(id);
        self.detach_endpoints(&eps).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_from_ipv4_like_docker() {
        assert_eq!(
            format_mac(&mac_for(Some("172.17.0.2".parse().unwrap()), "ab")),
            "02:42:ac:11:00:02"
        );
        assert_eq!(
            parse_mac("02:42:AC:11:00:02"),
            Some([2, 0x42, 0xac, 0x11, 0, 2])
        );
        assert_eq!(parse_mac("02:42:ac"), None);
        assert_eq!(parse_mac("zz:42:ac:11:00:02"), None);
    }
}
