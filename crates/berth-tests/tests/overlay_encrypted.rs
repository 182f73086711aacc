//! Encrypted overlay networks (`network create -d overlay -o encrypted`), as a user sees them:
//! containers on different hosts ping and talk TCP, and the underlay between the hosts carries
//! only WireGuard datagrams — a marker the containers send never appears on the wire, while on
//! an ordinary overlay between the same hosts it does (so the capture can fail). A host whose
//! key changes, or whose berthd restarts, keeps working.
//!
//! Each test builds its own [`Cluster`] of two hosts on an underlay namespace (bridge + etcd);
//! the capture is a raw packet socket in that underlay namespace. Traffic only ever flows
//! inside those namespaces.

use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use berth_tests::capture::Capture;
use berth_tests::cluster::Cluster;
use berth_tests::{is_hex_id, wait_until, Daemon, BUSYBOX_IMAGE as BB};
use serde_json::Value;

const TTL: u32 = 3;
/// Default MTU of an encrypted network (1420 on the WireGuard TUN device, minus VXLAN's 50).
const ENC_MTU: u32 = 1370;

macro_rules! require_cluster {
    ($prefix:expr) => {
        match Cluster::new($prefix, 2, TTL) {
            Some(c) => c,
            None => return,
        }
    };
}

// ---------------------------------------------------------------- helpers

fn net_inspect(d: &Daemon, name: &str) -> Value {
    let out = d.ok(&["network", "inspect", name]);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("network inspect {name}: not JSON ({e}):\n{out}"));
    v[0].clone()
}

/// `network create -d overlay [-o encrypted] NAME` on host 1, seen by host 2.
fn create(c: &Cluster, name: &str, encrypted: bool) -> String {
    let mut args = vec!["network", "create", "-d", "overlay"];
    if encrypted {
        args.extend(["-o", "encrypted"]);
    }
    args.push(name);
    let id = c.d(1).ok(&args);
    assert!(is_hex_id(&id, 64), "network create printed {id:?}");
    let seen = wait_until(Duration::from_secs(5), || {
        c.d(2).berth(&["network", "inspect", name]).success()
    });
    assert!(seen, "host 2 does not see {name}\n{}", c.logs(30));
    id
}

fn run_on(d: &Daemon, name: &str, net: &str, cmd: &[&str]) {
    let mut full = vec![
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        "--network",
        net,
        BB,
    ];
    full.extend_from_slice(cmd);
    let id = d.ok(&full);
    assert!(is_hex_id(&id, 64), "run -d printed {id:?}");
}

/// busybox httpd serving /etc: `GET /hostname` answers the container's name.
fn web(d: &Daemon, name: &str, net: &str) {
    run_on(d, name, net, &["httpd", "-f", "-p", "80", "-h", "/etc"]);
}

fn sleeper(d: &Daemon, name: &str, net: &str) {
    run_on(d, name, net, &["sleep", "600"]);
}

fn ip4(d: &Daemon, c: &str, net: &str) -> String {
    let ep = d.inspect(c)["NetworkSettings"]["Networks"][net].clone();
    let ip = ep["IPAddress"].as_str().unwrap_or("").to_string();
    assert!(
        ip.parse::<Ipv4Addr>().is_ok(),
        "{c} has no address on {net}: {ep}"
    );
    ip
}

fn ping(d: &Daemon, from: &str, target: &str) -> bool {
    d.berth(&["exec", from, "ping", "-c1", "-W1", target])
        .success()
}

fn fetch(d: &Daemon, from: &str, url: &str) -> Option<String> {
    let o = d.berth(&["exec", from, "timeout", "3", "wget", "-qO-", url]);
    o.success().then(|| o.stdout.trim().to_string())
}

/// `from` pings `server` at `target` and fetches its `/hostname` over TCP, within `within`.
fn assert_reaches(
    c: &Cluster,
    d: &Daemon,
    from: &str,
    server: &str,
    target: &str,
    within: Duration,
) {
    let url = format!("http://{target}/hostname");
    let mut last = (false, None);
    let ok = wait_until(within, || {
        last = (ping(d, from, target), fetch(d, from, &url));
        last.0 && last.1.as_deref() == Some(server)
    });
    assert!(
        ok,
        "{from} should reach {server} at {target} within {within:?}: ping ok = {}, `wget {url}` = {:?}\n{}",
        last.0,
        last.1,
        c.logs(40)
    );
}

