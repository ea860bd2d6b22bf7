//! The README's demonstration: a local 3-member etcd cluster, and a client that keeps
//! writing and reading while one member is killed and restarted. Run it with
//! `scripts/demo` (which installs etcd first when it is missing).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etcdkit::{Client, ClientOptions, HealthEvent};
use etcdkit_testkit::EtcdCluster;
use tokio_stream::StreamExt;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Narrator {
    started: Instant,
}

impl Narrator {
    fn say(&self, text: impl AsRef<str>) {
        let t = self.started.elapsed().as_secs_f64();
        println!("[{t:5.1}s] {}", text.as_ref());
    }
}

#[derive(Default)]
struct Stats {
    writes_ok: AtomicU64,
    writes_unknown: AtomicU64,
    writes_failed: AtomicU64,
    reads_ok: AtomicU64,
    reads_failed: AtomicU64,
    /// The last value a write was acknowledged for.
    last_acked: AtomicU64,
}

impl Stats {
    fn line(&self) -> String {
        format!(
            "{} writes acknowledged, {} with unknown outcome, {} failed; {} reads ok, {} failed",
            self.writes_ok.load(Ordering::Relaxed),
            self.writes_unknown.load(Ordering::Relaxed),
            self.writes_failed.load(Ordering::Relaxed),
            self.reads_ok.load(Ordering::Relaxed),
            self.reads_failed.load(Ordering::Relaxed),
        )
    }
}

/// Writes an increasing counter and reads it back, 20 times a second.
async fn write_and_read(client: Client, stats: Arc<Stats>, stop: Arc<AtomicBool>) {
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        match client.kv().put("demo/counter", n.to_string()).await {
            Ok(_) => {
                stats.writes_ok.fetch_add(1, Ordering::Relaxed);
                stats.last_acked.store(n, Ordering::Relaxed);
            }
            Err(e) if e.is_outcome_unknown() => {
                println!("         write {n}: outcome unknown ({e}); the next write supersedes it");
                stats.writes_unknown.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                println!("         write {n} failed: {e}");
                stats.writes_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        match client.kv().get("demo/counter").await {
            Ok(_) => {
                stats.reads_ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                println!("         read failed: {e}");
                stats.reads_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let n = Narrator {
        started: Instant::now(),
    };
    println!("etcdkit demo: a client that rides out the death of an etcd member.\n");

    n.say("starting a 3-member etcd cluster on loopback ...");
    let cluster = EtcdCluster::builder()
        .members(3)
        // Let the client ping often, so a dead connection is noticed within a second.
        .arg("--grpc-keepalive-min-time=200ms")
        .start()
        .await?;
    n.say(format!(
        "cluster ready (etcd {}): {}",
        cluster
            .etcd_version()
            .map_or_else(|| "?".to_owned(), |v| v.to_string()),
        cluster.endpoints().join(", ")
    ));

    let client = ClientOptions::new(cluster.endpoints())
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
        .keepalive_interval(Duration::from_millis(500))
        .keepalive_timeout(Duration::from_secs(1))
        .connect()
        .await?;
    n.say(format!(
        "client connected; requests go round the healthy members of {:?}",
        client.endpoints()
    ));

    let mut events = Box::pin(client.health_events());
    let narrator = Narrator { started: n.started };
    let health = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                HealthEvent::Unhealthy { endpoint, reason } => narrator.say(format!(
                    "client: {endpoint} is unhealthy ({reason}); avoiding it"
                )),
                HealthEvent::Healthy { endpoint } => {
                    narrator.say(format!("client: {endpoint} answers again; using it again"))
                }
                other => narrator.say(format!("client: {other:?}")),
            }
        }
    });

    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    n.say("writing demo/counter and reading it back, 20 times a second");
    let worker = tokio::spawn(write_and_read(client.clone(), stats.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    n.say(stats.line());

    let victim = cluster.endpoint(0)?;
    n.say(format!("killing member m0 ({victim}) with SIGKILL"));
    cluster.kill(0)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    n.say(stats.line());

    n.say("restarting member m0 from its data directory");
    cluster.restart(0).await?;
    n.say("m0 is healthy again (the test kit checked its /health)");
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The client probes failed members with backoff; wait (bounded) until it has seen
    // every member come back.
    let wait_healthy = async {
        while !client.endpoint_health().iter().all(|h| h.healthy) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), wait_healthy)
        .await
        .is_err()
    {
        n.say("the client still avoids a member after 10 s");
    }

    stop.store(true, Ordering::Relaxed);
    worker.await?;
    health.abort();

    // Serializable reads are answered by the member they are sent to: show that every
    // member, the restarted one included, serves again.
    let mut members = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let r = client.kv().get("demo/counter").serializable().await?;
        members.insert(r.header().member_id().to_string());
    }
    n.say(format!(
        "members answering reads now: {}",
        members.into_iter().collect::<Vec<_>>().join(", ")
    ));

    let final_value = client.kv().get("demo/counter").await?;
    let value = final_value
        .first()
        .and_then(|kv| kv.value_str())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let acked = stats.last_acked.load(Ordering::Relaxed);
    n.say(format!(
        "final value {value}; last acknowledged write {acked}"
    ));
    println!("\nsummary: {}", stats.line());
    let failed =
        stats.reads_failed.load(Ordering::Relaxed) + stats.writes_failed.load(Ordering::Relaxed);
    if failed > 0 || value < acked {
        println!("something went wrong: see above");
        std::process::exit(1);
    }
    println!("every read succeeded, and no acknowledged write was lost.");
    Ok(())
}
