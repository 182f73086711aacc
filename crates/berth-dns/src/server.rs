//! The sockets: UDP and TCP on 127.0.0.11 inside a container's network namespace (on a random
//! port that port 53 is redirected to, see [`DnsServer::serve`]).
//!
//! The listening sockets are created on a thread that entered the namespace (a socket stays in
//! the namespace it was created in) and then handed to tokio. Per served namespace:
//! - `udp_workers` tasks receive on the UDP socket. A locally answered query is handled inline
//!   (parse, look up, write the reply into a reused buffer, send); a forwarded one is moved to
//!   its own task (at most `max_forwards` at once; beyond that queries are dropped and the
//!   client retries), so a slow upstream never stalls local names.
//! - one accept task for TCP, at most `tcp_max_connections` connections, each answering
//!   length-prefixed queries one after another until `tcp_idle_timeout` passes without one.
//!
//! Dropping the [`ServeHandle`] aborts the tasks; the tasks own their sub-tasks (in `JoinSet`s),
//! so forwards in flight and TCP connections end too and the sockets close at once.

use crate::answer::{self, Decision, Transport};
use crate::mmsg::{self, RecvBatch};
use crate::DnsServer;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{AbortHandle, JoinSet};

/// Where the embedded DNS server listens inside each namespace (Docker's address).
pub const DNS_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(DNS_IP, 53));
const DNS_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Serving one namespace; dropping it stops serving and closes the sockets.
pub struct ServeHandle {
    tasks: Vec<AbortHandle>,
    udp_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
}

impl ServeHandle {
    /// The bound UDP address.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }
    /// The bound TCP address, if serving TCP.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl std::fmt::Debug for ServeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeHandle")
            .field("udp_addr", &self.udp_addr)
            .field("tcp_addr", &self.tcp_addr)
            .finish()
    }
}

impl DnsServer {
    /// Binds UDP and TCP 127.0.0.11:53 inside the network namespace pinned at `netns` and serves
    /// queries there on behalf of container `asker` until the returned handle is dropped.
    ///
    /// The sockets are bound on a random port of 127.0.0.11 and the namespace gets a stateless
    /// rewrite of port 53 to it ([`berth_kernel::nf_tables::dns`]), so that the container's own
    /// programs can still bind port 53 (a DNS server in a container, as in Docker).
    pub async fn serve(self: &Arc<Self>, asker: String, netns: &Path) -> io::Result<ServeHandle> {
        let (udp, tcp) = bind_in(netns, bind_redirected).await?;
        self.serve_sockets(asker, udp, Some(tcp))
    }

    /// Like [`DnsServer::serve`], on another address inside the namespace.
    pub async fn serve_at(
        self: &Arc<Self>,
        asker: String,
        netns: &Path,
        addr: SocketAddr,
    ) -> io::Result<ServeHandle> {
        let (udp, tcp) = bind_in(netns, move || {
            bind(addr).map_err(|e| berth_kernel::KernelError::io(format!("bind {addr}"), e))
        })
        .await?;
        self.serve_sockets(asker, udp, Some(tcp))
    }

    /// Serves `asker` on sockets bound by the caller (in any namespace). Must be called within
    /// a tokio runtime.
    pub fn serve_sockets(
        self: &Arc<Self>,
        asker: String,
        udp: std::net::UdpSocket,
        tcp: Option<std::net::TcpListener>,
    ) -> io::Result<ServeHandle> {
        let asker: Arc<str> = asker.into();
        udp.set_nonblocking(true)?;
        let udp = Arc::new(UdpSocket::from_std(udp)?);
        let udp_addr = udp.local_addr()?;
        let mut tasks = Vec::new();
        let mut tcp_addr = None;
        if let Some(tcp) = tcp {
            tcp.set_nonblocking(true)?;
            let tcp = TcpListener::from_std(tcp)?;
            tcp_addr = Some(tcp.local_addr()?);
            let t = tokio::spawn(accept_loop(self.clone(), asker.clone(), tcp));
            tasks.push(t.abort_handle());
        }
        for _ in 0..self.cfg.udp_workers.max(1) {
            let t = tokio::spawn(udp_loop(self.clone(), asker.clone(), udp.clone()));
            tasks.push(t.abort_handle());
        }
        Ok(ServeHandle {
            tasks,
            udp_addr,
            tcp_addr,
        })
    }
}

