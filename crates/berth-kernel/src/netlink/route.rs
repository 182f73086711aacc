//! Routes: default routes of containers and the destinations of the main table.

use super::{Netlink, Req};
use crate::Result;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::RouteMessageBuilder;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Netlink {
    /// Destination prefixes of all IPv4 and IPv6 routes in the main table of this namespace,
    /// default routes excepted.
    pub async fn route_destinations(&self) -> Result<Vec<ipnet::IpNet>> {
        Ok(self
            .main_routes()
            .await?
            .iter()
            .filter_map(main_destination)
            .collect())
    }

    /// The routes of the main table (and, the kernel not filtering, of the others too).
    pub(super) async fn main_routes(&self) -> Result<Vec<RouteMessage>> {
        // One dump with AF_UNSPEC answers for every family; keep IPv4 and IPv6.
        let req = RouteMessage::default();
        let msgs = self
            .dump("list routes", RouteNetlinkMessage::GetRoute(req))
            .await?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            })
            .collect())
    }
}

/// The destination of `r` if it is a non-default IPv4/IPv6 route of the main table.
pub(super) fn main_destination(r: &RouteMessage) -> Option<ipnet::IpNet> {
    let table = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(r.header.table));
    let len = r.header.destination_prefix_length;
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || len == 0 {
        return None;
    }
    let dst = r.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(d) => Some(d),
        _ => None,
    })?;
    let ip: IpAddr = match (r.header.address_family, dst) {
        (AddressFamily::Inet, RouteAddress::Inet(a)) => (*a).into(),
        (AddressFamily::Inet6, RouteAddress::Inet6(a)) => (*a).into(),
        _ => return None,
    };
    ipnet::IpNet::new(ip, len).ok().map(|n| n.trunc())
}

/// The request adding a default route via `gw` out of link `index` (named `ifname` in errors).
/// An existing default route counts as success.
pub(super) fn default_route_req(index: u32, ifname: &str, gw: IpAddr) -> Req {
    let msg = match gw {
        IpAddr::V4(g) => RouteMessageBuilder::<Ipv4Addr>::new()
            .protocol(RouteProtocol::Boot)
            .gateway(g)
            .output_interface(index)
            .build(),
        IpAddr::V6(g) => RouteMessageBuilder::<Ipv6Addr>::new()
            .protocol(RouteProtocol::Boot)
            .gateway(g)
            .output_interface(index)
            .build(),
    };
    Req {
        msg: RouteNetlinkMessage::NewRoute(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        ok_errnos: &[libc::EEXIST],
        op: format!("add default route via {gw} dev {ifname}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(family: AddressFamily, table: u8, len: u8, dst: Option<RouteAddress>) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family;
        m.header.table = table;
        m.header.destination_prefix_length = len;
        if let Some(d) = dst {
            m.attributes.push(RouteAttribute::Destination(d));
        }
        m
    }

    #[test]
    fn main_destinations_only() {
        let v4 = RouteAddress::Inet(Ipv4Addr::new(10, 1, 2, 0));
        let v6 = RouteAddress::Inet6("fd00:1::".parse().unwrap());
        let main = RouteHeader::RT_TABLE_MAIN;
        assert_eq!(
            main_destination(&route(AddressFamily::Inet, main, 24, Some(v4.clone()))),
            Some("10.1.2.0/24".parse().unwrap())
        );
        assert_eq!(
            main_destination(&route(AddressFamily::Inet6, main, 64, Some(v6.clone()))),
            Some("fd00:1::/64".parse().unwrap())
        );
        assert_eq!(
            main_destination(&route(AddressFamily::Inet, main, 0, None)),
            None
        );
        assert_eq!(
            main_destination(&route(AddressFamily::Inet, 255, 24, Some(v4.clone()))),
            None
        );
        // Mismatched family/address, missing destination, absurd prefix: skipped, no panic.
        assert_eq!(
            main_destination(&route(AddressFamily::Inet, main, 24, Some(v6))),
            None
        );
        assert_eq!(
            main_destination(&route(AddressFamily::Inet, main, 24, None)),
            None
        );
        assert_eq!(
            main_destination(&route(AddressFamily::Inet, main, 99, Some(v4.clone()))),
            None
        );
        // A table id above 255 comes as an attribute.
        let mut m = route(AddressFamily::Inet, 252, 24, Some(v4));
        m.attributes.push(RouteAttribute::Table(1000));
        assert_eq!(main_destination(&m), None);
    }
}
