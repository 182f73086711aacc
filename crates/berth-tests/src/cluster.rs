//! Multi-host topologies for overlay-network tests: several berthd "hosts"
//! on one underlay LAN, sharing an etcd.
//!
//! ```text
//!   netns <name>-u ("underlay": the LAN between the hosts)
//!     br0 10.U.V.100/24   ← etcd listens here (client port 2379; peers on 127.0.0.1)
//!      ├─ u1 ── veth ── ul0 10.U.V.1/24 in host 1's namespace
//!      ├─ u2 ── veth ── ul0 10.U.V.2/24 in host 2's namespace
//!      └─ u3 ── veth ── ul0 10.U.V.3/24 in host 3's namespace
//!
//!   host i = a harness [`Topology`] (host netns + its own outside netns on
//!   eth0, default route there, so its containers' NAT goes through it) and a
//!   [`Daemon`] started with `--cluster-store etcd://10.U.V.100:2379
//!   --cluster-advertise 10.U.V.i --cluster-lease-ttl T`.
//! ```
//!
//! The underlay veths are created inside the underlay namespace with their
//! peers placed directly into the host namespaces: nothing ever appears in
//! the machine's own network namespace. etcd's data directory lives in the
//! underlay's private directory. Everything is torn down by `Drop`, also when
//! a test panics: the daemons first (while etcd still answers), then etcd,
//! then the host topologies, then the underlay namespace.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::cleanup::{self, ReapSpec};
use crate::cli::Output;
use crate::daemon::Daemon;
use crate::image::{import_busybox, BUSYBOX_IMAGE};
use crate::topology::{in_ns, Topology, NETNS_DIR};
use crate::util::{describe, env_flag, next_id, run_captured, tail_file, tmp_root, which};

/// etcd's client port (inside the underlay namespace, so no clash between tests).
pub const ETCD_PORT: u16 = 2379;
/// etcd's peer port (on the underlay namespace's loopback).
pub const ETCD_PEER_PORT: u16 = 2380;

