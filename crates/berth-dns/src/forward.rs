//! Forwarding to upstream servers: reused sockets, fast failover, a small positive cache.
//!
//! Upstream sockets live in the network namespace where [`crate::DnsServer::new`] ran (berthd's
//! own), so the host's loopback resolvers (127.0.0.53) work; a socket's namespace is fixed when
//! it is created, so sockets are always created there, from whatever thread needs one.
//!
//! UDP: each upstream gets a small pool of *connected* UDP sockets, created on first use and
//! kept. Connected, so that an ICMP "port unreachable" comes back as ECONNREFUSED and fails
//! over at once. One reader task per socket hands replies to the waiting queries by query id
//! (random per query, and the reply's question must match). Failover is hedged: the first
//! (healthy) upstream is asked; on an error, a malformed reply, SERVFAIL or REFUSED the next one
//! is asked at once, and after `upstream_timeout` without an answer the next one is asked too
//! while the slow one may still answer; the last one asked gets until `upstream_total_timeout`
//! after the first was. A server that errs or times out counts as dead for
//! `dead_upstream_for`, and healthy servers are tried first. When nobody answers well, the last
//! SERVFAIL/REFUSED is relayed, else SERVFAIL.
//!
//! TCP (queries that came over TCP): one connection per query, servers tried in turn.
//!
//! Cache: positive answers (NOERROR with answers, not truncated) keyed by the lower-cased
//! question, EDNS/DO/CD and the upstream list, kept for their smallest TTL (capped), with TTLs
//! aged on the way out. Bounded: when full, expired entries go first, then arbitrary ones.

