//! Published ports (`-p`, `-P`) as a user of `berth` (and of the docker CLI)
//! sees them: forwarding from the outside namespace (the LAN) through the
//! host's address to the container, in the kernel and without any proxy
//! process, for TCP and UDP; the client's real address as seen by the
//! container; loopback-only and LAN-address-only bindings (and moby #45610:
//! 127.0.0.1 routed to the host from the LAN); random host ports and `-P`;
//! ranges; hairpin (other containers, and a container reaching itself);
//! Docker's inspect and list shapes; conflicts with containers and host
//! processes; forwarding following stop/start/rm/exit, surviving a berthd
//! crash, restored by a restart; UDP flows following a replaced container
//! (conntrack); no direct access to container addresses from the outside;
//! host/container network modes; IPv6. Each test has its own topology and
//! berthd.
//!
//! Traffic only goes between the test's outside namespace, its host
//! namespace (berthd's) and the test daemon's containers.
//!
//! Conventions: web servers run busybox `httpd -f -p PORT -h /etc` with
//! `--hostname NAME`, so `GET /hostname` answers the container's name.
//! Busybox's `wget -T` crashes (static 1.35), so timeouts use
//! `timeout N wget`. Busybox's `nc` has no UDP mode, so UDP uses perl from
//! the reserved `host` image (the host's own filesystem) in the container and
//! perl in the outside namespace.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::image::busybox_binary;
use berth_tests::{
    is_hex_id, ns_command, require_setup, wait_for_status, wait_until, Daemon, Output, Topology,
    BUSYBOX_IMAGE as BB,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

/// httpd serving /etc on port 80, in the foreground.
const HTTPD: &[&str] = &["httpd", "-f", "-p", "80", "-h", "/etc"];
/// How long a server in a fresh container may take to answer.
const READY: Duration = Duration::from_secs(10);

/// `run -d --name NAME --hostname NAME EXTRA... bb CMD...` → the id.
fn run_named(d: &Daemon, name: &str, extra: &[&str], cmd: &[&str]) -> String {
    let mut full = vec!["run", "-d", "--name", name, "--hostname", name];
    full.extend_from_slice(extra);
    full.push(BB);
    full.extend_from_slice(cmd);
    let id = d.ok(&full);
    assert!(is_hex_id(&id, 64), "run -d printed {id:?}");
    id
}

fn bb_path() -> String {
    busybox_binary().to_string_lossy().into_owned()
}

/// `timeout SECS busybox wget -q -O - URL` inside netns `ns` (the host's
/// busybox: the namespaces have the machine's filesystem).
fn wget_in_ns(ns: &str, url: &str, secs: u32) -> Output {
    berth_tests::in_ns(
        ns,
        &[
            "timeout",
            &secs.to_string(),
            &bb_path(),
            "wget",
            "-q",
            "-O",
            "-",
            url,
        ],
    )
}

/// GET `url` from the outside namespace (the LAN).
fn outside_get(topo: &Topology, url: &str) -> Output {
    wget_in_ns(topo.outside_ns(), url, 3)
}

/// GET `url` from the host namespace (where berthd runs).
fn host_get(topo: &Topology, url: &str) -> Output {
    wget_in_ns(topo.host_ns(), url, 3)
}

/// Poll `get` until it succeeds with `want` as its trimmed stdout; panics with
/// the last attempt (and the daemon's log tail) otherwise.
fn expect_body(d: &Daemon, what: &str, want: &str, get: impl FnMut() -> Output) {
    expect_body_within(d, what, want, READY, get)
}

/// [`expect_body`] with an explicit deadline.
fn expect_body_within(
    d: &Daemon,
    what: &str,
    want: &str,
    within: Duration,
    mut get: impl FnMut() -> Output,
) {
    let mut last = None;
    let ok = wait_until(within, || {
        let o = get();
        let good = o.success() && o.out() == want;
        last = Some(o);
        good
    });
    assert!(
        ok,
        "{what}: expected body {want:?} within {within:?}; last attempt:\n{}\nberthd log tail:\n{}",
        last.unwrap(),
        d.log_tail(40)
    );
}

/// Assert a GET fails (refused, timed out or unreachable): nothing answered.
fn assert_no_answer(d: &Daemon, what: &str, o: &Output) {
    assert!(
        !o.success(),
        "{what}: expected no answer, but the request succeeded:\n{o}\nberthd log tail:\n{}",
        d.log_tail(40)
    );
}

/// Assert a GET was refused at once (the host itself answered with a RST:
/// nothing forwards the port any more), not merely timed out.
fn assert_refused(d: &Daemon, what: &str, o: &Output) {
    assert!(
        !o.success() && o.combined().contains("refused"),
        "{what}: expected `Connection refused` (no forwarding left), got:\n{o}\nberthd log tail:\n{}",
        d.log_tail(40)
    );
}

/// `berth port NAME [PRIVATE]` lines.
fn port_lines(d: &Daemon, name: &str, private: Option<&str>) -> Vec<String> {
    let mut args = vec!["port", name];
    args.extend(private);
    d.ok(&args).lines().map(str::to_string).collect()
}

/// The PORTS column of `ps` for container NAME.
fn ps_ports(d: &Daemon, name: &str) -> String {
    let out = d.ok(&["ps", "-a", "--format", "{{.Names}}|{{.Ports}}"]);
    out.lines()
        .find_map(|l| {
            let (n, p) = l.split_once('|')?;
            (n == name).then(|| p.to_string())
        })
        .unwrap_or_else(|| panic!("{name} not in ps output:\n{out}"))
}

/// `NetworkSettings.Ports` of NAME.
fn ns_ports(d: &Daemon, name: &str) -> Value {
    d.inspect(name)["NetworkSettings"]["Ports"].clone()
}

/// Host port (as a number) published for `key` ("80/tcp") on 0.0.0.0, from
/// inspect; panics with the document otherwise.
fn host_port_of(d: &Daemon, name: &str, key: &str) -> u16 {
    let ports = ns_ports(d, name);
    ports[key]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|b| b["HostIp"] == "0.0.0.0")
                .and_then(|b| b["HostPort"].as_str())
        })
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name}: no 0.0.0.0 binding for {key} in Ports: {ports}"))
}

/// The container's address on its (only) network.
fn container_ip(d: &Daemon, name: &str) -> String {
    let v = d.inspect(name);
    let nets = v["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no Networks: {}", v["NetworkSettings"]));
    nets.values()
        .find_map(|n| n["IPAddress"].as_str().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| panic!("{name}: no IPAddress in {}", v["NetworkSettings"]))
        .to_string()
}

/// A process started by the test in one of its namespaces; killed by its
/// pid when dropped.
struct NsProc(Child);

impl NsProc {
    fn spawn(ns: &str, args: &[&str]) -> NsProc {
        let mut c: Command = ns_command(ns, args[0]);
        c.args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        NsProc(c.spawn().expect("spawn helper process in netns"))
    }
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for NsProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a TCP listener on `port` exists in netns `ns`.
fn listening(ns: &str, port: u16) -> bool {
    let o = berth_tests::in_ns(ns, &["ss", "-Hltn", &format!("sport = :{port}")]);
    o.success() && !o.out().is_empty()
}

const PERL: &str = "/usr/bin/perl";

/// UDP echo server: answers `echo MSG from CLIENT_IP` and prints the same
/// line on stdout (the container's log).
const UDP_ECHO: &str = r#"
use IO::Socket::INET; use Socket;
$| = 1;
my $s = IO::Socket::INET->new(LocalPort => $ARGV[0], Proto => "udp") or die "bind: $!";
print "ready\n";
while (1) {
    my $peer = $s->recv(my $m, 1500);
    next unless defined $peer;
    my ($p, $a) = unpack_sockaddr_in($peer);
    my $line = "echo $m from " . inet_ntoa($a);
    print "$line\n";
    $s->send($line, 0, $peer);
}
"#;

/// UDP client: sends ARGV[2] to ARGV[0]:ARGV[1] (from local port ARGV[3] if
/// given), prints the answer (2 s).
const UDP_CLIENT: &str = r#"
use IO::Socket::INET;
my %o = (PeerAddr => $ARGV[0], PeerPort => $ARGV[1], Proto => "udp");
$o{LocalPort} = $ARGV[3] if $ARGV[3];
$o{ReuseAddr} = 1 if $ARGV[3];
my $s = IO::Socket::INET->new(%o) or die "socket: $!";
$s->send($ARGV[2]) or die "send: $!";
my $r;
eval {
    local $SIG{ALRM} = sub { die "timeout\n" };
    alarm 2;
    defined $s->recv($r, 1500) or die "recv: $!\n";
    alarm 0;
};
if ($@) { print STDERR $@; exit 1 }
print $r;
"#;

/// Sends ARGV[2] to ARGV[0]:ARGV[1] over UDP, without waiting for an answer.
const UDP_SEND_ONLY: &str = r#"
use IO::Socket::INET;
my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1], Proto => "udp")
    or die "socket: $!";
