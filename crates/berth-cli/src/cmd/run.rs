//! `run` and `create`: turning flags into a create request, and the
//! foreground run loop (start, stream logs, wait, exit with the status).

use crate::args::{ContainerOpts, CreateArgs, RunArgs};
use crate::client::Client;
use crate::error::{describe_api_error, is_not_found, StatusError};
use crate::opts::{self, OptError};
use crate::output::outln;
use crate::ports;
use bollard::errors::Error as ApiError;
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, LogsOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;

/// A validated create request.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    pub name: Option<String>,
    pub image: String,
    pub body: ContainerCreateBody,
}

/// One `--network` value: a name, or Docker's `name=n,alias=a,ip=...` form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkAttach {
    pub name: String,
    pub aliases: Vec<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub mac: Option<String>,
    pub link_local_ips: Vec<String>,
    pub driver_opts: HashMap<String, String>,
    pub gw_priority: Option<i64>,
}

const NETWORK_FLAG: &str = "--network";

/// Parses one `--network` value.
pub fn parse_network(val: &str) -> Result<NetworkAttach, OptError> {
    let err = |reason: String| OptError::new(NETWORK_FLAG, val, reason);
    if !val.contains('=') {
        if val.is_empty() {
            return Err(err("network name cannot be empty".to_string()));
        }
        return Ok(NetworkAttach {
            name: val.to_string(),
            ..Default::default()
        });
    }
    let mut n = NetworkAttach::default();
    for field in val.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| err(format!("invalid field {field}")))?;
        match k.trim().to_lowercase().as_str() {
            "name" => n.name = v.to_string(),
            "alias" => n.aliases.push(v.to_string()),
            "ip" => n.ipv4 = Some(opts::parse_ipv4(v).map_err(err)?),
            "ip6" => n.ipv6 = Some(opts::parse_ipv6(v).map_err(err)?),
            "mac-address" => n.mac = Some(opts::parse_mac(v).map_err(err)?),
            "link-local-ip" => n.link_local_ips.push(opts::parse_ip(v).map_err(err)?),
            "driver-opt" => {
                let (dk, dv) = opts::parse_kv(v).map_err(err)?;
                n.driver_opts.insert(dk, dv);
            }
            "gw-priority" => {
                n.gw_priority = Some(
                    v.parse()
                        .map_err(|_| err(format!("invalid gw-priority: {v}")))?,
                )
            }
            other => return Err(err(format!("invalid field key {other}"))),
        }
    }
    if n.name.is_empty() {
        return Err(err("network name cannot be empty".to_string()));
    }
    Ok(n)
}

fn endpoint(n: &NetworkAttach) -> EndpointSettings {
    let ipam = if n.ipv4.is_some() || n.ipv6.is_some() || !n.link_local_ips.is_empty() {
        Some(EndpointIpamConfig {
            ipv4_address: n.ipv4.clone(),
            ipv6_address: n.ipv6.clone(),
            link_local_ips: (!n.link_local_ips.is_empty()).then(|| n.link_local_ips.clone()),
        })
    } else {
        None
    };
    EndpointSettings {
        ipam_config: ipam,
        aliases: (!n.aliases.is_empty()).then(|| n.aliases.clone()),
        mac_address: n.mac.clone(),
        driver_opts: (!n.driver_opts.is_empty()).then(|| n.driver_opts.clone()),
        gw_priority: n.gw_priority,
        ..Default::default()
    }
}

fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "" | "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// Splits a reference into (repository, tag), tag defaulting to none.
pub fn split_reference(r: &str) -> (&str, Option<&str>) {
    let r = r.split('@').next().unwrap_or(r);
    let last_slash = r.rfind('/').map_or(0, |i| i + 1);
    match r[last_slash..].rfind(':') {
        Some(i) => (&r[..last_slash + i], Some(&r[last_slash + i + 1..])),
        None => (r, None),
    }
}

/// `alpine` → `alpine:latest`, as Docker prints in "Unable to find image".
pub fn normalize_reference(r: &str) -> String {
    if r.contains('@') || split_reference(r).1.is_some() {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

/// Docker's client-side reference check.
pub fn validate_reference(r: &str) -> Result<(), String> {
    if r.is_empty() {
        return Err("invalid reference format".to_string());
    }
    let (repo, tag) = split_reference(r);
    if repo.is_empty() || repo.ends_with('/') || repo.starts_with('/') || repo.contains("//") {
        return Err("invalid reference format".to_string());
    }
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "invalid reference format: repository name ({repo}) must be lowercase"
        ));
    }
    if repo
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "._-/:".contains(c)))
    {
        return Err("invalid reference format".to_string());
    }
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err("invalid reference format".to_string());
        }
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<(), String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

