//! A packet capture in a test namespace: a raw `AF_PACKET` socket (every frame on every
//! interface of that namespace, both directions), read by a thread until the capture is
//! stopped. No tcpdump needed; nothing is captured outside the namespace.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Frames captured so far (whole Ethernet frames).
#[derive(Debug, Default, Clone)]
pub struct Frames {
    pub frames: Vec<Vec<u8>>,
}

impl Frames {
    /// Whether any frame holds `needle` anywhere (headers or payload).
    pub fn contains(&self, needle: &[u8]) -> bool {
        self.frames
            .iter()
            .any(|f| f.windows(needle.len()).any(|w| w == needle))
    }

    /// Number of IPv4 UDP frames to destination port `port`.
    pub fn udp_to(&self, port: u16) -> usize {
        self.frames
            .iter()
            .filter(|f| udp_dport(f) == Some(port))
            .count()
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// The UDP destination port of an Ethernet/IPv4/UDP frame.
fn udp_dport(f: &[u8]) -> Option<u16> {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] || f[14 + 9] != 17 {
        return None;
    }
    let ihl = ((f[14] & 0x0f) as usize) * 4;
    let udp = 14 + ihl;
    f.get(udp + 2..udp + 4)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
}

pub struct Capture {
    stop: Arc<AtomicBool>,
    frames: Arc<Mutex<Frames>>,
    thread: Option<JoinHandle<()>>,
}

fn open_in(ns: &Path) -> Result<OwnedFd, String> {
    let f = File::open(ns).map_err(|e| format!("open {}: {e}", ns.display()))?;
    // SAFETY: setns on a valid namespace fd; it changes only this (fresh) thread's network
    // namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns: {}", std::io::Error::last_os_error()));
    }
    let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(format!(
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` is a freshly created descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: setsockopt with a valid fd and a timeval that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!("SO_RCVTIMEO: {}", std::io::Error::last_os_error()));
    }
    Ok(fd)
}

impl Capture {
    /// Starts capturing in the namespace at `ns` (e.g. `/var/run/netns/NAME`).
    pub fn start(ns: &Path) -> Capture {
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(Mutex::new(Frames::default()));
        let (tx, rx) = mpsc::channel();
        let (stop2, frames2, ns) = (stop.clone(), frames.clone(), ns.to_path_buf());
        let thread = std::thread::spawn(move || {
            let fd = match open_in(&ns) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(()));
            let mut buf = vec![0u8; 65_536];
            while !stop2.load(Ordering::Relaxed) {
                // SAFETY: recv into a buffer we own, with its length.
                let n =
                    unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n > 0 {
                    let mut f = frames2.lock().unwrap_or_else(|p| p.into_inner());
                    f.frames.push(buf[..n as usize].to_vec());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("capture in {}: {e}", "namespace"),
            Err(e) => panic!("capture thread did not start: {e}"),
        }
        Capture {
            stop,
            frames,
            thread: Some(thread),
        }
    }

    /// Everything captured so far.
    pub fn frames(&self) -> Frames {
        self.frames
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops and returns everything captured.
    pub fn stop(mut self) -> Frames {
        self.halt();
        self.frames()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_port_of_a_frame() {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12] = 0x08;
        f[14] = 0x45;
        f[14 + 9] = 17;
        f[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&51820u16.to_be_bytes());
        let frames = Frames { frames: vec![f] };
        assert_eq!(frames.udp_to(51820), 1);
        assert_eq!(frames.udp_to(4789), 0);
        assert!(frames.contains(&51820u16.to_be_bytes()));
    }
}
