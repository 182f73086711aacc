//! `route::route` is a pure function over method, path, query and body that "never panics on
//! odd input" (its own header says so). This feeds it 200 000 pseudo-random requests built from
//! a fixed seed (so a failure is reproducible: the offending input is printed), mixing the
//! vocabulary of the Docker API (real segments, query keys, JSON shapes) with garbage, and
//! checks:
//!
//! - nothing panics;
//! - every refusal carries an HTTP error status (4xx/5xx) and a non-empty message, and a 501 says
//!   "not implemented by berth";
//! - the `/vX.Y` prefix changes nothing: `route(m, "/v1.47" + p)` and `route(m, p)` agree.
//!
//! No dev-dependency: the generator is a small xorshift. `BERTH_ROUTE_RANDOM_N` overrides the
//! number of cases (e.g. a million by hand), `BERTH_ROUTE_RANDOM_SEED` the seed.

use berth_api::route::{route, strip_version, Route, RouteError};
use hyper::Method;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// xorshift64* — deterministic, good enough to pick from pools.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Copy>(&mut self, pool: &[T]) -> T {
        pool[self.below(pool.len())]
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// A random string of "interesting" characters (ASCII, separators, escapes, non-ASCII).
    fn text(&mut self, max: usize) -> String {
        const CHARS: &[char] = &[
            'a', 'z', 'A', '0', '9', '-', '_', '.', ':', '/', '%', '&', '=', '+', '?', '#', ' ',
            '"', '\'', '\\', '{', '}', '[', ']', ',', '\0', '\n', '\r', '\t', 'é', 'ü', '€', '𝄞',
            '\u{FEFF}', '\u{7F}', '*', '@', '!', '$', ';',
        ];
        let n = self.below(max + 1);
        (0..n).map(|_| self.pick(CHARS)).collect()
    }
}

const METHODS: &[&str] = &[
    "GET", "GET", "GET", "POST", "POST", "POST", "POST", "DELETE", "DELETE", "HEAD", "PUT",
    "PATCH", "OPTIONS", "TRACE", "CONNECT", "BREW", "get", "post", "M-SEARCH",
];

const SEGMENTS: &[&str] = &[
    "containers",
    "containers",
    "containers",
    "images",
    "images",
    "networks",
    "networks",
    "exec",
    "create",
    "create",
    "json",
    "json",
    "start",
    "stop",
    "restart",
    "kill",
    "wait",
    "logs",
    "attach",
    "resize",
    "load",
    "get",
    "tag",
    "push",
    "prune",
    "connect",
    "disconnect",
    "auth",
    "_ping",
    "version",
    "info",
    "swarm",
    "init",
    "volumes",
    "build",
    "events",
    "",
    "",
    ".",
    "..",
    "v1.47",
    "v1.51",
    "v",
    "v1..2",
    "v1.2.3.4",
    "v99999999999999999999",
    "%2F",
    "%00",
    "%ff",
    "x",
    "abc123",
    "0123456789ab",
    "localhost:5000",
    "registry.example:443",
    "bb",
    "bb:latest",
    "a@sha256:0000",
    "ü",
    "😀",
    "\u{0}",
    "name with space",
    "-",
    "--",
    "*",
    "?",
    "#",
];

const QUERY_KEYS: &[&str] = &[
    "t",
    "timeout",
    "signal",
    "condition",
    "force",
    "all",
    "follow",
    "stdout",
    "stderr",
    "tail",
    "name",
    "fromSrc",
    "fromImage",
    "repo",
    "tag",
    "changes",
    "platform",
    "names",
    "quiet",
    "filters",
    "filters",
    "v",
    "detach",
    "x",
    "",
    "%",
    "&&",
    "==",
];

const QUERY_VALUES: &[&str] = &[
    "",
    "1",
    "0",
    "true",
    "false",
    "yes",
    "True",
    "-",
    "-1",
    "abc",
    "12",
    "all",
    "not-running",
    "next-exit",
    "removed",
    "bogus",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1e9",
    "0x10",
    "SIGKILL",
    "%ff",
    "%zz",
    "%",
    "%2",
    "+",
    "%00",
    "%E2%82",
    "localhost%3A5000%2Fbb",
    "bb:latest",
    "ENV+A%3D1",
    "%7B%7D",
    "%7B%22name%22%3A%5B%22a%22%5D%7D",
    "%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D",
    "%7B%22dangling%22%3A%5B%22false%22%5D%7D",
    "%5B1%2C2%5D",
    "%7B",
    "null",
    "%22str%22",
    "%7B%22a%22%3A1%7D",
    "%7B%22a%22%3Anull%7D",
    "%7B%22name%22%3A%5B1%2C%7B%7D%5D%7D",
];

