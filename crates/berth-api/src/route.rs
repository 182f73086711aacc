//! Request routing: Docker Engine API paths (optionally prefixed by `/vX.Y`) to actions.
//! Pure functions over method, path, query and body: no I/O, never panics on odd input.

use berth_engine::container::lifecycle::WaitCondition;
use berth_engine::container::logs::LogOptions;
use berth_engine::Action;
use hyper::Method;
use std::collections::HashMap;

/// What a request asks for.
#[derive(Debug)]
pub enum Route {
    Action(Action),
    /// `POST /exec/{id}/start`: the connection is hijacked for the process's stdio.
    ExecStart {
        exec_id: String,
        detach: bool,
    },
    /// `POST /containers/{id}/attach`: the connection is hijacked for the container's output.
    Attach {
        id: String,
        stdout: bool,
        stderr: bool,
    },
    /// `POST /exec/{id}/resize`, `POST /containers/{id}/resize`: accepted, nothing to do yet.
    Resize,
    /// `POST /images/create?fromSrc=-`: the body is a tarball streamed to a file first.
    ImageImport {
        reference: String,
        changes: Vec<String>,
    },
    /// `POST /images/load`: the body is an image archive streamed to a file first.
    ImageLoad {
        quiet: bool,
    },
    /// `GET /events`: past events from `since`, then live ones until `until` (unix nanos).
    Events {
        since: Option<i64>,
        until: Option<i64>,
        filters: HashMap<String, Vec<String>>,
    },
}

/// Puts the `X-Registry-Auth` header's credentials into the actions that talk to registries.
pub fn with_registry_auth(r: Route, header: Option<&str>) -> Route {
    use berth_engine::image::registry::AuthConfig;
    let Some(h) = header else { return r };
    match r {
        Route::Action(Action::ImagePull { mut options }) => {
            options.auth = AuthConfig::from_header(h);
            Route::Action(Action::ImagePull { options })
        }
        Route::Action(Action::ImagePush { name, tag, .. }) => Route::Action(Action::ImagePush {
            name,
            tag,
            auth: AuthConfig::from_header(h),
        }),
        other => other,
    }
}

#[derive(Debug, PartialEq)]
pub struct RouteError {
    pub status: u16,
    pub message: String,
}

fn bad(message: impl Into<String>) -> RouteError {
    RouteError {
        status: 400,
        message: message.into(),
    }
}

/// Strips the `/v1.51` style version prefix.
pub fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(i) = rest.find('/') {
            if rest[..i].chars().all(|c| c.is_ascii_digit() || c == '.') && i > 0 {
                return &rest[i..];
            }
        }
    }
    path
}

/// The `/v1.44` style version prefix as (major, minor), if any.
pub fn path_version(path: &str) -> Option<(u32, u32)> {
    let rest = path.strip_prefix("/v")?;
    let v = &rest[..rest.find('/')?];
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

pub fn query_map(query: &str) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        m.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    m
}

struct Query(HashMap<String, Vec<String>>);

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).and_then(|v| v.last()).map(String::as_str)
    }
    fn all(&self, k: &str) -> Vec<String> {
        self.0.get(k).cloned().unwrap_or_default()
    }
    fn flag(&self, k: &str) -> bool {
        matches!(
            self.get(k),
            Some("1") | Some("true") | Some("True") | Some("yes")
        )
    }
    fn int(&self, k: &str) -> Result<Option<i64>, RouteError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| bad(format!("invalid value for {k}: {v:?} is not an integer"))),
        }
    }
}

fn json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, RouteError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON in request body: {e}")))
}

