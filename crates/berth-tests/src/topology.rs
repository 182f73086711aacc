//! Network-namespace topologies for tests.
//!
//! ```text
//!   netns <name>-h ("host": berthd runs here)     netns <name>-o ("outside")
//!   eth0 10.A.B.1/24  <------- veth ------->      eth0 10.A.B.2/24
//!   default via 10.A.B.2
//! ```
//!
//! The veth pair is created inside the host namespace with its peer placed
//! directly into the outside namespace, so nothing ever appears in the
//! machine's own network namespace.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cleanup::{self, ReapSpec};
use crate::cli::Output;
use crate::daemon::Daemon;
use crate::util::{describe, env_flag, next_id, run_captured, tmp_root, which};

/// Where `ip netns add` puts its namespace files.
pub const NETNS_DIR: &str = "/var/run/netns";

/// A host netns + outside netns pair joined by a veth, with a private
/// temporary directory. Dropping it removes everything it created.
pub struct Topology {
    name: String,
    host_ns: String,
    outside_ns: String,
    net: [u8; 3],
    dir: PathBuf,
    created_ns: Vec<String>,
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
        .take(16)
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "t".into()
    } else {
        s
    }
}

/// A `Command` running `program` inside netns `ns` (via `nsenter --net`,
/// which, unlike `ip netns exec`, leaves /sys and the mount namespace alone).
pub fn ns_command(ns: &str, program: &str) -> Command {
    let mut c = Command::new(which("nsenter").unwrap_or_else(|| "nsenter".into()));
    c.arg(format!("--net={NETNS_DIR}/{ns}")).arg(program);
    c
}

/// Run `args` (program first) inside netns `ns`, with a 60 s deadline.
pub fn in_ns(ns: &str, args: &[&str]) -> Output {
    assert!(!args.is_empty(), "in_ns needs a program");
    let mut c = ns_command(ns, args[0]);
    c.args(&args[1..]);
    let line = describe(&c);
    match run_captured(&mut c, None, Duration::from_secs(60)) {
        Ok(cap) => Output::from_captured(line, cap),
        Err(msg) => panic!("{msg}"),
    }
}

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

impl Topology {
    /// Create the namespaces, veth, addresses and routes. Panics (after
    /// undoing what it did) if any step fails.
    pub fn new(name_prefix: &str) -> Topology {
        sweep_stale();
        let pid = std::process::id();
        let n = next_id();
        let name = format!("bt-{}-{pid}-{n}", sanitize(name_prefix));
        // A /24 per topology: 10.(200 + pid/n mix).(n).0/24 — distinct per
        // topology within a process, and very likely across processes.
        let a = 200 + ((pid + n / 256) % 50) as u8;
        let b = (n % 256) as u8;
        let dir = tmp_root().join(&name);
        let mut topo = Topology {
            host_ns: format!("{name}-h"),
            outside_ns: format!("{name}-o"),
            name,
            net: [10, a, b],
            dir,
            created_ns: Vec::new(),
        };
        if let Err(e) = topo.build() {
            panic!("cannot build topology {}: {e}", topo.name);
        }
        topo
    }

    fn build(&mut self) -> Result<(), String> {
        if self.dir.exists() {
            cleanup::remove_tree(&self.dir);
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("mkdir {}: {e}", self.dir.display()))?;
        for ns in [self.host_ns.clone(), self.outside_ns.clone()] {
            if Path::new(NETNS_DIR).join(&ns).exists() {
                // Left over from a dead process that had the same pid.
                let _ = ip(&["netns", "del", &ns]);
            }
            ip(&["netns", "add", &ns])?;
            self.created_ns.push(ns);
        }
        let (h, o) = (self.host_ns.clone(), self.outside_ns.clone());
        let host_cidr = format!("{}/24", self.host_ip());
        let out_cidr = format!("{}/24", self.outside_ip());
        let gw = self.outside_ip().to_string();
        ip(&["-n", &h, "link", "set", "lo", "up"])?;
        ip(&["-n", &o, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", &h, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", &o,
        ])?;
        ip(&["-n", &h, "addr", "add", &host_cidr, "dev", "eth0"])?;
        ip(&["-n", &o, "addr", "add", &out_cidr, "dev", "eth0"])?;
        ip(&["-n", &h, "link", "set", "eth0", "up"])?;
        ip(&["-n", &o, "link", "set", "eth0", "up"])?;
        ip(&["-n", &h, "route", "add", "default", "via", &gw])?;
        Ok(())
    }