$s->send($ARGV[2]) or die "send: $!";
"#;

fn udp_send(ns: &str, ip: &str, port: u16, msg: &str) -> Output {
    berth_tests::in_ns(ns, &[PERL, "-e", UDP_CLIENT, ip, &port.to_string(), msg])
}

/// Like [`udp_send`], from a fixed local port (one conntrack flow).
fn udp_send_from(ns: &str, ip: &str, port: u16, msg: &str, local_port: u16) -> Output {
    berth_tests::in_ns(
        ns,
        &[
            PERL,
            "-e",
            UDP_CLIENT,
            ip,
            &port.to_string(),
            msg,
            &local_port.to_string(),
        ],
    )
}

/// Start `--name NAME -p PUBLISH` running the UDP echo server on
/// `container_port` (reserved `host` image: perl of the host).
fn run_udp_echo(d: &Daemon, name: &str, publish: &str, container_port: u16) {
    run_udp_echo_with(d, name, &["-p", publish], container_port)
}

/// Like [`run_udp_echo`] with arbitrary `run` options.
fn run_udp_echo_with(d: &Daemon, name: &str, opts: &[&str], container_port: u16) {
    let port = container_port.to_string();
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["host", PERL, "-e", UDP_ECHO, &port]);
    let id = d.ok(&args);
    assert!(is_hex_id(&id, 64), "run -d printed {id:?}");
    // Stop waiting early when perl died (e.g. "bind: ... at -e line 4.").
    let mut logs = String::new();
    wait_until(READY, || {
        std::thread::sleep(Duration::from_millis(100));
        logs = d.berth(&["logs", name]).combined();
        logs.lines().any(|l| l.trim() == "ready") || logs.contains(" at -e line ")
    });
    assert!(
        logs.lines().any(|l| l.trim() == "ready"),
        "UDP echo server {name} did not start; logs:\n{logs}"
    );
}

// ---------------------------------------------------------------- basic forwarding

#[test]
fn tcp_published_port_reaches_container_from_outside_and_host() {
    let env = require_setup!("ports-tcp");
    let (d, topo) = (&env.daemon, &env.topo);
    run_named(d, "web", &["-p", "8080:80"], HTTPD);
    let url = format!("http://{}:8080/hostname", topo.host_ip());
    expect_body(d, "outside → host_ip:8080", "web", || {
        outside_get(topo, &url)
    });
    // From the host itself: its own address, and loopback (0.0.0.0 covers it).
    expect_body(d, "host → host_ip:8080", "web", || host_get(topo, &url));
    expect_body(d, "host → 127.0.0.1:8080", "web", || {
        host_get(topo, "http://127.0.0.1:8080/hostname")
    });
    // No proxy: nothing in the host namespace listens on 8080.
    assert!(
        !listening(topo.host_ns(), 8080),
        "a process listens on 8080 in the host namespace (userland proxy?):\n{}",
        berth_tests::in_ns(topo.host_ns(), &["ss", "-ltnp"])
    );
    // A port nothing publishes is refused.
    let o = outside_get(topo, &format!("http://{}:8079/hostname", topo.host_ip()));
    assert_refused(d, "outside → unpublished host port 8079", &o);
}

#[test]
fn udp_published_port_round_trip() {
    let env = require_setup!("ports-udp");
    let (d, topo) = (&env.daemon, &env.topo);
    run_udp_echo(d, "udp", "5353:53/udp", 53);
    let host = topo.host_ip().to_string();
    let want = format!("echo hello from {}", topo.outside_ip());
    let mut last = None;
    let ok = wait_until(READY, || {
        let o = udp_send(topo.outside_ns(), &host, 5353, "hello");
        let good = o.success() && o.out() == want;
        last = Some(o);
        good
    });
    assert!(
        ok,
        "UDP to {host}:5353 from outside: expected {want:?}; last:\n{}\ncontainer log:\n{}\nberthd log tail:\n{}",
        last.unwrap(),
        d.berth(&["logs", "udp"]),
        d.log_tail(40)
    );
    // The container received it (its log) from the client's own address.
    assert!(
        d.ok(&["logs", "udp"]).contains(&want),
        "container log:\n{}",
        d.berth(&["logs", "udp"])
    );
    assert_eq!(port_lines(d, "udp", None), vec!["53/udp -> 0.0.0.0:5353"]);
    // TCP on the same number is not published.
    let o = outside_get(topo, &format!("http://{host}:5353/"));
    assert_refused(d, "TCP to a UDP-only published port", &o);
}

#[test]
fn container_sees_the_outside_clients_real_address() {
    let env = require_setup!("ports-srcaddr");
    let (d, topo) = (&env.daemon, &env.topo);
    // httpd -v logs "CLIENT_IP:PORT: url:/..." on stderr.
    run_named(
        d,
        "web",
        &["-p", "8080:80"],
        &["httpd", "-f", "-v", "-p", "80", "-h", "/etc"],
    );
    let url = format!("http://{}:8080/hostname", topo.host_ip());
    expect_body(d, "outside → host_ip:8080", "web", || {
        outside_get(topo, &url)
    });
    // The client shows as "10.A.B.2:PORT" or "[::ffff:10.A.B.2]:PORT".
    let out_ip = topo.outside_ip().to_string();
    let is_client = |l: &str| {
        l.starts_with(&format!("{out_ip}:")) || l.starts_with(&format!("[::ffff:{out_ip}]:"))
    };
    let mut logs = String::new();
    let seen = wait_until(Duration::from_secs(5), || {
        logs = d.berth(&["logs", "web"]).combined();
        logs.lines().any(|l| is_client(l.trim()))
    });
    assert!(
        seen,
        "httpd should log the outside client's address {} (no SNAT of external clients); logs:\n{logs}",
        topo.outside_ip()
    );
    // And while a connection from the outside is open, the container's own
    // socket table shows the client's address as the peer.
    let _hold = NsProc::spawn(
        topo.outside_ns(),
        &[
            "sh",
            "-c",
            &format!("sleep 6 | {} nc {} 8080", bb_path(), topo.host_ip()),
        ],
    );
    let mut netstat = String::new();
    let found = wait_until(Duration::from_secs(5), || {
        netstat = d.berth(&["exec", "web", "netstat", "-tn"]).stdout;
        netstat
            .lines()
            .any(|l| l.contains("ESTABLISHED") && l.contains(&format!("{out_ip}:")))
    });
    assert!(
        found,
        "container's netstat should show a connection from {} (the outside client); got:\n{netstat}",
        topo.outside_ip()
    );
}

// ---------------------------------------------------------------- loopback binding

