//! The accept loop: HTTP/1.1 over a unix socket, one task per connection, upgrades allowed
//! (Docker hijacks connections for exec).

use crate::body::ApiBody;
use crate::respond::{self, with_headers, Resp};
use crate::route::{route, Route};
use crate::stream;
use berth_engine::{Action, Engine, Reply};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;

/// Request bodies other than image uploads are JSON and small.
const MAX_JSON_BODY: usize = 4 << 20;

pub async fn serve(listener: UnixListener, engine: Arc<Engine>) -> std::io::Result<()> {
    loop {
        let (conn, _) = listener.accept().await?;
        let engine = engine.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let engine = engine.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(engine, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(conn), svc)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(engine: Arc<Engine>, mut req: Request<Incoming>) -> Resp {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    tracing::debug!(%method, %path, %query, "request");
    // Uploads are streamed to disk, everything else is read whole (bounded).
    let is_import = method == hyper::Method::POST
        && crate::route::strip_version(&path) == "/images/create"
        && crate::route::query_map(&query)
            .get("fromSrc")
            .is_some_and(|v| v.iter().any(|s| s == "-"));
    if is_import {
        return import(engine, &method, &path, &query, req.into_body()).await;
    }
    if method == hyper::Method::POST && crate::route::strip_version(&path) == "/images/load" {
        return load(engine, &method, &path, &query, req.into_body()).await;
    }
    // An endpoint berth does not implement is answered without keeping its body: a build
    // context or `cp` archive would otherwise get "body too large" instead of the real reason.
    // The body is read and discarded first (up to a bound), since clients that are still
    // sending when the connection closes report a broken pipe instead of the answer.
    if let Err(e) = route(&method, &path, &query, b"") {
        if e.status == 501 {
            discard_body(req.into_body(), MAX_DISCARDED_BODY).await;
            return respond::error(e.status, &e.message);
        }
    }
    let registry_auth = req
        .headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let upgrade = hyper::upgrade::on(&mut req);
    let wants_upgrade = req.headers().get(hyper::header::UPGRADE).is_some();
    let body = match read_limited(req.into_body(), MAX_JSON_BODY).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let r = match route(&method, &path, &query, &body) {
        Ok(r) => crate::route::with_registry_auth(r, registry_auth.as_deref()),
        Err(e) => return respond::error(e.status, &e.message),
    };
    let resp = match r {
        Route::Action(Action::ContainerWait { id, condition }) => wait(engine, id, condition).await,
        Route::Action(a) => match engine.handle(a).await {
            Ok(Reply::Image(i)) if matches!(crate::route::path_version(&path), Some(v) if v < (1, 45)) => {
                respond::json(StatusCode::OK, &respond::image_for_old_clients(&i))
            }
            Ok(reply) => respond::reply(reply),
            Err(e) => respond::engine_error(&e),
        },
        Route::Attach { id, stdout, stderr } => {
            attach(engine, id, stdout, stderr, wants_upgrade, upgrade)
        }
        Route::Resize => with_headers(Response::builder().status(StatusCode::OK), ApiBody::empty()),
        Route::ExecStart { exec_id, detach } => {
            exec_start(engine, exec_id, detach, wants_upgrade, upgrade).await
        }
        Route::ImageImport { .. } => respond::error(400, "image upload must use fromSrc=-"),
        Route::ImageLoad { .. } => respond::error(400, "image archives must be POSTed"),
        Route::Events {
            since,
            until,
            filters,
        } => events(engine, since, until, filters),
    };
    if method == hyper::Method::HEAD {
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, ApiBody::empty());
    }
    resp
}

/// How much of an unimplemented endpoint's body is read (and dropped) before answering.
const MAX_DISCARDED_BODY: u64 = 1 << 30;

async fn discard_body(mut body: Incoming, limit: u64) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > limit {
                return;
            }
        }
    }
}

async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, Resp> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(respond::error(
            413,
            &format!("request body larger than {limit} bytes"),
        )),
        Err(e) => Err(respond::error(400, &format!("reading request body: {e}"))),
    }
}