/// Maps one request to a route, or an error with its HTTP status.
pub fn route(method: &Method, path: &str, query: &str, body: &[u8]) -> Result<Route, RouteError> {
    let path = strip_version(path);
    let q = Query(query_map(query));
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.as_str();
    let act = |a| Ok(Route::Action(a));
    match (m, seg.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => act(Action::Ping),
        ("GET", ["version"]) => act(Action::Version),
        ("GET", ["info"]) => act(Action::Info),
        ("POST", ["containers", "create"]) => act(Action::ContainerCreate {
            name: q.get("name").map(str::to_string),
            body: Box::new(json(body)?),
        }),
        ("GET", ["containers", "json"]) => act(Action::ContainerList {
            all: q.flag("all"),
            limit: q.int("limit")?,
            filters: filters(&q)?,
        }),
        ("GET", ["containers", id, "json"]) => act(Action::ContainerInspect { id: id.to_string() }),
        // `inspect NAME` tries containers first: an image name with slashes must get a 404.
        ("GET", ["containers", name @ .., "json"]) if name.len() > 1 => {
            act(Action::ContainerInspect { id: name.join("/") })
        }
        ("POST", ["containers", id, "start"]) => act(Action::ContainerStart { id: id.to_string() }),
        ("POST", ["containers", id, "stop"]) => act(Action::ContainerStop {
            id: id.to_string(),
            timeout: q.int("t")?.or(q.int("timeout")?),
        }),
        ("POST", ["containers", id, "restart"]) => act(Action::ContainerRestart {
            id: id.to_string(),
            timeout: q.int("t")?.or(q.int("timeout")?),
        }),
        ("POST", ["containers", id, "kill"]) => act(Action::ContainerKill {
            id: id.to_string(),
            signal: q.get("signal").map(str::to_string),
        }),
        ("POST", ["containers", id, "wait"]) => act(Action::ContainerWait {
            id: id.to_string(),
            condition: match q.get("condition") {
                None | Some("") | Some("not-running") => WaitCondition::NotRunning,
                Some("next-exit") => WaitCondition::NextExit,
                Some("removed") => WaitCondition::Removed,
                Some(o) => return Err(bad(format!("invalid condition: {o:?}"))),
            },
        }),
        ("POST", ["containers", id, "rename"]) => act(Action::ContainerRename {
            id: id.to_string(),
            name: q.get("name").unwrap_or_default().to_string(),
        }),
        ("DELETE", ["containers", id]) => act(Action::ContainerRemove {
            id: id.to_string(),
            force: q.flag("force"),
        }),
        ("GET", ["containers", id, "logs"]) => act(Action::ContainerLogs {
            id: id.to_string(),
            options: LogOptions {
                follow: q.flag("follow"),
                stdout: q.flag("stdout"),
                stderr: q.flag("stderr"),
                tail: match q.get("tail") {
                    None | Some("") | Some("all") => None,
                    Some(n) => Some(
                        n.parse()
                            .map_err(|_| bad(format!("invalid value for tail: {n:?}")))?,
                    ),
                },
                attach: false,
            },
        }),
        ("POST", ["containers", id, "attach"]) => Ok(Route::Attach {
            id: id.to_string(),
            stdout: q.flag("stdout"),
            stderr: q.flag("stderr"),
        }),
        ("POST", ["containers", id, "exec"]) => act(Action::ExecCreate {
            id: id.to_string(),
            config: Box::new(json(body)?),
        }),
        ("POST", ["exec", id, "start"]) => {
            let cfg: serde_json::Value = json(body)?;
            Ok(Route::ExecStart {
                exec_id: id.to_string(),
                detach: cfg["Detach"].as_bool().unwrap_or(false),
            })
        }
        ("POST", ["exec", _, "resize"]) | ("POST", ["containers", _, "resize"]) => {
            Ok(Route::Resize)
        }
        ("GET", ["exec", id, "json"]) => act(Action::ExecInspect {
            exec_id: id.to_string(),
        }),
        ("POST", ["images", "create"]) => match (q.get("fromSrc"), q.get("fromImage")) {
            (Some("-"), _) => {
                let repo = q.get("repo").unwrap_or_default();
                let tag = q.get("tag").unwrap_or_default();
                let reference = if tag.is_empty() || repo.is_empty() {
                    repo.to_string()
                } else {
                    format!("{repo}:{tag}")
                };
                Ok(Route::ImageImport {
                    reference,
                    changes: q.all("changes"),
                })
            }
            (Some(src), _) => Err(bad(format!(
                "importing from {src:?} is not supported: upload the tarball (fromSrc=-)"
            ))),
            (None, Some(img)) => act(Action::ImagePull {
                options: berth_engine::image::pull::PullOptions {
                    from_image: img.to_string(),
                    tag: q.get("tag").unwrap_or_default().to_string(),
                    platform: q.get("platform").unwrap_or_default().to_string(),
                    auth: Default::default(),
                },
            }),
            (None, None) => Err(bad("either fromSrc or fromImage is required")),
        },
        ("POST", ["images", "load"]) => Ok(Route::ImageLoad {
            quiet: q.flag("quiet"),
        }),
        ("GET", ["images", "get"]) => act(Action::ImageSave {
            names: q.all("names"),
        }),
        ("POST", ["images", "prune"]) => act(Action::ImagePrune {
            all: filter_values(&q, "dangling")?
                .iter()
                .any(|v| v == "false" || v == "0"),
        }),
        ("GET", ["images", name @ .., "get"]) if !name.is_empty() => act(Action::ImageSave {
            names: vec![name.join("/")],
        }),
        ("POST", ["images", name @ .., "tag"]) if !name.is_empty() => act(Action::ImageTag {
            name: name.join("/"),
            repo: q.get("repo").unwrap_or_default().to_string(),
            tag: q.get("tag").unwrap_or_default().to_string(),
        }),
        ("POST", ["images", name @ .., "push"]) if !name.is_empty() => act(Action::ImagePush {
            name: name.join("/"),
            tag: q.get("tag").unwrap_or_default().to_string(),
            auth: Default::default(),
        }),
        ("GET", ["events"]) => Ok(Route::Events {
            since: timestamp(&q, "since")?,
            until: timestamp(&q, "until")?,
            filters: filters(&q)?,
        }),
        ("POST", ["auth"]) => act(Action::RegistryLogin { auth: json(body)? }),
        ("GET", ["images", "json"]) => act(Action::ImageList),
        ("GET", ["images", name @ .., "json"]) if !name.is_empty() => act(Action::ImageInspect {
            name: name.join("/"),
        }),
        ("DELETE", ["images", name @ ..]) if !name.is_empty() => act(Action::ImageRemove {
            name: name.join("/"),
            force: q.flag("force"),
        }),
        ("GET", ["networks"]) => act(Action::NetworkList {
            filters: filters(&q)?,
        }),
        ("GET", ["networks", id]) => act(Action::NetworkInspect { id: id.to_string() }),
        ("POST", ["networks", "create"]) => {
            let body: bollard_stubs::models::NetworkCreateRequest = json(body)?;
            if body.name.trim().is_empty() {
                return Err(bad("network name is required"));
            }
            act(Action::NetworkCreate {
                body: Box::new(body),
            })
        }
        ("POST", ["networks", "prune"]) => act(Action::NetworkPrune {
            labels: filter_values(&q, "label")?,
        }),
        ("DELETE", ["networks", id]) => act(Action::NetworkRemove { id: id.to_string() }),
        ("POST", ["networks", id, "connect"]) => act(Action::NetworkConnect {
            id: id.to_string(),
            body: Box::new(json(body)?),
        }),
        ("POST", ["networks", id, "disconnect"]) => act(Action::NetworkDisconnect {
            id: id.to_string(),
            body: json(body)?,
        }),
        _ => Err(not_implemented(&format!("{m} {path}"))),
    }
}

