//! Network create, remove and prune, and bringing networks back after a restart.
//! Each operation either completes or is rolled back; teardown is best effort and reports
//! every error it met, not only the first.

use super::config::{build, Taken};
use super::{allocators, firewall, NetworkRec, OPT_BRIDGE_NAME, OPT_DEFAULT_BRIDGE, OPT_ICC};
use crate::error::{EngineError, Result};
use crate::store::Kind;
use crate::Engine;
use bollard_stubs::models::NetworkCreateRequest;
use std::collections::HashMap;

impl Engine {
    /// Creates a bridge network; returns its id.
    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<String> {
        if req.driver.as_deref() == Some("overlay") {
            return self.overlay_create(req).await;
        }
        let mut phases = crate::timing::Phases::new("network create");
        let routes = self
            .dataplane
            .host_routes()
            .await
            .map_err(EngineError::Internal)?;
        phases.mark("routes");
        let id = crate::ids::new_id();
        let rec = {
            let mut inner = self.networks.lock();
            let rec = build(
                &req,
                &id,
                &Taken {
                    networks: &inner.nets,
                    host_routes: &routes,
                },
                &self.networks.pools,
            )?;
            // Reserve name, subnets and bridge name before any await.
            inner.alloc.insert(rec.id.clone(), allocators(&rec));
            inner.nets.push(rec.clone());
            inner.pending.insert(rec.id.clone());
            rec
        };
        phases.mark("build");
        let up = self.bring_up(&rec, true, &mut phases).await;
        self.networks.lock().pending.remove(&rec.id);
        if let Err(e) = up {
            self.forget_network(&rec.id);
            return Err(e);
        }
        phases.done(&rec.name);
        Ok(id)
    }

    /// Persists `rec` and creates its bridge and rules; on failure undoes what it did.
    pub(crate) async fn bring_up(
        &self,
        rec: &NetworkRec,
        new: bool,
        phases: &mut crate::timing::Phases,
    ) -> Result<()> {
        if new {
            self.store.put(Kind::Networks, &rec.id, rec)?;
            phases.mark("store");
            crate::crash::point("network-create");
        }
        let addrs: Vec<ipnet::IpNet> = rec
            .subnets
            .iter()
            .filter_map(|s| {
                s.gateway.map(|g| {
                    ipnet::IpNet::new(g, s.subnet.prefix_len()).expect("prefix from a subnet")
                })
            })
            .collect();
        let mut undo = Vec::new();
        let result = async {
            self.dataplane
                .enable_forwarding(rec.enable_ipv6)
                .map_err(EngineError::Internal)?;
            self.dataplane
                .ensure_bridge(&rec.bridge, rec.mtu(), &addrs)
                .await
                .map_err(EngineError::Internal)?;
            phases.mark("bridge");
            undo.push("bridge");
            if new {
                crate::crash::point("network-create");
            }
            self.dataplane
                .route_localnet(&rec.bridge)
                .map_err(EngineError::Internal)?;
            phases.mark("sysctl");
            if new {
                self.dataplane
                    .firewall_changes(&firewall::add(&rec.fw()))
                    .map_err(EngineError::Internal)?;
                phases.mark("firewall");
            }
            Ok(())
        }
        .await;
        if result.is_err() && new {
            if undo.contains(&"bridge") {
                let _ = self.dataplane.remove_link(&rec.bridge).await;
            }
            let _ = self.store.delete(Kind::Networks, &rec.id);
        }
        result
    }

    fn forget_network(&self, id: &str) {
        let mut inner = self.networks.lock();
        inner.nets.retain(|n| n.id != id);
        inner.alloc.remove(id);
    }

