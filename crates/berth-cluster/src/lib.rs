//! The cluster store: berthd instances that share overlay networks keep that state in etcd
//! (a proven distributed store), never in anything home-made.
//!
//! Keys live under `/berth/v1/`. A host's own facts (its registration, its endpoints and their
//! address claims) are bound to its lease: when the host dies the lease expires and every other
//! host sees them deleted. Allocations that must never collide (VXLAN ids, subnets, addresses)
//! are claimed with a create-if-absent transaction.
//!
//! [`Cluster`] remembers every lease-bound key it wrote; when the lease is lost (etcd
//! unreachable longer than the TTL) it takes a new lease and writes them again, so a host
//! re-registers its live endpoints by itself.

mod watch;

pub use watch::Event;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, TlsOptions, Txn, TxnOp,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const PREFIX: &str = "/berth/v1/";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster store: {0}")]
    Etcd(#[from] etcd_client::Error),
    #[error("cluster store: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, ClusterError>;

/// How to reach etcd and who this host is.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `host:port` of each etcd member (from `--cluster-store etcd://a:2379,b:2379`).
    pub endpoints: Vec<String>,
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
    /// A stable id of this host (berthd keeps it in its data root).
    pub host_id: String,
    /// The address other hosts send VXLAN traffic to.
    pub advertise: std::net::IpAddr,
    pub lease_ttl: i64,
}

/// Parses `etcd://host:port[,host:port...]`.
pub fn parse_store(url: &str) -> Result<Vec<String>> {
    let rest = url.strip_prefix("etcd://").ok_or_else(|| {
        ClusterError::Config(format!(
            "unsupported cluster store {url:?}: expected etcd://HOST:PORT[,HOST:PORT...]"
        ))
    })?;
    let eps: Vec<String> = rest
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if eps.is_empty() || eps.iter().any(|e| !e.contains(':')) {
        return Err(ClusterError::Config(format!(
            "invalid cluster store {url:?}: every member needs HOST:PORT"
        )));
    }
    Ok(eps)
}

