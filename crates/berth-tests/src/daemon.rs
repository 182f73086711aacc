//! Running `berthd` inside a topology's host network namespace.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cleanup::{self, ReapSpec};
use crate::cli::{self, Output};
use crate::http;
use crate::topology::Topology;
use crate::util::{describe, next_id, tail_file, which};

/// How long to wait for `GET /_ping` to answer after starting berthd.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Directory holding the `berthd` and `berth` binaries: `$BERTH_BIN_DIR`, or
/// the target dir of the running test binary (`target/debug/deps/x` →
/// `target/debug`).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BERTH_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe has a parent").to_path_buf();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    dir
}

/// Path of a workspace binary; panics with a hint when it was not built.
pub fn bin_path(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    if !p.is_file() {
        panic!(
            "{} not found: build the workspace binaries first (`cargo build --workspace`, \
             with the same CARGO_TARGET_DIR as the tests) or set BERTH_BIN_DIR",
            p.display()
        );
    }
    p
}

/// A berthd process in a topology's host netns, with its own data root,
/// exec root, socket and log under `<topology dir>/d<N>/`.
///
/// Dropping it force-removes its containers (best effort), stops it, kills
/// whatever it left running and unmounts what it left mounted.
pub struct Daemon {
    bin: PathBuf,
    netns_path: PathBuf,
    dir: PathBuf,
    marker: String,
    rootfs_needle: String,
    extra_args: Vec<String>,
    child: Option<Child>,
    starts: u32,
    /// Extra environment for the next starts (e.g. `BERTH_CRASH_AT`).
    extra_env: Vec<(String, String)>,
}

impl Daemon {
    /// Start berthd in `topo`'s host netns and wait until it answers
    /// `/_ping` (≤ 10 s; panics with the daemon's log otherwise).
    pub fn start(topo: &Topology) -> Daemon {
        Daemon::start_with_args(topo, &[])
    }

