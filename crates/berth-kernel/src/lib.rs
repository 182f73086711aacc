//! Kernel adapters: the bottom layer of berth.
//!
//! Everything here talks to the kernel (namespaces, mounts, processes, links) and nothing here
//! knows about containers or networks as the engine models them. Higher layers reach these
//! functions through narrow traits so their logic can be tested with fakes.

pub mod bpf;
pub mod netlink;
pub mod netns;
pub mod nf_tables;
pub mod nft;
pub mod proc;
pub mod sockets;
pub mod sysctl;
pub mod tun;

/// Errors from kernel operations, each naming what was being done.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: nix::Error,
    },
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// A netlink failure that is not an errno from the kernel (no answer, bad answer, bad input).
    #[error("{op}: {message}")]
    Netlink { op: String, message: String },
}

impl KernelError {
    pub fn sys(op: impl Into<String>, source: nix::Error) -> Self {
        KernelError::Sys {
            op: op.into(),
            source,
        }
    }
    pub fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        KernelError::Io {
            op: op.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, KernelError>;