/// `since`/`until` as the docker CLI sends them (`SECONDS[.NANOS]` since the epoch, or
/// RFC 3339) → unix nanoseconds.
fn timestamp(q: &Query, key: &str) -> Result<Option<i64>, RouteError> {
    let Some(v) = q.get(key).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let invalid = || bad(format!("invalid value for {key}: {v:?}"));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return t.timestamp_nanos_opt().map(Some).ok_or_else(invalid);
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().map_err(|_| invalid())?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse().map_err(|_| invalid())?
    };
    secs.checked_mul(1_000_000_000)
        .and_then(|s| s.checked_add(nanos))
        .map(Some)
        .ok_or_else(invalid)
}

/// Docker's `filters` JSON (`{"name":["a"]}` or `{"name":{"a":true}}`) as key → values.
fn filters(q: &Query) -> Result<HashMap<String, Vec<String>>, RouteError> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(HashMap::new());
    };
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| bad(format!("invalid filters: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("invalid filters: expected a JSON object"))?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let vals = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => vec![],
            };
            (k.clone(), vals)
        })
        .collect())
}

/// Values of one key of Docker's `filters` JSON (`{"label":["a=b"]}` or `{"label":{"a=b":true}}`).
fn filter_values(q: &Query, key: &str) -> Result<Vec<String>, RouteError> {
    let Some(raw) = q.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(vec![]);
    };
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| bad(format!("invalid filters: {e}")))?;
    Ok(match &v[key] {
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::Object(o) => o.keys().cloned().collect(),
        _ => vec![],
    })
}

