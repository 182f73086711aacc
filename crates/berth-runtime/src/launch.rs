//! berthd's side of starting a container: write the spec, start the shim, read its verdict.

use crate::spec::Spec;
use crate::{Result, RuntimeError};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// A started container: its init's pid and the shim's pid, each with its start time so a
/// restarted berthd can tell them from a recycled pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    pub pid: i32,
    pub pid_start: u64,
    pub shim_pid: i32,
    pub shim_start: u64,
}

/// Starts `spec` through a shim (`shim_exe shim BUNDLE`). Blocking: call it off the async runtime.
pub fn start(shim_exe: &Path, bundle: &Path, spec: &Spec) -> Result<Started> {
    std::fs::create_dir_all(bundle)
        .map_err(|e| RuntimeError::io(format!("mkdir {}", bundle.display()), e))?;
    let json =
        serde_json::to_vec(spec).map_err(|e| RuntimeError::Start(format!("encode spec: {e}")))?;
    std::fs::write(bundle.join("spec.json"), json)
        .map_err(|e| RuntimeError::io("write spec", e))?;
    let mut cmd = Command::new(shim_exe);
    // No pre_exec hook: without one the standard library starts the shim with posix_spawn
    // (vfork semantics) instead of fork, whose cost grows with berthd's memory (a fork of a
    // berthd holding 1000 containers' state took tens of milliseconds). Its own process group
    // keeps terminal signals meant for berthd away; the shim calls setsid itself.
    cmd.arg("shim")
        .arg(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| RuntimeError::io(format!("spawn shim {}", shim_exe.display()), e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| RuntimeError::Start("shim has no stdout".into()))?;
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let _ = child.wait();
    read.map_err(|e| RuntimeError::io("read shim status", e))?;
    parse_status(line.trim_end())
}

fn parse_status(line: &str) -> Result<Started> {
    if let Some(msg) = line.strip_prefix("ERR ") {
        return Err(RuntimeError::Start(msg.to_string()));
    }
    let mut it = line
        .strip_prefix("OK ")
        .unwrap_or_default()
        .split(' ')
        .map(str::parse::<i32>);
    match (it.next(), it.next()) {
        (Some(Ok(pid)), Some(Ok(shim_pid))) => Ok(Started {
            pid,
            pid_start: berth_kernel::proc::start_time(pid).unwrap_or(0),
            shim_pid,
            shim_start: berth_kernel::proc::start_time(shim_pid).unwrap_or(0),
        }),
        _ if line.is_empty() => Err(RuntimeError::Start(
            "container runtime exited without a status".into(),
        )),
        _ => Err(RuntimeError::Start(format!(
            "unexpected status from the container runtime: {line:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn err_status_carries_message() {
        let e = parse_status("ERR exec: \"nope\": executable file not found in $PATH").unwrap_err();
        assert!(e.to_string().contains("executable file not found"));
    }

    #[test]
    fn garbage_status_is_an_error() {
        assert!(parse_status("").is_err());
        assert!(parse_status("OK x y").is_err());
        assert!(parse_status("hello").is_err());
    }
}
