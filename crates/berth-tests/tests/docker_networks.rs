//! The real docker CLI's `network` commands against berthd: they must give
//! the same results as berth's own CLI (same daemon, same answers), and
//! take effect the same way.

use std::collections::BTreeSet;
use std::time::Duration;

use berth_tests::{
    busybox_tar, docker_available, docker_ok, interfaces_from_ip_link, is_hex_id, setup_bare,
    util::env_flag, wait_until, Daemon, Output, TestEnv, Topology, BUSYBOX_IMAGE as BB,
};
use serde_json::Value;

fn docker_env(name: &str) -> Option<TestEnv> {
    if !docker_available() {
        if env_flag("BERTH_REQUIRE_DOCKER") {
            panic!("{name}: BERTH_REQUIRE_DOCKER is set but no docker CLI is installed");
        }
        println!("skipped: docker CLI not installed ({name})");
        return None;
    }
    // Import with docker itself, so these tests depend only on berthd.
    let env = setup_bare(name)?;
    let tar = busybox_tar();
    docker_ok(
        &env.daemon,
        &[
            "import",
            "--change",
            "ENV PATH=/bin",
            &tar.to_string_lossy(),
            BB,
        ],
    );
    Some(env)
}

fn docker_fails(d: &Daemon, args: &[&str]) -> Output {
    let o = d.docker(args);
    assert!(!o.success(), "expected failure:\n{o}");
    o
}

fn json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{text}"))
}

fn host_links(topo: &Topology) -> BTreeSet<String> {
    let o = topo.in_host(&["ip", "-o", "link"]);
    assert!(o.success(), "{o}");
    interfaces_from_ip_link(&o.stdout).into_iter().collect()
}

fn container_links(d: &Daemon, c: &str) -> Vec<String> {
    interfaces_from_ip_link(&docker_ok(d, &["exec", c, "ip", "-o", "link"]))
}

fn docker_ip(d: &Daemon, c: &str, net: &str) -> String {
    let f = format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}");
    docker_ok(d, &["inspect", "-f", &f, c])
}

fn docker_ping(d: &Daemon, from: &str, ip: &str) -> Output {
    d.docker(&["exec", from, "ping", "-c1", "-W1", ip])
}

