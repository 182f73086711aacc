//! Crash safety: berthd killed at every step of an operation (failure injection with
//! `BERTH_CRASH_AT=OP:N`, an `abort` as abrupt as SIGKILL) and restarted must leave no address
//! handed out twice, no stray veth, namespace or forwarding, and every operation either done
//! or undone.

use berth_tests::{setup, Output, TestEnv};
use std::collections::HashSet;

/// Everything a user could see that must agree after a crash.
fn check_invariants(env: &TestEnv, ctx: &str) {
    let d = &env.daemon;
    let ids: Vec<String> = d
        .ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    let mut ips = HashSet::new();
    let mut published = 0;
    let mut endpoints = 0;
    for id in &ids {
        let v = d.inspect(id);
        for (_, ep) in v["NetworkSettings"]["Networks"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
            endpoints += 1;
            let ip = ep["IPAddress"].as_str().unwrap_or_default().to_string();
            if !ip.is_empty() {
                assert!(
                    ips.insert(ip.clone()),
                    "{ctx}: address {ip} handed out twice"
                );
            }
        }
        published += v["NetworkSettings"]["Ports"]
            .as_object()
            .map(|m| m.values().filter(|b| !b.is_null()).count())
            .unwrap_or(0);
    }
    // One host-side veth per endpoint of a running container (bridge networks only here).
    let links = env.topo.in_host(&["ip", "-o", "link"]).stdout;
    let veths = links.lines().filter(|l| l.contains(": veth")).count();
    assert_eq!(
        veths, endpoints,
        "{ctx}: {veths} veths for {endpoints} endpoints of running containers:\n{links}"
    );
    // One bridge per bridge network, and nothing else (the topology's host has no other).
    let bridges = env
        .topo
        .in_host(&["ip", "-o", "link", "show", "type", "bridge"])
        .stdout
        .lines()
        .count();
    let nets = d
        .ok(&["network", "ls", "-q", "--filter", "driver=bridge"])
        .lines()
        .count();
    assert_eq!(
        bridges, nets,
        "{ctx}: {bridges} bridges for {nets} bridge networks"
    );
    // One pinned namespace per running container.
    let netns = std::fs::read_dir(d.exec_root().join("netns"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(
        netns,
        ids.len(),
        "{ctx}: {netns} namespaces for {} running containers",
        ids.len()
    );
    // One DNAT element per published port of a running container.
    let map = env
        .topo
        .in_host(&["nft", "list", "map", "inet", "berth", "ports_any4"])
        .stdout;
    let elements = map
        .split_once("elements =")
        .map(|(_, e)| e.matches(" : ").count())
        .unwrap_or(0);
    assert_eq!(
        elements, published,
        "{ctx}: {elements} forwardings for {published} published ports:\n{map}"
    );
}

#[test]
fn crash_at_every_step_of_run_is_done_or_undone() {
    let Some(mut env) = setup("crash-run") else {
        return;
    };
    env.daemon
        .ok(&["network", "create", "--subnet", "10.98.0.0/24", "cnet"]);
    env.daemon.ok(&[
        "run",
        "-d",
        "--name",
        "base",
        "--network",
        "cnet",
        "-p",
        "18000:80",
        "bb:latest",
        "sleep",
        "600",
    ]);
    let mut survived_all_steps = false;
    for n in 1..=8 {
        let name = format!("c{n}");
        env.daemon
            .set_env(&[("BERTH_CRASH_AT", &format!("start:{n}"))]);
        env.daemon.restart();
        let port = format!("{}:80", 18000 + n);
        let out = env.daemon.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "cnet",
            "-p",
            &port,
            "bb:latest",
            "sleep",
            "600",
        ]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        let crashed = !env.daemon.is_running();
        env.daemon.set_env(&[]);
        env.daemon.restart();
        let ctx = format!("crash at start step {n} (crashed: {crashed})");
        check_invariants(&env, &ctx);
        // Done or undone: the container either runs, or can be started now.
        let state = env.daemon.inspect(&name)["State"]["Status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if state != "running" {
            env.daemon.ok(&["start", &name]);
        }
        check_invariants(&env, &format!("{ctx}, after start"));
        assert!(
            env.daemon
                .ok(&["exec", &name, "ip", "-o", "-4", "addr", "show", "eth0"])
                .contains("10.98.0."),
            "{ctx}: no address"
        );
        if !crashed {
            assert!(
                out.status.success(),
                "{ctx}: run failed without a crash: {}",
                out.stderr
            );
            survived_all_steps = true;
            break;
        }
    }
    assert!(
        survived_all_steps,
        "more crash points than expected: raise the loop bound"
    );
    // The base container kept running and forwarding through every crash.
    assert_eq!(env.daemon.inspect("base")["State"]["Running"], true);
}

#[test]
fn crash_at_every_step_of_rm_is_done_or_undone() {
    let Some(mut env) = setup("crash-rm") else {
        return;
    };
    env.daemon
        .ok(&["network", "create", "--subnet", "10.97.0.0/24", "rnet"]);
    for n in 1..=3 {
        let name = format!("r{n}");
        env.daemon.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "rnet",
            "-p",
            &format!("{}:80", 19000 + n),
            "bb:latest",
            "sleep",
            "600",
        ]);
        env.daemon
            .set_env(&[("BERTH_CRASH_AT", &format!("rm:{n}"))]);
        env.daemon.restart();
        let _ = env.daemon.berth(&["rm", "-f", &name]);
        env.daemon.set_env(&[]);
        env.daemon.restart();
        check_invariants(&env, &format!("crash at rm step {n}"));
        let gone = env.daemon.berth(&["inspect", &name]);
        assert!(
            !gone.status.success(),
            "crash at rm step {n}: the removal was not finished after restart"
        );
    }
}

