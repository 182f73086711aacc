//! What the embedded DNS server may answer, as an index rebuilt whenever containers or
//! endpoints change (cheap: O(endpoints)), so a query is a couple of hash lookups and never
//! waits for the engine's locks.
//!
//! Scoping follows Docker: a container sees names of containers that share a user-defined
//! network with it (never across networks, never on the default bridge); names are the
//! container name, its 12-character id, its hostname and its network aliases; a legacy link
//! on a user-defined network is an alias only the linking container sees.

use crate::Engine;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct DnsIndex {
    /// container id → user-defined networks it is attached to.
    nets_of: HashMap<String, Vec<String>>,
    /// (network id, lower-case name) → addresses.
    names: HashMap<(String, String), Vec<IpAddr>>,
    /// (asker id, lower-case alias) → addresses: links, seen by one container only.
    private: HashMap<(String, String), Vec<IpAddr>>,
    /// (network id, address) → names, canonical first.
    ptr: HashMap<(String, IpAddr), Vec<String>>,
    upstreams: HashMap<String, Vec<SocketAddr>>,
}

#[derive(Default)]
pub struct EngineRecords {
    index: RwLock<Arc<DnsIndex>>,
}

impl EngineRecords {
    fn get(&self) -> Arc<DnsIndex> {
        self.index.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl berth_dns::Records for EngineRecords {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        let idx = self.get();
        if let Some(a) = idx.private.get(&(asker.to_string(), name.to_string())) {
            return Some(a.clone());
        }
        let mut out: Vec<IpAddr> = Vec::new();
        let mut found = false;
        for net in idx.nets_of.get(asker)? {
            if let Some(a) = idx.names.get(&(net.clone(), name.to_string())) {
                found = true;
                out.extend(
                    a.iter()
                        .filter(|x| !out.contains(x))
                        .copied()
                        .collect::<Vec<_>>(),
                );
            }
        }
        found.then_some(out)
    }

    fn reverse(&self, asker: &str, addr: IpAddr) -> Option<Vec<String>> {
        let idx = self.get();
        idx.nets_of
            .get(asker)?
            .iter()
            .find_map(|net| idx.ptr.get(&(net.clone(), addr)).cloned())
    }

    fn upstreams(&self, asker: &str) -> Vec<SocketAddr> {
        self.get().upstreams.get(asker).cloned().unwrap_or_default()
    }
}

fn servers(list: &[String]) -> Vec<SocketAddr> {
    list.iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
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
    /// Rebuilds the DNS index from the current containers and endpoints.
    pub(crate) fn dns_refresh(&self) {
        let nets: HashMap<String, super::NetworkRec> = self
            .networks
            .list()
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let containers: HashMap<String, crate::container::Container> = self
            .containers()
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let host = host_servers();
        let mut idx = DnsIndex::default();
        for ep in self.networks.endpoints() {
            let (Some(net), Some(c)) = (nets.get(&ep.network_id), containers.get(&ep.container_id))
            else {
                continue;
            };
            if net.is_default_bridge() || !net.is_bridge() {
                continue;
            }
            idx.nets_of
                .entry(c.id.clone())
                .or_default()
                .push(net.id.clone());
            let addrs: Vec<IpAddr> = ep.addrs.iter().map(|a| a.addr()).collect();
            let mut names = vec![c.name.clone(), crate::ids::short(&c.id).to_string()];
            names.extend(c.config.hostname.clone());
            names.extend(ep.aliases.iter().cloned());
            names.extend(
                c.endpoints
                    .get(&net.name)
                    .and_then(|s| s.aliases.clone())
                    .unwrap_or_default(),
            );
            for n in names {
                let v = idx
                    .names
                    .entry((net.id.clone(), n.to_lowercase()))
                    .or_default();
                v.extend(
                    addrs
                        .iter()
                        .filter(|a| !v.contains(a))
                        .copied()
                        .collect::<Vec<_>>(),
                );
            }
            for a in &addrs {
                idx.ptr
                    .entry((net.id.clone(), *a))
                    .or_insert_with(|| vec![format!("{}.{}", c.name, net.name)]);
            }
        }
        // Containers of other hosts on overlay networks.
        for ep in self.remote_eps().values() {
            let addrs: Vec<IpAddr> = ep.addrs.iter().map(|a| a.addr()).collect();
            let mut names = vec![
                ep.name.clone(),
                crate::ids::short(&ep.container_id).to_string(),
            ];
            names.extend(ep.aliases.iter().cloned());
            for n in names {
                let v = idx
                    .names
                    .entry((ep.network_id.clone(), n.to_lowercase()))
                    .or_default();
                v.extend(
                    addrs
                        .iter()
                        .filter(|a| !v.contains(a))
                        .copied()
                        .collect::<Vec<_>>(),
                );
            }
            if let Some(net) = nets.get(&ep.network_id) {
                for a in &addrs {
                    idx.ptr
                        .entry((net.id.clone(), *a))
                        .or_insert_with(|| vec![format!("{}.{}", ep.name, net.name)]);
                }
            }
        }
        for c in containers.values() {
            let Some(my_nets) = idx.nets_of.get(&c.id).cloned() else {
                continue;
            };
            let internal_only = my_nets
                .iter()
                .all(|n| nets.get(n).is_some_and(|n| n.internal));
            let dns = c.host_config.dns.clone().unwrap_or_default();
            let ups = if internal_only {
                vec![]
            } else if dns.is_empty() {
                servers(&host)
            } else {
                servers(&dns)
            };
            idx.upstreams.insert(c.id.clone(), ups);
            for link in c.host_config.links.clone().unwrap_or_default() {
                let (name, alias) = crate::container::etc::parse_link(&link);
                let Some(target) = containers.values().find(|t| t.name == name) else {
                    continue;
                };
                let addrs: Vec<IpAddr> = my_nets
                    .iter()
                    .filter_map(|n| idx.names.get(&(n.clone(), target.name.to_lowercase())))
                    .flatten()
                    .copied()
                    .collect();
                if !addrs.is_empty() {
                    idx.private
                        .insert((c.id.clone(), alias.to_lowercase()), addrs);
                }
            }
        }
        *self
            .dns_records
            .index
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(idx);
    }

    /// Serves 127.0.0.11 in the container's namespace if it is on a user-defined network.
    pub(crate) async fn dns_serve(&self, c: &crate::container::Container) {
        self.dns_refresh();
        let on_user_net = self.networks.endpoints_of(&c.id).iter().any(|e| {
            self.networks
                .resolve(&e.network_id)
                .is_ok_and(|n| n.is_bridge() && !n.is_default_bridge())
        });
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

    pub(crate) fn dns_stop(&self, id: &str) {
        self.dns_handles().remove(id);
        self.dns_refresh();
    }

    fn dns_handles(&self) -> std::sync::MutexGuard<'_, HashMap<String, berth_dns::ServeHandle>> {
        self.dns_handles.lock().unwrap_or_else(|p| p.into_inner())
    }
}
