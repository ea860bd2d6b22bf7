//! Cuts the leader of a three-member cluster off from its peers, watches another member
//! take over, then heals the partition.
//!
//! ```text
//! ETCD_BIN=/path/to/etcd cargo run -p etcdkit-testkit --example partition
//! ```
//!
//! A test of a client would hand `cluster.endpoints()` (the client proxies) to the client
//! under test and check what it sees between `partition` and `heal`; this example only
//! reads each member's `etcd_server_is_leader` metric, as the test kit knows no client.

use std::time::{Duration, Instant};

use etcdkit_testkit::EtcdCluster;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = EtcdCluster::builder()
        .members(3)
        .network_faults(true)
        .start()
        .await?;
    println!("client endpoints (proxies): {:?}", cluster.endpoints());

    let old = wait_for_leader(&cluster, None).await?;
    println!("m{old} leads; partitioning it from its peers");
    cluster.partition(old)?;
    let new = wait_for_leader(&cluster, Some(old)).await?;
    println!("m{new} leads now");

    cluster.heal()?;
    cluster.wait_all_healthy(Duration::from_secs(20)).await?;
    println!("healed: every member is healthy again");
    Ok(())
}

/// The member that leads, other than `not`, within 20 s.
async fn wait_for_leader(
    cluster: &EtcdCluster,
    not: Option<usize>,
) -> Result<usize, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for i in (0..cluster.len()).filter(|&i| Some(i) != not) {
            let metrics = cluster.metrics(i).await?;
            if metrics.lines().any(|l| l == "etcd_server_is_leader 1") {
                return Ok(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("no leader within 20 s".into())
}