/// Runs `op` with berthd set to crash at its `point`-th step of kind `kind`, then restarts berthd
/// cleanly. Returns whether it crashed and the operation's own output.
fn crash_during(env: &mut TestEnv, kind: &str, point: u32, op: &[&str]) -> (bool, Output) {
    env.daemon
        .set_env(&[("BERTH_CRASH_AT", &format!("{kind}:{point}"))]);
    env.daemon.restart();
    let out = env.daemon.berth(op);
    // A crash point in background work (disconnect's veth deletion) fires a moment later.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let crashed = !env.daemon.is_running();
    env.daemon.set_env(&[]);
    env.daemon.restart();
    (crashed, out)
}

/// The crash points of one operation kind, in order, until one run passes them all.
fn every_point(kind: &str, mut each: impl FnMut(u32) -> bool) {
    for n in 1..=6 {
        if !each(n) {
            assert!(
                n > 1,
                "no {kind} crash point was reached: the test tests nothing"
            );
            return;
        }
    }
    panic!("more {kind} crash points than expected: raise the loop bound");
}

/// Whether `c` has an interface with an address in `prefix` (e.g. "10.95.0.").
fn has_address_in(env: &TestEnv, c: &str, prefix: &str) -> bool {
    env.daemon
        .ok(&["exec", c, "ip", "-o", "-4", "addr"])
        .contains(prefix)
}

fn connected(env: &TestEnv, c: &str, net: &str) -> bool {
    env.daemon.inspect(c)["NetworkSettings"]["Networks"]
        .get(net)
        .is_some()
}

/// Whether `xc` is connected to `away`, asserting that inspect and its interfaces agree.
fn connected_consistently(env: &TestEnv, ctx: &str) -> bool {
    let (shown, wired) = (
        connected(env, "xc", "away"),
        has_address_in(env, "xc", "10.95.0."),
    );
    assert_eq!(
        shown, wired,
        "{ctx}: inspect says connected={shown}, interface={wired}"
    );
    shown
}

