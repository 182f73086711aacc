//! `network create -d overlay -o encrypted`: the traffic of the network between hosts is
//! encrypted, with WireGuard done in userspace by berthd (the kernel here has neither IPsec
//! ESP nor the WireGuard module).
//!
//! ```text
//!  container ─ ov-<id> bridge ─ vx-<id> (VXLAN, local = inner address, port 4799)
//!                                  │ routed: 169.254.64.0/18 dev berth-wg0
//!                               berth-wg0 (TUN, inner address, MTU 1420)
//!                                  │ read by berthd, sealed (boringtun noise::Tunn per peer)
//!                               UDP advertise:51820 ──underlay──▶ peer berthd ─▶ its berth-wg0
//! ```
//!
//! - Keys: each host has an X25519 key pair; the private key stays in
//!   `<data-root>/overlay-encryption.key` (mode 0600, made on first use), the public key is
//!   published in etcd at `wg/<host-id>` (bound to the host's lease) with the host's WireGuard
//!   endpoint and inner address. Whoever can write to etcd can therefore announce keys: etcd is
//!   trusted for key distribution as it is for everything else (use its TLS and auth).
//! - Inner addresses: each host claims one address of 169.254.64.0/18 once
//!   (`wg-inner/<ip>` = host id, create-if-absent, not lease-bound, so it keeps it across
//!   restarts and its VXLAN devices are adopted unchanged).
//! - An encrypted network's VXLAN device sends from the inner address to the peers' inner
//!   addresses (its FDB entries point there), so its frames are routed into `berth-wg0` and
//!   nowhere else; the firewall drops port 4799 on every other interface, both ways
//!   (`firewall.rs`). If berthd is down the TUN device and its address are gone: encrypted
//!   traffic stops rather than leaving in plaintext.
//! - The datapath starts with the first encrypted network a host sees and runs until berthd
//!   exits (removing the last encrypted network leaves `berth-wg0` up, idle). Datagrams are
//!   attributed to peers by source address: hosts must reach each other at their advertised
//!   addresses (no NAT between them), as plain overlays already require.
//! - Rekeying is WireGuard's own (new session keys every 2 minutes, handshakes retried every
//!   5 s); host keys are not rotated (delete the key file and restart berthd to change one).
//! - MTU: 1420 on the TUN device (1500 underlay minus WireGuard's 80 bytes over IPv6, 60 over
//!   IPv4), minus 50 for VXLAN: encrypted networks default to MTU 1370.
//!
//! Cost (`encrypted_overlay_cost_bench` in `berth-tests/tests/overlay_encrypted.rs`, release
//! build, two hosts as namespaces on one 2-core machine shared with other builds, load average
//! 5-10; 13 samples in three runs, encrypted and plain overlay alternating between the same
//! two hosts): one iperf3 TCP stream, 5 s, encrypted 243-801 Mbit/s (median 392 of 8 samples,
//! 443 of the 5 on the final code) vs plain overlay 9.9-22.6 Gbit/s (medians 12.1 and 17.3), about 3%; berthd spends 9-20
//! CPU seconds per GB carried (medians 11.9 and 14.8, both hosts together) where the plain
//! overlay costs it nothing (the kernel forwards). Ping p50 0.24-0.47 ms (medians 0.29, 0.43)
//! vs 0.10-0.19 ms (0.14, 0.16); p99 up to 62 ms (vs at most 2.5 ms) when berthd's threads wait
//! for a CPU. Each packet costs a TUN read or write and a UDP send or receive (no batching, no
//! segmentation offload through the TUN device); at 12-20 µs of CPU per 1.4 kB packet that, more
//! than ChaCha20-Poly1305, is the likely cost (not profiled).

