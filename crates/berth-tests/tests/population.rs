//! Issue 9's load: a *population* of containers on one network, created by many clients at once
//! and then churned — every client removes one of its containers and runs a replacement, over
//! and over — while two canary containers keep resolving and pinging each other by name. Then
//! everything is removed and the host must be back where it started.
//!
//! Checked throughout: no client error; the canaries resolve and reach each other (DNS and
//! connectivity correct under churn); no address is ever held by two containers (`network
//! inspect`); at the end the veths, pinned namespaces and berth's nftables elements are back to
//! the baseline, berthd's descriptors and memory too.
//!
//! - `BERTH_POP` (default 40): the population. By hand: 1000.
//! - `BERTH_POP_CLIENTS` (default 4): concurrent clients. By hand: 16.
//! - `BERTH_POP_SECS` (default 10): how long the churn lasts. By hand: 300.
//!
//! Figures are printed (`--nocapture`): fill time, churn rate, `run`/`rm` p50/p99 under churn,
//! canary checks, berthd RSS and descriptors at the start, peak and end.
//!
//! Also here: the kernel's limit of 1024 ports per bridge is refused with a clear error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use berth_tests::leaks::{assert_daemon_recovered, counts, usage, PeakSampler};
use berth_tests::{berth_timeout, require_setup, wait_until, Daemon, BUSYBOX_IMAGE as BB};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const NET: &str = "popnet";

/// One CLI call with a generous deadline; `Err` carries the whole output.
fn step(d: &Daemon, what: &str, args: &[&str]) -> Result<Duration, String> {
    let t = Instant::now();
    let o = berth_timeout(d, args, Duration::from_secs(120));
    if o.success() {
        Ok(t.elapsed())
    } else {
        Err(format!("{what}:\n{o}"))
    }
}

fn run_sleeper(d: &Daemon, name: &str) -> Result<Duration, String> {
    step(
        d,
        &format!("run {name}"),
        &[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            NET,
            BB,
            "sleep",
            "100000",
        ],
    )
}

/// Container name → IPv4 address on the network, from `network inspect`; errors if an address
/// is held twice.
fn addresses(d: &Daemon, net: &str) -> Result<HashMap<String, String>, String> {
    let raw = d.ok(&["network", "inspect", net]);
    let v: serde_json::Value = serde_json::from_str(&raw).map_err(|e| format!("{e}: {raw}"))?;
    let mut by_name = HashMap::new();
    let mut by_ip: HashMap<String, String> = HashMap::new();
    for c in v[0]["Containers"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        let name = c["Name"].as_str().unwrap_or("?").to_string();
        let ip = c["IPv4Address"].as_str().unwrap_or("").to_string();
        if let Some(other) = by_ip.insert(ip.clone(), name.clone()) {
            return Err(format!("address {ip} held by both {other} and {name}"));
        }
        by_name.insert(name, ip);
    }
    Ok(by_name)
}

/// Runs `work` over every client's names at once (a thread per client); all their errors.
fn per_client(
    slots: &[Vec<String>],
    work: impl Fn(&[String]) -> Vec<String> + Sync,
) -> Vec<String> {
    thread::scope(|s| {
        let hs: Vec<_> = slots
            .iter()
            .map(|names| {
                let work = &work;
                s.spawn(move || work(names))
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a client panicked".into()])
            })
            .collect()
    })
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() - 1) as f64 * p / 100.0).round() as usize]
}

/// What the churning clients measured.
#[derive(Default)]
struct Churn {
    runs: Vec<Duration>,
    rms: Vec<Duration>,
    errors: Vec<String>,
}

/// Client `k`'s loop: replace its containers one after another until `deadline`.
fn churn(d: &Daemon, k: u64, names: &mut [String], deadline: Instant, out: &Mutex<Churn>) {
    let mut gen = 0u64;
    let mut local = Churn::default();
    'outer: while Instant::now() < deadline && local.errors.len() < 5 {
        gen += 1;
        for (j, slot) in names.iter_mut().enumerate() {
            if Instant::now() >= deadline {
                break 'outer;
            }
            match step(d, &format!("rm {slot}"), &["rm", "-f", slot]) {
                Ok(t) => local.rms.push(t),
                Err(e) => local.errors.push(e),
            }
            let next = format!("p{k}x{j}g{gen}");
            match run_sleeper(d, &next) {
                Ok(t) => local.runs.push(t),
                Err(e) => local.errors.push(e),
            }
            *slot = next;
        }
    }
    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
    o.runs.extend(local.runs);
    o.rms.extend(local.rms);
    o.errors.extend(local.errors);
}