/// A marker of this run: text the containers send that the wire must not show in clear.
fn marker(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("berth-secret-{tag}-{}-{nanos}", std::process::id())
}

/// Sends `marker` from `from` to the web server at `ip`, as the path of an HTTP request.
fn send_marker(d: &Daemon, from: &str, ip: &str, marker: &str) {
    let url = format!("http://{ip}/{marker}");
    // 404 is fine: the request crossed.
    let o = d.berth(&["exec", from, "timeout", "3", "wget", "-qO-", &url]);
    assert!(
        o.stderr.contains("404") || o.success(),
        "the request to {url} should reach the server (a 404 answer): {o}"
    );
}

/// The record (WireGuard key, endpoint, inner address) a host published in etcd.
fn published(c: &Cluster, host_id: &str) -> Option<Value> {
    let dump = c.etcd.dump(&format!("/berth/v1/wg/{host_id}"));
    let json = dump.lines().find(|l| l.starts_with('{'))?;
    serde_json::from_str(json).ok()
}

fn published_key(c: &Cluster, host_id: &str) -> Option<String> {
    published(c, host_id)?["public_key"]
        .as_str()
        .map(str::to_string)
}

fn host_id(d: &Daemon) -> String {
    std::fs::read_to_string(d.data_root().join("host-id"))
        .expect("host-id in the data root")
        .trim()
        .to_string()
}

// ------------------------------------------------------------------ tests