use super::tunnel::{PeerConf, Tunnel};
use super::{cerr, key, OverlayEndpoint};
use crate::error::{EngineError, Result};
use crate::Engine;
use base64::Engine as _;
use berth_cluster::Event;
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The network option (`-o encrypted`); its presence turns encryption on, as in Docker.
pub const OPT_ENCRYPTED: &str = "encrypted";
/// The TUN device of every host.
pub const TUN_NAME: &str = "berth-wg0";
/// VXLAN port of encrypted networks: only ever used through [`TUN_NAME`].
pub const VXLAN_PORT: u16 = 4799;
/// Where berthd receives WireGuard datagrams (on its `--cluster-advertise` address).
pub const WG_PORT: u16 = 51820;
const TUN_MTU: u32 = 1420;
/// Default MTU of encrypted networks: the TUN device's minus VXLAN's 50 bytes.
pub const MTU: u32 = TUN_MTU - 50;
const KEY_FILE: &str = "overlay-encryption.key";
/// Receive and send buffer of the WireGuard socket.
const SOCKET_BUFFER: usize = 8 << 20;

fn inner_pool() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(169, 254, 64, 0), 18).expect("static")
}

pub fn is_encrypted(options: &HashMap<String, String>) -> bool {
    options.contains_key(OPT_ENCRYPTED)
}

/// What a host publishes at `wg/<host-id>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WgRecord {
    pub host_id: String,
    /// Base64, as WireGuard writes keys.
    pub public_key: String,
    pub endpoint: SocketAddr,
    pub inner: Ipv4Addr,
    /// When this berthd started its datapath: a restart is a change peers act on.
    pub since: u64,
}

impl WgRecord {
    fn peer(&self) -> Option<PeerConf> {
        let k = base64::engine::general_purpose::STANDARD
            .decode(&self.public_key)
            .ok()?;
        Some(PeerConf {
            host_id: self.host_id.clone(),
            public: k.try_into().ok()?,
            endpoint: self.endpoint,
            inner: self.inner,
            since: self.since,
        })
    }
}

#[derive(Default)]
struct State {
    /// Every other host's record; kept after it leaves, so its FDB entries can be removed.
    records: HashMap<String, WgRecord>,
    tunnel: Option<Arc<Tunnel>>,
}

/// This host's part of encrypted overlay networks.
#[derive(Default)]
pub struct Encryption {
    /// This host's inner address, once its datapath runs (started by the first encrypted
    /// network, on this host or seen in the cluster).
    local: tokio::sync::OnceCell<Ipv4Addr>,
    state: Mutex<State>,
}

impl Encryption {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Engine {
    /// Before an encrypted network is created: its MTU fits (default [`MTU`]) and this host's
    /// datapath runs, so a network is never created without its encryption.
    pub(super) async fn encryption_check(
        &self,
        options: &mut HashMap<String, String>,
    ) -> Result<()> {
        let mtu = options
            .entry(crate::network::OPT_MTU.to_string())
            .or_insert_with(|| MTU.to_string());
        if !mtu.parse::<u32>().is_ok_and(|m| (68..=MTU).contains(&m)) {
            return Err(EngineError::Invalid(format!(
                "invalid MTU {mtu:?} for an encrypted overlay network: at most {MTU} (WireGuard and VXLAN take 130 of the underlay's 1500 bytes)"
            )));
        }
        self.encryption_up().await.map(drop)
    }

    /// Where an overlay network's VXLAN device sends from, and to which port.
    pub(super) async fn overlay_underlay(
        &self,
        rec: &super::NetworkRec,
    ) -> std::result::Result<(IpAddr, u16), String> {
        let cl = self.cluster().map_err(|e| e.to_string())?;
        if !is_encrypted(&rec.options) {
            return Ok((cl.advertise(), 4789));
        }
        let inner = self.encryption_up().await.map_err(|e| e.to_string())?;
        Ok((inner.into(), VXLAN_PORT))
    }

    /// Where frames for a remote endpoint go: its host, or that host's inner address on an
    /// encrypted network (`None` until its record is known; programmed when it arrives).
    pub(super) fn overlay_remote_dst(
        &self,
        net: &super::NetworkRec,
        ep: &OverlayEndpoint,
    ) -> Option<IpAddr> {
        if !is_encrypted(&net.options) {
            return Some(ep.host_ip);
        }
        let st = self.encryption.state();
        st.records.get(&ep.host_id).map(|r| IpAddr::V4(r.inner))
    }

