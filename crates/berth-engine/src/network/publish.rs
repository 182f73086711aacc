//! Putting a container's published ports in force and taking them away.

use super::ports::{ephemeral_range, Allocator, Published};
use super::{firewall, EndpointRec, OPT_HOST_BINDING};
use crate::container::Container;
use crate::error::{EngineError, Result};
use crate::Engine;
use std::net::{IpAddr, Ipv4Addr};

impl Engine {
    /// Chooses host ports for `c` (attached with `eps`, eth0 first), records them and adds the
    /// DNAT map elements. All or nothing.
    pub(crate) fn publish(&self, c: &Container, eps: &[EndpointRec]) -> Result<Vec<Published>> {
        let exposed = c.config.exposed_ports.clone().unwrap_or_default();
        let reqs = super::ports::requests(&c.host_config, &exposed)?;
        if reqs.is_empty() {
            return Ok(vec![]);
        }
        let primary = eps
            .first()
            .ok_or_else(|| EngineError::Invalid("published ports need a bridge network".into()))?;
        let ip = |v4: bool| {
            primary
                .addrs
                .iter()
                .map(|a| a.addr())
                .find(|a| a.is_ipv4() == v4)
        };
        let default_ip = self
            .networks
            .resolve(&primary.network_id)
            .ok()
            .and_then(|n| n.options.get(OPT_HOST_BINDING).and_then(|v| v.parse().ok()))
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        // One snapshot of the host's sockets for all the requests: reading the socket tables
        // costs ~1 ms each, whatever the number of sockets in berthd's namespace.
        let protos: Vec<&str> = reqs.iter().map(|r| r.proto.as_str()).collect();
        let bound = berth_kernel::sockets::Bound::scan(&protos);
        let probe = |proto: &str, ip: IpAddr, port: u16| {
            bound
                .holder(proto, Some(ip), port)
                .map(|h| match (h.pid, h.command) {
                    (Some(pid), Some(cmd)) => format!("process {pid} ({cmd}) on the host"),
                    _ => format!("a socket on the host ({}:{})", h.addr, h.port),
                })
        };
        let _guard = self.ports_lock.lock().unwrap_or_else(|p| p.into_inner());
        let taken: Vec<(String, Published)> = self
            .containers()
            .into_iter()
            .filter(|o| o.id != c.id)
            .flat_map(|o| o.published.into_iter().map(move |p| (o.id.clone(), p)))
            .collect();
        let alloc = Allocator {
            taken: &taken,
            range: ephemeral_range(),
            default_ip,
            probe: &probe,
        };
        let published = alloc.allocate(&reqs, ip(true), ip(false))?;
        self.update(&c.id, |rec| rec.published = published.clone())?;
        if let Err(e) = self
            .dataplane
            .firewall(&firewall::port_elements("add", &published))
        {
            let _ = self.update(&c.id, |rec| rec.published.clear());
            return Err(EngineError::Internal(format!("publish ports: {e}")));
        }
        self.socket_lb_enter(true, &published);
        Ok(published)
    }

    /// Removes a container's port forwardings at once (best effort).
    pub(crate) fn unpublish(&self, id: &str) {
        let Ok(c) = self.find(id) else { return };
        if c.published.is_empty() {
            return;
        }
        self.socket_lb_enter(false, &c.published);
        if let Err(e) = self
            .dataplane
            .firewall(&firewall::port_elements("delete", &c.published))
        {
            tracing::warn!(id, "unpublish: {e}; rebuilding berth's rules");
            let _ = self.update(id, |rec| rec.published.clear());
            let _ = self.dataplane.firewall(&self.firewall_full());
            return;
        }
        let _ = self.update(id, |rec| rec.published.clear());
        for p in c.published.iter().filter(|p| p.proto == "udp") {
            berth_kernel::nft::forget_udp_flows(p.host_port);
        }
    }
}
