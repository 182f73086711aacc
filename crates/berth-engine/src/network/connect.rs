//! `network connect` / `network disconnect`: immediate on running containers, remembered for
//! the next start on stopped ones.

use super::endpoint::validate;
use crate::error::{EngineError, Result};
use crate::Engine;
use bollard_stubs::models::EndpointSettings;
use std::path::PathBuf;

impl Engine {
    pub async fn network_connect(
        &self,
        net_ref: &str,
        container: &str,
        settings: EndpointSettings,
    ) -> Result<()> {
        let mut phases = crate::timing::Phases::new("connect");
        let net = self.networks.resolve(net_ref)?;
        let c = self.find(container)?;
        let mode = c.network_mode().to_string();
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return Err(EngineError::Invalid(format!(
                "container {} uses network mode {mode} and cannot be connected to other networks",
                c.name
            )));
        }
        if !net.is_bridge() {
            return Err(EngineError::Invalid(format!(
                "container cannot be connected to the {} network",
                net.name
            )));
        }
        if c.endpoints.contains_key(&net.name) {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                c.name, net.name
            )));
        }
        validate(&net, &settings)?;
        phases.mark("check");
        if c.is_running() {
            // Names of endpoints still leaving count: their interface may still exist.
            let ifname = free_ifname(&self.networks.ifnames_of(&c.id));
            self.attach_one(&c, &PathBuf::from(&c.sandbox_key), &net, &settings, &ifname)
                .await?;
            crate::crash::point("connect");
        }
        phases.mark("attach");
        let name = net.name.clone();
        self.update(&c.id, |rec| {
            rec.endpoints.insert(name, settings);
        })?;
        crate::crash::point("connect");
        phases.mark("record");
        self.refresh_hosts(&c.id);
        phases.mark("hosts");
        if let Ok(now) = self.find(&c.id) {
            if now.is_running() {
                self.dns_serve(&now).await;
            }
        }
        phases.mark("dns");
        phases.done(&c.id);
        Ok(())
    }

    pub async fn network_disconnect(
        self: &std::sync::Arc<Self>,
        net_ref: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let net = self.networks.resolve(net_ref);
        let c = match self.find(container) {
            Ok(c) => c,
            Err(e) if force => {
                // Force: clean up whatever endpoint a vanished container left.
                if let Ok(net) = &net {
                    let stale: Vec<_> = self
                        .networks
                        .endpoints()
                        .into_iter()
                        .filter(|ep| {
                            ep.network_id == net.id && ep.container_id.starts_with(container)
                        })
                        .collect();
                    self.detach_endpoints(&stale).await;
                    return Ok(());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let net = net?;
        if !c.endpoints.contains_key(&net.name) {
            return Err(EngineError::Conflict(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            )));
        }
        let eps: Vec<_> = self
            .networks
            .endpoints_of(&c.id)
            .into_iter()
            .filter(|e| e.network_id == net.id)
            .collect();
        // The container leaves the network now (records, DNS, /etc/hosts, views); the kernel's
        // veth deletion (~20 ms, RCU grace periods) finishes in the background, and the
        // endpoint keeps its addresses and interface name until then. A crash meanwhile is
        // cleaned up at restart (the container's record no longer names the network).
        self.networks.mark_leaving(&eps);
        for ep in &eps {
            if let Err(e) = self.dataplane.unplug(&ep.host_if).await {
                tracing::warn!("disconnect: {e}");
            }
        }
        crate::crash::point("disconnect");
        let name = net.name.clone();
        let updated = self.update(&c.id, |rec| {
            rec.endpoints.remove(&name);
        });
        crate::crash::point("disconnect");
        self.refresh_hosts(&c.id);
        self.dns_update(&c.id);
        let engine = self.clone();
        tokio::spawn(async move {
            crate::crash::point("disconnect");
            engine.detach_endpoints(&eps).await;
        });
        updated.map(|_| ())
    }
}

/// The first `ethN` a container is not using. Counting its endpoints is not enough: after
/// connect a, b, c and disconnect b, a new network must get eth1, not eth2 (which exists).
fn free_ifname(used: &[String]) -> String {
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !used.contains(n))
        .expect("an unbounded range has a free name")
}

#[cfg(test)]
mod tests {
    use super::free_ifname;

    #[test]
    fn regression_reconnect_after_middle_disconnect_reused_a_taken_ifname() {
        let used = vec!["eth0".to_string(), "eth2".to_string()];
        assert_eq!(free_ifname(&used), "eth1");
        assert_eq!(free_ifname(&[]), "eth0");
        assert_eq!(free_ifname(&["eth0".into(), "eth1".into()]), "eth2");
    }
}
