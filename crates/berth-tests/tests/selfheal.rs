//! Self-healing, as a user sees it: someone (a firewall service reload, an admin) flushes the
//! whole nftables ruleset, deletes a container's host-side veth, or deletes a network's bridge
//! while containers run. Within one second (polled every 50 ms) everything a user relies on
//! works again: isolation between networks, masquerade to the outside, the published port, the
//! container's address and its neighbours. A table of the user's own in the host namespace is
//! never touched by berthd.
//!
//! The one-second checks run from threads of this test process that `setns`'d into the
//! containers' (or the outside) network namespaces, with short socket timeouts: `berth exec`
//! alone costs more than the budget. Everything is confirmed once more through `berth exec`
//! afterwards.
//!
//! Traffic only goes between the test's own namespaces.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use berth_tests::{is_hex_id, require_setup, wait_until, Daemon, Topology, BUSYBOX_IMAGE as BB};

// ------------------------------------------------------------ namespaces and probes

/// Runs `f` on a fresh thread that joined the network namespace at `ns` (a bind-mounted
/// namespace file). Sockets created there stay in that namespace.
fn in_netns<T: Send>(ns: &Path, f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|s| {
        let h = s.spawn(|| {
            let file = File::open(ns).unwrap_or_else(|e| panic!("open {}: {e}", ns.display()));
            // SAFETY: setns on a valid fd; it only moves this new thread.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(
                r,
                0,
                "setns {}: {}",
                ns.display(),
                std::io::Error::last_os_error()
            );
            f()
        });
        match h.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    })
}

#[derive(Debug, PartialEq)]
enum Probe {
    Connected,
    Refused,
    TimedOut,
    Other(String),
}

fn tcp_probe(to: SocketAddr, timeout: Duration) -> Probe {
    match TcpStream::connect_timeout(&to, timeout) {
        Ok(_) => Probe::Connected,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Refused,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            Probe::TimedOut
        }
        Err(e) => Probe::Other(e.to_string()),
    }
}

/// `GET path` over HTTP/1.0 with short deadlines: the body, or why not.
fn http_get(to: SocketAddr, path: &str, timeout: Duration) -> Result<String, String> {
    let mut s =
        TcpStream::connect_timeout(&to, timeout).map_err(|e| format!("connect {to}: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("read from {to}: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            Ok(body.trim().to_string())
        }
        _ => Err(format!("bad answer from {to}: {text:?}")),
    }
}

