//! Finding the leader through the client's maintenance status.

use std::time::Duration;

use etcdkit::Client;
use etcdkit::maintenance::AdminRequest;
use etcdkit_testkit::EtcdCluster;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `request` within [`TIMEOUT`]; a failure names what was asked.
async fn ask<T: 'static>(what: &str, request: AdminRequest<T>) -> Result<T, String> {
    request
        .timeout(TIMEOUT)
        .await
        .map_err(|e| format!("{what}: {e}"))
}

/// The index in the test kit's cluster of the member etcd reports as leader.
pub async fn find(client: &Client, cluster: &EtcdCluster) -> Result<usize, String> {
    let leader = ask("status", client.maintenance().status()).await?.leader();
    let members = ask("member list", client.cluster().member_list()).await?;
    let name = members
        .members()
        .iter()
        .find(|m| m.id() == leader)
        .map(|m| m.name().to_owned())
        .ok_or_else(|| format!("leader {leader:?} is not in the member list"))?;
    (0..cluster.len())
        .find(|&i| cluster.name(i).is_ok_and(|n| n == name))
        .ok_or_else(|| format!("leader {name} is not a member of the test cluster"))
}
