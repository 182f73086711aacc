//! `create`: validate the request, merge it with the image's config, persist the record.

use super::record::{Container, State};
use crate::error::{EngineError, Result};
use crate::image::Image;
use crate::store::Kind;
use crate::{ids, Engine, Entry};
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody};
use std::sync::Arc;

impl Engine {
    /// Creates a container; returns its id and Docker-style warnings. Nothing is left behind
    /// on error.
    pub fn create_container(
        &self,
        name: Option<String>,
        body: ContainerCreateBody,
    ) -> Result<(String, Vec<String>)> {
        let image_ref = body
            .image
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| EngineError::Invalid("config error: no image specified".into()))?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.trim_start_matches('/').to_string();
                if !ids::valid_name(&n) {
                    return Err(EngineError::Invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                Some(n)
            }
            None => None,
        };
        refuse_volumes(&body)?;
        let image = self.images.resolve(&image_ref)?;
        let mut host_config = body.host_config.clone().unwrap_or_default();
        let mode = host_config.network_mode.clone().unwrap_or_default();
        let mode = if mode.is_empty() || mode == "default" {
            "bridge".to_string()
        } else {
            mode
        };
        let endpoints = self.requested_endpoints(&mode, &body)?;
        let exposed = image.config.exposed_ports.clone().unwrap_or_default();
        let ports = crate::network::ports::requests(&host_config, &exposed)?;
        let mut warnings = Vec::new();
        if !ports.is_empty() && mode.starts_with("container:") {
            return Err(EngineError::Invalid(
                "conflicting options: port publishing and the container type network mode".into(),
            ));
        }
        if !ports.is_empty() && (mode == "host" || mode == "none") {
            // Docker runs the container and warns; the bindings are dropped, not kept half-applied.
            warnings.push(format!(
                "Published ports are discarded when using {mode} network mode"
            ));
            host_config.port_bindings = None;
            host_config.publish_all_ports = Some(false);
        }
        host_config.publish_all_ports.get_or_insert(false);
        self.validate_extra_hosts(&host_config)?;
        for link in host_config.links.clone().unwrap_or_default() {
            let (name, _) = crate::container::etc::parse_link(&link);
            self.find(name).map_err(|_| {
                EngineError::Invalid(format!(
                    "could not get container for {name}: no such container (--link {link})"
                ))
            })?;
        }
        host_config.network_mode = Some(mode);
        let id = ids::new_id();
        let config = merge_config(&body, &image, &id);
        if config.entrypoint.as_ref().is_none_or(|e| e.is_empty())
            && config.cmd.as_ref().is_none_or(|c| c.is_empty())
        {
            return Err(EngineError::Invalid("no command specified".into()));
        }
        let mut rec = Container {
            id: id.clone(),
            name: String::new(),
            created: ids::now(),
            image_id: image.id.clone(),
            image_ref,
            config,
            host_config,
            endpoints,
            state: State::default(),
            sandbox_key: String::new(),
            restart_count: 0,
            published: vec![],
            link_passes: vec![],
        };
        let mut map = self.lock();
        rec.name = match name {
            Some(n) => {
                if let Some(other) = map.values().find(|e| e.rec.name == n) {
                    return Err(EngineError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        other.rec.id
                    )));
                }
                n
            }
            None => loop {
                let n = ids::random_name();
                if !map.values().any(|e| e.rec.name == n) {
                    break n;
                }
            },
        };
        std::fs::create_dir_all(self.container_dir(&id))
            .map_err(crate::error::io("create container directory"))?;
        // The log exists from the start, so `attach`/`logs -f` can hold it open across --rm.
        std::fs::File::create(self.log_path(&id))
            .map_err(crate::error::io("create container log"))?;
        if let Err(e) = self.store.put(Kind::Containers, &id, &rec) {
            let _ = std::fs::remove_dir_all(self.container_dir(&id));
            return Err(e.into());
        }
        let (changed, _) = tokio::sync::watch::channel(0);
        map.insert(
            id.clone(),
            Entry {
                rec,
                changed,
                op: Arc::new(tokio::sync::Mutex::new(())),
            },
        );
        Ok((id, warnings))
    }

    /// The networks a new container joins: its network mode's and any in the endpoints
    /// config, each validated (names resolved, `--ip` in a subnet) before anything exists.
    fn requested_endpoints(
        &self,
        mode: &str,
        body: &ContainerCreateBody,
    ) -> Result<std::collections::BTreeMap<String, bollard_stubs::models::EndpointSettings>> {
        let mut asked = body
            .networking_config
            .clone()
            .and_then(|n| n.endpoints_config)
            .unwrap_or_default();
        let mut out = std::collections::BTreeMap::new();
        if mode == "host" || mode == "none" {
            return Ok(out);
        }
        if let Some(target) = mode.strip_prefix("container:") {
            self.find(target).map_err(not_found_is_invalid)?;
            return Ok(out);
        }
        let primary = self.networks.resolve(mode).map_err(not_found_is_invalid)?;
        // Docker's CLI sends the default network's settings under "default".
        let settings = asked
            .remove(mode)
            .or_else(|| asked.remove(&primary.name))
            .or_else(|| asked.remove("default"))
            .unwrap_or_default();
        crate::network::endpoint::validate(&primary, &settings)?;
        out.insert(primary.name.clone(), settings);
        for (name, settings) in asked {
            let net = self.networks.resolve(&name).map_err(not_found_is_invalid)?;
            crate::network::endpoint::validate(&net, &settings)?;
            out.insert(net.name.clone(), settings);
        }
        Ok(out)
    }

    pub(crate) fn container_dir(&self, id: &str) -> std::path::PathBuf {
        self.cfg.data_root.join("containers").join(id)
    }
}

