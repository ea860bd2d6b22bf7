//! A small load generator for put and get, with one shared client.
//!
//! ```text
//! cargo run --release -p etcdkit --example kv_bench -- [--ops N] [--concurrency C[,C...]]
//!     [--value-size BYTES] [--endpoints URL[,URL...]]
//! ```
//!
//! Defaults: 20000 ops, concurrency 1 and 64 (both are run), 256-byte values. Without
//! `--endpoints` it starts its own one-member etcd with the test kit (binary from
//! `ETCD_BIN`, `.etcd/bin/etcd` or `PATH`).
//!
//! For each concurrency it runs puts, then linearizable gets, then serializable gets, over
//! the keys `bench/0` .. `bench/9999` (op `i` uses key `bench/{i % 10000}`), and prints a
//! markdown table: throughput, latency percentiles, and CPU seconds per 10,000 ops for the
//! client process and (when it started the member itself) for etcd.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use etcdkit::Client;
use etcdkit::kv::Kv;
use tokio::task::JoinSet;

type BoxError = Box<dyn Error + Send + Sync>;

/// Size of the key space: op `i` uses key `bench/{i % KEY_SPACE}`.
const KEY_SPACE: usize = 10_000;
/// `/proc/<pid>/stat` counts CPU time in clock ticks; `getconf CLK_TCK` is 100 on Linux.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

struct Args {
    ops: usize,
    concurrency: Vec<usize>,
    value_size: usize,
    endpoints: Option<Vec<String>>,
}

fn usage() -> &'static str {
    "usage: kv_bench [--ops N] [--concurrency C[,C...]] [--value-size BYTES] [--endpoints URL[,URL...]]"
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        ops: 20_000,
        concurrency: vec![1, 64],
        value_size: 256,
        endpoints: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (flag.clone(), None),
        };
        if name == "-h" || name == "--help" {
            println!("{}", usage());
            std::process::exit(0);
        }
        let value = match inline.or_else(|| it.next()) {
            Some(value) => value,
            None => return Err(format!("{name} needs a value\n{}", usage()).into()),
        };
        match name.as_str() {
            "--ops" => args.ops = value.parse()?,
            "--concurrency" => {
                args.concurrency = value
                    .split(',')
                    .map(|c| c.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?;
            }
            "--value-size" => args.value_size = value.parse()?,
            "--endpoints" => {
                args.endpoints = Some(
                    value
                        .split(',')
                        .map(|e| e.trim().to_owned())
                        .filter(|e| !e.is_empty())
                        .collect(),
                );
            }
            other => return Err(format!("unknown argument {other}\n{}", usage()).into()),
        }
    }
    if args.ops == 0 || args.concurrency.contains(&0) {
        return Err("--ops and --concurrency must be at least 1".into());
    }
    Ok(args)
}

/// User + system CPU time of a process, from `/proc/<pid>/stat` (Linux only).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields after it
    // start with field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / CLOCK_TICKS_PER_SEC)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Put,
    GetLinearizable,
    GetSerializable,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::GetLinearizable => "get (linearizable)",
            Op::GetSerializable => "get (serializable)",
        }
    }

    async fn run(self, kv: &Kv, key: Bytes, value: Bytes) -> etcdkit::Result<()> {
        match self {
            Op::Put => kv.put(key, value).await.map(drop),
            Op::GetLinearizable => kv.get(key).await.map(drop),
            Op::GetSerializable => kv.get(key).serializable().await.map(drop),
        }
    }
}

struct Row {
    op: Op,
    concurrency: usize,
    ops: usize,
    elapsed: Duration,
    /// Sorted ascending.
    latencies: Vec<Duration>,
    client_cpu: Option<f64>,
    server_cpu: Option<f64>,
}