/// The canaries' check, once a second until `stop`: resolve and ping by name both ways.
fn canaries(d: &Daemon, stop: &AtomicBool, checks: &AtomicU64) -> Vec<String> {
    let mut failures = Vec::new();
    while !stop.load(Ordering::Relaxed) && failures.len() < 5 {
        for (from, to) in [("cana", "canb"), ("canb", "cana")] {
            let o = berth_timeout(
                d,
                &["exec", from, "ping", "-c1", "-W2", to],
                Duration::from_secs(30),
            );
            if !o.success() {
                failures.push(format!("canary {from} → {to}:\n{o}"));
            }
        }
        checks.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_secs(1));
    }
    failures
}

#[test]
fn population_churn_keeps_names_and_connectivity_and_leaks_nothing() {
    let env = require_setup!("pop");
    let d = &env.daemon;
    let pop = env_u64("BERTH_POP", 40);
    let nclients = env_u64("BERTH_POP_CLIENTS", 4).max(1);
    let secs = env_u64("BERTH_POP_SECS", 10);
    assert!(pop <= 1000, "BERTH_POP must be at most 1000 (one bridge)");
    let pid = d.pid().expect("berthd runs");

    d.ok(&["network", "create", "--subnet", "10.90.0.0/16", NET]);
    for c in ["cana", "canb"] {
        run_sleeper(d, c).unwrap_or_else(|e| panic!("{e}"));
    }
    let base = counts(&env.topo, d);
    let u0 = usage(pid);
    let sampler = PeakSampler::start(pid);

    // Fill: every client runs its share at once.
    let t_fill = Instant::now();
    let mut slots: Vec<Vec<String>> = (0..nclients)
        .map(|k| {
            (0..pop)
                .filter(|i| i % nclients == k)
                .map(|i| format!("p{k}x{}g0", i / nclients))
                .collect()
        })
        .collect();
    let fill_errors = per_client(&slots, |names| {
        names
            .iter()
            .filter_map(|n| run_sleeper(d, n).err())
            .collect()
    });
    let fill = t_fill.elapsed();
    assert!(
        fill_errors.is_empty(),
        "filling: {}",
        fill_errors.join("\n\n")
    );
    let held = addresses(d, NET).unwrap_or_else(|e| panic!("after filling: {e}"));
    assert_eq!(held.len() as u64, pop + 2, "endpoints on {NET}: {held:?}");
    let u_filled = usage(pid);

    // Churn, with the canaries checking all along.
    let stop = AtomicBool::new(false);
    let checks = AtomicU64::new(0);
    let out = Mutex::new(Churn::default());
    let t_churn = Instant::now();
    let deadline = t_churn + Duration::from_secs(secs);
    let canary_failures = thread::scope(|s| {
        let watch = s.spawn(|| canaries(d, &stop, &checks));
        let hs: Vec<_> = slots
            .iter_mut()
            .enumerate()
            .map(|(k, names)| {
                let out = &out;
                s.spawn(move || churn(d, k as u64, names, deadline, out))
            })
            .collect();
        for h in hs {
            if h.join().is_err() {
                out.lock().unwrap().errors.push("a client panicked".into());
            }
        }
        stop.store(true, Ordering::Relaxed);
        watch
            .join()
            .unwrap_or_else(|_| vec!["the canary thread panicked".into()])
    });
    let churned = t_churn.elapsed();
    let mut c = out.into_inner().unwrap_or_else(|e| e.into_inner());
    let held = addresses(d, NET);
    let u_churned = usage(pid);

    // Drain.
    let t_drain = Instant::now();
    let drain_errors = per_client(&slots, |names| {
        names
            .chunks(50)
            .filter_map(|chunk| {
                let mut args = vec!["rm", "-f"];
                args.extend(chunk.iter().map(String::as_str));
                step(d, "rm -f", &args).err()
            })
            .collect()
    });
    let drain = t_drain.elapsed();
    let mut now = counts(&env.topo, d);
    wait_until(Duration::from_secs(10), || {
        now = counts(&env.topo, d);
        now == base
    });
    let peak = sampler.finish();
    let u1 = usage(pid);
    let left = d.ok(&["ps", "-q"]);

    let ops = (c.runs.len() + c.rms.len()) as f64;
    println!(
        "population {pop}, {nclients} clients: filled in {:.1} s ({:.1} runs/s); drained in {:.1} s",
        fill.as_secs_f64(),
        pop as f64 / fill.as_secs_f64(),
        drain.as_secs_f64()
    );
    println!(
        "churn for {:.1} s: {} runs + {} rms ({:.1} ops/s), run p50 {:?} p99 {:?}, rm p50 {:?} p99 {:?}; {} canary rounds",
        churned.as_secs_f64(),
        c.runs.len(),
        c.rms.len(),
        ops / churned.as_secs_f64(),
        percentile(&mut c.runs, 50.0),
        percentile(&mut c.runs, 99.0),
        percentile(&mut c.rms, 50.0),
        percentile(&mut c.rms, 99.0),
        checks.load(Ordering::Relaxed)
    );
    println!(
        "berthd RSS {} kB at the start, {} kB filled, {} kB after the churn, {} kB peak, {} kB at the end; open fds {} / {} / {} / {} / {}",
        u0.rss_kb, u_filled.rss_kb, u_churned.rss_kb, peak.rss_kb, u1.rss_kb,
        u0.fds, u_filled.fds, u_churned.fds, peak.fds, u1.fds
    );

    assert!(
        c.errors.is_empty(),
        "{} churn error(s):\n{}",
        c.errors.len(),
        c.errors.join("\n\n")
    );
    assert!(
        canary_failures.is_empty(),
        "{}",
        canary_failures.join("\n\n")
    );
    assert!(
        checks.load(Ordering::Relaxed) >= 1,
        "the canaries never checked"
    );
    assert!(
        c.runs.len() as u64 >= nclients,
        "hardly any churn ({} runs)",
        c.runs.len()
    );
    let held = held.unwrap_or_else(|e| panic!("after the churn: {e}"));
    assert_eq!(
        held.len() as u64,
        pop + 2,
        "endpoints after the churn: {held:?}"
    );
    assert!(
        drain_errors.is_empty(),
        "draining: {}",
        drain_errors.join("\n\n")
    );
    let left: Vec<&str> = left.lines().collect();
    assert_eq!(left.len(), 2, "only the canaries should be left: {left:?}");
    assert_eq!(
        now, base,
        "veths / pinned namespaces / nft elements after the drain"
    );
    // The same population before and after the churn: memory and descriptors must not have grown
    // with the number of containers replaced.
    assert!(
        u_churned.rss_kb <= u_filled.rss_kb + u_filled.rss_kb / 5 + 8 * 1024,
        "berthd's RSS grew during the churn: {} kB filled, {} kB after {} replacements",
        u_filled.rss_kb,
        u_churned.rss_kb,
        c.runs.len()
    );
    assert!(
        u_churned.fds <= u_filled.fds + 10,
        "berthd's descriptors grew during the churn: {} filled, {} after",
        u_filled.fds,
        u_churned.fds
    );
    assert_daemon_recovered(d, pid, u0, u1);
}

