//! Bridge networks as a user of `berth` sees them: reachability inside a
//! network, isolation between networks, masquerade toward the outside,
//! `--internal`, the bridge driver options, IPAM settings, IPv6, connect and
//! disconnect, refused inputs, prune/ls/inspect, and surviving berthd
//! restarts and a flushed nftables ruleset. Each test has its own topology
//! and berthd.
//!
//! Traffic only ever goes between containers of the test's daemon, the
//! test's host namespace and its outside namespace.
//!
//! Conventions: servers run busybox `httpd -f -p 80 -h /etc` with
//! `--hostname NAME`, so `wget http://IP/hostname` answers the server's
//! name. Busybox's `wget -T` crashes (static 1.35), so timeouts use
//! `timeout N wget`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use berth_tests::{
    interfaces_from_ip_link, is_hex_id, require_setup, wait_for_status, wait_until, Daemon,
    Topology, BUSYBOX_IMAGE as BB,
};
use serde_json::Value;

// ---------------------------------------------------------------- helpers

/// `network create ARGS...` → the 64-hex id it printed.
fn net_create(d: &Daemon, args: &[&str]) -> String {
    let mut full = vec!["network", "create"];
    full.extend_from_slice(args);
    let id = d.ok(&full);
    assert!(
        is_hex_id(&id, 64),
        "network create {args:?} printed {id:?}, not a 64-hex id"
    );
    id
}

/// `network inspect NAME` → element 0.
fn net_inspect(d: &Daemon, name: &str) -> Value {
    let out = d.ok(&["network", "inspect", name]);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("network inspect {name}: not JSON ({e}):\n{out}"));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("network inspect {name}: not an array:\n{out}"));
    assert_eq!(arr.len(), 1, "network inspect {name}:\n{out}");
    arr[0].clone()
}

/// `run -d --name NAME --hostname NAME --network NET EXTRA... bb CMD...`.
fn run_on(d: &Daemon, name: &str, net: &str, extra: &[&str], cmd: &[&str]) -> String {
    let mut full = vec![
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        "--network",
        net,
    ];
    full.extend_from_slice(extra);
    full.push(BB);
    full.extend_from_slice(cmd);
    let id = d.ok(&full);
    assert!(is_hex_id(&id, 64), "run -d printed {id:?}");
    id
}

const HTTPD: &[&str] = &["httpd", "-f", "-p", "80", "-h", "/etc"];
const SLEEP: &[&str] = &["sleep", "600"];

/// A container answering `GET /hostname` with its name.
fn web(d: &Daemon, name: &str, net: &str, extra: &[&str]) -> String {
    run_on(d, name, net, extra, HTTPD)
}

fn sleeper(d: &Daemon, name: &str, net: &str, extra: &[&str]) -> String {
    run_on(d, name, net, extra, SLEEP)
}

/// The container's IPv4 address on `net` (from `inspect`).
fn ip4(d: &Daemon, c: &str, net: &str) -> String {
    let v = d.inspect(c);
    let ip = v["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        ip.parse::<Ipv4Addr>().is_ok(),
        "{c} has no IPv4 address on {net}: {}",
        v["NetworkSettings"]["Networks"]
    );
    ip
}

/// The container's global IPv6 address on `net`.
fn ip6(d: &Daemon, c: &str, net: &str) -> String {
    let v = d.inspect(c);
    let ip = v["NetworkSettings"]["Networks"][net]["GlobalIPv6Address"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        ip.parse::<std::net::Ipv6Addr>().is_ok(),
        "{c} has no IPv6 address on {net}: {}",
        v["NetworkSettings"]["Networks"]
    );
    ip
}

/// One ping from `from` to `ip` (1 s deadline).
fn ping(d: &Daemon, from: &str, ip: &str) -> bool {
    let prog = if ip.contains(':') { "ping6" } else { "ping" };
    d.berth(&["exec", from, prog, "-c1", "-W1", ip]).success()
}

fn url(ip: &str, port: u16, path: &str) -> String {
    if ip.contains(':') {
        format!("http://[{ip}]:{port}{path}")
    } else {
        format!("http://{ip}:{port}{path}")
    }
}

/// `wget` from `from` (2 s deadline): the body, or None.
fn fetch(d: &Daemon, from: &str, target: &str) -> Option<String> {
    let o = d.berth(&["exec", from, "timeout", "2", "wget", "-qO-", target]);
    o.success().then(|| o.stdout.trim().to_string())
}

/// `from` reaches the web container `server` at `ip` by ping and TCP
/// (retried for up to 10 s: the server may still be starting).
fn assert_reaches(d: &Daemon, from: &str, server: &str, ip: &str) {
    let u = url(ip, 80, "/hostname");
    let mut last = (false, None);
    let ok = wait_until(Duration::from_secs(10), || {
        last = (ping(d, from, ip), fetch(d, from, &u));
        last.0 && last.1.as_deref() == Some(server)
    });
    assert!(
        ok,
        "{from} should reach {server} at {ip}: ping ok = {}, `wget {u}` = {:?}\nberthd log tail:\n{}",
        last.0,
        last.1,
        d.log_tail(30)
    );
}

/// `exec FROM ping` ran and got no answer (exit 1), as opposed to the exec
/// itself failing (container gone), which proves nothing.
fn assert_no_ping(d: &Daemon, from: &str, ip: &str, why: &str) {
    let prog = if ip.contains(':') { "ping6" } else { "ping" };
    let o = d.berth(&["exec", from, prog, "-c1", "-W1", ip]);
    assert!(
        o.code() == Some(1) && !o.stderr.contains("Error response"),
        "{why}: `{prog} {ip}` from {from} should run and get no reply (exit 1):\n{o}"
    );
}

/// `exec FROM wget` ran and could not fetch (exit 1, or killed by
/// `timeout`: 143).
fn assert_no_fetch(d: &Daemon, from: &str, target: &str, why: &str) {
    let o = d.berth(&["exec", from, "timeout", "2", "wget", "-qO-", target]);
    assert!(
        matches!(o.code(), Some(1) | Some(143)) && !o.stderr.contains("Error response"),
        "{why}: `wget {target}` from {from} should run and fail:\n{o}"
    );
}

/// The web container at `ip` answers from the host namespace (the host
/// reaches its bridges directly): a negative check against it means
/// something.
fn assert_serving(topo: &Topology, ip: &str) {
    let u = url(ip, 80, "/hostname");
    let mut last = None;
    let ok = wait_until(Duration::from_secs(10), || {
        let o = topo.in_host(&["busybox", "timeout", "2", "busybox", "wget", "-qO-", &u]);
        let good = o.success();
        last = Some(o);
        good
    });
    assert!(
        ok,
        "precondition: the web container at {ip} does not answer from the host namespace: {:?}",
        last
    );
}