/// A TCP client in `ns` connects to `ip:port`, sends a GET of /hostname, and prints its
/// socket's own address (`getsockname`), its peer (`getpeername`) and the answer's body:
/// "LOCAL_IP PEER_IP PEER_PORT BODY".
/// The IPv4 gateway of network `net` (the host's address on its bridge).
fn gateway(d: &Daemon, net: &str) -> String {
    let v: Value = serde_json::from_str(&d.ok(&["network", "inspect", net])).expect("inspect JSON");
    v[0]["IPAM"]["Config"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find_map(|x| x["Gateway"].as_str().filter(|g| g.contains('.')))
        })
        .unwrap_or_else(|| panic!("no IPv4 gateway in {v}"))
        .to_string()
}

fn peer_and_body(ns: &str, ip: &str, port: u16) -> Output {
    let script = format!(
        "import socket\n\
         s = socket.create_connection(('{ip}', {port}), timeout=3)\n\
         local, peer = s.getsockname(), s.getpeername()\n\
         s.sendall(b'GET /hostname HTTP/1.0\\r\\n\\r\\n')\n\
         data = b''\n\
         while True:\n\
         \x20   c = s.recv(4096)\n\
         \x20   if not c: break\n\
         \x20   data += c\n\
         print(local[0], peer[0], peer[1], data.split(b'\\r\\n\\r\\n', 1)[-1].decode().strip())\n"
    );
    berth_tests::in_ns(ns, &["python3", "-c", &script])
}

/// Socket-level forwarding (`berthd --socket-lb`, on by default where the kernel allows): a
/// TCP client of berthd's namespace connecting to 127.0.0.1:PORT is connected to the
/// container itself, from the host's address on the bridge (nothing translated: through DNAT
/// its socket is bound to 127.0.0.1), and still sees 127.0.0.1:PORT as its peer; a client in
/// any other namespace is left alone; with `--socket-lb off` the same client goes through DNAT.
/// Both reach the container.
#[test]
fn loopback_clients_connect_straight_to_the_container() {
    let env = require_setup!("ports-socklb");
    let (d, topo) = (&env.daemon, &env.topo);
    run_named(
        d,
        "web",
        &["-p", "8087:80", "-p", "127.0.0.1:8088:80"],
        HTTPD,
    );
    let gw = gateway(d, "bridge");
    expect_body(d, "host → 127.0.0.1:8087", "web", || {
        host_get(topo, "http://127.0.0.1:8087/hostname")
    });
    for port in [8087, 8088] {
        let o = peer_and_body(topo.host_ns(), "127.0.0.1", port);
        assert_eq!(
            o.out(),
            format!("{gw} 127.0.0.1 {port} web"),
            "host → 127.0.0.1:{port}: expected a connection straight to the container:\n{o}\nberthd log:\n{}",
            d.log_tail(30)
        );
    }
    // Another namespace's 127.0.0.1:8087 is its own: nothing there listens.
    let o = peer_and_body(topo.outside_ns(), "127.0.0.1", 8087);
    assert!(
        !o.success() && o.combined().contains("refused"),
        "outside → its own 127.0.0.1:8087 must be refused (not forwarded to berth's container):\n{o}"
    );
    // Stopped: the frontend is gone at once, for the socket path as for DNAT.
    d.ok(&["stop", "-t", "1", "web"]);
    let o = host_get(topo, "http://127.0.0.1:8087/hostname");
    assert_refused(d, "host → 127.0.0.1:8087 right after stop", &o);

    // Its own topology: one berthd per namespace.
    let topo2 = Topology::new("ports-socklb-off");
    let plain = Daemon::start_with_args(&topo2, &["--socket-lb", "off"]);
    berth_tests::image::import_busybox(&plain, BB);
    run_named(&plain, "web2", &["-p", "8089:80"], HTTPD);
    expect_body(
        &plain,
        "host → 127.0.0.1:8089 (--socket-lb off)",
        "web2",
        || host_get(&topo2, "http://127.0.0.1:8089/hostname"),
    );
    let o = peer_and_body(topo2.host_ns(), "127.0.0.1", 8089);
    assert_eq!(
        o.out(),
        "127.0.0.1 127.0.0.1 8089 web2",
        "--socket-lb off: DNAT path expected:\n{o}"
    );
}

#[test]
fn loopback_binding_is_host_only() {
    let env = require_setup!("ports-loopback");
    let (d, topo) = (&env.daemon, &env.topo);
    run_named(d, "lo", &["-p", "127.0.0.1:8081:80"], HTTPD);
    expect_body(d, "host → 127.0.0.1:8081", "lo", || {
        host_get(topo, "http://127.0.0.1:8081/hostname")
    });
    assert_eq!(port_lines(d, "lo", None), vec!["80/tcp -> 127.0.0.1:8081"]);
    let o = outside_get(topo, &format!("http://{}:8081/hostname", topo.host_ip()));
    assert_no_answer(d, "outside → host_ip:8081 (bound to 127.0.0.1)", &o);
    // Not through the host's own LAN address from the host either: the
    // binding is for 127.0.0.1 only.
    let o = host_get(topo, &format!("http://{}:8081/hostname", topo.host_ip()));
    assert_no_answer(d, "host → host_ip:8081 (bound to 127.0.0.1)", &o);
}

/// moby #45610: a port published on 127.0.0.1 must not be reachable from a
/// LAN neighbour that routes 127.0.0.1 to the host. UDP, so that the
/// container's log shows whether the datagram arrived (the reply, with source
/// 127.0.0.1, would be dropped by the client's kernel anyway).
#[test]
fn loopback_binding_unreachable_from_lan_routing_127_to_host() {
    let env = require_setup!("ports-lo-lan");
    let (d, topo) = (&env.daemon, &env.topo);
    run_udp_echo(d, "uecho", "127.0.0.1:5354:53/udp", 53);
    // From the host itself it works.
    let o = udp_send(topo.host_ns(), "127.0.0.1", 5354, "fromhost");
    assert!(
        o.success() && o.out().starts_with("echo fromhost from "),
        "host → 127.0.0.1:5354/udp:\n{o}\ncontainer log:\n{}",
        d.berth(&["logs", "uecho"])
    );
    // The outside namespace sends 127.0.0.1 to the host: no local loopback
    // routes there, 127.0.0.1 via the host's address.
    let o_ns = topo.outside_ns();
    let h = topo.host_ip().to_string();
    for args in [
        vec![
            "ip",
            "route",
            "del",
            "table",
            "local",
            "local",
            "127.0.0.1",
            "dev",
            "lo",
        ],
        vec![
            "ip",
            "route",
            "del",
            "table",
            "local",
            "local",
            "127.0.0.0/8",
            "dev",
            "lo",
        ],
        vec![
            "ip",
            "route",
            "add",
            "127.0.0.1/32",
            "via",
            &h,
            "dev",
            "eth0",
        ],
    ] {
        let o = berth_tests::in_ns(o_ns, &args);
        assert!(o.success(), "{o}");
    }
    let o = berth_tests::in_ns(o_ns, &["ip", "route", "get", "127.0.0.1"]);
    assert!(o.out().contains(&format!("via {h}")), "{o}");
    for i in 0..2 {
        let o = berth_tests::in_ns(
            o_ns,
            &[
                PERL,
                "-e",
                UDP_SEND_ONLY,
                "127.0.0.1",
                "5354",
                &format!("fromlan{i}"),
            ],
        );
        assert!(o.success(), "{o}");
    }
    std::thread::sleep(Duration::from_millis(500));
    let logs = d.ok(&["logs", "uecho"]);
    assert!(
        !logs.contains("fromlan"),
        "a datagram sent from the LAN to 127.0.0.1:5354 reached the container \
         (127.0.0.1 bindings must be host-only):\n{logs}"
    );
}