#[test]
fn crash_at_every_step_of_connect_and_disconnect_is_done_or_undone() {
    let Some(mut env) = setup("crash-conn") else {
        return;
    };
    let d = &env.daemon;
    d.ok(&["network", "create", "--subnet", "10.96.0.0/24", "home"]);
    d.ok(&["network", "create", "--subnet", "10.95.0.0/24", "away"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--network",
        "away",
        "bb:latest",
        "sleep",
        "600",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "xc",
        "--network",
        "home",
        "bb:latest",
        "sleep",
        "600",
    ]);
    let peer_ip = env.daemon.inspect("peer")["NetworkSettings"]["Networks"]["away"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let connect = ["network", "connect", "away", "xc"];
    let disconnect = ["network", "disconnect", "away", "xc"];
    for kind in ["attach", "connect"] {
        every_point(kind, |n| {
            let (crashed, out) = crash_during(&mut env, kind, n, &connect);
            let ctx = format!("crash at {kind} step {n} (crashed: {crashed})");
            check_invariants(&env, &ctx);
            let shown = connected_consistently(&env, &ctx);
            if !shown {
                env.daemon.ok(&connect);
            }
            env.daemon
                .ok(&["exec", "xc", "ping", "-c1", "-W2", &peer_ip]);
            env.daemon.ok(&disconnect);
            check_invariants(&env, &format!("{ctx}, reconnected and disconnected"));
            if !crashed {
                assert!(out.status.success(), "{ctx}: connect failed: {out}");
            }
            crashed
        });
    }
    env.daemon.ok(&connect);
    every_point("disconnect", |n| {
        let (crashed, out) = crash_during(&mut env, "disconnect", n, &disconnect);
        let ctx = format!("crash at disconnect step {n} (crashed: {crashed})");
        check_invariants(&env, &ctx);
        let shown = connected_consistently(&env, &ctx);
        if shown {
            env.daemon.ok(&disconnect);
        }
        let cut = env
            .daemon
            .berth(&["exec", "xc", "ping", "-c1", "-W1", &peer_ip]);
        assert!(
            !cut.status.success(),
            "{ctx}: still reaches the other network"
        );
        env.daemon.ok(&connect);
        check_invariants(&env, &format!("{ctx}, connected again"));
        if !crashed {
            assert!(out.status.success(), "{ctx}: disconnect failed: {out}");
        }
        crashed
    });
}

/// `network create` and `network rm` with a crash at each step: afterwards the network is
/// either whole (bridge, rules, usable) or absent (no bridge, no rule naming it, name free).
#[test]
fn crash_at_every_step_of_network_create_and_rm_is_done_or_undone() {
    let Some(mut env) = setup("crash-net") else {
        return;
    };
    let create = [
        "network",
        "create",
        "--subnet",
        "10.94.0.0/24",
        "-o",
        "com.docker.network.bridge.name=bcrash0",
        "cnet",
    ];
    let whole_or_absent = |env: &TestEnv, ctx: &str| -> bool {
        check_invariants(env, ctx);
        let d = &env.daemon;
        let listed = d
            .ok(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|l| l == "cnet");
        let bridge = env
            .topo
            .in_host(&["ip", "link", "show", "bcrash0"])
            .success();
        let rules = env
            .topo
            .in_host(&["nft", "list", "ruleset"])
            .stdout
            .contains("bcrash0");
        if listed {
            assert!(
                bridge && rules,
                "{ctx}: cnet listed, bridge={bridge}, rules={rules}"
            );
            d.ok(&[
                "run",
                "--rm",
                "--network",
                "cnet",
                "bb:latest",
                "ping",
                "-c1",
                "-W2",
                "10.94.0.1",
            ]);
        } else {
            assert!(
                !bridge && !rules,
                "{ctx}: cnet absent, bridge={bridge}, rules={rules}"
            );
        }
        listed
    };
    every_point("network-create", |n| {
        let (crashed, out) = crash_during(&mut env, "network-create", n, &create);
        let ctx = format!("crash at network-create step {n} (crashed: {crashed})");
        if !whole_or_absent(&env, &ctx) {
            env.daemon.ok(&create);
        }
        env.daemon.ok(&["network", "rm", "cnet"]);
        assert!(!whole_or_absent(&env, &format!("{ctx}, removed")));
        if !crashed {
            assert!(out.status.success(), "{ctx}: create failed: {out}");
        }
        crashed
    });
    every_point("network-rm", |n| {
        env.daemon.ok(&create);
        let (crashed, out) = crash_during(&mut env, "network-rm", n, &["network", "rm", "cnet"]);
        let ctx = format!("crash at network-rm step {n} (crashed: {crashed})");
        if whole_or_absent(&env, &ctx) {
            env.daemon.ok(&["network", "rm", "cnet"]);
        }
        assert!(!whole_or_absent(&env, &format!("{ctx}, removed")));
        if !crashed {
            assert!(out.status.success(), "{ctx}: rm failed: {out}");
        }
        crashed
    });
}