/// Bodies close to what the API expects, to get past the first parse error.
const BODIES: &[&str] = &[
    r#"{"Image":"bb","Cmd":["sleep","1"]}"#,
    r#"{"Image":"bb","HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"NetworkMode":"net1"},"ExposedPorts":{"80/tcp":{}}}"#,
    r#"{"Image":"bb","NetworkingConfig":{"EndpointsConfig":{"n":{"IPAMConfig":{"IPv4Address":"10.0.0.5"},"Aliases":["a"]}}}}"#,
    r#"{"Name":"net1","Driver":"bridge","IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1","IPRange":"10.9.0.0/25","AuxiliaryAddresses":{"r":"10.9.0.2"}}]},"Options":{"com.docker.network.bridge.enable_icc":"false"},"Internal":true,"EnableIPv6":true}"#,
    r#"{"Name":"  "}"#,
    r#"{"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.1.1.1"}}}"#,
    r#"{"Container":"c1","Force":true}"#,
    r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["ls"],"Tty":false,"Env":["A=1"]}"#,
    r#"{"Detach":true,"Tty":false}"#,
    r#"{"Detach":"yes"}"#,
    r#"{"username":"u","password":"p","serveraddress":"localhost:5000"}"#,
    r#"{"Image":5}"#,
    r#"{"Image":"a","Image":"b"}"#,
    r#"{"StopTimeout":1e400}"#,
    r#"{"Image":"\ud800"}"#,
    r#"{"Labels":{"a":null},"Env":[null]}"#,
    "[1,2,3]",
    "null",
    "\"str\"",
    "{}",
    "  \n\t ",
    "",
];

fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.below(4) {
        if b.is_empty() {
            b.extend(rng.bytes(8));
            continue;
        }
        let i = rng.below(b.len());
        match rng.below(6) {
            0 => b.truncate(i),
            1 => b[i] = rng.next() as u8,
            2 => b.insert(i, rng.pick(b"{}[]\",:\\0-e.nt\xff".as_slice())),
            3 => {
                let j = i + rng.below(b.len() - i);
                let dup = b[i..j].to_vec();
                b.splice(i..i, dup);
            }
            4 => {
                b.remove(i);
            }
            _ => b.extend_from_slice(rng.text(6).as_bytes()),
        }
    }
    b
}

/// Real endpoints (`{}` is an id or name), so that a good share of the inputs gets routed and
/// exercises the query and body parsing behind each one.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/_ping"),
    ("HEAD", "/_ping"),
    ("GET", "/version"),
    ("GET", "/info"),
    ("POST", "/containers/create"),
    ("GET", "/containers/json"),
    ("GET", "/containers/{}/json"),
    ("POST", "/containers/{}/start"),
    ("POST", "/containers/{}/stop"),
    ("POST", "/containers/{}/restart"),
    ("POST", "/containers/{}/kill"),
    ("POST", "/containers/{}/wait"),
    ("DELETE", "/containers/{}"),
    ("GET", "/containers/{}/logs"),
    ("POST", "/containers/{}/attach"),
    ("POST", "/containers/{}/exec"),
    ("POST", "/exec/{}/start"),
    ("POST", "/exec/{}/resize"),
    ("POST", "/containers/{}/resize"),
    ("GET", "/exec/{}/json"),
    ("POST", "/images/create"),
    ("POST", "/images/load"),
    ("GET", "/images/get"),
    ("POST", "/images/prune"),
    ("GET", "/images/{}/get"),
    ("POST", "/images/{}/tag"),
    ("POST", "/images/{}/push"),
    ("POST", "/auth"),
    ("GET", "/images/json"),
    ("GET", "/images/{}/json"),
    ("DELETE", "/images/{}"),
    ("GET", "/networks"),
    ("GET", "/networks/{}"),
    ("POST", "/networks/create"),
    ("POST", "/networks/prune"),
    ("DELETE", "/networks/{}"),
    ("POST", "/networks/{}/connect"),
    ("POST", "/networks/{}/disconnect"),
];

fn gen_route(rng: &mut Rng) -> (Method, String) {
    let (m, t) = rng.pick(ROUTES);
    let id = match rng.below(6) {
        0 => rng.text(8),
        1 => "localhost:5000/a/b:1".to_string(),
        _ => rng.pick(SEGMENTS).to_string(),
    };
    let mut p = t.replace("{}", &id);
    if rng.chance(30) {
        p = format!("/{}{p}", rng.pick(&["v1.47", "v1.51", "v1.24"]));
    }
    (Method::from_bytes(m.as_bytes()).expect("valid method"), p)
}

