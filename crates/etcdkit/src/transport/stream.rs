//! Streaming calls: watch and lease keepalive (both ways), election observe and snapshot
//! (server to client).
//!
//! Opening a stream is safe to repeat, so it is retried on another endpoint like a read.
//! Once open, a stream's failure is reported to its owner (the watch or lease machinery),
//! which re-opens it: only the owner knows what to resume.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::attempt::AttemptTime;
use super::channel::{CallMetadata, Channel};
use super::endpoint::Node;
use super::policy::{self, Action, Retry};
use super::status::{self, AttemptError};
use super::{Call, Transport, TransportState};
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
    transport: Weak<TransportState>,
    op: &'static str,
    /// The generation of the auth token the stream was opened with, if any.
    token_generation: Option<u64>,
    /// Tells when a connection of the stream's endpoint goes silent.
    silences: tokio::sync::watch::Receiver<u64>,
}

impl<T> RpcStream<T> {
    /// The next message; `Ok(None)` when the server ended the stream.
    ///
    /// When the server ends the stream because it refuses the auth token, a new token
    /// is fetched first, so that the owner's re-opened stream carries it.
    ///
    /// When the endpoint's connection stops answering keepalive pings, the stream fails
    /// (the endpoint is marked unhealthy), so its owner re-opens it on another member
    /// instead of waiting on a frozen or unreachable one: a stream is safe to re-open.
    pub async fn message(&mut self) -> Result<Option<T>> {
        let next = tokio::select! {
            next = self.inner.message() => next,
            Ok(()) = self.silences.changed() => {
                let reason = "the member stopped answering keepalive pings";
                if let Some(transport) = Transport::upgrade(&self.transport) {
                    transport.mark_failed(&self.node, reason);
                }
                return Err(Error::new(ErrorKind::Unavailable, reason)
                    .with_code(crate::error::Code::Unavailable)
                    .with_endpoint(self.node.url())
                    .with_operation(self.op));
            }
        };
        match next {
            Ok(message) => Ok(message),
            Err(status) => {
                // The same table as for an opening; the owner re-opens the stream.
                let failure = status::classify_status(&status);
                let decision = policy::decide(Retry::Idempotent, failure);
                if decision.mark_unhealthy
                    && let Some(transport) = Transport::upgrade(&self.transport)
                {
                    transport.mark_failed(&self.node, &status::describe_status(&status));
                }
                if decision.action == Action::RefreshToken
                    && let Err(e) = self.refresh_token().await
                {
                    tracing::warn!(op = self.op, error = %e, "cannot fetch a new auth token");
                }
                Err(status::status_to_error(status, failure, self.node.url())
                    .with_operation(self.op))
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
        attempt_time: AttemptTime,
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
            .open_stream(
                op,
                require_leader,
                None,
                attempt_time,
                |channel, metadata| {
                    let (tx, rx) = mpsc::channel(REQUEST_QUEUE.max(initial.len()));
                    for request in initial {
                        // Cannot fail: the queue is empty and large enough.
                        let _ = tx.try_send(request.clone());
                    }
                    sender = Some(tx);
                    open(channel, metadata.request(ReceiverStream::new(rx)))
                },
            )
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

    /// Opens a stream through the attempt driver (a stream opening is safe to repeat),
    /// counted as one request in the metrics.
    async fn open_stream<Resp, F, Fut>(
        &self,
        op: &'static str,
        require_leader: bool,
        endpoint: Option<Arc<str>>,
        attempt_time: AttemptTime,
        mut open: F,
    ) -> Result<RpcStream<Resp>>
    where
        F: FnMut(Channel, CallMetadata) -> Fut,
        Fut: Future<
            Output = std::result::Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>,
        >,
    {
        crate::telemetry::request(op);
        let mut call = Call::idempotent(op, None);
        call.require_leader = require_leader;
        call.endpoint = endpoint;
        let mut silences = None;
        let result = self
            .drive(call, attempt_time, |channel, metadata| {
                silences = Some(channel.silences());
                let opening = open(channel, metadata);
                async move { opening.await.map_err(AttemptError::Status) }
            })
            .await;
        match result {
            Ok(answered) => Ok(RpcStream {
                // Subscribed when the answering attempt started: a silence since then
                // fails the stream at once.
                silences: silences.unwrap_or_else(|| answered.node.channel.silences()),
                inner: answered.value.into_inner(),
                node: answered.node,
                transport: self.weak(),
                op,
                token_generation: answered.token_generation,
            }),
            Err(e) => {
                crate::telemetry::request_failed(op, e.kind());
                Err(e)
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
            opening_time(self),
            |channel, request| async move {
                WatchClient::new(channel)
                    .max_decoding_message_size(max_recv)
                    .watch(request)
                    .await
            },
        )
        .await
    }

    /// Opens the LeaseKeepAlive stream with these requests queued. etcd sends the
    /// stream's headers with its first answer, so opening it waits for the answer to
    /// the first renewal: `answer_within`, when given, is how long one member may take
    /// to give it before the next is tried (a member forwarding the renewal to a frozen
    /// leader would otherwise hold it for seconds).
    pub(crate) async fn lease_keep_alive_stream(
        &self,
        initial: &[pb::LeaseKeepAliveRequest],
        answer_within: Option<Duration>,
    ) -> Result<BidiStream<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>> {
        let attempt_time = match answer_within {
            Some(limit) => AttemptTime::AtMost(limit),
            None => opening_time(self),
        };
        self.open_bidi(
            "lease.keep_alive",
            initial,
            false,
            attempt_time,
            |channel, request| async move {
                LeaseClient::new(channel).lease_keep_alive(request).await
            },
        )
        .await
    }

    /// Opens an election Observe stream on a healthy endpoint.
    ///
    /// etcd answers an Observe call (headers included) only once the election has a
    /// leader, so an attempt cannot be timed like other openings: it waits, and a
    /// member that dies meanwhile is caught by the keepalive pings.
    pub(crate) async fn observe_stream(
        &self,
        request: election::LeaderRequest,
    ) -> Result<RpcStream<election::LeaderResponse>> {
        self.open_stream(
            OBSERVE,
            false,
            None,
            AttemptTime::Unbounded,
            |channel, metadata| {
                let request = metadata.request(request.clone());
                async move { ElectionClient::new(channel).observe(request).await }
            },
        )
        .await
    }

    /// Opens a Snapshot stream, on `endpoint` only when given.
    pub(crate) async fn snapshot_stream(
        &self,
        endpoint: Option<Arc<str>>,
    ) -> Result<RpcStream<pb::SnapshotResponse>> {
        let max_recv = self.options().max_recv_size;
        self.open_stream(
            "maintenance.snapshot",
            false,
            endpoint,
            opening_time(self),
            |channel, metadata| {
                let request = metadata.request(pb::SnapshotRequest {});
                async move {
                    MaintenanceClient::new(channel)
                        .max_decoding_message_size(max_recv)
                        .snapshot(request)
                        .await
                }
            },
        )
        .await
    }
}

/// How long one member may take to answer a stream opening, so that a silent one
/// leaves time to try the others.
fn opening_time(transport: &Transport) -> AttemptTime {
    AttemptTime::AtMost(
        transport
            .options()
            .dial_timeout
            .max(Duration::from_millis(250)),
    )
}