/// Validates the flags and builds the create request. `env_files` holds the
/// contents of each `--env-file`, read by the caller.
pub fn build_spec(
    o: &ContainerOpts,
    detach: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
    env_files: &[(String, String)],
) -> anyhow::Result<CreateSpec> {
    let Some((image, cmd)) = o.image_and_cmd.split_first() else {
        anyhow::bail!("requires at least 1 argument");
    };
    validate_reference(image).map_err(anyhow::Error::msg)?;
    if let Some(n) = &o.name {
        validate_name(n).map_err(anyhow::Error::msg)?;
    }

    let mut env = Vec::new();
    for (path, content) in env_files {
        env.extend(
            opts::parse_env_file(content, lookup)
                .map_err(|e| OptError::new("--env-file", path, e))?,
        );
    }
    for e in &o.env {
        env.push(opts::parse_env(e, lookup).map_err(|r| OptError::new("-e, --env", e, r))?);
    }

    let mut labels = HashMap::new();
    for l in &o.label {
        let (k, v) = opts::parse_label(l).map_err(|r| OptError::new("-l, --label", l, r))?;
        labels.insert(k, v);
    }

    let mut exposed: BTreeSet<String> = BTreeSet::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &o.publish {
        for m in ports::parse_publish(p).map_err(anyhow::Error::msg)? {
            exposed.insert(m.port.clone());
            bindings
                .entry(m.port)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(m.host_ip),
                    host_port: Some(m.host_port),
                });
        }
    }
    for e in &o.expose {
        exposed.extend(ports::parse_expose(e).map_err(anyhow::Error::msg)?);
    }

    let mut extra_hosts = Vec::new();
    for h in &o.add_host {
        extra_hosts.push(opts::parse_extra_host(h).map_err(|r| OptError::new("--add-host", h, r))?);
    }
    let mut links = Vec::new();
    for l in &o.link {
        links.push(
            opts::parse_link(l)
                .map_err(|_| OptError::new("--link", l, format!("bad format for links: {l}")))?,
        );
    }
    let mut dns = Vec::new();
    for d in &o.dns {
        dns.push(opts::parse_ip(d).map_err(|_| {
            OptError::new(
                "--dns",
                d,
                format!("IP address is not correctly formatted: {d}"),
            )
        })?);
    }
    for s in &o.dns_search {
        if s.is_empty() || s.chars().any(char::is_whitespace) {
            return Err(OptError::new("--dns-search", s, "invalid search domain").into());
        }
    }

    let mut networks = Vec::new();
    for n in &o.network {
        networks.push(parse_network(n)?);
    }
    let legacy_endpoint =
        o.ip.is_some() || o.ip6.is_some() || o.mac_address.is_some() || !o.network_alias.is_empty();
    if networks.is_empty() && legacy_endpoint {
        networks.push(NetworkAttach {
            name: "default".to_string(),
            ..Default::default()
        });
    }
    if let Some(first) = networks.first_mut() {
        if let Some(ip) = &o.ip {
            first.ipv4 = Some(opts::parse_ipv4(ip).map_err(|r| OptError::new("--ip", ip, r))?);
        }
        if let Some(ip) = &o.ip6 {
            first.ipv6 = Some(opts::parse_ipv6(ip).map_err(|r| OptError::new("--ip6", ip, r))?);
        }
        if let Some(mac) = &o.mac_address {
            first.mac = Some(opts::parse_mac(mac).map_err(anyhow::Error::msg)?);
        }
        if !o.network_alias.is_empty() {
            if !is_user_defined(&first.name) {
                anyhow::bail!(
                    "network-scoped aliases are only supported for user-defined networks"
                );
            }
            first.aliases.extend(o.network_alias.iter().cloned());
        }
    }
    let network_mode = networks.first().map(|n| n.name.clone());
    let endpoints: HashMap<String, EndpointSettings> = networks
        .iter()
        .map(|n| (n.name.clone(), endpoint(n)))
        .collect();

    let entrypoint = o.entrypoint.as_ref().map(|e| vec![e.clone()]);
    let attach_stdin = o.interactive && !detach;
    let host_config = HostConfig {
        network_mode,
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        publish_all_ports: o.publish_all.then_some(true),
        dns: (!dns.is_empty()).then_some(dns),
        dns_search: (!o.dns_search.is_empty()).then(|| o.dns_search.clone()),
        dns_options: (!o.dns_option.is_empty()).then(|| o.dns_option.clone()),
        extra_hosts: (!extra_hosts.is_empty()).then_some(extra_hosts),
        links: (!links.is_empty()).then_some(links),
        auto_remove: o.rm.then_some(true),
        privileged: o.privileged.then_some(true),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
        entrypoint,
        env: (!env.is_empty()).then_some(env),
        working_dir: o.workdir.clone(),
        hostname: o.hostname.clone(),
        domainname: o.domainname.clone(),
        user: o.user.clone(),
        labels: (!labels.is_empty()).then_some(labels),
        exposed_ports: (!exposed.is_empty()).then(|| exposed.into_iter().collect()),
        tty: Some(o.tty),
        open_stdin: Some(o.interactive),
        stdin_once: Some(attach_stdin),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(!detach),
        attach_stderr: Some(!detach),
        stop_signal: o.stop_signal.clone(),
        stop_timeout: o.stop_timeout,
        host_config: Some(host_config),
        networking_config: (!endpoints.is_empty()).then_some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        }),
        ..Default::default()
    };
    Ok(CreateSpec {
        name: o.name.clone(),
        image: image.clone(),
        body,
    })
}

