//! The API socket under hostile or broken clients: oversized bodies, slow clients, malformed
//! JSON, unknown endpoints and garbage requests. berthd must answer each with the right status
//! and a message (or close the connection), never hang, never crash, and keep serving everyone
//! else.
//!
//! Requests are written by hand over the unix socket (the harness's client only does
//! well-formed ones).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use berth_tests::http::{parse_response, Response};
use berth_tests::{
    berth_timeout, is_hex_id, require_setup, wait_until, Daemon, BUSYBOX_IMAGE as BB,
};

const LIMIT: usize = 4 << 20;

/// True when `raw` holds a whole response (headers, and the body its headers announce).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    if head.starts_with("http/1.1 1") || head.contains(" 204 ") || head.contains(" 304 ") {
        return true;
    }
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return body.len() >= len;
    }
    head.contains("transfer-encoding: chunked") && body.ends_with(b"0\r\n\r\n")
}

/// Sends `head` then `body` (from a separate thread, so that a server that answers early and
/// stops reading cannot block us), and reads until the server closes or a whole response is
/// in. `Err` on a hang.
fn exchange(sock: &Path, head: &[u8], body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, String> {
    exchange_opts(sock, head, body, timeout, false)
}

/// [`exchange`]; with `keep_reading`, until the server closes (pipelined requests).
fn exchange_opts(
    sock: &Path,
    head: &[u8],
    body: Vec<u8>,
    timeout: Duration,
    keep_reading: bool,
) -> Result<Vec<u8>, String> {
    let mut s = UnixStream::connect(sock).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    let mut w = s.try_clone().map_err(|e| format!("clone: {e}"))?;
    let head = head.to_vec();
    let writer = thread::spawn(move || {
        // The server may close early (413, 400): EPIPE/ECONNRESET are expected then.
        if w.write_all(&head).is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if w.write_all(chunk).is_err() {
                    break;
                }
            }
        }
    });
    let t0 = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if complete(&raw) && !keep_reading {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no end of response within {:?} (got {:?})",
                    t0.elapsed(),
                    String::from_utf8_lossy(&raw[..raw.len().min(300)])
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    Ok(raw)
}

/// One well-formed request with a JSON body (`Connection: close`): the parsed response.
fn request(d: &Daemon, method: &str, path: &str, body: &[u8]) -> Response {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let raw = exchange(
        &d.socket(),
        head.as_bytes(),
        body.to_vec(),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}\nberthd log tail:\n{}", d.log_tail(30)));
    parse_response(&raw, method == "HEAD")
        .unwrap_or_else(|e| panic!("{method} {path}: unparsable response ({e})"))
}

/// The daemon still answers: `/_ping` and `berth ps`.
fn assert_serving(d: &Daemon, ctx: &str) {
    let r = request(d, "GET", "/_ping", b"");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"), "{ctx}: /_ping");
    let t0 = Instant::now();
    let o = berth_timeout(d, &["ps"], Duration::from_secs(30));
    assert!(o.success(), "{ctx}: berth ps:\n{o}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "{ctx}: berth ps took {:?}",
        t0.elapsed()
    );
}

/// `{"message": "..."}` with something in it.
fn message(r: &Response) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
        panic!(
            "status {}: body is not JSON ({e}): {:?}",
            r.status,
            r.text()
        )
    });
    let m = v["message"].as_str().unwrap_or_default().to_string();
    assert!(
        !m.trim().is_empty(),
        "status {}: no message in {v}",
        r.status
    );
    m
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|r| r.count())
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A JSON document of exactly `len` bytes: `{"Image":"nosuchimage","Labels":{"pad":"xxx…"}}`.
fn padded_create_body(len: usize) -> Vec<u8> {
    let pre = br#"{"Image":"nosuchimage:1","Labels":{"pad":""#;
    let post = br#""}}"#;
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(pre);
    b.resize(len - post.len(), b'x');
    b.extend_from_slice(post);
    b
}

