//! Crash safety: berthd killed at every step of an operation (failure injection with
//! `BERTH_CRASH_AT=OP:N`, an `abort` as abrupt as SIGKILL) and restarted must leave no address
//! handed out twice, no stray veth, namespace or forwarding, and every operation either done
//! or undone.

use berth_tests::{setup, TestEnv};
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
    for id in &ids {
        let v = d.inspect(id);
        for (_, ep) in v["NetworkSettings"]["Networks"]
            .as_object()
            .cloned()
            .unwrap_or_default()
        {
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
    // One host-side veth per running container (all are on one network here).
    let links = env.topo.in_host(&["ip", "-o", "link"]).stdout;
    let veths = links.lines().filter(|l| l.contains(": veth")).count();
    assert_eq!(
        veths,
        ids.len(),
        "{ctx}: {veths} veths for {} running containers:\n{links}",
        ids.len()
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
