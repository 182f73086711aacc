//! Phase timings of an operation, logged at debug level (`--log-level debug`): where the time
//! of a `start` or an attach goes, without a profiler. And giving freed memory back.

use std::time::Instant;

pub struct Phases {
    op: &'static str,
    last: Instant,
    first: Instant,
    marks: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn new(op: &'static str) -> Self {
        let now = Instant::now();
        Phases {
            op,
            last: now,
            first: now,
            marks: Vec::new(),
        }
    }

    /// Ends the phase called `name`.
    pub fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.marks
            .push((name, (now - self.last).as_secs_f64() * 1000.0));
        self.last = now;
    }

    pub fn done(self, subject: &str) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let phases: Vec<String> = self
            .marks
            .iter()
            .map(|(n, ms)| format!("{n}={ms:.2}ms"))
            .collect();
        let total = self.first.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!(subject, "{} {total:.2}ms: {}", self.op, phases.join(" "));
    }
}

/// Gives memory freed by removed containers back to the system, at most once a second (a
/// thousand removals otherwise leave berthd at its high-water mark).
pub fn trim_memory_soon() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let last = LAST.load(Ordering::Relaxed);
    if now.saturating_sub(last) < 1000
        || LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    // SAFETY: malloc_trim only releases free heap memory; it is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}
