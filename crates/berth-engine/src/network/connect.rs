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
        if c.is_running() {
            let ifname = format!("eth{}", self.networks.endpoints_of(&c.id).len());
            self.attach_one(&c, &PathBuf::from(&c.sandbox_key), &net, &settings, &ifname)
                .await?;
        }
        let name = net.name.clone();
        self.update(&c.id, |rec| {
            rec.endpoints.insert(name, settings);
        })?;
        self.refresh_hosts(&c.id);
        if let Ok(now) = self.find(&c.id) {
            if now.is_running() {
                self.dns_serve(&now).await;
            }
        }
        Ok(())
    }

    pub async fn network_disconnect(
        &self,
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
        self.detach_endpoints(&eps).await;
        let name = net.name.clone();
        self.update(&c.id, |rec| {
            rec.endpoints.remove(&name);
        })?;
        self.refresh_hosts(&c.id);
        self.dns_update(&c.id);
        Ok(())
    }
}
