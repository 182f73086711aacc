//! The daemon's control plane as one enum. The API layer turns each HTTP request into an
//! [`Action`]; [`Engine::handle`] performs it and answers with a [`Reply`].
//!
//! | Action | Docker endpoint |
//! |---|---|
//! | `Ping`, `Version`, `Info` | `GET /_ping`, `GET /version`, `GET /info` |
//! | `ContainerCreate` | `POST /containers/create` |
//! | `ContainerStart`/`Stop`/`Kill`/`Remove`/`Rename` | `POST /containers/{id}/start` … `DELETE /containers/{id}`, `POST /containers/{id}/rename` |
//! | `ContainerList`, `ContainerInspect` | `GET /containers/json`, `GET /containers/{id}/json` |
//! | `ContainerWait` | `POST /containers/{id}/wait` |
//! | `ContainerLogs` | `GET /containers/{id}/logs` (streamed) |
//! | `ExecCreate`, `ExecStart`, `ExecInspect` | `POST /containers/{id}/exec`, `POST /exec/{id}/start`, `GET /exec/{id}/json` |
//! | `ImageImport`, `ImageList`, `ImageInspect`, `ImageRemove` | `POST /images/create?fromSrc=-`, `GET /images/json`, … |
//! | `ImagePull`, `ImagePush`, `ImageTag`, `ImagePrune` | `POST /images/create?fromImage=`, `POST /images/{name}/push`, `…/tag`, `POST /images/prune` |
//! | `ImageLoad`, `ImageSave`, `RegistryLogin` | `POST /images/load`, `GET /images/get`, `POST /auth` |
//! | `NetworkList`, `NetworkInspect` | `GET /networks`, `GET /networks/{id}` |

use crate::container::exec::ExecProcess;
use crate::container::lifecycle::WaitCondition;
use crate::container::logs::LogOptions;
use crate::error::Result;
use crate::Engine;
use berth_runtime::logfile::LogLine;
use bollard_stubs::models::*;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug)]
pub enum Action {
    Ping,
    Version,
    Info,
    ContainerCreate {
        name: Option<String>,
        body: Box<ContainerCreateBody>,
    },
    ContainerStart {
        id: String,
    },
    ContainerStop {
        id: String,
        timeout: Option<i64>,
    },
    ContainerRestart {
        id: String,
        timeout: Option<i64>,
    },
    ContainerKill {
        id: String,
        signal: Option<String>,
    },
    ContainerRemove {
        id: String,
        force: bool,
    },
    /// `POST /containers/{id}/rename?name=`.
    ContainerRename {
        id: String,
        name: String,
    },
    /// `limit` ≤ 0 or absent: no limit; `filters` as in [`crate::filters`].
    ContainerList {
        all: bool,
        limit: Option<i64>,
        filters: crate::filters::Filters,
    },
    ContainerInspect {
        id: String,
    },
    ContainerWait {
        id: String,
        condition: WaitCondition,
    },
    ContainerLogs {
        id: String,
        options: LogOptions,
    },
    ExecCreate {
        id: String,
        config: Box<ExecConfig>,
    },
    ExecStart {
        exec_id: String,
    },
    ExecInspect {
        exec_id: String,
    },
    /// `file` holds the uploaded tarball.
    ImageImport {
        file: PathBuf,
        reference: String,
        changes: Vec<String>,
    },
    ImageList,
    ImageInspect {
        name: String,
    },
    ImageRemove {
        name: String,
        force: bool,
    },
    /// `POST /images/create?fromImage=`: pull (credentials from `X-Registry-Auth`).
    ImagePull {
        options: crate::image::pull::PullOptions,
    },
    /// `POST /images/{name}/push?tag=`.
    ImagePush {
        name: String,
        tag: String,
        auth: crate::image::registry::AuthConfig,
    },
    /// `POST /images/{name}/tag?repo=&tag=`.
    ImageTag {
        name: String,
        repo: String,
        tag: String,
    },
    /// `POST /images/prune`; `all` is Docker's `dangling=false` filter.
    ImagePrune {
        all: bool,
    },
    /// `POST /images/load`: `file` holds the uploaded archive.
    ImageLoad {
        file: PathBuf,
        quiet: bool,
    },
    /// `GET /images/get?names=`, `GET /images/{name}/get`.
    ImageSave {
        names: Vec<String>,
    },
    /// `POST /auth`: check registry credentials.
    RegistryLogin {
        auth: crate::image::registry::AuthConfig,
    },
    /// Docker's `filters`: key → accepted values.
    NetworkList {
        filters: std::collections::HashMap<String, Vec<String>>,
    },
    NetworkInspect {
        id: String,
    },
    NetworkCreate {
        body: Box<NetworkCreateRequest>,
    },
    NetworkRemove {
        id: String,
    },
    NetworkPrune {
        labels: Vec<String>,
    },
    NetworkConnect {
        id: String,
        body: Box<NetworkConnectRequest>,
    },
    NetworkDisconnect {
        id: String,
        body: NetworkDisconnectRequest,
    },
}

