//! Tests of the harness itself (no berthd needed): topologies, cleanup, the
//! busybox image.

use std::collections::HashSet;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use berth_tests::cleanup::{mounts_under, netns_id};
use berth_tests::topology::NETNS_DIR;
use berth_tests::util::{env_flag, tmp_root, wait_until};
use berth_tests::{
    busybox_tar, interfaces_from_proc_net_dev, ns_command, require_privileged, Topology,
};

fn netns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

#[test]
fn topology_links_host_and_outside() {
    require_privileged!("topology_links_host_and_outside");
    let t = Topology::new("links");
    assert!(netns_exists(t.host_ns()) && netns_exists(t.outside_ns()));
    assert!(t.dir().is_dir());

    let addr = t.in_host(&["ip", "-4", "addr", "show", "dev", "eth0"]);
    assert!(addr.success(), "{addr}");
    assert!(
        addr.stdout.contains(&format!("{}/24", t.host_ip())),
        "{addr}"
    );
    let route = t.in_host(&["ip", "route", "show", "default"]);
    assert!(
        route.stdout.contains(&format!("via {}", t.outside_ip())),
        "{route}"
    );
    let out_addr = t.in_outside(&["ip", "-4", "addr", "show", "dev", "eth0"]);
    assert!(
        out_addr.stdout.contains(&format!("{}/24", t.outside_ip())),
        "{out_addr}"
    );
    // lo is up in both, and the link carries traffic.
    for ns in [t.host_ns(), t.outside_ns()] {
        let lo = berth_tests::in_ns(ns, &["ip", "link", "show", "lo"]);
        assert!(lo.stdout.contains("UP"), "{lo}");
    }
    let ping = t.in_host(&[
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        &t.outside_ip().to_string(),
    ]);
    assert!(ping.success(), "{ping}");
    // Only lo and eth0 (plus kernel fallback devices) in the host netns.
    let dev = t.in_host(&["cat", "/proc/net/dev"]);
    let ifs = interfaces_from_proc_net_dev(&dev.stdout);
    assert!(ifs.contains(&"eth0".to_string()) && ifs.contains(&"lo".to_string()));
}

#[test]
fn topologies_get_distinct_names_and_subnets() {
    require_privileged!("topologies_get_distinct_names_and_subnets");
    let a = Topology::new("distinct");
    let b = Topology::new("distinct");
    assert_ne!(a.name(), b.name());
    assert_ne!(a.host_ns(), b.host_ns());
    assert_ne!(a.subnet(), b.subnet());
    assert_ne!(a.dir(), b.dir());
    // Interface names stay within IFNAMSIZ, namespace names are short.
    assert!(a.host_ns().len() < 64);
}

#[test]
fn drop_removes_namespaces_processes_and_dir() {
    require_privileged!("drop_removes_namespaces_processes_and_dir");
    let t = Topology::new("drop");
    let (h, o, dir) = (
        t.host_ns().to_string(),
        t.outside_ns().to_string(),
        t.dir().to_path_buf(),
    );
    let mut child = ns_command(&h, "sleep")
        .arg("300")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep in host netns");
    std::fs::write(dir.join("file"), b"x").unwrap();
    // nsenter joins the namespace after spawn returns: wait until it has, or
    // the drop can run first and leave `sleep` in the caller's namespace.
    let host_id = netns_id(&Path::new(NETNS_DIR).join(&h));
    let child_ns = format!("/proc/{}/ns/net", child.id());
    assert!(wait_until(Duration::from_secs(5), || netns_id(Path::new(
        &child_ns
    )) == host_id));
    drop(t);
    assert!(!netns_exists(&h) && !netns_exists(&o));
    assert!(!dir.exists(), "{} still exists", dir.display());
    // The process inside the namespace was killed.
    assert!(wait_until(Duration::from_secs(5), || matches!(
        child.try_wait(),
        Ok(Some(_))
    )));
}

#[test]
fn drop_runs_on_panic() {
    require_privileged!("drop_runs_on_panic");
    let names: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let r = std::panic::catch_unwind(|| {
        let t = Topology::new("panic");
        names
            .lock()
            .unwrap()
            .extend([t.host_ns().to_string(), t.outside_ns().to_string()]);
        panic!("deliberate panic inside a test body");
    });
    assert!(r.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 2);
    for n in names {
        assert!(!netns_exists(&n), "{n} survived the panic");
    }
}

