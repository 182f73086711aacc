//! Two tunnels in one process, each with a datagram socket pair standing in for its TUN
//! device, talking over loopback UDP through a relay that records every byte on the "wire".

use super::*;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::AtomicBool;

const INNER_A: Ipv4Addr = Ipv4Addr::new(169, 254, 64, 1);
const INNER_B: Ipv4Addr = Ipv4Addr::new(169, 254, 64, 2);

/// An IPv4/UDP packet `src` → `dst` carrying `payload`.
fn packet(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let len = (20 + 8 + payload.len()) as u16;
    let mut p = vec![
        0x45,
        0,
        (len >> 8) as u8,
        len as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let ulen = (8 + payload.len()) as u16;
    p.extend_from_slice(&[0x12, 0xbf, 0x12, 0xbf, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    p.extend_from_slice(payload);
    p
}

struct Host {
    tunnel: Arc<Tunnel>,
    /// The test's end of the stand-in TUN device.
    tun: UnixDatagram,
    addr: SocketAddr,
    public: [u8; 32],
}

fn host(secret: u8, inner: Ipv4Addr) -> Host {
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    ours.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let key = [secret; 32];
    let tunnel = Tunnel::start(File::from(OwnedFd::from(theirs)), sock, key, inner).unwrap();
    Host {
        tunnel,
        tun: ours,
        addr,
        public: public_key(&key),
    }
}

/// Forwards A↔B through two sockets (A talks to `r1`, B to `r2`), recording what passes.
fn relay(
    a: SocketAddr,
    b: SocketAddr,
    wire: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
) -> (SocketAddr, SocketAddr) {
    let r1 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addrs = (r1.local_addr().unwrap(), r2.local_addr().unwrap());
    for s in [&r1, &r2] {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    std::thread::spawn(move || {
        let mut buf = vec![0u8; BUF];
        while !stop.load(Ordering::Relaxed) {
            for (rx, tx, to) in [(&r1, &r2, b), (&r2, &r1, a)] {
                if let Ok(n) = rx.recv(&mut buf) {
                    lock(&wire).extend_from_slice(&buf[..n]);
                    let _ = tx.send_to(&buf[..n], to);
                }
            }
        }
    });
    addrs
}

fn recv(h: &Host) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; BUF];
    h.tun.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

#[test]
fn packets_cross_sealed_and_only_from_the_peers_own_address() {
    let (a, b) = (host(7, INNER_A), host(9, INNER_B));
    let wire = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (r1, r2) = relay(a.addr, b.addr, wire.clone(), stop.clone());
    a.tunnel.set_peer(PeerConf {
        host_id: "b".into(),
        public: b.public,
        endpoint: r1,
        inner: INNER_B,
        since: 0,
    });
    b.tunnel.set_peer(PeerConf {
        host_id: "a".into(),
        public: a.public,
        endpoint: r2,
        inner: INNER_A,
        since: 0,
    });

    let marker = b"berth-plaintext-marker-0123456789";
    let p = packet(INNER_A, INNER_B, marker);
    a.tun.send(&p).unwrap();
    assert_eq!(recv(&b).as_deref(), Some(&p[..]), "A → B");
    let back = packet(INNER_B, INNER_A, b"reply");
    b.tun.send(&back).unwrap();
    assert_eq!(recv(&a).as_deref(), Some(&back[..]), "B → A");

    // A peer may not speak for another inner address, nor reach past this host.
    a.tun
        .send(&packet(Ipv4Addr::new(169, 254, 64, 9), INNER_B, b"spoofed"))
        .unwrap();
    a.tun
        .send(&packet(INNER_A, Ipv4Addr::new(10, 9, 9, 9), b"routed"))
        .unwrap();
    assert_eq!(
        recv(&b),
        None,
        "spoofed or misaddressed packets are dropped"
    );

    stop.store(true, Ordering::Relaxed);
    let wire = lock(&wire).clone();
    assert!(
        wire.len() > p.len(),
        "the relay saw the handshake and the data"
    );
    assert!(
        !wire.windows(marker.len()).any(|w| w == marker),
        "the marker crossed the wire in plaintext"
    );
}

#[test]
fn a_peer_with_another_key_is_not_heard() {
    let (a, b) = (host(3, INNER_A), host(4, INNER_B));
    a.tunnel.set_peer(PeerConf {
        host_id: "b".into(),
        public: b.public,
        endpoint: b.addr,
        inner: INNER_B,
        since: 0,
    });
    // B expects A under a key A does not hold.
    b.tunnel.set_peer(PeerConf {
        host_id: "a".into(),
        public: public_key(&[5; 32]),
        endpoint: a.addr,
        inner: INNER_A,
        since: 0,
    });
    let p = packet(INNER_A, INNER_B, b"hello");
    a.tun.send(&p).unwrap();
    assert_eq!(recv(&b), None);
    // Once B learns A's real key, A's next handshake (retried every 5 s) succeeds and the
    // packets queued behind it (the same one, sent again below) arrive.
    b.tunnel.set_peer(PeerConf {
        host_id: "a".into(),
        public: a.public,
        endpoint: a.addr,
        inner: INNER_A,
        since: 0,
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    let mut got = None;
    while got.is_none() && std::time::Instant::now() < deadline {
        a.tun.send(&p).unwrap();
        got = recv(&b);
    }
    assert_eq!(got.as_deref(), Some(&p[..]));
}
