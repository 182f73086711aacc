//! Tearing down what a test left behind: processes started (directly or
//! through berthd) by this test, mounts under the test's directory, cgroups
//! berthd made for them, and the directory itself.
//!
//! Processes are only ever attributed to a test by evidence that ties them
//! to it (a marker in their environment, their network namespace being one
//! of the test's, their root filesystem living in the test's directory, or
//! descending from such a process). The test process itself and its
//! ancestors are never touched.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// What ties a process to the thing being cleaned up.
#[derive(Default, Debug, Clone)]
pub struct ReapSpec {
    /// An environment entry starting with this string marks the process
    /// (berthd is started with `BERTH_TEST_ID=<topology>/<daemon>`; shims and
    /// other helpers it forks inherit it).
    pub env_prefix: Option<String>,
    /// A process whose root mount (in its own mount namespace) mentions this
    /// string is a container whose rootfs lives in the test's directory.
    /// Use a unique path fragment such as `/<topology-name>/d0/`.
    pub rootfs_needle: Option<String>,
    /// A process whose `/proc/PID/cmdline` contains this string (the test's
    /// directory) is ours (e.g. a shim given a bundle path).
    pub cmdline_needle: Option<String>,
    /// Network namespaces (device, inode) whose members are ours.
    pub netns: Vec<(u64, u64)>,
}

#[derive(Debug, Clone)]
struct ProcStat {
    ppid: i32,
    state: char,
}

fn read_stat(pid: i32) -> Option<ProcStat> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = s.rfind(')')?;
    let mut it = s[close + 1..].split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some(ProcStat { ppid, state })
}

fn all_pids() -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

fn ns_id(path: &str) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

/// (device, inode) of a network namespace file such as `/var/run/netns/NAME`.
pub fn netns_id(path: &Path) -> Option<(u64, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

/// Our own pid and all our ancestors: never to be killed.
fn protected_pids() -> HashSet<i32> {
    let mut set = HashSet::new();
    set.insert(1);
    set.insert(2);
    let mut pid = std::process::id() as i32;
    while pid > 1 && set.insert(pid) {
        match read_stat(pid) {
            Some(st) => pid = st.ppid,
            None => break,
        }
    }
    set
}

fn matches(pid: i32, spec: &ReapSpec, own_mnt: Option<(u64, u64)>) -> bool {
    if let Some(prefix) = &spec.env_prefix {
        if let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) {
            if env
                .split(|b| *b == 0)
                .any(|e| e.starts_with(prefix.as_bytes()))
            {
                return true;
            }
        }
    }
    if !spec.netns.is_empty() {
        if let Some(id) = ns_id(&format!("/proc/{pid}/ns/net")) {
            if spec.netns.contains(&id) {
                return true;
            }
        }
    }
    if let Some(needle) = &spec.cmdline_needle {
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let needle = needle.as_bytes();
            if cmd.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
        }
    }
    if let Some(needle) = &spec.rootfs_needle {
        // Only for processes in another mount namespace: in ours, mounts
        // under the test dir would make every process look like a match.
        let mnt = ns_id(&format!("/proc/{pid}/ns/mnt"));
        if mnt.is_some() && mnt != own_mnt {
            if let Ok(mi) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) {
                for line in mi.lines() {
                    let fields: Vec<&str> = line.split(' ').collect();
                    if fields.len() > 4 && fields[4] == "/" && line.contains(needle.as_str()) {
                        return true;
                    }
                }
            }
            if let Ok(root) = std::fs::read_link(format!("/proc/{pid}/root")) {
                if root.to_string_lossy().contains(needle.as_str()) {
                    return true;
                }
            }
        }
    }
    false
}

/// Find the processes matching `spec` (and all their descendants).
pub fn find_processes(spec: &ReapSpec) -> BTreeSet<i32> {
    let protected = protected_pids();
    let own_mnt = ns_id("/proc/self/ns/mnt");
    let pids = all_pids();
    let mut parent: HashMap<i32, i32> = HashMap::new();
    let mut live = Vec::new();
    for pid in pids {
        if let Some(st) = read_stat(pid) {
            parent.insert(pid, st.ppid);
            // Kernel threads (children of kthreadd) and zombies are skipped.
            if st.state != 'Z' && st.state != 'X' && st.ppid != 2 {
                live.push(pid);
            }
        }
    }
    let mut found: BTreeSet<i32> = live
        .iter()
        .copied()
        .filter(|p| !protected.contains(p) && matches(*p, spec, own_mnt))
        .collect();
    // Descendants of matched processes were started by them.
    loop {
        let before = found.len();
        for &pid in &live {
            if protected.contains(&pid) || found.contains(&pid) {
                continue;
            }
            if let Some(pp) = parent.get(&pid) {
                if found.contains(pp) {
                    found.insert(pid);
                }
            }
        }
        if found.len() == before {
            break;
        }
    }
    found
}

