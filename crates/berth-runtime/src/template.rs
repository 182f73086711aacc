//! The mount namespace containers start from.
//!
//! A container's init copies a mount namespace (`unshare(CLONE_NEWNS)`) and then detaches the
//! copy's old root. Copying berthd's own would copy one pinned network namespace per running
//! container, so every start would cost more the more containers run (1000 pins made a start
//! several times slower). Instead berthd keeps a *template*: a private copy of its mount
//! namespace without any `nsfs` mount, pinned at `EXEC_ROOT/mnt-template`, made once at startup
//! by `berthd mnt-template` (a helper process, since a threaded daemon cannot unshare its mount
//! namespace). Inits enter it before they unshare. Mounts made on the host after berthd started
//! are not seen by new containers' root filesystem setup, which only needs the image layers
//! and the container's own directory.

use crate::{Result, RuntimeError};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Creates (or re-creates) the template pinned at `pin`, using `exe mnt-template` as helper.
pub fn prepare(exe: &Path, pin: &Path) -> Result<PathBuf> {
    let _ = umount2(pin, MntFlags::MNT_DETACH);
    std::fs::File::create(pin)
        .map_err(|e| RuntimeError::io(format!("create {}", pin.display()), e))?;
    let mut child = Command::new(exe)
        .arg("mnt-template")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| RuntimeError::io(format!("spawn {} mnt-template", exe.display()), e))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let pinned = if line.trim() == "ready" {
        let ns = format!("/proc/{}/ns/mnt", child.id());
        mount(
            Some(ns.as_str()),
            pin,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| RuntimeError::Start(format!("pin mount namespace at {}: {e}", pin.display())))
    } else {
        Err(RuntimeError::Start(format!(
            "mount namespace helper failed: {}",
            line.trim()
        )))
    };
    drop(child.stdin.take());
    let _ = child.wait();
    pinned.map(|_| pin.to_path_buf())
}

/// The helper (`berthd mnt-template`): a private copy of the mount namespace without pinned
/// namespaces; says `ready` and stays until its stdin closes, so berthd can pin it.
pub fn helper_main() -> i32 {
    let mut out = std::io::stdout();
    match make_template() {
        Ok(()) => {
            let _ = writeln!(out, "ready");
            let _ = out.flush();
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            0
        }
        Err(e) => {
            let _ = writeln!(out, "ERR {e}");
            1
        }
    }
}

fn make_template() -> std::result::Result<(), String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare mount namespace: {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make mounts private: {e}"))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("read mountinfo: {e}"))?;
    let mut pins = nsfs_mounts(&info);
    // Deepest first.
    pins.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in pins {
        let _ = umount2(p.as_str(), MntFlags::MNT_DETACH);
    }
    Ok(())
}

/// Mount points of `nsfs` mounts (pinned namespaces) in a mountinfo text.
fn nsfs_mounts(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let point = left.split(' ').nth(4)?;
            (fstype == "nsfs").then(|| unescape(point))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let octal = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|t| u8::from_str_radix(t, 8).ok());
            if let Some(v) = octal {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_nsfs_mount_points() {
        let info = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
501 22 0:4 net:[4026532301] /run/berth/netns/abc rw shared:1 - nsfs nsfs rw
502 22 0:4 net:[4026532302] /tmp/a\\040b/netns/x rw - nsfs nsfs rw
503 22 0:50 / /proc rw - proc proc rw
garbage line
";
        assert_eq!(
            nsfs_mounts(info),
            vec![
                "/run/berth/netns/abc".to_string(),
                "/tmp/a b/netns/x".to_string()
            ]
        );
    }

    #[test]
    fn unescape_leaves_plain_and_short_text_alone() {
        assert_eq!(unescape("/a/b"), "/a/b");
        assert_eq!(unescape("/a\\04"), "/a\\04");
        assert_eq!(unescape("\\134x"), "\\x");
    }
}
