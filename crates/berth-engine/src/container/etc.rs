//! Engine glue for the container's /etc files: gathers the inputs from the container record,
//! its endpoints and the host, and (re)writes the files.

use super::files::{parse_extra_host, FileInputs};
use super::Container;
use crate::error::{EngineError, Result};
use crate::network::firewall::{link_elements, LinkPass};
use crate::Engine;

impl Engine {
    /// Checks `--add-host` values at create time (host-gateway is resolved at start).
    pub(crate) fn validate_extra_hosts(&self, c: &bollard_stubs::models::HostConfig) -> Result<()> {
        for h in c.extra_hosts.clone().unwrap_or_default() {
            parse_extra_host(&h, Some("0.0.0.0")).map_err(EngineError::Invalid)?;
        }
        Ok(())
    }

    pub(crate) fn file_inputs(&self, c: &Container) -> Result<FileInputs> {
        let eps = self.networks.endpoints_of(&c.id);
        let nets: Vec<_> = eps
            .iter()
            .filter_map(|e| self.networks.resolve(&e.network_id).ok())
            .collect();
        let gateway = nets
            .iter()
            .flat_map(|n| n.subnets.iter().filter_map(|s| s.gateway))
            .find(|g| g.is_ipv4())
            .map(|g| g.to_string());
        let hc = &c.host_config;
        let mut extra_hosts = Vec::new();
        for h in hc.extra_hosts.clone().unwrap_or_default() {
            extra_hosts
                .push(parse_extra_host(&h, gateway.as_deref()).map_err(EngineError::Invalid)?);
        }
        extra_hosts.extend(self.link_hosts(c));
        Ok(FileInputs {
            hostname: c.config.hostname.clone().unwrap_or_default(),
            host_mode: c.network_mode() == "host",
            addrs: eps
                .iter()
                .flat_map(|e| e.addrs.iter().map(|a| a.addr().to_string()))
                .collect(),
            extra_hosts,
            embedded_dns: nets.iter().any(|n| !n.is_default_bridge()),
            dns: hc.dns.clone().unwrap_or_default(),
            dns_search: hc.dns_search.clone().unwrap_or_default(),
            dns_options: hc.dns_options.clone().unwrap_or_default(),
            host_resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        })
    }

    /// Writes the container's three files from its current state.
    pub(crate) fn write_files(&self, c: &Container) -> Result<()> {
        let f = self.file_inputs(c)?;
        // Written in place: the files are bind-mounted, a rename would not be seen inside.
        super::files::write(&self.container_dir(&c.id), &f)
            .map_err(crate::error::io("write container files"))
    }

    /// Rewrites a running container's /etc/hosts after its networks changed.
    pub(crate) fn refresh_hosts(&self, id: &str) {
        if let Ok(c) = self.find(id) {
            if let Ok(f) = self.file_inputs(&c) {
                let _ = std::fs::write(
                    self.container_dir(id).join("hosts"),
                    super::files::render_hosts(&f),
                );
            }
        }
    }

    /// `/etc/hosts` entries for legacy links (`--link name:alias`): the linked container's
    /// address on a network both share.
    fn link_hosts(&self, c: &Container) -> Vec<(String, String)> {
        let mine: Vec<String> = self
            .networks
            .endpoints_of(&c.id)
            .into_iter()
            .map(|e| e.network_id)
            .collect();
        let mut out = Vec::new();
        for link in c.host_config.links.clone().unwrap_or_default() {
            let (name, alias) = parse_link(&link);
            let Ok(target) = self.find(name) else {
                continue;
            };
            let ep = self
                .networks
                .endpoints_of(&target.id)
                .into_iter()
                .find(|e| mine.contains(&e.network_id));
            if let Some(ip) = ep.and_then(|e| {
                e.addrs
                    .iter()
                    .find(|a| a.addr().is_ipv4())
                    .map(|a| a.addr().to_string())
            }) {
                let mut names = vec![alias.to_string()];
                for n in [
                    crate::ids::short(&target.id).to_string(),
                    target.name.clone(),
                ] {
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
                out.push((ip, names.join(" ")));
            }
        }
        out
    }
}

impl Engine {
    /// Legacy-link exceptions to disabled ICC for linking container `c`: on the default
    /// bridge, its address may reach each link target's on every port the target exposes
    /// (Docker's rules). Empty when `c` links to nothing there.
    fn link_passes(&self, c: &Container) -> Vec<LinkPass> {
        let Some(bridge) = self
            .networks
            .list()
            .into_iter()
            .find(|n| n.is_default_bridge())
        else {
            return vec![];
        };
        let v4_on_bridge = |id: &str| {
            self.networks
                .endpoints_of(id)
                .into_iter()
                .filter(|e| e.network_id == bridge.id)
                .flat_map(|e| e.addrs)
                .find_map(|a| match a.addr() {
                    std::net::IpAddr::V4(v4) => Some(v4),
                    _ => None,
                })
        };
        let Some(linker) = v4_on_bridge(&c.id) else {
            return vec![];
        };
        let mut out = Vec::new();
        for link in c.host_config.links.clone().unwrap_or_default() {
            let (name, _) = parse_link(&link);
            let Ok(target) = self.find(name) else {
                continue;
            };
            let Some(tip) = v4_on_bridge(&target.id) else {
                continue;
            };
            for key in target.config.exposed_ports.clone().unwrap_or_default() {
                if let Ok((port, proto)) = crate::network::ports::parse_key(&key) {
                    let pass = LinkPass {
                        linker,
                        target: tip,
                        proto: proto.to_string(),
                        port,
                    };
                    if !out.contains(&pass) {
                        out.push(pass);
                    }
                }
            }
        }
        out
    }