fn not_implemented(what: &str) -> RouteError {
    RouteError {
        status: 501,
        message: format!("{what} is not implemented by berth"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_since_until() {
        match route(
            &Method::GET,
            "/v1.51/events",
            "since=1700000000.5&until=1700000001",
            b"",
        )
        .unwrap()
        {
            Route::Events { since, until, .. } => {
                assert_eq!(since, Some(1_700_000_000_500_000_000));
                assert_eq!(until, Some(1_700_000_001_000_000_000));
            }
            other => panic!("{other:?}"),
        }
        let e = route(&Method::GET, "/events", "since=soon", b"").unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn version_of_the_path() {
        assert_eq!(path_version("/v1.44/images/x/json"), Some((1, 44)));
        assert_eq!(path_version("/images/x/json"), None);
        assert_eq!(path_version("/vx.y/images"), None);
    }

    #[test]
    fn version_prefix_is_optional() {
        assert_eq!(strip_version("/v1.51/containers/json"), "/containers/json");
        assert_eq!(strip_version("/containers/json"), "/containers/json");
        assert_eq!(strip_version("/version"), "/version");
        assert_eq!(strip_version("/v/x"), "/v/x");
    }

    #[test]
    fn create_with_name_and_body() {
        let r = route(
            &Method::POST,
            "/v1.51/containers/create",
            "name=web",
            br#"{"Image":"bb"}"#,
        )
        .unwrap();
        match r {
            Route::Action(Action::ContainerCreate { name, body }) => {
                assert_eq!(name.as_deref(), Some("web"));
                assert_eq!(body.image.as_deref(), Some("bb"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rename_takes_the_new_name_from_the_query() {
        match route(
            &Method::POST,
            "/v1.51/containers/web/rename",
            "name=api",
            b"",
        )
        .unwrap()
        {
            Route::Action(Action::ContainerRename { id, name }) => {
                assert_eq!((id.as_str(), name.as_str()), ("web", "api"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_json_and_bad_numbers_are_400() {
        let e = route(&Method::POST, "/containers/create", "", b"{nope").unwrap_err();
        assert_eq!(e.status, 400);
        let e = route(&Method::POST, "/containers/x/stop", "t=abc", b"").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("t"));
    }

    #[test]
    fn container_list_passes_filters_and_limit() {
        // What docker-compose 1.29 sends (JSON with spaces, `all=0`, `limit=-1`).
        let q = "limit=-1&all=0&size=0&trunc_cmd=0&filters=%7B%22label%22%3A+%5B%22com.docker.compose.project%3Ddemo%22%2C+%22com.docker.compose.oneoff%3DFalse%22%5D%7D";
        match route(&Method::GET, "/v1.51/containers/json", q, b"").unwrap() {
            Route::Action(Action::ContainerList {
                all,
                limit,
                filters,
            }) => {
                assert!(!all);
                assert_eq!(limit, Some(-1));
                assert_eq!(
                    filters["label"],
                    vec![
                        "com.docker.compose.project=demo".to_string(),
                        "com.docker.compose.oneoff=False".to_string()
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
        let e = route(&Method::GET, "/containers/json", "filters=%5B1%5D", b"").unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn unknown_endpoint_is_501_naming_it() {
        let e = route(&Method::POST, "/swarm/init", "", b"").unwrap_err();
        assert_eq!(e.status, 501);
        assert!(e.message.contains("/swarm/init"));
    }

    #[test]
    fn import_reference_from_repo_and_tag() {
        match route(
            &Method::POST,
            "/images/create",
            "fromSrc=-&repo=bb&tag=1&changes=ENV+A%3D1",
            b"",
        )
        .unwrap()
        {
            Route::ImageImport { reference, changes } => {
                assert_eq!(reference, "bb:1");
                assert_eq!(changes, vec!["ENV A=1"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_registry_routes() {
        match route(
            &Method::POST,
            "/v1.47/images/create",
            "fromImage=localhost%3A5000%2Fbb&tag=1",
            b"",
        )
        .unwrap()
        {
            Route::Action(Action::ImagePull { options }) => {
                assert_eq!(options.from_image, "localhost:5000/bb");
                assert_eq!(options.tag, "1");
            }
            other => panic!("{other:?}"),
        }
        match route(&Method::GET, "/images/get", "names=a&names=b%3A1", b"").unwrap() {
            Route::Action(Action::ImageSave { names }) => assert_eq!(names, vec!["a", "b:1"]),
            other => panic!("{other:?}"),
        }
        match route(&Method::GET, "/images/localhost:5000/x:1/get", "", b"").unwrap() {
            Route::Action(Action::ImageSave { names }) => {
                assert_eq!(names, vec!["localhost:5000/x:1"])
            }
            other => panic!("{other:?}"),
        }
        match route(&Method::POST, "/images/bb/tag", "repo=r%2Fx&tag=2", b"").unwrap() {
            Route::Action(Action::ImageTag { name, repo, tag }) => {
                assert_eq!(
                    (name.as_str(), repo.as_str(), tag.as_str()),
                    ("bb", "r/x", "2")
                )
            }
            other => panic!("{other:?}"),
        }
        match route(
            &Method::POST,
            "/images/prune",
            "filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D",
            b"",
        )
        .unwrap()
        {
            Route::Action(Action::ImagePrune { all }) => assert!(all),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            route(&Method::POST, "/images/load", "quiet=1", b"").unwrap(),
            Route::ImageLoad { quiet: true }
        ));
        // {"username":"u","password":"p"}
        let r = route(&Method::POST, "/images/x/push", "tag=1", b"").unwrap();
        match with_registry_auth(r, Some("eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ==")) {
            Route::Action(Action::ImagePush { auth, .. }) => assert_eq!(auth.username, "u"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_names_with_slashes() {
        match route(&Method::GET, "/images/localhost:5000/x/json", "", b"").unwrap() {
            Route::Action(Action::ImageInspect { name }) => assert_eq!(name, "localhost:5000/x"),
            other => panic!("{other:?}"),
        }
    }
}
