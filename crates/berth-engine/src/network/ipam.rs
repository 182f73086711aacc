//! IP address management: default pools, subnet selection, per-subnet allocation.
//! Pure logic; persistence is the caller's (allocations are rebuilt from endpoint records).

use ipnet::{IpNet, Ipv4Net};
use std::collections::BTreeSet;
use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IpamError {
    #[error("no available IPv4 subnet in the address pools: all pool subnets overlap existing networks or host routes")]
    PoolsExhausted,
    #[error("no available addresses on network {0}: the address range is exhausted")]
    Exhausted(String),
    #[error("address {0} is already in use on network {1}")]
    InUse(IpAddr, String),
    #[error("address {0} does not belong to any subnet of network {1}")]
    OutOfRange(IpAddr, String),
}

/// A pool of subnets: `base` split into subnets of prefix length `size`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub base: IpNet,
    pub size: u8,
}

impl std::str::FromStr for Pool {
    type Err = String;
    /// `base=172.30.0.0/16,size=24` (berthd's `--default-address-pool`).
    fn from_str(s: &str) -> Result<Self, String> {
        let (mut base, mut size) = (None, None);
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("base", v)) => {
                    base = Some(
                        v.parse::<IpNet>()
                            .map_err(|e| format!("invalid pool base {v:?}: {e}"))?,
                    )
                }
                Some(("size", v)) => {
                    size = Some(
                        v.parse::<u8>()
                            .map_err(|_| format!("invalid pool size {v:?}"))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "invalid address pool option {part:?}: expected base=CIDR,size=N"
                    ))
                }
            }
        }
        let base = base.ok_or("address pool needs base=CIDR")?;
        let size = size.ok_or("address pool needs size=N")?;
        if size < base.prefix_len() || size > base.max_prefix_len() {
            return Err(format!(
                "pool size /{size} must be between /{} and /{}",
                base.prefix_len(),
                base.max_prefix_len()
            ));
        }
        Ok(Pool {
            base: base.trunc(),
            size,
        })
    }
}

/// Docker's default local pools: 172.17–172.31 as /16s, then 192.168.0.0/16 as /20s.
pub fn default_pools() -> Vec<Pool> {
    let p = |s: &str, size| Pool {
        base: s.parse().expect("static pool"),
        size,
    };
    vec![
        p("172.17.0.0/16", 16),
        p("172.18.0.0/16", 16),
        p("172.19.0.0/16", 16),
        p("172.20.0.0/14", 16),
        p("172.24.0.0/14", 16),
        p("172.28.0.0/14", 16),
        p("192.168.0.0/16", 20),
        // Beyond Docker: network 32 and the next 16384 still get a subnet (moby #29239).
        p("10.64.0.0/10", 24),
    ]
}

pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first pool subnet overlapping none of `used` (networks and host routes).
pub fn pick_subnet(pools: &[Pool], used: &[IpNet]) -> Result<IpNet, IpamError> {
    for pool in pools {
        let Ok(subnets) = pool.base.subnets(pool.size) else {
            continue;
        };
        for s in subnets {
            if !used.iter().any(|u| overlaps(u, &s)) {
                return Ok(s);
            }
        }
    }
    Err(IpamError::PoolsExhausted)
}

/// The addresses of one subnet and which are taken.
#[derive(Debug, Clone)]
pub struct SubnetAlloc {
    pub subnet: IpNet,
    /// Where dynamic addresses come from (defaults to the subnet).
    pub range: IpNet,
    used: BTreeSet<IpAddr>,
    cursor: u128,
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(v: u128, like: &IpNet) -> IpAddr {
    match like {
        IpNet::V4(_) => IpAddr::V4((v as u32).into()),
        IpNet::V6(_) => IpAddr::V6(v.into()),
    }
}

impl SubnetAlloc {
    /// `reserved`: gateway and aux addresses, never handed out dynamically.
    pub fn new(
        subnet: IpNet,
        range: Option<IpNet>,
        reserved: impl IntoIterator<Item = IpAddr>,
    ) -> Self {
        let mut used: BTreeSet<IpAddr> = reserved.into_iter().collect();
        used.insert(subnet.network());
        if let IpNet::V4(v4) = subnet {
            used.insert(IpAddr::V4(v4.broadcast()));
        }
        let range = range.unwrap_or(subnet);
        SubnetAlloc {
            subnet,
            range,
            used,
            cursor: to_u128(range.network()),
        }
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        self.subnet.contains(&a)
    }

