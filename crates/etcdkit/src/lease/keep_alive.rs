//! The keepalive handle of one lease: its state, its events, and its renewals on demand.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::Stream;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::renewer::{Renewer, Slot};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::types::{LeaseId, ResponseHeader};

/// How many events a subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 16;

/// Where a kept-alive lease stands.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepAliveState {
    /// Registered; the server has not confirmed a renewal yet.
    Pending,
    /// The server confirmed the lease until `deadline` (conservatively: the send time of
    /// the renewal it answered plus `ttl`).
    Alive {
        /// The TTL of the last renewal.
        ttl: Duration,
        /// Until when the lease is certainly alive.
        deadline: Instant,
    },
    /// The lease is gone or no longer certainly alive; it is not renewed any more.
    Lost(LostReason),
}

/// Why a lease was lost.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LostReason {
    /// The server answered a renewal with a TTL of zero or less: it no longer knows the
    /// lease (revoked, or expired on the server).
    NotFound,
    /// The last confirmed deadline passed without a successful renewal.
    Expired,
    /// The keepalive stream failed to re-open as many times in a row as
    /// [`ClientOptions::max_stream_reopens`](crate::ClientOptions::max_stream_reopens)
    /// allows, so renewing was given up: the server lets the lease expire after its TTL
    /// (it may still be alive until then).
    ReopensExhausted,
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LostReason::NotFound => "the server no longer knows the lease",
            LostReason::Expired => "the lease's TTL ran out without a renewal",
            LostReason::ReopensExhausted => {
                "the keepalive stream could not be re-opened (max_stream_reopens)"
            }
        })
    }
}

/// Something that happened to a kept-alive lease.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum KeepAliveEvent {
    /// The shared keepalive stream was opened (or the lease joined an open one).
    Established {
        /// The endpoint the stream runs on.
        endpoint: String,
    },
    /// A renewal was sent.
    Fired,
    /// The server renewed the lease.
    Succeeded {
        /// The TTL it renewed the lease for.
        ttl: Duration,
        /// Until when the lease is now certainly alive.
        deadline: Instant,
        /// The header of the server's answer.
        header: ResponseHeader,
    },
    /// The stream failed (or could not be opened); outstanding renewals will be re-sent
    /// on a new stream.
    Failed {
        /// What went wrong.
        error: Arc<Error>,
    },
    /// The lease was lost; no more events follow.
    Lost {
        /// Why.
        reason: LostReason,
    },
    /// This subscriber fell behind and missed this many events.
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}

/// Starts keeping a lease alive; await it. From [`Lease::keep_alive`](super::Lease::keep_alive).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct KeepAliveBuilder {
    client: Client,
    id: LeaseId,
    interval: Option<Duration>,
    confirmed: Option<(Duration, Instant)>,
}

impl KeepAliveBuilder {
    pub(crate) fn new(client: Client, id: LeaseId) -> Self {
        KeepAliveBuilder {
            client,
            id,
            interval: None,
            confirmed: None,
        }
    }

    /// Renews this often instead of at a third of the TTL (at most half the TTL is used,
    /// so a renewal always has time to arrive).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// What the caller already knows from the server, such as from the grant: the
    /// lease's TTL, and until when it is certainly alive (for a grant: when the grant
    /// was sent, plus the granted TTL). The first renewal is then scheduled from that
    /// deadline instead of being sent at once, and the lease is reported
    /// [`LostReason::Expired`] if that deadline passes without a renewal.
    pub fn confirmed(mut self, ttl: Duration, deadline: Instant) -> Self {
        self.confirmed = Some((ttl, deadline));
        self
    }
}

request_future! {
    /// Starts keeping the lease alive on the client's shared keepalive stream.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Cancelled`] when the client's keepalive task has stopped. Nothing is sent yet:
    /// renewal failures come as the keep-alive's events.
    impl for KeepAliveBuilder => KeepAlive, |this| {
        let renewer = this.client.renewer().clone();
        let (slot, first) = renewer.acquire(this.id, this.interval, this.confirmed)?;
        Ok(KeepAlive {
            slot,
            renewer,
            request_timeout: this.client.transport().options().request_timeout,
            first_events: Mutex::new(Some(first)),
        })
    }
}

