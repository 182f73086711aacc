//! The real docker CLI (28.x) against berthd: it must work unchanged.

use std::time::Duration;

use berth_tests::{
    busybox_tar, docker_available, docker_ok, is_hex_id, setup_bare, util::env_flag, wait_until,
    TestEnv, BUSYBOX_IMAGE as BB,
};

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

#[test]
fn docker_ps_and_version() {
    let Some(env) = docker_env("docker-ps") else {
        return;
    };
    let d = &env.daemon;
    let ps = docker_ok(d, &["ps"]);
    assert!(ps.starts_with("CONTAINER ID"), "docker ps:\n{ps}");
    assert_eq!(ps.lines().count(), 1, "docker ps:\n{ps}");
    let api = docker_ok(d, &["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(
        api.split('.').count() == 2 && api.split('.').all(|p| p.parse::<u32>().is_ok()),
        "server API version {api:?}"
    );
}

#[test]
fn docker_run_detached_inspect_exec_logs_rm() {
    let Some(env) = docker_env("docker-lifecycle") else {
        return;
    };
    let d = &env.daemon;
    let id = docker_ok(
        d,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "dk",
            BB,
            "sleep",
            "100",
        ],
    );
    assert!(is_hex_id(&id, 64), "docker run -d printed {id:?}");

    let ps = docker_ok(d, &["ps"]);
    assert!(
        ps.lines()
            .skip(1)
            .any(|l| l.starts_with(&id[..12]) && l.ends_with("dk")),
        "docker ps:\n{ps}"
    );
    assert_eq!(docker_ok(d, &["ps", "-q"]), &id[..12]);

    let out = docker_ok(d, &["inspect", "dk"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect JSON");
    let c = &v[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/dk");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["HostConfig"]["NetworkMode"], "none");
    assert_eq!(
        docker_ok(d, &["inspect", "-f", "{{.State.Running}}", "dk"]),
        "true"
    );

    assert_eq!(docker_ok(d, &["exec", "dk", "echo", "hi"]), "hi");
    assert_eq!(docker_ok(d, &["exec", "dk", "hostname"]), &id[..12]);
    let o = berth_tests::docker(d, &["exec", "dk", "sh", "-c", "exit 4"]);
    assert_eq!(o.code(), Some(4), "{o}");

    docker_ok(
        d,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "lg",
            BB,
            "sh",
            "-c",
            "echo out; echo err >&2; sleep 100",
        ],
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            let o = berth_tests::docker(d, &["logs", "lg"]);
            o.success() && o.stdout.contains("out") && o.stderr.contains("err")
        }),
        "docker logs never showed the output"
    );
    let o = berth_tests::docker(d, &["logs", "lg"]);
    assert_eq!(o.stdout, "out\n", "{o}");
    assert_eq!(o.stderr, "err\n", "{o}");

    let rm = docker_ok(d, &["rm", "-f", "dk", "lg"]);
    assert_eq!(rm.lines().collect::<Vec<_>>(), vec!["dk", "lg"]);
    assert_eq!(docker_ok(d, &["ps", "-a", "-q"]), "");
}

#[test]
fn docker_run_attached() {
    let Some(env) = docker_env("docker-attached") else {
        return;
    };
    let d = &env.daemon;
    let o = berth_tests::docker(
        d,
        &["run", "--rm", "--network", "none", BB, "echo", "hello"],
    );
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "hello\n", "{o}");
    let o = berth_tests::docker(d, &["run", "--network", "none", BB, "sh", "-c", "exit 3"]);
    assert_eq!(o.code(), Some(3), "{o}");
}

#[test]
fn docker_import_then_run() {
    let Some(env) = docker_env("docker-import") else {
        return;
    };
    let d = &env.daemon;
    let tar = busybox_tar();
    let out = docker_ok(
        d,
        &[
            "import",
            "--change",
            "ENV PATH=/bin",
            &tar.to_string_lossy(),
            "bb2:latest",
        ],
    );
    assert!(
        out.starts_with("sha256:") && is_hex_id(&out["sha256:".len()..], 64),
        "docker import printed {out:?}"
    );
    let o = berth_tests::docker(
        d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "bb2:latest",
            "echo",
            "imported",
        ],
    );
    assert!(o.success(), "{o}");
    assert_eq!(o.stdout, "imported\n", "{o}");
}

