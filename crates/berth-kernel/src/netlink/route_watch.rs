//! The main table's route destinations, kept current by route events instead of a dump per
//! question: a dump costs more the more routes there are (berthd adds one per network), and
//! `network create` asks every time.
//!
//! One dump fills the cache; route events (`RTM_NEWROUTE`/`RTM_DELROUTE`) keep it current, and
//! so do link events, for what the kernel removes without a route event (IPv4 routes through a
//! link that goes down or away). Events lost to a full receive buffer, or an event stream that
//! ends, make the next question dump again. A dump is only kept if no event was applied while it
//! ran (it could be older than that event).

use super::route::main_destination;
use super::Netlink;
use crate::{KernelError, Result};
use futures_util::StreamExt;
use rtnetlink::packet_core::{NetlinkPayload, NLM_F_REPLACE};
use rtnetlink::packet_route::link::{LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::proto::sys::{protocols::NETLINK_ROUTE, AsyncSocket, SocketAddr, TokioSocket};
use rtnetlink::proto::NetlinkCodec;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;
/// How many dumps a question tries before answering from a dump it could not keep.
const DUMP_TRIES: usize = 3;

/// What tells two routes of the main table apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    dst: ipnet::IpNet,
    tos: u8,
    priority: Option<u32>,
    oif: Option<u32>,
    gateway: Option<IpAddr>,
    nexthop: Option<u32>,
}

impl Key {
    fn of(r: &RouteMessage) -> Option<Key> {
        let dst = main_destination(r)?;
        let mut k = Key {
            dst,
            tos: r.header.tos,
            priority: None,
            oif: None,
            gateway: None,
            nexthop: None,
        };
        for a in &r.attributes {
            match a {
                RouteAttribute::Priority(p) => k.priority = Some(*p),
                RouteAttribute::Oif(i) => k.oif = Some(*i),
                RouteAttribute::NhId(i) => k.nexthop = Some(*i),
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => k.gateway = Some((*g).into()),
                RouteAttribute::Gateway(RouteAddress::Inet6(g)) => k.gateway = Some((*g).into()),
                _ => {}
            }
        }
        Some(k)
    }

    /// The same route slot (what `NLM_F_REPLACE` replaces).
    fn same_slot(&self, other: &Key) -> bool {
        (self.dst, self.tos, self.priority) == (other.dst, other.tos, other.priority)
    }
}

#[derive(Default)]
struct State {
    routes: HashSet<Key>,
    /// Bumped by every event applied.
    events: u64,
    /// `routes` is the kernel's (a dump was kept and no event was lost since).
    synced: bool,
    /// The event stream runs.
    alive: bool,
}

/// Main-table route destinations of one namespace, answered from a cache kept by events.
pub struct RouteWatch {
    state: Arc<Mutex<State>>,
}

impl RouteWatch {
    /// Watches the calling thread's network namespace (`nl` must work in the same one).
    pub async fn new(nl: &Netlink) -> Result<RouteWatch> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)
            .map_err(|e| KernelError::io("open netlink socket", e))?;
        let groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
        socket
            .socket_mut()
            .bind(&SocketAddr::new(0, groups))
            .map_err(|e| KernelError::io("subscribe to route events", e))?;
        let _ = socket.socket_ref().set_rx_buf_sz(1 << 20);
        let (conn, handle, mut events) = rtnetlink::proto::from_socket_with_codec::<
            RouteNetlinkMessage,
            TokioSocket,
            NetlinkCodec,
        >(socket);
        tokio::spawn(conn);
        let state = Arc::new(Mutex::new(State {
            alive: true,
            ..State::default()
        }));
        let weak = Arc::downgrade(&state);
        tokio::spawn(async move {
            let _keep = handle;
            while let Some((msg, _)) = events.next().await {
                let Some(state) = weak.upgrade() else { return };
                let mut s = lock(&state);
                s.events += 1;
                match msg.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                        if let Some(k) = Key::of(&r) {
                            if msg.header.flags & NLM_F_REPLACE != 0 {
                                s.routes.retain(|o| !o.same_slot(&k));
                            }
                            s.routes.insert(k);
                        }
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(r)) => {
                        if let Some(k) = Key::of(&r) {
                            s.routes.remove(&k);
                        }
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) => {
                        forget_link(&mut s, &l, true)
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                        forget_link(&mut s, &l, false)
                    }
                    NetlinkPayload::Overrun(_) => s.synced = false,
                    _ => {}
                }
            }
            if let Some(state) = weak.upgrade() {
                let mut s = lock(&state);
                s.alive = false;
                s.synced = false;
            }
        });
        let watch = RouteWatch { state };
        watch.destinations(nl).await?;
        Ok(watch)
    }

    /// Destination prefixes of the main table's routes, default routes excepted.
    pub async fn destinations(&self, nl: &Netlink) -> Result<Vec<ipnet::IpNet>> {
        {
            let s = lock(&self.state);
            if s.synced {
                return Ok(prefixes(s.routes.iter()));
            }
        }
        let mut last = Vec::new();
        for _ in 0..DUMP_TRIES {
            let (before, alive) = {
                let s = lock(&self.state);
                (s.events, s.alive)
            };
            last = nl.main_routes().await?;
            if !alive {
                break; // no events to keep a cache by: every question dumps
            }
            let mut s = lock(&self.state);
            if s.events == before && s.alive {
                s.routes = last.iter().filter_map(Key::of).collect();
                s.synced = true;
                return Ok(prefixes(s.routes.iter()));
            }
        }
        Ok(prefixes(
            last.iter().filter_map(Key::of).collect::<Vec<_>>().iter(),
        ))
    }
}

/// IPv4 routes through a link that goes down or away are removed without route events.
fn forget_link(s: &mut State, l: &LinkMessage, deleted: bool) {
    if l.header.interface_family == AddressFamily::Bridge {
        return; // a port's bridge events: the link itself is unchanged
    }
    if deleted || !l.header.flags.contains(LinkFlags::Up) {
        let index = l.header.index;
        s.routes.retain(|k| k.oif != Some(index));
    }
}

fn prefixes<'a>(keys: impl Iterator<Item = &'a Key>) -> Vec<ipnet::IpNet> {
    let mut v: Vec<ipnet::IpNet> = keys.map(|k| k.dst).collect();
    v.sort();
    v.dedup();
    v
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