fn read_env_files(o: &ContainerOpts) -> anyhow::Result<Vec<(String, String)>> {
    o.env_file
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|c| (p.clone(), c))
                .map_err(|e| anyhow::anyhow!("open {p}: {e}"))
        })
        .collect()
}

fn env_lookup(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// A failure of `run`/`create` before the container runs, printed like Docker.
fn cli_failure(cmd: &str, code: i32, msg: &str) -> StatusError {
    StatusError::new(
        code,
        format!("berth: {msg}\n\nRun 'berth {cmd} --help' for more information"),
    )
}

pub fn spec_or_fail(o: &ContainerOpts, detach: bool, cmd: &str) -> Result<CreateSpec, StatusError> {
    let files = read_env_files(o).map_err(|e| cli_failure(cmd, 125, &format!("{e:#}")))?;
    build_spec(o, detach, &env_lookup, &files).map_err(|e| {
        if e.downcast_ref::<OptError>().is_some() {
            // Docker reports bad flag values without the "docker: " prefix.
            StatusError::new(
                125,
                format!("{e}\n\nRun 'berth {cmd} --help' for more information"),
            )
        } else {
            cli_failure(cmd, 125, &format!("{e:#}"))
        }
    })
}

/// Creates the container; on a missing image prints Docker's notice and, unless `--pull
/// never`, pulls it (progress on stderr) and tries again. `--pull always` pulls first.
async fn create_container(
    c: &Client,
    spec: &CreateSpec,
    cmd: &str,
    o: &ContainerOpts,
) -> Result<String, StatusError> {
    let pull_failed = |e: &ApiError| cli_failure(cmd, 125, &describe_api_error(e));
    let platform = o.platform.as_deref();
    if o.pull == "always" && spec.image != "host" {
        crate::cmd::image::pull_image(c, &spec.image, platform, false, true)
            .await
            .map_err(|e| pull_failed(&e))?;
    }
    let mut pulled = false;
    loop {
        let options = CreateContainerOptions {
            name: spec.name.clone(),
            ..Default::default()
        };
        match c
            .docker
            .create_container(Some(options), spec.body.clone())
            .await
        {
            Ok(r) => {
                for w in &r.warnings {
                    eprintln!("WARNING: {w}");
                }
                return Ok(r.id);
            }
            Err(e) => {
                let missing_image = is_not_found(&e)
                    && matches!(&e, ApiError::DockerResponseServerError { message, .. }
                        if message.starts_with("No such image"));
                if is_not_found(&e) && !pulled {
                    eprintln!(
                        "Unable to find image '{}' locally",
                        normalize_reference(&spec.image)
                    );
                }
                if missing_image && !pulled && o.pull != "never" {
                    crate::cmd::image::pull_image(c, &spec.image, platform, false, true)
                        .await
                        .map_err(|e| pull_failed(&e))?;
                    pulled = true;
                    continue;
                }
                return Err(cli_failure(cmd, 125, &describe_api_error(&e)));
            }
        }
    }
}

pub async fn create(c: &Client, a: &CreateArgs) -> anyhow::Result<i32> {
    let spec = spec_or_fail(&a.opts, false, "create")?;
    let id = create_container(c, &spec, "create", &a.opts).await?;
    outln(&id);
    Ok(0)
}

/// Docker's exit status for a failed start: 127 command not found, 126 not
/// executable, else 125.
pub fn start_failure_code(msg: &str) -> i32 {
    if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    }
}

