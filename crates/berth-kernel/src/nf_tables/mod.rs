//! nf_tables over netlink, for the rules berth programs on hot paths.
//!
//! berth's own tables in the daemon's namespace are created and rebuilt with `nft -f` (one
//! atomic script, see [`crate::nft`]); that costs a process and a ruleset fetch, 5–15 ms, growing
//! with the ruleset. A network's set elements ([`ruleset`]) and the rules that go into
//! every container's namespace at start (the DNS redirect, [`dns`]) are sent here as one
//! nf_tables netlink batch instead (well under a millisecond).
//!
//! Why not a crate: rustables (pure Rust) is GPL-3.0, berth is Apache-2.0; nftnl wraps the C
//! libnftnl. The handful of expressions berth needs are encoded in [`wire`]; the socket is
//! netlink-sys's, as for rtnetlink.

pub mod dns;
pub mod generations;
pub mod ruleset;
mod wire;

use crate::{KernelError, Result};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use std::os::fd::AsFd;
use std::time::Duration;
use wire::Batch;

/// How long to wait for the kernel's answer to a batch before giving up.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `batch` on a fresh NETLINK_NETFILTER socket in the calling thread's network namespace
/// and waits for the kernel's verdict. The kernel applies the batch whole or not at all; an
/// error names the message it refused.
fn apply(batch: Batch) -> Result<()> {
    let Some(last) = batch.last_seq() else {
        return Ok(());
    };
    let (bytes, sent) = batch.finish();
    let op = |what: &str| format!("nf_tables: {what}");
    let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| KernelError::io(op("socket"), e))?;
    sock.bind_auto()
        .map_err(|e| KernelError::io(op("bind"), e))?;
    let tv = nix::sys::time::TimeVal::new(ANSWER_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(
        &sock.as_fd(),
        nix::sys::socket::sockopt::ReceiveTimeout,
        &tv,
    )
    .map_err(|e| KernelError::sys(op("set receive timeout"), e))?;
    sock.send(&bytes, 0)
        .map_err(|e| KernelError::io(op("send batch"), e))?;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        sock.recv(&mut buf, 0)
            .map_err(|e| KernelError::io(op("wait for the kernel's answer"), e))?;
        for ack in wire::parse_acks(&buf) {
            if ack.error != 0 {
                let what = sent
                    .iter()
                    .find(|(s, _)| *s == ack.seq)
                    .map_or("the batch", |(_, w)| w.as_str());
                let errno = nix::errno::Errno::from_raw(-ack.error);
                return Err(KernelError::sys(op(what), errno));
            }
            if ack.seq == last {
                return Ok(());
            }
        }
    }
}

/// A sequence number for a new batch: distinct batches on distinct sockets need not differ, but
/// distinct numbers make a trace readable.
fn next_seq() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(1);
    SEQ.fetch_add(64, Ordering::Relaxed)
}