    /// Starts this host's encrypted datapath (once): key, inner address, TUN device, UDP
    /// socket, published record. Returns the inner address.
    pub(super) async fn encryption_up(&self) -> Result<Ipv4Addr> {
        self.encryption
            .local
            .get_or_try_init(|| self.encryption_start())
            .await
            .copied()
    }

    async fn encryption_start(&self) -> Result<Ipv4Addr> {
        let cl = self.cluster()?.clone();
        let fail = |what: &str, e: String| {
            EngineError::Internal(format!("encrypted overlay networks: {what}: {e}"))
        };
        let secret = load_or_create_key(&self.cfg.data_root.join(KEY_FILE))
            .map_err(|e| fail("private key", e))?;
        let inner = self.claim_inner(&cl).await?;
        let endpoint = SocketAddr::new(cl.advertise(), WG_PORT);
        // Published first: once the datapath runs (its threads hold the TUN device for the
        // life of the process) nothing may fail any more.
        let rec = WgRecord {
            host_id: cl.host_id().to_string(),
            public_key: base64::engine::general_purpose::STANDARD
                .encode(super::tunnel::public_key(&secret)),
            endpoint,
            inner,
            since: chrono::Utc::now().timestamp_micros() as u64,
        };
        let json = serde_json::to_vec(&rec).map_err(|e| EngineError::Internal(e.to_string()))?;
        cl.put_owned(&key("wg", cl.host_id()), json)
            .await
            .map_err(cerr)?;
        let net = IpNet::new(inner.into(), inner_pool().prefix_len()).expect("valid prefix");
        let io = self
            .dataplane
            .open_tun(TUN_NAME, TUN_MTU, net)
            .await
            .map_err(|e| fail("TUN device", e))?;
        let sock = std::net::UdpSocket::bind(endpoint)
            .map_err(|e| fail(&format!("UDP socket {endpoint}"), e.to_string()))?;
        // Bursts of a TCP window arrive faster than one thread opens them: at the default size
        // the kernel dropped 55-73 thousand datagrams per 5 s iperf3 run, none with 8 MiB.
        // Forced past net.core.rmem_max/wmem_max (berthd has CAP_NET_ADMIN).
        use nix::sys::socket::{setsockopt, sockopt};
        if let Err(e) = setsockopt(&sock, sockopt::RcvBufForce, &SOCKET_BUFFER)
            .and_then(|_| setsockopt(&sock, sockopt::SndBufForce, &SOCKET_BUFFER))
        {
            tracing::warn!("encrypted overlay: socket buffers: {e}");
        }
        let tunnel =
            Tunnel::start(io, sock, secret, inner).map_err(|e| fail("threads", e.to_string()))?;
        let mut st = self.encryption.state();
        for conf in st.records.values().filter_map(WgRecord::peer) {
            tunnel.set_peer(conf);
        }
        st.tunnel = Some(tunnel);
        drop(st);
        tracing::info!(%inner, %endpoint, "encrypted overlay datapath up");
        Ok(inner)
    }

    /// This host's inner address: the one it claimed before, or a free one.
    async fn claim_inner(&self, cl: &berth_cluster::Cluster) -> Result<Ipv4Addr> {
        let me = cl.host_id().as_bytes();
        let prefix = key("wg-inner", "");
        let (claimed, _) = cl.list(&prefix).await.map_err(cerr)?;
        if let Some(ip) = claimed
            .iter()
            .find(|(_, v)| v == me)
            .and_then(|(k, _)| k[prefix.len()..].parse().ok())
        {
            return Ok(ip);
        }
        let pool = inner_pool();
        let size = 1u32 << (32 - pool.prefix_len());
        let start = me
            .iter()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(*b as u32));
        for i in 0..size {
            let off = (start.wrapping_add(i)) % size;
            if off == 0 || off == size - 1 {
                continue;
            }
            let ip = Ipv4Addr::from(u32::from(pool.network()) + off);
            if cl
                .claim(&key("wg-inner", &ip.to_string()), me.to_vec(), false)
                .await
                .map_err(cerr)?
            {
                return Ok(ip);
            }
        }
        Err(EngineError::Conflict(format!(
            "encrypted overlay networks: no free inner address in {pool}"
        )))
    }

