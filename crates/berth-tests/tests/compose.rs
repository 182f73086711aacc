//! Docker Compose (Debian's `docker-compose` 1.29, which speaks the Engine API through
//! docker-py) against berthd: a two-service project on a user-defined network, one service
//! reaching the other by its service name, a published port answering from the outside
//! namespace, and `down` removing containers and the network.
//!
//! Compose talks to berthd only (`DOCKER_HOST=unix://<socket>`); the project uses the busybox
//! image the harness imports, so nothing is pulled and no traffic leaves the test's namespaces.
//!
//! Also here: regression tests for the Engine API gaps Compose and the docker CLI exposed
//! (daemon-side list filters, rename, `POST /auth` that waited, volumes silently dropped,
//! unimplemented endpoints with large bodies).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_tests::util::{env_flag, run_captured, which};
use berth_tests::{ok, setup, wait_until, Daemon, Output, TestEnv};

const COMPOSE_BIN: &str = "/usr/bin/docker-compose";

/// The compose binary, or `None` (test skipped) when it is not installed.
fn compose_path(test: &str) -> Option<PathBuf> {
    if let Some(p) = which(COMPOSE_BIN).or_else(|| which("docker-compose")) {
        return Some(p);
    }
    if env_flag("BERTH_REQUIRE_PRIVILEGED") || env_flag("BERTH_REQUIRE_COMPOSE") {
        panic!("{test}: docker-compose is missing: run scripts/install-test-deps.sh");
    }
    println!("skipped: {test} needs docker-compose (apt-get install docker-compose)");
    None
}

/// `docker-compose -p PROJECT -f FILE args...` against the test daemon (60 s deadline).
fn compose(bin: &Path, d: &Daemon, project: &str, file: &Path, args: &[&str]) -> Output {
    compose_env(bin, d, project, file, args, &[])
}

/// Like [`compose`] with extra environment variables.
fn compose_env(
    bin: &Path,
    d: &Daemon,
    project: &str,
    file: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut c = Command::new(bin);
    c.arg("--ansi")
        .arg("never")
        .arg("-p")
        .arg(project)
        .arg("-f")
        .arg(file)
        .args(args)
        .current_dir(file.parent().unwrap());
    for var in [
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
    ] {
        c.env_remove(var);
    }
    c.env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir().join("cli-config"))
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .env("HOME", d.dir())
        .envs(env.iter().copied());
    let line = format!("docker-compose {}", args.join(" "));
    match run_captured(&mut c, None, Duration::from_secs(60)) {
        Ok(cap) => Output {
            cmdline: line,
            status: cap.status,
            stdout: String::from_utf8_lossy(&cap.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&cap.stderr).into_owned(),
        },
        Err(msg) => panic!("{msg}\nberthd log tail:\n{}", d.log_tail(80)),
    }
}

fn compose_ok(bin: &Path, d: &Daemon, project: &str, file: &Path, args: &[&str]) -> Output {
    let o = compose(bin, d, project, file, args);
    assert!(
        o.success(),
        "expected success:\n{o}\nberthd log tail:\n{}",
        d.log_tail(80)
    );
    o
}

const PROJECT_YML: &str = r#"version: "2.4"
services:
  web:
    image: bb:latest
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
      - "18080:8080"
    networks:
      - appnet
  client:
    image: bb:latest
    depends_on:
      - web
    command: ["sh", "-c", "for i in $$(seq 100); do timeout 3 wget -q -O - http://web:8080/ && break; sleep 0.2; done; echo client-done; exec sleep 3600"]
    networks:
      - appnet
networks:
  appnet: {}
"#;

/// GET `url` from the outside namespace with the host's busybox wget.
fn outside_get(env: &TestEnv, url: &str) -> Output {
    berth_tests::in_ns(
        env.topo.outside_ns(),
        &["timeout", "3", "busybox", "wget", "-q", "-O", "-", url],
    )
}

