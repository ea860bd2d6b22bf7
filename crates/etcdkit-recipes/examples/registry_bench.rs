//! Registry benchmarks: how fast a registry change reaches 100 Instancers (each on its own
//! client, as 100 processes would be), and how long a lookup served from the cache takes.
//!
//! ```sh
//! cargo run --release -p etcdkit-recipes --example registry_bench -- [--instancers 100] [--changes 100] [--lookups 100000]
//! ```

use std::time::{Duration, Instant};

use etcdkit::ClientOptions;
use etcdkit_recipes::discovery::InstancerEvent;
use etcdkit_recipes::registry::Registry;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let instancers = arg("--instancers", 100);
    let changes = arg("--changes", 100);
    let lookups = arg("--lookups", 100_000);
    let etcd = etcdkit_testkit::EtcdServer::builder()
        .data_in_tmpfs(true)
        .start_server()
        .await?;
    let endpoint = etcd.endpoint();

    // 100 Instancers, each on its own client, reporting (set size, when seen).
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(usize, Instant)>();
    let mut keep = Vec::new();
    for _ in 0..instancers {
        let client = ClientOptions::new([endpoint.clone()]).connect().await?;
        let registry = Registry::builder(&client).namespace("bench").build();
        let instancer = registry.instancer("svc")?;
        let mut events = instancer.events();
        let tx = seen_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let InstancerEvent::Instances(set) = event {
                    let _ = tx.send((set.len(), Instant::now()));
                }
            }
        });
        keep.push((registry, instancer));
    }
    // Each reports the empty set first.
    for _ in 0..instancers {
        seen.recv().await;
    }

    let client = ClientOptions::new([endpoint.clone()]).connect().await?;
    let writer = Registry::builder(&client).namespace("bench").build();
    let mut from_call = Vec::new();
    let mut from_ack = Vec::new();
    for k in 0..changes {
        let joining = k % 2 == 0;
        let expected = if joining { 1 } else { 0 };
        let start = Instant::now();
        if joining {
            writer.join("svc", json!({"id": "i", "port": 1})).await?;
        } else {
            writer.leave("svc").await?;
        }
        let acked = Instant::now();
        let mut got = 0;
        while got < instancers {
            let Some((size, at)) = seen.recv().await else {
                return Err("an instancer stopped".into());
            };
            if size == expected {
                got += 1;
                from_call.push(at.saturating_duration_since(start));
                from_ack.push(at.saturating_duration_since(acked));
            }
        }
    }
    println!(
        "registry change to {instancers} Instancers ({changes} changes, joins and leaves alternating):"
    );
    report("  from the start of join/leave", from_call);
    report("  from its acknowledgment     ", from_ack);

    // Lookups from the cache.
    let reader = Registry::builder(&client).namespace("bench").build();
    for i in 0..3 {
        writer
            .join("cached", json!({"id": format!("c{i}"), "port": 1}))
            .await?;
    }
    while reader.list("cached").await?.len() < 3 {
        tokio::task::yield_now().await;
    }
    let mut samples = Vec::with_capacity(lookups);
    let all = Instant::now();
    for _ in 0..lookups {
        let t = Instant::now();
        let found = reader.lookup("cached").await?;
        samples.push(t.elapsed());
        std::hint::black_box(found);
    }
    let total = all.elapsed();
    println!(
        "lookup from the cache (3 instances): {:.0} lookups/s",
        lookups as f64 / total.as_secs_f64()
    );
    report("  latency", samples);
    writer.leave_all().await?;
    Ok(())
}