fn ip(args: &[&str]) -> Result<(), String> {
    let mut c = Command::new(which("ip").unwrap_or_else(|| "ip".into()));
    c.args(args);
    let line = describe(&c);
    let cap = run_captured(&mut c, None, Duration::from_secs(30))?;
    if cap.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{line}` failed: {}",
            String::from_utf8_lossy(&cap.stderr).trim()
        ))
    }
}

fn sanitize(prefix: &str) -> String {
    let s: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(12)
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "t".into()
    } else {
        s
    }
}

/// Why the cluster tests cannot run here (besides root/ip/nsenter), if so.
pub fn cluster_skip_reason() -> Option<String> {
    if let Some(r) = crate::skip::skip_reason() {
        return Some(r);
    }
    if which("etcd").is_none() {
        return Some("`etcd` not found (apt-get install etcd-server)".into());
    }
    if which("bridge").is_none() {
        return Some("`bridge` not found (install iproute2)".into());
    }
    None
}

/// True when a cluster test may run; prints why not (or panics under
/// `BERTH_REQUIRE_PRIVILEGED=1`) otherwise.
pub fn cluster_privileged(test: &str) -> bool {
    match cluster_skip_reason() {
        None => true,
        Some(reason) => {
            if env_flag("BERTH_REQUIRE_PRIVILEGED") {
                panic!("BERTH_REQUIRE_PRIVILEGED is set but {test} would be skipped: {reason}");
            }
            println!("skipped: needs root, ip/nsenter/bridge and etcd ({test}: {reason})");
            eprintln!("skipped: needs root, ip/nsenter/bridge and etcd ({test}: {reason})");
            false
        }
    }
}

// ------------------------------------------------------------------ underlay

/// The underlay namespace: a bridge joining the hosts, with an address of
/// its own (where etcd listens). Dropping it kills whatever runs in it and
/// deletes it (and with it the underlay ends of the veths).
pub struct Underlay {
    name: String,
    ns: String,
    net: [u8; 3],
    dir: PathBuf,
    created: bool,
}

impl Underlay {
    /// Creates `bt-<prefix>-<pid>-<n>-u` with bridge `br0` (`10.U.V.100/24`),
    /// a /24 of its own per underlay. Panics (after undoing) on failure.
    pub fn new(prefix: &str) -> Underlay {
        sweep_stale();
        let pid = std::process::id();
        let n = next_id();
        let name = format!("bt-{}-{pid}-{n}", sanitize(prefix));
        // 10.(100..149).(n).0/24: apart from the harness's 10.200-249 host
        // links and from the overlay pool's first subnets (10.0.x.0/24).
        let a = 100 + ((pid + n / 256) % 50) as u8;
        let b = (n % 256) as u8;
        let mut u = Underlay {
            ns: format!("{name}-u"),
            dir: tmp_root().join(&name),
            name,
            net: [10, a, b],
            created: false,
        };
        if let Err(e) = u.build() {
            panic!("cannot build underlay {}: {e}", u.ns);
        }
        u
    }

    fn build(&mut self) -> Result<(), String> {
        if self.dir.exists() {
            cleanup::remove_tree(&self.dir);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("mkdir {}: {e}", self.dir.display()))?;
        if Path::new(NETNS_DIR).join(&self.ns).exists() {
            let _ = ip(&["netns", "del", &self.ns]);
        }
        ip(&["netns", "add", &self.ns])?;
        self.created = true;
        let ns = self.ns.clone();
        let cidr = format!("{}/24", self.store_ip());
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &ns, "addr", "add", &cidr, "dev", "br0"])?;
        ip(&["-n", &ns, "link", "set", "br0", "up"])?;
        Ok(())
    }

    /// `bt-<prefix>-<pid>-<n>`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The underlay namespace's name.
    pub fn ns(&self) -> &str {
        &self.ns
    }
    /// `/var/run/netns/<ns>`.
    pub fn ns_path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.ns)
    }
    /// The underlay's private directory (etcd's data and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `10.U.V.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}.{}.{}.0/24", self.net[0], self.net[1], self.net[2])
    }
    /// Host `i`'s underlay address, `10.U.V.i`.
    pub fn host_ip(&self, i: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.net[0], self.net[1], self.net[2], i)
    }
    /// The bridge's own address (where etcd listens), `10.U.V.100`.
    pub fn store_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.net[0], self.net[1], self.net[2], 100)
    }
    /// Environment marker of processes this underlay started (etcd).
    pub fn marker(&self) -> String {
        format!("BERTH_TEST_ID={}/", self.name)
    }

    /// Joins `topo`'s host namespace to the underlay: veth `u<i>` on `br0`,
    /// peer `ul0` with `10.U.V.i/24` in the host namespace. Returns that address.
    pub fn attach(&self, i: u8, topo: &Topology) -> Ipv4Addr {
        let addr = self.host_ip(i);
        let r = (|| {
            let port = format!("u{i}");
            let cidr = format!("{addr}/24");
            let (u, h) = (self.ns.as_str(), topo.host_ns());
            ip(&[
                "-n", u, "link", "add", &port, "type", "veth", "peer", "name", "ul0", "netns", h,
            ])?;
            ip(&["-n", u, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", u, "link", "set", &port, "up"])?;
            ip(&["-n", h, "addr", "add", &cidr, "dev", "ul0"])?;
            ip(&["-n", h, "link", "set", "ul0", "up"])
        })();
        if let Err(e) = r {
            panic!(
                "cannot attach {} to underlay {}: {e}",
                topo.host_ns(),
                self.ns
            );
        }
        addr
    }

    /// Run a command (program first) in the underlay namespace.
    pub fn run(&self, args: &[&str]) -> Output {
        in_ns(&self.ns, args)
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        let mut netns = Vec::new();
        if self.created {
            if let Some(id) = cleanup::netns_id(&self.ns_path()) {
                netns.push(id);
            }
        }
        cleanup::reap(&ReapSpec {
            env_prefix: Some(self.marker()),
            cmdline_needle: Some(format!("{}/", self.dir.display())),
            netns,
            ..Default::default()
        });
        if self.created {
            if let Err(e) = ip(&["netns", "del", &self.ns]) {
                eprintln!("berth-tests: {e}");
            }
            self.created = false;
        }
        if env_flag("BERTH_TEST_KEEP") {
            eprintln!("berth-tests: keeping {}", self.dir.display());
        } else {
            cleanup::remove_tree(&self.dir);
        }
    }
}

/// Remove underlay namespaces `bt-*-<pid>-<n>-u` of test processes that no
/// longer exist, when nothing runs in them any more. Once per process.
fn sweep_stale() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(rd) = std::fs::read_dir(NETNS_DIR) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("bt-") else {
                continue;
            };
            let parts: Vec<&str> = rest.rsplitn(4, '-').collect();
            if parts.len() != 4 || parts[0] != "u" || parts[1].parse::<u32>().is_err() {
                continue;
            }
            let Ok(pid) = parts[2].parse::<u32>() else {
                continue;
            };
            if Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let Some(id) = cleanup::netns_id(&e.path()) else {
                continue;
            };
            let spec = ReapSpec {
                netns: vec![id],
                ..Default::default()
            };
            if cleanup::find_processes(&spec).is_empty() {
                let _ = ip(&["netns", "del", &name]);
            }
        }
    });
}

// ---------------------------------------------------------------------- etcd