/// The image's config overridden by the request's, as Docker merges them.
fn merge_config(body: &ContainerCreateBody, image: &Image, id: &str) -> ContainerConfig {
    let ic = &image.config;
    let mut env: Vec<String> = ic.env.clone().unwrap_or_default();
    for e in body.env.clone().unwrap_or_default() {
        let key = e.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    let (entrypoint, cmd) = match (&body.entrypoint, &body.cmd) {
        (Some(ep), cmd) => (Some(ep.clone()), cmd.clone()),
        (None, Some(cmd)) if !cmd.is_empty() => (ic.entrypoint.clone(), Some(cmd.clone())),
        _ => (ic.entrypoint.clone(), ic.cmd.clone()),
    };
    let mut labels = ic.labels.clone().unwrap_or_default();
    labels.extend(body.labels.clone().unwrap_or_default());
    let mut exposed = ic.exposed_ports.clone().unwrap_or_default();
    for p in body.exposed_ports.clone().unwrap_or_default() {
        if !exposed.contains(&p) {
            exposed.push(p);
        }
    }
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    ContainerConfig {
        hostname: nonempty(&body.hostname).or_else(|| Some(ids::short(id).to_string())),
        domainname: body.domainname.clone(),
        user: nonempty(&body.user).or_else(|| ic.user.clone()),
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: body.tty,
        open_stdin: body.open_stdin,
        stdin_once: body.stdin_once,
        env: Some(env),
        cmd,
        image: body.image.clone(),
        working_dir: nonempty(&body.working_dir).or_else(|| ic.working_dir.clone()),
        entrypoint,
        labels: Some(labels),
        stop_signal: body.stop_signal.clone().or_else(|| ic.stop_signal.clone()),
        stop_timeout: body.stop_timeout,
        ..Default::default()
    }
}

/// berth has no volumes or bind mounts yet: a request for them is refused (501) instead of
/// running the container without them, where its data would silently stay in its own layer.
fn refuse_volumes(body: &ContainerCreateBody) -> Result<()> {
    let hc = body.host_config.clone().unwrap_or_default();
    let mut asked: Vec<String> = Vec::new();
    asked.extend(hc.binds.iter().flatten().map(|b| format!("-v {b}")));
    asked.extend(
        hc.mounts
            .iter()
            .flatten()
            .map(|m| format!("--mount target={}", m.target.clone().unwrap_or_default())),
    );
    asked.extend(
        hc.tmpfs
            .iter()
            .flatten()
            .map(|(t, _)| format!("--tmpfs {t}")),
    );
    asked.extend(
        hc.volumes_from
            .iter()
            .flatten()
            .map(|v| format!("--volumes-from {v}")),
    );
    asked.extend(body.volumes.iter().flatten().map(|v| format!("-v {v}")));
    if asked.is_empty() {
        return Ok(());
    }
    Err(EngineError::NotImplemented(format!(
        "volumes and bind mounts are not implemented by berth ({})",
        asked.join(", ")
    )))
}

/// A missing network or container named in a create request is the request's fault (400),
/// not a missing image: Docker's CLI answers any 404 from create by trying to pull the image.
fn not_found_is_invalid(e: EngineError) -> EngineError {
    match e {
        EngineError::NotFound(m) => EngineError::Invalid(m),
        other => other,
    }
}
