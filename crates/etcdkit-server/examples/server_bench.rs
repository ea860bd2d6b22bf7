//! How etcdkit-server compares with a real etcd member for what tests do with it: throughput
//! of put and serializable get at 64 tasks through the etcdkit client, the time from
//! nothing to a first answered request, and the memory a stored key and a watcher cost.
//!
//! ```text
//! cargo run --release -p etcdkit-server --example server_bench [-- ROUNDS]
//! ```
//!
//! Real etcd is one member started by the test kit (data on tmpfs when there is room, as
//! the test kit does by default; `ETCD_BIN` or `scripts/install-etcd` pick the binary).
//! The embedded server runs in this process, on the same tokio runtime as the client, as
//! a test runs it, and is measured two ways: over loopback TCP (as etcd is), and handed
//! the requests in-process (`RunningServer::service`, `etcdkit::InProcess`: no socket, no
//! HTTP/2), as a test in the same process can reach it. Memory is resident memory: the server's own for etcd (from `/proc`),
//! this process's growth for the embedded server minus the growth the same client work
//! causes in this process against real etcd (the client's own share). The figures go to
//! `docs/BENCHMARKS.md` by hand, with this command and the etcd version.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use etcdkit::{Client, ClientOptions, InProcess};
use etcdkit_testkit::EtcdServer;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TASKS: usize = 64;
const OPS: usize = 50_000;
const KEYS: usize = 10_000;
const VALUE: usize = 256;
/// Keys stored, and watchers opened, for the memory figures.
const MEMORY_KEYS: usize = 100_000;
const MEMORY_WATCHERS: usize = 10_000;
const STARTUPS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Put,
    GetSerializable,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(3);
    let etcd = EtcdServer::start().await?;
    let version = etcd
        .etcd_version()
        .map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    let etcd_pid = etcd.pid(0).ok_or("etcd is not running")?;
    let embedded = etcdkit_server::Server::builder().start().await?;
    println!(
        "etcd {version} (one member, data in {}) vs etcdkit-server in this process; {TASKS} tasks, \
         {OPS} ops per run, {KEYS} keys, {VALUE} B values, {rounds} rounds",
        etcd.data_dir(0)?.display()
    );
    let real = Client::connect([etcd.endpoint()]).await?;
    let ours = Client::connect([embedded.endpoint()]).await?;
    let local = in_process(&embedded).await?;
    let keys: Arc<Vec<Bytes>> = Arc::new(
        (0..KEYS)
            .map(|i| Bytes::from(format!("bench/{i:08}")))
            .collect(),
    );
    let value = Bytes::from(vec![b'v'; VALUE]);
    // `ours` and `local` reach the same server: its keys are stored once.
    for client in [&real, &ours] {
        drive(client, Op::Put, &keys, &value, KEYS).await?;
    }

    println!(
        "\n| workload | etcd ops/s | etcdkit-server over TCP ops/s | ratio | \
         etcdkit-server in-process ops/s | ratio |\n|---|---:|---:|---:|---:|---:|"
    );
    let clients = [&real, &ours, &local];
    for op in [Op::Put, Op::GetSerializable] {
        let mut rates: [Vec<f64>; 3] = Default::default();
        for round in 0..rounds {
            // The order rotates, so none always runs on a warmer machine.
            for turn in 0..clients.len() {
                let which = (round + turn) % clients.len();
                let client = clients[which];
                drive(client, op, &keys, &value, OPS / 10).await?;
                let started = Instant::now();
                drive(client, op, &keys, &value, OPS).await?;
                rates[which].push(OPS as f64 / started.elapsed().as_secs_f64());
            }
        }
        let [a, b, c] = rates.map(|mut r| median(&mut r));
        println!(
            "| {op:?} | {a:.0} | {b:.0} | {:.2}x | {c:.0} | {:.2}x |",
            b / a,
            c / a
        );
    }

    // Startup: a new server, a new client, one answered get.
    for in_process_client in [false, true] {
        let mut startups = Vec::with_capacity(STARTUPS);
        for _ in 0..STARTUPS {
            let started = Instant::now();
            let server = etcdkit_server::Server::builder().start().await?;
            let client = if in_process_client {
                in_process(&server).await?
            } else {
                Client::connect([server.endpoint()]).await?
            };
            client.kv().get("startup").await?;
            startups.push(started.elapsed().as_secs_f64() * 1e3);
            drop(client);
            server.shutdown().await;
        }
        let p50 = median(&mut startups);
        let worst = startups.iter().copied().fold(0.0, f64::max);
        let how = if in_process_client {
            "in-process"
        } else {
            "over TCP"
        };
        println!(
            "\nstartup to first answered get (server start, client connect {how}, get), \
             {STARTUPS} times: median {p50:.2} ms, worst {worst:.2} ms"
        );
    }

    // Memory per stored key: distinct keys, each written once.
    let prefix = "mem/key/";
    let etcd_before = rss_kib(etcd_pid);
    let self_before = rss_kib(std::process::id());
    store_keys(&real, prefix, &value).await?;
    let etcd_per_key = per_item(etcd_before, rss_kib(etcd_pid), MEMORY_KEYS);
    let client_share = per_item(self_before, rss_kib(std::process::id()), MEMORY_KEYS);
    let self_before = rss_kib(std::process::id());
    store_keys(&ours, prefix, &value).await?;
    let ours_per_key =
        per_item(self_before, rss_kib(std::process::id()), MEMORY_KEYS) - client_share;
    println!(
        "\nmemory per stored key ({MEMORY_KEYS} keys of {} B, {VALUE} B values): etcd {etcd_per_key:.0} B, \
         etcdkit-server {ours_per_key:.0} B (client's own share, subtracted: {client_share:.0} B)",
        prefix.len() + 8
    );

    // Memory per watcher: one watch each on a distinct key, all on one client stream.
    let etcd_before = rss_kib(etcd_pid);
    let self_before = rss_kib(std::process::id());
    let held = open_watchers(&real, MEMORY_WATCHERS).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let etcd_per_watcher = per_item(etcd_before, rss_kib(etcd_pid), MEMORY_WATCHERS);
    let client_share = per_item(self_before, rss_kib(std::process::id()), MEMORY_WATCHERS);
    let self_before = rss_kib(std::process::id());
    let held_too = open_watchers(&ours, MEMORY_WATCHERS).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ours_per_watcher =
        per_item(self_before, rss_kib(std::process::id()), MEMORY_WATCHERS) - client_share;
    println!(
        "memory per watcher ({MEMORY_WATCHERS} watchers): etcd {etcd_per_watcher:.0} B, \
         etcdkit-server {ours_per_watcher:.0} B (client's own share, subtracted: {client_share:.0} B)"
    );
    drop((held, held_too));
    Ok(())
}

