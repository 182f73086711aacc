//! A precise prober for convergence benchmarks: a thread of the test process
//! that entered a container's network namespace (`setns`) and, every few
//! milliseconds, sends
//! - an ICMP echo to the target's address,
//! - a DNS `A` query for the target's name to the embedded DNS at 127.0.0.11,
//! - once the name resolved, an ICMP echo to the address it resolved to,
//! - when a port is given, a TCP connect to the target's address and port
//!   (a new attempt each round, each kept for a second), and, once the name
//!   resolved, what an ordinary client does: one connect to the resolved
//!   address, left to the kernel's SYN retransmissions (a new one only after
//!   a refusal),
//!
//! and records when each first succeeded. No try has a timeout of its own: a
//! reply to any earlier try counts when it arrives, so the figure is when the
//! path started to work, to within the probe interval (plus the probing
//! namespace's own ARP retry interval, which the caller may shorten).

use std::fs::File;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// When each kind of probe first succeeded for one target.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// First echo reply from the target's address.
    pub by_addr: Option<Instant>,
    /// First `A` answer for the target's name, and the address in it.
    pub resolved: Option<(Instant, Ipv4Addr)>,
    /// First echo reply from the address the name resolved to (echoes to it
    /// start only once the name resolved).
    pub by_name: Option<Instant>,
    /// First completed TCP handshake with the target's address and port
    /// (only when a port was given).
    pub tcp: Option<Instant>,
    /// When the ordinary client (resolve, then connect once, the kernel
    /// retrying) got its connection (only when a port was given).
    pub client: Option<Instant>,
}

impl Seen {
    /// Whether every probe succeeded (the TCP one only if `tcp` was asked for).
    pub fn complete(&self, tcp: bool) -> bool {
        self.by_addr.is_some()
            && self.resolved.is_some()
            && self.by_name.is_some()
            && (!tcp || (self.tcp.is_some() && self.client.is_some()))
    }
}

enum Cmd {
    Watch {
        name: String,
        addr: Ipv4Addr,
        port: Option<u16>,
        done: mpsc::Sender<Seen>,
    },
    Cancel,
    Stop,
}

/// Makes the namespace at `netns` retry unanswered ARP every 10 ms (the
/// kernel's floor) for 10 s instead of every second three times, so a
/// prober there measures when an address became reachable, not ARP backoff.
pub fn quick_arp(netns: &Path) -> Result<(), String> {
    let ns = format!("--net={}", netns.display());
    let o = Command::new("nsenter")
        .args([ns.as_str(), "cat", "/proc/net/dev"])
        .output()
        .map_err(|e| format!("nsenter: {e}"))?;
    let devs = String::from_utf8_lossy(&o.stdout);
    let ifaces = devs
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .filter(|i| *i != "lo");
    for ifname in ifaces {
        for (k, v) in [("retrans_time_ms", "10"), ("mcast_solicit", "1000")] {
            let o = Command::new("nsenter")
                .args([ns.as_str(), "busybox", "sysctl", "-w"])
                .arg(format!("net.ipv4.neigh.{ifname}.{k}={v}"))
                .output()
                .map_err(|e| format!("nsenter sysctl: {e}"))?;
            if !o.status.success() {
                return Err(format!("sysctl {ifname}.{k}: {o:?}"));
            }
        }
    }
    Ok(())
}

/// The probing thread. Dropping it stops the thread.
pub struct Prober {
    cmds: mpsc::Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

/// One target being watched; [`Watching::wait`] returns what was seen.
pub struct Watching<'a> {
    prober: &'a Prober,
    done: mpsc::Receiver<Seen>,
}

impl Watching<'_> {
    /// Waits until every probe succeeded or `within` passed; returns what was
    /// seen either way (and stops probing this target).
    pub fn wait(self, within: Duration) -> Seen {
        match self.done.recv_timeout(within) {
            Ok(s) => s,
            Err(_) => {
                let _ = self.prober.cmds.send(Cmd::Cancel);
                self.done
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default()
            }
        }
    }
}

