//! rtnetlink adapter: links, addresses and routes of one network namespace.
//!
//! A [`Netlink`] owns a netlink socket created inside one network namespace; every request it
//! sends acts on that namespace. Requests that only need an acknowledgement are sent in one
//! datagram where possible (`Netlink::batch`) so an attach costs few round trips.

mod addr;
mod link;
pub use link::MAX_BRIDGE_PORTS;
mod monitor;
pub use monitor::link_deletions;
mod neigh;
mod route;
mod route_watch;
pub use route_watch::RouteWatch;
mod socket;
mod vxlan;

use crate::{KernelError, Result};
use futures_util::StreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::proto::sys::{protocols::NETLINK_ROUTE, AsyncSocket, SocketAddr, TokioSocket};
use rtnetlink::proto::{ConnectionHandle, NetlinkCodec};
use std::path::Path;
use std::time::Duration;

/// How long one request may wait for the kernel's answer. The kernel answers within
/// microseconds; this only guards against an answer that cannot be decoded and never arrives.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A netlink handle bound to one network namespace.
///
/// The connection task runs on the tokio runtime that was current when the handle was made and
/// ends when the handle is dropped. That runtime needs its IO and time drivers (`enable_all`):
/// every request is bounded by a timeout.
#[derive(Debug)]
pub struct Netlink {
    handle: ConnectionHandle<RouteNetlinkMessage>,
    /// The namespace this handle works in, when it is not the caller's own (`open`): per-link
    /// sysctls must be written from inside it.
    netns: Option<std::path::PathBuf>,
}

/// The kernel's refusal of one request: errno and, if the kernel gave one, its extended-ack text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nack {
    pub errno: i32,
    pub text: Option<String>,
}

impl Nack {
    /// The error to report for operation `op`.
    pub(crate) fn into_error(self, op: impl Into<String>) -> KernelError {
        let mut op = op.into();
        if let Some(text) = self.text {
            op = format!("{op} (kernel: {text})");
        }
        KernelError::io(op, std::io::Error::from_raw_os_error(self.errno))
    }
}

/// One acknowledged request of a batch: the message, its flags (`NLM_F_REQUEST | NLM_F_ACK` are
/// added) and the errnos that count as success (e.g. `EEXIST` for "already there").
pub(crate) struct Req {
    pub msg: RouteNetlinkMessage,
    pub flags: u16,
    pub ok_errnos: &'static [i32],
    pub op: String,
}

impl Netlink {
    /// Netlink for the calling thread's network namespace (berthd's own).
    pub async fn current() -> Result<Self> {
        let socket = TokioSocket::new(NETLINK_ROUTE)
            .map_err(|e| KernelError::io("open netlink socket", e))?;
        Ok(Self::from_socket(socket, None))
    }

    /// Netlink for the namespace pinned at `netns_path`.
    ///
    /// The socket is created by a thread that has entered that namespace (a socket stays bound
    /// to the namespace it was created in); see `socket.rs`.
    pub async fn open(netns_path: &Path) -> Result<Self> {
        Ok(Self::from_socket(
            socket::open_in(netns_path).await?,
            Some(netns_path.to_path_buf()),
        ))
    }

    /// Turns IPv6 off on `name` in this handle's namespace.
    pub(crate) async fn disable_ipv6(&self, name: &str) -> Result<()> {
        match &self.netns {
            None => crate::sysctl::disable_ipv6(name),
            Some(path) => {
                let (path, name) = (path.clone(), name.to_string());
                tokio::task::spawn_blocking(move || {
                    crate::netns::run_in(&path, move || crate::sysctl::disable_ipv6(&name))
                })
                .await
                .map_err(|e| KernelError::Netlink {
                    op: "disable IPv6".into(),
                    message: e.to_string(),
                })?
            }
        }
    }

    fn from_socket(socket: TokioSocket, netns: Option<std::path::PathBuf>) -> Self {
        // Ask for extended-ack texts and for capped acks (the kernel then echoes only the header
        // of a failed request, not the whole request). Both are best effort.
        let _ = socket.socket_ref().set_ext_ack(true);
        let _ = socket.socket_ref().set_cap_ack(true);
        let (mut conn, handle, unsolicited) = rtnetlink::proto::from_socket_with_codec::<
            RouteNetlinkMessage,
            TokioSocket,
            NetlinkCodec,
        >(socket);
        // Every acknowledgement reaches us, so a batch yields exactly one answer per request.
        conn.set_forward_ack(true);
        // Unsolicited messages are not wanted; the connection stops forwarding once this is gone.
        drop(unsolicited);
        tokio::spawn(conn);
        Netlink { handle, netns }
    }