/// `from` can reach `ip` neither by ping nor by TCP port 80, while the
/// server there is up.
fn assert_blocked(d: &Daemon, topo: &Topology, from: &str, ip: &str, why: &str) {
    assert_serving(topo, ip);
    assert_no_ping(d, from, ip, why);
    assert_no_fetch(d, from, &url(ip, 80, "/hostname"), why);
}

/// Interface names in the host namespace (`ip -n <host> -o link`).
fn host_links(topo: &Topology) -> BTreeSet<String> {
    let o = topo.in_host(&["ip", "-o", "link"]);
    assert!(o.success(), "{o}");
    interfaces_from_ip_link(&o.stdout).into_iter().collect()
}

fn veths(topo: &Topology) -> Vec<String> {
    host_links(topo)
        .into_iter()
        .filter(|l| l.starts_with("veth"))
        .collect()
}

/// `nft list ruleset` in the host namespace.
fn ruleset(topo: &Topology) -> String {
    let o = topo.in_host(&["nft", "list", "ruleset"]);
    assert!(o.success(), "{o}");
    o.stdout
}

/// `ip -o link` inside a container → interface names.
fn container_links(d: &Daemon, c: &str) -> Vec<String> {
    interfaces_from_ip_link(&d.ok(&["exec", c, "ip", "-o", "link"]))
}

fn running_ids(d: &Daemon) -> Vec<String> {
    d.ok(&["ps", "-q"]).lines().map(str::to_string).collect()
}

