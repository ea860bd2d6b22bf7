//! A lease that stays alive or says why not: granted in the background, kept alive over
//! the client's shared keepalive stream, observable as a state and a stream of events.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use etcdkit_recipes::lease_keeper::LeaseKeeper;
//!
//! let lease = LeaseKeeper::new(&client, Duration::from_secs(10));
//! // Waits for the grant, then puts the key under the lease.
//! lease.put("services/api/1", "10.0.0.7:8080").await?;
//! tokio::select! {
//!     reason = lease.lost() => eprintln!("registration lost: {reason}"),
//!     _ = tokio::signal::ctrl_c() => lease.close().await?,
//! }
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Grant.** [`LeaseKeeper::new`] returns at once and grants the lease in the
//!   background; the state is [`KeeperState::Granting`] meanwhile. Everything that needs
//!   the lease id ([`put`](LeaseKeeper::put), [`id`](LeaseKeeper::id),
//!   [`keepalive_once`](LeaseKeeper::keepalive_once), [`revoke`](LeaseKeeper::revoke))
//!   waits for the grant. A grant that fails retryably (no endpoint, no leader, timeout,
//!   unknown outcome) is retried with backoff, each failure reported as
//!   [`KeeperEvent::KeepaliveFailed`]; a grant that fails for good loses the lease with
//!   [`LostReason::GrantFailed`]. (A grant whose outcome was unknown may leave an
//!   unused lease behind; it expires after its TTL.)
//! - **Renewals.** The lease is renewed over the client's one LeaseKeepAlive stream at a
//!   third of its TTL, counted from the expiry the server last confirmed. When the stream
//!   fails it is re-opened at once on a healthy endpoint
//!   ([`KeeperEvent::KeepaliveFailed`], then [`KeeperEvent::KeepaliveEstablished`]), and
//!   renewals missed meanwhile are sent immediately.
//! - **Lost.** The lease is lost when the server says it no longer exists
//!   ([`LostReason::NotFound`]: revoked by someone else, or expired on the server), when
//!   the last confirmed deadline passes without a renewal ([`LostReason::Expired`]: the
//!   cluster was unreachable or without quorum for longer than the TTL), or when
//!   [`revoke`](LeaseKeeper::revoke) revoked it ([`LostReason::Revoked`]). Lost is final:
//!   the keeper never grants a new lease; make a new keeper for that.
//! - **[`release_passively`](LeaseKeeper::release_passively)** stops the renewals; the
//!   lease (and its keys) expire on the server after the TTL, and the keeper reports
//!   [`LostReason::Expired`] when the last confirmed deadline passes.
//! - **[`revoke`](LeaseKeeper::revoke)** revokes the lease: its keys are deleted at once.
//! - **Drop** cancels the background task: renewals stop and the lease expires after its
//!   TTL. Nothing is revoked and nothing blocks.
//! - **[`close`](LeaseKeeper::close)** revokes the lease (when it was granted and is not
//!   lost yet), stops the task, and reports the revocation's error if it failed.

mod events;
mod task;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use etcdkit::kv::PutResponse;
use etcdkit::lease::KeepAlive;
use etcdkit::{Client, Error, ErrorKind, LeaseId, Result};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

pub use events::{KeeperEvent, KeeperState, LostReason};

/// How many events a subscriber may fall behind before it is told it lagged.
const EVENT_BUFFER: usize = 64;

/// What the keeper and its task share.
pub(crate) struct KeeperCore {
    client: Client,
    state: watch::Sender<KeeperState>,
    events: broadcast::Sender<KeeperEvent>,
    /// The keepalive handle while the lease is being renewed.
    keep: Mutex<Option<Arc<KeepAlive>>>,
    /// Stops the task (release, revoke, close).
    stop: tokio::sync::Notify,
    /// A revocation through this keeper is under way.
    revoking: AtomicBool,
}

impl KeeperCore {
    fn emit(&self, event: KeeperEvent) {
        let _ = self.events.send(event);
    }

