//! Links: lookup, bridges, veth pairs, deletion, and per-interface configuration.

use super::{check_ifname, Netlink, Req};
use crate::{KernelError, Result};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::link::{
    BridgeStpState, InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkInfo,
    LinkMessage, State,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Ports a Linux bridge can hold (port numbers 1..1023: `BR_MAX_PORTS` is 1024).
pub const MAX_BRIDGE_PORTS: usize = 1023;

impl Netlink {
    /// ifindex of a link by name, `None` if there is no such link.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>> {
        Ok(self.get_link(name).await?.map(|m| m.header.index))
    }

    /// Names of all links of this namespace.
    pub async fn link_names(&self) -> Result<Vec<String>> {
        self.names_of_links(|_| true).await
    }

    /// Names of the bridges of this namespace.
    pub async fn bridge_names(&self) -> Result<Vec<String>> {
        self.names_of_links(|l| link_kind(l) == Some(&InfoKind::Bridge))
            .await
    }

    /// Names of the links of this namespace that `keep` accepts (one dump).
    async fn names_of_links(&self, keep: impl Fn(&LinkMessage) -> bool) -> Result<Vec<String>> {
        let req = LinkMessageBuilder::<LinkUnspec>::new()
            .append_extra_attribute(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]))
            .build();
        let msgs = self
            .dump("list links", RouteNetlinkMessage::GetLink(req))
            .await?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) if keep(&l) => link_name(&l).map(str::to_owned),
                _ => None,
            })
            .collect())
    }

    /// Creates a bridge (or accepts an existing bridge of that name), sets its MTU if given and
    /// brings it up. A new bridge has STP off and forward delay 0, so ports forward at once.
    /// Returns the bridge's ifindex.
    pub async fn ensure_bridge(&self, name: &str, mtu: Option<u32>) -> Result<u32> {
        let op = format!("create bridge {name}");
        check_ifname(&op, name)?;
        // Multicast snooping off: with it on, every port added or removed walks every other
        // port's multicast timers (br_port_state_selection → br_multicast_enable_port), a cost
        // that grows with the containers on the bridge. Off, multicast is flooded to all ports,
        // as on a plain switch (what containers without an IGMP querier get anyway).
        let mut b = LinkBridge::new(name)
            .stp_state(BridgeStpState::Disabled)
            .forward_delay(0)
            .mcast_snooping(false);
        if let Some(mtu) = mtu {
            b = b.mtu(mtu);
        }
        let create = Req {
            msg: RouteNetlinkMessage::NewLink(b.build()),
            flags: NLM_F_CREATE | NLM_F_EXCL,
            ok_errnos: &[libc::EEXIST],
            op: op.clone(),
        };
        self.ack(create).await?;
        let link = self
            .get_link(name)
            .await?
            .ok_or_else(|| KernelError::Netlink {
                op: op.clone(),
                message: "bridge vanished after creation".into(),
            })?;
        match link_kind(&link) {
            Some(InfoKind::Bridge) => {}
            other => {
                let kind = other
                    .map(|k| k.to_string())
                    .unwrap_or_else(|| "unknown".into());
                return Err(KernelError::Netlink {
                    op,
                    message: format!("a link named {name} exists and is a {kind}, not a bridge"),
                });
            }
        }
        let index = link.header.index;
        // An existing bridge keeps its settings, but gets the requested MTU and is brought up.
        let mtu_ok = mtu.is_none()
            || link
                .attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::Mtu(m) if Some(*m) == mtu));
        let is_up = link
            .header
            .flags
            .contains(rtnetlink::packet_route::link::LinkFlags::Up);
        if !mtu_ok || !is_up {
            let mut set = LinkUnspec::new_with_index(index).up();
            if let Some(mtu) = mtu {
                set = set.mtu(mtu);
            }
            self.ack(Req {
                msg: RouteNetlinkMessage::SetLink(set.build()),
                flags: 0,
                ok_errnos: &[],
                op: format!("set bridge {name} mtu/up"),
            })
            .await?;
        }
        Ok(index)
    }

    /// Enslaves `name` to bridge `master` and brings it up (a port a deleted bridge left behind).
    pub async fn set_master(&self, name: &str, master: &str) -> Result<()> {
        let op = format!("attach {name} to bridge {master}");
        let index = self
            .link_index(master)
            .await?
            .ok_or_else(|| KernelError::Netlink {
                op: op.clone(),
                message: format!("bridge {master} does not exist"),
            })?;
        let msg = LinkUnspec::new_with_name(name)
            .controller(index)
            .up()
            .build();
        self.ack(Req {
            msg: RouteNetlinkMessage::SetLink(msg),
            flags: 0,
            ok_errnos: &[],
            op,
        })
        .await
    }

    /// Takes a bridge port off its bridge and down (no frame passes any more); cheap, unlike
    /// deleting it. A missing link is not an error.
    pub async fn unplug(&self, name: &str) -> Result<()> {
        let op = format!("unplug {name}");
        check_ifname(&op, name)?;
        let msg = LinkUnspec::new_with_name(name)
            .nocontroller()
            .down()
            .build();
        self.ack(Req {
            msg: RouteNetlinkMessage::SetLink(msg),
            flags: 0,
            ok_errnos: &[libc::ENODEV],
            op,
        })
        .await
    }

    /// Deletes a link by name; a missing link is not an error.
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        let op = format!("delete link {name}");
        check_ifname(&op, name)?;
        self.ack(Req {
            msg: RouteNetlinkMessage::DelLink(LinkUnspec::new_with_name(name).build()),
            flags: 0,
            ok_errnos: &[libc::ENODEV],
            op,
        })
        .await
    }

    /// Creates a veth pair in one request: `host_if` stays in this namespace, enslaved to the
    /// bridge `master`, with MTU `mtu`, and up; its peer is created directly inside the namespace
    /// pinned at `peer_netns` (it never appears here), named `peer_name` there, with the same MTU.
    ///
    /// The kernel creates the pair atomically, so a refused request leaves nothing behind; if the
    /// outcome is unknown (no answer) `host_if` is deleted on a best-effort basis.
    pub async fn create_veth(
        &self,
        host_if: &str,
        master: &str,
        mtu: Option<u32>,
        peer_netns: &Path,
        peer_name: &str,
    ) -> Result<()> {
        let op = format!(
            "create veth {host_if} (peer {peer_name} in {}, master {master})",
            peer_netns.display()
        );
        check_ifname(&op, host_if)?;
        check_ifname(&op, peer_name)?;
        check_ifname(&op, master)?;
        let master_index = self
            .link_index(master)
            .await?
            .ok_or_else(|| KernelError::Netlink {
                op: op.clone(),
                message: format!("bridge {master} does not exist"),
            })?;
        let ns = std::fs::File::open(peer_netns)
            .map_err(|e| KernelError::io(format!("{op}: open {}", peer_netns.display()), e))?;
        let mut peer = LinkUnspec::new_with_name(peer_name).setns_by_fd(ns.as_raw_fd());
        if let Some(mtu) = mtu {
            peer = peer.mtu(mtu);
        }
        // Created down: IPv6 is turned off on the bridge port before it comes up (below).
        let mut host = LinkVeth::new(host_if, peer_name)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .controller(master_index);
        if let Some(mtu) = mtu {
            host = host.mtu(mtu);
        }
        let res = self
            .ack(Req {
                msg: RouteNetlinkMessage::NewLink(host.build()),
                flags: NLM_F_CREATE | NLM_F_EXCL,
                ok_errnos: &[],
                op,
            })
            .await;
        // The namespace fd must stay open until the kernel has handled the request.
        drop(ns);
        if let Err(KernelError::Netlink { .. }) = &res {
            // Not a refusal from the kernel: the pair may exist. Do not leave it behind.
            let _ = self.delete_link(host_if).await;
        }
        if let Err(KernelError::Io { source, .. }) = &res {
            if source.raw_os_error() == Some(libc::EXFULL) {
                return Err(KernelError::Netlink {
                    op: format!("create veth {host_if}"),
                    message: format!(
                        "bridge {master} is full: Linux allows at most {} ports (containers) per bridge",
                        MAX_BRIDGE_PORTS
                    ),
                });
            }
        }
        res?;
        // A bridge port needs no IPv6 of its own. Left on, every port adds link-local and
        // multicast routes to the host's IPv6 table, and the kernel walks that whole table
        // whenever any interface goes down: the 1000th container's attach and detach cost
        // many times the 10th's.
        if let Err(e) = self.disable_ipv6(host_if).await {
            let _ = self.delete_link(host_if).await;
            return Err(e);
        }
        // Hairpin mode: a container reaching its own published port through the host's
        // address gets the (DNAT'd) frame back on the port it came from when br_netfilter
        // handles the bridge.
        let hairpin = LinkUnspec::new_with_name(host_if)
            .up()
            .set_port_kind(rtnetlink::packet_route::link::InfoPortKind::Bridge)
            .set_port_data(rtnetlink::packet_route::link::InfoPortData::BridgePort(
                vec![rtnetlink::packet_route::link::InfoBridgePort::HairpinMode(
                    true,
                )],
            ));
        let set = self
            .ack(Req {
                // Port options are changed through RTM_NEWLINK (changelink), not RTM_SETLINK.
                msg: RouteNetlinkMessage::NewLink(hairpin.build()),
                flags: 0,
                ok_errnos: &[],
                op: format!("set hairpin mode on {host_if} and bring it up"),
            })
            .await;
        if set.is_err() {
            let _ = self.delete_link(host_if).await;
        }
        set
    }

    /// Inside this namespace: sets the MAC (if given) and MTU (if given) of `name`, brings it and
    /// `lo` up, adds `addrs`, and adds default routes via `gw4` / `gw6` through `name`.
    /// Addresses and routes that are already there count as success, so this can be repeated.
    /// Everything after the index lookup goes to the kernel in one datagram.
    pub async fn configure_interface(
        &self,
        name: &str,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
        addrs: &[ipnet::IpNet],
        gw4: Option<Ipv4Addr>,
        gw6: Option<Ipv6Addr>,
    ) -> Result<()> {
        let op = format!("configure interface {name}");
        check_ifname(&op, name)?;
        let index = self
            .link_index(name)
            .await?
            .ok_or_else(|| KernelError::Netlink {
                op: op.clone(),
                message: format!("no interface named {name}"),
            })?;
        let mut set = LinkUnspec::new_with_index(index).up();
        if let Some(mac) = mac {
            set = set.address(mac.to_vec());
        }
        if let Some(mtu) = mtu {
            set = set.mtu(mtu);
        }
        let mut reqs = vec![
            Req {
                msg: RouteNetlinkMessage::SetLink(set.build()),
                flags: 0,
                ok_errnos: &[],
                op: format!(
                    "{op}: set {}mtu/up",
                    if mac.is_some() { "mac/" } else { "" }
                ),
            },
            Req {
                msg: RouteNetlinkMessage::SetLink(LinkUnspec::new_with_name("lo").up().build()),
                flags: 0,
                ok_errnos: &[],
                op: format!("{op}: set lo up"),
            },
        ];
        for a in addrs {
            reqs.push(super::addr::add_req(index, name, *a));
        }
        if let Some(gw) = gw4 {
            reqs.push(super::route::default_route_req(index, name, gw.into()));
        }
        if let Some(gw) = gw6 {
            reqs.push(super::route::default_route_req(index, name, gw.into()));
        }
        self.batch(reqs).await
    }

    /// Waits until `name` is operationally up (carrier on and the kernel's link-watch work
    /// done, which is also when its transmit queue stops dropping packets), at most `limit`.
    /// Returns how long it waited; `Ok` even if the limit passed (the caller decides).
    pub async fn wait_oper_up(
        &self,
        name: &str,
        limit: std::time::Duration,
    ) -> Result<std::time::Duration> {
        let t0 = std::time::Instant::now();
        loop {
            let up = self.get_link(name).await?.is_some_and(|m| {
                m.attributes
                    .iter()
                    .any(|a| matches!(a, LinkAttribute::OperState(State::Up)))
            });
            if up || t0.elapsed() >= limit {
                return Ok(t0.elapsed());
            }
            tokio::time::sleep(std::time::Duration::from_micros(500)).await;
        }
    }

    /// The link message of `name`, `None` if there is no such link.
    pub(crate) async fn get_link(&self, name: &str) -> Result<Option<LinkMessage>> {
        let op = format!("look up link {name}");
        check_ifname(&op, name)?;
        let req = LinkUnspec::new_with_name(name)
            .append_extra_attribute(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]))
            .build();
        match self.get(&op, RouteNetlinkMessage::GetLink(req)).await? {
            Ok(RouteNetlinkMessage::NewLink(m)) => Ok(Some(m)),
            Ok(_) => Err(KernelError::Netlink {
                op,
                message: "unexpected answer".into(),
            }),
            Err(n) if n.errno == libc::ENODEV => Ok(None),
            Err(n) => Err(n.into_error(op)),
        }
    }
}

fn link_name(m: &LinkMessage) -> Option<&str> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

fn link_kind(m: &LinkMessage) -> Option<&InfoKind> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        }),
        _ => None,
    })
}
