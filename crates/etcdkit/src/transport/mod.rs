//! The connection layer: the only place that knows tonic.
//!
//! A [`Transport`] holds one lazily connected HTTP/2 channel per endpoint and spreads
//! requests over the healthy ones. A request that fails on an endpoint marks it failed;
//! a background prober re-tries failed endpoints with backoff and marks them healthy again.
//! Whether a failed request is retried follows DESIGN.md: anything safe to repeat is
//! retried on another endpoint with capped exponential backoff and jitter until its
//! deadline; a write is retried only when it certainly never reached a server, and
//! otherwise fails with an error that says its outcome is unknown.

mod auth;
mod channel;
mod connector;
mod endpoint;
mod grpc;
mod health;
mod observe;
mod rpc;
mod status;
mod stream;
mod sync;
mod tls;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::Instrument;

pub(crate) use auth::{Credentials, PresetToken};
use endpoint::Node;
pub(crate) use endpoint::parse_endpoint;
pub use health::EndpointHealth;
pub use health::HealthEvent;
use status::Failure;
#[allow(unused_imports)]
pub(crate) use stream::{BidiStream, RpcStream};
pub use tls::TlsOptions;

use crate::error::{Error, ErrorKind, Result};
use crate::options::ClientOptions;

/// Whether a request may be sent twice without harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads and other requests that are safe to repeat.
    Safe,
    /// Writes: retried only when certainly never sent.
    Unsafe,
}

/// How to run one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub op: &'static str,
    pub retry: Retry,
    pub timeout: Option<Duration>,
    /// Whether to attach the auth token (not to Authenticate itself).
    pub with_token: bool,
}

impl Call {
    pub fn safe(op: &'static str, timeout: Option<Duration>) -> Call {
        Call {
            op,
            retry: Retry::Safe,
            timeout,
            with_token: true,
        }
    }

    pub fn unsafe_(op: &'static str, timeout: Option<Duration>) -> Call {
        Call {
            op,
            retry: Retry::Unsafe,
            timeout,
            with_token: true,
        }
    }
}

/// The shared connection state of a client and all its clones.
#[derive(Clone)]
pub(crate) struct Transport {
    shared: Arc<Shared>,
}

struct Shared {
    opts: ClientOptions,
    /// The rustls configuration, when any endpoint uses TLS.
    tls: Option<Arc<rustls::ClientConfig>>,
    nodes: RwLock<Arc<[Arc<Node>]>>,
    cursor: AtomicUsize,
    events: broadcast::Sender<HealthEvent>,
    /// The auth token, when the client authenticates.
    tokens: auth::TokenCache,
    /// Background tasks (prober, auto-sync); aborted when the last clone goes.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(tasks) = self.tasks.get_mut() {
            for task in tasks.drain(..) {
                task.abort();
            }
        }
    }
}

