//! Streaming calls: watch and lease keepalive (both ways), election observe and snapshot
//! (server to client).
//!
//! Opening a stream is safe to repeat, so it is retried on another endpoint like a read.
//! Once open, a stream's failure is reported to its owner (the watch or lease machinery),
//! which re-opens it: only the owner knows what to resume.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::channel::Channel;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use super::auth::Token;
use super::endpoint::Node;
use super::observe;
use super::status::{self, Failure};
use super::{Shared, Transport, backoff, deadline_after, jitter};
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::generated::etcdserverpb::lease_client::LeaseClient;
use crate::generated::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::generated::etcdserverpb::watch_client::WatchClient;
use crate::generated::v3electionpb as election;
use crate::generated::v3electionpb::election_client::ElectionClient;

/// The operation name of an election Observe stream.
const OBSERVE: &str = "election.observe";

/// How many requests may wait to be sent on a two-way stream.
const REQUEST_QUEUE: usize = 1024;

/// The receiving half of a streaming call.
pub(crate) struct RpcStream<T> {
    inner: tonic::Streaming<T>,
    node: Arc<Node>,
    transport: Weak<Shared>,
    op: &'static str,
    /// The generation of the auth token the stream was opened with, if any.
    token_generation: Option<u64>,
}

impl<T> RpcStream<T> {
    /// The next message; `Ok(None)` when the server ended the stream.
    ///
    /// When the server ends the stream because it refuses the auth token, a new token
    /// is fetched first, so that the owner's re-opened stream carries it.
    pub async fn message(&mut self) -> Result<Option<T>> {
        match self.inner.message().await {
            Ok(message) => Ok(message),
            Err(status) => {
                let failure = status::classify(&status);
                if matches!(failure, Failure::NotSent | Failure::MaybeSent)
                    && let Some(transport) = Transport::upgrade(&self.transport)
                {
                    transport.mark_failed(&self.node, &status::describe(&status));
                }
                if let Failure::Server(kind) = failure
                    && super::auth::is_token_rejection(kind, status.message())
                    && let Err(e) = self.refresh_token().await
                {
                    tracing::warn!(op = self.op, error = %e, "cannot fetch a new auth token");
                }
                Err(status::to_error(status, failure, self.node.url()).with_operation(self.op))
            }
        }
    }

    /// Fetches a new auth token, unless the one this stream was opened with has been
    /// replaced already, so that the next stream opens with a token the server accepts.
    /// Does nothing for a client without a user and password.
    pub async fn refresh_token(&self) -> Result<()> {
        let Some(transport) = Transport::upgrade(&self.transport) else {
            return Ok(());
        };
        if transport.options().credentials.is_none() {
            return Ok(());
        }
        transport
            .refresh_token(self.token_generation)
            .await
            .map(drop)
            .map_err(|e| e.with_operation(self.op))
    }

    /// The endpoint the stream runs on.
    pub fn endpoint(&self) -> &str {
        self.node.url()
    }

    /// Marks the stream's endpoint failed (its owner found the stream stuck), so the
    /// next stream opens elsewhere and the prober checks on this one.
    pub fn mark_endpoint_failed(&self, reason: &str) {
        if let Some(transport) = Transport::upgrade(&self.transport) {
            transport.mark_failed(&self.node, reason);
        }
    }
}

/// A two-way stream: requests go in through `sender`, answers come out of `stream`.
/// Dropping the sender ends the request side, and with it the call.
pub(crate) struct BidiStream<Req, Resp> {
    pub sender: mpsc::Sender<Req>,
    pub stream: RpcStream<Resp>,
}

impl Transport {
    /// Opens a two-way stream on a healthy endpoint, with `initial` requests already
    /// queued (etcd sends nothing, not even response headers, until it gets a request).
    async fn open_bidi<Req, Resp, F, Fut>(
        &self,
        op: &'static str,
        initial: &[Req],
        require_leader: bool,
        open: F,
    ) -> Result<BidiStream<Req, Resp>>
    where
        Req: Clone + Send + 'static,
        F: Fn(Channel, tonic::Request<ReceiverStream<Req>>) -> Fut,
        Fut: Future<
            Output = std::result::Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>,
        >,
    {
        let mut sender = None;
        let stream = self
            .open_with_retry(op, |channel, token| {
                let (tx, rx) = mpsc::channel(REQUEST_QUEUE.max(initial.len()));
                for request in initial {
                    // Cannot fail: the queue is empty and large enough.
                    let _ = tx.try_send(request.clone());
                }
                sender = Some(tx);
                let mut request = tonic::Request::new(ReceiverStream::new(rx));
                self.decorate(&mut request, require_leader, token);
                open(channel, request)
            })
            .await?;
        let sender = sender.ok_or_else(|| {
            Error::new(
                ErrorKind::Unavailable,
                "stream opened without a request queue",
            )
            .with_operation(op)
        })?;
        Ok(BidiStream { sender, stream })
    }

