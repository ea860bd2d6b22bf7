//! `check datascale [--load s|m|l|xl] [--prefix P] [--auto-compact] [--auto-defrag]`:
//! puts the model's number of 1 KiB key-values (512-byte keys, 512-byte values) from the
//! model's number of clients as fast as they go, and reports how much the first
//! endpoint's resident memory grew, as etcdctl 3.6 does. It fails (exit 1) on any failed
//! put or when the memory cannot be read. etcdctl's progress bar is not drawn.

use bytes::Bytes;
use etcdkit::KeyRange;

use super::DatascaleArgs;
use super::after::{self, bounded};
use super::load::{self, Plan};
use super::metrics;
use super::stats::Stats;
use crate::args::GlobalArgs;
use crate::commands::{connect, endpoints, write_stdout};
use crate::error::{CliError, ExitCode};
use crate::go_compat;

/// A model: key-values to write, bytes per key-value, concurrent clients.
fn model(load: &str) -> Option<(u64, usize, usize)> {
    Some(match load {
        "s" | "small" => (10_000, 1024, 50),
        "m" | "medium" => (100_000, 1024, 200),
        "l" | "large" => (1_000_000, 1024, 500),
        "xl" | "xLarge" => (3_000_000, 1024, 1000),
        _ => return None,
    })
}

/// Runs `check datascale`.
pub async fn run(global: &GlobalArgs, args: &DatascaleArgs) -> Result<(), CliError> {
    let Some((mut limit, kv_size, clients_n)) = model(&args.load) else {
        return Err(CliError::bad_feature(format!(
            "unknown load option {}",
            args.load
        )));
    };
    if let Some(total) = args.total {
        limit = total;
    }
    let endpoints = endpoints(global)?;
    let mut clients = Vec::with_capacity(clients_n);
    for _ in 0..clients_n {
        clients.push(connect(global).await?);
    }
    let first = clients[0].clone();
    let prefix = Bytes::from(args.prefix.clone().into_bytes());
    // Bounded by the client's request timeout (etcdctl waits without one).
    let existing = first
        .kv()
        .get(prefix.clone())
        .range(KeyRange::prefix(prefix.clone()))
        .limit(1)
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    if !existing.kvs().is_empty() {
        return Err(CliError::invalid_input(format!(
            "prefix {} has keys. Delete with etcdkit del --prefix {} first",
            go_compat::quote(&prefix),
            args.prefix
        )));
    }

    let before = match metrics::resident_memory(&endpoints[0]).await {
        Ok(bytes) if bytes != 0.0 => bytes,
        result => return fail_memory(result.err(), "before"),
    };
    write_stdout(
        format!(
            "Start data scale check for work load [{limit} key-value pairs, {kv_size} bytes \
             per key-value, {clients_n} concurrent clients].\n"
        )
        .as_bytes(),
    )?;
    let plan = Plan {
        rate: None,
        duration: None,
        total: Some(limit),
        key_size: 512,
        value_size: 512,
    };
    let (results, elapsed) = load::run(&clients, &prefix, plan).await;
    drop(clients);
    let stats = Stats::new(&results, elapsed);
    let after_bytes = match metrics::resident_memory(&endpoints[0]).await {
        Ok(bytes) if bytes != 0.0 => bytes,
        result => return fail_memory(result.err(), "after"),
    };

    let range = KeyRange::prefix(prefix.clone());
    let deleted = bounded(
        after::TIMEOUT,
        first.kv().delete(prefix.clone()).range(range),
    )
    .await?;
    if args.after.auto_compact {
        after::compact(&first, deleted.header().revision().0).await?;
    }
    if args.after.auto_defrag {
        after::defrag(&first, &endpoints).await?;
    }

    if !stats.errors.is_empty() {
        let mut out = String::from("FAIL: too many errors\n");
        for (message, n) in &stats.errors {
            out.push_str(&format!("FAIL: ERROR({message}) -> {n}\n"));
        }
        write_stdout(out.as_bytes())?;
        return Err(CliError::new(ExitCode::Error, ""));
    }
    let used_mb = (after_bytes - before) / (1024.0 * 1024.0);
    write_stdout(format!("PASS: Approximate system memory used : {used_mb:.2} MB.\n").as_bytes())
}

/// etcdctl's lines when the memory could not be read: why, then the FAIL line; exit 1.
fn fail_memory(why: Option<String>, when: &str) -> Result<(), CliError> {
    let mut out = String::new();
    if let Some(why) = why {
        out.push_str(&why);
        out.push('\n');
    }
    out.push_str(&format!(
        "FAIL: Could not read process_resident_memory_bytes {when} the put operations.\n"
    ));
    write_stdout(out.as_bytes())?;
    Err(CliError::new(ExitCode::Error, ""))
}