#[test]
fn docker_network_create_ls_inspect_match_berth() {
    let Some(env) = docker_env("dk-net-ls") else {
        return;
    };
    let d = &env.daemon;
    let id = docker_ok(
        d,
        &[
            "network",
            "create",
            "--subnet",
            "10.41.0.0/16",
            "--gateway",
            "10.41.0.254",
            "--ip-range",
            "10.41.3.0/24",
            "--aux-address",
            "printer=10.41.3.1",
            "--label",
            "team=red",
            "-o",
            "com.docker.network.bridge.enable_icc=false",
            "dk-custom",
        ],
    );
    assert!(is_hex_id(&id, 64), "docker network create printed {id:?}");
    let int = docker_ok(d, &["network", "create", "--internal", "dk-internal"]);
    let six = docker_ok(
        d,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:db8:9::/64",
            "dk-six",
        ],
    );

    // ls: table, -q, --format — identical to berth's.
    for args in [
        vec!["network", "ls"],
        vec!["network", "ls", "-q"],
        vec![
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}",
        ],
        vec!["network", "ls", "--no-trunc", "-q"],
    ] {
        assert_eq!(
            docker_ok(d, &args),
            d.ok(&args),
            "`docker {}` and `berth {}` differ",
            args.join(" "),
            args.join(" ")
        );
    }
    let table = docker_ok(d, &["network", "ls"]);
    for (nid, name) in [(&id, "dk-custom"), (&int, "dk-internal"), (&six, "dk-six")] {
        assert!(
            table.lines().any(|l| {
                l.split_whitespace().collect::<Vec<_>>() == [&nid[..12], name, "bridge", "local"]
            }),
            "docker network ls:\n{table}"
        );
    }

    // inspect: the same document through both CLIs.
    for name in ["dk-custom", "dk-internal", "dk-six", "bridge"] {
        let dv = json(
            &docker_ok(d, &["network", "inspect", name]),
            "docker network inspect",
        );
        let bv = json(
            &d.ok(&["network", "inspect", name]),
            "berth network inspect",
        );
        assert_eq!(dv, bv, "network inspect {name}: docker and berth differ");
    }
    let v = &json(
        &docker_ok(d, &["network", "inspect", "dk-custom"]),
        "inspect",
    )[0];
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Driver"], "bridge");
    assert_eq!(v["Scope"], "local");
    let cfg = &v["IPAM"]["Config"][0];
    assert_eq!(cfg["Subnet"], "10.41.0.0/16", "{v}");
    assert_eq!(cfg["Gateway"], "10.41.0.254", "{v}");
    assert_eq!(cfg["IPRange"], "10.41.3.0/24", "{v}");
    assert_eq!(cfg["AuxiliaryAddresses"]["printer"], "10.41.3.1", "{v}");
    assert_eq!(v["Labels"]["team"], "red", "{v}");
    assert_eq!(
        v["Options"]["com.docker.network.bridge.enable_icc"], "false",
        "{v}"
    );
    assert_eq!(
        docker_ok(
            d,
            &["network", "inspect", "-f", "{{.Internal}}", "dk-internal"]
        ),
        "true"
    );
    assert_eq!(
        docker_ok(
            d,
            &["network", "inspect", "-f", "{{.EnableIPv6}}", "dk-six"]
        ),
        "true"
    );

    // A container started by docker on the custom network shows up in both.
    let cid = docker_ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "member",
            "--network",
            "dk-custom",
            BB,
            "sleep",
            "600",
        ],
    );
    let ip = docker_ip(d, "member", "dk-custom");
    assert!(ip.starts_with("10.41.3.") && ip != "10.41.3.1", "{ip}");
    let dv = json(
        &docker_ok(d, &["network", "inspect", "dk-custom"]),
        "inspect",
    );
    let bv = json(&d.ok(&["network", "inspect", "dk-custom"]), "inspect");
    assert_eq!(dv, bv);
    let ep = &dv[0]["Containers"][&cid];
    assert_eq!(ep["Name"], "member", "{}", dv[0]["Containers"]);
    assert_eq!(ep["IPv4Address"], format!("{ip}/16").as_str(), "{ep}");

    // Filters: the docker CLI sends them to the daemon (GET
    // /networks?filters=...), which has to apply them.
    let f = docker_ok(
        d,
        &["network", "ls", "-f", "name=dk-", "--format", "{{.Name}}"],
    );
    assert_eq!(
        f.lines().collect::<Vec<_>>(),
        vec!["dk-custom", "dk-internal", "dk-six"],
        "docker network ls -f name=dk-"
    );
    let q = docker_ok(d, &["network", "ls", "-q", "-f", "name=dk-custom"]);
    assert_eq!(q, &id[..12], "docker network ls -q -f name=dk-custom");
    for args in [
        vec!["network", "ls", "-f", "name=dk-"],
        vec!["network", "ls", "-q", "-f", "name=dk-custom"],
        vec!["network", "ls", "-q", "-f", "driver=null"],
        vec!["network", "ls", "-q", "-f", "type=custom"],
        vec!["network", "ls", "-q", "-f", "label=team=red"],
    ] {
        assert_eq!(
            docker_ok(d, &args),
            d.ok(&args),
            "`docker {}` and `berth {}` differ",
            args.join(" "),
            args.join(" ")
        );
    }
}

#[test]
fn docker_network_connect_disconnect_take_effect() {
    let Some(env) = docker_env("dk-net-connect") else {
        return;
    };
    let d = &env.daemon;
    let topo = &env.topo;
    docker_ok(
        d,
        &["network", "create", "--subnet", "10.42.0.0/24", "dk-front"],
    );
    docker_ok(
        d,
        &["network", "create", "--subnet", "10.43.0.0/24", "dk-back"],
    );
    docker_ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "srv",
            "--network",
            "dk-back",
            BB,
            "sleep",
            "600",
        ],
    );
    docker_ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "mover",
            "--network",
            "dk-front",
            BB,
            "sleep",
            "600",
        ],
    );
    let srv = docker_ip(d, "srv", "dk-back");
    assert_eq!(docker_ping(d, "mover", &srv).code(), Some(1));
    let links_before = host_links(topo);

    assert_eq!(
        d.docker(&[
            "network",
            "connect",
            "--ip",
            "10.43.0.50",
            "dk-back",
            "mover"
        ])
        .code(),
        Some(0)
    );
    assert!(
        container_links(d, "mover").contains(&"eth1".to_string()),
        "{:?}",
        container_links(d, "mover")
    );
    assert_eq!(docker_ip(d, "mover", "dk-back"), "10.43.0.50");
    let addr = docker_ok(
        d,
        &[
            "exec", "mover", "ip", "-4", "-o", "addr", "show", "dev", "eth1",
        ],
    );
    assert!(addr.contains("10.43.0.50/24"), "{addr}");
    assert!(
        wait_until(Duration::from_secs(10), || docker_ping(d, "mover", &srv)
            .success()),
        "mover cannot ping srv after docker network connect"
    );
    assert_eq!(host_links(topo).len(), links_before.len() + 1);
    // berth sees the same.
    let v = d.inspect("mover");
    assert_eq!(
        v["NetworkSettings"]["Networks"]["dk-back"]["IPAddress"], "10.43.0.50",
        "{}",
        v["NetworkSettings"]["Networks"]
    );

    assert_eq!(
        d.docker(&["network", "disconnect", "dk-back", "mover"])
            .code(),
        Some(0)
    );
    assert_eq!(container_links(d, "mover"), vec!["lo", "eth0"]);
    assert_eq!(docker_ping(d, "mover", &srv).code(), Some(1));
    assert!(
        wait_until(Duration::from_secs(5), || host_links(topo) == links_before),
        "host interfaces after disconnect: {:?} (before: {links_before:?})",
        host_links(topo)
    );
    let f = docker_ok(
        d,
        &["network", "inspect", "-f", "{{len .Containers}}", "dk-back"],
    );
    assert_eq!(f, "1");
}

