//! VXLAN overlay tests: two "hosts" joined by an underlay, each with an overlay bridge, a VXLAN
//! port and one "container". They need root and only ever touch throwaway network namespaces
//! that they create (and remove again, even on panic); the machine's own namespace is never
//! changed and all traffic stays inside these namespaces.
//!
//! Without root they are skipped with a message, unless `BERTH_REQUIRE_PRIVILEGED=1` is set,
//! in which case they fail.
//!
//! Topology (every box is its own namespace):
//!
//! ```text
//!   [c-a] eth0 10.50.0.2 ──ov-c── ov0 ── vx0 ┐      ┌ vx0 ── ov0 ──ov-c── eth0 10.50.0.3 [c-b]
//!                            [host-a]  ul0 10.240.0.1  ul0 10.240.0.2  [host-b]
//!                                          └── ul-a ── ulbr ── ul-b ──┘  [underlay]
//! ```
//!
//! The VXLAN devices have learning off and no default remote, so only MACs with a static FDB
//! entry cross the tunnel. Address resolution does not cross it at all: the devices have the
//! proxy flag and answer ARP requests / neighbour solicitations from permanent neighbour
//! entries programmed on the VXLAN device (Docker's overlay driver works the same way).

use berth_kernel::netlink::Netlink;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{privileged, Ns};

fn throwaway(test: &str, name: &str) -> Ns {
    Ns::new("berth-vxlan-tests", test, name)
}

/// A child process killed (by its own pid) and reaped on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ping_binary() -> Vec<String> {
    for p in ["/usr/bin/ping", "/bin/ping"] {
        if Path::new(p).exists() {
            return vec![p.into()];
        }
    }
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return vec![p.into(), "ping".into()];
        }
    }
    panic!("no ping and no busybox on this machine");
}

/// Runs `cmd` inside the namespace at `ns`.
fn in_ns(ns: &Path, cmd: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(cmd)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd:?} in {}: {e}", ns.display()))
}

