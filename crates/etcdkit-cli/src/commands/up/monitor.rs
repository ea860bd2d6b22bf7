//! Watches the members' health while `etcdkit up` runs and reports each change.
//!
//! Polling the test kit's look at each member (is the process alive, does `/health` say
//! healthy) rather than an etcdkit client's health events: a client reports endpoints it
//! uses, but a member can be dead while its client channel is idle, and the process's exit
//! status is the most useful thing to say about a crash.

use std::time::Duration;

use etcdkit_testkit::EtcdCluster;
use futures_util::future::join_all;
use tokio::time::MissedTickBehavior;

use super::report;
use crate::commands::write_stdout;
use crate::error::CliError;

/// How often every member is looked at. A killed process is seen at the next look.
const POLL_INTERVAL: Duration = Duration::from_millis(300);
/// Longest wait for one `/health` answer; a member slower than this counts as unhealthy.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Reports every change of a member's health on stdout, until dropped. Every member is
/// taken as healthy to begin with (the cluster's start waited for it).
pub async fn watch(cluster: &EtcdCluster) -> Result<(), CliError> {
    let mut healthy = vec![true; cluster.len()];
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let looks =
            join_all((0..cluster.len()).map(|i| cluster.member_health(i, PROBE_TIMEOUT))).await;
        for (i, look) in looks.into_iter().enumerate() {
            let look = look.map_err(|e| CliError::error(e.to_string()))?;
            let Some(was) = healthy.get_mut(i) else {
                continue;
            };
            let name = cluster.name(i).unwrap_or_default();
            let endpoint = cluster.endpoint(i).unwrap_or_default();
            if let Some(line) = report::health_change(&name, &endpoint, *was, &look) {
                write_stdout(line.as_bytes())?;
            }
            *was = look.is_healthy();
        }
    }
}
