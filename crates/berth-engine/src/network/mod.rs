//! Networks: records, the registry, IPAM and the bridge driver.
//!
//! - [`config`]: turning a create request into a validated record (pure).
//! - [`ipam`]: pools and address allocation (pure).
//! - [`firewall`]: nftables scripts (pure).
//! - [`dataplane`]: the kernel behind a narrow trait.
//! - [`manage`]: create/remove/prune with rollback; [`endpoint`]: container attach/detach.
//! - [`view`]: Docker's JSON shapes.

pub mod brnf;
pub mod config;
pub mod connect;
pub mod dataplane;
pub mod dns;
pub mod endpoint;
pub mod firewall;
#[cfg(test)]
mod firewall_kernel;
pub mod heal;
pub mod ipam;
pub mod manage;
pub mod overlay;
pub mod ports;
pub mod publish;
pub mod socklb;
pub mod view;

use crate::error::{EngineError, Result};
use crate::store::{Kind, Store};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_MASQ: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
/// Docker 28's gateway modes: `nat` (default: only published ports reachable from outside) or
/// `nat-unprotected` (containers also reachable by direct routing). `routed` and `isolated`
/// are refused (not implemented).
pub const OPT_GW_MODE4: &str = "com.docker.network.bridge.gateway_mode_ipv4";
pub const OPT_GW_MODE6: &str = "com.docker.network.bridge.gateway_mode_ipv6";
/// The gateway modes berth implements; the second lets the LAN route to the containers.
pub const GW_MODES: [&str; 2] = ["nat", GW_NAT_UNPROTECTED];
pub const GW_NAT_UNPROTECTED: &str = "nat-unprotected";
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subnet {
    pub subnet: IpNet,
    pub gateway: Option<IpAddr>,
    pub ip_range: Option<IpNet>,
    #[serde(default)]
    pub aux: BTreeMap<String, IpAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkRec {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub created: String,
    pub builtin: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub options: HashMap<String, String>,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    /// The Linux bridge's name (bridge driver only).
    #[serde(default)]
    pub bridge: String,
}

impl NetworkRec {
    /// Backed by a local Linux bridge (the bridge driver, and overlay networks on each host).
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge" || self.driver == "overlay"
    }

    pub fn is_overlay(&self) -> bool {
        self.driver == "overlay"
    }

    pub fn scope(&self) -> &'static str {
        if self.driver == "overlay" {
            "global"
        } else {
            "local"
        }
    }

    fn opt_bool(&self, key: &str, default: bool) -> bool {
        self.options
            .get(key)
            .map(|v| v == "true" || v == "1")
            .unwrap_or(default)
    }

    pub fn icc(&self) -> bool {
        self.opt_bool(OPT_ICC, true)
    }

    pub fn masquerade(&self) -> bool {
        self.opt_bool(OPT_MASQ, true)
    }

    pub fn mtu(&self) -> Option<u32> {
        self.options
            .get(OPT_MTU)
            .and_then(|m| m.parse().ok())
            .filter(|m| *m > 0)
    }

    pub fn is_default_bridge(&self) -> bool {
        self.builtin && self.name == "bridge"
    }

    pub fn fw(&self) -> firewall::FwNet {
        firewall::FwNet {
            key: self.id[..12].to_string(),
            bridge: self.bridge.clone(),
            internal: self.internal,
            masquerade: self.masquerade(),
            icc: self.icc(),
            open: [OPT_GW_MODE4, OPT_GW_MODE6]
                .map(|k| self.options.get(k).is_some_and(|m| m == GW_NAT_UNPROTECTED)),
            subnets: self.subnets.iter().map(|s| s.subnet).collect(),
        }
    }
}

/// A container's attachment to a network, persisted so addresses survive restarts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointRec {
    pub network_id: String,
    pub container_id: String,
    pub endpoint_id: String,
    pub host_if: String,
    pub ifname: String,
    pub mac: String,
    pub addrs: Vec<IpNet>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl EndpointRec {
    /// The store key. The endpoint id is part of it: for a moment after a disconnect a
    /// container can hold a leaving and a new endpoint on the same network.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.network_id, self.container_id, self.endpoint_id
        )
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub nets: Vec<NetworkRec>,
    pub endpoints: Vec<EndpointRec>,
    /// Endpoints being taken down in the background after a disconnect (by endpoint id): gone
    /// for every view and for DNS, still holding their addresses and interface names until
    /// the kernel has deleted their veth.
    pub leaving: std::collections::HashSet<String>,
    /// Networks whose bridge and rules are being made (by id): the firewall guard does not
    /// expect their rules yet.
    pub pending: std::collections::HashSet<String>,
    /// network id → one allocator per subnet.
    pub alloc: HashMap<String, Vec<ipam::SubnetAlloc>>,
}

