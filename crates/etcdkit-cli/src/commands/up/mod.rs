//! `up [--members N] [--data-dir D] [--etcd PATH]`: a local etcd cluster for development,
//! run in the foreground until SIGINT or SIGTERM.
//!
//! The members are started by the test kit (loopback ports, fast elections: 10 ms
//! heartbeats, 100 ms election timeout), so a killed member is replaced by a new leader
//! in a fraction of a second. Three members by default: the smallest cluster that
//! survives losing one, so failover can be tried locally; `--members 1` is the lightest.
//!
//! # Behavior
//!
//! - Prints each member's name, pid, client URL, data directory and log, then the
//!   endpoints and an `export ETCDCTL_ENDPOINTS=...` line, then one line per change of a
//!   member's health.
//! - On SIGINT or SIGTERM: every member gets SIGTERM, and SIGKILL after a grace period (a
//!   second signal cuts the wait short); the command exits 0 once none is left. The data
//!   is removed, unless `--data-dir` was given: then it is kept, and `up --data-dir` with
//!   the same directory starts the same cluster again (same ports, same data).
//! - A binary that cannot be found or run, or members that do not come up, end the
//!   command with `Error: ...` (what etcd logged printed before it) and exit code 1.
//! - If this process is killed with SIGKILL, the members are left running: nothing can
//!   stop them then.

mod monitor;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use etcdkit_testkit::{ClusterBuilder, EtcdCluster};

use super::lock::Interrupt;
use super::write_stdout;
use crate::error::CliError;

/// How long members may take to become healthy.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long members get to stop on SIGTERM before they are killed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `up` flags.
#[derive(Args, Debug, Clone, Default)]
pub struct UpArgs {
    /// Number of members [default: 3, or with --data-dir holding a cluster, its number]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub members: Option<u16>,
    /// Keep the data (and logs) in this directory, created if missing; a later `up` with
    /// the same directory starts the same cluster again [default: a temporary directory,
    /// removed on exit]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The etcd binary [default: $ETCD_BIN, else <workspace>/.etcd/bin/etcd, else etcd on
    /// PATH]
    #[arg(long, value_name = "PATH")]
    pub etcd: Option<PathBuf>,
}

/// Runs `up` until interrupted.
pub async fn run(args: &UpArgs) -> Result<(), CliError> {
    // Installed before anything starts, so an interrupt never kills this process with the
    // members still running.
    let mut interrupt = Interrupt::new()?;
    let cluster = tokio::select! {
        started = builder(args).start() => started.map_err(|e| start_error(e, args))?,
        () = interrupt.wait() => {
            // Dropping the start killed what it had started, and removed what it made.
            eprintln!("interrupted while starting; stopped");
            return Ok(());
        }
    };
    let kept = args.data_dir.is_some();
    write_stdout(report::Summary::of(&cluster, kept).render().as_bytes())?;

    let watched = tokio::select! {
        result = monitor::watch(&cluster) => result,
        () = interrupt.wait() => Ok(()),
    };
    let stopped = stop(&cluster, &mut interrupt).await;
    let root = cluster.root_dir().to_path_buf();
    drop(cluster);
    if !kept && root.exists() {
        eprintln!("warning: could not remove {}", root.display());
    }
    watched?;
    stopped?;
    write_stdout(report::stopped(&root, kept).as_bytes())
}

fn builder(args: &UpArgs) -> ClusterBuilder {
    let mut builder = EtcdCluster::builder().startup_timeout(STARTUP_TIMEOUT);
    if let Some(n) = args.members {
        builder = builder.members(usize::from(n));
    }
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    if let Some(bin) = &args.etcd {
        builder = builder.etcd_bin(bin);
    }
    builder
}

/// Stops every member gently; a second interrupt skips the grace period (the cluster's
/// drop then kills what is left).
async fn stop(cluster: &EtcdCluster, interrupt: &mut Interrupt) -> Result<(), CliError> {
    let n = cluster.len();
    let plural = if n == 1 { "" } else { "s" };
    write_stdout(format!("stopping {n} member{plural}\n").as_bytes())?;
    tokio::select! {
        result = cluster.shutdown(SHUTDOWN_GRACE) => {
            result.map_err(|e| CliError::error(e.to_string()))
        }
        () = interrupt.wait() => Ok(()),
    }
}

/// A failed start as one `Error:` line; etcd's log, when there is one, goes before it.
fn start_error(e: etcdkit_testkit::Error, args: &UpArgs) -> CliError {
    use etcdkit_testkit::Error as Kit;
    let text = match (&e, &args.etcd) {
        (Kit::BinaryNotFound { .. }, Some(given)) => {
            format!("--etcd {}: no executable file there", given.display())
        }
        (Kit::BinaryNotFound { .. }, None) => format!("{e}, or pass --etcd PATH"),
        // The test kit's wording ("invalid test cluster settings") would puzzle here.
        (Kit::InvalidConfig { reason, .. }, _) => reason.clone(),
        _ => e.to_string(),
    };
    let (message, detail) = first_line_and_rest(&text);
    let mut error = CliError::error(message);
    error.detail = detail;
    error
}

/// Splits a message into its first line and the rest (if any, trailing space trimmed).
fn first_line_and_rest(text: &str) -> (String, Option<String>) {
    match text.split_once('\n') {
        Some((first, rest)) => (first.to_owned(), Some(rest.trim_end().to_owned())),
        None => (text.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_error_keeps_its_first_line_for_the_error_line() {
        assert_eq!(first_line_and_rest("short"), ("short".to_owned(), None));
        assert_eq!(
            first_line_and_rest("member m0 exited\n--- log ---\nbad flag\n"),
            (
                "member m0 exited".to_owned(),
                Some("--- log ---\nbad flag".to_owned())
            )
        );
    }
}