impl Prober {
    /// Starts probing from the network namespace at `netns` (e.g.
    /// `/proc/PID/ns/net` of a container), one round every `interval`.
    pub fn start(netns: &Path, interval: Duration) -> Result<Prober, String> {
        let (cmds, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let path = netns.to_path_buf();
        let thread = thread::spawn(move || match Sockets::open(&path) {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                run(s, interval, rx);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| "prober thread did not start".to_string())??;
        Ok(Prober {
            cmds,
            thread: Some(thread),
        })
    }

    /// Starts watching `name` (expected at `addr`, and listening on TCP
    /// `port` if given); replaces any earlier target.
    pub fn watch(&self, name: &str, addr: Ipv4Addr, port: Option<u16>) -> Watching<'_> {
        let (done, rx) = mpsc::channel();
        let _ = self.cmds.send(Cmd::Watch {
            name: name.to_string(),
            addr,
            port,
            done,
        });
        Watching {
            prober: self,
            done: rx,
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        let _ = self.cmds.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Sockets {
    icmp: OwnedFd,
    dns: UdpSocket,
}

impl Sockets {
    /// Enters `netns` (this thread only) and opens the sockets there.
    fn open(netns: &PathBuf) -> Result<Sockets, String> {
        let f = File::open(netns).map_err(|e| format!("open {}: {e}", netns.display()))?;
        // SAFETY: setns on a valid fd; it only changes this (fresh) thread's
        // network namespace.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "setns {}: {}",
                netns.display(),
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: plain socket(2); the fd is checked and then owned.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_ICMP,
            )
        };
        if fd < 0 {
            return Err(format!(
                "raw ICMP socket: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: fd is a fresh, valid descriptor nobody else owns.
        let icmp = unsafe { OwnedFd::from_raw_fd(fd) };
        let dns = UdpSocket::bind(("0.0.0.0", 0)).map_err(|e| format!("udp bind: {e}"))?;
        dns.connect(("127.0.0.11", 53))
            .map_err(|e| format!("udp connect 127.0.0.11:53: {e}"))?;
        dns.set_nonblocking(true)
            .map_err(|e| format!("nonblocking: {e}"))?;
        Ok(Sockets { icmp, dns })
    }

    fn send_echo(&self, to: Ipv4Addr, ident: u16, seq: u16) {
        let pkt = echo_request(ident, seq);
        let sa = sockaddr(to, 0);
        // SAFETY: pkt and sa outlive the call; lengths are theirs.
        unsafe {
            libc::sendto(
                self.icmp.as_raw_fd(),
                pkt.as_ptr().cast(),
                pkt.len(),
                libc::MSG_DONTWAIT,
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
        }
    }

    /// Echo replies received since the last call: (source, ident).
    fn echo_replies(&self) -> Vec<(Ipv4Addr, u16)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: buf is writable for its length.
            let n = unsafe {
                libc::recv(
                    self.icmp.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                return out;
            }
            if let Some(r) = parse_echo_reply(&buf[..n as usize]) {
                out.push(r);
            }
        }
    }

    /// Waits for a reply or for one of `connecting` to finish; returns the
    /// indices of those that finished.
    fn poll(&self, timeout: Duration, connecting: &[&Connecting]) -> Vec<usize> {
        let pfd = |fd: i32, events| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let mut fds = vec![
            pfd(self.icmp.as_raw_fd(), libc::POLLIN),
            pfd(self.dns.as_raw_fd(), libc::POLLIN),
        ];
        fds.extend(
            connecting
                .iter()
                .map(|c| pfd(c.fd.as_raw_fd(), libc::POLLOUT)),
        );
        let ms = timeout.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: fds is a valid array of fds.len() pollfds.
        unsafe {
            libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
        }
        fds[2..]
            .iter()
            .enumerate()
            .filter(|(_, f)| f.revents != 0)
            .map(|(i, _)| i)
            .collect()
    }
}

/// A TCP connect in flight.
struct Connecting {
    fd: OwnedFd,
    since: Instant,
}

impl Connecting {
    /// A non-blocking connect to `to:port`.
    fn start(to: Ipv4Addr, port: u16) -> Option<Connecting> {
        // SAFETY: plain socket(2); the fd is checked and then owned.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is a fresh, valid descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sa = sockaddr(to, port);
        // SAFETY: sa outlives the call; the length is its size.
        unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
        }
        Some(Connecting {
            fd,
            since: Instant::now(),
        })
    }

    /// After poll reported it: whether the handshake completed.
    fn connected(&self) -> bool {
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err and len are valid for writing; sizes match.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        r == 0 && err == 0
    }
}

fn sockaddr(to: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    // SAFETY: an all-zero sockaddr_in is valid; fields are set below.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = port.to_be();
    sa.sin_addr.s_addr = u32::from(to).to_be();
    sa
}

impl Sockets {}

/// What is being watched.
struct Target {
    qname: Vec<u8>,
    addr: Ipv4Addr,
    port: Option<u16>,
    seen: Seen,
    done: mpsc::Sender<Seen>,
}

const ID_ADDR: u16 = 0xbe01;
const ID_NAME: u16 = 0xbe02;

fn run(s: Sockets, interval: Duration, cmds: mpsc::Receiver<Cmd>) {
    let mut target: Option<Target> = None;
    let mut seq: u16 = 0;
    let mut next = Instant::now();
    let mut connecting: Vec<Connecting> = Vec::new();
    let mut client: Option<Connecting> = None;
    loop {
        loop {
            match cmds.try_recv() {
                Ok(Cmd::Watch {
                    name,
                    addr,
                    port,
                    done,
                }) => {
                    if let Some(t) = target.take() {
                        let _ = t.done.send(t.seen);
                    }
                    connecting.clear();
                    client = None;
                    target = Some(Target {
                        qname: qname(&name),
                        addr,
                        port,
                        seen: Seen::default(),
                        done,
                    });
                    next = Instant::now();
                }
                Ok(Cmd::Cancel) => {
                    if let Some(t) = target.take() {
                        let _ = t.done.send(t.seen);
                    }
                }
                Ok(Cmd::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        let Some(t) = target.as_mut() else {
            connecting.clear();
            client = None;
            thread::sleep(Duration::from_millis(2));
            continue;
        };
        let now = Instant::now();
        if now >= next {
            seq = seq.wrapping_add(1);
            if t.seen.by_addr.is_none() {
                s.send_echo(t.addr, ID_ADDR, seq);
            }
            if t.seen.resolved.is_none() {
                let _ = s.dns.send(&dns_query(seq, &t.qname));
            }
            if let (Some((_, a)), None) = (t.seen.resolved, t.seen.by_name) {
                s.send_echo(a, ID_NAME, seq);
            }
            if let (Some(port), None) = (t.port, t.seen.tcp) {
                connecting.retain(|c| c.since.elapsed() < Duration::from_secs(1));
                connecting.extend(Connecting::start(t.addr, port));
            }
            if let (Some(port), Some((_, a)), None, None) =
                (t.port, t.seen.resolved, t.seen.client, &client)
            {
                client = Connecting::start(a, port);
            }
            next = now + interval;
        }
        let mut waiting: Vec<&Connecting> = connecting.iter().collect();
        waiting.extend(client.as_ref());
        let mut finished = s.poll(next.saturating_duration_since(Instant::now()), &waiting);
        let at = Instant::now();
        if finished.last() == Some(&connecting.len()) {
            finished.pop();
            // Connected, or refused (the next round connects again).
            if client.take().is_some_and(|c| c.connected()) {
                t.seen.client = Some(at);
            }
        }
        if t.seen.tcp.is_none() && finished.iter().any(|&i| connecting[i].connected()) {
            t.seen.tcp = Some(at);
        }
        // Refused or reset: gone; the next round tries again.
        for i in finished.into_iter().rev() {
            connecting.swap_remove(i);
        }
        if t.seen.tcp.is_some() {
            connecting.clear();
        }
        for (src, ident) in s.echo_replies() {
            if ident == ID_ADDR && src == t.addr && t.seen.by_addr.is_none() {
                t.seen.by_addr = Some(at);
            }
            let resolved = t.seen.resolved.map(|(_, a)| a);
            if ident == ID_NAME && Some(src) == resolved && t.seen.by_name.is_none() {
                t.seen.by_name = Some(at);
            }
        }
        let mut buf = [0u8; 1500];
        while let Ok(n) = s.dns.recv(&mut buf) {
            if t.seen.resolved.is_none() {
                if let Some(a) = parse_a_answer(&buf[..n], &t.qname) {
                    t.seen.resolved = Some((at, a));
                    next = at; // echo the resolved address at once
                }
            }
        }
        if t.seen.complete(t.port.is_some()) {
            let t = target.take().expect("checked");
            let _ = t.done.send(t.seen);
        }
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(ident: u16, seq: u16) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = 8; // echo request
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    p[6..8].copy_from_slice(&seq.to_be_bytes());
    p[8..16].copy_from_slice(b"berthprb");
    let c = checksum(&p);
    p[2..4].copy_from_slice(&c.to_be_bytes());
    p
}

/// An IPv4 packet with an ICMP echo reply → (source, ident).
fn parse_echo_reply(pkt: &[u8]) -> Option<(Ipv4Addr, u16)> {
    let ihl = usize::from(*pkt.first()? & 0x0f) * 4;
    if pkt.len() < ihl + 8 || pkt[0] >> 4 != 4 {
        return None;
    }
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let icmp = &pkt[ihl..];
    (icmp[0] == 0).then(|| (src, u16::from_be_bytes([icmp[4], icmp[5]])))
}

/// `name` in DNS wire form (labels, then 0).
fn qname(name: &str) -> Vec<u8> {
    let mut q = Vec::new();
    for l in name.split('.').filter(|l| !l.is_empty()) {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q
}

fn dns_query(id: u16, qname: &[u8]) -> Vec<u8> {
    let mut q = Vec::with_capacity(12 + qname.len() + 4);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, one question
    q.extend_from_slice(qname);
    q.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    q
}

/// The first `A` record of a NOERROR response whose question is `qname`.
fn parse_a_answer(r: &[u8], qname: &[u8]) -> Option<Ipv4Addr> {
    if r.len() < 12 || r[2] & 0x80 == 0 || r[3] & 0x0f != 0 {
        return None;
    }
    let (qd, an) = (
        u16::from_be_bytes([r[4], r[5]]),
        u16::from_be_bytes([r[6], r[7]]),
    );
    if qd != 1 || !r.get(12..12 + qname.len())?.eq_ignore_ascii_case(qname) {
        return None;
    }
    let mut pos = 12 + qname.len() + 4;
    for _ in 0..an {
        pos = skip_name(r, pos)?;
        let h = r.get(pos..pos + 10)?;
        let (ty, len) = (
            u16::from_be_bytes([h[0], h[1]]),
            usize::from(u16::from_be_bytes([h[8], h[9]])),
        );
        let data = r.get(pos + 10..pos + 10 + len)?;
        if ty == 1 && len == 4 {
            return Some(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        pos += 10 + len;
    }
    None
}

fn skip_name(r: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let l = *r.get(pos)?;
        if l == 0 {
            return Some(pos + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(pos + 2);
        }
        pos += 1 + usize::from(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies() {
        let p = echo_request(0xbe01, 7);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to 0");
    }

    #[test]
    fn a_answer_with_compressed_name() {
        let q = qname("bn1");
        let mut r = dns_query(9, &q);
        r[2] = 0x81;
        r[3] = 0x80;
        r[7] = 1; // one answer
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 2, 88, 0, 4, 10, 0, 0, 20]);
        assert_eq!(parse_a_answer(&r, &q), Some(Ipv4Addr::new(10, 0, 0, 20)));
        assert_eq!(parse_a_answer(&r, &qname("bn2")), None);
        r[3] = 0x83; // NXDOMAIN
        assert_eq!(parse_a_answer(&r, &q), None);
    }

    #[test]
    fn echo_reply_parsed_from_ip_packet() {
        let mut pkt = vec![
            0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 20, 10, 0, 0, 2,
        ];
        let mut icmp = echo_request(ID_ADDR, 3);
        icmp[0] = 0;
        pkt.extend_from_slice(&icmp);
        assert_eq!(
            parse_echo_reply(&pkt),
            Some((Ipv4Addr::new(10, 0, 0, 20), ID_ADDR))
        );
        pkt[20] = 8; // a request, not a reply
        assert_eq!(parse_echo_reply(&pkt), None);
    }
}
