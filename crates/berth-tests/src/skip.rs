//! Deciding whether privileged tests can run here.

use crate::util::{env_flag, which};

/// Why the privileged tests cannot run on this machine, or `None` if they can.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some(format!("not root (euid {euid})"));
    }
    for tool in ["ip", "nsenter"] {
        if which(tool).is_none() {
            return Some(format!(
                "`{tool}` not found (install iproute2 / util-linux)"
            ));
        }
    }
    None
}

/// True when the test named `test` may run. Otherwise prints
/// "skipped: needs root ..." and returns false — or panics when
/// `BERTH_REQUIRE_PRIVILEGED=1`, so CI cannot silently skip.
pub fn privileged(test: &str) -> bool {
    match skip_reason() {
        None => true,
        Some(reason) => {
            if env_flag("BERTH_REQUIRE_PRIVILEGED") {
                panic!("BERTH_REQUIRE_PRIVILEGED is set but {test} would be skipped: {reason}");
            }
            println!("skipped: needs root and ip/nsenter ({test}: {reason})");
            eprintln!("skipped: needs root and ip/nsenter ({test}: {reason})");
            false
        }
    }
}
