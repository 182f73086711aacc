//! Netlink adapter tests. They need root and only ever touch throwaway network namespaces that
//! they create (and remove again, even on panic); the machine's own namespace is never changed.
//!
//! Without root they are skipped with a message, unless `BERTH_REQUIRE_PRIVILEGED=1` is set,
//! in which case they fail.

use berth_kernel::netlink::Netlink;
use berth_kernel::netns;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{privileged, Ns};

fn throwaway(test: &str, name: &str) -> Ns {
    Ns::new("berth-netlink-tests", test, name)
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

/// Pings `ip` once from inside the namespace at `ns`, retrying twice.
fn ping_from(ns: &Path, ip: &str) -> bool {
    let ping = ping_binary();
    for _ in 0..3 {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", ns.display()))
            .args(&ping)
            .args(["-c1", "-W1", ip])
            .output()
            .expect("run nsenter");
        if out.status.success() {
            return true;
        }
        eprintln!(
            "ping {ip} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    false
}

fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}

#[tokio::test]
async fn bridge_veths_and_traffic() {
    if !privileged("bridge_veths_and_traffic") {
        return;
    }
    let host = throwaway("flow", "host");
    let c1 = throwaway("flow", "c1");
    let c2 = throwaway("flow", "c2");
    let nl = Netlink::open(&host.path).await.unwrap();

    let br = nl.ensure_bridge("br-nl", Some(1500)).await.unwrap();
    assert_eq!(
        nl.ensure_bridge("br-nl", Some(1500)).await.unwrap(),
        br,
        "existing bridge accepted"
    );
    assert_eq!(nl.link_index("br-nl").await.unwrap(), Some(br));
    assert_eq!(nl.link_index("nope0").await.unwrap(), None);
    nl.add_address("br-nl", net("10.213.7.1/24")).await.unwrap();
    nl.add_address("br-nl", net("10.213.7.1/24")).await.unwrap(); // already there: Ok
    nl.add_address("br-nl", net("fd00:213:7::1/64"))
        .await
        .unwrap();
    let dests = nl.route_destinations().await.unwrap();
    assert!(dests.contains(&net("10.213.7.0/24")), "{dests:?}");
    assert!(dests.contains(&net("fd00:213:7::/64")), "{dests:?}");
    assert!(dests.iter().all(|d| d.prefix_len() > 0), "{dests:?}");

    for (i, c) in [(2u8, &c1), (3u8, &c2)] {
        let host_if = format!("veth-nl{i}");
        nl.create_veth(&host_if, "br-nl", Some(1500), &c.path, "eth0")
            .await
            .unwrap();
        assert!(nl.link_names().await.unwrap().contains(&host_if));
        let cn = Netlink::open(&c.path).await.unwrap();
        assert!(cn.link_names().await.unwrap().contains(&"eth0".to_string()));
        let addrs = [
            net(&format!("10.213.7.{i}/24")),
            net(&format!("fd00:213:7::{i}/64")),
        ];
        let mac = [0x02, 0x42, 10, 213, 7, i];
        let gw4 = Some(Ipv4Addr::new(10, 213, 7, 1));
        let gw6 = Some("fd00:213:7::1".parse::<Ipv6Addr>().unwrap());
        cn.configure_interface("eth0", Some(mac), Some(1500), &addrs, gw4, gw6)
            .await
            .unwrap();
        // Idempotent: a second run finds everything in place.
        cn.configure_interface("eth0", Some(mac), Some(1500), &addrs, gw4, gw6)
            .await
            .unwrap();
        let dests = cn.route_destinations().await.unwrap();
        assert!(dests.contains(&net("10.213.7.0/24")), "{dests:?}");
        assert!(dests.contains(&net("fd00:213:7::/64")), "{dests:?}");
    }
    // Every container namespace holds only lo and eth0; nothing leaked into the host namespace.
    let names = nl.link_names().await.unwrap();
    assert!(!names.contains(&"eth0".to_string()), "{names:?}");

    assert!(
        ping_from(&c1.path, "10.213.7.3"),
        "c1 -> c2 over the bridge"
    );
    assert!(ping_from(&c2.path, "10.213.7.1"), "c2 -> gateway");
    assert!(ping_from(&c1.path, "127.0.0.1"), "lo is up");

    nl.delete_link("veth-nl2").await.unwrap();
    nl.delete_link("veth-nl2").await.unwrap(); // absent: Ok
    let names = nl.link_names().await.unwrap();
    assert!(!names.contains(&"veth-nl2".to_string()), "{names:?}");
    let c1n = Netlink::open(&c1.path).await.unwrap();
    assert_eq!(
        c1n.link_names().await.unwrap(),
        vec!["lo".to_string()],
        "peer went with the pair"
    );

    nl.delete_link("veth-nl3").await.unwrap();
    nl.delete_link("br-nl").await.unwrap();
    let names = nl.link_names().await.unwrap();
    assert!(
        !names.iter().any(|n| n == "br-nl" || n == "veth-nl3"),
        "{names:?}"
    );
}

#[tokio::test]
async fn failed_veth_leaves_nothing_behind() {
    if !privileged("failed_veth_leaves_nothing_behind") {
        return;
    }
    let host = throwaway("fail", "host");
    let c = throwaway("fail", "c");
    let nl = Netlink::open(&host.path).await.unwrap();
    let cn = Netlink::open(&c.path).await.unwrap();
    let before = nl.link_names().await.unwrap();

    // Missing master bridge.
    let err = nl
        .create_veth("veth-f1", "nobr0", None, &c.path, "eth0")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nobr0") && err.contains("veth-f1"), "{err}");
    assert_eq!(nl.link_names().await.unwrap(), before);
    assert_eq!(cn.link_names().await.unwrap(), vec!["lo".to_string()]);

    // Peer name already taken inside the target namespace: the pair is not created at all.
    nl.ensure_bridge("br-f", None).await.unwrap();
    nl.create_veth("veth-f2", "br-f", None, &c.path, "eth0")
        .await
        .unwrap();
    let err = nl
        .create_veth("veth-f3", "br-f", None, &c.path, "eth0")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("veth-f3"), "{err}");
    let names = nl.link_names().await.unwrap();
    assert!(!names.contains(&"veth-f3".to_string()), "{names:?}");

    // A non-bridge link of the bridge's name is refused, naming it.
    let err = nl
        .ensure_bridge("veth-f2", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("veth-f2") && err.contains("not a bridge"),
        "{err}"
    );

    // Configuring a missing interface names it.
    let err = cn
        .configure_interface("eth9", None, None, &[], None, None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("eth9"), "{err}");
    // A gateway outside every connected subnet is refused by the kernel and named.
    let err = cn
        .configure_interface(
            "eth0",
            None,
            None,
            &[],
            Some(Ipv4Addr::new(192, 0, 2, 1)),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("192.0.2.1") && err.contains("eth0"), "{err}");

    // Bad names are refused before reaching the kernel.
    assert!(nl.delete_link("this-name-is-too-long").await.is_err());
}

/// The kernel's 1024-ports-per-bridge limit is reported as such, not as "Exchange full", and
/// the refused pair is not left behind.
#[tokio::test]
async fn full_bridge_is_a_clear_error() {
    if !privileged("full_bridge_is_a_clear_error") {
        return;
    }
    let host = throwaway("full", "host");
    let c = throwaway("full", "c");
    let nl = Netlink::open(&host.path).await.unwrap();
    nl.ensure_bridge("br-full", None).await.unwrap();
    let max = berth_kernel::netlink::MAX_BRIDGE_PORTS;
    for i in 0..max {
        nl.create_veth(
            &format!("vf{i}"),
            "br-full",
            None,
            &c.path,
            &format!("e{i}"),
        )
        .await
        .unwrap_or_else(|e| panic!("port {i}: {e}"));
    }
    let err = nl
        .create_veth("vf-over", "br-full", None, &c.path, "e-over")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("br-full") && err.contains("at most 1023 ports"),
        "{err}"
    );
    let names = nl.link_names().await.unwrap();
    assert!(!names.contains(&"vf-over".to_string()), "left behind");
}

