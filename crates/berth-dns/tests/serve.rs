//! Privileged integration tests: the server in throwaway network namespaces.
//!
//! Each test makes its own namespaces under a temp dir: "host" stands for berthd's namespace
//! (the `DnsServer` and its tokio runtime live on a thread that entered it, and fake upstream
//! servers listen on its loopback), "ctr" for a container's (the server binds 127.0.0.11 there,
//! and the test's queries come from a thread that entered it). Nothing touches the machine's own
//! namespace; the namespaces are removed by `Drop`, also when a test fails.
//!
//! Skipped when not root; fails instead when `BERTH_REQUIRE_PRIVILEGED=1`.

use berth_dns::{DnsConfig, DnsServer, Records};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 {
        return true;
    }
    if std::env::var("BERTH_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
        panic!("BERTH_REQUIRE_PRIVILEGED is set but {test} would be skipped: not root");
    }
    println!("skipped: needs root ({test}: euid {euid})");
    false
}

/// Throwaway namespaces "host" and "ctr", removed on drop.
struct Env {
    dir: PathBuf,
    host: PathBuf,
    ctr: PathBuf,
}

impl Env {
    fn new(test: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("berth-dns-{test}-{}", std::process::id()));
        let env = Env {
            host: dir.join("host"),
            ctr: dir.join("ctr"),
            dir,
        };
        berth_kernel::netns::create(&env.host).expect("create host netns");
        berth_kernel::netns::create(&env.ctr).expect("create ctr netns");
        env
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = berth_kernel::netns::remove(&self.ctr);
        let _ = berth_kernel::netns::remove(&self.host);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A runtime and a server whose records are the [`Fake`]'s, with no upstreams.
fn runtime_and_server() -> (tokio::runtime::Runtime, Arc<DnsServer>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dns = DnsServer::new(Arc::new(Fake { upstreams: vec![] }), DnsConfig::default());
    (rt, dns)
}

/// Runs `f` on a thread inside the namespace at `ns`.
fn in_ns<T: Send + 'static>(ns: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    berth_kernel::netns::run_in(ns, move || Ok(f())).expect("enter netns")
}

/// Container "c1" sees web, db, v6only, alias; upstreams per asker as the tests need.
struct Fake {
    upstreams: Vec<(String, Vec<SocketAddr>)>,
}

impl Records for Fake {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        if !asker.starts_with('c') {
            return None;
        }
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        Some(match name {
            "web" => vec![ip("10.0.0.2")],
            "db" => vec![ip("10.0.0.3"), ip("fd00::3")],
            "alias" => vec![ip("10.0.0.5"), ip("10.0.0.6")],
            _ => return None,
        })
    }
    fn reverse(&self, _asker: &str, addr: IpAddr) -> Option<Vec<String>> {
        (addr == "10.0.0.2".parse::<IpAddr>().unwrap()).then(|| vec!["web.mynet".into()])
    }
    fn upstreams(&self, asker: &str) -> Vec<SocketAddr> {
        self.upstreams
            .iter()
            .find(|(a, _)| a == asker)
            .map(|(_, u)| u.clone())
            .unwrap_or_default()
    }
}

fn query(name: &str, rtype: RecordType, edns: bool) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn udp_ask(server: SocketAddr, q: &[u8]) -> Message {
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.connect(server).unwrap();
    s.send(q).unwrap();
    let mut buf = [0u8; 65535];
    let n = s.recv(&mut buf).expect("udp reply");
    let m = Message::from_vec(&buf[..n]).expect("reply parses");
    assert_eq!(m.metadata.id, u16::from_be_bytes([q[0], q[1]]));
    m
}

