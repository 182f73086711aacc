//! A distribution registry (Debian's `docker-registry`) in a topology's outside namespace,
//! for tests that push and pull through berthd (`--insecure-registry <addr>`). It stores under
//! the topology's directory and is killed (by its own pid) on drop.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::topology::Topology;
use crate::util::env_flag;

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Whether `docker-registry` is installed; panics when it is not and
/// `BERTH_REQUIRE_PRIVILEGED=1`, prints a skip message otherwise.
pub fn registry_available(test: &str) -> bool {
    if Path::new(REGISTRY_BIN).is_file() {
        return true;
    }
    if env_flag("BERTH_REQUIRE_PRIVILEGED") {
        panic!("{REGISTRY_BIN} is missing: run scripts/install-test-deps.sh");
    }
    println!("skipped: {test} needs {REGISTRY_BIN} (apt-get install docker-registry)");
    false
}

pub struct Registry {
    child: Child,
    /// `<outside ip>:PORT`
    pub addr: String,
    log: PathBuf,
}

impl Registry {
    /// Starts the registry on `<outside ip>:port` and waits (≤ 20 s) until `GET /v2/` answers.
    pub fn start(topo: &Topology, port: u16) -> Registry {
        let dir = topo.dir().join(format!("registry-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let addr = format!("{}:{port}", topo.outside_ip());
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  secret: berth-tests\n",
                dir.join("storage").display()
            ),
        )
        .unwrap();
        let log = dir.join("registry.log");
        let logf = File::create(&log).unwrap();
        let child = crate::ns_command(topo.outside_ns(), REGISTRY_BIN)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("start docker-registry");
        let r = Registry { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        let url = format!("http://{}/v2/", r.addr);
        loop {
            // The host's busybox wget, from the outside namespace.
            let o = crate::in_ns(
                topo.outside_ns(),
                &["timeout", "3", "busybox", "wget", "-q", "-O", "-", &url],
            );
            if o.success() {
                break;
            }
            if Instant::now() > deadline {
                panic!("docker-registry did not come up:\n{}", r.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        let _ = File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Our own child, by pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