pub(crate) fn new_slot_channels(
    confirmed: Option<(Duration, Instant)>,
) -> (
    watch::Sender<KeepAliveState>,
    broadcast::Sender<KeepAliveEvent>,
) {
    let initial = match confirmed {
        Some((ttl, deadline)) => KeepAliveState::Alive { ttl, deadline },
        None => KeepAliveState::Pending,
    };
    let (state, _) = watch::channel(initial);
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    (state, events)
}

/// Keeps one lease alive over the client's shared keepalive stream.
///
/// Handles for the same lease from the same client share one registration; the lease is
/// renewed while any of them lives.
///
/// **Drop**: dropping the last handle of a lease stops its renewals (the lease then
/// expires after its TTL; nothing is revoked). It never blocks. A handle keeps the
/// client's keepalive task running even after every [`Client`] clone is dropped.
pub struct KeepAlive {
    slot: Arc<Slot>,
    renewer: Arc<Renewer>,
    request_timeout: Duration,
    first_events: Mutex<Option<broadcast::Receiver<KeepAliveEvent>>>,
}

impl KeepAlive {
    /// The lease kept alive.
    pub fn id(&self) -> LeaseId {
        self.slot.id
    }

    /// The lease's current state, as a watch receiver that sees every change.
    pub fn state(&self) -> watch::Receiver<KeepAliveState> {
        self.slot.state.subscribe()
    }

    /// The lease's events. The first stream taken from a handle starts with every event
    /// since the handle was created; later ones start from the moment they are taken.
    /// A subscriber that falls behind gets [`KeepAliveEvent::Lagged`].
    pub fn events(&self) -> impl Stream<Item = KeepAliveEvent> + Send + 'static + use<> {
        let first = match self.first_events.lock() {
            Ok(mut first) => first.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let receiver = first.unwrap_or_else(|| self.slot.events.subscribe());
        BroadcastStream::new(receiver).map(|event| match event {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => KeepAliveEvent::Lagged { missed },
        })
    }

    /// Waits until the lease is lost and says why. Never finishes while it is alive.
    pub async fn lost(&self) -> LostReason {
        let mut state = self.state();
        loop {
            if let KeepAliveState::Lost(reason) = &*state.borrow_and_update() {
                return *reason;
            }
            if state.changed().await.is_err() {
                // The slot is owned by this handle, so its sender cannot go first; if it
                // ever did, the lease is no longer being renewed.
                return LostReason::Expired;
            }
        }
    }

    /// Renews the lease now, over the shared stream, and returns the TTL the server
    /// granted.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LeaseNotFound`] when the lease is (or becomes) lost; the stream's error
    /// when it fails; [`ErrorKind::Timeout`] when no answer comes within the client's
    /// request timeout.
    pub async fn renew_now(&self) -> Result<Duration> {
        const OP: &str = "lease.keep_alive";
        let mut events = BroadcastStream::new(self.slot.events.subscribe());
        if let KeepAliveState::Lost(reason) = &*self.slot.state.borrow() {
            return Err(lost_error(*reason, OP));
        }
        self.renewer.renew_now(self.slot.id);
        let wait = async {
            while let Some(event) = events.next().await {
                match event {
                    Ok(KeepAliveEvent::Succeeded { ttl, .. }) => return Ok(ttl),
                    Ok(KeepAliveEvent::Lost { reason }) => return Err(lost_error(reason, OP)),
                    Ok(KeepAliveEvent::Failed { error }) => {
                        return Err(Error::new(error.kind(), error.to_string()).with_operation(OP));
                    }
                    _ => {}
                }
            }
            Err(
                Error::new(ErrorKind::Cancelled, "the keepalive task has stopped")
                    .with_operation(OP),
            )
        };
        match tokio::time::timeout(self.request_timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(Error::timeout(self.request_timeout).with_operation(OP)),
        }
    }
}

fn lost_error(reason: LostReason, op: &'static str) -> Error {
    match reason {
        LostReason::NotFound => super::keep_alive_once::lease_not_found(op),
        LostReason::Expired => {
            Error::new(ErrorKind::LeaseNotFound, reason.to_string()).with_operation(op)
        }
        LostReason::ReopensExhausted => {
            Error::new(ErrorKind::StreamReopensExhausted, reason.to_string()).with_operation(op)
        }
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.renewer.release(&self.slot);
    }
}

impl fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeepAlive")
            .field("id", &self.slot.id)
            .field("state", &*self.slot.state.borrow())
            .finish()
    }
}
