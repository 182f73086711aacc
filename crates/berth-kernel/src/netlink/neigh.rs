//! Static forwarding (FDB) entries of VXLAN devices and permanent neighbour (ARP/ND) entries.
//!
//! Both are `RTM_NEWNEIGH` / `RTM_DELNEIGH` requests: an FDB entry is a neighbour of family
//! `AF_BRIDGE` keyed by MAC whose "destination" is the remote VTEP, with `NTF_SELF` so the VXLAN
//! device's own table is meant (without it a bridge port's request goes to the bridge's FDB).
//!
//! Adding replaces an existing entry for the same key, so adds can be repeated and move a MAC
//! or an IP to a new remote or MAC. Deleting an entry (or device) that is not there succeeds,
//! so teardown can be repeated.

use super::{check_ifname, Netlink, Req};
use crate::{KernelError, Result};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use std::net::IpAddr;

impl Netlink {
    /// Static FDB entry on the VXLAN device `vxlan_dev`: frames for `mac` are sent to the remote
    /// VTEP `remote` (the peer host's underlay address) on the device's UDP port and VNI.
    /// The entry is permanent (`self` flag); an entry for `mac` pointing elsewhere is replaced.
    pub async fn fdb_add(&self, vxlan_dev: &str, mac: [u8; 6], remote: IpAddr) -> Result<()> {
        let op = format!(
            "add fdb entry {} dst {remote} dev {vxlan_dev}",
            fmt_mac(&mac)
        );
        check_unicast_mac(&op, &mac)?;
        check_unicast_ip(&op, remote)?;
        let link = self
            .get_link(vxlan_dev)
            .await?
            .ok_or_else(|| KernelError::Netlink {
                op: op.clone(),
                message: format!("no interface named {vxlan_dev}"),
            })?;
        // The kernel would accept a remote of the other address family and then drop every
        // frame for it; refuse it here instead.
        match vxlan_local_family(&link.attributes) {
            Err(()) => {
                return Err(KernelError::Netlink {
                    op,
                    message: format!("{vxlan_dev} is not a vxlan device"),
                })
            }
            Ok(Some(v6)) if v6 != remote.is_ipv6() => {
                return Err(KernelError::Netlink {
                    op,
                    message: format!(
                        "{vxlan_dev} has an IPv{} local address",
                        if v6 { 6 } else { 4 }
                    ),
                })
            }
            Ok(_) => {}
        }
        self.ack(Req {
            msg: RouteNetlinkMessage::NewNeighbour(fdb_msg(link.header.index, mac, remote)),
            flags: NLM_F_CREATE | NLM_F_REPLACE,
            ok_errnos: &[],
            op,
        })
        .await
    }

    /// Removes the FDB entry `mac` → `remote` from the VXLAN device `vxlan_dev`. An entry that
    /// is not there (or points to another remote), or a missing device, is not an error.
    pub async fn fdb_del(&self, vxlan_dev: &str, mac: [u8; 6], remote: IpAddr) -> Result<()> {
        let op = format!(
            "delete fdb entry {} dst {remote} dev {vxlan_dev}",
            fmt_mac(&mac)
        );
        check_ifname(&op, vxlan_dev)?;
        let Some(index) = self.link_index(vxlan_dev).await? else {
            return Ok(());
        };
        self.ack(Req {
            msg: RouteNetlinkMessage::DelNeighbour(fdb_msg(index, mac, remote)),
            flags: 0,
            ok_errnos: &[libc::ENOENT],
            op,
        })
        .await
    }

    /// Permanent neighbour (ARP for IPv4, ND for IPv6) entry `ip` → `mac` on device `dev`; an
    /// entry for `ip` with another MAC is replaced.
    ///
    /// For overlay peers `dev` is the VXLAN device made by `ensure_vxlan`: with its proxy flag
    /// it answers the ARP requests and neighbour solicitations of local containers from these
    /// entries, so neighbour discovery never crosses the tunnel.
    pub async fn neigh_add(&self, dev: &str, ip: IpAddr, mac: [u8; 6]) -> Result<()> {
        let op = format!("add neighbour {ip} lladdr {} dev {dev}", fmt_mac(&mac));
        check_unicast_mac(&op, &mac)?;
        check_unicast_ip(&op, ip)?;
        check_ifname(&op, dev)?;
        let index = self
            .link_index(dev)
            .await?
            .ok_or_else(|| KernelError::Netlink {
                op: op.clone(),
                message: format!("no interface named {dev}"),
            })?;
        let mut msg = neigh_msg(index, ip);
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.ack(Req {
            msg: RouteNetlinkMessage::NewNeighbour(msg),
            flags: NLM_F_CREATE | NLM_F_REPLACE,
            ok_errnos: &[],
            op,
        })
        .await
    }

    /// Removes the neighbour entry for `ip` on device `dev`. A missing entry or device is not an
    /// error.
    pub async fn neigh_del(&self, dev: &str, ip: IpAddr) -> Result<()> {
        let op = format!("delete neighbour {ip} dev {dev}");
        check_ifname(&op, dev)?;
        let Some(index) = self.link_index(dev).await? else {
            return Ok(());
        };
        self.ack(Req {
            msg: RouteNetlinkMessage::DelNeighbour(neigh_msg(index, ip)),
            flags: 0,
            ok_errnos: &[libc::ENOENT],
            op,
        })
        .await
    }
}

fn neigh_address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(a) => NeighbourAddress::Inet(a),
        IpAddr::V6(a) => NeighbourAddress::Inet6(a),
    }
}