pub enum Reply {
    Empty,
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    NotModified,
    Text(String),
    Created(IdResponseLike),
    Version(Box<SystemVersion>),
    Info(serde_json::Value),
    Container(Box<ContainerInspectResponse>),
    Containers(Vec<ContainerSummary>),
    Wait(i64),
    Logs {
        tty: bool,
        lines: mpsc::Receiver<LogLine>,
    },
    Exec(ExecProcess),
    ExecInfo(Box<ExecInspectResponse>),
    ImageImported(String),
    Images(Vec<ImageSummary>),
    Image(Box<ImageInspect>),
    ImageDeleted(Vec<ImageDeleteResponseItem>),
    /// Docker's JSON message stream (pull, push, load).
    Progress(crate::image::progress::Receiver),
    /// A tar stream (save).
    Archive(mpsc::Receiver<bytes::Bytes>),
    /// 201 with no body (tag).
    CreatedEmpty,
    ImagesPruned(ImagePruneResponse),
    /// `{"Status":"Login Succeeded",...}`
    LoggedIn(serde_json::Value),
    Networks(Vec<NetworkInspect>),
    Network(Box<NetworkInspect>),
    NetworkCreated(NetworkCreateResponse),
    NetworksPruned(NetworkPruneResponse),
    /// 200 with no body (Docker's connect/disconnect/delete of networks).
    Ok,
}

