//! Socket-level forwarding of published ports for the host's own TCP clients.
//!
//! A `cgroup/connect4` program rewrites the destination of `connect()` on TCP sockets of one
//! network namespace (berthd's) from a published address and port (`127.0.0.1:8080`) to the
//! container's (`172.18.0.2:80`), before the socket sends anything: the connection is then an
//! ordinary host → container connection, and no packet of it is translated (no DNAT, no
//! masquerade, no re-route per packet, as nftables must do for 127.0.0.1). Cilium calls this
//! socket load balancing.
//!
//! - Scope: the program is attached to the root of the cgroup v2 hierarchy (a client can be in
//!   any cgroup) and does nothing for sockets of any other network namespace: it compares the
//!   socket's namespace cookie with berthd's, first thing after the protocol.
//! - Lifetime: attached as a BPF link owned by berthd; when berthd exits or dies, the kernel
//!   detaches it and frees the map, and nftables' DNAT (always in place) serves these clients.
//! - Limits: the kernel runs at most 64 programs per cgroup and hook; a berthd beyond that (64
//!   daemons on one machine) gets an error at start and, with `--socket-lb auto`, runs on DNAT.
//! - Not covered, left to nftables: UDP (unconnected sends would need `sendmsg4`/`recvmsg4`),
//!   IPv6, and addresses not entered here.
//! - `getpeername()`: a `cgroup/getpeername4` program reports the address the client asked for
//!   (the frontend), as with DNAT; connect4 notes it per socket cookie in an LRU map.
//!   `getsockname()` shows what a direct connection has: the host's address on the bridge.

use super::insn::*;
use super::{HashMap, MapKind};
use crate::{KernelError, Result};
use std::net::SocketAddrV4;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

const PROG_TYPE_CGROUP_SOCK_ADDR: u32 = 18;
const ATTACH_INET4_CONNECT: u32 = 10;
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_MAP_UPDATE_ELEM: i32 = 2;
const HELPER_GET_SOCKET_COOKIE: i32 = 46;
const ATTACH_INET4_GETPEERNAME: u32 = 29;
const HELPER_GET_NETNS_COOKIE: i32 = 122;
// Offsets in `struct bpf_sock_addr`.
const CTX_USER_IP4: i16 = 4;
const CTX_USER_PORT: i16 = 24;
const CTX_PROTOCOL: i16 = 36;
const IPPROTO_TCP: i32 = 6;
/// Most frontends the map holds (elements are allocated as inserted).
pub const MAX_ENTRIES: u32 = 65536;
/// Redirected sockets remembered for `getpeername` (least recently used forgotten first; the
/// map is preallocated: ~2 MB of kernel memory).
pub const REV_ENTRIES: u32 = 32768;

/// Placeholder offset of a jump to the program's end (`allow`), patched by `link_out`.
const OUT: i16 = i16::MAX;

/// The connect4 program for the namespace with cookie `netns`, the map `map_fd` of frontend
/// `(ipv4, port)` → backend `(ipv4, port)`, each 8 bytes: address in network order, then the
/// port in network order in the low 16 bits of a native-endian u32 (as the context's
/// `user_port` reads and writes it); and the LRU map `rev_fd` of socket cookie → frontend,
/// where it notes each socket it redirects (for `getpeername`).
pub fn connect_program(netns: u64, map_fd: i32, rev_fd: i32) -> Vec<Insn> {
    let mut p = vec![
        mov(R6, R1),                  // r6 = ctx
        load32(R2, R6, CTX_PROTOCOL), // if ctx->protocol != TCP: out
        jne_imm(R2, IPPROTO_TCP, OUT),
        call(HELPER_GET_NETNS_COOKIE), // r0 = cookie of the socket's namespace (r1 = ctx)
    ];
    p.extend(load_imm64(R1, netns));
    p.extend([
        jne(R0, R1, OUT),             // another namespace: out
        load32(R2, R6, CTX_USER_IP4), // key on the stack at fp-8: [ip4, port]
        store32(R10, -8, R2),
        load32(R2, R6, CTX_USER_PORT),
        store32(R10, -4, R2),
    ]);
    p.extend(load_map_fd(R1, map_fd));
    p.extend([
        mov(R2, R10),
        add_imm(R2, -8),
        call(HELPER_MAP_LOOKUP_ELEM), // r0 = backend or NULL
        jeq_imm(R0, 0, OUT),
        load32(R2, R0, 0), // the destination becomes the backend
        store32(R6, CTX_USER_IP4, R2),
        load32(R2, R0, 4),
        store32(R6, CTX_USER_PORT, R2),
        mov(R1, R6),
        call(HELPER_GET_SOCKET_COOKIE), // rev[cookie] = frontend (still at fp-8)
        store64(R10, -16, R0),
    ]);
    p.extend(load_map_fd(R1, rev_fd));
    p.extend([
        mov(R2, R10),
        add_imm(R2, -16),
        mov(R3, R10),
        add_imm(R3, -8),
        mov_imm(R4, 0), // BPF_ANY
        call(HELPER_MAP_UPDATE_ELEM),
    ]);
    link_out(p)
}

/// The getpeername4 program: a socket that connect4 redirected reports the frontend it asked
/// for as its peer, as it would through DNAT.
pub fn getpeername_program(rev_fd: i32) -> Vec<Insn> {
    let mut p = vec![
        mov(R6, R1),
        load32(R2, R6, CTX_PROTOCOL),
        jne_imm(R2, IPPROTO_TCP, OUT),
        call(HELPER_GET_SOCKET_COOKIE), // r1 = ctx
        store64(R10, -8, R0),
    ];
    p.extend(load_map_fd(R1, rev_fd));
    p.extend([
        mov(R2, R10),
        add_imm(R2, -8),
        call(HELPER_MAP_LOOKUP_ELEM),
        jeq_imm(R0, 0, OUT),
        load32(R2, R0, 0),
        store32(R6, CTX_USER_IP4, R2),
        load32(R2, R0, 4),
        store32(R6, CTX_USER_PORT, R2),
    ]);
    link_out(p)
}