fn cgroup_paths(pid: i32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2).map(str::to_string))
        .collect()
}

/// SIGKILL every process matching `spec` (repeatedly, until none is left or
/// 10 s passed). Returns the pids that were signalled. Cgroups that berthd
/// created for them (paths containing "berth") are removed once empty.
pub fn reap(spec: &ReapSpec) -> Vec<i32> {
    let own_cgroups: HashSet<String> = cgroup_paths(std::process::id() as i32)
        .into_iter()
        .collect();
    let mut cgroups: BTreeSet<String> = BTreeSet::new();
    let mut killed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = find_processes(spec);
        if found.is_empty() {
            break;
        }
        for &pid in &found {
            for cg in cgroup_paths(pid) {
                if cg.contains("berth") && cg != "/" && !own_cgroups.contains(&cg) {
                    cgroups.insert(cg);
                }
            }
            // SAFETY: plain syscall; pid was attributed to this test above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            if !killed.contains(&pid) {
                killed.push(pid);
            }
        }
        if Instant::now() >= deadline {
            eprintln!("berth-tests: processes still alive after cleanup: {found:?}");
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    if !cgroups.is_empty() {
        remove_cgroups(&cgroups);
    }
    killed
}

fn remove_cgroups(paths: &BTreeSet<String>) {
    let roots: Vec<PathBuf> = mounts()
        .into_iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| m.mount_point)
        .collect();
    // Deepest first.
    let mut paths: Vec<&String> = paths.iter().collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    for root in &roots {
        for p in &paths {
            let dir = root.join(p.trim_start_matches('/'));
            if dir.is_dir() {
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fstype: String,
    pub source: String,
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).ok();
            if let Some(v) = oct.and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mounts of this process's mount namespace.
pub fn mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some(Mount {
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                fstype: fields.get(sep + 1)?.to_string(),
                source: fields.get(sep + 2).map(|s| unescape(s)).unwrap_or_default(),
            })
        })
        .collect()
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<Mount> {
    let mut v: Vec<Mount> = mounts()
        .into_iter()
        .filter(|m| m.mount_point.starts_with(dir))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.mount_point.components().count()));
    v
}

/// Network namespaces bind-mounted below `dir` (e.g. by berthd in its
/// exec-root), as (device, inode).
pub fn netns_mounted_under(dir: &Path) -> Vec<(u64, u64)> {
    mounts_under(dir)
        .into_iter()
        .filter(|m| m.fstype == "nsfs")
        .filter_map(|m| netns_id(&m.mount_point))
        .collect()
}

/// Lazily unmount everything mounted at or below `dir`. Returns the mount
/// points still there afterwards.
pub fn unmount_under(dir: &Path) -> Vec<PathBuf> {
    for _ in 0..10 {
        let ms = mounts_under(dir);
        if ms.is_empty() {
            return Vec::new();
        }
        for m in ms {
            if let Ok(c) = CString::new(m.mount_point.as_os_str().as_bytes()) {
                // SAFETY: plain syscall on a NUL-terminated path.
                unsafe {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
    }
    mounts_under(dir)
        .into_iter()
        .map(|m| m.mount_point)
        .collect()
}

/// Remove `dir` recursively, never following symlinks and never crossing
/// into another filesystem. Refuses (and says so) if anything is still
/// mounted below it.
pub fn remove_tree(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let left = unmount_under(dir);
    if !left.is_empty() {
        eprintln!(
            "berth-tests: not removing {} because these are still mounted: {left:?}",
            dir.display()
        );
        return;
    }
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    remove_rec(dir, meta.dev());
}

fn remove_rec(path: &Path, dev: u64) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if meta.dev() != dev {
            eprintln!(
                "berth-tests: not descending into {} (another filesystem)",
                path.display()
            );
            return;
        }
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                remove_rec(&e.path(), dev);
            }
        }
        if let Err(e) = std::fs::remove_dir(path) {
            eprintln!("berth-tests: cannot remove {}: {e}", path.display());
        }
    } else if let Err(e) = std::fs::remove_file(path) {
        eprintln!("berth-tests: cannot remove {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/x\\"), "/x\\");
    }

    #[test]
    fn never_matches_self() {
        let spec = ReapSpec {
            env_prefix: Some("PATH=".into()),
            cmdline_needle: Some("/".into()),
            ..Default::default()
        };
        let found = find_processes(&spec);
        assert!(!found.contains(&(std::process::id() as i32)));
        assert!(!found.contains(&1));
    }
}