    /// Opens a server-streaming call on a healthy endpoint.
    async fn open_server_stream<Req, Resp, F, Fut>(
        &self,
        op: &'static str,
        message: Req,
        require_leader: bool,
        open: F,
    ) -> Result<RpcStream<Resp>>
    where
        Req: Clone,
        F: Fn(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<
            Output = std::result::Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>,
        >,
    {
        self.open_with_retry(op, |channel, token| {
            let mut request = tonic::Request::new(message.clone());
            self.decorate(&mut request, require_leader, token);
            open(channel, request)
        })
        .await
    }

    /// Tries endpoints in turn until one opens the stream, within the request timeout;
    /// counted as one request in the metrics.
    async fn open_with_retry<Resp, F, Fut>(
        &self,
        op: &'static str,
        attempt: F,
    ) -> Result<RpcStream<Resp>>
    where
        F: FnMut(Channel, Option<&Token>) -> Fut,
        Fut: Future<
            Output = std::result::Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>,
        >,
    {
        crate::telemetry::request(op);
        let result = self.open_attempts(op, attempt).await;
        if let Err(e) = &result {
            crate::telemetry::request_failed(op, e.kind());
        }
        result
    }

    /// The attempts of [`open_with_retry`](Self::open_with_retry), each in an `rpc` span.
    async fn open_attempts<Resp, F, Fut>(
        &self,
        op: &'static str,
        mut attempt: F,
    ) -> Result<RpcStream<Resp>>
    where
        F: FnMut(Channel, Option<&Token>) -> Fut,
        Fut: Future<
            Output = std::result::Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>,
        >,
    {
        let opts = self.options();
        let timeout = opts.request_timeout;
        let deadline = deadline_after(timeout);
        // One member may take at most this long to answer the opening, so that a silent
        // one leaves time to try the others.
        let per_attempt = opts.dial_timeout.max(Duration::from_millis(250));
        let call = super::Call::safe(op, None);
        let mut token = self
            .token_for(&call)
            .await
            .map_err(|e| e.with_operation(op))?;
        let mut token_refreshed = false;
        let mut tries: u32 = 0;
        let mut last_node: Option<Arc<Node>> = None;
        let mut last_error: Option<Error>;
        loop {
            let node = self.pick(last_node.as_ref());
            observe::attempt_on(op, last_node.as_deref(), &node, tries);
            last_node = Some(node.clone());
            let now = Instant::now();
            let attempt_deadline = now
                .checked_add(per_attempt)
                .map_or(deadline, |d| d.min(deadline));
            let span = tracing::debug_span!("rpc", op, endpoint = node.url(), attempt = tries);
            let opening = attempt(node.channel.clone(), token.as_ref()).instrument(span);
            match tokio::time::timeout_at(attempt_deadline, opening).await {
                Ok(Ok(response)) => {
                    self.mark_healthy(&node);
                    return Ok(RpcStream {
                        inner: response.into_inner(),
                        node,
                        transport: self.weak(),
                        op,
                        token_generation: token.as_ref().map(|t| t.generation),
                    });
                }
                Ok(Err(status)) => {
                    let failure = status::classify(&status);
                    let retry = match failure {
                        Failure::NotSent | Failure::MaybeSent => {
                            self.mark_failed(&node, &status::describe(&status));
                            true
                        }
                        Failure::Unreadable => false,
                        Failure::Server(kind)
                            if !token_refreshed
                                && self.options().credentials.is_some()
                                && super::auth::is_token_rejection(kind, status.message()) =>
                        {
                            let stale = token.as_ref().map(|t| t.generation);
                            token = Some(
                                self.refresh_token(stale)
                                    .await
                                    .map_err(|e| e.with_operation(op))?,
                            );
                            token_refreshed = true;
                            continue;
                        }
                        Failure::Server(kind) => {
                            let retry = matches!(
                                kind,
                                ErrorKind::NoLeader
                                    | ErrorKind::Unavailable
                                    | ErrorKind::Timeout
                                    | ErrorKind::TooManyRequests
                                    | ErrorKind::LeaderChanged
                            );
                            if retry {
                                self.mark_failed(&node, &status::describe(&status));
                            }
                            retry
                        }
                    };
                    let error = status::to_error(status, failure, node.url()).with_operation(op);
                    if !retry {
                        return Err(error);
                    }
                    last_error = Some(error);
                }
                Err(_) => {
                    let reason = format!(
                        "no answer to opening a stream within {}",
                        crate::util::fmt_duration(per_attempt)
                    );
                    self.mark_failed(&node, &reason);
                    last_error = Some(
                        Error::new(ErrorKind::Timeout, reason)
                            .with_endpoint(node.url())
                            .with_operation(op),
                    );
                }
            }
            if let Some(e) = &last_error {
                observe::retry(op, node.url(), tries, e);
            }
            tries = tries.saturating_add(1);
            let delay = jitter(backoff(tries, opts.retry_backoff, opts.retry_backoff_max));
            match Instant::now().checked_add(delay) {
                Some(wake) if wake < deadline => tokio::time::sleep_until(wake).await,
                _ => {
                    return Err(
                        last_error.unwrap_or_else(|| Error::timeout(timeout).with_operation(op))
                    );
                }
            }
        }
    }

    /// Opens the Watch stream with these requests queued.
    pub(crate) async fn watch_stream(
        &self,
        initial: &[pb::WatchRequest],
        require_leader: bool,
    ) -> Result<BidiStream<pb::WatchRequest, pb::WatchResponse>> {
        let max_recv = self.options().max_recv_size;
        self.open_bidi(
            "watch",
            initial,
            require_leader,
            |channel, request| async move {
                WatchClient::new(channel)
                    .max_decoding_message_size(max_recv)
                    .watch(request)
                    .await
            },
        )
        .await
    }

    /// Opens the LeaseKeepAlive stream with these requests queued.
    pub(crate) async fn lease_keep_alive_stream(
        &self,
        initial: &[pb::LeaseKeepAliveRequest],
    ) -> Result<BidiStream<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>> {
        self.open_bidi("lease.keep_alive", initial, false, |channel, request| async move {
            LeaseClient::new(channel).lease_keep_alive(request).await
        })
        .await
    }

    /// Opens an election Observe stream on a healthy endpoint.
    ///
    /// etcd answers an Observe call (headers included) only once the election has a
    /// leader, so the opening cannot be timed like other streams: it waits, and a
    /// member that dies meanwhile is caught by the keepalive pings. A rejected token is
    /// refreshed and the opening tried once more.
    pub(crate) async fn observe_stream(
        &self,
        request: election::LeaderRequest,
    ) -> Result<RpcStream<election::LeaderResponse>> {
        crate::telemetry::request(OBSERVE);
        let result = self.open_observe(request).await;
        if let Err(e) = &result {
            crate::telemetry::request_failed(OBSERVE, e.kind());
        }
        result
    }

    async fn open_observe(
        &self,
        request: election::LeaderRequest,
    ) -> Result<RpcStream<election::LeaderResponse>> {
        const OP: &str = OBSERVE;
        let call = super::Call::safe(OP, None);
        let mut token = self
            .token_for(&call)
            .await
            .map_err(|e| e.with_operation(OP))?;
        let mut token_refreshed = false;
        let mut attempt: u32 = 0;
        loop {
            let node = self.pick(None);
            let mut message = tonic::Request::new(request.clone());
            self.decorate(&mut message, false, token.as_ref());
            let span = tracing::debug_span!("rpc", op = OP, endpoint = node.url(), attempt);
            match ElectionClient::new(node.channel.clone())
                .observe(message)
                .instrument(span)
                .await
            {
                Ok(response) => {
                    self.mark_healthy(&node);
                    return Ok(RpcStream {
                        inner: response.into_inner(),
                        node,
                        transport: self.weak(),
                        op: OP,
                        token_generation: token.as_ref().map(|t| t.generation),
                    });
                }
                Err(status) => {
                    let failure = status::classify(&status);
                    match failure {
                        Failure::NotSent | Failure::MaybeSent => {
                            self.mark_failed(&node, &status::describe(&status));
                        }
                        Failure::Server(kind)
                            if !token_refreshed
                                && self.options().credentials.is_some()
                                && super::auth::is_token_rejection(kind, status.message()) =>
                        {
                            let stale = token.as_ref().map(|t| t.generation);
                            token = Some(
                                self.refresh_token(stale)
                                    .await
                                    .map_err(|e| e.with_operation(OP))?,
                            );
                            token_refreshed = true;
                            attempt = attempt.saturating_add(1);
                            continue;
                        }
                        _ => {}
                    }
                    return Err(status::to_error(status, failure, node.url()).with_operation(OP));
                }
            }
        }
    }

    /// Opens a Snapshot stream.
    pub(crate) async fn snapshot_stream(&self) -> Result<RpcStream<pb::SnapshotResponse>> {
        let max_recv = self.options().max_recv_size;
        self.open_server_stream(
            "maintenance.snapshot",
            pb::SnapshotRequest {},
            false,
            |channel, request| async move {
                MaintenanceClient::new(channel)
                    .max_decoding_message_size(max_recv)
                    .snapshot(request)
                    .await
            },
        )
        .await
    }
}
