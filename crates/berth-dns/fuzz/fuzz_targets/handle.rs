//! Feeds arbitrary bytes to the query handler (as a query over UDP and TCP, from askers that
//! may and may not forward) and to the upstream-reply checker. Nothing may panic, and the
//! replies must respect the size limits.
#![no_main]

use berth_dns::answer::{check_upstream, handle, relay, Decision, Transport, MAX_UDP_PAYLOAD};
use berth_dns::Records;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, SocketAddr};

struct Fake;

impl Records for Fake {
    fn lookup(&self, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        if asker != "c1" {
            return None;
        }
        match name {
            "web" => Some(vec![
                "10.0.0.2".parse().unwrap(),
                "fd00::2".parse().unwrap(),
            ]),
            "many" => Some(
                (0..200u32)
                    .map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes()))
                    .collect(),
            ),
            _ => None,
        }
    }
    fn reverse(&self, _asker: &str, _addr: IpAddr) -> Option<Vec<String>> {
        Some(vec!["web.mynet".into(), "a..b".into()])
    }
    fn upstreams(&self, asker: &str) -> Vec<SocketAddr> {
        if asker == "c1" {
            vec!["127.0.0.1:53".parse().unwrap()]
        } else {
            vec![]
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    for (asker, transport) in [("c1", Transport::Udp), ("c2", Transport::Tcp)] {
        match handle(data, asker, &Fake, transport, &mut out) {
            Decision::Reply => {
                assert!(data.len() >= 12);
                assert_eq!(&out[..2], &data[..2]);
                if transport == Transport::Udp {
                    assert!(out.len() <= MAX_UDP_PAYLOAD);
                }
            }
            Decision::Drop => assert!(out.is_empty()),
            Decision::Forward(f) => {
                // The query turned into a reply stands for the upstream's answer.
                let mut resp = data.to_vec();
                resp[2] |= 0x80;
                if check_upstream(&resp, f.info.question(data)).is_some() {
                    relay(data, &f.info, &resp, &mut out);
                    assert!(out.len() <= f.info.limit);
                }
            }
        }
    }
    let _ = check_upstream(data, b"\x03web\x00\x00\x01\x00\x01");
});
