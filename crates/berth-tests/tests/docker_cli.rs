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