/// Containers on different hosts on an encrypted overlay ping and talk TCP, by address and by
/// name; the underlay carries WireGuard only (no VXLAN, no marker), while an ordinary overlay
/// between the same hosts shows both.
#[test]
fn encrypted_overlay_traffic_is_sealed_on_the_underlay() {
    let c = require_cluster!("ov-enc");
    create(&c, "encnet", true);
    create(&c, "plain", false);
    for i in 1..=2 {
        let v = net_inspect(c.d(i), "encnet");
        assert!(
            v["Options"].get("encrypted").is_some(),
            "host {i}: inspect should show \"encrypted\" in Options: {v}"
        );
        assert_eq!(
            v["Options"]["com.docker.network.driver.mtu"],
            ENC_MTU.to_string().as_str(),
            "host {i}: {v}"
        );
        let p = net_inspect(c.d(i), "plain");
        assert!(p["Options"].get("encrypted").is_none(), "host {i}: {p}");
    }
    // An MTU that does not fit inside WireGuard and VXLAN is refused, and nothing is created.
    let o = c.d(1).fails(&[
        "network",
        "create",
        "-d",
        "overlay",
        "-o",
        "encrypted",
        "-o",
        "com.docker.network.driver.mtu=1450",
        "bignet",
    ]);
    assert!(o.stderr.contains("at most 1370"), "{o}");
    assert!(!c.d(1).berth(&["network", "inspect", "bignet"]).success());
    // The docker CLI's form (`--opt encrypted`, an empty value) means the same.
    if berth_tests::cli::docker_available() {
        let o = c.d(1).docker(&[
            "network",
            "create",
            "-d",
            "overlay",
            "--opt",
            "encrypted",
            "dnet",
        ]);
        assert!(o.success(), "{o}");
        let v = net_inspect(c.d(1), "dnet");
        assert_eq!(v["Options"]["encrypted"], "", "{v}");
        assert_eq!(v["Options"]["com.docker.network.driver.mtu"], "1370", "{v}");
    }
    let (d1, d2) = (c.d(1), c.d(2));
    web(d2, "s2", "encnet");
    sleeper(d1, "a1", "encnet");
    web(d2, "p2", "plain");
    sleeper(d1, "q1", "plain");
    let s2 = ip4(d2, "s2", "encnet");
    let p2 = ip4(d2, "p2", "plain");
    let t = Duration::from_secs(20);
    assert_reaches(&c, d1, "a1", "s2", &s2, t);
    assert_reaches(&c, d1, "a1", "s2", "s2", t);
    assert_reaches(&c, d1, "q1", "p2", &p2, t);
    // A full-size packet fits the encrypted network's MTU (1370 - 28).
    let o = d1.berth(&["exec", "a1", "ping", "-c1", "-W2", "-s", "1342", &s2]);
    assert!(
        o.success(),
        "a {ENC_MTU}-byte packet should cross the encrypted overlay: {o}"
    );

    // Containers cannot use the tunnel themselves: host 2's inner address is unreachable
    // from a container on the encrypted network and from one on a bridge network (else their
    // masqueraded packets would reach host 2's VXLAN port as if host 1 sent them).
    let inner2 = published(&c, &host_id(d2)).expect("host 2's record")["inner"]
        .as_str()
        .expect("inner address")
        .to_string();
    d1.ok(&["network", "create", "lan"]);
    sleeper(d1, "l1", "lan");
    for from in ["a1", "l1"] {
        let o = d1.berth(&["exec", from, "ping", "-c2", "-W1", &inner2]);
        assert_eq!(
            o.code(),
            Some(1),
            "{from} should not reach host 2's inner address {inner2} through the tunnel: {o}"
        );
    }

    // Encrypted: the wire shows WireGuard datagrams and neither VXLAN nor the marker.
    let secret = marker("enc");
    let cap = Capture::start(&c.underlay.ns_path());
    send_marker(d1, "a1", &s2, &secret);
    assert_reaches(&c, d1, "a1", "s2", &s2, t);
    let wire = cap.stop();
    assert!(
        !wire.contains(secret.as_bytes()),
        "the marker crossed the underlay in plaintext ({} frames captured)",
        wire.len()
    );
    assert_eq!(
        wire.udp_to(4789) + wire.udp_to(4799),
        0,
        "VXLAN on the underlay"
    );
    assert!(
        wire.udp_to(51820) >= 4,
        "the traffic should cross as WireGuard datagrams (UDP 51820); saw {} of {} frames",
        wire.udp_to(51820),
        wire.len()
    );

    // The same capture on the ordinary overlay does see the marker (the check can fail).
    let clear = marker("plain");
    let cap = Capture::start(&c.underlay.ns_path());
    send_marker(d1, "q1", &p2, &clear);
    let wire = cap.stop();
    assert!(
        wire.contains(clear.as_bytes()) && wire.udp_to(4789) > 0,
        "on an unencrypted overlay the marker should be visible in VXLAN frames ({} frames, {} VXLAN)",
        wire.len(),
        wire.udp_to(4789)
    );
}

