//! The persisted container record.

use bollard_stubs::models::{ContainerConfig, EndpointSettings, HostConfig};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Exited,
    Removing,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    pub pid_start: u64,
    pub shim_pid: i32,
    pub shim_start: u64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Container {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub created: String,
    pub image_id: String,
    /// The image as the user named it.
    pub image_ref: String,
    /// The effective config: the image's, overridden by the request's.
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// Network name → endpoint, as requested at create and filled in at start.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointSettings>,
    pub state: State,
    /// Path of the pinned network namespace while it exists.
    #[serde(default)]
    pub sandbox_key: String,
    #[serde(default)]
    pub restart_count: i64,
    /// Port forwardings in force while running.
    #[serde(default)]
    pub published: Vec<crate::network::ports::Published>,
    /// Legacy-link exceptions to disabled ICC in force while running (this container linking).
    #[serde(default)]
    pub link_passes: Vec<crate::network::firewall::LinkPass>,
}

impl Container {
    pub fn network_mode(&self) -> &str {
        match self.host_config.network_mode.as_deref() {
            None | Some("") | Some("default") => "bridge",
            Some(m) => m,
        }
    }

    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running
    }

    /// argv as started: entrypoint followed by cmd.
    pub fn argv(&self) -> Vec<String> {
        let mut v = self.config.entrypoint.clone().unwrap_or_default();
        v.extend(self.config.cmd.clone().unwrap_or_default());
        v
    }
}