fn mount(src: &str, target: &Path, fstype: &str, flags: libc::c_ulong) {
    let s = CString::new(src).unwrap();
    let t = CString::new(target.as_os_str().as_bytes()).unwrap();
    let f = CString::new(fstype).unwrap();
    // SAFETY: plain syscall with valid NUL-terminated strings.
    let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), flags, std::ptr::null()) };
    assert_eq!(
        rc,
        0,
        "mount {src} on {}: {}",
        target.display(),
        std::io::Error::last_os_error()
    );
}

/// What the daemon might leave mounted in its directory (a bind mount of a
/// host directory, a tmpfs) must be unmounted, never deleted through.
#[test]
fn drop_unmounts_and_never_deletes_through_mounts() {
    require_privileged!("drop_unmounts_and_never_deletes_through_mounts");
    let precious: PathBuf = tmp_root().join(format!("precious-{}", std::process::id()));
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("keep-me"), b"important").unwrap();

    let t = Topology::new("mounts");
    let dir = t.dir().to_path_buf();
    let bind = dir.join("data/bind");
    let tmpfs = dir.join("exec/tmpfs");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::create_dir_all(&tmpfs).unwrap();
    mount(&precious.to_string_lossy(), &bind, "", libc::MS_BIND);
    mount("tmpfs", &tmpfs, "tmpfs", 0);
    std::fs::write(tmpfs.join("f"), b"x").unwrap();
    assert_eq!(mounts_under(&dir).len(), 2);
    drop(t);

    assert!(mounts_under(&dir).is_empty());
    let kept = std::fs::read(precious.join("keep-me"));
    std::fs::remove_dir_all(&precious).ok();
    assert_eq!(kept.expect("bind-mounted file survived"), b"important");
    if !env_flag("BERTH_TEST_KEEP") {
        assert!(!dir.exists());
    }
}

fn busybox_or_skip(test: &str) -> bool {
    let present = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .any(|p| Path::new(p).exists())
        || std::env::var_os("BERTH_BUSYBOX").is_some();
    if !present {
        if env_flag("BERTH_REQUIRE_PRIVILEGED") {
            panic!("{test}: busybox missing (apt-get install busybox-static)");
        }
        println!("skipped: busybox-static not installed ({test})");
        return false;
    }
    true
}

#[test]
fn busybox_tarball_layout() {
    if !busybox_or_skip("busybox_tarball_layout") {
        return;
    }
    let path = busybox_tar();
    let mut ar = tar::Archive::new(std::fs::File::open(&path).unwrap());
    let mut seen = HashSet::new();
    let mut sh_target = None;
    let mut busybox_size = 0;
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p == "bin/sh" {
            sh_target = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
        }
        if p == "bin/busybox" {
            busybox_size = e.header().size().unwrap();
            assert_eq!(e.header().mode().unwrap() & 0o755, 0o755);
        }
        seen.insert(p.trim_end_matches('/').to_string());
    }
    for want in [
        "bin",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
        "bin/busybox",
        "bin/sh",
        "bin/ls",
        "bin/ip",
        "bin/ps",
        "bin/hostname",
        "bin/sleep",
        "etc/passwd",
    ] {
        assert!(
            seen.contains(want),
            "{want} missing from {}",
            path.display()
        );
    }
    assert!(busybox_size > 100_000);
    assert_eq!(sh_target.as_deref(), Some("busybox"));
    // Cached: same path the second time.
    assert_eq!(busybox_tar(), path);
}

/// The rootfs works on its own: extract it and run a shell in a chroot.
#[test]
fn busybox_rootfs_runs_in_chroot() {
    require_privileged!("busybox_rootfs_runs_in_chroot");
    if !busybox_or_skip("busybox_rootfs_runs_in_chroot") {
        return;
    }
    let t = Topology::new("chroot");
    let root = t.dir().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    tar::Archive::new(std::fs::File::open(busybox_tar()).unwrap())
        .unpack(&root)
        .unwrap();
    let chroot = berth_tests::util::which("chroot").expect("chroot (coreutils)");
    let out = std::process::Command::new(chroot)
        .arg(&root)
        .args(["/bin/sh", "-c", "echo $(basename $(readlink /bin/ls)) ok"])
        .env("PATH", "/bin")
        .output()
        .expect("chroot");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "busybox ok\n");
}