/// A single-member etcd in the underlay namespace, data under the
/// underlay's directory. Dropping it stops it.
pub struct Etcd {
    ns_path: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    addr: Ipv4Addr,
    marker: String,
    child: Option<Child>,
    starts: u32,
}

impl Etcd {
    /// Starts etcd on `<underlay store ip>:2379` and waits until it is healthy.
    pub fn start(u: &Underlay) -> Etcd {
        let mut e = Etcd {
            ns_path: u.ns_path(),
            data_dir: u.dir().join("etcd-data"),
            log: u.dir().join("etcd.log"),
            addr: u.store_ip(),
            marker: format!("{}etcd", u.marker()),
            child: None,
            starts: 0,
        };
        e.spawn();
        e.wait_ready(Duration::from_secs(20));
        e
    }

    /// `http://ADDR:2379`.
    pub fn client_url(&self) -> String {
        format!("http://{}:{ETCD_PORT}", self.addr)
    }
    /// `etcd://ADDR:2379`, for `--cluster-store`.
    pub fn store_url(&self) -> String {
        format!("etcd://{}:{ETCD_PORT}", self.addr)
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn log_path(&self) -> &Path {
        &self.log
    }
    pub fn log_tail(&self, n: usize) -> String {
        tail_file(&self.log, n)
    }
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "etcd is already running");
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open etcd.log");
        let _ = writeln!(
            log,
            "===== berth-tests: starting etcd (start #{}) =====",
            self.starts
        );
        let client = self.client_url();
        let peer = format!("http://127.0.0.1:{ETCD_PEER_PORT}");
        let (key, value) = self.marker.split_once('=').expect("marker has =");
        let mut cmd = Command::new(which("nsenter").unwrap_or_else(|| "nsenter".into()));
        cmd.arg(format!("--net={}", self.ns_path.display()))
            .arg(which("etcd").unwrap_or_else(|| "etcd".into()))
            .arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen-client-urls")
            .arg(&client)
            .arg("--advertise-client-urls")
            .arg(&client)
            .arg("--listen-peer-urls")
            .arg(&peer)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer)
            .arg("--initial-cluster")
            .arg(format!("default={peer}"))
            .env(key, value)
            .env_remove("ETCDCTL_API")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; nothing else runs here.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let line = describe(&cmd);
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}")),
        );
    }

    /// Whether etcd answers `/health` with `"health":"true"`.
    pub fn healthy(&self) -> bool {
        let ns = self
            .ns_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let url = format!("{}/health", self.client_url());
        let o = in_ns(
            &ns,
            &["busybox", "timeout", "2", "busybox", "wget", "-qO-", &url],
        );
        o.success() && o.stdout.contains("true")
    }

    /// Waits until healthy; panics with etcd's log otherwise.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    panic!(
                        "etcd exited during startup ({st}); log {}:\n{}",
                        self.log.display(),
                        self.log_tail(60)
                    );
                }
            }
            if self.healthy() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "etcd not healthy within {timeout:?}; log {}:\n{}",
                    self.log.display(),
                    self.log_tail(60)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM etcd (by pid) and wait for it (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: plain syscall on our own child's pid.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts etcd again on the same data directory and waits until healthy.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.wait_ready(Duration::from_secs(20));
    }

    /// `etcdctl get --prefix PREFIX` (keys and values), for diagnostics.
    pub fn dump(&self, prefix: &str) -> String {
        if self.child.is_none() {
            return "<etcd is stopped>".into();
        }
        let Some(etcdctl) = which("etcdctl") else {
            return "<etcdctl not installed>".into();
        };
        let ns = self
            .ns_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let endpoints = format!("--endpoints={}", self.client_url());
        let mut c = crate::topology::ns_command(&ns, &etcdctl.to_string_lossy());
        c.env("ETCDCTL_API", "3").args([
            endpoints.as_str(),
            "--command-timeout=3s",
            "get",
            "--prefix",
            prefix,
        ]);
        match run_captured(&mut c, None, Duration::from_secs(10)) {
            Ok(cap) => format!(
                "{}{}",
                String::from_utf8_lossy(&cap.stdout),
                String::from_utf8_lossy(&cap.stderr)
            ),
            Err(e) => e,
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "---- etcd log ({}), last 30 lines ----\n{}\n---- end of etcd log ----",
                self.log.display(),
                self.log_tail(30)
            );
        }
        self.stop();
    }
}

// ------------------------------------------------------------------- cluster

/// N hosts on an underlay with an etcd. Fields drop in order: the daemons
/// (removing their containers while etcd still answers), etcd, the host
/// topologies, the underlay.
pub struct Cluster {
    daemons: Vec<Option<Daemon>>,
    pub etcd: Etcd,
    topos: Vec<(Topology, Ipv4Addr)>,
    pub underlay: Underlay,
    lease_ttl: u32,
    extra_args: Vec<String>,
}

