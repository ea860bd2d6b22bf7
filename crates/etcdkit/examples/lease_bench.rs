//! Client CPU for keeping many leases alive: grants `--leases` leases (TTL `--ttl`), keeps
//! them all alive over the client's one keepalive stream for `--seconds`, and reports the
//! client's CPU time over that window (and etcd's, when it started etcd itself).
//!
//! ```sh
//! cargo run --release -p etcdkit --example lease_bench -- [--leases N] [--ttl SECONDS]
//!     [--seconds SECONDS] [--endpoints URL[,URL...]]
//! ```
//!
//! Without `--endpoints` it starts its own one-member etcd with the test kit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use etcdkit::lease::KeepAliveState;
use etcdkit_testkit::EtcdServer;
use futures_util::StreamExt;

/// `/proc/<pid>/stat` counts CPU time in clock ticks; `getconf CLK_TCK` is 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields[11].parse().expect("utime");
    let stime: f64 = fields[12].parse().expect("stime");
    (utime + stime) / TICKS_PER_SECOND
}

#[tokio::main]
async fn main() {
    let mut leases = 10_000usize;
    let mut ttl = 3u64;
    let mut seconds = 60u64;
    let mut endpoints: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--leases" => leases = value().parse().expect("--leases N"),
            "--ttl" => ttl = value().parse().expect("--ttl SECONDS"),
            "--seconds" => seconds = value().parse().expect("--seconds SECONDS"),
            "--endpoints" => endpoints = Some(value().split(',').map(str::to_owned).collect()),
            _ => {
                eprintln!(
                    "usage: lease_bench [--leases N] [--ttl SECONDS] [--seconds SECONDS] [--endpoints URL[,URL...]]"
                );
                std::process::exit(2);
            }
        }
    }
    let server = match &endpoints {
        Some(_) => None,
        None => Some(
            EtcdServer::builder()
                .data_in_tmpfs(true)
                .start_server()
                .await
                .expect("start etcd"),
        ),
    };
    let endpoints = endpoints.unwrap_or_else(|| vec![server.as_ref().unwrap().endpoint()]);
    let client = etcdkit::Client::connect(endpoints).await.expect("connect");

    let started = Instant::now();
    let ids: Vec<_> = futures_util::stream::iter(0..leases)
        .map(|_| {
            let client = client.clone();
            async move {
                client
                    .lease()
                    .grant(Duration::from_secs(ttl))
                    .await
                    .expect("grant")
                    .id()
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    eprintln!(
        "granted {leases} leases of {ttl} s in {:.1?}",
        started.elapsed()
    );

    let me = std::process::id().to_string();
    let etcd_pid = server
        .as_ref()
        .and_then(|s| s.pid(0))
        .map(|p| p.to_string());
    let (cpu0, etcd0) = (cpu_seconds(&me), etcd_pid.as_deref().map(cpu_seconds));
    let window = Instant::now();
    let mut keeps = Vec::with_capacity(leases);
    for id in ids {
        keeps.push(client.lease().keep_alive(id).await.expect("keep alive"));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, etcd1) = (cpu_seconds(&me), etcd_pid.as_deref().map(cpu_seconds));
    let elapsed = window.elapsed().as_secs_f64();

    let lost = keeps
        .iter()
        .filter(|k| matches!(*k.state().borrow(), KeepAliveState::Lost(_)))
        .count();
    let live = client.lease().leases().await.expect("list").leases().len();
    let client_cpu = cpu1 - cpu0;
    println!(
        "leases {leases}  ttl {ttl}s  window {elapsed:.1}s  renewals ~{:.0}/s",
        leases as f64 * 3.0 / ttl as f64
    );
    println!(
        "client CPU {client_cpu:.2}s = {:.1}% of one core",
        100.0 * client_cpu / elapsed
    );
    if let (Some(a), Some(b)) = (etcd0, etcd1) {
        println!(
            "etcd CPU {:.2}s = {:.1}% of one core",
            b - a,
            100.0 * (b - a) / elapsed
        );
    }
    println!("lost {lost}  live on the server {live}");
}