/// A client that reaches `server` in this process.
async fn in_process(server: &etcdkit_server::RunningServer) -> Result<Client, BoxError> {
    Ok(ClientOptions::new([server.url()])
        .in_process(InProcess::new(server.url(), server.service()))
        .connect()
        .await?)
}

/// Runs `ops` operations from [`TASKS`] tasks sharing `client`.
async fn drive(
    client: &Client,
    op: Op,
    keys: &Arc<Vec<Bytes>>,
    value: &Bytes,
    ops: usize,
) -> Result<(), BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (kv, keys, value, next) = (client.kv(), keys.clone(), value.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return Ok::<_, etcdkit::Error>(());
                }
                let key = keys[i % keys.len()].clone();
                match op {
                    Op::Put => drop(kv.put(key, value.clone()).await?),
                    Op::GetSerializable => drop(kv.get(key).serializable().await?),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn store_keys(client: &Client, prefix: &str, value: &Bytes) -> Result<(), BoxError> {
    let keys: Arc<Vec<Bytes>> = Arc::new(
        (0..MEMORY_KEYS)
            .map(|i| Bytes::from(format!("{prefix}{i:08}")))
            .collect(),
    );
    drive(client, Op::Put, &keys, value, MEMORY_KEYS).await?;
    // Let freed request buffers settle before reading the figure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

async fn open_watchers(
    client: &Client,
    count: usize,
) -> Result<Vec<etcdkit::watch::Watcher>, BoxError> {
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        held.push(client.watch().key(format!("mem/watch/{i:08}")).await?);
    }
    Ok(held)
}

fn per_item(before_kib: u64, after_kib: u64, items: usize) -> f64 {
    (after_kib as f64 - before_kib as f64) * 1024.0 / items as f64
}

/// Resident memory of process `pid`, in KiB (0 when it cannot be read).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
