//! Docker's JSON shapes for containers: `inspect` and the `ps` list.

use super::record::{Container, Status};
use crate::filters::{all_of, any_of, check_keys, label_matches, regex_match, Filters};
use crate::Engine;
use bollard_stubs::models::{
    ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum,
    NetworkSettings,
};
use std::collections::HashMap;

impl Engine {
    pub fn inspect_container(&self, r: &str) -> crate::Result<ContainerInspectResponse> {
        let c = self.find(r)?;
        let dir = self.container_dir(&c.id);
        let argv = c.argv();
        Ok(ContainerInspectResponse {
            id: Some(c.id.clone()),
            created: Some(c.created.clone()),
            path: argv.first().cloned(),
            args: Some(argv.iter().skip(1).cloned().collect()),
            state: Some(state_view(&c)),
            image: Some(c.image_id.clone()),
            resolv_conf_path: Some(dir.join("resolv.conf").display().to_string()),
            hostname_path: Some(dir.join("hostname").display().to_string()),
            hosts_path: Some(dir.join("hosts").display().to_string()),
            log_path: Some(self.log_path(&c.id).display().to_string()),
            name: Some(format!("/{}", c.name)),
            restart_count: Some(c.restart_count),
            driver: Some("overlay".into()),
            platform: Some("linux".into()),
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            exec_ids: None,
            host_config: Some(host_config_view(&c)),
            mounts: Some(vec![]),
            config: Some(c.config.clone()),
            network_settings: Some(NetworkSettings {
                sandbox_id: Some(if c.sandbox_key.is_empty() {
                    String::new()
                } else {
                    c.id.clone()
                }),
                sandbox_key: Some(c.sandbox_key.clone()),
                ports: Some(port_map(&c)),
                networks: Some(self.endpoint_views(&c)),
            }),
            ..Default::default()
        })
    }

