//! `etcdkit bench`: load generators in the manner of etcd's `benchmark` tool.
//!
//! Workloads: `put`, `get`, `txn-put`, `watch`, `lease-keepalive` (see each module). Every
//! workload opens `--conns` clients (each has its own HTTP/2 connection per endpoint),
//! runs `--clients` tasks spread round-robin over them until `--total` operations are
//! done, at most `--rate` per second, and prints a summary: counts, failures by kind,
//! ops/s, latency percentiles and a histogram (`--json`: one JSON object, see
//! [`report`]). A failed operation is counted and the run goes on; the exit code is 0
//! whenever the run could be made, whatever its failures.
//!
//! Keys are `--key-prefix` followed by the key's index, zero-padded to `--key-size`
//! bytes; nothing is deleted afterwards (`etcdkit del --prefix bench/` does it).
//!
//! The command runs on a multi-thread runtime (see `main.rs`), so that `--clients 64`
//! spreads over the machine's cores like a real client fleet would.

mod args;
mod get;
mod lease_keepalive;
mod progress;
mod put;
mod rate;
mod report;
mod runner;
mod txn_put;
mod watch;
mod workload;

use std::time::Duration;

use etcdkit::Client;
use serde_json::{Value, json};

pub use self::args::BenchArgs;
use self::args::{CommonArgs, Workload};
use self::progress::Progress;
use self::report::{Report, Summary};
use self::runner::{Op, Outcome, Plan};
use self::workload::KeySpace;
use super::{connect, write_stdout};
use crate::args::GlobalArgs;
use crate::error::CliError;

/// Runs `etcdkit bench`.
pub async fn run(global: &GlobalArgs, args: &BenchArgs) -> Result<(), CliError> {
    let common = &args.common;
    // Flags first, so that a bad combination fails before any connection is made.
    let keys = KeySpace::new(common)?;
    match &args.workload {
        Workload::TxnPut { txn_ops } => txn_put::check(&keys, *txn_ops)?,
        Workload::Watch { .. } => watch::check(common.val_size)?,
        Workload::Put | Workload::Get { .. } | Workload::LeaseKeepalive => {}
    }
    let mut clients = Vec::with_capacity(common.conns);
    for _ in 0..common.conns {
        clients.push(connect(global).await?);
    }
    let bench = Bench {
        clients,
        common,
        keys,
        request_timeout: global.command_timeout,
    };
    let report = match &args.workload {
        Workload::Put => put::run(&bench).await?,
        Workload::Get { consistency } => get::run(&bench, *consistency).await?,
        Workload::TxnPut { txn_ops } => txn_put::run(&bench, *txn_ops).await?,
        Workload::Watch { watchers } => watch::run(&bench, *watchers).await?,
        Workload::LeaseKeepalive => lease_keepalive::run(&bench).await?,
    };
    let out = if common.json || global.write_out == "json" {
        report.json()
    } else {
        report.text()
    };
    write_stdout(out.as_bytes())
}

/// What every workload runs with.
pub struct Bench<'a> {
    /// One client per `--conns`.
    pub clients: Vec<Client>,
    pub common: &'a CommonArgs,
    pub keys: KeySpace,
    /// The per-request timeout (`--command-timeout`), also how long watchers wait for
    /// events still on their way after the last put.
    pub request_timeout: Duration,
}

impl Bench<'_> {
    /// The measured phase the common flags ask for.
    pub fn plan(&self) -> Plan {
        Plan {
            clients: self.common.clients,
            total: self.common.total,
            rate: self.common.rate,
        }
    }

    /// Runs a phase under a progress bar labelled `label` (see [`runner::drive`]).
    pub async fn measure(
        &self,
        label: &str,
        plan: Plan,
        make_op: impl FnMut(&Client, usize) -> Op,
    ) -> Outcome {
        let progress = Progress::start(label, plan.total);
        let outcome = runner::drive(&self.clients, plan, &progress.ticker(), make_op).await;
        progress.finish();
        outcome
    }

    /// A report of this run: the common flags, the workload's own, and the figures.
    pub fn report(
        &self,
        workload: &'static str,
        extra: Vec<(&'static str, Value)>,
        main: Summary,
    ) -> Report {
        let c = self.common;
        let mut config = vec![
            ("clients", json!(c.clients)),
            ("conns", json!(c.conns)),
            ("total", json!(c.total)),
            ("key_size", json!(c.key_size)),
            ("val_size", json!(c.val_size)),
            ("key_space_size", json!(c.key_space_size)),
            ("sequential_keys", json!(c.sequential_keys)),
            ("rate", json!(c.rate)),
            ("key_prefix", json!(c.key_prefix)),
        ];
        config.extend(extra);
        Report {
            workload,
            config,
            title: "Summary",
            main,
            stages: Vec::new(),
        }
    }
}
