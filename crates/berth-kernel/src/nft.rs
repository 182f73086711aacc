//! nftables through the `nft` tool: every change is one script applied as one atomic
//! transaction (`nft -f -`), so the ruleset is never seen half-changed.

use crate::{KernelError, Result};
use std::collections::VecDeque;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The pids of the last `nft -f` processes started here: their transactions are berth's own.
static OWN: Mutex<VecDeque<u32>> = Mutex::new(VecDeque::new());
const OWN_KEPT: usize = 64;

/// Whether `pid` is one of the last `nft` processes [`apply`] ran (the firewall guard does not
/// take berth's own transactions for damage).
pub fn ran_here(pid: u32) -> bool {
    OWN.lock().unwrap_or_else(|p| p.into_inner()).contains(&pid)
}

/// Applies `script` atomically. The error carries nft's own message.
pub fn apply(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KernelError::io("run nft (is the nftables package installed?)", e))?;
    {
        let mut own = OWN.lock().unwrap_or_else(|p| p.into_inner());
        if own.len() == OWN_KEPT {
            own.pop_front();
        }
        own.push_back(child.id());
    }
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| KernelError::io("write nft script", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| KernelError::io("wait for nft", e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(KernelError::io(
            "nft",
            std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        ))
    }
}

/// Lists a table as nft prints it; `None` if the table does not exist.
pub fn list_table(family: &str, name: &str) -> Result<Option<String>> {
    let out = Command::new("nft")
        .args(["list", "table", family, name])
        .output()
        .map_err(|e| KernelError::io("run nft", e))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Forgets conntrack entries of UDP flows to `port` (after a published UDP port moves, so an
/// existing flow follows the new container, as Docker does). Uses the `conntrack` tool when
/// present; best effort.
pub fn forget_udp_flows(port: u16) {
    let _ = Command::new("conntrack")
        .args(["-D", "-p", "udp", "--orig-port-dst", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