impl Cluster {
    /// Underlay + etcd + `n` hosts, each with a berthd joined to the cluster
    /// (`--cluster-lease-ttl lease_ttl`) and the busybox image imported as
    /// [`BUSYBOX_IMAGE`]. `None` (after saying why) when it cannot run here.
    pub fn new(prefix: &str, n: u8, lease_ttl: u32) -> Option<Cluster> {
        Cluster::new_with_args(prefix, n, lease_ttl, &[])
    }

    /// Like [`Cluster::new`], every berthd started with `extra` arguments too.
    pub fn new_with_args(prefix: &str, n: u8, lease_ttl: u32, extra: &[&str]) -> Option<Cluster> {
        if !cluster_privileged(prefix) {
            return None;
        }
        assert!((1..100).contains(&n), "1..99 hosts");
        let underlay = Underlay::new(prefix);
        let etcd = Etcd::start(&underlay);
        let mut topos = Vec::new();
        for i in 1..=n {
            let t = Topology::new(&format!("{}-{i}", sanitize(prefix)));
            let addr = underlay.attach(i, &t);
            topos.push((t, addr));
        }
        let mut c = Cluster {
            daemons: Vec::new(),
            etcd,
            topos,
            underlay,
            lease_ttl,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..n as usize {
            let d = c.start_daemon(i);
            c.daemons.push(Some(d));
        }
        // Underlay sanity: every host reaches etcd's address.
        let store = c.underlay.store_ip().to_string();
        for (t, _) in &c.topos {
            let o = t.in_host(&["busybox", "ping", "-c1", "-W2", &store]);
            assert!(o.success(), "underlay broken: {o}");
        }
        for d in c.daemons.iter().flatten() {
            import_busybox(d, BUSYBOX_IMAGE);
        }
        Some(c)
    }

    fn start_daemon(&self, i: usize) -> Daemon {
        let (t, addr) = &self.topos[i];
        let store = self.etcd.store_url();
        let addr = addr.to_string();
        let ttl = self.lease_ttl.to_string();
        let mut args = vec![
            "--cluster-store",
            &store,
            "--cluster-advertise",
            &addr,
            "--cluster-lease-ttl",
            &ttl,
        ];
        args.extend(self.extra_args.iter().map(String::as_str));
        Daemon::start_with_args(t, &args)
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.topos.len()
    }
    pub fn is_empty(&self) -> bool {
        self.topos.is_empty()
    }
    /// Host `i`'s daemon (1-based).
    pub fn d(&self, i: usize) -> &Daemon {
        self.daemons[i - 1].as_ref().expect("daemon present")
    }
    /// Host `i`'s daemon, mutably (kill9, restart).
    pub fn d_mut(&mut self, i: usize) -> &mut Daemon {
        self.daemons[i - 1].as_mut().expect("daemon present")
    }
    /// Host `i`'s topology (1-based).
    pub fn topo(&self, i: usize) -> &Topology {
        &self.topos[i - 1].0
    }
    /// Host `i`'s underlay address (1-based).
    pub fn host_ip(&self, i: usize) -> Ipv4Addr {
        self.topos[i - 1].1
    }
    /// Run a command (program first) in host `i`'s namespace.
    pub fn in_host(&self, i: usize, args: &[&str]) -> Output {
        self.topo(i).in_host(args)
    }
    /// The last `n` lines of every daemon's log (without the etcd client's
    /// and the API's per-request debug lines) and of etcd's, for messages.
    pub fn logs(&self, n: usize) -> String {
        let mut s = String::new();
        for (i, d) in self.daemons.iter().enumerate() {
            if let Some(d) = d {
                s.push_str(&format!(
                    "---- host {} berthd log ({}), filtered ----\n{}\n",
                    i + 1,
                    d.log_path().display(),
                    filtered_tail(&d.log(), n)
                ));
            }
        }
        s.push_str(&format!(
            "---- etcd log ----\n{}\n",
            self.etcd.log_tail(n / 2)
        ));
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Daemons first, in parallel-ish order of declaration; then the rest
        // drops field by field (etcd, topologies, underlay).
        for d in self.daemons.iter_mut() {
            d.take();
        }
    }
}

/// Log lines that are noise when debugging the cluster: the etcd client's
/// HTTP/2 frames and berthd's one-line-per-API-request debug output.
const NOISE: &[&str] = &[
    "h2::",
    "tower::",
    "hyper::",
    "hyper_util::",
    "Connection{peer=",
    "berth_api::server: request",
];

/// The last `n` lines of `log` without [`NOISE`].
pub fn filtered_tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !NOISE.iter().any(|x| l.contains(x)))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
