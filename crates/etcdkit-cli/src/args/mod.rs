//! The command line's grammar (clap derive). Flag names, defaults and environment
//! variables follow etcdctl's, so `etcdkit` can stand in for it in scripts.
//!
//! Positional arguments are collected as raw `OsString`s and checked by each command: etcdctl
//! words its argument-count errors itself (and exits 128), and keys are bytes, not
//! necessarily UTF-8.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::commands::{bench, check, serve, up};
use crate::go_compat;

mod admin;
mod mirror;

use crate::security::Secret;
pub use admin::{
    AlarmCommand, AuthCommand, DefragArgs, DowngradeCommand, MemberCommand, PermArgs, RoleCommand,
    SnapshotCommand, SnapshotRestoreArgs, UserAddArgs, UserCommand,
};
pub use mirror::MakeMirrorArgs;

/// Where etcd listens by default.
pub const DEFAULT_ENDPOINT: &str = "127.0.0.1:2379";

/// etcdkit: etcdctl's everyday commands, with the same output.
#[derive(Parser, Debug)]
#[command(
    name = "etcdkit",
    version,
    arg_required_else_help = true,
    // A flag given twice takes its last value, as pflag does for etcdctl (`-w json -w
    // simple` prints simply); list flags (`--endpoints`) still collect every value.
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags that apply to every command (and may come before or after it). Each may also be
/// given as `ETCDCTL_<FLAG>` in the environment (see [`crate::env`]), not both ways.
///
/// Boolean flags read as pflag reads them: `--hex` or `--hex=false`, never a separate
/// value (`--hex false` is `--hex` and a positional `false`).
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// gRPC endpoints, comma separated
    #[arg(long, global = true, value_delimiter = ',', default_value = DEFAULT_ENDPOINT)]
    pub endpoints: Vec<String>,

    /// Dial timeout for client connections
    #[arg(long, global = true, default_value = "2s", value_parser = go_compat::parse_duration)]
    pub dial_timeout: Duration,

    /// Timeout for short running commands (excluding dial timeout)
    #[arg(long, global = true, default_value = "5s", value_parser = go_compat::parse_duration)]
    pub command_timeout: Duration,

    /// Keepalive time for client connections (the interval of HTTP/2 pings)
    #[arg(long, global = true, default_value = "2s", value_parser = go_compat::parse_duration)]
    pub keepalive_time: Duration,

    /// Keepalive timeout for client connections (how long a ping may go unanswered)
    #[arg(long, global = true, default_value = "6s", value_parser = go_compat::parse_duration)]
    pub keepalive_timeout: Duration,

    /// Output format: simple or json
    #[arg(short = 'w', long, global = true, default_value = "simple")]
    pub write_out: String,

    /// Print keys and values of simple output as \xNN escapes
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub hex: bool,

    /// Enable client-side debug logging (prints the global flags' values on stderr)
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub debug: bool,

    /// username[:password] for authentication (prompt if password is not supplied)
    #[arg(long, global = true, value_parser = Secret::parse)]
    pub user: Option<Secret>,

    /// Password for authentication (then --user holds only the name)
    #[arg(long, global = true, value_parser = Secret::parse)]
    pub password: Option<Secret>,

    /// Verify the certificates of TLS servers with this CA bundle (PEM file)
    #[arg(long, global = true)]
    pub cacert: Option<PathBuf>,

    /// Identify this client with this TLS certificate (PEM file)
    #[arg(long, global = true)]
    pub cert: Option<PathBuf>,

    /// Identify this client with this TLS key (PEM file)
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,

    /// Disable transport security for client connections (=false: TLS even for plain
    /// endpoints, trusting the public roots)
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub insecure_transport: bool,

    /// Skip server certificate verification (CAUTION: for testing only)
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub insecure_skip_tls_verify: bool,

    /// Domain name to query for SRV records describing cluster endpoints
    #[arg(short = 'd', long, global = true, default_value = "")]
    pub discovery_srv: String,

    /// Service name to query when using DNS discovery
    #[arg(long, global = true, default_value = "")]
    pub discovery_srv_name: String,

    /// Accept insecure SRV records describing cluster endpoints (=false: expect the
    /// discovery domain on the servers' certificates)
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub insecure_discovery: bool,

    /// Client-side response receive limit in bytes (0: 2 GiB - 1, Go's math.MaxInt32)
    #[arg(long, global = true, default_value_t = 0)]
    pub max_recv_bytes: u32,

    /// Client-side request send limit in bytes (0: 2 MiB)
    #[arg(long, global = true, default_value_t = 0)]
    pub max_request_bytes: u32,

    /// Whether --keepalive-time / --keepalive-timeout were given (on the command line or
    /// in the environment); otherwise the client's own, quicker, defaults stay.
    #[arg(skip)]
    pub keepalive_given: (bool, bool),

    /// The credentials of --user / --password, once resolved (a prompted password is
    /// asked for only once, however many connections a command makes).
    #[arg(skip)]
    pub credentials: Option<(String, Secret)>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Gets the key or a range of keys
    Get(GetArgs),
    /// Puts the given key into the store
    Put(PutArgs),
    /// Removes the specified key or range of keys [key, range_end)
    Del(DelArgs),
    /// Txn processes all the requests in one transaction (read from stdin)
    Txn(TxnArgs),
    /// Compacts the event history in etcd
    Compaction(CompactionArgs),
    /// Watches events stream on keys or prefixes
    Watch(WatchArgs),
    /// Endpoint related commands
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Lease related commands
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Service registry: join, leave, lookup, list, watch
    Registry(RegistryArgs),
    /// Acquires a named lock
    Lock(LockArgs),
    /// Observes and participates in leader election
    Elect(ElectArgs),
    /// Enable, disable or show authentication
    #[command(subcommand)]
    Auth(AuthCommand),
    /// User related commands
    #[command(subcommand)]
    User(UserCommand),
    /// Role related commands
    #[command(subcommand)]
    Role(RoleCommand),
    /// Membership related commands
    #[command(subcommand)]
    Member(MemberCommand),
    /// Alarm related commands
    #[command(subcommand)]
    Alarm(AlarmCommand),
    /// Defragments the storage of the etcd members with given endpoints
    Defrag(DefragArgs),
    /// Transfers leadership to another etcd cluster member
    #[command(name = "move-leader")]
    MoveLeader {
        /// <transferee-member-id> (hexadecimal)
        #[arg(value_name = "ID")]
        args: Vec<String>,
    },
    /// Generate completion script
    Completion {
        /// [bash|zsh|fish|powershell]
        #[arg(value_name = "SHELL")]
        args: Vec<String>,
    },
    /// Downgrade related commands
    #[command(subcommand)]
    Downgrade(DowngradeCommand),
    /// Makes a mirror at the destination etcd cluster
    #[command(name = "make-mirror")]
    MakeMirror(MakeMirrorArgs),
    /// Manages etcd node snapshots
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Benchmarks etcd: put, get, txn-put, watch, lease-keepalive
    Bench(bench::BenchArgs),
    /// commands for checking properties of the etcd cluster
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Runs a local etcd cluster in the foreground until interrupted
    Up(up::UpArgs),
    /// Runs etcdkit's in-process etcd v3 server (one member, in memory or in --data-dir) until interrupted
    Serve(serve::ServeArgs),
    /// Prints the version of etcdkit and the etcd API version it speaks
    Version,
}