    /// Sends `reqs` in one datagram and waits for every acknowledgement. The kernel handles them
    /// in order and goes on after a failure; the first failure (in request order) is returned.
    pub(crate) async fn batch(&self, reqs: Vec<Req>) -> Result<()> {
        if reqs.is_empty() {
            return Ok(());
        }
        let mut ops = Vec::with_capacity(reqs.len());
        let mut msgs = Vec::with_capacity(reqs.len());
        for r in reqs {
            let mut m = NetlinkMessage::from(r.msg);
            m.header.flags = NLM_F_REQUEST | NLM_F_ACK | r.flags;
            msgs.push(m);
            ops.push((r.op, r.ok_errnos));
        }
        let first_op = ops[0].0.clone();
        let mut stream = self
            .handle
            .request_batch(msgs, SocketAddr::new(0, 0))
            .map_err(|e| KernelError::Netlink {
                op: first_op.clone(),
                message: e.to_string(),
            })?;
        let answers = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut answers = Vec::with_capacity(ops.len());
            while let Some(msg) = stream.next().await {
                answers.push(ack_outcome(msg));
            }
            answers
        })
        .await
        .map_err(|_| KernelError::Netlink {
            op: first_op.clone(),
            message: "no answer from the kernel".into(),
        })?;
        for (i, (op, ok)) in ops.into_iter().enumerate() {
            match answers.get(i) {
                Some(Ok(())) => {}
                Some(Err(AckError::Nack(n))) if ok.contains(&n.errno) => {}
                Some(Err(AckError::Nack(n))) => return Err(n.clone().into_error(op)),
                Some(Err(AckError::Unexpected(what))) => {
                    return Err(KernelError::Netlink {
                        op,
                        message: format!("unexpected answer: {what}"),
                    })
                }
                None => {
                    return Err(KernelError::Netlink {
                        op,
                        message: "the kernel's answer went missing".into(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Sends one acknowledged request.
    pub(crate) async fn ack(&self, req: Req) -> Result<()> {
        self.batch(vec![req]).await
    }

    /// Sends a request that is answered by one message (a `GET` without `NLM_F_DUMP`).
    /// `Ok(Err(nack))` is the kernel's refusal, for callers that expect some errnos.
    pub(crate) async fn get(
        &self,
        op: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<std::result::Result<RouteNetlinkMessage, Nack>> {
        let mut msgs = self.request(op, msg, NLM_F_REQUEST).await?;
        match msgs.pop() {
            Some(Answer::Msg(m)) if msgs.is_empty() => Ok(Ok(m)),
            Some(Answer::Nack(n)) => Ok(Err(n)),
            Some(Answer::Msg(_)) => Err(KernelError::Netlink {
                op: op.into(),
                message: "more than one answer".into(),
            }),
            None => Err(KernelError::Netlink {
                op: op.into(),
                message: "no answer from the kernel".into(),
            }),
        }
    }

    /// Sends a dump request and collects every message of the dump.
    pub(crate) async fn dump(
        &self,
        op: &str,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let answers = self.request(op, msg, NLM_F_REQUEST | NLM_F_DUMP).await?;
        let mut out = Vec::with_capacity(answers.len());
        for a in answers {
            match a {
                Answer::Msg(m) => out.push(m),
                Answer::Nack(n) => return Err(n.into_error(op)),
            }
        }
        Ok(out)
    }

    async fn request(&self, op: &str, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<Answer>> {
        let mut m = NetlinkMessage::from(msg);
        m.header.flags = flags;
        let mut stream =
            self.handle
                .request(m, SocketAddr::new(0, 0))
                .map_err(|e| KernelError::Netlink {
                    op: op.into(),
                    message: e.to_string(),
                })?;
        tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut out = Vec::new();
            while let Some(msg) = stream.next().await {
                let flags = msg.header.flags;
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => out.push(Answer::Msg(m)),
                    NetlinkPayload::Error(e) if e.code.is_some() => out.push(Answer::Nack(Nack {
                        errno: e.raw_code().saturating_abs(),
                        text: ext_ack_text(flags, &e.header),
                    })),
                    // Acks, done and noop end or pad the answer; an overrun loses messages.
                    NetlinkPayload::Overrun(_) => {
                        return Err(KernelError::Netlink {
                            op: op.into(),
                            message: "netlink buffer overrun".into(),
                        })
                    }
                    _ => {}
                }
            }
            Ok(out)
        })
        .await
        .map_err(|_| KernelError::Netlink {
            op: op.into(),
            message: "no answer from the kernel".into(),
        })?
    }
}

enum Answer {
    Msg(RouteNetlinkMessage),
    Nack(Nack),
}

enum AckError {
    Nack(Nack),
    Unexpected(String),
}

fn ack_outcome(msg: NetlinkMessage<RouteNetlinkMessage>) -> std::result::Result<(), AckError> {
    let flags = msg.header.flags;
    match msg.payload {
        NetlinkPayload::Error(e) if e.code.is_none() => Ok(()),
        NetlinkPayload::Error(e) => Err(AckError::Nack(Nack {
            errno: e.raw_code().saturating_abs(),
            text: ext_ack_text(flags, &e.header),
        })),
        NetlinkPayload::Overrun(_) => Err(AckError::Unexpected("netlink buffer overrun".into())),
        other => Err(AckError::Unexpected(format!(
            "message type {}",
            other.message_type()
        ))),
    }
}

/// `NLMSGERR_ATTR_MSG`: the kernel's human-readable reason for a failure.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;

/// Extracts the extended-ack text from an error message's payload (everything after the errno:
/// the echoed request header, the rest of the request unless capped, then attributes).
/// Returns `None` for anything malformed; never panics.
fn ext_ack_text(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        let len = u32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?) as usize;
        len.checked_add(3)? & !3
    };
    let mut rest = payload.get(echoed_len..)?;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 {
            return None;
        }
        let value = rest.get(4..len)?;
        if kind == NLMSGERR_ATTR_MSG {
            let text = value.split(|b| *b == 0).next().unwrap_or_default();
            let text = String::from_utf8_lossy(text).trim().to_string();
            return (!text.is_empty()).then_some(text);
        }
        rest = rest.get((len.checked_add(3)? & !3).min(rest.len())..)?;
    }
    None
}

/// Checks an interface name the way the kernel does, so errors name the problem early.
pub(crate) fn check_ifname(op: &str, name: &str) -> Result<()> {
    let bad = if name.is_empty() {
        Some("empty interface name")
    } else if name.len() > 15 {
        Some("interface name longer than 15 bytes")
    } else if name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        Some("invalid interface name")
    } else {
        None
    };
    match bad {
        Some(why) => Err(KernelError::Netlink {
            op: op.into(),
            message: format!("{why}: {name:?}"),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let len = 4 + value.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(len as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn ext_ack_capped() {
        let mut p = vec![0u8; NLMSG_HDRLEN];
        p.extend(tlv(4, &7u32.to_ne_bytes()));
        p.extend(tlv(NLMSGERR_ATTR_MSG, b"Master device not found\0"));
        assert_eq!(
            ext_ack_text(NLM_F_ACK_TLVS | NLM_F_CAPPED, &p).as_deref(),
            Some("Master device not found")
        );
    }

    #[test]
    fn ext_ack_uncapped_skips_echoed_request() {
        let mut p = vec![0u8; 22];
        p[0..4].copy_from_slice(&22u32.to_ne_bytes());
        p.extend([0, 0]); // padding to 24
        p.extend(tlv(NLMSGERR_ATTR_MSG, b"bad\0"));
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS, &p).as_deref(), Some("bad"));
    }

    #[test]
    fn ext_ack_never_panics_on_garbage() {
        assert_eq!(ext_ack_text(0, &[]), None);
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS, &[]), None);
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS, &[0xff; 3]), None);
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS, &[0xff; 40]), None);
        let mut p = vec![0u8; NLMSG_HDRLEN];
        p.extend([200, 0, 1, 0, b'x']); // attribute longer than the buffer
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS | NLM_F_CAPPED, &p), None);
        let mut p = vec![0u8; NLMSG_HDRLEN];
        p.extend([2, 0, 1, 0]); // attribute shorter than its header
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS | NLM_F_CAPPED, &p), None);
        for n in 0..64u8 {
            let p: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let _ = ext_ack_text(NLM_F_ACK_TLVS, &p);
            let _ = ext_ack_text(NLM_F_ACK_TLVS | NLM_F_CAPPED, &p);
        }
    }

    #[test]
    fn ifname_rules() {
        assert!(check_ifname("t", "eth0").is_ok());
        assert!(check_ifname("t", "br-0123456789ab").is_ok());
        assert!(check_ifname("t", "").is_err());
        assert!(check_ifname("t", "0123456789abcdef").is_err());
        assert!(check_ifname("t", "a/b").is_err());
        assert!(check_ifname("t", "a b").is_err());
        assert!(check_ifname("t", "..").is_err());
        let e = check_ifname("create veth", "a:b").unwrap_err().to_string();
        assert!(e.contains("create veth") && e.contains("a:b"), "{e}");
    }
}
