//! The narrow interface between network logic and the kernel: bridges, veths, addresses,
//! routes and firewall scripts. [`KernelDataplane`] is the real one (netlink + nft); tests use
//! [`fake::Recording`] to check engine logic (rollback, ordering) without root.

use async_trait::async_trait;
use berth_kernel::nf_tables::ruleset::Change;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::path::PathBuf;

/// One container interface to wire up.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub netns: PathBuf,
    pub host_if: String,
    pub bridge: String,
    /// The name inside the container (`eth0`, `eth1`, ...).
    pub ifname: String,
    pub mac: [u8; 6],
    pub mtu: Option<u32>,
    pub addrs: Vec<IpNet>,
    pub gw4: Option<Ipv4Addr>,
    pub gw6: Option<Ipv6Addr>,
}

#[async_trait]
pub trait Dataplane: Send + Sync {
    /// Creates (or adopts) a bridge with the given gateway addresses, up.
    async fn ensure_bridge(
        &self,
        name: &str,
        mtu: Option<u32>,
        addrs: &[IpNet],
    ) -> Result<(), String>;
    async fn remove_link(&self, name: &str) -> Result<(), String>;
    /// Puts an existing host-side veth back on its bridge.
    async fn enslave(&self, host_if: &str, bridge: &str) -> Result<(), String>;
    /// Takes a host-side veth off its bridge and down: the container is cut off at once.
    async fn unplug(&self, host_if: &str) -> Result<(), String>;
    async fn attach(&self, a: &Attachment) -> Result<(), String>;
    /// Prefixes routed in berthd's namespace (subnets must not overlap them).
    async fn host_routes(&self) -> Result<Vec<IpNet>, String>;
    /// Applies one nftables script atomically.
    fn firewall(&self, script: &str) -> Result<(), String>;
    /// Applies changes to berth's tables atomically, as one netlink batch.
    fn firewall_changes(&self, changes: &[Change]) -> Result<(), String>;
    /// Turns on IPv4/IPv6 forwarding in berthd's namespace.
    fn enable_forwarding(&self, ipv6: bool) -> Result<(), String>;
    /// Names of the bridges in berthd's namespace (berth's and anyone else's).
    async fn bridges(&self) -> Result<Vec<String>, String>;
    /// Turns br_netfilter's switches off in berthd's namespace; the ones it turned off.
    fn bridge_netfilter_off(&self) -> Result<Vec<String>, String>;
    /// Lets connections to published ports on 127.0.0.1 be routed to the bridge's containers.
    fn route_localnet(&self, bridge: &str) -> Result<(), String>;
    /// Starts socket-level forwarding of TCP connects made in berthd's namespace
    /// (`network/socklb.rs`); an error says why it is not available.
    fn socket_lb_start(&self) -> Result<(), String>;
    /// Enters (`add`) or removes frontend → backend pairs; nothing while not started.
    fn socket_lb(&self, add: bool, pairs: &[(SocketAddrV4, SocketAddrV4)]) -> Result<(), String>;
    /// A VXLAN device (learning off) enslaved to `bridge`, for an overlay network, sending
    /// from `local` to UDP port `port` of its remotes.
    async fn ensure_vxlan(
        &self,
        name: &str,
        vni: u32,
        local: IpAddr,
        port: u16,
        bridge: &str,
        mtu: Option<u32>,
    ) -> Result<(), String>;
    /// Creates the TUN device `name` (MTU `mtu`, address `addr`, up) and returns it open: the
    /// device lives as long as the file (encrypted overlay networks, `overlay/encrypt.rs`).
    async fn open_tun(&self, name: &str, mtu: u32, addr: IpNet) -> Result<std::fs::File, String>;
    /// Programs (`add`) or removes a remote endpoint: FDB (MAC → remote host) and neighbour
    /// (IP → MAC) entries on the VXLAN device.
    async fn remote_endpoint(
        &self,
        add: bool,
        vxlan: &str,
        mac: [u8; 6],
        ips: &[IpAddr],
        host: IpAddr,
    ) -> Result<(), String>;
}