impl Command {
    /// Whether the command wants a multi-thread runtime: a benchmark's many tasks should
    /// use every core; the other commands make a few requests and start faster on one.
    pub fn wants_multi_thread(&self) -> bool {
        matches!(self, Command::Bench(_) | Command::Check(_))
    }

    /// Whether the command reads the global flags' `ETCDCTL_*` variables: those that
    /// talk to etcd (in etcdctl, the ones that build a client).
    pub fn reads_etcdctl_env(&self) -> bool {
        !matches!(
            self,
            Command::Version
                | Command::Up(_)
                | Command::Serve(_)
                | Command::Completion { .. }
                | Command::Snapshot(SnapshotCommand::Status { .. } | SnapshotCommand::Restore(_))
        )
    }
}

/// `lock <lockname> [exec-command arg1 arg2 ...]`
#[derive(Args, Debug, Clone, Default)]
pub struct LockArgs {
    /// Timeout for session (seconds)
    #[arg(long, default_value_t = 10)]
    pub ttl: i64,
    /// <lockname> [exec-command arg1 arg2 ...]
    #[arg(
        value_name = "LOCKNAME",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<OsString>,
}

/// `elect <election-name> [proposal]`
#[derive(Args, Debug, Clone, Default)]
pub struct ElectArgs {
    /// Observation mode
    #[arg(short, long)]
    pub listen: bool,
    /// <election-name> [proposal]
    #[arg(value_name = "ELECTION")]
    pub args: Vec<OsString>,
}