#[tokio::test]
async fn current_namespace_handle_reads_links() {
    if !privileged("current_namespace_handle_reads_links") {
        return;
    }
    // Read-only in the machine's namespace: listing links must at least show lo.
    let nl = Netlink::current().await.unwrap();
    let names = nl.link_names().await.unwrap();
    assert!(names.contains(&"lo".to_string()), "{names:?}");
    assert!(nl.link_index("lo").await.unwrap().is_some());
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Microbenchmark of one container attach: create_veth + open the container namespace +
/// configure_interface. Run with
/// `cargo test -p berth-kernel --release --test netlink -- --ignored --nocapture attach_bench`.
#[tokio::test]
#[ignore]
async fn attach_bench() {
    if !privileged("attach_bench") {
        return;
    }
    let host = throwaway("bench", "host");
    let c = throwaway("bench", "c");
    let nl = Netlink::open(&host.path).await.unwrap();
    nl.ensure_bridge("br-b", Some(1500)).await.unwrap();
    nl.add_address("br-b", net("10.213.9.1/24")).await.unwrap();
    let addrs = [net("10.213.9.2/24")];
    let gw = Some(Ipv4Addr::new(10, 213, 9, 1));
    let (mut total, mut veth, mut open, mut conf) = (vec![], vec![], vec![], vec![]);
    for _ in 0..100 {
        let t0 = Instant::now();
        nl.create_veth("veth-b", "br-b", Some(1500), &c.path, "eth0")
            .await
            .unwrap();
        let t1 = Instant::now();
        let cn = Netlink::open(&c.path).await.unwrap();
        let t2 = Instant::now();
        cn.configure_interface(
            "eth0",
            Some([2, 0x42, 10, 213, 9, 2]),
            Some(1500),
            &addrs,
            gw,
            None,
        )
        .await
        .unwrap();
        let t3 = Instant::now();
        total.push(t3 - t0);
        veth.push(t1 - t0);
        open.push(t2 - t1);
        conf.push(t3 - t2);
        nl.delete_link("veth-b").await.unwrap();
    }
    for (name, v) in [
        ("attach total", &mut total),
        ("create_veth", &mut veth),
        ("open netns", &mut open),
        ("configure", &mut conf),
    ] {
        v.sort();
        println!(
            "{name:>13}: p50 {:?}  p90 {:?}  max {:?}",
            pct(v, 50),
            pct(v, 90),
            v[v.len() - 1]
        );
    }
    nl.delete_link("br-b").await.unwrap();
}

/// What the kernel alone charges for one more bridge port as the bridge grows: the same single
/// netlink request berth's attach makes (veth pair, peer created in another namespace, host
/// end enslaved and up), timed with 10, 100 and 1000 ports already on the bridge. Nothing of
/// berth's engine is involved, so this is the floor any engine on a Linux bridge pays. Run with
/// `cargo test -p berth-kernel --release --test netlink -- --ignored --nocapture bridge_port_cost`.
#[test]
#[ignore]
fn bridge_port_cost_bench() {
    if !privileged("bridge_port_cost_bench") {
        return;
    }
    let host = throwaway("portcost", "host");
    let c = throwaway("portcost", "c");
    // The whole bench runs on a thread inside the host namespace, as berthd does (its netlink
    // handle is the current namespace's, so a port's sysctl is written directly).
    let peers = c.path.clone();
    berth_kernel::netns::run_in(&host.path, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(port_cost_levels(peers));
        Ok(())
    })
    .unwrap();
}