#[test]
fn compose_two_services_up_and_down() {
    let Some(bin) = compose_path("compose-up") else {
        return;
    };
    let Some(env) = setup("compose-up") else {
        return;
    };
    let d = &env.daemon;
    let dir = env.topo.dir().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("docker-compose.yml");
    std::fs::write(&file, PROJECT_YML).unwrap();
    let p = "demo";

    compose_ok(&bin, d, p, &file, &["up", "-d"]);

    // Both containers run, under Compose's names, with its labels.
    let ps = ok(d, &["ps", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = ps.lines().collect();
    names.sort();
    assert_eq!(
        names,
        vec!["demo_client_1", "demo_web_1"],
        "berth ps:\n{ps}"
    );
    let web = berth_tests::inspect(d, "demo_web_1");
    assert_eq!(web["Config"]["Labels"]["com.docker.compose.project"], p);
    assert_eq!(web["Config"]["Labels"]["com.docker.compose.service"], "web");
    assert!(
        web["NetworkSettings"]["Networks"]["demo_appnet"].is_object(),
        "web is not on demo_appnet: {}",
        web["NetworkSettings"]
    );

    // The published port answers from the outside namespace (the LAN).
    let url = format!("http://{}:18080/", env.topo.host_ip());
    assert!(
        wait_until(Duration::from_secs(15), || outside_get(&env, &url)
            .stdout
            .contains("hello-from-web")),
        "published port 18080 never answered: {}\nberthd log tail:\n{}",
        outside_get(&env, &url),
        d.log_tail(40)
    );

    // `client` reached `web` by its service name.
    assert!(
        wait_until(Duration::from_secs(30), || {
            compose(&bin, d, p, &file, &["logs", "--no-color", "client"])
                .stdout
                .contains("client-done")
        }),
        "client never finished: {}",
        compose(&bin, d, p, &file, &["logs", "--no-color", "client"])
    );
    let logs = compose_ok(&bin, d, p, &file, &["logs", "--no-color", "client"]);
    assert!(
        logs.stdout.contains("hello-from-web"),
        "client did not reach web by name:\n{logs}"
    );
    // The name resolves to web's address on the project network.
    let web_ip = web["NetworkSettings"]["Networks"]["demo_appnet"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let o = compose_ok(
        &bin,
        d,
        p,
        &file,
        &["exec", "-T", "client", "nslookup", "web"],
    );
    assert!(o.stdout.contains(&web_ip), "nslookup web → {o}");

    // A changed service is recreated (Compose renames the old container away, creates the
    // new one under the service's name, then removes the old one) and is found by name again.
    let yml2 = PROJECT_YML.replace("hello-from-web", "hello-again");
    std::fs::write(&file, &yml2).unwrap();
    // Compose 1.29 reads the image's `ContainerConfig`, which API 1.45 dropped: against
    // Docker ≥ 25 as against berth, a recreate needs COMPOSE_API_VERSION ≤ 1.44.
    let o = compose(&bin, d, p, &file, &["up", "-d", "web"]);
    assert!(o.stderr.contains("ContainerConfig"), "{o}");
    let o = compose_env(
        &bin,
        d,
        p,
        &file,
        &["up", "-d", "web"],
        &[("COMPOSE_API_VERSION", "1.44")],
    );
    assert!(o.success(), "{o}\nberthd log tail:\n{}", d.log_tail(60));
    let web2 = berth_tests::inspect(d, "demo_web_1");
    assert_ne!(web2["Id"], web["Id"], "web was not recreated");
    let ps = ok(d, &["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = ps.lines().collect();
    names.sort();
    assert_eq!(
        names,
        vec!["demo_client_1", "demo_web_1"],
        "berth ps -a:\n{ps}"
    );
    assert!(
        wait_until(Duration::from_secs(15), || outside_get(&env, &url)
            .stdout
            .contains("hello-again")),
        "recreated web never answered on 18080: {}",
        outside_get(&env, &url)
    );
    let o = compose_ok(
        &bin,
        d,
        p,
        &file,
        &[
            "exec",
            "-T",
            "client",
            "wget",
            "-q",
            "-O",
            "-",
            "http://web:8080/",
        ],
    );
    assert!(o.stdout.contains("hello-again"), "{o}");

    // `compose ps` sees both services.
    let o = compose_ok(&bin, d, p, &file, &["ps"]);
    assert!(
        o.stdout.contains("demo_web_1") && o.stdout.contains("demo_client_1"),
        "{o}"
    );

    // down: containers and the network are gone.
    compose_ok(&bin, d, p, &file, &["down", "-t", "1"]);
    assert_eq!(ok(d, &["ps", "-aq"]), "", "containers left after down");
    let nets = ok(d, &["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !nets.contains("demo_appnet"),
        "network left after down:\n{nets}"
    );
    // The published port is closed again.
    assert!(!outside_get(&env, &url).success());
}

/// The daemon itself applies list filters (the CLIs filter again client-side, which hid that
/// berthd ignored them on `/containers/json` and OR-ed `label` values on `/networks`).
#[test]
fn daemon_applies_container_and_network_filters() {
    let Some(env) = setup("compose-filters") else {
        return;
    };
    let d = &env.daemon;
    ok(
        d,
        &[
            "network", "create", "--label", "p=x", "--label", "n=a", "net-a",
        ],
    );
    ok(d, &["network", "create", "--label", "p=x", "net-b"]);
    for (name, labels) in [("c-web", "s=web"), ("c-db", "s=db")] {
        ok(
            d,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--network",
                "none",
                "--label",
                "p=x",
                "--label",
                labels,
                "bb:latest",
                "sleep",
                "100",
            ],
        );
    }
    ok(
        d,
        &[
            "create",
            "--name",
            "c-new",
            "--label",
            "p=x",
            "bb:latest",
            "true",
        ],
    );
    let q = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let names = |path: &str, key: &str| -> Vec<String> {
        let r = d.api("GET", path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let mut v: Vec<String> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| match &x[key] {
                serde_json::Value::Array(a) => {
                    a[0].as_str().unwrap().trim_start_matches('/').into()
                }
                other => other.as_str().unwrap().to_string(),
            })
            .collect();
        v.sort();
        v
    };
    // Labels: every one given must match.
    let f = q(r#"{"label":["p=x","s=web"]}"#);
    assert_eq!(
        names(&format!("/containers/json?filters={f}"), "Names"),
        ["c-web"]
    );
    let f = q(r#"{"label":["p=x","n=a"]}"#);
    assert_eq!(names(&format!("/networks?filters={f}"), "Name"), ["net-a"]);
    let f = q(r#"{"label":{"p=x":true}}"#);
    assert_eq!(
        names(&format!("/networks?filters={f}"), "Name"),
        ["net-a", "net-b"]
    );
    // status looks at stopped containers without all=1; values of one key are alternatives.
    let f = q(r#"{"status":["created","exited"]}"#);
    assert_eq!(
        names(&format!("/containers/json?filters={f}"), "Names"),
        ["c-new"]
    );
    let f = q(r#"{"name":["^c-w","db$"]}"#);
    assert_eq!(
        names(&format!("/containers/json?filters={f}"), "Names"),
        ["c-db", "c-web"]
    );
    // limit: the newest, stopped ones included.
    assert_eq!(names("/containers/json?limit=1", "Names"), ["c-new"]);
    // Unknown keys are refused as Docker refuses them.
    let f = q(r#"{"bogus":["1"]}"#);
    let r = d.api("GET", &format!("/containers/json?filters={f}"), None);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("invalid filter 'bogus'"), "{}", r.text());
    ok(d, &["rm", "-f", "c-web", "c-db", "c-new"]);
}

/// Runs `f` on a thread inside network namespace `ns` (a path under /var/run/netns).
fn in_netns<T: Send + 'static>(ns: PathBuf, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::os::unix::io::AsRawFd;
    std::thread::spawn(move || {
        let file =
            std::fs::File::open(&ns).unwrap_or_else(|e| panic!("open {}: {e}", ns.display()));
        // SAFETY: setns on a valid fd; it changes only this fresh thread's namespace.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            panic!(
                "setns {}: {}",
                ns.display(),
                std::io::Error::last_os_error()
            );
        }
        f()
    })
    .join()
    .expect("thread in a test namespace panicked")
}

/// Bug: `POST /auth` with `{}` (Docker Hub, no credentials), or for a registry that accepts
/// connections and never answers, kept the request waiting for a minute or more. Now `{}` is
/// refused at once (nothing to log in with, no traffic) and a silent registry gives up within
/// the login timeout (10 s), both with a Docker `{"message": ...}` error.
#[test]
fn auth_with_empty_body_or_silent_registry_answers_promptly() {
    if !berth_tests::privileged("compose-auth") {
        return;
    }
    let topo = berth_tests::Topology::new("compose-auth");
    // A "registry" in the outside namespace that accepts connections and never answers.
    let addr = format!("{}:5001", topo.outside_ip());
    let listener = {
        let a = addr.clone();
        in_netns(topo.outside_ns_path(), move || {
            std::net::TcpListener::bind(&a).expect("bind the silent registry")
        })
    };
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let held = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Accept and hold connections (never answering) until told to stop.
            let mut conns = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((c, _)) => conns.push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    let d = Daemon::start_with_args(&topo, &["--insecure-registry", &addr]);

    let t = std::time::Instant::now();
    let r = d.api("POST", "/auth", Some(b"{}"));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no credentials given"),
        "{}",
        r.text()
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    let body = format!(r#"{{"username":"u","password":"p","serveraddress":"{addr}"}}"#);
    let t = std::time::Instant::now();
    let r = d.api("POST", "/auth", Some(body.as_bytes()));
    let took = t.elapsed();
    assert!(r.status >= 400, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("error contacting registry"), "{msg}");
    assert!(msg.contains(&addr), "{msg}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // The CLI shows the same error instead of waiting.
    let o = berth_tests::berth_input(&d, &["login", "-u", "u", "--password-stdin", &addr], b"p\n");
    assert!(!o.success(), "{o}");
    assert!(o.err().contains("error contacting registry"), "{o}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = held.join();
    drop(d);
    drop(topo);
}

/// `POST /containers/{id}/rename` (was 501, which broke every Compose recreate): the new name
/// is taken at once, including in the embedded DNS, and a taken name is refused with 409.
#[test]
fn rename_takes_effect_in_dns_and_refuses_taken_names() {
    let Some(env) = setup("compose-rename") else {
        return;
    };
    let d = &env.daemon;
    ok(d, &["network", "create", "rn-net"]);
    for c in ["old-name", "asker"] {
        ok(
            d,
            &[
                "run",
                "-d",
                "--name",
                c,
                "--network",
                "rn-net",
                "bb:latest",
                "sleep",
                "100",
            ],
        );
    }
    let ip = berth_tests::inspect(d, "old-name")["NetworkSettings"]["Networks"]["rn-net"]
        ["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let r = d.api("POST", "/containers/old-name/rename?name=asker", None);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("is already in use"), "{}", r.text());
    let r = d.api("POST", "/containers/old-name/rename?name=bad%20name", None);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.api("POST", "/containers/nope/rename?name=x2", None);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = d.api("POST", "/containers/old-name/rename?name=new-name", None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(berth_tests::inspect(d, "new-name")["Name"], "/new-name");
    let o = d.berth(&["exec", "asker", "nslookup", "new-name"]);
    assert!(o.success() && o.stdout.contains(&ip), "{o}");
    let o = d.berth(&["exec", "asker", "nslookup", "old-name"]);
    assert!(!o.stdout.contains(&ip), "old name still resolves: {o}");
    // The old name is free again.
    ok(d, &["create", "--name", "old-name", "bb:latest", "true"]);
    ok(d, &["rm", "-f", "new-name", "asker", "old-name"]);
}

/// Bug: `-v`, `--mount`, `--tmpfs` were accepted and silently dropped (the container ran with
/// its data in its own layer). berth has no volumes yet: create now refuses them with 501.
#[test]
fn volumes_and_bind_mounts_are_refused_not_ignored() {
    let Some(env) = setup("compose-volumes") else {
        return;
    };
    let d = &env.daemon;
    for hc in [
        r#"{"Binds":["/tmp:/data"]}"#,
        r#"{"Mounts":[{"Type":"volume","Source":"v1","Target":"/data"}]}"#,
        r#"{"Tmpfs":{"/x":""}}"#,
    ] {
        let body = format!(r#"{{"Image":"bb:latest","Cmd":["true"],"HostConfig":{hc}}}"#);
        let r = d.api("POST", "/containers/create?name=vol", Some(body.as_bytes()));
        assert_eq!(r.status, 501, "{hc}: {}", r.text());
        assert!(
            r.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains("not implemented by berth")),
            "{hc}: {}",
            r.text()
        );
    }
    let r = d.api(
        "POST",
        "/containers/create",
        Some(br#"{"Image":"bb:latest","Cmd":["true"],"Volumes":{"/anon":{}}}"#),
    );
    assert_eq!(r.status, 501, "{}", r.text());
    // Nothing was created; empty lists (what Compose sends) are fine.
    assert_eq!(ok(d, &["ps", "-aq"]), "");
    let r = d.api(
        "POST",
        "/containers/create",
        Some(br#"{"Image":"bb:latest","Cmd":["true"],"Volumes":{},"HostConfig":{"Binds":[],"Mounts":[]}}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    if berth_tests::docker_available() {
        let o = d.docker(&["run", "--rm", "-v", "/tmp:/data", "bb:latest", "true"]);
        assert!(!o.success(), "{o}");
        assert!(o.stderr.contains("not implemented by berth"), "{o}");
    }
}

/// Bug: an unimplemented endpoint with a large body (`docker cp` into a container, a build
/// context) answered "request body larger than 4194304 bytes", or the client saw a broken
/// pipe; now it gets the "not implemented by berth" error.
#[test]
fn unimplemented_endpoint_with_large_body_says_so() {
    if !berth_tests::docker_available() {
        println!("skipped: docker CLI not installed");
        return;
    }
    let Some(env) = setup("compose-bigbody") else {
        return;
    };
    let d = &env.daemon;
    ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "cp-target",
            "--network",
            "none",
            "bb:latest",
            "sleep",
            "100",
        ],
    );
    let big = env.topo.dir().join("big");
    std::fs::write(&big, vec![7u8; 6 << 20]).unwrap();
    let o = d.docker(&["cp", &big.to_string_lossy(), "cp-target:/tmp"]);
    assert!(!o.success(), "{o}");
    assert!(
        o.stderr
            .contains("PUT /containers/cp-target/archive is not implemented by berth"),
        "{o}"
    );
    // The daemon still serves requests.
    assert_eq!(ok(d, &["exec", "cp-target", "echo", "alive"]), "alive");
    ok(d, &["rm", "-f", "cp-target"]);
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `GET /events` (was 501: `docker events`, Compose's `up`/`logs -f` watchers): past events
/// from `since`, live ones until `until`, with Docker's filters and JSON shape.
#[test]
fn events_report_container_and_network_lifecycle() {
    let Some(env) = setup("compose-events") else {
        return;
    };
    let d = &env.daemon;
    let t0 = format!("{:.3}", unix_now() - 1.0);
    ok(d, &["network", "create", "ev-net"]);
    ok(
        d,
        &[
            "run",
            "-d",
            "--name",
            "ev1",
            "--network",
            "ev-net",
            "--label",
            "team=red",
            "bb:latest",
            "sleep",
            "100",
        ],
    );
    ok(d, &["stop", "-t", "1", "ev1"]);
    ok(d, &["rm", "ev1"]);
    ok(d, &["network", "rm", "ev-net"]);
    let until = format!("{:.3}", unix_now() + 1.0);
    let r = d.api("GET", &format!("/events?since={t0}&until={until}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let got: Vec<String> = r
        .text()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("event JSON");
            format!(
                "{} {} {}",
                v["Type"].as_str().unwrap(),
                v["Action"].as_str().unwrap(),
                v["Actor"]["Attributes"]["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    let want = [
        "network create ev-net",
        "container create ev1",
        "container start ev1",
        "container kill ev1",
        "container die ev1",
        "container stop ev1",
        "container destroy ev1",
        "network destroy ev-net",
    ];
    let mut it = got.iter();
    for w in want {
        assert!(
            it.any(|g| g == w),
            "missing or out of order: {w:?}\nall events:\n{}",
            got.join("\n")
        );
    }
    // Filters, through the docker CLI as users type them.
    if berth_tests::docker_available() {
        let out = berth_tests::docker_ok(
            d,
            &[
                "events",
                "--since",
                &t0,
                "--until",
                &until,
                "--filter",
                "label=team=red",
                "--filter",
                "event=die",
                "--format",
                "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
            ],
        );
        // sleep as pid 1 ignores SIGTERM: killed after the 1 s timeout.
        assert_eq!(out, "container die ev1 137", "docker events:\n{out}");
    }
    // Live: a stream open before the container starts sees it, and ends at `until`.
    let until = format!("{:.3}", unix_now() + 4.0);
    let sock = d.socket();
    let live = std::thread::spawn(move || {
        berth_tests::http::request(
            &sock,
            "GET",
            &format!("/events?until={until}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D"),
            None,
            Duration::from_secs(20),
        )
        .expect("events request")
    });
    std::thread::sleep(Duration::from_millis(1000));
    ok(
        d,
        &[
            "run",
            "--rm",
            "--name",
            "ev2",
            "--network",
            "none",
            "bb:latest",
            "true",
        ],
    );
    let r = live.join().unwrap();
    let text = r.text();
    assert!(
        text.contains(r#""Action":"start""#) && text.contains("ev2"),
        "{text}"
    );
    assert!(!text.contains(r#""Type":"network""#), "{text}");
}