    /// Follows the other hosts' records: peers of the datapath and FDB destinations.
    pub(crate) fn encryption_watch(self: &Arc<Self>) {
        let Some(cl) = self.cluster.clone() else {
            return;
        };
        let mut recs = cl.watch(&key("wg", ""));
        let engine = Arc::downgrade(self);
        let me = cl.host_id().to_string();
        tokio::spawn(async move {
            while let Some(ev) = recs.recv().await {
                let Some(e) = engine.upgrade() else { return };
                let (add, value) = match ev {
                    Event::Put { value, .. } => (true, value),
                    Event::Delete { value, .. } => (false, value),
                };
                let Ok(rec) = serde_json::from_slice::<WgRecord>(&value) else {
                    continue;
                };
                if rec.host_id != me {
                    e.encryption_peer(rec, add).await;
                }
            }
        });
    }

    async fn encryption_peer(&self, rec: WgRecord, add: bool) {
        let moved = {
            let mut st = self.encryption.state();
            if !add {
                if let Some(t) = &st.tunnel {
                    t.remove_peer(&rec.host_id);
                }
                return;
            }
            match rec.peer() {
                Some(conf) => {
                    if let Some(t) = &st.tunnel {
                        t.set_peer(conf);
                    }
                }
                None => {
                    tracing::warn!(host = %rec.host_id, "encrypted overlay: unreadable public key");
                    return;
                }
            }
            let old = st.records.insert(rec.host_id.clone(), rec.clone());
            old.is_none_or(|o| o.inner != rec.inner)
        };
        if !moved {
            return;
        }
        // Its endpoints on encrypted networks that waited for (or moved with) its address.
        let eps: Vec<OverlayEndpoint> = self
            .remote_eps()
            .values()
            .filter(|ep| ep.host_id == rec.host_id)
            .cloned()
            .collect();
        for ep in eps {
            if self
                .networks
                .resolve(&ep.network_id)
                .is_ok_and(|n| is_encrypted(&n.options))
            {
                self.program_remote(&ep, true).await;
            }
        }
    }
}

/// Reads the private key (base64), or makes one (mode 0600) if there is none.
fn load_or_create_key(path: &Path) -> std::result::Result<[u8; 32], String> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let b64 = base64::engine::general_purpose::STANDARD;
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(format!(
                    "{} is readable by others than root: make it mode 0600",
                    path.display()
                ));
            }
            let k = b64
                .decode(s.trim())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            k.try_into()
                .map_err(|_| format!("{}: not a 32-byte key", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = [0u8; 32];
            rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut k)
                .map_err(|e| e.to_string())?;
            let tmp = path.with_extension("tmp");
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
            f.write_all(format!("{}\n", b64.encode(k)).as_bytes())
                .and_then(|_| f.sync_all())
                .and_then(|_| std::fs::rename(&tmp, path))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(k)
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_made_once_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(KEY_FILE);
        let k = load_or_create_key(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create_key(&p).unwrap(), k, "the same key next time");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create_key(&p).unwrap_err();
        assert!(e.contains("mode 0600"), "{e}");
    }

    #[test]
    fn firewall_keeps_the_vxlan_port_on_the_tun_device() {
        let script = crate::network::firewall::full(&[], &[], &[]);
        for dir in ["iifname", "oifname"] {
            let rule = format!("udp dport {VXLAN_PORT} {dir} != \"{TUN_NAME}\" drop");
            assert!(script.contains(&rule), "missing `{rule}`");
            let fwd = format!("{dir} \"{TUN_NAME}\" drop");
            assert!(script.contains(&fwd), "missing `{fwd}`");
        }
    }

    #[test]
    fn option_presence_means_encrypted() {
        let mut o = HashMap::new();
        assert!(!is_encrypted(&o));
        o.insert(OPT_ENCRYPTED.to_string(), String::new());
        assert!(is_encrypted(&o));
        assert_eq!(MTU, 1370);
        assert!(inner_pool().contains(&Ipv4Addr::new(169, 254, 100, 1)));
        assert!(!inner_pool().contains(&Ipv4Addr::new(169, 254, 169, 254)));
    }
}
