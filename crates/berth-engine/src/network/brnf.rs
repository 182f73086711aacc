//! br_netfilter in berthd's namespace (`berthd --bridge-netfilter keep|off|auto`).
//!
//! berth needs nothing from br_netfilter: ICC is filtered in the bridge family, isolation and
//! NAT sit on the routed path, and hairpinned published-port connections are masqueraded so
//! their replies are routed too. With it on, every frame bridged between two containers (or an
//! overlay peer) also crosses conntrack and the IP hooks of the namespace: ~10% of bridged and
//! ~15% of overlay throughput here (`bench/PROFILE.md`). The switch is per namespace and shared:
//! Docker's and Kubernetes' bridges need it on. So `auto` (the default) turns it off only when
//! berthd's namespace has no bridge but berth's own when berthd starts; `keep` never touches it;
//! `off` always turns it off.

use crate::Engine;
use std::collections::HashSet;

/// `berthd --bridge-netfilter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BridgeNetfilter {
    /// Leave the namespace's switches as they are.
    Keep,
    /// Turn them off at start.
    Off,
    /// Turn them off at start unless a bridge berth does not own exists.
    #[default]
    Auto,
}

/// Whether `mode` turns br_netfilter off, given the bridges of the namespace that are not
/// berth's (`foreign`).
pub fn turns_off(mode: BridgeNetfilter, foreign: &[String]) -> bool {
    match mode {
        BridgeNetfilter::Keep => false,
        BridgeNetfilter::Off => true,
        BridgeNetfilter::Auto => foreign.is_empty(),
    }
}

/// `bridges` without berth's own (`own`), sorted.
pub fn foreign(bridges: Vec<String>, own: &HashSet<String>) -> Vec<String> {
    let mut f: Vec<String> = bridges.into_iter().filter(|b| !own.contains(b)).collect();
    f.sort();
    f
}

impl Engine {
    /// Applies `--bridge-netfilter` once, after berth's own bridges are restored. An explicit
    /// `off` that cannot be applied is an error; `auto` only logs.
    pub(crate) async fn settle_bridge_netfilter(&self) -> crate::Result<()> {
        let mode = self.cfg.bridge_netfilter;
        if mode == BridgeNetfilter::Keep {
            return Ok(());
        }
        let own: HashSet<String> = self
            .networks
            .list()
            .into_iter()
            .filter(|n| n.is_bridge())
            .map(|n| n.bridge)
            .collect();
        let bridges = match self.dataplane.bridges().await {
            Ok(b) => b,
            Err(e) if mode == BridgeNetfilter::Auto => {
                tracing::warn!("br_netfilter left as it is: cannot list bridges: {e}");
                return Ok(());
            }
            Err(e) => return Err(crate::EngineError::Internal(format!("list bridges: {e}"))),
        };
        let foreign = foreign(bridges, &own);
        if !turns_off(mode, &foreign) {
            tracing::info!(
                ?foreign,
                "br_netfilter left as it is: bridges berth does not own may need it"
            );
            return Ok(());
        }
        match self.dataplane.bridge_netfilter_off() {
            Ok(off) if off.is_empty() => {}
            Ok(off) => tracing::info!(?off, "br_netfilter off: bridged frames skip the IP hooks"),
            Err(e) if mode == BridgeNetfilter::Auto => {
                tracing::warn!("br_netfilter left as it is: {e}")
            }
            Err(e) => return Err(crate::EngineError::Internal(e)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn auto_turns_off_only_without_foreign_bridges() {
        let own: HashSet<String> = names(&["berth0", "br-0123456789ab"]).into_iter().collect();
        let only_ours = foreign(names(&["berth0", "br-0123456789ab"]), &own);
        assert!(only_ours.is_empty());
        assert!(turns_off(BridgeNetfilter::Auto, &only_ours));
        let with_docker = foreign(names(&["docker0", "berth0", "br-fedcba987654"]), &own);
        assert_eq!(with_docker, names(&["br-fedcba987654", "docker0"]));
        assert!(!turns_off(BridgeNetfilter::Auto, &with_docker));
    }

    #[test]
    fn keep_and_off_do_not_look_at_bridges() {
        let docker = names(&["docker0"]);
        assert!(!turns_off(BridgeNetfilter::Keep, &[]));
        assert!(turns_off(BridgeNetfilter::Off, &docker));
    }
}