/// `bridge fdb {add|del} MAC dev <index> dst REMOTE self permanent`.
fn fdb_msg(index: u32, mac: [u8; 6], remote: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = index;
    m.header.state = NeighbourState::Permanent;
    m.header.flags = NeighbourFlags::Own;
    m.attributes = vec![
        NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        NeighbourAttribute::Destination(neigh_address(remote)),
    ];
    m
}

/// `ip neigh {add|del} IP dev <index> nud permanent` (without the lladdr).
fn neigh_msg(index: u32, ip: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    m.header.ifindex = index;
    m.header.state = NeighbourState::Permanent;
    m.attributes = vec![NeighbourAttribute::Destination(neigh_address(ip))];
    m
}

/// `Ok(Some(is_ipv6))` for a VXLAN link with a local address, `Ok(None)` for one without,
/// `Err(())` for a link that is not VXLAN.
fn vxlan_local_family(attrs: &[LinkAttribute]) -> std::result::Result<Option<bool>, ()> {
    let infos = attrs
        .iter()
        .find_map(|a| match a {
            LinkAttribute::LinkInfo(i) => Some(i),
            _ => None,
        })
        .ok_or(())?;
    if !infos
        .iter()
        .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Vxlan)))
    {
        return Err(());
    }
    let data = infos.iter().find_map(|i| match i {
        LinkInfo::Data(InfoData::Vxlan(d)) => Some(d),
        _ => None,
    });
    Ok(data.into_iter().flatten().find_map(|a| match a {
        InfoVxlan::Local(a) if !a.is_unspecified() => Some(false),
        InfoVxlan::Local6(a) if !a.is_unspecified() => Some(true),
        _ => None,
    }))
}

fn fmt_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn check_unicast_mac(op: &str, mac: &[u8; 6]) -> Result<()> {
    if mac.iter().all(|b| *b == 0) || mac[0] & 1 == 1 {
        return Err(KernelError::Netlink {
            op: op.into(),
            message: format!("{} is not a unicast MAC address", fmt_mac(mac)),
        });
    }
    Ok(())
}

fn check_unicast_ip(op: &str, ip: IpAddr) -> Result<()> {
    let bad =
        ip.is_unspecified() || ip.is_multicast() || matches!(ip, IpAddr::V4(a) if a.is_broadcast());
    if bad {
        return Err(KernelError::Netlink {
            op: op.into(),
            message: format!("{ip} is not a unicast address"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::Emitable;

    #[test]
    fn fdb_message_is_self_permanent_bridge_family() {
        let m = fdb_msg(7, [2, 0x42, 0, 0, 0, 1], "10.240.0.2".parse().unwrap());
        assert_eq!(m.header.family, AddressFamily::Bridge);
        assert_eq!(m.header.ifindex, 7);
        assert_eq!(m.header.state, NeighbourState::Permanent);
        assert_eq!(m.header.flags, NeighbourFlags::Own);
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut buf);
        // ndmsg (12) + NDA_LLADDR (4 + 6, padded to 12) + NDA_DST (4 + 4).
        assert_eq!(buf.len(), 12 + 12 + 8);
        assert_eq!(buf[0], libc::AF_BRIDGE as u8);
    }

    #[test]
    fn neighbour_message_family_follows_the_address() {
        let v4 = neigh_msg(3, "10.50.0.3".parse().unwrap());
        assert_eq!(v4.header.family, AddressFamily::Inet);
        let v6 = neigh_msg(3, "fd50::3".parse().unwrap());
        assert_eq!(v6.header.family, AddressFamily::Inet6);
        assert_eq!(v6.header.state, NeighbourState::Permanent);
    }

    #[test]
    fn refuses_non_unicast_input() {
        assert!(check_unicast_mac("t", &[0; 6]).is_err());
        assert!(check_unicast_mac("t", &[0xff; 6]).is_err());
        assert!(check_unicast_mac("t", &[1, 0, 0x5e, 0, 0, 1]).is_err());
        assert!(check_unicast_mac("t", &[2, 0x42, 0, 0, 0, 1]).is_ok());
        for bad in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1"] {
            assert!(
                check_unicast_ip("t", bad.parse().unwrap()).is_err(),
                "{bad}"
            );
        }
        let e = check_unicast_mac("add fdb entry", &[0xff; 6])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("add fdb entry") && e.contains("ff:ff:ff:ff:ff:ff"),
            "{e}"
        );
    }

    #[test]
    fn local_family_of_vxlan_links() {
        let link = |kind: InfoKind, data: Vec<InfoVxlan>| {
            vec![LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(kind),
                LinkInfo::Data(InfoData::Vxlan(data)),
            ])]
        };
        let v4 = link(
            InfoKind::Vxlan,
            vec![InfoVxlan::Local("10.0.0.1".parse().unwrap())],
        );
        assert_eq!(vxlan_local_family(&v4), Ok(Some(false)));
        let v6 = link(
            InfoKind::Vxlan,
            vec![InfoVxlan::Local6("fd00::1".parse().unwrap())],
        );
        assert_eq!(vxlan_local_family(&v6), Ok(Some(true)));
        assert_eq!(vxlan_local_family(&link(InfoKind::Vxlan, vec![])), Ok(None));
        assert_eq!(vxlan_local_family(&link(InfoKind::Bridge, vec![])), Err(()));
        assert_eq!(vxlan_local_family(&[]), Err(()));
    }
}
