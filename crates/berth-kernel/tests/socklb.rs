//! The socket-level forwarding program (`bpf::socklb`) in the kernel: TCP connects in its own
//! namespace are sent to the backend, nothing else is touched. Needs root; only throwaway
//! network namespaces are used (the program is attached to the cgroup v2 root but acts on
//! sockets of the test's namespace only, and is detached when the test drops it).

use berth_kernel::bpf::socklb::{cgroup2_root, SocketLb};
use berth_kernel::{netns, KernelError};
use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

mod common;
use common::{privileged, Ns};

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => panic!("not IPv4: {a}"),
    }
}

/// Connects to `to`, and returns what the listener `l` that accepts it sends back, or the
/// connect error.
fn reach(to: SocketAddrV4, l: &TcpListener, tag: &str) -> std::io::Result<String> {
    let mut c = TcpStream::connect_timeout(&to.into(), Duration::from_secs(2))?;
    let (mut s, _) = l.accept()?;
    s.write_all(tag.as_bytes())?;
    drop(s);
    let mut got = String::new();
    c.read_to_string(&mut got)?;
    Ok(got)
}

fn io(e: std::io::Error) -> KernelError {
    KernelError::io("test", e)
}

#[test]
fn connects_in_its_namespace_go_to_the_backend_and_nowhere_else() {
    if !privileged("socklb") {
        return;
    }
    let Some(cg) = cgroup2_root() else {
        panic!("no cgroup v2 hierarchy mounted (needed for cgroup BPF programs)");
    };
    let (a, b) = (
        Ns::new("berth-socklb-tests", "lb", "a"),
        Ns::new("berth-socklb-tests", "lb", "b"),
    );
    // A port nothing listens on in namespace a: the frontend.
    let front: SocketAddrV4 = "127.0.0.1:18099".parse().unwrap();
    // Namespace b listens on the frontend itself: its connects must reach that listener.
    let b_listener = netns::run_in(&b.path, move || {
        netns::set_loopback_up()?;
        TcpListener::bind(front).map_err(io)
    })
    .unwrap();
    let cg2 = cg.clone();
    let lb = netns::run_in(&a.path, move || {
        netns::set_loopback_up()?;
        let lb = SocketLb::attach(&cg2)?;
        let backend = TcpListener::bind("127.0.0.1:0").map_err(io)?;
        let to = v4(backend.local_addr().map_err(io)?);
        // Before the element exists, the frontend refuses.
        assert!(
            reach(front, &backend, "x").is_err(),
            "frontend answered before it was entered"
        );
        lb.insert(front, to)?;
        assert_eq!(reach(front, &backend, "backend").map_err(io)?, "backend");
        // The client's socket reports the frontend it asked for as its peer.
        let c = TcpStream::connect(front).map_err(io)?;
        assert_eq!(v4(c.peer_addr().map_err(io)?), front);
        drop(backend.accept().map_err(io)?);
        // UDP is left alone: a connected UDP socket's peer stays the frontend.
        let u = UdpSocket::bind("127.0.0.1:0").map_err(io)?;
        u.connect(front).map_err(io)?;
        assert_eq!(v4(u.peer_addr().map_err(io)?), front);
        Ok((lb, backend))
    })
    .unwrap();
    // Another namespace, while the program is attached: its own listener answers.
    let got = netns::run_in(&b.path, move || reach(front, &b_listener, "b").map_err(io)).unwrap();
    assert_eq!(got, "b");
    let (lb, backend) = lb;
    netns::run_in(&a.path, move || {
        assert!(lb.remove(front)?, "the element was there");
        assert!(!lb.remove(front)?, "removed twice");
        let e = reach(front, &backend, "x").expect_err("removed frontend still forwarded");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
        // Detached on drop: entering it again is impossible, and a fresh program is clean.
        lb.insert(front, v4(backend.local_addr().map_err(io)?))?;
        drop(lb);
        assert!(
            reach(front, &backend, "x").is_err(),
            "forwarded after the program was dropped"
        );
        Ok(())
    })
    .unwrap();
    eprintln!("cgroup v2 at {}", cg.display());
}
