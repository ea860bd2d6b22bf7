//! etcdkit against etcd-client, on the same single etcd member, alternating.
//!
//! ```text
//! compare [--rounds R] [--ops N] [--value-size B] [--watchers W] [--leases L]
//!         [--lease-secs S] [--only kv|watch|lease]
//! ```
//!
//! The orchestrator starts one etcd member (the test kit's lookup: `ETCD_BIN`,
//! `.etcd/bin/etcd`, `PATH`) and runs every measurement in a fresh child process of
//! its own, so CPU time and memory belong to one client and one workload: for each
//! round, each workload, each client in turn. It prints a markdown table of medians.
//!
//! Workloads (one client shared by all tasks, 256-byte values, 10,000-key space):
//! put, serializable get and linearizable get at 1 and 64 tasks; 10,000 watchers
//! (resident memory); 10,000 leases kept alive (CPU share of one core).

mod measure;
mod peer;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::measure::{cpu_seconds, io_syscalls, median, percentile_ms, rss_kib};
use crate::peer::{BoxError, Data, Op, Peer, Which};

/// What one child process reports, as one JSON line on stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Report {
    client: String,
    workload: String,
    tasks: usize,
    ops: usize,
    secs: f64,
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_secs: f64,
    /// The etcd member's CPU seconds over the same measured stretch: what the client's
    /// way of talking costs the server.
    #[serde(default)]
    server_cpu_secs: f64,
    /// Read and write system calls of the client and of the member over the same stretch.
    #[serde(default)]
    syscalls: u64,
    #[serde(default)]
    server_syscalls: u64,
    /// Resident memory at the end, and how much the workload added (KiB).
    rss_kib: u64,
    rss_added_kib: u64,
}

#[derive(Debug, Clone)]
struct Settings {
    rounds: usize,
    ops: usize,
    value_size: usize,
    watchers: usize,
    leases: usize,
    lease_secs: u64,
    only: Option<String>,
    /// Concurrency levels of the kv workloads (`--tasks 1,64`).
    tasks: Vec<usize>,
}

