//! Overlay networks: one virtual LAN across hosts, VXLAN in the kernel, state in etcd.
//!
//! - `network create -d overlay` claims a VXLAN id and a subnet (global pool 10.0.0.0/8 in
//!   /24s) with create-if-absent transactions, then writes the network; every host watches
//!   `networks/` and builds a local bridge `ov-<id12>` (holding the gateway address, so each
//!   host is its containers' own way out, with NAT) and a VXLAN device `vx-<id12>` on it.
//! - Attaching claims the address in etcd (`ips/<net>/<ip>`, bound to this host's lease) and,
//!   once the veth is wired, publishes the endpoint (`endpoints/<net>/<endpoint>`, same lease). Every other host
//!   watches `endpoints/` and programs a static FDB entry (MAC → this host) and neighbour entry
//!   (IP → MAC) on its VXLAN device; when the endpoint goes (or the host's lease expires) they
//!   are removed.
//! - Names resolve across hosts: remote endpoints feed the DNS index.
//! - `-o encrypted`: see `overlay/encrypt.rs` (VXLAN through berthd's userspace WireGuard).

pub(crate) mod encrypt;
mod tunnel;

use super::{EndpointRec, NetworkRec, Subnet};
use crate::error::{EngineError, Result};
use crate::Engine;
use berth_cluster::{Event, PREFIX};
use bollard_stubs::models::NetworkCreateRequest;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

pub const OPT_VNI: &str = "com.docker.network.driver.overlay.vxlanid_list";
const MTU: u32 = 1450;

/// An endpoint as other hosts see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OverlayEndpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub container_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub host_id: String,
    pub host_ip: IpAddr,
    pub mac: String,
    pub addrs: Vec<IpNet>,
}

fn key(kind: &str, rest: &str) -> String {
    format!("{PREFIX}{kind}/{rest}")
}

fn vxlan_name(n: &NetworkRec) -> String {
    format!("vx-{}", &n.id[..12])
}

/// How other hosts see one of this host's endpoints.
fn overlay_endpoint(
    cl: &berth_cluster::Cluster,
    c: &crate::container::Container,
    net: &NetworkRec,
    ep: &EndpointRec,
) -> OverlayEndpoint {
    OverlayEndpoint {
        network_id: net.id.clone(),
        endpoint_id: ep.endpoint_id.clone(),
        container_id: c.id.clone(),
        name: c.name.clone(),
        aliases: ep.aliases.clone(),
        host_id: cl.host_id().to_string(),
        host_ip: cl.advertise(),
        mac: ep.mac.clone(),
        addrs: ep.addrs.clone(),
    }
}

fn cerr(e: berth_cluster::ClusterError) -> EngineError {
    EngineError::Internal(e.to_string())
}

impl Engine {
    fn cluster(&self) -> Result<&Arc<berth_cluster::Cluster>> {
        self.cluster.as_ref().ok_or_else(|| {
            EngineError::Invalid(
                "overlay networks need a cluster store: start berthd with --cluster-store etcd://HOST:PORT --cluster-advertise IP".into(),
            )
        })
    }

