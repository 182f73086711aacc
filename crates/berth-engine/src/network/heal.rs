//! Self-healing of berth's firewall: nf_tables announces every committed transaction (a new
//! generation, with the thread that committed it: `berth_kernel::nf_tables::generations`, no
//! polling). After a burst of transactions of which one at least was not berth's own, berthd
//! checks that its own tables still hold what it put there and rebuilds them in one transaction
//! if not (e.g. after `nft flush ruleset` or a firewall service reload). Tables it does not own
//! are never touched. berth's own transactions (its netlink batches, its `nft -f` processes)
//! need no check: listing its tables costs more the more networks there are, and would compete
//! for the CPU with the very change that caused it.

use crate::Engine;
use berth_kernel::nf_tables::generations::{generations, Generation};
use std::sync::Arc;
use std::time::Duration;

/// Whether a transaction was committed by berthd (one of its threads, or an `nft` it ran).
/// Anything unattributable counts as someone else's.
fn foreign(g: Generation) -> bool {
    match g {
        Generation::By(Some(pid)) => {
            !(std::path::Path::new(&format!("/proc/self/task/{pid}")).exists()
                || berth_kernel::nft::ran_here(pid))
        }
        Generation::By(None) | Generation::Lost => true,
    }
}

impl Engine {
    /// Starts the guard task (for the life of the engine).
    pub(crate) fn firewall_guard(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let mut gens = match generations() {
                    Ok(rx) => rx,
                    Err(e) => {
                        tracing::warn!("firewall guard: {e}; self-healing is off");
                        return;
                    }
                };
                while let Some(first) = gens.recv().await {
                    let mut damage_possible = foreign(first);
                    // Let the burst settle, then check once.
                    while let Ok(Some(g)) =
                        tokio::time::timeout(Duration::from_millis(50), gens.recv()).await
                    {
                        damage_possible |= foreign(g);
                    }
                    let Some(engine) = weak.upgrade() else { return };
                    if damage_possible {
                        engine.heal_firewall().await;
                    }
                }
                if weak.upgrade().is_none() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// Rebuilds berth's tables if they lost anything.
    async fn heal_firewall(self: &Arc<Self>) {
        if !self.firewall_intact_async().await {
            // berth's own change may be half-way (its record written, its batch not yet
            // applied): look again before calling it damage.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        if !self.firewall_intact_async().await {
            tracing::warn!("berth's nftables rules were changed behind its back: restoring them");
            let script = self.firewall_full();
            if let Err(e) = self.dataplane.firewall(&script) {
                tracing::warn!("firewall guard: restore failed: {e}");
            }
        }
    }

    /// Starts the link guard (for the life of the engine).
    pub(crate) fn link_guard(self: &Arc<Self>) {
        let Ok(mut deleted) = berth_kernel::netlink::link_deletions() else {
            tracing::warn!(
                "link guard: cannot subscribe to link events; self-healing of links is off"
            );
            return;
        };
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(first) = deleted.recv().await {
                let mut names = vec![first];
                while let Ok(Some(n)) =
                    tokio::time::timeout(Duration::from_millis(50), deleted.recv()).await
                {
                    names.push(n);
                }
                let Some(engine) = weak.upgrade() else { return };
                // Deletions berth made itself (while rewiring) are not damage.
                {
                    let mut own = engine
                        .own_deletions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    names.retain(|n| !own.remove(n));
                }
                if !names.is_empty() {
                    engine.repair_links(&names).await;
                }
            }
        });
    }

    /// Recreates deleted bridges and container veths that berth owns.
    async fn repair_links(&self, deleted: &[String]) {
        let nets: Vec<super::NetworkRec> = self
            .networks
            .list()
            .into_iter()
            .filter(|n| n.is_bridge() && !n.is_overlay())
            .collect();
        let mut rewire: Vec<super::EndpointRec> = Vec::new();
        for n in nets.iter().filter(|n| deleted.contains(&n.bridge)) {
            tracing::warn!(bridge = %n.bridge, "bridge of network {} deleted behind berth's back: recreating it", n.name);
            if let Err(e) = self
                .bring_up(n, false, &mut crate::timing::Phases::new("repair"))
                .await
            {
                tracing::warn!("recreating bridge {}: {e}", n.bridge);
            }
            // Its veths were left detached: put them back (a veth that is gone is rewired).
            for ep in self
                .networks
                .endpoints()
                .into_iter()
                .filter(|e| e.network_id == n.id)
            {
                if self
                    .dataplane
                    .enslave(&ep.host_if, &n.bridge)
                    .await
                    .is_err()
                {
                    rewire.push(ep);
                }
            }
        }
        rewire.extend(
            self.networks
                .endpoints()
                .into_iter()
                .filter(|e| deleted.contains(&e.host_if)),
        );
        rewire.sort_by_key(|e| e.key());
        rewire.dedup_by(|a, b| a.key() == b.key());
        for ep in rewire {
            let (Ok(net), Ok(c)) = (
                self.networks.resolve(&ep.network_id),
                self.find(&ep.container_id),
            ) else {
                continue;
            };
            if !c.is_running() || c.sandbox_key.is_empty() {
                continue;
            }
            tracing::warn!(veth = %ep.host_if, "veth of container {} deleted or detached: wiring it again", c.name);
            self.own_deletions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(ep.host_if.clone());
            let _ = self.dataplane.remove_link(&ep.host_if).await;
            let a = super::endpoint::attachment(&net, &ep, std::path::Path::new(&c.sandbox_key));
            if let Err(e) = self.dataplane.attach(&a).await {
                tracing::warn!("rewiring {}: {e}", ep.host_if);
            }
        }
    }

    /// True when berth's tables hold every chain, network and published port berth expects.
    async fn firewall_intact_async(self: &Arc<Self>) -> bool {
        let e = self.clone();
        tokio::task::spawn_blocking(move || e.firewall_intact())
            .await
            .unwrap_or(true)
    }

    pub(crate) fn firewall_intact(&self) -> bool {
        match self.firewall_damage() {
            None => true,
            Some(what) => {
                tracing::debug!("firewall check: {what}");
                false
            }
        }
    }

    /// What is missing from berth's tables, if anything.
    fn firewall_damage(&self) -> Option<String> {
        // What must be there is what berth's state holds both before and after the listing: a
        // network or port added or removed meanwhile may or may not be in it yet.
        let nets_before = self.settled_firewall_nets();
        let ports_before = self.published_ports();
        // A listing that fails (e.g. a dump interrupted by a concurrent transaction, which berth's
        // own changes cause all the time) says nothing about damage: try again, and when it
        // keeps failing, do not call it damage. Only a missing table is.
        let list = |family: &str| {
            for _ in 0..3 {
                if let Ok(t) = berth_kernel::nft::list_table(family, "berth") {
                    return Ok(t);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(())
        };
        let (inet, bridge) = match (list("inet"), list("bridge")) {
            (Ok(Some(i)), Ok(Some(b))) => (i, b),
            (Err(()), _) | (_, Err(())) => return None,
            _ => return Some("a table is missing".into()),
        };
        let base = [
            "iifname . oifname @same accept",
            "oifname @bridges drop",
            "jump ports",
            "masquerade",
            "@ports_any4",
            "ip daddr 127.0.0.0/8 drop",
            "udp dport 4799 iifname != \"berth-wg0\" drop",
        ];
        let nets_after: Vec<String> = self
            .settled_firewall_nets()
            .into_iter()
            .map(|n| n.key)
            .collect();
        let ports_after = self.published_ports();
        let nets = nets_before
            .into_iter()
            .filter(|n| nets_after.contains(&n.key));
        let ports: Vec<_> = ports_before
            .into_iter()
            .filter(|p| ports_after.contains(p))
            .collect();
        if let Some(b) = base.iter().find(|b| !inet.contains(*b)) {
            return Some(format!("no {b:?} in inet berth"));
        }
        if !bridge.contains("@no_icc4") {
            return Some("no @no_icc4 in bridge berth".into());
        }
        for n in nets {
            if !inet.contains(&format!("\"{0}\" . \"{0}\"", n.bridge)) {
                return Some(format!("bridge {} not in the sets", n.bridge));
            }
        }
        ports
            .iter()
            .find(|p| !inet.contains(&format!("{} . {} :", p.proto, p.host_port)))
            .map(|p| format!("no forwarding of {}/{}", p.host_port, p.proto))
    }
}