/// `get [options] <key> [range_end]`
#[derive(Args, Debug, Clone, Default)]
pub struct GetArgs {
    /// Get keys with matching prefix
    #[arg(long)]
    pub prefix: bool,
    /// Get keys that are greater than or equal to the given key using byte compare
    #[arg(long)]
    pub from_key: bool,
    /// Maximum number of results
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub limit: i64,
    /// Specify the kv revision
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub rev: i64,
    /// Minimum create revision
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub min_create_rev: i64,
    /// Maximum create revision
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub max_create_rev: i64,
    /// Minimum modification revision
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub min_mod_rev: i64,
    /// Maximum modification revision
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub max_mod_rev: i64,
    /// Get only the keys
    #[arg(long)]
    pub keys_only: bool,
    /// Get only the count (etcdctl allows it only inside txn and with -w fields)
    #[arg(long)]
    pub count_only: bool,
    /// Only write values when using the "simple" output format
    #[arg(long)]
    pub print_value_only: bool,
    /// Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION
    #[arg(long, default_value = "")]
    pub sort_by: String,
    /// Order of results; ASCEND or DESCEND (ASCEND by default)
    #[arg(long, default_value = "")]
    pub order: String,
    /// Linearizable(l) or Serializable(s)
    #[arg(long, default_value = "l")]
    pub consistency: String,
    /// <key> [range_end]
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,
}

/// `put [options] <key> <value>` (the value from stdin when it is left out)
#[derive(Args, Debug, Clone, Default)]
pub struct PutArgs {
    /// Lease ID (in hexadecimal) to attach to the key
    #[arg(long, default_value = "0")]
    pub lease: String,
    /// Return the previous key-value pair before modification
    #[arg(long)]
    pub prev_kv: bool,
    /// Updates the key using its current value
    #[arg(long)]
    pub ignore_value: bool,
    /// Updates the key using its current lease
    #[arg(long)]
    pub ignore_lease: bool,
    /// <key> <value>
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,
}

/// `del [options] <key> [range_end]`
#[derive(Args, Debug, Clone, Default)]
pub struct DelArgs {
    /// Delete keys with matching prefix
    #[arg(long)]
    pub prefix: bool,
    /// Return deleted key-value pairs
    #[arg(long)]
    pub prev_kv: bool,
    /// Delete keys that are greater than or equal to the given key using byte compare
    #[arg(long)]
    pub from_key: bool,
    /// delete range of keys
    #[arg(long)]
    pub range: bool,
    /// <key> [range_end]
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,
}

/// `txn [options]`, compares and operations read from stdin
#[derive(Args, Debug, Clone, Default)]
pub struct TxnArgs {
    /// Print a prompt before each section of the input
    #[arg(short, long)]
    pub interactive: bool,
    /// Refused: txn reads everything from stdin
    #[arg(hide = true)]
    pub args: Vec<OsString>,
}

/// `compaction [options] <revision>`
#[derive(Args, Debug, Clone, Default)]
pub struct CompactionArgs {
    /// Wait for the compaction to be physically applied
    #[arg(long)]
    pub physical: bool,
    /// <revision>
    #[arg(value_name = "REVISION")]
    pub args: Vec<String>,
}