/// A TCP server in the topology's outside namespace (a thread of this test
/// process that `setns`'d into it) answering every HTTP request with the
/// source address it saw, and recording those addresses.
struct OutsideServer {
    port: u16,
    seen: Arc<Mutex<Vec<IpAddr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn listen_in_netns(path: &PathBuf) -> Result<TcpListener, String> {
    let f = File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    // SAFETY: setns on a valid fd; it only changes this (fresh) thread's
    // network namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "setns {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    let l = TcpListener::bind(("0.0.0.0", 0)).map_err(|e| format!("bind: {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("nonblocking: {e}"))?;
    Ok(l)
}

impl OutsideServer {
    fn start(topo: &Topology) -> OutsideServer {
        let path = topo.outside_ns_path();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Result<u16, String>>();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let l = match listen_in_netns(&path) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(l.local_addr().map(|a| a.port()).unwrap_or(0)));
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, peer)) => {
                        seen2.lock().unwrap().push(peer.ip());
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 2048];
                        let _ = s.read(&mut buf);
                        let body = format!("{}\n", peer.ip());
                        let _ = write!(
                            s,
                            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => break,
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("outside server thread did not start")
            .unwrap_or_else(|e| panic!("outside server: {e}"));
        OutsideServer {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, topo: &Topology) -> String {
        url(&topo.outside_ip().to_string(), self.port, "/")
    }

    fn seen(&self) -> Vec<IpAddr> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for OutsideServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `from` fetches the outside server's page (retried for up to 10 s): the
/// source address the server saw.
fn outside_sees(d: &Daemon, topo: &Topology, srv: &OutsideServer, from: &str) -> String {
    let u = srv.url(topo);
    let mut got = None;
    wait_until(Duration::from_secs(10), || {
        got = fetch(d, from, &u);
        got.is_some()
    });
    got.unwrap_or_else(|| {
        panic!(
            "{from} cannot reach the outside server `wget {u}`; berthd log tail:\n{}",
            d.log_tail(30)
        )
    })
}

fn in_cidr(ip: &str, cidr: &str) -> bool {
    let (net, len) = cidr.split_once('/').expect("cidr");
    let (ip, net): (Ipv4Addr, Ipv4Addr) = (ip.parse().unwrap(), net.parse().unwrap());
    let len: u32 = len.parse().unwrap();
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(net) & mask
}

// ------------------------------------------------------------------ tests

#[test]
fn same_network_reach_each_other_other_networks_do_not() {
    let env = require_setup!("net-isolation");
    let d = &env.daemon;
    net_create(d, &["--subnet", "10.11.0.0/24", "neta"]);
    net_create(d, &["--subnet", "10.12.0.0/24", "netb"]);
    web(d, "a-web", "neta", &[]);
    web(d, "a-cli", "neta", &[]);
    web(d, "b-web", "netb", &[]);
    sleeper(d, "dflt", "bridge", &[]);
    let a_web = ip4(d, "a-web", "neta");
    let a_cli = ip4(d, "a-cli", "neta");
    let b_web = ip4(d, "b-web", "netb");
    assert!(in_cidr(&a_web, "10.11.0.0/24"), "{a_web}");
    assert!(in_cidr(&b_web, "10.12.0.0/24"), "{b_web}");

    // Same network: ping and TCP, both ways.
    assert_reaches(d, "a-cli", "a-web", &a_web);
    assert_reaches(d, "a-web", "a-cli", &a_cli);
    // Other network: nothing, both ways.
    assert_blocked(d, &env.topo, "b-web", &a_web, "netb → neta");
    assert_blocked(d, &env.topo, "a-cli", &b_web, "neta → netb");
    // The default bridge is isolated from user networks too.
    assert_blocked(d, &env.topo, "dflt", &a_web, "bridge → neta");
    // The first check still holds after the failed attempts.
    assert_reaches(d, "a-cli", "a-web", &a_web);
}

#[test]
fn outbound_traffic_is_masqueraded_to_the_hosts_address() {
    let env = require_setup!("net-masq");
    let d = &env.daemon;
    let topo = &env.topo;
    let srv = OutsideServer::start(topo);
    net_create(d, &["--subnet", "10.13.0.0/24", "outnet"]);
    web(d, "out1", "outnet", &[]);
    sleeper(d, "dflt", "bridge", &[]);
    let host = topo.host_ip().to_string();
    let out = topo.outside_ip().to_string();

    assert!(ping(d, "out1", &out), "out1 cannot ping the outside {out}");
    let saw = outside_sees(d, topo, &srv, "out1");
    assert_eq!(
        saw,
        host,
        "the outside server saw {saw}, not the host's address {host} (out1 is {})",
        ip4(d, "out1", "outnet")
    );
    let saw = outside_sees(d, topo, &srv, "dflt");
    assert_eq!(saw, host, "default bridge: outside saw {saw}");
    let all = srv.seen();
    assert!(
        all.iter().all(|ip| ip.to_string() == host),
        "the server saw {all:?}"
    );

    // Nothing from the outside gets into a bridge (only replies do), even
    // with a route to the subnet.
    let cip = ip4(d, "out1", "outnet");
    let o = topo.in_outside(&["ip", "route", "add", "10.13.0.0/24", "via", &host]);
    assert!(o.success(), "{o}");
    let o = topo.in_outside(&["ping", "-c1", "-W1", &cip]);
    assert!(!o.success(), "the outside pinged container {cip}: {o}");
    let o = topo.in_outside(&[
        "busybox",
        "timeout",
        "2",
        "busybox",
        "wget",
        "-qO-",
        &url(&cip, 80, "/hostname"),
    ]);
    assert!(
        !o.success(),
        "the outside connected to container {cip}: {o}"
    );
    // ...while outbound still works.
    assert_eq!(outside_sees(d, topo, &srv, "out1"), host);
}

#[test]
fn internal_network_has_no_way_out() {
    let env = require_setup!("net-internal");
    let d = &env.daemon;
    let topo = &env.topo;
    let srv = OutsideServer::start(topo);
    let id = net_create(d, &["--internal", "--subnet", "10.14.0.0/24", "intnet"]);
    assert_eq!(net_inspect(d, "intnet")["Internal"], true);
    assert_eq!(net_inspect(d, &id)["Name"], "intnet");
    web(d, "in1", "intnet", &[]);
    web(d, "in2", "intnet", &[]);
    let (i1, i2) = (ip4(d, "in1", "intnet"), ip4(d, "in2", "intnet"));
    assert_reaches(d, "in2", "in1", &i1);
    assert_reaches(d, "in1", "in2", &i2);

    let out = topo.outside_ip().to_string();
    assert_no_ping(d, "in1", &out, "internal in1 → the outside");
    assert_no_fetch(
        d,
        "in1",
        &srv.url(topo),
        "internal in1 → the outside server",
    );
    let host = topo.host_ip().to_string();
    assert_no_ping(d, "in1", &host, "internal in1 → the host's LAN address");
    assert!(
        srv.seen().is_empty(),
        "the outside server saw {:?}",
        srv.seen()
    );
}

#[test]
fn icc_disabled_neighbours_cannot_talk_but_go_out() {
    let env = require_setup!("net-icc");
    let d = &env.daemon;
    let topo = &env.topo;
    let srv = OutsideServer::start(topo);
    net_create(
        d,
        &[
            "-o",
            "com.docker.network.bridge.enable_icc=false",
            "--subnet",
            "10.15.0.0/24",
            "noicc",
        ],
    );
    net_create(d, &["--subnet", "10.16.0.0/24", "yesicc"]);
    web(d, "n1", "noicc", &[]);
    web(d, "n2", "noicc", &[]);
    web(d, "y1", "yesicc", &[]);
    web(d, "y2", "yesicc", &[]);
    let (n1, n2) = (ip4(d, "n1", "noicc"), ip4(d, "n2", "noicc"));
    assert_eq!(
        net_inspect(d, "noicc")["Options"]["com.docker.network.bridge.enable_icc"],
        "false"
    );
    assert_blocked(d, &env.topo, "n2", &n1, "icc=false: n2 → n1");
    assert_blocked(d, &env.topo, "n1", &n2, "icc=false: n1 → n2");
    // Outbound still works, masqueraded.
    assert_eq!(
        outside_sees(d, topo, &srv, "n1"),
        topo.host_ip().to_string()
    );
    // Another network of the same daemon is not affected.
    assert_reaches(d, "y2", "y1", &ip4(d, "y1", "yesicc"));
}

/// br_netfilter's IPv4 switch in the host namespace (`None`: br_netfilter not loaded).
fn bridge_nf(topo: &Topology) -> Option<bool> {
    let o = topo.in_host(&["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"]);
    o.success().then(|| o.out() != "0")
}

/// berthd with br_netfilter as `--bridge-netfilter` left it (`on`), checked by sysctl and
/// `GET /info`; then: networks isolated both ways, ICC off blocks neighbours, outbound traffic
/// masqueraded, a published port reachable from outside and hairpinned (from the same
/// network, another network, and the server itself).
fn firewall_holds_with_bridge_nf(topo: &Topology, d: &Daemon, on: bool) {
    if let Some(got) = bridge_nf(topo) {
        assert_eq!(got, on, "bridge-nf-call-iptables in berthd's namespace");
    }
    let info = d.api("GET", "/info", None).json();
    assert_eq!(
        info["BridgeNfIptables"],
        on && bridge_nf(topo).is_some(),
        "/info: {info}"
    );
    let srv = OutsideServer::start(topo);
    net_create(d, &["--subnet", "10.19.0.0/24", "na"]);
    net_create(d, &["--subnet", "10.20.0.0/24", "nb"]);
    let noicc = ["-o", "com.docker.network.bridge.enable_icc=false"];
    net_create(
        d,
        &[&noicc[..], &["--subnet", "10.21.0.0/24", "nc"]].concat(),
    );
    web(d, "a1", "na", &["-p", "8091:80"]);
    web(d, "a2", "na", &[]);
    web(d, "b1", "nb", &[]);
    web(d, "c1", "nc", &[]);
    web(d, "c2", "nc", &[]);
    let (a1, b1) = (ip4(d, "a1", "na"), ip4(d, "b1", "nb"));
    assert_reaches(d, "a2", "a1", &a1);
    assert_blocked(d, topo, "b1", &a1, "nb → na");
    assert_blocked(d, topo, "a2", &b1, "na → nb");
    assert_blocked(d, topo, "c2", &ip4(d, "c1", "nc"), "icc=false: c2 → c1");
    assert_eq!(
        outside_sees(d, topo, &srv, "a2"),
        topo.host_ip().to_string()
    );
    let published = url(&topo.host_ip().to_string(), 8091, "/hostname");
    let o = topo.in_outside(&[
        "busybox", "timeout", "3", "busybox", "wget", "-qO-", &published,
    ]);
    assert_eq!(o.out(), "a1", "outside → {published}: {o}");
    for from in ["a2", "b1", "a1"] {
        let mut got = None;
        wait_until(Duration::from_secs(6), || {
            got = fetch(d, from, &published);
            got.as_deref() == Some("a1")
        });
        assert_eq!(got.as_deref(), Some("a1"), "{from} → {published} (hairpin)");
    }
}

/// Default `--bridge-netfilter auto`, no bridge but berth's: br_netfilter off, and berth's
/// firewall does not lean on it.
#[test]
fn br_netfilter_off_by_default_and_the_firewall_holds_without_it() {
    let env = require_setup!("net-nobrnf");
    firewall_holds_with_bridge_nf(&env.topo, &env.daemon, false);
}

/// A bridge berth does not own (here `docker0`) may need br_netfilter: `auto` leaves it on,
/// and berth's firewall holds with it on too.
#[test]
fn br_netfilter_kept_beside_a_foreign_bridge_and_the_firewall_holds_with_it() {
    if !berth_tests::privileged("net-brnf") {
        return;
    }
    let topo = Topology::new("net-brnf");
    let o = topo.in_host(&["ip", "link", "add", "docker0", "type", "bridge"]);
    assert!(o.success(), "{o}");
    let on = topo.in_host(&[
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables",
    ]);
    let daemon = Daemon::start(&topo);
    berth_tests::import_busybox(&daemon, BB);
    firewall_holds_with_bridge_nf(&topo, &daemon, on.success());
}

#[test]
fn masquerade_disabled_outside_sees_the_containers_address() {
    let env = require_setup!("net-nomasq");
    let d = &env.daemon;
    let topo = &env.topo;
    let srv = OutsideServer::start(topo);
    let host = topo.host_ip().to_string();
    net_create(
        d,
        &[
            "-o",
            "com.docker.network.bridge.enable_ip_masquerade=false",
            "--subnet",
            "10.17.0.0/24",
            "nomasq",
        ],
    );
    net_create(d, &["--subnet", "10.18.0.0/24", "masq"]);
    sleeper(d, "nm", "nomasq", &[]);
    sleeper(d, "ma", "masq", &[]);
    // The LAN routes the unmasqueraded subnet back through the host.
    let o = topo.in_outside(&["ip", "route", "add", "10.17.0.0/24", "via", &host]);
    assert!(o.success(), "{o}");

    let cip = ip4(d, "nm", "nomasq");
    let saw = outside_sees(d, topo, &srv, "nm");
    assert_eq!(
        saw, cip,
        "enable_ip_masquerade=false: the outside should see the container's {cip}, saw {saw}"
    );
    let saw = outside_sees(d, topo, &srv, "ma");
    assert_eq!(saw, host, "masqueraded network: outside saw {saw}");
}

#[test]
fn custom_subnet_gateway_range_aux_and_ip() {
    let env = require_setup!("net-ipam");
    let d = &env.daemon;
    let topo = &env.topo;
    let id = net_create(
        d,
        &[
            "--subnet",
            "10.66.0.0/16",
            "--gateway",
            "10.66.0.254",
            "--ip-range",
            "10.66.5.8/30",
            "--aux-address",
            "r1=10.66.5.8",
            "--aux-address",
            "r2=10.66.5.9",
            "custom",
        ],
    );
    let v = net_inspect(d, "custom");
    let cfg = &v["IPAM"]["Config"][0];
    assert_eq!(cfg["Subnet"], "10.66.0.0/16", "{v}");
    assert_eq!(cfg["Gateway"], "10.66.0.254", "{v}");
    assert_eq!(cfg["IPRange"], "10.66.5.8/30", "{v}");
    assert_eq!(cfg["AuxiliaryAddresses"]["r1"], "10.66.5.8", "{v}");
    assert_eq!(cfg["AuxiliaryAddresses"]["r2"], "10.66.5.9", "{v}");

    // The bridge carries the gateway.
    let br = format!("br-{}", &id[..12]);
    let o = topo.in_host(&["ip", "-4", "-o", "addr", "show", "dev", &br]);
    assert!(o.stdout.contains("10.66.0.254/16"), "{br}: {o}");

    // Dynamic addresses: from the range (.8-.11), never an aux address
    // (.8, .9): exactly two containers fit.
    let mut got = Vec::new();
    for n in ["r-a", "r-b"] {
        web(d, n, "custom", &[]);
        let ip = ip4(d, n, "custom");
        assert!(
            in_cidr(&ip, "10.66.5.8/30"),
            "{n} got {ip}, outside --ip-range 10.66.5.8/30"
        );
        assert!(
            !["10.66.5.8", "10.66.5.9", "10.66.0.254"].contains(&ip.as_str()),
            "{n} got reserved address {ip}"
        );
        assert!(!got.contains(&ip), "{ip} handed out twice");
        got.push(ip);
    }
    let o = d.fails(&[
        "run",
        "-d",
        "--name",
        "r-c",
        "--network",
        "custom",
        BB,
        "sleep",
        "600",
    ]);
    assert!(
        o.stderr.contains("custom"),
        "the range holds two containers besides the aux addresses; expected a clear error:\n{o}"
    );
    let v = d.inspect("r-a");
    let ep = &v["NetworkSettings"]["Networks"]["custom"];
    assert_eq!(ep["Gateway"], "10.66.0.254", "{ep}");
    assert_eq!(ep["IPPrefixLen"], 16, "{ep}");
    // Inside: the address with the subnet's prefix, default route via the
    // gateway.
    let addr = d.ok(&[
        "exec", "r-a", "ip", "-4", "-o", "addr", "show", "dev", "eth0",
    ]);
    assert!(addr.contains(&format!("{}/16", got[0])), "{addr}");
    let route = d.ok(&["exec", "r-a", "ip", "route"]);
    assert!(
        route
            .lines()
            .any(|l| l.starts_with("default via 10.66.0.254")),
        "ip route in r-a:\n{route}"
    );

    // --ip: inside the subnet but outside the range is allowed (Docker).
    web(d, "fixed", "custom", &["--ip", "10.66.9.9"]);
    assert_eq!(ip4(d, "fixed", "custom"), "10.66.9.9");
    let addr = d.ok(&["exec", "fixed", "ip", "-4", "-o", "addr"]);
    assert!(addr.contains("10.66.9.9/16"), "{addr}");
    let cfg = d.inspect("fixed");
    assert_eq!(
        cfg["NetworkSettings"]["Networks"]["custom"]["IPAMConfig"]["IPv4Address"], "10.66.9.9",
        "{}",
        cfg["NetworkSettings"]["Networks"]["custom"]
    );
    assert_reaches(d, "r-a", "fixed", "10.66.9.9");
    assert_reaches(d, "fixed", "r-b", &got[1]);
}

#[test]
fn ipv6_dual_stack() {
    let env = require_setup!("net-ipv6");
    let d = &env.daemon;
    net_create(d, &["--ipv6", "--subnet", "fd00:db8:1::/64", "v6net"]);
    net_create(d, &["--ipv6", "--subnet", "fd00:db8:2::/64", "v6other"]);
    let v = net_inspect(d, "v6net");
    assert_eq!(v["EnableIPv6"], true, "{v}");
    let cfgs = v["IPAM"]["Config"].as_array().cloned().unwrap_or_default();
    assert!(
        cfgs.iter().any(|c| c["Subnet"] == "fd00:db8:1::/64"),
        "IPAM.Config: {}",
        v["IPAM"]
    );
    assert!(
        cfgs.iter()
            .any(|c| c["Subnet"].as_str().is_some_and(|s| !s.contains(':'))),
        "dual stack: no IPv4 subnet in IPAM.Config: {}",
        v["IPAM"]
    );
    web(d, "six1", "v6net", &[]);
    web(d, "six2", "v6net", &[]);
    web(d, "other", "v6other", &[]);
    let (a, b) = (ip6(d, "six1", "v6net"), ip6(d, "six2", "v6net"));
    let o6 = ip6(d, "other", "v6other");
    for (c, ip) in [("six1", &a), ("six2", &b)] {
        assert!(ip.starts_with("fd00:db8:1::"), "{c}: {ip}");
        let addr = d.ok(&["exec", c, "ip", "-6", "-o", "addr"]);
        assert!(addr.contains(&format!("{ip}/64")), "{c}:\n{addr}");
    }
    assert_ne!(a, b);
    assert_reaches(d, "six2", "six1", &a);
    assert_reaches(d, "six1", "six2", &b);
    // IPv4 works on the same network.
    assert_reaches(d, "six2", "six1", &ip4(d, "six1", "v6net"));
    // Isolation holds for IPv6 too.
    assert_blocked(d, &env.topo, "other", &a, "v6other → v6net over IPv6");
    assert_blocked(d, &env.topo, "six1", &o6, "v6net → v6other over IPv6");
    // network inspect lists the v6 address.
    let v = net_inspect(d, "v6net");
    let eps: Vec<String> = v["Containers"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|e| e["IPv6Address"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        eps.contains(&format!("{a}/64")),
        "Containers: {}",
        v["Containers"]
    );
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let env = require_setup!("net-connect");
    let d = &env.daemon;
    let topo = &env.topo;
    net_create(d, &["--subnet", "10.19.0.0/24", "front"]);
    net_create(d, &["--subnet", "10.20.0.0/24", "back"]);
    web(d, "srv", "back", &[]);
    sleeper(d, "mover", "front", &[]);
    let srv = ip4(d, "srv", "back");
    assert_eq!(container_links(d, "mover"), vec!["lo", "eth0"]);
    assert_blocked(d, &env.topo, "mover", &srv, "before connect");
    let veth_before = veths(topo).len();

    d.ok(&["network", "connect", "back", "mover"]);
    let links = container_links(d, "mover");
    assert!(links.contains(&"eth1".to_string()), "ip link: {links:?}");
    let mine = ip4(d, "mover", "back");
    assert!(in_cidr(&mine, "10.20.0.0/24"), "{mine}");
    let addr = d.ok(&[
        "exec", "mover", "ip", "-4", "-o", "addr", "show", "dev", "eth1",
    ]);
    assert!(addr.contains(&format!("{mine}/24")), "{addr}");
    assert_reaches(d, "mover", "srv", &srv);
    assert_eq!(veths(topo).len(), veth_before + 1, "{:?}", host_links(topo));
    let nv = net_inspect(d, "back");
    let names: Vec<&str> = nv["Containers"]
        .as_object()
        .map(|m| m.values().filter_map(|e| e["Name"].as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"mover"), "{}", nv["Containers"]);
    // front is still there.
    assert!(d.inspect("mover")["NetworkSettings"]["Networks"]["front"].is_object());

    d.ok(&["network", "disconnect", "back", "mover"]);
    // Cut off at once; the kernel deletes the interface a few tens of ms later.
    assert!(d.inspect("mover")["NetworkSettings"]["Networks"]["back"].is_null());
    assert_blocked(d, &env.topo, "mover", &srv, "after disconnect");
    assert!(
        wait_until(Duration::from_secs(2), || container_links(d, "mover")
            == vec!["lo", "eth0"]),
        "eth1 still there after disconnect: {:?}",
        container_links(d, "mover")
    );
    assert!(
        wait_until(Duration::from_secs(5), || veths(topo).len() == veth_before),
        "host veths after disconnect: {:?}",
        veths(topo)
    );
    let nv = net_inspect(d, "back");
    assert_eq!(
        nv["Containers"].as_object().map(|m| m.len()),
        Some(1),
        "{nv}"
    );

    // Connect again with a chosen address.
    d.ok(&["network", "connect", "--ip", "10.20.0.77", "back", "mover"]);
    assert_eq!(ip4(d, "mover", "back"), "10.20.0.77");
    let addr = d.ok(&["exec", "mover", "ip", "-4", "-o", "addr"]);
    assert!(addr.contains("10.20.0.77/24"), "{addr}");
    assert_reaches(d, "mover", "srv", &srv);
    // Connecting twice is refused.
    let o = d.fails(&["network", "connect", "back", "mover"]);
    assert!(
        o.stderr.contains("mover") || o.stderr.contains("already"),
        "{o}"
    );
}

/// Regression: after connecting to a, b, c and disconnecting b, connecting d chose `eth2`
/// (the number of endpoints), which c still held: "File exists", nothing connected.
#[test]
fn regression_connect_after_a_middle_disconnect_reused_a_taken_ifname() {
    let env = require_setup!("net-ifname");
    let d = &env.daemon;
    for (i, n) in ["na", "nb", "nc", "nd"].iter().enumerate() {
        net_create(d, &["--subnet", &format!("10.3{i}.0.0/24"), n]);
    }
    web(d, "target", "nd", &[]);
    sleeper(d, "multi", "na", &[]);
    d.ok(&["network", "connect", "nb", "multi"]);
    d.ok(&["network", "connect", "nc", "multi"]);
    d.ok(&["network", "disconnect", "nb", "multi"]);
    d.ok(&["network", "connect", "nd", "multi"]);
    // nd gets a free name: eth1 once b's veth is gone, eth3 while it is still being deleted.
    let links = container_links(d, "multi");
    let eths: Vec<&String> = links.iter().filter(|l| l.starts_with("eth")).collect();
    assert_eq!(eths.len(), 3, "{links:?}");
    assert!(links.contains(&"eth0".to_string()) && links.contains(&"eth2".to_string()));
    let mine = ip4(d, "multi", "nd");
    assert!(in_cidr(&mine, "10.33.0.0/24"), "{mine}");
    let target = ip4(d, "target", "nd");
    assert_reaches(d, "multi", "target", &target);
}

/// A disconnect returns before the kernel has deleted the veth; berthd killed right then must
/// not leak it, its addresses or its record: after the restart the network can be removed and
/// the host holds only the veth of the container's remaining network.
#[test]
fn disconnect_cut_short_by_a_crash_leaves_nothing_behind() {
    let mut env = require_setup!("net-dcrash");
    net_create(&env.daemon, &["--subnet", "10.41.0.0/24", "stay"]);
    net_create(&env.daemon, &["--subnet", "10.42.0.0/24", "gone"]);
    sleeper(&env.daemon, "crasher", "stay", &[]);
    let before = veths(&env.topo).len();
    env.daemon.ok(&["network", "connect", "gone", "crasher"]);
    env.daemon.ok(&["network", "disconnect", "gone", "crasher"]);
    env.daemon.kill9();
    env.daemon.restart();
    let d = &env.daemon;
    assert!(
        wait_until(Duration::from_secs(5), || veths(&env.topo).len() == before),
        "host veths: {:?}",
        veths(&env.topo)
    );
    assert!(d.inspect("crasher")["NetworkSettings"]["Networks"]["gone"].is_null());
    assert_eq!(container_links(d, "crasher"), vec!["lo", "eth0"]);
    // The address was released: connecting again gets the first one back.
    d.ok(&["network", "connect", "gone", "crasher"]);
    assert_eq!(ip4(d, "crasher", "gone"), "10.42.0.2");
    d.ok(&["network", "disconnect", "gone", "crasher"]);
    d.ok(&["network", "rm", "gone"]);
}

/// Snapshot of what a refused command must leave unchanged.
struct State {
    ls: String,
    links: BTreeSet<String>,
    running: Vec<String>,
}

fn state(d: &Daemon, topo: &Topology) -> State {
    State {
        ls: d.ok(&["network", "ls"]),
        links: host_links(topo),
        running: running_ids(d),
    }
}

fn assert_unchanged(d: &Daemon, topo: &Topology, before: &State, what: &str) {
    let after = state(d, topo);
    assert_eq!(after.ls, before.ls, "{what}: `network ls` changed");
    assert_eq!(
        after.links, before.links,
        "{what}: interfaces in the host namespace changed"
    );
    assert_eq!(
        after.running, before.running,
        "{what}: running containers changed"
    );
}

/// The command fails, its stderr names each of `needles`, and nothing changed.
fn refused(d: &Daemon, topo: &Topology, args: &[&str], needles: &[&str]) -> String {
    let before = state(d, topo);
    let o = d.fails(args);
    for n in needles {
        assert!(
            o.stderr.contains(n),
            "`berth {}`: the message should name {n:?}:\n{o}",
            args.join(" ")
        );
    }
    assert_unchanged(d, topo, &before, &format!("berth {}", args.join(" ")));
    o.stderr
}

#[test]
fn bad_inputs_are_refused_and_change_nothing() {
    let env = require_setup!("net-errors");
    let d = &env.daemon;
    let t = &env.topo;
    net_create(d, &["--subnet", "10.5.0.0/16", "okay"]);
    sleeper(d, "holder", "okay", &["--ip", "10.5.0.10"]);

    refused(
        d,
        t,
        &["network", "create", "--subnet", "10.1.0.0/33", "x1"],
        &["10.1.0.0/33"],
    );
    refused(
        d,
        t,
        &["network", "create", "--subnet", "nonsense", "x2"],
        &["nonsense"],
    );
    refused(
        d,
        t,
        &[
            "network",
            "create",
            "--subnet",
            "10.1.0.0/24",
            "--gateway",
            "10.2.0.1",
            "x3",
        ],
        &["10.2.0.1"],
    );
    refused(
        d,
        t,
        &[
            "network",
            "create",
            "--subnet",
            "10.1.0.0/24",
            "--ip-range",
            "10.3.0.0/28",
            "x4",
        ],
        &["10.3.0.0/28"],
    );
    refused(
        d,
        t,
        &[
            "network",
            "create",
            "--subnet",
            "10.1.0.0/24",
            "--aux-address",
            "h=10.4.0.1",
            "x5",
        ],
        &["10.4.0.1"],
    );
    refused(
        d,
        t,
        &["network", "create", "--subnet", "10.5.1.0/24", "x6"],
        &["10.5.1.0/24"],
    );
    refused(
        d,
        t,
        &["network", "create", "--subnet", "10.0.0.0/8", "x7"],
        &["10.0.0.0/8"],
    );
    let e = refused(d, t, &["network", "create", "okay"], &["okay"]);
    assert!(e.contains("already exists"), "{e}");
    refused(
        d,
        t,
        &[
            "network",
            "create",
            "-o",
            "com.docker.network.bridge.enable_icc=maybe",
            "x8",
        ],
        &["maybe"],
    );

    // --ip outside the subnet / already in use. (Docker may leave the
    // container Created; nothing may run, no interface may appear.)
    refused(
        d,
        t,
        &[
            "run",
            "-d",
            "--name",
            "bad-ip",
            "--network",
            "okay",
            "--ip",
            "10.6.0.5",
            BB,
            "sleep",
            "600",
        ],
        &["10.6.0.5"],
    );
    refused(
        d,
        t,
        &[
            "run",
            "-d",
            "--name",
            "dup-ip",
            "--network",
            "okay",
            "--ip",
            "10.5.0.10",
            BB,
            "sleep",
            "600",
        ],
        &["10.5.0.10"],
    );
    assert_eq!(ip4(d, "holder", "okay"), "10.5.0.10");
    let nv = net_inspect(d, "okay");
    assert_eq!(
        nv["Containers"].as_object().map(|m| m.len()),
        Some(1),
        "{nv}"
    );

    let e = refused(
        d,
        t,
        &[
            "run",
            "-d",
            "--name",
            "no-net",
            "--network",
            "nosuchnet",
            BB,
            "sleep",
            "600",
        ],
        &["nosuchnet"],
    );
    let unknown_network_err = e;

    // Removing a network in use names the container.
    let e = refused(d, t, &["network", "rm", "okay"], &["holder"]);
    assert!(e.contains("okay") || e.contains("active endpoints"), "{e}");
    assert!(d.inspect("holder")["State"]["Running"] == true);
    // The built-in networks cannot be removed.
    let e = refused(d, t, &["network", "rm", "bridge"], &["bridge"]);
    assert!(e.contains("pre-defined"), "{e}");
    refused(d, t, &["network", "rm", "host"], &["host"]);
    refused(d, t, &["network", "rm", "none"], &["none"]);
    refused(d, t, &["network", "rm", "nosuchnet"], &["nosuchnet"]);
    // Connecting to an unknown network.
    refused(
        d,
        t,
        &["network", "connect", "nosuchnet", "holder"],
        &["nosuchnet"],
    );
    // Connecting with an address outside the subnet, or already connected.
    sleeper(d, "other", "bridge", &[]);
    refused(
        d,
        t,
        &["network", "connect", "--ip", "10.99.0.1", "okay", "other"],
        &["10.99.0.1"],
    );
    refused(
        d,
        t,
        &["network", "connect", "--ip", "10.5.0.10", "okay", "other"],
        &["10.5.0.10"],
    );
    refused(d, t, &["network", "connect", "okay", "holder"], &["holder"]);
    assert_eq!(container_links(d, "other"), vec!["lo", "eth0"]);

    // The user asked for a network that does not exist: the message must
    // say so, not talk about a missing image (bb:latest is there).
    assert!(
        !unknown_network_err.contains("Unable to find image"),
        "unknown network reported as a missing image:\n{unknown_network_err}"
    );
}

#[test]
fn exhausted_range_refuses_and_leaks_nothing() {
    let env = require_setup!("net-exhaust");
    let d = &env.daemon;
    let topo = &env.topo;
    net_create(d, &["--subnet", "10.30.0.0/30", "tiny"]);
    sleeper(d, "t1", "tiny", &[]);
    assert_eq!(ip4(d, "t1", "tiny"), "10.30.0.2");
    let before = state(d, topo);

    let o = d.fails(&[
        "run",
        "-d",
        "--name",
        "t2",
        "--network",
        "tiny",
        BB,
        "sleep",
        "600",
    ]);
    let msg = o.stderr.to_lowercase();
    assert!(
        msg.contains("tiny") && (msg.contains("no available") || msg.contains("exhausted")),
        "expected a clear `no available addresses` error naming the network:\n{o}"
    );
    assert_unchanged(d, topo, &before, "run on an exhausted network");
    let v = d.berth(&["inspect", "t2"]);
    if v.success() {
        let v = d.inspect("t2");
        assert_ne!(v["State"]["Running"], true);
    }
    let nv = net_inspect(d, "tiny");
    assert_eq!(
        nv["Containers"].as_object().map(|m| m.len()),
        Some(1),
        "{nv}"
    );

    // The failed attempt reserved nothing: once t1 is gone, .2 is free again.
    d.ok(&["rm", "-f", "t1"]);
    let _ = d.berth(&["rm", "-f", "t2"]);
    assert!(
        wait_until(Duration::from_secs(5), || veths(topo).is_empty()),
        "veths left: {:?}",
        veths(topo)
    );
    sleeper(d, "t3", "tiny", &[]);
    assert_eq!(ip4(d, "t3", "tiny"), "10.30.0.2");
}

#[test]
fn prune_removes_only_unused_user_networks() {
    let env = require_setup!("net-prune");
    let d = &env.daemon;
    let topo = &env.topo;
    let unused = net_create(d, &["unused1"]);
    net_create(d, &["unused2"]);
    net_create(d, &["inuse"]);
    sleeper(d, "user", "inuse", &[]);
    assert!(host_links(topo).contains(&format!("br-{}", &unused[..12])));

    let out = d.ok(&["network", "prune", "-f"]);
    let mut lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.first(), Some(&"Deleted Networks:"), "{out}");
    lines.remove(0);
    lines.sort();
    assert_eq!(lines, vec!["unused1", "unused2"], "{out}");

    let names: BTreeSet<String> = d
        .ok(&["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = ["bridge", "host", "none", "inuse"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, want);
    assert!(
        !host_links(topo).contains(&format!("br-{}", &unused[..12])),
        "pruned network's bridge still there: {:?}",
        host_links(topo)
    );
    assert_eq!(d.inspect("user")["State"]["Running"], true);
    // Nothing left to prune.
    let out = d.ok(&["network", "prune", "-f"]);
    assert!(!out.contains("inuse"), "{out}");
}

#[test]
fn network_ls_table_quiet_filter_and_format() {
    let env = require_setup!("net-ls");
    let d = &env.daemon;
    let a = net_create(d, &["alpha-net"]);
    let b = net_create(d, &["alphabet"]);
    let c = net_create(d, &["beta-net"]);

    let table = d.ok(&["network", "ls"]);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        vec!["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"],
        "{table}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 6, "{table}");
    for (id, name, driver) in [
        (&a, "alpha-net", "bridge"),
        (&b, "alphabet", "bridge"),
        (&c, "beta-net", "bridge"),
    ] {
        assert!(
            rows.contains(&vec![&id[..12], name, driver, "local"]),
            "no row for {name}:\n{table}"
        );
    }
    for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
        assert!(
            rows.iter().any(|r| r.len() == 4
                && r[1] == name
                && r[2] == driver
                && r[3] == "local"
                && is_hex_id(r[0], 12)),
            "no row for {name}:\n{table}"
        );
    }

    let q = d.ok(&["network", "ls", "-q"]);
    let ids: Vec<&str> = q.lines().collect();
    assert_eq!(ids.len(), 6, "{q}");
    assert!(ids.iter().all(|i| is_hex_id(i, 12)), "{q}");
    assert!(ids.contains(&&a[..12]) && ids.contains(&&c[..12]), "{q}");

    let names = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    let names: Vec<&str> = names.lines().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "Docker sorts by name");
    assert_eq!(
        sorted,
        vec![
            "alpha-net",
            "alphabet",
            "beta-net",
            "bridge",
            "host",
            "none"
        ]
    );

    let f = d.ok(&["network", "ls", "-f", "name=alpha", "--format", "{{.Name}}"]);
    let mut f: Vec<&str> = f.lines().collect();
    f.sort();
    assert_eq!(f, vec!["alpha-net", "alphabet"]);
    let f = d.ok(&["network", "ls", "-q", "-f", "name=beta-net"]);
    assert_eq!(f, &c[..12]);
    let f = d.ok(&["network", "ls", "-f", "name=nothing-like-this"]);
    assert_eq!(f.lines().count(), 1, "only the header expected:\n{f}");
    let f = d.ok(&[
        "network",
        "ls",
        "--format",
        "{{.ID}} {{.Driver}}",
        "-f",
        "name=alphabet",
    ]);
    assert_eq!(f, format!("{} bridge", &b[..12]));
}

#[test]
fn network_inspect_fields() {
    let env = require_setup!("net-inspect");
    let d = &env.daemon;
    let id = net_create(
        d,
        &[
            "--subnet",
            "10.40.0.0/24",
            "--gateway",
            "10.40.0.1",
            "--label",
            "team=blue",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "insp",
        ],
    );
    let cid = sleeper(d, "member", "insp", &[]);
    let v = net_inspect(d, "insp");
    assert_eq!(v["Name"], "insp");
    assert_eq!(v["Id"], id.as_str());
    assert!(is_hex_id(v["Id"].as_str().unwrap_or(""), 64), "{}", v["Id"]);
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Driver"], "bridge");
    assert_eq!(v["Internal"], false);
    assert_eq!(v["EnableIPv6"], false);
    assert_eq!(v["IPAM"]["Driver"], "default");
    assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.40.0.0/24");
    assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "10.40.0.1");
    assert_eq!(v["Labels"]["team"], "blue", "{v}");
    assert_eq!(v["Options"]["com.docker.network.driver.mtu"], "1400", "{v}");
    let created = v["Created"].as_str().unwrap_or("");
    assert!(
        created.len() >= 20 && created.contains('T'),
        "Created {created:?}"
    );

    let eps = v["Containers"].as_object().expect("Containers object");
    assert_eq!(eps.len(), 1, "{}", v["Containers"]);
    let ep = &eps[&cid];
    let c = d.inspect("member");
    let cn = &c["NetworkSettings"]["Networks"]["insp"];
    assert_eq!(ep["Name"], "member");
    assert_eq!(
        ep["IPv4Address"],
        format!("{}/24", cn["IPAddress"].as_str().unwrap_or("?")).as_str(),
        "{ep} vs {cn}"
    );
    let mac = ep["MacAddress"].as_str().unwrap_or("");
    assert_eq!(mac.len(), 17, "{ep}");
    assert_eq!(cn["MacAddress"], mac, "{cn}");
    assert_eq!(cn["NetworkID"], id.as_str(), "{cn}");
    let link = d.ok(&["exec", "member", "ip", "-o", "link", "show", "eth0"]);
    assert!(link.contains(mac), "container eth0 has not {mac}: {link}");
    assert!(link.contains("mtu 1400"), "mtu option not applied: {link}");

    // By short id, by full id, with --format, and several at once.
    assert_eq!(net_inspect(d, &id[..12])["Name"], "insp");
    assert_eq!(
        d.ok(&["network", "inspect", "-f", "{{.Name}} {{.Driver}}", &id]),
        "insp bridge"
    );
    let both = d.ok(&["network", "inspect", "insp", "bridge"]);
    let both: Value = serde_json::from_str(&both).expect("JSON");
    assert_eq!(both.as_array().map(|a| a.len()), Some(2));
    let o = d.fails(&["network", "inspect", "nosuchnet"]);
    assert!(o.stderr.contains("nosuchnet"), "{o}");

    // The default bridge.
    let b = net_inspect(d, "bridge");
    assert_eq!(b["Driver"], "bridge");
    assert_eq!(
        b["Options"]["com.docker.network.bridge.default_bridge"], "true",
        "{b}"
    );
    assert!(b["IPAM"]["Config"][0]["Subnet"].is_string(), "{b}");
}

