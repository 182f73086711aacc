//! Load test (ignored by default; needs root):
//!
//! ```sh
//! cargo test --release -p berth-dns --test bench -- --ignored --nocapture
//! ```
//!
//! Serves a fake container's namespace from a 2-worker tokio runtime in a throwaway "host"
//! namespace and drives it from the container namespace with `dnsperf -c 8 -T 2` when dnsperf
//! is installed (`apt-get install dnsperf`), else with a small built-in load generator (8
//! sockets, 2 threads, 100 queries in flight). Env: `BENCH_SECONDS` (default 10),
//! `BENCH_NAME` (default `web`, a local name), `BENCH_WORKERS` (UDP tasks, default 2).

use berth_dns::{DnsConfig, DnsServer, Records};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Fake;

impl Records for Fake {
    fn lookup(&self, _asker: &str, name: &str) -> Option<Vec<IpAddr>> {
        match name {
            "web" => Some(vec!["10.0.0.2".parse().unwrap()]),
            "alias" => Some(vec![
                "10.0.0.5".parse().unwrap(),
                "10.0.0.6".parse().unwrap(),
            ]),
            _ => None,
        }
    }
    fn reverse(&self, _: &str, _: IpAddr) -> Option<Vec<String>> {
        None
    }
    fn upstreams(&self, _: &str) -> Vec<SocketAddr> {
        vec![]
    }
}

struct Ns(PathBuf);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = berth_kernel::netns::remove(&self.0);
    }
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "load test: run by hand, as root, with --release"]
fn bench_local_name() {
    let dir = std::env::temp_dir().join(format!("berth-dns-bench-{}", std::process::id()));
    let host = Ns(dir.join("host"));
    let ctr = Ns(dir.join("ctr"));
    berth_kernel::netns::create(&host.0).expect("host netns");
    berth_kernel::netns::create(&ctr.0).expect("ctr netns");
    let secs: u64 = env_or("BENCH_SECONDS", 10);
    let name: String = env_or("BENCH_NAME", "web".to_string());
    let workers: usize = env_or("BENCH_WORKERS", 2);
    let ctr_path = ctr.0.clone();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let server = {
        let host_path = host.0.clone();
        std::thread::spawn(move || {
            berth_kernel::netns::run_in(&host_path, move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                let cfg = DnsConfig {
                    udp_workers: workers,
                    ..Default::default()
                };
                let dns = DnsServer::new(Arc::new(Fake), cfg);
                let h = rt
                    .block_on(dns.serve("c1".into(), &ctr_path))
                    .expect("serve");
                ready_tx.send(()).unwrap();
                let _ = stop_rx.recv();
                drop(h);
                rt.shutdown_timeout(Duration::from_secs(1));
                Ok(())
            })
            .unwrap()
        })
    };
    ready_rx.recv().expect("server ready");

    let have_dnsperf = std::process::Command::new("dnsperf")
        .arg("-h")
        .output()
        .is_ok();
    let cpu_before = process_cpu();
    let wall = Instant::now();
    if have_dnsperf {
        let qfile = dir.join("queries");
        std::fs::write(&qfile, format!("{name} A\n")).unwrap();
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", ctr.0.display()))
            .args(["dnsperf", "-s", "127.0.0.11", "-c", "8", "-T", "2", "-l"])
            .arg(secs.to_string())
            .arg("-d")
            .arg(&qfile)
            .output()
            .expect("run dnsperf");
        println!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    } else {
        let (qps, lat) = loadgen(&ctr.0, &name, Duration::from_secs(secs));
        println!("built-in load generator: {qps:.0} queries/s, average latency {lat:?}");
    }
    let cpu = process_cpu() - cpu_before;
    println!(
        "server CPU: {:.0}% of one core over {:?}",
        100.0 * cpu.as_secs_f64() / wall.elapsed().as_secs_f64(),
        wall.elapsed()
    );
    stop_tx.send(()).unwrap();
    server.join().unwrap();
    drop(ctr);
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}

/// CPU time (user + system) this process used so far: the server's, as the test thread waits.
fn process_cpu() -> Duration {
    // SAFETY: rusage is plain old data, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a live rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// 2 threads × 4 sockets, 100 queries in flight in all; returns (queries/s, mean latency).
fn loadgen(ctr: &Path, name: &str, dur: Duration) -> (f64, Duration) {
    let mut q = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (ctr, q) = (ctr.to_path_buf(), q.clone());
            std::thread::spawn(move || {
                berth_kernel::netns::run_in(&ctr, move || Ok(load_thread(&q, dur))).unwrap()
            })
        })
        .collect();
    let (mut n, mut total) = (0u64, Duration::ZERO);
    for t in threads {
        let (tn, tl) = t.join().unwrap();
        n += tn;
        total += tl;
    }
    (n as f64 / dur.as_secs_f64(), total / n.max(1) as u32)
}

fn load_thread(q: &[u8], dur: Duration) -> (u64, Duration) {
    const SOCKS: usize = 4;
    const INFLIGHT: usize = 12; // per socket
    let socks: Vec<UdpSocket> = (0..SOCKS)
        .map(|_| {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.connect("127.0.0.11:53").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut sent_at = vec![Instant::now(); 65536];
    let mut q = q.to_vec();
    let mut id: u16 = 0;
    let mut inflight = [0usize; SOCKS];
    let (mut done, mut lat) = (0u64, Duration::ZERO);
    let mut buf = [0u8; 512];
    let end = Instant::now() + dur;
    while Instant::now() < end {
        for (i, s) in socks.iter().enumerate() {
            while inflight[i] < INFLIGHT {
                id = id.wrapping_add(1);
                q[..2].copy_from_slice(&id.to_be_bytes());
                sent_at[id as usize] = Instant::now();
                if s.send(&q).is_err() {
                    break;
                }
                inflight[i] += 1;
            }
            while let Ok(n) = s.recv(&mut buf) {
                if n >= 2 {
                    let rid = u16::from_be_bytes([buf[0], buf[1]]);
                    lat += sent_at[rid as usize].elapsed();
                    done += 1;
                    inflight[i] -= 1;
                }
            }
        }
    }
    (done, lat)
}

/// CPU cost of answering one local query (no sockets).
#[test]
#[ignore = "micro benchmark: run by hand with --release"]
fn bench_handle() {
    let q = [
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'e', b'b', 0, 0, 1, 0, 1,
    ];
    let mut out = Vec::new();
    let n = 2_000_000;
    let start = Instant::now();
    for _ in 0..n {
        let d = berth_dns::answer::handle(
            std::hint::black_box(&q),
            "c1",
            &Fake,
            berth_dns::answer::Transport::Udp,
            &mut out,
        );
        assert_eq!(d, berth_dns::answer::Decision::Reply);
    }
    println!("handle: {:?} per query", start.elapsed() / n);
}
