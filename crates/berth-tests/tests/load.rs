//! A quick load test: concurrent clients churn containers on a user-defined network —
//! `run -d` a web server with a random published port (`-p 0:80`) and a client container,
//! `exec CLIENT ping -c1 -W1 SERVER` (by name: the embedded DNS), fetch the published port from
//! the outside namespace, `rm -f` both — then everything must be back where it started: no
//! error in any client, no container left, the host namespace's veths, the pinned namespaces
//! and berth's nftables set/map elements back to the baseline, berthd's open descriptors and
//! memory within bounds.
//!
//! - `BERTH_LOAD_SECS` (default 15): how long the clients loop. By hand: 300.
//! - `BERTH_LOAD_CLIENTS` (default 4): how many clients. By hand: 8.
//!
//! Figures (cycles, operations per second, RSS and descriptors at the start, peak and end) are
//! printed; run with `--nocapture` to see them.

use std::thread;
use std::time::{Duration, Instant};

use berth_tests::leaks::{assert_daemon_recovered, counts, usage, PeakSampler};
use berth_tests::{
    berth_timeout, require_setup, wait_until, Daemon, Output, TestEnv, BUSYBOX_IMAGE as BB,
};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One client's loop. Returns (cycles, CLI operations, errors).
fn client(env: &TestEnv, i: u64, deadline: Instant) -> (u64, u64, Vec<String>) {
    let d: &Daemon = &env.daemon;
    let bb = berth_tests::image::busybox_binary()
        .to_string_lossy()
        .into_owned();
    let mut cycles = 0u64;
    let ops = std::cell::Cell::new(0u64);
    let mut errors = Vec::new();
    let mut n = 0;
    while Instant::now() < deadline && errors.len() < 5 {
        n += 1;
        let (srv, cli) = (format!("ld{i}s{n}"), format!("ld{i}c{n}"));
        let step = |what: &str, args: &[&str]| -> Result<Output, String> {
            ops.set(ops.get() + 1);
            let o = berth_timeout(d, args, Duration::from_secs(60));
            if o.success() {
                Ok(o)
            } else {
                Err(format!("client {i}, cycle {n}, {what}:\n{o}"))
            }
        };
        let cycle = || -> Result<(), String> {
            step(
                "run the server",
                &[
                    "run",
                    "-d",
                    "--name",
                    &srv,
                    "--hostname",
                    &srv,
                    "--network",
                    "loadnet",
                    "-p",
                    "0:80",
                    BB,
                    "httpd",
                    "-f",
                    "-p",
                    "80",
                    "-h",
                    "/etc",
                ],
            )?;
            step(
                "run the client",
                &[
                    "run",
                    "-d",
                    "--name",
                    &cli,
                    "--network",
                    "loadnet",
                    BB,
                    "sleep",
                    "600",
                ],
            )?;
            step(
                "ping the server by name",
                &["exec", &cli, "ping", "-c1", "-W1", &srv],
            )?;
            let port = step("port", &["port", &srv, "80/tcp"])?;
            // "0.0.0.0:NNNNN" (and maybe "[::]:NNNNN")
            let host_port = port
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("0.0.0.0:"))
                .map(str::trim)
                .unwrap_or("")
                .to_string();
            let url = format!("http://{}:{host_port}/hostname", env.topo.host_ip());
            let mut last = None;
            // The server may still be starting.
            let fetched = wait_until(Duration::from_secs(3), || {
                let o = env
                    .topo
                    .in_outside(&["timeout", "2", &bb, "wget", "-q", "-O", "-", &url]);
                let good = o.success() && o.out() == srv;
                last = Some(o);
                good
            });
            if !fetched {
                return Err(format!(
                    "client {i}, cycle {n}: outside → published port {url} (`port`: {:?}):\n{:?}",
                    port.stdout, last
                ));
            }
            Ok(())
        };
        let r = cycle();
        // Always clean up, also after a failed step.
        let rm = step("rm -f", &["rm", "-f", &srv, &cli]);
        match (r, rm) {
            (Ok(()), Ok(_)) => cycles += 1,
            (r, rm) => errors.extend(r.err().into_iter().chain(rm.err())),
        }
    }
    let ops = ops.get();
    (cycles, ops, errors)
}

#[test]
fn churn_under_concurrent_clients_leaks_nothing() {
    let env = require_setup!("load");
    let d = &env.daemon;
    let secs = env_u64("BERTH_LOAD_SECS", 15);
    let nclients = env_u64("BERTH_LOAD_CLIENTS", 4);
    let pid = d.pid().expect("berthd runs");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "berthd", "pid {pid} is not berthd");

    d.ok(&["network", "create", "--subnet", "10.80.0.0/16", "loadnet"]);
    // One warm-up cycle, so that what is set up once (DNS, runtimes, caches) is in the baseline.
    let warm = client(&env, 0, Instant::now() + Duration::from_millis(1));
    assert!(
        warm.2.is_empty(),
        "warm-up cycle failed:\n{}",
        warm.2.join("\n")
    );
    let base = counts(&env.topo, d);
    let u0 = usage(pid);
    assert_eq!(base.veths, 0, "{base:?}");
    let sampler = PeakSampler::start(pid);

    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    let results: Vec<(u64, u64, Vec<String>)> = thread::scope(|s| {
        let hs: Vec<_> = (1..=nclients)
            .map(|i| {
                let env = &env;
                s.spawn(move || client(env, i, deadline))
            })
            .collect();
        hs.into_iter()
            .enumerate()
            .map(|(i, h)| {
                h.join()
                    .unwrap_or_else(|_| (0, 0, vec![format!("client {} panicked", i + 1)]))
            })
            .collect()
    });
    let elapsed = t0.elapsed();
    let p = sampler.finish();
    let cycles: u64 = results.iter().map(|r| r.0).sum();
    let ops: u64 = results.iter().map(|r| r.1).sum();
    let errors: Vec<String> = results.into_iter().flat_map(|r| r.2).collect();

    // Give asynchronous teardown (exit watchers) a moment, then compare.
    let mut now = counts(&env.topo, d);
    wait_until(Duration::from_secs(5), || {
        now = counts(&env.topo, d);
        now == base
    });
    let left = d.ok(&["ps", "-a", "-q"]);
    let u1 = usage(pid);
    println!(
        "load: {nclients} clients for {:.1} s: {cycles} cycles ({:.2}/s), {ops} CLI operations ({:.1}/s), {} errors",
        elapsed.as_secs_f64(),
        cycles as f64 / elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64(),
        errors.len()
    );
    println!(
        "load: berthd RSS {} kB at the start, {} kB peak, {} kB at the end; open fds {} / {} / {}",
        u0.rss_kb, p.rss_kb, u1.rss_kb, u0.fds, p.fds, u1.fds
    );

    assert!(
        errors.is_empty(),
        "{} client error(s):\n{}",
        errors.len(),
        errors.join("\n\n")
    );
    assert!(cycles >= nclients, "hardly any cycle completed ({cycles})");
    assert!(left.is_empty(), "containers left after the load: {left}");
    assert_eq!(
        now.veths, base.veths,
        "veths in the host namespace: {} at the end, {} at the start",
        now.veths, base.veths
    );
    assert_eq!(
        now.netns, base.netns,
        "pinned namespaces: {} at the end, {} at the start",
        now.netns, base.netns
    );
    assert_eq!(
        now.nft, base.nft,
        "berth's nftables set/map elements differ from the baseline"
    );
    assert_daemon_recovered(d, pid, u0, u1);
}
