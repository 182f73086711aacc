//! The container runtime: turns a [`Spec`] into a process tree in its own namespaces.
//!
//! berthd never parents containers directly. It starts a *shim* (`berthd shim BUNDLE`), a small
//! session leader that outlives berthd, which forks the container's init into new PID, mount,
//! UTS, IPC (and network, unless shared) namespaces, copies its output into a JSON-lines log and
//! records its exit status in the bundle. A restarted berthd finds the shim and the exit file.
//!
//! - [`spec`]: what to run (written by berthd as `BUNDLE/spec.json`).
//! - [`shim`]: the shim's main loop.
//! - [`init`]: what the forked child does before exec (mounts, pivot_root, hostname).
//! - [`nsexec`]: running an extra process inside a live container (`exec`).
//! - [`launch`]: berthd's side: start a shim and wait for its verdict.
//! - [`template`]: the mount namespace containers start from (without berthd's pins).

pub mod init;
pub mod launch;
pub mod logfile;
pub mod nsexec;
pub mod shim;
pub mod spec;
pub mod template;

pub use launch::{start, Started};
pub use spec::{ExitRecord, NetMode, RootFs, Spec};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Start(String),
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            op: op.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, RuntimeError>;