/// An HTTP server in the outside namespace that answers every request with the source
/// address it saw.
struct WhoAmI {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WhoAmI {
    fn start(topo: &Topology) -> WhoAmI {
        let l: TcpListener = in_netns(&topo.outside_ns_path(), || {
            TcpListener::bind((topo.outside_ip(), 0)).expect("bind in the outside namespace")
        });
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, peer)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                        let mut req = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => req.extend_from_slice(&buf[..n]),
                            }
                        }
                        let body = format!("{}\n", peer.ip());
                        let _ = write!(
                            s,
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        WhoAmI {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for WhoAmI {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The source address the outside saw for a connection from `ns`.
fn seen_from_outside(ns: &Path, srv: SocketAddr, timeout: Duration) -> Result<String, String> {
    in_netns(ns, || http_get(srv, "/", timeout))
}

// ------------------------------------------------------------ berth helpers

fn net_create(d: &Daemon, args: &[&str]) -> String {
    let mut full = vec!["network", "create"];
    full.extend_from_slice(args);
    let id = d.ok(&full);
    assert!(is_hex_id(&id, 64), "network create printed {id:?}");
    id
}

const HTTPD: &[&str] = &["httpd", "-f", "-p", "80", "-h", "/etc"];

fn web(d: &Daemon, name: &str, net: &str, extra: &[&str]) {
    let mut a = vec![
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        "--network",
        net,
    ];
    a.extend_from_slice(extra);
    a.push(BB);
    a.extend_from_slice(HTTPD);
    let id = d.ok(&a);
    assert!(is_hex_id(&id, 64), "run -d printed {id:?}");
}

fn ip4(d: &Daemon, c: &str, net: &str) -> Ipv4Addr {
    let v = d.inspect(c);
    v["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{c} has no IPv4 address on {net}: {}", v["NetworkSettings"]))
}

fn sandbox(d: &Daemon, c: &str) -> PathBuf {
    let v = d.inspect(c);
    let k = v["NetworkSettings"]["SandboxKey"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !k.is_empty() && Path::new(k).exists(),
        "{c}: SandboxKey {k:?}"
    );
    PathBuf::from(k)
}

/// What `nsenter --net=NS ip ARGS` did.
struct IpOut {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `nsenter --net=NS ip ARGS`, for namespaces that are not under /var/run/netns (containers').
fn ip_in(ns: &Path, args: &[&str]) -> IpOut {
    let o = std::process::Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .arg("ip")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nsenter");
    IpOut {
        ok: o.status.success(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn nft(topo: &Topology, args: &[&str]) -> berth_tests::Output {
    let mut full = vec!["nft"];
    full.extend_from_slice(args);
    topo.in_host(&full)
}

fn nft_script(topo: &Topology, script: &str) {
    let mut c = berth_tests::ns_command(topo.host_ns(), "nft");
    c.args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn nft -f -");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write nft script");
    let out = child.wait_with_output().expect("nft -f -");
    assert!(
        out.status.success(),
        "nft -f - failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const USER_TABLES: &str = r#"table inet mine {
	set trusted {
		type ipv4_addr
		elements = { 192.0.2.7, 198.51.100.9 }
	}

	chain input {
		type filter hook input priority filter + 5; policy accept;
		ip saddr @trusted tcp dport 2222 accept
		tcp dport 9 drop
	}
}
table ip berth {
	chain c {
		udp dport 7 drop
	}
}
"#;

fn user_tables(topo: &Topology) -> String {
    let mut s = String::new();
    for (fam, name) in [("inet", "mine"), ("ip", "berth")] {
        let o = nft(topo, &["list", "table", fam, name]);
        if o.success() {
            s.push_str(&o.stdout);
        } else {
            s.push_str(&format!("<no table {fam} {name}: {}>\n", o.err()));
        }
    }
    s
}

// ------------------------------------------------------------ the user-visible state

struct World<'a> {
    d: &'a Daemon,
    topo: &'a Topology,
    who: WhoAmI,
    /// a1 (publishes 8080 → 80) and a2 on net A, b1 on net B: all run httpd.
    a1: (PathBuf, Ipv4Addr),
    a2: (PathBuf, Ipv4Addr),
    b1: (PathBuf, Ipv4Addr),
}

const T: Duration = Duration::from_millis(150);

impl World<'_> {
    /// Every property a user relies on, checked fast; the first that does not hold.
    fn check(&self) -> Result<(), String> {
        let http = |ip: Ipv4Addr| SocketAddr::from((ip, 80));
        // Neighbours on A reach each other, both ways.
        match in_netns(&self.a2.0, || http_get(http(self.a1.1), "/hostname", T)) {
            Ok(b) if b == "a1" => {}
            other => return Err(format!("a2 → a1:80 on net A: {other:?}")),
        }
        match in_netns(&self.a1.0, || http_get(http(self.a2.1), "/hostname", T)) {
            Ok(b) if b == "a2" => {}
            other => return Err(format!("a1 → a2:80 on net A: {other:?}")),
        }
        // Isolation: A and B cannot open connections to each other.
        for (from, to, what) in [
            (&self.a1, &self.b1, "a1 (net A) → b1 (net B)"),
            (&self.b1, &self.a1, "b1 (net B) → a1 (net A)"),
        ] {
            let p = in_netns(&from.0, || tcp_probe(http(to.1), T));
            if !matches!(p, Probe::TimedOut | Probe::Other(_)) {
                return Err(format!("isolation: {what}:80 got {p:?}"));
            }
        }
        // Masquerade: the outside sees the host's address.
        let host = self.topo.host_ip().to_string();
        for (c, name) in [(&self.a1, "a1"), (&self.b1, "b1")] {
            match seen_from_outside(&c.0, self.who.addr, T) {
                Ok(ip) if ip == host => {}
                other => {
                    return Err(format!(
                        "masquerade: {name} → outside: {other:?} (want {host})"
                    ))
                }
            }
        }
        // The published port, from the outside.
        let pubaddr = SocketAddr::from((self.topo.host_ip(), 8080));
        match in_netns(&self.topo.outside_ns_path(), || {
            http_get(pubaddr, "/hostname", T)
        }) {
            Ok(b) if b == "a1" => {}
            other => return Err(format!("published port: outside → {pubaddr}: {other:?}")),
        }
        Ok(())
    }

    /// Polls [`World::check`] every 50 ms for up to `within`: the time it took.
    fn recovers_within(&self, within: Duration, after: &str) -> Duration {
        let t0 = Instant::now();
        let mut last;
        loop {
            last = self.check();
            if last.is_ok() {
                return t0.elapsed();
            }
            if t0.elapsed() >= within {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "not healed within {within:?} after {after}: {}\n{}",
            last.unwrap_err(),
            self.diagnostics()
        );
    }

    fn diagnostics(&self) -> String {
        let mut s = format!(
            "nft ruleset:\n{}\nhost links:\n{}\n",
            nft(self.topo, &["list", "ruleset"]).stdout,
            self.topo.in_host(&["ip", "-o", "link"]).stdout
        );
        for (name, c) in [("a1", &self.a1), ("a2", &self.a2), ("b1", &self.b1)] {
            s.push_str(&format!(
                "{name}: links:\n{}neighbours:\n{}",
                ip_in(&c.0, &["-o", "link"]).stdout,
                ip_in(&c.0, &["neigh"]).stdout
            ));
        }
        s.push_str(&format!("berthd log tail:\n{}", self.d.log_tail(40)));
        s
    }

    /// After a repair, things stay repaired: for `d`, a2 keeps reaching a1 (every 100 ms)
    /// and neither container's eth0 is replaced again.
    fn stays_healthy(&self, d: Duration, ctx: &str) {
        let ifaces = |ns: &Path| ip_in(ns, &["-o", "link", "show", "eth0"]).stdout;
        let before = (ifaces(&self.a1.0), ifaces(&self.a2.0));
        let t0 = Instant::now();
        while t0.elapsed() < d {
            let r = in_netns(&self.a2.0, || {
                http_get(
                    SocketAddr::from((self.a1.1, 80)),
                    "/hostname",
                    Duration::from_millis(300),
                )
            });
            assert!(
                r.as_deref() == Ok("a1"),
                "{ctx}: {:?} after healing, a2 → a1 failed again: {r:?}\n{}",
                t0.elapsed(),
                self.diagnostics()
            );
            thread::sleep(Duration::from_millis(100));
        }
        let after = (ifaces(&self.a1.0), ifaces(&self.a2.0));
        assert_eq!(
            before,
            after,
            "{ctx}: the containers' interfaces were replaced again after healing (flapping)\n{}",
            self.diagnostics()
        );
    }

    /// The same properties through the CLI, as a user would check them.
    fn confirm_with_exec(&self, ctx: &str) {
        let d = self.d;
        let ping = |from: &str, ip: &str| d.berth(&["exec", from, "ping", "-c1", "-W1", ip]);
        let o = ping("a2", &self.a1.1.to_string());
        assert!(o.success(), "{ctx}: a2 cannot ping a1:\n{o}");
        let o = ping("a1", &self.b1.1.to_string());
        assert_eq!(o.code(), Some(1), "{ctx}: a1 → b1 must get no reply:\n{o}");
        let url = format!("http://{}/", self.who.addr);
        let o = d.berth(&["exec", "b1", "timeout", "3", "wget", "-q", "-O", "-", &url]);
        assert_eq!(
            o.out(),
            self.topo.host_ip().to_string(),
            "{ctx}: b1 → outside:\n{o}"
        );
    }
}

/// The user's tables, then networks A (10.61.0.0/24) and B (10.62.0.0/24) with a1 (publishing
/// 8080 → 80) and a2 on A and b1 on B, all serving HTTP; returns once everything works.
fn world<'a>(d: &'a Daemon, topo: &'a Topology) -> (World<'a>, String, String) {
    nft_script(topo, USER_TABLES);
    let mine = user_tables(topo);
    assert!(
        mine.contains("table inet mine") && mine.contains("table ip berth"),
        "{mine}"
    );
    let net_a = net_create(d, &["--subnet", "10.61.0.0/24", "heal-a"]);
    net_create(d, &["--subnet", "10.62.0.0/24", "heal-b"]);
    web(d, "a1", "heal-a", &["-p", "8080:80"]);
    web(d, "a2", "heal-a", &[]);
    web(d, "b1", "heal-b", &[]);
    let w = World {
        d,
        topo,
        who: WhoAmI::start(topo),
        a1: (sandbox(d, "a1"), ip4(d, "a1", "heal-a")),
        a2: (sandbox(d, "a2"), ip4(d, "a2", "heal-a")),
        b1: (sandbox(d, "b1"), ip4(d, "b1", "heal-b")),
    };
    // Everything works before anything is broken (the servers may still be starting).
    w.recovers_within(Duration::from_secs(10), "start");
    // b1 answers, so "a1 cannot reach b1" means something: the host reaches every bridge.
    let b1 = SocketAddr::from((w.b1.1, 80));
    assert_eq!(
        in_netns(&topo.host_ns_path(), || http_get(
            b1,
            "/hostname",
            Duration::from_secs(2)
        )),
        Ok("b1".to_string())
    );
    assert_eq!(
        user_tables(topo),
        mine,
        "berthd changed the user's tables at start"
    );
    (w, net_a, mine)
}

/// The user's tables are as they were, and berth's table holds each network once (its
/// `bridge . bridge` element in the set `same`).
fn assert_user_tables_untouched(w: &World, mine: &str) {
    thread::sleep(Duration::from_millis(300));
    assert_eq!(user_tables(w.topo), mine, "the user's tables changed");
    let rules = nft(w.topo, &["list", "table", "inet", "berth"]).stdout;
    assert_eq!(
        rules.matches("\" . \"").count(),
        3,
        "expected one `same` element per bridge network (bridge, heal-a, heal-b):\n{rules}"
    );
    assert!(
        !w.d.log().contains("panicked"),
        "berthd panicked:\n{}",
        w.d.log_tail(60)
    );
}

/// Host-side veth of the container whose namespace is `ns` (its eth0's peer).
fn host_veth(topo: &Topology, ns: &Path) -> String {
    let o = ip_in(ns, &["-o", "link", "show", "eth0"]);
    assert!(o.ok, "ip link show eth0 in {}: {}", ns.display(), o.stderr);
    // "2: eth0@if9: <...>"
    let peer: String = o
        .stdout
        .split_once("eth0@if")
        .map(|(_, r)| r.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!peer.is_empty(), "no peer index in {:?}", o.stdout);
    let links = topo.in_host(&["ip", "-o", "link"]).stdout;
    links
        .lines()
        .find_map(|l| {
            let (idx, rest) = l.split_once(": ")?;
            (idx.trim() == peer).then(|| rest.split(['@', ':']).next().unwrap_or("").to_string())
        })
        .unwrap_or_else(|| panic!("no host link with index {peer}:\n{links}"))
}

fn eth0_addr(ns: &Path) -> String {
    ip_in(ns, &["-o", "-4", "addr", "show", "dev", "eth0"]).stdout
}

// ------------------------------------------------------------ the tests

#[test]
fn flushed_ruleset_heals_within_a_second_and_user_tables_are_untouched() {
    let env = require_setup!("heal-flush");
    let (w, _, mine) = world(&env.daemon, &env.topo);
    let topo = &env.topo;

    // `nft flush ruleset`: everything, the user's tables included, is gone.
    let o = nft(topo, &["flush", "ruleset"]);
    assert!(o.success(), "{o}");
    let took = w.recovers_within(Duration::from_secs(1), "`nft flush ruleset`");
    println!("healed {took:?} after `nft flush ruleset`");
    w.stays_healthy(Duration::from_millis(500), "ruleset flush");
    let rules = nft(topo, &["list", "ruleset"]).stdout;
    assert!(
        !rules.contains("table inet mine") && !rules.contains("table ip berth"),
        "berthd recreated tables it does not own after the flush:\n{rules}"
    );
    w.confirm_with_exec("after the flush");

    // A firewall service reload: flush + its own ruleset, atomically.
    nft_script(topo, &format!("flush ruleset\n{USER_TABLES}"));
    let took = w.recovers_within(Duration::from_secs(1), "a `flush ruleset` + reload script");
    println!("healed {took:?} after a firewall reload");
    w.confirm_with_exec("after the reload");
    assert_user_tables_untouched(&w, &mine);
}

#[test]
fn deleted_container_veth_heals_within_a_second() {
    let env = require_setup!("heal-veth");
    let (w, _, mine) = world(&env.daemon, &env.topo);
    let (d, topo) = (&env.daemon, &env.topo);

    let a2_addr = eth0_addr(&w.a2.0);
    assert!(a2_addr.contains(&format!("{}/24", w.a2.1)), "{a2_addr}");
    let veth = host_veth(topo, &w.a2.0);
    assert!(veth.starts_with("veth"), "{veth}");
    let o = topo.in_host(&["ip", "link", "del", &veth]);
    assert!(o.success(), "{o}");
    let t0 = Instant::now();
    let back = wait_until(Duration::from_secs(1), || {
        eth0_addr(&w.a2.0).contains(&format!("{}/24", w.a2.1))
    });
    assert!(
        back,
        "a2's eth0 with {} is not back within 1 s of deleting {veth}: {:?}\nberthd log tail:\n{}",
        w.a2.1,
        ip_in(&w.a2.0, &["-o", "addr"]).stdout,
        d.log_tail(40)
    );
    let left = Duration::from_secs(1).saturating_sub(t0.elapsed());
    let took = t0.elapsed() + w.recovers_within(left, &format!("`ip link del {veth}`"));
    println!("healed {took:?} after deleting {veth}");
    w.stays_healthy(Duration::from_millis(1500), "veth deletion");
    w.confirm_with_exec("after the veth deletion");
    assert_eq!(
        d.inspect("a2")["NetworkSettings"]["Networks"]["heal-a"]["IPAddress"],
        w.a2.1.to_string()
    );
    assert_user_tables_untouched(&w, &mine);
}

#[test]
fn deleted_bridge_heals_within_a_second() {
    let env = require_setup!("heal-bridge");
    let (w, net_a, mine) = world(&env.daemon, &env.topo);
    let (d, topo) = (&env.daemon, &env.topo);

    // Network A's bridge goes: its veths are detached, its address is gone.
    let br = format!("br-{}", &net_a[..12]);
    let o = topo.in_host(&["ip", "link", "del", &br]);
    assert!(o.success(), "{o}");
    let t0 = Instant::now();
    let back = wait_until(Duration::from_secs(1), || {
        let o = topo.in_host(&["ip", "-o", "-4", "addr", "show", "dev", &br]);
        o.success() && o.stdout.contains("10.61.0.1/24")
    });
    assert!(
        back,
        "{br} with 10.61.0.1/24 is not back within 1 s:\n{}\nberthd log tail:\n{}",
        topo.in_host(&["ip", "-o", "addr"]).stdout,
        d.log_tail(40)
    );
    let left = Duration::from_secs(1).saturating_sub(t0.elapsed());
    let took = t0.elapsed() + w.recovers_within(left, &format!("`ip link del {br}`"));
    println!("healed {took:?} after deleting {br}");
    let up = topo.in_host(&["ip", "-o", "link", "show", &br]).stdout;
    assert!(
        up.contains(",UP") || up.contains("<UP"),
        "{br} is not up: {up}"
    );
    w.stays_healthy(Duration::from_millis(1500), "bridge deletion");
    w.confirm_with_exec("after the bridge deletion");
    assert_user_tables_untouched(&w, &mine);
}

/// The bridge is the containers' gateway: its MAC address must not change when a port comes
/// or goes. A Linux bridge without an explicitly set address takes the lowest MAC of its
/// ports, so removing the container whose veth had it (`rm`, or a repaired veth) changes the
/// gateway's MAC under every other container, whose ARP entry for the gateway stays
/// REACHABLE on the old one: no way out for them until it expires (Docker sets the bridge's
/// MAC explicitly for this reason).
#[test]
fn removing_a_container_keeps_the_gateway_of_its_neighbours() {
    let env = require_setup!("heal-gwmac");
    let (d, topo) = (&env.daemon, &env.topo);
    let who = WhoAmI::start(topo);
    let id = net_create(d, &["--subnet", "10.63.0.0/24", "gwmac"]);
    let br = format!("br-{}", &id[..12]);
    let names = ["g1", "g2", "g3", "g4", "g5", "g6"];
    let mut boxes = Vec::new();
    for n in names {
        let a = [
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "gwmac",
            BB,
            "sleep",
            "600",
        ];
        assert!(is_hex_id(&d.ok(&a), 64));
        boxes.push((n, sandbox(d, n)));
    }
    let host = topo.host_ip().to_string();
    let outbound = |ns: &Path| seen_from_outside(ns, who.addr, Duration::from_millis(300));
    for (n, ns) in &boxes {
        // Every container talked to its gateway: each has its MAC in its ARP cache.
        assert_eq!(outbound(ns), Ok(host.clone()), "{n} → outside before");
    }
    let mac_of = |dev: &str| -> String {
        // (not /sys: the machine's sysfs shows the machine's interfaces)
        let o = topo.in_host(&["ip", "-o", "link", "show", "dev", dev]);
        let mac = o
            .stdout
            .split("link/ether ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next());
        mac.unwrap_or_else(|| panic!("no MAC for {dev}: {o}"))
            .to_string()
    };
    let bridge_mac = mac_of(&br);
    // The container whose veth the bridge took its address from, if any; else the first.
    let victim = boxes
        .iter()
        .find(|(_, ns)| mac_of(&host_veth(topo, ns)) == bridge_mac)
        .map(|(n, _)| *n)
        .unwrap_or(names[0]);
    d.ok(&["rm", "-f", victim]);
    let after = mac_of(&br);
    let mut broken = Vec::new();
    for (n, ns) in boxes.iter().filter(|(n, _)| *n != victim) {
        let ok = wait_until(Duration::from_secs(1), || outbound(ns) == Ok(host.clone()));
        if !ok {
            broken.push(format!(
                "{n}: {:?}, its neighbours: {}",
                outbound(ns),
                ip_in(ns, &["neigh"]).stdout.trim()
            ));
        }
    }
    assert!(
        broken.is_empty() && after == bridge_mac,
        "removing {victim} changed the gateway's MAC ({br}: {bridge_mac} → {after}) and cut \
         its neighbours off from the outside for more than 1 s:\n{}",
        broken.join("\n")
    );
}

/// Regression: while networks were created back to back, the firewall guard kept finding a
/// network whose rules were not in yet (its record is written before its bridge and rules) and
/// rebuilt berth's whole ruleset several times a second, logging tampering that never happened.
#[test]
fn regression_own_network_churn_was_taken_for_tampering() {
    let env = require_setup!("heal-churn");
    let d = &env.daemon;
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(4) {
        let name = format!("churn{i}");
        d.ok(&[
            "network",
            "create",
            "--subnet",
            &format!("10.77.{}.0/24", i % 200),
            &name,
        ]);
        d.ok(&["network", "rm", &name]);
        i += 1;
    }
    // Let the guard's last look happen.
    thread::sleep(Duration::from_millis(500));
    let log = d.log();
    assert!(
        !log.contains("changed behind its back"),
        "{i} create/rm cycles were taken for tampering:\n{}",
        d.log_tail(20)
    );
}
