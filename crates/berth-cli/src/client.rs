//! Connection to berthd: a bollard client plus a tiny raw-JSON GET used where
//! Docker prints the daemon's bytes untouched (`inspect`, `info`).

use crate::error::{is_connect_error, StatusError};
use bollard::errors::Error as ApiError;
use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;

/// Requests may legitimately take long (`wait`, `logs -f`, `start_exec`); bollard
/// applies its timeout to receiving response headers, so keep it generous.
const TIMEOUT_SECS: u64 = 60 * 60 * 24 * 365;

/// The API version berthd speaks; used if version negotiation fails for a
/// reason other than connectivity.
const FALLBACK_VERSION: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 51,
};

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

fn empty() -> Body {
    UnsyncBoxBody::new(http_body_util::Empty::<Bytes>::new().map_err(|never| match never {}))
}

#[derive(Debug, Clone)]
pub struct Client {
    pub docker: Docker,
    socket: PathBuf,
}

/// Turns `unix:///path` (or a bare path) into a socket path.
pub fn socket_path(host: &str) -> Result<PathBuf, StatusError> {
    if let Some(p) = host.strip_prefix("unix://") {
        if p.is_empty() {
            return Err(StatusError::new(1, format!("invalid host: {host:?}")));
        }
        return Ok(PathBuf::from(p));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    Err(StatusError::new(
        1,
        format!("unsupported daemon address {host:?}: only unix:// sockets are supported"),
    ))
}

impl Client {
    /// Connects and negotiates the API version.
    pub async fn connect(host: &str) -> anyhow::Result<Client> {
        let socket = socket_path(host)?;
        let path = socket.to_string_lossy().into_owned();
        let docker = Docker::connect_with_unix(&path, TIMEOUT_SECS, API_DEFAULT_VERSION)?;
        let docker = match docker.clone().negotiate_version().await {
            Ok(d) => d,
            Err(e) if is_connect_error(&e) => return Err(e.into()),
            Err(_) => Docker::connect_with_unix(&path, TIMEOUT_SECS, &FALLBACK_VERSION)?,
        };
        Ok(Client { docker, socket })
    }

    fn version_prefix(&self) -> String {
        let v = self.docker.client_version();
        format!("/v{}.{}", v.major_version, v.minor_version)
    }

    async fn send(
        &self,
        method: hyper::Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, ApiError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|err| ApiError::IOError { err })?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let uri = format!("{}{}", self.version_prefix(), path);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, "berth")
            .header(
                hyper::header::USER_AGENT,
                concat!("berth/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        Ok(sender.send_request(req.body(body)?).await?)
    }

    /// POST `path_and_query` with a streamed request body; returns the whole
    /// response body of a successful request.
    pub async fn post_stream<S>(&self, path_and_query: &str, body: S) -> Result<Bytes, ApiError>
    where
        S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        use futures_util::StreamExt;
        let body = UnsyncBoxBody::new(http_body_util::StreamBody::new(
            body.map(|r| r.map(hyper::body::Frame::data)),
        ));
        let res = self
            .send(
                hyper::Method::POST,
                path_and_query,
                body,
                Some("application/x-tar"),
            )
            .await?;
        let status = res.status();
        let bytes = res.into_body().collect().await?.to_bytes();
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(server_error(status.as_u16(), &bytes))
        }
    }

    /// GET `path` (e.g. `/containers/x/json`) and return the raw body. Non-2xx
    /// answers become `DockerResponseServerError` like bollard's.
    pub async fn get_raw(&self, path: &str) -> Result<Bytes, ApiError> {
        let res = self.send(hyper::Method::GET, path, empty(), None).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        if status.is_success() {
            return Ok(body);
        }
        Err(server_error(status.as_u16(), &body))
    }

    /// Sends `POST /containers/{id}/wait?condition=...` and returns once the
    /// daemon has answered with headers (so the wait is registered) or after
    /// `grace`. The handle resolves to the exit status, or `None` if the
    /// container does not exist (any more).
    pub async fn begin_wait(
        &self,
        id: &str,
        condition: &str,
        grace: std::time::Duration,
    ) -> tokio::task::JoinHandle<Result<Option<i64>, ApiError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let this = self.clone();
        let path = format!("/containers/{}/wait?condition={condition}", path_escape(id));
        let handle = tokio::spawn(async move {
            let res = this.send(hyper::Method::POST, &path, empty(), None).await;
            let _ = tx.send(());
            let res = res?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            if status.as_u16() == 404 {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(server_error(status.as_u16(), &body));
            }
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            let code = v.get("StatusCode").and_then(serde_json::Value::as_i64);
            let error = v
                .get("Error")
                .and_then(|e| e.get("Message"))
                .and_then(serde_json::Value::as_str)
                .filter(|m| !m.is_empty());
            match error {
                Some(m) => Err(ApiError::DockerContainerWaitError {
                    error: m.to_string(),
                    code: code.unwrap_or(-1),
                }),
                None => Ok(code),
            }
        });
        let _ = tokio::time::timeout(grace, rx).await;
        handle
    }
}

fn server_error(status_code: u16, body: &[u8]) -> ApiError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    ApiError::DockerResponseServerError {
        status_code,
        message,
    }
}

/// Percent-encodes a name for use as one URL path segment group (keeps `/` and
/// `:` as Docker's client does for image references).
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'~'
            | b'/'
            | b':'
            | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds `k=v&k=v` with escaping; repeated keys are kept (Docker sends one
/// `changes` parameter per `--change`).
pub fn query_string(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths() {
        assert_eq!(
            socket_path("unix:///run/berth/berth.sock").ok(),
            Some(PathBuf::from("/run/berth/berth.sock"))
        );
        assert_eq!(
            socket_path("/tmp/b.sock").ok(),
            Some(PathBuf::from("/tmp/b.sock"))
        );
        assert!(socket_path("tcp://1.2.3.4:2375").is_err());
        assert!(socket_path("unix://").is_err());
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            query_string(&[
                ("fromSrc", "-".into()),
                ("changes", "ENV PATH=/bin".into()),
                ("changes", "CMD [\"sh\"]".into()),
            ]),
            "fromSrc=-&changes=ENV%20PATH%3D%2Fbin&changes=CMD%20%5B%22sh%22%5D"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(path_escape("alpine:3.19"), "alpine:3.19");
        assert_eq!(path_escape("a b?c"), "a%20b%3Fc");
        assert_eq!(
            path_escape("localhost:5000/x/y@sha256:ab"),
            "localhost:5000/x/y@sha256:ab"
        );
    }
}