/// How long an attach waits for the new veth pair to be operationally up.
const OPER_UP_LIMIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The real dataplane: rtnetlink in berthd's namespace and the containers', nft for rules.
pub struct KernelDataplane {
    host: berth_kernel::netlink::Netlink,
    /// The host's routes, kept by route events (a dump per `network create` grows with the
    /// networks); `None` if events cannot be had, and then every question dumps.
    routes: Option<berth_kernel::netlink::RouteWatch>,
    /// The connect4 program and its map, once started.
    socklb: std::sync::OnceLock<berth_kernel::bpf::socklb::SocketLb>,
}

impl KernelDataplane {
    pub async fn new() -> Result<Self, String> {
        let host = berth_kernel::netlink::Netlink::current()
            .await
            .map_err(|e| e.to_string())?;
        let routes = match berth_kernel::netlink::RouteWatch::new(&host).await {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("route events: {e}; routes are dumped at each network create");
                None
            }
        };
        Ok(KernelDataplane {
            host,
            routes,
            socklb: Default::default(),
        })
    }
}

#[async_trait]
impl Dataplane for KernelDataplane {
    async fn ensure_bridge(
        &self,
        name: &str,
        mtu: Option<u32>,
        addrs: &[IpNet],
    ) -> Result<(), String> {
        self.host
            .ensure_bridge(name, mtu)
            .await
            .map_err(|e| e.to_string())?;
        // A fixed MAC: otherwise the bridge takes the lowest MAC of its ports and changes it when
        // a container leaves, cutting its neighbours off from the gateway until ARP expires.
        self.host
            .configure_interface(name, Some(bridge_mac(name)), mtu, addrs, None, None)
            .await
            .map_err(|e| e.to_string())
    }

    async fn remove_link(&self, name: &str) -> Result<(), String> {
        self.host.delete_link(name).await.map_err(|e| e.to_string())
    }

    async fn enslave(&self, host_if: &str, bridge: &str) -> Result<(), String> {
        self.host
            .set_master(host_if, bridge)
            .await
            .map_err(|e| e.to_string())
    }

    async fn unplug(&self, host_if: &str) -> Result<(), String> {
        self.host.unplug(host_if).await.map_err(|e| e.to_string())
    }

    async fn attach(&self, a: &Attachment) -> Result<(), String> {
        let mut phases = crate::timing::Phases::new("dataplane attach");
        self.host
            .create_veth(&a.host_if, &a.bridge, a.mtu, &a.netns, &a.ifname)
            .await
            .map_err(|e| e.to_string())?;
        phases.mark("veth");
        let inside = async {
            let ns = berth_kernel::netlink::Netlink::open(&a.netns).await?;
            phases.mark("socket");
            ns.configure_interface(&a.ifname, Some(a.mac), a.mtu, &a.addrs, a.gw4, a.gw6)
                .await?;
            phases.mark("inside");
            // Until the kernel's link-watch work has run for the new pair, their transmit
            // queues drop packets: a peer told "attached" (or another host told by the
            // overlay) could lose its first SYN to a one-second retransmission.
            let waited = ns.wait_oper_up(&a.ifname, OPER_UP_LIMIT).await?;
            let waited_host = self.host.wait_oper_up(&a.host_if, OPER_UP_LIMIT).await?;
            if waited.max(waited_host) > std::time::Duration::from_micros(400) {
                tracing::debug!(
                    link = %a.host_if,
                    "attach: waited {waited:?} (inside) / {waited_host:?} (host) for the link to be up"
                );
            }
            Ok::<(), berth_kernel::KernelError>(())
        };
        if let Err(e) = inside.await {
            let _ = self.host.delete_link(&a.host_if).await;
            return Err(e.to_string());
        }
        phases.mark("oper-up");
        phases.done(&a.host_if);
        Ok(())
    }

