//! Container commands: `ps`, `start`, `stop`, `restart`, `kill`, `rm`,
//! `rename`, `logs`, `port`, `container prune`.

use super::{report, status};
use crate::args::{
    KillArgs, LogsArgs, PortArgs, PruneArgs, PsArgs, RenameArgs, RmArgs, StartArgs, StopArgs,
};
use crate::client::{path_escape, Client};
use crate::error::StatusError;
use crate::opts::parse_filters;
use crate::output::{self, out, outln, Format};
use crate::ports::{displayable_ports, SummaryPort};
use crate::template::{go_quote, object};
use bollard::models::ContainerSummary;
use bollard::query_parameters::{
    KillContainerOptions, ListContainersOptions, LogsOptions, PruneContainersOptions,
    RemoveContainerOptions, RenameContainerOptions, RestartContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use serde_json::Value;

pub async fn start(c: &Client, a: &StartArgs) -> anyhow::Result<i32> {
    if a.attach {
        if a.containers.len() != 1 {
            return Err(StatusError::new(
                1,
                "you cannot start and attach multiple containers at once",
            )
            .into());
        }
        let name = &a.containers[0];
        c.docker.start_container(name, None).await?;
        super::run::stream_logs(c, name).await?;
        let code = super::run::wait_once(c, name, "not-running").await?;
        return Ok(code.map_or(0, |c| i32::try_from(c).unwrap_or(1)));
    }
    let mut failed = false;
    for name in &a.containers {
        match c.docker.start_container(name, None).await {
            Ok(()) => outln(name),
            Err(e) => report(&mut failed, &e),
        }
    }
    Ok(status(failed))
}

/// `stop` and `restart`.
pub async fn stop(c: &Client, a: &StopArgs, restart: bool) -> anyhow::Result<i32> {
    let mut failed = false;
    for name in &a.containers {
        let r = if restart {
            c.docker
                .restart_container(
                    name,
                    Some(RestartContainerOptions {
                        signal: a.signal.clone(),
                        t: a.time,
                    }),
                )
                .await
        } else {
            c.docker
                .stop_container(
                    name,
                    Some(StopContainerOptions {
                        signal: a.signal.clone(),
                        t: a.time,
                    }),
                )
                .await
        };
        match r {
            Ok(()) => outln(name),
            Err(e) => report(&mut failed, &e),
        }
    }
    Ok(status(failed))
}

pub async fn kill(c: &Client, a: &KillArgs) -> anyhow::Result<i32> {
    let mut failed = false;
    let signal = a.signal.clone().unwrap_or_else(|| "KILL".to_string());
    for name in &a.containers {
        let opts = KillContainerOptions {
            signal: signal.clone(),
        };
        match c.docker.kill_container(name, Some(opts)).await {
            Ok(()) => outln(name),
            Err(e) => report(&mut failed, &e),
        }
    }
    Ok(status(failed))
}

/// `rename CONTAINER NEW_NAME`: silent on success, like Docker.
pub async fn rename(c: &Client, a: &RenameArgs) -> anyhow::Result<i32> {
    let opts = RenameContainerOptions {
        name: a.new_name.clone(),
    };
    let mut failed = false;
    if let Err(e) = c.docker.rename_container(&a.container, opts).await {
        report(&mut failed, &e);
    }
    Ok(status(failed))
}

pub async fn rm(c: &Client, a: &RmArgs) -> anyhow::Result<i32> {
    let mut failed = false;
    for name in &a.containers {
        let opts = RemoveContainerOptions {
            force: a.force,
            v: a.volumes,
            link: a.link,
        };
        match c.docker.remove_container(name, Some(opts)).await {
            Ok(()) => outln(name),
            Err(e) => report(&mut failed, &e),
        }
    }
    Ok(status(failed))
}

pub async fn prune(c: &Client, a: &PruneArgs) -> anyhow::Result<i32> {
    let filters = parse_filters(&a.filter)?;
    if !a.force
        && !super::confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(0);
    }
    let r = c
        .docker
        .prune_containers(Some(PruneContainersOptions {
            filters: (!filters.is_empty()).then_some(filters),
        }))
        .await?;
    let mut s = String::new();
    let deleted = r.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted Containers:\n");
        for id in deleted {
            s.push_str(&id);
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "Total reclaimed space: {}\n",
        output::human_size(r.space_reclaimed.unwrap_or(0) as f64)
    ));
    out(&s);
    Ok(0)
}

