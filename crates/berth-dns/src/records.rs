//! What the DNS server asks the engine: the one trait between berth's state and the resolver.

use std::net::{IpAddr, SocketAddr};

/// What the engine knows; implemented by berth-engine. Must be cheap: it is called per query,
/// from the resolver's tasks, so it must not block (no I/O, no long-held locks).
pub trait Records: Send + Sync + 'static {
    /// Addresses for `name` (lower-case, without trailing dot; may be a container name, 12-char
    /// short id, hostname, or network alias) as seen by container `asker`: only containers sharing
    /// a network with the asker count.
    ///
    /// `None`: berth knows no such name (→ forwarded upstream, or NXDOMAIN when the asker may not
    /// forward). `Some(vec)`: the name exists; a vector with only IPv4 addresses answers an AAAA
    /// query with NOERROR and no records (never NXDOMAIN), and likewise for A and IPv6.
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>>;

    /// Reverse lookup of a container address visible to `asker`: the names to return, first the
    /// canonical one (like Docker's `name.network`). `None` when berth does not know the address.
    fn reverse(&self, asker: &str, addr: IpAddr) -> Option<Vec<String>>;

    /// Where to forward other queries of `asker`: its `--dns` servers, else the host's
    /// resolv.conf servers. Empty means no forwarding (containers only on `--internal`
    /// networks): names berth does not know get NXDOMAIN, other unanswerable queries REFUSED.
    fn upstreams(&self, asker: &str) -> Vec<SocketAddr>;
}
