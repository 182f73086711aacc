//! Exit statuses and Docker-style error messages.

use bollard::errors::Error as ApiError;
use std::fmt;
use std::sync::OnceLock;

static HOST: OnceLock<String> = OnceLock::new();

/// Records the daemon address for "Cannot connect" messages.
pub fn set_host(host: &str) {
    let _ = HOST.set(host.to_string());
}

fn host() -> &'static str {
    HOST.get().map_or(crate::args::DEFAULT_HOST, String::as_str)
}

/// An error carrying the process exit status. An empty message means the
/// error was already reported.
#[derive(Debug)]
pub struct StatusError {
    pub code: i32,
    pub message: String,
}

impl StatusError {
    pub fn new(code: i32, message: impl Into<String>) -> StatusError {
        StatusError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

/// Whether `err` is a daemon "not found" (404) response.
pub fn is_not_found(err: &ApiError) -> bool {
    matches!(
        err,
        ApiError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn io_error_in(err: &ApiError) -> Option<&std::io::Error> {
    // `IOError` is `#[error(transparent)]`, so its `source()` skips the
    // io::Error itself.
    if let ApiError::IOError { err } = err {
        return Some(err);
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}

/// Whether the error means the daemon could not be reached at all.
pub fn is_connect_error(err: &ApiError) -> bool {
    match err {
        ApiError::SocketNotFoundError(_) => true,
        ApiError::DockerResponseServerError { .. } => false,
        other => io_error_in(other).is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::PermissionDenied
            )
        }),
    }
}

/// Docker's wording for an API client error.
pub fn describe_api_error(err: &ApiError) -> String {
    match err {
        ApiError::DockerResponseServerError { message, .. } => {
            format!("Error response from daemon: {}", message.trim_end())
        }
        ApiError::DockerStreamError { error } => error.clone(),
        ApiError::DockerContainerWaitError { error, .. } => error.clone(),
        ApiError::JsonDataError { message, .. } => {
            format!("Error: unexpected response from daemon: {message}")
        }
        ApiError::SocketNotFoundError(_) => cannot_connect(),
        other => match io_error_in(other) {
            Some(io) if io.kind() == std::io::ErrorKind::PermissionDenied => format!(
                "permission denied while trying to connect to the berth daemon socket at {}: {io}",
                host()
            ),
            Some(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                cannot_connect()
            }
            _ => format!("error during connect: {other}"),
        },
    }
}

pub fn cannot_connect() -> String {
    format!(
        "Cannot connect to the berth daemon at {}. Is berthd running?",
        host()
    )
}

/// The message printed for an error that reached `main`.
pub fn describe(err: &anyhow::Error) -> String {
    for e in err.chain() {
        if let Some(api) = e.downcast_ref::<ApiError>() {
            return describe_api_error(api);
        }
    }
    format!("{err:#}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_errors_are_prefixed() {
        let e = anyhow::Error::new(ApiError::DockerResponseServerError {
            status_code: 404,
            message: "No such container: foo".to_string(),
        });
        assert_eq!(
            describe(&e),
            "Error response from daemon: No such container: foo"
        );
    }

    #[test]
    fn missing_socket_is_cannot_connect() {
        let e = ApiError::SocketNotFoundError("/nope.sock".to_string());
        assert!(is_connect_error(&e));
        assert!(describe_api_error(&e).starts_with("Cannot connect to the berth daemon at "));
        assert!(describe_api_error(&e).ends_with(". Is berthd running?"));
    }

    #[test]
    fn refused_is_cannot_connect() {
        let e = ApiError::IOError {
            err: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert!(is_connect_error(&e));
        assert!(describe_api_error(&e).contains("Is berthd running?"));
    }

    #[test]
    fn plain_errors_keep_their_text() {
        let e = anyhow::anyhow!("invalid reference format");
        assert_eq!(describe(&e), "invalid reference format");
    }
}
