//! Member auto-sync: replaces the endpoints with the cluster members' client URLs, so a
//! client given one endpoint finds the others, and removed members are dropped.

use std::sync::Arc;
use std::time::Duration;

use super::endpoint::{Node, parse_endpoint};
use super::{Call, Transport};
use crate::error::Result;
use crate::generated::etcdserverpb::MemberListRequest;

impl Transport {
    /// Reads the member list once and adopts its client URLs. Members that have not
    /// started yet (no name) and learners (they serve no client traffic) are left out;
    /// an empty result changes nothing.
    pub(crate) async fn sync_members(&self) -> Result<()> {
        let call = Call::idempotent("cluster.member_list", Some(self.options().dial_timeout));
        let response = self
            .member_list(
                call,
                MemberListRequest {
                    linearizable: false,
                },
            )
            .await?;
        let mut urls = Vec::new();
        for member in response.members {
            if member.name.is_empty() || member.is_learner {
                continue;
            }
            for url in member.client_ur_ls {
                match parse_endpoint(&url, false) {
                    Ok(addr) if !urls.contains(&addr) => urls.push(addr),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(url, error = %e, "member advertises a bad client URL"),
                }
            }
        }
        if urls.is_empty() {
            return Ok(());
        }
        // Merge under the write lock, so two syncs running at once (the periodic one and
        // `Client::sync_endpoints`) cannot interleave and install a stale list.
        let mut nodes = match self.shared.nodes.write() {
            Ok(nodes) => nodes,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next: Vec<Arc<Node>> = Vec::with_capacity(urls.len());
        for addr in urls {
            // Keep the existing connection and health of endpoints we already know.
            if let Some(node) = nodes.iter().find(|n| n.addr == addr) {
                next.push(node.clone());
            } else {
                match Node::new(addr, self.options(), self.shared.tls.as_ref()) {
                    Ok(node) => next.push(Arc::new(node)),
                    Err(e) => tracing::warn!(error = %e, "cannot use member endpoint"),
                }
            }
        }
        let changed = next.len() != nodes.len()
            || next
                .iter()
                .zip(nodes.iter())
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        if !next.is_empty() && changed {
            tracing::info!(endpoints = ?next.iter().map(|n| n.url()).collect::<Vec<_>>(), "member list synced");
            *nodes = next.into();
        }
        Ok(())
    }

    /// Starts the periodic sync task.
    pub(crate) fn start_auto_sync(&self, interval: Duration) {
        let weak = self.weak();
        self.spawn_task(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(transport) = Transport::upgrade(&weak) else {
                    return;
                };
                if let Err(e) = transport.sync_members().await {
                    tracing::warn!(error = %e, "member auto-sync failed; keeping the endpoints");
                }
            }
        });
    }
}
