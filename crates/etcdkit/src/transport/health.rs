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
use super::version::MemberVersion;
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

impl Transport {
    /// Starts the background prober, unless the options turn it off
    /// (`health_check_interval` zero). It holds only a weak reference, so it ends with
    /// the last clone of the client.
    pub(crate) fn start_prober(&self) {
        let Some(every) = self.options().health_check_interval else {
            return;
        };
        let weak = self.weak();
        self.spawn_task(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(transport) = Transport::upgrade(&weak) else {
                    return;
                };
                // A connection found silent by its keepalive pings: its endpoint gets no
                // new requests until a probe finds it answering again. (What is in
                // flight there is left to finish or time out: see `channel`.)
                for node in transport.nodes().iter() {
                    if node.take_silence() {
                        transport.mark_failed(node, "no answer to a keepalive ping");
                    }
                }
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
        let outcome = ask(
            node,
            self.probe_token(),
            self.options().dial_timeout,
            self.shared.min_version,
        )
        .await;
        self.record(node, outcome)
    }

    /// The token a probe carries. Since etcd 3.6 a member with auth enabled answers
    /// Status only to a caller with a token. The probe carries the token calls carry
    /// now, but never fetches one: that would be a call through the endpoints whose
    /// health is being found out.
    fn probe_token(&self) -> Option<http::HeaderValue> {
        self.current_token().ok().flatten().map(|t| t.header)
    }

    /// Records a probe's outcome; returns whether the endpoint answered at all (a
    /// member refused for its version did not, as far as using it goes).
    fn record(&self, node: &Node, outcome: Probed) -> bool {
        node.set_too_old(matches!(outcome, Probed::TooOld(_)));
        match outcome {
            Probed::Healthy => {
                self.mark_healthy(node);
                true
            }
            Probed::TooOld(reason) => {
                self.mark_failed(node, &reason);
                false
            }
            Probed::NoLeader => {
                self.mark_failed(node, "the member has no leader");
                true
            }
            Probed::Failed(reason) => {
                self.mark_failed(node, &reason);
                false
            }
        }
    }

    /// Probes every endpoint at once and returns as soon as one answers; the others'
    /// probes go on in the background (owned by the client: they end with it), and
    /// until theirs answers, an endpoint gets no requests while another is healthy. So
    /// a silent endpoint delays neither `connect()` nor any request. When none answers,
    /// says why each did not.
    pub(crate) async fn probe_until_one_answers(&self) -> std::result::Result<(), Vec<Unusable>> {
        let nodes = self.nodes();
        let timeout = self.options().dial_timeout;
        let token = self.probe_token();
        let min = self.shared.min_version;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for node in nodes.iter() {
            node.mark_pending(timeout);
            let node = node.clone();
            let token = token.clone();
            let tx = tx.clone();
            let weak = self.weak();
            // Holds the transport only weakly while it waits, so that dropping the client
            // is not delayed by a silent endpoint.
            self.spawn_task(async move {
                let outcome = ask(&node, token, timeout, min).await;
                let Some(transport) = Transport::upgrade(&weak) else {
                    return;
                };
                let answered = transport.record(&node, outcome);
                let _ = tx.send((node, answered));
            });
        }
        drop(tx);
        let mut failed = Vec::new();
        while let Some((node, answered)) = rx.recv().await {
            if answered {
                return Ok(());
            }
            failed.push(Unusable {
                endpoint: node.url().to_string(),
                why: node.last_error().unwrap_or_else(|| "unknown error".into()),
                too_old: node.is_too_old(),
            });
        }
        Err(failed)
    }
}

/// An endpoint that `connect()` could not use, and why.
pub(crate) struct Unusable {
    pub endpoint: String,
    pub why: String,
    /// It answered, but runs an etcd older than the client's minimum.
    pub too_old: bool,
}

/// What a status probe found.
enum Probed {
    Healthy,
    NoLeader,
    /// It answered, running an etcd older than the minimum (why, in words).
    TooOld(String),
    Failed(String),
}

/// Asks `node` for its status within `timeout`; with `min`, a member older than that
/// is refused.
async fn ask(
    node: &Node,
    token: Option<http::HeaderValue>,
    timeout: Duration,
    min: Option<MemberVersion>,
) -> Probed {
    let mut client = MaintenanceClient::new(node.channel.clone());
    let span = tracing::debug_span!(
        "rpc",
        op = "health.probe",
        endpoint = node.url(),
        attempt = 0u32
    );
    let metadata = CallMetadata {
        token,
        require_leader: false,
    };
    let status = client
        .status(metadata.request(StatusRequest {}))
        .instrument(span);
    match tokio::time::timeout(timeout, status).await {
        Ok(Ok(status)) => {
            let status = status.get_ref();
            if let Some(why) = min.and_then(|min| super::version::refusal(&status.version, min)) {
                Probed::TooOld(why)
            } else if status.leader == 0 {
                Probed::NoLeader
            } else {
                Probed::Healthy
            }
        }
        // The member is up and serving; it refused the probe's (missing or stale)
        // token, which the next call fetches afresh.
        Ok(Err(status)) if is_auth_refusal(&status) => Probed::Healthy,
        Ok(Err(status)) => Probed::Failed(super::status::describe_status(&status)),
        Err(_) => Probed::Failed("no answer to a status probe within the dial timeout".into()),
    }
}

/// True when a member answered a probe by refusing its credentials.
fn is_auth_refusal(status: &tonic::Status) -> bool {
    match super::status::classify_status(status) {
        Failure::Server(kind) => {
            kind == ErrorKind::PermissionDenied
                || policy::decide(Retry::Idempotent, Failure::Server(kind)).action
                    == Action::RefreshToken
        }
        _ => false,
    }
}