type Sockets = (std::net::UdpSocket, std::net::TcpListener);

/// Runs `bind` on a blocking thread that entered the namespace pinned at `netns` (a socket
/// stays in the namespace it was created in).
async fn bind_in(
    netns: &Path,
    bind: impl FnOnce() -> berth_kernel::Result<Sockets> + Send + 'static,
) -> io::Result<Sockets> {
    let path = netns.to_path_buf();
    tokio::task::spawn_blocking(move || berth_kernel::netns::run_in(&path, bind))
        .await
        .map_err(io::Error::other)?
        .map_err(kernel_to_io)
}

fn kernel_to_io(e: berth_kernel::KernelError) -> io::Error {
    let kind = match &e {
        berth_kernel::KernelError::Io { source, .. } => source.kind(),
        berth_kernel::KernelError::Sys { source, .. } => io::Error::from(*source).kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

/// In the calling thread's namespace: binds UDP and TCP on one random port of 127.0.0.11 and
/// redirects port 53 there.
fn bind_redirected() -> berth_kernel::Result<Sockets> {
    let ip = DNS_IP;
    let mut last = None;
    // The UDP port is random; the same TCP port is almost always free too. Try a few.
    for _ in 0..8 {
        match bind_udp(SocketAddr::from((ip, 0))).and_then(|udp| {
            let port = udp.local_addr()?.port();
            let tcp = bind_tcp(SocketAddr::from((ip, port)))?;
            Ok((udp, tcp, port))
        }) {
            Ok((udp, tcp, port)) => {
                berth_kernel::nf_tables::dns::redirect_port_53(ip, port)?;
                return Ok((udp, tcp));
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::other("no port"));
    Err(berth_kernel::KernelError::io(
        format!("bind {ip} for DNS"),
        e,
    ))
}

/// Binds the UDP socket and the TCP listener (in the calling thread's namespace).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<Sockets> {
    Ok((bind_udp(addr)?, bind_tcp(addr)?))
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let udp = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.cloexec(),
        Some(Protocol::UDP),
    )?;
    udp.set_nonblocking(true)?;
    // Room for bursts of queries while the workers are busy.
    let _ = udp.set_recv_buffer_size(1 << 20);
    udp.bind(&SockAddr::from(addr))?;
    Ok(udp.into())
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let tcp = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.cloexec(),
        Some(Protocol::TCP),
    )?;
    tcp.set_reuse_address(true)?;
    tcp.set_nonblocking(true)?;
    tcp.bind(&SockAddr::from(addr))?;
    tcp.listen(128)?;
    Ok(tcp.into())
}

/// Buffers for one batch of datagrams and their replies.
pub(crate) struct Scratch {
    batch: Box<RecvBatch>,
    outs: Vec<Vec<u8>>,
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            batch: RecvBatch::new(),
            outs: (0..mmsg::BATCH).map(|_| Vec::with_capacity(512)).collect(),
        }
    }
}

impl DnsServer {
    fn take_scratch(&self) -> Scratch {
        self.scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_else(Scratch::new)
    }

    fn return_scratch(&self, s: Scratch) {
        self.scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(s);
    }
}

