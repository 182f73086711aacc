//! Containers: records, the in-memory registry, and their lifecycle.
//!
//! - [`record`]: what is persisted per container.
//! - [`create`], [`lifecycle`]: create/start/stop/kill/remove and the exit watcher.
//! - [`exec`], [`logs`]: extra processes and output.
//! - [`files`]: the container's own /etc/hosts, /etc/resolv.conf, /etc/hostname.
//! - [`view`]: Docker's JSON shapes (inspect, list).

pub mod create;
pub mod etc;
pub mod exec;
pub mod files;
pub mod lifecycle;
pub mod logs;
pub mod record;
pub mod view;

pub use record::{Container, State, Status};