#[test]
fn binding_to_the_hosts_lan_address_only() {
    let env = require_setup!("ports-hostip");
    let (d, topo) = (&env.daemon, &env.topo);
    let h = topo.host_ip().to_string();
    run_named(d, "web", &["-p", &format!("{h}:8090:80")], HTTPD);
    assert_eq!(
        port_lines(d, "web", None),
        vec![format!("80/tcp -> {h}:8090")]
    );
    let url = format!("http://{h}:8090/hostname");
    expect_body(d, "outside → host_ip:8090", "web", || {
        outside_get(topo, &url)
    });
    expect_body(d, "host → host_ip:8090", "web", || host_get(topo, &url));
    let o = host_get(topo, "http://127.0.0.1:8090/hostname");
    assert_refused(
        d,
        "host → 127.0.0.1:8090 (bound to the LAN address only)",
        &o,
    );
    // The same port on another address of the host is free.
    run_named(d, "lo2", &["-p", "127.0.0.1:8090:80"], HTTPD);
    expect_body(d, "host → 127.0.0.1:8090 (lo2)", "lo2", || {
        host_get(topo, "http://127.0.0.1:8090/hostname")
    });
    expect_body(d, "outside → host_ip:8090 still web", "web", || {
        outside_get(topo, &url)
    });
}

/// Docker: `--network host -p` runs with a warning (ports discarded);
/// `--network container:X -p` is refused as conflicting options.
#[test]
fn publishing_with_host_or_container_network_mode() {
    let env = require_setup!("ports-netmode");
    let d = &env.daemon;
    run_named(d, "base", &[], &["sleep", "600"]);
    let o = d.fails(&[
        "run",
        "-d",
        "--name",
        "joined",
        "--network",
        "container:base",
        "-p",
        "8095:80",
        BB,
        "sleep",
        "600",
    ]);
    assert!(
        o.combined().contains("conflicting options") || o.combined().contains("publish"),
        "{o}"
    );
    let o = d.berth(&[
        "run",
        "-d",
        "--name",
        "hostnet",
        "--network",
        "host",
        "-p",
        "8094:80",
        BB,
        "sleep",
        "600",
    ]);
    assert!(
        o.success(),
        "Docker runs `--network host -p` (warning: published ports are discarded):\n{o}"
    );
    assert!(port_lines(d, "hostnet", None).is_empty());
}

// ---------------------------------------------------------------- random ports, -P

#[test]
fn random_host_port_is_consistent_everywhere_and_works() {
    let env = require_setup!("ports-random");
    let (d, topo) = (&env.daemon, &env.topo);
    run_named(d, "r1", &["-p", "80"], HTTPD);
    run_named(d, "r2", &["-p", "80"], HTTPD);
    let p1 = host_port_of(d, "r1", "80/tcp");
    let p2 = host_port_of(d, "r2", "80/tcp");
    assert_ne!(p1, p2, "two `-p 80` containers got the same host port");
    // The host namespace's ephemeral range (Docker uses the same).
    let range = berth_tests::in_ns(
        topo.host_ns(),
        &["cat", "/proc/sys/net/ipv4/ip_local_port_range"],
    );
    let r: Vec<u16> = range
        .out()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(r.len(), 2, "{range}");
    for p in [p1, p2] {
        assert!(
            (r[0]..=r[1]).contains(&p),
            "random port {p} outside the ephemeral range {r:?}"
        );
    }
    // port, port PRIVATE, ps and inspect agree.
    assert_eq!(
        port_lines(d, "r1", None),
        vec![format!("80/tcp -> 0.0.0.0:{p1}")]
    );
    assert_eq!(
        port_lines(d, "r1", Some("80")),
        vec![format!("0.0.0.0:{p1}")]
    );
    assert_eq!(
        port_lines(d, "r1", Some("80/tcp")),
        vec![format!("0.0.0.0:{p1}")]
    );
    assert_eq!(ps_ports(d, "r1"), format!("0.0.0.0:{p1}->80/tcp"));
    assert_eq!(ps_ports(d, "r2"), format!("0.0.0.0:{p2}->80/tcp"));
    // PortBindings stays as given (empty host port).
    let pb = &d.inspect("r1")["HostConfig"]["PortBindings"];
    assert_eq!(
        pb,
        &json!({"80/tcp": [{"HostIp": "", "HostPort": ""}]}),
        "HostConfig.PortBindings"
    );
    // Both work from the outside.
    for (name, p) in [("r1", p1), ("r2", p2)] {
        let url = format!("http://{}:{p}/hostname", topo.host_ip());
        expect_body(d, &format!("outside → {name} via {p}"), name, || {
            outside_get(topo, &url)
        });
    }
    // Asking for a port that is not published fails like Docker.
    let o = d.fails(&["port", "r1", "81"]);
    assert!(
        o.combined().contains("No public port '81"),
        "port r1 81:\n{o}"
    );
}

#[test]
fn publish_all_maps_exposed_ports_to_random_ports() {
    let env = require_setup!("ports-publish-all");
    let (d, topo) = (&env.daemon, &env.topo);
    run_named(
        d,
        "pa",
        &["-P", "--expose", "7777"],
        &["httpd", "-f", "-p", "7777", "-h", "/etc"],
    );
    let lines = port_lines(d, "pa", None);
    assert_eq!(lines.len(), 1, "port pa: {lines:?}");
    let p: u16 = lines[0]
        .strip_prefix("7777/tcp -> 0.0.0.0:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port pa: {lines:?}"));
    assert_eq!(host_port_of(d, "pa", "7777/tcp"), p);
    assert_eq!(ps_ports(d, "pa"), format!("0.0.0.0:{p}->7777/tcp"));
    let url = format!("http://{}:{p}/hostname", topo.host_ip());
    expect_body(d, "outside → -P port", "pa", || outside_get(topo, &url));
    // Without -P an exposed port is not published.
    run_named(d, "np", &["--expose", "7777"], &["sleep", "600"]);
    assert!(port_lines(d, "np", None).is_empty());
}

// ---------------------------------------------------------------- ranges

#[test]
fn port_ranges_map_each_port() {
    let env = require_setup!("ports-range");
    let (d, topo) = (&env.daemon, &env.topo);
    run_named(
        d,
        "rg",
        &["-p", "9000-9001:80-81"],
        &[
            "sh",
            "-c",
            "mkdir /w80 /w81 && echo eighty > /w80/x && echo eightyone > /w81/x \
             && httpd -p 81 -h /w81 && exec httpd -f -p 80 -h /w80",
        ],
    );
    assert_eq!(
        port_lines(d, "rg", None),
        vec!["80/tcp -> 0.0.0.0:9000", "81/tcp -> 0.0.0.0:9001"]
    );
    // docker/cli groups only ports whose public and private numbers match.
    assert_eq!(
        ps_ports(d, "rg"),
        "0.0.0.0:9000->80/tcp, 0.0.0.0:9001->81/tcp"
    );
    let h = topo.host_ip();
    expect_body(d, "outside → 9000", "eighty", || {
        outside_get(topo, &format!("http://{h}:9000/x"))
    });
    expect_body(d, "outside → 9001", "eightyone", || {
        outside_get(topo, &format!("http://{h}:9001/x"))
    });
    // A host range for one container port: each container takes the first
    // free port of it.
    run_named(d, "ra", &["-p", "9100-9101:80"], HTTPD);
    run_named(d, "rb", &["-p", "9100-9101:80"], HTTPD);
    assert_eq!(port_lines(d, "ra", Some("80")), vec!["0.0.0.0:9100"]);
    assert_eq!(port_lines(d, "rb", Some("80")), vec!["0.0.0.0:9101"]);
    expect_body(d, "outside → 9100", "ra", || {
        outside_get(topo, &format!("http://{h}:9100/hostname"))
    });
    expect_body(d, "outside → 9101", "rb", || {
        outside_get(topo, &format!("http://{h}:9101/hostname"))
    });
    // The range is full now.
    let o = d.fails(&[
        "run",
        "-d",
        "--name",
        "rc",
        "-p",
        "9100-9101:80",
        BB,
        "sleep",
        "600",
    ]);
    assert!(
        o.combined().contains("9100-9101"),
        "refusal should name the exhausted range:\n{o}"
    );
}

