//! Engine replies and errors as Docker's HTTP responses.

use crate::body::ApiBody;
use crate::stream;
use berth_engine::{EngineError, Reply};
use hyper::{Response, StatusCode};
use serde::Serialize;

pub type Resp = Response<ApiBody>;

pub fn json<T: Serialize>(status: StatusCode, v: &T) -> Resp {
    let body = serde_json::to_vec(v)
        .unwrap_or_else(|e| format!("{{\"message\":\"encode: {e}\"}}").into_bytes());
    with_headers(
        Response::builder()
            .status(status)
            .header("Content-Type", "application/json"),
        ApiBody::full(body),
    )
}

pub fn with_headers(b: hyper::http::response::Builder, body: ApiBody) -> Resp {
    b.header("Api-Version", berth_engine::action::API_VERSION)
        .header("Docker-Experimental", "false")
        .header("Ostype", "linux")
        .header(
            "Server",
            concat!("berth/", env!("CARGO_PKG_VERSION"), " (linux)"),
        )
        .body(body)
        .unwrap_or_else(|_| Response::new(ApiBody::empty()))
}

pub fn error(status: u16, message: &str) -> Resp {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, &serde_json::json!({ "message": message }))
}

pub fn engine_error(e: &EngineError) -> Resp {
    let status = match e {
        EngineError::NotFound(_) => 404,
        EngineError::Conflict(_) => 409,
        EngineError::Invalid(_) => 400,
        EngineError::NotImplemented(_) => 501,
        EngineError::Internal(_) => 500,
    };
    error(status, &e.to_string())
}

fn empty(status: StatusCode) -> Resp {
    with_headers(Response::builder().status(status), ApiBody::empty())
}

pub fn reply(r: Reply) -> Resp {
    use Reply::*;
    let ok = StatusCode::OK;
    match r {
        Empty => empty(StatusCode::NO_CONTENT),
        NotModified => empty(StatusCode::NOT_MODIFIED),
        Text(t) => with_headers(
            Response::builder()
                .header("Content-Type", "text/plain; charset=utf-8")
                .header("Cache-Control", "no-cache"),
            ApiBody::full(t),
        ),
        Created(id) => json(StatusCode::CREATED, &id),
        Version(v) => json(ok, &v),
        Info(v) => json(ok, &v),
        Container(c) => json(ok, &with_legacy_network_fields(&c)),
        Containers(c) => json(ok, &c),
        Wait(code) => json(ok, &serde_json::json!({ "StatusCode": code })),
        Logs { tty, lines } => stream::logs(tty, lines),
        Exec(_) => error(500, "exec start must be routed through the hijack path"),
        ExecInfo(e) => json(ok, &e),
        ImageImported(id) => {
            let line = format!("{}\n", serde_json::json!({ "status": id }));
            with_headers(
                Response::builder().header("Content-Type", "application/json"),
                ApiBody::full(line),
            )
        }
        Images(i) => json(ok, &i),
        Image(i) => json(ok, &i),
        ImageDeleted(d) => json(ok, &d),
        Progress(rx) => progress(rx),
        Archive(rx) => archive(rx),
        CreatedEmpty => empty(StatusCode::CREATED),
        ImagesPruned(p) => json(ok, &p),
        LoggedIn(v) => json(ok, &v),
        Networks(n) => json(ok, &n),
        Network(n) => json(ok, &n),
        NetworkCreated(n) => json(StatusCode::CREATED, &n),
        NetworksPruned(p) => json(ok, &p),
        Ok => with_headers(Response::builder().status(ok), ApiBody::empty()),
    }
}

/// Docker's JSON message stream: one object per line, as the engine produces them.
pub fn progress(mut rx: berth_engine::image::progress::Receiver) -> Resp {
    let (tx, body) = ApiBody::channel();
    tokio::spawn(async move {
        while let Some(v) = rx.recv().await {
            if tx.send(format!("{v}\r\n").into()).await.is_err() {
                return;
            }
        }
    });
    with_headers(
        Response::builder().header("Content-Type", "application/json"),
        body,
    )
}

