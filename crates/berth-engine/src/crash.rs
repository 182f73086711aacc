//! Failure injection for the crash-safety tests: with `BERTH_CRASH_AT=OP:N` in berthd's
//! environment, the N-th crash point reached during operation OP kills berthd on the spot
//! (SIGKILL to itself: no destructor, no flush). Production never sets it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

static TARGET: OnceLock<Option<(String, u32)>> = OnceLock::new();
static SEEN: AtomicU32 = AtomicU32::new(0);

fn target() -> &'static Option<(String, u32)> {
    TARGET.get_or_init(|| {
        let v = std::env::var("BERTH_CRASH_AT").ok()?;
        let (op, n) = v.split_once(':')?;
        Some((op.to_string(), n.parse().ok()?))
    })
}

/// Marks a step of `op` (e.g. "start", "create-network"). Steps are counted per operation
/// kind across the daemon's life, which is what a test that runs one operation needs.
pub fn point(op: &str) {
    if let Some((want, n)) = target() {
        if want == op && SEEN.fetch_add(1, Ordering::SeqCst) + 1 == *n {
            eprintln!("BERTH_CRASH_AT={op}:{n}: crashing on purpose");
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            std::process::abort();
        }
    }
}
