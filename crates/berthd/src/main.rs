//! berthd: the berth daemon. Serves the Docker Engine API on a unix socket.
//!
//! The same executable is also the container runtime's helper processes: `berthd shim BUNDLE`
//! (one per container, outlives the daemon) and `berthd nsexec SPEC` (a process inside a running
//! container). Those modes are dispatched before any thread exists, as they fork.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "berthd",
    version,
    about = "berth daemon: Docker's networking model, in Rust"
)]
struct Args {
    /// Persistent state: the store, images, container logs and layers.
    #[arg(long, default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Runtime state: network namespaces, bundles.
    #[arg(long, default_value = "/run/berth")]
    exec_root: PathBuf,
    /// Where to listen.
    #[arg(
        short = 'H',
        long = "host",
        default_value = "unix:///run/berth/berth.sock"
    )]
    host: String,
    /// A pool for automatic subnets, `base=CIDR,size=N` (repeatable; replaces Docker's
    /// default pools when given).
    #[arg(long = "default-address-pool")]
    default_address_pool: Vec<berth_engine::network::ipam::Pool>,
    /// Interface name of the default `bridge` network.
    #[arg(long, default_value = "berth0")]
    bridge_name: String,
    /// Traffic between containers on the default `bridge` network (`--icc=false`: only
    /// legacy `--link` pairs may talk, on the target's exposed ports; Docker's flag).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    icc: bool,
    /// br_netfilter in berthd's namespace, which berth does not need: `auto` turns
    /// bridge-nf-call-iptables/ip6tables/arptables off at start unless a bridge berth does
    /// not own exists (Docker's, Kubernetes', libvirt's: they may need it); `off` always turns
    /// them off; `keep` leaves them. Off, frames bridged between containers and overlay peers
    /// skip conntrack and the IP hooks (~10-15% more throughput).
    #[arg(long, value_enum, default_value = "auto", value_name = "auto|keep|off")]
    bridge_netfilter: BridgeNetfilter,
    /// Socket-level forwarding of published TCP ports for clients in berthd's namespace: a
    /// cgroup BPF program sends `connect()` to 127.0.0.1:PORT straight to the container, so no
    /// packet is translated. `auto` uses it where the kernel allows (else nftables' DNAT serves
    /// these clients, as it does all others), `on` requires it, `off` never uses it.
    #[arg(long, value_enum, default_value = "auto", value_name = "auto|on|off")]
    socket_lb: SocketLb,
    /// error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Group (name or gid) given access to the API socket besides root (dockerd's `-G`).
    /// Membership of it is as good as root: the API starts containers.
    #[arg(short = 'G', long, value_name = "GROUP")]
    group: Option<String>,
    /// A registry reached over plain HTTP, `HOST:PORT` or a CIDR (repeatable; loopback
    /// registries always are).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    insecure_registry: Vec<String>,
    /// Join a cluster for overlay networks: `etcd://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, value_name = "URL")]
    cluster_store: Option<String>,
    /// The address other hosts reach this one at (VXLAN underlay). Required with --cluster-store.
    #[arg(long, value_name = "IP")]
    cluster_advertise: Option<std::net::IpAddr>,
    /// TLS for etcd: CA certificate (turns on https), client certificate and key.
    #[arg(long, value_name = "FILE")]
    cluster_store_cacert: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    cluster_store_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    cluster_store_key: Option<PathBuf>,
    /// Seconds before a dead host's endpoints vanish from the others.
    #[arg(long, default_value_t = 10)]
    cluster_lease_ttl: i64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SocketLb {
    Auto,
    On,
    Off,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BridgeNetfilter {
    Auto,
    Keep,
    Off,
}

fn main() -> Result<()> {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("shim") => {
            let bundle = argv.get(2).context("usage: berthd shim BUNDLE")?;
            std::process::exit(berth_runtime::shim::main(std::path::Path::new(bundle)));
        }
        Some("mnt-template") => std::process::exit(berth_runtime::template::helper_main()),
        Some("nsexec") => {
            let spec = argv.get(2).context("usage: berthd nsexec SPEC_JSON")?;
            std::process::exit(berth_runtime::nsexec::main(spec));
        }
        _ => {}
    }
    let args = Args::parse();
    // Two malloc arenas instead of one per core and thread: berthd's allocations are small and
    // short, and every arena keeps its own high-water mark of freed memory.
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log_level).context("bad --log-level")?,
        )
        .with_writer(std::io::stderr)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("berthd must run as root (it creates namespaces, mounts and network devices)");
    }
    let socket = args.host.strip_prefix("unix://").with_context(|| {
        format!(
            "unsupported -H {}: only unix:///path is supported",
            args.host
        )
    })?;
    let runtime_exe = std::env::current_exe().context("locate berthd executable")?;
    // Checked before anything is set up: a bad --group changes nothing.
    let gid = socket_gid(args.group.as_deref())?;
    let cluster = cluster_config(&args)?;
    let pools = if args.default_address_pool.is_empty() {
        berth_engine::network::ipam::default_pools()
    } else {
        args.default_address_pool
    };
    let cfg = berth_engine::Config {
        data_root: args.data_root,
        exec_root: args.exec_root,
        runtime_exe,
        pools,
        default_bridge: args.bridge_name,
        insecure_registries: args.insecure_registry,
        icc: args.icc,
        cluster,
        bridge_netfilter: match args.bridge_netfilter {
            BridgeNetfilter::Auto => berth_engine::network::brnf::BridgeNetfilter::Auto,
            BridgeNetfilter::Keep => berth_engine::network::brnf::BridgeNetfilter::Keep,
            BridgeNetfilter::Off => berth_engine::network::brnf::BridgeNetfilter::Off,
        },
        socket_lb: match args.socket_lb {
            SocketLb::Auto => berth_engine::network::socklb::SocketLbMode::Auto,
            SocketLb::On => berth_engine::network::socklb::SocketLbMode::On,
            SocketLb::Off => berth_engine::network::socklb::SocketLbMode::Off,
        },
    };
    let dataplane = berth_engine::network::dataplane::KernelDataplane::new()
        .await
        .map_err(anyhow::Error::msg)
        .context("open netlink")?;
    let engine = berth_engine::Engine::open(cfg, std::sync::Arc::new(dataplane))
        .await
        .context("open berth state")?;
    let listener = bind(socket, gid)?;
    tracing::info!(socket, "berthd listening");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = berth_api::serve(listener, engine) => r.context("serve")?,
        _ = term.recv() => tracing::info!("SIGTERM: stopping (containers keep running)"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping (containers keep running)"),
    }
    let _ = std::fs::remove_file(socket);
    Ok(())
}

