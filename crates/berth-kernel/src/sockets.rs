//! Who holds a port: parses /proc/net/{tcp,tcp6,udp,udp6} of the calling process's network
//! namespace and maps the socket inode to a process, so a refused publish can name the holder.

use std::net::IpAddr;

/// A socket bound to a port, and the process holding it if it could be found.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub addr: IpAddr,
    pub port: u16,
    pub pid: Option<u32>,
    pub command: Option<String>,
}

/// The listening TCP and bound UDP sockets of the calling thread's network namespace, read once.
///
/// Each read of a /proc/net/{tcp,udp}* file walks the kernel's socket hash tables of *every*
/// namespace (sized by the machine's memory, not by the sockets in this one): ~1 ms per
/// table on a 24 GB machine. Checking many ports therefore takes one snapshot and looks up
/// each port in it, rather than reading the tables again per port.
#[derive(Debug, Default)]
pub struct Bound {
    /// (proto, address, port, inode)
    sockets: Vec<(&'static str, IpAddr, u16, u64)>,
}

impl Bound {
    /// Reads the tables of the given protocols ("tcp", "udp"; others are ignored).
    pub fn scan(protos: &[&str]) -> Bound {
        let mut sockets = Vec::new();
        for (proto, files) in [
            ("tcp", ["/proc/net/tcp", "/proc/net/tcp6"]),
            ("udp", ["/proc/net/udp", "/proc/net/udp6"]),
        ] {
            if !protos.contains(&proto) {
                continue;
            }
            for f in files {
                let Some(text) = read_proc(f) else { continue };
                sockets.extend(
                    text.lines()
                        .skip(1)
                        .filter_map(|l| parse_line(l, proto == "tcp"))
                        .map(|(addr, port, inode)| (proto, addr, port, inode)),
                );
            }
        }
        Bound { sockets }
    }

    /// A socket of the snapshot on `proto`/`port` whose address overlaps `ip` (`None` or an
    /// unspecified address overlaps every address), with the process holding it if found.
    pub fn holder(&self, proto: &str, ip: Option<IpAddr>, port: u16) -> Option<Holder> {
        let &(_, addr, port, inode) = self.sockets.iter().find(|(pr, addr, p, _)| {
            *pr == proto
                && *p == port
                && ip.is_none_or(|ip| ip.is_unspecified() || addr.is_unspecified() || *addr == ip)
        })?;
        let pid = find_pid(inode);
        let command = pid
            .and_then(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
            .map(|c| c.trim().to_string());
        Some(Holder {
            addr,
            port,
            pid,
            command,
        })
    }
}

/// A listening TCP socket or bound UDP socket on `port` whose address overlaps `ip`
/// (`None` or an unspecified address overlaps every address). One port: for many, take a
/// [`Bound`] snapshot once.
pub fn holder(proto: &str, ip: Option<IpAddr>, port: u16) -> Option<Holder> {
    Bound::scan(&[proto]).holder(proto, ip, port)
}

/// A /proc seq file in large reads: every read() restarts the kernel's walk of the socket
/// tables, so small reads (std's `read_to_string` starts with 32 bytes) multiply the cost.
fn read_proc(path: &str) -> Option<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut chunk = vec![0u8; 1 << 16];
    let mut all = Vec::new();
    loop {
        let n = f.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        all.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(all).ok()
}

/// `sl local_address rem_address st ... inode`: returns (address, port, inode) of a
/// listening (TCP state 0A) or bound (UDP) socket. Never panics on odd lines.
fn parse_line(line: &str, tcp: bool) -> Option<(IpAddr, u16, u64)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
    if tcp && *state != "0A" {
        return None;
    }
    let (a, p) = local.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    Some((parse_addr(a)?, port, inode.parse().ok()?))
}

/// Kernel hex addresses: 32-bit words printed in host (little-endian) byte order.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    match hex.len() {
        8 => Some(IpAddr::V4(
            u32::from_str_radix(hex, 16).ok()?.to_le_bytes().into(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let w = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            Some(IpAddr::V6(bytes.into()))
        }
        _ => None,
    }
}

fn find_pid(inode: u64) -> Option<u32> {
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_lines() {
        let l = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        assert_eq!(
            parse_line(l, true),
            Some(("127.0.0.1".parse().unwrap(), 8080, 12345))
        );
        let est = l.replace(" 0A ", " 01 ");
        assert_eq!(parse_line(&est, true), None);
        assert_eq!(parse_line("garbage", true), None);
        let v6 = "   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1";
        assert_eq!(
            parse_line(v6, true),
            Some(("::1".parse().unwrap(), 80, 777))
        );
    }

    #[test]
    fn finds_own_listener() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = holder("tcp", Some("127.0.0.1".parse().unwrap()), port).expect("own listener");
        assert_eq!(h.pid, Some(std::process::id()));
        assert!(holder("tcp", Some("127.0.0.2".parse().unwrap()), port).is_none());
    }

    #[test]
    fn one_snapshot_answers_for_many_ports() {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (pa, pb) = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        let snap = Bound::scan(&["tcp", "udp"]);
        let lo = Some("127.0.0.1".parse().unwrap());
        assert_eq!(
            snap.holder("tcp", lo, pa).unwrap().pid,
            Some(std::process::id())
        );
        assert_eq!(snap.holder("udp", None, pb).unwrap().port, pb);
        assert!(
            snap.holder("udp", lo, pa).is_none(),
            "tcp port reported for udp"
        );
        assert!(Bound::scan(&["tcp"]).holder("udp", lo, pb).is_none());
    }
}