/// Linux refuses a bridge's 1024th port with EXFULL ("Exchange full"). berth must say which
/// limit was hit and leave nothing behind: no veth, no held address, no container record
/// left running.
#[test]
fn full_bridge_is_refused_with_a_clear_error_and_nothing_half_made() {
    let env = require_setup!("bfull");
    let d = &env.daemon;
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.91.0.0/16",
        "-o",
        "com.docker.network.bridge.name=bfull0",
        "fullnet",
    ]);
    // Fill the bridge to the kernel's limit with veth ports (cheaper than 1023 containers; the
    // kernel here has no dummy links). The last `master` fails: the bridge is full.
    let mut batch = String::new();
    for i in 0..1024 {
        batch.push_str(&format!(
            "link add bfd{i} type veth peer name bfp{i}\nlink set bfd{i} master bfull0\n"
        ));
    }
    let file = env.topo.dir().join("fill.batch");
    std::fs::write(&file, batch).expect("write batch");
    let o = env
        .topo
        .in_host(&["ip", "-force", "-batch", &file.to_string_lossy()]);
    let ports = env
        .topo
        .in_host(&["ip", "-o", "link", "show", "master", "bfull0"]);
    let filled = ports.stdout.lines().count();
    assert_eq!(filled, 1023, "the bridge should be full at 1023 ports: {o}");
    let before = counts(&env.topo, d);

    let o = d.fails(&[
        "run",
        "-d",
        "--name",
        "late",
        "--network",
        "fullnet",
        BB,
        "sleep",
        "60",
    ]);
    let msg = o.stderr.to_lowercase();
    assert!(
        msg.contains("bfull0") && msg.contains("is full") && msg.contains("1023"),
        "the error should name the bridge and the limit: {o}"
    );
    assert!(
        !msg.contains("exchange full"),
        "a raw kernel message leaked: {o}"
    );
    let after = counts(&env.topo, d);
    assert_eq!(
        after, before,
        "veths / namespaces / nft elements after the refusal"
    );
    let held = addresses(d, "fullnet").unwrap_or_else(|e| panic!("{e}"));
    assert!(held.is_empty(), "addresses still held on fullnet: {held:?}");
    let running = d.ok(&["ps", "-q"]);
    assert!(
        running.is_empty(),
        "a container runs after the refusal: {running}"
    );

    // Room again: the same run works once a port is freed.
    env.topo.in_host(&["ip", "link", "del", "bfd0"]);
    d.ok(&["rm", "-f", "late"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "--network",
        "fullnet",
        BB,
        "sleep",
        "60",
    ]);
    d.ok(&["rm", "-f", "late"]);
}