/// A host whose berthd restarts keeps its encrypted traffic; while its berthd is down, its
/// containers' traffic does not leave in plaintext (it does not leave at all); one whose key
/// changes (key file deleted, berthd restarted) publishes the new key and its peers follow.
#[test]
fn encrypted_overlay_survives_restart_and_key_change() {
    let mut c = require_cluster!("ov-enc-key");
    create(&c, "encnet", true);
    web(c.d(2), "s2", "encnet");
    sleeper(c.d(1), "a1", "encnet");
    let s2 = ip4(c.d(2), "s2", "encnet");
    let t = Duration::from_secs(20);
    assert_reaches(&c, c.d(1), "a1", "s2", &s2, t);

    let key_file = c.d(2).data_root().join("overlay-encryption.key");
    let meta = std::fs::metadata(&key_file).expect("host 2 keeps its private key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "{}",
        key_file.display()
    );
    let id2 = host_id(c.d(2));
    let before = published_key(&c, &id2).expect("host 2's key in etcd");

    // Restart with the same key.
    c.d_mut(2).restart();
    assert_eq!(published_key(&c, &id2).as_deref(), Some(before.as_str()));
    assert_reaches(&c, c.d(1), "a1", "s2", &s2, t);

    // While host 2's berthd is down, its container's traffic does not leave in plaintext.
    let a1 = ip4(c.d(1), "a1", "encnet");
    let s2_pid = c.d(2).inspect("s2")["State"]["Pid"].as_i64().unwrap_or(0);
    assert!(s2_pid > 0, "s2 runs");
    c.d_mut(2).stop();
    let secret = marker("down");
    let cap = Capture::start(&c.underlay.ns_path());
    let url = format!("http://{a1}/{secret}");
    let o = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{s2_pid}/ns/net"))
        .args(["busybox", "timeout", "2", "busybox", "wget", "-qO-", &url])
        .output()
        .expect("nsenter");
    let o2 = std::process::Command::new("nsenter")
        .arg(format!("--net=/proc/{s2_pid}/ns/net"))
        .args(["busybox", "ping", "-c2", "-W1", &a1])
        .output()
        .expect("nsenter");
    let wire = cap.stop();
    assert!(
        !o2.status.success(),
        "s2 reached a1 with host 2's berthd down: {o:?} {o2:?}"
    );
    assert!(
        !wire.contains(secret.as_bytes()) && wire.udp_to(4789) + wire.udp_to(4799) == 0,
        "with berthd down, host 2 leaked the encrypted network's traffic ({} frames)",
        wire.len()
    );

    // A new key.
    std::fs::remove_file(&key_file).unwrap();
    c.d_mut(2).restart();
    let mut after = None;
    wait_until(Duration::from_secs(5), || {
        after = published_key(&c, &id2);
        after.as_ref().is_some_and(|k| *k != before)
    });
    assert!(
        after.as_ref().is_some_and(|k| *k != before),
        "host 2 should publish a new key: before {before}, after {after:?}"
    );
    let started = Instant::now();
    assert_reaches(&c, c.d(1), "a1", "s2", &s2, t);
    assert!(
        wait_until(t, || ping(c.d(2), "s2", "a1")),
        "s2 (host 2, new key) should ping a1 by name\n{}",
        c.logs(40)
    );
    println!(
        "traffic resumed {:?} after the key change",
        started.elapsed()
    );
}

/// Without a cluster store an encrypted overlay is refused like any overlay; with one, a
/// bare `-o encrypted` (Docker's syntax) is accepted.
#[test]
fn encrypted_overlay_needs_a_cluster_store() {
    let Some(env) = berth_tests::setup("ov-enc-nocl") else {
        return;
    };
    let o = env
        .daemon
        .fails(&["network", "create", "-d", "overlay", "-o", "encrypted", "x"]);
    assert!(o.stderr.contains("cluster store"), "{o}");
    assert!(!env.daemon.berth(&["network", "inspect", "x"]).success());
}

// -------------------------------------------------------------- benchmark

fn iperf_bps(json: &str) -> f64 {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("iperf3 -J: {e}:\n{json}"));
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("no end.sum_received in iperf3 output:\n{json}"))
}

/// iperf3 from host 1 to a server container on host 2 over `net` (`secs` seconds).
fn iperf(c: &Cluster, server_ip: &str, net: &str, secs: u32) -> f64 {
    let secs = secs.to_string();
    let mut json = String::new();
    let ok = wait_until(Duration::from_secs(20), || {
        let o = c.d(1).berth(&[
            "run",
            "--rm",
            "--network",
            net,
            "host",
            "iperf3",
            "-c",
            server_ip,
            "-t",
            &secs,
            "-J",
        ]);
        json = o.stdout.clone();
        o.success()
    });
    assert!(ok, "iperf3 over {net} failed:\n{json}\n{}", c.logs(30));
    iperf_bps(&json)
}