/// `lease grant | revoke | timetolive | list | keep-alive`; lease ids in hexadecimal.
#[derive(Subcommand, Debug)]
pub enum LeaseCommand {
    /// Creates leases
    Grant {
        /// <ttl> in seconds
        #[arg(value_name = "TTL")]
        args: Vec<String>,
    },
    /// Revokes leases
    Revoke {
        /// <leaseID>
        #[arg(value_name = "ID")]
        args: Vec<String>,
    },
    /// Get lease information
    Timetolive {
        /// Get keys attached to this lease
        #[arg(long)]
        keys: bool,
        /// <leaseID>
        #[arg(value_name = "ID")]
        args: Vec<String>,
    },
    /// List all active leases
    List {
        /// Ignored, as etcdctl ignores them
        #[arg(hide = true)]
        args: Vec<String>,
    },
    /// Keeps leases alive (renew)
    #[command(name = "keep-alive")]
    KeepAlive {
        /// Resets the keep-alive time to its original value and exits immediately
        #[arg(long)]
        once: bool,
        /// <leaseID>
        #[arg(value_name = "ID")]
        args: Vec<String>,
    },
}

/// `watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]`
#[derive(Args, Debug, Clone, Default)]
pub struct WatchArgs {
    /// Interactive mode: read `watch ...` and `progress` commands from stdin
    #[arg(short, long)]
    pub interactive: bool,
    /// Watch on a prefix if prefix is set
    #[arg(long)]
    pub prefix: bool,
    /// Revision to start watching
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub rev: i64,
    /// get the previous key-value pair before the event happens
    #[arg(long)]
    pub prev_kv: bool,
    /// get periodic watch progress notification from server
    #[arg(long)]
    pub progress_notify: bool,
    /// <key> [range_end] (or none with ETCDCTL_WATCH_KEY / ETCDCTL_WATCH_RANGE_END)
    #[arg(value_name = "KEY")]
    pub args: Vec<OsString>,
    /// A command to run for each event, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub exec: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Checks the healthiness of the endpoints given by --endpoints
    Health {
        /// Use all endpoints from the cluster member list
        #[arg(long)]
        cluster: bool,
    },
    /// Prints the status of the endpoints given by --endpoints
    Status {
        /// Use all endpoints from the cluster member list
        #[arg(long)]
        cluster: bool,
    },
    /// Prints the KV history hash for each endpoint in --endpoints
    Hashkv {
        /// Use all endpoints from the cluster member list
        #[arg(long)]
        cluster: bool,
        /// Maximum revision to hash (default: all revisions)
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        rev: i64,
    },
}

/// One operation line of a `txn`: the same sub-commands and flags as at the top level.
#[derive(Parser, Debug)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true
)]
pub enum TxnOpCommand {
    Get(GetArgs),
    Put(PutArgs),
    Del(DelArgs),
}

/// `registry [--registry URL] join|leave|lookup|list|watch`
#[derive(Args, Debug)]
pub struct RegistryArgs {
    /// Registry connection string, http[s]://h1[:port],h2,.../namespace?ttl=S&heartbeat=S
    /// (default: the --endpoints, namespace `registry`). Accepted before or after the
    /// subcommand, as the global flags are.
    #[arg(long, global = true, env = "ETCDKIT_REGISTRY")]
    pub registry: Option<String>,
    #[command(subcommand)]
    pub command: RegistryCommand,
}

/// The registry's subcommands.
#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Joins a service and heartbeats in the foreground; leaves on interrupt
    Join {
        /// Service name
        name: String,
        /// The instance's port
        #[arg(long)]
        port: u16,
        /// The instance's host name (default: this machine's)
        #[arg(long)]
        hostname: Option<String>,
        /// More fields of the instance's document, as a JSON object
        #[arg(long)]
        data: Option<String>,
        /// Lease TTL in seconds (renewed every TTL/2)
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Removes every instance of a service
    Leave {
        /// Service name
        name: String,
    },
    /// Prints one instance of a service, chosen at random
    Lookup {
        /// Service name
        name: String,
    },
    /// Prints the instances of a service (of every service without NAME)
    List {
        /// Service name
        name: Option<String>,
    },
    /// Prints the instance set of a service now and after every change
    Watch {
        /// Service name
        name: String,
    },
}
