//! `etcdkit-chaos`: randomized fault runs against a real three-member etcd cluster, with
//! checkers over the recorded history. See `scripts/chaos` and `docs/RELIABILITY.md`.
//!
//! The last line printed is exactly `chaos: F faults, O operations, A anomalies`; the exit
//! status is non-zero when there is any anomaly (each is printed before it).

mod checkers;
mod history;
mod nemesis;
mod readback;
mod report;
mod run;
mod stop;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Randomized fault runs against a real etcd cluster.
#[derive(Debug, Clone, Parser)]
#[command(name = "etcdkit-chaos")]
pub struct Args {
    /// How long faults are injected, in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Seed of the fault schedule (default: drawn at random, and printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The etcd binary (default: ETCD_BIN, else `etcd` in PATH).
    #[arg(long)]
    pub etcd: Option<PathBuf>,
    /// After the run, kill two of the three members and check that requests end in
    /// clean failures, not hangs.
    #[arg(long)]
    pub lose_majority: bool,
    /// Writer tasks (unique keys).
    #[arg(long, default_value_t = 4)]
    pub writers: usize,
    /// Watchers (each on its own client).
    #[arg(long, default_value_t = 3)]
    pub watchers: usize,
    /// Processes working the compare-and-swap register.
    #[arg(long, default_value_t = 3)]
    pub register_processes: usize,
    /// Mutex holders (each on its own client and session).
    #[arg(long, default_value_t = 3)]
    pub holders: usize,
    /// Registry discoverers (each on its own client).
    #[arg(long, default_value_t = 3)]
    pub discoverers: usize,
    /// TTL of the lease keeper's lease, in seconds.
    #[arg(long, default_value_t = 5)]
    pub lease_ttl: u64,
    /// Longest freeze (SIGSTOP) of a member, in seconds. The default stays under the
    /// lease TTL; longer freezes of the leader probe issue 13's lost leases.
    #[arg(long, default_value_t = 3.0)]
    pub max_freeze: f64,
    /// Only process faults (kill, freeze, restart): members are not put behind the test
    /// kit's proxies, so no partition, client isolation, blackhole or latency.
    #[arg(long)]
    pub no_network_faults: bool,
    /// Print every fault (kind, member, the leader before it, start and end).
    #[arg(long)]
    pub verbose: bool,
    /// TTL of the registry instance, in seconds.
    #[arg(long, default_value_t = 6)]
    pub registry_ttl: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chaos: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run::run(args)) {
        Ok(outcome) => {
            println!(
                "{}",
                report::summary(outcome.faults, outcome.operations, outcome.anomalies)
            );
            if outcome.anomalies == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            // No summary line: the run itself failed (etcd would not start, ...).
            eprintln!("chaos: run failed: {e:#}");
            ExitCode::from(2)
        }
    }
}
