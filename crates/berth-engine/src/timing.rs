//! Phase timings of an operation, logged at debug level (`--log-level debug`): where the time
//! of a `start` or an attach goes, without a profiler.

use std::time::Instant;

pub struct Phases {
    /// Debug logging of this module is on: otherwise nothing is measured (attach is hot).
    on: bool,
    op: &'static str,
    last: Instant,
    first: Instant,
    marks: Vec<(&'static str, f64)>,
}

impl Phases {
    pub fn new(op: &'static str) -> Self {
        let now = Instant::now();
        Phases {
            on: tracing::enabled!(tracing::Level::DEBUG),
            op,
            last: now,
            first: now,
            marks: Vec::new(),
        }
    }

    /// Ends the phase called `name`.
    pub fn mark(&mut self, name: &'static str) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        self.marks
            .push((name, (now - self.last).as_secs_f64() * 1000.0));
        self.last = now;
    }

    pub fn done(self, subject: &str) {
        if !self.on {
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