#[test]
fn oversized_bodies_are_refused_with_413_and_the_daemon_keeps_serving() {
    let env = require_setup!("rb-413");
    let d = &env.daemon;
    let pid = d.pid().expect("berthd runs");
    let rss0 = rss_kb(pid);
    let before = d.ok(&["ps", "-a", "-q"]);

    // Just under the limit: read whole and answered by the engine (no such image), not 413.
    let r = request(
        d,
        "POST",
        "/containers/create",
        &padded_create_body(LIMIT - 1024),
    );
    assert_ne!(
        r.status,
        413,
        "a body under 4 MiB was refused as too large: {}",
        r.text()
    );
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.text());
    message(&r);

    for (path, len) in [
        ("/containers/create", LIMIT + 1),
        ("/containers/create", LIMIT + (1 << 20)),
        ("/v1.47/containers/create", 3 * LIMIT),
        ("/networks/create", LIMIT + 4096),
    ] {
        let t0 = Instant::now();
        let r = request(d, "POST", path, &padded_create_body(len));
        let m = message(&r);
        assert_eq!(r.status, 413, "POST {path} with a {len}-byte body: {m}");
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "POST {path} ({len} bytes): 413 took {:?}",
            t0.elapsed()
        );
    }
    // Chunked, no Content-Length: the limit holds all the same.
    let mut body = Vec::new();
    let chunk = padded_create_body(256 * 1024);
    for _ in 0..20 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let raw = exchange(&d.socket(), head.as_bytes(), body, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("chunked 5 MiB body: {e}"));
    let r = parse_response(&raw, false).expect("response");
    assert_eq!(r.status, 413, "chunked 5 MiB body: {}", r.text());

    // Several at once.
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let r = request(
                    d,
                    "POST",
                    "/containers/create",
                    &padded_create_body(LIMIT + 10),
                );
                assert_eq!(r.status, 413, "{}", r.text());
            });
        }
    });

    assert_serving(d, "after the oversized bodies");
    assert_eq!(
        d.ok(&["ps", "-a", "-q"]),
        before,
        "an oversized request created something"
    );
    let rss1 = rss_kb(pid);
    println!("robustness: berthd RSS {rss0} kB before the oversized bodies, {rss1} kB after");
    assert!(
        rss1 < rss0 + 64 * 1024,
        "RSS grew from {rss0} kB to {rss1} kB"
    );
}

#[test]
fn slow_clients_do_not_block_others() {
    let env = require_setup!("rb-slow");
    let d = &env.daemon;
    let pid = d.pid().expect("berthd runs");
    d.ok(&["run", "-d", "--name", "busy", BB, "sleep", "600"]);
    let fds0 = fds(pid);

    let mut stalled = Vec::new();
    // 20 clients send half a request header and stall...
    for i in 0..20 {
        let mut s = UnixStream::connect(d.socket()).expect("connect");
        write!(
            s,
            "GET /containers/json?all=1 HTTP/1.1\r\nHost: berth\r\nUser-Agent: slow-{i}\r\nAcc"
        )
        .expect("write");
        stalled.push(s);
    }
    // ...and 10 more send a header announcing a body that never comes.
    for _ in 0..10 {
        let mut s = UnixStream::connect(d.socket()).expect("connect");
        write!(
            s,
            "POST /containers/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"Ima"
        )
        .expect("write");
        stalled.push(s);
    }
    thread::sleep(Duration::from_millis(200));

    for round in 0..3 {
        let t0 = Instant::now();
        let o = berth_timeout(d, &["ps"], Duration::from_secs(30));
        let took = t0.elapsed();
        assert!(o.success(), "berth ps with 30 stalled clients:\n{o}");
        assert!(o.stdout.contains("busy"), "{o}");
        assert!(
            took < Duration::from_secs(2),
            "round {round}: `berth ps` took {took:?} with 30 stalled clients"
        );
    }
    let t0 = Instant::now();
    let o = berth_timeout(
        d,
        &["exec", "busy", "echo", "alive"],
        Duration::from_secs(30),
    );
    assert!(o.success() && o.out() == "alive", "{o}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "exec took {:?}",
        t0.elapsed()
    );
    let r = request(d, "GET", "/_ping", b"");
    assert_eq!(r.status, 200);
    println!(
        "robustness: berthd fds {fds0} before, {} with 30 stalled clients",
        fds(pid)
    );

    // When the slow clients give up, their connections are released.
    drop(stalled);
    let back = wait_until(Duration::from_secs(3), || fds(pid) <= fds0 + 2);
    assert!(
        back,
        "berthd holds {} fds after the slow clients left, {fds0} before",
        fds(pid)
    );
    assert_serving(d, "after the slow clients");
}

