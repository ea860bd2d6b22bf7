//! Endpoint health: the events a client reports, and the prober that brings failed
//! endpoints back.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use super::Transport;
use super::channel::CallMetadata;
use super::endpoint::Node;
use super::policy::{self, Action, Failure, Retry};
use crate::error::ErrorKind;
use crate::generated::etcdserverpb::StatusRequest;
use crate::generated::etcdserverpb::maintenance_client::MaintenanceClient;

/// A change in an endpoint's health.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthEvent {
    /// The endpoint answered again after failing.
    Healthy {
        /// The endpoint, as `scheme://host:port`.
        endpoint: String,
    },
    /// A request or probe to the endpoint failed; it is avoided until a probe succeeds.
    Unhealthy {
        /// The endpoint, as `scheme://host:port`.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// The subscriber fell behind and missed this many events.
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}

/// What the client knows of one endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    /// The endpoint, as `scheme://host:port`.
    pub endpoint: String,
    /// Whether requests are being sent to it.
    pub healthy: bool,
    /// Why it was last marked unhealthy, if it is.
    pub last_error: Option<String>,
}

/// How often the prober looks for endpoints due a probe.
const PROBE_TICK: Duration = Duration::from_millis(100);

impl Transport {
    /// Starts the background prober. It holds only a weak reference, so it ends with the
    /// last clone of the client.
    pub(crate) fn start_prober(&self) {
        let weak = self.weak();
        self.spawn_task(async move {
            let mut tick = tokio::time::interval(PROBE_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(transport) = Transport::upgrade(&weak) else {
                    return;
                };
                let now = Instant::now().into_std();
                let due: Vec<Arc<Node>> = transport
                    .nodes()
                    .iter()
                    .filter(|n| !n.is_healthy() && n.next_probe() <= now)
                    .cloned()
                    .collect();
                if due.is_empty() {
                    continue;
                }
                let probes = due.iter().map(|node| transport.probe(node));
                futures_util::future::join_all(probes).await;
            }
        });
    }

    /// Asks one endpoint for its status, bounded by the dial timeout, and records the
    /// result: healthy when it answers and has a leader (a member without one cannot
    /// serve linearizable requests). Returns whether it answered at all.
    pub(crate) async fn probe(&self, node: &Arc<Node>) -> bool {
        let timeout = self.options().dial_timeout;
        let mut client = MaintenanceClient::new(node.channel.clone());
        let span = tracing::debug_span!(
            "rpc",
            op = "health.probe",
            endpoint = node.url(),
            attempt = 0u32
        );
        // Since etcd 3.6 a member with auth enabled answers Status only to a caller with a
        // token. The probe carries the token calls carry now, but never fetches one: that
        // would be a call through the endpoints whose health is being found out.
        let metadata = CallMetadata {
            token: self.current_token().ok().flatten().map(|t| t.header),
            require_leader: false,
        };
        let request = metadata.request(StatusRequest {});
        let status = client.status(request).instrument(span);
        match tokio::time::timeout(timeout, status).await {
            Ok(Ok(status)) if status.get_ref().leader == 0 => {
                self.mark_failed(node, "the member has no leader");
                true
            }
            Ok(Ok(_)) => {
                self.mark_healthy(node);
                true
            }
            // The member is up and serving; it refused the probe's (missing or stale)
            // token, which the next call fetches afresh.
            Ok(Err(status)) if is_auth_refusal(&status) => {
                self.mark_healthy(node);
                true
            }
            Ok(Err(status)) => {
                self.mark_failed(node, &super::status::describe_status(&status));
                false
            }
            Err(_) => {
                self.mark_failed(node, "no answer to a status probe within the dial timeout");
                false
            }
        }
    }

    /// Probes every endpoint at once; returns how many answered, and why the others did not.
    pub(crate) async fn probe_all(&self) -> (usize, Vec<(String, String)>) {
        let nodes = self.nodes();
        let results = futures_util::future::join_all(nodes.iter().map(|n| self.probe(n))).await;
        let mut ok = 0;
        let mut failed = Vec::new();
        for (node, healthy) in nodes.iter().zip(results) {
            if healthy {
                ok += 1;
            } else {
                failed.push((
                    node.url().to_string(),
                    node.last_error().unwrap_or_else(|| "unknown error".into()),
                ));
            }
        }
        (ok, failed)
    }
}

/// True when a member answered a probe by refusing its credentials.
fn is_auth_refusal(status: &tonic::Status) -> bool {
    match super::status::classify_status(status) {
        Failure::Server(kind) => {
            kind == ErrorKind::PermissionDenied
                || policy::decide(Retry::Safe, Failure::Server(kind)).action == Action::RefreshToken
        }
        _ => false,
    }
}
