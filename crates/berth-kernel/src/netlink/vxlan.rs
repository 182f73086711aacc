//! VXLAN devices for overlay networks.
//!
//! An overlay network on one host is a bridge with a VXLAN device as one of its ports. The VXLAN
//! device is fully static: source-address learning is off, there is no default remote and no
//! multicast group, so it sends a frame across the tunnel only if its own forwarding database
//! has an entry for the destination MAC (see `neigh.rs`: `fdb_add`). Broadcast and unknown
//! unicast frames never leave the host.
//!
//! ARP and IPv6 neighbour discovery therefore cannot cross the tunnel. Instead the device is
//! created with the `proxy` flag (as Docker's overlay driver does): it answers every ARP request
//! and neighbour solicitation it is asked to send from its own neighbour table, which the engine
//! fills with `neigh_add(vxlan_dev, ip, mac)` for every remote container. The answer goes back
//! through the bridge to the asking container; requests without an entry are dropped.

use super::{check_ifname, Netlink, Req};
use crate::{KernelError, Result};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::{LinkUnspec, LinkVxlan};
use std::net::IpAddr;

/// The largest VNI: VXLAN network identifiers have 24 bits.
const VXLAN_MAX_VNI: u32 = (1 << 24) - 1;

/// The configuration of an existing VXLAN device, as far as `ensure_vxlan` cares.
#[derive(Debug, Default, PartialEq, Eq)]
struct VxlanConf {
    vni: Option<u32>,
    port: Option<u16>,
    local: Option<IpAddr>,
    remote: Option<IpAddr>,
    learning: bool,
    proxy: bool,
}

impl Netlink {
    /// Creates (or adopts) a VXLAN device: VNI `vni`, UDP destination port `port` (4789 is the
    /// IANA port), source address `local` (the host's underlay address), learning off, no
    /// default remote, ARP/ND proxy on, MTU `mtu` (the underlay MTU minus 50 for an IPv4
    /// underlay, minus 70 for IPv6), enslaved to the bridge `master` and up. Returns the
    /// device's ifindex.
    ///
    /// An existing VXLAN device of that name is adopted if it has exactly this configuration:
    /// it is then (re)attached to `master`, given `mtu` and brought up. One that differs in VNI,
    /// port, local address, default remote, learning or proxy is refused (naming the
    /// differences) rather than silently replaced, since replacing it would drop its forwarding
    /// entries; delete it with `delete_link` first. A link of that name that is not a VXLAN
    /// device is refused too.
    pub async fn ensure_vxlan(
        &self,
        name: &str,
        vni: u32,
        local: IpAddr,
        port: u16,
        master: &str,
        mtu: Option<u32>,
    ) -> Result<u32> {
        let op =
            format!("create vxlan {name} (vni {vni}, local {local}, port {port}, master {master})");
        check_ifname(&op, name)?;
        check_ifname(&op, master)?;
        let invalid = |message: String| KernelError::Netlink {
            op: op.clone(),
            message,
        };
        if vni > VXLAN_MAX_VNI {
            return Err(invalid(format!("VNI {vni} does not fit in 24 bits")));
        }
        if port == 0 {
            return Err(invalid("UDP port 0".into()));
        }
        if local.is_unspecified() || local.is_multicast() {
            return Err(invalid(format!(
                "local address {local} is not a unicast address"
            )));
        }
        let master_index = self
            .link_index(master)
            .await?
            .ok_or_else(|| invalid(format!("bridge {master} does not exist")))?;

        if self.get_link(name).await?.is_none() {
            let mut b = LinkVxlan::new(name, vni)
                .port(port)
                .learning(false)
                .proxy(true)
                .controller(master_index)
                .up();
            b = match local {
                IpAddr::V4(a) => b.local(a),
                IpAddr::V6(a) => b.local6(a),
            };
            if let Some(mtu) = mtu {
                b = b.mtu(mtu);
            }
            // EEXIST: created concurrently; it is checked like any existing device below.
            self.ack(Req {
                msg: RouteNetlinkMessage::NewLink(b.build()),
                flags: NLM_F_CREATE | NLM_F_EXCL,
                ok_errnos: &[libc::EEXIST],
                op: op.clone(),
            })
            .await?;
        }

        let link = self
            .get_link(name)
            .await?
            .ok_or_else(|| invalid("vxlan device vanished after creation".into()))?;
        let conf = match vxlan_conf(&link) {
            Ok(conf) => conf,
            Err(kind) => {
                return Err(invalid(format!(
                    "a link named {name} exists and is a {kind}, not a vxlan device"
                )))
            }
        };
        let want = VxlanConf {
            vni: Some(vni),
            port: Some(port),
            local: Some(local),
            remote: None,
            learning: false,
            proxy: true,
        };
        let diffs = conf_differences(&conf, &want);
        if !diffs.is_empty() {
            return Err(invalid(format!(
                "a vxlan device named {name} exists with a different configuration ({}); \
                 delete it first",
                diffs.join(", ")
            )));
        }

        let index = link.header.index;
        let attr = |f: fn(&LinkAttribute) -> Option<u32>| link.attributes.iter().find_map(f);
        let cur_master = attr(|a| match a {
            LinkAttribute::Controller(i) => Some(*i),
            _ => None,
        });
        let cur_mtu = attr(|a| match a {
            LinkAttribute::Mtu(m) => Some(*m),
            _ => None,
        });
        let is_up = link.header.flags.contains(LinkFlags::Up);
        if cur_master != Some(master_index) || (mtu.is_some() && cur_mtu != mtu) || !is_up {
            let mut set = LinkUnspec::new_with_index(index)
                .controller(master_index)
                .up();
            if let Some(mtu) = mtu {
                set = set.mtu(mtu);
            }
            self.ack(Req {
                msg: RouteNetlinkMessage::SetLink(set.build()),
                flags: 0,
                ok_errnos: &[],
                op: format!("set vxlan {name} master {master}/mtu/up"),
            })
            .await?;
        }
        Ok(index)
    }
}