/// A tar stream (`docker save`).
pub fn archive(mut rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> Resp {
    let (tx, body) = ApiBody::channel();
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if tx.send(b).await.is_err() {
                return;
            }
        }
    });
    with_headers(
        Response::builder().header("Content-Type", "application/x-tar"),
        body,
    )
}

/// API ≤ 1.51 (Docker 28) still shows the default bridge's endpoint at the top of
/// `NetworkSettings` (`IPAddress`, `Gateway`, `MacAddress`, ...; empty when the container is not
/// on `bridge`), and scripts read them (`docker inspect -f '{{.NetworkSettings.IPAddress}}'`).
/// The schema types berth uses (API 1.53) no longer have them, so they are added here.
pub fn with_legacy_network_fields(
    c: &bollard_stubs::models::ContainerInspectResponse,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    let Some(ns) = v.get_mut("NetworkSettings").and_then(Value::as_object_mut) else {
        return v;
    };
    let bridge = ns
        .get("Networks")
        .and_then(|n| n.get("bridge"))
        .cloned()
        .unwrap_or(Value::Null);
    let s = |k: &str| bridge.get(k).cloned().unwrap_or_else(|| json!(""));
    let n = |k: &str| bridge.get(k).cloned().unwrap_or_else(|| json!(0));
    let legacy = [
        ("Bridge", json!("")),
        ("HairpinMode", json!(false)),
        ("LinkLocalIPv6Address", json!("")),
        ("LinkLocalIPv6PrefixLen", json!(0)),
        ("SecondaryIPAddresses", Value::Null),
        ("SecondaryIPv6Addresses", Value::Null),
        ("EndpointID", s("EndpointID")),
        ("Gateway", s("Gateway")),
        ("GlobalIPv6Address", s("GlobalIPv6Address")),
        ("GlobalIPv6PrefixLen", n("GlobalIPv6PrefixLen")),
        ("IPAddress", s("IPAddress")),
        ("IPPrefixLen", n("IPPrefixLen")),
        ("IPv6Gateway", s("IPv6Gateway")),
        ("MacAddress", s("MacAddress")),
    ];
    for (k, val) in legacy {
        ns.entry(k).or_insert(val);
    }
    v
}

/// Image inspect for clients that ask for API < 1.45, as Docker answers them:
/// with the `Container` and (empty) `ContainerConfig` fields that 1.45 dropped. Compose 1.29
/// reads `ContainerConfig` when it recreates a container (with `COMPOSE_API_VERSION=1.44`;
/// negotiating 1.45+ fails against Docker ≥ 25 the same way).
pub fn image_for_old_clients(i: &bollard_stubs::models::ImageInspect) -> serde_json::Value {
    let mut v = serde_json::to_value(i).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.entry("Container")
            .or_insert_with(|| serde_json::json!(""));
        o.entry("ContainerConfig").or_insert_with(|| {
            serde_json::json!({
                "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
                "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
                "StdinOnce": false, "Env": null, "Cmd": null, "Image": "", "Volumes": null,
                "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null
            })
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use bollard_stubs::models::{ContainerInspectResponse, EndpointSettings, NetworkSettings};

    #[test]
    fn default_bridge_endpoint_is_repeated_at_the_top() {
        let c = ContainerInspectResponse {
            network_settings: Some(NetworkSettings {
                networks: Some(
                    [(
                        "bridge".to_string(),
                        EndpointSettings {
                            ip_address: Some("172.17.0.2".into()),
                            ip_prefix_len: Some(16),
                            gateway: Some("172.17.0.1".into()),
                            ..Default::default()
                        },
                    )]
                    .into(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = super::with_legacy_network_fields(&c);
        assert_eq!(v["NetworkSettings"]["IPAddress"], "172.17.0.2");
        assert_eq!(v["NetworkSettings"]["IPPrefixLen"], 16);
        assert_eq!(v["NetworkSettings"]["Gateway"], "172.17.0.1");
        assert_eq!(v["NetworkSettings"]["MacAddress"], "");
        let none = super::with_legacy_network_fields(&ContainerInspectResponse {
            network_settings: Some(NetworkSettings::default()),
            ..Default::default()
        });
        assert_eq!(none["NetworkSettings"]["IPAddress"], "");
        assert_eq!(none["NetworkSettings"]["IPPrefixLen"], 0);
    }
}