/// `--cluster-store` and friends, with a host id kept in the data root.
fn cluster_config(args: &Args) -> Result<Option<berth_cluster::ClusterConfig>> {
    let Some(url) = &args.cluster_store else {
        if args.cluster_advertise.is_some() {
            bail!("--cluster-advertise needs --cluster-store");
        }
        return Ok(None);
    };
    let endpoints = berth_cluster::parse_store(url)?;
    let advertise = args
        .cluster_advertise
        .context("--cluster-store needs --cluster-advertise IP (this host's underlay address)")?;
    std::fs::create_dir_all(&args.data_root)?;
    let id_file = args.data_root.join("host-id");
    let host_id = match std::fs::read_to_string(&id_file) {
        Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            let id = berth_engine::ids::new_id()[..16].to_string();
            std::fs::write(&id_file, &id)
                .with_context(|| format!("write {}", id_file.display()))?;
            id
        }
    };
    Ok(Some(berth_cluster::ClusterConfig {
        endpoints,
        ca: args.cluster_store_cacert.clone(),
        cert: args.cluster_store_cert.clone(),
        key: args.cluster_store_key.clone(),
        host_id,
        advertise,
        lease_ttl: args.cluster_lease_ttl.max(2),
    }))
}

/// The gid of `--group`: a group name from the group database, or a number.
fn socket_gid(group: Option<&str>) -> Result<u32> {
    let Some(g) = group else { return Ok(0) };
    if let Ok(n) = g.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(g) {
        Ok(Some(grp)) => Ok(grp.gid.as_raw()),
        Ok(None) => bail!("--group: no group named {g:?}"),
        Err(e) => bail!("--group {g:?}: {e}"),
    }
}

/// Binds the API socket: owner root, group root (or `--group`), mode 0660, replacing a stale
/// socket file.
fn bind(path: &str, gid: u32) -> Result<tokio::net::UnixListener> {
    let p = std::path::Path::new(path);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if p.exists() {
        if std::os::unix::net::UnixStream::connect(p).is_ok() {
            bail!("another daemon is already listening on {path}");
        }
        std::fs::remove_file(p).with_context(|| format!("remove stale socket {path}"))?;
    }
    let l = tokio::net::UnixListener::bind(p).with_context(|| format!("listen on {path}"))?;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660))?;
    nix::unistd::chown(p, Some(0.into()), Some(gid.into()))?;
    Ok(l)
}