/// The VXLAN configuration of `link`, or the link's kind (for the error) if it is not VXLAN.
fn vxlan_conf(link: &LinkMessage) -> std::result::Result<VxlanConf, String> {
    let infos = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => Some(infos),
        _ => None,
    });
    let kind = infos.and_then(|infos| {
        infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k),
            _ => None,
        })
    });
    match kind {
        Some(InfoKind::Vxlan) => {}
        Some(other) => return Err(other.to_string()),
        None => return Err("link of unknown kind".into()),
    }
    let mut conf = VxlanConf::default();
    let data = infos.into_iter().flatten().find_map(|i| match i {
        LinkInfo::Data(InfoData::Vxlan(d)) => Some(d),
        _ => None,
    });
    for a in data.into_iter().flatten() {
        match a {
            InfoVxlan::Id(v) => conf.vni = Some(*v),
            InfoVxlan::Port(p) => conf.port = Some(*p),
            InfoVxlan::Local(a) if !a.is_unspecified() => conf.local = Some((*a).into()),
            InfoVxlan::Local6(a) if !a.is_unspecified() => conf.local = Some((*a).into()),
            InfoVxlan::Group(a) if !a.is_unspecified() => conf.remote = Some((*a).into()),
            InfoVxlan::Group6(a) if !a.is_unspecified() => conf.remote = Some((*a).into()),
            InfoVxlan::Learning(l) => conf.learning = *l,
            InfoVxlan::Proxy(p) => conf.proxy = *p,
            _ => {}
        }
    }
    Ok(conf)
}

/// Human-readable differences between an existing device's configuration and the wanted one.
fn conf_differences(have: &VxlanConf, want: &VxlanConf) -> Vec<String> {
    fn show<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into())
    }
    let mut out = Vec::new();
    if have.vni != want.vni {
        out.push(format!("vni {}", show(&have.vni)));
    }
    if have.port != want.port {
        out.push(format!("port {}", show(&have.port)));
    }
    if have.local != want.local {
        out.push(format!("local {}", show(&have.local)));
    }
    if have.remote != want.remote {
        out.push(format!("remote {}", show(&have.remote)));
    }
    if have.learning != want.learning {
        out.push(format!(
            "learning {}",
            if have.learning { "on" } else { "off" }
        ));
    }
    if have.proxy != want.proxy {
        out.push(format!("proxy {}", if have.proxy { "on" } else { "off" }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vxlan_link(data: Vec<InfoVxlan>) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        m
    }

    #[test]
    fn reads_vxlan_configuration() {
        let m = vxlan_link(vec![
            InfoVxlan::Id(4242),
            InfoVxlan::Port(4789),
            InfoVxlan::Local("10.0.0.1".parse().unwrap()),
            InfoVxlan::Group("0.0.0.0".parse().unwrap()),
            InfoVxlan::Learning(false),
            InfoVxlan::Proxy(true),
        ]);
        let want = VxlanConf {
            vni: Some(4242),
            port: Some(4789),
            local: Some("10.0.0.1".parse().unwrap()),
            remote: None,
            learning: false,
            proxy: true,
        };
        let have = vxlan_conf(&m).unwrap();
        assert_eq!(have, want);
        assert!(conf_differences(&have, &want).is_empty());
    }

    #[test]
    fn names_every_difference() {
        let m = vxlan_link(vec![
            InfoVxlan::Id(7),
            InfoVxlan::Port(8472),
            InfoVxlan::Local6("fd00::1".parse().unwrap()),
            InfoVxlan::Group("10.9.9.9".parse().unwrap()),
            InfoVxlan::Learning(true),
            InfoVxlan::Proxy(false),
        ]);
        let want = VxlanConf {
            vni: Some(4242),
            port: Some(4789),
            local: Some("10.0.0.1".parse().unwrap()),
            remote: None,
            learning: false,
            proxy: true,
        };
        let d = conf_differences(&vxlan_conf(&m).unwrap(), &want).join(", ");
        assert_eq!(
            d,
            "vni 7, port 8472, local fd00::1, remote 10.9.9.9, learning on, proxy off"
        );
    }

    #[test]
    fn other_kinds_are_named() {
        let mut m = LinkMessage::default();
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        assert_eq!(vxlan_conf(&m).unwrap_err(), "bridge");
        assert_eq!(
            vxlan_conf(&LinkMessage::default()).unwrap_err(),
            "link of unknown kind"
        );
    }
}
