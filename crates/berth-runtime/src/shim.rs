//! The shim: `berthd shim BUNDLE`. One per container; outlives berthd.
//!
//! Protocol with berthd: the shim's stdout is a pipe; it writes exactly one line, `OK <pid>
//! <shim-pid>` once the container's command has been exec'd, or `ERR <message>` if it could not
//! be started, then closes it. When the container exits the shim writes `ExitRecord` to the
//! spec's `exit_path` (atomically) and exits itself, which is what berthd watches for.

use crate::logfile::{split_lines, LogLine};
use crate::spec::{ExitRecord, Spec};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Entry point; returns the process exit code.
pub fn main(bundle: &Path) -> i32 {
    let mut status_out = File::from(std::io::stdout().as_fd_owned());
    let spec: Spec = match std::fs::read(bundle.join("spec.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(status_out, "ERR reading spec: {e}");
            return 1;
        }
    };
    // Detach from berthd: the intermediate process exits, the shim is reparented.
    // SAFETY: the shim is single-threaded at this point.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => return 0,
        Ok(ForkResult::Child) => {}
        Err(e) => {
            let _ = writeln!(status_out, "ERR fork shim: {e}");
            return 1;
        }
    }
    let _ = nix::unistd::setsid();
    match supervise(&spec, bundle, &mut status_out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(status_out, "ERR {e}");
            1
        }
    }
}

trait AsFdOwned {
    fn as_fd_owned(&self) -> OwnedFd;
}
impl AsFdOwned for std::io::Stdout {
    fn as_fd_owned(&self) -> OwnedFd {
        // SAFETY: dup of fd 1 gives us a new descriptor we own.
        let fd = unsafe { libc::dup(1) };
        // SAFETY: `fd` is a fresh descriptor from dup (or -1, which from_raw_fd would not
        // accept; dup of a valid fd 1 does not fail in practice, and a failure only loses the
        // status line).
        unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
    }
}

fn supervise(spec: &Spec, bundle: &Path, status_out: &mut File) -> Result<(), String> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (out_r, out_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (fail_r, fail_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let devnull = File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    unshare(CloneFlags::CLONE_NEWPID).map_err(|e| format!("unshare(CLONE_NEWPID): {e}"))?;
    // SAFETY: single-threaded; the child only sets up its process and execs or _exits.
    let child = match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop((out_r, err_r, fail_r));
            let ok = dup_to(devnull.as_raw_fd(), 0)
                && dup_to(out_w.as_raw_fd(), 1)
                && dup_to(err_w.as_raw_fd(), 2);
            let msg = if ok {
                crate::init::run(spec)
            } else {
                "redirect stdio failed".into()
            };
            let mut f = File::from(fail_w);
            let _ = f.write_all(msg.as_bytes());
            // SAFETY: _exit is async-signal-safe and never returns.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => child,
    };
    drop((out_w, err_w, fail_w));
    let mut why = String::new();
    let _ = File::from(fail_r).read_to_string(&mut why);
    if !why.is_empty() {
        let _ = waitpid(child, None);
        return Err(why);
    }
    // Recorded before berthd hears of it: a berthd that dies right now finds the container
    // through this file when it restarts.
    let _ = std::fs::write(
        bundle.join("running"),
        format!("{} {}", child.as_raw(), std::process::id()),
    );
    let _ = writeln!(status_out, "OK {} {}", child.as_raw(), std::process::id());
    let _ = dup_to(devnull.as_raw_fd(), 1);
    let _ = dup_to(devnull.as_raw_fd(), 2);
    drop(std::mem::replace(status_out, devnull));

    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_path)
        .map_err(|e| format!("open log {}: {e}", spec.log_path.display()))?;
    // No threads: after unshare(CLONE_NEWPID) the kernel refuses to create them.
    pump_logs([File::from(out_r), File::from(err_r)], &mut log);
    let record = wait_for(child);
    write_exit(&spec.exit_path, &record);
    Ok(())
}

fn dup_to(fd: RawFd, target: RawFd) -> bool {
    // SAFETY: dup2 on descriptors we hold; the target is one of the standard descriptors.
    unsafe { libc::dup2(fd, target) >= 0 }
}

/// Reaps children until the container's init exits; returns its exit record.
fn wait_for(init: Pid) -> ExitRecord {
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == init => return record(code, None),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => {
                return record(128 + sig as i32, Some(sig as i32))
            }
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => return record(255, None),
        }
    }
}

fn record(exit_code: i32, signal: Option<i32>) -> ExitRecord {
    ExitRecord {
        exit_code,
        signal,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    }
}

/// Copies both output pipes into the log until both are closed (every process in the
/// container's PID namespace has exited).
fn pump_logs(pipes: [File; 2], log: &mut File) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let names = ["stdout", "stderr"];
    let mut open = [true, true];
    let mut pending = [Vec::new(), Vec::new()];
    let mut buf = vec![0u8; 32 * 1024];
    while open.iter().any(|o| *o) {
        let mut fds: Vec<PollFd> = Vec::new();
        let mut which = Vec::new();
        for i in 0..2 {
            if open[i] {
                fds.push(PollFd::new(pipes[i].as_fd(), PollFlags::POLLIN));
                which.push(i);
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        }
        let ready: Vec<usize> = fds
            .iter()
            .zip(&which)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, i)| *i)
            .collect();
        drop(fds);
        for i in ready {
            match (&pipes[i]).read(&mut buf) {
                Ok(0) | Err(_) => {
                    open[i] = false;
                    let tail = std::mem::take(&mut pending[i]);
                    if !tail.is_empty() {
                        write_lines(log, names[i], vec![tail]);
                    }
                }
                Ok(n) => write_lines(log, names[i], split_lines(&mut pending[i], &buf[..n])),
            }
        }
    }
}

fn write_lines(log: &mut File, stream: &str, lines: Vec<Vec<u8>>) {
    if lines.is_empty() {
        return;
    }
    let mut text = String::new();
    for l in lines {
        if let Ok(s) = serde_json::to_string(&LogLine::new(stream, &l)) {
            text.push_str(&s);
            text.push('\n');
        }
    }
    let _ = log.write_all(text.as_bytes());
}

fn write_exit(path: &Path, rec: &ExitRecord) {
    let tmp = path.with_extension("tmp");
    if let Ok(json) = serde_json::to_vec(rec) {
        if std::fs::write(&tmp, json).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}