/// Regression (found by the benchmark, bench/ports.py 6b): publishing read the host's socket
/// tables (/proc/net/tcp and tcp6, each read a walk of every namespace's sockets) anew for
/// every port, so `run -d` with 100 published ports took about a second longer than a plain
/// `run -d`. One snapshot per container now; the 100 forwards still all work.
#[test]
fn run_with_100_published_ports_is_not_slowed_per_port() {
    let env = require_setup!("ports-100");
    let (d, topo) = (&env.daemon, &env.topo);
    let timed = |name: &str, extra: &[&str]| {
        let t = Instant::now();
        run_named(d, name, extra, &["httpd", "-f", "-p", "100", "-h", "/etc"]);
        t.elapsed()
    };
    let (mut plain, mut many) = (Vec::new(), Vec::new());
    for i in 0..3 {
        plain.push(timed(&format!("plain{i}"), &[]));
        d.ok(&["rm", "-f", &format!("plain{i}")]);
        many.push(timed(&format!("many{i}"), &["-p", "30000-30099:1-100"]));
        if i < 2 {
            d.ok(&["rm", "-f", &format!("many{i}")]);
        }
    }
    plain.sort();
    many.sort();
    assert!(
        many[1] < plain[1] + Duration::from_millis(300),
        "run -d with 100 published ports took {:?} (median of 3), a plain run -d {:?}: \
         publishing costs per port again? all: {many:?} vs {plain:?}",
        many[1],
        plain[1]
    );
    assert_eq!(port_lines(d, "many2", None).len(), 100);
    let url = format!("http://{}:30099/hostname", topo.host_ip());
    expect_body(d, "outside → host:30099 → many2:100", "many2", || {
        outside_get(topo, &url)
    });
}

// ---------------------------------------------------------------- hairpin

#[test]
fn hairpin_and_other_networks_reach_published_port_via_host_address() {
    let env = require_setup!("ports-hairpin");
    let (d, topo) = (&env.daemon, &env.topo);
    d.ok(&["network", "create", "n1"]);
    d.ok(&["network", "create", "n2"]);
    run_named(d, "web", &["--network", "n1", "-p", "8085:80"], HTTPD);
    let url = format!("http://{}:8085/hostname", topo.host_ip());
    expect_body(d, "outside → 8085", "web", || outside_get(topo, &url));
    for (client, net) in [("same", "n1"), ("other", "n2"), ("dflt", "bridge")] {
        expect_body(
            d,
            &format!("{client} ({net}) → host_ip:8085"),
            "web",
            || {
                d.berth(&[
                    "run",
                    "--rm",
                    "--network",
                    net,
                    "--name",
                    client,
                    BB,
                    "timeout",
                    "3",
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    &url,
                ])
            },
        );
    }
}

#[test]
fn hairpin_container_reaches_itself_via_published_port() {
    let env = require_setup!("ports-hairpin-self");
    let (d, topo) = (&env.daemon, &env.topo);
    d.ok(&["network", "create", "n1"]);
    run_named(d, "web", &["--network", "n1", "-p", "8085:80"], HTTPD);
    run_named(d, "dweb", &["-p", "8087:80"], HTTPD);
    // With br_netfilter loaded (Docker/Kubernetes hosts), the DNAT'd packet
    // is bridged back out of the port it came in on: that takes hairpin mode
    // on the port and a masquerade that matches bridged traffic too.
    let bnf = berth_tests::in_ns(
        topo.host_ns(),
        &["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"],
    );
    let bnf = if bnf.success() {
        format!("bridge-nf-call-iptables={}", bnf.out())
    } else {
        "br_netfilter not loaded".to_string()
    };
    for (name, port) in [("web", 8085), ("dweb", 8087)] {
        let url = format!("http://{}:{port}/hostname", topo.host_ip());
        expect_body(d, &format!("outside → {name}"), name, || {
            outside_get(topo, &url)
        });
        // The server itself through its own published port (Docker: works,
        // hairpin mode on the bridge port + masquerade of hairpin traffic).
        let what = format!("{name} → itself via host_ip:{port} ({bnf} in the host namespace)");
        expect_body_within(d, &what, name, Duration::from_secs(6), || {
            d.berth(&["exec", name, "timeout", "3", "wget", "-q", "-O", "-", &url])
        });
    }
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_shape_matches_docker() {
    let env = require_setup!("ports-inspect");
    let d = &env.daemon;
    run_named(
        d,
        "web",
        &[
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1:8443:443",
            "-p",
            "5353:53/udp",
            "--expose",
            "9999",
        ],
        &["sleep", "600"],
    );
    let v = d.inspect("web");
    assert_eq!(
        v["HostConfig"]["PortBindings"],
        json!({
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
            "53/udp": [{"HostIp": "", "HostPort": "5353"}],
        }),
        "HostConfig.PortBindings"
    );
    assert_eq!(
        v["NetworkSettings"]["Ports"],
        json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
            "443/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8443"}],
            "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
            "9999/tcp": null,
        }),
        "NetworkSettings.Ports"
    );
    let exposed = v["Config"]["ExposedPorts"]
        .as_object()
        .unwrap_or_else(|| panic!("Config.ExposedPorts: {}", v["Config"]));
    let mut keys: Vec<&str> = exposed.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["443/tcp", "53/udp", "80/tcp", "9999/tcp"]);
    assert_eq!(
        port_lines(d, "web", None),
        vec![
            "53/udp -> 0.0.0.0:5353",
            "80/tcp -> 0.0.0.0:8080",
            "443/tcp -> 127.0.0.1:8443",
        ]
    );
    // The API's container list (ps) carries the same bindings.
    let r = d.api("GET", "/containers/json", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let ports = summary_ports(&list[0]);
    for want in [
        ("0.0.0.0".to_string(), 53, 5353, "udp".to_string()),
        ("0.0.0.0".into(), 80, 8080, "tcp".into()),
        ("127.0.0.1".into(), 443, 8443, "tcp".into()),
    ] {
        assert!(
            ports.contains(&want),
            "/containers/json Ports lacks {want:?}: {}",
            list[0]["Ports"]
        );
    }
}