#[test]
fn malformed_json_gets_400_with_a_message_on_every_post_route() {
    let env = require_setup!("rb-json");
    let d = &env.daemon;
    d.ok(&["network", "create", "jnet"]);
    let cid = d.ok(&[
        "run",
        "-d",
        "--name",
        "jc",
        "--network",
        "jnet",
        BB,
        "sleep",
        "600",
    ]);
    assert!(is_hex_id(&cid, 64));
    let r = request(
        d,
        "POST",
        &format!("/containers/{cid}/exec"),
        br#"{"Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 201, "exec create: {}", r.text());
    let exec_id = r.json()["Id"].as_str().unwrap_or_default().to_string();
    assert!(!exec_id.is_empty());
    let ps_before = d.ok(&["ps", "-a", "-q", "--no-trunc"]);
    let nets_before = d.ok(&["network", "ls", "-q"]);

    let syntax: Vec<(&str, Vec<u8>)> = vec![
        ("an unterminated object", b"{".to_vec()),
        ("a truncated value", br#"{"Image":"#.to_vec()),
        ("not JSON at all", b"not json".to_vec()),
        ("a trailing comma", br#"{"Image":"bb",}"#.to_vec()),
        ("two documents", br#"{"a":1}{"b":2}"#.to_vec()),
        ("a NUL byte", b"{\"Image\":\"bb\"}\0".to_vec()),
        ("100 000 nested arrays", "[".repeat(100_000).into_bytes()),
        (
            "100 000 nested objects",
            "{\"a\":".repeat(100_000).into_bytes(),
        ),
    ];
    // Valid JSON, wrong shape, per route that decodes a typed document.
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("an array", b"[1,2]".to_vec()),
        ("a string", b"\"str\"".to_vec()),
        ("a number", b"42".to_vec()),
    ];
    let routes: Vec<(String, Option<&str>)> = vec![
        ("/containers/create".into(), Some(r#"{"Image":5}"#)),
        (
            "/v1.47/containers/create?name=jx".into(),
            Some(r#"{"Cmd":"ls","Image":"bb"}"#),
        ),
        (format!("/containers/{cid}/exec"), Some(r#"{"Cmd":"ls"}"#)),
        (format!("/exec/{exec_id}/start"), None),
        ("/networks/create".into(), Some(r#"{"Name":5}"#)),
        (
            "/networks/jnet/connect".into(),
            Some(r#"{"Container":["jc"]}"#),
        ),
        (
            "/networks/jnet/disconnect".into(),
            Some(r#"{"Container":{"x":1}}"#),
        ),
        ("/auth".into(), Some(r#"{"username":5}"#)),
    ];
    let mut bad = Vec::new();
    for (path, wrong_field) in &routes {
        let mut bodies: Vec<(String, Vec<u8>)> = syntax
            .iter()
            .map(|(w, b)| (w.to_string(), b.clone()))
            .collect();
        if let Some(f) = wrong_field {
            // (exec start decodes into an untyped document: any valid JSON is accepted)
            bodies.extend(shapes.iter().map(|(w, b)| (w.to_string(), b.clone())));
            bodies.push((
                format!("a field of the wrong type ({f})"),
                f.as_bytes().to_vec(),
            ));
        }
        for (what, body) in bodies {
            let r = request(d, "POST", path, &body);
            let v: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
            let msg = v
                .as_ref()
                .and_then(|v| v["message"].as_str())
                .unwrap_or_default()
                .to_string();
            if r.status != 400 || msg.trim().is_empty() {
                bad.push(format!(
                    "POST {path} with {what}: {} {:?}",
                    r.status,
                    r.text()
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "expected 400 with a message:\n{}",
        bad.join("\n")
    );
    assert_serving(d, "after the malformed bodies");
    assert_eq!(
        d.ok(&["ps", "-a", "-q", "--no-trunc"]),
        ps_before,
        "a malformed request created a container"
    );
    assert_eq!(
        d.ok(&["network", "ls", "-q"]),
        nets_before,
        "a malformed request changed the networks"
    );
    let v = d.inspect("jc");
    assert_eq!(v["State"]["Running"], true);
    assert!(
        v["NetworkSettings"]["Networks"]["jnet"].is_object(),
        "jc left jnet"
    );

    // Routes that take no body ignore garbage in it (as Docker does) and answer quickly.
    for path in [
        "/containers/nosuch/start",
        "/containers/nosuch/stop",
        "/containers/nosuch/kill",
        "/containers/nosuch/restart",
        "/containers/nosuch/wait",
        "/exec/nosuch/resize",
    ] {
        let t0 = Instant::now();
        let r = request(d, "POST", path, b"{garbage");
        assert!(
            r.status < 500 && t0.elapsed() < Duration::from_secs(5),
            "POST {path} with a garbage body: {} {} after {:?}",
            r.status,
            r.text(),
            t0.elapsed()
        );
    }
}

#[test]
fn unknown_endpoints_answer_501_never_hang() {
    let env = require_setup!("rb-501");
    let d = &env.daemon;
    let long = format!("/containers/{}/json", "a".repeat(60_000));
    for (method, path) in [
        ("POST", "/swarm/init"),
        ("GET", "/swarm"),
        ("GET", "/services"),
        ("GET", "/v1.47/nodes"),
        ("GET", "/secrets"),
        ("GET", "/configs"),
        ("GET", "/plugins"),
        ("POST", "/session"),
        ("GET", "/distribution/bb/json"),
        ("PUT", "/containers/x/archive"),
        ("PATCH", "/containers/json"),
        ("OPTIONS", "/containers/json"),
        ("BREW", "/coffee"),
        ("GET", "/"),
        ("GET", "/v1.47/"),
        ("GET", "/containers"),
        ("DELETE", "/containers"),
        ("GET", "/containers/json/extra/segments"),
    ] {
        let t0 = Instant::now();
        let r = request(d, method, path, b"");
        let m = message(&r);
        assert_eq!(r.status, 501, "{method} {path}: {m}");
        assert!(
            m.contains("not implemented by berth"),
            "{method} {path}: {m:?}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{method} {path} took {:?}",
            t0.elapsed()
        );
    }
    // HEAD: the status without a body.
    let r = request(d, "HEAD", "/swarm", b"");
    assert_eq!(r.status, 501);
    // A very long path: an answer, not a hang (404: no such container).
    let r = request(d, "GET", &long, b"");
    assert!((400..600).contains(&r.status), "{}", r.status);
    assert_serving(d, "after the unknown endpoints");
}

#[test]
fn garbage_requests_get_an_answer_or_a_close_never_a_hang() {
    let env = require_setup!("rb-garbage");
    let d = &env.daemon;
    let many_headers: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("binary junk", b"\x00\x01\x02\x03\xff\r\n\r\n".to_vec()),
        ("a bare method", b"GET\r\n\r\n".to_vec()),
        ("HTTP/9.9", b"GET /_ping HTTP/9.9\r\nConnection: close\r\n\r\n".to_vec()),
        ("no Host, HTTP/1.0", b"GET /_ping HTTP/1.0\r\n\r\n".to_vec()),
        ("a 200 kB header", format!("GET /_ping HTTP/1.1\r\nHost: b\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "y".repeat(200_000)).into_bytes()),
        ("500 headers", format!("GET /_ping HTTP/1.1\r\nHost: b\r\n{many_headers}Connection: close\r\n\r\n").into_bytes()),
        ("a bad Content-Length", b"POST /containers/create HTTP/1.1\r\nHost: b\r\nContent-Length: -5\r\nConnection: close\r\n\r\n".to_vec()),
        ("two Content-Lengths", b"POST /networks/create HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}x".to_vec()),
        ("a bad chunk size", b"POST /networks/create HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec()),
        ("a CR-less request", b"GET /_ping HTTP/1.1\nHost: b\nConnection: close\n\n".to_vec()),
        ("a space in the path", b"GET /containers/a b/json HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".to_vec()),
        ("a hijack upgrade to nowhere", b"POST /exec/nosuch/start HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_vec()),
    ];
    for (what, req) in cases {
        let t0 = Instant::now();
        match exchange(&d.socket(), &req, Vec::new(), Duration::from_secs(5)) {
            Ok(raw) => {
                if !raw.is_empty() {
                    let r = parse_response(&raw, false).unwrap_or_else(|e| {
                        panic!(
                            "{what}: not an HTTP response ({e}): {:?}",
                            String::from_utf8_lossy(&raw)
                        )
                    });
                    assert!(r.status >= 200, "{what}: {}", r.status);
                }
            }
            Err(e) => panic!("{what}: {e} (after {:?})", t0.elapsed()),
        }
        assert_serving(d, what);
    }

    // Pipelined requests on one connection: both answered, in order.
    let raw = exchange_opts(
        &d.socket(),
        b"GET /_ping HTTP/1.1\r\nHost: b\r\n\r\nGET /version HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
        Vec::new(),
        Duration::from_secs(5),
        true,
    )
    .expect("pipelined requests");
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    assert!(text.contains("ApiVersion"), "{text}");
}

/// The API socket is root's (0660, group root) unless `--group` names another group; a group
/// that does not exist stops berthd before it listens, naming the group.
#[test]
fn api_socket_is_root_only_unless_a_group_is_given() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = require_setup!("rb-sock");
    let meta = std::fs::metadata(env.daemon.socket()).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));

    let grouped = Daemon::start_with_args(&env.topo, &["--group", "4242"]);
    let meta = std::fs::metadata(grouped.socket()).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, 4242));

    let dir = env.topo.dir().join("badgroup");
    let sock = dir.join("b.sock");
    // In the test's host namespace, like every berthd here (it stops before touching it).
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", env.topo.host_ns_path().display()))
        .arg(berth_tests::bin_path("berthd"))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(["--group", "no-such-group-berth"])
        .output()
        .expect("run berthd");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-group-berth"), "{err}");
    assert!(
        !sock.exists() && !dir.join("data").exists(),
        "something was set up"
    );
}