fn gen_path(rng: &mut Rng) -> String {
    if rng.chance(3) {
        return rng.text(40);
    }
    let mut p = String::new();
    if rng.chance(30) {
        p.push('/');
        p.push_str(rng.pick(&["v1.47", "v1.51", "v1.24", "v1", "v", "v1.x", "v.", "v.."]));
    }
    for _ in 0..rng.below(7) {
        p.push('/');
        if rng.chance(8) {
            p.push_str(&rng.text(12));
        } else {
            p.push_str(rng.pick(SEGMENTS));
        }
    }
    if rng.chance(10) {
        p.push('/');
    }
    if rng.chance(2) {
        p = p.replace('/', "//");
    }
    if rng.chance(1) {
        p.push_str(&"/a".repeat(2000));
    }
    p
}

fn gen_query(rng: &mut Rng) -> String {
    if rng.chance(5) {
        return rng.text(30);
    }
    let mut parts = Vec::new();
    for _ in 0..rng.below(6) {
        let k = rng.pick(QUERY_KEYS);
        let v = if rng.chance(10) {
            rng.text(10)
        } else {
            rng.pick(QUERY_VALUES).to_string()
        };
        parts.push(if rng.chance(5) {
            k.to_string()
        } else {
            format!("{k}={v}")
        });
    }
    parts.join(if rng.chance(5) { ";" } else { "&" })
}

fn gen_body(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0..=4 => Vec::new(),
        5..=6 => rng.bytes(64),
        7 => {
            // Deep nesting: serde_json's recursion limit must turn it into an error.
            let depth = 1 + rng.below(5000);
            let (open, close) = if rng.chance(50) {
                ("[", "]")
            } else {
                ("{\"a\":", "}")
            };
            let mut s = open.repeat(depth);
            if rng.chance(50) {
                s.push('1');
                s.push_str(&close.repeat(depth));
            }
            s.into_bytes()
        }
        8 => {
            // Valid JSON of every shape inside a known field.
            let field = rng.pick(&[
                "Image",
                "Cmd",
                "Env",
                "HostConfig",
                "Name",
                "IPAM",
                "Detach",
                "EndpointConfig",
                "Labels",
            ]);
            let value = rng.pick(&[
                "1",
                "-1",
                "1.5",
                "true",
                "null",
                "\"\"",
                "[]",
                "{}",
                "[null]",
                "{\"\":{}}",
                "18446744073709551616",
                "\"\\u0000\"",
            ]);
            format!("{{\"{field}\":{value}}}").into_bytes()
        }
        _ => {
            let b = rng.pick(BODIES).as_bytes().to_vec();
            if rng.chance(60) {
                mutate(rng, b)
            } else {
                b
            }
        }
    }
}

fn gen_method(rng: &mut Rng) -> Method {
    if rng.chance(3) {
        let b = rng.bytes(10);
        if let Ok(m) = Method::from_bytes(&b) {
            return m;
        }
    }
    Method::from_bytes(rng.pick(METHODS).as_bytes()).expect("valid method token")
}

/// A short, comparable summary of an outcome (Route has no PartialEq).
fn outcome(r: &Result<Route, RouteError>) -> String {
    match r {
        Ok(Route::Action(a)) => {
            // The variant name only: payloads may hold HashMaps (unordered Debug).
            let d = format!("{a:?}");
            let end = d.find([' ', '{', '(']).unwrap_or(d.len());
            format!("Ok(Action::{})", &d[..end])
        }
        Ok(other) => format!("Ok({other:?})"),
        Err(e) => format!("Err({} {})", e.status, e.message),
    }
}

