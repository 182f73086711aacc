//! Command-line syntax (clap derive). These structs are plain data; values are
//! validated and turned into API requests by the `cmd` modules.

use clap::{ArgAction, Args, Parser, Subcommand};

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A Docker-compatible client for berthd",
    disable_version_flag = true,
    disable_help_subcommand = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", env = "BERTH_HOST", default_value = DEFAULT_HOST)]
    pub host: String,

    /// Print version information and quit
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Return low-level information on berth objects
    Inspect(InspectArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Authenticate to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Show the berth version information
    Version(FormatArgs),
    /// Display system-wide information
    Info(FormatArgs),
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(TypedInspectArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Display detailed information on one or more images
    Inspect(TypedInspectArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsArgs),
    /// Display detailed information on one or more networks
    Inspect(TypedInspectArgs),
    /// Create a network
    Create(NetworkCreateArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
}

/// Flags shared by `run` and `create`.
#[derive(Debug, Clone, Default, Args)]
pub struct ContainerOpts {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,

    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,

    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,

    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,

    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,

    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,

    /// Container NIS domain name
    #[arg(long = "domainname")]
    pub domainname: Option<String>,

    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,

    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Vec<String>,

    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,

    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,

    /// Publish a container's port(s) to the host
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[IP:][HOST_PORT:]PORT[/PROTO]"
    )]
    pub publish: Vec<String>,

    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,

    /// Expose a port or a range of ports
    #[arg(long = "expose")]
    pub expose: Vec<String>,

    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,

    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6")]
    pub ip6: Option<String>,

    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,

    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,

    /// Set custom DNS servers
    #[arg(long = "dns")]
    pub dns: Vec<String>,

    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,

    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,

    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,

    /// Add link to another container
    #[arg(long = "link", value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,

    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,

    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "K=V")]
    pub label: Vec<String>,

    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,

    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,

    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,

    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,

    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub pull: String,

    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,

    /// Image, then the command and its arguments
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub image_and_cmd: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,

    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,

    #[command(flatten)]
    pub opts: ContainerOpts,
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
}

