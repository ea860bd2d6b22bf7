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

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use etcdkit::{Client, KeyRange, Revision};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use super::PerfArgs;
use super::stats::Stats;
use crate::args::GlobalArgs;
use crate::commands::{connect, endpoints, write_stdout};
use crate::error::{CliError, DEADLINE_EXCEEDED, ExitCode, etcd_message};
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

/// The bound etcdctl puts on the cleanup, compaction and defragmentation.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);
const KEY_SIZE: usize = 256;
const VALUE_SIZE: usize = 1024;

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

    let (results, elapsed) = load(&clients, &model, &prefix).await;
    drop(clients);
    let stats = Stats::new(&results, elapsed);

    let mut out = String::new();
    match bounded(
        CLEANUP_TIMEOUT,
        first
            .kv()
            .delete(prefix.clone())
            .range(KeyRange::prefix(prefix.clone())),
    )
    .await
    {
        Err(e) => out.push_str(&format!(
            "FAIL: Cleanup failed during key deletion: ERROR({})\n",
            e.message
        )),
        Ok(deleted) if args.auto_compact => {
            let rev = deleted.header().revision().0;
            write_stdout(format!("Compacting with revision {rev}\n").as_bytes())?;
            bounded(
                CLEANUP_TIMEOUT,
                first.kv().compact(Revision(rev)).physical(),
            )
            .await?;
            write_stdout(format!("Compacted with revision {rev}\n").as_bytes())?;
        }
        Ok(_) => {}
    }
    if args.auto_defrag {
        for endpoint in &endpoints {
            let quoted = go_compat::quote(endpoint.as_bytes());
            write_stdout(format!("Defragmenting {quoted}\n").as_bytes())?;
            bounded(
                CLEANUP_TIMEOUT,
                first.maintenance().defragment().endpoint(endpoint.clone()),
            )
            .await?;
            write_stdout(format!("Defragmented {quoted}\n").as_bytes())?;
        }
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

/// Puts at `model.limit` per second for `model.duration`, from one task per client, and
/// returns each put's latency or error with the run's length. The pacer hands keys over
/// a channel as deep as there are clients, so when the cluster falls behind the pacer
/// waits and the throughput shows it.
async fn load(
    clients: &[Client],
    model: &Model,
    prefix: &Bytes,
) -> (Vec<Result<Duration, String>>, Duration) {
    let (tx, rx) = mpsc::channel::<Bytes>(model.clients);
    let rx = Arc::new(Mutex::new(rx));
    let value = Bytes::from(vec![0u8; VALUE_SIZE]);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for client in clients {
        let (client, rx, value) = (client.clone(), rx.clone(), value.clone());
        workers.spawn(async move {
            let mut results = Vec::new();
            loop {
                let key = rx.lock().await.recv().await;
                let Some(key) = key else {
                    return results;
                };
                let sent = Instant::now();
                let put = client.kv().put(key, value.clone()).await;
                results.push(put.map(|_| sent.elapsed()).map_err(|e| etcd_message(&e)));
            }
        });
    }
    let deadline = start + model.duration;
    let interval = Duration::from_secs_f64(1.0 / model.limit.max(1) as f64);
    let mut rng = fastrand::Rng::new();
    let mut next = start;
    while next < deadline {
        tokio::time::sleep_until(next).await;
        let key = random_key(prefix, &mut rng);
        match tokio::time::timeout_at(deadline, tx.send(key)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
        next += interval;
    }
    drop(tx);
    let mut results = Vec::new();
    while let Some(joined) = workers.join_next().await {
        if let Ok(mut worker) = joined {
            results.append(&mut worker);
        }
    }
    (results, start.elapsed())
}

/// The prefix, then 256 bytes: a random non-negative number as a zigzag varint (Go's
/// `binary.PutVarint`), the rest zero.
fn random_key(prefix: &Bytes, rng: &mut fastrand::Rng) -> Bytes {
    let mut key = BytesMut::with_capacity(prefix.len() + KEY_SIZE);
    key.put_slice(prefix);
    let n = rng.i64(0..i64::MAX);
    let mut zigzag = ((n << 1) ^ (n >> 63)) as u64;
    let mut written = 0;
    while zigzag >= 0x80 {
        key.put_u8((zigzag as u8) | 0x80);
        zigzag >>= 7;
        written += 1;
    }
    key.put_u8(zigzag as u8);
    written += 1;
    key.put_bytes(0, KEY_SIZE - written);
    key.freeze()
}

/// Awaits a request for at most `timeout`, turning its failure into the command's error.
async fn bounded<F, T>(timeout: Duration, request: F) -> Result<T, CliError>
where
    F: std::future::IntoFuture<Output = etcdkit::Result<T>>,
{
    match tokio::time::timeout(timeout, request.into_future()).await {
        Ok(result) => result.map_err(|e| CliError::from_etcd(&e)),
        Err(_) => Err(CliError::error(DEADLINE_EXCEEDED)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_256_bytes() {
        let mut rng = fastrand::Rng::with_seed(7);
        let key = random_key(&Bytes::from_static(b"/p/"), &mut rng);
        assert_eq!(key.len(), 3 + KEY_SIZE);
        assert!(key.starts_with(b"/p/"));
    }

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