fn tcp_ask(stream: &mut TcpStream, q: &[u8]) -> Message {
    let mut msg = (q.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(q);
    stream.write_all(&msg).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).unwrap();
    let m = Message::from_vec(&buf).expect("reply parses");
    assert_eq!(m.metadata.id, u16::from_be_bytes([q[0], q[1]]));
    m
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// The fake upstream's answer: `<n>.big.example.com` gets n addresses, anything else one,
/// 192.0.2.10, TTL 300. Like a real server it sets TC when the answer exceeds 512 bytes for a
/// client without EDNS (on UDP).
fn upstream_answer(q: &[u8], udp: bool) -> Option<Vec<u8>> {
    let mut m = Message::from_vec(q).ok()?;
    m.metadata.message_type = hickory_proto::op::MessageType::Response;
    m.metadata.recursion_available = true;
    let name = m.queries.first()?.name.clone();
    let first = name
        .iter()
        .next()
        .map(|l| String::from_utf8_lossy(l).to_string());
    let n: u8 = if name.to_ascii().contains("big.") {
        first.and_then(|f| f.parse().ok()).unwrap_or(1)
    } else {
        1
    };
    if m.queries[0].query_type == RecordType::A {
        for i in 0..n {
            let a = std::net::Ipv4Addr::new(192, 0, 2, 10 + i);
            m.add_answer(Record::from_rdata(name.clone(), 300, RData::A(a.into())));
        }
    }
    let mut out = m.to_vec().ok()?;
    if udp && m.edns.is_none() && out.len() > 512 {
        m.answers.clear();
        m.metadata.truncation = true;
        out = m.to_vec().ok()?;
    }
    Some(out)
}

/// A fake upstream DNS server (UDP and TCP) on `addr` in the calling thread's namespace,
/// counting the queries it answers; stops when dropped.
struct Upstream {
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Upstream {
    fn start(addr: SocketAddr) -> Upstream {
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let udp = UdpSocket::bind(addr).expect("bind fake upstream");
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let tcp = std::net::TcpListener::bind(addr).expect("bind fake upstream tcp");
        tcp.set_nonblocking(true).unwrap();
        let (q1, s1) = (queries.clone(), stop.clone());
        let t1 = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s1.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = udp.recv_from(&mut buf) {
                    if let Some(resp) = upstream_answer(&buf[..n], true) {
                        q1.fetch_add(1, Ordering::SeqCst);
                        let _ = udp.send_to(&resp, peer);
                    }
                }
            }
        });
        let (q2, s2) = (queries.clone(), stop.clone());
        let t2 = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let Ok((mut c, _)) = tcp.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                c.set_nonblocking(false).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut len = [0u8; 2];
                if c.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                if c.read_exact(&mut q).is_err() {
                    continue;
                }
                if let Some(resp) = upstream_answer(&q, false) {
                    q2.fetch_add(1, Ordering::SeqCst);
                    let mut msg = (resp.len() as u16).to_be_bytes().to_vec();
                    msg.extend_from_slice(&resp);
                    let _ = c.write_all(&msg);
                }
            }
        });
        Upstream {
            queries,
            stop,
            threads: vec![t1, t2],
        }
    }
    fn count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A UDP socket that takes queries and never answers (a server that is down behind a
/// firewall that drops).
fn blackhole(addr: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let s = UdpSocket::bind(addr).expect("bind blackhole");
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            let _ = s.recv_from(&mut buf);
        }
    })
}

/// A UDP upstream that answers every query after `delay` (a cold recursive lookup).
fn slow_upstream(
    addr: SocketAddr,
    delay: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let s = UdpSocket::bind(addr).expect("bind slow upstream");
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, peer)) = s.recv_from(&mut buf) {
                std::thread::sleep(delay);
                if let Some(resp) = upstream_answer(&buf[..n], true) {
                    let _ = s.send_to(&resp, peer);
                }
            }
        }
    })
}

const GOOD: &str = "127.0.0.1:5353";
const SLOW: &str = "127.0.0.4:53";
const REFUSING: &str = "127.0.0.2:53";
const BLACKHOLE: &str = "127.0.0.3:53";
const UNROUTABLE: &str = "192.0.2.1:53";