    /// Puts `c`'s legacy-link exceptions in force (at start, once attached).
    pub(crate) fn links_allow(&self, c: &Container) -> Result<()> {
        let passes = self.link_passes(c);
        if passes.is_empty() {
            return Ok(());
        }
        self.update(&c.id, |r| r.link_passes = passes.clone())?;
        self.dataplane
            .firewall(&link_elements("add", &passes))
            .map_err(|e| EngineError::Internal(format!("link rules: {e}")))
    }

    /// Takes container `id`'s legacy-link exceptions away (at stop; best effort).
    pub(crate) fn links_revoke(&self, id: &str) {
        let Ok(c) = self.find(id) else { return };
        if c.link_passes.is_empty() {
            return;
        }
        if let Err(e) = self
            .dataplane
            .firewall(&link_elements("delete", &c.link_passes))
        {
            tracing::warn!(id, "link rules: {e}; rebuilding berth's rules");
            let _ = self.update(id, |r| r.link_passes.clear());
            let _ = self.dataplane.firewall(&self.firewall_full());
            return;
        }
        let _ = self.update(id, |r| r.link_passes.clear());
    }

    /// Docker's legacy link environment: `ALIAS_NAME`, `ALIAS_PORT`, `ALIAS_PORT_80_TCP*`,
    /// `ALIAS_ENV_*` for every `--link` whose target shares a network with `c`.
    pub(crate) fn link_env(&self, c: &Container) -> Vec<String> {
        let mut env = Vec::new();
        for (ip, names) in self.link_hosts(c) {
            let mut it = names.split(' ');
            let alias = it.next().unwrap_or_default().to_string();
            let Some(target) = it.next_back().and_then(|n| self.find(n).ok()) else {
                continue;
            };
            let prefix: String = alias
                .to_uppercase()
                .chars()
                .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                .collect();
            env.push(format!("{prefix}_NAME=/{}/{alias}", c.name));
            let mut ports: Vec<(u16, String)> = target
                .config
                .exposed_ports
                .clone()
                .unwrap_or_default()
                .iter()
                .filter_map(|k| crate::network::ports::parse_key(k).ok())
                .collect();
            ports.sort();
            if let Some((p, proto)) = ports.first() {
                env.push(format!("{prefix}_PORT={proto}://{ip}:{p}"));
            }
            for (p, proto) in &ports {
                let k = format!("{prefix}_PORT_{p}_{}", proto.to_uppercase());
                env.push(format!("{k}={proto}://{ip}:{p}"));
                env.push(format!("{k}_ADDR={ip}"));
                env.push(format!("{k}_PORT={p}"));
                env.push(format!("{k}_PROTO={proto}"));
            }
            for e in target.config.env.clone().unwrap_or_default() {
                let key = e.split('=').next().unwrap_or_default();
                if !matches!(key, "PATH" | "HOME" | "HOSTNAME") {
                    env.push(format!("{prefix}_ENV_{e}"));
                }
            }
        }
        env
    }
}

/// `name[:alias]` (a leading `/` is allowed, as in Docker's API form `/name:/me/alias`).
pub fn parse_link(link: &str) -> (&str, &str) {
    let (name, alias) = link.split_once(':').unwrap_or((link, link));
    let name = name.trim_start_matches('/');
    let alias = alias.rsplit('/').next().unwrap_or(alias);
    (name, if alias.is_empty() { name } else { alias })
}

#[cfg(test)]
mod tests {
    use super::parse_link;

    #[test]
    fn link_forms() {
        assert_eq!(parse_link("db"), ("db", "db"));
        assert_eq!(parse_link("db:data"), ("db", "data"));
        assert_eq!(parse_link("/db:/web/data"), ("db", "data"));
    }
}
