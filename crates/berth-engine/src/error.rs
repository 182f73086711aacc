//! The engine's typed errors. Each kind maps to one HTTP status in the API layer, and every
//! message names what was wrong, in Docker's words where Docker has them.

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// 404: the named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with current state.
    #[error("{0}")]
    Conflict(String),
    /// 400: the request itself is invalid.
    #[error("{0}")]
    Invalid(String),
    /// 501: berth does not implement this.
    #[error("{0}")]
    NotImplemented(String),
    /// 500: something failed that is not the caller's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for EngineError {
    fn from(e: crate::store::StoreError) -> Self {
        EngineError::Internal(e.to_string())
    }
}

impl From<berth_runtime::RuntimeError> for EngineError {
    fn from(e: berth_runtime::RuntimeError) -> Self {
        EngineError::Internal(e.to_string())
    }
}

impl From<berth_kernel::KernelError> for EngineError {
    fn from(e: berth_kernel::KernelError) -> Self {
        EngineError::Internal(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// Wraps an io error with what was being done.
pub fn io(op: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> EngineError {
    move |e| EngineError::Internal(format!("{op}: {e}"))
}