use crate::answer::{self, rcode, Edns, Forward, QueryInfo, Transport, UpstreamReply};
use futures_util::stream::{FuturesUnordered, StreamExt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::HashMap;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Connected UDP sockets per upstream (each with its own random source port).
const SOCKETS_PER_UPSTREAM: usize = 4;
/// Upstream servers remembered at once (their sockets and health).
const MAX_UPSTREAMS: usize = 128;
/// Longest TTL a cached answer is kept for.
const MAX_CACHE_TTL: u32 = 3600;

/// Tuning of the forwarder (from [`crate::DnsConfig`]).
#[derive(Clone, Debug)]
pub(crate) struct ForwardConfig {
    pub timeout: Duration,
    pub total_timeout: Duration,
    pub tcp_timeout: Duration,
    pub dead_for: Duration,
    pub cache_entries: usize,
}

pub(crate) struct Forwarder {
    cfg: ForwardConfig,
    home: Option<HomeNs>,
    epoch: Instant,
    upstreams: Mutex<HashMap<SocketAddr, Arc<Upstream>>>,
    cache: Mutex<Cache>,
}

impl Forwarder {
    /// Must be called in the namespace the upstream sockets belong to.
    pub fn new(cfg: ForwardConfig) -> Self {
        let home = match HomeNs::current() {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!("dns: cannot pin the current network namespace: {e}");
                None
            }
        };
        Forwarder {
            cache: Mutex::new(Cache::new(cfg.cache_entries)),
            cfg,
            home,
            epoch: Instant::now(),
            upstreams: Mutex::new(HashMap::new()),
        }
    }

    /// Answers a query that [`answer::handle`] decided to forward, into `out`: from the cache,
    /// else from an upstream, else SERVFAIL.
    pub async fn resolve(
        &self,
        query: &[u8],
        fwd: &Forward,
        transport: Transport,
        out: &mut Vec<u8>,
    ) {
        let key = self.cache_key(query, fwd);
        if let Some(key) = &key {
            if self.cache_get(key, query, &fwd.info, out) {
                return;
            }
        }
        let question = fwd.info.question(query);
        let got = match transport {
            Transport::Udp => self.forward_udp(query, question, &fwd.upstreams).await,
            Transport::Tcp => self.forward_tcp(query, question, &fwd.upstreams).await,
        };
        match got {
            Some((resp, reply)) => {
                answer::relay(query, &fwd.info, &resp, out);
                if let Some(key) = key {
                    self.cache_put(key, resp, reply);
                }
            }
            None => answer::error_reply(query, &fwd.info, rcode::SERVFAIL, out),
        }
    }

    /// Answers from the cache alone, into `out`; false on a miss.
    pub fn cached(&self, query: &[u8], fwd: &Forward, out: &mut Vec<u8>) -> bool {
        self.cache_key(query, fwd)
            .is_some_and(|key| self.cache_get(&key, query, &fwd.info, out))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The upstreams of `addrs`, healthy ones first (each group in the configured order).
    fn ordered(&self, addrs: &[SocketAddr]) -> Vec<Arc<Upstream>> {
        let now = self.now_ms();
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<Arc<Upstream>> = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if list.iter().any(|u| u.addr == *addr) {
                continue;
            }
            if !map.contains_key(addr) && map.len() >= MAX_UPSTREAMS {
                // Forget the least recently used server (its sockets close with it).
                if let Some(old) = map
                    .iter()
                    .min_by_key(|(_, u)| u.last_used.load(Ordering::Relaxed))
                    .map(|(a, _)| *a)
                {
                    map.remove(&old);
                }
            }
            let up = map
                .entry(*addr)
                .or_insert_with(|| Arc::new(Upstream::new(*addr)))
                .clone();
            up.last_used.store(now, Ordering::Relaxed);
            list.push(up);
        }
        drop(map);
        list.sort_by_key(|u| u.dead_until.load(Ordering::Relaxed) > now);
        list
    }

    fn mark_dead(&self, up: &Upstream) {
        let until = self.now_ms() + self.cfg.dead_for.as_millis() as u64;
        up.dead_until.store(until.max(1), Ordering::Relaxed);
    }

    async fn forward_udp(
        &self,
        query: &[u8],
        question: &[u8],
        addrs: &[SocketAddr],
    ) -> Option<(Vec<u8>, UpstreamReply)> {
        let ups = self.ordered(addrs);
        let first = ups.first()?.clone();
        let mut inflight = FuturesUnordered::new();
        inflight.push(self.udp_attempt(0, first, query, question));
        let mut launched = 1;
        let start = tokio::time::Instant::now();
        let overall = start + self.cfg.total_timeout.max(self.cfg.timeout);
        let mut deadline = start + self.cfg.timeout;
        let mut fallback: Option<(Vec<u8>, UpstreamReply)> = None;
        loop {
            let launch_next;
            tokio::select! {
                Some((i, res)) = inflight.next() => {
                    match res {
                        Ok((resp, reply))
                            if !matches!(reply.rcode, rcode::SERVFAIL | rcode::REFUSED) =>
                        {
                            ups[i].dead_until.store(0, Ordering::Relaxed);
                            return Some((resp, reply));
                        }
                        Ok(got) => {
                            // The server is up but could not answer this one: ask the others.
                            ups[i].dead_until.store(0, Ordering::Relaxed);
                            fallback = Some(got);
                        }
                        Err(e) => {
                            tracing::debug!("dns: upstream {} failed: {e}", ups[i].addr);
                            self.mark_dead(&ups[i]);
                        }
                    }
                    if launched == ups.len() && inflight.is_empty() {
                        break;
                    }
                    // Only the newest attempt's failure moves on; an older one's was hedged.
                    launch_next = i + 1 == launched && launched < ups.len();
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if deadline >= overall {
                        break;
                    }
                    self.mark_dead(&ups[launched - 1]);
                    launch_next = launched < ups.len();
                    if !launch_next {
                        // Nobody else to ask: give the slow ones until the overall deadline
                        // (a cold recursive lookup can take a while).
                        deadline = overall;
                    }
                }
            }
            if launch_next {
                let up = ups[launched].clone();
                inflight.push(self.udp_attempt(launched, up, query, question));
                launched += 1;
                deadline = (tokio::time::Instant::now() + self.cfg.timeout).min(overall);
            }
        }
        fallback
    }

    /// One UDP exchange with one upstream; its index comes back with the result.
    async fn udp_attempt(
        &self,
        i: usize,
        up: Arc<Upstream>,
        query: &[u8],
        question: &[u8],
    ) -> (usize, io::Result<(Vec<u8>, UpstreamReply)>) {
        (i, self.udp_exchange(&up, query, question).await)
    }

    async fn udp_exchange(
        &self,
        up: &Upstream,
        query: &[u8],
        question: &[u8],
    ) -> io::Result<(Vec<u8>, UpstreamReply)> {
        let sock = up.socket(self.home.as_ref())?;
        let (id, rx) = sock.register(question);
        let _guard = Unregister { sock: &sock, id };
        let mut q = query.to_vec();
        q[..2].copy_from_slice(&id.to_be_bytes());
        if let Err(e) = sock.sock.send(&q).await {
            if e.kind() != io::ErrorKind::ConnectionRefused {
                // Maybe the socket is unusable (e.g. its runtime is gone): make new ones.
                up.reset();
            }
            return Err(e);
        }
        let resp = rx
            .await
            .map_err(|_| io::Error::other("upstream reader stopped"))??;
        let reply = answer::check_upstream(&resp, question)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed reply"))?;
        Ok((resp, reply))
    }

    async fn forward_tcp(
        &self,
        query: &[u8],
        question: &[u8],
        addrs: &[SocketAddr],
    ) -> Option<(Vec<u8>, UpstreamReply)> {
        let mut fallback = None;
        for up in self.ordered(addrs) {
            let res = tokio::time::timeout(
                self.cfg.tcp_timeout,
                self.tcp_exchange(up.addr, query, question),
            )
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
            match res {
                Ok((resp, reply)) if !matches!(reply.rcode, rcode::SERVFAIL | rcode::REFUSED) => {
                    return Some((resp, reply));
                }
                Ok(got) => fallback = Some(got),
                Err(e) => tracing::debug!("dns: upstream {} (tcp) failed: {e}", up.addr),
            }
        }
        fallback
    }

    async fn tcp_exchange(
        &self,
        addr: SocketAddr,
        query: &[u8],
        question: &[u8],
    ) -> io::Result<(Vec<u8>, UpstreamReply)> {
        let sock = home_socket(self.home.as_ref(), addr, Type::STREAM, Protocol::TCP)?;
        let stream = TcpSocket::from_std_stream(std::net::TcpStream::from(sock));
        let mut stream = stream.connect(addr).await?;
        let id: u16 = rand::random();
        let mut msg = Vec::with_capacity(query.len() + 2);
        msg.extend_from_slice(&(query.len() as u16).to_be_bytes());
        msg.extend_from_slice(query);
        msg[2..4].copy_from_slice(&id.to_be_bytes());
        stream.write_all(&msg).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut resp = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut resp).await?;
        if resp.len() < 2 || resp[..2] != id.to_be_bytes() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "wrong id"));
        }
        let reply = answer::check_upstream(&resp, question)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed reply"))?;
        Ok((resp, reply))
    }

    fn cache_key(&self, query: &[u8], fwd: &Forward) -> Option<CacheKey> {
        if self.cfg.cache_entries == 0 {
            return None;
        }
        let q = fwd.info.question(query);
        let mut question: Box<[u8]> = q.into();
        // Label lengths are < 64, so lower-casing the name part touches letters only.
        let name_len = question.len() - 4;
        question[..name_len].make_ascii_lowercase();
        let mut h = std::hash::DefaultHasher::new();
        fwd.upstreams.hash(&mut h);
        Some(CacheKey {
            upstreams: h.finish(),
            question,
            edns: fwd.info.edns,
            cd: query[3] & 0x10 != 0,
        })
    }

    fn cache_get(&self, key: &CacheKey, query: &[u8], info: &QueryInfo, out: &mut Vec<u8>) -> bool {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = cache.map.get(key) else {
            return false;
        };
        let age = e.stored.elapsed().as_secs();
        if age >= u64::from(e.ttl) {
            cache.map.remove(key);
            return false;
        }
        if answer::relay(query, info, &e.resp, out) {
            for &off in e.ttl_offsets.iter() {
                let off = off as usize;
                let ttl = u32::from_be_bytes([out[off], out[off + 1], out[off + 2], out[off + 3]]);
                let ttl = ttl.saturating_sub(age as u32);
                out[off..off + 4].copy_from_slice(&ttl.to_be_bytes());
            }
        }
        true
    }

    fn cache_put(&self, key: CacheKey, resp: Vec<u8>, reply: UpstreamReply) {
        if reply.rcode != rcode::NOERROR || reply.truncated || reply.answers == 0 {
            return;
        }
        let ttl = reply.min_ttl.unwrap_or(0).min(MAX_CACHE_TTL);
        if ttl == 0 {
            return;
        }
        let entry = CacheEntry {
            resp: resp.into(),
            ttl_offsets: reply.ttl_offsets.into(),
            stored: Instant::now(),
            ttl,
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry);
    }
}

