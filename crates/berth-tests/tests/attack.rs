//! berth's security promises (SECURITY.md) from an attacker's point of view: a container
//! forging source addresses, a LAN host routing container subnets and loopback to berth's host,
//! a container going for the host's own services or the API socket, and a container fishing for
//! names of networks it is not on.
//!
//! Packets that busybox cannot make (forged sources, raw frames) are made by threads of this
//! test process that `setns`'d into the attacker's network namespace (a container's
//! `SandboxKey`, or the outside namespace) and use raw sockets there; receivers are UDP sockets
//! opened the same way inside the target container's namespace. Every negative check has a
//! positive control made the same way (the same sender, the same receiver), so "nothing
//! arrived" means the packet was dropped, not that the test was broken.
//!
//! Traffic only goes between the test's own namespaces: forwarded DNS queries go to the
//! outside namespace (`--dns`), where nothing answers.

use std::collections::HashSet;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use berth_tests::{
    is_hex_id, ns_command, require_setup, wait_until, Daemon, Topology, BUSYBOX_IMAGE as BB,
};

// ------------------------------------------------------------ namespaces

/// Runs `f` on a fresh thread that joined the network namespace at `ns`. Sockets created there
/// stay in that namespace.
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

/// A UDP socket bound to `0.0.0.0:port` inside the namespace at `ns`.
struct Receiver(UdpSocket);

impl Receiver {
    fn open(ns: &Path, port: u16) -> Receiver {
        let s = in_netns(ns, || {
            UdpSocket::bind(("0.0.0.0", port)).expect("bind the receiver")
        });
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        Receiver(s)
    }
    /// Every payload that arrived within `window` (source address attached).
    fn drain(&self, window: Duration) -> Vec<(String, SocketAddr)> {
        let mut got = Vec::new();
        let t0 = Instant::now();
        let mut buf = [0u8; 2048];
        while t0.elapsed() < window {
            if let Ok((n, from)) = self.0.recv_from(&mut buf) {
                got.push((String::from_utf8_lossy(&buf[..n]).into_owned(), from));
            }
        }
        got
    }
}

