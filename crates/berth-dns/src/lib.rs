//! berth's embedded DNS server: what containers on user-defined networks reach at 127.0.0.11.
//!
//! Like Docker's, it answers names of containers (names, short ids, hostnames, network aliases)
//! that share a network with the asking container, and forwards everything else to the
//! container's `--dns` servers or the host's resolvers. berthd runs one [`DnsServer`] and calls
//! [`DnsServer::serve`] once per container namespace.
//!
//! Layers (hickory-dns style, each testable alone):
//! - [`records`]: the [`Records`] trait, the engine's side (what names exist, for whom).
//! - [`answer`]: pure wire work: query bytes + records → reply bytes, or "forward this".
//! - `forward`: upstream forwarding with reused sockets, fast failover and a small cache.
//! - `server`: the UDP and TCP sockets inside a namespace, and the tasks serving them.
//!
//! ```no_run
//! # use std::{net::{IpAddr, SocketAddr}, sync::Arc};
//! # struct Engine;
//! # impl berth_dns::Records for Engine {
//! #     fn lookup(&self, _: &str, _: &str) -> Option<Vec<IpAddr>> { None }
//! #     fn reverse(&self, _: &str, _: IpAddr) -> Option<Vec<String>> { None }
//! #     fn upstreams(&self, _: &str) -> Vec<SocketAddr> { vec![] }
//! # }
//! # async fn f() -> std::io::Result<()> {
//! let dns = berth_dns::DnsServer::new(Arc::new(Engine), Default::default());
//! let handle = dns.serve("3f4e…container id".into(), "/run/berth/netns/3f4e".as_ref()).await?;
//! // … the container runs …
//! drop(handle); // stop serving its namespace
//! # Ok(()) }
//! ```

pub mod answer;
mod forward;
mod mmsg;
pub mod records;
mod server;

pub use records::Records;
pub use server::{ServeHandle, DNS_ADDR};

use std::sync::Arc;
use std::time::Duration;

/// Tuning of the DNS server. `Default` gives Docker-like behaviour.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// How long to wait for an upstream's UDP answer before asking the next one (700 ms).
    pub upstream_timeout: Duration,
    /// How long a forwarded UDP query may take in all, failovers included (3 s): the last
    /// upstream asked is waited for until then.
    pub upstream_total_timeout: Duration,
    /// Budget of one TCP exchange with an upstream, connect included (2 s).
    pub tcp_upstream_timeout: Duration,
    /// How long an upstream that failed or timed out is tried after the healthy ones (30 s).
    pub dead_upstream_for: Duration,
    /// Forwarded answers kept in the cache, across all containers (4096; 0 disables it).
    pub cache_entries: usize,
    /// Tasks receiving on each namespace's UDP socket (2).
    pub udp_workers: usize,
    /// Forwarded UDP queries in flight per UDP worker; beyond that queries are dropped (256).
    pub max_forwards: usize,
    /// TCP connections per namespace (64); more are closed at once.
    pub tcp_max_connections: usize,
    /// A TCP connection without a query for this long is closed (10 s).
    pub tcp_idle_timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            upstream_timeout: Duration::from_millis(700),
            upstream_total_timeout: Duration::from_secs(3),
            tcp_upstream_timeout: Duration::from_secs(2),
            dead_upstream_for: Duration::from_secs(30),
            cache_entries: 4096,
            udp_workers: 2,
            max_forwards: 256,
            tcp_max_connections: 64,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// The DNS server shared by all namespaces: the records, the upstream sockets, the cache.
pub struct DnsServer {
    records: Arc<dyn Records>,
    cfg: DnsConfig,
    forwarder: forward::Forwarder,
    /// Receive/reply buffers, lent to whichever UDP task has datagrams to read: memory grows
    /// with the tasks busy at one moment, not with the namespaces served (80 KB per idle
    /// container made 1000 containers cost berthd 160 MB).
    scratch: std::sync::Mutex<Vec<server::Scratch>>,
}

impl DnsServer {
    /// Creates the server. Call it in berthd's own network namespace: upstream queries are sent
    /// from there (sockets are created lazily, always in that namespace).
    pub fn new(records: Arc<dyn Records>, cfg: DnsConfig) -> Arc<Self> {
        let forwarder = forward::Forwarder::new(forward::ForwardConfig {
            timeout: cfg.upstream_timeout,
            total_timeout: cfg.upstream_total_timeout,
            tcp_timeout: cfg.tcp_upstream_timeout,
            dead_for: cfg.dead_upstream_for,
            cache_entries: cfg.cache_entries,
        });
        Arc::new(DnsServer {
            records,
            cfg,
            forwarder,
            scratch: Default::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &DnsConfig {
        &self.cfg
    }
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer").field("cfg", &self.cfg).finish()
    }
}
