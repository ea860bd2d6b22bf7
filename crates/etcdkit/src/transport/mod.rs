//! The connection layer: the only place that knows tonic.
//!
//! A [`Transport`] holds one lazily connected HTTP/2 channel per endpoint and spreads
//! requests over the healthy ones. A request that fails on an endpoint marks it failed;
//! a background prober re-tries failed endpoints with backoff and marks them healthy again.
//! Whether a failed request is retried follows DESIGN.md: anything safe to repeat is
//! retried on another endpoint with capped exponential backoff and jitter until its
//! deadline; a write is retried only when it certainly never reached a server, and
//! otherwise fails with an error that says its outcome is unknown. That policy is one
//! table (`policy`), applied by one attempt driver (`attempt`) that every unary call,
//! stream opening and Observe goes through.

mod attempt;
mod auth;
mod channel;
mod connector;
mod endpoint;
mod grpc;
mod health;
mod in_process;
mod leader_watch;
mod observe;
mod policy;
mod rpc;
mod status;
mod stream;
mod sync;
mod tls;
mod version;

use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::broadcast;

pub(crate) use attempt::deadline_after;
pub(crate) use auth::{Credentials, PresetToken};
use endpoint::Node;
pub(crate) use endpoint::parse_endpoint;
#[cfg(feature = "fuzzing")]
pub(crate) use grpc::{Decoder as UnaryDecoder, error_in as grpc_error_in};
pub use health::EndpointHealth;
pub use health::HealthEvent;
pub use in_process::InProcess;
pub(crate) use policy::{Retry, kind_is_retryable};
#[cfg(feature = "fuzzing")]
pub(crate) use status::describe as describe_attempt_error;
#[allow(unused_imports)]
pub(crate) use stream::{BidiStream, RpcStream};
pub use tls::TlsOptions;
#[cfg(feature = "fuzzing")]
pub(crate) use version::MemberVersion;

use crate::error::{Error, ErrorKind, Result};
use crate::options::ClientOptions;

/// A response that carries etcd's header: the revision of the store that answered and
/// its raft term.
pub(crate) trait Headed {
    fn header(&self) -> Option<&crate::generated::etcdserverpb::ResponseHeader>;
}

/// How to run one call.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub op: &'static str,
    pub retry: Retry,
    pub timeout: Option<Duration>,
    /// Whether to attach the auth token (not to Authenticate itself).
    pub with_token: bool,
    /// Whether to ask the member to refuse the call when it has no leader (besides
    /// the client-wide option).
    pub require_leader: bool,
    /// A read that must not go back in time: an answer from an older revision than one
    /// already seen is retried elsewhere (unless the client's options turn it off).
    pub monotonic: bool,
    /// The one member to send the call to, as the caller wrote it: a member-scoped call
    /// (status, defragment, ...) goes there only and is never retried elsewhere.
    pub endpoint: Option<Arc<str>>,
}

impl Call {
    /// A call that is safe to repeat: retried on another endpoint whenever the policy
    /// table allows.
    pub fn idempotent(op: &'static str, timeout: Option<Duration>) -> Call {
        Call {
            op,
            retry: Retry::Idempotent,
            timeout,
            with_token: true,
            require_leader: false,
            monotonic: false,
            endpoint: None,
        }
    }

    /// A read: safe to repeat, and never answered from an older revision than one the
    /// client has seen.
    pub fn read(op: &'static str, timeout: Option<Duration>) -> Call {
        Call {
            monotonic: true,
            ..Call::idempotent(op, timeout)
        }
    }

    /// A call that may not be sent twice (a write): retried only when it certainly
    /// never reached a server; otherwise its failure says the outcome is unknown.
    pub fn not_idempotent(op: &'static str, timeout: Option<Duration>) -> Call {
        Call {
            op,
            retry: Retry::NotIdempotent,
            timeout,
            with_token: true,
            require_leader: false,
            monotonic: false,
            endpoint: None,
        }
    }
}