// ------------------------------------------------------------ packets

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header + UDP datagram, both checksums right.
fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0x4b,
        0x1d,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    p.extend(src.octets());
    p.extend(dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    let mut udp = Vec::new();
    udp.extend(sport.to_be_bytes());
    udp.extend(dport.to_be_bytes());
    udp.extend((udp_len as u16).to_be_bytes());
    udp.extend([0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend(src.octets());
    pseudo.extend(dst.octets());
    pseudo.extend([0, 17]);
    pseudo.extend((udp_len as u16).to_be_bytes());
    pseudo.extend_from_slice(&udp);
    let c = match checksum(&pseudo) {
        0 => 0xffff,
        c => c,
    };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    p.extend(udp);
    p
}

/// Sends a hand-made IPv4 packet (any source address) from the namespace at `ns`, routed by
/// its destination like any other packet of that namespace.
fn raw_send(ns: &Path, packet: &[u8]) {
    let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
    in_netns(ns, || {
        // SAFETY: plain socket calls on a socket this function owns and closes.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from(dst).to_be();
            let n = libc::sendto(
                fd,
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            assert_eq!(n, packet.len() as isize, "raw sendto {dst}: {err}");
        }
    });
}

fn parse_mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    v.try_into().unwrap_or_else(|_| panic!("not a MAC: {s:?}"))
}

/// The MAC of `dev` in the namespace `ns` (by name).
fn mac_in(ns: &str, dev: &str) -> [u8; 6] {
    let o = berth_tests::in_ns(ns, &["ip", "-o", "link", "show", "dev", dev]);
    let mac = o
        .stdout
        .split("link/ether ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next());
    parse_mac(mac.unwrap_or_else(|| panic!("no MAC for {dev} in {ns}: {o}")))
}

/// Sends an Ethernet frame carrying `packet` out of `dev` of the namespace at `ns`, to
/// `dst_mac`: no routing, no source checks, exactly as a LAN host can.
fn frame_send(ns: &Path, dev: &str, src_mac: [u8; 6], dst_mac: [u8; 6], packet: &[u8]) {
    let mut frame = Vec::with_capacity(14 + packet.len());
    frame.extend(dst_mac);
    frame.extend(src_mac);
    frame.extend([0x08, 0x00]);
    frame.extend_from_slice(packet);
    let dev = std::ffi::CString::new(dev).expect("device name");
    in_netns(ns, || {
        // SAFETY: plain socket calls on a socket this function owns and closes.
        unsafe {
            let ifindex = libc::if_nametoindex(dev.as_ptr());
            assert!(ifindex > 0, "no interface {dev:?}");
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(
                fd >= 0,
                "packet socket: {}",
                std::io::Error::last_os_error()
            );
            let mut sa: libc::sockaddr_ll = std::mem::zeroed();
            sa.sll_family = libc::AF_PACKET as u16;
            sa.sll_protocol = (libc::ETH_P_IP as u16).to_be();
            sa.sll_ifindex = ifindex as i32;
            sa.sll_halen = 6;
            sa.sll_addr[..6].copy_from_slice(&dst_mac);
            let n = libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            );
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            assert_eq!(n, frame.len() as isize, "packet sendto: {err}");
        }
    });
}

#[derive(Debug, PartialEq)]
enum Probe {
    Connected,
    Refused,
    TimedOut,
    Other(String),
}

fn tcp_probe(ns: &Path, to: SocketAddr, timeout: Duration) -> Probe {
    in_netns(ns, || match TcpStream::connect_timeout(&to, timeout) {
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
    })
}

// ------------------------------------------------------------ berth helpers

fn net_create(d: &Daemon, args: &[&str]) -> String {
    let mut full = vec!["network", "create"];
    full.extend_from_slice(args);
    let id = d.ok(&full);
    assert!(is_hex_id(&id, 64), "network create printed {id:?}");
    id
}

fn run(d: &Daemon, name: &str, net: &str, extra: &[&str], cmd: &[&str]) -> String {
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
    a.extend_from_slice(cmd);
    let id = d.ok(&a);
    assert!(is_hex_id(&id, 64), "run -d printed {id:?}");
    id
}

const SLEEP: &[&str] = &["sleep", "600"];
const HTTPD: &[&str] = &["httpd", "-f", "-p", "80", "-h", "/etc"];

fn ip4(d: &Daemon, c: &str, net: &str) -> Ipv4Addr {
    let v = d.inspect(c);
    v["NetworkSettings"]["Networks"][net]["IPAddress"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{c} has no IPv4 address on {net}: {}", v["NetworkSettings"]))
}

fn gateway(d: &Daemon, c: &str, net: &str) -> Ipv4Addr {
    let v = d.inspect(c);
    v["NetworkSettings"]["Networks"][net]["Gateway"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{c} has no gateway on {net}: {}", v["NetworkSettings"]))
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

fn sysctl_in_host(topo: &Topology, key: &str) -> String {
    topo.in_host(&["cat", &format!("/proc/sys/{}", key.replace('.', "/"))])
        .out()
        .to_string()
}

/// A process of the test's own in one of its namespaces; killed by its pid when dropped.
struct NsProc(Child);

impl Drop for NsProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------------ tests

/// A container on network A forges the source address of a container on network B (and other
/// addresses) and sends to a container on B: nothing arrives. The same forged packet sent from
/// B's own bridge arrives, so the sender works.
#[test]
fn forged_source_addresses_do_not_cross_networks() {
    let env = require_setup!("atk-spoof");
    let (d, topo) = (&env.daemon, &env.topo);
    net_create(d, &["--subnet", "10.71.0.0/24", "spoof-a"]);
    net_create(d, &["--subnet", "10.72.0.0/24", "spoof-b"]);
    run(d, "a1", "spoof-a", &[], SLEEP);
    run(d, "b1", "spoof-b", &[], SLEEP);
    run(d, "b2", "spoof-b", &[], SLEEP);
    let (a1, b1, b2) = (
        ip4(d, "a1", "spoof-a"),
        ip4(d, "b1", "spoof-b"),
        ip4(d, "b2", "spoof-b"),
    );
    let gw_b = gateway(d, "b1", "spoof-b");
    let (ns_a1, ns_b1, ns_b2) = (sandbox(d, "a1"), sandbox(d, "b1"), sandbox(d, "b2"));
    let rx = Receiver::open(&ns_b1, 9999);

    // Control: the forging sender works inside network B.
    raw_send(&ns_b2, &ipv4_udp(b2, b1, 4000, 9999, b"control-from-b2"));
    let got = rx.drain(Duration::from_millis(300));
    assert!(
        got.iter()
            .any(|(m, f)| m == "control-from-b2" && f.ip() == std::net::IpAddr::V4(b2)),
        "control: a raw packet from b2 to b1 did not arrive ({got:?}); the test's sender is broken"
    );

    // The attack, from a1 on network A.
    let forged = [
        (b2, "b2 (a container on B)"),
        (gw_b, "B's gateway"),
        (b1, "b1 itself"),
        (topo.host_ip(), "the host's LAN address"),
        (topo.outside_ip(), "a LAN host"),
        (a1, "a1's own address"),
    ];
    for (i, (src, _)) in forged.iter().enumerate() {
        for _ in 0..3 {
            raw_send(
                &ns_a1,
                &ipv4_udp(
                    *src,
                    b1,
                    5000 + i as u16,
                    9999,
                    format!("spoofed-{i}").as_bytes(),
                ),
            );
        }
    }
    // And plainly, through a1's own UDP socket.
    in_netns(&ns_a1, || {
        let s = UdpSocket::bind(("0.0.0.0", 0)).expect("bind");
        for _ in 0..3 {
            let _ = s.send_to(b"plain-from-a1", (b1, 9999));
        }
    });
    let got = rx.drain(Duration::from_millis(700));
    let rp = format!(
        "host namespace: rp_filter all={} default={}",
        sysctl_in_host(topo, "net.ipv4.conf.all.rp_filter"),
        sysctl_in_host(topo, "net.ipv4.conf.default.rp_filter")
    );
    let leaked: Vec<String> = got
        .iter()
        .map(|(m, f)| {
            let what = m
                .strip_prefix("spoofed-")
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| forged.get(i))
                .map(|(ip, w)| format!("forged source {ip} ({w})"))
                .unwrap_or_else(|| m.clone());
            format!("{what}, seen from {f}")
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "datagrams from a1 on network A reached b1 on network B:\n{}\n({rp})\nnft ruleset:\n{}",
        leaked.join("\n"),
        topo.in_host(&["nft", "list", "ruleset"]).stdout
    );

    // Control again, after the attack: b1's receiver still works.
    raw_send(&ns_b2, &ipv4_udp(b2, b1, 4001, 9999, b"control-again"));
    let got = rx.drain(Duration::from_millis(300));
    assert!(got.iter().any(|(m, _)| m == "control-again"), "{got:?}");
}

/// A LAN host that routes the container subnet (and even loopback) to berth's host: it reaches
/// published ports through the host's address, and nothing else — not the containers'
/// addresses (even published containers, even with a forged neighbour source), not ports
/// published on 127.0.0.1 (frames with destination 127.0.0.1 sent straight to the host's MAC:
/// moby #45610).
#[test]
fn lan_host_reaches_published_ports_only() {
    let env = require_setup!("atk-lan");
    let (d, topo) = (&env.daemon, &env.topo);
    net_create(d, &["--subnet", "10.73.0.0/24", "lan-pub"]);
    run(d, "web", "lan-pub", &["-p", "8088:80"], HTTPD);
    run(
        d,
        "udp",
        "lan-pub",
        &["-p", "127.0.0.1:5355:9999/udp", "-p", "5356:9999/udp"],
        SLEEP,
    );
    let web = ip4(d, "web", "lan-pub");
    let udp = ip4(d, "udp", "lan-pub");
    let host = topo.host_ip();
    let out_ns = topo.outside_ns_path();
    let o = topo.in_outside(&[
        "ip",
        "route",
        "add",
        "10.73.0.0/24",
        "via",
        &host.to_string(),
    ]);
    assert!(o.success(), "{o}");

    // Control: the published port answers from the LAN.
    let pub_addr = SocketAddr::from((host, 8088));
    assert!(
        wait_until(Duration::from_secs(10), || tcp_probe(
            &out_ns,
            pub_addr,
            Duration::from_secs(1)
        ) == Probe::Connected),
        "control: {pub_addr} (published) does not answer from the LAN"
    );
    // web's port 80 answers on the host (so the negative checks below mean something).
    assert_eq!(
        tcp_probe(
            &topo.host_ns_path(),
            SocketAddr::from((web, 80)),
            Duration::from_secs(2)
        ),
        Probe::Connected
    );
    // Direct TCP to the container's address: no answer (not even a refusal).
    for port in [80, 22, 8088] {
        let p = tcp_probe(
            &out_ns,
            SocketAddr::from((web, port)),
            Duration::from_secs(1),
        );
        assert!(
            matches!(p, Probe::TimedOut | Probe::Other(_)),
            "LAN → {web}:{port} (container address, routed via the host): {p:?}"
        );
    }
    let o = topo.in_outside(&["ping", "-c1", "-W1", &web.to_string()]);
    assert!(!o.success(), "the LAN pinged container {web}:\n{o}");

    // Raw frames from the LAN, straight to the host's MAC.
    let rx = Receiver::open(&sandbox(d, "udp"), 9999);
    // Control 1: from the host itself, 127.0.0.1:5355 reaches the container.
    in_netns(&topo.host_ns_path(), || {
        let s = UdpSocket::bind(("127.0.0.1", 0)).expect("bind");
        s.send_to(b"host-loopback", ("127.0.0.1", 5355))
            .expect("send");
    });
    let (host_mac, out_mac) = (
        mac_in(topo.host_ns(), "eth0"),
        mac_in(topo.outside_ns(), "eth0"),
    );
    let lan = topo.outside_ip();
    let frame = |src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, msg: &str| {
        frame_send(
            &out_ns,
            "eth0",
            out_mac,
            host_mac,
            &ipv4_udp(src, dst, sport, dport, msg.as_bytes()),
        )
    };
    // Control 2: the same kind of frame to the host's address and the 0.0.0.0 binding.
    frame(lan, host, 6000, 5356, "lan-published");
    let got = rx.drain(Duration::from_millis(400));
    let msgs: HashSet<&str> = got.iter().map(|(m, _)| m.as_str()).collect();
    assert!(
        msgs.contains("host-loopback"),
        "control: host → 127.0.0.1:5355/udp did not reach the container: {got:?}"
    );
    assert!(
        msgs.contains("lan-published"),
        "control: a raw frame from the LAN to {host}:5356/udp did not reach the container: {got:?}"
    );

    let attacks = [
        (
            lan,
            Ipv4Addr::LOCALHOST,
            5355,
            "to 127.0.0.1:5355 (published on 127.0.0.1)",
        ),
        (
            lan,
            Ipv4Addr::LOCALHOST,
            5356,
            "to 127.0.0.1:5356 (published on 0.0.0.0)",
        ),
        (lan, Ipv4Addr::new(127, 1, 2, 3), 5356, "to 127.1.2.3:5356"),
        (lan, udp, 9999, "to the container's address"),
        (
            Ipv4Addr::new(10, 73, 0, 77),
            udp,
            9999,
            "to the container's address, forged neighbour source",
        ),
        (
            web,
            udp,
            9999,
            "to the container's address, forged source of another container",
        ),
    ];
    for (i, (src, dst, port, _)) in attacks.iter().enumerate() {
        for _ in 0..3 {
            frame(*src, *dst, 7000 + i as u16, *port, &format!("attack-{i}"));
        }
    }
    let got = rx.drain(Duration::from_millis(700));
    let leaked: Vec<String> = got
        .iter()
        .map(|(m, f)| {
            let what = m
                .strip_prefix("attack-")
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| attacks.get(i))
                .map(|(s, dst, p, w)| format!("{s} → {dst}:{p} ({w})"))
                .unwrap_or_else(|| m.clone());
            format!("{what}, arrived from {f}")
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "frames from the LAN reached the container:\n{}\nnft ruleset:\n{}",
        leaked.join("\n"),
        topo.in_host(&["nft", "list", "ruleset"]).stdout
    );
}

/// Docker 28's `gateway_mode_ipv4=nat-unprotected`: the LAN reaches any port of the network's
/// containers by routing (not only published ones), while a `nat` network beside it stays
/// closed, other berth networks stay isolated from it, and the unsupported modes are refused
/// with nothing created.
#[test]
fn nat_unprotected_network_is_routable_from_the_lan_and_still_isolated() {
    let env = require_setup!("atk-gwm");
    let (d, topo) = (&env.daemon, &env.topo);
    const MODE: &str = "com.docker.network.bridge.gateway_mode_ipv4";
    for (bad, says) in [("routed", "not supported"), ("bogus", "expected nat or")] {
        let o = d.fails(&[
            "network",
            "create",
            "-o",
            &format!("{MODE}={bad}"),
            "gwm-bad",
        ]);
        assert!(o.stderr.contains(MODE) && o.stderr.contains(says), "{o}");
    }
    assert!(!d.ok(&["network", "ls"]).contains("gwm-bad"));
    let unprot = format!("{MODE}=nat-unprotected");
    net_create(d, &["--subnet", "10.74.0.0/24", "-o", &unprot, "gwm-open"]);
    net_create(d, &["--subnet", "10.75.0.0/24", "gwm-closed"]);
    let opts = d.ok(&["network", "inspect", "-f", "{{json .Options}}", "gwm-open"]);
    assert!(opts.contains("nat-unprotected"), "{opts}");
    run(d, "open-web", "gwm-open", &[], HTTPD);
    run(d, "closed-web", "gwm-closed", &[], HTTPD);
    run(d, "closed-client", "gwm-closed", &[], SLEEP);
    let (open, closed) = (
        ip4(d, "open-web", "gwm-open"),
        ip4(d, "closed-web", "gwm-closed"),
    );
    let host = topo.host_ip().to_string();
    let o = topo.in_outside(&["ip", "route", "add", "10.74.0.0/23", "via", &host]);
    assert!(o.success(), "{o}");

    let out_ns = topo.outside_ns_path();
    let to = |ip: Ipv4Addr| SocketAddr::from((ip, 80));
    assert!(
        wait_until(Duration::from_secs(10), || {
            matches!(
                tcp_probe(&out_ns, to(open), Duration::from_secs(1)),
                Probe::Connected
            )
        }),
        "LAN → {open}:80 on a nat-unprotected network (routed via the host): no connection"
    );
    let p = tcp_probe(&out_ns, to(closed), Duration::from_secs(1));
    assert!(
        matches!(p, Probe::TimedOut | Probe::Other(_)),
        "LAN → {closed}:80 on a nat network: {p:?}"
    );
    // Control: the closed container's server answers its neighbour.
    let client = sandbox(d, "closed-client");
    let p = tcp_probe(&client, to(closed), Duration::from_secs(2));
    assert!(
        matches!(p, Probe::Connected),
        "neighbour → {closed}:80: {p:?}"
    );
    let p = tcp_probe(&client, to(open), Duration::from_secs(1));
    assert!(
        matches!(p, Probe::TimedOut | Probe::Other(_)),
        "gwm-closed's container → {open}:80 on gwm-open (another network): {p:?}"
    );
}

/// A service of the host itself (busybox httpd on port 8555 in the host namespace, all
/// addresses) is reachable from the host and the LAN, but not from containers, through any of
/// the host's addresses; ICMP to the gateway still works.
#[test]
fn containers_do_not_reach_the_hosts_own_services() {
    let env = require_setup!("atk-hostsvc");
    let (d, topo) = (&env.daemon, &env.topo);
    let www = topo.dir().join("www");
    std::fs::create_dir_all(&www).expect("mkdir www");
    std::fs::write(www.join("index.html"), "host-secret\n").expect("write index.html");
    let bb = berth_tests::image::busybox_binary();
    let mut c = ns_command(topo.host_ns(), &bb.to_string_lossy());
    c.args(["httpd", "-f", "-p", "8555", "-h"])
        .arg(&www)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _httpd = NsProc(c.spawn().expect("start httpd in the host namespace"));
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, 8555));
    assert!(
        wait_until(Duration::from_secs(5), || tcp_probe(
            &topo.host_ns_path(),
            local,
            Duration::from_millis(500)
        ) == Probe::Connected),
        "the host's httpd did not start"
    );

    net_create(d, &["--subnet", "10.74.0.0/24", "svc-a"]);
    net_create(d, &["--subnet", "10.75.0.0/24", "svc-b"]);
    run(d, "ca", "svc-a", &[], SLEEP);
    run(d, "other", "svc-b", &[], SLEEP);
    run(d, "dflt", "bridge", &[], SLEEP);
    let gw_a = gateway(d, "ca", "svc-a").to_string();
    let gw_b = gateway(d, "other", "svc-b").to_string();
    let gw_dflt = gateway(d, "dflt", "bridge").to_string();
    let host = topo.host_ip().to_string();

    // Controls: the service answers the host and the LAN on every one of those addresses.
    for ip in [&gw_a, &gw_b, &host] {
        let url = format!("http://{ip}:8555/");
        for (who, ns) in [("host", topo.host_ns()), ("LAN", topo.outside_ns())] {
            if who == "LAN" && ip != &host {
                continue;
            }
            let o = berth_tests::in_ns(
                ns,
                &[
                    "timeout",
                    "3",
                    &bb.to_string_lossy(),
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    &url,
                ],
            );
            assert_eq!(o.out(), "host-secret", "control: {who} → {url}:\n{o}");
        }
    }
    // From containers: no way in, whichever address of the host they try (in parallel: each
    // attempt waits for its timeout).
    let attempts: Vec<(&str, String)> = [
        ("ca", vec![&gw_a, &gw_b, &gw_dflt, &host]),
        ("dflt", vec![&gw_dflt, &gw_a, &host]),
    ]
    .into_iter()
    .flat_map(|(from, ips)| {
        ips.into_iter()
            .map(move |ip| (from, format!("http://{ip}:8555/")))
    })
    .collect();
    thread::scope(|s| {
        let handles: Vec<_> = attempts
            .iter()
            .map(|(from, url)| {
                s.spawn(move || {
                    (
                        from,
                        url,
                        d.berth(&["exec", from, "timeout", "2", "wget", "-q", "-O", "-", url]),
                    )
                })
            })
            .collect();
        for h in handles {
            let (from, url, o) = h.join().expect("exec thread");
            assert!(
                matches!(o.code(), Some(1) | Some(143))
                    && !o.stdout.contains("host-secret")
                    && !o.stderr.contains("Error response"),
                "{from} → the host's own service at {url}: must run and fail:\n{o}"
            );
        }
    });
    // ICMP to the gateway works (containers may ping their gateway).
    for (from, gw) in [("ca", &gw_a), ("dflt", &gw_dflt)] {
        let o = d.berth(&["exec", from, "ping", "-c1", "-W2", gw]);
        assert!(o.success(), "{from} → ping its gateway {gw}:\n{o}");
    }
}

/// The API socket is root on the host: containers must not see it, nor berthd.
#[test]
fn containers_cannot_see_the_api_socket() {
    let env = require_setup!("atk-socket");
    let d = &env.daemon;
    net_create(d, &["sock-net"]);
    run(d, "cs", "sock-net", &[], SLEEP);
    run(d, "c0", "bridge", &[], SLEEP);
    let sock = d.socket().to_string_lossy().into_owned();
    assert!(Path::new(&sock).exists());
    for c in ["cs", "c0"] {
        for path in [
            sock.as_str(),
            "/run/berth/berth.sock",
            "/var/run/docker.sock",
            "/run/docker.sock",
        ] {
            let o = d.berth(&["exec", c, "test", "-e", path]);
            assert_eq!(
                o.code(),
                Some(1),
                "{c}: `test -e {path}` should be false:\n{o}"
            );
        }
        // No unix socket of berthd's in the container's filesystem...
        let o = d.berth(&[
            "exec", c, "find", "/", "-path", "/proc", "-prune", "-o", "-type", "s", "-print",
        ]);
        assert!(o.success(), "{o}");
        assert!(
            !o.stdout.contains("berth") && !o.stdout.contains("docker"),
            "{c}: sockets found:\n{o}"
        );
        // ...nor in its network namespace's table of unix sockets...
        let o = d.berth(&["exec", c, "cat", "/proc/net/unix"]);
        assert!(
            !o.stdout.contains("berth.sock"),
            "{c}: /proc/net/unix:\n{o}"
        );
        // ...and berthd is not among the processes it sees.
        let o = d.berth(&[
            "exec",
            c,
            "sh",
            "-c",
            "cat /proc/[0-9]*/cmdline | tr '\\0' ' '",
        ]);
        assert!(o.success(), "{o}");
        assert!(
            !o.stdout.contains("berthd"),
            "{c} sees berthd's process:\n{o}"
        );
        let o = d.berth(&["exec", c, "sh", "-c", "ls -d /proc/[0-9]* | wc -l"]);
        let n: usize = o.out().parse().unwrap_or(999);
        assert!(
            n <= 4,
            "{c} sees {n} processes (its own PID namespace should hold ~3):\n{o}"
        );
    }
}

/// The embedded DNS answers only names of containers that share a user-defined network with
/// the asker: a name (container name, short id, hostname, alias) that exists only on another
/// network is NXDOMAIN, exactly like a name that does not exist; a container on both networks
/// resolves to its address on the asker's network only; reverse lookups don't give names away.
#[test]
fn dns_does_not_leak_names_of_other_networks() {
    let env = require_setup!("atk-dns");
    let (d, topo) = (&env.daemon, &env.topo);
    let dns = topo.outside_ip().to_string();
    net_create(d, &["--subnet", "10.76.0.0/24", "dns-a"]);
    net_create(d, &["--subnet", "10.77.0.0/24", "dns-b"]);
    // Forwarded queries go to the outside namespace, where nothing answers.
    run(d, "asker", "dns-a", &["--dns", &dns], SLEEP);
    run(d, "friend", "dns-a", &[], SLEEP);
    let secret_id = d.ok(&[
        "run",
        "-d",
        "--name",
        "secretbox",
        "--hostname",
        "secrethost",
        "--network",
        "dns-b",
        "--network-alias",
        "secretalias",
        BB,
        "sleep",
        "600",
    ]);
    run(d, "bothnets", "dns-b", &[], SLEEP);
    d.ok(&["network", "connect", "dns-a", "bothnets"]);
    run(d, "b-asker", "dns-b", &["--dns", &dns], SLEEP);
    let secret_ip = ip4(d, "secretbox", "dns-b");
    let both_a = ip4(d, "bothnets", "dns-a");
    let both_b = ip4(d, "bothnets", "dns-b");

    let lookup = |from: &str, name: &str| {
        d.berth(&[
            "exec",
            from,
            "timeout",
            "10",
            "nslookup",
            name,
            "127.0.0.11",
        ])
    };
    // Controls: names on the asker's network resolve.
    let o = lookup("asker", "friend");
    assert!(
        o.success() && o.stdout.contains(&ip4(d, "friend", "dns-a").to_string()),
        "control:\n{o}"
    );
    let o = lookup("b-asker", "secretalias");
    assert!(
        o.success() && o.stdout.contains(&secret_ip.to_string()),
        "control (alias on B):\n{o}"
    );
    let o = lookup("b-asker", "secrethost");
    assert!(
        o.success() && o.stdout.contains(&secret_ip.to_string()),
        "control (hostname on B):\n{o}"
    );
    // A name that exists nowhere: the reference answer.
    let nowhere = lookup("asker", "nosuchname");
    assert!(
        nowhere.stdout.contains("NXDOMAIN") || nowhere.stderr.contains("NXDOMAIN"),
        "{nowhere}"
    );

    for name in [
        "secretbox",
        "secrethost",
        "secretalias",
        &secret_id[..12],
        "SECRETBOX",
        "b-asker",
    ] {
        let o = lookup("asker", name);
        assert!(
            !o.success() && o.combined().contains("NXDOMAIN") && !o.stdout.contains(&secret_ip.to_string()),
            "asker (network A) looked up {name:?}, which exists only on network B: expected NXDOMAIN:\n{o}"
        );
    }
    // Qualified with B's network name: not answered locally, forwarded (to nothing).
    let o = lookup("asker", "secretbox.dns-b");
    assert!(
        !o.success() && !o.stdout.contains(&secret_ip.to_string()),
        "{o}"
    );
    let o = lookup("b-asker", "asker");
    assert!(
        o.combined().contains("NXDOMAIN"),
        "B → A: expected NXDOMAIN:\n{o}"
    );
    // On both networks: the asker gets the address it can reach, never the other.
    let o = lookup("asker", "bothnets");
    assert!(o.success() && o.stdout.contains(&both_a.to_string()), "{o}");
    assert!(
        !o.stdout.contains(&both_b.to_string()),
        "asker was told bothnets' address on network B:\n{o}"
    );
    // Reverse lookup of B's container from A: no name.
    let o = d.berth(&[
        "exec",
        "asker",
        "timeout",
        "10",
        "nslookup",
        &secret_ip.to_string(),
        "127.0.0.11",
    ]);
    assert!(
        !o.combined().to_lowercase().contains("secret"),
        "reverse lookup leaked a name:\n{o}"
    );
}

/// A container must not send VXLAN (UDP 4789, or 4799 of encrypted overlays) to other hosts:
/// masqueraded to its host's address, it would look like that host's underlay traffic to an
/// overlay peer, which would accept it and let the container inject frames into overlay
/// networks. Another UDP port is the control.
#[test]
fn containers_cannot_send_vxlan_to_other_hosts() {
    let env = require_setup!("atk-vxlan");
    let (d, topo) = (&env.daemon, &env.topo);
    let ports = [4790u16, 4789, 4799];
    let socks: Vec<(u16, UdpSocket)> = in_netns(&topo.outside_ns_path(), || {
        ports
            .iter()
            .map(|p| {
                (
                    *p,
                    UdpSocket::bind(("0.0.0.0", *p)).expect("bind in the outside"),
                )
            })
            .collect()
    });
    net_create(d, &["--subnet", "10.76.0.0/24", "vx-a"]);
    // The reserved `host` image: the host's python3 sends the datagrams.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cv",
        "--network",
        "vx-a",
        "host",
        "sleep",
        "600",
    ]);
    let outside = topo.outside_ip().to_string();
    for (p, s) in &socks {
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .expect("timeout");
        let send = format!(
            "import socket\nfor _ in range(3): socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'vxlan-marker', ('{outside}', {p}))"
        );
        d.ok(&["exec", "cv", "python3", "-c", &send]);
        let mut buf = [0u8; 256];
        let got = s.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec());
        if *p == 4790 {
            assert_eq!(
                got.as_deref(),
                Some(&b"vxlan-marker"[..]),
                "control: UDP {p} from the container should reach the outside"
            );
        } else {
            assert!(
                got.is_none(),
                "UDP {p} (VXLAN) from a container reached another host"
            );
        }
    }
}
