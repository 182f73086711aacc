//! What the kernel adapter tests share: the root check and throwaway network namespaces.
//! The machine's own namespace is never changed.

use berth_kernel::netns;
use std::path::PathBuf;

/// Whether the test can run: root, or skipped with a message — unless
/// `BERTH_REQUIRE_PRIVILEGED=1`, which turns the skip into a failure.
pub fn privileged(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("BERTH_REQUIRE_PRIVILEGED=1 but {test} needs root");
    }
    eprintln!("skipping {test}: needs root");
    false
}

/// A throwaway network namespace pinned on a temp file, removed on drop.
pub struct Ns {
    pub path: PathBuf,
}

impl Ns {
    /// Namespace `name` of test `test`, under `$TMPDIR/<group>/`.
    pub fn new(group: &str, test: &str, name: &str) -> Ns {
        let path = std::env::temp_dir()
            .join(group)
            .join(format!("{}-{test}-{name}", std::process::id()));
        let _ = netns::remove(&path);
        netns::create(&path).unwrap_or_else(|e| panic!("create netns {}: {e}", path.display()));
        Ns { path }
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        if let Err(e) = netns::remove(&self.path) {
            eprintln!("cleanup: {e}");
        }
    }
}