impl Transport {
    /// Builds the transport and checks the endpoints parse; connects nothing yet.
    pub fn new(opts: ClientOptions) -> Result<Transport> {
        if opts.endpoints.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                "no endpoints given: name at least one, like 127.0.0.1:2379",
            ));
        }
        let default_tls = opts.tls.is_some();
        let addrs = opts
            .endpoints
            .iter()
            .map(|raw| parse_endpoint(raw, default_tls))
            .collect::<Result<Vec<_>>>()?;
        let tls = if default_tls || addrs.iter().any(|a| a.tls) {
            Some(opts.tls.clone().unwrap_or_default().client_config()?)
        } else {
            None
        };
        let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if nodes.iter().any(|n| n.addr == addr) {
                continue;
            }
            nodes.push(Arc::new(Node::new(addr, &opts, tls.as_ref())?));
        }
        let (events, _) = broadcast::channel(256);
        Ok(Transport {
            shared: Arc::new(Shared {
                opts,
                tls,
                tokens: auth::TokenCache::default(),
                nodes: RwLock::new(nodes.into()),
                cursor: AtomicUsize::new(0),
                events,
                tasks: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.shared.opts
    }

    fn nodes(&self) -> Arc<[Arc<Node>]> {
        match self.shared.nodes.read() {
            Ok(nodes) => nodes.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The current endpoints, normalised.
    pub fn endpoints(&self) -> Vec<String> {
        self.nodes().iter().map(|n| n.url().to_string()).collect()
    }

    /// Picks the endpoint for the next attempt: the next healthy one in turn, avoiding the
    /// one that just failed; when none is healthy, the one that has waited longest for a
    /// probe (it may have recovered).
    fn pick(&self, avoid: Option<&Arc<Node>>) -> Arc<Node> {
        let nodes = self.nodes();
        let n = nodes.len();
        let start = self.shared.cursor.fetch_add(1, Ordering::Relaxed);
        let avoided = |node: &Arc<Node>| avoid.is_some_and(|a| Arc::ptr_eq(a, node));
        for i in 0..n {
            let node = &nodes[start.wrapping_add(i) % n];
            if node.is_healthy() && !avoided(node) {
                return node.clone();
            }
        }
        let mut best = &nodes[start % n];
        for node in nodes.iter() {
            if (avoided(best) && !avoided(node))
                || (!avoided(node) && node.next_probe() < best.next_probe())
            {
                best = node;
            }
        }
        best.clone()
    }

    fn mark_failed(&self, node: &Node, reason: &str) {
        if node.mark_failed(reason, self.shared.opts.probe_backoff_max) {
            tracing::warn!(endpoint = node.url(), reason, "endpoint marked unhealthy");
            let _ = self.shared.events.send(HealthEvent::Unhealthy {
                endpoint: node.url().to_string(),
                reason: reason.to_string(),
            });
        }
    }

    fn mark_healthy(&self, node: &Node) {
        if node.mark_healthy() {
            tracing::info!(endpoint = node.url(), "endpoint healthy again");
            let _ = self.shared.events.send(HealthEvent::Healthy {
                endpoint: node.url().to_string(),
            });
        }
    }

    /// Adds the metadata every call carries: the auth token, and "has leader" when asked.
    fn decorate<T>(
        &self,
        request: &mut tonic::Request<T>,
        require_leader: bool,
        token: Option<&auth::Token>,
    ) {
        if require_leader || self.shared.opts.require_leader {
            request.metadata_mut().insert(
                "hasleader",
                tonic::metadata::MetadataValue::from_static("true"),
            );
        }
        if let Some(token) = token {
            request.metadata_mut().insert("token", token.value.clone());
        }
    }

    /// Runs a unary call to `path` with the retry policy of `call`.
    pub async fn unary<Req, Resp>(
        &self,
        call: Call,
        path: &'static str,
        message: Req,
    ) -> Result<Resp>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let opts = &self.shared.opts;
        let size = message.encoded_len();
        if size > opts.max_send_size {
            return Err(Error::new(
                ErrorKind::RequestTooLarge,
                format!(
                    "request is {size} bytes, over the client's limit of {} bytes (max_send_size)",
                    opts.max_send_size
                ),
            )
            .with_operation(call.op));
        }
        // Encoded once: every attempt sends the same bytes.
        let frame = grpc::encode(&message);
        drop(message);
        let timeout = call.timeout.unwrap_or(opts.request_timeout);
        let deadline = deadline_after(timeout);
        let several_endpoints = self.nodes().len() > 1;
        let mut token = self
            .token_for(&call)
            .await
            .map_err(|e| e.with_operation(call.op))?;
        let mut token_refreshed = false;
        let mut attempt: u32 = 0;
        let mut maybe_sent = false;
        let mut last_node: Option<Arc<Node>> = None;
        let mut last_error: Option<Error> = None;
        loop {
            let node = self.pick(last_node.as_ref());
            observe::attempt_on(call.op, last_node.as_deref(), &node, attempt);
            last_node = Some(node.clone());
            let now = Instant::now();
            // A read gives a member at most half of the time left, so that a member that
            // has gone silent (frozen, partitioned) leaves time to ask another. A write
            // waits for its answer: giving up on it would only make its outcome unknown.
            let remaining = deadline.saturating_duration_since(now);
            let attempt_deadline = if call.retry == Retry::Safe && several_endpoints {
                now + (remaining / 2).max(MIN_ATTEMPT.min(remaining))
            } else {
                deadline
            };
            let metadata = channel::CallMetadata {
                token: token.as_ref().map(|t| &t.header),
                require_leader: opts.require_leader,
            };
            let span = tracing::debug_span!("rpc", op = call.op, endpoint = node.url(), attempt);
            let attempt_future = node
                .channel
                .unary::<Resp>(path, frame.clone(), metadata, opts.max_recv_size)
                .instrument(span);
            let status = match tokio::time::timeout_at(attempt_deadline, attempt_future).await {
                Ok(Ok(response)) => {
                    self.mark_healthy(&node);
                    return Ok(response);
                }
                Ok(Err(status)) => status,
                Err(_elapsed) if attempt_deadline < deadline => {
                    let waited = attempt_deadline.saturating_duration_since(now);
                    let reason = format!("no answer within {}", crate::util::fmt_duration(waited));
                    self.mark_failed(&node, &reason);
                    // A silent member may still have applied the request.
                    maybe_sent = true;
                    last_error = Some(
                        Error::new(ErrorKind::Timeout, reason)
                            .with_code(crate::error::Code::DeadlineExceeded)
                            .with_endpoint(node.url())
                            .with_operation(call.op),
                    );
                    if let Some(e) = &last_error {
                        observe::retry(call.op, node.url(), attempt, e);
                    }
                    attempt = attempt.saturating_add(1);
                    continue;
                }
                Err(_elapsed) => {
                    // Not marked failed: a slow answer is often the cluster's doing (a
                    // write waiting out a leader change); a silent member is caught by
                    // the keepalive pings and by reads.
                    return Err(
                        self.deadline_error(call, timeout, true, maybe_sent, last_error, &node)
                    );
                }
            };
            let failure = status::classify(&status);
            let retry = match failure {
                Failure::NotSent => {
                    self.mark_failed(&node, &status::describe(&status));
                    true
                }
                Failure::MaybeSent => {
                    self.mark_failed(&node, &status::describe(&status));
                    maybe_sent = true;
                    call.retry == Retry::Safe
                }
                Failure::Unreadable => false,
                Failure::Server(kind)
                    if !token_refreshed
                        && call.with_token
                        && self.shared.opts.credentials.is_some()
                        && auth::is_token_rejection(kind, status.message()) =>
                {
                    // The server refused the token before doing anything: get a new one
                    // and try again at once, once.
                    let stale = token.as_ref().map(|t| t.generation);
                    token = Some(
                        self.refresh_token(stale)
                            .await
                            .map_err(|e| e.with_operation(call.op))?,
                    );
                    token_refreshed = true;
                    last_node = None;
                    continue;
                }
                Failure::Server(kind) => {
                    let cannot_serve = matches!(kind, ErrorKind::NoLeader | ErrorKind::Unavailable)
                        || (kind == ErrorKind::Timeout && call.retry == Retry::Safe);
                    if cannot_serve {
                        // This member cannot serve now (partitioned, stopping, no leader).
                        self.mark_failed(&node, &status::describe(&status));
                    }
                    server_error_is_retryable(kind, call.retry)
                }
            };
            let mut error = status::to_error(status, failure, node.url()).with_operation(call.op);
            if !retry {
                if failure == Failure::MaybeSent {
                    error = Error::new(
                        ErrorKind::OutcomeUnknown,
                        "the connection failed after the request was sent: it may or may not have been applied",
                    )
                    .with_operation(call.op)
                    .with_endpoint(node.url())
                    .with_source(error);
                } else if call.retry == Retry::Unsafe
                    && (failure == Failure::Unreadable
                        || matches!(failure, Failure::Server(kind) if ambiguous_server_error(kind, error.message())))
                {
                    error = error.with_outcome_unknown();
                } else if maybe_sent {
                    // An earlier attempt may have been applied: a repeatable request (a
                    // lease revoke, say) may be failing only because it already worked.
                    error = error.with_outcome_unknown();
                }
                return Err(error);
            }
            observe::retry(call.op, node.url(), attempt, &error);
            last_error = Some(error);
            attempt = attempt.saturating_add(1);
            let delay = jitter(backoff(attempt, opts.retry_backoff, opts.retry_backoff_max));
            match Instant::now().checked_add(delay) {
                Some(wake) if wake < deadline => tokio::time::sleep_until(wake).await,
                _ => {
                    return Err(
                        self.deadline_error(call, timeout, false, maybe_sent, last_error, &node)
                    );
                }
            }
        }
    }

    /// The error for a request that ran out of time: with the last attempt still in
    /// flight (`in_flight`), or before another attempt could be made.
    fn deadline_error(
        &self,
        call: Call,
        timeout: Duration,
        in_flight: bool,
        maybe_sent: bool,
        last_error: Option<Error>,
        node: &Node,
    ) -> Error {
        let within = crate::util::fmt_duration(timeout);
        if call.retry == Retry::Unsafe && (in_flight || maybe_sent) {
            let outcome = Error::new(
                ErrorKind::OutcomeUnknown,
                format!("no answer within {within}: the request may or may not have been applied"),
            )
            .with_operation(call.op)
            .with_endpoint(node.url());
            return match last_error {
                Some(e) => outcome.with_source(e),
                None => outcome,
            };
        }
        match last_error {
            Some(e) if !in_flight => Error::new(
                e.kind(),
                format!(
                    "no endpoint succeeded within {within}; the last said: {}",
                    e.message()
                ),
            )
            .with_operation(call.op)
            .with_endpoint(e.endpoint().unwrap_or(node.url()).to_string())
            .with_source(e),
            _ => Error::timeout(timeout)
                .with_operation(call.op)
                .with_endpoint(node.url()),
        }
    }

    /// Subscribes to endpoint health changes.
    pub fn health_events(&self) -> broadcast::Receiver<HealthEvent> {
        self.shared.events.subscribe()
    }

    /// What is known of each endpoint's health now.
    pub fn endpoint_health(&self) -> Vec<EndpointHealth> {
        self.nodes()
            .iter()
            .map(|n| EndpointHealth {
                endpoint: n.url().to_string(),
                healthy: n.is_healthy(),
                last_error: n.last_error(),
            })
            .collect()
    }

    fn spawn_task<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task).abort_handle();
        if let Ok(mut tasks) = self.shared.tasks.lock() {
            tasks.push(handle);
        }
    }

    fn weak(&self) -> std::sync::Weak<Shared> {
        Arc::downgrade(&self.shared)
    }

    fn upgrade(weak: &std::sync::Weak<Shared>) -> Option<Transport> {
        weak.upgrade().map(|shared| Transport { shared })
    }
}

/// Server errors after which a retry can succeed, given whether the request may be
/// repeated. A write is retried only when etcd refused it before proposing it.
fn server_error_is_retryable(kind: ErrorKind, retry: Retry) -> bool {
    match retry {
        Retry::Safe => matches!(
            kind,
            ErrorKind::NoLeader
                | ErrorKind::NotLeader
                | ErrorKind::LeaderChanged
                | ErrorKind::Timeout
                | ErrorKind::Unavailable
                | ErrorKind::TooManyRequests
        ),
        Retry::Unsafe => matches!(kind, ErrorKind::NoLeader | ErrorKind::TooManyRequests),
    }
}

/// Server errors that leave a write's fate open: the proposal may still commit.
fn ambiguous_server_error(kind: ErrorKind, message: &str) -> bool {
    // A membership change refused because the member is not connected to all its peers
    // is refused before anything is proposed.
    const REFUSED_BEFORE_PROPOSING: &str = "etcdserver: unhealthy cluster";
    matches!(
        kind,
        ErrorKind::Timeout | ErrorKind::LeaderChanged | ErrorKind::Unavailable
    ) && message != REFUSED_BEFORE_PROPOSING
}

/// The shortest time a read gives one member before it may try another.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// `timeout` from now; a timeout too large to represent means "no deadline" in practice.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

/// The wait before retry number `n` (1-based): capped exponential backoff with jitter,
/// as the client's options say.
pub(crate) fn retry_delay(n: u32, opts: &ClientOptions) -> Duration {
    jitter(backoff(n, opts.retry_backoff, opts.retry_backoff_max))
}

/// Capped exponential backoff for attempt `n` (1-based).
fn backoff(n: u32, first: Duration, max: Duration) -> Duration {
    first
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(max)
}

/// Equal jitter: somewhere between half and all of `d`.
pub(crate) fn jitter(d: Duration) -> Duration {
    let half = d / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps() {
        let first = Duration::from_millis(20);
        let max = Duration::from_secs(1);
        assert_eq!(backoff(1, first, max), Duration::from_millis(20));
        assert_eq!(backoff(2, first, max), Duration::from_millis(40));
        assert_eq!(backoff(6, first, max), Duration::from_millis(640));
        assert_eq!(backoff(7, first, max), max);
        assert_eq!(backoff(u32::MAX, first, max), max);
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(100));
            assert!(j >= Duration::from_millis(50) && j <= Duration::from_millis(100));
        }
    }

    #[test]
    fn writes_retry_only_on_refusals_before_proposal() {
        assert!(server_error_is_retryable(
            ErrorKind::NoLeader,
            Retry::Unsafe
        ));
        assert!(!server_error_is_retryable(
            ErrorKind::Timeout,
            Retry::Unsafe
        ));
        assert!(!server_error_is_retryable(
            ErrorKind::LeaderChanged,
            Retry::Unsafe
        ));
        assert!(server_error_is_retryable(ErrorKind::Timeout, Retry::Safe));
        assert!(!server_error_is_retryable(ErrorKind::EmptyKey, Retry::Safe));
    }
}