/// Shell-free `ip`/`bridge` output from inside `ns`; panics if the command fails.
fn show(ns: &Path, cmd: &[&str]) -> String {
    let out = in_ns(ns, cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One ping of `ip` with `size` payload bytes from inside `ns`.
fn ping_once(ns: &Path, ip: &str, size: u32) -> bool {
    let mut cmd: Vec<String> = ping_binary();
    cmd.extend(["-c1", "-W1", "-s"].map(String::from));
    cmd.push(size.to_string());
    cmd.push(ip.into());
    let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = in_ns(ns, &cmd);
    if !out.status.success() {
        eprintln!(
            "ping {ip} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// Pings `ip` from `ns`, retrying twice (the first ping may race address resolution).
fn ping_from(ns: &Path, ip: &str) -> bool {
    (0..3).any(|_| ping_once(ns, ip, 56))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const VNI: u32 = 4242;
const PORT: u16 = 4789;
const UNDERLAY_MTU: u32 = 1500;
/// Underlay MTU minus the VXLAN-over-IPv4 overhead (outer IPv4 20 + UDP 8 + VXLAN 8 +
/// inner Ethernet 14).
const OVERLAY_MTU: u32 = UNDERLAY_MTU - 50;
const MAC_A: [u8; 6] = [0x02, 0x42, 0x0a, 0x32, 0x00, 0x02];
const MAC_B: [u8; 6] = [0x02, 0x42, 0x0a, 0x32, 0x00, 0x03];

/// One overlay host: its namespace, its netlink handle, its container and that container's
/// addresses.
struct Host {
    ns: Ns,
    nl: Netlink,
    c: Ns,
    underlay: IpAddr,
    c_ip4: IpAddr,
    c_ip6: IpAddr,
    c_mac: [u8; 6],
}

/// Two hosts on an underlay bridge, each with `ov0` + `vx0` and one container on `ov0`.
/// No FDB or neighbour entries are programmed yet.
struct Overlay {
    a: Host,
    b: Host,
    _underlay: Ns,
}

async fn build_overlay(test: &str) -> Overlay {
    let ul = throwaway(test, "ul");
    let ul_nl = Netlink::open(&ul.path).await.unwrap();
    ul_nl
        .ensure_bridge("ulbr", Some(UNDERLAY_MTU))
        .await
        .unwrap();
    let mut hosts = Vec::new();
    for (x, n, mac) in [("a", 2u8, MAC_A), ("b", 3u8, MAC_B)] {
        let ns = throwaway(test, &format!("host-{x}"));
        let c = throwaway(test, &format!("c-{x}"));
        let underlay = ip(&format!("10.240.0.{}", n - 1));

        ul_nl
            .create_veth(
                &format!("ul-{x}"),
                "ulbr",
                Some(UNDERLAY_MTU),
                &ns.path,
                "ul0",
            )
            .await
            .unwrap();
        let nl = Netlink::open(&ns.path).await.unwrap();
        nl.configure_interface(
            "ul0",
            None,
            Some(UNDERLAY_MTU),
            &[ipnet::IpNet::new(underlay, 24).unwrap()],
            None,
            None,
        )
        .await
        .unwrap();

        nl.ensure_bridge("ov0", Some(OVERLAY_MTU)).await.unwrap();
        let vx = nl
            .ensure_vxlan("vx0", VNI, underlay, PORT, "ov0", Some(OVERLAY_MTU))
            .await
            .unwrap();
        assert_eq!(nl.link_index("vx0").await.unwrap(), Some(vx));

        nl.create_veth("ov-c", "ov0", Some(OVERLAY_MTU), &c.path, "eth0")
            .await
            .unwrap();
        let c_ip4 = ip(&format!("10.50.0.{n}"));
        let c_ip6 = ip(&format!("fd50::{n}"));
        let cn = Netlink::open(&c.path).await.unwrap();
        cn.configure_interface(
            "eth0",
            Some(mac),
            Some(OVERLAY_MTU),
            &[
                ipnet::IpNet::new(c_ip4, 24).unwrap(),
                ipnet::IpNet::new(c_ip6, 64).unwrap(),
            ],
            None,
            None,
        )
        .await
        .unwrap();
        hosts.push(Host {
            ns,
            nl,
            c,
            underlay,
            c_ip4,
            c_ip6,
            c_mac: mac,
        });
    }
    let b = hosts.pop().unwrap();
    let a = hosts.pop().unwrap();
    assert!(
        ping_from(&a.ns.path, &b.underlay.to_string()),
        "underlay host-a -> host-b"
    );
    Overlay {
        a,
        b,
        _underlay: ul,
    }
}

/// Programs `local` with everything needed to reach `peer`'s container: the FDB entry for its
/// MAC and neighbour entries for its addresses, all on the VXLAN device.
async fn program_peer(local: &Host, peer: &Host) {
    local
        .nl
        .fdb_add("vx0", peer.c_mac, peer.underlay)
        .await
        .unwrap();
    for addr in [peer.c_ip4, peer.c_ip6] {
        local.nl.neigh_add("vx0", addr, peer.c_mac).await.unwrap();
    }
}

#[tokio::test]
async fn vxlan_overlay_between_two_hosts() {
    if !privileged("vxlan_overlay_between_two_hosts") {
        return;
    }
    let ov = build_overlay("flow").await;
    let (a, b) = (&ov.a, &ov.b);
    let b4 = b.c_ip4.to_string();
    let b6 = b.c_ip6.to_string();

    // The device is what was asked for: static, proxying, on the bridge, right MTU.
    let details = show(&a.ns.path, &["ip", "-d", "link", "show", "vx0"]);
    for want in [
        "vxlan id 4242",
        "local 10.240.0.1",
        "dstport 4789",
        "nolearning",
        "proxy",
        "master ov0",
        "mtu 1450",
        "state UNKNOWN",
    ] {
        assert!(details.contains(want), "{want:?} missing in: {details}");
    }
    assert!(!details.contains(" remote "), "{details}");

    // Nothing programmed: the containers cannot reach each other.
    assert!(!ping_once(&a.c.path, &b4, 56), "no fdb/neighbour yet");

    program_peer(a, b).await;
    program_peer(b, a).await;
    // Programming again changes nothing and is not an error.
    program_peer(a, b).await;
    program_peer(b, a).await;

    assert!(ping_from(&a.c.path, &b4), "c-a -> c-b over vxlan (IPv4)");
    assert!(ping_from(&b.c.path, &a.c_ip4.to_string()), "c-b -> c-a");
    assert!(ping_from(&a.c.path, &b6), "c-a -> c-b over vxlan (IPv6)");
    // A full-size frame (overlay MTU 1450 = 1422 ICMP payload + 28) fits the 1500 underlay.
    assert!(
        ping_once(&a.c.path, &b4, OVERLAY_MTU - 28),
        "full-size frame"
    );

    // The container resolved c-b through the proxy, to the programmed MAC.
    let neigh = show(&a.c.path, &["ip", "neigh", "show", &b4]);
    assert!(neigh.contains("02:42:0a:32:00:03"), "{neigh}");
    // Learning is off: the VXLAN FDB holds only the permanent entry we added.
    let fdb = show(&a.ns.path, &["bridge", "fdb", "show", "dev", "vx0"]);
    let vx_entries: Vec<&str> = fdb.lines().filter(|l| l.contains(" dst ")).collect();
    assert_eq!(vx_entries.len(), 1, "{fdb}");
    assert!(
        vx_entries[0].contains("02:42:0a:32:00:03 dst 10.240.0.2")
            && vx_entries[0].contains("self permanent"),
        "{fdb}"
    );
    let neighs = show(&a.ns.path, &["ip", "neigh", "show", "dev", "vx0"]);
    assert!(
        neighs.contains("10.50.0.3 lladdr 02:42:0a:32:00:03 PERMANENT")
            && neighs.contains("fd50::3 lladdr 02:42:0a:32:00:03 PERMANENT"),
        "{neighs}"
    );

    // Without the FDB entry, frames for c-b's MAC are dropped at host-a's VXLAN device
    // (c-a still has c-b's MAC cached, so this is not an ARP failure).
    a.nl.fdb_del("vx0", b.c_mac, b.underlay).await.unwrap();
    a.nl.fdb_del("vx0", b.c_mac, b.underlay).await.unwrap(); // absent: Ok
    let fdb = show(&a.ns.path, &["bridge", "fdb", "show", "dev", "vx0"]);
    assert!(!fdb.contains(" dst "), "{fdb}");
    assert!(!ping_once(&a.c.path, &b4, 56), "fdb entry removed");
    a.nl.fdb_add("vx0", b.c_mac, b.underlay).await.unwrap();
    assert!(ping_from(&a.c.path, &b4), "fdb entry restored");

    // Without the neighbour entry (and with c-a's cache flushed), ARP goes unanswered.
    a.nl.neigh_del("vx0", b.c_ip4).await.unwrap();
    a.nl.neigh_del("vx0", b.c_ip4).await.unwrap(); // absent: Ok
    show(&a.c.path, &["ip", "neigh", "flush", "dev", "eth0"]);
    assert!(!ping_once(&a.c.path, &b4, 56), "neighbour entry removed");
    let neigh = show(&a.c.path, &["ip", "neigh", "show", &b4]);
    assert!(!neigh.contains("lladdr"), "{neigh}");
    // The IPv6 entry is independent of the IPv4 one.
    assert!(ping_from(&a.c.path, &b6), "IPv6 still resolves");
    a.nl.neigh_add("vx0", b.c_ip4, b.c_mac).await.unwrap();
    assert!(ping_from(&a.c.path, &b4), "neighbour entry restored");

    // An add moves an entry: a neighbour to another MAC, an FDB entry to another VTEP.
    a.nl.neigh_add("vx0", b.c_ip4, [2, 0x42, 0, 0, 0, 0x99])
        .await
        .unwrap();
    let neighs = show(
        &a.ns.path,
        &["ip", "neigh", "show", "dev", "vx0", "to", &b4],
    );
    assert!(neighs.contains("02:42:00:00:00:99"), "{neighs}");
    a.nl.neigh_add("vx0", b.c_ip4, b.c_mac).await.unwrap();
    a.nl.fdb_add("vx0", b.c_mac, ip("10.240.0.9"))
        .await
        .unwrap();
    let fdb = show(&a.ns.path, &["bridge", "fdb", "show", "dev", "vx0"]);
    let vx_entries: Vec<&str> = fdb.lines().filter(|l| l.contains(" dst ")).collect();
    assert_eq!(vx_entries.len(), 1, "{fdb}");
    assert!(vx_entries[0].contains("dst 10.240.0.9"), "{fdb}");
    // Deleting with the wrong remote leaves the entry alone.
    a.nl.fdb_del("vx0", b.c_mac, b.underlay).await.unwrap();
    let fdb = show(&a.ns.path, &["bridge", "fdb", "show", "dev", "vx0"]);
    assert!(fdb.contains("dst 10.240.0.9"), "{fdb}");
    a.nl.fdb_add("vx0", b.c_mac, b.underlay).await.unwrap();
    assert!(ping_from(&a.c.path, &b4), "fdb entry back on host-b");

    // Teardown: entries go with the device; deleting them afterwards is still Ok.
    a.nl.delete_link("vx0").await.unwrap();
    a.nl.fdb_del("vx0", b.c_mac, b.underlay).await.unwrap();
    a.nl.neigh_del("vx0", b.c_ip4).await.unwrap();
    assert!(!ping_once(&a.c.path, &b4, 56), "vxlan device deleted");
    b.nl.delete_link("vx0").await.unwrap();
    for h in [a, b] {
        h.nl.delete_link("ov-c").await.unwrap();
        h.nl.delete_link("ov0").await.unwrap();
        let names = h.nl.link_names().await.unwrap();
        assert!(
            !names
                .iter()
                .any(|n| n == "vx0" || n == "ov0" || n == "ov-c"),
            "{names:?}"
        );
    }
}

#[tokio::test]
async fn ensure_vxlan_adopts_and_refuses() {
    if !privileged("ensure_vxlan_adopts_and_refuses") {
        return;
    }
    let host = throwaway("ensure", "host");
    let nl = Netlink::open(&host.path).await.unwrap();
    let local = ip("10.240.1.1");
    nl.ensure_bridge("ov0", Some(1450)).await.unwrap();
    nl.ensure_bridge("ov1", Some(1450)).await.unwrap();

    // A missing master is named, and nothing is left behind.
    let err = nl
        .ensure_vxlan("vx0", VNI, local, PORT, "nobr0", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nobr0") && err.contains("vx0"), "{err}");
    assert_eq!(nl.link_index("vx0").await.unwrap(), None);

    let idx = nl
        .ensure_vxlan("vx0", VNI, local, PORT, "ov0", Some(1450))
        .await
        .unwrap();
    assert_eq!(
        nl.ensure_vxlan("vx0", VNI, local, PORT, "ov0", Some(1450))
            .await
            .unwrap(),
        idx,
        "repeat"
    );

    // A matching device that lost its master, MTU and up state is adopted and restored.
    show(
        &host.path,
        &[
            "ip", "link", "set", "vx0", "nomaster", "down", "mtu", "1400",
        ],
    );
    assert_eq!(
        nl.ensure_vxlan("vx0", VNI, local, PORT, "ov0", Some(1450))
            .await
            .unwrap(),
        idx,
        "adopted"
    );
    let details = show(&host.path, &["ip", "-d", "link", "show", "vx0"]);
    for want in ["master ov0", "mtu 1450", ",UP", "nolearning", "proxy"] {
        assert!(details.contains(want), "{want:?} missing in: {details}");
    }
    // Moving it to another bridge is allowed.
    nl.ensure_vxlan("vx0", VNI, local, PORT, "ov1", None)
        .await
        .unwrap();
    let details = show(&host.path, &["ip", "-d", "link", "show", "vx0"]);
    assert!(details.contains("master ov1"), "{details}");

    // Different VNI / port / local: refused, naming what differs; the device is untouched.
    for (vni, port, loc, want) in [
        (7, PORT, local, "vni 4242"),
        (VNI, 8472, local, "port 4789"),
        (VNI, PORT, ip("10.240.1.2"), "local 10.240.1.1"),
    ] {
        let err = nl
            .ensure_vxlan("vx0", vni, loc, port, "ov0", None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(want) && err.contains("vx0") && err.contains("delete it first"),
            "{err}"
        );
    }
    // A hand-made device with learning on is not silently adopted either.
    show(
        &host.path,
        &[
            "ip",
            "link",
            "add",
            "vx9",
            "type",
            "vxlan",
            "id",
            "9",
            "dstport",
            "4789",
            "local",
            "10.240.1.1",
        ],
    );
    let err = nl
        .ensure_vxlan("vx9", 9, local, PORT, "ov0", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("learning on") && err.contains("proxy off"),
        "{err}"
    );
    assert_eq!(nl.link_index("vx0").await.unwrap(), Some(idx));

    // Not a VXLAN device, bad input.
    let err = nl
        .ensure_vxlan("ov1", VNI, local, PORT, "ov0", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ov1") && err.contains("not a vxlan"), "{err}");
    for (vni, port, loc) in [
        (1 << 24, PORT, local),
        (VNI, 0, local),
        (VNI, PORT, ip("0.0.0.0")),
        (VNI, PORT, ip("239.1.1.1")),
    ] {
        assert!(nl
            .ensure_vxlan("vx1", vni, loc, port, "ov0", None)
            .await
            .is_err());
    }
    assert_eq!(nl.link_index("vx1").await.unwrap(), None);
    assert!(nl
        .ensure_vxlan("vxlan-name-too-long", VNI, local, PORT, "ov0", None)
        .await
        .is_err());

    // An IPv6 underlay works the same way (MTU: underlay - 70).
    nl.ensure_vxlan("vx6", 4243, ip("fd40::1"), PORT, "ov1", Some(1430))
        .await
        .unwrap();
    let details = show(&host.path, &["ip", "-d", "link", "show", "vx6"]);
    assert!(
        details.contains("local fd40::1") && details.contains("mtu 1430"),
        "{details}"
    );

    // FDB entries: the remote's family must match the device's, the device must be VXLAN,
    // and the MAC unicast.
    let mac = [2, 0x42, 0, 0, 0, 1];
    let err = nl
        .fdb_add("vx0", mac, ip("fd40::2"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("vx0") && err.contains("IPv4"), "{err}");
    nl.fdb_add("vx6", mac, ip("fd40::2")).await.unwrap();
    let fdb = show(&host.path, &["bridge", "fdb", "show", "dev", "vx6"]);
    assert!(fdb.contains("dst fd40::2"), "{fdb}");
    nl.fdb_del("vx6", mac, ip("fd40::2")).await.unwrap();
    let err = nl
        .fdb_add("ov0", mac, ip("10.240.1.2"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ov0") && err.contains("not a vxlan"), "{err}");
    let err = nl
        .fdb_add("nodev0", mac, ip("10.240.1.2"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nodev0"), "{err}");
    assert!(nl
        .fdb_add("vx0", [0xff; 6], ip("10.240.1.2"))
        .await
        .is_err());
    assert!(nl.fdb_add("vx0", mac, ip("0.0.0.0")).await.is_err());

    // Neighbour entries: missing device named, bad input refused.
    let err = nl
        .neigh_add("nodev0", ip("10.50.0.9"), mac)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nodev0") && err.contains("10.50.0.9"), "{err}");
    assert!(nl.neigh_add("vx0", ip("224.0.0.1"), mac).await.is_err());
    assert!(nl.neigh_add("vx0", ip("10.50.0.9"), [0; 6]).await.is_err());
    nl.neigh_del("nodev0", ip("10.50.0.9")).await.unwrap();

    for name in ["vx0", "vx6", "vx9", "ov0", "ov1"] {
        nl.delete_link(name).await.unwrap();
    }
}

/// Parses the `receiver` summary line of iperf3's text output into Gbit/s.
fn iperf_gbits(out: &str) -> Option<f64> {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_end().ends_with("receiver"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| w.ends_with("bits/sec"))?;
    let v: f64 = words.get(i.checked_sub(1)?)?.parse().ok()?;
    Some(match words[i] {
        "Gbits/sec" => v,
        "Mbits/sec" => v / 1e3,
        "Kbits/sec" => v / 1e6,
        _ => v / 1e9,
    })
}

/// TCP throughput from `client_ns` to `server_ip` in `server_ns` (iperf3, `secs` seconds).
fn iperf(server_ns: &Path, client_ns: &Path, server_ip: &str, secs: u32) -> f64 {
    let server = Command::new("nsenter")
        .arg(format!("--net={}", server_ns.display()))
        .args(["iperf3", "-s", "-1", "-B", server_ip])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start iperf3 server");
    let _server = ChildGuard(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = in_ns(
            client_ns,
            &[
                "iperf3",
                "-c",
                server_ip,
                "-t",
                &secs.to_string(),
                "-f",
                "g",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return iperf_gbits(&text).unwrap_or_else(|| panic!("no receiver line in: {text}"));
        }
        if Instant::now() > deadline {
            panic!(
                "iperf3 client failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Raw VXLAN TCP throughput between the two container namespaces, next to the underlay's.
/// Run with
/// `cargo test -p berth-kernel --release --test vxlan -- --ignored --nocapture vxlan_throughput`.
#[tokio::test]
#[ignore]
async fn vxlan_throughput() {
    if !privileged("vxlan_throughput") {
        return;
    }
    if Command::new("iperf3").arg("--version").output().is_err() {
        eprintln!("skipping vxlan_throughput: no iperf3 (apt-get install -y iperf3)");
        return;
    }
    let ov = build_overlay("bench").await;
    program_peer(&ov.a, &ov.b).await;
    program_peer(&ov.b, &ov.a).await;
    assert!(ping_from(&ov.a.c.path, &ov.b.c_ip4.to_string()));
    let secs = 5;
    let underlay = iperf(&ov.b.ns.path, &ov.a.ns.path, "10.240.0.2", secs);
    let overlay4 = iperf(&ov.b.c.path, &ov.a.c.path, "10.50.0.3", secs);
    let overlay6 = iperf(&ov.b.c.path, &ov.a.c.path, "fd50::3", secs);
    println!("underlay (veth-bridge-veth, MTU {UNDERLAY_MTU}): {underlay:.2} Gbit/s");
    println!("vxlan overlay IPv4 (MTU {OVERLAY_MTU}):         {overlay4:.2} Gbit/s");
    println!("vxlan overlay IPv6 (MTU {OVERLAY_MTU}):         {overlay6:.2} Gbit/s");
    println!(
        "overlay / underlay: {:.0}%",
        100.0 * overlay4 / underlay.max(f64::MIN_POSITIVE)
    );
    assert!(overlay4 > 0.0 && overlay6 > 0.0);
}

#[test]
fn parses_iperf_receiver_line() {
    let out = "[ ID] Interval           Transfer     Bitrate         Retr\n\
               [  5]   0.00-5.00   sec  5.47 GBytes  9.40 Gbits/sec    0             sender\n\
               [  5]   0.00-5.00   sec  5.46 GBytes  9.38 Gbits/sec                  receiver\n";
    assert_eq!(iperf_gbits(out), Some(9.38));
    let out = "[  5]   0.00-5.00   sec  512 MBytes   859 Mbits/sec                  receiver";
    assert_eq!(iperf_gbits(out), Some(0.859));
    assert_eq!(iperf_gbits("garbage"), None);
}