/// `GET /events`: the matching past events from `since` (none without it), then live ones
/// until `until` passes or the client goes away.
fn events(
    engine: Arc<Engine>,
    since: Option<i64>,
    until: Option<i64>,
    filters: std::collections::HashMap<String, Vec<String>>,
) -> Resp {
    let (past, mut rx) = engine.events().subscribe();
    let (tx, body) = ApiBody::channel();
    let line = |e: &berth_engine::events::Event| {
        Bytes::from(format!(
            "{}\n",
            serde_json::to_string(e).unwrap_or_default()
        ))
    };
    tokio::spawn(async move {
        let before_until = |t: i64| until.is_none_or(|u| t <= u);
        if let Some(s) = since {
            for e in past.iter().filter(|e| e.time_nano >= s) {
                if before_until(e.time_nano)
                    && e.matches(&filters)
                    && tx.send(line(e)).await.is_err()
                {
                    return;
                }
            }
        }
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0)
        };
        loop {
            let left = until.map(|u| u.saturating_sub(now()));
            if left.is_some_and(|l| l <= 0) {
                return;
            }
            let deadline = async {
                match left {
                    Some(l) => tokio::time::sleep(std::time::Duration::from_nanos(l as u64)).await,
                    None => std::future::pending().await,
                }
            };
            let e = tokio::select! {
                _ = tx.closed() => return,
                _ = deadline => return,
                r = rx.recv() => match r {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
            };
            if before_until(e.time_nano) && e.matches(&filters) && tx.send(line(&e)).await.is_err()
            {
                return;
            }
        }
    });
    with_headers(
        Response::builder().header("Content-Type", "application/json"),
        body,
    )
}

/// `wait` answers with headers at once and the status code when the condition is met.
async fn wait(
    engine: Arc<Engine>,
    id: String,
    condition: berth_engine::container::lifecycle::WaitCondition,
) -> Resp {
    if let Err(e) = engine.find(&id) {
        return respond::engine_error(&e);
    }
    let (tx, body) = ApiBody::channel();
    tokio::spawn(async move {
        let v = match engine.wait(&id, condition).await {
            Ok(code) => serde_json::json!({ "StatusCode": code }),
            Err(e) => {
                serde_json::json!({ "StatusCode": -1, "Error": { "Message": e.to_string() } })
            }
        };
        let _ = tx.send(Bytes::from(format!("{v}\n"))).await;
    });
    with_headers(
        Response::builder().header("Content-Type", "application/json"),
        body,
    )
}

async fn exec_start(
    engine: Arc<Engine>,
    exec_id: String,
    detach: bool,
    wants_upgrade: bool,
    upgrade: hyper::upgrade::OnUpgrade,
) -> Resp {
    let p = match engine
        .handle(Action::ExecStart {
            exec_id: exec_id.clone(),
        })
        .await
    {
        Ok(Reply::Exec(p)) => p,
        Ok(_) => return respond::error(500, "unexpected reply to exec start"),
        Err(e) => return respond::engine_error(&e),
    };
    let ct = stream::exec_content_type(p.tty);
    if detach {
        tokio::spawn(stream::pump_exec(engine, exec_id, p, detached_io()));
        return with_headers(Response::builder().status(StatusCode::OK), ApiBody::empty());
    }
    if wants_upgrade {
        tokio::spawn(async move {
            match upgrade.await {
                Ok(up) => stream::pump_exec(engine, exec_id, p, TokioIo::new(up)).await,
                Err(e) => tracing::warn!("exec {exec_id}: upgrade failed: {e}"),
            }
        });
        return with_headers(
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("Content-Type", ct)
                .header("Connection", "Upgrade")
                .header("Upgrade", "tcp"),
            ApiBody::empty(),
        );
    }
    // No upgrade requested: the output is the response body.
    let (tx, body) = ApiBody::channel();
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(stream::pump_exec(engine, exec_id, p, server));
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let (mut rd, mut wr) = tokio::io::split(client);
        let _ = wr.shutdown().await;
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                break;
            }
        }
    });
    with_headers(Response::builder().header("Content-Type", ct), body)
}