pub const PS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Headers for `ps` format fields.
pub fn ps_header() -> Value {
    object(
        [
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("CreatedAt", "CREATED AT"),
            ("RunningFor", "CREATED"),
            ("Ports", "PORTS"),
            ("State", "STATE"),
            ("Status", "STATUS"),
            ("Size", "SIZE"),
            ("Names", "NAMES"),
            ("Labels", "LABELS"),
            ("Mounts", "MOUNTS"),
            ("Networks", "NETWORKS"),
            ("LocalVolumes", "LOCAL VOLUMES"),
        ]
        .map(|(k, v)| (k, Value::String(v.to_string()))),
    )
}

fn labels_string(labels: Option<&std::collections::HashMap<String, String>>) -> String {
    let mut v: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    v.sort();
    v.join(",")
}

/// The `ps` format context of one container (Docker's `ContainerContext`).
pub fn ps_row(s: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = s.id.clone().unwrap_or_default();
    let id = if trunc { output::short_id(&id) } else { id };
    let mut image = s.image.clone().unwrap_or_default();
    if trunc && image.starts_with("sha256:") {
        image = output::short_id(&image);
    }
    let mut command = s.command.clone().unwrap_or_default();
    if trunc {
        command = output::ellipsis(&command, 20);
    }
    let names: Vec<String> = s
        .names
        .iter()
        .flatten()
        .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
        .collect();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .cloned()
            .unwrap_or_default()
    } else {
        names.join(",")
    };
    let ports: Vec<SummaryPort> = s
        .ports
        .iter()
        .flatten()
        .map(|p| SummaryPort {
            ip: p.ip.clone().unwrap_or_default(),
            private_port: p.private_port,
            public_port: p.public_port.unwrap_or(0),
            typ: p
                .typ
                .map(|t| t.to_string())
                .unwrap_or_else(|| "tcp".to_string()),
        })
        .collect();
    let mut networks: Vec<String> = s
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let created = s.created.unwrap_or(0);
    let state = s.state.map(|st| st.to_string()).unwrap_or_default();
    object([
        ("ID", Value::String(id)),
        ("Image", Value::String(image)),
        ("Command", Value::String(go_quote(&command))),
        ("CreatedAt", Value::String(output::go_time_string(created))),
        ("RunningFor", Value::String(output::ago(created, now))),
        ("Ports", Value::String(displayable_ports(&ports))),
        ("State", Value::String(state)),
        (
            "Status",
            Value::String(s.status.clone().unwrap_or_default()),
        ),
        ("Size", Value::String(String::new())),
        ("Names", Value::String(names)),
        ("Labels", Value::String(labels_string(s.labels.as_ref()))),
        ("Mounts", Value::String(String::new())),
        ("Networks", Value::String(networks.join(","))),
        ("LocalVolumes", Value::String("0".to_string())),
    ])
}

pub async fn ps(c: &Client, a: &PsArgs) -> anyhow::Result<i32> {
    let filters = parse_filters(&a.filter)?;
    let limit = if a.latest { Some(1) } else { a.last };
    // Docker shows stopped containers too when filtering on status.
    let all = a.all || limit.is_some() || filters.contains_key("status");
    let opts = ListContainersOptions {
        all,
        limit,
        size: false,
        filters: (!filters.is_empty()).then(|| filters.clone()),
    };
    let mut list = c.docker.list_containers(Some(opts)).await?;
    list.retain(|s| crate::filter::keep_container(&filters, s));
    if let Some(n) = limit.and_then(|n| usize::try_from(n).ok()) {
        list.truncate(n);
    }
    let now = output::now_unix();
    let rows: Vec<Value> = list.iter().map(|s| ps_row(s, !a.no_trunc, now)).collect();
    let format = if a.quiet {
        Format::Raw("{{.ID}}".to_string())
    } else {
        Format::from_user(a.format.as_deref(), PS_TABLE)
    };
    out(&output::render_list(&format, &ps_header(), &rows)?);
    Ok(0)
}

pub async fn logs(c: &Client, a: &LogsArgs) -> anyhow::Result<i32> {
    if a.tail != "all" && a.tail.parse::<i64>().is_err() {
        return Err(StatusError::new(
            1,
            format!(
                "invalid argument \"{}\" for \"-n, --tail\" flag: expected a number or \"all\"",
                a.tail
            ),
        )
        .into());
    }
    let mut stream = c.docker.logs(
        &a.container,
        Some(LogsOptions {
            follow: a.follow,
            stdout: true,
            stderr: true,
            timestamps: a.timestamps,
            tail: a.tail.clone(),
            ..Default::default()
        }),
    );
    while let Some(item) = stream.next().await {
        super::run::write_log_output(item?);
    }
    Ok(0)
}

