//! Running the `berth` CLI and the real `docker` CLI against a test daemon,
//! and small parsers for what they print.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::daemon::{bin_path, Daemon};
use crate::util::{self, describe, run_captured, which, DEFAULT_TIMEOUT};

/// What a command did: exit status and its output (lossy UTF-8).
#[derive(Clone)]
pub struct Output {
    /// The command line, for messages.
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub(crate) fn from_captured(cmdline: String, cap: util::Captured) -> Output {
        Output {
            cmdline,
            status: cap.status,
            stdout: String::from_utf8_lossy(&cap.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&cap.stderr).into_owned(),
        }
    }
    /// Exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn success(&self) -> bool {
        self.status.success()
    }
    /// stdout, trimmed.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
    /// stderr, trimmed.
    pub fn err(&self) -> &str {
        self.stderr.trim()
    }
    /// stdout followed by stderr.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.status, self.stdout, self.stderr
        )
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn run(d: &Daemon, mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    let line = describe(&cmd);
    match run_captured(&mut cmd, input, timeout) {
        Ok(cap) => Output::from_captured(line, cap),
        Err(msg) => panic!("{msg}\nberthd log tail:\n{}", d.log_tail(80)),
    }
}

fn config_dir(d: &Daemon) -> PathBuf {
    let dir = d.dir().join("cli-config");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn berth_command(d: &Daemon, args: &[&str]) -> Command {
    let mut c = Command::new(bin_path("berth"));
    c.arg("-H").arg(d.host()).args(args);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
        "BERTH_HOST",
    ] {
        c.env_remove(var);
    }
    c.env("DOCKER_CONFIG", config_dir(d)).env("NO_COLOR", "1");
    c
}

/// `berth -H unix://<socket> args...` (90 s deadline).
pub fn berth(d: &Daemon, args: &[&str]) -> Output {
    berth_timeout(d, args, DEFAULT_TIMEOUT)
}

/// Like [`berth`] with an explicit deadline (panics when it passes).
pub fn berth_timeout(d: &Daemon, args: &[&str], timeout: Duration) -> Output {
    run(d, berth_command(d, args), None, timeout)
}

/// Like [`berth`] with `input` on stdin.
pub fn berth_input(d: &Daemon, args: &[&str], input: &[u8]) -> Output {
    run(d, berth_command(d, args), Some(input), DEFAULT_TIMEOUT)
}

/// Run berth, assert it exits 0, return its stdout trimmed.
pub fn ok(d: &Daemon, args: &[&str]) -> String {
    let o = berth(d, args);
    assert!(
        o.success(),
        "expected success:\n{o}\nberthd log tail:\n{}",
        d.log_tail(60)
    );
    o.stdout.trim().to_string()
}

/// Run berth, assert it exits non-zero, return its output.
pub fn fails(d: &Daemon, args: &[&str]) -> Output {
    let o = berth(d, args);
    assert!(!o.success(), "expected failure:\n{o}");
    o
}

/// The docker CLI: `$BERTH_DOCKER_CLI`, `/usr/local/bin/docker`, or `docker`
/// in `PATH`.
pub fn docker_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_DOCKER_CLI") {
        return which(&p.to_string_lossy());
    }
    which("/usr/local/bin/docker").or_else(|| which("docker"))
}

/// Whether a docker CLI is installed.
pub fn docker_available() -> bool {
    docker_path().is_some()
}

/// The real docker CLI with `-H unix://<socket>` and a private config dir.
pub fn docker(d: &Daemon, args: &[&str]) -> Output {
    let path = docker_path().expect("docker CLI not installed (check docker_available())");
    let mut c = Command::new(path);
    c.arg("-H").arg(d.host()).args(args);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
    ] {
        c.env_remove(var);
    }
    c.env("DOCKER_CONFIG", config_dir(d))
        .env("DOCKER_CLI_HINTS", "false");
    run(d, c, None, DEFAULT_TIMEOUT)
}

/// Run docker, assert exit 0, return stdout trimmed.
pub fn docker_ok(d: &Daemon, args: &[&str]) -> String {
    let o = docker(d, args);
    assert!(
        o.success(),
        "expected success:\n{o}\nberthd log tail:\n{}",
        d.log_tail(60)
    );
    o.stdout.trim().to_string()
}

/// `berth inspect NAME` → the first element of the JSON array.
pub fn inspect(d: &Daemon, name: &str) -> serde_json::Value {
    let out = ok(d, &["inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("inspect {name}: not JSON ({e}):\n{out}"));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("inspect {name}: not a JSON array:\n{out}"));
    assert_eq!(arr.len(), 1, "inspect {name}: expected one element:\n{out}");
    arr[0].clone()
}

/// Poll `inspect NAME` until `.State.Status == status`; returns the last
/// inspect document, panics after `timeout`.
pub fn wait_for_status(
    d: &Daemon,
    name: &str,
    status: &str,
    timeout: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let v = inspect(d, name);
        if v["State"]["Status"] == status {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "container {name} did not reach status {status:?} within {timeout:?}; State: {}",
                v["State"]
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// True when `s` is exactly `len` lowercase hex digits.
pub fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Interface names from the contents of `/proc/net/dev`.
pub fn interfaces_from_proc_net_dev(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_string()))
        .filter(|n| !n.is_empty())
        .collect()
}

/// Interface names from `ip link` / `ip addr` output (`N: name[@peer]: ...`).
pub fn interfaces_from_ip_link(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let mut parts = l.splitn(3, ": ");
            let idx = parts.next()?;
            idx.trim().parse::<u32>().ok()?;
            let name = parts.next()?;
            Some(name.split('@').next().unwrap_or(name).to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_interfaces() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n  eth0: 1 2 3\n";
        assert_eq!(interfaces_from_proc_net_dev(dev), vec!["lo", "eth0"]);
        let link = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\n    link/ether c2:f4:40:3b:68:99 brd ff:ff:ff:ff:ff:ff\n";
        assert_eq!(interfaces_from_ip_link(link), vec!["lo", "eth0"]);
    }

    #[test]
    fn hex_ids() {
        assert!(is_hex_id("0123456789ab", 12));
        assert!(!is_hex_id("0123456789AB", 12));
        assert!(!is_hex_id("0123456789a", 12));
    }
}