/// `(IP, PrivatePort, PublicPort, Type)` of a `/containers/json` element, sorted.
fn summary_ports(c: &Value) -> Vec<(String, u64, u64, String)> {
    let mut ports: Vec<(String, u64, u64, String)> = c["Ports"]
        .as_array()
        .unwrap_or_else(|| panic!("/containers/json Ports: {c}"))
        .iter()
        .map(|p| {
            (
                p["IP"].as_str().unwrap_or("").to_string(),
                p["PrivatePort"].as_u64().unwrap_or(0),
                p["PublicPort"].as_u64().unwrap_or(0),
                p["Type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    ports.sort();
    ports
}

/// Docker lists exposed-but-unpublished ports in `ps` (`7777/tcp`) and the
/// API's container list, and always renders `HostConfig.PublishAllPorts`.
#[test]
fn exposed_unpublished_ports_are_listed_like_docker() {
    let env = require_setup!("ports-exposed");
    let d = &env.daemon;
    run_named(
        d,
        "web",
        &["-p", "8080:80", "--expose", "9999"],
        &["sleep", "600"],
    );
    // Collect every difference, then fail once with all of them.
    let mut wrong = Vec::new();
    let r = d.api("GET", "/containers/json", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let want = vec![
        ("".to_string(), 9999, 0, "tcp".to_string()),
        ("0.0.0.0".into(), 80, 8080, "tcp".into()),
    ];
    if summary_ports(&list[0]) != want {
        wrong.push(format!(
            "/containers/json Ports: expected {want:?}, got {}",
            list[0]["Ports"]
        ));
    }
    // docker/cli's DisplayablePorts lists port groups first and host mappings after them.
    let ps = ps_ports(d, "web");
    if ps != "9999/tcp, 0.0.0.0:8080->80/tcp" {
        wrong.push(format!(
            "ps PORTS: expected \"9999/tcp, 0.0.0.0:8080->80/tcp\", got {ps:?}"
        ));
    }
    let v = d.inspect("web");
    if v["HostConfig"]["PublishAllPorts"] != false {
        wrong.push(format!(
            "HostConfig.PublishAllPorts: expected false (Docker always renders it), got {}",
            v["HostConfig"]["PublishAllPorts"]
        ));
    }
    run_named(d, "pa", &["-P", "--expose", "7777"], &["sleep", "600"]);
    let pa = d.inspect("pa")["HostConfig"]["PublishAllPorts"].clone();
    if pa != true {
        wrong.push(format!(
            "-P: HostConfig.PublishAllPorts: expected true, got {pa}"
        ));
    }
    assert!(
        wrong.is_empty(),
        "differences from Docker:\n{}",
        wrong.join("\n")
    );
}

/// The real docker CLI: `docker run -p`, `docker port`, `docker ps`.
#[test]
fn docker_cli_publishes_and_reports_ports() {
    if !berth_tests::docker_available() {
        println!("skipped: no docker CLI");
        return;
    }
    let env = require_setup!("ports-docker-cli");
    let (d, topo) = (&env.daemon, &env.topo);
    let o = d.docker(&[
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        "dk",
        "--hostname",
        "dk",
        "-p",
        "8088:80",
        "-p",
        "80",
        BB,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    assert!(o.success(), "{o}\nberthd log tail:\n{}", d.log_tail(40));
    let url = format!("http://{}:8088/hostname", topo.host_ip());
    expect_body(d, "outside → 8088 (docker run -p)", "dk", || {
        outside_get(topo, &url)
    });
    let o = d.docker(&["port", "dk", "80"]);
    assert!(o.success(), "{o}");
    let mut lines: Vec<&str> = o.out().lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 2, "docker port dk 80:\n{o}");
    assert!(lines.contains(&"0.0.0.0:8088"), "docker port dk 80:\n{o}");
    let random = lines
        .iter()
        .find(|l| **l != "0.0.0.0:8088")
        .and_then(|l| l.strip_prefix("0.0.0.0:"))
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("docker port dk 80:\n{o}"));
    let url = format!("http://{}:{random}/hostname", topo.host_ip());
    expect_body(
        d,
        "outside → random port (docker run -p 80)",
        "dk",
        || outside_get(topo, &url),
    );
    let o = d.docker(&["ps", "--format", "{{.Ports}}"]);
    assert!(o.success(), "{o}");
    for want in [
        "0.0.0.0:8088->80/tcp".to_string(),
        format!("0.0.0.0:{random}->80/tcp"),
    ] {
        assert!(
            o.out().contains(&want),
            "docker ps PORTS lacks {want}:\n{o}"
        );
    }
    // docker's own conflict path.
    let o = d.docker(&[
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        "dk2",
        "-p",
        "8088:80",
        BB,
        "sleep",
        "600",
    ]);
    assert!(!o.success() && o.combined().contains("8088"), "{o}");
}

/// The most common Docker command of all: `docker run -d -p H:C IMAGE`
/// without `--network` (docker 28 sends NetworkMode "default").
#[test]
fn docker_cli_run_p_without_network_flag() {
    if !berth_tests::docker_available() {
        println!("skipped: no docker CLI");
        return;
    }
    let env = require_setup!("ports-docker-dflt");
    let (d, topo) = (&env.daemon, &env.topo);
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "dk",
        "--hostname",
        "dk",
        "-p",
        "8089:80",
        BB,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    assert!(o.success(), "{o}\nberthd log tail:\n{}", d.log_tail(40));
    let url = format!("http://{}:8089/hostname", topo.host_ip());
    expect_body(
        d,
        "outside → 8089 (docker run -p, no --network)",
        "dk",
        || outside_get(topo, &url),
    );
}

// ---------------------------------------------------------------- conflicts

#[test]
fn second_container_on_same_host_port_is_refused_and_changes_nothing() {
    let env = require_setup!("ports-conflict");
    let (d, topo) = (&env.daemon, &env.topo);
    let id1 = run_named(d, "first", &["-p", "8080:80"], HTTPD);
    let url = format!("http://{}:8080/hostname", topo.host_ip());
    expect_body(d, "outside → first", "first", || outside_get(topo, &url));

    let o = d.fails(&[
        "run",
        "-d",
        "--name",
        "second",
        "--hostname",
        "second",
        "-p",
        "8080:80",
        BB,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let msg = o.combined();
    assert!(
        msg.contains("8080") && (msg.contains(&id1[..12]) || msg.contains("first")),
        "refusal should name the port 8080 and the holder (first, {}):\n{o}",
        &id1[..12]
    );
    // State unchanged: second is not running and publishes nothing, first
    // still answers.
    let v = d.inspect("second");
    assert_eq!(v["State"]["Running"], false, "second: {}", v["State"]);
    assert_ne!(v["State"]["Status"], "running", "second: {}", v["State"]);
    assert!(port_lines(d, "second", None).is_empty());
    for _ in 0..3 {
        expect_body(d, "outside → 8080 after the refusal", "first", || {
            outside_get(topo, &url)
        });
    }
    assert_eq!(port_lines(d, "first", None), vec!["80/tcp -> 0.0.0.0:8080"]);
    // Overlapping address forms conflict too: 127.0.0.1:8080 against 0.0.0.0:8080.
    let o = d.fails(&[
        "run",
        "-d",
        "--name",
        "third",
        "-p",
        "127.0.0.1:8080:80",
        BB,
        "sleep",
        "600",
    ]);
    assert!(o.combined().contains("8080"), "{o}");
    // Same number, other protocol: fine.
    run_named(d, "udp", &["-p", "8080:80/udp"], &["sleep", "600"]);
    // Removing a refused container leaves first's forwarding alone.
    d.ok(&["rm", "-f", "third"]);
    expect_body(
        d,
        "outside → 8080 after rm of a refused container",
        "first",
        || outside_get(topo, &url),
    );
    // Starting second again is refused again while first holds the port...
    let o = d.fails(&["start", "second"]);
    assert!(
        o.combined().contains("8080"),
        "start second while first holds 8080:\n{o}"
    );
    expect_body(
        d,
        "outside → 8080 after the second refusal",
        "first",
        || outside_get(topo, &url),
    );
    // ...and works once first is gone.
    d.ok(&["rm", "-f", "first"]);
    d.ok(&["start", "second"]);
    expect_body(d, "outside → 8080 after first is gone", "second", || {
        outside_get(topo, &url)
    });
    assert_eq!(
        port_lines(d, "second", None),
        vec!["80/tcp -> 0.0.0.0:8080"]
    );
}

#[test]
fn host_process_holding_the_port_is_named_in_the_refusal() {
    let env = require_setup!("ports-hostproc");
    let (d, topo) = (&env.daemon, &env.topo);
    let nc = NsProc::spawn(topo.host_ns(), &[&bb_path(), "nc", "-l", "-p", "7070"]);
    assert!(
        wait_until(Duration::from_secs(5), || listening(topo.host_ns(), 7070)),
        "busybox nc did not start listening on 7070 in the host namespace"
    );
    let o = d.fails(&[
        "run", "-d", "--name", "web", "-p", "7070:80", BB, "sleep", "600",
    ]);
    let msg = o.combined();
    assert!(
        msg.contains("7070") && msg.contains(&nc.pid().to_string()),
        "refusal should name the port 7070 and the holding process (pid {}):\n{o}",
        nc.pid()
    );
    let v = d.inspect("web");
    assert_eq!(v["State"]["Running"], false, "{}", v["State"]);
    // Once the process is gone, the port can be published.
    drop(nc);
    assert!(wait_until(Duration::from_secs(5), || !listening(
        topo.host_ns(),
        7070
    )));
    d.ok(&["rm", "-f", "web"]);
    run_named(d, "web", &["-p", "7070:80"], HTTPD);
    let url = format!("http://{}:7070/hostname", topo.host_ip());
    expect_body(d, "outside → 7070", "web", || outside_get(topo, &url));
}

// ---------------------------------------------------------------- lifecycle

const LO_8082: &str = "http://127.0.0.1:8082/hostname";

#[test]
fn stop_start_and_rm_follow_the_forwarding() {
    let env = require_setup!("ports-lifecycle");
    let (d, topo) = (&env.daemon, &env.topo);
    // sh as PID 1 so that killing httpd from inside ends the container.
    run_named(
        d,
        "web",
        &["-p", "8082:80"],
        &["sh", "-c", "httpd -f -p 80 -h /etc; exit 3"],
    );
    let url = format!("http://{}:8082/hostname", topo.host_ip());
    expect_body(d, "outside → 8082", "web", || outside_get(topo, &url));

    expect_body(d, "host → 127.0.0.1:8082", "web", || {
        host_get(topo, LO_8082)
    });
    d.ok(&["stop", "-t", "1", "web"]);
    let o = outside_get(topo, &url);
    assert_refused(d, "outside → 8082 right after stop", &o);
    let o = host_get(topo, LO_8082);
    assert_refused(d, "host → 127.0.0.1:8082 right after stop", &o);
    assert!(
        port_lines(d, "web", None).is_empty(),
        "port web after stop: {:?}",
        port_lines(d, "web", None)
    );
    // The port is free for another container while web is stopped.
    run_named(d, "other", &["-p", "8082:80"], HTTPD);
    expect_body(d, "outside → 8082 (other)", "other", || {
        outside_get(topo, &url)
    });
    expect_body(d, "host → 127.0.0.1:8082 (other)", "other", || {
        host_get(topo, LO_8082)
    });
    d.ok(&["rm", "-f", "other"]);
    let o = outside_get(topo, &url);
    assert_refused(d, "outside → 8082 right after rm -f other", &o);
    let o = host_get(topo, LO_8082);
    assert_refused(d, "host → 127.0.0.1:8082 right after rm -f other", &o);

    d.ok(&["start", "web"]);
    expect_body(d, "outside → 8082 after start", "web", || {
        outside_get(topo, &url)
    });
    assert_eq!(port_lines(d, "web", None), vec!["80/tcp -> 0.0.0.0:8082"]);

    // The container exiting by itself removes it too.
    // httpd is the container's pid 1: when it dies the kernel kills the exec'd shell too, so
    // the exec may end with 137 as well as 0 (regression: flaky exit status in CI).
    let _ = d.berth(&["exec", "web", "sh", "-c", "kill $(pidof httpd)"]);
    wait_for_status(d, "web", "exited", Duration::from_secs(10));
    let o = outside_get(topo, &url);
    assert_refused(d, "outside → 8082 after the container exited", &o);
    let o = host_get(topo, LO_8082);
    assert_refused(d, "host → 127.0.0.1:8082 after the container exited", &o);

    d.ok(&["start", "web"]);
    expect_body(d, "outside → 8082 after second start", "web", || {
        outside_get(topo, &url)
    });
    d.ok(&["rm", "-f", "web"]);
    let o = outside_get(topo, &url);
    assert_refused(d, "outside → 8082 right after rm -f", &o);
}

#[test]
fn forwarding_survives_berthd_crash_and_restart() {
    let env = require_setup!("ports-restart");
    let (topo, mut d) = (env.topo, env.daemon);
    let id = run_named(&d, "web", &["-p", "8083:80"], HTTPD);
    let url = format!("http://{}:8083/hostname", topo.host_ip());
    expect_body(&d, "outside → 8083", "web", || outside_get(&topo, &url));

    d.kill9();
    // In the kernel, no proxy: forwarding works while berthd is down.
    let o = outside_get(&topo, &url);
    assert!(
        o.success() && o.out() == "web",
        "outside → 8083 while berthd is dead:\n{o}"
    );
    // The host's own clients too: the socket-level program went with berthd, DNAT serves.
    let lo = "http://127.0.0.1:8083/hostname";
    let o = host_get(&topo, lo);
    assert!(
        o.success() && o.out() == "web",
        "host → 127.0.0.1:8083 while berthd is dead:\n{o}"
    );
    d.restart();
    expect_body(&d, "outside → 8083 after restart", "web", || {
        outside_get(&topo, &url)
    });
    expect_body(&d, "host → 127.0.0.1:8083 after restart", "web", || {
        host_get(&topo, lo)
    });
    let o = peer_and_body(topo.host_ns(), "127.0.0.1", 8083);
    let gw = gateway(&d, "bridge");
    assert_eq!(
        o.out(),
        format!("{gw} 127.0.0.1 8083 web"),
        "after restart, the port is entered for the socket path again:\n{o}"
    );
    assert_eq!(port_lines(&d, "web", None), vec!["80/tcp -> 0.0.0.0:8083"]);
    // The restarted daemon still knows the port is taken...
    let o = d.fails(&[
        "run", "-d", "--name", "dup", "-p", "8083:80", BB, "sleep", "600",
    ]);
    assert!(
        o.combined().contains("8083") && o.combined().contains(&id[..12]),
        "after restart, a second publisher of 8083 should be refused naming {}:\n{o}",
        &id[..12]
    );
    // ...and can still take it away.
    d.ok(&["stop", "-t", "1", "web"]);
    let o = outside_get(&topo, &url);
    assert_refused(&d, "outside → 8083 after stop (restarted berthd)", &o);
    d.ok(&["start", "web"]);
    expect_body(&d, "outside → 8083 after start", "web", || {
        outside_get(&topo, &url)
    });
    // Restarting berthd gracefully too.
    d.restart();
    expect_body(&d, "outside → 8083 after graceful restart", "web", || {
        outside_get(&topo, &url)
    });
    drop(d);
    drop(topo);
}

#[test]
fn forwarding_removed_when_container_exits_while_berthd_is_down() {
    let env = require_setup!("ports-exit-down");
    let (topo, mut d) = (env.topo, env.daemon);
    run_named(&d, "web", &["-p", "8092:80"], HTTPD);
    let url = format!("http://{}:8092/hostname", topo.host_ip());
    expect_body(&d, "outside → 8092", "web", || outside_get(&topo, &url));
    let pid = d.inspect("web")["State"]["Pid"].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0, "State.Pid of web");
    d.kill9();
    // The container's own process (ours: started by this test's daemon).
    // SAFETY: plain syscall on a pid this test's container owns.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    assert!(
        wait_until(Duration::from_secs(5), || !std::path::Path::new(&format!(
            "/proc/{pid}"
        ))
        .exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)),
        "container process {pid} did not die"
    );
    d.restart();
    wait_for_status(&d, "web", "exited", Duration::from_secs(10));
    let o = outside_get(&topo, &url);
    assert_refused(
        &d,
        "outside → 8092 after the container died while berthd was down",
        &o,
    );
    let o = host_get(&topo, "http://127.0.0.1:8092/hostname");
    assert_refused(
        &d,
        "host → 127.0.0.1:8092 after the container died while berthd was down",
        &o,
    );
    assert!(port_lines(&d, "web", None).is_empty());
    // The port is free again.
    run_named(&d, "web2", &["-p", "8092:80"], HTTPD);
    expect_body(&d, "outside → 8092 (web2)", "web2", || {
        outside_get(&topo, &url)
    });
    drop(d);
    drop(topo);
}

#[test]
fn restart_restores_deleted_port_rules() {
    let env = require_setup!("ports-nft-restore");
    let (topo, mut d) = (env.topo, env.daemon);
    run_named(&d, "web", &["-p", "8093:80"], HTTPD);
    let url = format!("http://{}:8093/hostname", topo.host_ip());
    expect_body(&d, "outside → 8093", "web", || outside_get(&topo, &url));
    // Someone deletes berth's table in berthd's namespace (the test's own).
    let o = berth_tests::in_ns(topo.host_ns(), &["nft", "delete", "table", "inet", "berth"]);
    assert!(o.success(), "{o}");
    let o = outside_get(&topo, &url);
    assert_no_answer(&d, "outside → 8093 without berth's rules", &o);
    d.restart();
    expect_body(&d, "outside → 8093 after berthd restart", "web", || {
        outside_get(&topo, &url)
    });
    drop(d);
    drop(topo);
}

/// A DNS server in a container on a user-defined network publishing 53/udp
/// (pihole, coredns...): the container's port 53 must be free for it, as in
/// Docker (whose embedded DNS listens on 127.0.0.11 on a random port, DNAT'd
/// from 53 inside the container; berth rewrites the port statelessly), and the
/// container still resolves names through 127.0.0.11:53.
#[test]
fn udp_53_server_on_user_defined_network() {
    let env = require_setup!("ports-dns53");
    let (d, topo) = (&env.daemon, &env.topo);
    d.ok(&["network", "create", "unet"]);
    run_udp_echo_with(d, "dns", &["--network", "unet", "-p", "5356:53/udp"], 53);
    let host = topo.host_ip().to_string();
    let want = format!("echo q from {}", topo.outside_ip());
    let mut last = None;
    let ok = wait_until(READY, || {
        let o = udp_send(topo.outside_ns(), &host, 5356, "q");
        let good = o.success() && o.out() == want;
        last = Some(o);
        good
    });
    assert!(ok, "UDP to {host}:5356 → dns:53: last:\n{}", last.unwrap());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "unet",
        BB,
        "sleep",
        "60",
    ]);
    let found = d.berth(&["exec", "dns", "getent", "hosts", "peer"]);
    assert!(
        found.success() && found.out().contains("peer"),
        "name lookup in a container whose own server holds port 53:\n{found}"
    );
}

/// A UDP client that keeps its source port (DNS, syslog, statsd...) reaches
/// the container now publishing the port, not the removed one it talked to
/// before: Docker deletes the conntrack entries of an unpublished UDP port.
#[test]
fn udp_flow_follows_a_replaced_container() {
    let env = require_setup!("ports-udp-ct");
    let (d, topo) = (&env.daemon, &env.topo);
    d.ok(&["network", "create", "--subnet", "172.31.77.0/24", "unet"]);
    run_udp_echo_with(
        d,
        "first",
        &[
            "--network",
            "unet",
            "--ip",
            "172.31.77.10",
            "-p",
            "5355:5000/udp",
        ],
        5000,
    );
    let host = topo.host_ip().to_string();
    let mut last = None;
    let ok = wait_until(READY, || {
        let o = udp_send_from(topo.outside_ns(), &host, 5355, "one", 41234);
        let good = o.success() && o.out().starts_with("echo one from");
        last = Some(o);
        good
    });
    assert!(ok, "UDP to first:\n{}", last.unwrap());
    d.ok(&["rm", "-f", "first"]);
    run_udp_echo_with(
        d,
        "second",
        &[
            "--network",
            "unet",
            "--ip",
            "172.31.77.11",
            "-p",
            "5355:5000/udp",
        ],
        5000,
    );
    // A new flow reaches second...
    let mut last = None;
    let ok = wait_until(READY, || {
        let o = udp_send(topo.outside_ns(), &host, 5355, "fresh");
        let good = o.success() && o.out().starts_with("echo fresh from");
        last = Some(o);
        good
    });
    assert!(ok, "UDP (new flow) to second:\n{}", last.unwrap());
    // ...and so does the old one: same client address and port as before.
    let mut last = None;
    let ok = wait_until(Duration::from_secs(4), || {
        let o = udp_send_from(topo.outside_ns(), &host, 5355, "two", 41234);
        let good = o.success() && o.out().starts_with("echo two from");
        last = Some(o);
        good
    });
    let ct = berth_tests::in_ns(topo.host_ns(), &["cat", "/proc/net/nf_conntrack"]);
    let ct: Vec<&str> = ct.stdout.lines().filter(|l| l.contains("41234")).collect();
    assert!(
        ok,
        "a UDP flow from {}:41234 still goes to the removed container (stale conntrack \
         entry) instead of second; last:\n{}\nsecond's log:\n{}\nconntrack entries of the \
         flow in the host namespace:\n{}",
        topo.outside_ip(),
        last.unwrap(),
        d.berth(&["logs", "second"]),
        ct.join("\n")
    );
}

// ---------------------------------------------------------------- isolation

#[test]
fn container_addresses_are_not_reachable_directly_from_outside() {
    let env = require_setup!("ports-direct");
    let (d, topo) = (&env.daemon, &env.topo);
    // 80 is published, 81 is not.
    run_named(
        d,
        "web",
        &["-p", "8084:80"],
        &[
            "sh",
            "-c",
            "httpd -p 81 -h /etc && exec httpd -f -p 80 -h /etc",
        ],
    );
    let cip = container_ip(d, "web");
    let net: Value = serde_json::from_str(&d.ok(&["network", "inspect", "bridge"]))
        .expect("network inspect bridge: JSON");
    let subnet = net[0]["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap_or_else(|| panic!("bridge IPAM: {}", net[0]["IPAM"]))
        .to_string();
    let o = berth_tests::in_ns(
        topo.outside_ns(),
        &[
            "ip",
            "route",
            "add",
            &subnet,
            "via",
            &topo.host_ip().to_string(),
        ],
    );
    assert!(o.success(), "{o}");
    let url = format!("http://{}:8084/hostname", topo.host_ip());
    expect_body(d, "outside → host_ip:8084", "web", || {
        outside_get(topo, &url)
    });
    // The container itself answers on both ports (from inside the host).
    expect_body(d, "host → container:81", "web", || {
        host_get(topo, &format!("http://{cip}:81/hostname"))
    });
    for port in [80, 81] {
        let o = wget_in_ns(
            topo.outside_ns(),
            &format!("http://{cip}:{port}/hostname"),
            2,
        );
        assert_no_answer(d, &format!("outside → container {cip}:{port} directly"), &o);
    }
    // The published port still works afterwards.
    expect_body(d, "outside → host_ip:8084 again", "web", || {
        outside_get(topo, &url)
    });
}

// ---------------------------------------------------------------- IPv6

#[test]
fn ipv6_published_port_from_outside() {
    let env = require_setup!("ports-ipv6");
    let (d, topo) = (&env.daemon, &env.topo);
    for (ns, addr) in [
        (topo.host_ns(), "fd00:1::1/64"),
        (topo.outside_ns(), "fd00:1::2/64"),
    ] {
        let o = berth_tests::in_ns(ns, &["ip", "addr", "add", addr, "dev", "eth0", "nodad"]);
        assert!(o.success(), "{o}");
    }
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:db8:7::/64",
        "v6net",
    ]);
    run_named(d, "web6", &["--network", "v6net", "-p", "8086:80"], HTTPD);
    let lines = port_lines(d, "web6", None);
    assert!(
        lines.contains(&"80/tcp -> 0.0.0.0:8086".to_string())
            && lines.contains(&"80/tcp -> [::]:8086".to_string()),
        "port web6 should show both families: {lines:?}"
    );
    expect_body(d, "outside → [fd00:1::1]:8086", "web6", || {
        outside_get(topo, "http://[fd00:1::1]:8086/hostname")
    });
    let url4 = format!("http://{}:8086/hostname", topo.host_ip());
    expect_body(d, "outside → host_ip:8086 (IPv4)", "web6", || {
        outside_get(topo, &url4)
    });
    // Stop removes the IPv6 forwarding as well.
    d.ok(&["stop", "-t", "1", "web6"]);
    let o = outside_get(topo, "http://[fd00:1::1]:8086/hostname");
    assert_refused(d, "outside → [fd00:1::1]:8086 after stop", &o);
}