    async fn host_routes(&self) -> Result<Vec<IpNet>, String> {
        match &self.routes {
            Some(w) => w.destinations(&self.host).await,
            None => self.host.route_destinations().await,
        }
        .map_err(|e| e.to_string())
    }

    fn firewall(&self, script: &str) -> Result<(), String> {
        berth_kernel::nft::apply(script).map_err(|e| e.to_string())
    }

    fn firewall_changes(&self, changes: &[Change]) -> Result<(), String> {
        berth_kernel::nf_tables::ruleset::apply(changes).map_err(|e| e.to_string())
    }

    fn enable_forwarding(&self, ipv6: bool) -> Result<(), String> {
        let w =
            |p: &str| std::fs::write(p, "1").map_err(|e| format!("enable forwarding ({p}): {e}"));
        w("/proc/sys/net/ipv4/ip_forward")?;
        if ipv6 {
            w("/proc/sys/net/ipv6/conf/all/forwarding")?;
        }
        Ok(())
    }

    async fn bridges(&self) -> Result<Vec<String>, String> {
        self.host.bridge_names().await.map_err(|e| e.to_string())
    }

    fn bridge_netfilter_off(&self) -> Result<Vec<String>, String> {
        berth_kernel::sysctl::bridge_netfilter_off()
            .map(|v| v.into_iter().map(str::to_owned).collect())
            .map_err(|e| e.to_string())
    }

    fn route_localnet(&self, bridge: &str) -> Result<(), String> {
        let p = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
        std::fs::write(&p, "1").map_err(|e| format!("{p}: {e}"))
    }

    fn socket_lb_start(&self) -> Result<(), String> {
        use berth_kernel::bpf::socklb::{cgroup2_root, SocketLb};
        if self.socklb.get().is_some() {
            return Ok(());
        }
        let root = cgroup2_root().ok_or("no cgroup v2 hierarchy is mounted")?;
        let lb = SocketLb::attach(&root).map_err(|e| e.to_string())?;
        tracing::info!(cgroup = %root.display(), "socket-level forwarding of published ports on");
        let _ = self.socklb.set(lb);
        Ok(())
    }

