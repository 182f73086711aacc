//! Integration-test harness for berth.
//!
//! Every test builds its own [`Topology`] (a "host" network namespace where
//! `berthd` runs, and an "outside" namespace standing for the LAN/internet,
//! joined by a veth pair) and its own [`Daemon`]. Nothing is ever changed in
//! the machine's own network namespace, and everything a test created is torn
//! down by `Drop`, also when the test panics.
//!
//! ```no_run
//! use berth_tests::{ok, setup};
//!
//! let Some(env) = setup("example") else { return };
//! assert_eq!(ok(&env.daemon, &["run", "--rm", "bb:latest", "echo", "hi"]), "hi");
//! ```
//!
//! Environment variables:
//! - `BERTH_BIN_DIR`: where `berthd` and `berth` are (default: the target dir
//!   the test binary was built into, e.g. `target/debug`).
//! - `BERTH_REQUIRE_PRIVILEGED=1`: fail instead of skipping when the tests
//!   cannot run (not root, `ip`/`nsenter` missing). CI sets it.
//! - `BERTH_TEST_TMPDIR`: parent of the per-test directories (default: the
//!   system temp dir).
//! - `BERTH_TEST_KEEP=1`: keep the per-test directories (daemon logs, data
//!   roots) instead of removing them.
//! - `BERTH_DOCKER_CLI`: path of the docker CLI (default `/usr/local/bin/docker`,
//!   then `docker` in `PATH`).
//! - `BERTH_BUSYBOX`: path of a static busybox (default `/bin/busybox`).

pub mod capture;
pub mod cleanup;
pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod http;
pub mod image;
pub mod leaks;
pub mod prober;
pub mod registry;
pub mod skip;
pub mod topology;
pub mod util;

pub use cli::{
    berth, berth_input, berth_timeout, docker, docker_available, docker_ok, fails, inspect,
    interfaces_from_ip_link, interfaces_from_proc_net_dev, is_hex_id, ok, wait_for_status, Output,
};
pub use daemon::{bin_dir, bin_path, Daemon};
pub use image::{busybox_image_tar, busybox_tar, import_busybox, BUSYBOX_IMAGE};
pub use skip::{privileged, skip_reason};
pub use topology::{in_ns, ns_command, Topology};
pub use util::wait_until;

/// A topology with a running daemon that already has the busybox image
/// imported as [`BUSYBOX_IMAGE`] (`bb:latest`).
///
/// Fields drop in declaration order: the daemon first, then the topology.
pub struct TestEnv {
    pub daemon: Daemon,
    pub topo: Topology,
}

/// Skip check + `Topology::new(prefix)` + `Daemon::start` + busybox import.
///
/// Returns `None` (after printing "skipped: needs root ...") when the test
/// cannot run here; panics instead when `BERTH_REQUIRE_PRIVILEGED=1`.
pub fn setup(prefix: &str) -> Option<TestEnv> {
    let env = setup_bare(prefix)?;
    import_busybox(&env.daemon, BUSYBOX_IMAGE);
    Some(env)
}

/// Like [`setup`] but without importing any image.
pub fn setup_bare(prefix: &str) -> Option<TestEnv> {
    if !privileged(prefix) {
        return None;
    }
    let topo = Topology::new(prefix);
    let daemon = Daemon::start(&topo);
    Some(TestEnv { daemon, topo })
}

/// `let env = require_setup!("name");` — returns from the test when skipped.
#[macro_export]
macro_rules! require_setup {
    ($prefix:expr) => {
        match $crate::setup($prefix) {
            Some(env) => env,
            None => return,
        }
    };
}

/// `require_privileged!("name");` — returns from the test when it cannot run.
#[macro_export]
macro_rules! require_privileged {
    ($name:expr) => {
        if !$crate::privileged($name) {
            return;
        }
    };
}