#[test]
fn networks_survive_daemon_kill9_and_clean_up_afterwards() {
    let mut env = require_setup!("net-restart");
    let (r1, r2, a1_ip, a2_ip, b1_ip);
    {
        let d = &env.daemon;
        r1 = net_create(d, &["--subnet", "10.21.0.0/24", "r1"]);
        r2 = net_create(
            d,
            &[
                "--internal",
                "-o",
                "com.docker.network.bridge.enable_icc=false",
                "--subnet",
                "10.22.0.0/24",
                "r2",
            ],
        );
        web(d, "a1", "r1", &[]);
        web(d, "a2", "r1", &[]);
        web(d, "b1", "r2", &[]);
        web(d, "b2", "r2", &[]);
        a1_ip = ip4(d, "a1", "r1");
        a2_ip = ip4(d, "a2", "r1");
        b1_ip = ip4(d, "b1", "r2");
        assert_reaches(d, "a2", "a1", &a1_ip);
        assert_blocked(d, &env.topo, "b2", &b1_ip, "icc=false before restart");
    }
    let ls_before = env.daemon.ok(&["network", "ls"]);
    let links_before = host_links(&env.topo);

    env.daemon.kill9();
    env.daemon.restart();
    let d = &env.daemon;
    let topo = &env.topo;

    assert_eq!(d.ok(&["network", "ls"]), ls_before);
    assert_eq!(
        host_links(topo),
        links_before,
        "interfaces changed over the restart"
    );
    assert_eq!(ip4(d, "a1", "r1"), a1_ip);
    assert_eq!(ip4(d, "a2", "r1"), a2_ip);
    let v = net_inspect(d, "r1");
    let eps = v["Containers"].as_object().cloned().unwrap_or_default();
    let mut seen: Vec<(String, String)> = eps
        .values()
        .map(|e| {
            (
                e["Name"].as_str().unwrap_or("").to_string(),
                e["IPv4Address"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("a1".to_string(), format!("{a1_ip}/24")),
            ("a2".to_string(), format!("{a2_ip}/24"))
        ],
        "network inspect r1 after restart: {}",
        v["Containers"]
    );
    assert_reaches(d, "a2", "a1", &a1_ip);
    assert_reaches(d, "a1", "a2", &a2_ip);
    assert_blocked(d, &env.topo, "b2", &b1_ip, "icc=false after restart");
    assert_blocked(d, &env.topo, "a1", &b1_ip, "r1 → r2 after restart");
    // New containers get fresh addresses, not the adopted ones'.
    web(d, "a3", "r1", &[]);
    let a3 = ip4(d, "a3", "r1");
    assert!(a3 != a1_ip && a3 != a2_ip, "a3 got {a3}, already used");
    assert_reaches(d, "a3", "a1", &a1_ip);

    // Remove everything: nothing of r1/r2 may stay in the host namespace.
    for c in ["a1", "a2", "a3", "b1", "b2"] {
        d.ok(&["rm", "-f", c]);
    }
    d.ok(&["network", "rm", "r1", "r2"]);
    assert!(
        wait_until(Duration::from_secs(5), || {
            host_links(topo)
                .iter()
                .all(|l| !l.starts_with("veth") && !l.starts_with("br-"))
        }),
        "left in the host namespace: {:?}",
        host_links(topo)
    );
    let rules = ruleset(topo);
    for (what, needle) in [
        ("r1's key", &r1[..12]),
        ("r2's key", &r2[..12]),
        ("a user bridge", "br-"),
        ("r2's subnet", "10.22.0.0"),
        ("r1's subnet", "10.21.0.0"),
    ] {
        assert!(
            !rules.contains(needle),
            "nft ruleset still mentions {what} ({needle}):\n{rules}"
        );
    }
}

#[test]
fn flushed_ruleset_is_restored_by_a_restart() {
    let mut env = require_setup!("net-flush");
    let srv = OutsideServer::start(&env.topo);
    let host = env.topo.host_ip().to_string();
    let (c2_ip, d1_ip);
    {
        let d = &env.daemon;
        net_create(d, &["--subnet", "10.31.0.0/24", "f1"]);
        net_create(d, &["--subnet", "10.32.0.0/24", "f2"]);
        net_create(
            d,
            &[
                "-o",
                "com.docker.network.bridge.enable_icc=false",
                "--subnet",
                "10.33.0.0/24",
                "f3",
            ],
        );
        web(d, "c1", "f1", &[]);
        web(d, "c2", "f2", &[]);
        web(d, "d1", "f3", &[]);
        web(d, "d2", "f3", &[]);
        c2_ip = ip4(d, "c2", "f2");
        d1_ip = ip4(d, "d1", "f3");
        assert_blocked(d, &env.topo, "c1", &c2_ip, "f1 → f2 before the flush");
        assert_eq!(outside_sees(d, &env.topo, &srv, "c1"), host);
    }

    let o = env.topo.in_host(&["nft", "flush", "ruleset"]);
    assert!(o.success(), "{o}");
    assert!(ruleset(&env.topo).trim().is_empty());

    env.daemon.restart();
    let d = &env.daemon;
    let topo = &env.topo;
    let rules = ruleset(topo);
    assert!(
        rules.contains("table inet berth"),
        "ruleset after restart:\n{rules}"
    );
    assert_blocked(d, &env.topo, "c1", &c2_ip, "f1 → f2 after flush + restart");
    assert_blocked(
        d,
        &env.topo,
        "c2",
        &ip4(d, "c1", "f1"),
        "f2 → f1 after flush + restart",
    );
    assert_blocked(
        d,
        &env.topo,
        "d2",
        &d1_ip,
        "icc=false after flush + restart",
    );
    assert_eq!(
        outside_sees(d, topo, &srv, "c1"),
        host,
        "masquerade after flush + restart"
    );
    assert_eq!(outside_sees(d, topo, &srv, "d2"), host);
    let v = wait_for_status(d, "c1", "running", Duration::from_secs(5));
    assert_eq!(v["State"]["Running"], true);
}