/// Runs `body(ctr netns)` with a `DnsServer` serving `askers` (asker → address in "ctr") on a
/// runtime in "host", where the fake upstreams listen.
fn with_server(
    test: &str,
    askers: &[(&str, &str)],
    body: impl FnOnce(&Env, &Upstream) + Send + 'static,
) {
    let env = Arc::new(Env::new(test));
    let askers: Vec<(String, SocketAddr)> = askers
        .iter()
        .map(|(a, addr)| (a.to_string(), addr.parse().unwrap()))
        .collect();
    let e = env.clone();
    let res = std::thread::spawn(move || {
        let e2 = e.clone();
        in_ns(&e.host.clone(), move || {
            let env = e2;
            let upstream = Upstream::start(GOOD.parse().unwrap());
            let stop = Arc::new(AtomicBool::new(false));
            let hole = blackhole(BLACKHOLE.parse().unwrap(), stop.clone());
            let slow = slow_upstream(
                SLOW.parse().unwrap(),
                Duration::from_millis(1200),
                stop.clone(),
            );
            let p = |s: &str| s.parse::<SocketAddr>().unwrap();
            let records = Fake {
                upstreams: vec![
                    ("c1".into(), vec![p(REFUSING), p(GOOD)]),
                    ("c2".into(), vec![p(BLACKHOLE), p(GOOD)]),
                    ("c3".into(), vec![p(UNROUTABLE), p(GOOD)]),
                    ("c4".into(), vec![]),
                    ("c5".into(), vec![p(SLOW)]),
                    ("c6".into(), vec![p(REFUSING)]),
                ],
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let dns = DnsServer::new(Arc::new(records), DnsConfig::default());
            let handles: Vec<_> = rt.block_on(async {
                let mut hs = Vec::new();
                for (asker, addr) in &askers {
                    let h = dns
                        .serve_at(asker.clone(), &env.ctr, *addr)
                        .await
                        .expect("serve");
                    hs.push(h);
                }
                hs
            });
            let res =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&env, &upstream)));
            drop(handles);
            rt.shutdown_timeout(Duration::from_secs(1));
            stop.store(true, Ordering::Relaxed);
            let _ = hole.join();
            let _ = slow.join();
            drop(upstream);
            res
        })
    })
    .join()
    .expect("test thread");
    if let Err(panic) = res {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `f` in the container namespace.
fn from_ctr<T: Send + 'static>(env: &Env, f: impl FnOnce() -> T + Send + 'static) -> T {
    in_ns(&env.ctr, f)
}

#[test]
fn local_names_over_udp_and_tcp() {
    if !privileged("local_names_over_udp_and_tcp") {
        return;
    }
    with_server("local", &[("c1", "127.0.0.11:53")], |env, _| {
        from_ctr(env, || {
            let srv: SocketAddr = "127.0.0.11:53".parse().unwrap();
            let m = udp_ask(srv, &query("web", RecordType::A, false));
            assert_eq!(m.metadata.response_code, ResponseCode::NoError);
            assert_eq!(addrs(&m), vec!["10.0.0.2".parse::<IpAddr>().unwrap()]);
            assert_eq!(m.answers[0].ttl, 600);
            let m = udp_ask(srv, &query("WEB.", RecordType::AAAA, true));
            assert_eq!(m.metadata.response_code, ResponseCode::NoError);
            assert!(m.answers.is_empty());
            assert!(m.edns.is_some());
            let m = udp_ask(srv, &query("nosuch", RecordType::A, false));
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
            let m = udp_ask(srv, &query("2.0.0.10.in-addr.arpa", RecordType::PTR, false));
            assert!(matches!(&m.answers[0].data, RData::PTR(p) if p.0.to_ascii() == "web.mynet."));

            // Bursts from several sockets: every reply goes to the socket that asked, with its
            // query's id.
            let socks: Vec<UdpSocket> = (0..4)
                .map(|_| {
                    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                    s.connect(srv).unwrap();
                    s
                })
                .collect();
            let mut q = query("web", RecordType::A, false);
            for (k, s) in socks.iter().enumerate() {
                for j in 0..50u16 {
                    q[..2].copy_from_slice(&(k as u16 * 1000 + j).to_be_bytes());
                    s.send(&q).unwrap();
                }
            }
            for (k, s) in socks.iter().enumerate() {
                let mut ids: Vec<u16> = (0..50)
                    .map(|_| {
                        let mut buf = [0u8; 512];
                        let n = s.recv(&mut buf).expect("burst reply");
                        let m = Message::from_vec(&buf[..n]).unwrap();
                        assert_eq!(addrs(&m).len(), 1);
                        m.metadata.id
                    })
                    .collect();
                ids.sort();
                let want: Vec<u16> = (0..50).map(|j| k as u16 * 1000 + j).collect();
                assert_eq!(ids, want);
            }

            // Several queries on one TCP connection.
            let mut c = TcpStream::connect(srv).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            for _ in 0..3 {
                let m = tcp_ask(&mut c, &query("db", RecordType::AAAA, false));
                assert_eq!(addrs(&m), vec!["fd00::3".parse::<IpAddr>().unwrap()]);
                let m = tcp_ask(&mut c, &query("alias", RecordType::A, false));
                assert_eq!(addrs(&m).len(), 2);
            }
            // Garbage gets a FORMERR header, and the connection goes on.
            let mut junk = query("web", RecordType::A, false);
            junk[4..6].copy_from_slice(&[0xFF, 0xFF]);
            let m = tcp_ask(&mut c, &junk);
            assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
            let m = tcp_ask(&mut c, &query("web", RecordType::A, false));
            assert_eq!(addrs(&m).len(), 1);
        });
    });
}