    /// `network create -d overlay`.
    pub async fn overlay_create(&self, req: NetworkCreateRequest) -> Result<String> {
        let cl = self.cluster()?.clone();
        let name = req.name.trim().to_string();
        if !super::config::valid_name(&name) {
            return Err(EngineError::Invalid(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        if self.networks.resolve(&name).is_ok() {
            return Err(EngineError::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let mut options = req.options.clone().unwrap_or_default();
        if encrypt::is_encrypted(&options) {
            self.encryption_check(&mut options).await?;
        }
        let id = crate::ids::new_id();
        let (existing, _) = cl.list(&key("networks", "")).await.map_err(cerr)?;
        for (_, v) in &existing {
            if serde_json::from_slice::<NetworkRec>(v).is_ok_and(|n| n.name == name) {
                return Err(EngineError::Conflict(format!(
                    "network with name {name} already exists"
                )));
            }
        }
        let vni = self.claim_vni(&cl, &id).await?;
        let subnet = match self.overlay_subnet(&cl, &req, &id).await {
            Ok(s) => s,
            Err(e) => {
                let _ = cl.delete(&key("vni", &vni.to_string())).await;
                return Err(e);
            }
        };
        options.insert(OPT_VNI.into(), vni.to_string());
        options
            .entry(super::OPT_MTU.into())
            .or_insert(MTU.to_string());
        let rec = NetworkRec {
            id: id.clone(),
            name,
            driver: "overlay".into(),
            created: crate::ids::now(),
            builtin: false,
            internal: req.internal.unwrap_or(false),
            attachable: req.attachable.unwrap_or(false),
            enable_ipv6: false,
            options,
            labels: req.labels.clone().unwrap_or_default(),
            subnets: vec![subnet],
            bridge: format!("ov-{}", &id[..12]),
        };
        let json = serde_json::to_vec(&rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        cl.put(&key("networks", &id), json).await.map_err(cerr)?;
        // Bring it up here now rather than waiting for our own watch event.
        self.overlay_up(rec).await?;
        Ok(id)
    }

    async fn claim_vni(&self, cl: &berth_cluster::Cluster, id: &str) -> Result<u32> {
        let start = 4096 + (u32::from_str_radix(&id[..6], 16).unwrap_or(0) % 1_000_000);
        for vni in start..start + 4096 {
            if cl
                .claim(&key("vni", &vni.to_string()), id.as_bytes().to_vec(), false)
                .await
                .map_err(cerr)?
            {
                return Ok(vni);
            }
        }
        Err(EngineError::Conflict("no free VXLAN id".into()))
    }

    async fn overlay_subnet(
        &self,
        cl: &berth_cluster::Cluster,
        req: &NetworkCreateRequest,
        id: &str,
    ) -> Result<Subnet> {
        let asked = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default();
        let routes = self
            .dataplane
            .host_routes()
            .await
            .map_err(EngineError::Internal)?;
        let local: Vec<IpNet> = self
            .networks
            .list()
            .iter()
            .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
            .collect();
        let candidates: Vec<(IpNet, Option<IpAddr>)> =
            match asked.first().and_then(|c| c.subnet.clone()) {
                Some(s) => {
                    let net: IpNet = s
                        .parse()
                        .map_err(|_| EngineError::Invalid(format!("invalid subnet {s:?}")))?;
                    let gw = asked[0]
                        .gateway
                        .as_deref()
                        .map(|g| g.parse())
                        .transpose()
                        .map_err(|_| EngineError::Invalid("invalid gateway".into()))?;
                    if let Some(g) = gw {
                        if !net.contains(&g) {
                            return Err(EngineError::Invalid(format!(
                                "gateway {g} is not in subnet {net}"
                            )));
                        }
                    }
                    vec![(net, gw)]
                }
                None => {
                    let pool: IpNet = "10.0.0.0/8".parse().expect("static");
                    pool.subnets(24)
                        .map(|it| it.take(65536).map(|s| (s, None)).collect())
                        .unwrap_or_default()
                }
            };
        let explicit = candidates.len() == 1;
        for (net, gw) in candidates {
            if routes
                .iter()
                .chain(local.iter())
                .any(|u| super::ipam::overlaps(u, &net))
            {
                if explicit {
                    return Err(EngineError::Conflict(format!(
                        "subnet {net} overlaps a network or route of this host"
                    )));
                }
                continue;
            }
            let k = key("subnets", &net.to_string().replace('/', "_"));
            if cl
                .claim(&k, id.as_bytes().to_vec(), false)
                .await
                .map_err(cerr)?
            {
                let gateway = gw.or_else(|| net.hosts().next());
                return Ok(Subnet {
                    subnet: net,
                    gateway,
                    ip_range: None,
                    aux: BTreeMap::new(),
                });
            }
            if explicit {
                return Err(EngineError::Conflict(format!(
                    "subnet {net} is already used by another overlay network"
                )));
            }
        }
        Err(EngineError::Conflict(
            "the global address pool 10.0.0.0/8 is exhausted".into(),
        ))
    }

    /// Realises an overlay network on this host: bridge with the gateway, VXLAN, rules.
    async fn overlay_up(&self, rec: NetworkRec) -> Result<()> {
        // Before the network is recorded here (an encrypted one may first start the datapath).
        let (local, port) = self
            .overlay_underlay(&rec)
            .await
            .map_err(EngineError::Internal)?;
        {
            let mut inner = self.networks.lock();
            if inner.nets.iter().any(|n| n.id == rec.id) {
                return Ok(());
            }
            let mut subnets = super::allocators(&rec);
            // Addresses this host's endpoints already hold (after a restart).
            for ep in inner.endpoints.iter().filter(|e| e.network_id == rec.id) {
                for a in &ep.addrs {
                    subnets
                        .iter_mut()
                        .filter(|s| s.contains(a.addr()))
                        .for_each(|s| {
                            let _ = s.reserve(a.addr(), &rec.name);
                        });
                }
            }
            inner.alloc.insert(rec.id.clone(), subnets);
            inner.nets.push(rec.clone());
        }
        let addrs: Vec<IpNet> = rec
            .subnets
            .iter()
            .filter_map(|s| {
                s.gateway
                    .map(|g| IpNet::new(g, s.subnet.prefix_len()).expect("prefix from subnet"))
            })
            .collect();
        let vni: u32 = rec
            .options
            .get(OPT_VNI)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let r = async {
            self.dataplane.enable_forwarding(false)?;
            self.dataplane
                .ensure_bridge(&rec.bridge, rec.mtu(), &addrs)
                .await?;
            self.dataplane
                .ensure_vxlan(&vxlan_name(&rec), vni, local, port, &rec.bridge, rec.mtu())
                .await?;
            self.dataplane.route_localnet(&rec.bridge)?;
            self.dataplane
                .firewall_changes(&super::firewall::add(&rec.fw()))
        }
        .await;
        if let Err(e) = r {
            tracing::warn!(network = %rec.name, "overlay network could not be brought up here: {e}");
            return Err(EngineError::Internal(e));
        }
        let _ = self.store.put(crate::store::Kind::Networks, &rec.id, &rec);
        // After a restart: this host's live endpoints are published again under its new lease.
        for ep in self
            .networks
            .endpoints()
            .into_iter()
            .filter(|e| e.network_id == rec.id)
        {
            if let Ok(c) = self.find(&ep.container_id) {
                let _ = self.overlay_republish(&c, &rec, &ep).await;
                if c.is_running() {
                    self.dns_serve(&c).await;
                }
            }
        }
        // Endpoints of other hosts that arrived before the network did.
        let remote: Vec<OverlayEndpoint> = self
            .remote_eps()
            .values()
            .filter(|e| e.network_id == rec.id)
            .cloned()
            .collect();
        for ep in remote {
            self.program_remote(&ep, true).await;
            self.dns_remote(&ep, true);
        }
        Ok(())
    }

    /// Removes an overlay network's local bridge, VXLAN and rules (it was removed cluster-wide).
    async fn overlay_down(&self, rec: &NetworkRec) {
        let Ok(local) = self.networks.resolve(&rec.id) else {
            return;
        };
        {
            let mut inner = self.networks.lock();
            inner.nets.retain(|n| n.id != rec.id);
            inner.alloc.remove(&rec.id);
        }
        let _ = self
            .dataplane
            .firewall_changes(&super::firewall::remove(&local.fw()));
        let _ = self.dataplane.remove_link(&vxlan_name(&local)).await;
        let _ = self.dataplane.remove_link(&local.bridge).await;
        let _ = self.store.delete(crate::store::Kind::Networks, &rec.id);
        self.dns_refresh();
    }

    /// `network rm` of an overlay network: refused while any host has endpoints on it.
    pub async fn overlay_remove(&self, rec: &NetworkRec) -> Result<()> {
        let cl = self.cluster()?.clone();
        let (eps, _) = cl
            .list(&key("endpoints", &format!("{}/", rec.id)))
            .await
            .map_err(cerr)?;
        if !eps.is_empty() {
            let names: Vec<String> = eps
                .iter()
                .filter_map(|(_, v)| serde_json::from_slice::<OverlayEndpoint>(v).ok())
                .map(|e| format!("name:\"{}\" host:\"{}\"", e.name, e.host_ip))
                .collect();
            return Err(EngineError::Conflict(format!(
                "error while removing network: network {} has active endpoints ({})",
                rec.name,
                names.join(", ")
            )));
        }
        cl.delete(&key("networks", &rec.id)).await.map_err(cerr)?;
        if let Some(v) = rec.options.get(OPT_VNI) {
            let _ = cl.delete(&key("vni", v)).await;
        }
        for s in &rec.subnets {
            let _ = cl
                .delete(&key("subnets", &s.subnet.to_string().replace('/', "_")))
                .await;
        }
        self.overlay_down(rec).await;
        Ok(())
    }

    /// Before a local attach to an overlay network: claims its addresses cluster-wide (one
    /// create-if-absent transaction for all of them, so none is left behind when one is lost).
    /// On a lost claim the caller retries with another address.
    pub(crate) async fn overlay_claim(&self, net: &NetworkRec, ep: &EndpointRec) -> Result<bool> {
        let cl = self.cluster()?.clone();
        let claims: Vec<(String, Vec<u8>)> = ep
            .addrs
            .iter()
            .map(|a| {
                let k = key("ips", &format!("{}/{}", net.id, a.addr()));
                (k, ep.endpoint_id.as_bytes().to_vec())
            })
            .collect();
        cl.claim_all(&claims, true).await.map_err(cerr)
    }

    /// After the local attach: publishes the endpoint, so other hosts program it and resolve
    /// its names. Only now: a name that resolves elsewhere before the container is wired here
    /// sends its clients' first SYN into the void, a 1 s retransmission.
    pub(crate) async fn overlay_publish(
        &self,
        c: &crate::container::Container,
        net: &NetworkRec,
        ep: &EndpointRec,
    ) -> Result<()> {
        let cl = self.cluster()?.clone();
        let oe = overlay_endpoint(&cl, c, net, ep);
        let json = serde_json::to_vec(&oe).map_err(|e| EngineError::Internal(e.to_string()))?;
        let k = key("endpoints", &format!("{}/{}", net.id, ep.endpoint_id));
        cl.put_owned(&k, json).await.map_err(cerr)
    }

    async fn overlay_republish(
        &self,
        c: &crate::container::Container,
        net: &NetworkRec,
        ep: &EndpointRec,
    ) -> Result<()> {
        let cl = self.cluster()?.clone();
        for a in &ep.addrs {
            let k = key("ips", &format!("{}/{}", net.id, a.addr()));
            cl.put_owned(&k, ep.endpoint_id.as_bytes().to_vec())
                .await
                .map_err(cerr)?;
        }
        let oe = overlay_endpoint(&cl, c, net, ep);
        let json = serde_json::to_vec(&oe).map_err(|e| EngineError::Internal(e.to_string()))?;
        cl.put_owned(
            &key("endpoints", &format!("{}/{}", net.id, ep.endpoint_id)),
            json,
        )
        .await
        .map_err(cerr)
    }

    /// Withdraws a local endpoint from the cluster (best effort: the lease cleans up the rest).
    pub(crate) async fn overlay_withdraw(&self, ep: &EndpointRec) {
        let Some(cl) = self.cluster.clone() else {
            return;
        };
        let _ = cl
            .delete(&key(
                "endpoints",
                &format!("{}/{}", ep.network_id, ep.endpoint_id),
            ))
            .await;
        for a in &ep.addrs {
            let _ = cl
                .delete(&key("ips", &format!("{}/{}", ep.network_id, a.addr())))
                .await;
        }
    }

    pub(crate) fn remote_eps(&self) -> std::sync::MutexGuard<'_, HashMap<String, OverlayEndpoint>> {
        self.remote_eps.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn program_remote(&self, ep: &OverlayEndpoint, add: bool) {
        let Ok(net) = self.networks.resolve(&ep.network_id) else {
            return;
        };
        let Some(mac) = super::endpoint::parse_mac(&ep.mac) else {
            return;
        };
        let ips: Vec<IpAddr> = ep.addrs.iter().map(|a| a.addr()).collect();
        // None: an encrypted network's peer whose key is not known yet (programmed when it is).
        if let Some(dst) = self.overlay_remote_dst(&net, ep) {
            if let Err(e) = self
                .dataplane
                .remote_endpoint(add, &vxlan_name(&net), mac, &ips, dst)
                .await
            {
                tracing::warn!(endpoint = %ep.endpoint_id, "overlay: programming remote endpoint: {e}");
            }
        }
        let mut inner = self.networks.lock();
        if let Some(subnets) = inner.alloc.get_mut(&net.id) {
            for ip in &ips {
                for s in subnets.iter_mut().filter(|s| s.contains(*ip)) {
                    if add {
                        let _ = s.reserve(*ip, &net.name);
                    } else {
                        s.release(*ip);
                    }
                }
            }
        }
    }

    /// Follows the cluster: networks appear and vanish, remote endpoints come and go.
    pub(crate) fn overlay_watch(self: &Arc<Self>) {
        let Some(cl) = self.cluster.clone() else {
            return;
        };
        let mut nets = cl.watch(&key("networks", ""));
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(ev) = nets.recv().await {
                let Some(e) = engine.upgrade() else { return };
                match ev {
                    Event::Put { value, .. } => {
                        if let Ok(rec) = serde_json::from_slice::<NetworkRec>(&value) {
                            let _ = e.overlay_up(rec).await;
                        }
                    }
                    Event::Delete { value, .. } => {
                        if let Ok(rec) = serde_json::from_slice::<NetworkRec>(&value) {
                            e.overlay_down(&rec).await;
                        }
                    }
                }
            }
        });
        let mut eps = cl.watch(&key("endpoints", ""));
        let engine = Arc::downgrade(self);
        let me = cl.host_id().to_string();
        tokio::spawn(async move {
            while let Some(ev) = eps.recv().await {
                let Some(e) = engine.upgrade() else { return };
                let (add, value) = match ev {
                    Event::Put { value, .. } => (true, value),
                    Event::Delete { value, .. } => (false, value),
                };
                let Ok(ep) = serde_json::from_slice::<OverlayEndpoint>(&value) else {
                    continue;
                };
                if ep.host_id == me {
                    continue;
                }
                if add {
                    e.remote_eps().insert(ep.endpoint_id.clone(), ep.clone());
                } else {
                    e.remote_eps().remove(&ep.endpoint_id);
                }
                let t = std::time::Instant::now();
                e.program_remote(&ep, add).await;
                e.dns_remote(&ep, add);
                tracing::debug!(endpoint = %ep.endpoint_id, name = %ep.name, add, "overlay: remote endpoint programmed in {:?}", t.elapsed());
            }
        });
    }
}
