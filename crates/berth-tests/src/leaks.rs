//! What a load test compares before and after: the kernel objects and daemon resources that
//! must come back to where they started (veths in the host namespace, pinned container
//! namespaces, elements of berth's nftables sets and maps) and those that may only grow a
//! little (berthd's open descriptors and resident memory).

use crate::{Daemon, Topology};

use std::collections::BTreeMap;

/// What must come back to where it started.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub veths: usize,
    pub netns: usize,
    /// "family berth set" → number of elements, for berth's tables.
    pub nft: BTreeMap<String, usize>,
}

/// What may grow a little.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub fds: usize,
    pub rss_kb: u64,
}

/// Counts veths in the host namespace, the daemon's pinned namespaces and berth's set/map
/// elements.
pub fn counts(topo: &Topology, daemon: &Daemon) -> Counts {
    let links = topo.in_host(&["ip", "-o", "link"]).stdout;
    let veths = links.lines().filter(|l| l.contains(": veth")).count();
    let netns = std::fs::read_dir(daemon.exec_root().join("netns"))
        .map(|r| r.count())
        .unwrap_or(0);
    let o = topo.in_host(&["nft", "-j", "list", "ruleset"]);
    assert!(o.success(), "{o}");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("nft -j output");
    let mut nft = BTreeMap::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        for kind in ["set", "map"] {
            let s = &item[kind];
            if s.is_object() && s["table"] == "berth" {
                let key = format!(
                    "{} berth {}",
                    s["family"].as_str().unwrap_or("?"),
                    s["name"].as_str().unwrap_or("?")
                );
                nft.insert(key, s["elem"].as_array().map(|a| a.len()).unwrap_or(0));
            }
        }
    }
    Counts { veths, netns, nft }
}

/// Open descriptors and resident memory of process `pid`.
pub fn usage(pid: u32) -> Usage {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|r| r.count())
        .unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Usage { fds, rss_kb }
}

/// What berthd's descriptors point at, grouped (for a leak report).
pub fn fd_summary(pid: u32) -> String {
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let t = std::fs::read_link(e.path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let k = match t.split_once(':') {
            Some((k, _)) if !t.starts_with('/') => k.to_string(),
            _ => t,
        };
        *kinds.entry(k).or_default() += 1;
    }
    kinds
        .into_iter()
        .map(|(k, n)| format!("{n:5} {k}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Samples [`usage`] of `pid` in the background and keeps the peaks, until dropped.
pub struct PeakSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    peak: std::sync::Arc<std::sync::Mutex<Usage>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakSampler {
    pub fn start(pid: u32) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let peak = std::sync::Arc::new(std::sync::Mutex::new(usage(pid)));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let u = usage(pid);
                    let mut p = peak.lock().unwrap_or_else(|e| e.into_inner());
                    p.fds = p.fds.max(u.fds);
                    p.rss_kb = p.rss_kb.max(u.rss_kb);
                    drop(p);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            })
        };
        PeakSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// Stops sampling and returns the peaks.
    pub fn finish(mut self) -> Usage {
        self.stop_thread();
        *self.peak.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// After a load: berthd's descriptors back within 10 of `before`, its RSS within twice
/// `before` + 20 MB, and no panic in its log.
pub fn assert_daemon_recovered(d: &Daemon, pid: u32, before: Usage, after: Usage) {
    assert!(
        after.fds <= before.fds + 10,
        "berthd holds {} fds after the load, {} before: a descriptor leak?\n{}",
        after.fds,
        before.fds,
        fd_summary(pid)
    );
    assert!(
        after.rss_kb <= 2 * before.rss_kb + 20 * 1024,
        "berthd's RSS grew from {} kB to {} kB",
        before.rss_kb,
        after.rss_kb
    );
    assert!(
        !d.log().contains("panicked"),
        "berthd panicked:\n{}",
        d.log_tail(60)
    );
}
