//! eBPF through the `bpf(2)` system call: hash maps, program loading, cgroup links.
//!
//! Written against the syscall directly (one `unsafe` call site) rather than with a loader
//! crate: `aya` loads programs only from ELF objects, which would need a BPF toolchain
//! (clang or bpf-linker) at build time, and `libbpf-sys` builds libbpf and libelf from C;
//! berth's one program is twenty instructions assembled in Rust (`insn.rs`, `socklb.rs`).

pub mod insn;
pub mod socklb;

use crate::{KernelError, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// enum bpf_cmd
const MAP_CREATE: libc::c_long = 0;
const MAP_UPDATE_ELEM: libc::c_long = 2;
const MAP_DELETE_ELEM: libc::c_long = 3;
const PROG_LOAD: libc::c_long = 5;
const LINK_CREATE: libc::c_long = 28;

/// `bpf(cmd, attr, size_of(attr))`; the fd or 0 on success.
fn sys_bpf<T>(op: &str, cmd: libc::c_long, attr: &mut T) -> Result<i64> {
    // SAFETY: `attr` is a live, exclusively borrowed `#[repr(C)]` struct whose layout is a
    // prefix of `union bpf_attr` for `cmd` (unused fields zero, as the kernel requires), and
    // its size is passed with it; pointers inside it point to buffers the caller keeps alive
    // for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(KernelError::io(op, std::io::Error::last_os_error()));
    }
    Ok(r)
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel as a new descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

fn name16(name: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (d, s) in b.iter_mut().zip(name.bytes().take(15)) {
        *d = s;
    }
    b
}

/// What a [`HashMap`] does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// Refuses new keys; elements are allocated as inserted (memory grows with what is stored).
    Hash,
    /// Evicts its least recently used elements; preallocated (`max_entries` sets its memory).
    Lru,
}

/// A hash map with fixed-size keys and values.
#[derive(Debug)]
pub struct HashMap {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl HashMap {
    pub fn create(
        name: &str,
        kind: MapKind,
        key_size: usize,
        value_size: usize,
        max_entries: u32,
    ) -> Result<Self> {
        // enum bpf_map_type; BPF_F_NO_PREALLOC
        let (map_type, map_flags) = match kind {
            MapKind::Hash => (1, 1),
            MapKind::Lru => (9, 0),
        };
        let mut attr = MapCreate {
            map_type,
            key_size: key_size as u32,
            value_size: value_size as u32,
            max_entries,
            map_flags,
            map_name: name16(name),
            ..Default::default()
        };
        let fd = sys_bpf(&format!("create BPF map {name}"), MAP_CREATE, &mut attr)?;
        Ok(HashMap {
            fd: owned(fd),
            key_size,
            value_size,
        })
    }

    pub fn fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Inserts or replaces `key`'s value.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check(key, Some(value))?;
        let mut attr = MapElem {
            map_fd: self.fd() as u32,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            ..Default::default()
        };
        sys_bpf("update BPF map element", MAP_UPDATE_ELEM, &mut attr).map(|_| ())
    }

    /// Removes `key`; `false` if it was not there.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        self.check(key, None)?;
        let mut attr = MapElem {
            map_fd: self.fd() as u32,
            key: key.as_ptr() as u64,
            ..Default::default()
        };
        match sys_bpf("delete BPF map element", MAP_DELETE_ELEM, &mut attr) {
            Ok(_) => Ok(true),
            Err(KernelError::Io { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn check(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        if key.len() != self.key_size || value.is_some_and(|v| v.len() != self.value_size) {
            return Err(KernelError::Netlink {
                op: "BPF map element".into(),
                message: format!(
                    "key/value of {}/{} bytes for a map of {}/{}",
                    key.len(),
                    value.map_or(0, |v| v.len()),
                    self.key_size,
                    self.value_size
                ),
            });
        }
        Ok(())
    }
}

/// Loads a program; the verifier's log is part of the error when it refuses it.
pub fn load_program(
    name: &str,
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[insn::Insn],
) -> Result<OwnedFd> {
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = ProgLoad {
        prog_type,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name16(name),
        expected_attach_type,
        ..Default::default()
    };
    match sys_bpf(&format!("load BPF program {name}"), PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(KernelError::Io { op, source }) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(6).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(KernelError::Netlink {
                op,
                message: format!("{source}; verifier: {}", tail.join(" | ")),
            })
        }
        Err(e) => Err(e),
    }
}

/// Attaches `prog` to the cgroup open at `cgroup` as a BPF link: it runs alongside every
/// other program there (links are multi-attach), and it is detached when the returned
/// descriptor is closed, also when the process dies.
pub fn attach_cgroup(prog: &OwnedFd, cgroup: &OwnedFd, attach_type: u32) -> Result<OwnedFd> {
    let mut attr = LinkCreate {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type,
        flags: 0,
    };
    sys_bpf("attach BPF program to cgroup", LINK_CREATE, &mut attr).map(owned)
}