    /// `GET /containers/json`: running containers (all with `all`), newest first, at most
    /// `limit` (≤ 0: no limit; a limit lists stopped ones too, as Docker does), with Docker's
    /// filters: `id` (prefix), `name` (regex), `label` (all must match), `status`,
    /// `ancestor` (image reference or id), `network` (name or id), `exited` (exit code),
    /// `before`/`since` (a container), `is-task`. A `status` filter looks at all containers.
    pub fn list_containers(
        &self,
        all: bool,
        limit: Option<i64>,
        filters: &Filters,
    ) -> crate::Result<Vec<ContainerSummary>> {
        check_keys(
            filters,
            &[
                "id", "name", "label", "status", "ancestor", "network", "exited", "before",
                "since", "is-task", "health", "volume", "publish", "expose",
            ],
        )?;
        for v in filters.get("status").into_iter().flatten() {
            if ![
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ]
            .contains(&v.as_str())
            {
                return Err(crate::EngineError::Invalid(format!(
                    "invalid filter 'status={v}'"
                )));
            }
        }
        let limit = limit.filter(|&n| n > 0).map(|n| n as usize);
        let all = all || limit.is_some() || filters.contains_key("status");
        let mut list = self.containers();
        // Newest first, as Docker lists them.
        list.sort_by(|a, b| b.created.cmp(&a.created));
        let created_of = |key: &str, r: &str| -> crate::Result<String> {
            self.find(r).map(|c| c.created).map_err(|_| {
                crate::EngineError::NotFound(format!("No such container: {r} (filter {key})"))
            })
        };
        let before: Vec<String> = filters
            .get("before")
            .into_iter()
            .flatten()
            .map(|r| created_of("before", r))
            .collect::<crate::Result<_>>()?;
        let since: Vec<String> = filters
            .get("since")
            .into_iter()
            .flatten()
            .map(|r| created_of("since", r))
            .collect::<crate::Result<_>>()?;
        let image_ids: Vec<(String, Option<String>)> = filters
            .get("ancestor")
            .into_iter()
            .flatten()
            .map(|a| (a.clone(), self.images.resolve(a).ok().map(|i| i.id)))
            .collect();
        let out: Vec<ContainerSummary> = list
            .into_iter()
            .filter(|c| all || c.is_running())
            .filter(|c| {
                let networks = self.endpoint_views(c);
                any_of(filters, "id", |v| c.id.starts_with(v))
                    && any_of(filters, "name", |v| {
                        regex_match(v, &c.name) || regex_match(v, &format!("/{}", c.name))
                    })
                    && all_of(filters, "label", |v| {
                        label_matches(v, c.config.labels.as_ref())
                    })
                    && any_of(filters, "status", |v| v == c.state.status.as_str())
                    && any_of(filters, "ancestor", |v| {
                        c.image_ref == v
                            || image_ids
                                .iter()
                                .any(|(a, id)| a == v && id.as_deref() == Some(&c.image_id))
                    })
                    && any_of(filters, "network", |v| {
                        networks.iter().any(|(name, ep)| {
                            name == v
                                || ep
                                    .network_id
                                    .as_deref()
                                    .is_some_and(|id| !v.is_empty() && id.starts_with(v))
                        })
                    })
                    && any_of(filters, "exited", |v| {
                        c.state.status == Status::Exited
                            && v.parse::<i64>() == Ok(c.state.exit_code)
                    })
                    && any_of(filters, "is-task", |v| v == "false" || v == "0")
                    && any_of(filters, "health", |v| v == "none")
                    && any_of(filters, "volume", |_| false)
                    && any_of(filters, "publish", |v| {
                        c.published
                            .iter()
                            .any(|p| port_filter_matches(v, p.container_port, &p.proto))
                    })
                    && any_of(filters, "expose", |v| {
                        c.config
                            .exposed_ports
                            .iter()
                            .flatten()
                            .filter_map(|k| crate::network::ports::parse_key(k).ok())
                            .any(|(port, proto)| port_filter_matches(v, port, &proto))
                    })
                    && before.iter().all(|t| c.created < *t)
                    && since.iter().all(|t| c.created > *t)
            })
            .take(limit.unwrap_or(usize::MAX))
            .map(|c| {
                let argv = c.argv();
                let networks = self.endpoint_views(&c);
                ContainerSummary {
                    id: Some(c.id.clone()),
                    names: Some(vec![format!("/{}", c.name)]),
                    image: Some(c.image_ref.clone()),
                    image_id: Some(c.image_id.clone()),
                    command: Some(argv.join(" ")),
                    created: Some(
                        chrono::DateTime::parse_from_rfc3339(&c.created)
                            .map(|t| t.timestamp())
                            .unwrap_or(0),
                    ),
                    ports: Some(port_summaries(&c)),
                    labels: c.config.labels.clone(),
                    state: Some(summary_state(c.state.status)),
                    status: Some(status_text(&c)),
                    host_config: Some(ContainerSummaryHostConfig {
                        network_mode: Some(c.network_mode().to_string()),
                        annotations: None,
                    }),
                    network_settings: Some(ContainerSummaryNetworkSettings {
                        networks: Some(networks),
                    }),
                    mounts: Some(vec![]),
                    ..Default::default()
                }
            })
            .collect();
        Ok(out)
    }
}

/// `HostConfig` as Docker shows it: links as `/TARGET:/CONTAINER/ALIAS`.
fn host_config_view(c: &Container) -> bollard_stubs::models::HostConfig {
    let mut hc = c.host_config.clone();
    if let Some(links) = hc.links.as_mut() {
        for l in links.iter_mut() {
            *l = link_view(l, &c.name);
        }
    }
    hc
}

/// `db` or `db:alias` (as given to `--link`) → `/db:/NAME/alias`; already canonical stays.
fn link_view(link: &str, name: &str) -> String {
    if link.starts_with('/') {
        return link.to_string();
    }
    let (target, alias) = link.split_once(':').unwrap_or((link, link));
    format!("/{target}:/{name}/{alias}")
}

/// `publish`/`expose` filter values: `PORT[/PROTO]` (tcp by default).
fn port_filter_matches(want: &str, port: u16, proto: &str) -> bool {
    let (p, pr) = want.split_once('/').unwrap_or((want, "tcp"));
    p.parse::<u16>() == Ok(port) && pr == proto
}