#[test]
fn docker_network_rm_prune_and_errors() {
    let Some(env) = docker_env("dk-net-rm") else {
        return;
    };
    let d = &env.daemon;
    let topo = &env.topo;
    let gone = docker_ok(d, &["network", "create", "dk-unused"]);
    docker_ok(d, &["network", "create", "dk-unused2"]);
    docker_ok(
        d,
        &["network", "create", "--subnet", "10.44.0.0/24", "dk-used"],
    );
    docker_ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "holder",
            "--network",
            "dk-used",
            BB,
            "sleep",
            "600",
        ],
    );
    let ls_before = docker_ok(d, &["network", "ls"]);
    let links_before = host_links(topo);

    // Refusals: clear message naming the bad value, nothing changed.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["network", "create", "--subnet", "10.1.0.0/33", "x1"],
            "10.1.0.0/33",
        ),
        (
            vec![
                "network",
                "create",
                "--subnet",
                "10.1.0.0/24",
                "--gateway",
                "10.2.0.1",
                "x2",
            ],
            "10.2.0.1",
        ),
        (
            vec!["network", "create", "--subnet", "10.44.0.128/25", "x3"],
            "10.44.0.128/25",
        ),
        (vec!["network", "create", "dk-used"], "dk-used"),
        (vec!["network", "rm", "dk-used"], "holder"),
        (vec!["network", "rm", "bridge"], "bridge"),
        (
            vec![
                "run",
                "-d",
                "--name",
                "bad-ip",
                "--network",
                "dk-used",
                "--ip",
                "10.45.0.9",
                BB,
                "sleep",
                "600",
            ],
            "10.45.0.9",
        ),
    ];
    for (args, needle) in &cases {
        let o = docker_fails(d, args);
        assert!(
            o.stderr.contains(needle),
            "`docker {}` should name {needle:?}:\n{o}",
            args.join(" ")
        );
        // berth's CLI gets the same refusal.
        if args[0] == "network" {
            let b = d.fails(args);
            assert!(b.stderr.contains(needle), "{b}");
        }
        assert_eq!(docker_ok(d, &["network", "ls"]), ls_before, "{args:?}");
        assert_eq!(host_links(topo), links_before, "{args:?}");
    }

    // rm by name, prune.
    assert_eq!(docker_ok(d, &["network", "rm", "dk-unused2"]), "dk-unused2");
    let out = docker_ok(d, &["network", "prune", "-f"]);
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines, vec!["Deleted Networks:", "dk-unused"], "{out}");
    let names: BTreeSet<String> = docker_ok(d, &["network", "ls", "--format", "{{.Name}}"])
        .lines()
        .map(str::to_string)
        .collect();
    let want: BTreeSet<String> = ["bridge", "dk-used", "host", "none"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, want);
    assert!(!host_links(topo).contains(&format!("br-{}", &gone[..12])));
    assert_eq!(
        docker_ok(d, &["inspect", "-f", "{{.State.Running}}", "holder"]),
        "true"
    );

    // Once the container is gone the network can be removed.
    docker_ok(d, &["rm", "-f", "holder"]);
    assert_eq!(docker_ok(d, &["network", "rm", "dk-used"]), "dk-used");
    assert!(
        wait_until(Duration::from_secs(5), || host_links(topo)
            .iter()
            .all(|l| !l.starts_with("veth") && !l.starts_with("br-"))),
        "{:?}",
        host_links(topo)
    );
}

/// `docker run --network <unknown>` must say the network does not exist.
#[test]
fn docker_run_on_unknown_network_names_it() {
    let Some(env) = docker_env("dk-net-unknown") else {
        return;
    };
    let d = &env.daemon;
    let o = docker_fails(
        d,
        &[
            "run",
            "-d",
            "--name",
            "lost",
            "--network",
            "nosuchnet",
            BB,
            "sleep",
            "600",
        ],
    );
    assert!(
        o.stderr.contains("nosuchnet"),
        "the error should name the unknown network (a 404 from /containers/create makes \
         the docker CLI try to pull the image instead):\n{o}"
    );
    assert_eq!(docker_ok(d, &["ps", "-q"]), "");
}
