//! TUN devices: layer-3 interfaces whose packets a process reads and writes through a file
//! descriptor (`/dev/net/tun`, `TUNSETIFF`; no `ip tuntap`).
//!
//! Devices are not persistent: the kernel deletes the device (with its addresses and routes)
//! when the last descriptor closes, e.g. when berthd exits. Packets carry no packet-information
//! header (`IFF_NO_PI`): each `read` returns one IP packet, each `write` sends one.

use crate::{KernelError, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

/// `struct ifreq` as `TUNSETIFF` reads it: the name and the flags member of the union.
#[repr(C)]
struct IfReqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// One open TUN device.
#[derive(Debug)]
pub struct Tun {
    file: File,
    name: String,
}

impl Tun {
    /// Creates the TUN device `name` (or attaches to an existing persistent one of that name).
    pub fn create(name: &str) -> Result<Tun> {
        let op = format!("create tun device {name}");
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', ' ']) {
            return Err(KernelError::Netlink {
                op,
                message: "invalid interface name".into(),
            });
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| KernelError::io(format!("{op}: open /dev/net/tun"), e))?;
        let mut req = IfReqFlags {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        for (d, s) in req.name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        // SAFETY: `file` is an open /dev/net/tun descriptor and `req` is a properly laid out,
        // initialised `struct ifreq` (40 bytes) that outlives the call; the kernel only reads
        // and writes within it.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF as _, &mut req) };
        if rc < 0 {
            return Err(KernelError::io(op, std::io::Error::last_os_error()));
        }
        Ok(Tun {
            file,
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one packet (blocking).
    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one packet.
    pub fn send(&self, packet: &[u8]) -> std::io::Result<usize> {
        (&self.file).write(packet)
    }

    /// The descriptor, for callers that move packets through something else than a TUN device
    /// in tests (any packet-preserving descriptor, e.g. a datagram socket pair, behaves alike).
    pub fn into_file(self) -> File {
        self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifreq_has_the_kernels_size() {
        assert_eq!(
            std::mem::size_of::<IfReqFlags>(),
            std::mem::size_of::<libc::ifreq>()
        );
    }

    #[test]
    fn refuses_bad_names() {
        for n in ["", "a/b", "0123456789abcdef"] {
            let e = Tun::create(n).unwrap_err().to_string();
            assert!(e.contains("invalid interface name"), "{n:?}: {e}");
        }
    }
}