    /// Unique name of this topology (`bt-<prefix>-<pid>-<n>`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Netns where berthd runs.
    pub fn host_ns(&self) -> &str {
        &self.host_ns
    }
    /// Netns standing for the LAN/internet.
    pub fn outside_ns(&self) -> &str {
        &self.outside_ns
    }
    /// Path of the host netns file (for `nsenter --net=`).
    pub fn host_ns_path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.host_ns)
    }
    /// Path of the outside netns file.
    pub fn outside_ns_path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.outside_ns)
    }
    /// Address of the host side of the link (`10.A.B.1`).
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.net[0], self.net[1], self.net[2], 1)
    }
    /// Address of the outside side of the link (`10.A.B.2`), the host's
    /// default gateway.
    pub fn outside_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.net[0], self.net[1], self.net[2], 2)
    }
    /// The link's subnet, `10.A.B.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}.{}.{}.0/24", self.net[0], self.net[1], self.net[2])
    }
    /// The topology's private directory (daemon roots, logs, sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Run a command (program first) in the host netns.
    pub fn in_host(&self, args: &[&str]) -> Output {
        in_ns(&self.host_ns, args)
    }
    /// Run a command (program first) in the outside netns.
    pub fn in_outside(&self, args: &[&str]) -> Output {
        in_ns(&self.outside_ns, args)
    }
    /// Start a berthd in the host netns (same as `Daemon::start(self)`).
    pub fn start_daemon(&self) -> Daemon {
        Daemon::start(self)
    }
    /// Environment marker given to every daemon of this topology.
    pub fn marker(&self) -> String {
        format!("BERTH_TEST_ID={}/", self.name)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // 1. Processes tied to this topology: daemons (marker), anything in
        //    its namespaces, containers whose rootfs is in its directory.
        let mut netns: Vec<(u64, u64)> = self
            .created_ns
            .iter()
            .filter_map(|ns| cleanup::netns_id(&Path::new(NETNS_DIR).join(ns)))
            .collect();
        netns.extend(cleanup::netns_mounted_under(&self.dir));
        let spec = ReapSpec {
            env_prefix: Some(self.marker()),
            rootfs_needle: Some(format!("/{}/", self.name)),
            cmdline_needle: Some(format!("{}/", self.dir.display())),
            netns,
        };
        cleanup::reap(&spec);
        // 2. Mounts below the directory, then the namespaces.
        let left = cleanup::unmount_under(&self.dir);
        for ns in self.created_ns.drain(..).rev() {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("berth-tests: {e}");
            }
        }
        // 3. The directory.
        if env_flag("BERTH_TEST_KEEP") {
            eprintln!("berth-tests: keeping {}", self.dir.display());
        } else if left.is_empty() {
            cleanup::remove_tree(&self.dir);
        } else {
            eprintln!(
                "berth-tests: leaving {} (still mounted: {left:?})",
                self.dir.display()
            );
        }
    }
}

/// Remove namespaces named `bt-*-<pid>-<n>-{h,o}` left behind by test
/// processes that no longer exist (killed before their `Drop` ran), when no
/// process is inside them any more. Runs once per process.
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
            // parts = [h|o, n, pid, prefix]
            if parts.len() != 4 || !(parts[0] == "h" || parts[0] == "o") {
                continue;
            }
            let (Ok(_), Ok(pid)) = (parts[1].parse::<u32>(), parts[2].parse::<u32>()) else {
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
        // Directories of dead test processes (nothing mounted below them,
        // no process running from them).
        let Ok(rd) = std::fs::read_dir(tmp_root()) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("bt-") else {
                continue;
            };
            let parts: Vec<&str> = rest.rsplitn(3, '-').collect();
            // parts = [n, pid, prefix]
            if parts.len() != 3 || parts[0].parse::<u32>().is_err() {
                continue;
            }
            let Ok(pid) = parts[1].parse::<u32>() else {
                continue;
            };
            if Path::new(&format!("/proc/{pid}")).exists()
                || Path::new(NETNS_DIR).join(format!("{name}-h")).exists()
                || !cleanup::mounts_under(&e.path()).is_empty()
            {
                continue;
            }
            let spec = ReapSpec {
                rootfs_needle: Some(format!("/{name}/")),
                cmdline_needle: Some(format!("{}/", e.path().display())),
                ..Default::default()
            };
            if cleanup::find_processes(&spec).is_empty() {
                cleanup::remove_tree(&e.path());
            }
        }
    });
}

/// Parse `10.A.B.C/len` style output helper: all IPv4 addresses in `text`.
pub fn ipv4_addrs(text: &str) -> Vec<Ipv4Addr> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|w| w.parse().ok())
        .collect()
}