/// `port` output lines from inspect's `NetworkSettings.Ports`.
pub fn port_lines(
    ports: &Value,
    private: Option<&str>,
    container: &str,
) -> Result<Vec<String>, String> {
    let join = |b: &Value| {
        let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
        let port = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    let mut out = Vec::new();
    match private {
        Some(p) => {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if port.parse::<u16>().is_err() {
                return Err(format!("Error: invalid port ({port})"));
            }
            let key = format!("{port}/{proto}");
            let frontends = ports
                .get(&key)
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| format!("Error: No public port '{p}' published for {container}"))?;
            out.extend(frontends.iter().map(join));
        }
        None => {
            if let Some(map) = ports.as_object() {
                for (from, frontends) in map {
                    for f in frontends.as_array().into_iter().flatten() {
                        out.push(format!("{from} -> {}", join(f)));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| output::natural_cmp(a, b));
    Ok(out)
}

pub async fn port(c: &Client, a: &PortArgs) -> anyhow::Result<i32> {
    let raw = c
        .get_raw(&format!("/containers/{}/json", path_escape(&a.container)))
        .await?;
    let v: Value = serde_json::from_slice(&raw)?;
    let ports = v
        .get("NetworkSettings")
        .and_then(|n| n.get("Ports"))
        .cloned()
        .unwrap_or(Value::Null);
    let lines = port_lines(&ports, a.private_port.as_deref(), &a.container)
        .map_err(|e| StatusError::new(1, e))?;
    if !lines.is_empty() {
        outln(&lines.join("\n"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerSummaryStateEnum, PortSummary, PortSummaryTypeEnum};
    use serde_json::json;

    fn summary() -> ContainerSummary {
        ContainerSummary {
            id: Some("4f66ad9a0b2e8f0a1d2c3b4a5968776655443322110099887766554433221100".into()),
            names: Some(vec!["/web".into()]),
            image: Some("busybox".into()),
            command: Some("/bin/sh -c 'while true; do sleep 1; done'".into()),
            created: Some(1000),
            ports: Some(vec![PortSummary {
                ip: Some("0.0.0.0".into()),
                private_port: 80,
                public_port: Some(8080),
                typ: Some(PortSummaryTypeEnum::TCP),
            }]),
            state: Some(ContainerSummaryStateEnum::RUNNING),
            status: Some("Up 5 seconds".into()),
            ..Default::default()
        }
    }

    #[test]
    fn ps_row_fields() {
        let r = ps_row(&summary(), true, 1005);
        assert_eq!(r["ID"], "4f66ad9a0b2e");
        assert_eq!(r["Command"], "\"/bin/sh -c 'while t…\"");
        assert_eq!(r["RunningFor"], "5 seconds ago");
        assert_eq!(r["Ports"], "0.0.0.0:8080->80/tcp");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["State"], "running");
        let r = ps_row(&summary(), false, 1005);
        assert_eq!(
            r["Command"],
            "\"/bin/sh -c 'while true; do sleep 1; done'\""
        );
        assert_eq!(r["ID"].as_str().map(str::len), Some(64));
    }

    #[test]
    fn ps_table_layout() {
        let rows = vec![ps_row(&summary(), true, 1005)];
        let f = Format::from_user(None, PS_TABLE);
        let text = output::render_list(&f, &ps_header(), &rows).unwrap();
        let expected = "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS                  NAMES\n\
                        4f66ad9a0b2e   busybox   \"/bin/sh -c 'while t…\"   5 seconds ago   Up 5 seconds   0.0.0.0:8080->80/tcp   web\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn ps_empty_table_is_header_only() {
        let f = Format::from_user(None, PS_TABLE);
        let text = output::render_list(&f, &ps_header(), &[]).unwrap();
        assert_eq!(
            text,
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
    }

    #[test]
    fn port_output() {
        let ports = json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": null,
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
        });
        assert_eq!(
            port_lines(&ports, None, "c").unwrap(),
            vec![
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "443/tcp -> 127.0.0.1:8443",
            ]
        );
        assert_eq!(
            port_lines(&ports, Some("80"), "c").unwrap(),
            vec!["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            port_lines(&ports, Some("53/udp"), "c").unwrap_err(),
            "Error: No public port '53/udp' published for c"
        );
        assert!(port_lines(&ports, Some("x"), "c").is_err());
    }
}
