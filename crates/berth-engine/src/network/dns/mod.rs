//! What the embedded DNS server may answer: an index updated one container at a time (see
//! `index`), so a query is a couple of hash lookups and never waits for the engine's locks,
//! and an update costs the same with 10 or 1000 containers.
//!
//! Scoping follows Docker: a container sees names of containers that share a user-defined
//! network with it (never across networks, never on the default bridge); names are the
//! container name, its 12-character id, its hostname and its network aliases; a legacy link
//! on a user-defined network is an alias only the linking container sees.

pub mod index;

use crate::Engine;
use index::{ContainerDns, DnsIndex, NetEntry};
use std::net::{IpAddr, SocketAddr};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Default)]
pub struct EngineRecords {
    index: RwLock<DnsIndex>,
}

impl EngineRecords {
    fn read(&self) -> RwLockReadGuard<'_, DnsIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, DnsIndex> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl berth_dns::Records for EngineRecords {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        self.read().lookup(asker, name)
    }

    fn reverse(&self, asker: &str, addr: IpAddr) -> Option<Vec<String>> {
        self.read().reverse(asker, addr)
    }

    fn upstreams(&self, asker: &str) -> Vec<SocketAddr> {
        self.read().upstreams(asker)
    }
}

fn servers(list: &[String]) -> Vec<SocketAddr> {
    list.iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Adds `name.network` for every name, as Docker's embedded server answers (the PTR answer
/// `name.network` must resolve forward too).
fn qualify(names: &mut Vec<String>, network: &str) {
    let qualified: Vec<String> = names.iter().map(|n| format!("{n}.{network}")).collect();
    names.extend(qualified);
}

fn host_servers() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|r| r.split_whitespace().next().map(str::to_string))
        .collect()
}

impl Engine {
    /// What container `id` contributes to DNS now: nothing unless it runs on a user-defined
    /// network.
    fn container_dns(&self, id: &str) -> Option<ContainerDns> {
        let c = self.find(id).ok()?;
        let mut entries = Vec::new();
        let mut all_internal = true;
        for ep in self.networks.endpoints_of(id) {
            let Ok(net) = self.networks.resolve(&ep.network_id) else {
                continue;
            };
            if net.is_default_bridge() || !net.is_bridge() {
                continue;
            }
            all_internal &= net.internal;
            let mut names = vec![c.name.clone(), crate::ids::short(&c.id).to_string()];
            names.extend(c.config.hostname.clone());
            names.extend(ep.aliases.iter().cloned());
            names.extend(
                c.endpoints
                    .get(&net.name)
                    .and_then(|s| s.aliases.clone())
                    .unwrap_or_default(),
            );
            qualify(&mut names, &net.name);
            entries.push(NetEntry {
                network_id: net.id.clone(),
                ptr_name: format!("{}.{}", c.name, net.name),
                names,
                addrs: ep.addrs.iter().map(|a| a.addr()).collect(),
            });
        }
        if entries.is_empty() {
            return None;
        }
        let dns = c.host_config.dns.clone().unwrap_or_default();
        let upstreams = if all_internal {
            vec![]
        } else if dns.is_empty() {
            servers(&host_servers())
        } else {
            servers(&dns)
        };
        let links = c
            .host_config
            .links
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|l| {
                let (name, alias) = crate::container::etc::parse_link(l);
                (alias.to_string(), name.to_string())
            })
            .collect();
        Some(ContainerDns {
            entries,
            upstreams,
            links,
        })
    }

    /// Brings container `id`'s records up to date (after start, stop, connect, disconnect).
    /// Returns whether it is on a user-defined network (has records to serve).
    pub(crate) fn dns_update(&self, id: &str) -> bool {
        let c = self.container_dns(id);
        let on_user_net = c.is_some();
        self.dns_records.write().set_container(id, c);
        on_user_net
    }

    /// Adds or removes the records of another host's endpoint on an overlay network.
    pub(crate) fn dns_remote(&self, ep: &super::overlay::OverlayEndpoint, present: bool) {
        let entry = present
            .then(|| self.networks.resolve(&ep.network_id).ok())
            .flatten()
            .map(|net| {
                let mut names = vec![
                    ep.name.clone(),
                    crate::ids::short(&ep.container_id).to_string(),
                ];
                names.extend(ep.aliases.iter().cloned());
                qualify(&mut names, &net.name);
                NetEntry {
                    network_id: net.id.clone(),
                    ptr_name: format!("{}.{}", ep.name, net.name),
                    names,
                    addrs: ep.addrs.iter().map(|a| a.addr()).collect(),
                }
            });
        self.dns_records.write().set_remote(&ep.endpoint_id, entry);
    }

    /// Rebuilds every record (after a network appeared or went).
    pub(crate) fn dns_refresh(&self) {
        let ids: Vec<String> = self.lock().keys().cloned().collect();
        let remote: Vec<_> = self.remote_eps().values().cloned().collect();
        let mut fresh = DnsIndex::default();
        for id in ids {
            fresh.set_container(&id, self.container_dns(&id));
        }
        *self.dns_records.write() = fresh;
        for ep in remote {
            self.dns_remote(&ep, true);
        }
    }

    /// Serves 127.0.0.11 in the container's namespace if it is on a user-defined network.
    pub(crate) async fn dns_serve(&self, c: &crate::container::Container) {
        let on_user_net = self.dns_update(&c.id);
        if !on_user_net || c.sandbox_key.is_empty() || self.dns_handles().contains_key(&c.id) {
            return;
        }
        match self
            .dns
            .serve(c.id.clone(), std::path::Path::new(&c.sandbox_key))
            .await
        {
            Ok(h) => {
                self.dns_handles().insert(c.id.clone(), h);
            }
            Err(e) => tracing::warn!(id = %c.id, "embedded DNS: {e}"),
        }
    }

    /// The container stopped: its records and its DNS listener go.
    pub(crate) fn dns_stop(&self, id: &str) {
        self.dns_handles().remove(id);
        self.dns_records.write().set_container(id, None);
    }

    fn dns_handles(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, berth_dns::ServeHandle>> {
        self.dns_handles.lock().unwrap_or_else(|p| p.into_inner())
    }
}