    fn socket_lb(&self, add: bool, pairs: &[(SocketAddrV4, SocketAddrV4)]) -> Result<(), String> {
        let Some(lb) = self.socklb.get() else {
            return Ok(());
        };
        let mut errors = Vec::new();
        for (front, back) in pairs {
            let r = if add {
                lb.insert(*front, *back)
            } else {
                lb.remove(*front).map(|_| ())
            };
            if let Err(e) = r {
                errors.push(format!("{front}: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    async fn ensure_vxlan(
        &self,
        name: &str,
        vni: u32,
        local: IpAddr,
        port: u16,
        bridge: &str,
        mtu: Option<u32>,
    ) -> Result<(), String> {
        self.host
            .ensure_vxlan(name, vni, local, port, bridge, mtu)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn open_tun(&self, name: &str, mtu: u32, addr: IpNet) -> Result<std::fs::File, String> {
        let tun = berth_kernel::tun::Tun::create(name).map_err(|e| e.to_string())?;
        self.host
            .configure_interface(name, None, Some(mtu), &[addr], None, None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(tun.into_file())
    }

    async fn remote_endpoint(
        &self,
        add: bool,
        vxlan: &str,
        mac: [u8; 6],
        ips: &[IpAddr],
        host: IpAddr,
    ) -> Result<(), String> {
        let e = |e: berth_kernel::KernelError| e.to_string();
        if add {
            self.host.fdb_add(vxlan, mac, host).await.map_err(e)?;
            for ip in ips {
                self.host.neigh_add(vxlan, *ip, mac).await.map_err(e)?;
            }
        } else {
            for ip in ips {
                let _ = self.host.neigh_del(vxlan, *ip).await;
            }
            self.host.fdb_del(vxlan, mac, host).await.map_err(e)?;
        }
        Ok(())
    }
}

/// A stable, locally administered MAC for a bridge, derived from its name.
pub fn bridge_mac(name: &str) -> [u8; 6] {
    use sha2::Digest;
    let h = sha2::Sha256::digest(name.as_bytes());
    [0x02, 0x42, h[0], h[1], h[2], h[3]]
}

#[cfg(test)]
pub mod fake {
    //! A dataplane that records calls and fails on demand.
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Recording {
        pub calls: Mutex<Vec<String>>,
        /// Fail the first call whose description starts with this.
        pub fail_on: Mutex<Option<String>>,
    }

    impl Recording {
        fn call(&self, what: String) -> Result<(), String> {
            let fail = self
                .fail_on
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|f| what.starts_with(f.as_str()));
            self.calls.lock().unwrap().push(what.clone());
            if fail {
                Err(format!("injected failure: {what}"))
            } else {
                Ok(())
            }
        }
        pub fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Dataplane for Recording {
        async fn ensure_bridge(
            &self,
            name: &str,
            _: Option<u32>,
            addrs: &[IpNet],
        ) -> Result<(), String> {
            self.call(format!("bridge {name} {addrs:?}"))
        }
        async fn remove_link(&self, name: &str) -> Result<(), String> {
            self.call(format!("remove {name}"))
        }
        async fn unplug(&self, host_if: &str) -> Result<(), String> {
            self.call(format!("unplug {host_if}"))
        }

        async fn enslave(&self, host_if: &str, bridge: &str) -> Result<(), String> {
            self.call(format!("enslave {host_if} {bridge}"))
        }
        async fn attach(&self, a: &Attachment) -> Result<(), String> {
            self.call(format!("attach {} {} {:?}", a.host_if, a.bridge, a.addrs))
        }
        async fn host_routes(&self) -> Result<Vec<IpNet>, String> {
            Ok(vec!["10.0.0.0/8".parse().unwrap()])
        }
        fn firewall(&self, script: &str) -> Result<(), String> {
            self.call(format!("nft {}", script.lines().count()))
        }
        fn firewall_changes(&self, changes: &[Change]) -> Result<(), String> {
            self.call(format!("nft batch {}", changes.len()))
        }
        fn enable_forwarding(&self, _: bool) -> Result<(), String> {
            Ok(())
        }
        fn route_localnet(&self, _: &str) -> Result<(), String> {
            Ok(())
        }
        fn socket_lb_start(&self) -> Result<(), String> {
            self.call("socklb start".into())
        }
        fn socket_lb(
            &self,
            add: bool,
            pairs: &[(SocketAddrV4, SocketAddrV4)],
        ) -> Result<(), String> {
            let verb = if add { "add" } else { "remove" };
            for (f, b) in pairs {
                self.call(format!("socklb {verb} {f} {b}"))?;
            }
            Ok(())
        }
        async fn bridges(&self) -> Result<Vec<String>, String> {
            Ok(Vec::new())
        }
        fn bridge_netfilter_off(&self) -> Result<Vec<String>, String> {
            self.call("bridge-netfilter off".into()).map(|_| Vec::new())
        }
        async fn ensure_vxlan(
            &self,
            name: &str,
            vni: u32,
            _: IpAddr,
            _: u16,
            bridge: &str,
            _: Option<u32>,
        ) -> Result<(), String> {
            self.call(format!("vxlan {name} {vni} {bridge}"))
        }
        async fn open_tun(&self, name: &str, _: u32, _: IpNet) -> Result<std::fs::File, String> {
            self.call(format!("tun {name}"))?;
            Err("no TUN devices in the recording dataplane".into())
        }
        async fn remote_endpoint(
            &self,
            add: bool,
            vxlan: &str,
            _: [u8; 6],
            ips: &[IpAddr],
            host: IpAddr,
        ) -> Result<(), String> {
            self.call(format!("remote {add} {vxlan} {ips:?} {host}"))
        }
    }
}