/// Round-trip times (ms) of `count` pings from `from` on host 1 to `ip`.
fn rtts(c: &Cluster, from: &str, ip: &str, count: u32) -> Vec<f64> {
    let n = count.to_string();
    let o = c
        .d(1)
        .berth(&["exec", from, "ping", "-c", &n, "-i", "0.05", "-W", "1", ip]);
    assert!(o.success(), "{o}");
    let mut v: Vec<f64> = o
        .stdout
        .lines()
        .filter_map(|l| l.split("time=").nth(1))
        .filter_map(|t| t.trim_end_matches(" ms").trim().parse().ok())
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// CPU seconds (user + system) berthd of host `i` has used so far.
fn berthd_cpu(c: &Cluster, i: usize) -> f64 {
    let pid = c.d(i).pid().expect("berthd running");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("berthd stat");
    // Fields after the command name (which ends with ')'): utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// UDP receive-buffer overruns in host `i`'s namespace so far.
fn udp_rcvbuf_errors(c: &Cluster, i: usize) -> u64 {
    let snmp = c.in_host(i, &["cat", "/proc/net/snmp"]).stdout;
    let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    let (names, values) = (udp[0].split_whitespace(), udp[1].split_whitespace());
    names
        .zip(values)
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[(((sorted.len() - 1) as f64) * p / 100.0).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The cost of encryption: TCP throughput (iperf3) and ping latency between a container on
/// host 1 and one on host 2, encrypted overlay vs ordinary overlay between the same hosts,
/// alternating, `ENC_BENCH_ROUNDS` rounds (default 3). Run with `--ignored --nocapture`.
#[test]
#[ignore]
fn encrypted_overlay_cost_bench() {
    let c = require_cluster!("ov-enc-bench");
    let rounds: usize = std::env::var("ENC_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    create(&c, "encnet", true);
    create(&c, "plain", false);
    let mut servers = Vec::new();
    for net in ["encnet", "plain"] {
        let srv = format!("ips-{net}");
        let id = c.d(2).ok(&[
            "run",
            "-d",
            "--name",
            &srv,
            "--network",
            net,
            "host",
            "iperf3",
            "-s",
        ]);
        assert!(is_hex_id(&id, 64));
        let prb = format!("probe-{net}");
        sleeper(c.d(1), &prb, net);
        let ip = ip4(c.d(2), &srv, net);
        assert!(
            wait_until(Duration::from_secs(20), || ping(c.d(1), &prb, &ip)),
            "{prb} cannot ping {ip}\n{}",
            c.logs(30)
        );
        servers.push((net, ip, prb));
    }
    let mut bps: Vec<(Vec<f64>, Vec<f64>)> = vec![(vec![], vec![]); 2];
    for r in 0..rounds {
        for (k, (net, ip, prb)) in servers.iter().enumerate() {
            let cpu0 = berthd_cpu(&c, 1) + berthd_cpu(&c, 2);
            let drops0 = udp_rcvbuf_errors(&c, 1) + udp_rcvbuf_errors(&c, 2);
            let b = iperf(&c, ip, net, 5);
            let cpu = berthd_cpu(&c, 1) + berthd_cpu(&c, 2) - cpu0;
            let drops = udp_rcvbuf_errors(&c, 1) + udp_rcvbuf_errors(&c, 2) - drops0;
            let l = rtts(&c, prb, ip, 100);
            println!(
                "round {r} {net}: {:.0} Mbit/s, berthd CPU {cpu:.2} s for {:.2} GB ({:.2} s/GB), {drops} UDP receive overruns; ping p50 {:.3} ms p99 {:.3} ms",
                b / 1e6,
                b * 5.0 / 8e9,
                cpu / (b * 5.0 / 8e9),
                pct(&l, 50.0),
                pct(&l, 99.0)
            );
            bps[k].0.push(b);
            bps[k].1.push(pct(&l, 50.0));
        }
        thread::sleep(Duration::from_millis(500));
    }
    let (enc_b, enc_l) = (median(bps[0].0.clone()), median(bps[0].1.clone()));
    let (pl_b, pl_l) = (median(bps[1].0.clone()), median(bps[1].1.clone()));
    println!(
        "medians of {rounds} rounds: encrypted {:.0} Mbit/s, ping p50 {:.3} ms; unencrypted {:.0} Mbit/s, ping p50 {:.3} ms; encrypted/unencrypted throughput {:.0}%",
        enc_b / 1e6,
        enc_l,
        pl_b / 1e6,
        pl_l,
        100.0 * enc_b / pl_b
    );
}
