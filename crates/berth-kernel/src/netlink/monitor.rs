//! Link events: a netlink socket subscribed to the link multicast group, reporting the names of
//! links deleted in this namespace as they happen (berthd's self-healing uses it; no polling).

use crate::{KernelError, Result};
use futures_util::StreamExt;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::proto::sys::{protocols::NETLINK_ROUTE, AsyncSocket, SocketAddr, TokioSocket};
use rtnetlink::proto::NetlinkCodec;
use tokio::sync::mpsc;

const RTMGRP_LINK: u32 = 1;

/// Names of links deleted in the calling thread's network namespace, from now on.
pub fn link_deletions() -> Result<mpsc::UnboundedReceiver<String>> {
    let mut socket =
        TokioSocket::new(NETLINK_ROUTE).map_err(|e| KernelError::io("open netlink socket", e))?;
    socket
        .socket_mut()
        .bind(&SocketAddr::new(0, RTMGRP_LINK))
        .map_err(|e| KernelError::io("subscribe to link events", e))?;
    let (conn, _handle, mut events) =
        rtnetlink::proto::from_socket_with_codec::<RouteNetlinkMessage, TokioSocket, NetlinkCodec>(
            socket,
        );
    tokio::spawn(conn);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _keep = _handle;
        while let Some((msg, _)) = events.next().await {
            if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) = msg.payload {
                // A port leaving a bridge is announced as a DELLINK of the AF_BRIDGE family; the
                // link itself still exists.
                if link.header.interface_family == rtnetlink::packet_route::AddressFamily::Bridge {
                    continue;
                }
                let name = link.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                });
                if let Some(name) = name {
                    if tx.send(name).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(rx)
}
