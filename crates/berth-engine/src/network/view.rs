//! Docker's JSON shapes for networks and for a container's `NetworkSettings.Networks`.

use super::{EndpointRec, NetworkRec};
use crate::Engine;
use bollard_stubs::models::{
    ConfigReference, EndpointResource, EndpointSettings, Ipam, IpamConfig, NetworkInspect,
};
use std::collections::HashMap;

impl Engine {
    pub fn network_views(&self) -> Vec<NetworkInspect> {
        self.networks
            .list()
            .iter()
            .map(|n| self.network_view(n))
            .collect()
    }

    /// `network ls` with Docker's filters: `name` (regex, unanchored: a substring), `id`
    /// (prefix), `driver`, `label` (`k` or `k=v`; all given labels must match), `type`
    /// (`custom`/`builtin`), `scope`, `dangling`. Other values of one key are alternatives;
    /// different keys must all match. Unknown keys are refused, as Docker does.
    pub fn network_views_filtered(
        &self,
        filters: &HashMap<String, Vec<String>>,
    ) -> crate::Result<Vec<NetworkInspect>> {
        use crate::filters::{all_of, any_of, check_keys, label_matches, regex_match};
        check_keys(
            filters,
            &["name", "id", "driver", "label", "type", "scope", "dangling"],
        )?;
        let eps = self.networks.endpoints();
        let matches = |n: &NetworkRec| {
            any_of(filters, "name", |v| regex_match(v, &n.name))
                && any_of(filters, "id", |v| n.id.starts_with(v))
                && any_of(filters, "driver", |v| n.driver == v)
                && all_of(filters, "label", |v| label_matches(v, Some(&n.labels)))
                && any_of(filters, "type", |v| (v == "custom") != n.builtin)
                && any_of(filters, "scope", |v| v == n.scope())
                && any_of(filters, "dangling", |v| {
                    let unused = !n.builtin && !eps.iter().any(|e| e.network_id == n.id);
                    matches!(v, "true" | "1") == unused
                })
        };
        Ok(self
            .networks
            .list()
            .iter()
            .filter(|n| matches(n))
            .map(|n| self.network_view(n))
            .collect())
    }

    pub fn network_view(&self, n: &NetworkRec) -> NetworkInspect {
        let eps = self.networks.endpoints();
        let mut containers: HashMap<String, EndpointResource> = eps
            .iter()
            .filter(|e| e.network_id == n.id)
            .map(|e| {
                let name = self
                    .find(&e.container_id)
                    .map(|c| c.name)
                    .unwrap_or_default();
                let v4 = e
                    .addrs
                    .iter()
                    .find(|a| a.addr().is_ipv4())
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                let v6 = e
                    .addrs
                    .iter()
                    .find(|a| a.addr().is_ipv6())
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                (
                    e.container_id.clone(),
                    EndpointResource {
                        name: Some(name),
                        endpoint_id: Some(e.endpoint_id.clone()),
                        mac_address: Some(e.mac.clone()),
                        ipv4_address: Some(v4),
                        ipv6_address: Some(v6),
                    },
                )
            })
            .collect();
        if n.driver == "host" {
            for c in self
                .containers()
                .into_iter()
                .filter(|c| c.is_running() && c.network_mode() == "host")
            {
                containers.insert(
                    c.id.clone(),
                    EndpointResource {
                        name: Some(c.name.clone()),
                        endpoint_id: Some(String::new()),
                        ..Default::default()
                    },
                );
            }
        }
        let config = n
            .subnets
            .iter()
            .map(|s| IpamConfig {
                subnet: Some(s.subnet.to_string()),
                ip_range: s.ip_range.map(|r| r.to_string()),
                gateway: s.gateway.map(|g| g.to_string()),
                auxiliary_addresses: (!s.aux.is_empty()).then(|| {
                    s.aux
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_string()))
                        .collect()
                }),
            })
            .collect();
        NetworkInspect {
            name: Some(n.name.clone()),
            id: Some(n.id.clone()),
            created: Some(n.created.clone()),
            scope: Some(n.scope().into()),
            driver: Some(n.driver.clone()),
            enable_ipv4: Some(true),
            enable_ipv6: Some(n.enable_ipv6),
            ipam: Some(Ipam {
                driver: Some("default".into()),
                config: Some(config),
                options: Some(HashMap::new()),
            }),
            internal: Some(n.internal),
            attachable: Some(n.attachable),
            ingress: Some(false),
            config_from: Some(ConfigReference {
                network: Some(String::new()),
            }),
            config_only: Some(false),
            options: Some(n.options.clone()),
            labels: Some(n.labels.clone()),
            containers: Some(containers),
            ..Default::default()
        }
    }

    /// A container's `NetworkSettings.Networks`: live endpoints when running, the requested
    /// settings otherwise.
    pub(crate) fn endpoint_views(
        &self,
        c: &crate::container::Container,
    ) -> HashMap<String, EndpointSettings> {
        let live = self.networks.endpoints_of(&c.id);
        let mut out = HashMap::new();
        let mode = c.network_mode();
        if mode == "host" || mode == "none" {
            if let Ok(net) = self.networks.resolve(mode) {
                out.insert(
                    net.name.clone(),
                    EndpointSettings {
                        network_id: Some(net.id.clone()),
                        ..Default::default()
                    },
                );
            }
            return out;
        }
        for (name, req) in &c.endpoints {
            let net = self.networks.resolve(name).ok();
            let ep = net
                .as_ref()
                .and_then(|n| live.iter().find(|e| e.network_id == n.id));
            out.insert(name.clone(), settings_view(req, net.as_ref(), ep, &c.name));
        }
        out
    }
}

fn settings_view(
    req: &EndpointSettings,
    net: Option<&NetworkRec>,
    ep: Option<&EndpointRec>,
    cname: &str,
) -> EndpointSettings {
    let mut s = req.clone();
    s.network_id = Some(net.map(|n| n.id.clone()).unwrap_or_default());
    s.dns_names = net
        .filter(|n| !n.is_default_bridge())
        .map(|_| vec![cname.to_string()]);
    let Some(ep) = ep else {
        s.endpoint_id = Some(String::new());
        s.ip_address = Some(String::new());
        s.gateway = Some(String::new());
        s.mac_address = Some(String::new());
        return s;
    };
    let gw = |v4: bool| {
        net.and_then(|n| {
            n.subnets
                .iter()
                .filter_map(|x| x.gateway)
                .find(|g| g.is_ipv4() == v4)
        })
        .map(|g| g.to_string())
        .unwrap_or_default()
    };
    let v4 = ep.addrs.iter().find(|a| a.addr().is_ipv4());
    let v6 = ep.addrs.iter().find(|a| a.addr().is_ipv6());
    s.endpoint_id = Some(ep.endpoint_id.clone());
    s.mac_address = Some(ep.mac.clone());
    s.ip_address = Some(v4.map(|a| a.addr().to_string()).unwrap_or_default());
    s.ip_prefix_len = Some(v4.map(|a| a.prefix_len() as i64).unwrap_or(0));
    s.gateway = Some(if v4.is_some() {
        gw(true)
    } else {
        String::new()
    });
    s.global_ipv6_address = Some(v6.map(|a| a.addr().to_string()).unwrap_or_default());
    s.global_ipv6_prefix_len = Some(v6.map(|a| a.prefix_len() as i64).unwrap_or(0));
    s.ipv6_gateway = Some(if v6.is_some() {
        gw(false)
    } else {
        String::new()
    });
    s
}