/// `{"Id": ..., "Warnings": [...]}`
#[derive(Debug, serde::Serialize)]
pub struct IdResponseLike {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

pub const API_VERSION: &str = "1.51";
pub const MIN_API_VERSION: &str = "1.24";

impl Engine {
    pub async fn handle(self: &Arc<Self>, action: Action) -> Result<Reply> {
        use Action::*;
        Ok(match action {
            Ping => Reply::Text("OK".into()),
            Version => Reply::Version(Box::new(version())),
            Info => Reply::Info(self.info()),
            ContainerCreate { name, body } => {
                let (id, warnings) = self.create_container(name, *body)?;
                if let Ok(c) = self.find(&id) {
                    self.container_event(&c, "create", &[]);
                }
                Reply::Created(IdResponseLike { id, warnings })
            }
            ContainerStart { id } => {
                if self.start(&id).await? {
                    if let Ok(c) = self.find(&id) {
                        self.container_event(&c, "start", &[]);
                    }
                    Reply::Empty
                } else {
                    Reply::NotModified
                }
            }
            ContainerStop { id, timeout } => {
                if self.stop(&id, timeout).await? {
                    if let Ok(c) = self.find(&id) {
                        self.container_event(&c, "stop", &[]);
                    }
                    Reply::Empty
                } else {
                    Reply::NotModified
                }
            }
            ContainerRestart { id, timeout } => {
                self.stop(&id, timeout).await?;
                self.start(&id).await?;
                if let Ok(c) = self.find(&id) {
                    self.container_event(&c, "start", &[]);
                    self.container_event(&c, "restart", &[]);
                }
                Reply::Empty
            }
            ContainerKill { id, signal } => {
                self.kill(&id, signal.as_deref())?;
                Reply::Empty
            }
            ContainerRemove { id, force } => {
                self.remove(&id, force).await?;
                Reply::Empty
            }
            ContainerRename { id, name } => {
                let old = self.find(&id)?.name;
                self.rename(&id, &name)?;
                if let Ok(c) = self.find(&id) {
                    self.container_event(&c, "rename", &[("oldName", format!("/{old}"))]);
                }
                Reply::Empty
            }
            ContainerList {
                all,
                limit,
                filters,
            } => Reply::Containers(self.list_containers(all, limit, &filters)?),
            ContainerInspect { id } => Reply::Container(Box::new(self.inspect_container(&id)?)),
            ContainerWait { id, condition } => Reply::Wait(self.wait(&id, condition).await?),
            ContainerLogs { id, options } => {
                let (tty, lines) = self.logs(&id, options)?;
                Reply::Logs { tty, lines }
            }
            ExecCreate { id, config } => Reply::Created(IdResponseLike {
                id: self.exec_create(&id, *config)?,
                warnings: vec![],
            }),
            ExecStart { exec_id } => Reply::Exec(self.exec_start(&exec_id)?),
            ExecInspect { exec_id } => Reply::ExecInfo(Box::new(self.exec_inspect(&exec_id)?)),
            ImageImport {
                file,
                reference,
                changes,
            } => {
                let img =
                    crate::image::import(&self.images, &self.store, &file, &reference, &changes);
                let _ = std::fs::remove_file(&file);
                Reply::ImageImported(img?.id)
            }
            ImageList => Reply::Images(self.image_summaries()),
            ImageInspect { name } => Reply::Image(Box::new(self.image_inspect(&name)?)),
            ImageRemove { name, force: _ } => Reply::ImageDeleted(self.image_remove(&name)?),
            ImagePull { options } => Reply::Progress(self.image_pull(options).await?),
            ImagePush { name, tag, auth } => {
                Reply::Progress(self.image_push(&name, &tag, auth).await?)
            }
            ImageTag { name, repo, tag } => {
                self.image_tag(&name, &repo, &tag)?;
                Reply::CreatedEmpty
            }
            ImagePrune { all } => Reply::ImagesPruned(self.image_prune(all)?),
            ImageLoad { file, quiet: _ } => Reply::Progress(self.image_load(&file).await?),
            ImageSave { names } => Reply::Archive(self.image_save(&names)?),
            RegistryLogin { auth } => Reply::LoggedIn(self.registry_login(auth).await?),
            NetworkList { filters } => Reply::Networks(self.network_views_filtered(&filters)?),
            NetworkInspect { id } => {
                Reply::Network(Box::new(self.network_view(&self.networks.resolve(&id)?)))
            }
            NetworkCreate { body } => {
                let id = self.network_create(*body).await?;
                if let Ok(n) = self.networks.resolve(&id) {
                    self.network_event(&n.id, &n.name, &n.driver, "create", None);
                }
                Reply::NetworkCreated(NetworkCreateResponse {
                    id,
                    warning: String::new(),
                })
            }
            NetworkRemove { id } => {
                let n = self.networks.resolve(&id).ok();
                self.network_remove(&id).await?;
                if let Some(n) = n {
                    self.network_event(&n.id, &n.name, &n.driver, "destroy", None);
                }
                Reply::Empty
            }
            NetworkPrune { labels } => Reply::NetworksPruned(NetworkPruneResponse {
                networks_deleted: Some(self.network_prune(&labels).await?),
            }),
            NetworkConnect { id, body } => {
                self.network_connect(
                    &id,
                    &body.container,
                    body.endpoint_config.clone().unwrap_or_default(),
                )
                .await?;
                if let (Ok(n), Ok(c)) = (self.networks.resolve(&id), self.find(&body.container)) {
                    self.network_event(&n.id, &n.name, &n.driver, "connect", Some(&c.id));
                }
                Reply::Ok
            }
            NetworkDisconnect { id, body } => {
                let c = self.find(&body.container).ok();
                self.network_disconnect(&id, &body.container, body.force.unwrap_or(false))
                    .await?;
                if let (Ok(n), Some(c)) = (self.networks.resolve(&id), c) {
                    self.network_event(&n.id, &n.name, &n.driver, "disconnect", Some(&c.id));
                }
                Reply::Ok
            }
        })
    }