async fn udp_loop(srv: Arc<DnsServer>, asker: Arc<str>, sock: Arc<UdpSocket>) {
    let mut forwards = JoinSet::new();
    loop {
        if let Err(e) = sock.readable().await {
            tracing::debug!("dns: udp readiness: {e}");
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let mut scratch = srv.take_scratch();
        let r = udp_batch(&srv, &asker, &sock, &mut scratch, &mut forwards).await;
        srv.return_scratch(scratch);
        if let Err(e) = r {
            tracing::debug!("dns: udp recv: {e}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Receives one batch, answers what it can at once, hands forwards to their own tasks.
async fn udp_batch(
    srv: &Arc<DnsServer>,
    asker: &Arc<str>,
    sock: &Arc<UdpSocket>,
    scratch: &mut Scratch,
    forwards: &mut JoinSet<()>,
) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    let Scratch { batch, outs } = scratch;
    let mut replies = [0usize; mmsg::BATCH];
    let n = match sock.try_io(Interest::READABLE, || batch.recv(fd)) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut count = 0;
    for (i, out) in outs.iter_mut().enumerate().take(n) {
        let Some((query, peer)) = batch.get(i) else {
            continue;
        };
        match answer::handle(query, asker, &*srv.records, Transport::Udp, out) {
            Decision::Reply => {
                replies[count] = i;
                count += 1;
            }
            Decision::Drop => {}
            Decision::Forward(fwd) => {
                if srv.forwarder.cached(query, &fwd, out) {
                    replies[count] = i;
                    count += 1;
                    continue;
                }
                let Some(peer) = peer.socket_addr() else {
                    continue;
                };
                while forwards.try_join_next().is_some() {}
                if forwards.len() >= srv.cfg.max_forwards {
                    tracing::debug!("dns: too many forwards in flight; dropping a query");
                    continue;
                }
                let (srv, sock, query) = (srv.clone(), sock.clone(), query.to_vec());
                forwards.spawn(async move {
                    let mut out = Vec::new();
                    srv.forwarder
                        .resolve(&query, &fwd, Transport::Udp, &mut out)
                        .await;
                    let _ = sock.send_to(&out, peer).await;
                });
            }
        }
    }
    let mut sent = 0;
    while sent < count {
        let msgs = replies[sent..count]
            .iter()
            .filter_map(|&i| Some((&outs[i][..], batch.get(i)?.1)));
        match sock.try_io(Interest::WRITABLE, || mmsg::send_batch(fd, msgs)) {
            Ok(m) => sent += m.max(1),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if sock.writable().await.is_err() {
                    break;
                }
            }
            // The first reply could not be sent (e.g. its destination is unreachable).
            Err(_) => sent += 1,
        }
    }
    Ok(())
}

async fn accept_loop(srv: Arc<DnsServer>, asker: Arc<str>, listener: TcpListener) {
    let mut conns = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!("dns: tcp accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if conns.len() >= srv.cfg.tcp_max_connections {
            tracing::debug!("dns: too many tcp connections; closing a new one");
            continue;
        }
        conns.spawn(tcp_conn(srv.clone(), asker.clone(), stream));
    }
}

/// Answers length-prefixed queries on one connection, in order, until it idles or errs.
async fn tcp_conn(srv: Arc<DnsServer>, asker: Arc<str>, mut stream: TcpStream) {
    let idle = srv.cfg.tcp_idle_timeout;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut wbuf = Vec::new();
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let n = u16::from_be_bytes(len) as usize;
        if n == 0 {
            return;
        }
        if buf.len() < n {
            buf.resize(n, 0);
        }
        match tokio::time::timeout(idle, stream.read_exact(&mut buf[..n])).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let query = &buf[..n];
        match answer::handle(query, &asker, &*srv.records, Transport::Tcp, &mut out) {
            Decision::Reply => {}
            Decision::Drop => return,
            Decision::Forward(fwd) => {
                srv.forwarder
                    .resolve(query, &fwd, Transport::Tcp, &mut out)
                    .await
            }
        }
        wbuf.clear();
        wbuf.extend_from_slice(&(out.len() as u16).to_be_bytes());
        wbuf.extend_from_slice(&out);
        match tokio::time::timeout(idle, stream.write_all(&wbuf)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}
