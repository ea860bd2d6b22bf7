//! The grammar of `etcdkit bench`: flags shared by every workload, then one subcommand per
//! workload. Names and defaults follow etcd's `benchmark` tool where it has the same flag.

use clap::builder::RangedU64ValueParser;
use clap::{Args, Subcommand, ValueEnum};

/// `bench [flags] put|get|txn-put|watch|lease-keepalive`
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub workload: Workload,
}

/// Flags of every workload. They are global to `bench`, so they may come before or after
/// the workload's name, as in etcd's tool.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Benchmark options")]
pub struct CommonArgs {
    /// Concurrent tasks sending requests
    #[arg(long, global = true, default_value_t = 1, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub clients: usize,

    /// HTTP/2 connections (one client each; tasks take them round-robin)
    #[arg(long, global = true, default_value_t = 1, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub conns: usize,

    /// Requests to send in all (for watch: puts; each is seen by every watcher)
    #[arg(long, global = true, default_value_t = 10_000, value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub total: u64,

    /// Bytes of each key after --key-prefix: the key's index in decimal, zero-padded
    #[arg(long, global = true, default_value_t = 8)]
    pub key_size: usize,

    /// Bytes of each value
    #[arg(long, global = true, default_value_t = 8)]
    pub val_size: usize,

    /// How many distinct keys to use (keys 0 .. N-1)
    #[arg(long, global = true, default_value_t = 1, value_parser = RangedU64ValueParser::<u64>::new().range(1..))]
    pub key_space_size: u64,

    /// Use keys in order (op i uses key i mod key-space-size) instead of at random
    #[arg(long, global = true)]
    pub sequential_keys: bool,

    /// Cap on requests per second over all tasks (0: no cap)
    #[arg(long, global = true, default_value_t = 0)]
    pub rate: u64,

    /// Prefix of every key the benchmark writes, reads or watches
    #[arg(long, global = true, default_value = "bench/")]
    pub key_prefix: String,

    /// Print the results as one JSON object, latencies in microseconds (as does -w json)
    #[arg(long, global = true)]
    pub json: bool,
}

/// The workloads.
#[derive(Subcommand, Debug, Clone)]
pub enum Workload {
    /// Puts keys of the key space
    Put,
    /// Reads keys of the key space (every key is written once first, unmeasured)
    Get {
        /// Linearizable(l) or Serializable(s)
        #[arg(long, value_enum, default_value_t = Consistency::L)]
        consistency: Consistency,
    },
    /// Transactions of --txn-ops puts each (to distinct keys)
    #[command(name = "txn-put")]
    TxnPut {
        /// Puts in each transaction
        #[arg(long, default_value_t = 1, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
        txn_ops: usize,
    },
    /// Creates watchers on the key prefix, then puts --total keys and measures how long
    /// each event takes from the start of its put to each watcher
    Watch {
        /// Watchers, spread round-robin over the --conns connections
        #[arg(long, default_value_t = 100, value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
        watchers: usize,
    },
    /// Keepalive round trips: each task grants a lease, then renews it once per request
    #[command(name = "lease-keepalive")]
    LeaseKeepalive,
}

/// Read consistency of `bench get`, spelled as etcdctl spells it.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// Linearizable: the read goes through the leader's consensus
    #[value(name = "l")]
    L,
    /// Serializable: the member answers from its local store
    #[value(name = "s")]
    S,
}