/// Appends `r0 = 1; exit` (allow) and points every `OUT` jump at it.
fn link_out(mut p: Vec<Insn>) -> Vec<Insn> {
    let out = p.len();
    for (i, ins) in p.iter_mut().enumerate() {
        if ins.off == OUT && ins.code & 0x07 == 0x05 {
            ins.off = (out - i - 1) as i16;
        }
    }
    p.extend([mov_imm(R0, 1), exit()]);
    p
}

/// The 8 bytes of a map key or value for `addr`.
pub fn encode(addr: SocketAddrV4) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&addr.ip().octets());
    b[4..].copy_from_slice(&u32::from(addr.port().to_be()).to_ne_bytes());
    b
}

/// The loaded, attached programs and their maps. Dropping it detaches the programs.
#[derive(Debug)]
pub struct SocketLb {
    map: HashMap,
    _rev: HashMap,
    _progs: [OwnedFd; 2],
    _links: [OwnedFd; 2],
}

impl SocketLb {
    /// Loads the programs for the calling thread's network namespace and attaches them to
    /// the cgroup directory `cgroup` (a cgroup v2 directory; see `cgroup2_root`).
    pub fn attach(cgroup: &Path) -> Result<Self> {
        let netns = crate::netns::cookie()?;
        let map = HashMap::create("berth_socklb", MapKind::Hash, 8, 8, MAX_ENTRIES)?;
        let rev = HashMap::create("berth_socklb_rv", MapKind::Lru, 8, 8, REV_ENTRIES)?;
        let connect = super::load_program(
            "berth_connect4",
            PROG_TYPE_CGROUP_SOCK_ADDR,
            ATTACH_INET4_CONNECT,
            &connect_program(netns, map.fd(), rev.fd()),
        )?;
        let peer = super::load_program(
            "berth_getpeer4",
            PROG_TYPE_CGROUP_SOCK_ADDR,
            ATTACH_INET4_GETPEERNAME,
            &getpeername_program(rev.fd()),
        )?;
        let dir = std::fs::File::open(cgroup)
            .map_err(|e| KernelError::io(format!("open cgroup {}", cgroup.display()), e))?;
        let dir = OwnedFd::from(dir);
        // getpeername first: a socket is never redirected without its peer being reported.
        let l_peer = super::attach_cgroup(&peer, &dir, ATTACH_INET4_GETPEERNAME)?;
        let l_connect = super::attach_cgroup(&connect, &dir, ATTACH_INET4_CONNECT)?;
        Ok(SocketLb {
            map,
            _rev: rev,
            _progs: [connect, peer],
            _links: [l_connect, l_peer],
        })
    }

    /// TCP connects to `frontend` go to `backend` from now on.
    pub fn insert(&self, frontend: SocketAddrV4, backend: SocketAddrV4) -> Result<()> {
        self.map.put(&encode(frontend), &encode(backend))
    }

    /// Connects to `frontend` are left alone again; `false` if it was not entered.
    pub fn remove(&self, frontend: SocketAddrV4) -> Result<bool> {
        self.map.delete(&encode(frontend))
    }
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup` on a unified system,
/// `/sys/fs/cgroup/unified` on a hybrid one), from `/proc/self/mountinfo`.
pub fn cgroup2_root() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    parse_cgroup2_root(&text)
}

fn parse_cgroup2_root(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let fields: Vec<&str> = pre.split(' ').collect();
        // Field 4 is the mount's root within the filesystem: only the hierarchy's own root.
        (post.split(' ').next() == Some("cgroup2") && fields.get(3) == Some(&"/"))
            .then(|| fields.get(4).map(PathBuf::from))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_address_then_port_as_the_context_reads_it() {
        let k = encode("127.0.0.1:8080".parse().unwrap());
        assert_eq!(&k[..4], &[127, 0, 0, 1]);
        // sin_port (network order 0x1f90) zero-extended: its two bytes first in memory.
        assert_eq!(
            u32::from_ne_bytes(k[4..].try_into().unwrap()),
            u32::from(8080u16.to_be())
        );
        assert_eq!(&k[4..6], &[0x1f, 0x90]);
    }

    #[test]
    fn finds_the_cgroup2_mount_on_hybrid_and_unified_systems() {
        let hybrid = "30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro\n\
                      35 30 0:30 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n";
        assert_eq!(
            parse_cgroup2_root(hybrid),
            Some("/sys/fs/cgroup/unified".into())
        );
        let unified = "35 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(parse_cgroup2_root(unified), Some("/sys/fs/cgroup".into()));
        let inner = "35 25 0:30 /user.slice /mnt/cg rw - cgroup2 cgroup2 rw\n";
        assert_eq!(parse_cgroup2_root(inner), None);
        assert_eq!(parse_cgroup2_root("garbage\n\n - "), None);
    }

    #[test]
    fn jumps_land_on_the_final_allow() {
        for p in [connect_program(42, 3, 4), getpeername_program(4)] {
            let out = p.len() - 2;
            assert_eq!((p[out], p[out + 1]), (mov_imm(R0, 1), exit()));
            for (i, ins) in p.iter().enumerate() {
                let jump = ins.code & 0x07 == 0x05 && !matches!(ins.code & 0xf0, 0x80 | 0x90);
                if jump {
                    assert_eq!(i as i64 + 1 + i64::from(ins.off), out as i64, "jump at {i}");
                }
            }
        }
    }
}
