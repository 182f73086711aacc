//! Socket-level forwarding of published ports for the host's own TCP clients
//! (`berthd --socket-lb auto|on|off`).
//!
//! nftables' DNAT serves every client of a published port. For a TCP client in berthd's own
//! namespace connecting to 127.0.0.1 (or to a specific host address a port is published on),
//! DNAT in the output hook must also masquerade the connection and re-route each of its packets
//! (a locally generated packet whose destination changed), which costs a few percent of
//! throughput. With socket-level forwarding (`berth_kernel::bpf::socklb`), `connect()` itself
//! goes to the container's address, and no packet is translated: the connection is exactly
//! what connecting to the container directly is. DNAT stays in place underneath, for UDP,
//! IPv6, other clients, and whenever the program is absent (an older kernel, no cgroup v2,
//! `off`, or between berthd's death and its restart, since the kernel detaches the program with
//! berthd's last descriptor). The client's socket reports the address it asked for as its peer
//! (`getpeername`, as through DNAT); its own address (`getsockname`) is the host's address on
//! the container's bridge, as for any direct connection to a container.

use super::ports::Published;
use crate::Engine;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

/// `berthd --socket-lb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SocketLbMode {
    /// On where the kernel allows it; otherwise logged, and DNAT serves these clients.
    #[default]
    Auto,
    /// On, or berthd does not start.
    On,
    /// Never: DNAT serves every client.
    Off,
}

/// The frontend → backend pairs of `published`: TCP over IPv4 only; a port published on all
/// addresses (0.0.0.0) is entered for 127.0.0.1 (connects to the host's other addresses from
/// the host itself are left to DNAT).
pub fn pairs(published: &[Published]) -> Vec<(SocketAddrV4, SocketAddrV4)> {
    published
        .iter()
        .filter(|p| p.proto == "tcp")
        .filter_map(|p| match (p.host_ip, p.container_ip) {
            (IpAddr::V4(h), IpAddr::V4(c)) => {
                let front = if h.is_unspecified() {
                    Ipv4Addr::LOCALHOST
                } else {
                    h
                };
                Some((
                    SocketAddrV4::new(front, p.host_port),
                    SocketAddrV4::new(c, p.container_port),
                ))
            }
            _ => None,
        })
        .collect()
}

impl Engine {
    /// Starts socket-level forwarding per `--socket-lb` and enters the ports published by
    /// the containers that are running. `on` that cannot start is an error; `auto` only logs.
    pub(crate) fn settle_socket_lb(&self) -> crate::Result<()> {
        let mode = self.cfg.socket_lb;
        if mode == SocketLbMode::Off {
            return Ok(());
        }
        if let Err(e) = self.dataplane.socket_lb_start() {
            if mode == SocketLbMode::On {
                return Err(crate::EngineError::Internal(format!("--socket-lb on: {e}")));
            }
            tracing::warn!("socket-level forwarding unavailable ({e}); nftables DNAT serves the host's own clients");
            return Ok(());
        }
        let all: Vec<Published> = self
            .containers()
            .into_iter()
            .flat_map(|c| c.published)
            .collect();
        self.socket_lb_enter(true, &all);
        Ok(())
    }

    /// Enters or removes `published` (best effort: DNAT is underneath either way, but a
    /// frontend left behind would send connects to an address that is gone, so a failed
    /// removal is logged loudly).
    pub(crate) fn socket_lb_enter(&self, add: bool, published: &[Published]) {
        let pairs = pairs(published);
        if pairs.is_empty() {
            return;
        }
        if let Err(e) = self.dataplane.socket_lb(add, &pairs) {
            if add {
                tracing::warn!("socket-level forwarding: {e}; DNAT serves these ports");
            } else {
                tracing::error!("socket-level forwarding: cannot remove {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(proto: &str, host: &str, hp: u16, cont: &str, cp: u16) -> Published {
        Published {
            proto: proto.into(),
            host_ip: host.parse().unwrap(),
            host_port: hp,
            container_ip: cont.parse().unwrap(),
            container_port: cp,
        }
    }

    #[test]
    fn tcp_over_ipv4_only_and_all_addresses_mean_loopback() {
        let got = pairs(&[
            p("tcp", "0.0.0.0", 8080, "172.18.0.2", 80),
            p("tcp", "127.0.0.1", 9090, "172.18.0.2", 90),
            p("tcp", "198.51.100.5", 7070, "172.18.0.2", 70),
            p("udp", "0.0.0.0", 5353, "172.18.0.2", 53),
            p("sctp", "0.0.0.0", 3868, "172.18.0.2", 3868),
            p("tcp", "::", 8080, "fd00::2", 80),
        ]);
        let s = |a: &str| a.parse::<SocketAddrV4>().unwrap();
        assert_eq!(
            got,
            vec![
                (s("127.0.0.1:8080"), s("172.18.0.2:80")),
                (s("127.0.0.1:9090"), s("172.18.0.2:90")),
                (s("198.51.100.5:7070"), s("172.18.0.2:70")),
            ]
        );
    }
}