    fn info(&self) -> serde_json::Value {
        let nf = berth_kernel::sysctl::bridge_netfilter();
        let bridge_nf = |name: &str| nf.iter().any(|(n, on)| *n == name && *on);
        let cs = self.containers();
        let running = cs.iter().filter(|c| c.is_running()).count();
        serde_json::json!({
            "ID": "berth",
            "Containers": cs.len(),
            "ContainersRunning": running,
            "ContainersPaused": 0,
            "ContainersStopped": cs.len() - running,
            "Images": self.images.list().len(),
            "Driver": "overlay",
            "DockerRootDir": self.cfg.data_root,
            "Name": nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
            "ServerVersion": env!("CARGO_PKG_VERSION"),
            "OperatingSystem": "linux",
            "OSType": "linux",
            "Architecture": std::env::consts::ARCH,
            "KernelVersion": kernel_version(),
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "BridgeNfIptables": bridge_nf("bridge-nf-call-iptables"),
            "BridgeNfIp6tables": bridge_nf("bridge-nf-call-ip6tables"),
            "Plugins": {"Network": ["bridge", "host", "null"], "Volume": [], "Log": ["json-file"]},
            "SecurityOptions": [],
            "Warnings": [],
        })
    }

    fn image_summaries(&self) -> Vec<ImageSummary> {
        self.images
            .list()
            .into_iter()
            .map(|i| ImageSummary {
                id: i.id.clone(),
                parent_id: String::new(),
                repo_tags: i.repo_tags.clone(),
                repo_digests: self.images.repo_digests(&i.id),
                created: chrono::DateTime::parse_from_rfc3339(&i.created)
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                size: i.size,
                shared_size: -1,
                labels: i.config.labels.clone().unwrap_or_default(),
                containers: self
                    .containers()
                    .iter()
                    .filter(|c| c.image_id == i.id)
                    .count() as i64,
                manifests: None,
                descriptor: None,
            })
            .collect()
    }

    fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let i = self.images.resolve(name)?;
        Ok(ImageInspect {
            id: Some(i.id.clone()),
            repo_tags: Some(i.repo_tags.clone()),
            repo_digests: Some(self.images.repo_digests(&i.id)),
            comment: Some(i.comment.clone()),
            created: Some(i.created.clone()),
            author: Some(String::new()),
            config: Some(i.config.clone()),
            architecture: Some(
                std::env::consts::ARCH
                    .replace("x86_64", "amd64")
                    .replace("aarch64", "arm64"),
            ),
            os: Some("linux".into()),
            size: Some(i.size),
            root_fs: Some(ImageInspectRootFs {
                typ: "layers".into(),
                layers: Some(i.layers.clone()),
            }),
            ..Default::default()
        })
    }

    fn image_remove(&self, name: &str) -> Result<Vec<ImageDeleteResponseItem>> {
        let containers = self.containers();
        let items = self.images.remove(&self.store, name, |id| {
            containers
                .iter()
                .find(|c| c.image_id == id)
                .map(|c| c.id.clone())
        })?;
        Ok(items
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "Untagged" => ImageDeleteResponseItem {
                    untagged: Some(v),
                    deleted: None,
                },
                _ => ImageDeleteResponseItem {
                    untagged: None,
                    deleted: Some(v),
                },
            })
            .collect())
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn version() -> SystemVersion {
    let v = env!("CARGO_PKG_VERSION").to_string();
    SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "berth".into(),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: v.clone(),
            details: None,
        }]),
        version: Some(v),
        api_version: Some(API_VERSION.into()),
        min_api_version: Some(MIN_API_VERSION.into()),
        git_commit: Some(String::new()),
        go_version: Some("n/a (Rust)".into()),
        os: Some("linux".into()),
        arch: Some(
            std::env::consts::ARCH
                .replace("x86_64", "amd64")
                .replace("aarch64", "arm64"),
        ),
        kernel_version: Some(kernel_version()),
        experimental: Some(false),
        build_time: Some(String::new()),
    }
}
