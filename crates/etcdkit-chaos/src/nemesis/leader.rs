//! Finding the leader through the client's maintenance status.

use std::time::Duration;

use etcdkit::Client;
use etcdkit_testkit::EtcdCluster;

const TIMEOUT: Duration = Duration::from_secs(2);

/// The index in the test kit's cluster of the member etcd reports as leader.
pub async fn find(client: &Client, cluster: &EtcdCluster) -> Result<usize, String> {
    let status = client
        .maintenance()
        .status()
        .timeout(TIMEOUT)
        .await
        .map_err(|e| format!("status: {e}"))?;
    let leader = status.leader();
    let members = client
        .cluster()
        .member_list()
        .timeout(TIMEOUT)
        .await
        .map_err(|e| format!("member list: {e}"))?;
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