    /// Removes a network that no container is attached to.
    pub async fn network_remove(&self, r: &str) -> Result<()> {
        let rec = self.networks.resolve(r)?;
        if rec.builtin {
            return Err(EngineError::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        if rec.is_overlay() {
            // Every host's endpoints count, not only this one's.
            return self.overlay_remove(&rec).await;
        }
        // A disconnect just made is still deleting its veth: wait for it (bounded).
        for _ in 0..500 {
            if !self.networks.leaving_on(&rec.id) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let users: Vec<String> = self
            .containers()
            .into_iter()
            .filter(|c| {
                c.endpoints.contains_key(&rec.name)
                    || self
                        .networks
                        .endpoints_of(&c.id)
                        .iter()
                        .any(|e| e.network_id == rec.id)
            })
            .map(|c| format!("name:\"{}\" id:\"{}\"", c.name, crate::ids::short(&c.id)))
            .collect();
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "error while removing network: network {} has active endpoints ({})",
                rec.name,
                users.join(", ")
            )));
        }
        let mut phases = crate::timing::Phases::new("network rm");
        self.forget_network(&rec.id);
        let mut errors = Vec::new();
        crate::crash::point("network-rm");
        if let Err(e) = self
            .dataplane
            .firewall_changes(&firewall::remove(&rec.fw()))
        {
            // The incremental change failed (rules altered behind our back): rebuild ours.
            if let Err(e2) = self.dataplane.firewall(&self.firewall_full()) {
                errors.push(format!("firewall: {e}; rebuild: {e2}"));
            }
        }
        phases.mark("firewall");
        crate::crash::point("network-rm");
        if let Err(e) = self.dataplane.remove_link(&rec.bridge).await {
            errors.push(format!("bridge {}: {e}", rec.bridge));
        }
        phases.mark("bridge");
        crate::crash::point("network-rm");
        if let Err(e) = self.store.delete(Kind::Networks, &rec.id) {
            errors.push(e.to_string());
        }
        phases.mark("store");
        phases.done(&rec.name);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Internal(format!(
                "network {} removed with errors: {}",
                rec.name,
                errors.join("; ")
            )))
        }
    }

    /// Removes every user-defined network without containers; `labels` filter as Docker's
    /// `label=k` / `label=k=v`. Returns the removed names.
    pub async fn network_prune(&self, labels: &[String]) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for n in self.networks.list().into_iter().filter(|n| !n.builtin) {
            let matches = labels.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => n.labels.get(k).is_some_and(|x| x == v),
                None => n.labels.contains_key(l),
            });
            if matches && self.network_remove(&n.id).await.is_ok() {
                removed.push(n.name);
            }
        }
        Ok(removed)
    }

    /// Every port forwarding in force (of running containers).
    pub(crate) fn published_ports(&self) -> Vec<super::ports::Published> {
        self.containers()
            .into_iter()
            .filter(|c| c.is_running())
            .flat_map(|c| c.published)
            .collect()
    }

    /// The whole of berth's rules for the current state.
    pub(crate) fn firewall_full(&self) -> String {
        let links: Vec<firewall::LinkPass> = self
            .containers()
            .into_iter()
            .filter(|c| c.is_running())
            .flat_map(|c| c.link_passes)
            .collect();
        firewall::full(&self.firewall_nets(), &self.published_ports(), &links)
    }

    /// The networks whose rules must be in place now (not those being created).
    pub(crate) fn settled_firewall_nets(&self) -> Vec<firewall::FwNet> {
        let inner = self.networks.lock();
        inner
            .nets
            .iter()
            .filter(|n| n.is_bridge() && !inner.pending.contains(&n.id))
            .map(|n| n.fw())
            .collect()
    }

    pub(crate) fn firewall_nets(&self) -> Vec<firewall::FwNet> {
        self.networks
            .list()
            .iter()
            .filter(|n| n.is_bridge())
            .map(|n| n.fw())
            .collect()
    }

    /// After (re)start: create the default bridge if missing, re-create every bridge and
    /// berth's firewall tables from the store, so a flushed ruleset or a reboot is repaired.
    pub(crate) async fn restore_networks(&self) -> Result<()> {
        // The default bridge's ICC follows berthd's `--icc` (Docker's daemon flag).
        let icc = if self.cfg.icc { "true" } else { "false" };
        {
            let mut inner = self.networks.lock();
            for n in inner.nets.iter_mut().filter(|n| n.is_default_bridge()) {
                if n.options.get(OPT_ICC).map(String::as_str) != Some(icc) {
                    n.options.insert(OPT_ICC.to_string(), icc.to_string());
                    self.store.put(Kind::Networks, &n.id, n)?;
                }
            }
        }
        let bridges: Vec<NetworkRec> = self
            .networks
            .list()
            .into_iter()
            .filter(|n| n.is_bridge())
            .collect();
        for n in &bridges {
            self.bring_up(n, false, &mut crate::timing::Phases::new("restore"))
                .await?;
        }
        self.dataplane
            .firewall(&self.firewall_full())
            .map_err(EngineError::Internal)?;
        if !bridges.iter().any(|n| n.is_default_bridge()) {
            let req = NetworkCreateRequest {
                name: "bridge".into(),
                options: Some(HashMap::from([
                    (OPT_BRIDGE_NAME.to_string(), self.cfg.default_bridge.clone()),
                    (OPT_DEFAULT_BRIDGE.to_string(), "true".to_string()),
                    (OPT_ICC.to_string(), icc.to_string()),
                ])),
                ..Default::default()
            };
            let id = self.network_create(req).await?;
            let mut inner = self.networks.lock();
            if let Some(n) = inner.nets.iter_mut().find(|n| n.id == id) {
                n.builtin = true;
                self.store.put(Kind::Networks, &n.id, n)?;
            }
        }
        Ok(())
    }
}