fn parse_settings(args: &[String]) -> Result<Settings, BoxError> {
    let mut s = Settings {
        rounds: 3,
        ops: 20_000,
        value_size: 256,
        watchers: 10_000,
        leases: 10_000,
        lease_secs: 30,
        only: None,
        tasks: vec![1, 64],
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rounds" => s.rounds = value.parse()?,
            "--ops" => s.ops = value.parse()?,
            "--value-size" => s.value_size = value.parse()?,
            "--watchers" => s.watchers = value.parse()?,
            "--leases" => s.leases = value.parse()?,
            "--lease-secs" => s.lease_secs = value.parse()?,
            "--only" => s.only = Some(value.clone()),
            "--tasks" => {
                s.tasks = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
                if s.tasks.contains(&0) {
                    return Err("--tasks: each count must be at least 1".into());
                }
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(s)
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("child") {
        let report = runtime.block_on(child(&args[1..]))?;
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let settings = parse_settings(&args)?;
    runtime.block_on(orchestrate(settings))
}

/// One measurement: `child <client> <endpoint> <workload> <tasks> <ops> <value-size> <etcd-pid>`.
async fn child(args: &[String]) -> Result<Report, BoxError> {
    let [
        client,
        endpoint,
        workload,
        tasks,
        ops,
        value_size,
        server_pid,
    ] = args
    else {
        return Err(format!("child needs 7 arguments, got {args:?}").into());
    };
    let which = Which::parse(client)?;
    let tasks: usize = tasks.parse()?;
    let ops: usize = ops.parse()?;
    let value_size: usize = value_size.parse()?;
    let peer = Peer::connect(which, endpoint).await?;
    let rss_before = rss_kib();
    let mut report = Report {
        client: which.name().to_owned(),
        workload: workload.clone(),
        tasks,
        ops,
        secs: 0.0,
        ops_per_sec: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        cpu_secs: 0.0,
        server_cpu_secs: 0.0,
        syscalls: 0,
        server_syscalls: 0,
        rss_kib: 0,
        rss_added_kib: 0,
    };
    match workload.as_str() {
        "watchers" => {
            let started = Instant::now();
            let cpu = cpu_seconds("self");
            let handles = peer
                .open_watchers(&format!("cmp/watch/{}/", which.name()), ops)
                .await?;
            report.secs = started.elapsed().as_secs_f64();
            report.cpu_secs = cpu_seconds("self") - cpu;
            // Let the server's acknowledgements and any buffers settle before reading.
            tokio::time::sleep(Duration::from_secs(1)).await;
            report.rss_kib = rss_kib();
            drop(handles);
        }
        "leases" => {
            let ttl = Duration::from_secs(3);
            let handles = peer.keep_leases(ops, ttl).await?;
            // Measure a steady state: every lease renewed several times over.
            let secs = value_size as u64;
            let cpu = cpu_seconds("self");
            tokio::time::sleep(Duration::from_secs(secs)).await;
            report.cpu_secs = cpu_seconds("self") - cpu;
            report.secs = secs as f64;
            let alive = peer.lease_count().await?;
            if alive < ops {
                return Err(format!("only {alive} of {ops} leases alive after {secs} s").into());
            }
            report.rss_kib = rss_kib();
            drop(handles);
        }
        op => {
            let op = Op::parse(op)?;
            let data = Arc::new(Data::new("cmp/kv/", 10_000, value_size));
            if op != Op::Put {
                // Reads find every key present.
                drive(&peer, Op::Put, &data, data.keys.len(), 64).await?;
            }
            // An unmeasured warm-up: connection windows, allocator, etcd's caches.
            drive(&peer, op, &data, (ops / 10).clamp(1, 2_000), tasks).await?;
            let cpu = cpu_seconds("self");
            let server_cpu = cpu_seconds(server_pid);
            let (calls, server_calls) = (io_syscalls("self"), io_syscalls(server_pid));
            let started = Instant::now();
            let latencies = drive(&peer, op, &data, ops, tasks).await?;
            report.secs = started.elapsed().as_secs_f64();
            report.cpu_secs = cpu_seconds("self") - cpu;
            report.server_cpu_secs = cpu_seconds(server_pid) - server_cpu;
            report.syscalls = io_syscalls("self").saturating_sub(calls);
            report.server_syscalls = io_syscalls(server_pid).saturating_sub(server_calls);
            report.ops_per_sec = ops as f64 / report.secs;
            report.p50_ms = percentile_ms(&latencies, 50.0);
            report.p99_ms = percentile_ms(&latencies, 99.0);
            report.rss_kib = rss_kib();
        }
    }
    report.rss_added_kib = report.rss_kib.saturating_sub(rss_before);
    Ok(report)
}

/// Runs `ops` operations from `tasks` tasks sharing `peer`; returns sorted latencies.
async fn drive(
    peer: &Peer,
    op: Op,
    data: &Arc<Data>,
    ops: usize,
    tasks: usize,
) -> Result<Vec<Duration>, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..tasks {
        let mut peer = peer.clone();
        let data = Arc::clone(data);
        let next = Arc::clone(&next);
        set.spawn(async move {
            let mut latencies = Vec::with_capacity(ops / tasks + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    return Ok::<_, BoxError>(latencies);
                }
                let t = Instant::now();
                peer.run(op, &data, i).await?;
                latencies.push(t.elapsed());
            }
        });
    }
    let mut all = Vec::with_capacity(ops);
    while let Some(joined) = set.join_next().await {
        all.extend(joined??);
    }
    all.sort_unstable();
    Ok(all)
}

async fn orchestrate(s: Settings) -> Result<(), BoxError> {
    let server = etcdkit_testkit::EtcdServer::start().await?;
    let endpoint = server.endpoint();
    let server_pid = server
        .pid(0)
        .map_or_else(|| "0".to_owned(), |p| p.to_string());
    let version = server
        .etcd_version()
        .map_or_else(|| "unknown".to_owned(), |v| v.to_string());
    let exe = std::env::current_exe()?;
    println!(
        "etcd {version} (one member, {endpoint}); {} rounds, {} ops per kv run, {} B values",
        s.rounds, s.ops, s.value_size
    );

    // (workload, tasks, ops, extra): `extra` is the value size, or the seconds to keep leases.
    let mut plan: Vec<(&str, usize, usize, u64)> = Vec::new();
    let wants = |group: &str| s.only.as_deref().is_none_or(|only| only == group);
    if wants("kv") {
        for &tasks in &s.tasks {
            for op in ["put", "get-s", "get-l"] {
                plan.push((op, tasks, s.ops, s.value_size as u64));
            }
        }
    }
    if wants("watch") {
        plan.push(("watchers", 1, s.watchers, 0));
    }
    if wants("lease") {
        plan.push(("leases", 1, s.leases, s.lease_secs));
    }

    let mut reports: Vec<Report> = Vec::new();
    for round in 0..s.rounds {
        for &(workload, tasks, ops, extra) in &plan {
            // Who goes first alternates by round, so neither always meets a warmer server.
            let mut order = Which::BOTH;
            if round % 2 == 1 {
                order.reverse();
            }
            for which in order {
                let output = tokio::process::Command::new(&exe)
                    .args(["child", which.name(), &endpoint, workload])
                    .args([tasks.to_string(), ops.to_string(), extra.to_string()])
                    .arg(&server_pid)
                    .stderr(Stdio::inherit())
                    .output()
                    .await?;
                if !output.status.success() {
                    return Err(
                        format!("{} {workload} failed: {}", which.name(), output.status).into(),
                    );
                }
                let report: Report = serde_json::from_slice(&output.stdout)?;
                eprintln!(
                    "round {round}: {:>11} {workload:>8} x{tasks:<2}: {:>9.0} ops/s p50 {:.3} ms cpu {:.2} s etcd cpu {:.2} s syscalls/op {:.2} etcd {:.2} rss {} KiB",
                    report.client,
                    report.ops_per_sec,
                    report.p50_ms,
                    report.cpu_secs,
                    report.server_cpu_secs,
                    report.syscalls as f64 / report.ops as f64,
                    report.server_syscalls as f64 / report.ops as f64,
                    report.rss_kib
                );
                reports.push(report);
            }
            // Keep the member's history small and its memory steady between runs.
            let compact = etcdkit::Client::connect([endpoint.as_str()]).await?;
            let revision = compact.kv().get("cmp/none").await?.header().revision();
            match compact.kv().compact(revision).await {
                // Nothing was written since the last compaction (watchers, leases).
                Err(e) if e.kind() == etcdkit::ErrorKind::Compacted => {}
                other => {
                    other?;
                }
            }
        }
    }
    print_table(&plan, &reports);
    Ok(())
}

fn print_table(plan: &[(&str, usize, usize, u64)], reports: &[Report]) {
    let medians = |workload: &str, tasks: usize, client: &str, f: fn(&Report) -> f64| {
        let mut v: Vec<f64> = reports
            .iter()
            .filter(|r| r.workload == workload && r.tasks == tasks && r.client == client)
            .map(f)
            .collect();
        median(&mut v)
    };
    println!();
    println!(
        "| workload | tasks | etcdkit ops/s | etcd-client ops/s | ratio | etcdkit p50 ms | etcd-client p50 ms | etcdkit CPU s/10k | etcd-client CPU s/10k | CPU ratio | etcd CPU s/10k (etcdkit) | etcd CPU s/10k (etcd-client) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(workload, tasks, ops, _) in plan
        .iter()
        .filter(|p| !matches!(p.0, "watchers" | "leases"))
    {
        let per10k = |r: &Report| r.cpu_secs * 10_000.0 / ops as f64;
        let (a, b) = (
            medians(workload, tasks, "etcdkit", |r| r.ops_per_sec),
            medians(workload, tasks, "etcd-client", |r| r.ops_per_sec),
        );
        let (pa, pb) = (
            medians(workload, tasks, "etcdkit", |r| r.p50_ms),
            medians(workload, tasks, "etcd-client", |r| r.p50_ms),
        );
        let cpu = |client: &str| {
            let mut v: Vec<f64> = reports
                .iter()
                .filter(|r| r.workload == workload && r.tasks == tasks && r.client == client)
                .map(per10k)
                .collect();
            median(&mut v)
        };
        let (ca, cb) = (cpu("etcdkit"), cpu("etcd-client"));
        let server = |client: &str| {
            let mut v: Vec<f64> = reports
                .iter()
                .filter(|r| r.workload == workload && r.tasks == tasks && r.client == client)
                .map(|r| r.server_cpu_secs * 10_000.0 / ops as f64)
                .collect();
            median(&mut v)
        };
        let (sa, sb) = (server("etcdkit"), server("etcd-client"));
        println!(
            "| {workload} | {tasks} | {a:.0} | {b:.0} | {:.2}x | {pa:.3} | {pb:.3} | {ca:.2} | {cb:.2} | {:.2}x | {sa:.2} | {sb:.2} |",
            a / b,
            ca / cb
        );
    }
    for &(workload, _, count, extra) in plan.iter().filter(|p| matches!(p.0, "watchers" | "leases"))
    {
        for client in ["etcdkit", "etcd-client"] {
            let rss = medians(workload, 1, client, |r| r.rss_kib as f64) / 1024.0;
            let added = medians(workload, 1, client, |r| r.rss_added_kib as f64) / 1024.0;
            let cpu = medians(workload, 1, client, |r| r.cpu_secs);
            if workload == "watchers" {
                let secs = medians(workload, 1, client, |r| r.secs);
                println!(
                    "{count} watchers, {client}: RSS {rss:.1} MiB (+{added:.1} MiB for the watchers), opened in {secs:.2} s using {cpu:.2} CPU s"
                );
            } else {
                println!(
                    "{count} leases kept alive for {extra} s (TTL 3 s), {client}: {:.2} % of one core, RSS {rss:.1} MiB",
                    cpu * 100.0 / extra as f64
                );
            }
        }
    }
}