/// `NetworkSettings.Ports`: every exposed or published port; `null` when not published.
fn port_map(c: &Container) -> bollard_stubs::models::PortMap {
    let mut m: bollard_stubs::models::PortMap = HashMap::new();
    if !c.is_running() {
        return m;
    }
    for key in c.config.exposed_ports.clone().unwrap_or_default() {
        m.insert(key, None);
    }
    for p in &c.published {
        let key = format!("{}/{}", p.container_port, p.proto);
        let b = bollard_stubs::models::PortBinding {
            host_ip: Some(p.host_ip.to_string()),
            host_port: Some(p.host_port.to_string()),
        };
        m.entry(key)
            .or_insert(None)
            .get_or_insert_with(Vec::new)
            .push(b);
    }
    m
}

fn port_summaries(c: &Container) -> Vec<bollard_stubs::models::PortSummary> {
    use bollard_stubs::models::{PortSummary, PortSummaryTypeEnum};
    let typ = |p: &str| match p {
        "udp" => PortSummaryTypeEnum::UDP,
        "sctp" => PortSummaryTypeEnum::SCTP,
        _ => PortSummaryTypeEnum::TCP,
    };
    let mut out: Vec<PortSummary> = c
        .published
        .iter()
        .map(|p| PortSummary {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            typ: Some(typ(&p.proto)),
        })
        .collect();
    // Exposed but unpublished ports are listed without a host side, as Docker does.
    for key in c.config.exposed_ports.clone().unwrap_or_default() {
        if let Ok((port, proto)) = crate::network::ports::parse_key(&key) {
            if !c
                .published
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                out.push(PortSummary {
                    ip: None,
                    private_port: port,
                    public_port: None,
                    typ: Some(typ(&proto)),
                });
            }
        }
    }
    out
}

fn state_view(c: &Container) -> ContainerState {
    let s = &c.state;
    let zero = "0001-01-01T00:00:00Z".to_string();
    ContainerState {
        status: Some(match s.status {
            Status::Created => ContainerStateStatusEnum::CREATED,
            Status::Running => ContainerStateStatusEnum::RUNNING,
            Status::Exited => ContainerStateStatusEnum::EXITED,
            Status::Removing => ContainerStateStatusEnum::REMOVING,
            Status::Dead => ContainerStateStatusEnum::DEAD,
        }),
        running: Some(s.status == Status::Running),
        paused: Some(false),
        restarting: Some(false),
        oom_killed: Some(false),
        dead: Some(s.status == Status::Dead),
        pid: Some(if s.status == Status::Running {
            s.pid as i64
        } else {
            0
        }),
        exit_code: Some(s.exit_code),
        error: Some(s.error.clone()),
        started_at: Some(if s.started_at.is_empty() {
            zero.clone()
        } else {
            s.started_at.clone()
        }),
        finished_at: Some(if s.finished_at.is_empty() {
            zero
        } else {
            s.finished_at.clone()
        }),
        health: None,
    }
}

fn summary_state(s: Status) -> ContainerSummaryStateEnum {
    match s {
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Removing => ContainerSummaryStateEnum::REMOVING,
        Status::Dead => ContainerSummaryStateEnum::DEAD,
    }
}

/// Docker's STATUS column: `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`.
fn status_text(c: &Container) -> String {
    let since = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| {
                (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                    .to_std()
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    };
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", human_duration(since(&c.state.started_at))),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human_duration(since(&c.state.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// Go's `units.HumanDuration`, which Docker uses for status texts.
pub fn human_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;
    use std::time::Duration;

    #[test]
    fn durations_like_docker() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(59)), "59 seconds");
        assert_eq!(human_duration(Duration::from_secs(61)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(3 * 60)), "3 minutes");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
    }

    #[test]
    fn links_shown_as_docker_shows_them() {
        assert_eq!(
            super::link_view("db-server:db", "web"),
            "/db-server:/web/db"
        );
        assert_eq!(super::link_view("db", "web"), "/db:/web/db");
        assert_eq!(super::link_view("/db:/web/x", "web"), "/db:/web/x");
    }
}
