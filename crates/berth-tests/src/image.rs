//! A tiny test image: a rootfs tarball built from Debian's `busybox-static`.
//!
//! Layout: `bin/busybox`, `bin/<applet>` → `busybox` symlinks for every
//! applet of `busybox --list`, minimal `etc/passwd` and `etc/group`, and
//! empty `etc tmp proc sys dev root` directories. No `/etc/hosts`,
//! `/etc/hostname` or `/etc/resolv.conf`: the engine has to provide those.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cli::ok;
use crate::daemon::Daemon;
use crate::util::tmp_root;

/// Reference under which [`crate::setup`] imports the busybox image.
pub const BUSYBOX_IMAGE: &str = "bb:latest";

const MTIME: u64 = 1_700_000_000;

/// A statically linked busybox: `$BERTH_BUSYBOX`, `/bin/busybox` or
/// `/usr/bin/busybox`. Panics with an install hint if none is usable.
pub fn busybox_binary() -> PathBuf {
    let candidates: Vec<PathBuf> = match std::env::var_os("BERTH_BUSYBOX") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec!["/bin/busybox".into(), "/usr/bin/busybox".into()],
    };
    for c in &candidates {
        if c.is_file() {
            match is_static_elf(c) {
                Ok(true) => return c.clone(),
                Ok(false) => panic!(
                    "{} is dynamically linked; install the static one: apt-get install busybox-static",
                    c.display()
                ),
                Err(e) => panic!("cannot read {}: {e}", c.display()),
            }
        }
    }
    panic!("busybox not found ({candidates:?}); install it: apt-get install busybox-static")
}

/// True when the ELF file has no program interpreter (PT_INTERP).
pub fn is_static_elf(path: &Path) -> std::io::Result<bool> {
    let data = std::fs::read(path)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a 64-bit ELF file");
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 {
        return Err(bad());
    }
    let le = data[5] == 1;
    let u16_at = |o: usize| {
        let b = [data[o], data[o + 1]];
        if le {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }
    };
    let u32_at = |o: usize| {
        let b = [data[o], data[o + 1], data[o + 2], data[o + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut b8 = [0u8; 8];
    b8.copy_from_slice(&data[0x20..0x28]);
    let phoff = if le {
        u64::from_le_bytes(b8)
    } else {
        u64::from_be_bytes(b8)
    } as usize;
    let phentsize = u16_at(0x36) as usize;
    let phnum = u16_at(0x38) as usize;
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if o + 4 > data.len() {
            return Err(bad());
        }
        if u32_at(o) == 3 {
            return Ok(false);
        }
    }
    Ok(true)
}

fn applets(busybox: &Path) -> Vec<String> {
    let out = Command::new(busybox)
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("{} --list: {e}", busybox.display()));
    assert!(out.status.success(), "{} --list failed", busybox.display());
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.contains('/') && l != "busybox")
        .collect();
    v.sort();
    v.dedup();
    v
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    h
}

fn write_tar(busybox: &Path, out: &Path) -> std::io::Result<()> {
    let file = File::create(out)?;
    let mut b = tar::Builder::new(BufWriter::new(file));
    for (dir, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("sys", 0o555),
        ("tmp", 0o1777),
    ] {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    }
    let bin = std::fs::read(busybox)?;
    let mut h = header(tar::EntryType::Regular, 0o755, bin.len() as u64);
    b.append_data(&mut h, "bin/busybox", bin.as_slice())?;
    for applet in applets(busybox) {
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
    }
    let files: [(&str, &str); 2] = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ];
    for (path, content) in files {
        let mut h = header(tar::EntryType::Regular, 0o644, content.len() as u64);
        b.append_data(&mut h, path, content.as_bytes())?;
    }
    b.into_inner()?
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok(())
}

/// Build the busybox rootfs tarball as `dir/busybox-rootfs.tar` (unless it
/// is already there) and return its path. Safe against concurrent callers.
pub fn busybox_image_tar(dir: &Path) -> PathBuf {
    let target = dir.join("busybox-rootfs.tar");
    if target.is_file() {
        return target;
    }
    std::fs::create_dir_all(dir).expect("create tarball dir");
    let busybox = busybox_binary();
    let tmp = dir.join(format!(
        ".busybox-rootfs.tar.{}.{}",
        std::process::id(),
        crate::util::next_id()
    ));
    if let Err(e) = write_tar(&busybox, &tmp) {
        let _ = std::fs::remove_file(&tmp);
        panic!("cannot write {}: {e}", tmp.display());
    }
    std::fs::rename(&tmp, &target).expect("rename tarball into place");
    target
}

/// The busybox tarball, built once and cached (keyed by the busybox
/// binary's size and mtime) under the tests' temp dir.
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let bb = busybox_binary();
        let m = std::fs::metadata(&bb).expect("stat busybox");
        let key = format!("busybox-{}-{}", m.size(), m.mtime());
        busybox_image_tar(&tmp_root().join("cache").join(key))
    })
    .clone()
}

/// `berth import --change 'ENV PATH=/bin' <busybox tar> <reference>`;
/// returns the image id it printed (`sha256:<64 hex>`, as Docker prints).
pub fn import_busybox(d: &Daemon, reference: &str) -> String {
    let tar = busybox_tar();
    let tar = tar.to_string_lossy();
    let out = ok(d, &["import", "--change", "ENV PATH=/bin", &tar, reference]);
    let id = out.lines().last().unwrap_or("").trim().to_string();
    assert!(
        id.strip_prefix("sha256:")
            .is_some_and(|h| crate::cli::is_hex_id(h, 64)),
        "`berth import {tar} {reference}` should print the image id (sha256:...), printed {out:?}"
    );
    id
}
