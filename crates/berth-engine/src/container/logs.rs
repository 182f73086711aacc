//! `logs`: reads the json-file log written by the shim; `follow` tails it until the container
//! stops and the file is drained, or the client goes away.

use crate::error::Result;
use crate::Engine;
use berth_runtime::logfile::LogLine;
use std::io::{BufRead, BufReader, Seek};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Attach semantics: only new output, and follow through a start that has not happened
    /// yet until that run ends.
    pub attach: bool,
}

impl Engine {
    /// Returns whether the container has a TTY and a stream of its log lines.
    pub fn logs(
        self: &Arc<Self>,
        r: &str,
        opts: LogOptions,
    ) -> Result<(bool, mpsc::Receiver<LogLine>)> {
        let c = self.find(r)?;
        let tty = c.config.tty.unwrap_or(false);
        let (tx, rx) = mpsc::channel(256);
        let path = self.log_path(&c.id);
        let engine = self.clone();
        let id = c.id.clone();
        let mut opts = opts;
        if opts.attach {
            opts.follow = true;
            opts.tail = Some(0);
        }
        let first_start = c.state.started_at.clone();
        let ended = move |c: &super::Container| {
            if opts.attach {
                !c.is_running() && c.state.started_at != first_start
            } else {
                !c.is_running()
            }
        };
        tokio::task::spawn_blocking(move || {
            let want = |l: &LogLine| {
                (l.stream == "stdout" && opts.stdout) || (l.stream == "stderr" && opts.stderr)
            };
            let Ok(file) = std::fs::File::open(&path) else {
                if !opts.follow {
                    return;
                }
                // The log appears when the container first starts.
                return follow_from(&engine, &id, None, &tx, &want, &ended);
            };
            let mut reader = BufReader::new(file);
            let mut first: Vec<LogLine> = Vec::new();
            let mut pending = String::new();
            read_complete_lines(&mut reader, &mut pending, |l| {
                if want(&l) {
                    first.push(l)
                }
            });
            let skip = opts
                .tail
                .map(|n| first.len().saturating_sub(n))
                .unwrap_or(0);
            for l in first.into_iter().skip(skip) {
                if tx.blocking_send(l).is_err() {
                    return;
                }
            }
            if opts.follow {
                follow_from(&engine, &id, Some((reader, pending)), &tx, &want, &ended);
            }
        });
        Ok((tty, rx))
    }
}

type Reader = (BufReader<std::fs::File>, String);

fn follow_from(
    engine: &Engine,
    id: &str,
    mut reader: Option<Reader>,
    tx: &mpsc::Sender<LogLine>,
    want: &dyn Fn(&LogLine) -> bool,
    ended: &dyn Fn(&super::Container) -> bool,
) {
    loop {
        let done = engine.find(id).map(|c| ended(&c)).unwrap_or(true);
        if reader.is_none() {
            reader = std::fs::File::open(engine.log_path(id))
                .ok()
                .map(|f| (BufReader::new(f), String::new()));
        }
        let mut closed = false;
        if let Some((r, pending)) = reader.as_mut() {
            let _ = r.stream_position();
            read_complete_lines(r, pending, |l| {
                if !closed && want(&l) && tx.blocking_send(l).is_err() {
                    closed = true;
                }
            });
        }
        if closed || tx.is_closed() || done {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Reads whole lines; an incomplete last line stays in `pending` for the next call.
fn read_complete_lines<R: BufRead>(r: &mut R, pending: &mut String, mut f: impl FnMut(LogLine)) {
    loop {
        match r.read_line(pending) {
            Ok(0) | Err(_) => return,
            Ok(_) if pending.ends_with('\n') => {
                if let Some(l) = LogLine::parse(pending.trim_end()) {
                    f(l);
                }
                pending.clear();
            }
            Ok(_) => return,
        }
    }
}
