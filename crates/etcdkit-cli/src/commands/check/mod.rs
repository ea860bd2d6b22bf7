//! `check perf` and `check datascale`: etcdctl's checks of a cluster's write
//! performance and of a member's memory use under data.

mod after;
mod datascale;
mod load;
mod metrics;
mod perf;
mod stats;

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::args::GlobalArgs;
use crate::error::CliError;
use crate::go_compat;

/// `check` subcommands.
#[derive(Subcommand, Debug)]
pub enum CheckCommand {
    /// Check the performance of the etcd cluster
    Perf(PerfArgs),
    /// Check the memory usage of holding data for different workloads on a given server
    /// endpoint (the first one given)
    Datascale(DatascaleArgs),
}

/// `check datascale [options]`
#[derive(Args, Debug, Clone)]
pub struct DatascaleArgs {
    /// The datascale check's workload model. Accepted workloads: s(small), m(medium),
    /// l(large), xl(xLarge)
    #[arg(long, default_value = "s")]
    pub load: String,
    /// The prefix for writing the datascale check's keys.
    #[arg(long, default_value = "/etcdctl-check-datascale/")]
    pub prefix: String,
    #[command(flatten)]
    pub after: AfterCheck,
    /// How many key-values to write instead of the model's (for tests; not in etcdctl).
    #[arg(long, hide = true)]
    pub total: Option<u64>,
}

/// What both checks may do to the member once they have removed their keys.
#[derive(Args, Debug, Clone, Copy)]
pub struct AfterCheck {
    /// Compact storage with last revision after test is finished.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub auto_compact: bool,
    /// Defragment storage after test is finished.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub auto_defrag: bool,
}

/// `check perf [options]`
#[derive(Args, Debug, Clone)]
pub struct PerfArgs {
    /// The performance check's workload model. Accepted workloads: s(small), m(medium),
    /// l(large), xl(xLarge)
    #[arg(long, default_value = "s")]
    pub load: String,
    /// The prefix for writing the performance check's keys.
    #[arg(long, default_value = "/etcdctl-check-perf/")]
    pub prefix: String,
    #[command(flatten)]
    pub after: AfterCheck,
    /// How long the load runs instead of the model's 60 s (for tests; not in etcdctl).
    #[arg(long, hide = true, value_parser = go_compat::parse_duration)]
    pub duration: Option<Duration>,
}

/// Runs a `check` subcommand.
pub async fn run(global: &GlobalArgs, command: &CheckCommand) -> Result<(), CliError> {
    match command {
        CheckCommand::Perf(args) => perf::run(global, args).await,
        CheckCommand::Datascale(args) => datascale::run(global, args).await,
    }
}
