//! The runtime spec: everything the shim needs, as plain data.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What to run and how to isolate it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    pub id: String,
    pub rootfs: RootFs,
    /// argv; `args[0]` is resolved against the container's `PATH` after pivot_root.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub hostname: String,
    pub net: NetMode,
    /// Files bind-mounted over paths inside the container (hosts, resolv.conf, hostname).
    pub files: Vec<BindFile>,
    /// JSON-lines log (Docker's json-file format).
    pub log_path: PathBuf,
    /// Where the shim records the exit status.
    pub exit_path: PathBuf,
    /// uid/gid to run as.
    #[serde(default)]
    pub user: Option<(u32, u32)>,
    /// A pinned mount namespace to copy instead of the shim's own (see [`crate::template`]).
    #[serde(default)]
    pub mnt_template: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BindFile {
    pub source: PathBuf,
    pub target: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum RootFs {
    /// An overlay of read-only image layers (lowest last, as overlayfs wants) with a private
    /// upper layer, mounted on `target`.
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        target: PathBuf,
    },
    /// The host's own filesystem, seen through a private mount namespace: for running the
    /// host's programs with only the namespaces isolated (the reserved image `host`).
    Host,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum NetMode {
    /// Share the host's (berthd's) network namespace.
    Host,
    /// Join the namespace pinned at this path.
    Join(PathBuf),
}

/// Written by the shim when the container's init exits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitRecord {
    pub exit_code: i32,
    /// Set when the process was killed by a signal (Docker reports 128+signal as the code).
    pub signal: Option<i32>,
    pub finished_at: String,
}