/// The seed's commands, typed verbatim with the real docker CLI: an image pushed to a registry
/// (in the topology's outside namespace) and pulled back, `my-custom-bridge` with
/// `container-1` and `container-2` reaching each other by name, the `--link` pair on the
/// default bridge, `--network host`, `docker port` and the `inspect` fields users read.
#[test]
fn docker_seed_commands_verbatim() {
    let name = "docker-seed";
    if !docker_available() || !berth_tests::privileged(name) {
        let _ = docker_env(name);
        return;
    }
    if !berth_tests::registry::registry_available(name) {
        return;
    }
    let topo = berth_tests::Topology::new(name);
    let reg = berth_tests::registry::Registry::start(&topo, 5000);
    let d = &berth_tests::Daemon::start_with_args(&topo, &["--insecure-registry", &reg.addr]);
    // An image whose default command keeps running, as nginx's does.
    let tar = busybox_tar();
    let img = format!("{}/seed/web:1", reg.addr);
    docker_ok(
        d,
        &[
            "import",
            "--change",
            "ENV PATH=/bin",
            "--change",
            r#"CMD ["sleep", "3600"]"#,
            &tar.to_string_lossy(),
            &img,
        ],
    );
    let out = docker_ok(d, &["push", &img]);
    assert!(out.contains("digest: sha256:"), "docker push:\n{out}");
    docker_ok(d, &["rmi", &img]);
    assert_eq!(docker_ok(d, &["images", "-q"]), "");
    let out = docker_ok(d, &["pull", &img]);
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {img}")),
        "docker pull:\n{out}"
    );

    // docker network create my-custom-bridge
    let net_id = docker_ok(d, &["network", "create", "my-custom-bridge"]);
    assert!(is_hex_id(&net_id, 64), "network create printed {net_id:?}");
    // docker run -d --name container-1 --network my-custom-bridge IMAGE (and container-2)
    for c in ["container-1", "container-2"] {
        let id = docker_ok(
            d,
            &[
                "run",
                "-d",
                "--name",
                c,
                "--network",
                "my-custom-bridge",
                &img,
            ],
        );
        assert!(is_hex_id(&id, 64), "docker run -d printed {id:?}");
    }
    // docker exec container-2 ping -c1 container-1
    let o = berth_tests::docker(d, &["exec", "container-2", "ping", "-c1", "container-1"]);
    assert!(o.success(), "{o}");
    assert!(o.stdout.contains("1 packets received"), "{o}");
    let o = berth_tests::docker(d, &["exec", "container-1", "ping", "-c1", "container-2"]);
    assert!(o.success(), "{o}");

    // inspect: the fields users read.
    let v: serde_json::Value =
        serde_json::from_str(&docker_ok(d, &["inspect", "container-1"])).expect("inspect JSON");
    let c = &v[0];
    assert_eq!(c["Name"], "/container-1");
    assert_eq!(c["Config"]["Image"], img.as_str());
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sleep", "3600"]));
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["HostConfig"]["NetworkMode"], "my-custom-bridge");
    let ep = &c["NetworkSettings"]["Networks"]["my-custom-bridge"];
    assert_eq!(ep["NetworkID"], net_id.as_str(), "{ep}");
    for k in ["IPAddress", "Gateway", "MacAddress", "EndpointID"] {
        assert!(
            ep[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} missing: {ep}"
        );
    }
    assert_eq!(
        ep["IPPrefixLen"].as_i64().map(|n| n > 0),
        Some(true),
        "{ep}"
    );
    let ip = docker_ok(
        d,
        &[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            "container-1",
        ],
    );
    assert_eq!(ip, ep["IPAddress"].as_str().unwrap());
    let members = docker_ok(
        d,
        &[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}} {{end}}",
            "my-custom-bridge",
        ],
    );
    let mut members: Vec<&str> = members.split_whitespace().collect();
    members.sort();
    assert_eq!(members, ["container-1", "container-2"]);

    // The --link pair on the default bridge.
    docker_ok(d, &["run", "-d", "--name", "db-server", &img]);
    docker_ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "web-app",
            "--link",
            "db-server:db",
            &img,
        ],
    );
    // Default-bridge containers: the top-level NetworkSettings fields of API 1.51.
    let top = docker_ok(
        d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.IPAddress}}/{{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.Gateway}}",
            "db-server",
        ],
    );
    let nets = docker_ok(
        d,
        &[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.bridge.IPAddress}}/{{.NetworkSettings.Networks.bridge.IPPrefixLen}} {{.NetworkSettings.Networks.bridge.Gateway}}",
            "db-server",
        ],
    );
    assert_eq!(top, nets);
    assert!(!top.starts_with('/'), "no IPAddress: {top:?}");
    for target in ["db", "db-server"] {
        let o = berth_tests::docker(d, &["exec", "web-app", "ping", "-c1", target]);
        assert!(o.success(), "ping {target}: {o}");
    }
    let links = docker_ok(
        d,
        &["inspect", "-f", "{{json .HostConfig.Links}}", "web-app"],
    );
    assert_eq!(links, r#"["/db-server:/web-app/db"]"#);

    // --network host: the container sees the host's interfaces and address.
    let o = berth_tests::docker(
        d,
        &["run", "--rm", "--network", "host", &img, "ip", "-4", "addr"],
    );
    assert!(o.success(), "{o}");
    assert!(o.stdout.contains(&topo.host_ip().to_string()), "{o}");

    // docker port
    docker_ok(
        d,
        &["run", "-d", "--name", "published", "-p", "8080:80", &img],
    );
    let out = docker_ok(d, &["port", "published"]);
    assert!(
        out.lines().any(|l| l == "80/tcp -> 0.0.0.0:8080"),
        "docker port:\n{out}"
    );
    assert_eq!(
        docker_ok(d, &["port", "published", "80"]).lines().next(),
        Some("0.0.0.0:8080")
    );

    docker_ok(
        d,
        &[
            "rm",
            "-f",
            "container-1",
            "container-2",
            "db-server",
            "web-app",
            "published",
        ],
    );
    docker_ok(d, &["network", "rm", "my-custom-bridge"]);
    assert_eq!(docker_ok(d, &["ps", "-aq"]), "");
}