async fn port_cost_levels(peers: PathBuf) {
    let nl = Netlink::current().await.unwrap();
    nl.ensure_bridge("br-p", Some(1500)).await.unwrap();
    let mut ports = 0;
    let mut first = None;
    for level in [10, 100, 1000] {
        while ports < level {
            let (h, p) = (format!("vp{ports}"), format!("e{ports}"));
            nl.create_veth(&h, "br-p", Some(1500), &peers, &p)
                .await
                .unwrap();
            ports += 1;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut add = vec![];
        for i in 0..40 {
            let (h, p) = (format!("vx{level}-{i}"), format!("ex{level}-{i}"));
            let t0 = Instant::now();
            nl.create_veth(&h, "br-p", Some(1500), &peers, &p)
                .await
                .unwrap();
            add.push(t0.elapsed());
            nl.delete_link(&h).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        add.sort();
        let p50 = pct(&add, 50);
        let base = *first.get_or_insert(p50);
        println!(
            "{level:>5} ports: add one port p50 {p50:?} p90 {:?} ({:.2}x the 10-port p50)",
            pct(&add, 90),
            p50.as_secs_f64() / base.as_secs_f64()
        );
    }
    nl.delete_link("br-p").await.unwrap();
}

/// The route cache agrees with a dump after routes come (an address), go silently (the link
/// goes down: IPv4 sends no route event), come back (up) and go with their link.
#[test]
fn route_watch_follows_the_kernel() {
    use berth_kernel::netlink::RouteWatch;
    if !privileged("route_watch_follows_the_kernel") {
        return;
    }
    let ns = throwaway("routewatch", "a");
    let r = netns::run_in(&ns.path, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let nl = Netlink::current().await?;
            let w = RouteWatch::new(&nl).await?;
            let subnet = net("10.77.1.0/24");
            // Until the cache (fed by events, which may lag a little) equals a fresh dump.
            let agreed = || async {
                let mut last = (Vec::new(), Vec::new());
                for _ in 0..200 {
                    let cached = w.destinations(&nl).await?;
                    let mut dumped = nl.route_destinations().await?;
                    dumped.sort();
                    dumped.dedup();
                    if cached == dumped {
                        return Ok::<_, berth_kernel::KernelError>(cached.contains(&subnet));
                    }
                    last = (cached, dumped);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                panic!("cache {:?} never agreed with dump {:?}", last.0, last.1);
            };
            assert!(!agreed().await?);
            nl.ensure_bridge("brw1", None).await?;
            nl.add_address("brw1", net("10.77.1.1/24")).await?;
            assert!(agreed().await?, "address added");
            nl.unplug("brw1").await?;
            assert!(!agreed().await?, "link down");
            nl.configure_interface("brw1", None, None, &[], None, None)
                .await?;
            assert!(agreed().await?, "link up again");
            nl.delete_link("brw1").await?;
            assert!(!agreed().await?, "link deleted");
            Ok(())
        })
    });
    r.expect("route watch in a throwaway namespace");
}
