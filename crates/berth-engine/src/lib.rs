//! berth's engine: the middle layer between the API (above) and the kernel adapters (below).
//!
//! The daemon's whole control plane is the [`Action`] enum: the API layer parses HTTP requests
//! into actions, [`Engine::handle`] carries them out and answers with a [`Reply`]. Nothing in
//! here knows about HTTP.

pub mod action;
pub mod container;
pub mod crash;
pub mod error;
pub mod events;
pub mod filters;
pub mod ids;
pub mod image;
pub mod memory;
pub mod network;
pub mod store;
pub mod timing;

pub use action::{Action, Reply};
pub use error::{EngineError, Result};

use container::Container;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where berthd keeps things and how it starts containers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state: the store, image layers, container logs and layers.
    pub data_root: PathBuf,
    /// Runtime state that dies with the machine: network namespaces, bundles.
    pub exec_root: PathBuf,
    /// The executable that provides `shim` and `nsexec` (berthd itself).
    pub runtime_exe: PathBuf,
    /// Where automatic subnets come from.
    pub pools: Vec<network::ipam::Pool>,
    /// Interface name of the default `bridge` network.
    pub default_bridge: String,
    /// Registries reached over plain HTTP (`HOST[:PORT]` or a CIDR), besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Inter-container traffic on the default bridge (`berthd --icc=false` turns it off).
    pub icc: bool,
    /// Join a cluster (overlay networks) through this etcd store.
    pub cluster: Option<berth_cluster::ClusterConfig>,
    /// br_netfilter in berthd's namespace (`network/brnf.rs`).
    pub bridge_netfilter: network::brnf::BridgeNetfilter,
    /// Socket-level forwarding of published ports for the host's TCP clients (`network/socklb.rs`).
    pub socket_lb: network::socklb::SocketLbMode,
}

/// One container in memory: its record and a channel that announces state changes.
pub(crate) struct Entry {
    pub rec: Container,
    pub changed: watch::Sender<u64>,
    /// Serialises lifecycle operations on this container.
    pub op: Arc<tokio::sync::Mutex<()>>,
}

pub struct Engine {
    pub(crate) cfg: Config,
    pub(crate) store: store::Store,
    pub(crate) images: image::Images,
    pub(crate) networks: network::Networks,
    pub(crate) containers: Mutex<HashMap<String, Entry>>,
    pub(crate) execs: container::exec::Execs,
    pub(crate) dataplane: Arc<dyn network::dataplane::Dataplane>,
    /// Exit codes of recently removed containers, for `wait` calls that lose the race with
    /// `--rm` (bounded).
    pub(crate) tombstones: Mutex<std::collections::VecDeque<(String, i64)>>,
    /// Serialises host port choice between concurrent starts.
    pub(crate) ports_lock: Mutex<()>,
    pub(crate) dns_records: Arc<network::dns::EngineRecords>,
    pub(crate) dns: Arc<berth_dns::DnsServer>,
    /// Containers whose namespace the embedded DNS serves.
    pub(crate) dns_handles: Mutex<HashMap<String, berth_dns::ServeHandle>>,
    pub(crate) cluster: Option<Arc<berth_cluster::Cluster>>,
    /// Endpoints of other hosts on overlay networks, by endpoint id.
    pub(crate) remote_eps: Mutex<HashMap<String, network::overlay::OverlayEndpoint>>,
    /// Encrypted overlay networks: this host's WireGuard datapath and the other hosts' keys.
    pub(crate) encryption: network::overlay::encrypt::Encryption,
    /// Links berth is deleting itself while repairing, so the link guard ignores them.
    pub(crate) own_deletions: Mutex<std::collections::HashSet<String>>,
    /// The mount namespace containers copy (see `berth_runtime::template`); `None`: their shim's.
    pub(crate) mnt_template: Option<PathBuf>,
    /// `GET /events`.
    pub(crate) events: events::Events,
}

impl Engine {
    /// Opens (or creates) the state under `cfg.data_root` and re-adopts running containers.
    pub async fn open(
        cfg: Config,
        dataplane: Arc<dyn network::dataplane::Dataplane>,
    ) -> Result<Arc<Self>> {
        for d in [&cfg.data_root, &cfg.exec_root] {
            std::fs::create_dir_all(d).map_err(error::io(format!("create {}", d.display())))?;
        }
        let store = store::Store::open(&cfg.data_root.join("state.redb"))?;
        let images = image::Images::load(&cfg.data_root, &store)?;
        let networks = network::Networks::load(&store, cfg.pools.clone())?;
        let cluster = match &cfg.cluster {
            Some(cc) => Some(
                berth_cluster::Cluster::join(cc.clone())
                    .await
                    .map_err(|e| EngineError::Internal(format!("join the cluster: {e}")))?,
            ),
            None => None,
        };
        let (exe, pin) = (cfg.runtime_exe.clone(), cfg.exec_root.join("mnt-template"));
        let mnt_template =
            match tokio::task::spawn_blocking(move || berth_runtime::template::prepare(&exe, &pin))
                .await
            {
                Ok(Ok(p)) => Some(p),
                Ok(Err(e)) => {
                    tracing::warn!("containers will copy berthd's mount namespace: {e}");
                    None
                }
                Err(e) => {
                    tracing::warn!("containers will copy berthd's mount namespace: {e}");
                    None
                }
            };
        let dns_records: Arc<network::dns::EngineRecords> = Default::default();
        let dns = berth_dns::DnsServer::new(dns_records.clone(), Default::default());
        let engine = Arc::new(Engine {
            cfg,
            store,
            images,
            networks,
            containers: Mutex::new(HashMap::new()),
            execs: Default::default(),
            dataplane,
            tombstones: Mutex::new(Default::default()),
            ports_lock: Mutex::new(()),
            dns_records,
            dns,
            dns_handles: Mutex::new(HashMap::new()),
            cluster,
            remote_eps: Mutex::new(HashMap::new()),
            encryption: Default::default(),
            own_deletions: Mutex::new(Default::default()),
            mnt_template,
            events: Default::default(),
        });
        let running = container::lifecycle::restore(&engine)?;
        engine.restore_networks().await?;
        engine.settle_bridge_netfilter().await?;
        // Before `adopt` watches the shims: a container found dead there is unpublished, and
        // its ports must already be entered to be removed.
        engine.settle_socket_lb()?;
        container::lifecycle::adopt(&engine, running).await;
        engine.encryption_watch();
        engine.overlay_watch();
        engine.firewall_guard();
        engine.link_guard();
        Ok(engine)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub(crate) fn remember_exit(&self, id: &str, code: i64) {
        let mut t = self.tombstones.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() >= 256 {
            t.pop_front();
        }
        t.push_back((id.to_string(), code));
    }

    pub(crate) fn tombstone(&self, id: &str) -> Option<i64> {
        let t = self.tombstones.lock().unwrap_or_else(|p| p.into_inner());
        t.iter().rev().find(|(i, _)| i == id).map(|(_, c)| *c)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.containers.lock().unwrap_or_else(|p| p.into_inner())
    }
}
