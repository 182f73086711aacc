//! Who changes the ruleset: every nf_tables transaction ends with a new generation, announced to
//! the `NFNLGRP_NFTABLES` group with the id of the thread that committed it. berthd's firewall
//! guard reads only these (one per transaction) to tell its own changes from anyone else's.

use crate::{KernelError, Result};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket};
use tokio::sync::mpsc;

const NFNLGRP_NFTABLES: u32 = 7;
/// `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN`.
const NEWGEN: u16 = (10 << 8) | 15;
const NFTA_GEN_PROC_PID: u16 = 2;
/// Room for the events of a full rebuild of berth's tables with many networks.
const RECEIVE_BUFFER: usize = 4 << 20;

/// One report of the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// A transaction was committed by the thread with this id (as the kernel's initial PID
    /// namespace numbers it; `None` if the kernel did not say).
    By(Option<u32>),
    /// Events were lost (receive buffer overrun): anything may have changed.
    Lost,
}

/// Reports every nf_tables transaction committed in the calling thread's network namespace
/// from now on. A thread reads them; it ends when the receiver is dropped (at the next event)
/// or the socket fails (the channel then closes).
pub fn generations() -> Result<mpsc::UnboundedReceiver<Generation>> {
    let op = |what: &str| format!("nf_tables events: {what}");
    let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| KernelError::io(op("socket"), e))?;
    sock.bind_auto()
        .map_err(|e| KernelError::io(op("bind"), e))?;
    let _ = sock.set_rx_buf_sz(RECEIVE_BUFFER);
    sock.add_membership(NFNLGRP_NFTABLES)
        .map_err(|e| KernelError::io(op("subscribe"), e))?;
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("berth-nft-events".into())
        .spawn(move || {
            let mut buf = Vec::with_capacity(64 * 1024);
            loop {
                buf.clear();
                let sent = match sock.recv(&mut buf, 0) {
                    Ok(_) => parse(&buf)
                        .into_iter()
                        .try_for_each(|g| tx.send(g).map_err(drop)),
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        tx.send(Generation::Lost).map_err(drop)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
                    Err(_) => return,
                };
                if sent.is_err() {
                    return;
                }
            }
        })
        .map_err(|e| KernelError::io(op("start reader"), e))?;
    Ok(rx)
}

/// The generations announced in one datagram; other messages, and anything truncated, are
/// skipped. Never panics.
fn parse(mut data: &[u8]) -> Vec<Generation> {
    let mut out = Vec::new();
    while data.len() >= 16 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < 16 || len > data.len() {
            break;
        }
        if u16::from_ne_bytes([data[4], data[5]]) == NEWGEN {
            // After the header: struct nfgenmsg (4 bytes), then attributes.
            out.push(Generation::By(pid(data.get(20..len).unwrap_or(&[]))));
        }
        let aligned = len.div_ceil(4) * 4;
        data = &data[aligned.min(data.len())..];
    }
    out
}

fn pid(mut attrs: &[u8]) -> Option<u32> {
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let ty = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if ty == NFTA_GEN_PROC_PID && len == 8 {
            return Some(u32::from_be_bytes([attrs[4], attrs[5], attrs[6], attrs[7]]));
        }
        attrs = attrs.get(len.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newgen(pid: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&NEWGEN.to_ne_bytes());
        m.extend_from_slice(&[0; 10]); // flags, seq, port id
        m.extend_from_slice(&[0, 0, 0, 10]); // nfgenmsg
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&1u16.to_ne_bytes()); // NFTA_GEN_ID
        m.extend_from_slice(&7u32.to_be_bytes());
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&NFTA_GEN_PROC_PID.to_ne_bytes());
        m.extend_from_slice(&pid.to_be_bytes());
        m
    }

    #[test]
    fn generations_name_the_committing_thread() {
        let mut two = newgen(4242);
        two.extend(newgen(17));
        assert_eq!(
            parse(&two),
            [Generation::By(Some(4242)), Generation::By(Some(17))]
        );
    }

    #[test]
    fn parse_never_panics_on_truncated_or_garbage_input() {
        let m = newgen(4242);
        for len in 0..m.len() {
            let _ = parse(&m[..len]);
        }
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = parse(&junk);
        }
    }
}