/// The nearest-rank percentile `p` (0..=100) of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// Runs `ops` operations from `concurrency` tasks sharing one client; returns the elapsed
/// time and every latency.
async fn drive(
    kv: &Kv,
    op: Op,
    ops: usize,
    concurrency: usize,
    keys: &Arc<Vec<Bytes>>,
    value: &Bytes,
) -> Result<(Duration, Vec<Duration>), BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for _ in 0..concurrency {
        let kv = kv.clone();
        let keys = Arc::clone(keys);
        let value = value.clone();
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(ops / concurrency + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return Ok::<_, etcdkit::Error>(latencies);
                }
                let key = keys[i % keys.len()].clone();
                let t = Instant::now();
                op.run(&kv, key, value.clone()).await?;
                latencies.push(t.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(ops);
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined??);
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    Ok((elapsed, all))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;

    // Keep the server (if we started one) alive until the end; dropping it kills etcd.
    let (server, endpoints) = match &args.endpoints {
        Some(endpoints) => (None, endpoints.clone()),
        None => {
            let server = etcdkit_testkit::EtcdServer::start().await?;
            let endpoint = server.endpoint();
            (Some(server), vec![endpoint])
        }
    };
    let server_pid = server
        .as_ref()
        .and_then(|s| s.pid(0))
        .map(|pid| pid.to_string());
    let etcd_version = server
        .as_ref()
        .and_then(|s| s.etcd_version())
        .map_or_else(|| "unknown (external)".to_owned(), |v| v.to_string());

    let client = Client::connect(endpoints.clone()).await?;
    let kv = client.kv();
    let keys: Arc<Vec<Bytes>> = Arc::new(
        (0..KEY_SPACE)
            .map(|i| Bytes::from(format!("bench/{i}")))
            .collect(),
    );
    let value = Bytes::from(vec![b'x'; args.value_size]);

    println!("endpoints: {}", endpoints.join(","));
    println!("etcd: {etcd_version}");
    println!(
        "ops per run: {}, value size: {} B, key space: {KEY_SPACE}, concurrency: {:?}",
        args.ops, args.value_size, args.concurrency
    );
    println!();

    let mut rows = Vec::new();
    for &concurrency in &args.concurrency {
        for op in [Op::Put, Op::GetLinearizable, Op::GetSerializable] {
            // A short unmeasured warm-up: connections, allocator, etcd caches.
            let warmup = (args.ops / 10).clamp(1, 1_000);
            drive(&kv, op, warmup, concurrency, &keys, &value).await?;

            let client_before = cpu_seconds("self");
            let server_before = server_pid.as_deref().and_then(cpu_seconds);
            let (elapsed, latencies) = drive(&kv, op, args.ops, concurrency, &keys, &value).await?;
            let client_cpu = client_before.zip(cpu_seconds("self")).map(|(a, b)| b - a);
            let server_cpu = server_before
                .zip(server_pid.as_deref().and_then(cpu_seconds))
                .map(|(a, b)| b - a);
            let row = Row {
                op,
                concurrency,
                ops: args.ops,
                elapsed,
                latencies,
                client_cpu,
                server_cpu,
            };
            eprintln!(
                "done: {} c={} in {:.2} s",
                row.op.name(),
                row.concurrency,
                row.elapsed.as_secs_f64()
            );
            rows.push(row);
        }
    }

    let per_10k = |cpu: Option<f64>, ops: usize| match cpu {
        Some(cpu) => format!("{:.2}", cpu * 10_000.0 / ops as f64),
        None => "-".to_owned(),
    };
    println!(
        "| op | conc. | ops | time (s) | ops/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | client CPU s / 10k ops | etcd CPU s / 10k ops |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let secs = row.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} | {} |",
            row.op.name(),
            row.concurrency,
            row.ops,
            secs,
            row.ops as f64 / secs,
            ms(percentile(&row.latencies, 50.0)),
            ms(percentile(&row.latencies, 90.0)),
            ms(percentile(&row.latencies, 99.0)),
            ms(row.latencies.last().copied().unwrap_or_default()),
            per_10k(row.client_cpu, row.ops),
            per_10k(row.server_cpu, row.ops),
        );
    }

    drop(client);
    drop(server);
    Ok(())
}