/// One upstream server: its health and its sockets.
struct Upstream {
    addr: SocketAddr,
    /// Milliseconds since the forwarder's epoch until which the server counts as dead; 0: alive.
    dead_until: AtomicU64,
    last_used: AtomicU64,
    pool: Mutex<Option<Arc<Pool>>>,
}

impl Upstream {
    fn new(addr: SocketAddr) -> Self {
        Upstream {
            addr,
            dead_until: AtomicU64::new(0),
            last_used: AtomicU64::new(0),
            pool: Mutex::new(None),
        }
    }

    /// A socket of the pool (created on first use), picked at random.
    fn socket(&self, home: Option<&HomeNs>) -> io::Result<Arc<UpSock>> {
        let mut slot = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        let pool = match &*slot {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(Pool::connect(home, self.addr)?);
                *slot = Some(p.clone());
                p
            }
        };
        drop(slot);
        let i = if pool.socks.len() > 1 {
            rand::random_range(0..pool.socks.len())
        } else {
            0
        };
        Ok(pool.socks[i].clone())
    }

    fn reset(&self) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// Connected UDP sockets to one upstream and their reader tasks (aborted on drop).
struct Pool {
    socks: Vec<Arc<UpSock>>,
    readers: Vec<AbortHandle>,
}

impl Pool {
    fn connect(home: Option<&HomeNs>, addr: SocketAddr) -> io::Result<Pool> {
        let mut pool = Pool {
            socks: Vec::new(),
            readers: Vec::new(),
        };
        for _ in 0..SOCKETS_PER_UPSTREAM {
            let s = home_socket(home, addr, Type::DGRAM, Protocol::UDP)?;
            s.connect(&SockAddr::from(addr))?;
            let sock = Arc::new(UpSock {
                sock: UdpSocket::from_std(s.into())?,
                pending: Mutex::new(HashMap::new()),
            });
            pool.readers
                .push(tokio::spawn(read_replies(sock.clone())).abort_handle());
            pool.socks.push(sock);
        }
        Ok(pool)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

type Waiter = oneshot::Sender<io::Result<Vec<u8>>>;
/// A query in flight: its question section, and who waits for the reply.
type Pending = (Box<[u8]>, Waiter);

struct UpSock {
    sock: UdpSocket,
    /// Queries in flight: id → (question section, who waits).
    pending: Mutex<HashMap<u16, Pending>>,
}

impl UpSock {
    fn register(&self, question: &[u8]) -> (u16, oneshot::Receiver<io::Result<Vec<u8>>>) {
        let (tx, rx) = oneshot::channel();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let id: u16 = rand::random();
            if let std::collections::hash_map::Entry::Vacant(v) = pending.entry(id) {
                v.insert((question.into(), tx));
                return (id, rx);
            }
        }
    }
}

/// Removes a query's id when its exchange ends, however it ends (also when cancelled).
struct Unregister<'a> {
    sock: &'a UpSock,
    id: u16,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.sock
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Hands each reply on `s` to the query waiting for its id (and question).
async fn read_replies(s: Arc<UpSock>) {
    let mut buf = vec![0u8; 65535];
    loop {
        match s.sock.recv(&mut buf).await {
            Ok(n) if n >= 12 => {
                let resp = &buf[..n];
                let id = u16::from_be_bytes([resp[0], resp[1]]);
                let mut pending = s.pending.lock().unwrap_or_else(|e| e.into_inner());
                let matches = pending.get(&id).is_some_and(|(q, _)| {
                    resp.get(12..12 + q.len())
                        .is_some_and(|got| got.eq_ignore_ascii_case(q))
                });
                if matches {
                    if let Some((_, tx)) = pending.remove(&id) {
                        let _ = tx.send(Ok(resp.to_vec()));
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                // On a connected socket this is mostly an ICMP error (ECONNREFUSED): the server
                // is not there, so everything in flight on this socket fails over now.
                let waiters: Vec<_> = s
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain()
                    .collect();
                for (_, (_, tx)) in waiters {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                }
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::HostUnreachable
                        | io::ErrorKind::NetworkUnreachable
                ) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}

/// The network namespace the forwarder was made in.
struct HomeNs {
    file: File,
    id: (u64, u64),
}

impl HomeNs {
    fn current() -> io::Result<HomeNs> {
        let file = File::open("/proc/thread-self/ns/net")?;
        let m = file.metadata()?;
        Ok(HomeNs {
            file,
            id: (m.dev(), m.ino()),
        })
    }
}

fn current_ns_id() -> io::Result<(u64, u64)> {
    let m = std::fs::metadata("/proc/thread-self/ns/net")?;
    Ok((m.dev(), m.ino()))
}

/// A non-blocking socket for talking to `addr`, created in the home namespace: directly when
/// this thread is in it (the usual case), else on a short-lived thread that enters it.
fn home_socket(
    home: Option<&HomeNs>,
    addr: SocketAddr,
    ty: Type,
    proto: Protocol,
) -> io::Result<Socket> {
    let make = || -> io::Result<Socket> {
        let s = Socket::new(Domain::for_address(addr), ty.cloexec(), Some(proto))?;
        s.set_nonblocking(true)?;
        Ok(s)
    };
    let Some(home) = home else {
        return make();
    };
    if current_ns_id().is_ok_and(|id| id == home.id) {
        return make();
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::setns(home.file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
                make()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    upstreams: u64,
    /// The question section, name lower-cased.
    question: Box<[u8]>,
    edns: Option<Edns>,
    cd: bool,
}

struct CacheEntry {
    resp: Box<[u8]>,
    ttl_offsets: Box<[u32]>,
    stored: Instant,
    ttl: u32,
}

struct Cache {
    max: usize,
    map: HashMap<CacheKey, CacheEntry>,
}

impl Cache {
    fn new(max: usize) -> Self {
        Cache {
            max,
            map: HashMap::new(),
        }
    }

    fn insert(&mut self, key: CacheKey, entry: CacheEntry) {
        if self.max == 0 {
            return;
        }
        if self.map.len() >= self.max && !self.map.contains_key(&key) {
            self.map
                .retain(|_, e| e.stored.elapsed().as_secs() < u64::from(e.ttl));
            while self.map.len() >= self.max {
                let Some(k) = self.map.keys().next().cloned() else {
                    break;
                };
                self.map.remove(&k);
            }
        }
        self.map.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{handle, Decision};
    use crate::Records;
    use hickory_proto::op::{Message, MessageType, Query};
    use hickory_proto::rr::{rdata::A, Name, RData, Record, RecordType};
    use std::net::IpAddr;

    struct NoNames;
    impl Records for NoNames {
        fn lookup(&self, _: &str, _: &str) -> Option<Vec<IpAddr>> {
            None
        }
        fn reverse(&self, _: &str, _: IpAddr) -> Option<Vec<String>> {
            None
        }
        fn upstreams(&self, _: &str) -> Vec<SocketAddr> {
            vec!["192.0.2.53:53".parse().unwrap()]
        }
    }

    fn forwarder(entries: usize) -> Forwarder {
        Forwarder::new(ForwardConfig {
            timeout: Duration::from_millis(700),
            total_timeout: Duration::from_secs(3),
            tcp_timeout: Duration::from_secs(2),
            dead_for: Duration::from_secs(30),
            cache_entries: entries,
        })
    }

    /// A query for `name` A, what `handle` makes of it, and an upstream reply with `ttl`.
    fn exchange(name: &str, ttl: u32) -> (Vec<u8>, Forward, Vec<u8>, UpstreamReply) {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        let q = m.to_vec().unwrap();
        let Decision::Forward(f) = handle(&q, "c1", &NoNames, Transport::Udp, &mut Vec::new())
        else {
            panic!("not forwarded")
        };
        m.metadata.message_type = MessageType::Response;
        let owner = m.queries[0].name.clone();
        m.add_answer(Record::from_rdata(
            owner,
            ttl,
            RData::A(A("192.0.2.7".parse().unwrap())),
        ));
        let resp = m.to_vec().unwrap();
        let reply = answer::check_upstream(&resp, f.info.question(&q)).unwrap();
        (q, f, resp, reply)
    }

    fn ttl_of(out: &[u8]) -> u32 {
        Message::from_vec(out).unwrap().answers[0].ttl
    }

    #[test]
    fn cache_ages_ttls_expires_and_stays_bounded() {
        let fw = forwarder(3);
        let (q, f, resp, reply) = exchange("a.example.com", 300);
        let mut out = Vec::new();
        assert!(!fw.cached(&q, &f, &mut out));
        fw.cache_put(fw.cache_key(&q, &f).unwrap(), resp, reply);
        assert!(fw.cached(&q, &f, &mut out));
        assert_eq!(&out[..2], &q[..2]);
        assert_eq!(ttl_of(&out), 300);

        // Another letter case and id hits the same entry, and gets its own back.
        let (mut q2, f2, _, _) = exchange("A.Example.COM", 300);
        q2[..2].copy_from_slice(&[0xAB, 0xCD]);
        assert!(fw.cached(&q2, &f2, &mut out));
        assert_eq!(&out[..2], &[0xAB, 0xCD]);
        assert_eq!(&out[12..f2.info.question_end], f2.info.question(&q2));

        // Ten seconds later the TTL is ten seconds smaller; past it, the entry is gone.
        let backdate = |fw: &Forwarder, secs: u64| {
            for e in fw.cache.lock().unwrap().map.values_mut() {
                e.stored -= Duration::from_secs(secs);
            }
        };
        backdate(&fw, 10);
        assert!(fw.cached(&q, &f, &mut out));
        assert_eq!(ttl_of(&out), 290);
        backdate(&fw, 290);
        assert!(!fw.cached(&q, &f, &mut out));
        assert_eq!(fw.cache.lock().unwrap().map.len(), 0);

        // Bounded.
        for i in 0..10 {
            let (q, f, resp, reply) = exchange(&format!("n{i}.example.com"), 60);
            fw.cache_put(fw.cache_key(&q, &f).unwrap(), resp, reply);
            assert!(fw.cache.lock().unwrap().map.len() <= 3);
        }
    }

    #[test]
    fn only_positive_answers_with_a_ttl_are_cached() {
        let fw = forwarder(16);
        let (q, f, resp, reply) = exchange("zero.example.com", 0);
        fw.cache_put(fw.cache_key(&q, &f).unwrap(), resp, reply);
        let (q2, f2, mut resp, mut reply) = exchange("nx.example.com", 60);
        resp[3] = (resp[3] & 0xF0) | 3;
        reply.rcode = 3;
        fw.cache_put(fw.cache_key(&q2, &f2).unwrap(), resp, reply);
        assert!(!fw.cached(&q, &f, &mut Vec::new()));
        assert!(!fw.cached(&q2, &f2, &mut Vec::new()));
        // Disabled cache.
        let fw = forwarder(0);
        let (q, f, _, _) = exchange("a.example.com", 60);
        assert!(fw.cache_key(&q, &f).is_none());
    }
}