#[derive(Debug, Clone, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,

    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<i32>,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,

    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,

    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,

    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,

    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,

    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last")]
    pub last: Option<i32>,

    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,

    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,

    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,

    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,

    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,

    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,

    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,

    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,

    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,

    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,

    /// Container, then the command and its arguments
    #[arg(
        value_name = "CONTAINER COMMAND [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub container_and_cmd: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectType {
    Container,
    Image,
    Network,
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,

    /// Only inspect objects of the given type
    #[arg(long = "type", value_enum)]
    pub typ: Option<ObjectType>,

    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct TypedInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,

    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub private_port: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,

    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,

    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,

    /// File, URL or - for stdin
    #[arg(value_name = "file|URL|-")]
    pub source: String,

    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,

    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,

    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,

    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,

    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,

    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,

    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,

    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,

    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,

    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,

    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,

    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,

    /// Password
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,

    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,

    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LogoutArgs {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,

    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct NetworkLsArgs {
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,

    /// Format output using a custom template
    #[arg(long = "format")]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct NetworkCreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long = "driver", default_value = "bridge")]
    pub driver: String,

    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet")]
    pub subnet: Vec<String>,

    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway")]
    pub gateway: Vec<String>,

    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,

    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "NAME=IP")]
    pub aux_address: Vec<String>,

    /// IP Address Management Driver
    #[arg(long = "ipam-driver")]
    pub ipam_driver: Option<String>,

    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "K=V")]
    pub ipam_opt: Vec<String>,

    /// Enable or disable IPv4 address assignment
    #[arg(long = "ipv4", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ipv4: Option<bool>,

    /// Enable or disable IPv6 address assignment
    #[arg(long = "ipv6", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ipv6: Option<bool>,

    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,

    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub attachable: bool,

    /// Set metadata on a network
    #[arg(long = "label", value_name = "K=V")]
    pub label: Vec<String>,

    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "K=V")]
    pub opt: Vec<String>,

    /// Control the network's scope
    #[arg(long = "scope")]
    pub scope: Option<String>,

    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Debug, Clone, Args)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    pub force: bool,

    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,

    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct NetworkConnectArgs {
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip")]
    pub ip: Option<String>,

    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6")]
    pub ip6: Option<String>,

    /// Add network-scoped alias for the container
    #[arg(long = "alias")]
    pub alias: Vec<String>,

    /// Add link to another container
    #[arg(long = "link")]
    pub link: Vec<String>,

    /// Add a link-local address for the container
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,

    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "K=V")]
    pub driver_opt: Vec<String>,

    /// Gateway priority
    #[arg(long = "gw-priority")]
    pub gw_priority: Option<i64>,

    #[arg(value_name = "NETWORK")]
    pub network: String,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Clone, Args)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub force: bool,

    #[arg(value_name = "NETWORK")]
    pub network: String,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut v = vec!["berth"];
        v.extend_from_slice(args);
        match Cli::try_parse_from(v) {
            Ok(c) => c,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    fn run_opts(args: &[&str]) -> RunArgs {
        match parse(args).command {
            Command::Run(r) => r,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn run_stops_parsing_at_image() {
        let r = run_opts(&["run", "--rm", "-d", "alpine", "ls", "-l", "--rm"]);
        assert!(r.detach);
        assert!(r.opts.rm);
        assert_eq!(r.opts.image_and_cmd, vec!["alpine", "ls", "-l", "--rm"]);
        let r = run_opts(&["run", "alpine", "-x"]);
        assert_eq!(r.opts.image_and_cmd, vec!["alpine", "-x"]);
    }

    #[test]
    fn run_repeated_flags() {
        let r = run_opts(&[
            "run",
            "-e",
            "A=1",
            "--env=B=2",
            "-p",
            "127.0.0.1:8080:80/udp",
            "-p",
            "9000-9001:90-91",
            "--network",
            "n1",
            "--network=n2",
            "--add-host",
            "db:10.0.0.2",
            "--link",
            "web:w",
            "-h",
            "myhost",
            "-it",
            "busybox",
        ]);
        assert_eq!(r.opts.env, vec!["A=1", "B=2"]);
        assert_eq!(
            r.opts.publish,
            vec!["127.0.0.1:8080:80/udp", "9000-9001:90-91"]
        );
        assert_eq!(r.opts.network, vec!["n1", "n2"]);
        assert_eq!(r.opts.add_host, vec!["db:10.0.0.2"]);
        assert_eq!(r.opts.link, vec!["web:w"]);
        assert_eq!(r.opts.hostname.as_deref(), Some("myhost"));
        assert!(r.opts.interactive && r.opts.tty);
        assert_eq!(r.opts.image_and_cmd, vec!["busybox"]);
    }

    #[test]
    fn global_host_flag() {
        let c = parse(&["-H", "unix:///tmp/x.sock", "ps", "-a"]);
        assert_eq!(c.host, "unix:///tmp/x.sock");
        assert!(matches!(c.command, Command::Ps(PsArgs { all: true, .. })));
    }

    #[test]
    fn exec_stops_parsing_at_command() {
        match parse(&["exec", "-it", "-e", "X=1", "c1", "sh", "-c", "echo -n hi"]).command {
            Command::Exec(e) => {
                assert!(e.interactive && e.tty);
                assert_eq!(e.container_and_cmd, vec!["c1", "sh", "-c", "echo -n hi"]);
            }
            other => panic!("{other:?}"),
        }
        // Flags after the container belong to the command (Docker's
        // non-interspersed parsing), even ones exec itself knows.
        match parse(&["exec", "c1", "-d", "--rm"]).command {
            Command::Exec(e) => {
                assert!(!e.detach);
                assert_eq!(e.container_and_cmd, vec!["c1", "-d", "--rm"]);
            }
            other => panic!("{other:?}"),
        }
        let r = run_opts(&["run", "alpine", "--rm"]);
        assert!(!r.opts.rm);
        assert_eq!(r.opts.image_and_cmd, vec!["alpine", "--rm"]);
    }

    #[test]
    fn network_subcommands() {
        match parse(&[
            "network",
            "create",
            "-d",
            "bridge",
            "--subnet",
            "10.1.0.0/16",
            "--gateway",
            "10.1.0.1",
            "--ipv6",
            "--internal",
            "-o",
            "mtu=1400",
            "n1",
        ])
        .command
        {
            Command::Network(NetworkCommand::Create(c)) => {
                assert_eq!(c.name, "n1");
                assert_eq!(c.ipv6, Some(true));
                assert!(c.internal);
                assert_eq!(c.opt, vec!["mtu=1400"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["network", "ls", "-q"]).command,
            Command::Network(NetworkCommand::Ls(NetworkLsArgs { quiet: true, .. }))
        ));
        assert!(matches!(
            parse(&["container", "ls", "-a"]).command,
            Command::Container(ContainerCommand::Ls(PsArgs { all: true, .. }))
        ));
    }

    #[test]
    fn inspect_type_and_format() {
        match parse(&["inspect", "-f", "{{.Id}}", "--type", "network", "a", "b"]).command {
            Command::Inspect(i) => {
                assert_eq!(i.typ, Some(ObjectType::Network));
                assert_eq!(i.format.as_deref(), Some("{{.Id}}"));
                assert_eq!(i.names, vec!["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_transfer_commands() {
        match parse(&["pull", "-q", "localhost:5000/bb:1"]).command {
            Command::Pull(p) => {
                assert!(p.quiet);
                assert_eq!(p.name, "localhost:5000/bb:1");
            }
            other => panic!("{other:?}"),
        }
        match parse(&["save", "-o", "x.tar", "a", "b"]).command {
            Command::Save(s) => {
                assert_eq!(s.output.as_deref(), Some("x.tar"));
                assert_eq!(s.images, vec!["a", "b"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["image", "prune", "-af"]).command,
            Command::Image(ImageCommand::Prune(ImagePruneArgs {
                all: true,
                force: true,
                ..
            }))
        ));
        assert_eq!(run_opts(&["run", "bb"]).opts.pull, "missing");
        assert_eq!(
            run_opts(&["run", "--pull", "never", "bb"]).opts.pull,
            "never"
        );
        let bad = Cli::try_parse_from(["berth", "run", "--pull", "sometimes", "bb"]);
        assert!(bad.is_err());
    }

    #[test]
    fn import_changes() {
        match parse(&[
            "import",
            "-c",
            "ENV PATH=/bin",
            "--change",
            "CMD [\"sh\"]",
            "-",
            "bb:latest",
        ])
        .command
        {
            Command::Import(i) => {
                assert_eq!(i.change, vec!["ENV PATH=/bin", "CMD [\"sh\"]"]);
                assert_eq!(i.source, "-");
                assert_eq!(i.reference.as_deref(), Some("bb:latest"));
            }
            other => panic!("{other:?}"),
        }
    }
}
