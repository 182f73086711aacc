//! The datapath of encrypted overlay networks: IP packets between this host's TUN device and
//! the other hosts' berthd, sealed with WireGuard (boringtun's `noise::Tunn`, one per peer)
//! in UDP datagrams over the underlay.
//!
//! Three threads for the life of the process: TUN → seal → UDP, UDP → open → TUN, and the
//! WireGuard timers (handshake retries, rekeying, session expiry) every 250 ms. A datagram is
//! attributed to a peer by its source address (each host's `--cluster-advertise` and port); a
//! peer may only deliver packets from its own inner address to this host's inner address, so
//! a peer cannot use this host as a router. Packets to an inner address of no known peer are
//! dropped, as are packets from an unknown source.

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Largest datagram or packet handled (a UDP datagram's maximum).
const BUF: usize = 65_536;
/// WireGuard's per-packet overhead inside the UDP payload.
const OVERHEAD: usize = 32;

/// One other host, as its published record describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConf {
    pub host_id: String,
    pub public: [u8; 32],
    /// Where its berthd receives WireGuard datagrams.
    pub endpoint: SocketAddr,
    /// Its address on its TUN device (the VXLAN endpoint of its encrypted networks).
    pub inner: Ipv4Addr,
    /// When its datapath started: a restarted peer gets fresh sessions at once.
    pub since: u64,
}

struct Peer {
    conf: PeerConf,
    tunn: Mutex<Tunn>,
}

#[derive(Default)]
struct Peers {
    by_host: HashMap<String, Arc<Peer>>,
    by_inner: HashMap<Ipv4Addr, Arc<Peer>>,
    by_addr: HashMap<SocketAddr, Arc<Peer>>,
}

pub struct Tunnel {
    io: File,
    sock: UdpSocket,
    secret: StaticSecret,
    inner: Ipv4Addr,
    peers: RwLock<Peers>,
    next_index: AtomicU32,
}

/// The public key of a private key.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    *PublicKey::from(&StaticSecret::from(*secret)).as_bytes()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tunnel {
    /// Starts the datapath: `io` carries this host's inner packets (a TUN device), `sock` is
    /// bound to this host's WireGuard address, `inner` is this host's inner address.
    pub fn start(
        io: File,
        sock: UdpSocket,
        secret: [u8; 32],
        inner: Ipv4Addr,
    ) -> std::io::Result<Arc<Tunnel>> {
        let t = Arc::new(Tunnel {
            io,
            sock,
            secret: StaticSecret::from(secret),
            inner,
            peers: RwLock::new(Peers::default()),
            next_index: AtomicU32::new(1),
        });
        let spawn = |name: &str, f: fn(&Tunnel)| {
            let t = t.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || f(&t))
                .map(drop)
        };
        spawn("berth-wg-out", Tunnel::outbound)?;
        spawn("berth-wg-in", Tunnel::inbound)?;
        spawn("berth-wg-timer", Tunnel::timers)?;
        Ok(t)
    }

    /// Adds a peer, or replaces it when anything about it changed (a new key, address or
    /// restart: its sessions start over with a fresh handshake).
    pub fn set_peer(&self, conf: PeerConf) {
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        if peers.by_host.get(&conf.host_id).map(|p| &p.conf) == Some(&conf) {
            return;
        }
        remove(&mut peers, &conf.host_id);
        let index = self.next_index.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let tunn = Tunn::new(
            self.secret.clone(),
            PublicKey::from(conf.public),
            None,
            None,
            index,
            None,
        );
        let peer = Arc::new(Peer {
            conf: conf.clone(),
            tunn: Mutex::new(tunn),
        });
        peers.by_inner.insert(conf.inner, peer.clone());
        peers.by_addr.insert(conf.endpoint, peer.clone());
        peers.by_host.insert(conf.host_id, peer);
    }

    /// Forgets a peer (its host left the cluster).
    pub fn remove_peer(&self, host_id: &str) {
        let mut peers = self.peers.write().unwrap_or_else(|p| p.into_inner());
        remove(&mut peers, host_id);
    }

    fn peer_by<K: std::hash::Hash + Eq>(
        &self,
        pick: impl Fn(&Peers) -> &HashMap<K, Arc<Peer>>,
        k: &K,
    ) -> Option<Arc<Peer>> {
        let peers = self.peers.read().unwrap_or_else(|p| p.into_inner());
        pick(&peers).get(k).cloned()
    }

    fn outbound(&self) {
        let mut pkt = vec![0u8; BUF];
        let mut out = vec![0u8; BUF + OVERHEAD];
        loop {
            let n = match (&self.io).read(&mut pkt) {
                // Only a closed stand-in in tests reads nothing; a TUN device never does.
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(
                        "encrypted overlay: reading the tun device: {e}; datapath stopped"
                    );
                    return;
                }
            };
            let Some(IpAddr::V4(dst)) = Tunn::dst_address(&pkt[..n]) else {
                continue;
            };
            let Some(peer) = self.peer_by(|p| &p.by_inner, &dst) else {
                continue;
            };
            let r = lock(&peer.tunn).encapsulate(&pkt[..n], &mut out);
            self.to_network(r, peer.conf.endpoint);
        }
    }

    fn inbound(&self) {
        let mut buf = vec![0u8; BUF];
        let mut out = vec![0u8; BUF];
        loop {
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("encrypted overlay: receiving: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let Some(peer) = self.peer_by(|p| &p.by_addr, &from) else {
                continue;
            };
            let mut tunn = lock(&peer.tunn);
            let mut r = tunn.decapsulate(Some(from.ip()), &buf[..n], &mut out);
            // Handshake answers, then the packets queued behind the handshake.
            while let TunnResult::WriteToNetwork(p) = r {
                let _ = self.sock.send_to(p, from);
                r = tunn.decapsulate(None, &[], &mut out);
            }
            drop(tunn);
            if let TunnResult::WriteToTunnelV4(p, src) = r {
                let to_me = Tunn::dst_address(p) == Some(IpAddr::V4(self.inner));
                if src == peer.conf.inner && to_me {
                    let _ = (&self.io).write(p);
                }
            }
        }
    }

    fn timers(&self) {
        let mut out = vec![0u8; BUF];
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let all: Vec<Arc<Peer>> = {
                let peers = self.peers.read().unwrap_or_else(|p| p.into_inner());
                peers.by_host.values().cloned().collect()
            };
            for peer in all {
                let r = lock(&peer.tunn).update_timers(&mut out);
                self.to_network(r, peer.conf.endpoint);
            }
        }
    }

    fn to_network(&self, r: TunnResult<'_>, to: SocketAddr) {
        match r {
            TunnResult::WriteToNetwork(p) => {
                let _ = self.sock.send_to(p, to);
            }
            TunnResult::Err(e) => tracing::trace!("encrypted overlay: {to}: {e:?}"),
            _ => {}
        }
    }
}

fn remove(peers: &mut Peers, host_id: &str) {
    if let Some(old) = peers.by_host.remove(host_id) {
        peers.by_inner.remove(&old.conf.inner);
        peers.by_addr.remove(&old.conf.endpoint);
    }
}

#[cfg(test)]
mod tests;
