//! The discovery demo (`scripts/demo`): a local 3-member etcd cluster from the test kit,
//! three registered gRPC servers, a tonic client balancing over them through the
//! registry, then one server crashes (gone within the TTL), one leaves (gone at once)
//! and an etcd member is killed (discovery carries on). Narrated step by step.
//!
//! ```sh
//! cargo run -p etcdkit-recipes --example discovery_demo
//! ```

#[path = "tonic_balance.rs"]
#[allow(unused_imports)]
mod tonic_balance;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic_balance::{BoxError, Server, balanced_channel, call};

const SERVICE: &str = "whoami";
const TTL_SECS: u64 = 4;

fn say(step: &str) {
    println!("\n== {step}");
}

async fn spread(channel: &Channel, calls: usize) -> Result<BTreeMap<String, usize>, BoxError> {
    let mut answers = BTreeMap::new();
    for _ in 0..calls {
        *answers.entry(call(channel).await?).or_default() += 1;
    }
    println!("   {calls} calls answered by: {answers:?}");
    Ok(answers)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    say("Starting a local 3-member etcd cluster (etcdkit-testkit)");
    let cluster = etcdkit_testkit::EtcdCluster::builder()
        .members(3)
        .arg("--grpc-keepalive-min-time=200ms")
        .start()
        .await?;
    let hosts: Vec<String> = cluster
        .endpoints()
        .iter()
        .map(|e| e.replace("http://", ""))
        .collect();
    let url = format!("http://{}/demo?ttl={TTL_SECS}&heartbeat=1", hosts.join(","));
    println!("   registry connection string: {url}");

    say("Three gRPC servers join the registry as service `whoami`");
    let mut servers = Vec::new();
    for name in ["a", "b", "c"] {
        let server = Server::start(&url, SERVICE, name).await?;
        let joined = server.registry.joined();
        if let Some(j) = joined.first() {
            println!(
                "   {name} joined: {} -> {}",
                String::from_utf8_lossy(j.instance().key()),
                j.instance().url().unwrap_or_default()
            );
        }
        servers.push(server);
    }

    say("A tonic client balances over them (registry -> Discover -> Channel::balance_channel)");
    let client = etcdkit_recipes::registry::Registry::connect(&url).await?;
    let (channel, mut count) = balanced_channel(&client, SERVICE).await?;
    tokio::time::timeout(Duration::from_secs(10), count.wait_for(|n| *n == 3)).await??;
    spread(&channel, 30).await?;

    say(&format!(
        "Server c crashes (stops serving and renewing, no goodbye): it vanishes within the TTL ({TTL_SECS} s)"
    ));
    let crashed = Instant::now();
    if let Some(c) = servers.pop() {
        c.crash();
    }
    tokio::time::timeout(
        Duration::from_secs(TTL_SECS + 5),
        count.wait_for(|n| *n == 2),
    )
    .await??;
    println!(
        "   c left the instance set {:.1} s after the crash",
        crashed.elapsed().as_secs_f64()
    );
    spread(&channel, 30).await?;

    say("Server b leaves: it vanishes at once");
    let left = Instant::now();
    servers[1].leave().await?;
    tokio::time::timeout(Duration::from_secs(5), count.wait_for(|n| *n == 1)).await??;
    println!(
        "   b left the instance set {} ms after leaving",
        left.elapsed().as_millis()
    );
    spread(&channel, 30).await?;

    say("An etcd member is killed: discovery carries on");
    cluster.kill(0)?;
    println!("   member 0 killed (SIGKILL)");
    let t = Instant::now();
    let d = Server::start(
        &url.replace("heartbeat=1", "heartbeat=1&timeout=30"),
        SERVICE,
        "d",
    )
    .await?;
    println!(
        "   d joined through the two remaining members in {} ms",
        t.elapsed().as_millis()
    );
    tokio::time::timeout(Duration::from_secs(10), count.wait_for(|n| *n == 2)).await??;
    spread(&channel, 30).await?;
    let still = client.list(SERVICE).await?;
    println!(
        "   instances now: {:?}",
        still.iter().map(|i| i.id().to_owned()).collect::<Vec<_>>()
    );

    say("Done: everyone leaves, the cluster is removed");
    d.leave().await?;
    for server in servers {
        server.leave().await?;
        server.crash();
    }
    d.crash();
    Ok(())
}
