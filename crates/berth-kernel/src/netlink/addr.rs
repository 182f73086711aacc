//! Interface addresses.

use super::{check_ifname, Netlink, Req};
use crate::{KernelError, Result};
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::AddressMessageBuilder;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

impl Netlink {
    /// Adds `addr` (with its prefix length) to the link `ifname`; an address that is already
    /// there is not an error. IPv6 addresses skip duplicate address detection, so they are usable
    /// at once.
    pub async fn add_address(&self, ifname: &str, addr: ipnet::IpNet) -> Result<()> {
        let op = format!("add address {addr} to {ifname}");
        check_ifname(&op, ifname)?;
        let index = self
            .link_index(ifname)
            .await?
            .ok_or_else(|| KernelError::Netlink {
                op,
                message: format!("no interface named {ifname}"),
            })?;
        self.ack(add_req(index, ifname, addr)).await
    }
}

/// The request adding `addr` to link `index` (named `ifname` in errors). `EEXIST` is success.
pub(super) fn add_req(index: u32, ifname: &str, addr: ipnet::IpNet) -> Req {
    let msg = match addr.addr() {
        IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(a, addr.prefix_len())
            .build(),
        IpAddr::V6(a) => {
            let mut m = AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(a, addr.prefix_len())
                .build();
            m.header.flags |= AddressHeaderFlags::Nodad;
            m.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
            m
        }
    };
    Req {
        msg: RouteNetlinkMessage::NewAddress(msg),
        flags: NLM_F_CREATE | NLM_F_EXCL,
        ok_errnos: &[libc::EEXIST],
        op: format!("add address {addr} to {ifname}"),
    }
}