async fn force_remove(c: &Client, id: &str) {
    let _ = c
        .docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
}

/// Result of a wait request: `Ok(Some(code))`, `Ok(None)` if the container is
/// already gone, or an error.
pub async fn wait_once(c: &Client, id: &str, condition: &str) -> Result<Option<i64>, ApiError> {
    let mut s = c.docker.wait_container(
        id,
        Some(WaitContainerOptions {
            condition: condition.to_string(),
        }),
    );
    match s.next().await {
        Some(Ok(r)) => Ok(Some(r.status_code)),
        // bollard turns a non-zero StatusCode into this error.
        Some(Err(ApiError::DockerContainerWaitError { code, .. })) => Ok(Some(code)),
        Some(Err(e)) if is_not_found(&e) => Ok(None),
        Some(Err(e)) => Err(e),
        None => Ok(None),
    }
}

/// Streams the container's output until it ends.
pub async fn stream_logs(c: &Client, id: &str) -> Result<(), ApiError> {
    let mut logs = c.docker.logs(
        id,
        Some(LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        }),
    );
    while let Some(item) = logs.next().await {
        match item {
            Ok(chunk) => write_log_output(chunk),
            Err(e) if is_not_found(&e) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes one frame to stdout or stderr.
pub fn write_log_output(chunk: bollard::container::LogOutput) {
    use bollard::container::LogOutput;
    match chunk {
        LogOutput::StdErr { message } => {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(&message);
            let _ = e.flush();
        }
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            let mut o = std::io::stdout().lock();
            if let Err(err) = o.write_all(&message).and_then(|()| o.flush()) {
                if err.kind() == std::io::ErrorKind::BrokenPipe {
                    std::process::exit(0);
                }
            }
        }
        LogOutput::StdIn { .. } => {}
    }
}

/// Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container (Docker's sig-proxy).
fn spawn_sig_proxy(c: &Client, id: &str) -> Option<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
    ];
    let mut streams = Vec::new();
    for (k, name) in kinds {
        if let Ok(s) = signal(k) {
            streams.push((s, name));
        }
    }
    if streams.is_empty() {
        return None;
    }
    let docker = c.docker.clone();
    let id = id.to_string();
    Some(tokio::spawn(async move {
        let mut streams = streams;
        loop {
            let futs = streams.iter_mut().map(|(s, name)| {
                let name = *name;
                Box::pin(async move {
                    s.recv().await;
                    name
                })
            });
            let (name, _, _) = futures_util::future::select_all(futs).await;
            let _ = docker
                .kill_container(
                    &id,
                    Some(KillContainerOptions {
                        signal: name.to_string(),
                    }),
                )
                .await;
        }
    }))
}