pub struct Cluster {
    client: Client,
    cfg: ClusterConfig,
    lease: Mutex<i64>,
    /// Lease-bound keys this host wrote, rewritten after a new lease.
    owned: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl Cluster {
    /// Connects, takes a lease, registers this host, and keeps the lease alive.
    pub async fn join(cfg: ClusterConfig) -> Result<Arc<Self>> {
        let scheme = if cfg.ca.is_some() { "https" } else { "http" };
        let urls: Vec<String> = cfg
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(3))
            .with_timeout(Duration::from_secs(5));
        if let Some(ca) = &cfg.ca {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|e| ClusterError::Config(format!("{}: {e}", p.display())))
            };
            let mut tls =
                TlsOptions::new().ca_certificate(etcd_client::Certificate::from_pem(read(ca)?));
            if let (Some(c), Some(k)) = (&cfg.cert, &cfg.key) {
                tls = tls.identity(etcd_client::Identity::from_pem(read(c)?, read(k)?));
            }
            opts = opts.with_tls(tls);
        }
        let client = Client::connect(urls, Some(opts)).await?;
        let this = Arc::new(Cluster {
            client,
            cfg,
            lease: Mutex::new(0),
            owned: Mutex::new(BTreeMap::new()),
        });
        this.new_lease().await?;
        let host_key = format!("{PREFIX}hosts/{}", this.cfg.host_id);
        this.put_owned(&host_key, this.cfg.advertise.to_string().into_bytes())
            .await?;
        tokio::spawn(keep_alive(Arc::downgrade(&this)));
        Ok(this)
    }

    pub fn host_id(&self) -> &str {
        &self.cfg.host_id
    }

    pub fn advertise(&self) -> std::net::IpAddr {
        self.cfg.advertise
    }

    fn lease_id(&self) -> i64 {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn new_lease(&self) -> Result<()> {
        let resp = self
            .client
            .clone()
            .lease_grant(self.cfg.lease_ttl, None)
            .await?;
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = resp.id();
        let owned: Vec<(String, Vec<u8>)> = self
            .owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in owned {
            self.client
                .clone()
                .put(k, v, Some(PutOptions::new().with_lease(resp.id())))
                .await?;
        }
        Ok(())
    }

    /// Writes a key bound to this host's lease (gone when the host is).
    pub async fn put_owned(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), value.clone());
        self.client
            .clone()
            .put(
                key,
                value,
                Some(PutOptions::new().with_lease(self.lease_id())),
            )
            .await?;
        Ok(())
    }

    /// Writes a key that outlives this host (network definitions).
    pub async fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.client.clone().put(key, value, None).await?;
        Ok(())
    }

    /// Creates `key` only if it does not exist; `owned` binds it to this host's lease.
    /// Returns whether this call created it.
    pub async fn claim(&self, key: &str, value: Vec<u8>, owned: bool) -> Result<bool> {
        self.claim_all(&[(key.to_string(), value)], owned).await
    }

    /// In one transaction: creates every key of `claims` if none of them exists (nothing is
    /// written when one is taken); `owned` binds them to this host's lease. Returns whether
    /// this call created them.
    pub async fn claim_all(&self, claims: &[(String, Vec<u8>)], owned: bool) -> Result<bool> {
        let opts = owned.then(|| PutOptions::new().with_lease(self.lease_id()));
        let compares: Vec<Compare> = claims
            .iter()
            .map(|(k, _)| Compare::create_revision(k.as_str(), CompareOp::Equal, 0))
            .collect();
        let ops: Vec<TxnOp> = claims
            .iter()
            .map(|(k, v)| TxnOp::put(k.as_str(), v.clone(), opts.clone()))
            .collect();
        let txn = Txn::new().when(compares).and_then(ops);
        let ok = self.client.clone().txn(txn).await?.succeeded();
        if ok && owned {
            let mut mine = self.owned.lock().unwrap_or_else(|p| p.into_inner());
            for (k, v) in claims {
                mine.insert(k.clone(), v.clone());
            }
        }
        Ok(ok)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.client.clone().delete(key, None).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let resp = self.client.clone().get(key, None).await?;
        Ok(resp.kvs().first().map(|kv| kv.value().to_vec()))
    }

    /// Every key under `prefix` with its value, and the store revision they were read at.
    pub async fn list(&self, prefix: &str) -> Result<(Vec<(String, Vec<u8>)>, i64)> {
        let resp = self
            .client
            .clone()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await?;
        let rev = resp.header().map(|h| h.revision()).unwrap_or(0);
        let kvs = resp
            .kvs()
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    kv.value().to_vec(),
                )
            })
            .collect();
        Ok((kvs, rev))
    }

    /// Follows every change under `prefix`, starting with what exists now (as `Put`s). The
    /// stream survives etcd outages: it reconnects and re-lists, reporting keys that
    /// vanished meanwhile as `Delete`s.
    pub fn watch(self: &Arc<Self>, prefix: &str) -> tokio::sync::mpsc::Receiver<Event> {
        watch::spawn(self.clone(), prefix.to_string())
    }

    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }
}

/// Refreshes the lease at a third of its TTL; on loss takes a new one and rewrites owned keys.
async fn keep_alive(this: std::sync::Weak<Cluster>) {
    let period = {
        let Some(c) = this.upgrade() else { return };
        Duration::from_secs((c.cfg.lease_ttl / 3).max(1) as u64)
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(c) = this.upgrade() else { return };
        let id = c.lease_id();
        let alive = match c.client.clone().lease_keep_alive(id).await {
            Ok((mut keeper, mut stream)) => {
                keeper.keep_alive().await.is_ok()
                    && matches!(stream.message().await, Ok(Some(r)) if r.ttl() > 0)
            }
            Err(_) => false,
        };
        if !alive {
            match c.new_lease().await {
                Ok(()) => {
                    tracing::info!("cluster store: lease renewed, this host's keys rewritten")
                }
                Err(e) => tracing::warn!("cluster store unreachable: {e}; retrying"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert_eq!(
            parse_store("etcd://10.0.0.1:2379,10.0.0.2:2379").unwrap(),
            vec!["10.0.0.1:2379", "10.0.0.2:2379"]
        );
        assert!(parse_store("consul://x:1")
            .unwrap_err()
            .to_string()
            .contains("consul://x:1"));
        assert!(parse_store("etcd://nohost").is_err());
    }
}