#[test]
fn forwards_with_failover_cache_and_truncation() {
    if !privileged("forwards_with_failover_cache_and_truncation") {
        return;
    }
    let askers = [
        ("c1", "127.0.0.11:53"),
        ("c2", "127.0.0.12:53"),
        ("c3", "127.0.0.13:53"),
        ("c4", "127.0.0.14:53"),
        ("c5", "127.0.0.15:53"),
        ("c6", "127.0.0.16:53"),
    ];
    with_server("forward", &askers, |env, upstream| {
        let ask = |srv: &'static str, name: &str, t: RecordType, edns: bool| {
            let q = query(name, t, edns);
            from_ctr(env, move || {
                let start = Instant::now();
                let m = udp_ask(srv.parse().unwrap(), &q);
                (m, start.elapsed())
            })
        };

        // c1: the first upstream refuses (ICMP port unreachable): immediate failover.
        let (m, took) = ask("127.0.0.11:53", "example.com", RecordType::A, true);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(addrs(&m), vec!["192.0.2.10".parse::<IpAddr>().unwrap()]);
        assert!(
            took < Duration::from_millis(500),
            "refused failover took {took:?}"
        );
        assert_eq!(upstream.count(), 1);

        // Cached: the upstream is not asked again, and the TTL has not grown.
        let (m, _) = ask("127.0.0.11:53", "EXAMPLE.com", RecordType::A, true);
        assert_eq!(addrs(&m), vec!["192.0.2.10".parse::<IpAddr>().unwrap()]);
        assert!(m.answers[0].ttl <= 300);
        assert_eq!(upstream.count(), 1);
        // A different EDNS setting is a different cache entry.
        let (m, _) = ask("127.0.0.11:53", "example.com", RecordType::A, false);
        assert_eq!(addrs(&m).len(), 1);
        assert_eq!(upstream.count(), 2);

        // c2: the first upstream never answers: the next is asked after the 700 ms timeout,
        // well within a second, and the silent one is then tried last.
        let (m, took) = ask("127.0.0.12:53", "one.example.com", RecordType::A, true);
        assert_eq!(addrs(&m).len(), 1);
        assert!(took >= Duration::from_millis(600), "no timeout? {took:?}");
        assert!(
            took < Duration::from_secs(1),
            "timeout failover took {took:?}"
        );
        let (m, took) = ask("127.0.0.12:53", "two.example.com", RecordType::A, true);
        assert_eq!(addrs(&m).len(), 1);
        assert!(
            took < Duration::from_millis(300),
            "dead server tried first: {took:?}"
        );

        // c3: the first upstream is unroutable from the host namespace: immediate failover.
        let (m, took) = ask("127.0.0.13:53", "three.example.com", RecordType::A, true);
        assert_eq!(addrs(&m).len(), 1);
        assert!(
            took < Duration::from_millis(500),
            "unroutable failover took {took:?}"
        );

        // c4 may not forward: unknown names are NXDOMAIN, local ones still work.
        let (m, _) = ask("127.0.0.14:53", "example.com", RecordType::A, true);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        let (m, _) = ask("127.0.0.14:53", "web", RecordType::A, true);
        assert_eq!(addrs(&m).len(), 1);

        // c5's only upstream is slow: it is waited for past the failover timeout.
        let (m, took) = ask("127.0.0.15:53", "slow.example.com", RecordType::A, true);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(addrs(&m).len(), 1);
        assert!(took >= Duration::from_millis(1100), "{took:?}");

        // c6's only upstream is not there: SERVFAIL at once.
        let (m, took) = ask("127.0.0.16:53", "gone.example.com", RecordType::A, true);
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        assert!(took < Duration::from_millis(500), "{took:?}");

        // A big answer: truncated over UDP for a client without EDNS, whole over TCP (forwarded
        // over TCP).
        let (m, _) = ask("127.0.0.11:53", "40.big.example.com", RecordType::A, false);
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        let q = query("40.big.example.com", RecordType::A, false);
        let m = from_ctr(env, move || {
            let mut c = TcpStream::connect("127.0.0.11:53").unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            tcp_ask(&mut c, &q)
        });
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(addrs(&m).len(), 40);
        // With EDNS the big answer fits UDP.
        let (m, _) = ask("127.0.0.11:53", "40.big.example.com", RecordType::A, true);
        assert!(!m.metadata.truncation);
        assert_eq!(addrs(&m).len(), 40);
    });
}