    /// Marks `a` as taken (an address recorded before a restart, or a static one).
    pub fn reserve(&mut self, a: IpAddr, net: &str) -> Result<(), IpamError> {
        if !self.contains(a) {
            return Err(IpamError::OutOfRange(a, net.into()));
        }
        if !self.used.insert(a) {
            return Err(IpamError::InUse(a, net.into()));
        }
        Ok(())
    }

    /// The next free address of the range, continuing after the last one handed out (so a
    /// released address is not reused at once, which keeps neighbours' ARP caches honest).
    pub fn allocate(&mut self, net: &str) -> Result<IpAddr, IpamError> {
        let first = to_u128(self.range.network());
        let last = match self.range {
            IpNet::V4(v) => u32::from(Ipv4Net::broadcast(&v)) as u128,
            IpNet::V6(v) => u128::from(v.broadcast()),
        };
        let span = last - first + 1;
        // At most `used.len()` addresses can be taken, so that many + 1 probes find a free one
        // if any exists (and bound the scan of huge IPv6 ranges).
        let tries = span.min(self.used.len() as u128 + 1);
        let mut c = self.cursor.clamp(first, last);
        for _ in 0..tries {
            let a = from_u128(c, &self.range);
            c = if c >= last { first } else { c + 1 };
            if !self.used.contains(&a) {
                self.used.insert(a);
                self.cursor = c;
                return Ok(a);
            }
        }
        Err(IpamError::Exhausted(net.into()))
    }

    pub fn release(&mut self, a: IpAddr) {
        self.used.remove(&a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn first_free_pool_skips_used_and_routes() {
        let used: Vec<IpNet> = vec![
            "172.17.0.0/16".parse().unwrap(),
            "172.18.5.0/24".parse().unwrap(),
        ];
        assert_eq!(
            pick_subnet(&default_pools(), &used).unwrap(),
            "172.19.0.0/16".parse::<IpNet>().unwrap()
        );
    }

    #[test]
    fn default_pools_give_more_than_31_networks() {
        let mut used = Vec::new();
        for _ in 0..40 {
            used.push(pick_subnet(&default_pools(), &used).unwrap());
        }
        assert_eq!(used[15], "192.168.0.0/20".parse::<IpNet>().unwrap());
        assert_eq!(used[31], "10.64.0.0/24".parse::<IpNet>().unwrap());
        assert_eq!(used.len(), 40);
    }

    #[test]
    fn sequential_without_immediate_reuse() {
        let mut a = SubnetAlloc::new("10.0.0.0/29".parse().unwrap(), None, [ip("10.0.0.1")]);
        assert_eq!(a.allocate("n").unwrap(), ip("10.0.0.2"));
        assert_eq!(a.allocate("n").unwrap(), ip("10.0.0.3"));
        a.release(ip("10.0.0.2"));
        assert_eq!(a.allocate("n").unwrap(), ip("10.0.0.4"));
        assert_eq!(a.allocate("n").unwrap(), ip("10.0.0.5"));
        assert_eq!(a.allocate("n").unwrap(), ip("10.0.0.6"));
        assert_eq!(a.allocate("n").unwrap(), ip("10.0.0.2"));
        assert_eq!(a.allocate("n"), Err(IpamError::Exhausted("n".into())));
    }

    #[test]
    fn range_and_static() {
        let mut a = SubnetAlloc::new(
            "10.1.0.0/24".parse().unwrap(),
            Some("10.1.0.128/30".parse().unwrap()),
            [ip("10.1.0.1")],
        );
        assert_eq!(a.allocate("n").unwrap(), ip("10.1.0.128"));
        a.reserve(ip("10.1.0.50"), "n").unwrap();
        assert_eq!(
            a.reserve(ip("10.1.0.50"), "n"),
            Err(IpamError::InUse(ip("10.1.0.50"), "n".into()))
        );
        assert_eq!(
            a.reserve(ip("10.2.0.5"), "n"),
            Err(IpamError::OutOfRange(ip("10.2.0.5"), "n".into()))
        );
    }

    #[test]
    fn ipv6_allocates() {
        let mut a = SubnetAlloc::new("fd00:1::/64".parse().unwrap(), None, [ip("fd00:1::1")]);
        assert_eq!(a.allocate("n").unwrap(), ip("fd00:1::2"));
    }

    #[test]
    fn pool_option_parsing() {
        let p: Pool = "base=10.10.0.0/16,size=24".parse().unwrap();
        assert_eq!(p.size, 24);
        assert!("base=10.10.0.0/16,size=8".parse::<Pool>().is_err());
        assert!("base=nope,size=24"
            .parse::<Pool>()
            .unwrap_err()
            .contains("nope"));
    }
}