pub struct Networks {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) pools: Vec<ipam::Pool>,
}

pub(crate) fn allocators(n: &NetworkRec) -> Vec<ipam::SubnetAlloc> {
    n.subnets
        .iter()
        .map(|s| {
            ipam::SubnetAlloc::new(
                s.subnet,
                s.ip_range,
                s.gateway.into_iter().chain(s.aux.values().copied()),
            )
        })
        .collect()
}

impl Networks {
    /// Loads networks and endpoints, creating the built-in `host` and `none` on first start.
    pub fn load(store: &Store, pools: Vec<ipam::Pool>) -> Result<Self> {
        let mut nets: Vec<NetworkRec> = store
            .list(Kind::Networks)?
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        // Overlay networks come back from the cluster store (the source of truth) through its
        // watch, which also rebuilds their devices and republishes this host's endpoints.
        nets.retain(|n| !n.is_overlay());
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !nets.iter().any(|n| n.name == name && n.builtin) {
                let rec = NetworkRec {
                    id: crate::ids::new_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: crate::ids::now(),
                    builtin: true,
                    internal: false,
                    attachable: false,
                    enable_ipv6: false,
                    options: HashMap::new(),
                    labels: HashMap::new(),
                    subnets: vec![],
                    bridge: String::new(),
                };
                store.put(Kind::Networks, &rec.id, &rec)?;
                nets.push(rec);
            }
        }
        let endpoints: Vec<EndpointRec> = store
            .list(Kind::Endpoints)?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let mut alloc: HashMap<String, Vec<ipam::SubnetAlloc>> =
            nets.iter().map(|n| (n.id.clone(), allocators(n))).collect();
        for e in &endpoints {
            if let Some(subnets) = alloc.get_mut(&e.network_id) {
                for a in &e.addrs {
                    if let Some(s) = subnets.iter_mut().find(|s| s.contains(a.addr())) {
                        let _ = s.reserve(a.addr(), &e.network_id);
                    }
                }
            }
        }
        Ok(Networks {
            inner: Mutex::new(Inner {
                nets,
                endpoints,
                leaving: Default::default(),
                pending: Default::default(),
                alloc,
            }),
            pools,
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<NetworkRec> {
        let mut v = self.lock().nets.clone();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Every endpoint, except those leaving.
    pub fn endpoints(&self) -> Vec<EndpointRec> {
        let inner = self.lock();
        inner
            .endpoints
            .iter()
            .filter(|e| !inner.leaving.contains(&e.endpoint_id))
            .cloned()
            .collect()
    }

    /// A container's endpoints, except those leaving.
    pub fn endpoints_of(&self, container_id: &str) -> Vec<EndpointRec> {
        let inner = self.lock();
        inner
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id && !inner.leaving.contains(&e.endpoint_id))
            .cloned()
            .collect()
    }

    /// Interface names a container holds, leaving endpoints included.
    pub fn ifnames_of(&self, container_id: &str) -> Vec<String> {
        self.lock()
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .map(|e| e.ifname.clone())
            .collect()
    }

    /// Marks endpoints as leaving (see `Inner::leaving`).
    pub(crate) fn mark_leaving(&self, eps: &[EndpointRec]) {
        let mut inner = self.lock();
        for e in eps {
            inner.leaving.insert(e.endpoint_id.clone());
        }
    }

    /// Whether endpoints on network `id` are still being taken down.
    pub fn leaving_on(&self, network_id: &str) -> bool {
        let inner = self.lock();
        inner
            .endpoints
            .iter()
            .any(|e| e.network_id == network_id && inner.leaving.contains(&e.endpoint_id))
    }

    /// Finds a network by full id, name, or unique id prefix (Docker's order).
    pub fn resolve(&self, r: &str) -> Result<NetworkRec> {
        let inner = self.lock();
        let list = &inner.nets;
        if let Some(n) = list
            .iter()
            .find(|n| n.id == r)
            .or_else(|| list.iter().find(|n| n.name == r))
        {
            return Ok(n.clone());
        }
        let found: Vec<&NetworkRec> = list
            .iter()
            .filter(|n| !r.is_empty() && n.id.starts_with(r))
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(EngineError::NotFound(format!("network {r} not found"))),
            _ => Err(EngineError::NotFound(format!(
                "network {r} is ambiguous ({} matches found based on ID prefix)",
                found.len()
            ))),
        }
    }

    /// Checks that a container's `NetworkMode` names something berth can attach to.
    pub fn check_mode(&self, mode: &str) -> Result<()> {
        match mode {
            "host" | "none" => Ok(()),
            m if m.starts_with("container:") => Ok(()),
            m => self.resolve(m).map(|_| ()),
        }
    }
}