/// `attach`: the container's output from now until the run ends (stdin is not forwarded:
/// containers' stdin is /dev/null).
fn attach(
    engine: Arc<Engine>,
    id: String,
    stdout: bool,
    stderr: bool,
    wants_upgrade: bool,
    upgrade: hyper::upgrade::OnUpgrade,
) -> Resp {
    let opts = berth_engine::container::logs::LogOptions {
        stdout,
        stderr,
        attach: true,
        ..Default::default()
    };
    let (tty, lines) = match engine.logs(&id, opts) {
        Ok(v) => v,
        Err(e) => return respond::engine_error(&e),
    };
    let ct = stream::exec_content_type(tty);
    if !wants_upgrade {
        return stream::logs(tty, lines);
    }
    tokio::spawn(async move {
        match upgrade.await {
            Ok(up) => stream::pump_logs(tty, lines, TokioIo::new(up)).await,
            Err(e) => tracing::warn!("attach {id}: upgrade failed: {e}"),
        }
    });
    with_headers(
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("Content-Type", ct)
            .header("Connection", "Upgrade")
            .header("Upgrade", "tcp"),
        ApiBody::empty(),
    )
}

async fn import(
    engine: Arc<Engine>,
    method: &hyper::Method,
    path: &str,
    query: &str,
    body: Incoming,
) -> Resp {
    let (reference, changes) = match route(method, path, query, b"") {
        Ok(Route::ImageImport { reference, changes }) => (reference, changes),
        Ok(_) => return respond::error(400, "not an import"),
        Err(e) => return respond::error(e.status, &e.message),
    };
    let dir = engine.config().data_root.join("tmp");
    let _ = tokio::fs::create_dir_all(&dir).await;
    let file = dir.join(format!("upload-{}", berth_engine::ids::new_id()));
    if let Err(e) = save_body(body, &file).await {
        let _ = tokio::fs::remove_file(&file).await;
        return respond::error(400, &format!("reading uploaded image: {e}"));
    }
    match engine
        .handle(Action::ImageImport {
            file,
            reference,
            changes,
        })
        .await
    {
        Ok(r) => respond::reply(r),
        Err(e) => respond::engine_error(&e),
    }
}

/// `POST /images/load`: the archive is streamed to a file, then loaded.
async fn load(
    engine: Arc<Engine>,
    method: &hyper::Method,
    path: &str,
    query: &str,
    body: Incoming,
) -> Resp {
    let quiet = match route(method, path, query, b"") {
        Ok(Route::ImageLoad { quiet }) => quiet,
        Ok(_) => return respond::error(400, "not an image load"),
        Err(e) => return respond::error(e.status, &e.message),
    };
    let dir = engine.config().data_root.join("tmp");
    let _ = tokio::fs::create_dir_all(&dir).await;
    let file = dir.join(format!("load-{}", berth_engine::ids::new_id()));
    if let Err(e) = save_body(body, &file).await {
        let _ = tokio::fs::remove_file(&file).await;
        return respond::error(400, &format!("reading uploaded image archive: {e}"));
    }
    match engine.handle(Action::ImageLoad { file, quiet }).await {
        Ok(r) => respond::reply(r),
        Err(e) => respond::engine_error(&e),
    }
}

async fn save_body(mut body: Incoming, file: &std::path::Path) -> std::io::Result<()> {
    let mut f = tokio::fs::File::create(file).await?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        if let Ok(data) = frame.into_data() {
            f.write_all(&data).await?;
        }
    }
    f.flush().await
}

/// An IO whose reads end at once and whose writes are discarded, for detached execs.
fn detached_io() -> tokio::io::DuplexStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut theirs = theirs;
        let mut sink = tokio::io::sink();
        let _ = theirs.shutdown().await;
        let _ = tokio::io::copy(&mut theirs, &mut sink).await;
    });
    ours
}