/// The shared connection state of a client and all its clones.
#[derive(Clone)]
pub(crate) struct Transport {
    shared: Arc<TransportState>,
}

struct TransportState {
    opts: ClientOptions,
    /// The rustls configuration, when any endpoint uses TLS.
    tls: Option<Arc<rustls::ClientConfig>>,
    nodes: RwLock<Arc<[Arc<Node>]>>,
    cursor: AtomicUsize,
    events: broadcast::Sender<HealthEvent>,
    /// The auth token, when the client authenticates.
    tokens: auth::TokenCache,
    /// The highest header revision seen in any response: reads answered from an older
    /// one are retried elsewhere.
    highest_revision: AtomicI64,
    /// The raft term of the newest header seen: the term a write is sent in.
    terms: leader_watch::TermTracker,
    /// The oldest etcd a member may run to get requests
    /// ([`ClientOptions::min_member_version`]).
    min_version: Option<version::MemberVersion>,
    /// Background tasks (prober, auto-sync); aborted when the last clone goes.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Drop for TransportState {
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
        if http::HeaderValue::from_str(&opts.user_agent).is_err() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "user_agent {:?} is not a valid HTTP header value",
                    opts.user_agent
                ),
            ));
        }
        let min_version = opts
            .min_member_version
            .as_deref()
            .map(version::MemberVersion::from_option)
            .transpose()?;
        let default_tls = opts.tls.is_some();
        let addrs = opts
            .endpoints
            .iter()
            .map(|raw| parse_endpoint(raw, default_tls))
            .collect::<Result<Vec<_>>>()?;
        // An in-process server's endpoint that matches no endpoint is a mistake to report,
        // not to ignore: ignored, the client would silently reach the server over TCP (or
        // not at all), and its user would believe it in-process.
        for server in &opts.in_process {
            let parsed = parse_endpoint(server.endpoint(), default_tls)?;
            if !addrs.iter().any(|addr| addr.url == parsed.url) {
                return Err(Error::new(
                    ErrorKind::InvalidEndpoint,
                    format!(
                        "in-process endpoint {:?} is not one of the client's endpoints {:?}",
                        server.endpoint(),
                        opts.endpoints
                    ),
                ));
            }
        }
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
            shared: Arc::new(TransportState {
                opts,
                tls,
                tokens: auth::TokenCache::default(),
                nodes: RwLock::new(nodes.into()),
                cursor: AtomicUsize::new(0),
                highest_revision: AtomicI64::new(0),
                terms: leader_watch::TermTracker::default(),
                events,
                min_version,
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
    /// The node of a member-targeted call: one of the client's endpoints when it names
    /// one, otherwise a node of its own for this call (connected on use, closed after).
    fn target(&self, raw: &str) -> Result<Arc<Node>> {
        let addr = parse_endpoint(raw, self.shared.opts.tls.is_some())?;
        if let Some(node) = self.nodes().iter().find(|n| n.addr == addr) {
            return Ok(node.clone());
        }
        Ok(Arc::new(Node::new(
            addr,
            &self.shared.opts,
            self.shared.tls.as_ref(),
        )?))
    }

    fn pick(&self, avoid: Option<&Arc<Node>>) -> Arc<Node> {
        let nodes = self.nodes();
        let n = nodes.len();
        let start = self.shared.cursor.fetch_add(1, Ordering::Relaxed);
        let avoided = |node: &Arc<Node>| avoid.is_some_and(|a| Arc::ptr_eq(a, node));
        // Without a prober nothing else brings a failed endpoint back: a request does,
        // once the endpoint's probe backoff has run out (it is then the probe).
        let retry_due = self.shared.opts.health_check_interval.is_none();
        let now = std::time::Instant::now();
        let usable = |node: &Arc<Node>| {
            node.is_healthy() || (retry_due && !node.is_too_old() && node.next_probe() <= now)
        };
        for i in 0..n {
            let node = &nodes[start.wrapping_add(i) % n];
            if usable(node) && !avoided(node) {
                return node.clone();
            }
        }
        // A member refused for its version is the last resort.
        let refused = |node: &Arc<Node>| avoided(node) || node.is_too_old();
        let mut best = &nodes[start % n];
        for node in nodes.iter() {
            if (refused(best) && !refused(node))
                || (!refused(node) && node.next_probe() < best.next_probe())
            {
                best = node;
            }
        }
        best.clone()
    }

    fn mark_failed(&self, node: &Node, reason: &str) {
        if node.mark_failed(reason, &self.shared.opts.probe_backoff) {
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

    /// Runs a unary call to `path` with the retry policy of `call`.
    ///
    /// Not an `async fn`: the message is encoded (and size-checked) before the future
    /// is made, so the future need not hold the request message itself.
    pub fn unary<Req, Resp>(
        &self,
        call: Call,
        path: &'static str,
        message: Req,
    ) -> impl Future<Output = Result<Resp>>
    where
        Req: prost::Message,
        Resp: prost::Message + Default + Headed,
    {
        let opts = &self.shared.opts;
        let size = message.encoded_len();
        // Encoded once: every attempt sends the same bytes.
        let frame = if size > opts.max_send_size {
            // gRPC's own client-side refusal, in grpc-go's words (what etcdctl prints).
            Err(Error::new(
                ErrorKind::RequestTooLarge,
                format!(
                    "trying to send message larger than max ({size} vs. {})",
                    opts.max_send_size
                ),
            )
            .with_code(crate::error::Code::ResourceExhausted)
            .with_operation(call.op))
        } else {
            Ok(grpc::encode(&message))
        };
        drop(message);
        self.unary_frame(call, path, frame)
    }

    async fn unary_frame<Resp>(
        &self,
        call: Call,
        path: &'static str,
        frame: Result<bytes::Bytes>,
    ) -> Result<Resp>
    where
        Resp: prost::Message + Default + Headed,
    {
        let frame = frame?;
        let opts = &self.shared.opts;
        let max_recv = opts.max_recv_size;
        let monotonic = call.monotonic && opts.monotonic_reads;
        let highest = &self.shared.highest_revision;
        let terms = &self.shared.terms;
        let answered = self
            .drive(call, attempt::AttemptTime::Share, |channel, metadata| {
                let frame = frame.clone();
                // The floor is what the client had seen when the read was sent: answers
                // to writes acknowledged while it was in flight may be newer than the
                // read, which is no going back in time (the read was concurrent with them).
                let floor = highest.load(Ordering::Acquire);
                async move {
                    let response = channel
                        .unary::<Resp>(path, frame, metadata, max_recv)
                        .await?;
                    if let Some(header) = response.header() {
                        terms.heard(header.raft_term);
                        let got = header.revision;
                        highest.fetch_max(got, Ordering::AcqRel);
                        if monotonic && got < floor {
                            return Err(status::AttemptError::Behind { seen: floor, got });
                        }
                    }
                    Ok(response)
                }
            })
            .await?;
        Ok(answered.value)
    }

    /// Records a response header seen outside a unary call (a watch or keepalive
    /// answer), so that monotonic reads never return anything older and writes know
    /// the term they are sent in.
    pub(crate) fn saw_header(&self, header: &crate::generated::etcdserverpb::ResponseHeader) {
        self.shared
            .highest_revision
            .fetch_max(header.revision, Ordering::AcqRel);
        self.shared.terms.heard(header.raft_term);
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

    fn weak(&self) -> std::sync::Weak<TransportState> {
        Arc::downgrade(&self.shared)
    }

    fn upgrade(weak: &std::sync::Weak<TransportState>) -> Option<Transport> {
        weak.upgrade().map(|shared| Transport { shared })
    }
}