pub async fn run(c: &Client, a: &RunArgs) -> anyhow::Result<i32> {
    let spec = spec_or_fail(&a.opts, a.detach, "run")?;
    let id = create_container(c, &spec, "run", &a.opts).await?;
    let rm = a.opts.rm;

    if a.detach {
        if let Err(e) = c.docker.start_container(&id, None).await {
            let msg = describe_api_error(&e);
            if rm {
                force_remove(c, &id).await;
            }
            return Err(cli_failure("run", start_failure_code(&msg), &msg).into());
        }
        outln(&id);
        return Ok(0);
    }

    // With --rm the daemon may remove the container as soon as it exits, so
    // register a "removed" wait before starting; it reports the exit status.
    let early_wait = if rm {
        Some(
            c.begin_wait(&id, "removed", std::time::Duration::from_millis(500))
                .await,
        )
    } else {
        None
    };

    // Attach before start (as Docker's CLI does) so no output of a short-lived container is
    // lost, even when --rm removes it right after it exits.
    let attached = c
        .docker
        .attach_container(
            &id,
            Some(bollard::query_parameters::AttachContainerOptions {
                stream: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )
        .await;
    if let Err(e) = c.docker.start_container(&id, None).await {
        let msg = describe_api_error(&e);
        if let Some(h) = early_wait {
            h.abort();
        }
        if rm {
            force_remove(c, &id).await;
        }
        return Err(cli_failure("run", start_failure_code(&msg), &msg).into());
    }
    // If the "removed" wait already answered while the container still
    // exists, the daemon ignored the condition; don't trust that answer.
    let early_wait = match early_wait {
        Some(h) if h.is_finished() => {
            let still_there = c.docker.inspect_container(&id, None).await.is_ok();
            (!still_there).then_some(h)
        }
        other => other,
    };

    let proxy = if a.sig_proxy && !a.opts.tty {
        spawn_sig_proxy(c, &id)
    } else {
        None
    };

    let log_result = match attached {
        Ok(a) => {
            let mut output = a.output;
            while let Some(Ok(chunk)) = output.next().await {
                write_log_output(chunk);
            }
            Ok(())
        }
        // A daemon without attach: fall back to following the logs.
        Err(_) => stream_logs(c, &id).await,
    };

    let mut code = None;
    if let Some(h) = early_wait {
        if let Ok(Ok(Some(c))) = h.await {
            code = Some(c);
        }
    }
    if code.is_none() {
        match wait_once(c, &id, "not-running").await {
            Ok(c) => code = c,
            Err(e) => {
                if let Some(p) = proxy {
                    p.abort();
                }
                return Err(e.into());
            }
        }
    }
    if let Some(p) = proxy {
        p.abort();
    }
    if rm {
        // AutoRemove normally did this already; a 404 here is fine.
        force_remove(c, &id).await;
    }
    log_result?;
    Ok(code.map_or(0, |c| i32::try_from(c).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn opts_of(args: &[&str]) -> ContainerOpts {
        let mut v = vec!["berth", "run"];
        v.extend_from_slice(args);
        match crate::args::Cli::try_parse_from(v) {
            Ok(cli) => match cli.command {
                crate::args::Command::Run(r) => r.opts,
                other => panic!("{other:?}"),
            },
            Err(e) => panic!("{e}"),
        }
    }

    fn spec(args: &[&str]) -> anyhow::Result<CreateSpec> {
        build_spec(
            &opts_of(args),
            false,
            &|k| (k == "FOO").then(|| "bar".to_string()),
            &[],
        )
    }

    #[test]
    fn ports_go_to_bindings_and_exposed() {
        let s = spec(&[
            "-p",
            "127.0.0.1:8080:80/udp",
            "-p",
            "9000-9001:90-91",
            "--expose",
            "7",
            "img",
        ])
        .unwrap();
        let b = s
            .body
            .host_config
            .as_ref()
            .and_then(|h| h.port_bindings.clone())
            .unwrap();
        assert_eq!(
            b.get("80/udp"),
            Some(&Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("8080".into())
            }]))
        );
        assert_eq!(
            b.get("91/tcp"),
            Some(&Some(vec![PortBinding {
                host_ip: Some(String::new()),
                host_port: Some("9001".into())
            }]))
        );
        assert_eq!(
            s.body.exposed_ports,
            Some(vec![
                "7/tcp".into(),
                "80/udp".into(),
                "90/tcp".into(),
                "91/tcp".into()
            ])
        );
        let json = serde_json::to_value(&s.body).unwrap();
        assert_eq!(json["ExposedPorts"]["80/udp"], serde_json::json!({}));
    }

    #[test]
    fn env_and_labels() {
        let s = spec(&[
            "-e", "A=1", "-e", "FOO", "-e", "NOPE", "--label", "x=y", "-l", "z", "img",
        ])
        .unwrap();
        assert_eq!(
            s.body.env,
            Some(vec!["A=1".into(), "FOO=bar".into(), "NOPE".into()])
        );
        let l = s.body.labels.unwrap();
        assert_eq!(l.get("x").map(String::as_str), Some("y"));
        assert_eq!(l.get("z").map(String::as_str), Some(""));
    }

    #[test]
    fn bad_values_are_named() {
        let e = spec(&["-e", "=x", "img"]).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid argument \"=x\" for \"-e, --env\" flag: invalid environment variable: =x"
        );
        let e = spec(&["-p", "abc", "img"]).unwrap_err().to_string();
        assert_eq!(e, "invalid containerPort: abc");
        let e = spec(&["--add-host", "foo", "img"]).unwrap_err().to_string();
        assert!(e.contains("\"foo\"") && e.contains("--add-host"), "{e}");
        let e = spec(&["--link", "a:b:c", "img"]).unwrap_err().to_string();
        assert!(e.contains("bad format for links: a:b:c"), "{e}");
        let e = spec(&["--mac-address", "zz", "img"])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "zz is not a valid mac address");
        let e = spec(&["--ip", "1.2.3", "--network", "n", "img"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1.2.3"), "{e}");
        let e = spec(&["--name", "bad name", "img"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Invalid container name (bad name)"), "{e}");
        let e = spec(&["Alpine"]).unwrap_err().to_string();
        assert!(e.contains("must be lowercase"), "{e}");
    }

    #[test]
    fn networks_and_endpoints() {
        let s = spec(&[
            "--network",
            "n1",
            "--network",
            "n2",
            "--ip",
            "10.1.0.5",
            "--network-alias",
            "web",
            "--mac-address",
            "02:42:AC:11:00:02",
            "img",
            "sh",
        ])
        .unwrap();
        let hc = s.body.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("n1"));
        let eps = s.body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(eps.len(), 2);
        let n1 = &eps["n1"];
        assert_eq!(
            n1.ipam_config
                .as_ref()
                .and_then(|i| i.ipv4_address.as_deref()),
            Some("10.1.0.5")
        );
        assert_eq!(n1.aliases, Some(vec!["web".to_string()]));
        assert_eq!(n1.mac_address.as_deref(), Some("02:42:ac:11:00:02"));
        assert_eq!(eps["n2"], EndpointSettings::default());
        assert_eq!(s.body.cmd, Some(vec!["sh".to_string()]));
    }

    #[test]
    fn advanced_network_syntax() {
        let n = parse_network("name=n1,alias=a,alias=b,ip=10.0.0.2,driver-opt=k=v").unwrap();
        assert_eq!(n.name, "n1");
        assert_eq!(n.aliases, vec!["a", "b"]);
        assert_eq!(n.ipv4.as_deref(), Some("10.0.0.2"));
        assert_eq!(n.driver_opts.get("k").map(String::as_str), Some("v"));
        let e = parse_network("name=foo,bogus=1").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid argument \"name=foo,bogus=1\" for \"--network\" flag: invalid field key bogus"
        );
    }

    #[test]
    fn alias_needs_user_network() {
        let e = spec(&["--network-alias", "x", "img"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "network-scoped aliases are only supported for user-defined networks"
        );
    }

    #[test]
    fn dns_hosts_links_and_misc() {
        let s = spec(&[
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "db=10.0.0.9",
            "--link",
            "web:w",
            "--rm",
            "-w",
            "/srv",
            "-h",
            "box",
            "--entrypoint",
            "",
            "-it",
            "img",
        ])
        .unwrap();
        let hc = s.body.host_config.clone().unwrap();
        assert_eq!(hc.dns, Some(vec!["1.1.1.1".to_string()]));
        assert_eq!(hc.dns_search, Some(vec!["example.com".to_string()]));
        assert_eq!(hc.dns_options, Some(vec!["ndots:2".to_string()]));
        assert_eq!(hc.extra_hosts, Some(vec!["db:10.0.0.9".to_string()]));
        assert_eq!(hc.links, Some(vec!["web:w".to_string()]));
        assert_eq!(hc.auto_remove, Some(true));
        assert_eq!(hc.network_mode, None);
        assert_eq!(s.body.working_dir.as_deref(), Some("/srv"));
        assert_eq!(s.body.hostname.as_deref(), Some("box"));
        assert_eq!(s.body.entrypoint, Some(vec![String::new()]));
        assert_eq!(s.body.tty, Some(true));
        assert_eq!(s.body.open_stdin, Some(true));
        assert!(s.body.networking_config.is_none());
    }

    #[test]
    fn references() {
        assert_eq!(normalize_reference("alpine"), "alpine:latest");
        assert_eq!(normalize_reference("bb:1"), "bb:1");
        assert_eq!(
            normalize_reference("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(
            split_reference("localhost:5000/x:t"),
            ("localhost:5000/x", Some("t"))
        );
        assert!(validate_reference("bb:latest").is_ok());
        assert!(validate_reference("bb:").is_err());
        assert!(validate_reference("").is_err());
    }

    #[test]
    fn start_failure_codes() {
        assert_eq!(
            start_failure_code("exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(start_failure_code("permission denied"), 126);
        assert_eq!(start_failure_code("something else"), 125);
    }
}