#[test]
fn stopping_closes_the_sockets() {
    if !privileged("stopping_closes_the_sockets") {
        return;
    }
    let env = Env::new("stop");
    let ctr = env.ctr.clone();
    let host = env.host.clone();
    in_ns(&host, move || {
        let (rt, dns) = runtime_and_server();
        for _ in 0..3 {
            let h = rt.block_on(dns.serve("c1".into(), &ctr)).expect("serve");
            // A random port of 127.0.0.11, which port 53 is redirected to.
            assert_eq!(h.udp_addr().ip(), berth_dns::DNS_ADDR.ip());
            assert_ne!(h.udp_addr().port(), 53);
            assert_eq!(h.tcp_addr().map(|a| a.port()), Some(h.udp_addr().port()));
            let m = in_ns(&ctr, || {
                udp_ask(berth_dns::DNS_ADDR, &query("web", RecordType::A, false))
            });
            assert_eq!(addrs(&m).len(), 1);
            drop(h);
            // The sockets close promptly, so serving again binds at once.
            std::thread::sleep(Duration::from_millis(50));
        }
        // A namespace that does not exist is an error, not a panic.
        let err = rt
            .block_on(dns.serve("c1".into(), Path::new("/nonexistent/netns")))
            .unwrap_err();
        assert!(err.to_string().contains("nonexistent"), "{err}");
    });
}

/// A DNS server of the container's own (pihole, coredns...) must be able to bind port 53 on
/// every address while berth serves 127.0.0.11:53 for the same namespace, over UDP and TCP; each
/// gets its own queries.
#[test]
fn regression_container_could_not_bind_port_53() {
    if !privileged("regression_container_could_not_bind_port_53") {
        return;
    }
    let env = Env::new("own53");
    let ctr = env.ctr.clone();
    let host = env.host.clone();
    in_ns(&host, move || {
        let (rt, dns) = runtime_and_server();
        let _h = rt.block_on(dns.serve("c1".into(), &ctr)).expect("serve");
        in_ns(&ctr, || {
            let own_udp = std::net::UdpSocket::bind("0.0.0.0:53").expect("own server binds udp 53");
            let own_tcp =
                std::net::TcpListener::bind("0.0.0.0:53").expect("own server binds tcp 53");
            // berth's server still answers at 127.0.0.11:53, over UDP and TCP.
            let m = udp_ask(berth_dns::DNS_ADDR, &query("web", RecordType::A, false));
            assert_eq!(addrs(&m).len(), 1);
            let mut s = TcpStream::connect_timeout(&berth_dns::DNS_ADDR, Duration::from_secs(2))
                .expect("tcp to 127.0.0.11:53");
            let m = tcp_ask(&mut s, &query("web", RecordType::A, false));
            assert_eq!(addrs(&m).len(), 1);
            // The container's own server gets what is sent to its addresses.
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            c.send_to(b"ping", "127.0.0.1:53").unwrap();
            let mut buf = [0u8; 16];
            own_udp
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let (n, _) = own_udp
                .recv_from(&mut buf)
                .expect("own udp server gets its datagram");
            assert_eq!(&buf[..n], b"ping");
            let _t = TcpStream::connect("127.0.0.1:53").unwrap();
            own_tcp.set_nonblocking(false).unwrap();
            own_tcp.accept().expect("own tcp server accepts");
        });
    });
}
