//! Watch costs: client memory (RSS) with many watchers on one client, event throughput of
//! one prefix watch (replaying history and following live writes), and put-to-event
//! latency.
//!
//! ```sh
//! cargo run --release -p etcdkit --example watch_bench -- [--watchers N] [--events N]
//!     [--samples N]
//! ```
//!
//! It starts its own one-member etcd with the test kit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use etcdkit_testkit::EtcdServer;
use futures_util::StreamExt;

/// This process's resident set size in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let (mut watchers, mut events, mut samples) = (10_000usize, 20_000usize, 2_000usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value").parse().expect("a number");
        match arg.as_str() {
            "--watchers" => watchers = value(),
            "--events" => events = value(),
            "--samples" => samples = value(),
            other => panic!("unknown argument {other}"),
        }
    }
    let server = EtcdServer::start().await.expect("start etcd");
    let client = etcdkit::Client::connect([server.endpoint()]).await.unwrap();
    client.kv().put("warmup", "x").await.unwrap();

    // 1. Memory with many watchers on one client.
    let before = rss_kib();
    let started = Instant::now();
    let mut ws = Vec::with_capacity(watchers);
    for i in 0..watchers {
        ws.push(client.watch().key(format!("mem/{i}")).await.unwrap());
    }
    let took = started.elapsed();
    let after = rss_kib();
    println!(
        "watchers: {watchers} created in {:.2?}; RSS {before} KiB -> {after} KiB (+{} KiB, {:.2} KiB per watcher)",
        took,
        after - before,
        (after - before) as f64 / watchers as f64
    );
    drop(ws);

    // 2a. Replay throughput: events already in history, read by one prefix watch.
    let value = vec![b'v'; 256];
    let first = client
        .kv()
        .put("thr/0", value.clone())
        .await
        .unwrap()
        .header()
        .revision();
    let mut tasks = Vec::new();
    for t in 0..64 {
        let client = client.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < events - 1 {
                client
                    .kv()
                    .put(format!("thr/{}", i % 1000), value.clone())
                    .await
                    .unwrap();
                i += 64;
            }
        }));
    }
    let live_start = Instant::now();
    let mut live = client
        .watch()
        .prefix("thr/")
        .start_revision(first)
        .buffer(1 << 20)
        .await
        .unwrap();
    let mut seen = 0;
    while seen < events {
        seen += live.next().await.unwrap().unwrap().events().len();
    }
    let live_took = live_start.elapsed();
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "live prefix watch (64 concurrent writers, 256-byte values): {events} events in {:.2?} = {:.0} events/s (bounded by the writes)",
        live_took,
        events as f64 / live_took.as_secs_f64()
    );
    let replay_start = Instant::now();
    let mut replay = client
        .watch()
        .prefix("thr/")
        .start_revision(first)
        .buffer(1 << 20)
        .await
        .unwrap();
    let mut seen = 0;
    while seen < events {
        seen += replay.next().await.unwrap().unwrap().events().len();
    }
    let replay_took = replay_start.elapsed();
    println!(
        "replay of one prefix watch from history: {events} events in {:.2?} = {:.0} events/s",
        replay_took,
        events as f64 / replay_took.as_secs_f64()
    );
    drop((live, replay));

    // 3. Put-to-event latency, one put at a time.
    let mut w = client.watch().key("lat").await.unwrap();
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        let rev = client
            .kv()
            .put("lat", i.to_string())
            .await
            .unwrap()
            .header()
            .revision();
        loop {
            let r = w.next().await.unwrap().unwrap();
            if r.events().iter().any(|e| e.revision() == rev) {
                break;
            }
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "put-to-event latency over {samples} puts: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
}
