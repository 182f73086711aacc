//! Giving memory that removed containers freed back to the system.

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