    /// Like [`Daemon::start`], with extra berthd arguments.
    pub fn start_with_args(topo: &Topology, extra: &[&str]) -> Daemon {
        let sub = format!("d{}", next_id());
        let dir = topo.dir().join(&sub);
        std::fs::create_dir_all(&dir).expect("create daemon dir");
        let mut d = Daemon {
            bin: bin_path("berthd"),
            netns_path: topo.host_ns_path(),
            marker: format!("{}{sub}", topo.marker()),
            rootfs_needle: format!("/{}/{sub}/", topo.name()),
            dir,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            starts: 0,
            extra_env: Vec::new(),
        };
        d.spawn();
        d.wait_ready(START_TIMEOUT);
        d
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "berthd is already running");
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open berthd.log");
        let _ = writeln!(
            log,
            "===== berth-tests: starting berthd (start #{}) =====",
            self.starts
        );
        let (key, value) = self.marker.split_once('=').expect("marker has =");
        let mut cmd = Command::new(which("nsenter").unwrap_or_else(|| "nsenter".into()));
        cmd.arg(format!("--net={}", self.netns_path.display()))
            .arg(&self.bin)
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("-H")
            .arg(self.host())
            .arg("--log-level")
            .arg("debug")
            .args(&self.extra_args)
            .env(key, value)
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NO_COLOR", "1")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        if std::env::var_os("RUST_BACKTRACE").is_none() {
            cmd.env("RUST_BACKTRACE", "1");
        }
        // If the test process dies without running Drop (killed by a
        // timeout, ^C), take berthd with it.
        // SAFETY: prctl is async-signal-safe; nothing else runs here.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let line = describe(&cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
        self.child = Some(child);
    }

    /// Wait until `GET /_ping` answers 200; panics with the log on timeout
    /// or if berthd exits first.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "berthd exited during startup ({status}); log {}:\n{}",
                        self.log_path().display(),
                        self.log()
                    );
                }
            } else {
                panic!("berthd is not running");
            }
            let last_err = match http::request(
                &self.socket(),
                "GET",
                "/_ping",
                None,
                Duration::from_secs(2),
            ) {
                Ok(r) if r.status == 200 => return,
                Ok(r) => format!("/_ping answered {}: {}", r.status, r.text()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                panic!(
                    "berthd did not answer /_ping within {timeout:?} (last: {last_err}); log {}:\n{}",
                    self.log_path().display(),
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's private directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `--data-root`.
    pub fn data_root(&self) -> PathBuf {
        self.dir.join("data")
    }
    /// `--exec-root`.
    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }
    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("berth.sock")
    }
    /// `unix://<socket>`, for `-H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    /// Path of the daemon's combined stdout/stderr log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("berthd.log")
    }
    /// The daemon's log so far (all starts).
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        tail_file(&self.log_path(), n)
    }
    /// berthd's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
    /// Whether berthd is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                false
            }
            None => false,
        }
    }

    /// SIGKILL berthd (by pid) and reap it. Its containers are left alone.
    /// Environment added to berthd from its next start on (replaces earlier settings).
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.extra_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain syscall on our own child's pid.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// SIGTERM berthd and wait for it to exit (SIGKILL after 30 s).
    /// Returns the exit status, if it was running.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.stop_within(Duration::from_secs(30))
    }

    fn stop_within(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: plain syscall on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!("berth-tests: berthd ignored SIGTERM for {grace:?}; killing it");
        let _ = child.kill();
        child.wait().ok()
    }

    /// Start berthd again with the same roots (stopping it first if it is
    /// still running) and wait until it is ready.
    pub fn restart(&mut self) {
        if self.is_running() {
            self.stop();
        }
        self.spawn();
        self.wait_ready(START_TIMEOUT);
    }

    /// One raw API request to this daemon (e.g. `api("GET", "/_ping", None)`).
    pub fn api(&self, method: &str, path: &str, body: Option<&[u8]>) -> http::Response {
        http::request(&self.socket(), method, path, body, Duration::from_secs(30)).unwrap_or_else(
            |e| {
                panic!(
                    "{method} {path}: {e}\nberthd log tail:\n{}",
                    self.log_tail(50)
                )
            },
        )
    }

    /// `berth -H unix://<socket> args...`
    pub fn berth(&self, args: &[&str]) -> Output {
        cli::berth(self, args)
    }
    /// Run berth, assert exit 0, return trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        cli::ok(self, args)
    }
    /// Run berth, assert a non-zero exit, return the output.
    pub fn fails(&self, args: &[&str]) -> Output {
        cli::fails(self, args)
    }
    /// The real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        cli::docker(self, args)
    }
    /// `berth inspect NAME`, element 0, as JSON.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        cli::inspect(self, name)
    }

    /// Force-remove all containers through the API, with short deadlines.
    fn remove_all_containers(&self) {
        let sock = self.socket();
        let Ok(r) = http::request(
            &sock,
            "GET",
            "/containers/json?all=1",
            None,
            Duration::from_secs(3),
        ) else {
            return;
        };
        if r.status != 200 {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.body) else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for c in v.as_array().into_iter().flatten() {
            if Instant::now() >= deadline {
                break;
            }
            if let Some(id) = c.get("Id").and_then(|i| i.as_str()) {
                let _ = http::request(
                    &sock,
                    "DELETE",
                    &format!("/containers/{id}?force=1&v=1"),
                    None,
                    Duration::from_secs(10),
                );
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "---- berthd log ({}), last 200 lines ----\n{}\n---- end of berthd log ----",
                self.log_path().display(),
                self.log_tail(200)
            );
        }
        if self.is_running() {
            self.remove_all_containers();
            self.stop_within(Duration::from_secs(10));
        }
        let spec = ReapSpec {
            env_prefix: Some(self.marker.clone()),
            rootfs_needle: Some(self.rootfs_needle.clone()),
            cmdline_needle: Some(format!("{}/", self.dir.display())),
            netns: cleanup::netns_mounted_under(&self.dir),
        };
        let killed = cleanup::reap(&spec);
        if !killed.is_empty() {
            eprintln!(
                "berth-tests: killed {} process(es) berthd left behind: {killed:?}",
                killed.len()
            );
        }
        cleanup::unmount_under(&self.dir);
    }
}