    fn keep(&self) -> Option<Arc<KeepAlive>> {
        match self.keep.lock() {
            Ok(keep) => keep.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_keep(&self, keep: Option<Arc<KeepAlive>>) {
        match self.keep.lock() {
            Ok(mut slot) => *slot = keep,
            Err(poisoned) => *poisoned.into_inner() = keep,
        }
    }

    /// Moves to Lost, once: the first reason wins. Returns whether this call did it.
    fn lose(&self, reason: LostReason) -> bool {
        let mut changed = false;
        self.state.send_if_modified(|state| {
            if matches!(state, KeeperState::Lost { .. }) {
                return false;
            }
            let id = state.id();
            *state = KeeperState::Lost {
                id,
                reason: reason.clone(),
            };
            changed = true;
            true
        });
        if changed {
            self.set_keep(None);
            self.stop.notify_one();
            self.emit(KeeperEvent::Lost { reason });
        }
        changed
    }
}

/// How to make a [`LeaseKeeper`]. From [`LeaseKeeper::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until started"]
pub struct LeaseKeeperBuilder {
    client: Client,
    ttl: Duration,
    id: Option<LeaseId>,
    resume: Option<LeaseId>,
    interval: Option<Duration>,
}

impl LeaseKeeperBuilder {
    /// Grants the lease with this id instead of one the server chooses.
    pub fn id(mut self, id: LeaseId) -> Self {
        self.id = Some(id);
        self
    }

    /// Keeps an existing lease alive instead of granting one. Its first renewal is sent
    /// at once; if the server does not know the lease, it is lost with
    /// [`LostReason::NotFound`].
    pub fn resume(mut self, id: LeaseId) -> Self {
        self.resume = Some(id);
        self
    }

    /// Renews this often instead of at a third of the TTL (at most half the TTL).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Starts the keeper: the grant (or the resumed lease's first renewal) begins in the
    /// background. Must be called within a Tokio runtime.
    pub fn start(self) -> LeaseKeeper {
        let (state, _) = watch::channel(KeeperState::Granting);
        let (events, first) = broadcast::channel(EVENT_BUFFER);
        let shared = Arc::new(KeeperCore {
            client: self.client.clone(),
            state,
            events,
            keep: Mutex::new(None),
            stop: tokio::sync::Notify::new(),
            revoking: AtomicBool::new(false),
        });
        let task = tokio::spawn(task::run(shared.clone(), self)).abort_handle();
        LeaseKeeper {
            shared,
            task,
            first_events: Mutex::new(Some(first)),
        }
    }
}

/// A lease kept alive in the background, with its state and events. See the
/// [module docs](self) for its behavior.
///
/// **Drop** stops the renewals (the lease expires after its TTL; nothing is revoked);
/// [`close`](LeaseKeeper::close) revokes.
pub struct LeaseKeeper {
    shared: Arc<KeeperCore>,
    task: tokio::task::AbortHandle,
    first_events: Mutex<Option<broadcast::Receiver<KeeperEvent>>>,
}

impl LeaseKeeper {
    /// Grants a lease of `ttl` in the background (rounded up to whole seconds) and keeps
    /// it alive. Must be called within a Tokio runtime.
    pub fn new(client: &Client, ttl: Duration) -> LeaseKeeper {
        LeaseKeeper::builder(client, ttl).start()
    }

    /// A keeper with more options.
    pub fn builder(client: &Client, ttl: Duration) -> LeaseKeeperBuilder {
        LeaseKeeperBuilder {
            client: client.clone(),
            ttl,
            id: None,
            resume: None,
            interval: None,
        }
    }

    /// The current state, as a watch receiver that sees every change.
    pub fn state(&self) -> watch::Receiver<KeeperState> {
        self.shared.state.subscribe()
    }

    /// The events. The first stream taken from a keeper starts with every event since
    /// it was started; later ones start from the moment they are taken. A subscriber
    /// that falls behind gets [`KeeperEvent::Lagged`].
    pub fn events(&self) -> impl Stream<Item = KeeperEvent> + Send + 'static + use<> {
        let first = match self.first_events.lock() {
            Ok(mut first) => first.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let receiver = first.unwrap_or_else(|| self.shared.events.subscribe());
        BroadcastStream::new(receiver).map(|event| match event {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => KeeperEvent::Lagged { missed },
        })
    }

    /// The lease id, once granted. Fails when the lease was lost before it was granted
    /// ([`LostReason::GrantFailed`], or the keeper was closed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::LeaseNotFound`] or the grant's own failure when the lease was lost before it
    /// was granted ([`LostReason::GrantFailed`]); [`ErrorKind::Cancelled`] when the keeper was
    /// closed.
    pub async fn id(&self) -> Result<LeaseId> {
        let mut state = self.state();
        let result = state
            .wait_for(|s| !matches!(s, KeeperState::Granting))
            .await;
        match result {
            Ok(state) => match state.id() {
                Some(id) => Ok(id),
                None => Err(lost_error(&state)),
            },
            Err(_) => Err(Error::new(
                ErrorKind::Cancelled,
                "the lease keeper has stopped",
            )),
        }
    }

    /// Puts a key under the lease, waiting for the grant first.
    ///
    /// # Errors
    ///
    /// As [`LeaseKeeper::id`] while waiting for the grant; then the put's own failures
    /// ([`ErrorKind::LeaseNotFound`], [`ErrorKind::OutcomeUnknown`], ...).
    pub async fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<PutResponse> {
        let id = self.id().await?;
        self.shared.client.kv().put(key, value).lease(id).await
    }

    /// Renews the lease now and returns the TTL the server granted (waiting for the
    /// grant first). Fails with [`ErrorKind::LeaseNotFound`] when the lease is lost.
    ///
    /// # Errors
    ///
    /// As [`LeaseKeeper::id`] while waiting for the grant; [`ErrorKind::LeaseNotFound`] when the
    /// lease is lost; the request's own failures ([`ErrorKind::Unavailable`],
    /// [`ErrorKind::Timeout`], ...).
    pub async fn keepalive_once(&self) -> Result<Duration> {
        let id = self.id().await?;
        if let Some(keep) = self.shared.keep() {
            return keep.renew_now().await;
        }
        if let KeeperState::Lost { .. } = &*self.shared.state.borrow() {
            return Err(lost_error(&self.shared.state.borrow()));
        }
        // Released: renew over a stream of its own, and tell the subscribers.
        self.shared.emit(KeeperEvent::KeepaliveFired);
        match self.shared.client.lease().keep_alive_once(id).await {
            Ok(r) => {
                let ttl = Duration::from_secs(u64::try_from(r.ttl()).unwrap_or(0));
                self.shared.emit(KeeperEvent::KeepaliveSucceeded { ttl });
                Ok(ttl)
            }
            Err(e) => {
                if e.kind() == ErrorKind::LeaseNotFound {
                    self.shared.lose(LostReason::NotFound);
                } else {
                    self.shared.emit(KeeperEvent::KeepaliveFailed {
                        error: Arc::new(Error::new(e.kind(), e.to_string())),
                    });
                }
                Err(e)
            }
        }
    }

    /// Stops renewing and lets the lease expire after its TTL; its keys then vanish. The
    /// keeper reports [`LostReason::Expired`] when the last confirmed deadline passes.
    pub fn release_passively(&self) {
        self.shared.state.send_if_modified(|state| match state {
            KeeperState::Alive { id, deadline, .. } => {
                *state = KeeperState::Released {
                    id: *id,
                    deadline: *deadline,
                };
                true
            }
            _ => false,
        });
        self.shared.set_keep(None);
        self.shared.stop.notify_one();
    }

    /// Revokes the lease (waiting for the grant first): its keys are deleted at once and
    /// the keeper reports [`LostReason::Revoked`]. Revoking a lease that is already lost
    /// does nothing.
    ///
    /// # Errors
    ///
    /// As [`LeaseKeeper::id`] while waiting for the grant; the request's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...), including
    /// [`ErrorKind::OutcomeUnknown`] when the revoke may or may not have been applied.
    pub async fn revoke(&self) -> Result<()> {
        let id = self.id().await?;
        if let KeeperState::Lost { .. } = &*self.shared.state.borrow() {
            return Ok(());
        }
        // A renewal answered "not found" while the revocation runs is our own doing.
        self.shared.revoking.store(true, Ordering::SeqCst);
        match self.shared.client.lease().revoke(id).await {
            Ok(_) => {
                self.shared.lose(LostReason::Revoked);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::LeaseNotFound => {
                self.shared.lose(LostReason::NotFound);
                Ok(())
            }
            Err(e) => {
                // Still ours, and still renewed.
                self.shared.revoking.store(false, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Whether the lease was revoked through this keeper.
    pub fn is_revoked(&self) -> bool {
        matches!(
            &*self.shared.state.borrow(),
            KeeperState::Lost {
                reason: LostReason::Revoked,
                ..
            }
        )
    }

    /// Waits until the lease is lost and says why.
    pub async fn lost(&self) -> LostReason {
        let mut state = self.state();
        match state
            .wait_for(|s| matches!(s, KeeperState::Lost { .. }))
            .await
        {
            Ok(state) => match &*state {
                KeeperState::Lost { reason, .. } => reason.clone(),
                _ => LostReason::Expired,
            },
            Err(_) => LostReason::Expired,
        }
    }

    /// The client the keeper uses.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Revokes the lease (when it was granted and is not lost yet) and stops the keeper.
    /// A keeper still granting stops without waiting for the grant (a lease granted
    /// meanwhile expires after its TTL).
    ///
    /// # Errors
    ///
    /// The revoke's failure, as for [`LeaseKeeper::revoke`] (the keeper stops anyway; the
    /// lease then expires after its TTL).
    pub async fn close(self) -> Result<()> {
        let result = match &*self.shared.state.borrow() {
            KeeperState::Alive { .. } | KeeperState::Released { .. } => None,
            _ => Some(Ok(())),
        };
        let result = match result {
            Some(done) => done,
            None => self.revoke().await,
        };
        self.shared.set_keep(None);
        self.task.abort();
        result
    }
}

fn lost_error(state: &KeeperState) -> Error {
    match state {
        KeeperState::Lost {
            reason: LostReason::GrantFailed(e),
            ..
        } => Error::new(e.kind(), format!("the lease could not be granted: {e}")),
        KeeperState::Lost { reason, .. } => Error::new(
            ErrorKind::LeaseNotFound,
            format!("the lease was lost: {reason}"),
        ),
        _ => Error::new(ErrorKind::Cancelled, "the lease keeper has stopped"),
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.shared.set_keep(None);
        self.task.abort();
    }
}

impl fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseKeeper")
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

/// `sent + ttl`: until when a lease granted or renewed with a request sent at `sent` is
/// certainly alive.
pub(crate) fn deadline(sent: Instant, ttl: Duration) -> Instant {
    sent.checked_add(ttl).unwrap_or(sent)
}
