//! Persistent network namespaces, bind-mounted on a file like `ip netns` does.

use crate::{KernelError, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Creates a new network namespace and pins it by bind-mounting it on `path`.
/// The loopback interface is brought up, as Docker does for every container.
pub fn create(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| KernelError::io(format!("mkdir {}", dir.display()), e))?;
    }
    File::create(path).map_err(|e| KernelError::io(format!("create {}", path.display()), e))?;
    let target = path.to_path_buf();
    // unshare(CLONE_NEWNET) only changes the calling thread, so do it on a throwaway thread.
    let res = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::sys("unshare(CLONE_NEWNET)", e))?;
        let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        mount(
            Some(own.as_str()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| KernelError::sys(format!("bind netns on {}", target.display()), e))?;
        set_loopback_up()
    })
    .join()
    .unwrap_or_else(|_| {
        Err(KernelError::io(
            "netns thread",
            std::io::Error::other("panicked"),
        ))
    });
    if res.is_err() {
        let _ = remove(path);
    }
    res
}

/// Unpins and removes a namespace file; a missing file is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(KernelError::sys(format!("umount {}", path.display()), e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io(format!("remove {}", path.display()), e)),
    }
}

/// Runs `f` on a thread that has entered the network namespace at `path`.
/// Sockets created inside `f` stay bound to that namespace after it returns.
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let p: PathBuf = path.to_path_buf();
    std::thread::spawn(move || {
        let ns = File::open(&p).map_err(|e| KernelError::io(format!("open {}", p.display()), e))?;
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| KernelError::sys(format!("setns {}", p.display()), e))?;
        f()
    })
    .join()
    .unwrap_or_else(|_| {
        Err(KernelError::io(
            "netns thread",
            std::io::Error::other("panicked"),
        ))
    })
}

/// A UDP socket of the calling thread's network namespace, to ask the kernel about it.
fn probe_socket(op: &str) -> Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| KernelError::sys(format!("socket for {op}"), e))
}

/// The cookie of the calling thread's network namespace (`SO_NETNS_COOKIE`, Linux 5.14): what
/// BPF programs see of a socket's namespace (`bpf_get_netns_cookie`).
pub fn cookie() -> Result<u64> {
    use std::os::fd::AsRawFd;
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let s = probe_socket("SO_NETNS_COOKIE")?;
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `cookie` and `len` are live locals; the kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            &mut cookie as *mut u64 as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(KernelError::io(
            "getsockopt SO_NETNS_COOKIE",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(cookie)
}

/// Brings `lo` up in the calling thread's network namespace (SIOCSIFFLAGS).
pub fn set_loopback_up() -> Result<()> {
    use std::os::fd::AsRawFd;
    let sock = probe_socket("SIOCSIFFLAGS")?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: valid socket fd and a properly initialised ifreq that outlives the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(KernelError::io(
            "SIOCGIFFLAGS lo",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the union field ifru_flags is the one SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(KernelError::io(
            "SIOCSIFFLAGS lo",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
