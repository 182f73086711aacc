//! How `network create`/`rm` scale with the number of bridge networks present (the
//! benchmark's scenario 3): 1…200 background networks `10.120.N.0/24`, and at 1, 50, 100 and
//! 200 of them, create + remove of a probe network, timed through the API, back to back as
//! the benchmark does. Prints p50/p90 per level and the ratio 200 / 1 (the target is ≤ 1.25).
//! Run by hand: `cargo test -p berth-tests --test netcreate_bench -- --ignored --nocapture`.

use berth_tests::{require_privileged, Daemon, Topology};
use std::time::{Duration, Instant};

const LEVELS: [usize; 4] = [1, 50, 100, 200];
const CYCLES: usize = 40;

fn create(d: &Daemon, name: &str, subnet: &str) -> Duration {
    let body = format!(
        r#"{{"Name":"{name}","Driver":"bridge","IPAM":{{"Config":[{{"Subnet":"{subnet}"}}]}}}}"#
    );
    let t = Instant::now();
    let r = d.api("POST", "/networks/create", Some(body.as_bytes()));
    let e = t.elapsed();
    assert!(r.status < 300, "create {name}: {} {}", r.status, r.text());
    e
}

fn remove(d: &Daemon, name: &str) -> Duration {
    let t = Instant::now();
    let r = d.api("DELETE", &format!("/networks/{name}"), None);
    let e = t.elapsed();
    assert!(r.status < 300, "rm {name}: {} {}", r.status, r.text());
    e
}

fn pct(v: &mut [Duration], p: usize) -> f64 {
    v.sort();
    v[(v.len() - 1) * p / 100].as_secs_f64() * 1000.0
}

#[test]
#[ignore = "measurement, run by hand"]
fn network_create_is_flat_in_networks_present() {
    require_privileged!("netcreate_bench");
    let topo = Topology::new("ncb");
    let d = Daemon::start(&topo);
    let mut bg = 0;
    let mut first = 0.0;
    for level in LEVELS {
        while bg < level - 1 {
            bg += 1;
            create(&d, &format!("bg{bg}"), &format!("10.120.{bg}.0/24"));
        }
        std::thread::sleep(Duration::from_millis(300));
        let (mut c, mut r) = (Vec::new(), Vec::new());
        for _ in 0..CYCLES {
            c.push(create(&d, "probe-net", "10.121.0.0/24"));
            r.push(remove(&d, "probe-net"));
        }
        let p50 = pct(&mut c, 50);
        if level == 1 {
            first = p50;
        }
        println!(
            "{level:4} networks: create p50 {p50:.2} ms p90 {:.2} ms ({:.2}x) | rm p50 {:.2} ms p90 {:.2} ms",
            pct(&mut c, 90),
            p50 / first,
            pct(&mut r, 50),
            pct(&mut r, 90)
        );
    }
    for i in 1..=bg {
        remove(&d, &format!("bg{i}"));
    }
}
