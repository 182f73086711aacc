//! What the container's first process does between fork and exec, in its new namespaces:
//! join the network namespace, build the root filesystem, pivot into it, set the hostname,
//! then exec the command. Runs in a freshly forked child of the single-threaded shim.

use crate::spec::{NetMode, RootFs, Spec};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{chdir, pivot_root, sethostname};
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Sets everything up and execs; returns only with the reason it could not.
pub fn run(spec: &Spec) -> String {
    match prepare(spec) {
        Ok(()) => exec(spec),
        Err(e) => e,
    }
}

fn prepare(spec: &Spec) -> Result<(), String> {
    if let NetMode::Join(path) = &spec.net {
        let ns = File::open(path)
            .map_err(|e| format!("open network namespace {}: {e}", path.display()))?;
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("join network namespace: {e}"))?;
    }
    // Copy the small template rather than a mount table holding every container's pin. A
    // template that is gone (berthd restarting) only costs time: the shim's own is used.
    if let Some(t) = &spec.mnt_template {
        if let Ok(f) = File::open(t) {
            let _ = setns(f.as_fd(), CloneFlags::CLONE_NEWNS);
        }
    }
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)
        .map_err(|e| format!("unshare mount/uts/ipc namespaces: {e}"))?;
    // Nothing we mount from here on may propagate back to the host.
    mnt(
        None::<&str>,
        "/",
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    match &spec.rootfs {
        RootFs::Overlay {
            lower,
            upper,
            work,
            target,
        } => overlay_root(spec, lower, upper, work, target)?,
        RootFs::Host => host_root(spec)?,
    }
    sethostname(&spec.hostname).map_err(|e| format!("sethostname: {e}"))?;
    if let Some((uid, gid)) = spec.user {
        nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
        nix::unistd::setgid(gid.into()).map_err(|e| format!("setgid {gid}: {e}"))?;
        nix::unistd::setuid(uid.into()).map_err(|e| format!("setuid {uid}: {e}"))?;
    }
    let cwd = if spec.cwd.is_empty() {
        "/"
    } else {
        spec.cwd.as_str()
    };
    if chdir(cwd).is_err() {
        std::fs::create_dir_all(cwd).map_err(|e| format!("working directory {cwd}: {e}"))?;
        chdir(cwd).map_err(|e| format!("chdir to working directory {cwd}: {e}"))?;
    }
    Ok(())
}

fn overlay_root(
    spec: &Spec,
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), String> {
    let lowers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    mnt(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(&opts),
    )?;
    let t = |p: &str| target.join(p.trim_start_matches('/'));
    ensure_dir(&t("proc"))?;
    mnt(
        Some("proc"),
        &t("proc"),
        Some("proc"),
        nosuid_noexec_nodev(),
        None,
    )?;
    ensure_dir(&t("sys"))?;
    if mnt(
        Some("sysfs"),
        &t("sys"),
        Some("sysfs"),
        nosuid_noexec_nodev() | MsFlags::MS_RDONLY,
        None,
    )
    .is_err()
    {
        mnt(
            Some("/sys"),
            &t("sys"),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
    }
    populate_dev(&t("dev"))?;
    for f in &spec.files {
        bind_file(&f.source, &t(&f.target))?;
    }
    chdir(target).map_err(|e| format!("chdir {}: {e}", target.display()))?;
    pivot_root(".", ".").map_err(|e| format!("pivot_root: {e}"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| format!("detach old root: {e}"))?;
    chdir("/").map_err(|e| format!("chdir /: {e}"))?;
    Ok(())
}

/// The host's filesystem with a private /proc, /sys and the container's own /etc files.
fn host_root(spec: &Spec) -> Result<(), String> {
    mnt(
        Some("proc"),
        "/proc",
        Some("proc"),
        nosuid_noexec_nodev(),
        None,
    )?;
    if let NetMode::Join(_) = spec.net {
        mnt(
            Some("sysfs"),
            "/sys",
            Some("sysfs"),
            nosuid_noexec_nodev() | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    for f in &spec.files {
        let target = Path::new(&f.target);
        if target.exists() {
            bind_file(&f.source, target)?;
        }
    }
    Ok(())
}

fn populate_dev(dev: &Path) -> Result<(), String> {
    ensure_dir(dev)?;
    mnt(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let target = dev.join(name);
        File::create(&target).map_err(|e| format!("create {}: {e}", target.display()))?;
        mnt(
            Some(format!("/dev/{name}").as_str()),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )?;
    }
    let pts = dev.join("pts");
    ensure_dir(&pts)?;
    mnt(
        Some("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = dev.join("shm");
    ensure_dir(&shm)?;
    mnt(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        nosuid_noexec_nodev(),
        Some("mode=1777,size=65536k"),
    )?;
    for (link, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(to, dev.join(link))
            .map_err(|e| format!("symlink /dev/{link}: {e}"))?;
    }
    Ok(())
}

fn bind_file(source: &Path, target: &Path) -> Result<(), String> {
    if let Some(dir) = target.parent() {
        ensure_dir(dir)?;
    }
    // A dangling symlink (e.g. /etc/resolv.conf -> ../run/...) cannot be a mount point.
    if target
        .symlink_metadata()
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
        && !target.exists()
    {
        let _ = std::fs::remove_file(target);
    }
    if !target.exists() {
        File::create(target).map_err(|e| format!("create {}: {e}", target.display()))?;
    }
    mnt(Some(source), target, None, MsFlags::MS_BIND, None)
}

fn ensure_dir(p: &Path) -> Result<(), String> {
    std::fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))
}

fn nosuid_noexec_nodev() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV
}

fn mnt<S: AsRef<Path> + ?Sized, T: AsRef<Path> + ?Sized>(
    source: Option<&S>,
    target: &T,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    let src = source.map(|s| s.as_ref().to_path_buf());
    mount(src.as_deref(), target.as_ref(), fstype, flags, data).map_err(|e| {
        format!(
            "mount {} on {}: {e}",
            src.as_deref().unwrap_or(Path::new("none")).display(),
            target.as_ref().display()
        )
    })
}

/// Execs the spec's command in the current process; returns only with the reason it failed.
pub fn exec_only(spec: &Spec) -> String {
    exec(spec)
}

fn exec(spec: &Spec) -> String {
    let Some(arg0) = spec.args.first() else {
        return "no command specified".to_string();
    };
    let path_var = spec
        .env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let Some(program) = resolve(arg0, &path_var) else {
        return format!("exec: \"{arg0}\": executable file not found in $PATH");
    };
    let to_c = |v: &[String]| -> Result<Vec<CString>, String> {
        v.iter()
            .map(|s| {
                CString::new(s.as_str()).map_err(|_| format!("argument contains a NUL byte: {s:?}"))
            })
            .collect()
    };
    let (argv, envp) = match (to_c(&spec.args), to_c(&spec.env)) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let Ok(prog) = CString::new(program.as_os_str().as_encoded_bytes()) else {
        return "program path contains a NUL byte".to_string();
    };
    match nix::unistd::execve(&prog, &argv, &envp) {
        Err(e) => format!("exec {}: {e}", program.display()),
        Ok(never) => match never {},
    }
}

/// Resolves a command name against `PATH` the way execvp would, but with the container's PATH.
pub fn resolve(arg0: &str, path_var: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if arg0.contains('/') {
        return Some(PathBuf::from(arg0));
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(arg0))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}
