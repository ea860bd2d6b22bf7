//! `check perf [--load s|m|l|xl] [--prefix P] [--auto-compact] [--auto-defrag]`: writes
//! 1 KiB values under random 256-byte keys at the model's rate from the model's number of
//! clients for 60 s, deletes them, and judges the run as etcdctl 3.6 does:
//!
//! - no failed request;
//! - throughput above 90% of the model's rate;
//! - the slowest request under 0.5 s;
//! - a latency standard deviation under 0.1 s.
//!
//! It prints etcdctl's lines (`PASS: Throughput is N writes/s`, ...) and exits 1 on
//! FAIL. etcdctl's progress bar is not drawn.

use std::time::Duration;

use bytes::Bytes;
use etcdkit::KeyRange;

use super::PerfArgs;
use super::after::{self, bounded};
use super::load::{self, Plan};
use super::stats::Stats;
use crate::args::GlobalArgs;
use crate::commands::{connect, endpoints, write_stdout};
use crate::error::{CliError, ExitCode};
use crate::go_compat;

/// A workload model: writes per second, concurrent clients, seconds.
struct Model {
    limit: u64,
    clients: usize,
    duration: Duration,
}

/// etcdctl's models, by name or alias.
fn model(load: &str) -> Option<Model> {
    let (limit, clients) = match load {
        "s" | "small" => (150, 50),
        "m" | "medium" => (1000, 200),
        "l" | "large" => (8000, 500),
        "xl" | "xLarge" => (15000, 1000),
        _ => return None,
    };
    Some(Model {
        limit,
        clients,
        duration: Duration::from_secs(60),
    })
}

/// Runs `check perf`.
pub async fn run(global: &GlobalArgs, args: &PerfArgs) -> Result<(), CliError> {
    let Some(mut model) = model(&args.load) else {
        return Err(CliError::bad_feature(format!(
            "unknown load option {}",
            args.load
        )));
    };
    if let Some(duration) = args.duration {
        model.duration = duration;
    }
    let endpoints = endpoints(global)?;
    let mut clients = Vec::with_capacity(model.clients);
    for _ in 0..model.clients {
        clients.push(connect(global).await?);
    }
    let first = clients[0].clone();
    let prefix = Bytes::from(args.prefix.clone().into_bytes());

    let existing = bounded(
        model.duration,
        first
            .kv()
            .get(prefix.clone())
            .range(KeyRange::prefix(prefix.clone()))
            .limit(1),
    )
    .await?;
    if !existing.kvs().is_empty() {
        return Err(CliError::invalid_input(format!(
            "prefix {} has keys. Delete with 'etcdkit del --prefix {}' first",
            go_compat::quote(&prefix),
            args.prefix
        )));
    }

    let plan = Plan {
        rate: Some(model.limit),
        duration: Some(model.duration),
        total: None,
        key_size: 256,
        value_size: 1024,
    };
    let (results, elapsed) = load::run(&clients, &prefix, plan).await;
    drop(clients);
    let stats = Stats::new(&results, elapsed);

    let mut out = String::new();
    let range = KeyRange::prefix(prefix.clone());
    match bounded(
        after::TIMEOUT,
        first.kv().delete(prefix.clone()).range(range),
    )
    .await
    {
        // etcdctl goes on to its verdict when the cleanup fails.
        Err(e) => out.push_str(&format!(
            "FAIL: Cleanup failed during key deletion: ERROR({})\n",
            e.message
        )),
        Ok(deleted) if args.after.auto_compact => {
            after::compact(&first, deleted.header().revision().0).await?;
        }
        Ok(_) => {}
    }
    if args.after.auto_defrag {
        after::defrag(&first, &endpoints).await?;
    }

    let passed = verdict(&stats, model.limit, &mut out);
    write_stdout(out.as_bytes())?;
    if passed {
        Ok(())
    } else {
        // The lines above said why; etcdctl adds no `Error:` line.
        Err(CliError::new(ExitCode::Error, ""))
    }
}

/// Appends etcdctl's verdict lines; whether the run passed.
fn verdict(stats: &Stats, limit: u64, out: &mut String) -> bool {
    let mut ok = true;
    if !stats.errors.is_empty() {
        out.push_str("FAIL: too many errors\n");
        for (message, n) in &stats.errors {
            out.push_str(&format!("FAIL: ERROR({message}) -> {n}\n"));
        }
        ok = false;
    }
    // etcdctl prints the truncated rate plus one.
    let shown = stats.rps as i64 + 1;
    if stats.rps / limit as f64 <= 0.9 {
        out.push_str(&format!("FAIL: Throughput too low: {shown} writes/s\n"));
        ok = false;
    } else {
        out.push_str(&format!("PASS: Throughput is {shown} writes/s\n"));
    }
    if stats.slowest > 0.5 {
        out.push_str(&format!(
            "Slowest request took too long: {:.6}s\n",
            stats.slowest
        ));
        ok = false;
    } else {
        out.push_str(&format!(
            "PASS: Slowest request took {:.6}s\n",
            stats.slowest
        ));
    }
    if stats.stddev > 0.1 {
        out.push_str(&format!("Stddev too high: {:.6}s\n", stats.stddev));
        ok = false;
    } else {
        out.push_str(&format!("PASS: Stddev is {:.6}s\n", stats.stddev));
    }
    out.push_str(if ok { "PASS\n" } else { "FAIL\n" });
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_lines_are_etcdctls() {
        let stats = Stats {
            rps: 149.5,
            slowest: 0.0123,
            stddev: 0.001,
            ..Stats::default()
        };
        let mut out = String::new();
        assert!(verdict(&stats, 150, &mut out));
        assert_eq!(
            out,
            "PASS: Throughput is 150 writes/s\nPASS: Slowest request took 0.012300s\n\
             PASS: Stddev is 0.001000s\nPASS\n"
        );
        let mut slow = Stats {
            rps: 20.0,
            slowest: 0.7,
            stddev: 0.2,
            ..Stats::default()
        };
        slow.errors
            .insert("etcdserver: too many requests".into(), 3);
        let mut out = String::new();
        assert!(!verdict(&slow, 150, &mut out));
        assert_eq!(
            out,
            "FAIL: too many errors\nFAIL: ERROR(etcdserver: too many requests) -> 3\n\
             FAIL: Throughput too low: 21 writes/s\nSlowest request took too long: 0.700000s\n\
             Stddev too high: 0.200000s\nFAIL\n"
        );
    }
}