/// Checks one input; `Ok(true)` when it routed, `Ok(false)` when refused.
fn check(method: &Method, path: &str, query: &str, body: &[u8]) -> Result<bool, String> {
    let repro = || {
        format!(
            "method {:?}, path {:?}, query {:?}, body {:?}",
            method.as_str(),
            path,
            query,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )
    };
    let r = catch_unwind(AssertUnwindSafe(|| route(method, path, query, body)))
        .map_err(|_| format!("route panicked on {}", repro()))?;
    if let Err(e) = &r {
        if !(400..=599).contains(&e.status) {
            return Err(format!(
                "status {} is not an error status: {}",
                e.status,
                repro()
            ));
        }
        if e.message.trim().is_empty() {
            return Err(format!(
                "empty error message (status {}): {}",
                e.status,
                repro()
            ));
        }
        if e.status == 501 && !e.message.contains("not implemented by berth") {
            return Err(format!(
                "501 without \"not implemented by berth\": {:?}: {}",
                e.message,
                repro()
            ));
        }
    }
    // The version prefix is optional and changes nothing.
    if path.starts_with('/') && strip_version(path) == path {
        let prefixed = format!("/v1.47{path}");
        let r2 = catch_unwind(AssertUnwindSafe(|| route(method, &prefixed, query, body)))
            .map_err(|_| format!("route panicked on the /v1.47 form of {}", repro()))?;
        let (a, b) = (outcome(&r), outcome(&r2));
        if a != b {
            return Err(format!(
                "/v1.47 prefix changed the outcome: {a} vs {b} for {}",
                repro()
            ));
        }
    }
    Ok(r.is_ok())
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn route_survives_200k_random_requests() {
    let n = env_u64("BERTH_ROUTE_RANDOM_N", 200_000);
    let seed = env_u64("BERTH_ROUTE_RANDOM_SEED", 0x6265_7274_6821_2024);
    let mut rng = Rng(seed | 1);
    // Panics are caught and reported with their input: keep the default hook's noise out.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let (mut ok, mut err) = (0u64, 0u64);
    for i in 0..n {
        let (method, path) = if rng.chance(50) {
            gen_route(&mut rng)
        } else {
            (gen_method(&mut rng), gen_path(&mut rng))
        };
        let query = gen_query(&mut rng);
        let body = gen_body(&mut rng);
        match check(&method, &path, &query, &body) {
            Ok(true) => ok += 1,
            Ok(false) => err += 1,
            Err(e) => {
                failures.push(format!("case {i}: {e}"));
                if failures.len() >= 20 {
                    break;
                }
            }
        }
    }
    std::panic::set_hook(hook);
    println!("route_random: {n} cases (seed {seed:#x}): {ok} routed, {err} refused");
    assert!(
        ok > n / 50,
        "the generator hardly ever produced a valid route ({ok} of {n})"
    );
    assert!(
        failures.is_empty(),
        "{} failure(s) (seed {seed:#x}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Hand-picked inputs that broke routers elsewhere.
#[test]
fn route_edge_cases_do_not_panic() {
    let long = "a".repeat(1 << 16);
    let deep = "[".repeat(100_000);
    let cases: Vec<(&str, String, String, Vec<u8>)> = vec![
        ("GET", String::new(), String::new(), vec![]),
        ("GET", "/".into(), String::new(), vec![]),
        ("GET", "//".into(), String::new(), vec![]),
        ("GET", "/v".into(), String::new(), vec![]),
        ("GET", "/v1.47".into(), String::new(), vec![]),
        ("GET", "/v1.47/".into(), String::new(), vec![]),
        ("GET", "/v/".into(), String::new(), vec![]),
        ("GET", "/images//json".into(), String::new(), vec![]),
        ("DELETE", "/images/".into(), String::new(), vec![]),
        ("POST", "/images//tag".into(), String::new(), vec![]),
        ("GET", "/containers//json".into(), String::new(), vec![]),
        (
            "GET",
            format!("/containers/{long}/json"),
            String::new(),
            vec![],
        ),
        (
            "GET",
            "/containers/json".into(),
            format!("all={long}"),
            vec![],
        ),
        (
            "GET",
            "/networks".into(),
            "filters=%7B%22name%22%3A".into(),
            vec![],
        ),
        (
            "GET",
            "/networks".into(),
            format!("filters={}", "%5B".repeat(10_000)),
            vec![],
        ),
        (
            "POST",
            "/images/prune".into(),
            "filters=%5B%5D".into(),
            vec![],
        ),
        (
            "POST",
            "/containers/create".into(),
            String::new(),
            deep.clone().into_bytes(),
        ),
        (
            "POST",
            "/networks/create".into(),
            String::new(),
            deep.into_bytes(),
        ),
        (
            "POST",
            "/containers/x/stop".into(),
            "t=99999999999999999999999".into(),
            vec![],
        ),
        ("GET", "/containers/x/logs".into(), "tail=-1".into(), vec![]),
        (
            "GET",
            "/containers/x/logs".into(),
            "tail=18446744073709551616".into(),
            vec![],
        ),
        (
            "POST",
            "/exec/x/start".into(),
            String::new(),
            b"\xff\xfe\x00".to_vec(),
        ),
    ];
    for (m, path, query, body) in cases {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        if let Err(e) = check(&method, &path, &query, &body) {
            panic!("{e}");
        }
    }
}
